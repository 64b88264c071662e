//! Chaos: a poison request between good ones. A request prost cannot decode (a string of invalid
//! UTF-8, attribute values nested deeper than prost's recursion limit) is refused whole with HTTP 400
//! / gRPC INVALID_ARGUMENT and counted as refused; every good request sent before and after it — and
//! batched beside it — arrives at the destination. Over both receivers (OTLP/HTTP and OTLP/gRPC),
//! both exporters (`otlp_grpc`, `otlp_http`), and the `batch` processor with and without
//! `send_batch_max_size` (splitting decodes the merged batch). Items are counted by sequence number
//! at the recording sink; counters are read from the Prometheus endpoint.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{free_port, wait_until, Ferrotel, Sink};
use ferrotel::signal::codec::{RawCodec, Segments};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

const PER_REQUEST: usize = 10;

fn span(name: String) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name,
        ..Default::default()
    }
}

fn request(spans: Vec<Span>) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Spans named `seq-{first}` … `seq-{first + PER_REQUEST - 1}`.
fn good(first: usize) -> Vec<u8> {
    request(
        (first..first + PER_REQUEST)
            .map(|i| span(format!("seq-{i}")))
            .collect(),
    )
}

/// A request whose fourth span's name is not UTF-8.
fn poison_utf8() -> Vec<u8> {
    let mut b = request(
        (0..PER_REQUEST)
            .map(|i| {
                span(if i == 3 {
                    "poison~".into()
                } else {
                    format!("poison-{i}")
                })
            })
            .collect(),
    );
    let at = b.windows(7).position(|w| w == b"poison~").unwrap();
    b[at + 6] = 0xff;
    assert!(ExportTraceServiceRequest::decode(&b[..]).is_err());
    b
}

/// A request whose last span has an attribute value nested 120 arrays deep (prost allows 100).
fn poison_deep() -> Vec<u8> {
    let mut v = AnyValue {
        value: Some(any_value::Value::StringValue("leaf".into())),
    };
    for _ in 0..120 {
        v = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![v] })),
        };
    }
    let mut spans: Vec<Span> = (0..PER_REQUEST)
        .map(|i| span(format!("poison-{i}")))
        .collect();
    spans[PER_REQUEST - 1].attributes = vec![KeyValue {
        key: "deep".into(),
        value: Some(v),
        ..Default::default()
    }];
    let b = request(spans);
    assert!(ExportTraceServiceRequest::decode(&b[..]).is_err());
    b
}

struct Collector {
    f: Ferrotel,
    grpc: u16,
    http: u16,
    metrics: u16,
}

fn start(sink: &Sink, exporter: &str, batch: &str) -> Collector {
    let (grpc, http, metrics) = (free_port(), free_port(), free_port());
    let (endpoint, tls) = match exporter {
        "otlp_grpc" => (sink.grpc_endpoint(), "\n    tls: {insecure: true}"),
        _ => (sink.http_endpoint(), ""),
    };
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
processors:
  batch: {batch}
exporters:
  {exporter}:
    endpoint: {endpoint}{tls}
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {{host: 127.0.0.1, port: {metrics}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [{exporter}]}}
"#
    );
    let f = Ferrotel::start(&yaml, &[grpc, http, metrics]);
    Collector {
        f,
        grpc,
        http,
        metrics,
    }
}

fn post(rt: &tokio::runtime::Runtime, port: u16, body: Vec<u8>) -> (u16, String) {
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            String::from_utf8_lossy(&r.bytes().await.unwrap()).into_owned(),
        )
    })
}

fn grpc_export(
    rt: &tokio::runtime::Runtime,
    port: u16,
    body: Vec<u8>,
) -> Result<(), tonic::Status> {
    rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        grpc.unary::<_, bytes::Bytes, _>(
            tonic::Request::new(Segments(vec![bytes::Bytes::from(body)])),
            http::uri::PathAndQuery::from_static(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            ),
            RawCodec,
        )
        .await
        .map(|_| ())
    })
}

/// How often each span name arrived at the sink.
fn arrived(sink: &Sink) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for r in &sink.state.lock().unwrap().traces {
        for s in r.scope_spans.iter().flat_map(|s| &s.spans) {
            *seen.entry(s.name.clone()).or_insert(0) += 1;
        }
    }
    seen
}

fn scrape(port: u16) -> String {
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    body
}

/// The sum of every sample named `name` whose labels include `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    ferrotel::telemetry::top::parse_exposition(text)
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn scenario(exporter: &str, batch: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let c = start(&sink, exporter, batch);
    let mut next = 0;
    let mut good_requests = |n: usize| -> Vec<Vec<u8>> {
        (0..n)
            .map(|_| {
                let b = good(next);
                next += PER_REQUEST;
                b
            })
            .collect()
    };
    // Over HTTP: 3 good, invalid UTF-8, 3 good, too deep, 3 good.
    let mut sent_http = 0;
    for (i, round) in [poison_utf8(), poison_deep()].into_iter().enumerate() {
        for b in good_requests(3) {
            assert_eq!(post(&rt, c.http, b).0, 200);
            sent_http += PER_REQUEST;
        }
        let (status, body) = post(&rt, c.http, round);
        assert_eq!(status, 400, "poison {i} over HTTP: {body}");
        let want = if i == 0 {
            "resource_spans[0].scope_spans[0].spans[3].name: invalid UTF-8"
        } else {
            "resource_spans[0].scope_spans[0].spans[9].attributes[0].value"
        };
        assert!(body.contains(want), "{body}");
    }
    for b in good_requests(3) {
        assert_eq!(post(&rt, c.http, b).0, 200);
        sent_http += PER_REQUEST;
    }
    // Over gRPC: the same pattern.
    let mut sent_grpc = 0;
    for (i, round) in [poison_utf8(), poison_deep()].into_iter().enumerate() {
        for b in good_requests(3) {
            grpc_export(&rt, c.grpc, b).unwrap();
            sent_grpc += PER_REQUEST;
        }
        let err = grpc_export(&rt, c.grpc, round).unwrap_err();
        assert_eq!(
            err.code(),
            tonic::Code::InvalidArgument,
            "poison {i}: {err:?}"
        );
        let want = if i == 0 {
            "spans[3].name: invalid UTF-8"
        } else {
            "nested deeper than 100"
        };
        assert!(err.message().contains(want), "{err:?}");
    }
    for b in good_requests(3) {
        grpc_export(&rt, c.grpc, b).unwrap();
        sent_grpc += PER_REQUEST;
    }
    let total = sent_http + sent_grpc;
    assert_eq!(total, next);
    // Every good item arrives, once.
    let complete = wait_until(Duration::from_secs(20), || {
        let seen = arrived(&sink);
        (0..total).all(|i| seen.contains_key(&format!("seq-{i}")))
    });
    let seen = arrived(&sink);
    let missing: Vec<usize> = (0..total)
        .filter(|i| !seen.contains_key(&format!("seq-{i}")))
        .collect();
    assert!(
        complete,
        "{exporter} {batch}: {} of {total} good spans missing: {missing:?}\n{}",
        missing.len(),
        c.f.logs()
    );
    assert!(
        seen.keys().all(|k| k.starts_with("seq-")),
        "nothing of a poison request may arrive: {seen:?}"
    );
    assert_eq!(seen.values().sum::<usize>(), total, "no duplicates");
    // Counters: each poison request's 10 spans refused; the good ones accepted and sent.
    let m = scrape(c.metrics);
    for (transport, sent) in [("http", sent_http), ("grpc", sent_grpc)] {
        let labels = [("receiver", "otlp"), ("transport", transport)];
        assert_eq!(
            value(&m, "otelcol_receiver_refused_spans_total", &labels),
            (2 * PER_REQUEST) as f64,
            "{transport}\n{m}"
        );
        assert_eq!(
            value(&m, "otelcol_receiver_accepted_spans_total", &labels),
            sent as f64,
            "{transport}\n{m}"
        );
    }
    assert!(wait_until(Duration::from_secs(10), || value(
        &scrape(c.metrics),
        "otelcol_exporter_sent_spans_total",
        &[("exporter", exporter)]
    ) == total as f64));
    assert!(!m.contains("otelcol_processor_dropped"), "{m}");
    assert!(!m.contains("otelcol_exporter_send_failed"), "{m}");
}

const BATCH: &str = "{send_batch_size: 25, timeout: 200ms}";
const BATCH_SPLIT: &str = "{send_batch_size: 25, send_batch_max_size: 25, timeout: 200ms}";

#[test]
fn poison_grpc_exporter_batch() {
    scenario("otlp_grpc", BATCH);
}

#[test]
fn poison_grpc_exporter_batch_split() {
    scenario("otlp_grpc", BATCH_SPLIT);
}

#[test]
fn poison_http_exporter_batch() {
    scenario("otlp_http", BATCH);
}

#[test]
fn poison_http_exporter_batch_split() {
    scenario("otlp_http", BATCH_SPLIT);
}
