//! Routing: config errors as otelcol's config_test has them, and every item routed to exactly one
//! place (first matching route, else the default).

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;
use crate::signal::{Logs, Metrics, Signal, Traces};

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn resource(attrs: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource {
        attributes: attrs,
        ..Default::default()
    })
}

fn rs(tenant: &str, spans: &[(&str, &str)]) -> ResourceSpans {
    ResourceSpans {
        resource: resource(vec![kv("tenant", tenant)]),
        scope_spans: vec![ScopeSpans {
            spans: spans
                .iter()
                .map(|(name, env)| Span {
                    name: name.to_string(),
                    attributes: vec![kv("env", env)],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Records every batch, with its metadata.
#[derive(Default)]
struct Capture<S: Signal> {
    got: std::sync::Mutex<Vec<S::Resource>>,
}

#[async_trait]
impl<S: Signal> Consumer<S> for Capture<S> {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        self.got
            .lock()
            .unwrap()
            .extend(batch.into_resources().unwrap());
        Ok(())
    }
}

fn prepare_yaml(yaml: &str) -> ConfigResult<Arc<dyn PreparedConnector>> {
    let v: Value = serde_yaml::from_str(yaml).unwrap();
    Factory.prepare(&v, "connectors::routing")
}

fn errors(yaml: &str) -> String {
    match prepare_yaml(yaml) {
        Ok(_) => panic!("must fail: {yaml}"),
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

type Built<S> = (Arc<dyn Consumer<S>>, Vec<Arc<Capture<S>>>);

/// Builds the router for signal `S` over captures named by the pipelines.
fn build<S: SignalConsumer>(yaml: &str, pipelines: &[&str]) -> Built<S>
where
    Capture<S>: Consumer<S>,
{
    let p = prepare_yaml(yaml).unwrap();
    let caps: Vec<Arc<Capture<S>>> = pipelines
        .iter()
        .map(|_| {
            Arc::new(Capture::<S> {
                got: Default::default(),
            })
        })
        .collect();
    let next = pipelines
        .iter()
        .zip(&caps)
        .map(|(p, c)| (PipelineId::parse(p).unwrap(), S::any(c.clone())))
        .collect();
    let ids: Vec<PipelineId> = pipelines
        .iter()
        .map(|p| PipelineId::parse(p).unwrap())
        .collect();
    let errs = p.check_wiring("connectors::routing", S::KIND, S::KIND, &ids);
    assert!(errs.is_empty(), "{errs:?}");
    let c = p
        .create(
            &ComponentId::parse("routing").unwrap(),
            S::KIND,
            S::KIND,
            next,
            &Host::default(),
        )
        .unwrap();
    (S::get(&c).unwrap().clone(), caps)
}

fn span_names(v: &[ResourceSpans]) -> Vec<String> {
    v.iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

#[test]
fn config_errors_name_their_key() {
    let e = errors("{}");
    assert!(
        e.contains("connectors::routing::table: the routing table is empty"),
        "{e}"
    );
    let e = errors("table: [{pipelines: [traces/a]}]");
    assert!(
        e.contains("connectors::routing::table::0: a route needs a condition or a statement"),
        "{e}"
    );
    let e = errors("table: [{condition: 'true', statement: 'route()', pipelines: [traces/a]}]");
    assert!(
        e.contains(
            "connectors::routing::table::0: a route takes a condition or a statement, not both"
        ),
        "{e}"
    );
    let e = errors("table: [{condition: 'true'}]");
    assert!(
        e.contains("connectors::routing::table::0::pipelines: a route needs at least one pipeline"),
        "{e}"
    );
    let e = errors("table: [{context: scope, condition: 'true', pipelines: [traces/a]}]");
    assert!(
        e.contains("connectors::routing::table::0::context: invalid context \"scope\""),
        "{e}"
    );
    let e = errors("table: [{context: request, statement: 'route()', pipelines: [traces/a]}]");
    assert!(e.contains("connectors::routing::table::0::statement: the \"request\" context requires a 'condition'"), "{e}");
    let e = errors(
        "table: [{context: request, condition: 'request[\"x\"] > \"1\"', pipelines: [traces/a]}]",
    );
    assert!(e.contains("connectors::routing::table::0::condition: condition does not contain a valid comparator"), "{e}");
    let e = errors("table: [{condition: 'attributes[\"x\"] ==', pipelines: [traces/a]}]");
    assert!(
        e.contains("connectors::routing::table::0::condition:"),
        "{e}"
    );
    let e = errors("table: [{condition: 'true', pipelines: [nosuch/a]}]");
    assert!(
        e.contains("connectors::routing::table::0::pipelines::0:"),
        "{e}"
    );
    let e = errors("match_once: true\ntable: [{condition: 'true', pipelines: [traces/a]}]");
    assert!(
        e.contains("connectors::routing::match_once: match_once was removed"),
        "{e}"
    );
    let e = errors("error_mode: loud\ntable: [{condition: 'true', pipelines: [traces/a]}]");
    assert!(e.contains("connectors::routing::error_mode"), "{e}");
    let e = errors("table: [{statement: 'set(attributes[\"a\"], 1)', pipelines: [traces/a]}]");
    assert!(
        e.contains("connectors::routing::table::0::statement:")
            && e.contains("set() cannot be used in a routing statement")
            && e.contains("delete_key()"),
        "{e}"
    );
    let e = errors("table: [{statement: 'route(1)', pipelines: [traces/a]}]");
    assert!(
        e.contains("connectors::routing::table::0::statement:") && e.contains("no arguments"),
        "{e}"
    );
}

/// otelcol runs a routing statement's editor on what the route takes: `delete_key` drops the
/// routing attribute (what the old routing processor's `drop_resource_routing_attribute` did).
#[tokio::test]
async fn statements_may_delete_keys_from_what_they_route() {
    let (r, caps) = build::<Traces>(
        r#"
default_pipelines: [traces/other]
table:
  - statement: 'delete_key(attributes, "tenant") where attributes["tenant"] == "acme"'
    pipelines: [traces/acme]
  - context: span
    statement: 'delete_matching_keys(attributes, "^e.*") where name == "e1"'
    pipelines: [traces/ecorp]
"#,
        &["traces/acme", "traces/ecorp", "traces/other"],
    );
    let batch = Batch::<Traces>::from_resources(vec![
        rs("acme", &[("a1", "p")]),
        rs("ecorp", &[("e1", "p"), ("e2", "p")]),
    ]);
    r.consume(batch).await.unwrap();
    let acme = caps[0].got.lock().unwrap().clone();
    assert_eq!(span_names(&acme), ["a1"]);
    assert_eq!(acme[0].resource, resource(vec![]), "tenant deleted");
    let ecorp = caps[1].got.lock().unwrap().clone();
    assert_eq!(span_names(&ecorp), ["e1"]);
    assert!(
        ecorp[0].scope_spans[0].spans[0].attributes.is_empty(),
        "env deleted"
    );
    assert_eq!(ecorp[0].resource, resource(vec![kv("tenant", "ecorp")]));
    let other = caps[2].got.lock().unwrap().clone();
    assert_eq!(span_names(&other), ["e2"]);
    assert_eq!(
        other[0].scope_spans[0].spans[0].attributes,
        vec![kv("env", "p")],
        "what the route did not take is not edited"
    );
}

#[test]
fn wiring_names_pipelines_that_do_not_receive_from_it() {
    let p = prepare_yaml(
        "default_pipelines: [traces/x]\ntable: [{condition: 'true', pipelines: [traces/a, traces/b]}]",
    )
    .unwrap();
    let errs: Vec<String> = p
        .check_wiring(
            "connectors::routing",
            SignalKind::Traces,
            SignalKind::Traces,
            &[PipelineId::parse("traces/a").unwrap()],
        )
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("connectors::routing::default_pipelines::0: pipeline traces/x"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("connectors::routing::table::0::pipelines::1: pipeline traces/b"),
        "{errs:?}"
    );
}

#[tokio::test]
async fn resources_go_to_the_first_matching_route_else_the_default() {
    let (r, caps) = build::<Traces>(
        r#"
default_pipelines: [traces/other]
table:
  - condition: 'attributes["tenant"] == "acme"'
    pipelines: [traces/acme]
  - statement: 'route() where attributes["tenant"] == "ecorp"'
    pipelines: [traces/ecorp]
  - condition: 'attributes["tenant"] != ""'
    pipelines: [traces/ecorp, traces/acme]
"#,
        &["traces/acme", "traces/ecorp", "traces/other"],
    );
    let batch = Batch::<Traces>::from_resources(vec![
        rs("acme", &[("a1", "p"), ("a2", "p")]),
        rs("ecorp", &[("e1", "p")]),
        rs("", &[("n1", "p")]),
        rs("umbrella", &[("u1", "p")]),
    ]);
    r.consume(batch).await.unwrap();
    let got = |i: usize| span_names(&caps[i].got.lock().unwrap());
    // `umbrella` matches only the third route, which names both pipelines.
    assert_eq!(got(0), ["a1", "a2", "u1"]);
    assert_eq!(got(1), ["e1", "u1"]);
    assert_eq!(got(2), ["n1"]);
}

#[tokio::test]
async fn spans_are_moved_one_by_one_with_their_resource() {
    let (r, caps) = build::<Traces>(
        r#"
default_pipelines: [traces/rest]
table:
  - context: span
    condition: 'attributes["env"] == "prod"'
    pipelines: [traces/prod]
  - context: span
    condition: 'name == "p2" or name == "d1"'
    pipelines: [traces/named]
"#,
        &["traces/prod", "traces/named", "traces/rest"],
    );
    let batch = Batch::<Traces>::from_resources(vec![
        rs("acme", &[("p1", "prod"), ("d1", "dev"), ("p2", "prod")]),
        rs("ecorp", &[("d2", "dev")]),
    ]);
    r.consume(batch).await.unwrap();
    let prod = caps[0].got.lock().unwrap().clone();
    assert_eq!(
        span_names(&prod),
        ["p1", "p2"],
        "p2 matches both routes: the first wins"
    );
    assert_eq!(prod[0].resource, resource(vec![kv("tenant", "acme")]));
    assert_eq!(span_names(&caps[1].got.lock().unwrap()), ["d1"]);
    let rest = caps[2].got.lock().unwrap().clone();
    assert_eq!(span_names(&rest), ["d2"]);
    assert_eq!(rest.len(), 1, "the emptied acme resource is not sent on");
}

#[tokio::test]
async fn request_context_routes_the_whole_request_by_client_metadata() {
    let (r, caps) = build::<Logs>(
        r#"
default_pipelines: [logs/other]
table:
  - context: request
    condition: 'request["X-Tenant"] == "acme"'
    pipelines: [logs/acme]
  - context: log
    condition: 'severity_number >= SEVERITY_NUMBER_ERROR'
    pipelines: [logs/errors]
"#,
        &["logs/acme", "logs/errors", "logs/other"],
    );
    let logs = |n: usize| {
        vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..n)
                    .map(|i| LogRecord {
                        severity_number: if i % 2 == 0 { 17 } else { 9 },
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }]
    };
    let md = |tenant: &str| {
        Some(Arc::new(ClientMetadata {
            entries: vec![("x-tenant".into(), tenant.into())],
            address: None,
        }))
    };
    r.consume(Batch::from_resources(logs(4)).with_metadata(md("acme")))
        .await
        .unwrap();
    r.consume(Batch::from_resources(logs(4)).with_metadata(md("ecorp")))
        .await
        .unwrap();
    r.consume(Batch::from_resources(logs(2))).await.unwrap();
    let n = |i: usize| Logs::count(&caps[i].got.lock().unwrap());
    assert_eq!(n(0), 4, "the whole acme request");
    assert_eq!(n(1), 3, "errors of the other two requests (2 + 1)");
    assert_eq!(n(2), 3, "the rest (2 + 1)");
}

#[tokio::test]
async fn datapoints_and_metrics() {
    let (r, caps) = build::<Metrics>(
        r#"
default_pipelines: [metrics/rest]
table:
  - context: metric
    condition: 'name == "m.whole"'
    pipelines: [metrics/whole]
  - context: datapoint
    condition: 'attributes["env"] == "prod"'
    pipelines: [metrics/prod]
"#,
        &["metrics/whole", "metrics/prod", "metrics/rest"],
    );
    let gauge = |name: &str, envs: &[&str]| Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: envs
                .iter()
                .map(|e| NumberDataPoint {
                    attributes: vec![kv("env", e)],
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    };
    let batch = Batch::<Metrics>::from_resources(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![
                gauge("m.whole", &["prod", "dev"]),
                gauge("m.split", &["prod", "dev", "prod"]),
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    r.consume(batch).await.unwrap();
    let n = |i: usize| Metrics::count(&caps[i].got.lock().unwrap());
    assert_eq!((n(0), n(1), n(2)), (2, 2, 1));
    let prod = caps[1].got.lock().unwrap().clone();
    assert_eq!(prod[0].scope_metrics[0].metrics[0].name, "m.split");
}

#[tokio::test]
async fn error_mode_decides_what_an_evaluation_error_does() {
    // `acme` is not JSON: evaluating the condition fails.
    let table = r#"
table:
  - condition: 'ParseJSON(attributes["tenant"])["x"] == "y"'
    pipelines: [traces/a]
default_pipelines: [traces/d]
"#;
    let (r, caps) = build::<Traces>(table, &["traces/a", "traces/d"]);
    let e = r
        .consume(Batch::from_resources(vec![rs("acme", &[("s", "p")])]))
        .await
        .expect_err("propagate fails the request");
    assert!(!e.is_retryable(), "{e}");
    assert!(caps[1].got.lock().unwrap().is_empty());
    for mode in ["ignore", "silent"] {
        let (r, caps) = build::<Traces>(
            &format!("error_mode: {mode}\n{table}"),
            &["traces/a", "traces/d"],
        );
        r.consume(Batch::from_resources(vec![rs("acme", &[("s", "p")])]))
            .await
            .unwrap();
        assert_eq!(
            span_names(&caps[1].got.lock().unwrap()),
            ["s"],
            "an error is no match"
        );
    }
}

#[test]
fn request_grammar() {
    assert_eq!(
        parse_request_condition(r#"request["X-Tenant"] != "acme""#).unwrap(),
        ("X-Tenant".into(), "acme".into(), false)
    );
    assert!(parse_request_condition(r#"request["a"] == "b" == "c""#).is_err());
    assert!(parse_request_condition(r#"headers["a"] == "b""#).is_err());
    assert!(parse_request_condition(r#"request["a"] == b"#).is_err());
    let md = ClientMetadata {
        entries: vec![
            ("x-tenant".into(), "a".into()),
            ("x-tenant".into(), "b".into()),
        ],
        address: None,
    };
    assert!(Matcher::request_matches("X-Tenant", "b", true, Some(&md)));
    assert!(
        Matcher::request_matches("X-Tenant", "b", false, Some(&md)),
        "any value differs"
    );
    assert!(
        !Matcher::request_matches("x-other", "b", false, Some(&md)),
        "a missing header never matches"
    );
    assert!(!Matcher::request_matches("x-tenant", "b", true, None));
}
