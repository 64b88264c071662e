//! The `forward` connector: passes every batch unchanged from the pipelines that export to it to the
//! pipelines that receive from it, for each signal to the same signal (otelcol-contrib's
//! `forwardconnector`). It has no settings.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{
    ConfigResult, ConnectorFactory, Host, PreparedConnector, StartError, SAME_SIGNAL,
};
use crate::config::{ComponentId, PipelineId};
use crate::pipeline::{fan_out, AnyConsumer, ConsumeError, Consumer, SignalConsumer};
use crate::signal::{Batch, SignalKind};

pub struct Factory;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

impl ConnectorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "forward"
    }
    fn signal_pairs(&self) -> &'static [(SignalKind, SignalKind)] {
        SAME_SIGNAL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedConnector>> {
        crate::config::parse::<Config>(cfg, path).map_err(|e| vec![e])?;
        Ok(Arc::new(Prepared))
    }
}

struct Prepared;

impl PreparedConnector for Prepared {
    fn create(
        &self,
        id: &ComponentId,
        from: SignalKind,
        to: SignalKind,
        next: Vec<(PipelineId, AnyConsumer)>,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        if from != to {
            return Err(StartError::new(
                format!("connectors::{id}"),
                format!("forward connects a signal to itself, not {from} to {to}"),
            ));
        }
        let next: Vec<AnyConsumer> = next.into_iter().map(|(_, c)| c).collect();
        Ok(
            crate::with_signal!(from, S => S::any(Arc::new(Forward::<S> {
                next: fan_out(next.iter().filter_map(AnyConsumer::typed::<S>).collect()),
            }))),
        )
    }
}

/// Passes batches on. A consumer of its own (rather than `next` itself) so that the service's
/// shutdown of the connector never reaches the downstream pipeline's first processor.
struct Forward<S: SignalConsumer> {
    next: Arc<dyn Consumer<S>>,
}

#[async_trait]
impl<S: SignalConsumer> Consumer<S> for Forward<S> {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        self.next.consume(batch).await
    }
}

#[cfg(test)]
mod tests;
