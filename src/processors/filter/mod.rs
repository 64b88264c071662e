//! The `filter` processor: drops spans, span events, metrics, data points, log records (and whole
//! resources or scopes) for which any OTTL condition is true, as otelcol-contrib's `filterprocessor`.
//! Containers left empty are removed, and a request left empty is not passed on.

pub mod config;
pub mod encoded;

use std::sync::Arc;

use async_trait::async_trait;
use serde_yaml::Value;

use crate::component::{ConfigResult, Host, PreparedProcessor, ProcessorFactory, StartError};
use crate::config::{ComponentId, ConfigError};
use crate::ottl::compile::{CompileError, Compiler, ConvFn};
use crate::ottl::{self, exec, funcs, Condition, ContextKind, ErrorMode};
use crate::pipeline::{AnyConsumer, BuildFor, ConsumeError, Consumer};
use crate::signal::{Batch, Logs, Metrics, Signal, SignalKind, Traces};
use config::{ConditionEntry, Config};
use opentelemetry_proto::tonic::resource::v1::Resource;

pub struct Factory;

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "filter"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedProcessor>> {
        Ok(Arc::new(Prepared(Arc::new(Rules::prepare(cfg, path)?))))
    }
}

/// Conditions of one context; any true drops the item.
pub struct Group {
    pub context: ContextKind,
    pub conditions: Vec<Condition>,
    pub error_mode: ErrorMode,
}

/// The compiled config, per signal, in evaluation order (outer contexts first).
#[derive(Default)]
pub struct Rules {
    pub traces: Vec<Group>,
    pub metrics: Vec<Group>,
    pub logs: Vec<Group>,
    /// How trace and log conditions run on encoded requests, when they can (see [`encoded`]).
    pub encoded_traces: Option<encoded::Plan>,
    pub encoded_logs: Option<encoded::Plan>,
}

/// `HasAttrOnDatapoint(key, value)` and `HasAttrKeyOnDatapoint(key)`: filter-only converters.
fn has_attr(
    cp: &Compiler<'_>,
    c: &crate::ottl::ast::Call,
    a: Vec<Option<&crate::ottl::ast::Expr>>,
) -> Result<ConvFn, CompileError> {
    use crate::ottl::ast::Expr;
    if cp.context != ContextKind::Metric {
        return Err(CompileError::new(
            c.column,
            format!("{} is only available in the metric context", c.name),
        ));
    }
    let lit = |e: Option<&Expr>| match e {
        Some(Expr::Str(s)) => Ok(s.clone()),
        other => Err(CompileError::new(
            c.column,
            format!("{}: expected a string literal, found {other:?}", c.name),
        )),
    };
    let key = lit(a[0])?;
    let value = if a.len() > 1 { Some(lit(a[1])?) } else { None };
    Ok(Box::new(move |ctx| {
        let found = funcs::any_point_has(ctx, &|attrs| {
            attrs.iter().any(|kv| {
                kv.key == key
                    && value.as_ref().is_none_or(|v| {
                        matches!(&kv.value, Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                            value: Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s))
                        }) if s == v)
                    })
            })
        });
        Ok(crate::ottl::value::Value::Bool(found))
    }))
}

const EXTRA: &[(&str, funcs::ConvFactory)] = &[
    ("HasAttrOnDatapoint", has_attr),
    ("HasAttrKeyOnDatapoint", has_attr),
];

impl Rules {
    pub fn prepare(cfg: &Value, path: &str) -> ConfigResult<Rules> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        // As otelcol's Validate: OTTL conditions and the legacy include/exclude of one signal
        // cannot be mixed.
        let legacy_spans = c
            .spans
            .as_ref()
            .is_some_and(|s| s.include.is_some() || s.exclude.is_some());
        if legacy_spans
            && c.traces
                .as_ref()
                .is_some_and(|t| !t.span.is_empty() || !t.spanevent.is_empty())
        {
            errors.push(ConfigError::new(
                path,
                "cannot use ottl conditions and include/exclude for spans at the same time",
            ));
        }
        if let Some(l) = &c.logs {
            if (l.include.is_some() || l.exclude.is_some()) && !l.log_record.is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}::logs"),
                    "cannot use ottl conditions and include/exclude for logs at the same time",
                ));
            }
        }
        let mut rules = Rules::default();
        let mode = c.error_mode;
        let mut add = |signal: SignalKind,
                       ctx: ContextKind,
                       text: &str,
                       at: String,
                       mode: ErrorMode,
                       errors: &mut Vec<ConfigError>| {
            match ottl::compile_condition_with(text, ctx, EXTRA) {
                Ok(cond) => {
                    let groups = match signal {
                        SignalKind::Traces => &mut rules.traces,
                        SignalKind::Metrics => &mut rules.metrics,
                        SignalKind::Logs => &mut rules.logs,
                    };
                    match groups
                        .iter_mut()
                        .find(|g| g.context == ctx && g.error_mode == mode)
                    {
                        Some(g) => g.conditions.push(cond),
                        None => groups.push(Group {
                            context: ctx,
                            conditions: vec![cond],
                            error_mode: mode,
                        }),
                    }
                }
                Err(e) => errors.push(ConfigError::new(at, format!("condition {text:?}: {e}"))),
            }
        };
        // Current form: context inferred from path prefixes.
        for (signal, key, list) in [
            (SignalKind::Traces, "trace_conditions", &c.trace_conditions),
            (
                SignalKind::Metrics,
                "metric_conditions",
                &c.metric_conditions,
            ),
            (SignalKind::Logs, "log_conditions", &c.log_conditions),
        ] {
            let allowed = ottl::contexts_of(signal);
            for (i, entry) in list.iter().enumerate() {
                let at = format!("{path}::{key}::{i}");
                match entry {
                    ConditionEntry::One(text) => match ottl::infer_condition(text, allowed) {
                        Ok(ctx) => add(signal, ctx, text, at, mode, &mut errors),
                        Err(e) => {
                            errors.push(ConfigError::new(at, format!("condition {text:?}: {e}")))
                        }
                    },
                    ConditionEntry::Group(g) => {
                        let gmode = g.error_mode.unwrap_or(mode);
                        for (j, text) in g.conditions.iter().enumerate() {
                            let at = format!("{at}::conditions::{j}");
                            let ctx = match &g.context {
                                Some(name) => {
                                    match ContextKind::parse(name).filter(|c| allowed.contains(c)) {
                                        Some(c) => Ok(c),
                                        None => Err(format!(
                                        "context {name:?} is not one of {allowed:?} for {signal}"
                                    )),
                                    }
                                }
                                None => ottl::infer_condition(text, allowed),
                            };
                            match ctx {
                                Ok(ctx) => add(signal, ctx, text, at, gmode, &mut errors),
                                Err(e) => errors
                                    .push(ConfigError::new(at, format!("condition {text:?}: {e}"))),
                            }
                        }
                    }
                }
            }
        }
        if !c.profile_conditions.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::profile_conditions"),
                "profiles are not supported by ferrotel yet",
            ));
        }
        // Older per-context blocks.
        let blocks: Vec<(SignalKind, ContextKind, &str, &Vec<String>)> = {
            let mut v = Vec::new();
            if let Some(t) = &c.traces {
                v.push((
                    SignalKind::Traces,
                    ContextKind::Resource,
                    "traces::resource",
                    &t.resource,
                ));
                v.push((
                    SignalKind::Traces,
                    ContextKind::Span,
                    "traces::span",
                    &t.span,
                ));
                v.push((
                    SignalKind::Traces,
                    ContextKind::SpanEvent,
                    "traces::spanevent",
                    &t.spanevent,
                ));
            }
            if let Some(m) = &c.metrics {
                v.push((
                    SignalKind::Metrics,
                    ContextKind::Resource,
                    "metrics::resource",
                    &m.resource,
                ));
                v.push((
                    SignalKind::Metrics,
                    ContextKind::Metric,
                    "metrics::metric",
                    &m.metric,
                ));
                v.push((
                    SignalKind::Metrics,
                    ContextKind::DataPoint,
                    "metrics::datapoint",
                    &m.datapoint,
                ));
            }
            if let Some(l) = &c.logs {
                v.push((
                    SignalKind::Logs,
                    ContextKind::Resource,
                    "logs::resource",
                    &l.resource,
                ));
                v.push((
                    SignalKind::Logs,
                    ContextKind::Log,
                    "logs::log_record",
                    &l.log_record,
                ));
            }
            v
        };
        for (signal, ctx, key, list) in blocks {
            for (i, text) in list.iter().enumerate() {
                add(
                    signal,
                    ctx,
                    text,
                    format!("{path}::{key}::{i}"),
                    mode,
                    &mut errors,
                );
            }
        }
        // Legacy include/exclude, translated to conditions.
        let mut legacy = |signal: SignalKind,
                          ctx: ContextKind,
                          key: &str,
                          inc: Result<Option<String>, String>,
                          exc: Result<Option<String>, String>,
                          errors: &mut Vec<ConfigError>| {
            let (inc, exc) = match (inc, exc) {
                (Ok(i), Ok(e)) => (i, e),
                (Err(e), _) | (_, Err(e)) => {
                    errors.push(ConfigError::new(
                        e.split(": ").next().unwrap_or(key).to_string(),
                        e.split_once(": ").map_or(e.as_str(), |x| x.1).to_string(),
                    ));
                    return;
                }
            };
            if let Some(cond) = config::drop_condition(inc, exc) {
                add(signal, ctx, &cond, format!("{path}::{key}"), mode, errors);
            }
        };
        if let Some(s) = &c.spans {
            let p = format!("{path}::spans");
            legacy(
                SignalKind::Traces,
                ContextKind::Span,
                "spans",
                s.include
                    .as_ref()
                    .map(|m| config::span_condition(m, &format!("{p}::include")))
                    .transpose(),
                s.exclude
                    .as_ref()
                    .map(|m| config::span_condition(m, &format!("{p}::exclude")))
                    .transpose(),
                &mut errors,
            );
        }
        if let Some(l) = &c.logs {
            let p = format!("{path}::logs");
            legacy(
                SignalKind::Logs,
                ContextKind::Log,
                "logs",
                l.include
                    .as_ref()
                    .map(|m| config::log_condition(m, &format!("{p}::include")))
                    .transpose(),
                l.exclude
                    .as_ref()
                    .map(|m| config::log_condition(m, &format!("{p}::exclude")))
                    .transpose(),
                &mut errors,
            );
        }
        if let Some(m) = &c.metrics {
            let p = format!("{path}::metrics");
            legacy(
                SignalKind::Metrics,
                ContextKind::Metric,
                "metrics",
                m.include
                    .as_ref()
                    .map(|x| config::metric_condition(x, &format!("{p}::include")))
                    .transpose(),
                m.exclude
                    .as_ref()
                    .map(|x| config::metric_condition(x, &format!("{p}::exclude")))
                    .transpose(),
                &mut errors,
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for g in [&mut rules.traces, &mut rules.metrics, &mut rules.logs] {
            g.sort_by_key(|g| g.context.depth());
        }
        rules.encoded_traces = encoded::plan::<Traces>(&rules.traces);
        rules.encoded_logs = encoded::plan::<Logs>(&rules.logs);
        Ok(rules)
    }

    fn groups(&self, signal: SignalKind) -> &[Group] {
        match signal {
            SignalKind::Traces => &self.traces,
            SignalKind::Metrics => &self.metrics,
            SignalKind::Logs => &self.logs,
        }
    }
}

/// Whether any condition of the group is true for the item; errors go by `error_mode`.
pub fn any_true(g: &Group, ctx: &ottl::Ctx<'_>, component: &str) -> Result<bool, String> {
    for c in &g.conditions {
        match c.test(ctx) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(e) => match g.error_mode {
                ErrorMode::Propagate => return Err(e),
                ErrorMode::Ignore => {
                    tracing::warn!(processor = component, error = %e, "failed to evaluate condition; ignoring it for this item")
                }
                ErrorMode::Silent => {}
            },
        }
    }
    Ok(false)
}

pub struct Prepared(pub Arc<Rules>);

impl PreparedProcessor for Prepared {
    fn create(
        &self,
        id: &ComponentId,
        _pipeline: &str,
        next: AnyConsumer,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        Ok(next.wrap(&Build {
            rules: self.0.clone(),
            id: Arc::from(id.to_string()),
        }))
    }
}

struct Build {
    rules: Arc<Rules>,
    id: Arc<str>,
}

impl<S: Filterable> BuildFor<S> for Build {
    fn build(&self, next: Arc<dyn Consumer<S>>) -> Arc<dyn Consumer<S>> {
        Arc::new(FilterProcessor {
            rules: self.rules.clone(),
            id: self.id.clone(),
            next,
        })
    }
}

/// How the filter walks one signal's data and removes emptied containers.
pub trait Filterable: Signal {
    fn walk(resources: &mut Vec<Self::Resource>, g: &Group, id: &str) -> Result<(), String>;
    fn prune(resources: &mut Vec<Self::Resource>, metric_points_filtered: bool);
    /// The path on encoded data ([`encoded`]): `Some(items dropped)` when it ran, `None` (the batch
    /// untouched) when the decoded path must run.
    fn filter_encoded(_batch: &mut Batch<Self>, _rules: &Rules, _id: &str) -> Option<usize> {
        None
    }
}

impl Filterable for Traces {
    fn walk(resources: &mut Vec<Self::Resource>, g: &Group, id: &str) -> Result<(), String> {
        exec::traces(resources, g.context, &mut |ctx| any_true(g, ctx, id))
    }
    fn filter_encoded(batch: &mut Batch<Self>, rules: &Rules, id: &str) -> Option<usize> {
        encoded::run(batch, &rules.traces, rules.encoded_traces.as_ref()?, id)
    }
    fn prune(resources: &mut Vec<Self::Resource>, _: bool) {
        for rs in resources.iter_mut() {
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        }
        resources.retain(|rs| !rs.scope_spans.is_empty());
    }
}

impl Filterable for Logs {
    fn walk(resources: &mut Vec<Self::Resource>, g: &Group, id: &str) -> Result<(), String> {
        exec::logs(resources, g.context, &mut |ctx| any_true(g, ctx, id))
    }
    fn filter_encoded(batch: &mut Batch<Self>, rules: &Rules, id: &str) -> Option<usize> {
        encoded::run(batch, &rules.logs, rules.encoded_logs.as_ref()?, id)
    }
    fn prune(resources: &mut Vec<Self::Resource>, _: bool) {
        for rl in resources.iter_mut() {
            rl.scope_logs.retain(|sl| !sl.log_records.is_empty());
        }
        resources.retain(|rl| !rl.scope_logs.is_empty());
    }
}

impl Filterable for Metrics {
    fn walk(resources: &mut Vec<Self::Resource>, g: &Group, id: &str) -> Result<(), String> {
        exec::metrics(resources, g.context, &mut |ctx| any_true(g, ctx, id))
    }
    fn prune(resources: &mut Vec<Self::Resource>, points_filtered: bool) {
        for rm in resources.iter_mut() {
            for sm in rm.scope_metrics.iter_mut() {
                if points_filtered {
                    // A metric whose every data point was dropped is dropped too, as otelcol does.
                    sm.metrics.retain(|m| exec::point_count(&m.data) > 0);
                }
            }
            rm.scope_metrics.retain(|sm| !sm.metrics.is_empty());
        }
        resources.retain(|rm| !rm.scope_metrics.is_empty());
    }
}

pub struct FilterProcessor<S: Signal> {
    rules: Arc<Rules>,
    id: Arc<str>,
    next: Arc<dyn Consumer<S>>,
}

impl<S: Filterable> FilterProcessor<S> {
    pub fn new(rules: Arc<Rules>, id: &str, next: Arc<dyn Consumer<S>>) -> Self {
        FilterProcessor {
            rules,
            id: Arc::from(id),
            next,
        }
    }

    /// Drops what the conditions match; returns how many items were dropped.
    pub fn process(&self, batch: &mut Batch<S>) -> Result<usize, ConsumeError> {
        let groups = self.rules.groups(S::KIND);
        if groups.is_empty() {
            return Ok(0);
        }
        let before = batch.items();
        if groups.iter().all(|g| g.context == ContextKind::Resource) && batch.is_encoded() {
            // Only resources are read: decode each resource message's resource, drop the whole
            // message or keep its scopes and items as bytes.
            let id = &*self.id;
            let mut drops =
                |res: &mut Option<Resource>, url: &mut String| -> Result<bool, String> {
                    let ctx = ottl::Ctx {
                        resource: Some(res),
                        resource_schema_url: Some(url),
                        ..Default::default()
                    };
                    for g in groups {
                        if any_true(g, &ctx, id)? {
                            return Ok(true);
                        }
                    }
                    Ok(false)
                };
            batch
                .edit_encoded_resource_messages(true, &mut drops)
                .map_err(|e| ConsumeError::from_edit(id, e))?;
            return Ok(before.saturating_sub(batch.items()));
        }
        if let Some(dropped) = S::filter_encoded(batch, &self.rules, &self.id) {
            return Ok(dropped);
        }
        let resources = batch.resources_mut()?;
        for g in groups {
            S::walk(resources, g, &self.id)
                .map_err(|e| ConsumeError::Permanent(format!("{}: {e}", self.id)))?;
        }
        S::prune(
            resources,
            groups.iter().any(|g| g.context == ContextKind::DataPoint),
        );
        batch.recount();
        Ok(before.saturating_sub(batch.items()))
    }
}

#[async_trait]
impl<S: Filterable> Consumer<S> for FilterProcessor<S> {
    async fn consume(&self, mut batch: Batch<S>) -> Result<(), ConsumeError> {
        let dropped = self.process(&mut batch)?;
        crate::telemetry::events::processor_filter_filtered(&self.id, S::KIND, dropped);
        if batch.items() == 0 && dropped > 0 {
            // Nothing left: not exported, as otelcol's processorhelper.ErrSkipProcessingData.
            return Ok(());
        }
        self.next.consume(batch).await
    }
}

#[cfg(test)]
mod tests;
