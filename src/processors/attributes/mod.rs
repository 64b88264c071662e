//! The `attributes` processor: otelcol's attribute actions on span attributes, metric data point
//! attributes and log record attributes, optionally limited by `include` / `exclude`.

pub mod config;
pub mod filter;

use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use serde_yaml::Value;

use crate::component::{ConfigResult, Host, PreparedProcessor, ProcessorFactory, StartError};
use crate::config::{ComponentId, ConfigError};
use crate::pipeline::{AnyConsumer, BuildFor, ConsumeError, Consumer};
use crate::processors::attraction::{Actions, HasResource};
use crate::signal::{Batch, ClientMetadata, Logs, Metrics, SignalKind, Traces};
pub use config::Config;
use filter::Matcher;

pub struct Factory;

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "attributes"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedProcessor>> {
        Ok(Arc::new(Prepared(Arc::new(Rules::prepare(cfg, path)?))))
    }
}

/// The compiled configuration, shared by every pipeline's instance.
pub struct Rules {
    actions: Actions,
    include: Option<Matcher>,
    exclude: Option<Matcher>,
}

impl Rules {
    pub fn prepare(cfg: &Value, path: &str) -> ConfigResult<Rules> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if c.actions.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::actions"),
                "missing required field \"actions\": at least one action is needed",
            ));
        }
        let actions = Actions::compile(&c.actions, &format!("{path}::actions"));
        let mut matcher = |p: &Option<filter::MatchProperties>, which: &str| match p {
            None => None,
            Some(p) => match Matcher::compile(p, &format!("{path}::{which}")) {
                Ok(m) => Some(m),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            },
        };
        let include = matcher(&c.include, "include");
        let exclude = matcher(&c.exclude, "exclude");
        let actions = match actions {
            Ok(a) => a,
            Err(e) => {
                errors.extend(e);
                return Err(errors);
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Rules {
            actions,
            include,
            exclude,
        })
    }

    /// Include is checked first: data not matching `include`, or matching `exclude`, is skipped.
    fn skip(&self, matches: impl Fn(&Matcher) -> bool) -> bool {
        self.include.as_ref().is_some_and(|m| !matches(m))
            || self.exclude.as_ref().is_some_and(&matches)
    }
}

/// The prepared processor: the rules, shared (not copied) by every pipeline's instance.
pub struct Prepared(pub Arc<Rules>);

impl PreparedProcessor for Prepared {
    fn create(
        &self,
        id: &ComponentId,
        _pipeline: &str,
        next: AnyConsumer,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        for (which, m) in [("include", &self.0.include), ("exclude", &self.0.exclude)] {
            if let Some(m) = m {
                m.validate_for(next.signal())
                    .map_err(|e| StartError::new(id, format!("{which}: {e}")))?;
            }
        }
        Ok(next.wrap(self))
    }
}

impl<S: Target> BuildFor<S> for Prepared {
    fn build(&self, next: Arc<dyn Consumer<S>>) -> Arc<dyn Consumer<S>> {
        Arc::new(AttributesProcessor {
            rules: self.0.clone(),
            next,
        })
    }
}

/// How the rules reach the attributes of one signal's items.
pub trait Target: HasResource {
    fn process(rules: &Rules, resources: &mut [Self::Resource], md: Option<&ClientMetadata>);
}

impl Target for Traces {
    fn process(rules: &Rules, resources: &mut [Self::Resource], md: Option<&ClientMetadata>) {
        for rs in resources {
            let resource = rs.resource.as_ref();
            for ss in &mut rs.scope_spans {
                let scope = ss.scope.as_ref();
                for span in &mut ss.spans {
                    if rules.skip(|m| m.matches_span(resource, scope, span)) {
                        continue;
                    }
                    rules.actions.apply(&mut span.attributes, md);
                }
            }
        }
    }
}

impl Target for Logs {
    fn process(rules: &Rules, resources: &mut [Self::Resource], md: Option<&ClientMetadata>) {
        for rl in resources {
            let resource = rl.resource.as_ref();
            for sl in &mut rl.scope_logs {
                let scope = sl.scope.as_ref();
                for log in &mut sl.log_records {
                    if rules.skip(|m| m.matches_log(resource, scope, log)) {
                        continue;
                    }
                    rules.actions.apply(&mut log.attributes, md);
                }
            }
        }
    }
}

impl Target for Metrics {
    fn process(rules: &Rules, resources: &mut [Self::Resource], md: Option<&ClientMetadata>) {
        // As otelcol: for metrics only `metric_names` and `resources` count, and a matcher with
        // neither takes no part.
        let include = rules.include.as_ref().filter(|m| m.applies_to_metrics());
        let exclude = rules.exclude.as_ref().filter(|m| m.applies_to_metrics());
        for rm in resources {
            let resource = rm.resource.as_ref();
            for sm in &mut rm.scope_metrics {
                for metric in &mut sm.metrics {
                    if include.is_some_and(|m| !m.matches_metric(resource, metric))
                        || exclude.is_some_and(|m| m.matches_metric(resource, metric))
                    {
                        continue;
                    }
                    macro_rules! each {
                        ($points:expr) => {
                            for dp in $points {
                                rules.actions.apply(&mut dp.attributes, md);
                            }
                        };
                    }
                    match &mut metric.data {
                        Some(Data::Gauge(g)) => each!(&mut g.data_points),
                        Some(Data::Sum(s)) => each!(&mut s.data_points),
                        Some(Data::Histogram(h)) => each!(&mut h.data_points),
                        Some(Data::ExponentialHistogram(h)) => each!(&mut h.data_points),
                        Some(Data::Summary(s)) => each!(&mut s.data_points),
                        None => {}
                    }
                }
            }
        }
    }
}

pub struct AttributesProcessor<S: Target> {
    rules: Arc<Rules>,
    next: Arc<dyn Consumer<S>>,
}

impl<S: Target> AttributesProcessor<S> {
    pub fn new(rules: Arc<Rules>, next: Arc<dyn Consumer<S>>) -> Self {
        AttributesProcessor { rules, next }
    }

    /// Applies the rules to a batch in place (decoding it; copying only if it is shared).
    pub fn process(&self, batch: &mut Batch<S>) -> Result<(), ConsumeError> {
        let md = batch.metadata.clone();
        let resources = batch.resources_mut()?;
        S::process(&self.rules, resources, md.as_deref());
        Ok(())
    }
}

#[async_trait]
impl<S: Target> Consumer<S> for AttributesProcessor<S> {
    async fn consume(&self, mut batch: Batch<S>) -> Result<(), ConsumeError> {
        self.process(&mut batch)?;
        self.next.consume(batch).await
    }
}

#[cfg(test)]
mod tests;
