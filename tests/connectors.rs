//! Connectors through the real binary: `forward` joins pipelines, `routing` sends every item to
//! exactly the pipelines its table names, `count` counts exactly, and a SIGTERM loses nothing held
//! downstream of a connector. Items are told apart by sequence numbers (span and log names).

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{free_port, wait_until, Ferrotel, Sink};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(V::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// One resource per `(resource attributes, span names)` entry.
fn traces(resources: &[(Vec<KeyValue>, Vec<String>)]) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: resources
            .iter()
            .map(|(attrs, names)| ResourceSpans {
                resource: Some(Resource {
                    attributes: attrs.clone(),
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: names
                        .iter()
                        .map(|n| Span {
                            trace_id: vec![1; 16],
                            span_id: vec![2; 8],
                            name: n.clone(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
    .encode_to_vec()
}

async fn post(port: u16, signal: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> u16 {
    let mut req = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/{signal}"))
        .header("content-type", "application/x-protobuf");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body).send().await.unwrap().status().as_u16()
}

/// How many times each span name reached `sink`.
fn span_names(sink: &Sink) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for rs in &sink.state.lock().unwrap().traces {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                *out.entry(s.name.clone()).or_insert(0) += 1;
            }
        }
    }
    out
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn exporter(name: &str, sink: &Sink) -> String {
    format!(
        "  otlp_grpc/{name}:\n    endpoint: {}\n    tls: {{insecure: true}}\n",
        sink.grpc_endpoint()
    )
}

#[test]
fn forward_joins_two_pipelines() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let (a, b) = (free_port(), free_port());
    let yaml = format!(
        r#"
receivers:
  otlp/a: {{protocols: {{http: {{endpoint: "127.0.0.1:{a}"}}}}}}
  otlp/b: {{protocols: {{http: {{endpoint: "127.0.0.1:{b}"}}}}}}
processors:
  batch: {{timeout: 20ms}}
exporters:
{}connectors:
  forward:
service:
  pipelines:
    traces/a: {{receivers: [otlp/a], exporters: [forward]}}
    traces/b: {{receivers: [otlp/b], exporters: [forward]}}
    traces/out: {{receivers: [forward], processors: [batch], exporters: [otlp_grpc/out]}}
"#,
        exporter("out", &sink)
    );
    let f = Ferrotel::start(&yaml, &[a, b]);
    for i in 0..10 {
        let body_a = traces(&[(vec![], names(&format!("a{i}-"), 30))]);
        let body_b = traces(&[(vec![], names(&format!("b{i}-"), 20))]);
        assert_eq!(
            rt.block_on(post(a, "traces", body_a, &[])),
            200,
            "{}",
            f.logs()
        );
        assert_eq!(
            rt.block_on(post(b, "traces", body_b, &[])),
            200,
            "{}",
            f.logs()
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || sink.span_count() >= 500),
        "{}",
        f.logs()
    );
    let got = span_names(&sink);
    let mut want = BTreeMap::new();
    for i in 0..10 {
        for n in names(&format!("a{i}-"), 30)
            .into_iter()
            .chain(names(&format!("b{i}-"), 20))
        {
            want.insert(n, 1);
        }
    }
    assert_eq!(got, want, "every span once, from both pipelines");
    assert!(f.stop(Duration::from_secs(20)).success());
}

#[test]
fn sigterm_loses_nothing_held_downstream_of_a_connector() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let h = free_port();
    // Both batches wait an hour: on SIGTERM the upstream one flushes through the connector into the
    // downstream one, which must still be running, and then flushes to the exporter.
    let yaml = format!(
        r#"
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{h}"}}}}}}
processors:
  batch/up: {{timeout: 1h, send_batch_size: 1000000}}
  batch/down: {{timeout: 1h, send_batch_size: 1000000}}
exporters:
{}connectors:
  forward/1:
  forward/2:
service:
  pipelines:
    traces/in: {{receivers: [otlp], processors: [batch/up], exporters: [forward/1]}}
    traces/mid: {{receivers: [forward/1], processors: [batch/up], exporters: [forward/2]}}
    traces/out: {{receivers: [forward/2], processors: [batch/down], exporters: [otlp_grpc/out]}}
"#,
        exporter("out", &sink)
    );
    let f = Ferrotel::start(&yaml, &[h]);
    for i in 0..20 {
        let body = traces(&[(vec![], names(&format!("r{i}-"), 50))]);
        assert_eq!(
            rt.block_on(post(h, "traces", body, &[])),
            200,
            "{}",
            f.logs()
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.span_count(), 0, "the batches hold everything");
    let log = f.log.clone();
    assert!(f.stop(Duration::from_secs(20)).success());
    let got = span_names(&sink);
    let want: BTreeMap<String, usize> = (0..20)
        .flat_map(|i| names(&format!("r{i}-"), 50))
        .map(|n| (n, 1))
        .collect();
    assert_eq!(
        got,
        want,
        "{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[test]
fn routing_by_resource_attribute_sends_every_span_to_exactly_one_sink() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (acme, ecorp, other) = (Sink::start(&rt), Sink::start(&rt), Sink::start(&rt));
    let h = free_port();
    let yaml = format!(
        r#"
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{h}", include_metadata: true}}}}}}
processors:
  batch: {{timeout: 20ms}}
exporters:
{}{}{}connectors:
  routing:
    default_pipelines: [traces/other]
    table:
      - condition: 'attributes["tenant"] == "acme"'
        pipelines: [traces/acme]
      - statement: 'route() where attributes["tenant"] == "ecorp"'
        pipelines: [traces/ecorp]
      - context: request
        condition: 'request["x-route"] == "acme"'
        pipelines: [traces/acme]
service:
  pipelines:
    traces/in: {{receivers: [otlp], exporters: [routing]}}
    traces/acme: {{receivers: [routing], processors: [batch], exporters: [otlp_grpc/acme]}}
    traces/ecorp: {{receivers: [routing], exporters: [otlp_grpc/ecorp]}}
    traces/other: {{receivers: [routing], exporters: [otlp_grpc/other]}}
"#,
        exporter("acme", &acme),
        exporter("ecorp", &ecorp),
        exporter("other", &other)
    );
    let f = Ferrotel::start(&yaml, &[h]);
    let mut want_acme = BTreeMap::new();
    let mut want_ecorp = BTreeMap::new();
    let mut want_other = BTreeMap::new();
    for i in 0..20 {
        // Three resources per request: one per tenant, plus one with no tenant.
        let (a, e, o) = (
            names(&format!("acme{i}-"), 7),
            names(&format!("ecorp{i}-"), 5),
            names(&format!("none{i}-"), 3),
        );
        let body = traces(&[
            (vec![kv("tenant", "acme")], a.clone()),
            (vec![kv("tenant", "ecorp")], e.clone()),
            (vec![kv("tenant", "globex")], o.clone()),
        ]);
        // Every fifth request carries the header that the third route matches: only what the
        // first two routes left (the globex resource) goes to acme then.
        let headers: &[(&str, &str)] = if i % 5 == 0 {
            &[("x-route", "acme")]
        } else {
            &[]
        };
        assert_eq!(
            rt.block_on(post(h, "traces", body, headers)),
            200,
            "{}",
            f.logs()
        );
        want_acme.extend(a.into_iter().map(|n| (n, 1)));
        want_ecorp.extend(e.into_iter().map(|n| (n, 1)));
        let rest = if i % 5 == 0 {
            &mut want_acme
        } else {
            &mut want_other
        };
        rest.extend(o.into_iter().map(|n| (n, 1)));
    }
    let total = |s: &Sink| s.span_count();
    assert!(
        wait_until(Duration::from_secs(10), || {
            total(&acme) + total(&ecorp) + total(&other) >= 20 * 15
        }),
        "{}",
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(20)).success());
    assert_eq!(span_names(&acme), want_acme);
    assert_eq!(span_names(&ecorp), want_ecorp);
    assert_eq!(span_names(&other), want_other);
}

#[test]
fn count_connector_counts_exactly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (spans_sink, counts) = (Sink::start(&rt), Sink::start(&rt));
    let h = free_port();
    let yaml = format!(
        r#"
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{h}"}}}}}}
exporters:
{}{}connectors:
  count:
  count/tenant:
    spans:
      spans.by.tenant:
        attributes: [{{key: tenant, default_value: unknown}}]
      spans.named.x0:
        conditions: ['IsMatch(name, "-0$")']
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc/spans, count, count/tenant]}}
    metrics: {{receivers: [count, count/tenant], exporters: [otlp_grpc/counts]}}
"#,
        exporter("spans", &spans_sink),
        exporter("counts", &counts)
    );
    let f = Ferrotel::start(&yaml, &[h]);
    for i in 0..10 {
        let body = traces(&[
            (vec![kv("tenant", "acme")], names(&format!("a{i}-"), 4)),
            (vec![], names(&format!("n{i}-"), 2)),
        ]);
        assert_eq!(
            rt.block_on(post(h, "traces", body, &[])),
            200,
            "{}",
            f.logs()
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || spans_sink.span_count() >= 60),
        "{}",
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(20)).success());
    // Sum every emitted data point by (metric, attributes).
    let mut sums: BTreeMap<(String, String), i64> = BTreeMap::new();
    for rm in &counts.state.lock().unwrap().metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(s)) = &m.data
                else {
                    panic!("{} is not a sum", m.name)
                };
                for p in &s.data_points {
                    let attrs = p
                        .attributes
                        .iter()
                        .map(|kv| {
                            format!(
                                "{}={:?}",
                                kv.key,
                                kv.value.as_ref().and_then(|v| v.value.as_ref())
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(",");
                    let n = match p.value {
                        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(n)) => n,
                        _ => panic!("not an int"),
                    };
                    *sums.entry((m.name.clone(), attrs)).or_insert(0) += n;
                }
            }
        }
    }
    let key = |m: &str, a: &str| (m.to_string(), a.to_string());
    let tenant = |t: &str| format!("tenant={:?}", Some(V::StringValue(t.into())));
    let want: BTreeMap<(String, String), i64> = [
        (key("trace.span.count", ""), 60),
        (key("spans.by.tenant", &tenant("acme")), 40),
        (key("spans.by.tenant", &tenant("unknown")), 20),
        (key("spans.named.x0", ""), 20),
    ]
    .into_iter()
    .collect();
    assert_eq!(sums, want);
}
