//! Count: exact counts against hand-computed ones, otelcol's default names, conditions ORed,
//! attributes with `default_value`, per input resource.

use std::sync::Mutex;

use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{Gauge, Histogram, HistogramDataPoint};
use opentelemetry_proto::tonic::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Span};

use super::*;
use crate::signal::Signal;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

#[derive(Default)]
struct Capture(Mutex<Vec<ResourceMetrics>>);

#[async_trait]
impl Consumer<Metrics> for Capture {
    async fn consume(&self, batch: Batch<Metrics>) -> Result<(), ConsumeError> {
        self.0
            .lock()
            .unwrap()
            .extend(batch.into_resources().unwrap());
        Ok(())
    }
}

fn build<S: SignalConsumer>(yaml: &str) -> (Arc<dyn Consumer<S>>, Arc<Capture>) {
    let v: Value = serde_yaml::from_str(yaml).unwrap();
    let p = Factory.prepare(&v, "connectors::count").unwrap();
    let cap = Arc::new(Capture::default());
    let c = p
        .create(
            &ComponentId::parse("count").unwrap(),
            S::KIND,
            SignalKind::Metrics,
            vec![(
                PipelineId::parse("metrics").unwrap(),
                AnyConsumer::Metrics(cap.clone()),
            )],
            &Host::default(),
        )
        .unwrap();
    (S::get(&c).unwrap().clone(), cap)
}

/// (resource service, metric name, sorted attributes as "k=v", value) for every emitted point.
fn points(got: &[ResourceMetrics]) -> Vec<(String, String, Vec<String>, i64)> {
    let mut out = Vec::new();
    for rm in got {
        let svc = rm
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for sm in &rm.scope_metrics {
            assert_eq!(sm.scope.as_ref().unwrap().name, SCOPE_NAME);
            for m in &sm.metrics {
                let Some(Data::Sum(sum)) = &m.data else {
                    panic!("{} is not a sum", m.name)
                };
                assert!(sum.is_monotonic);
                assert_eq!(
                    sum.aggregation_temporality,
                    AggregationTemporality::Delta as i32
                );
                for p in &sum.data_points {
                    let mut attrs: Vec<String> = p
                        .attributes
                        .iter()
                        .map(
                            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(any_value::Value::StringValue(s)) => format!("{}={s}", kv.key),
                                Some(any_value::Value::IntValue(i)) => format!("{}={i}", kv.key),
                                other => format!("{}={other:?}", kv.key),
                            },
                        )
                        .collect();
                    attrs.sort();
                    let Some(number_data_point::Value::AsInt(n)) = p.value else {
                        panic!("not an int")
                    };
                    out.push((svc.clone(), m.name.clone(), attrs, n));
                }
            }
        }
    }
    out.sort();
    out
}

fn p(svc: &str, name: &str, attrs: &[&str], n: i64) -> (String, String, Vec<String>, i64) {
    (
        svc.into(),
        name.into(),
        attrs.iter().map(|s| s.to_string()).collect(),
        n,
    )
}

/// Resource `svc` with spans named by `(name, env, events)`.
fn traces(svc: &str, spans: &[(&str, Option<&str>, usize)]) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", svc), kv("region", "eu")],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: spans
                .iter()
                .map(|(name, env, events)| Span {
                    name: name.to_string(),
                    attributes: env.map(|e| vec![kv("env", e)]).unwrap_or_default(),
                    events: (0..*events)
                        .map(|i| Event {
                            name: format!("ev{i}"),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn default_counts_spans_and_events_per_resource() {
    let (c, cap) = build::<Traces>("{}");
    let batch = Batch::<Traces>::from_resources(vec![
        traces("a", &[("s1", None, 2), ("s2", None, 0), ("s3", None, 1)]),
        traces("b", &[("s4", None, 0)]),
        traces("c", &[]),
    ]);
    c.consume(batch).await.unwrap();
    let got = cap.0.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        2,
        "no resource for `c`, which had nothing to count"
    );
    assert_eq!(
        points(&got),
        [
            p("a", "trace.span.count", &[], 3),
            p("a", "trace.span.event.count", &[], 3),
            p("b", "trace.span.count", &[], 1),
        ]
    );
    assert_eq!(
        got[0].scope_metrics[0].metrics[0].description,
        "The number of spans observed."
    );
}

#[tokio::test]
async fn conditions_are_ored_and_attributes_split_counts() {
    let (c, cap) = build::<Traces>(
        r#"
spans:
  prod.or.named:
    description: spans in prod or named s4
    conditions: ['attributes["env"] == "prod"', 'name == "s4"']
  by.env:
    attributes: [{key: env, default_value: none}]
  by.env.strict:
    attributes: [{key: env}]
  by.region:
    attributes: [{key: region}]
spanevents:
  events.named.ev1:
    conditions: ['name == "ev1"']
"#,
    );
    let batch = Batch::<Traces>::from_resources(vec![traces(
        "a",
        &[
            ("s1", Some("prod"), 2),
            ("s2", Some("dev"), 1),
            ("s3", Some("prod"), 0),
            ("s4", None, 3),
            ("s5", None, 0),
        ],
    )]);
    c.consume(batch).await.unwrap();
    let got = cap.0.lock().unwrap().clone();
    assert_eq!(
        points(&got),
        [
            p("a", "by.env", &["env=dev"], 1),
            p("a", "by.env", &["env=none"], 2),
            p("a", "by.env", &["env=prod"], 2),
            p("a", "by.env.strict", &["env=dev"], 1),
            p("a", "by.env.strict", &["env=prod"], 2),
            p("a", "by.region", &["region=eu"], 5),
            p("a", "events.named.ev1", &[], 2),
            p("a", "prod.or.named", &[], 3),
        ],
        "the default span metric is replaced; the default event metric too"
    );
}

#[tokio::test]
async fn metrics_and_data_points() {
    let (c, cap) = build::<Metrics>(
        "datapoints:\n  dp.by.host:\n    attributes: [{key: host, default_value: 0}]\n",
    );
    let gauge = |name: &str, hosts: &[Option<&str>]| Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: hosts
                .iter()
                .map(|h| NumberDataPoint {
                    attributes: h.map(|h| vec![kv("host", h)]).unwrap_or_default(),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    };
    let hist = Metric {
        name: "h".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![kv("host", "x")],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let batch = Batch::<Metrics>::from_resources(vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![kv("service.name", "m")],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![
                gauge("g1", &[Some("x"), Some("y"), None]),
                gauge("g2", &[Some("x")]),
                hist,
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    c.consume(batch).await.unwrap();
    assert_eq!(
        points(&cap.0.lock().unwrap()),
        [
            p("m", "dp.by.host", &["host=0"], 1),
            p("m", "dp.by.host", &["host=x"], 3),
            p("m", "dp.by.host", &["host=y"], 1),
            p("m", "metric.count", &[], 3),
        ]
    );
}

#[tokio::test]
async fn logs_by_severity() {
    let (c, cap) = build::<Logs>(
        "logs:\n  errors:\n    conditions: ['severity_number >= SEVERITY_NUMBER_ERROR']\n  all:\n",
    );
    let batch = Batch::<Logs>::from_resources(vec![ResourceLogs {
        resource: Some(Resource {
            attributes: vec![kv("service.name", "l")],
            ..Default::default()
        }),
        scope_logs: vec![ScopeLogs {
            log_records: (0..10)
                .map(|i| LogRecord {
                    severity_number: if i < 3 { 17 } else { 9 },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }]);
    c.consume(batch).await.unwrap();
    assert_eq!(
        points(&cap.0.lock().unwrap()),
        [p("l", "all", &[], 10), p("l", "errors", &[], 3)]
    );
    assert_eq!(Logs::count(&[]), 0);
}

#[test]
fn config_errors_name_their_key() {
    let err = |yaml: &str| {
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        match Factory.prepare(&v, "connectors::count") {
            Ok(_) => panic!("must fail: {yaml}"),
            Err(e) => e
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    };
    let e = err("spans: {x: {conditions: ['name ==']}}");
    assert!(
        e.contains("connectors::count::spans::x::conditions::0:"),
        "{e}"
    );
    let e = err("logs: {x: {attributes: [{default_value: a}]}}");
    assert!(
        e.contains("connectors::count::logs::x::attributes::0::key: an attribute needs a key"),
        "{e}"
    );
    let e = err("logs: {x: {attributes: [{key: a}, {key: a}]}}");
    assert!(
        e.contains(
            "connectors::count::logs::x::attributes::1::key: attribute \"a\" is listed twice"
        ),
        "{e}"
    );
    let e = err("logs: {x: {attributes: [{key: a, default_value: [1]}]}}");
    assert!(
        e.contains("connectors::count::logs::x::attributes::0::default_value"),
        "{e}"
    );
    let e = err("profiles: {}");
    assert!(e.contains("connectors::count"), "{e}");
}
