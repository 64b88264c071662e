//! The `transform` processor: runs OTTL statements on spans, span events, metrics, data points, log
//! records, resources and scopes, as otelcol-contrib's `transformprocessor`.
//!
//! `trace_statements`, `metric_statements` and `log_statements` take groups (`context`, `statements`,
//! `conditions`, `error_mode`) and plain statements whose context is inferred from their path prefixes
//! (otelcol ≥ 0.120). Statements run in order, each group over every item of its context.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{ConfigResult, Host, PreparedProcessor, ProcessorFactory, StartError};
use crate::config::{ComponentId, ConfigError};
use crate::ottl::{self, exec, Condition, ContextKind, Ctx, ErrorMode, Statement};
use crate::pipeline::{AnyConsumer, BuildFor, ConsumeError, Consumer};
use crate::signal::{Batch, Logs, Metrics, Signal, SignalKind, Traces};
use opentelemetry_proto::tonic::resource::v1::Resource;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub error_mode: ErrorMode,
    #[serde(default)]
    pub trace_statements: Vec<Entry>,
    #[serde(default)]
    pub metric_statements: Vec<Entry>,
    #[serde(default)]
    pub log_statements: Vec<Entry>,
    #[serde(default)]
    pub profile_statements: Vec<Entry>,
    /// Deprecated in otelcol; accepted and ignored with a warning.
    #[serde(default)]
    pub flatten_data: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Entry {
    One(String),
    Group(GroupConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    #[serde(default)]
    pub context: Option<String>,
    pub statements: Vec<String>,
    #[serde(default)]
    pub conditions: Vec<String>,
    #[serde(default)]
    pub error_mode: Option<ErrorMode>,
}

/// Statements of one context, run in order on each item for which any condition (if given) is true.
pub struct Group {
    pub context: ContextKind,
    pub statements: Vec<Statement>,
    pub conditions: Vec<Condition>,
    pub error_mode: ErrorMode,
}

#[derive(Default)]
pub struct Rules {
    pub traces: Vec<Group>,
    pub metrics: Vec<Group>,
    pub logs: Vec<Group>,
    pub warnings: Vec<String>,
}

impl Rules {
    pub fn prepare(cfg: &Value, path: &str) -> ConfigResult<Rules> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let mut rules = Rules::default();
        if c.flatten_data.is_some() {
            rules.warnings.push(format!(
                "{path}::flatten_data: accepted and ignored (ferrotel has no flattened mode)"
            ));
        }
        if !c.profile_statements.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::profile_statements"),
                "profiles are not supported by ferrotel yet",
            ));
        }
        for (signal, key, list) in [
            (SignalKind::Traces, "trace_statements", &c.trace_statements),
            (
                SignalKind::Metrics,
                "metric_statements",
                &c.metric_statements,
            ),
            (SignalKind::Logs, "log_statements", &c.log_statements),
        ] {
            let allowed = ottl::contexts_of(signal);
            let mut groups: Vec<Group> = Vec::new();
            for (i, entry) in list.iter().enumerate() {
                let at = format!("{path}::{key}::{i}");
                match entry {
                    Entry::One(text) => {
                        let st = ottl::infer_statement(text, allowed)
                            .and_then(|ctx| ottl::compile_statement(text, ctx));
                        match st {
                            Ok(st) => match groups.last_mut() {
                                // Consecutive plain statements of one context run together, in order.
                                Some(g)
                                    if g.context == st.context
                                        && g.conditions.is_empty()
                                        && g.error_mode == c.error_mode =>
                                {
                                    g.statements.push(st)
                                }
                                _ => groups.push(Group {
                                    context: st.context,
                                    statements: vec![st],
                                    conditions: vec![],
                                    error_mode: c.error_mode,
                                }),
                            },
                            Err(e) => errors
                                .push(ConfigError::new(at, format!("statement {text:?}: {e}"))),
                        }
                    }
                    Entry::Group(g) => {
                        let ctx = match &g.context {
                            Some(name) => {
                                match ContextKind::parse(name).filter(|c| allowed.contains(c)) {
                                    Some(c) => Ok(c),
                                    None => Err(format!(
                                        "unknown context {name:?} for {signal}; expected one of {}",
                                        allowed
                                            .iter()
                                            .map(|c| c.as_str())
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    )),
                                }
                            }
                            None => {
                                // All statements and conditions of the group share the deepest context named.
                                let mut ctxs = Vec::new();
                                for s in &g.statements {
                                    match ottl::infer_statement(s, allowed) {
                                        Ok(c) => ctxs.push(c),
                                        Err(e) => errors.push(ConfigError::new(
                                            format!("{at}::statements"),
                                            format!("statement {s:?}: {e}"),
                                        )),
                                    }
                                }
                                for s in &g.conditions {
                                    if let Ok(c) = ottl::infer_condition(s, allowed) {
                                        ctxs.push(c);
                                    }
                                }
                                ctxs.into_iter().max_by_key(|c| c.depth()).ok_or_else(|| {
                                    "cannot infer the context of an empty group".to_string()
                                })
                            }
                        };
                        let ctx = match ctx {
                            Ok(c) => c,
                            Err(e) => {
                                errors.push(ConfigError::new(format!("{at}::context"), e));
                                continue;
                            }
                        };
                        let mut group = Group {
                            context: ctx,
                            statements: vec![],
                            conditions: vec![],
                            error_mode: g.error_mode.unwrap_or(c.error_mode),
                        };
                        for (j, s) in g.statements.iter().enumerate() {
                            match ottl::compile_statement(s, ctx) {
                                Ok(st) => group.statements.push(st),
                                Err(e) => errors.push(ConfigError::new(
                                    format!("{at}::statements::{j}"),
                                    format!("statement {s:?}: {e}"),
                                )),
                            }
                        }
                        for (j, s) in g.conditions.iter().enumerate() {
                            match ottl::compile_condition(s, ctx) {
                                Ok(cd) => group.conditions.push(cd),
                                Err(e) => errors.push(ConfigError::new(
                                    format!("{at}::conditions::{j}"),
                                    format!("condition {s:?}: {e}"),
                                )),
                            }
                        }
                        groups.push(group);
                    }
                }
            }
            match signal {
                SignalKind::Traces => rules.traces = groups,
                SignalKind::Metrics => rules.metrics = groups,
                SignalKind::Logs => rules.logs = groups,
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
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

fn handle(mode: ErrorMode, e: String, component: &str) -> Result<(), String> {
    match mode {
        ErrorMode::Propagate => Err(e),
        ErrorMode::Ignore => {
            tracing::warn!(processor = component, error = %e, "failed to execute statement; ignoring it for this item");
            Ok(())
        }
        ErrorMode::Silent => Ok(()),
    }
}

/// Runs a group's statements on one item.
pub fn run_group(g: &Group, ctx: &mut Ctx<'_>, component: &str) -> Result<bool, String> {
    if !g.conditions.is_empty() {
        let mut any = false;
        for c in &g.conditions {
            match c.test(ctx) {
                Ok(true) => {
                    any = true;
                    break;
                }
                Ok(false) => {}
                Err(e) => handle(g.error_mode, e, component)?,
            }
        }
        if !any {
            return Ok(false);
        }
    }
    for st in &g.statements {
        if let Err(e) = st.execute(ctx) {
            handle(g.error_mode, e, component)?;
        }
    }
    Ok(false)
}

/// How the statements reach one signal's data.
pub trait Transformable: Signal {
    fn walk(resources: &mut Vec<Self::Resource>, g: &Group, id: &str) -> Result<(), String>;
}

impl Transformable for Traces {
    fn walk(resources: &mut Vec<Self::Resource>, g: &Group, id: &str) -> Result<(), String> {
        exec::traces(resources, g.context, &mut |ctx| run_group(g, ctx, id))
    }
}
impl Transformable for Metrics {
    fn walk(resources: &mut Vec<Self::Resource>, g: &Group, id: &str) -> Result<(), String> {
        exec::metrics(resources, g.context, &mut |ctx| run_group(g, ctx, id))
    }
}
impl Transformable for Logs {
    fn walk(resources: &mut Vec<Self::Resource>, g: &Group, id: &str) -> Result<(), String> {
        exec::logs(resources, g.context, &mut |ctx| run_group(g, ctx, id))
    }
}

pub struct Factory;

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "transform"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedProcessor>> {
        Ok(Arc::new(Prepared(Arc::new(Rules::prepare(cfg, path)?))))
    }
}

pub struct Prepared(pub Arc<Rules>);

impl PreparedProcessor for Prepared {
    fn warnings(&self) -> Vec<String> {
        self.0.warnings.clone()
    }
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

impl<S: Transformable> BuildFor<S> for Build {
    fn build(&self, next: Arc<dyn Consumer<S>>) -> Arc<dyn Consumer<S>> {
        Arc::new(TransformProcessor {
            rules: self.rules.clone(),
            id: self.id.clone(),
            next,
        })
    }
}

pub struct TransformProcessor<S: Signal> {
    rules: Arc<Rules>,
    id: Arc<str>,
    next: Arc<dyn Consumer<S>>,
}

impl<S: Transformable> TransformProcessor<S> {
    pub fn new(rules: Arc<Rules>, id: &str, next: Arc<dyn Consumer<S>>) -> Self {
        TransformProcessor {
            rules,
            id: Arc::from(id),
            next,
        }
    }

    pub fn process(&self, batch: &mut Batch<S>) -> Result<(), ConsumeError> {
        let groups = self.rules.groups(S::KIND);
        if groups.is_empty() {
            return Ok(());
        }
        if groups.iter().all(|g| g.context == ContextKind::Resource) && batch.is_encoded() {
            // Only resources are touched: each resource message's resource is decoded, edited and
            // encoded again; its scopes and items are copied as bytes. Groups run per resource
            // message rather than one after the other over all of them, which is the same result:
            // a resource-context statement sees only its own resource.
            let id = &*self.id;
            let mut edit = |res: &mut Option<Resource>, url: &mut String| -> Result<bool, String> {
                let mut ctx = Ctx {
                    resource: Some(res),
                    resource_schema_url: Some(url),
                    ..Default::default()
                };
                for g in groups {
                    run_group(g, &mut ctx, id)?;
                }
                Ok(false)
            };
            batch
                .edit_encoded_resource_messages(false, &mut edit)
                .map_err(|e| ConsumeError::from_edit(id, e))?;
            return Ok(());
        }
        let resources = batch.resources_mut()?;
        for g in groups {
            S::walk(resources, g, &self.id)
                .map_err(|e| ConsumeError::Permanent(format!("{}: {e}", self.id)))?;
        }
        batch.recount();
        Ok(())
    }
}

#[async_trait]
impl<S: Transformable> Consumer<S> for TransformProcessor<S> {
    async fn consume(&self, mut batch: Batch<S>) -> Result<(), ConsumeError> {
        self.process(&mut batch)?;
        self.next.consume(batch).await
    }
}

#[cfg(test)]
mod tests;
