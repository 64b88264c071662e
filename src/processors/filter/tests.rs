//! The filter processor on otelcol-contrib's README examples, each form of its config, and errors.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
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
fn kvb(k: &str, v: bool) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Av::BoolValue(v)),
        }),
        ..Default::default()
    }
}

fn rules(yaml: &str) -> Arc<Rules> {
    Arc::new(
        Rules::prepare(&serde_yaml::from_str(yaml).unwrap(), "processors::filter")
            .unwrap_or_else(|e| panic!("{e:?}")),
    )
}

fn errors(yaml: &str) -> String {
    match Rules::prepare(&serde_yaml::from_str(yaml).unwrap(), "processors::filter") {
        Ok(_) => panic!("accepted: {yaml}"),
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn sp(name: &str, attrs: Vec<KeyValue>, events: Vec<&str>) -> Span {
    Span {
        name: name.into(),
        attributes: attrs,
        events: events
            .into_iter()
            .map(|n| Event {
                name: n.into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn traces() -> Vec<ResourceSpans> {
    vec![
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("host.name", "localhost")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![sp("a", vec![], vec![])],
                ..Default::default()
            }],
            ..Default::default()
        },
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("host.name", "h1"), kv("service.name", "api")],
                ..Default::default()
            }),
            scope_spans: vec![
                ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        ..Default::default()
                    }),
                    spans: vec![
                        sp(
                            "app_1",
                            vec![kv("container.name", "app_container_1")],
                            vec![],
                        ),
                        sp(
                            "app_2",
                            vec![kv("container.name", "app_container_2")],
                            vec!["grpc call", "other"],
                        ),
                        sp("app_3", vec![], vec![]),
                        sp("keep", vec![kv("http.route", "/users")], vec!["e"]),
                    ],
                    ..Default::default()
                },
                ScopeSpans {
                    spans: vec![sp("app_3", vec![], vec![])],
                    ..Default::default()
                },
            ],
            ..Default::default()
        },
    ]
}

fn names(rs: &[ResourceSpans]) -> Vec<String> {
    rs.iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| {
            format!(
                "{}{:?}",
                s.name,
                s.events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>()
            )
        })
        .collect()
}

/// `data` with the ids the receivers' scan requires (16-byte trace ids, 8-byte span ids).
fn with_ids(mut data: Vec<ResourceSpans>) -> Vec<ResourceSpans> {
    for s in data
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
    {
        s.trace_id = vec![1; 16];
        s.span_id = vec![2; 8];
    }
    data
}

/// Runs `r` on `data` decoded, and on the same data encoded as a receiver passes it on: both must
/// give the same result and count; the encoded batch stays encoded when the rules have an encoded
/// plan (or only resource conditions).
fn run_both<S: Filterable>(
    r: &Arc<Rules>,
    data: Vec<S::Resource>,
    encoded_plan: bool,
) -> Result<(Vec<S::Resource>, usize), String> {
    let p = FilterProcessor::<S>::new(r.clone(), "filter", Arc::new(Capture::default()));
    let mut b = Batch::<S>::from_resources(data);
    let mut e = Batch::<S>::from_encoded(b.encode_to_bytes()).unwrap();
    let decoded = p.process(&mut b).map_err(|e| e.to_string());
    let encoded = p.process(&mut e).map_err(|e| e.to_string());
    assert_eq!(
        decoded.is_err(),
        encoded.is_err(),
        "{decoded:?} {encoded:?}"
    );
    if let (Err(d), Err(e)) = (&decoded, &encoded) {
        assert_eq!(d, e);
        return Err(d.clone());
    }
    if encoded_plan {
        assert!(e.is_encoded(), "the encoded path was not taken");
    }
    assert_eq!(decoded, encoded, "dropped");
    assert_eq!(b.items(), e.items(), "items");
    let out = b.into_resources().unwrap();
    assert_eq!(out, e.into_resources().unwrap());
    Ok((out, decoded.unwrap_or_default()))
}

fn run_traces(r: &Arc<Rules>, data: Vec<ResourceSpans>) -> (Vec<ResourceSpans>, usize) {
    run_both::<Traces>(r, with_ids(data), r.encoded_traces.is_some()).unwrap()
}

/// The filterprocessor README's OTTL example (traces part), verbatim.
#[test]
fn readme_ottl_example_traces() {
    let r = rules(
        r#"
error_mode: ignore
traces:
  span:
    - 'attributes["container.name"] == "app_container_1"'
    - 'resource.attributes["host.name"] == "localhost"'
    - 'name == "app_3"'
  spanevent:
    - 'attributes["grpc"] == true'
    - 'IsMatch(name, ".*grpc.*")'
metrics:
  metric:
      - 'name == "my.metric" and resource.attributes["my_label"] == "abc123"'
      - 'type == METRIC_DATA_TYPE_HISTOGRAM'
  datapoint:
      - 'metric.type == METRIC_DATA_TYPE_SUMMARY'
      - 'resource.attributes["service.name"] == "my_service_name"'
logs:
  log_record:
    - 'IsMatch(body, ".*password.*")'
    - 'severity_number < SEVERITY_NUMBER_WARN'
"#,
    );
    let (out, n) = run_traces(&r, traces());
    assert_eq!(names(&out), ["app_2[\"other\"]", "keep[\"e\"]"]);
    // The first resource and the second scope were emptied and removed.
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].scope_spans.len(), 1);
    assert_eq!(n, 4);
}

/// The same conditions in the current form (`trace_conditions`, otelcol ≥ 0.146): a `resource.` condition
/// drops whole resources.
#[test]
fn trace_conditions_infer_the_context() {
    let r = rules(
        r#"
error_mode: ignore
trace_conditions:
  - 'span.attributes["container.name"] == "app_container_1"'
  - 'resource.attributes["host.name"] == "localhost"'
  - 'span.name == "app_3"'
  - 'spanevent.attributes["grpc"] == true'
  - 'IsMatch(spanevent.name, ".*grpc.*")'
"#,
    );
    assert_eq!(
        r.traces.iter().map(|g| g.context).collect::<Vec<_>>(),
        [
            ContextKind::Resource,
            ContextKind::Span,
            ContextKind::SpanEvent
        ]
    );
    let (out, _) = run_traces(&r, traces());
    assert_eq!(names(&out), ["app_2[\"other\"]", "keep[\"e\"]"]);
}

#[test]
fn legacy_include_exclude_for_spans() {
    let r = rules(
        r#"
spans:
  include:
    match_type: strict
    services: [api]
  exclude:
    match_type: regexp
    span_names: ["^app_[12]$"]
    attributes:
      - key: container.name
"#,
    );
    let (out, _) = run_traces(&r, traces());
    // Only the api resource's spans are included; of those, app_1 and app_2 (which have container.name) go.
    assert_eq!(names(&out), ["app_3[]", "keep[\"e\"]", "app_3[]"]);
}

#[test]
fn everything_dropped_means_nothing_is_passed_on() {
    let r = rules("traces: {span: ['name != \"\"']}");
    let cap = Arc::new(Capture::<Traces>::default());
    let p = FilterProcessor::<Traces>::new(r, "filter", cap.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(p.consume(Batch::from_resources(traces())))
        .unwrap();
    assert_eq!(cap.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    // An empty request that arrives stays a (passed-on) empty request.
    rt.block_on(p.consume(Batch::from_resources(vec![])))
        .unwrap();
    assert_eq!(cap.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

fn logs() -> Vec<ResourceLogs> {
    let l = |body: &str, sev: i32, attrs: Vec<KeyValue>| LogRecord {
        body: Some(AnyValue {
            value: Some(Av::StringValue(body.into())),
        }),
        severity_number: sev,
        severity_text: if sev >= 17 {
            "ERROR".into()
        } else {
            "INFO".into()
        },
        attributes: attrs,
        ..Default::default()
    };
    vec![ResourceLogs {
        resource: Some(Resource {
            attributes: vec![kv("deployment.environment", "prod")],
            ..Default::default()
        }),
        scope_logs: vec![ScopeLogs {
            log_records: vec![
                l("user password=x", 17, vec![]),
                l("debug noise", 5, vec![]),
                l(
                    "disk full",
                    17,
                    vec![kv("component", "db"), kvb("retryable", true)],
                ),
                l("checkout started", 13, vec![]),
                l("undefined", 0, vec![]),
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn run_logs(r: &Arc<Rules>) -> Vec<String> {
    run_both::<Logs>(r, logs(), r.encoded_logs.is_some())
        .unwrap()
        .0
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .map(|l| match &l.body {
            Some(AnyValue {
                value: Some(Av::StringValue(s)),
            }) => s.clone(),
            _ => String::new(),
        })
        .collect()
}

#[test]
fn log_conditions_in_each_form() {
    let readme = rules(
        r#"
error_mode: ignore
logs:
  log_record:
    - 'IsMatch(body, ".*password.*")'
    - 'severity_number < SEVERITY_NUMBER_WARN'
"#,
    );
    assert_eq!(run_logs(&readme), ["disk full", "checkout started"]);
    let current = rules(
        r#"
log_conditions:
  - 'IsMatch(log.body, ".*password.*")'
  - 'log.severity_number < SEVERITY_NUMBER_WARN'
"#,
    );
    assert_eq!(run_logs(&current), ["disk full", "checkout started"]);
    let legacy = rules(
        r#"
logs:
  include:
    match_type: strict
    resource_attributes:
      - key: deployment.environment
        value: prod
    severity_number:
      min: WARN
      match_undefined: true
  exclude:
    match_type: strict
    record_attributes:
      - key: component
        value: db
      - key: retryable
        value: true
"#,
    );
    assert_eq!(
        run_logs(&legacy),
        ["user password=x", "checkout started", "undefined"]
    );
    let by_body = rules("logs: {exclude: {match_type: regexp, bodies: ['^debug', 'started$']}}");
    assert_eq!(
        run_logs(&by_body),
        ["user password=x", "disk full", "undefined"]
    );
}

fn metrics() -> Vec<ResourceMetrics> {
    let gauge = |name: &str, points: Vec<NumberDataPoint>| Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    };
    let p = |attrs: Vec<KeyValue>| NumberDataPoint {
        attributes: attrs,
        ..Default::default()
    };
    vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![kv("my_label", "abc123")],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![
                gauge("my.metric", vec![p(vec![])]),
                gauge(
                    "http.requests",
                    vec![
                        p(vec![kv("http.method", "GET")]),
                        p(vec![kv("http.method", "POST")]),
                    ],
                ),
                gauge("other", vec![p(vec![kv("drop", "yes")]), p(vec![])]),
                gauge("all.dropped", vec![p(vec![kv("drop", "yes")])]),
                Metric {
                    name: "hist".into(),
                    data: Some(Data::Histogram(Histogram {
                        data_points: vec![HistogramDataPoint::default()],
                        ..Default::default()
                    })),
                    ..Default::default()
                },
                Metric {
                    name: "summary".into(),
                    data: Some(Data::Summary(Summary {
                        data_points: vec![SummaryDataPoint::default()],
                    })),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn run_metrics(r: &Arc<Rules>) -> (Vec<String>, usize) {
    let p = FilterProcessor::<Metrics>::new(r.clone(), "filter", Arc::new(Capture::default()));
    let mut b = Batch::from_resources(metrics());
    let n = p.process(&mut b).unwrap();
    let names = b
        .into_resources()
        .unwrap()
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| format!("{}:{}", m.name, exec::point_count(&m.data)))
        .collect();
    (names, n)
}

#[test]
fn metric_and_datapoint_conditions() {
    let readme = rules(
        r#"
metrics:
  metric:
      - 'name == "my.metric" and resource.attributes["my_label"] == "abc123"'
      - 'type == METRIC_DATA_TYPE_HISTOGRAM'
  datapoint:
      - 'metric.type == METRIC_DATA_TYPE_SUMMARY'
      - 'attributes["drop"] == "yes"'
"#,
    );
    let (names, dropped) = run_metrics(&readme);
    assert_eq!(names, ["http.requests:2", "other:1"]);
    // my.metric (1 point), hist (1), summary (1), other's and all.dropped's dropped points (2).
    assert_eq!(dropped, 5);
    let has_attr = rules(
        r#"
metrics:
  metric:
    - 'HasAttrOnDatapoint("http.method", "GET")'
    - 'HasAttrKeyOnDatapoint("drop")'
"#,
    );
    assert_eq!(
        run_metrics(&has_attr).0,
        ["my.metric:1", "hist:1", "summary:1"]
    );
    let legacy = rules("metrics: {exclude: {match_type: regexp, metric_names: ['^(hist|summary)$', '\\.dropped$']}}");
    assert_eq!(
        run_metrics(&legacy).0,
        ["my.metric:1", "http.requests:2", "other:2"]
    );
    let current = rules(
        r#"metric_conditions: ['datapoint.attributes["http.method"] == "POST"', 'metric.name == "other"']"#,
    );
    assert_eq!(
        run_metrics(&current).0,
        [
            "my.metric:1",
            "http.requests:1",
            "all.dropped:1",
            "hist:1",
            "summary:1"
        ]
    );
}

#[test]
fn error_mode_propagate_fails_the_request_and_ignore_keeps_the_item() {
    let bad = |mode: &str| {
        rules(&format!("error_mode: {mode}\ntraces: {{span: ['Substring(name, 3, 10) == \"x\"', 'name == \"keep\"']}}"))
    };
    let r = bad("propagate");
    let e = run_both::<Traces>(&r, with_ids(traces()), false).unwrap_err();
    assert!(e.contains("Substring"), "{e}");
    for mode in ["ignore", "silent"] {
        let (out, _) = run_traces(&bad(mode), traces());
        assert_eq!(names(&out).len(), 5, "{mode}");
    }
}

#[test]
fn config_errors_name_the_key_path_column_and_problem() {
    let e = errors("traces: {span: ['name == ']}");
    assert!(e.contains("processors::filter::traces::span::0: condition \"name == \": column 9: expected a value"), "{e}");
    let e = errors("trace_conditions: ['name == \"x\"']");
    assert!(
        e.contains("processors::filter::trace_conditions::0")
            && e.contains("cannot infer the context"),
        "{e}"
    );
    let e = errors("traces: {span: ['Nope(name)']}");
    assert!(e.contains("unknown converter Nope"), "{e}");
    let e = errors("logs: {log_record: ['attributes[\"a\"] == 1', 'bodyy == \"x\"']}");
    assert!(
        e.contains("logs::log_record::1") && e.contains("unknown path bodyy in the log context"),
        "{e}"
    );
    let e = errors("spans: {include: {match_type: expr, services: [a]}}");
    assert!(
        e.contains("processors::filter::spans::include::match_type")
            && e.contains("not supported by ferrotel yet"),
        "{e}"
    );
    let e = errors("error_mode: loud");
    assert!(e.contains("error_mode"), "{e}");
    let e = errors("unknown: 1");
    assert!(e.contains("unknown"), "{e}");
}

/// Runs `r` on `data` decoded (the full path) and still encoded (the encoded-resource path): both
/// must drop the same items and leave the same data; the encoded batch must stay encoded.
fn both_paths<S: Filterable>(r: &Arc<Rules>, data: Vec<S::Resource>) -> usize {
    let p = FilterProcessor::<S>::new(r.clone(), "filter", Arc::new(Capture::default()));
    let mut full = Batch::<S>::from_resources(data);
    let mut fast = Batch::<S>::from_encoded(full.encode_to_bytes()).unwrap();
    let d_full = p.process(&mut full).unwrap();
    let d_fast = p.process(&mut fast).unwrap();
    assert!(fast.is_encoded(), "the encoded path decoded the batch");
    assert_eq!(d_full, d_fast, "dropped");
    assert_eq!(full.items(), fast.items(), "items");
    assert_eq!(full.resources().unwrap(), fast.resources().unwrap());
    d_fast
}

/// `rs` under a resource with `k8s.namespace.name` (none when `ns` is None), with span ids set so that
/// the encoded request passes the receivers' scan.
fn with_ns(ns: Option<&str>, mut rs: ResourceSpans, url: &str) -> ResourceSpans {
    for s in rs.scope_spans.iter_mut().flat_map(|s| &mut s.spans) {
        s.trace_id = vec![1; 16];
        s.span_id = vec![2; 8];
    }
    ResourceSpans {
        resource: ns.map(|ns| Resource {
            attributes: vec![kv("k8s.namespace.name", ns), kv("host.name", "h")],
            ..Default::default()
        }),
        schema_url: url.into(),
        ..rs
    }
}

/// Resources in namespaces `x`, `keep`, none and `y` (whose only non-empty scope follows an empty
/// one, schema `drop-me`), one `keep` without scopes, and schema URLs on some.
fn namespaced_resources() -> Vec<ResourceSpans> {
    let t = traces();
    let empty_scope = ResourceSpans {
        scope_spans: vec![
            ScopeSpans::default(),
            ScopeSpans {
                spans: vec![sp("x", vec![], vec![])],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    vec![
        with_ns(Some("x"), t[1].clone(), ""),
        with_ns(Some("keep"), t[1].clone(), "https://s"),
        with_ns(None, t[0].clone(), ""),
        with_ns(Some("y"), empty_scope, "drop-me"),
        with_ns(Some("keep"), ResourceSpans::default(), ""),
        with_ns(Some("x"), t[0].clone(), ""),
    ]
}

/// Conditions only on `resource.*` run on each resource message's decoded `Resource` only: the same
/// result as decoding everything, including removing scopes and resources left without items.
#[test]
fn resource_only_conditions_run_on_the_encoded_resources_with_the_same_result() {
    let data = namespaced_resources();
    let by_ns =
        rules(r#"{trace_conditions: ['resource.attributes["k8s.namespace.name"] == "x"']}"#);
    assert_eq!(both_paths::<Traces>(&by_ns, data.clone()), 6);
    let two_groups = rules(
        r#"
traces:
  resource:
    - 'resource.schema_url == "drop-me"'
    - 'resource.attributes["k8s.namespace.name"] == "keep"'
"#,
    );
    assert_eq!(both_paths::<Traces>(&two_groups, data.clone()), 6);
    let none = rules(r#"{trace_conditions: ['resource.attributes["nope"] == "x"']}"#);
    assert_eq!(both_paths::<Traces>(&none, data), 0);
    // Logs and metrics.
    let r = rules(
        r#"{log_conditions: ['resource.attributes["deployment.environment"] == "prod"'], metric_conditions: ['resource.attributes["my_label"] == "other"']}"#,
    );
    let mut l = logs();
    l.push(ResourceLogs {
        scope_logs: l[0].scope_logs.clone(),
        ..Default::default()
    });
    assert_eq!(both_paths::<Logs>(&r, l), 5);
    let mut m = metrics();
    m.push(ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![kv("my_label", "other")],
            ..Default::default()
        }),
        scope_metrics: m[0].scope_metrics.clone(),
        ..Default::default()
    });
    assert_eq!(both_paths::<Metrics>(&r, m), 8);
}

/// Which span fields the encoded path decodes, and when it does not run.
#[test]
fn encoded_plan_decodes_only_the_fields_conditions_read() {
    use encoded::ItemFields::{All, Only};
    let plan = |yaml: &str| rules(yaml).encoded_traces.as_ref().map(|p| p.item_fields);
    assert_eq!(
        plan(r#"{trace_conditions: ['span.attributes["x"] == "y"']}"#),
        Some(Only(1 << 9))
    );
    assert_eq!(
        plan(
            r#"{trace_conditions: ['span.name == "a" and span.status.code == 2 or resource.attributes["a"] == scope.name']}"#
        ),
        Some(Only(1 << 5 | 1 << 15))
    );
    assert_eq!(
        plan(r#"{trace_conditions: ['span.attributes[span.name] != nil', 'scope.name == "x"']}"#),
        Some(Only(1 << 5 | 1 << 9))
    );
    assert_eq!(
        plan(r#"{trace_conditions: ['scope.name == "x"']}"#),
        Some(Only(0))
    );
    assert_eq!(
        plan(r#"{trace_conditions: ['IsMatch(span.name, "a.*")']}"#),
        Some(All)
    );
    // Span events, resource-only conditions, and propagate beside ignore stay decoded.
    assert_eq!(
        plan(r#"{trace_conditions: ['spanevent.name == "x"']}"#),
        None
    );
    assert_eq!(
        plan(r#"{trace_conditions: ['resource.attributes["a"] == "x"']}"#),
        None
    );
    assert_eq!(
        plan(
            r#"{error_mode: ignore, trace_conditions: ['span.name == "x"', {error_mode: propagate, conditions: ['span.kind == 1']}]}"#
        ),
        None
    );
    let logs = rules(r#"{log_conditions: ['log.body == "x"', 'log.severity_number < 9']}"#);
    assert_eq!(
        logs.encoded_logs.as_ref().map(|p| p.item_fields),
        Some(Only(1 << 5 | 1 << 2))
    );
    // Attributes named by literal keys: only those entries are decoded.
    let keys = |yaml: &str| {
        rules(yaml)
            .encoded_traces
            .as_ref()
            .unwrap()
            .attribute_keys
            .clone()
    };
    assert_eq!(
        keys(
            r#"{trace_conditions: ['span.attributes["b"] == "y" or span.attributes["a"]["k"] != nil', 'resource.attributes["r"] == "x"']}"#
        ),
        Some(vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(
        keys(r#"{trace_conditions: ['span.attributes == {}']}"#),
        None
    );
    assert_eq!(
        keys(r#"{trace_conditions: ['span.attributes[span.name] != nil']}"#),
        None
    );
}

/// Span, scope and resource conditions together on the encoded request: the same result as the
/// decoded path, empty scopes and resources removed, unknown order of groups irrelevant.
#[test]
fn span_conditions_run_on_the_encoded_request_with_the_same_result() {
    let mut data = namespaced_resources();
    data.extend([
        // A repeated key: only the `container.name` entries are decoded, in their order.
        with_ns(
            Some("z"),
            ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![sp(
                        "dup",
                        vec![
                            kv("a", "1"),
                            kv("container.name", "app_container_1"),
                            kv("container.name", "x"),
                        ],
                        vec![],
                    )],
                    ..Default::default()
                }],
                ..Default::default()
            },
            "",
        ),
    ]);
    for (yaml, dropped) in [
        (
            r#"{trace_conditions: ['span.attributes["container.name"] == "app_container_1"']}"#,
            3,
        ),
        (
            r#"{trace_conditions: ['span.name == "app_3" or span.name == "x"']}"#,
            5,
        ),
        (
            r#"{trace_conditions: ['scope.name == "lib"', 'span.name == "a"']}"#,
            10,
        ),
        (
            r#"{trace_conditions: ['resource.attributes["k8s.namespace.name"] == "x"', 'span.attributes["http.route"] != nil and resource.schema_url == "https://s"']}"#,
            7,
        ),
        (r#"{trace_conditions: ['span.name != ""']}"#, 14),
        (
            r#"{trace_conditions: ['IsMatch(span.name, "^app_.*")']}"#,
            8,
        ),
    ] {
        let r = rules(yaml);
        assert!(r.encoded_traces.is_some(), "{yaml}");
        let (_, n) = run_both::<Traces>(&r, data.clone(), true).unwrap();
        assert_eq!(n, dropped, "{yaml}");
    }
}
