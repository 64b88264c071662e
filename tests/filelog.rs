//! The `filelog` receiver, black-box: real files written by the test while the real binary tails them,
//! an `otlp_http` exporter to a recording sink, every line numbered and counted at the sink (0 lost,
//! 0 duplicated unless a test says otherwise).

use crate::common;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{wait_until, Ferrotel, Sink, SinkMode};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AV;

const WAIT: Duration = Duration::from_secs(60);

fn config(sink: &Sink, receiver: &str, extensions: &str) -> String {
    let ext_names = if extensions.is_empty() {
        ""
    } else {
        "extensions: [file_storage]"
    };
    format!(
        r#"
receivers:
  filelog:
{receiver}
exporters:
  otlp_http:
    endpoint: {}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0s}}
{extensions}
service:
  {ext_names}
  pipelines:
    logs: {{receivers: [filelog], exporters: [otlp_http]}}
"#,
        sink.http_endpoint()
    )
}

fn storage(dir: &Path) -> String {
    format!(
        "extensions:\n  file_storage:\n    directory: {}\n    create_directory: true",
        dir.display()
    )
}

/// Every record body at the sink, in arrival order.
fn bodies(sink: &Sink) -> Vec<String> {
    let st = sink.state.lock().unwrap();
    st.logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .map(|l| match l.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(AV::StringValue(s)) => s.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// How often each `<prefix>-<n>` line arrived (the number is the first token after the prefix).
fn counts(sink: &Sink, prefix: &str) -> BTreeMap<usize, usize> {
    let mut m = BTreeMap::new();
    for b in bodies(sink) {
        if let Some(rest) = b.strip_prefix(prefix) {
            let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Ok(n) = n.parse() {
                *m.entry(n).or_insert(0) += 1;
            }
        }
    }
    m
}

/// Lost and duplicated numbers among 0..n.
fn check(sink: &Sink, prefix: &str, n: usize) -> (Vec<usize>, Vec<usize>) {
    let c = counts(sink, prefix);
    let lost = (0..n).filter(|i| !c.contains_key(i)).collect();
    let dup = c.iter().filter(|(_, v)| **v > 1).map(|(k, _)| *k).collect();
    (lost, dup)
}

fn wait_all(sink: &Sink, prefix: &str, n: usize) {
    let start = Instant::now();
    while start.elapsed() < WAIT && !check(sink, prefix, n).0.is_empty() {
        std::thread::sleep(Duration::from_millis(300));
    }
    // A little longer, so that duplicates, if any, have time to arrive too.
    std::thread::sleep(Duration::from_millis(700));
}

fn assert_exact(sink: &Sink, prefix: &str, n: usize, f: &Ferrotel) {
    let (lost, dup) = check(sink, prefix, n);
    assert!(
        lost.is_empty() && dup.is_empty(),
        "{} lost (first {:?}), {} duplicated (first {:?})\n{}",
        lost.len(),
        &lost[..lost.len().min(10)],
        dup.len(),
        &dup[..dup.len().min(10)],
        f.logs()
    );
}

fn append(path: &Path, s: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

fn lines(prefix: &str, from: usize, to: usize) -> String {
    (from..to)
        .map(|i| format!("{prefix}{i} some text\n"))
        .collect()
}

fn receiver(include: &str, extra: &str) -> String {
    format!("    include: [\"{include}\"]\n    start_at: beginning\n{extra}")
}

#[test]
fn plain_lines_appended_while_running() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    append(&log, &lines("plain-", 0, 1000));
    let f = Ferrotel::start(
        &config(
            &sink,
            &receiver(
                &format!("{}/*.log", d.path().display()),
                "    poll_interval: 50ms\n    include_file_record_number: true\n",
            ),
            "",
        ),
        &[],
    );
    for k in 1..20 {
        append(&log, &lines("plain-", k * 1000, k * 1000 + 1000));
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_all(&sink, "plain-", 20_000);
    assert_exact(&sink, "plain-", 20_000, &f);
    let st = sink.state.lock().unwrap();
    let rec = &st.logs[0].scope_logs[0].log_records[0];
    let attr = |k: &str| {
        rec.attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
    };
    assert!(format!("{:?}", attr("log.file.name")).contains("app.log"));
    assert!(attr("log.file.record_number").is_some());
}

#[test]
fn start_at_end_skips_existing_lines_without_storage() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    append(&log, &lines("old-", 0, 100));
    let f = Ferrotel::start(
        &config(
            &sink,
            &format!(
                "    include: [\"{}/*.log\"]\n    poll_interval: 50ms\n",
                d.path().display()
            ),
            "",
        ),
        &[],
    );
    // The first poll sees the file at its end: wait for it (it logs each new file, as otelcol).
    assert!(
        wait_until(WAIT, || f.logs().contains("started watching file")),
        "the first poll did not find the file\n{}",
        f.logs()
    );
    append(&log, &lines("new-", 0, 100));
    wait_all(&sink, "new-", 100);
    assert_exact(&sink, "new-", 100, &f);
    assert!(
        counts(&sink, "old-").is_empty(),
        "start_at: end read old lines"
    );
}

#[test]
fn multiline_java_stack_traces() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("java.log");
    let rec = |i: usize| {
        format!("2024-01-01 00:00:00 ERROR trace-{i} failed\njava.lang.IllegalStateException: boom {i}\n\tat com.example.A.run(A.java:10)\n\tat com.example.B.call(B.java:20)\n")
    };
    let f = Ferrotel::start(
        &config(&sink, &receiver(&format!("{}/*.log", d.path().display()), "    poll_interval: 50ms\n    force_flush_period: 300ms\n    multiline: {line_start_pattern: '^\\d{4}-\\d{2}-\\d{2}'}\n"), ""),
        &[],
    );
    let mut s = String::new();
    for i in 0..500 {
        s.push_str(&rec(i));
        if i % 50 == 49 {
            append(&log, &s);
            s.clear();
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    wait_all(&sink, "2024-01-01 00:00:00 ERROR trace-", 500);
    assert_exact(&sink, "2024-01-01 00:00:00 ERROR trace-", 500, &f);
    for b in bodies(&sink) {
        assert_eq!(
            b.lines().count(),
            4,
            "a record is the whole stack trace: {b:?}"
        );
        assert!(b.ends_with("(B.java:20)"), "{b:?}");
    }
}

#[test]
fn container_logs_docker_and_cri_with_partial_lines() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let pods = d.path().join("var/log/pods");
    let cri = pods.join("shop_cart-7d9f_0f1e2d3c-aaaa-bbbb-cccc-123456789abc/cart/1.log");
    let docker = pods.join("shop_web-1_11111111-2222-3333-4444-555555555555/web/0.log");
    std::fs::create_dir_all(cri.parent().unwrap()).unwrap();
    std::fs::create_dir_all(docker.parent().unwrap()).unwrap();
    let f = Ferrotel::start(
        &config(
            &sink,
            &format!(
                "    include: [\"{}/*/*/*.log\"]\n    start_at: beginning\n    include_file_path: true\n    poll_interval: 50ms\n    operators:\n      - type: container\n        id: container-parser\n",
                pods.display()
            ),
            "",
        ),
        &[],
    );
    let mut c = String::new();
    let mut k = String::new();
    for i in 0..300 {
        if i % 3 == 0 {
            // Split in three parts: P, P, F.
            c.push_str(&format!("2024-01-02T03:04:05.000000001Z stdout P cri-{i} part-a/\n2024-01-02T03:04:05.000000002Z stdout P part-b/\n2024-01-02T03:04:05.000000003Z stdout F part-c\n"));
            k.push_str(&format!("{{\"log\":\"docker-{i} first half/\",\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05.5Z\"}}\n{{\"log\":\"second half\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05.6Z\"}}\n"));
        } else {
            c.push_str(&format!("2024-01-02T03:04:05.1Z stderr F cri-{i} whole\n"));
            k.push_str(&format!("{{\"log\":\"docker-{i} whole\\n\",\"stream\":\"stderr\",\"time\":\"2024-01-02T03:04:05.5Z\"}}\n"));
        }
        if i % 30 == 29 {
            append(&cri, &c);
            append(&docker, &k);
            c.clear();
            k.clear();
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    wait_all(&sink, "cri-", 300);
    wait_all(&sink, "docker-", 300);
    assert_exact(&sink, "cri-", 300, &f);
    assert_exact(&sink, "docker-", 300, &f);
    let b = bodies(&sink);
    assert!(
        b.contains(&"cri-0 part-a/part-b/part-c".to_string()),
        "{:?}",
        &b[..5]
    );
    assert!(b.contains(&"docker-0 first half/second half".to_string()));
    let st = sink.state.lock().unwrap();
    let res = format!(
        "{:?}",
        st.logs.iter().map(|r| &r.resource).collect::<Vec<_>>()
    );
    for want in [
        "cart-7d9f",
        "shop",
        "0f1e2d3c-aaaa-bbbb-cccc-123456789abc",
        "k8s.container.restart_count",
        "web-1",
    ] {
        assert!(res.contains(want), "resource lacks {want}: {res}");
    }
}

/// logrotate `create` at 100 rotations a minute under 20k lines/s, with the rotated files kept and
/// matched by the include glob; the oldest rotated file is deleted as logrotate's `rotate 3` does.
#[test]
fn logrotate_create_while_writing_fast() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    append(&log, "");
    let f = Ferrotel::start(
        &config(
            &sink,
            &receiver(
                &format!("{}/app.log*", d.path().display()),
                "    poll_interval: 200ms\n",
            ),
            "",
        ),
        &[],
    );
    let total = 120_000;
    let start = Instant::now();
    let mut w = OpenOptions::new().append(true).open(&log).unwrap();
    let mut last_rotate = Instant::now();
    for i in 0..total {
        writeln!(w, "rot-{i} payload").unwrap();
        if i % 200 == 199 {
            // 20k lines/s: 200 lines every 10 ms.
            let due = start + Duration::from_micros(50 * (i as u64 + 1));
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        if last_rotate.elapsed() >= Duration::from_millis(600) {
            // Nine rotated files are kept (5.4 s of them): a poll delayed by a loaded machine still
            // finds every file it has not finished.
            for n in (1..9).rev() {
                let _ = std::fs::rename(
                    d.path().join(format!("app.log.{n}")),
                    d.path().join(format!("app.log.{}", n + 1)),
                );
            }
            std::fs::rename(&log, d.path().join("app.log.1")).unwrap();
            w = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap();
            last_rotate = Instant::now();
        }
    }
    drop(w);
    wait_all(&sink, "rot-", total);
    assert_exact(&sink, "rot-", total, &f);
}

/// copytruncate: the writer pauses across the copy and the truncate (logrotate itself loses what is
/// written between the two).
#[test]
fn copytruncate_rotation() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    let f = Ferrotel::start(
        &config(
            &sink,
            &receiver(
                &format!("{}/app.log*", d.path().display()),
                "    poll_interval: 100ms\n",
            ),
            "",
        ),
        &[],
    );
    let mut i = 0;
    for round in 0..10 {
        for _ in 0..20 {
            append(&log, &lines("ct-", i, i + 100));
            i += 100;
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = std::fs::rename(d.path().join("app.log.1"), d.path().join("app.log.2"));
        std::fs::copy(&log, d.path().join("app.log.1")).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(0)
            .unwrap();
        let _ = round;
    }
    wait_all(&sink, "ct-", i);
    assert_exact(&sink, "ct-", i, &f);
}

#[test]
fn gzip_rotated_files_are_read_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    // An archive never seen before: read whole.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(lines("gz-", 0, 1000).as_bytes()).unwrap();
    std::fs::write(d.path().join("old.log.9.gz"), gz.finish().unwrap()).unwrap();
    let f = Ferrotel::start(
        &config(
            &sink,
            &receiver(
                &format!("{}/*.log*", d.path().display()),
                "    poll_interval: 100ms\n    compression: auto\n",
            ),
            "",
        ),
        &[],
    );
    append(&log, &lines("gz-", 1000, 2000));
    wait_until(WAIT, || check(&sink, "gz-", 2000).0.is_empty());
    // Rotate and compress the file that was just read: its lines must not come again.
    std::fs::rename(&log, d.path().join("app.log.1")).unwrap();
    let data = std::fs::read(d.path().join("app.log.1")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&data).unwrap();
    std::fs::write(d.path().join("app.log.1.gz"), gz.finish().unwrap()).unwrap();
    std::fs::remove_file(d.path().join("app.log.1")).unwrap();
    append(&log, &lines("gz-", 2000, 3000));
    wait_all(&sink, "gz-", 3000);
    std::thread::sleep(Duration::from_millis(500));
    assert_exact(&sink, "gz-", 3000, &f);
}

/// With `storage: file_storage` on the receiver and on the exporter's queue, offsets survive a graceful
/// restart (no duplicates) and a kill -9 (no loss; duplicates bounded by what was read since the last
/// checkpoint, counted here).
#[test]
fn restart_and_kill9_with_file_storage_lose_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("storage");
    let logs = d.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("app.log");
    // Offsets move when the pipeline accepted the records, i.e. when the exporter's queue took them: a
    // kill -9 loses nothing only when that queue is persistent too (with an in-memory queue, what was
    // accepted but not yet sent dies with the process, as in otelcol).
    let cfg = config(
        &sink,
        &format!(
            "    include: [\"{}/*.log\"]\n    storage: file_storage\n    poll_interval: 50ms\n",
            logs.display()
        ),
        &storage(&store),
    )
    .replace(
        "max_elapsed_time: 0s}\n",
        "max_elapsed_time: 0s}\n    sending_queue: {storage: file_storage}\n",
    );
    assert!(cfg.contains("sending_queue"));
    append(&log, &lines("ck-", 0, 5000));
    // start_at: end, but nothing was checkpointed: the first lines are skipped, as otelcol does.
    let f = Ferrotel::start(&cfg, &[]);
    // Lines written before the first poll would be skipped (start_at: end): wait for it.
    assert!(
        wait_until(WAIT, || f.logs().contains("started watching file")),
        "the first poll did not find the file\n{}",
        f.logs()
    );
    append(&log, &lines("ck-", 5000, 10_000));
    assert!(
        wait_until(WAIT, || counts(&sink, "ck-").len() >= 5000),
        "lines written after the first poll did not arrive\n{}",
        f.logs()
    );
    assert_eq!(f.stop(Duration::from_secs(20)).code(), Some(0));
    // Written while down: read after the restart from the saved offset.
    append(&log, &lines("ck-", 10_000, 15_000));
    let f = Ferrotel::start(&cfg, &[]);
    assert!(
        wait_until(WAIT, || {
            let c = counts(&sink, "ck-");
            (5000..15_000).all(|i| c.contains_key(&i))
        }),
        "lines written while stopped did not arrive after the restart\n{}",
        f.logs()
    );
    std::thread::sleep(Duration::from_millis(500));
    let c = counts(&sink, "ck-");
    assert!(
        (0..5000).all(|i| !c.contains_key(&i)),
        "start_at: end was not honoured"
    );
    assert!(
        c.values().all(|v| *v == 1),
        "a graceful restart duplicated lines"
    );
    // kill -9 while lines are being written and read.
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for k in 0..20 {
                append(&log, &lines("ck-", 15_000 + k * 1000, 16_000 + k * 1000));
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    f.kill();
    writer.join().unwrap();
    let f = Ferrotel::start(&cfg, &[]);
    wait_until(WAIT, || {
        let c = counts(&sink, "ck-");
        (5000..35_000).all(|i| c.contains_key(&i))
    });
    std::thread::sleep(Duration::from_millis(700));
    let c = counts(&sink, "ck-");
    let lost: Vec<_> = (5000..35_000).filter(|i| !c.contains_key(i)).collect();
    let dups: usize = c.values().map(|v| v - 1).sum();
    assert!(
        lost.is_empty(),
        "{} lost after kill -9: {:?}\n{}",
        lost.len(),
        &lost[..lost.len().min(10)],
        f.logs()
    );
    eprintln!("duplicates after kill -9: {dups}");
    assert!(
        dups <= 20_000,
        "duplicates beyond what was read since the last checkpoint: {dups}"
    );
}

#[test]
fn truncated_and_rewritten_file_is_read_again() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    append(&log, &lines("tr-", 0, 500));
    let f = Ferrotel::start(
        &config(
            &sink,
            &receiver(
                &format!("{}/*.log", d.path().display()),
                "    poll_interval: 50ms\n",
            ),
            "",
        ),
        &[],
    );
    wait_until(WAIT, || check(&sink, "tr-", 500).0.is_empty());
    std::fs::write(&log, lines("tr-", 500, 700)).unwrap();
    wait_all(&sink, "tr-", 700);
    assert_exact(&sink, "tr-", 700, &f);
}

#[test]
fn a_10mb_line_is_cut_at_max_log_size_and_invalid_utf8_is_replaced() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    let mut data = b"before\n".to_vec();
    data.extend(std::iter::repeat_n(b'x', 10_000_000));
    data.extend(b"\nbad \xff\xfe bytes\nafter\n");
    std::fs::write(&log, &data).unwrap();
    let f = Ferrotel::start(
        &config(
            &sink,
            &receiver(&format!("{}/*.log", d.path().display()), ""),
            "",
        ),
        &[],
    );
    assert!(
        wait_until(WAIT, || bodies(&sink).iter().any(|b| b == "after")),
        "{}",
        f.logs()
    );
    let b = bodies(&sink);
    let pieces: Vec<&String> = b.iter().filter(|s| s.starts_with('x')).collect();
    assert!(pieces.iter().all(|p| p.len() <= 1 << 20));
    assert_eq!(pieces.iter().map(|p| p.len()).sum::<usize>(), 10_000_000);
    assert_eq!(pieces.len(), 10);
    assert!(
        b.contains(&"bad \u{FFFD}\u{FFFD} bytes".to_string()),
        "{:?}",
        b.iter().filter(|s| !s.starts_with('x')).collect::<Vec<_>>()
    );
    assert_eq!(
        b.iter().filter(|s| *s == "before" || *s == "after").count(),
        2
    );
}

#[test]
fn a_thousand_files() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let mut n = 0;
    for f in 0..1000 {
        let p: PathBuf = d.path().join(format!("sub{}/f{f}.log", f % 10));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, lines("many-", n, n + 10)).unwrap();
        n += 10;
    }
    let f = Ferrotel::start(
        &config(
            &sink,
            &receiver(&format!("{}/**/*.log", d.path().display()), ""),
            "",
        ),
        &[],
    );
    wait_all(&sink, "many-", n);
    assert_exact(&sink, "many-", n, &f);
}

/// A refusing destination pauses reading; when it is back, everything arrives once.
#[test]
fn backpressure_pauses_reading() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::Unavailable { retry_after: None });
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    let yaml = config(
        &sink,
        &receiver(
            &format!("{}/*.log", d.path().display()),
            "    poll_interval: 50ms\n",
        ),
        "",
    )
    .replace(
        "    retry_on_failure:",
        "    sending_queue: {queue_size: 2}\n    retry_on_failure:",
    );
    let f = Ferrotel::start(&yaml, &[]);
    for k in 0..50 {
        append(&log, &lines("bp-", k * 1000, k * 1000 + 1000));
    }
    std::thread::sleep(Duration::from_secs(3));
    sink.set_mode(SinkMode::Accept);
    wait_all(&sink, "bp-", 50_000);
    assert_exact(&sink, "bp-", 50_000, &f);
}

/// Records' string attribute `key`, per body.
fn attr_of(sink: &Sink, key: &str) -> BTreeMap<String, Option<String>> {
    let st = sink.state.lock().unwrap();
    st.logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .map(|l| {
            let body = match l.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(AV::StringValue(s)) => s.clone(),
                other => format!("{other:?}"),
            };
            let v = l.attributes.iter().find(|a| a.key == key).and_then(|a| {
                match a.value.as_ref()?.value.as_ref()? {
                    AV::StringValue(s) => Some(s.clone()),
                    _ => None,
                }
            });
            (body, v)
        })
        .collect()
}

/// `ordering_criteria` as otelcol's fileconsumer applies it: per `group_by` group, only the `top_n`
/// files by the `sort_by` keys are read (here the highest rotation number of each service, and by
/// date the newest file); the others are never read.
#[test]
fn ordering_criteria_reads_only_the_top_n_files_of_each_group() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    for (name, prefix) in [
        ("api.1.log", "old-api1-"),
        ("api.12.log", "top-api-"),
        ("api.3.log", "old-api3-"),
        ("web.7.log", "top-web-"),
        ("web.x.log", "old-webx-"),
        ("web.2.log", "old-web2-"),
    ] {
        append(&d.path().join(name), &lines(prefix, 0, 50));
    }
    let f = Ferrotel::start(
        &config(
            &sink,
            &receiver(
                &format!("{}/*.log", d.path().display()),
                r#"    poll_interval: 50ms
    ordering_criteria:
      regex: '(?P<svc>[a-z]+)\.(?P<rotation>\d+)\.log$'
      group_by: '/(?P<svc>[a-z]+)\.[^/]*$'
      top_n: 1
      sort_by:
        - {sort_type: numeric, regex_key: rotation, ascending: false}
"#,
            ),
            "",
        ),
        &[],
    );
    wait_all(&sink, "top-api-", 50);
    wait_all(&sink, "top-web-", 50);
    // More polls: the others stay unread.
    std::thread::sleep(Duration::from_millis(1000));
    assert_exact(&sink, "top-api-", 50, &f);
    assert_exact(&sink, "top-web-", 50, &f);
    assert_eq!(bodies(&sink).len(), 100, "only the top file of each group");

    // By date, the two newest; a line appended to a file that is not among them is never read.
    let sink2 = Sink::start(&rt);
    let d2 = tempfile::tempdir().unwrap();
    for (day, prefix) in [
        ("20240101", "d0101-"),
        ("20240315", "d0315-"),
        ("20231231", "d1231-"),
        ("20240202", "d0202-"),
    ] {
        append(
            &d2.path().join(format!("app-{day}.log")),
            &lines(prefix, 0, 20),
        );
    }
    let f2 = Ferrotel::start(
        &config(
            &sink2,
            &receiver(
                &format!("{}/app-*.log", d2.path().display()),
                r#"    poll_interval: 50ms
    ordering_criteria:
      regex: 'app-(?P<day>\d{8})\.log$'
      top_n: 2
      sort_by:
        - {sort_type: timestamp, regex_key: day, layout: '%Y%m%d', location: UTC}
"#,
            ),
            "",
        ),
        &[],
    );
    wait_all(&sink2, "d0315-", 20);
    wait_all(&sink2, "d0202-", 20);
    append(
        &d2.path().join("app-20240101.log"),
        &lines("late0101-", 0, 5),
    );
    append(
        &d2.path().join("app-20240315.log"),
        &lines("d0315-", 20, 30),
    );
    wait_all(&sink2, "d0315-", 30);
    std::thread::sleep(Duration::from_millis(500));
    assert_exact(&sink2, "d0315-", 30, &f2);
    assert_exact(&sink2, "d0202-", 20, &f2);
    assert_eq!(bodies(&sink2).len(), 50, "only the two newest files");
}

/// `header`: the lines at the start of a file that match `pattern` go through
/// `metadata_operators`; their merged attributes are on every record of that file, and header lines
/// are not passed on. A file without a header gets none.
#[test]
fn header_metadata_is_added_to_every_record_of_its_file() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    append(
        &d.path().join("with.log"),
        &format!(
            "#Version: 1.0\n#Fields: user=alice host=h1\n#Fields: user=bob host=h2\n{}",
            lines("with-", 0, 30)
        ),
    );
    append(&d.path().join("without.log"), &lines("without-", 0, 30));
    let f = Ferrotel::start(
        &config(
            &sink,
            &receiver(
                &format!("{}/*.log", d.path().display()),
                r#"    poll_interval: 50ms
    header:
      pattern: '^#'
      metadata_operators:
        - type: regex_parser
          regex: '^#Fields: user=(?P<user>\S+) host=(?P<host>\S+)$'
          on_error: send_quiet
"#,
            ),
            "",
        ),
        &[],
    );
    wait_all(&sink, "with-", 30);
    wait_all(&sink, "without-", 30);
    // Lines appended later belong to the same file: they get the header too.
    append(&d.path().join("with.log"), &lines("with-", 30, 40));
    wait_all(&sink, "with-", 40);
    assert_exact(&sink, "with-", 40, &f);
    assert_exact(&sink, "without-", 30, &f);
    assert_eq!(bodies(&sink).len(), 70, "header lines were passed on");
    let user = attr_of(&sink, "user");
    let host = attr_of(&sink, "host");
    for (body, v) in &user {
        if body.starts_with("with-") {
            // The later header line overwrites the earlier one (otelcol's upsert).
            assert_eq!(v.as_deref(), Some("bob"), "{body}");
            assert_eq!(host[body].as_deref(), Some("h2"), "{body}");
        } else {
            assert_eq!(v, &None, "{body}");
        }
    }
}

/// Without operators, lines are encoded as they are read (no entry built): every record still gets
/// the file's attributes and the receiver's `attributes`, the batch the receiver's `resource`, and the
/// line trimmed and decoded as before (invalid UTF-8 replaced).
#[test]
fn lines_without_operators_carry_file_attributes_attributes_and_resource() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("direct.log");
    let mut text = lines("direct-", 0, 3000).into_bytes();
    text.extend_from_slice(b"  direct-3000 padded \t\r\ndirect-3001 bad \xff byte\n\n");
    std::fs::write(&log, text).unwrap();
    let f = Ferrotel::start(
        &config(
            &sink,
            &receiver(
                &format!("{}/*.log", d.path().display()),
                "    poll_interval: 50ms\n    include_file_path: true\n    attributes: {team: logs}\n    resource: {host.name: h1}\n",
            ),
            "",
        ),
        &[],
    );
    wait_all(&sink, "direct-", 3002);
    assert_exact(&sink, "direct-", 3002, &f);
    let path = log.display().to_string();
    for (key, want) in [
        ("log.file.name", "direct.log"),
        ("log.file.path", path.as_str()),
        ("team", "logs"),
    ] {
        let got = attr_of(&sink, key);
        assert_eq!(got.len(), 3002, "{key}");
        assert!(
            got.values().all(|v| v.as_deref() == Some(want)),
            "{key}: {got:?}"
        );
    }
    let b = bodies(&sink);
    assert!(b.contains(&"direct-3000 padded".to_string()), "{b:?}");
    assert!(b.contains(&"direct-3001 bad \u{FFFD} byte".to_string()));
    let st = sink.state.lock().unwrap();
    for r in &st.logs {
        let res = r.resource.as_ref().expect("resource");
        assert_eq!(res.attributes.len(), 1);
        assert_eq!(res.attributes[0].key, "host.name");
        assert!(r.scope_logs.iter().all(|s| s.scope.is_none()));
    }
}
