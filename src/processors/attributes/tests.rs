//! Table tests: each action and each matching option, on each signal, with the examples of otelcol's
//! attributes-processor documentation and testdata.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;
use crate::processors::attraction::testutil::{attrs, s};
use crate::processors::testutil::Capture;
use crate::signal::ClientMetadata;

fn rules(yaml: &str) -> Arc<Rules> {
    let v: Value = serde_yaml::from_str(yaml).unwrap();
    Arc::new(Rules::prepare(&v, "processors::attributes").unwrap_or_else(|e| panic!("{e:?}")))
}

fn prepare_err(yaml: &str) -> String {
    let v: Value = serde_yaml::from_str(yaml).unwrap();
    match Rules::prepare(&v, "processors::attributes") {
        Ok(_) => panic!("expected an error for {yaml}"),
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn run<S: Target>(rules: Arc<Rules>, input: Vec<S::Resource>) -> Vec<S::Resource> {
    let p = AttributesProcessor::<S>::new(rules, Arc::new(Capture::<S>::default()));
    let mut b = Batch::<S>::from_resources(input);
    p.process(&mut b).unwrap();
    b.into_resources().unwrap()
}

fn resource(service: Option<&str>, extra: &[(&str, &str)]) -> Option<Resource> {
    let mut a = attrs(extra);
    if let Some(svc) = service {
        a.insert(
            0,
            KeyValue {
                key: "service.name".into(),
                value: s(svc),
                ..Default::default()
            },
        );
    }
    Some(Resource {
        attributes: a,
        ..Default::default()
    })
}

fn scope(lib: Option<(&str, &str)>) -> Option<InstrumentationScope> {
    lib.map(|(n, v)| InstrumentationScope {
        name: n.into(),
        version: v.into(),
        ..Default::default()
    })
}

struct SpanIn<'a> {
    service: Option<&'a str>,
    res: &'a [(&'a str, &'a str)],
    lib: Option<(&'a str, &'a str)>,
    name: &'a str,
    kind: i32,
    attrs: &'a [(&'a str, &'a str)],
}

const SPAN: SpanIn<'static> = SpanIn {
    service: None,
    res: &[],
    lib: None,
    name: "",
    kind: 0,
    attrs: &[],
};

fn traces(spans: &[SpanIn]) -> Vec<ResourceSpans> {
    spans
        .iter()
        .map(|s| ResourceSpans {
            resource: resource(s.service, s.res),
            scope_spans: vec![ScopeSpans {
                scope: scope(s.lib),
                spans: vec![Span {
                    name: s.name.into(),
                    kind: s.kind,
                    attributes: attrs(s.attrs),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect()
}

fn span_attrs(out: &[ResourceSpans]) -> Vec<Vec<KeyValue>> {
    out.iter()
        .map(|r| r.scope_spans[0].spans[0].attributes.clone())
        .collect()
}

fn has(a: &[KeyValue], key: &str) -> bool {
    a.iter().any(|kv| kv.key == key)
}

/// Which of the spans got `processed` inserted, for each include/exclude.
#[test]
fn span_matching_table() {
    let spans = [
        SpanIn {
            service: Some("svcA"),
            name: "login/user",
            kind: 2,
            attrs: &[("env", "dev"), ("test_request", "false")],
            lib: Some(("mongo-java-driver", "3.8.0")),
            res: &[("host.type", "n1-standard-1")],
        },
        SpanIn {
            service: Some("svcB"),
            name: "GET /users",
            kind: 3,
            attrs: &[
                ("env", "dev"),
                ("test_request", "123"),
                ("credit_card", "1234"),
            ],
            lib: Some(("mongo-java-driver", "")),
            ..SPAN
        },
        SpanIn {
            service: Some("svcB"),
            name: "GET /items",
            kind: 1,
            attrs: &[
                ("env", "1"),
                ("test_request", "dev"),
                ("credit_card", "1234"),
            ],
            lib: Some(("other", "3.8.0")),
            ..SPAN
        },
        SpanIn {
            service: Some("auth-svc"),
            name: "login",
            kind: 0,
            attrs: &[("env", "SELECT * FROM USERS WHERE x")],
            ..SPAN
        },
        SpanIn {
            name: "no service",
            ..SPAN
        },
    ];
    let cases: &[(&str, &str, [bool; 5])] = &[
        ("no include/exclude", "", [true; 5]),
        (
            "include services strict",
            "include: {match_type: strict, services: [svcA, svcB]}",
            [true, true, true, false, false],
        ),
        (
            "include services regexp (unanchored)",
            "include: {match_type: regexp, services: ['auth.*', 'svc']}",
            [true, true, true, true, false],
        ),
        (
            "services: a resource without service.name is <nil-service-name>",
            "include: {match_type: strict, services: ['<nil-service-name>']}",
            [false, false, false, false, true],
        ),
        (
            "exclude span_names regexp",
            "exclude: {match_type: regexp, span_names: ['^login']}",
            [false, true, true, false, true],
        ),
        (
            "include span_names strict",
            "include: {match_type: strict, span_names: [login]}",
            [false, false, false, true, false],
        ),
        (
            "include span_kinds strict",
            "include: {match_type: strict, span_kinds: [SPAN_KIND_SERVER, SPAN_KIND_CLIENT]}",
            [true, true, false, false, false],
        ),
        (
            "include span_kinds regexp",
            "include: {match_type: regexp, span_kinds: [INTERNAL|UNSPECIFIED]}",
            [false, false, true, true, true],
        ),
        (
            "excludemulti (otelcol testdata): service and all attributes must match",
            "exclude: {match_type: strict, services: [svcA, svcB], attributes: [{key: env, value: dev}, {key: test_request}]}",
            [false, false, true, true, true],
        ),
        (
            "attributes strict is typed: int 1 is not string \"1\"",
            "include: {match_type: strict, attributes: [{key: env, value: '1'}]}",
            [false, false, false, false, false],
        ),
        (
            "attributes strict int",
            "include: {match_type: strict, attributes: [{key: env, value: 1}]}",
            [false, false, true, false, false],
        ),
        (
            "regexp2 (otelcol testdata): attribute value regexp",
            r"include: {match_type: regexp, attributes: [{key: env, value: 'SELECT \* FROM USERS.*'}]}",
            [false, false, false, true, false],
        ),
        (
            "attributes regexp over a non-string value (its string form)",
            "include: {match_type: regexp, attributes: [{key: test_request, value: '^12'}]}",
            [false, true, false, false, false],
        ),
        (
            "excluderesources (otelcol testdata)",
            "exclude: {match_type: strict, resources: [{key: host.type, value: n1-standard-1}]}",
            [false, true, true, true, true],
        ),
        (
            "resources: key presence",
            "include: {match_type: regexp, resources: [{key: service.name}]}",
            [true, true, true, true, false],
        ),
        (
            "excludelibrary (otelcol testdata): name and version",
            "exclude: {match_type: strict, libraries: [{name: mongo-java-driver, version: 3.8.0}]}",
            [false, true, true, true, true],
        ),
        (
            "libraries without version: any version",
            "include: {match_type: strict, libraries: [{name: mongo-java-driver}]}",
            [true, true, false, false, false],
        ),
        (
            "libraries with blank version: only a blank version",
            "include: {match_type: strict, libraries: [{name: mongo-java-driver, version: ''}]}",
            [false, true, false, false, false],
        ),
        (
            "regexp (otelcol testdata): include services, exclude span names",
            "include: {match_type: regexp, services: ['auth.*']}, exclude: {match_type: regexp, span_names: ['login.*']}",
            [false, false, false, false, false],
        ),
        (
            "selectiveprocessing (otelcol testdata) shape: include then exclude",
            "include: {match_type: strict, services: [svcA, svcB]}, exclude: {match_type: strict, attributes: [{key: test_request, value: false}]}",
            [false, true, true, false, false],
        ),
    ];
    for (name, filt, want) in cases {
        let yaml =
            format!("{{actions: [{{key: processed, value: true, action: insert}}], {filt}}}")
                .replace(", }", "}");
        let out = run::<Traces>(rules(&yaml), traces(&spans));
        let got: Vec<bool> = span_attrs(&out)
            .iter()
            .map(|a| has(a, "processed"))
            .collect();
        assert_eq!(got, want, "case {name:?}");
    }
}

/// otelcol's testdata `selectiveprocessing` example, spans as its comments describe them.
#[test]
fn selectiveprocessing_example() {
    let r = rules(
        r#"
include: {match_type: strict, services: ["svcA", "svcB"]}
exclude: {match_type: strict, attributes: [{key: redact_trace, value: false}]}
actions:
  - {key: credit_card, action: delete}
  - {key: duplicate_key, action: delete}
"#,
    );
    let spans = [
        SpanIn {
            service: Some("svcB"),
            attrs: &[
                ("env", "production"),
                ("test_request", "123"),
                ("credit_card", "1234"),
                ("redact_trace", "'false'"),
            ],
            ..SPAN
        },
        SpanIn {
            service: Some("svcA"),
            attrs: &[
                ("env", "staging"),
                ("test_request", "false"),
                ("redact_trace", "true"),
            ],
            ..SPAN
        },
        SpanIn {
            service: Some("svcB"),
            attrs: &[
                ("env", "production"),
                ("test_request", "true"),
                ("credit_card", "1234"),
                ("redact_trace", "false"),
            ],
            ..SPAN
        },
        SpanIn {
            service: Some("svcC"),
            attrs: &[
                ("env", "dev"),
                ("test_request", "false"),
                ("credit_card", "1"),
            ],
            ..SPAN
        },
    ];
    let out = span_attrs(&run::<Traces>(r, traces(&spans)));
    assert_eq!(
        out,
        vec![
            attrs(&[
                ("env", "production"),
                ("test_request", "123"),
                ("redact_trace", "'false'")
            ]),
            attrs(&[
                ("env", "staging"),
                ("test_request", "false"),
                ("redact_trace", "true")
            ]),
            attrs(&[
                ("env", "production"),
                ("test_request", "true"),
                ("credit_card", "1234"),
                ("redact_trace", "false")
            ]),
            attrs(&[
                ("env", "dev"),
                ("test_request", "false"),
                ("credit_card", "1")
            ]),
        ]
    );
}

/// otelcol's testdata `regexp` example: obfuscate `password`, delete `token` on auth services,
/// except login spans.
#[test]
fn regexp_example() {
    let r = rules(
        r#"
include: {match_type: regexp, services: ["auth.*"]}
exclude: {match_type: regexp, span_names: ["login.*"]}
actions:
  - {key: password, action: update, value: "obfuscated"}
  - {key: token, action: delete}
"#,
    );
    let spans = [
        SpanIn {
            service: Some("auth-api"),
            name: "change-password",
            attrs: &[("password", "hunter2"), ("token", "abc"), ("user", "u1")],
            ..SPAN
        },
        SpanIn {
            service: Some("auth-api"),
            name: "login",
            attrs: &[("password", "hunter2"), ("token", "abc")],
            ..SPAN
        },
        SpanIn {
            service: Some("billing"),
            name: "charge",
            attrs: &[("password", "hunter2"), ("token", "abc")],
            ..SPAN
        },
    ];
    let out = span_attrs(&run::<Traces>(r, traces(&spans)));
    assert_eq!(
        out,
        vec![
            attrs(&[("password", "obfuscated"), ("user", "u1")]),
            attrs(&[("password", "hunter2"), ("token", "abc")]),
            attrs(&[("password", "hunter2"), ("token", "abc")]),
        ]
    );
}

fn log(body: &str, sev_text: &str, sev: i32, a: &[(&str, &str)]) -> LogRecord {
    LogRecord {
        body: s(body),
        severity_text: sev_text.into(),
        severity_number: sev,
        attributes: attrs(a),
        ..Default::default()
    }
}

fn logs(service: &str, lib: Option<(&str, &str)>, records: Vec<LogRecord>) -> ResourceLogs {
    ResourceLogs {
        resource: resource(Some(service), &[]),
        scope_logs: vec![ScopeLogs {
            scope: scope(lib),
            log_records: records,
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn log_matching_table() {
    let input = vec![
        logs(
            "svcA",
            Some(("lib", "1")),
            vec![
                log("AUTH failed", "debug", 5, &[("user", "u1")]),
                log("AUTH ok", "INFO", 9, &[("user", "u2")]),
                log("disk full", "ERROR", 17, &[]),
                log("no severity", "", 0, &[]),
            ],
        ),
        logs("svcB", None, vec![log("AUTH other", "WARN", 13, &[])]),
    ];
    let cases: &[(&str, &str, [bool; 5])] = &[
        (
            "log_body_regexp (otelcol testdata)",
            "include: {match_type: regexp, log_bodies: ['AUTH.*']}",
            [true, true, false, false, true],
        ),
        (
            "log_bodies strict",
            "include: {match_type: strict, log_bodies: ['disk full']}",
            [false, false, true, false, false],
        ),
        (
            "log_severity_regexp (otelcol testdata)",
            "include: {match_type: regexp, log_severity_texts: ['debug.*']}",
            [true, false, false, false, false],
        ),
        (
            "log_severity_texts strict, exclude",
            "exclude: {match_type: strict, log_severity_texts: [INFO, WARN]}",
            [true, false, true, true, false],
        ),
        (
            "log_severity_number min INFO",
            "include: {match_type: strict, log_severity_number: {min: INFO}}",
            [false, true, true, false, true],
        ),
        (
            "log_severity_number min 13 and undefined",
            "include: {match_type: strict, log_severity_number: {min: 13, match_undefined: true}}",
            [false, false, true, true, true],
        ),
        (
            "attributes on log records",
            "include: {match_type: strict, attributes: [{key: user, value: u2}]}",
            [false, true, false, false, false],
        ),
        (
            "resources on logs",
            "include: {match_type: strict, resources: [{key: service.name, value: svcB}]}",
            [false, false, false, false, true],
        ),
        (
            "libraries on logs",
            "exclude: {match_type: regexp, libraries: [{name: '^li'}]}",
            [false, false, false, false, true],
        ),
    ];
    for (name, filt, want) in cases {
        let yaml =
            format!("{{actions: [{{key: processed, value: true, action: insert}}], {filt}}}");
        let out = run::<Logs>(rules(&yaml), input.clone());
        let got: Vec<bool> = out
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| has(&l.attributes, "processed"))
            .collect();
        assert_eq!(got, want, "case {name:?}");
    }
}

fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn all_metric_kinds(a: &[(&str, &str)]) -> Vec<Metric> {
    let attributes = attrs(a);
    vec![
        metric(
            "http.requests",
            Data::Sum(Sum {
                data_points: vec![
                    NumberDataPoint {
                        attributes: attributes.clone(),
                        ..Default::default()
                    };
                    2
                ],
                ..Default::default()
            }),
        ),
        metric(
            "cpu.usage",
            Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    attributes: attributes.clone(),
                    ..Default::default()
                }],
            }),
        ),
        metric(
            "http.latency",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: attributes.clone(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        ),
        metric(
            "http.latency.exp",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes: attributes.clone(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        ),
        metric(
            "rpc.summary",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes,
                    ..Default::default()
                }],
            }),
        ),
    ]
}

fn point_attrs(m: &Metric) -> Vec<Vec<KeyValue>> {
    match m.data.as_ref().unwrap() {
        Data::Sum(s) => s.data_points.iter().map(|p| p.attributes.clone()).collect(),
        Data::Gauge(s) => s.data_points.iter().map(|p| p.attributes.clone()).collect(),
        Data::Histogram(s) => s.data_points.iter().map(|p| p.attributes.clone()).collect(),
        Data::ExponentialHistogram(s) => {
            s.data_points.iter().map(|p| p.attributes.clone()).collect()
        }
        Data::Summary(s) => s.data_points.iter().map(|p| p.attributes.clone()).collect(),
    }
}

#[test]
fn metric_actions_reach_every_data_point_type() {
    let r = rules("actions: [{key: env, action: delete}, {key: region, value: eu, action: insert}, {key: user, action: hash}]");
    let input = vec![ResourceMetrics {
        resource: resource(Some("svc"), &[]),
        scope_metrics: vec![ScopeMetrics {
            metrics: all_metric_kinds(&[("env", "prod"), ("user", "foo")]),
            ..Default::default()
        }],
        ..Default::default()
    }];
    let out = run::<Metrics>(r, input);
    let want = attrs(&[
        (
            "user",
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        ),
        ("region", "eu"),
    ]);
    let mut n = 0;
    for m in &out[0].scope_metrics[0].metrics {
        for a in point_attrs(m) {
            assert_eq!(a, want, "{}", m.name);
            n += 1;
        }
    }
    assert_eq!(n, 6);
}

#[test]
fn metric_matching_table() {
    let input = vec![
        ResourceMetrics {
            resource: resource(Some("svcA"), &[]),
            scope_metrics: vec![ScopeMetrics {
                metrics: all_metric_kinds(&[]),
                ..Default::default()
            }],
            ..Default::default()
        },
        ResourceMetrics {
            resource: resource(Some("svcB"), &[]),
            scope_metrics: vec![ScopeMetrics {
                metrics: all_metric_kinds(&[]),
                ..Default::default()
            }],
            ..Default::default()
        },
    ];
    // One flag per metric: http.requests, cpu.usage, http.latency, http.latency.exp, rpc.summary, for
    // svcA then svcB.
    let cases: &[(&str, &str, [bool; 10])] = &[
        (
            "metric_names strict",
            "include: {match_type: strict, metric_names: [cpu.usage, rpc.summary]}",
            [false, true, false, false, true, false, true, false, false, true],
        ),
        (
            "metric_names regexp exclude",
            "exclude: {match_type: regexp, metric_names: ['^http\\.']}",
            [false, true, false, false, true, false, true, false, false, true],
        ),
        (
            "resources",
            "include: {match_type: strict, resources: [{key: service.name, value: svcB}]}",
            [false, false, false, false, false, true, true, true, true, true],
        ),
        (
            "metric_names and resources together",
            "include: {match_type: regexp, metric_names: [latency], resources: [{key: service.name, value: A$}]}",
            [false, false, true, true, false, false, false, false, false, false],
        ),
        (
            "span-only properties take no part for metrics (as otelcol)",
            "include: {match_type: strict, services: [nothing]}",
            [true; 10],
        ),
    ];
    for (name, filt, want) in cases {
        let yaml =
            format!("{{actions: [{{key: processed, value: true, action: insert}}], {filt}}}");
        let out = run::<Metrics>(rules(&yaml), input.clone());
        let got: Vec<bool> = out
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| point_attrs(m).iter().all(|a| has(a, "processed")))
            .collect();
        assert_eq!(got, want, "case {name:?}");
    }
}

/// Each action on each signal, through the processor (the action semantics themselves are tabled in
/// `processors::attraction`).
#[test]
fn every_action_on_every_signal() {
    let yaml = r#"
actions:
  - {key: a, value: 1, action: insert}
  - {key: b, value: new, action: update}
  - {key: c, from_attribute: b, action: upsert}
  - {key: drop, action: delete}
  - {pattern: ^tmp_, action: delete}
  - {key: email, action: hash}
  - {key: url, pattern: '^/v(?P<version>\d+)/', action: extract}
  - {key: code, action: convert, converted_type: int}
  - {key: tenant, from_context: metadata.x-tenant, action: insert}
"#;
    let input = attrs(&[
        ("b", "old"),
        ("drop", "x"),
        ("tmp_1", "x"),
        ("email", "foo"),
        ("url", "/v2/items"),
        ("code", "'500'"),
    ]);
    // Removal moves the last attribute into the freed slot, as pdata does.
    let want = attrs(&[
        ("b", "new"),
        ("c", "new"),
        ("a", "1"),
        (
            "email",
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        ),
        ("url", "/v2/items"),
        ("code", "500"),
        ("version", "'2'"),
        ("tenant", "acme"),
    ]);
    let md = Some(Arc::new(ClientMetadata {
        entries: vec![("x-tenant".into(), "acme".into())],
        address: None,
    }));
    let r = rules(yaml);

    let p = AttributesProcessor::<Traces>::new(r.clone(), Arc::new(Capture::default()));
    let mut b = Batch::<Traces>::from_resources(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![Span {
                attributes: input.clone(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }])
    .with_metadata(md.clone());
    p.process(&mut b).unwrap();
    assert_eq!(
        b.resources().unwrap()[0].scope_spans[0].spans[0].attributes,
        want,
        "traces"
    );

    let p = AttributesProcessor::<Logs>::new(r.clone(), Arc::new(Capture::default()));
    let mut b = Batch::<Logs>::from_resources(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord {
                attributes: input.clone(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }])
    .with_metadata(md.clone());
    p.process(&mut b).unwrap();
    assert_eq!(
        b.resources().unwrap()[0].scope_logs[0].log_records[0].attributes,
        want,
        "logs"
    );

    let p = AttributesProcessor::<Metrics>::new(r, Arc::new(Capture::default()));
    let mut b = Batch::<Metrics>::from_resources(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![metric(
                "m",
                Data::Gauge(Gauge {
                    data_points: vec![NumberDataPoint {
                        attributes: input,
                        ..Default::default()
                    }],
                }),
            )],
            ..Default::default()
        }],
        ..Default::default()
    }])
    .with_metadata(md);
    p.process(&mut b).unwrap();
    assert_eq!(
        point_attrs(&b.resources().unwrap()[0].scope_metrics[0].metrics[0])[0],
        want,
        "metrics"
    );
}

#[test]
fn config_errors_carry_key_paths() {
    assert!(prepare_err("{}").contains("processors::attributes::actions: missing required field"));
    assert!(prepare_err("actions: [{key: a, action: insert}]")
        .contains("processors::attributes::actions::0::value"));
    assert!(
        prepare_err("{actions: [{key: a, action: delete}], include: {services: [x]}}")
            .contains("processors::attributes::include::match_type: unrecognized match_type")
    );
    assert!(prepare_err(
        "{actions: [{key: a, action: delete}], include: {match_type: regexp, span_names: ['(']}}"
    )
    .contains("processors::attributes::include::span_names::0: invalid pattern"));
    assert!(prepare_err(
        "{actions: [{key: a, action: delete}], exclude: {match_type: strict, span_kinds: [server]}}"
    )
    .contains("processors::attributes::exclude::span_kinds::0"));
    assert!(prepare_err(
        "{actions: [{key: a, action: delete}], include: {match_type: regexp, attributes: [{key: k, value: 1}]}}"
    )
    .contains("only supports strings"));
    assert!(prepare_err(
        "{actions: [{key: a, action: delete}], include: {match_type: strict, nope: 1}}"
    )
    .contains("unknown key \"nope\""));
}

#[test]
fn signal_specific_properties_are_checked_when_built() {
    let prep = Prepared(rules(
        "{actions: [{key: a, action: delete}], include: {match_type: strict, log_bodies: [x]}}",
    ));
    let id = ComponentId::parse("attributes").unwrap();
    let traces = AnyConsumer::Traces(Arc::new(Capture::<Traces>::default()));
    let err = prep
        .create(&id, "traces", traces, &Host::default())
        .err()
        .unwrap();
    assert!(err
        .to_string()
        .contains("log_bodies should not be specified for trace spans"));
    let logs = AnyConsumer::Logs(Arc::new(Capture::<Logs>::default()));
    assert!(prep.create(&id, "logs", logs, &Host::default()).is_ok());

    let prep = Prepared(rules(
        "{actions: [{key: a, action: delete}], include: {match_type: strict, services: [x]}}",
    ));
    let logs = AnyConsumer::Logs(Arc::new(Capture::<Logs>::default()));
    assert!(prep.create(&id, "logs", logs, &Host::default()).is_err());
    let metrics = AnyConsumer::Metrics(Arc::new(Capture::<Metrics>::default()));
    assert!(prep
        .create(&id, "metrics", metrics, &Host::default())
        .is_ok());
}

#[tokio::test]
async fn consume_passes_the_changed_batch_on_and_leaves_shared_copies_alone() {
    let capture = Arc::new(Capture::<Traces>::default());
    let p = AttributesProcessor::<Traces>::new(
        rules("actions: [{key: k, value: v, action: upsert}]"),
        capture.clone(),
    );
    let original = Batch::<Traces>::from_resources(traces(&[SpanIn { name: "x", ..SPAN }]));
    let mut shared = original.clone();
    p.consume(original).await.unwrap();
    let got = capture.resources();
    assert_eq!(
        got[0].scope_spans[0].spans[0].attributes,
        attrs(&[("k", "v")])
    );
    assert!(shared.resources().unwrap()[0].scope_spans[0].spans[0]
        .attributes
        .is_empty());
}
