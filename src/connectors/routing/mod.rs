//! The `routing` connector (otelcol-contrib's `routingconnector`, as it behaves since v0.116): sends
//! each item to the pipelines of the first route of `table` whose condition it matches, and what no
//! route matched to `default_pipelines` (or nowhere).
//!
//! A route's `context` says what is matched and moved: `resource` (the default; whole resources),
//! `span`, `log`, `metric`, `datapoint` (single items, with a copy of their resource and scope), or
//! `request` (the whole request, by client metadata: `request["header"] == "value"` or `!=`). Routes
//! are tried in order on what earlier routes left, so every item goes to exactly one route or to the
//! default. A route whose context the signal lacks (a `log` route in a traces pipeline) never matches.

mod split;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{
    ConfigResult, ConnectorFactory, Host, PreparedConnector, StartError, SAME_SIGNAL,
};
use crate::config::{ComponentId, ConfigError, PipelineId};
use crate::ottl::{Condition, ContextKind, Ctx, ErrorMode, Statement};
use crate::pipeline::{fan_out, AnyConsumer, ConsumeError, Consumer, SignalConsumer};
use crate::signal::{Batch, ClientMetadata, SignalKind};

use split::Routable;

pub struct Factory;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    error_mode: ErrorMode,
    #[serde(default)]
    default_pipelines: Vec<String>,
    #[serde(default)]
    table: Vec<RouteConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteConfig {
    #[serde(default)]
    context: String,
    #[serde(default)]
    statement: String,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    pipelines: Vec<String>,
}

impl ConnectorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "routing"
    }
    fn signal_pairs(&self) -> &'static [(SignalKind, SignalKind)] {
        SAME_SIGNAL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedConnector>> {
        if cfg.get("match_once").is_some() {
            return Err(vec![ConfigError::new(
                format!("{path}::match_once"),
                "match_once was removed from otelcol's routing connector in v0.120.0; every item \
                 now goes to the first route it matches (see docs/components/connectors/routing.md)",
            )]);
        }
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        prepare(c, path)
    }
}

/// What a route matches on.
enum Matcher {
    /// `request["key"] == "value"` (`equal`) or `!=`: any value of the header decides.
    Request {
        key: String,
        value: String,
        equal: bool,
    },
    Ottl(Arc<Condition>),
}

impl Matcher {
    fn request_matches(key: &str, value: &str, equal: bool, md: Option<&ClientMetadata>) -> bool {
        md.is_some_and(|md| md.get(key).any(|v| (v == value) == equal))
    }
}

struct Route {
    matcher: Matcher,
    /// A statement's editor other than `route()` (`delete_key`, `delete_matching_keys`): run on each
    /// item the route takes, before it is sent on, as otelcol runs the statement on what matches.
    edit: Option<Arc<Statement>>,
    pipelines: Vec<PipelineId>,
}

struct Prepared {
    routes: Arc<Vec<Route>>,
    default_pipelines: Vec<PipelineId>,
    error_mode: ErrorMode,
    warnings: Vec<String>,
}

fn pipeline_ids(list: &[String], path: &str, errors: &mut Vec<ConfigError>) -> Vec<PipelineId> {
    let mut out = Vec::new();
    for (j, p) in list.iter().enumerate() {
        match PipelineId::parse(p) {
            Ok(id) => out.push(id),
            Err(e) => errors.push(ConfigError::new(format!("{path}::{j}"), e)),
        }
    }
    out
}

fn prepare(c: Config, path: &str) -> ConfigResult<Arc<dyn PreparedConnector>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    if c.table.is_empty() {
        errors.push(ConfigError::new(
            format!("{path}::table"),
            "the routing table is empty; at least one route is required",
        ));
    }
    let default_pipelines = pipeline_ids(
        &c.default_pipelines,
        &format!("{path}::default_pipelines"),
        &mut errors,
    );
    let mut routes = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, r) in c.table.iter().enumerate() {
        let at = format!("{path}::table::{i}");
        if r.pipelines.is_empty() {
            errors.push(ConfigError::new(
                format!("{at}::pipelines"),
                "a route needs at least one pipeline",
            ));
        }
        let pipelines = pipeline_ids(&r.pipelines, &format!("{at}::pipelines"), &mut errors);
        let (key, text) = match (r.statement.is_empty(), r.condition.is_empty()) {
            (true, true) => {
                errors.push(ConfigError::new(
                    at,
                    "a route needs a condition or a statement",
                ));
                continue;
            }
            (false, false) => {
                errors.push(ConfigError::new(
                    at,
                    "a route takes a condition or a statement, not both",
                ));
                continue;
            }
            (false, true) => ("statement", r.statement.as_str()),
            (true, false) => ("condition", r.condition.as_str()),
        };
        let context = match r.context.as_str() {
            "" | "resource" => Some(ContextKind::Resource),
            "span" => Some(ContextKind::Span),
            "metric" => Some(ContextKind::Metric),
            "datapoint" => Some(ContextKind::DataPoint),
            "log" => Some(ContextKind::Log),
            "request" => None,
            other => {
                errors.push(ConfigError::new(
                    format!("{at}::context"),
                    format!(
                        "invalid context {other:?}; one of resource, span, metric, datapoint, log, request"
                    ),
                ));
                continue;
            }
        };
        let mut edit = None;
        let matcher = match context {
            None if key == "statement" => {
                errors.push(ConfigError::new(
                    format!("{at}::statement"),
                    "the \"request\" context requires a 'condition'",
                ));
                continue;
            }
            None => match parse_request_condition(text) {
                Ok((k, value, equal)) => Matcher::Request {
                    key: k,
                    value,
                    equal,
                },
                Err(e) => {
                    errors.push(ConfigError::new(format!("{at}::condition"), e));
                    continue;
                }
            },
            Some(ctx) => {
                let compiled = if key == "statement" {
                    route_statement(text, ctx)
                } else {
                    crate::ottl::compile_condition(text, ctx).map(|c| (c, None))
                };
                match compiled {
                    Ok((c, e)) => {
                        edit = e.map(Arc::new);
                        Matcher::Ottl(Arc::new(c))
                    }
                    Err(e) => {
                        errors.push(ConfigError::new(
                            format!("{at}::{key}"),
                            format!("{text:?}: {e}"),
                        ));
                        continue;
                    }
                }
            }
        };
        // otelcol keys routes by context and text; a repeated route is ignored with a warning.
        if !seen.insert((r.context.clone(), text.to_string())) {
            warnings.push(format!(
                "{at}: the same {key} as an earlier route in this context; this route is ignored \
                 (as otelcol does)"
            ));
            continue;
        }
        routes.push(Route {
            matcher,
            edit,
            pipelines,
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Arc::new(Prepared {
        routes: Arc::new(routes),
        default_pipelines,
        error_mode: c.error_mode,
        warnings,
    }))
}

/// The editors a routing `statement` may use, as otelcol's routing connector registers them:
/// `route()` only routes; the others also edit each item the route takes.
const ROUTING_EDITORS: &[&str] = &["route", "delete_key", "delete_matching_keys"];

/// A routing `statement`: an editor of [`ROUTING_EDITORS`] with an optional `where` clause. The
/// clause decides the route; an editor other than `route()` comes back compiled, to run on what the
/// route takes.
fn route_statement(text: &str, ctx: ContextKind) -> Result<(Condition, Option<Statement>), String> {
    let st = crate::ottl::parse_statement(text).map_err(|e| e.to_string())?;
    let name = st.editor.name.as_str();
    if !ROUTING_EDITORS.contains(&name) {
        return Err(format!(
            "{name}() cannot be used in a routing statement: otelcol's routing connector accepts \
             route(), delete_key() and delete_matching_keys(), each with an optional `where` clause; \
             edit data with a transform processor in the destination pipeline"
        ));
    }
    if name == "route" && (!st.editor.args.is_empty() || !st.editor.keys.is_empty()) {
        return Err("route() takes no arguments".into());
    }
    let edit = match name {
        "route" => None,
        _ => Some(crate::ottl::compile_statement(text, ctx)?),
    };
    let condition = match &st.condition {
        None => crate::ottl::compile_condition("true", ctx)?,
        Some(expr) => {
            let cp = crate::ottl::compile::Compiler::new(ctx);
            let expr = cp
                .condition(expr)
                .map_err(|e| format!("column {}: {}", e.column, e.message))?;
            Condition {
                text: text.to_string(),
                context: ctx,
                expr,
            }
        }
    };
    Ok((condition, edit))
}

/// otelcol's request grammar: exactly `request["<name>"] == "<value>"` or `!=`.
fn parse_request_condition(text: &str) -> Result<(String, String, bool), String> {
    let eq = text.matches("==").count();
    let ne = text.matches("!=").count();
    let (op, equal) = match (eq, ne) {
        (0, 0) => return Err("condition does not contain a valid comparator (== or !=)".into()),
        (1, 0) => ("==", true),
        (0, 1) => ("!=", false),
        _ => return Err("condition contains multiple comparators".into()),
    };
    let (left, right) = text
        .split_once(op)
        .ok_or("condition does not contain a valid comparator")?;
    let (left, right) = (left.trim(), right.trim());
    let key = left
        .strip_prefix("request[\"")
        .and_then(|s| s.strip_suffix("\"]"))
        .ok_or("condition must have the form 'request[\"<name>\"] <comparator> \"<value>\"'")?;
    let value = right
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or("condition must have the form 'request[\"<name>\"] <comparator> \"<value>\"'")?;
    Ok((key.to_string(), value.to_string(), equal))
}

impl PreparedConnector for Prepared {
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn check_wiring(
        &self,
        path: &str,
        _from: SignalKind,
        to: SignalKind,
        downstream: &[PipelineId],
    ) -> Vec<ConfigError> {
        // As otelcol: every pipeline a route names must receive from this connector.
        let mut errors = Vec::new();
        let mut check = |at: String, p: &PipelineId| {
            if !downstream.contains(p) {
                errors.push(ConfigError::new(
                    at,
                    format!(
                        "pipeline {p} is not a {to} pipeline that lists this connector under receivers"
                    ),
                ));
            }
        };
        for (j, p) in self.default_pipelines.iter().enumerate() {
            check(format!("{path}::default_pipelines::{j}"), p);
        }
        for (i, r) in self.routes.iter().enumerate() {
            for (j, p) in r.pipelines.iter().enumerate() {
                check(format!("{path}::table::{i}::pipelines::{j}"), p);
            }
        }
        errors
    }

    fn create(
        &self,
        id: &ComponentId,
        from: SignalKind,
        to: SignalKind,
        next: Vec<(PipelineId, AnyConsumer)>,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        let component = format!("connectors::{id}");
        if from != to {
            return Err(StartError::new(
                component,
                format!("routing connects a signal to itself, not {from} to {to}"),
            ));
        }
        let consumer_for = |ids: &[PipelineId]| -> Result<Vec<AnyConsumer>, StartError> {
            ids.iter()
                .map(|p| {
                    next.iter()
                        .find(|(q, _)| q == p)
                        .map(|(_, c)| c.clone())
                        .ok_or_else(|| {
                            StartError::new(&component, format!("pipeline {p} not found"))
                        })
                })
                .collect()
        };
        let routes = self
            .routes
            .iter()
            .map(|r| consumer_for(&r.pipelines))
            .collect::<Result<Vec<_>, _>>()?;
        let default = consumer_for(&self.default_pipelines)?;
        Ok(crate::with_signal!(from, S => {
            let typed = |v: &[AnyConsumer]| -> Option<Arc<dyn Consumer<S>>> {
                let v: Vec<_> = v.iter().filter_map(AnyConsumer::typed::<S>).collect();
                (!v.is_empty()).then(|| fan_out(v))
            };
            S::any(Arc::new(Router::<S> {
                id: component.clone(),
                routes: self.routes.clone(),
                consumers: routes.iter().map(|v| typed(v)).collect(),
                default: typed(&default),
                error_mode: self.error_mode,
            }))
        }))
    }
}

/// Resources per route (in table order), and the rest for the default pipelines.
type Routed<S> = (
    Vec<Vec<<S as crate::signal::Signal>::Resource>>,
    Vec<<S as crate::signal::Signal>::Resource>,
);

struct Router<S: Routable> {
    id: String,
    routes: Arc<Vec<Route>>,
    /// One per route, in order; `None` for a route of a context the signal lacks.
    consumers: Vec<Option<Arc<dyn Consumer<S>>>>,
    default: Option<Arc<dyn Consumer<S>>>,
    error_mode: ErrorMode,
}

impl<S: Routable> Router<S> {
    /// Splits `resources` into one group per route plus the rest (the default's), in place.
    fn route(
        &self,
        mut resources: Vec<S::Resource>,
        md: Option<&ClientMetadata>,
    ) -> Result<Routed<S>, ConsumeError> {
        let mut groups: Vec<Vec<S::Resource>> = self.routes.iter().map(|_| Vec::new()).collect();
        for (i, r) in self.routes.iter().enumerate() {
            if resources.is_empty() {
                break;
            }
            match &r.matcher {
                Matcher::Request { key, value, equal } => {
                    if Matcher::request_matches(key, value, *equal, md) {
                        groups[i] = std::mem::take(&mut resources);
                    }
                }
                Matcher::Ottl(cond) => {
                    if !S::CONTEXTS.contains(&cond.context) {
                        continue;
                    }
                    let mut first_error = None;
                    let moved = S::split(&mut resources, cond.context, &mut |ctx| {
                        match cond.test(ctx) {
                            Ok(m) => m,
                            Err(e) => {
                                // An error is no match, as otelcol; `propagate` fails the request.
                                first_error.get_or_insert(e);
                                false
                            }
                        }
                    });
                    if let Some(e) = first_error {
                        match self.error_mode {
                            ErrorMode::Propagate => {
                                return Err(ConsumeError::Permanent(format!("{}: {e}", self.id)))
                            }
                            ErrorMode::Ignore => tracing::warn!(
                                connector = %self.id, error = %e,
                                "failed to evaluate a route's condition; the item did not match it"
                            ),
                            ErrorMode::Silent => {}
                        }
                    }
                    groups[i] = moved;
                    if let Some(edit) = &r.edit {
                        let edited =
                            S::walk(&mut groups[i], cond.context, &mut |ctx: &mut Ctx<'_>| {
                                (edit.editor)(ctx).map(|()| false)
                            });
                        if let Err(e) = edited {
                            match self.error_mode {
                                ErrorMode::Propagate => {
                                    return Err(ConsumeError::Permanent(format!(
                                        "{}: {}: {e}",
                                        self.id, edit.text
                                    )))
                                }
                                ErrorMode::Ignore => tracing::warn!(
                                    connector = %self.id, error = %e, statement = %edit.text,
                                    "failed to run a route's statement; the items are routed unedited"
                                ),
                                ErrorMode::Silent => {}
                            }
                        }
                    }
                }
            }
        }
        Ok((groups, resources))
    }
}

#[async_trait]
impl<S: Routable> Consumer<S> for Router<S> {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        let md = batch.metadata.clone();
        // A request route ahead of any other matches the whole request: no need to decode it.
        if let Some(Route {
            matcher: Matcher::Request { key, value, equal },
            ..
        }) = self.routes.first()
        {
            if Matcher::request_matches(key, value, *equal, md.as_deref()) {
                return match self.consumers.first().and_then(Option::as_ref) {
                    Some(c) => c.consume(batch).await,
                    None => Ok(()),
                };
            }
        }
        let resources = batch.into_resources()?;
        let (groups, rest) = self.route(resources, md.as_deref())?;
        let mut sends = Vec::new();
        for (g, c) in groups.into_iter().zip(&self.consumers) {
            if let (false, Some(c)) = (g.is_empty(), c) {
                sends.push(c.consume(Batch::from_resources(g).with_metadata(md.clone())));
            }
        }
        if let (false, Some(c)) = (rest.is_empty(), &self.default) {
            sends.push(c.consume(Batch::from_resources(rest).with_metadata(md.clone())));
        }
        // Every destination is tried; the first error travels back (otelcol joins them).
        futures::future::join_all(sends)
            .await
            .into_iter()
            .find(Result::is_err)
            .unwrap_or(Ok(()))
    }
}

#[cfg(test)]
mod tests;
