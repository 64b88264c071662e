//! The `count` connector (otelcol-contrib's `countconnector`): counts spans, span events, metrics,
//! data points and log records and emits the counts as delta sums onto metrics pipelines.
//!
//! Without settings it emits otelcol's defaults for the signal it is fed: `trace.span.count` and
//! `trace.span.event.count` (traces), `metric.count` and `metric.data_point.count` (metrics),
//! `log.record.count` (logs). Defining any metric under a section (`spans`, `spanevents`, `metrics`,
//! `datapoints`, `logs`) replaces that section's default. Each metric may have `conditions` (OTTL,
//! ORed: an item counts if any matches) and `attributes` (one count per distinct set of values; an
//! item lacking an attribute with no `default_value` is not counted). Counts are per input resource,
//! whose attributes the output resource copies, under the scope `otelcol/countconnector`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{ConfigResult, ConnectorFactory, Host, PreparedConnector, StartError};
use crate::config::{ComponentId, ConfigError, PipelineId};
use crate::ottl::{exec, Condition, ContextKind, Ctx};
use crate::pipeline::{fan_out, AnyConsumer, ConsumeError, Consumer, SignalConsumer};
use crate::signal::{Batch, Logs, Metrics, SignalKind, Traces};

pub const SCOPE_NAME: &str = "otelcol/countconnector";

pub struct Factory;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    spans: BTreeMap<String, MetricConfig>,
    #[serde(default)]
    spanevents: BTreeMap<String, MetricConfig>,
    #[serde(default)]
    metrics: BTreeMap<String, MetricConfig>,
    #[serde(default)]
    datapoints: BTreeMap<String, MetricConfig>,
    #[serde(default)]
    logs: BTreeMap<String, MetricConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricConfig {
    #[serde(default)]
    description: String,
    #[serde(default)]
    conditions: Vec<String>,
    #[serde(default)]
    attributes: Vec<AttributeConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttributeConfig {
    #[serde(default)]
    key: String,
    #[serde(default)]
    default_value: Option<Value>,
}

/// One metric to emit: what it counts and how.
struct MetricDef {
    name: String,
    description: String,
    /// ORed; empty counts everything.
    conditions: Vec<Condition>,
    attributes: Vec<(String, Option<AnyValue>)>,
}

/// The metrics of each section, each section's defaults applied.
struct Defs {
    spans: Vec<MetricDef>,
    spanevents: Vec<MetricDef>,
    metrics: Vec<MetricDef>,
    datapoints: Vec<MetricDef>,
    logs: Vec<MetricDef>,
}

impl ConnectorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "count"
    }
    fn signal_pairs(&self) -> &'static [(SignalKind, SignalKind)] {
        &[
            (SignalKind::Traces, SignalKind::Metrics),
            (SignalKind::Metrics, SignalKind::Metrics),
            (SignalKind::Logs, SignalKind::Metrics),
        ]
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedConnector>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let mut section = |name: &str,
                           m: &BTreeMap<String, MetricConfig>,
                           ctx: ContextKind,
                           default: (&str, &str)| {
            let at = format!("{path}::{name}");
            if m.is_empty() {
                return vec![MetricDef {
                    name: default.0.to_string(),
                    description: default.1.to_string(),
                    conditions: vec![],
                    attributes: vec![],
                }];
            }
            m.iter()
                .filter_map(|(metric, mc)| {
                    metric_def(metric, mc, ctx, &format!("{at}::{metric}"), &mut errors)
                })
                .collect()
        };
        let defs = Defs {
            spans: section(
                "spans",
                &c.spans,
                ContextKind::Span,
                ("trace.span.count", "The number of spans observed."),
            ),
            spanevents: section(
                "spanevents",
                &c.spanevents,
                ContextKind::SpanEvent,
                (
                    "trace.span.event.count",
                    "The number of span events observed.",
                ),
            ),
            metrics: section(
                "metrics",
                &c.metrics,
                ContextKind::Metric,
                ("metric.count", "The number of metrics observed."),
            ),
            datapoints: section(
                "datapoints",
                &c.datapoints,
                ContextKind::DataPoint,
                (
                    "metric.data_point.count",
                    "The number of data points observed.",
                ),
            ),
            logs: section(
                "logs",
                &c.logs,
                ContextKind::Log,
                ("log.record.count", "The number of log records observed."),
            ),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(Prepared {
            defs: Arc::new(defs),
        }))
    }
}

fn metric_def(
    name: &str,
    mc: &MetricConfig,
    ctx: ContextKind,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<MetricDef> {
    let before = errors.len();
    if name.trim().is_empty() {
        errors.push(ConfigError::new(at, "a metric name must not be empty"));
    }
    let mut conditions = Vec::new();
    for (i, text) in mc.conditions.iter().enumerate() {
        match crate::ottl::compile_condition(text, ctx) {
            Ok(c) => conditions.push(c),
            Err(e) => errors.push(ConfigError::new(
                format!("{at}::conditions::{i}"),
                format!("{text:?}: {e}"),
            )),
        }
    }
    let mut attributes: Vec<(String, Option<AnyValue>)> = Vec::new();
    for (i, a) in mc.attributes.iter().enumerate() {
        let aat = format!("{at}::attributes::{i}");
        if a.key.is_empty() {
            errors.push(ConfigError::new(
                format!("{aat}::key"),
                "an attribute needs a key",
            ));
            continue;
        }
        if attributes.iter().any(|(k, _)| *k == a.key) {
            errors.push(ConfigError::new(
                format!("{aat}::key"),
                format!("attribute {:?} is listed twice", a.key),
            ));
            continue;
        }
        let default = match &a.default_value {
            None | Some(Value::Null) => None,
            Some(v) => match scalar(v) {
                Some(v) => Some(v),
                None => {
                    errors.push(ConfigError::new(
                        format!("{aat}::default_value"),
                        "must be a string, number or boolean",
                    ));
                    continue;
                }
            },
        };
        attributes.push((a.key.clone(), default));
    }
    (errors.len() == before).then(|| MetricDef {
        name: name.to_string(),
        description: mc.description.clone(),
        conditions,
        attributes,
    })
}

fn scalar(v: &Value) -> Option<AnyValue> {
    let value = match v {
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64()?),
        },
        _ => return None,
    };
    Some(AnyValue { value: Some(value) })
}

struct Prepared {
    defs: Arc<Defs>,
}

impl PreparedConnector for Prepared {
    fn create(
        &self,
        id: &ComponentId,
        from: SignalKind,
        to: SignalKind,
        next: Vec<(PipelineId, AnyConsumer)>,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        if to != SignalKind::Metrics {
            return Err(StartError::new(
                format!("connectors::{id}"),
                format!("count emits metrics, not {to}"),
            ));
        }
        let next = fan_out(
            next.iter()
                .filter_map(|(_, c)| c.typed::<Metrics>())
                .collect(),
        );
        Ok(crate::with_signal!(from, S => S::any(Arc::new(Count::<S> {
            id: format!("connectors::{id}"),
            defs: self.defs.clone(),
            next: next.clone(),
            _signal: std::marker::PhantomData,
        }))))
    }
}

struct Count<S> {
    id: String,
    defs: Arc<Defs>,
    next: Arc<dyn Consumer<Metrics>>,
    _signal: std::marker::PhantomData<fn() -> S>,
}

/// Counts of one metric: by attribute set (encoded, for a deterministic order).
#[derive(Default)]
struct Tally(BTreeMap<Vec<u8>, (Vec<KeyValue>, u64)>);

/// The attribute sets counted for `def` of the item `ctx`, or `None` when it is not counted.
fn attributes_of(def: &MetricDef, ctx: &Ctx<'_>, own: &[KeyValue]) -> Option<Vec<KeyValue>> {
    let scope: &[KeyValue] = ctx
        .scope
        .as_ref()
        .and_then(|s| s.as_ref())
        .map_or(&[], |s| &s.attributes);
    let resource: &[KeyValue] = ctx
        .resource
        .as_ref()
        .and_then(|r| r.as_ref())
        .map_or(&[], |r| &r.attributes);
    let mut out = Vec::with_capacity(def.attributes.len());
    for (key, default) in &def.attributes {
        // The item's own attributes first, then its scope's, then its resource's.
        let found = [own, scope, resource]
            .iter()
            .find_map(|attrs| attrs.iter().find(|kv| kv.key == *key))
            .and_then(|kv| kv.value.clone());
        out.push(KeyValue {
            key: key.clone(),
            value: Some(found.or_else(|| default.clone())?),
            ..Default::default()
        });
    }
    Some(out)
}

impl Tally {
    fn update(&mut self, def: &MetricDef, ctx: &Ctx<'_>, own: &[KeyValue]) -> Result<(), String> {
        let Some(attrs) = attributes_of(def, ctx, own) else {
            return Ok(());
        };
        if !def.conditions.is_empty() {
            let mut matched = false;
            for c in &def.conditions {
                if c.test(ctx)? {
                    matched = true;
                    break;
                }
            }
            if !matched {
                return Ok(());
            }
        }
        let key = attrs.iter().flat_map(|kv| kv.encode_to_vec()).collect();
        self.0.entry(key).or_insert_with(|| (attrs, 0)).1 += 1;
        Ok(())
    }
}

/// Tallies for every metric of a section.
fn tallies(defs: &[MetricDef]) -> Vec<Tally> {
    defs.iter().map(|_| Tally::default()).collect()
}

fn update_all(
    defs: &[MetricDef],
    tallies: &mut [Tally],
    ctx: &Ctx<'_>,
    own: &[KeyValue],
    error: &mut Option<String>,
) {
    for (d, t) in defs.iter().zip(tallies.iter_mut()) {
        if let Err(e) = t.update(d, ctx, own) {
            error.get_or_insert(e);
        }
    }
}

fn emit(defs: &[MetricDef], tallies: Vec<Tally>, now: u64, out: &mut Vec<Metric>) {
    for (d, t) in defs.iter().zip(tallies) {
        if t.0.is_empty() {
            continue;
        }
        out.push(Metric {
            name: d.name.clone(),
            description: d.description.clone(),
            data: Some(Data::Sum(Sum {
                data_points: t
                    .0
                    .into_values()
                    .map(|(attributes, n)| NumberDataPoint {
                        attributes,
                        time_unix_nano: now,
                        value: Some(number_data_point::Value::AsInt(
                            i64::try_from(n).unwrap_or(i64::MAX),
                        )),
                        ..Default::default()
                    })
                    .collect(),
                // A delta of counts is never negative, so it sums to a monotonic total.
                aggregation_temporality: AggregationTemporality::Delta as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        });
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn output(resource: &Option<Resource>, metrics: Vec<Metric>) -> Option<ResourceMetrics> {
    if metrics.is_empty() {
        return None; // otelcol adds no empty resource
    }
    Some(ResourceMetrics {
        resource: Some(Resource {
            attributes: resource
                .as_ref()
                .map(|r| r.attributes.clone())
                .unwrap_or_default(),
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: SCOPE_NAME.to_string(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// What the count connector does for one input signal.
pub trait Countable: SignalConsumer {
    /// The count metrics of `resources`, one output resource per input resource with counts.
    fn count_items(
        defs: &DefsRef<'_>,
        resources: Vec<Self::Resource>,
    ) -> Result<Vec<ResourceMetrics>, String>;
}

/// The definitions, as the [`Countable`] impls see them.
pub struct DefsRef<'d>(&'d Defs);

impl Countable for Traces {
    fn count_items(
        defs: &DefsRef<'_>,
        resources: Vec<Self::Resource>,
    ) -> Result<Vec<ResourceMetrics>, String> {
        let d = defs.0;
        let now = now_nanos();
        let mut out = Vec::new();
        let mut error = None;
        for rs in resources {
            let mut one = vec![rs];
            let mut spans = tallies(&d.spans);
            let mut events = tallies(&d.spanevents);
            let _ = exec::traces(&mut one, ContextKind::Span, &mut |ctx| {
                let ctx = &*ctx;
                let own = ctx.span.as_deref().map_or(&[][..], |s| &s.attributes);
                update_all(&d.spans, &mut spans, ctx, own, &mut error);
                Ok(false)
            });
            let _ = exec::traces(&mut one, ContextKind::SpanEvent, &mut |ctx| {
                let ctx = &*ctx;
                let own = ctx.event.as_deref().map_or(&[][..], |e| &e.attributes);
                update_all(&d.spanevents, &mut events, ctx, own, &mut error);
                Ok(false)
            });
            let mut metrics = Vec::new();
            emit(&d.spans, spans, now, &mut metrics);
            emit(&d.spanevents, events, now, &mut metrics);
            let res = one.pop().and_then(|r| r.resource);
            out.extend(output(&res, metrics));
        }
        error.map_or(Ok(out), Err)
    }
}

impl Countable for Logs {
    fn count_items(
        defs: &DefsRef<'_>,
        resources: Vec<Self::Resource>,
    ) -> Result<Vec<ResourceMetrics>, String> {
        let d = defs.0;
        let now = now_nanos();
        let mut out = Vec::new();
        let mut error = None;
        for rl in resources {
            let mut one = vec![rl];
            let mut logs = tallies(&d.logs);
            let _ = exec::logs(&mut one, ContextKind::Log, &mut |ctx| {
                let ctx = &*ctx;
                let own = ctx.log.as_deref().map_or(&[][..], |l| &l.attributes);
                update_all(&d.logs, &mut logs, ctx, own, &mut error);
                Ok(false)
            });
            let mut metrics = Vec::new();
            emit(&d.logs, logs, now, &mut metrics);
            let res = one.pop().and_then(|r| r.resource);
            out.extend(output(&res, metrics));
        }
        error.map_or(Ok(out), Err)
    }
}

impl Countable for Metrics {
    fn count_items(
        defs: &DefsRef<'_>,
        resources: Vec<Self::Resource>,
    ) -> Result<Vec<ResourceMetrics>, String> {
        use crate::ottl::context::Point;
        let d = defs.0;
        let now = now_nanos();
        let mut out = Vec::new();
        let mut error = None;
        for rm in resources {
            let mut one = vec![rm];
            let mut metrics_t = tallies(&d.metrics);
            let mut points = tallies(&d.datapoints);
            let _ = exec::metrics(&mut one, ContextKind::Metric, &mut |ctx| {
                update_all(&d.metrics, &mut metrics_t, ctx, &[], &mut error);
                Ok(false)
            });
            let _ = exec::metrics(&mut one, ContextKind::DataPoint, &mut |ctx| {
                let ctx = &*ctx;
                let own: &[KeyValue] = match &ctx.point {
                    Some(Point::Number(p)) => &p.attributes,
                    Some(Point::Histogram(p)) => &p.attributes,
                    Some(Point::ExpHistogram(p)) => &p.attributes,
                    Some(Point::Summary(p)) => &p.attributes,
                    None => &[],
                };
                update_all(&d.datapoints, &mut points, ctx, own, &mut error);
                Ok(false)
            });
            let mut metrics = Vec::new();
            emit(&d.metrics, metrics_t, now, &mut metrics);
            emit(&d.datapoints, points, now, &mut metrics);
            let res = one.pop().and_then(|r| r.resource);
            out.extend(output(&res, metrics));
        }
        error.map_or(Ok(out), Err)
    }
}

#[async_trait]
impl<S: Countable> Consumer<S> for Count<S> {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        let md = batch.metadata.clone();
        let resources = batch.into_resources()?;
        // An OTTL error fails the request, as otelcol's count connector returns it.
        let counted = S::count_items(&DefsRef(&self.defs), resources)
            .map_err(|e| ConsumeError::Permanent(format!("{}: {e}", self.id)))?;
        if counted.is_empty() {
            return Ok(());
        }
        self.next
            .consume(Batch::<Metrics>::from_resources(counted).with_metadata(md))
            .await
    }
}

#[cfg(test)]
mod tests;
