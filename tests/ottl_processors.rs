//! `filter` and `transform` through the real binary: spans and logs sent over OTLP/HTTP reach the
//! recording sink filtered and transformed, field by field; bad OTTL is a config error with its key path.

use crate::common;
use crate::ops;

use std::time::Duration;

use common::{free_port, run_cli, wait_until, Ferrotel, Sink};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
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

fn get<'a>(m: &'a [KeyValue], k: &str) -> Option<&'a V> {
    m.iter()
        .find(|x| x.key == k)
        .and_then(|x| x.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

async fn post(port: u16, path: &str, body: Vec<u8>) -> u16 {
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn config(h: u16, m: u16, sink: &Sink) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{h}"}}
processors:
  filter:
    error_mode: ignore
    trace_conditions:
      - 'span.attributes["http.route"] == "/health"'
      - 'resource.attributes["deployment.environment"] == "dev"'
    log_conditions:
      - 'log.severity_number < SEVERITY_NUMBER_INFO'
  transform:
    trace_statements:
      - set(span.attributes["token"], "***") where span.attributes["token"] != nil
      - delete_key(span.attributes, "internal")
      - replace_pattern(span.name, "/users/\\d+", "/users/{{id}}")
      - set(span.status.code, STATUS_CODE_ERROR) where span.attributes["http.status_code"] >= 500
      - set(resource.attributes["collector"], "ferrotel")
    log_statements:
      - context: log
        statements:
          - merge_maps(attributes, ParseJSON(body), "upsert") where IsMatch(body, "^\\{{")
          - set(severity_text, ToUpperCase(severity_text))
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
    traces: {{receivers: [otlp], processors: [filter, transform], exporters: [otlp_grpc]}}
    logs: {{receivers: [otlp], processors: [filter, transform], exporters: [otlp_grpc]}}
"#,
        sink.grpc_endpoint()
    )
}

fn span(name: &str, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.into(),
        attributes: attrs,
        ..Default::default()
    }
}

#[test]
fn filter_and_transform_spans_and_logs_end_to_end() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let h = free_port();
    let m = free_port();
    let f = Ferrotel::start(&config(h, m, &sink), &[h, m]);

    let status = |code: i64| KeyValue {
        key: "http.status_code".into(),
        value: Some(AnyValue {
            value: Some(V::IntValue(code)),
        }),
        ..Default::default()
    };
    let traces = ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", "api"),
                        kv("deployment.environment", "prod"),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![
                        span(
                            "GET /users/42",
                            vec![kv("token", "secret"), kv("internal", "x"), status(503)],
                        ),
                        span("GET /health", vec![kv("http.route", "/health")]),
                        span("POST /orders", vec![status(200)]),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            },
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("deployment.environment", "dev")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span("dev span", vec![])],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    };
    assert_eq!(
        rt.block_on(post(h, "/v1/traces", traces.encode_to_vec())),
        200
    );

    // A request the filter empties entirely is accepted and not exported.
    let health_only = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span("hc", vec![kv("http.route", "/health")])],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    assert_eq!(
        rt.block_on(post(h, "/v1/traces", health_only.encode_to_vec())),
        200
    );

    let log = |body: &str, sev: i32, text: &str| LogRecord {
        body: Some(AnyValue {
            value: Some(V::StringValue(body.into())),
        }),
        severity_number: sev,
        severity_text: text.into(),
        ..Default::default()
    };
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    log(r#"{"user":"ann","action":"login"}"#, 9, "info"),
                    log("debug detail", 5, "debug"),
                    log("plain", 17, "error"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    assert_eq!(rt.block_on(post(h, "/v1/logs", logs.encode_to_vec())), 200);

    assert!(
        wait_until(Duration::from_secs(10), || sink.span_count() == 2
            && sink.log_count() == 2),
        "{}",
        f.logs()
    );
    // Give a wrongly exported empty or filtered request time to arrive before checking none did.
    std::thread::sleep(Duration::from_millis(300));
    let st = sink.state.lock().unwrap();
    assert_eq!(
        st.traces.len(),
        1,
        "only the first request's kept resource is exported"
    );
    let rs = &st.traces[0];
    let res = &rs.resource.as_ref().unwrap().attributes;
    assert_eq!(
        get(res, "collector"),
        Some(&V::StringValue("ferrotel".into()))
    );
    let spans: Vec<&Span> = rs.scope_spans.iter().flat_map(|s| &s.spans).collect();
    assert_eq!(
        spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["GET /users/{id}", "POST /orders"]
    );
    assert_eq!(
        get(&spans[0].attributes, "token"),
        Some(&V::StringValue("***".into()))
    );
    assert_eq!(get(&spans[0].attributes, "internal"), None);
    assert_eq!(spans[0].status.as_ref().map(|s| s.code), Some(2));
    assert_eq!(spans[1].status.as_ref().map(|s| s.code).unwrap_or(0), 0);

    let records: Vec<&LogRecord> = st
        .logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(
        get(&records[0].attributes, "user"),
        Some(&V::StringValue("ann".into()))
    );
    assert_eq!(
        get(&records[0].attributes, "action"),
        Some(&V::StringValue("login".into()))
    );
    assert_eq!(records[0].severity_text, "INFO");
    assert_eq!(records[1].severity_text, "ERROR");
    assert!(records[1].attributes.is_empty());
    drop(st);

    // otelcol's filter counters, exact: 3 spans dropped (the health span, the dev resource's span,
    // the health-only request's span) and 1 log record (severity below INFO); the Prometheus names
    // are otelcol's `otelcol_processor_filter_{spans,logs}.filtered` with `_total`.
    let by = [("filter", "filter")];
    let text = ops::scrape(m);
    assert_eq!(
        ops::value(&text, "otelcol_processor_filter_spans_filtered_total", &by),
        3.0,
        "{text}"
    );
    assert_eq!(
        ops::value(&text, "otelcol_processor_filter_logs_filtered_total", &by),
        1.0,
        "{text}"
    );
    assert_eq!(
        ops::value(
            &text,
            "otelcol_processor_filter_datapoints_filtered_total",
            &by
        ),
        0.0
    );
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn bad_ottl_is_a_config_error_with_key_path_and_column_and_components_lists_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        r#"
receivers: {otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}}
processors:
  transform:
    trace_statements:
      - context: span
        statements: ['set(name, "x") wher kind == SPAN_KIND_SERVER']
  filter:
    traces: {span: ['Frobnicate(name)']}
exporters: {debug: {}}
service: {pipelines: {traces: {receivers: [otlp], processors: [transform, filter], exporters: [debug]}}}
"#,
    )
    .unwrap();
    let (code, out, err) = run_cli(&["validate", "--config", path.to_str().unwrap()]);
    let all = format!("{out}{err}");
    assert_ne!(code, 0, "{all}");
    assert!(
        all.contains("processors::transform::trace_statements::0::statements::0")
            && all.contains("column 16"),
        "{all}"
    );
    assert!(
        all.contains("processors::filter::traces::span::0")
            && all.contains("unknown converter Frobnicate"),
        "{all}"
    );
    let (_, out, _) = run_cli(&["components"]);
    assert!(out.contains("filter") && out.contains("transform"), "{out}");
}
