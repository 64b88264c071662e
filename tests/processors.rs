//! The processors through the real binary: batch flushes what it holds on SIGTERM; attributes and
//! resource processors change what reaches the destination, including values from request headers.

use crate::common;
use crate::ops;

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

fn request(prefix: &str, n: usize, attrs: Vec<KeyValue>) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "checkout"), kv("host.name", "h1")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..n)
                    .map(|i| Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name: format!("{prefix}{i}"),
                        attributes: attrs.clone(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

async fn post(port: u16, body: Vec<u8>, headers: &[(&str, &str)]) -> u16 {
    let mut req = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/traces"))
        .header("content-type", "application/x-protobuf");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body).send().await.unwrap().status().as_u16()
}

#[test]
fn batch_flushes_everything_accepted_on_sigterm() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let h = free_port();
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{h}"}}
processors:
  batch: {{timeout: 1h, send_batch_size: 1000000}}
exporters:
  otlp_grpc:
    endpoint: {}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [otlp_grpc]}}
"#,
        sink.grpc_endpoint()
    );
    let f = Ferrotel::start(&yaml, &[h]);
    for i in 0..20 {
        let status = rt.block_on(post(h, request(&format!("r{i}-"), 50, vec![]), &[]));
        assert_eq!(status, 200, "{}", f.logs());
    }
    // The batch waits for an hour or a million spans: nothing has left yet.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.span_count(), 0);
    let log = f.log.clone();
    assert!(f.stop(Duration::from_secs(20)).success());
    assert_eq!(
        sink.span_count(),
        1000,
        "{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    // All in one request: the batch joined them.
    assert_eq!(sink.state.lock().unwrap().attempts.len(), 1);
}

#[test]
fn attributes_and_resource_processors_end_to_end() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let h = free_port();
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{h}", include_metadata: true}}
processors:
  attributes/redact:
    include: {{match_type: regexp, span_names: ["^pay"]}}
    actions:
      - {{key: user.email, action: hash}}
      - {{key: card, action: delete}}
      - {{key: tenant, from_context: metadata.x-tenant, action: insert}}
      - {{key: http.status_code, action: convert, converted_type: int}}
  resource:
    attributes:
      - {{key: deployment.environment, value: prod, action: upsert}}
      - {{key: host.name, action: delete}}
  batch:
    metadata_keys: [x-tenant]
    timeout: 50ms
exporters:
  otlp_grpc:
    endpoint: {}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [attributes/redact, resource, batch], exporters: [otlp_grpc]}}
"#,
        sink.grpc_endpoint()
    );
    let f = Ferrotel::start(&yaml, &[h]);
    let attrs = vec![
        kv("user.email", "foo"),
        kv("card", "4111"),
        kv("http.status_code", "200"),
    ];
    assert_eq!(
        rt.block_on(post(
            h,
            request("pay", 1, attrs.clone()),
            &[("x-tenant", "acme")]
        )),
        200
    );
    assert_eq!(
        rt.block_on(post(
            h,
            request("browse", 1, attrs),
            &[("x-tenant", "acme")]
        )),
        200
    );
    assert!(
        wait_until(Duration::from_secs(10), || sink.span_count() == 2),
        "{}",
        f.logs()
    );
    let st = sink.state.lock().unwrap();
    let rs = &st.traces[0];
    assert_eq!(
        rs.resource.as_ref().unwrap().attributes,
        vec![
            kv("service.name", "checkout"),
            kv("deployment.environment", "prod")
        ]
    );
    let spans: Vec<&Span> = st
        .traces
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let pay = spans.iter().find(|s| s.name == "pay0").unwrap();
    assert_eq!(
        pay.attributes,
        vec![
            kv(
                "user.email",
                "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
            ),
            KeyValue {
                key: "http.status_code".into(),
                value: Some(AnyValue {
                    value: Some(V::IntValue(200))
                }),
                ..Default::default()
            },
            kv("tenant", "acme"),
        ]
    );
    let browse = spans.iter().find(|s| s.name == "browse0").unwrap();
    assert_eq!(browse.attributes[0], kv("user.email", "foo"));
    assert_eq!(browse.attributes.len(), 3);
    drop(st);
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn invalid_processor_config_is_reported_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        r#"
receivers: {otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}}
processors:
  memory_limiter: {limit_mib: 100}
  batch: {send_batch_size: 10, send_batch_max_size: 5}
  attributes: {actions: [{key: a, action: explode}]}
exporters: {debug: {}}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter, attributes, batch], exporters: [debug]}
"#,
    )
    .unwrap();
    let (code, out, err) = common::run_cli(&["validate", "--config", cfg.to_str().unwrap()]);
    let all = format!("{out}{err}");
    assert_ne!(code, 0, "{all}");
    assert!(
        all.contains("processors::memory_limiter::check_interval"),
        "{all}"
    );
    assert!(
        all.contains("processors::batch::send_batch_max_size"),
        "{all}"
    );
    assert!(
        all.contains("processors::attributes::actions::0::action"),
        "{all}"
    );
}

#[test]
fn batch_reports_otelcol_send_size_and_trigger_metrics_exactly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let (h, m) = (free_port(), free_port());
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{h}"}}
processors:
  batch/b: {{send_batch_size: 10, timeout: 3s}}
exporters:
  otlp_grpc:
    endpoint: {}
    tls: {{insecure: true}}
service:
  telemetry:
    metrics:
      readers:
        - pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {m}}}}}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch/b], exporters: [otlp_grpc]}}
"#,
        sink.grpc_endpoint()
    );
    let f = Ferrotel::start(&yaml, &[h, m]);
    // 5 + 5 reach send_batch_size (a size trigger); the last 5 leave on the timeout.
    for i in 0..3 {
        assert_eq!(
            rt.block_on(post(h, request(&format!("r{i}-"), 5, vec![]), &[])),
            200
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || sink.span_count() == 15),
        "{}",
        f.logs()
    );
    let p = [("processor", "batch/b")];
    let text = ops::scrape(m);
    let v = |name: &str| ops::value(&text, name, &p);
    assert_eq!(
        v("otelcol_processor_batch_batch_size_trigger_send_total"),
        1.0,
        "{text}"
    );
    assert_eq!(
        v("otelcol_processor_batch_timeout_trigger_send_total"),
        1.0,
        "{text}"
    );
    assert_eq!(
        v("otelcol_processor_batch_batch_send_size_count"),
        2.0,
        "{text}"
    );
    assert_eq!(
        v("otelcol_processor_batch_batch_send_size_sum"),
        15.0,
        "{text}"
    );
    assert!(f.stop(Duration::from_secs(10)).success());
}
