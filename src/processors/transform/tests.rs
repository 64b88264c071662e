//! The transform processor on otelcol-contrib's README examples, both config forms, and errors.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;
use crate::processors::testutil::Capture;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Av::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn get<'a>(m: &'a [KeyValue], k: &str) -> Option<&'a str> {
    m.iter().find(|x| x.key == k).and_then(|x| match &x.value {
        Some(AnyValue {
            value: Some(Av::StringValue(s)),
        }) => Some(s.as_str()),
        _ => None,
    })
}

fn rules(yaml: &str) -> Arc<Rules> {
    Arc::new(
        Rules::prepare(
            &serde_yaml::from_str(yaml).unwrap(),
            "processors::transform",
        )
        .unwrap_or_else(|e| panic!("{e:?}")),
    )
}

fn errors(yaml: &str) -> String {
    match Rules::prepare(
        &serde_yaml::from_str(yaml).unwrap(),
        "processors::transform",
    ) {
        Ok(_) => panic!("accepted: {yaml}"),
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The transformprocessor README's example config (the grouped form of releases before 0.120),
/// verbatim.
const README: &str = r#"
error_mode: ignore
trace_statements:
  - context: resource
    statements:
      - keep_keys(attributes, ["service.name", "service.namespace", "cloud.region", "process.command_line"])
      - replace_pattern(attributes["process.command_line"], "password\\=[^\\s]*(\\s?)", "password=***")
      - limit(attributes, 100, [])
      - truncate_all(attributes, 4096)
  - context: span
    statements:
      - set(status.code, 1) where attributes["http.path"] == "/health"
      - set(name, attributes["http.route"])
      - replace_match(attributes["http.target"], "/user/*/list/*", "/user/{userId}/list/{listId}")
      - limit(attributes, 100, [])
      - truncate_all(attributes, 4096)

metric_statements:
  - context: resource
    statements:
    - keep_keys(attributes, ["host.name"])
    - truncate_all(attributes, 4096)
  - context: metric
    statements:
      - set(description, "Sum") where type == "Sum"
      - convert_sum_to_gauge() where name == "system.processes.count"
      - convert_gauge_to_sum("cumulative", false) where name == "prometheus_metric"
      - aggregate_on_attributes("sum", ["attr1", "attr2"]) where name == "system.memory.usage"
  - context: datapoint
    statements:
      - limit(attributes, 100, ["host.name"])
      - truncate_all(attributes, 4096)

log_statements:
  - context: resource
    statements:
      - keep_keys(attributes, ["service.name", "service.namespace", "cloud.region"])
  - context: log
    statements:
      - set(severity_text, "FAIL") where body == "request failed"
      - replace_all_matches(attributes, "/user/*/list/*", "/user/{userId}/list/{listId}")
      - replace_all_patterns(attributes, "value", "/account/\\d{4}", "/account/{accountId}")
      - set(body, attributes["http.route"])
"#;

#[test]
fn readme_example_traces() {
    let r = rules(README);
    let p = TransformProcessor::<Traces>::new(r, "transform", Arc::new(Capture::default()));
    let mut b = Batch::from_resources(vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", "api"),
                kv("host.name", "h"),
                kv("process.command_line", "run --password=hunter2 --v"),
            ],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: vec![Span {
                name: "x".into(),
                attributes: vec![
                    kv("http.path", "/health"),
                    kv("http.route", "/users/{id}"),
                    kv("http.target", "/user/12/list/34"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    p.process(&mut b).unwrap();
    let out = b.into_resources().unwrap();
    let res = &out[0].resource.as_ref().unwrap().attributes;
    assert_eq!(
        res.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(),
        ["service.name", "process.command_line"]
    );
    assert_eq!(
        get(res, "process.command_line"),
        Some("run --password=***--v")
    );
    let span = &out[0].scope_spans[0].spans[0];
    assert_eq!(span.status.as_ref().map(|s| s.code), Some(1));
    assert_eq!(span.name, "/users/{id}");
    assert_eq!(
        get(&span.attributes, "http.target"),
        Some("/user/{userId}/list/{listId}")
    );
}

#[test]
fn readme_example_logs_and_metrics() {
    let r = rules(README);
    let p = TransformProcessor::<Logs>::new(r.clone(), "transform", Arc::new(Capture::default()));
    let mut b = Batch::from_resources(vec![ResourceLogs {
        resource: Some(Resource {
            attributes: vec![kv("service.name", "a"), kv("pod", "p")],
            ..Default::default()
        }),
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord {
                body: Some(AnyValue {
                    value: Some(Av::StringValue("request failed".into())),
                }),
                attributes: vec![
                    kv("http.route", "/r"),
                    kv("u", "/user/1/list/2"),
                    kv("acct", "/account/1234"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    p.process(&mut b).unwrap();
    let out = b.into_resources().unwrap();
    assert_eq!(
        out[0].resource.as_ref().unwrap().attributes,
        vec![kv("service.name", "a")]
    );
    let log = &out[0].scope_logs[0].log_records[0];
    assert_eq!(log.severity_text, "FAIL");
    assert_eq!(
        get(&log.attributes, "u"),
        Some("/user/{userId}/list/{listId}")
    );
    assert_eq!(get(&log.attributes, "acct"), Some("/account/{accountId}"));
    assert_eq!(
        log.body,
        Some(AnyValue {
            value: Some(Av::StringValue("/r".into()))
        })
    );

    let p = TransformProcessor::<Metrics>::new(r, "transform", Arc::new(Capture::default()));
    let pt = NumberDataPoint {
        attributes: vec![kv("a", &"x".repeat(5000))],
        ..Default::default()
    };
    let mut b = Batch::from_resources(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![
                Metric {
                    name: "system.processes.count".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: vec![pt.clone()],
                        ..Default::default()
                    })),
                    ..Default::default()
                },
                Metric {
                    name: "prometheus_metric".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![pt],
                    })),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    p.process(&mut b).unwrap();
    let out = b.into_resources().unwrap();
    let ms = &out[0].scope_metrics[0].metrics;
    assert!(matches!(&ms[0].data, Some(Data::Gauge(_))));
    match &ms[1].data {
        Some(Data::Sum(s)) => {
            assert_eq!((s.aggregation_temporality, s.is_monotonic), (2, false));
            assert_eq!(
                get(&s.data_points[0].attributes, "a").map(str::len),
                Some(4096)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn readme_aggregate_on_attributes_merges_points() {
    let r = rules(README);
    let p = TransformProcessor::<Metrics>::new(r, "transform", Arc::new(Capture::default()));
    let pt = |attrs: Vec<KeyValue>, v: i64| NumberDataPoint {
        attributes: attrs,
        value: Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(v)),
        ..Default::default()
    };
    let mut b = Batch::from_resources(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "system.memory.usage".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![
                        pt(vec![kv("attr1", "a"), kv("state", "used")], 3),
                        pt(vec![kv("attr1", "a"), kv("state", "free")], 4),
                        pt(vec![kv("attr1", "b")], 5),
                    ],
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    p.process(&mut b).unwrap();
    assert_eq!(b.items(), 2);
    let out = b.into_resources().unwrap();
    match &out[0].scope_metrics[0].metrics[0].data {
        Some(Data::Gauge(g)) => {
            let got: Vec<_> = g
                .data_points
                .iter()
                .map(|p| (p.attributes.clone(), p.value))
                .collect();
            use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt;
            assert_eq!(
                got,
                vec![
                    (vec![kv("attr1", "a")], Some(AsInt(7))),
                    (vec![kv("attr1", "b")], Some(AsInt(5)))
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

/// The README's current (≥ 0.120) basic and advanced examples, verbatim (without `profile_statements`,
/// which ferrotel has no signal for).
#[test]
fn readme_current_basic_and_advanced_config() {
    rules(
        r#"
error_mode: ignore
trace_statements:
  - keep_keys(span.attributes, ["service.name", "service.namespace", "cloud.region", "process.command_line"])
  - replace_pattern(span.attributes["process.command_line"], "password\\=[^\\s]*(\\s?)", "password=***")
  - limit(span.attributes, 100, [])
  - truncate_all(span.attributes, 4096)
metric_statements:
  - keep_keys(resource.attributes, ["host.name"])
  - truncate_all(resource.attributes, 4096)
  - set(metric.description, "Sum") where metric.type == "Sum"
  - convert_sum_to_gauge() where metric.name == "system.processes.count"
  - convert_gauge_to_sum("cumulative", false) where metric.name == "prometheus_metric"
log_statements:
  - set(log.severity_text, "FAIL") where log.body == "request failed"
  - replace_all_matches(log.attributes, "/user/*/list/*", "/user/{userId}/list/{listId}")
  - replace_all_patterns(log.attributes, "value", "/account/\\d{4}", "/account/{accountId}")
  - set(log.body, log.attributes["http.route"])
"#,
    );
    rules(
        r#"
error_mode: ignore
metric_statements:
  - error_mode: propagate
    conditions:
      - metric.type == METRIC_DATA_TYPE_SUM
    statements:
      - set(metric.description, "Sum")
  - statements:
      - extract_sum_metric(true, ".sum")
      - extract_count_metric(false, ".count")
      - convert_summary_count_val_to_sum("delta", true, ".count")
      - convert_summary_sum_val_to_sum("cumulative", false, ".sum")
      - aggregate_on_attributes("max") where metric.name == "system.memory.usage"
      - aggregate_on_attributes("max", []) where metric.name == "system.memory.usage"
log_statements:
  - conditions:
      - IsMap(log.body) and log.body["object"] != nil
    statements:
      - set(log.body, log.attributes["http.route"])
"#,
    );
}

/// Flat path-prefixed statements (otelcol ≥ 0.120), groups without `context`, and `conditions`.
#[test]
fn flat_statements_and_group_conditions() {
    let r = rules(
        r#"
trace_statements:
  - set(resource.attributes["env"], "prod")
  - set(span.attributes["svc"], resource.attributes["service.name"])
  - set(span.name, "server") where span.kind == SPAN_KIND_SERVER
  - statements:
      - set(span.attributes["grouped"], true)
    conditions:
      - span.name == "server"
  - context: spanevent
    statements:
      - set(attributes["span"], span.name)
"#,
    );
    assert_eq!(
        r.traces.iter().map(|g| g.context).collect::<Vec<_>>(),
        [
            ContextKind::Resource,
            ContextKind::Span,
            ContextKind::Span,
            ContextKind::SpanEvent
        ]
    );
    let p = TransformProcessor::<Traces>::new(r, "transform", Arc::new(Capture::default()));
    let ev = opentelemetry_proto::tonic::trace::v1::span::Event {
        name: "e".into(),
        ..Default::default()
    };
    let mut b = Batch::from_resources(vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", "api")],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: vec![
                Span {
                    name: "a".into(),
                    kind: 2,
                    events: vec![ev.clone()],
                    ..Default::default()
                },
                Span {
                    name: "b".into(),
                    kind: 3,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    p.process(&mut b).unwrap();
    let out = b.into_resources().unwrap();
    assert_eq!(
        get(&out[0].resource.as_ref().unwrap().attributes, "env"),
        Some("prod")
    );
    let spans = &out[0].scope_spans[0].spans;
    assert_eq!(spans[0].name, "server");
    assert_eq!(get(&spans[0].attributes, "svc"), Some("api"));
    assert!(spans[0].attributes.iter().any(|k| k.key == "grouped"));
    assert!(!spans[1].attributes.iter().any(|k| k.key == "grouped"));
    assert_eq!(get(&spans[0].events[0].attributes, "span"), Some("server"));
}

#[test]
fn error_mode_per_group() {
    let r = rules(
        r#"
error_mode: propagate
log_statements:
  - context: log
    error_mode: ignore
    statements:
      - set(attributes["n"], Substring(body, 0, 100))
      - set(attributes["after"], "ran")
"#,
    );
    let p = TransformProcessor::<Logs>::new(r, "transform", Arc::new(Capture::default()));
    let mut b = Batch::from_resources(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord {
                body: Some(AnyValue {
                    value: Some(Av::StringValue("short".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    p.process(&mut b).unwrap();
    let out = b.into_resources().unwrap();
    assert_eq!(
        get(&out[0].scope_logs[0].log_records[0].attributes, "after"),
        Some("ran")
    );

    let r = rules("log_statements: ['set(log.attributes[\"n\"], Substring(log.body, 0, 100))']");
    let p = TransformProcessor::<Logs>::new(r, "transform", Arc::new(Capture::default()));
    let mut b = Batch::from_resources(out);
    assert!(p
        .process(&mut b)
        .unwrap_err()
        .to_string()
        .contains("Substring"));
}

#[test]
fn config_errors_name_the_key_path() {
    let e = errors("trace_statements: [{context: spam, statements: ['set(name, \"x\")']}]");
    assert!(
        e.contains("processors::transform::trace_statements::0::context: unknown context \"spam\""),
        "{e}"
    );
    let e = errors("log_statements: [{context: log, statements: ['set(attributes[\"a\"], 1)', 'set(attributes[\"a\"] 1)']}]");
    assert!(
        e.contains("log_statements::0::statements::1: statement") && e.contains("column 21"),
        "{e}"
    );
    let e = errors("metric_statements: ['set(name, \"x\")']");
    assert!(
        e.contains("metric_statements::0") && e.contains("cannot infer"),
        "{e}"
    );
    let e = errors("trace_statements: [{context: span, statements: ['set(name, \"x\")'], conditions: ['name']}]");
    assert!(
        e.contains("trace_statements::0::conditions::0") && e.contains("boolean"),
        "{e}"
    );
}

/// Runs `r` on `data` decoded (the full path) and still encoded (the encoded-resource path): the
/// same data and counts; the encoded batch stays encoded.
fn both_paths<S: Transformable>(r: Arc<Rules>, data: Vec<S::Resource>) -> Vec<S::Resource> {
    let p = TransformProcessor::<S>::new(r, "transform", Arc::new(Capture::default()));
    let mut full = Batch::<S>::from_resources(data);
    let mut fast = Batch::<S>::from_encoded(full.encode_to_bytes()).unwrap();
    p.process(&mut full).unwrap();
    p.process(&mut fast).unwrap();
    assert!(fast.is_encoded(), "the encoded path decoded the batch");
    assert_eq!(full.items(), fast.items());
    let got = fast.resources().unwrap().to_vec();
    assert_eq!(full.resources().unwrap(), &got[..]);
    got
}

/// Statements and conditions only on `resource.*` edit each resource message's `Resource` (and
/// `schema_url`) and copy the spans, records and points as bytes: the same result as the full path.
#[test]
fn resource_only_statements_run_on_the_encoded_resources_with_the_same_result() {
    let r = rules(
        r#"
trace_statements:
  - set(resource.attributes["a"], "b")
  - delete_key(resource.attributes, "host.name")
  - context: resource
    conditions: ['attributes["k8s.namespace.name"] == "x"']
    statements:
      - set(attributes["team"], "blue")
      - set(schema_url, "https://schema/x")
log_statements:
  - set(resource.attributes["env"], Concat([resource.attributes["env"], "2"], "-"))
metric_statements:
  - set(resource.dropped_attributes_count, 3)
"#,
    );
    let rs = |res: Option<Vec<KeyValue>>, url: &str, spans: usize| ResourceSpans {
        resource: res.map(|attributes| Resource {
            attributes,
            ..Default::default()
        }),
        schema_url: url.into(),
        scope_spans: vec![ScopeSpans {
            spans: (0..spans)
                .map(|i| Span {
                    name: format!("s{i}"),
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    attributes: vec![kv("k", "v")],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
    };
    let out = both_paths::<Traces>(
        r.clone(),
        vec![
            rs(
                Some(vec![kv("k8s.namespace.name", "x"), kv("host.name", "h")]),
                "https://old",
                3,
            ),
            rs(None, "", 2),
            rs(Some(vec![kv("k8s.namespace.name", "y")]), "keep", 0),
        ],
    );
    let attrs = &out[0].resource.as_ref().unwrap().attributes;
    assert_eq!(get(attrs, "team"), Some("blue"));
    assert_eq!(get(attrs, "host.name"), None);
    assert_eq!(out[0].schema_url, "https://schema/x");
    assert_eq!(
        get(&out[1].resource.as_ref().unwrap().attributes, "a"),
        Some("b")
    );
    assert_eq!(out[2].schema_url, "keep");
    let logs = vec![ResourceLogs {
        resource: Some(Resource {
            attributes: vec![kv("env", "prod")],
            ..Default::default()
        }),
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord::default(); 4],
            ..Default::default()
        }],
        ..Default::default()
    }];
    let out = both_paths::<Logs>(r.clone(), logs);
    assert_eq!(
        get(&out[0].resource.as_ref().unwrap().attributes, "env"),
        Some("prod-2")
    );
    let metrics = vec![ResourceMetrics {
        resource: Some(Resource::default()),
        scope_metrics: vec![Default::default()],
        ..Default::default()
    }];
    let out = both_paths::<Metrics>(r, metrics);
    assert_eq!(
        out[0].resource.as_ref().unwrap().dropped_attributes_count,
        3
    );
}
