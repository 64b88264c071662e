//! The component model: the factory traits every component implements, the [`Host`] it is built
//! with, and start-up errors. Components import this module; the registry ([`crate::components`])
//! imports the components, and no component imports the registry.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_yaml::Value;

use crate::config::{ComponentId, ConfigError, PipelineId};
use crate::pipeline::{Admission, AnyConsumer};
use crate::signal::SignalKind;

/// What every component may use while it is built: the extensions, and the admission checks.
#[derive(Clone, Default)]
pub struct Host {
    pub extensions: BTreeMap<ComponentId, Arc<dyn Extension>>,
    pub admission: Arc<Admission>,
}

impl Host {
    pub fn extension(&self, id: &ComponentId) -> Option<&Arc<dyn Extension>> {
        self.extensions.get(id)
    }
}

/// An error starting a component (binding a port, opening a file), reported before anything is sent.
#[derive(Debug, thiserror::Error)]
#[error("{component}: {message}")]
pub struct StartError {
    pub component: String,
    pub message: String,
}

impl StartError {
    pub fn new(component: impl ToString, message: impl ToString) -> Self {
        StartError {
            component: component.to_string(),
            message: message.to_string(),
        }
    }
}

/// A receiver: listens for data and hands it to one consumer per signal it was wired to.
///
/// Lifecycle: `start` is called once, after every exporter and processor is built; it returns when the
/// receiver is accepting (ports bound). `shutdown` stops accepting, waits for requests in flight to be
/// answered, then returns; nothing is passed on after it.
#[async_trait]
pub trait Receiver: Send {
    async fn start(&mut self, host: &Host) -> Result<(), StartError>;
    async fn shutdown(&mut self);
}

/// An extension: started before any pipeline component and shut down after all of them.
#[async_trait]
pub trait Extension: Send + Sync {
    async fn start(&self, host: &Host) -> Result<(), StartError>;
    async fn shutdown(&self);
    /// The concrete type, for tests. Components find what an extension offers through the
    /// capability methods below (`storage`, `server_authenticator`, …), never by downcasting.
    fn as_any(&self) -> &dyn Any;
    /// For `storage: id` (a sending queue's, filelog's checkpoints): this extension keeps state.
    fn storage(&self) -> Option<&dyn Storage> {
        None
    }
    /// Called once every pipeline is running, and again when shutdown begins (`false`).
    fn set_ready(&self, _ready: bool) {}
    /// For `auth: {authenticator: id}` on receivers: this extension checks incoming requests.
    fn server_authenticator(&self) -> Option<Arc<dyn crate::auth::ServerAuthenticator>> {
        None
    }
    /// For `auth: {authenticator: id}` on exporters: this extension adds outgoing credentials.
    fn client_authenticator(&self) -> Option<Arc<dyn crate::auth::ClientAuthenticator>> {
        None
    }
}

/// A storage extension (`file_storage`): directories where components keep state across restarts.
pub trait Storage: Send + Sync {
    /// The directory of one client's data (`exporter_<id>_<signal>`, `receiver_filelog_<name>`),
    /// created if needed; two client names never share one.
    fn client_directory(&self, client: &str) -> Result<std::path::PathBuf, String>;
    /// Whether writes must reach the disk before they are acknowledged (`fsync`).
    fn fsync(&self) -> bool;
    /// `compaction.on_start`.
    fn compact_on_start(&self) -> bool;
    /// `compaction.max_transaction_size`: the most items one compaction step moves.
    fn compaction_batch(&self) -> u64;
    /// `timeout`: how long one storage operation may take.
    fn timeout(&self) -> std::time::Duration;
}

pub type ConfigResult<T> = Result<T, Vec<ConfigError>>;

/// A receiver whose config has been parsed and validated.
pub trait PreparedReceiver: Send + Sync {
    /// Problems that do not stop the config from loading but that the user must hear about: a key
    /// accepted and ignored, a file that does not exist yet. Printed by `validate` (errors with
    /// `--strict`) and logged at start-up, each naming its key path.
    fn warnings(&self) -> Vec<String> {
        vec![]
    }
    /// Addresses it will listen on (`host:port`), for the port-clash check.
    fn endpoints(&self) -> Vec<String>;
    fn create(
        &self,
        id: &ComponentId,
        consumers: Vec<AnyConsumer>,
        host: &Host,
    ) -> Result<Box<dyn Receiver>, StartError>;
}

pub trait ReceiverFactory: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn signals(&self) -> &'static [SignalKind];
    /// Parses and validates the config; `path` is its key path (`receivers::otlp`).
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedReceiver>>;
}

/// A processor whose config has been parsed and validated; `create` is called once per pipeline.
pub trait PreparedProcessor: Send + Sync {
    /// Problems that do not stop the config from loading but that the user must hear about: a key
    /// accepted and ignored, a file that does not exist yet. Printed by `validate` (errors with
    /// `--strict`) and logged at start-up, each naming its key path.
    fn warnings(&self) -> Vec<String> {
        vec![]
    }
    fn create(
        &self,
        id: &ComponentId,
        pipeline: &str,
        next: AnyConsumer,
        host: &Host,
    ) -> Result<AnyConsumer, StartError>;
}

pub trait ProcessorFactory: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn signals(&self) -> &'static [SignalKind];
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedProcessor>>;
}

/// An exporter whose config has been parsed; `create` is called once per signal it is used with, and
/// that one instance is fed by every pipeline of that signal (fan-in).
pub trait PreparedExporter: Send + Sync {
    /// Problems that do not stop the config from loading but that the user must hear about: a key
    /// accepted and ignored, a file that does not exist yet. Printed by `validate` (errors with
    /// `--strict`) and logged at start-up, each naming its key path.
    fn warnings(&self) -> Vec<String> {
        vec![]
    }
    /// Whether this configuration can serve `signal`, checked for every pipeline it is used in
    /// (otelcol's `validate` builds the pipelines and fails such a config: e.g. `otlp_http` with only
    /// `traces_endpoint` in a logs pipeline). `Err` is the message, without the key path.
    fn check_signal(&self, _signal: SignalKind) -> Result<(), String> {
        Ok(())
    }
    fn create(
        &self,
        id: &ComponentId,
        signal: SignalKind,
        host: &Host,
    ) -> Result<AnyConsumer, StartError>;
    /// As [`PreparedExporter::create`], plus a handle through which a reload may change the running
    /// instance in place (see [`Reconfigure`]). Most exporters have none: a changed config rebuilds them.
    fn create_reconfigurable(
        &self,
        id: &ComponentId,
        signal: SignalKind,
        host: &Host,
    ) -> Result<(AnyConsumer, Option<Arc<dyn Reconfigure>>), StartError> {
        self.create(id, signal, host).map(|c| (c, None))
    }
}

/// A running exporter instance that can take some config changes without being rebuilt (the
/// `loadbalancing` exporter's `resolver.static.hostnames`), so that what it queued is kept.
///
/// A reload calls `accepts` while it plans, before anything changes, and `apply` only once the whole
/// reload has succeeded; `new` has been validated by the exporter's factory.
pub trait Reconfigure: Send + Sync {
    /// Whether the change from `old` to `new` (this exporter's config) can be applied in place.
    fn accepts(&self, old: &Value, new: &Value) -> bool;
    fn apply(&self, new: &Value);
}

pub trait ExporterFactory: Send + Sync {
    fn type_name(&self) -> &'static str;
    /// Older names that still work (`otlp` for `otlp_grpc`).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    fn signals(&self) -> &'static [SignalKind];
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExporter>>;
}

pub trait PreparedExtension: Send + Sync {
    /// Problems that do not stop the config from loading but that the user must hear about: a key
    /// accepted and ignored, a file that does not exist yet. Printed by `validate` (errors with
    /// `--strict`) and logged at start-up, each naming its key path.
    fn warnings(&self) -> Vec<String> {
        vec![]
    }
    fn endpoints(&self) -> Vec<String> {
        vec![]
    }
    fn create(&self, id: &ComponentId) -> Result<Arc<dyn Extension>, StartError>;
}

pub trait ExtensionFactory: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExtension>>;
}

/// A connector whose config has been parsed and validated: an exporter at the end of one pipeline and
/// a receiver at the start of others (otelcol's connectors).
///
/// Lifecycle: `create` is called once per (exporter-side signal, receiver-side signal) pair the
/// configuration uses, after the pipelines it feeds are built and before the pipelines that feed it
/// are. The returned consumer is fed by every pipeline of signal `from` that lists the connector
/// under `exporters` (fan-in). Its `shutdown` is called after every upstream pipeline has flushed
/// and before any downstream pipeline is: it passes on what it holds, and must not shut down `next`
/// (the service does that, in order).
pub trait PreparedConnector: Send + Sync {
    /// Problems that do not stop the config from loading but that the user must hear about, each
    /// naming its key path (see [`PreparedReceiver::warnings`]).
    fn warnings(&self) -> Vec<String> {
        vec![]
    }
    /// Checks the config against the wiring, for a connector fed by `from` pipelines and feeding the
    /// `to` pipelines listed in `downstream` (e.g. `routing`'s pipeline names must be among them).
    /// `path` is the connector's key path (`connectors::routing`).
    fn check_wiring(
        &self,
        _path: &str,
        _from: SignalKind,
        _to: SignalKind,
        _downstream: &[PipelineId],
    ) -> Vec<ConfigError> {
        vec![]
    }
    /// Builds the connector for `from` → `to`. `next` holds the entry of every pipeline of signal
    /// `to` that lists this connector under `receivers`, by pipeline id; each carries `to`. The
    /// result must carry `from`.
    fn create(
        &self,
        id: &ComponentId,
        from: SignalKind,
        to: SignalKind,
        next: Vec<(PipelineId, AnyConsumer)>,
        host: &Host,
    ) -> Result<AnyConsumer, StartError>;
}

pub trait ConnectorFactory: Send + Sync {
    fn type_name(&self) -> &'static str;
    /// The (exporter pipeline signal, receiver pipeline signal) pairs it connects, as otelcol's
    /// "Supported Pipeline Types" table lists them.
    fn signal_pairs(&self) -> &'static [(SignalKind, SignalKind)];
    /// Parses and validates the config; `path` is its key path (`connectors::routing`).
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedConnector>>;
}

/// Every signal to itself: the pairs of a connector that passes data on unchanged in kind.
pub const SAME_SIGNAL: &[(SignalKind, SignalKind)] = &[
    (SignalKind::Traces, SignalKind::Traces),
    (SignalKind::Metrics, SignalKind::Metrics),
    (SignalKind::Logs, SignalKind::Logs),
];

/// Every known component factory, by kind.
pub struct Registry {
    pub receivers: Vec<Box<dyn ReceiverFactory>>,
    pub processors: Vec<Box<dyn ProcessorFactory>>,
    pub exporters: Vec<Box<dyn ExporterFactory>>,
    pub extensions: Vec<Box<dyn ExtensionFactory>>,
    pub connectors: Vec<Box<dyn ConnectorFactory>>,
}
