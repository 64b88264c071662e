//! Faults at the persistent queue's storage, through the real binary (issue 10, item 7 and the
//! "kill -9 during compaction" scenario): a crash in the middle of on-start compaction, a second
//! process on the same storage directory, and two exporter ids that used to share one queue
//! directory. Spans are named `<prefix>-<n>` and counted by name at a recording sink.

use crate::common;
use crate::ops;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{free_port, wait_until, Ferrotel, Sink, SinkMode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// Spans named `<prefix>-<first>` … `<prefix>-<first + n - 1>`, as an OTLP/HTTP protobuf body.
fn request(prefix: &str, first: usize, n: usize) -> Vec<u8> {
    let spans = (first..first + n)
        .map(|i| Span {
            name: format!("{prefix}-{i}"),
            trace_id: (i as u128 + 1).to_be_bytes().to_vec(),
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: ops::resource("chaos-storage"),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// How often each span name reached the sink.
fn received(sink: &Sink) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in &sink.state.lock().unwrap().traces {
        for s in r.scope_spans.iter().flat_map(|s| &s.spans) {
            *m.entry(s.name.clone()).or_insert(0) += 1;
        }
    }
    m
}

/// Sends `requests` requests of `per` spans named `<prefix>-<n>` to the HTTP receiver on `port`;
/// returns the names of the spans whose request was acknowledged (200).
fn send(
    rt: &tokio::runtime::Runtime,
    port: u16,
    prefix: &str,
    requests: usize,
    per: usize,
) -> BTreeSet<String> {
    // One client (one connection) for all requests: building a client per request is slow.
    let client = reqwest::Client::new();
    let mut acked = BTreeSet::new();
    for r in 0..requests {
        let status = rt.block_on(async {
            client
                .post(format!("http://127.0.0.1:{port}/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(request(prefix, r * per, per))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
        if status == 200 {
            acked.extend((r * per..(r + 1) * per).map(|i| format!("{prefix}-{i}")));
        }
    }
    acked
}

/// One OTLP/HTTP receiver per `(name, port)` and one `otlp_http` exporter per `(id, sink)` with a
/// persistent queue in `storage`, pipeline `traces/<n>` joining the n-th receiver to the n-th
/// exporter. Retries every 100 ms for ever, so a destination that is down keeps everything queued.
fn yaml(storage: &Path, compaction: &str, pipes: &[(&str, u16, &str, &Sink)]) -> String {
    let mut receivers = String::new();
    let mut exporters = String::new();
    let mut pipelines = String::new();
    for (i, (receiver, port, exporter, sink)) in pipes.iter().enumerate() {
        receivers.push_str(&format!(
            "  {receiver}:\n    protocols:\n      http: {{endpoint: \"127.0.0.1:{port}\"}}\n"
        ));
        exporters.push_str(&format!(
            "  {exporter:?}:\n    endpoint: {}\n    retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0s}}\n    sending_queue: {{storage: file_storage, queue_size: 100000, num_consumers: 2}}\n",
            sink.http_endpoint()
        ));
        pipelines.push_str(&format!(
            "    traces/{i}: {{receivers: [{receiver}], exporters: [{exporter:?}]}}\n"
        ));
    }
    format!(
        r#"
extensions:
  file_storage:
    directory: "{}"
    compaction: {compaction}
receivers:
{receivers}exporters:
{exporters}service:
  extensions: [file_storage]
  pipelines:
{pipelines}"#,
        storage.display()
    )
}

/// The queue directories under `storage`.
fn queue_dirs(storage: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(storage)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `(segment files, size of the newest)` of one queue directory.
fn segments(dir: &Path) -> (usize, u64) {
    let mut segs: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let len = e.metadata().ok()?.len();
                    (name.starts_with("seg-") && name.ends_with(".dat")).then_some((name, len))
                })
                .collect()
        })
        .unwrap_or_default();
    segs.sort();
    (segs.len(), segs.last().map_or(0, |s| s.1))
}

/// kill -9 in the middle of on-start compaction, repeatedly, with the destination down; then the
/// destination comes back and one clean start delivers every acknowledged span.
///
/// Compaction copies the survivors into a fresh segment (new sequence numbers) and deletes the old
/// segments only once every copy is written, so a crash in between costs nothing but duplicates: the
/// copies written so far are sent as well as the originals (documented under "Delivery guarantees").
/// The test kills the process when it *sees* that state on disk — old segments present and the fresh
/// one already holding copies — so it does exercise the interrupted compaction; a duplicate count
/// beyond what those interruptions can explain fails it.
#[test]
fn kill_9_during_compaction_loses_nothing_acknowledged() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::Unavailable { retry_after: None });
    let storage = tempfile::tempdir().unwrap();
    let http = free_port();
    // One record per write while compacting (`max_transaction_size: 1`): a slow, observable copy.
    let cfg = yaml(
        storage.path(),
        "{on_start: true, max_transaction_size: 1}",
        &[("otlp", http, "otlp_http/out", &sink)],
    );

    // A backlog on disk while the destination is down.
    let f = Ferrotel::start(&cfg, &[http]);
    let acked = send(&rt, http, "kc", 1500, 4);
    assert_eq!(acked.len(), 6000, "every request must be acknowledged");
    f.kill();
    let queue = queue_dirs(storage.path());
    assert_eq!(queue.len(), 1, "{queue:?}");
    let queue = queue[0].clone();

    // Restart and crash until two compactions were interrupted half-way (at most 30 tries).
    let mut interrupted = 0;
    let mut tries = 0;
    while interrupted < 2 && tries < 30 {
        tries += 1;
        let (segs_before, _) = segments(&queue);
        let f = Ferrotel::start_with(&cfg, &[], &[], &[]);
        let start = Instant::now();
        let mut hit = false;
        let mut polls = 0u32;
        while start.elapsed() < Duration::from_secs(20) {
            polls += 1;
            let (n, newest) = segments(&queue);
            // Old segments still there and the fresh one already holding copies: mid-compaction.
            if segs_before > 0 && n > segs_before && newest > 0 {
                hit = true;
                break;
            }
            if polls % 50 == 0 && f.logs().contains("compacted the persistent queue") {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        f.kill();
        if hit {
            interrupted += 1;
        }
    }
    assert!(
        interrupted > 0,
        "no compaction was caught half-way in {tries} tries; the test proves nothing"
    );

    // The destination comes back: one clean start delivers everything acknowledged.
    sink.set_mode(SinkMode::Accept);
    let f = Ferrotel::start(&cfg, &[http]);
    let all = wait_until(Duration::from_secs(120), || {
        let got = received(&sink);
        acked.iter().all(|k| got.contains_key(k))
    });
    let got = received(&sink);
    let missing: Vec<&String> = acked.iter().filter(|k| !got.contains_key(*k)).collect();
    assert!(
        all,
        "{} acknowledged spans lost (e.g. {:?}) after {interrupted} interrupted compactions:\n{}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        f.logs()
    );
    // Duplicates: only from interrupted compactions, each at most doubling what it had copied.
    let duplicates: usize = got.values().map(|n| n - 1).sum();
    let most = got.values().copied().max().unwrap_or(0);
    eprintln!(
        "{} spans acknowledged, {interrupted} compactions interrupted in {tries} tries, {duplicates} duplicates delivered (at most {most} copies of one span)",
        acked.len()
    );
    assert!(
        most <= 1 << interrupted,
        "a span arrived {most} times after {interrupted} interrupted compactions"
    );
    assert!(
        !f.logs().contains("was damaged"),
        "an interrupted compaction must not look like damage:\n{}",
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(20)).success());
}

/// A second ferrotel on the same storage directory fails at start-up with an error naming the lock
/// file and the queue directory; the first one keeps receiving and delivering.
#[test]
fn a_second_process_on_the_same_storage_directory_is_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let storage = tempfile::tempdir().unwrap();
    let (http1, http2) = (free_port(), free_port());
    let first = Ferrotel::start(
        &yaml(
            storage.path(),
            "{}",
            &[("otlp", http1, "otlp_http/out", &sink)],
        ),
        &[http1],
    );
    let acked = send(&rt, http1, "first", 5, 3);
    assert_eq!(acked.len(), 15);

    let mut second = Ferrotel::start_with(
        &yaml(
            storage.path(),
            "{}",
            &[("otlp", http2, "otlp_http/out", &sink)],
        ),
        &[],
        &[],
        &[],
    );
    let mut status = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            status = second.child.try_wait().unwrap();
            status.is_some()
        }),
        "the second process did not exit:\n{}",
        second.logs()
    );
    let status = status.unwrap();
    assert!(!status.success(), "the second process exited with success");
    let logs = second.logs();
    let queue = queue_dirs(storage.path());
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert!(
        logs.contains("lock") && logs.contains(&queue[0].display().to_string()),
        "the error must name the lock and the directory:\n{logs}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", http2)).is_err(),
        "the second process must not serve"
    );

    // The first one is unharmed.
    let more = send(&rt, http1, "after", 5, 3);
    assert_eq!(more.len(), 15);
    assert!(
        wait_until(Duration::from_secs(20), || {
            let got = received(&sink);
            acked.iter().chain(&more).all(|k| got.contains_key(k))
        }),
        "the first process stopped delivering:\n{}",
        first.logs()
    );
    assert!(first.stop(Duration::from_secs(20)).success());
}

/// `otlp_http/a_b` and `"otlp_http/a b"` (one directory under the old naming) each keep their own
/// persistent queue: with both destinations down, a restart, and both back, each destination gets
/// exactly its own exporter's spans, all of them, once.
#[test]
fn exporters_whose_names_used_to_collide_keep_their_own_queues() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (sink_a, sink_b) = (Sink::start(&rt), Sink::start(&rt));
    for s in [&sink_a, &sink_b] {
        s.set_mode(SinkMode::Unavailable { retry_after: None });
    }
    let storage = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let cfg = yaml(
        storage.path(),
        "{}",
        &[
            ("otlp", port_a, "otlp_http/a_b", &sink_a),
            ("otlp/b", port_b, "otlp_http/a b", &sink_b),
        ],
    );
    let f = Ferrotel::start(&cfg, &[port_a, port_b]);
    let acked_a = send(&rt, port_a, "a", 20, 5);
    let acked_b = send(&rt, port_b, "b", 30, 5);
    assert_eq!((acked_a.len(), acked_b.len()), (100, 150));
    assert!(f.stop(Duration::from_secs(20)).success());
    assert_eq!(
        queue_dirs(storage.path()).len(),
        2,
        "one queue directory per exporter: {:?}",
        queue_dirs(storage.path())
    );

    for s in [&sink_a, &sink_b] {
        s.set_mode(SinkMode::Accept);
    }
    let f = Ferrotel::start(&cfg, &[port_a, port_b]);
    let done = wait_until(Duration::from_secs(30), || {
        let (a, b) = (received(&sink_a), received(&sink_b));
        acked_a.iter().all(|k| a.contains_key(k)) && acked_b.iter().all(|k| b.contains_key(k))
    });
    assert!(done, "spans missing after the restart:\n{}", f.logs());
    // Anything delivered to the wrong destination, or twice, would show up a moment later.
    std::thread::sleep(Duration::from_millis(500));
    let (a, b) = (received(&sink_a), received(&sink_b));
    assert_eq!(a.keys().cloned().collect::<BTreeSet<_>>(), acked_a);
    assert_eq!(b.keys().cloned().collect::<BTreeSet<_>>(), acked_b);
    assert!(
        a.values().chain(b.values()).all(|n| *n == 1),
        "duplicates after a clean stop"
    );
    assert!(f.stop(Duration::from_secs(20)).success());
}
