//! Delivery that loses nothing: every test counts spans by their unique names (`<test>-<n>`), sent to
//! the real binary over OTLP/gRPC and recorded by a steerable destination. "Acknowledged" means the
//! export call returned OK; every acknowledged span must arrive.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_port, wait_until, Ferrotel, Sink, SinkMode};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

const DOWN: SinkMode = SinkMode::Unavailable { retry_after: None };

/// Spans named `<prefix>-<first>` … `<prefix>-<first + n - 1>`.
fn request(prefix: &str, first: usize, n: usize) -> ExportTraceServiceRequest {
    common::named_spans("delivery-test", prefix, first, n)
}

fn names(prefix: &str, first: usize, n: usize) -> Vec<String> {
    (first..first + n)
        .map(|i| format!("{prefix}-{i}"))
        .collect()
}

fn missing(sink: &Sink, acked: &[String]) -> Vec<String> {
    let got = sink.received();
    acked
        .iter()
        .filter(|n| !got.contains_key(*n))
        .cloned()
        .collect()
}

struct Client {
    rt: tokio::runtime::Runtime,
    client: TraceServiceClient<tonic::transport::Channel>,
}

impl Client {
    fn connect(port: u16) -> Client {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let client = rt
            .block_on(TraceServiceClient::connect(format!(
                "http://127.0.0.1:{port}"
            )))
            .unwrap();
        Client { rt, client }
    }

    fn send(&mut self, req: ExportTraceServiceRequest) -> Result<(), tonic::Status> {
        let mut c = self.client.clone();
        self.rt
            .block_on(async move { c.export(req).await.map(|_| ()) })
    }
}

/// The gateway under test: OTLP/gRPC in, `exporter` out.
fn config(grpc: u16, exporter: &str, extensions: &str) -> String {
    let ext_names = if extensions.is_empty() {
        String::new()
    } else {
        "extensions: [file_storage]".to_string()
    };
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
exporters:
{exporter}
{extensions}
service:
  {ext_names}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_http]}}
"#
    )
}

/// An `otlp_http` exporter to the sink with short retry intervals and the given queue settings.
fn http_exporter(sink: &Sink, queue: &str) -> String {
    format!(
        r#"  otlp_http:
    endpoint: {}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0s}}
    sending_queue: {{{queue}}}"#,
        sink.http_endpoint()
    )
}

fn storage(dir: &Path) -> String {
    format!(
        "extensions:\n  file_storage:\n    directory: {}\n    create_directory: true",
        dir.display()
    )
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(segments(&p));
        } else if p.extension().is_some_and(|x| x == "dat") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// (1) The destination is down for 20 s while data keeps coming, then up: every acknowledged span
/// arrives, exactly once.
#[test]
fn destination_down_then_up_loses_and_duplicates_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(DOWN);
    let g = free_port();
    let f = Ferrotel::start(&config(g, &http_exporter(&sink, ""), ""), &[g]);
    let mut c = Client::connect(g);
    let mut acked = Vec::new();
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_secs(20) {
        if c.send(request("down", i * 10, 10)).is_ok() {
            acked.extend(names("down", i * 10, 10));
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!acked.is_empty());
    assert!(sink.span_count() == 0, "the destination was down");
    sink.set_mode(SinkMode::Accept);
    assert!(
        wait_until(Duration::from_secs(30), || missing(&sink, &acked)
            .is_empty()),
        "{} of {} acknowledged spans missing\n{}",
        missing(&sink, &acked).len(),
        acked.len(),
        f.logs()
    );
    let dups: Vec<_> = sink
        .received()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(
        dups.is_empty(),
        "duplicates: {:?}",
        &dups[..dups.len().min(5)]
    );
    assert!(f.stop(Duration::from_secs(15)).success());
}

/// (2) Persistent queue, destination down: 100,000 spans acknowledged, `kill -9`, restart, destination
/// up: all 100,000 arrive.
#[test]
fn persistent_queue_survives_kill_9() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(DOWN);
    let dir = tempfile::tempdir().unwrap();
    let g = free_port();
    let yaml = config(
        g,
        &http_exporter(&sink, "storage: file_storage"),
        &storage(dir.path()),
    );
    let f = Ferrotel::start(&yaml, &[g]);
    let mut c = Client::connect(g);
    let mut acked = Vec::new();
    for i in 0..100 {
        c.send(request("crash", i * 1000, 1000))
            .unwrap_or_else(|e| panic!("batch {i} refused: {e}\n{}", f.logs()));
        acked.extend(names("crash", i * 1000, 1000));
    }
    assert_eq!(acked.len(), 100_000);
    f.kill();
    assert_eq!(sink.span_count(), 0, "the destination was down");

    let f = Ferrotel::start(&yaml, &[g]);
    sink.set_mode(SinkMode::Accept);
    assert!(
        wait_until(Duration::from_secs(60), || missing(&sink, &acked)
            .is_empty()),
        "{} of 100000 spans missing after the restart\n{}",
        missing(&sink, &acked).len(),
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(15)).success());
}

/// (3) A 503 with `Retry-After: 2`: the next try comes no sooner than 2 s later.
#[test]
fn retry_after_sets_the_next_try() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::Unavailable {
        retry_after: Some(2),
    });
    let g = free_port();
    let f = Ferrotel::start(&config(g, &http_exporter(&sink, ""), ""), &[g]);
    let mut c = Client::connect(g);
    c.send(request("throttled", 0, 3)).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || sink
            .state
            .lock()
            .unwrap()
            .attempts
            .len()
            >= 2),
        "{}",
        f.logs()
    );
    sink.set_mode(SinkMode::Accept);
    let attempts: Vec<Instant> = sink
        .state
        .lock()
        .unwrap()
        .attempts
        .iter()
        .map(|a| a.0)
        .collect();
    let gap = attempts[1] - attempts[0];
    assert!(
        gap >= Duration::from_secs(2),
        "retried after {gap:?} despite Retry-After: 2 (initial_interval is 100ms)"
    );
    assert!(wait_until(Duration::from_secs(20), || missing(
        &sink,
        &names("throttled", 0, 3)
    )
    .is_empty()));
    assert!(f.stop(Duration::from_secs(15)).success());
}

/// (4) A 400: the batch is dropped, counted in the log, and never retried.
#[test]
fn bad_request_is_dropped_not_retried() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::BadRequest);
    let g = free_port();
    let f = Ferrotel::start(&config(g, &http_exporter(&sink, ""), ""), &[g]);
    let mut c = Client::connect(g);
    c.send(request("bad", 0, 5)).unwrap();
    assert!(wait_until(Duration::from_secs(10), || sink
        .state
        .lock()
        .unwrap()
        .attempts
        .len()
        == 1));
    // Ten retry intervals (100ms) pass: no second attempt.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(sink.state.lock().unwrap().attempts.len(), 1);
    let logs = common::plain(&f.logs());
    assert!(
        logs.contains("permanent error") && logs.contains("items=5"),
        "the drop is logged with its count:\n{logs}"
    );
    assert!(f.stop(Duration::from_secs(15)).success());
}

/// (5) A full queue: senders get a retryable refusal (UNAVAILABLE); after the destination recovers,
/// every acknowledged span arrives.
#[test]
fn full_queue_refuses_retryably_and_keeps_what_it_took() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(DOWN);
    let g = free_port();
    let f = Ferrotel::start(
        &config(
            g,
            &http_exporter(&sink, "queue_size: 5, num_consumers: 1"),
            "",
        ),
        &[g],
    );
    let mut c = Client::connect(g);
    let mut acked = Vec::new();
    let mut refused = 0;
    for i in 0..20 {
        match c.send(request("full", i * 10, 10)) {
            Ok(()) => acked.extend(names("full", i * 10, 10)),
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "the queue never filled");
    assert!(!acked.is_empty());
    sink.set_mode(SinkMode::Accept);
    assert!(
        wait_until(Duration::from_secs(30), || missing(&sink, &acked)
            .is_empty()),
        "missing: {:?}\n{}",
        missing(&sink, &acked),
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(15)).success());
}

/// (6) A garbage-filled segment and a truncated last segment: the restart sends every intact record
/// and logs the loss.
#[test]
fn damaged_queue_recovers_intact_records() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(DOWN);
    let dir = tempfile::tempdir().unwrap();
    let g = free_port();
    let yaml = config(
        g,
        &http_exporter(&sink, "storage: file_storage"),
        &storage(dir.path()),
    );
    // Three runs, one segment each: A, B and C, ten requests of 100 spans each.
    for run in ["A", "B", "C"] {
        let f = Ferrotel::start(&yaml, &[g]);
        let mut c = Client::connect(g);
        for i in 0..10 {
            c.send(request(run, i * 100, 100)).unwrap();
        }
        assert!(f.stop(Duration::from_secs(15)).success());
    }
    let segs = segments(dir.path());
    assert_eq!(segs.len(), 3, "{segs:?}");
    let len = std::fs::metadata(&segs[1]).unwrap().len() as usize;
    std::fs::write(&segs[1], vec![0xA5u8; len]).unwrap();
    let mut last = std::fs::read(&segs[2]).unwrap();
    last.truncate(last.len() - 100);
    std::fs::write(&segs[2], &last).unwrap();

    sink.set_mode(SinkMode::Accept);
    let f = Ferrotel::start(&yaml, &[g]);
    let mut want = names("A", 0, 1000);
    want.extend(names("C", 0, 900));
    assert!(
        wait_until(Duration::from_secs(30), || missing(&sink, &want).is_empty()),
        "{} intact spans missing\n{}",
        missing(&sink, &want).len(),
        f.logs()
    );
    let logs = f.logs();
    assert!(logs.contains("damaged"), "the loss is logged:\n{logs}");
    assert!(f.stop(Duration::from_secs(15)).success());
}

/// (7) The destination flaps (2 s up, 2 s down) for 30 s under steady load: every acknowledged span
/// arrives.
#[test]
fn flapping_destination_loses_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let g = free_port();
    let f = Ferrotel::start(&config(g, &http_exporter(&sink, ""), ""), &[g]);
    let done = Arc::new(AtomicBool::new(false));
    let flapper = {
        let (sink, done) = (sink.clone(), done.clone());
        std::thread::spawn(move || {
            let mut up = true;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(2));
                up = !up;
                sink.set_mode(if up { SinkMode::Accept } else { DOWN });
            }
            sink.set_mode(SinkMode::Accept);
        })
    };
    let mut c = Client::connect(g);
    let mut acked = Vec::new();
    let mut refused = 0;
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_secs(30) {
        match c.send(request("flap", i * 20, 20)) {
            Ok(()) => acked.extend(names("flap", i * 20, 20)),
            Err(_) => refused += 1,
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    done.store(true, Ordering::Relaxed);
    flapper.join().unwrap();
    let downs = sink
        .state
        .lock()
        .unwrap()
        .attempts
        .iter()
        .filter(|a| a.1 != SinkMode::Accept)
        .count();
    assert!(downs > 0, "the destination never refused");
    assert!(
        wait_until(Duration::from_secs(30), || missing(&sink, &acked)
            .is_empty()),
        "{} of {} acknowledged spans missing ({refused} refused)\n{}",
        missing(&sink, &acked).len(),
        acked.len(),
        f.logs()
    );
    let unique: BTreeSet<_> = sink.received().into_keys().collect();
    assert!(unique.len() >= acked.len());
    assert!(f.stop(Duration::from_secs(15)).success());
}
