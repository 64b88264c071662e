//! Graph validation of connectors: wirings otelcol accepts and the ones it refuses, each error with
//! its key path.

use std::sync::Arc;

use super::*;
use crate::component::{ConfigResult, ConnectorFactory, Host, PreparedConnector, StartError};
use crate::pipeline::AnyConsumer;

const RECEIVERS: &str =
    "receivers: {otlp: {protocols: {grpc: {endpoint: 'localhost:0'}}}}\nexporters: {debug: }\n";

fn plan(yaml: &str) -> Result<Plan, String> {
    let mut registry = crate::components::builtin();
    registry.connectors.push(Box::new(ToMetrics));
    let v: Value = serde_yaml::from_str(&format!("{RECEIVERS}{yaml}")).unwrap();
    plan_with(&registry, &v, &Sources::default()).map_err(|e| e.to_string())
}

fn err(yaml: &str) -> String {
    match plan(yaml) {
        Ok(_) => panic!("must fail:\n{yaml}"),
        Err(e) => e,
    }
}

/// A connector from traces or logs to metrics only, like `count` without metrics input.
struct ToMetrics;
impl PreparedConnector for ToMetrics {
    fn create(
        &self,
        _: &ComponentId,
        _: SignalKind,
        _: SignalKind,
        _: Vec<(PipelineId, AnyConsumer)>,
        _: &Host,
    ) -> Result<AnyConsumer, StartError> {
        Err(StartError::new("x", "not used"))
    }
}
impl ConnectorFactory for ToMetrics {
    fn type_name(&self) -> &'static str {
        "tometrics"
    }
    fn signal_pairs(&self) -> &'static [(SignalKind, SignalKind)] {
        &[
            (SignalKind::Traces, SignalKind::Metrics),
            (SignalKind::Logs, SignalKind::Metrics),
        ]
    }
    fn prepare(&self, _: &Value, _: &str) -> ConfigResult<Arc<dyn PreparedConnector>> {
        Ok(Arc::new(ToMetrics))
    }
}

#[test]
fn forward_joins_two_pipelines_in_order() {
    let p = plan(
        "connectors: {forward: }\nservice: {pipelines: {
            traces/out: {receivers: [forward], exporters: [debug]},
            traces/in: {receivers: [otlp], exporters: [forward, debug]}}}",
    )
    .unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(p.connector_uses.len(), 1);
    let u = &p.connector_uses[0];
    assert_eq!((u.from, u.to), (SignalKind::Traces, SignalKind::Traces));
    let name = |i: usize| p.pipelines[i].id.to_string();
    assert_eq!(
        u.upstream.iter().map(|&i| name(i)).collect::<Vec<_>>(),
        ["traces/in"]
    );
    assert_eq!(
        u.downstream.iter().map(|&i| name(i)).collect::<Vec<_>>(),
        ["traces/out"]
    );
    let order: Vec<String> = p.order.iter().map(|&i| name(i)).collect();
    assert_eq!(order, ["traces/in", "traces/out"]);
    let inp = p
        .pipelines
        .iter()
        .find(|x| x.id.to_string() == "traces/in")
        .unwrap();
    assert_eq!(
        inp.exporters.len(),
        1,
        "the connector is not an exporter proper"
    );
    assert_eq!(inp.connectors_out.len(), 1);
}

#[test]
fn one_connector_many_signal_pairs() {
    let p = plan(
        "connectors: {tometrics: }\nservice: {pipelines: {
            traces: {receivers: [otlp], exporters: [tometrics]},
            logs: {receivers: [otlp], exporters: [tometrics]},
            metrics: {receivers: [tometrics], exporters: [debug]}}}",
    )
    .unwrap();
    let mut pairs: Vec<_> = p.connector_uses.iter().map(|u| (u.from, u.to)).collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            (SignalKind::Traces, SignalKind::Metrics),
            (SignalKind::Logs, SignalKind::Metrics)
        ]
    );
}

#[test]
fn used_as_exporter_only() {
    let e = err("connectors: {forward: }\nservice: {pipelines: {traces: {receivers: [otlp], exporters: [forward]}}}");
    assert!(
        e.contains("service::pipelines::traces::exporters::0: connector \"forward\" is used as exporter in traces pipeline traces but not used as receiver"),
        "{e}"
    );
}

#[test]
fn used_as_receiver_only() {
    let e = err("connectors: {forward: }\nservice: {pipelines: {traces: {receivers: [otlp, forward], exporters: [debug]}}}");
    assert!(
        e.contains("service::pipelines::traces::receivers::1: connector \"forward\" is used as receiver in traces pipeline traces but not used as exporter"),
        "{e}"
    );
}

#[test]
fn signal_pair_it_does_not_support() {
    // forward cannot turn traces into metrics: neither side has a counterpart.
    let e = err("connectors: {forward: }\nservice: {pipelines: {
        traces: {receivers: [otlp], exporters: [forward]},
        metrics: {receivers: [forward], exporters: [debug]}}}");
    assert!(
        e.contains(
            "service::pipelines::traces::exporters::0: connector \"forward\" is used as exporter"
        ),
        "{e}"
    );
    assert!(
        e.contains(
            "service::pipelines::metrics::receivers::0: connector \"forward\" is used as receiver"
        ),
        "{e}"
    );
    // tometrics can never be an exporter of a metrics pipeline, nor a receiver of a traces one.
    let e = err("connectors: {tometrics: }\nservice: {pipelines: {
        metrics: {receivers: [otlp], exporters: [tometrics]},
        traces: {receivers: [tometrics], exporters: [debug]}}}");
    assert!(
        e.contains("service::pipelines::metrics::exporters::0: connector \"tometrics\" cannot be used as exporter in a metrics pipeline (it connects: traces to metrics, logs to metrics)"),
        "{e}"
    );
    assert!(
        e.contains("service::pipelines::traces::receivers::0: connector \"tometrics\" cannot be used as receiver in a traces pipeline"),
        "{e}"
    );
}

#[test]
fn cycle_through_two_connectors() {
    let e = err(
        "connectors: {forward/1: , forward/2: }\nservice: {pipelines: {
        traces/a: {receivers: [otlp, forward/2], exporters: [forward/1]},
        traces/b: {receivers: [forward/1], exporters: [forward/2, debug]}}}",
    );
    assert!(
        e.contains("service::pipelines::traces/b::exporters::0: cycle through connectors: traces/a -> forward/1 -> traces/b -> forward/2 -> traces/a"),
        "{e}"
    );
}

#[test]
fn cycle_through_one_pipeline() {
    let e = err("connectors: {forward: }\nservice: {pipelines: {
        traces: {receivers: [otlp, forward], exporters: [forward, debug]}}}");
    assert!(
        e.contains("service::pipelines::traces::exporters::0: cycle through connectors: traces -> forward -> traces"),
        "{e}"
    );
}

#[test]
fn a_diamond_is_not_a_cycle() {
    let p = plan(
        "connectors: {forward/a: , forward/b: , forward/j: }\nservice: {pipelines: {
        traces/in: {receivers: [otlp], exporters: [forward/a, forward/b]},
        traces/a: {receivers: [forward/a], exporters: [forward/j]},
        traces/b: {receivers: [forward/b], exporters: [forward/j]},
        traces/out: {receivers: [forward/j], exporters: [debug]}}}",
    )
    .unwrap();
    let name = |i: usize| p.pipelines[i].id.to_string();
    let order: Vec<String> = p.order.iter().map(|&i| name(i)).collect();
    let at = |n: &str| order.iter().position(|o| o == n).unwrap();
    assert!(at("traces/in") < at("traces/a") && at("traces/in") < at("traces/b"));
    assert!(at("traces/a") < at("traces/out") && at("traces/b") < at("traces/out"));
}

#[test]
fn unused_connector_is_a_warning() {
    let p = plan("connectors: {forward: }\nservice: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}").unwrap();
    assert_eq!(
        p.warnings,
        ["connectors::forward is configured but not used in any pipeline"]
    );
}

#[test]
fn ambiguous_and_unknown_ids() {
    let e = err("connectors: {debug: , nosuch: }\nservice: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}");
    assert!(
        e.contains(
            "connectors::debug: ambiguous id: \"debug\" names both an exporter and a connector"
        ),
        "{e}"
    );
    assert!(
        e.contains(
            "connectors::nosuch: unknown connector type \"nosuch\"; known connectors: forward"
        ),
        "{e}"
    );
    let e = err("service: {pipelines: {traces: {receivers: [otlp], exporters: [forward]}}}");
    assert!(
        e.contains("service::pipelines::traces::exporters::0: references exporter \"forward\", which is not configured under exporters or connectors"),
        "{e}"
    );
}

#[test]
fn unknown_key_in_forward() {
    let e = err("connectors: {forward: {nope: 1}}\nservice: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}");
    assert!(e.contains("connectors::forward"), "{e}");
    assert!(e.contains("nope"), "{e}");
}
