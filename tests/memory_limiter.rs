//! The memory limiter under a flood far beyond what the destination takes: senders get retryable
//! refusals (HTTP 503, gRPC UNAVAILABLE), peak resident memory stays within the limit plus the
//! documented margin, and everything that was acknowledged reaches the destination once it is back.

use crate::common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, wait_until, Ferrotel, Sink, SinkMode};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// The configured hard limit, and the margin README's "Processors" section documents.
const LIMIT_MIB: u64 = 80;
const MARGIN_MIB: u64 = 32;

/// ~0.5 MiB: 1,000 spans named `{prefix}{i}`, each with a 400-byte attribute.
fn request(prefix: &str) -> ExportTraceServiceRequest {
    let filler = "x".repeat(400);
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..1000)
                    .map(|i| Span {
                        trace_id: vec![7; 16],
                        span_id: vec![9; 8],
                        name: format!("{prefix}{i}"),
                        attributes: vec![KeyValue {
                            key: "payload".into(),
                            value: Some(AnyValue {
                                value: Some(V::StringValue(filler.clone())),
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    acked: Mutex<BTreeSet<String>>,
    refused_http: AtomicUsize,
    refused_grpc: AtomicUsize,
    other: Mutex<Vec<String>>,
}

#[test]
fn flood_is_refused_memory_stays_bounded_and_acknowledged_data_is_delivered() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::Unavailable { retry_after: None });
    let (g, h) = (free_port(), free_port());
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{g}"}}
      http: {{endpoint: "127.0.0.1:{h}"}}
processors:
  memory_limiter: {{check_interval: 100ms, limit_mib: {LIMIT_MIB}}}
  batch: {{send_batch_size: 4000, send_batch_max_size: 4000, timeout: 100ms}}
exporters:
  otlp_grpc:
    endpoint: {}
    tls: {{insecure: true}}
    compression: none
    sending_queue: {{queue_size: 1000000}}
    retry_on_failure: {{initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 0s}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [memory_limiter, batch], exporters: [otlp_grpc]}}
"#,
        sink.grpc_endpoint()
    );
    let f = Ferrotel::start(&yaml, &[g, h]);
    let pid = f.child.id();
    let tally = Arc::new(Tally::default());
    let flood = Duration::from_secs(8);

    // Six senders, half over HTTP and half over gRPC, sending as fast as they are answered.
    rt.block_on(async {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..6 {
            let tally = tally.clone();
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut grpc = TraceServiceClient::connect(format!("http://127.0.0.1:{g}"))
                    .await
                    .unwrap()
                    .max_decoding_message_size(64 << 20);
                let mut seq = 0;
                while start.elapsed() < flood {
                    seq += 1;
                    let prefix = format!("t{t}-{seq}-");
                    let req = request(&prefix);
                    let ok = if t % 2 == 0 {
                        let resp = http
                            .post(format!("http://127.0.0.1:{h}/v1/traces"))
                            .header("content-type", "application/x-protobuf")
                            .body(req.encode_to_vec())
                            .send()
                            .await;
                        match resp.map(|r| r.status().as_u16()) {
                            Ok(200) => true,
                            Ok(503) => {
                                tally.refused_http.fetch_add(1, Ordering::Relaxed);
                                false
                            }
                            other => {
                                tally.other.lock().unwrap().push(format!("http {other:?}"));
                                false
                            }
                        }
                    } else {
                        match grpc.export(req).await {
                            Ok(_) => true,
                            Err(s) if s.code() == tonic::Code::Unavailable => {
                                tally.refused_grpc.fetch_add(1, Ordering::Relaxed);
                                false
                            }
                            Err(s) => {
                                tally.other.lock().unwrap().push(format!("grpc {s:?}"));
                                false
                            }
                        }
                    };
                    if ok {
                        tally.acked.lock().unwrap().insert(prefix);
                    } else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });

    let peak_mib = status_kib(pid, "VmHWM:") / 1024;
    let acked = tally.acked.lock().unwrap().clone();
    let (rh, rg) = (
        tally.refused_http.load(Ordering::Relaxed),
        tally.refused_grpc.load(Ordering::Relaxed),
    );
    eprintln!(
        "peak RSS {peak_mib} MiB (limit {LIMIT_MIB}), acknowledged {} requests, refused {rh} over HTTP and {rg} over gRPC",
        acked.len()
    );
    assert!(
        tally.other.lock().unwrap().is_empty(),
        "unexpected answers: {:?}",
        tally.other.lock().unwrap()
    );
    assert!(rh > 0 && rg > 0, "senders were not refused: {}", f.logs());
    assert!(!acked.is_empty());
    assert!(
        peak_mib <= LIMIT_MIB + MARGIN_MIB,
        "peak RSS {peak_mib} MiB is over the limit {LIMIT_MIB} MiB + margin {MARGIN_MIB} MiB"
    );
    assert!(f
        .logs()
        .contains("Memory usage is above soft limit. Refusing data."));

    // The destination comes back: everything acknowledged arrives.
    sink.set_mode(SinkMode::Accept);
    let want = acked.len() * 1000;
    assert!(
        wait_until(Duration::from_secs(40), || sink.span_count() >= want),
        "{} of {want} acknowledged spans arrived:\n{}",
        sink.span_count(),
        f.logs()
    );
    let got: BTreeSet<String> = sink
        .state
        .lock()
        .unwrap()
        .traces
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter_map(|s| s.name.strip_suffix('0').map(String::from))
        .collect();
    let missing: Vec<&String> = acked.iter().filter(|p| !got.contains(*p)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not delivered: {missing:?}"
    );

    // Memory back under the soft limit: data flows again.
    let accepted_again = wait_until(Duration::from_secs(15), || {
        rt.block_on(async {
            reqwest::Client::new()
                .post(format!("http://127.0.0.1:{h}/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(request("after-").encode_to_vec())
                .send()
                .await
                .map(|r| r.status().as_u16() == 200)
                .unwrap_or(false)
        })
    });
    assert!(
        accepted_again,
        "still refusing after the backlog drained (RSS {} MiB):\n{}",
        status_kib(pid, "VmRSS:") / 1024,
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(20)).success());
}
