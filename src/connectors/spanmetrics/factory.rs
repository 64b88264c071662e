//! The connector factory: `connectors: {spanmetrics: …}`, traces → metrics.

use std::sync::Arc;

use serde_yaml::Value;

use super::{Config, SpanMetrics, TYPE_NAME};
use crate::component::{ConfigResult, ConnectorFactory, Host, PreparedConnector, StartError};
use crate::config::{ComponentId, PipelineId};
use crate::pipeline::{fan_out, AnyConsumer};
use crate::signal::{Metrics, SignalKind};

pub struct Factory;

impl ConnectorFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }
    fn signal_pairs(&self) -> &'static [(SignalKind, SignalKind)] {
        &[(SignalKind::Traces, SignalKind::Metrics)]
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedConnector>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let errors = c.validate(path);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(Prepared {
            cfg: c,
            path: path.to_string(),
        }))
    }
}

struct Prepared {
    cfg: Config,
    path: String,
}

impl PreparedConnector for Prepared {
    fn warnings(&self) -> Vec<String> {
        self.cfg.warnings(&self.path)
    }

    fn create(
        &self,
        id: &ComponentId,
        from: SignalKind,
        to: SignalKind,
        next: Vec<(PipelineId, AnyConsumer)>,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        if (from, to) != (SignalKind::Traces, SignalKind::Metrics) {
            return Err(StartError::new(
                format!("connectors::{id}"),
                format!("spanmetrics connects traces to metrics, not {from} to {to}"),
            ));
        }
        let next = fan_out(
            next.iter()
                .filter_map(|(_, c)| c.typed::<Metrics>())
                .collect(),
        );
        Ok(AnyConsumer::Traces(SpanMetrics::start(
            id.to_string(),
            &self.cfg,
            next,
        )))
    }
}
