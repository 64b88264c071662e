//! The `hostmetrics` receiver's values against the kernel's own numbers.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{wait_until, Ferrotel, Sink};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, Metric, NumberDataPoint,
};

fn attr(a: &[KeyValue], k: &str) -> String {
    a.iter()
        .find(|kv| kv.key == k)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn num(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        Some(number_data_point::Value::AsDouble(d)) => d,
        None => f64::NAN,
    }
}

fn points(m: &Metric) -> &[NumberDataPoint] {
    match &m.data {
        Some(Data::Sum(s)) => &s.data_points,
        Some(Data::Gauge(g)) => &g.data_points,
        _ => &[],
    }
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn values_match_the_kernel() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let yaml = format!(
        r#"
receivers:
  hostmetrics:
    collection_interval: 1s
    initial_delay: 0s
    scrapers:
      cpu:
      load:
      memory:
      filesystem:
        include_mount_points: {{mount_points: ["/"], match_type: strict}}
      network:
      processes:
      system:
exporters:
  otlp_grpc:
    endpoint: {}
    tls: {{insecure: true}}
service:
  pipelines:
    metrics: {{receivers: [hostmetrics], exporters: [otlp_grpc]}}
"#,
        sink.grpc_endpoint()
    );
    let before = loadavg();
    let f = Ferrotel::start(&yaml, &[]);
    assert!(
        wait_until(Duration::from_secs(20), || sink.metric_point_count() > 0),
        "{}",
        f.logs()
    );
    let after = loadavg();
    let st = sink.state.lock().unwrap();
    let metrics: BTreeMap<&str, &Metric> = st.metrics[0]
        .scope_metrics
        .iter()
        .flat_map(|s| &s.metrics)
        .map(|m| (m.name.as_str(), m))
        .collect();

    // Memory: used + free + buffered + cached = MemTotal (otelcol's Linux accounting).
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    let mem: BTreeMap<String, f64> = points(metrics["system.memory.usage"])
        .iter()
        .map(|p| (attr(&p.attributes, "state"), num(p)))
        .collect();
    assert_eq!(
        mem["used"] + mem["free"] + mem["buffered"] + mem["cached"],
        total_kb * 1024.0,
        "{mem:?}"
    );
    assert_eq!(metrics["system.memory.usage"].unit, "By");

    // Load: the 1m average between the readings taken before and after.
    let load = num(&points(metrics["system.cpu.load_average.1m"])[0]);
    assert!(
        load >= before.min(after) - 0.011 && load <= before.max(after) + 0.011,
        "{load} vs {before}..{after}"
    );

    // CPU: every cpuN line of /proc/stat, eight states each, monotonic seconds.
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    let cpu = metrics["system.cpu.time"];
    assert_eq!(points(cpu).len(), cpus * 8);
    let Some(Data::Sum(s)) = &cpu.data else {
        panic!()
    };
    assert!(s.is_monotonic);
    assert_eq!(cpu.unit, "s");

    // Filesystem "/": used + free + reserved = total blocks × fragment size (statvfs via stat -f).
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%b %S", "/"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let fs_total: f64 = points(metrics["system.filesystem.usage"])
        .iter()
        .filter(|p| attr(&p.attributes, "mountpoint") == "/")
        .map(num)
        .sum();
    assert_eq!(fs_total, v[0] * v[1]);

    // Network: lo is there with both directions.
    assert!(points(metrics["system.network.io"])
        .iter()
        .any(|p| attr(&p.attributes, "device") == "lo"
            && attr(&p.attributes, "direction") == "receive"));
    assert!(metrics.contains_key("system.processes.count"));
    let up = num(&points(metrics["system.uptime"])[0]);
    assert!(up > 0.0);
    drop(st);
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn unknown_scraper_keys_are_refused_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "receivers:\n  hostmetrics:\n    scrapers:\n      cpu: {include_devices: {devices: [x], match_type: strict}}\n      gpu:\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics: {receivers: [hostmetrics], exporters: [debug]}\n",
    )
    .unwrap();
    let (code, out, err) = common::run_cli(&["validate", "--config", cfg.to_str().unwrap()]);
    assert_ne!(code, 0);
    let all = format!("{out}{err}");
    assert!(
        all.contains("receivers::hostmetrics::scrapers::cpu::include_devices"),
        "{all}"
    );
    assert!(
        all.contains("receivers::hostmetrics::scrapers::gpu"),
        "{all}"
    );
}
