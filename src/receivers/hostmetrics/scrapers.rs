//! The host scrapers, reading `/proc` and `/sys` (under `root_path`) directly. Metric names, units
//! and attributes follow otelcol's hostmetrics metadata.yaml files (the metrics enabled by default).

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint, Sum,
};

use super::config::IncludeExclude;

pub fn kv(k: &str, v: impl Into<String>) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

pub fn kv_int(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

#[derive(Clone, Copy)]
pub enum Num {
    Int(i64),
    Double(f64),
}

/// Times for the points of one scrape.
#[derive(Clone, Copy)]
pub struct Stamp {
    pub now: u64,
    pub start: u64,
}

pub struct Out {
    pub metrics: Vec<Metric>,
}

impl Out {
    fn points(
        stamp: Stamp,
        pts: Vec<(Vec<KeyValue>, Num)>,
        cumulative: bool,
    ) -> Vec<NumberDataPoint> {
        pts.into_iter()
            .map(|(attributes, v)| NumberDataPoint {
                attributes,
                start_time_unix_nano: if cumulative { stamp.start } else { 0 },
                time_unix_nano: stamp.now,
                value: Some(match v {
                    Num::Int(i) => number_data_point::Value::AsInt(i),
                    Num::Double(d) => number_data_point::Value::AsDouble(d),
                }),
                ..Default::default()
            })
            .collect()
    }

    pub fn sum(
        &mut self,
        name: &str,
        desc: &str,
        unit: &str,
        monotonic: bool,
        stamp: Stamp,
        pts: Vec<(Vec<KeyValue>, Num)>,
    ) {
        if pts.is_empty() {
            return;
        }
        self.metrics.push(Metric {
            name: name.into(),
            description: desc.into(),
            unit: unit.into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: Self::points(stamp, pts, true),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: monotonic,
            })),
            metadata: vec![],
        });
    }

    pub fn gauge(
        &mut self,
        name: &str,
        desc: &str,
        unit: &str,
        stamp: Stamp,
        pts: Vec<(Vec<KeyValue>, Num)>,
    ) {
        if pts.is_empty() {
            return;
        }
        self.metrics.push(Metric {
            name: name.into(),
            description: desc.into(),
            unit: unit.into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: Self::points(stamp, pts, false),
            })),
            metadata: vec![],
        });
    }
}

fn read(root: &str, path: &str) -> Result<String, String> {
    let full = format!("{root}{path}");
    std::fs::read_to_string(&full).map_err(|e| format!("{full}: {e}"))
}

/// Clock ticks per second for /proc/stat; Linux fixes USER_HZ at 100 on every architecture
/// ferrotel builds for.
const USER_HZ: f64 = 100.0;

/// Boot time (seconds since the epoch) from /proc/stat `btime`.
pub fn boot_time(root: &str) -> Option<u64> {
    read(root, "/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `system.cpu.time` per cpu and state, from /proc/stat.
pub fn cpu(root: &str, stamp: Stamp, out: &mut Out) -> Result<(), String> {
    let stat = read(root, "/proc/stat")?;
    let mut pts = Vec::new();
    for line in stat.lines() {
        let mut f = line.split_whitespace();
        let Some(cpu) = f.next() else { continue };
        if !cpu.starts_with("cpu") || cpu == "cpu" {
            continue;
        }
        let v: Vec<f64> = f.filter_map(|x| x.parse::<f64>().ok()).collect();
        let get = |i: usize| v.get(i).copied().unwrap_or(0.0) / USER_HZ;
        // user nice system idle iowait irq softirq steal (guest is included in user).
        for (state, value) in [
            ("user", get(0)),
            ("nice", get(1)),
            ("system", get(2)),
            ("idle", get(3)),
            ("wait", get(4)),
            ("interrupt", get(5)),
            ("softirq", get(6)),
            ("steal", get(7)),
        ] {
            pts.push((vec![kv("cpu", cpu), kv("state", state)], Num::Double(value)));
        }
    }
    out.sum(
        "system.cpu.time",
        "Total seconds each logical CPU spent on each mode.",
        "s",
        true,
        stamp,
        pts,
    );
    Ok(())
}

/// `cpu_average`: each load average divided by the number of logical CPUs (the `cpuN` lines of
/// `/proc/stat`), as otelcol's load scraper does.
pub fn load(root: &str, cpu_average: bool, stamp: Stamp, out: &mut Out) -> Result<(), String> {
    let s = read(root, "/proc/loadavg")?;
    let mut v: Vec<f64> = s
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() != 3 {
        return Err(format!("unexpected /proc/loadavg: {s:?}"));
    }
    if cpu_average {
        let cpus = read(root, "/proc/stat")?
            .lines()
            .filter(|l| {
                l.strip_prefix("cpu")
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            })
            .count();
        if cpus > 0 {
            for x in &mut v {
                *x /= cpus as f64;
            }
        }
    }
    for (i, name) in [
        "system.cpu.load_average.1m",
        "system.cpu.load_average.5m",
        "system.cpu.load_average.15m",
    ]
    .iter()
    .enumerate()
    {
        out.gauge(
            name,
            "Average CPU Load over the period.",
            "{thread}",
            stamp,
            vec![(vec![], Num::Double(v[i]))],
        );
    }
    Ok(())
}

/// /proc/meminfo in bytes by key.
pub fn meminfo(root: &str) -> Result<BTreeMap<String, i64>, String> {
    let s = read(root, "/proc/meminfo")?;
    Ok(s.lines()
        .filter_map(|l| {
            let (k, rest) = l.split_once(':')?;
            let mut f = rest.split_whitespace();
            let n: i64 = f.next()?.parse().ok()?;
            let mult = if f.next() == Some("kB") { 1024 } else { 1 };
            Some((k.to_string(), n.saturating_mul(mult)))
        })
        .collect())
}

/// `system.memory.usage` by state, computed as otelcol (gopsutil) does on Linux: cached includes
/// SReclaimable; used = total − free − buffers − cached.
pub fn memory(root: &str, stamp: Stamp, out: &mut Out) -> Result<(), String> {
    let m = meminfo(root)?;
    let g = |k: &str| m.get(k).copied().unwrap_or(0);
    let cached = g("Cached") + g("SReclaimable");
    let used = g("MemTotal") - g("MemFree") - g("Buffers") - cached;
    let pts = [
        ("used", used),
        ("free", g("MemFree")),
        ("buffered", g("Buffers")),
        ("cached", cached),
        ("slab_reclaimable", g("SReclaimable")),
        ("slab_unreclaimable", g("SUnreclaim")),
    ]
    .into_iter()
    .map(|(s, v)| (vec![kv("state", s)], Num::Int(v)))
    .collect();
    out.sum(
        "system.memory.usage",
        "Bytes of memory in use.",
        "By",
        false,
        stamp,
        pts,
    );
    Ok(())
}

pub fn disk(
    root: &str,
    filter: &IncludeExclude,
    stamp: Stamp,
    out: &mut Out,
) -> Result<(), String> {
    let s = read(root, "/proc/diskstats")?;
    let (mut io, mut ops, mut io_time, mut op_time, mut weighted, mut pending, mut merged) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for line in s.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 14 {
            continue;
        }
        let dev = f[2];
        if !filter.allows(dev) {
            continue;
        }
        let n = |i: usize| f.get(i).and_then(|x| x.parse::<i64>().ok()).unwrap_or(0);
        let d = || kv("device", dev);
        let dir = |x: &str| vec![kv("device", dev), kv("direction", x)];
        io.push((dir("read"), Num::Int(n(5).saturating_mul(512))));
        io.push((dir("write"), Num::Int(n(9).saturating_mul(512))));
        ops.push((dir("read"), Num::Int(n(3))));
        ops.push((dir("write"), Num::Int(n(7))));
        merged.push((dir("read"), Num::Int(n(4))));
        merged.push((dir("write"), Num::Int(n(8))));
        op_time.push((dir("read"), Num::Double(n(6) as f64 / 1000.0)));
        op_time.push((dir("write"), Num::Double(n(10) as f64 / 1000.0)));
        io_time.push((vec![d()], Num::Double(n(12) as f64 / 1000.0)));
        weighted.push((vec![d()], Num::Double(n(13) as f64 / 1000.0)));
        pending.push((vec![d()], Num::Int(n(11))));
    }
    out.sum(
        "system.disk.io",
        "Disk bytes transferred.",
        "By",
        true,
        stamp,
        io,
    );
    out.sum(
        "system.disk.operations",
        "Disk operations count.",
        "{operations}",
        true,
        stamp,
        ops,
    );
    out.sum(
        "system.disk.io_time",
        "Time disk spent activated.",
        "s",
        true,
        stamp,
        io_time,
    );
    out.sum(
        "system.disk.operation_time",
        "Time spent in disk operations.",
        "s",
        true,
        stamp,
        op_time,
    );
    out.sum(
        "system.disk.weighted_io_time",
        "Time disk spent activated multiplied by the queue length.",
        "s",
        true,
        stamp,
        weighted,
    );
    out.sum(
        "system.disk.pending_operations",
        "The queue size of pending I/O operations.",
        "{operations}",
        false,
        stamp,
        pending,
    );
    out.sum(
        "system.disk.merged",
        "The number of disk reads/writes merged into single physical disk access operations.",
        "{operations}",
        true,
        stamp,
        merged,
    );
    Ok(())
}

pub struct FsFilter {
    pub devices: IncludeExclude,
    pub fs_types: IncludeExclude,
    pub mount_points: IncludeExclude,
    pub include_virtual: bool,
}

/// Unescapes `\040`-style octal escapes in /proc/mounts fields.
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(Ok(v)) = s.get(i + 1..i + 4).map(|o| u8::from_str_radix(o, 8)) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn filesystem(
    root: &str,
    filter: &FsFilter,
    stamp: Stamp,
    out: &mut Out,
) -> Result<(), String> {
    let mounts = read(root, "/proc/1/mounts").or_else(|_| read(root, "/proc/self/mounts"))?;
    let mut usage = vec![];
    let mut inodes = vec![];
    let mut seen = std::collections::HashSet::new();
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let (device, mountpoint, fstype) = (unescape_mount(f[0]), unescape_mount(f[1]), f[2]);
        let mode = if f[3].split(',').any(|o| o == "ro") {
            "ro"
        } else {
            "rw"
        };
        if !filter.devices.allows(&device)
            || !filter.fs_types.allows(fstype)
            || !filter.mount_points.allows(&mountpoint)
            || !seen.insert(mountpoint.clone())
        {
            continue;
        }
        let Ok(st) = rustix::fs::statvfs(format!("{root}{mountpoint}").as_str()) else {
            continue;
        };
        if st.f_blocks == 0 && !filter.include_virtual {
            continue;
        }
        let bs = st.f_frsize as i64;
        let total = (st.f_blocks as i64).saturating_mul(bs);
        let free = (st.f_bavail as i64).saturating_mul(bs);
        let reserved = ((st.f_bfree as i64) - (st.f_bavail as i64)).saturating_mul(bs);
        let used = total - (st.f_bfree as i64).saturating_mul(bs);
        let attrs = |state: &str| {
            vec![
                kv("device", device.clone()),
                kv("mode", mode),
                kv("mountpoint", mountpoint.clone()),
                kv("type", fstype),
                kv("state", state),
            ]
        };
        usage.push((attrs("used"), Num::Int(used)));
        usage.push((attrs("free"), Num::Int(free)));
        usage.push((attrs("reserved"), Num::Int(reserved)));
        inodes.push((
            attrs("used"),
            Num::Int(st.f_files as i64 - st.f_ffree as i64),
        ));
        inodes.push((attrs("free"), Num::Int(st.f_ffree as i64)));
    }
    out.sum(
        "system.filesystem.usage",
        "Filesystem bytes used.",
        "By",
        false,
        stamp,
        usage,
    );
    out.sum(
        "system.filesystem.inodes.usage",
        "FileSystem inodes used.",
        "{inodes}",
        false,
        stamp,
        inodes,
    );
    Ok(())
}

const TCP_STATES: [&str; 12] = [
    "",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
];

pub fn network(
    root: &str,
    filter: &IncludeExclude,
    stamp: Stamp,
    out: &mut Out,
) -> Result<(), String> {
    let s = read(root, "/proc/net/dev")?;
    let (mut io, mut packets, mut errors, mut dropped) = (vec![], vec![], vec![], vec![]);
    for line in s.lines().skip(2) {
        let Some((dev, rest)) = line.split_once(':') else {
            continue;
        };
        let dev = dev.trim();
        if !filter.allows(dev) {
            continue;
        }
        let v: Vec<i64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 16 {
            continue;
        }
        let a = |d: &str| vec![kv("device", dev), kv("direction", d)];
        io.push((a("receive"), Num::Int(v[0])));
        io.push((a("transmit"), Num::Int(v[8])));
        packets.push((a("receive"), Num::Int(v[1])));
        packets.push((a("transmit"), Num::Int(v[9])));
        errors.push((a("receive"), Num::Int(v[2])));
        errors.push((a("transmit"), Num::Int(v[10])));
        dropped.push((a("receive"), Num::Int(v[3])));
        dropped.push((a("transmit"), Num::Int(v[11])));
    }
    out.sum(
        "system.network.io",
        "The number of bytes transmitted and received.",
        "By",
        true,
        stamp,
        io,
    );
    out.sum(
        "system.network.packets",
        "The number of packets transferred.",
        "{packets}",
        true,
        stamp,
        packets,
    );
    out.sum(
        "system.network.errors",
        "The number of errors encountered.",
        "{errors}",
        true,
        stamp,
        errors,
    );
    out.sum(
        "system.network.dropped",
        "The number of packets dropped.",
        "{packets}",
        true,
        stamp,
        dropped,
    );
    let mut by_state: BTreeMap<&str, i64> = TCP_STATES[1..].iter().map(|s| (*s, 0)).collect();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(t) = read(root, file) else { continue };
        for line in t.lines().skip(1) {
            let st = line
                .split_whitespace()
                .nth(3)
                .and_then(|h| usize::from_str_radix(h, 16).ok());
            if let Some(name) = st.and_then(|i| TCP_STATES.get(i)).filter(|n| !n.is_empty()) {
                *by_state.entry(name).or_default() += 1;
            }
        }
    }
    let conns = by_state
        .into_iter()
        .map(|(state, n)| (vec![kv("protocol", "tcp"), kv("state", state)], Num::Int(n)))
        .collect();
    out.sum(
        "system.network.connections",
        "The number of connections.",
        "{connections}",
        false,
        stamp,
        conns,
    );
    Ok(())
}

fn vmstat(root: &str) -> Result<BTreeMap<String, i64>, String> {
    Ok(read(root, "/proc/vmstat")?
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect())
}

pub fn paging(root: &str, stamp: Stamp, out: &mut Out) -> Result<(), String> {
    let swaps = read(root, "/proc/swaps")?;
    let mut usage = vec![];
    for line in swaps.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let size: i64 = f[2].parse::<i64>().unwrap_or(0).saturating_mul(1024);
        let used: i64 = f[3].parse::<i64>().unwrap_or(0).saturating_mul(1024);
        usage.push((
            vec![kv("device", f[0]), kv("state", "used")],
            Num::Int(used),
        ));
        usage.push((
            vec![kv("device", f[0]), kv("state", "free")],
            Num::Int(size - used),
        ));
    }
    out.sum(
        "system.paging.usage",
        "Swap (unix) or pagefile (windows) usage.",
        "By",
        false,
        stamp,
        usage,
    );
    let v = vmstat(root)?;
    let g = |k: &str| v.get(k).copied().unwrap_or(0);
    let ops = vec![
        (
            vec![kv("direction", "page_in"), kv("type", "major")],
            Num::Int(g("pswpin")),
        ),
        (
            vec![kv("direction", "page_out"), kv("type", "major")],
            Num::Int(g("pswpout")),
        ),
        (
            vec![kv("direction", "page_in"), kv("type", "minor")],
            Num::Int(g("pgpgin")),
        ),
        (
            vec![kv("direction", "page_out"), kv("type", "minor")],
            Num::Int(g("pgpgout")),
        ),
    ];
    out.sum(
        "system.paging.operations",
        "The number of paging operations.",
        "{operations}",
        true,
        stamp,
        ops,
    );
    let faults = vec![
        (vec![kv("type", "major")], Num::Int(g("pgmajfault"))),
        (
            vec![kv("type", "minor")],
            Num::Int(g("pgfault") - g("pgmajfault")),
        ),
    ];
    out.sum(
        "system.paging.faults",
        "The number of page faults.",
        "{faults}",
        true,
        stamp,
        faults,
    );
    Ok(())
}

pub fn processes(root: &str, stamp: Stamp, out: &mut Out) -> Result<(), String> {
    let stat = read(root, "/proc/stat")?;
    let get = |k: &str| {
        stat.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0)
    };
    out.sum(
        "system.processes.count",
        "Total number of processes in each state.",
        "{processes}",
        false,
        stamp,
        vec![
            (
                vec![kv("status", "running")],
                Num::Int(get("procs_running ")),
            ),
            (
                vec![kv("status", "blocked")],
                Num::Int(get("procs_blocked ")),
            ),
        ],
    );
    out.sum(
        "system.processes.created",
        "Total number of created processes.",
        "{processes}",
        true,
        stamp,
        vec![(vec![], Num::Int(get("processes ")))],
    );
    Ok(())
}

pub fn system(root: &str, stamp: Stamp, out: &mut Out) -> Result<(), String> {
    let s = read(root, "/proc/uptime")?;
    let up: f64 = s
        .split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .ok_or_else(|| format!("unexpected /proc/uptime: {s:?}"))?;
    out.gauge(
        "system.uptime",
        "The time the system has been running",
        "s",
        stamp,
        vec![(vec![], Num::Double(up))],
    );
    Ok(())
}

/// One process: its resource attributes and metrics.
pub struct ProcessOut {
    pub resource: Vec<KeyValue>,
    pub metrics: Vec<Metric>,
}

pub struct ProcessOptions {
    pub names: IncludeExclude,
    pub mute_name: bool,
    pub mute_exe: bool,
    pub mute_io: bool,
    pub mute_user: bool,
}

/// `process.*` per process from /proc/<pid>/{stat,status,cmdline,exe,io}. Errors reading a process
/// are collected (unless muted) and reported once per scrape.
pub fn process(
    root: &str,
    opts: &ProcessOptions,
    now: u64,
    errors: &mut Vec<String>,
) -> Vec<ProcessOut> {
    let Ok(dir) = std::fs::read_dir(format!("{root}/proc")) else {
        errors.push(format!("{root}/proc: cannot list"));
        return vec![];
    };
    let boot = boot_time(root).unwrap_or(0);
    let page = 4096i64;
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let base = format!("/proc/{pid}");
        let Ok(stat) = read(root, &format!("{base}/stat")) else {
            continue;
        };
        // comm is in parentheses and may contain spaces: split after the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("");
        let f: Vec<&str> = tail.split_whitespace().collect();
        let n = |i: usize| f.get(i).and_then(|x| x.parse::<i64>().ok()).unwrap_or(0);
        let exe_path = std::fs::read_link(format!("{root}{base}/exe"))
            .map(|p| p.to_string_lossy().into_owned());
        let name = match &exe_path {
            Ok(p) => p.rsplit('/').next().unwrap_or(comm).to_string(),
            Err(_) => comm.to_string(),
        };
        if name.is_empty() {
            if !opts.mute_name {
                errors.push(format!("pid {pid}: no process name"));
            }
            continue;
        }
        if !opts.names.allows(&name) {
            continue;
        }
        let cmdline = read(root, &format!("{base}/cmdline")).unwrap_or_default();
        let args: Vec<&str> = cmdline.split('\0').filter(|s| !s.is_empty()).collect();
        let mut resource = vec![
            kv_int("process.pid", pid),
            kv_int("process.parent_pid", n(1)),
            kv("process.executable.name", name.clone()),
        ];
        match exe_path {
            Ok(p) => resource.push(kv("process.executable.path", p)),
            Err(e) if !opts.mute_exe => errors.push(format!("pid {pid} exe: {e}")),
            Err(_) => {}
        }
        if let Some(cmd) = args.first() {
            resource.push(kv("process.command", *cmd));
            resource.push(kv("process.command_line", args.join(" ")));
        }
        let status = read(root, &format!("{base}/status")).unwrap_or_default();
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_string);
        match uid.and_then(|u| user_name(root, &u)) {
            Some(user) => resource.push(kv("process.owner", user)),
            None if !opts.mute_user => errors.push(format!("pid {pid}: cannot resolve the owner")),
            None => {}
        }
        // Fields after comm: state(0) ppid(1) ... utime(11) stime(12) ... starttime(19) vsize(20) rss(21)
        let start = boot
            .saturating_mul(1_000_000_000)
            .saturating_add((n(19).max(0) as u64).saturating_mul(10_000_000));
        let stamp = Stamp { now, start };
        let mut o = Out { metrics: vec![] };
        o.sum(
            "process.cpu.time",
            "Total CPU seconds broken down by different states.",
            "s",
            true,
            stamp,
            vec![
                (
                    vec![kv("state", "user")],
                    Num::Double(n(11) as f64 / USER_HZ),
                ),
                (
                    vec![kv("state", "system")],
                    Num::Double(n(12) as f64 / USER_HZ),
                ),
                (
                    vec![kv("state", "wait")],
                    Num::Double(n(39) as f64 / USER_HZ),
                ),
            ],
        );
        o.sum(
            "process.memory.usage",
            "The amount of physical memory in use.",
            "By",
            false,
            stamp,
            vec![(vec![], Num::Int(n(21).saturating_mul(page)))],
        );
        o.sum(
            "process.memory.virtual",
            "Virtual memory size.",
            "By",
            false,
            stamp,
            vec![(vec![], Num::Int(n(20)))],
        );
        match read(root, &format!("{base}/io")) {
            Ok(io) => {
                let g = |k: &str| {
                    io.lines()
                        .find_map(|l| l.strip_prefix(k))
                        .and_then(|v| v.trim().parse::<i64>().ok())
                        .unwrap_or(0)
                };
                o.sum(
                    "process.disk.io",
                    "Disk bytes transferred.",
                    "By",
                    true,
                    stamp,
                    vec![
                        (vec![kv("direction", "read")], Num::Int(g("rchar:"))),
                        (vec![kv("direction", "write")], Num::Int(g("wchar:"))),
                    ],
                );
            }
            Err(e) if !opts.mute_io => errors.push(format!("pid {pid} io: {e}")),
            Err(_) => {}
        }
        out.push(ProcessOut {
            resource,
            metrics: o.metrics,
        });
    }
    out
}

fn user_name(root: &str, uid: &str) -> Option<String> {
    let passwd = std::fs::read_to_string(format!("{root}/etc/passwd")).ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.get(2) == Some(&uid) {
            f.first().map(|n| n.to_string())
        } else {
            None
        }
    })
}
