//! The `loadbalancing` exporter: routes each span, metric or log record by a key (trace id by
//! default) over a consistent hash ring of backends, each an OTLP/gRPC exporter built from
//! `protocol.otlp` with its endpoint replaced. The backend list comes from a resolver (`static`,
//! `dns`, `k8s`) and changes in place: new backends are added, removed ones finish what they are
//! sending and are then shut down; a batch a backend could not take fails the attempt, and the
//! top-level `retry_on_failure` routes it again through the ring as it is then.
//!
//! The backend protocol is injected by the registry (`Factory::new(otlp_grpc factory)`), so this
//! component does not import another one.

mod dns;
pub mod resolver;
pub mod ring;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{metric, Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{
    ConfigResult, ExporterFactory, Host, PreparedExporter, Reconfigure, StartError,
};
use crate::config::{duration, ComponentId, ConfigError};
use crate::exporters::helper::settings::default_timeout;
use crate::exporters::helper::{self, Accepted, ExportError, QueueSettings, RetrySettings, Sender};
use crate::pipeline::{AnyConsumer, SignalConsumer};
use crate::signal::{Batch, Logs, Metrics, SignalKind, Traces};
use crate::telemetry::events;
use resolver::ResolverConfig;
use ring::Ring;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub routing_key: String,
    #[serde(default)]
    pub routing_attributes: Vec<String>,
    pub protocol: Protocol,
    pub resolver: ResolverConfig,
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
    #[serde(default)]
    pub sending_queue: QueueSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    #[serde(default)]
    pub otlp: Value,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RoutingKey {
    TraceId,
    Service,
    Resource,
    Metric,
    StreamId,
    Attributes,
}

/// The `loadbalancing` factory; `backend` builds one exporter per backend (otelcol: OTLP/gRPC only).
pub struct Factory {
    backend: Arc<dyn ExporterFactory>,
}

impl Factory {
    pub fn new(backend: impl ExporterFactory + 'static) -> Self {
        Factory {
            backend: Arc::new(backend),
        }
    }
}

struct Prepared {
    cfg: Config,
    key: RoutingKey,
    backend: Arc<dyn ExporterFactory>,
    path: String,
}

/// `protocol.otlp` with the endpoint of one backend; per-backend queue and retry are off unless set,
/// so that a failure comes back to the top-level retry, which routes again.
fn backend_config(otlp: &Value, endpoint: &str) -> Value {
    let mut m = match otlp {
        Value::Mapping(m) => m.clone(),
        _ => serde_yaml::Mapping::new(),
    };
    m.insert("endpoint".into(), endpoint.into());
    for key in ["sending_queue", "retry_on_failure"] {
        if !m.contains_key(key) {
            let mut off = serde_yaml::Mapping::new();
            off.insert("enabled".into(), false.into());
            m.insert(key.into(), Value::Mapping(off));
        }
    }
    Value::Mapping(m)
}

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        "loadbalancing"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExporter>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let key = match c.routing_key.as_str() {
            "" | "traceID" => RoutingKey::TraceId,
            "service" => RoutingKey::Service,
            "resource" => RoutingKey::Resource,
            "metric" => RoutingKey::Metric,
            "streamID" => RoutingKey::StreamId,
            "attributes" => RoutingKey::Attributes,
            other => {
                errors.push(ConfigError::new(
                    format!("{path}::routing_key"),
                    format!("unsupported routing_key {other:?} (traceID, service, resource, metric, streamID, attributes)"),
                ));
                RoutingKey::TraceId
            }
        };
        if key == RoutingKey::Attributes && c.routing_attributes.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::routing_attributes"),
                "routing_key \"attributes\" needs at least one routing attribute",
            ));
        }
        c.resolver
            .validate(&format!("{path}::resolver"), &mut errors);
        c.retry_on_failure.validate(path, &mut errors);
        c.sending_queue.validate(path, &mut errors);
        // The backend config must be valid with any endpoint.
        if let Err(e) = self.backend.prepare(
            &backend_config(&c.protocol.otlp, "localhost:4317"),
            &format!("{path}::protocol::otlp"),
        ) {
            errors.extend(e.into_iter().filter(|e| !e.path.ends_with("::endpoint")));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(Prepared {
            cfg: c,
            key,
            backend: self.backend.clone(),
            path: path.to_string(),
        }))
    }
}

impl PreparedExporter for Prepared {
    fn create(
        &self,
        id: &ComponentId,
        signal: SignalKind,
        host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        self.create_reconfigurable(id, signal, host).map(|(c, _)| c)
    }

    /// The handle is the balancer: a reload that changes only `resolver.static.hostnames` applies the
    /// new list in place, as a DNS or k8s change is, so nothing queued is dropped.
    fn create_reconfigurable(
        &self,
        id: &ComponentId,
        signal: SignalKind,
        host: &Host,
    ) -> Result<(AnyConsumer, Option<Arc<dyn Reconfigure>>), StartError> {
        let key = match (signal, self.key) {
            (
                SignalKind::Traces,
                k @ (RoutingKey::TraceId
                | RoutingKey::Service
                | RoutingKey::Resource
                | RoutingKey::Attributes),
            ) => k,
            (SignalKind::Metrics, RoutingKey::TraceId) => RoutingKey::Service,
            (SignalKind::Metrics, k) => k,
            (
                SignalKind::Logs,
                k @ (RoutingKey::TraceId
                | RoutingKey::Service
                | RoutingKey::Resource
                | RoutingKey::Attributes),
            ) => k,
            (s, k) => {
                return Err(StartError::new(
                    format!("exporters::{id}::routing_key"),
                    format!("routing_key {k:?} is not supported for {s}"),
                ))
            }
        };
        let balancer = Arc::new(Balancer {
            id: id.to_string(),
            signal,
            key,
            attributes: self.cfg.routing_attributes.clone(),
            otlp: self.cfg.protocol.otlp.clone(),
            backend: self.backend.clone(),
            host: host.clone(),
            path: self.path.clone(),
            state: RwLock::new(State::default()),
        });
        // The first resolution happens here, so a static list is routable before data arrives.
        let resolver = self.cfg.resolver.clone();
        if let Some(eps) = resolver.static_endpoints() {
            balancer.set_backends(&eps);
            events::loadbalancer_num_resolutions(&id.to_string(), "static", true);
        } else {
            let weak = Arc::downgrade(&balancer);
            let id = id.to_string();
            tokio::spawn(async move { resolver.run(id, weak).await });
        }
        let exporter = helper::for_signal(
            signal,
            id,
            LbSender(balancer.clone()),
            self.cfg.timeout,
            &self.cfg.retry_on_failure,
            &self.cfg.sending_queue,
            host,
        )?;
        Ok((exporter, Some(balancer)))
    }
}

/// `cfg` without `resolver.static.hostnames`, and whether it had a static resolver.
fn without_static_hostnames(cfg: &Value) -> (Value, bool) {
    let mut cfg = cfg.clone();
    let hostnames = cfg
        .get_mut("resolver")
        .and_then(|r| r.get_mut("static"))
        .and_then(Value::as_mapping_mut)
        .and_then(|m| m.remove("hostnames"));
    (cfg, hostnames.is_some())
}

impl Reconfigure for Balancer {
    fn accepts(&self, old: &Value, new: &Value) -> bool {
        let (old, was_static) = without_static_hostnames(old);
        let (new, is_static) = without_static_hostnames(new);
        was_static && is_static && old == new
    }

    fn apply(&self, new: &Value) {
        match crate::config::parse::<Config>(new, &self.path) {
            Ok(cfg) => {
                if let Some(eps) = cfg.resolver.static_endpoints() {
                    self.set_backends(&eps);
                    events::loadbalancer_num_resolutions(&self.id, "static", true);
                }
            }
            // Validated by the factory before the reload began; kept for robustness.
            Err(e) => {
                tracing::error!(exporter = %self.id, error = %e, "cannot apply the new backend list")
            }
        }
    }
}

#[derive(Default)]
struct State {
    ring: Arc<Ring>,
    backends: BTreeMap<String, AnyConsumer>,
}

/// The ring and the backend exporters, replaced in place when the resolver reports a change.
pub struct Balancer {
    id: String,
    signal: SignalKind,
    key: RoutingKey,
    attributes: Vec<String>,
    otlp: Value,
    backend: Arc<dyn ExporterFactory>,
    host: Host,
    path: String,
    state: RwLock<State>,
}

impl Balancer {
    /// Applies a resolved backend list: builds exporters for new endpoints, swaps the ring, then
    /// drains and shuts down the exporters of removed ones (what they still hold is sent to them,
    /// what they cannot send fails back to the top-level retry, which routes it on the new ring).
    pub fn set_backends(&self, endpoints: &[String]) {
        let ring = Ring::new(endpoints);
        let mut removed = Vec::new();
        {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            if st.ring.endpoints == ring.endpoints {
                return;
            }
            for ep in &ring.endpoints {
                if st.backends.contains_key(ep) {
                    continue;
                }
                match self.build_backend(ep) {
                    Ok(c) => {
                        st.backends.insert(ep.clone(), c);
                    }
                    Err(e) => {
                        tracing::error!(exporter = %self.id, endpoint = %ep, error = %e, "cannot build backend exporter")
                    }
                }
            }
            let keep: Vec<String> = st
                .backends
                .keys()
                .filter(|k| !ring.endpoints.contains(k))
                .cloned()
                .collect();
            for k in keep {
                if let Some(c) = st.backends.remove(&k) {
                    removed.push((k, c));
                }
            }
            st.ring = Arc::new(ring);
            events::loadbalancer_num_backends(&self.id, st.backends.len());
            tracing::info!(exporter = %self.id, backends = ?st.ring.endpoints, "loadbalancing: backend list changed");
        }
        for (ep, c) in removed {
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                c.shutdown(deadline).await;
                tracing::debug!(endpoint = %ep, "loadbalancing: removed backend drained");
            });
        }
    }

    fn build_backend(&self, endpoint: &str) -> Result<AnyConsumer, String> {
        let cfg = backend_config(&self.otlp, endpoint);
        let prepared = self
            .backend
            .prepare(&cfg, &format!("{}::protocol::otlp", self.path))
            .map_err(|e| {
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        let id = ComponentId {
            kind: self.backend.type_name().to_string(),
            name: Some(format!("{}_{endpoint}", self.id.replace('/', "_"))),
        };
        prepared
            .create(&id, self.signal, &self.host)
            .map_err(|e| e.to_string())
    }

    fn snapshot(&self) -> (Arc<Ring>, BTreeMap<String, AnyConsumer>) {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        (st.ring.clone(), st.backends.clone())
    }
}

fn attr_str(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(V::StringValue(s)) => s.clone(),
            _ => crate::processors::attraction::value::as_string(kv.value.as_ref()),
        }
    })
}

fn attrs_key(attrs: &[KeyValue]) -> Vec<u8> {
    let mut pairs: Vec<(String, String)> = attrs
        .iter()
        .map(|kv| (kv.key.clone(), attr_str(attrs, &kv.key).unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs
        .into_iter()
        .flat_map(|(k, v)| format!("{k}={v};").into_bytes())
        .collect()
}

/// Routing on decoded resources: `route(resource attrs, item)` gives each item's key.
struct Parts<R> {
    by_backend: BTreeMap<String, Vec<R>>,
}

impl<R> Parts<R> {
    fn new() -> Self {
        Parts {
            by_backend: BTreeMap::new(),
        }
    }
}

struct LbSender(Arc<Balancer>);

impl LbSender {
    async fn send_parts<S: SignalConsumer>(
        &self,
        parts: BTreeMap<String, Vec<S::Resource>>,
        backends: &BTreeMap<String, AnyConsumer>,
        metadata: Option<Arc<crate::signal::ClientMetadata>>,
    ) -> Result<Accepted, ExportError> {
        let sends = parts.into_iter().map(|(ep, res)| {
            let consumer = backends.get(&ep).and_then(AnyConsumer::typed::<S>);
            let metadata = metadata.clone();
            let id = self.0.id.clone();
            async move {
                let Some(c) = consumer else {
                    return Err(ExportError::retryable(
                        format!("backend {ep} is gone"),
                        None,
                    ));
                };
                let started = std::time::Instant::now();
                let r = c
                    .consume(Batch::<S>::from_resources(res).with_metadata(metadata))
                    .await;
                events::loadbalancer_backend_outcome(&id, &ep, r.is_ok(), started.elapsed());
                r.map_err(|e| {
                    // A connection broken mid-request reaches us as a permanent "gRPC Unknown:
                    // transport error" from the otlp_grpc classification; the data never reached a
                    // decision at the backend, so route it again (otelcol sees Unavailable here).
                    if e.is_retryable() || e.to_string().contains("transport error") {
                        ExportError::retryable(format!("backend {ep}: {e}"), e.retry_after())
                    } else {
                        ExportError::permanent(format!("backend {ep}: {e}"))
                    }
                })
            }
        });
        let results = futures::future::join_all(sends).await;
        results
            .into_iter()
            .find(Result::is_err)
            .unwrap_or(Ok(()))
            .map(|()| Accepted::ALL)
    }
}

fn no_backends() -> ExportError {
    ExportError::retryable("loadbalancing: no backends resolved yet", None)
}

#[async_trait]
impl Sender<Traces> for LbSender {
    async fn send(&self, batch: &Batch<Traces>) -> Result<Accepted, ExportError> {
        let b = &self.0;
        let (ring, backends) = b.snapshot();
        if ring.endpoints.is_empty() {
            return Err(no_backends());
        }
        let mut batch = batch.clone();
        let metadata = batch.metadata.clone();
        let resources = batch
            .resources()
            .map_err(|e| ExportError::permanent(e.to_string()))?;
        let mut parts: Parts<ResourceSpans> = Parts::new();
        for rs in resources {
            let rattrs = rs
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]);
            let whole_key = match b.key {
                RoutingKey::Service => Some(
                    attr_str(rattrs, "service.name")
                        .unwrap_or_default()
                        .into_bytes(),
                ),
                RoutingKey::Resource => Some(attrs_key(rattrs)),
                _ => None,
            };
            if let Some(k) = whole_key {
                let ep = ring.endpoint_for(&k).unwrap_or_default().to_string();
                parts.by_backend.entry(ep).or_default().push(rs.clone());
                continue;
            }
            // Per span: fragments of this resource per backend.
            let mut frags: BTreeMap<String, ResourceSpans> = BTreeMap::new();
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let k: Vec<u8> = if b.key == RoutingKey::Attributes {
                        b.attributes
                            .iter()
                            .flat_map(|a| {
                                attr_str(&span.attributes, a)
                                    .or_else(|| attr_str(rattrs, a))
                                    .unwrap_or_default()
                                    .into_bytes()
                            })
                            .collect()
                    } else {
                        span.trace_id.clone()
                    };
                    let ep = ring.endpoint_for(&k).unwrap_or_default().to_string();
                    let f = frags.entry(ep).or_insert_with(|| ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: vec![],
                        schema_url: rs.schema_url.clone(),
                    });
                    if f.scope_spans.last().is_none_or(|l| l.scope != ss.scope) {
                        f.scope_spans.push(ScopeSpans {
                            scope: ss.scope.clone(),
                            spans: vec![],
                            schema_url: ss.schema_url.clone(),
                        });
                    }
                    if let Some(l) = f.scope_spans.last_mut() {
                        l.spans.push(span.clone());
                    }
                }
            }
            for (ep, f) in frags {
                parts.by_backend.entry(ep).or_default().push(f);
            }
        }
        self.send_parts::<Traces>(parts.by_backend, &backends, metadata)
            .await
    }
}

#[async_trait]
impl Sender<Logs> for LbSender {
    async fn send(&self, batch: &Batch<Logs>) -> Result<Accepted, ExportError> {
        let b = &self.0;
        let (ring, backends) = b.snapshot();
        if ring.endpoints.is_empty() {
            return Err(no_backends());
        }
        let mut batch = batch.clone();
        let metadata = batch.metadata.clone();
        let resources = batch
            .resources()
            .map_err(|e| ExportError::permanent(e.to_string()))?;
        let mut parts: Parts<ResourceLogs> = Parts::new();
        for rl in resources {
            let rattrs = rl
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]);
            let mut frags: BTreeMap<String, ResourceLogs> = BTreeMap::new();
            for sl in &rl.scope_logs {
                for rec in &sl.log_records {
                    let k: Vec<u8> = match b.key {
                        RoutingKey::Service => attr_str(rattrs, "service.name")
                            .unwrap_or_default()
                            .into_bytes(),
                        RoutingKey::Resource => attrs_key(rattrs),
                        RoutingKey::Attributes => b
                            .attributes
                            .iter()
                            .flat_map(|a| {
                                attr_str(&rec.attributes, a)
                                    .or_else(|| attr_str(rattrs, a))
                                    .unwrap_or_default()
                                    .into_bytes()
                            })
                            .collect(),
                        _ => rec.trace_id.clone(),
                    };
                    let ep = ring.endpoint_for(&k).unwrap_or_default().to_string();
                    let f = frags.entry(ep).or_insert_with(|| ResourceLogs {
                        resource: rl.resource.clone(),
                        scope_logs: vec![],
                        schema_url: rl.schema_url.clone(),
                    });
                    if f.scope_logs.last().is_none_or(|l| l.scope != sl.scope) {
                        f.scope_logs.push(ScopeLogs {
                            scope: sl.scope.clone(),
                            log_records: vec![],
                            schema_url: sl.schema_url.clone(),
                        });
                    }
                    if let Some(l) = f.scope_logs.last_mut() {
                        l.log_records.push(rec.clone());
                    }
                }
            }
            for (ep, f) in frags {
                parts.by_backend.entry(ep).or_default().push(f);
            }
        }
        self.send_parts::<Logs>(parts.by_backend, &backends, metadata)
            .await
    }
}

/// The attributes of a metric's data points, for `streamID`.
fn point_attrs(m: &Metric) -> Vec<Vec<KeyValue>> {
    match &m.data {
        Some(metric::Data::Gauge(g)) => {
            g.data_points.iter().map(|p| p.attributes.clone()).collect()
        }
        Some(metric::Data::Sum(s)) => s.data_points.iter().map(|p| p.attributes.clone()).collect(),
        Some(metric::Data::Histogram(h)) => {
            h.data_points.iter().map(|p| p.attributes.clone()).collect()
        }
        Some(metric::Data::ExponentialHistogram(h)) => {
            h.data_points.iter().map(|p| p.attributes.clone()).collect()
        }
        Some(metric::Data::Summary(s)) => {
            s.data_points.iter().map(|p| p.attributes.clone()).collect()
        }
        None => vec![],
    }
}

#[async_trait]
impl Sender<Metrics> for LbSender {
    async fn send(&self, batch: &Batch<Metrics>) -> Result<Accepted, ExportError> {
        let b = &self.0;
        let (ring, backends) = b.snapshot();
        if ring.endpoints.is_empty() {
            return Err(no_backends());
        }
        let mut batch = batch.clone();
        let metadata = batch.metadata.clone();
        let resources = batch
            .resources()
            .map_err(|e| ExportError::permanent(e.to_string()))?;
        let mut parts: Parts<ResourceMetrics> = Parts::new();
        for rm in resources {
            let rattrs = rm
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]);
            let whole_key = match b.key {
                RoutingKey::Service => Some(
                    attr_str(rattrs, "service.name")
                        .unwrap_or_default()
                        .into_bytes(),
                ),
                RoutingKey::Resource => Some(attrs_key(rattrs)),
                _ => None,
            };
            if let Some(k) = whole_key {
                let ep = ring.endpoint_for(&k).unwrap_or_default().to_string();
                parts.by_backend.entry(ep).or_default().push(rm.clone());
                continue;
            }
            // Per metric (metric name) or per stream (resource + scope + metric + point attributes).
            let mut frags: BTreeMap<String, ResourceMetrics> = BTreeMap::new();
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let keys: Vec<Vec<u8>> = match b.key {
                        RoutingKey::StreamId => point_attrs(m)
                            .iter()
                            .map(|pa| {
                                let mut k = attrs_key(rattrs);
                                k.extend(
                                    sm.scope
                                        .as_ref()
                                        .map(|s| s.name.as_bytes().to_vec())
                                        .unwrap_or_default(),
                                );
                                k.extend(m.name.as_bytes());
                                k.extend(attrs_key(pa));
                                k
                            })
                            .collect(),
                        RoutingKey::Attributes => vec![b
                            .attributes
                            .iter()
                            .flat_map(|a| attr_str(rattrs, a).unwrap_or_default().into_bytes())
                            .collect()],
                        _ => vec![m.name.as_bytes().to_vec()],
                    };
                    // A metric whose streams go to different backends is sent whole to the first
                    // stream's backend (ferrotel does not split a metric's points).
                    let k = keys
                        .into_iter()
                        .next()
                        .unwrap_or_else(|| m.name.as_bytes().to_vec());
                    let ep = ring.endpoint_for(&k).unwrap_or_default().to_string();
                    let f = frags.entry(ep).or_insert_with(|| ResourceMetrics {
                        resource: rm.resource.clone(),
                        scope_metrics: vec![],
                        schema_url: rm.schema_url.clone(),
                    });
                    if f.scope_metrics.last().is_none_or(|l| l.scope != sm.scope) {
                        f.scope_metrics.push(ScopeMetrics {
                            scope: sm.scope.clone(),
                            metrics: vec![],
                            schema_url: sm.schema_url.clone(),
                        });
                    }
                    if let Some(l) = f.scope_metrics.last_mut() {
                        l.metrics.push(m.clone());
                    }
                }
            }
            for (ep, f) in frags {
                parts.by_backend.entry(ep).or_default().push(f);
            }
        }
        self.send_parts::<Metrics>(parts.by_backend, &backends, metadata)
            .await
    }
}

#[cfg(test)]
mod tests;
