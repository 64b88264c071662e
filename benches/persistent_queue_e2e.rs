//! The persistent queue's cost end to end: the real binary, OTLP/gRPC in, `otlp_grpc` out to a
//! recording destination on loopback, with an in-memory queue, a persistent queue, and a persistent
//! queue with `fsync: true`. Prints throughput and ferrotel's CPU seconds per million spans.
//!
//! Run: `cargo bench --bench persistent_queue_e2e` (optionally `-- <million spans>`, default 1).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{free_port, Ferrotel, Sink};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

const SPANS_PER_REQUEST: usize = 100;
const SENDERS: usize = 8;

fn request() -> ExportTraceServiceRequest {
    let attr = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let spans = (0..SPANS_PER_REQUEST)
        .map(|i| Span {
            name: format!("GET /api/v1/items/{i}"),
            trace_id: (i as u128 + 7).to_be_bytes().to_vec(),
            span_id: (i as u64 + 7).to_be_bytes().to_vec(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_000_100_000,
            attributes: vec![
                attr("http.method", "GET"),
                attr("http.route", "/api/v1/items/{id}"),
                attr("net.peer.name", "backend.internal"),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// utime + stime of a process, from /proc/<pid>/stat (clock ticks of 10 ms).
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    Duration::from_millis((f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0)) * 10)
}

fn run(name: &str, spans: usize, queue: &str, storage: Option<bool>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (ext, ext_list) = match storage {
        Some(fsync) => (
            format!(
                "extensions:\n  file_storage:\n    directory: {}\n    fsync: {fsync}",
                dir.path().display()
            ),
            "extensions: [file_storage]",
        ),
        None => (String::new(), ""),
    };
    let g = free_port();
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{g}"}}
exporters:
  otlp_grpc:
    endpoint: {}
    tls: {{insecure: true}}
    compression: none
    sending_queue: {{queue_size: 100000, {queue}}}
{ext}
service:
  {ext_list}
  telemetry: {{logs: {{level: warn}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc]}}
"#,
        sink.grpc_endpoint()
    );
    let f = Ferrotel::start(&yaml, &[g]);
    let pid = f.child.id();
    let requests = spans / SPANS_PER_REQUEST;
    let cpu0 = cpu_of(pid);
    let t0 = Instant::now();
    rt.block_on(async {
        let client = TraceServiceClient::connect(format!("http://127.0.0.1:{g}"))
            .await
            .unwrap();
        let req = request();
        let mut tasks = Vec::new();
        for s in 0..SENDERS {
            let (mut c, req) = (client.clone(), req.clone());
            tasks.push(tokio::spawn(async move {
                for _ in (s..requests).step_by(SENDERS) {
                    while c.export(req.clone()).await.is_err() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    while sink.span_count() < requests * SPANS_PER_REQUEST {
        std::thread::sleep(Duration::from_millis(2));
    }
    let wall = t0.elapsed();
    let cpu = cpu_of(pid) - cpu0;
    println!(
        "{name:<36} {:>9.0} spans/s   {:>5.2} ferrotel CPU s per million spans",
        spans as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() / (spans as f64 / 1e6),
    );
    f.stop(Duration::from_secs(20));
}

fn main() {
    // `cargo test --all-targets` runs this too (without `--bench`): then only a quick smoke run.
    let bench = std::env::args().any(|a| a == "--bench");
    let millions: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if bench { 1.0 } else { 0.01 });
    let spans = (millions * 1e6) as usize;
    println!("{spans} spans in requests of {SPANS_PER_REQUEST}, {SENDERS} concurrent gRPC senders");
    run("in-memory queue", spans, "", None);
    run(
        "persistent queue",
        spans,
        "storage: file_storage",
        Some(false),
    );
    run(
        "persistent queue, fsync",
        spans,
        "storage: file_storage",
        Some(true),
    );
    run(
        "persistent queue + sending_queue.batch",
        spans,
        "storage: file_storage, batch: {}",
        Some(false),
    );
}
