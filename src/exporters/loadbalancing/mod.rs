//! The `loadbalancing` exporter: routes each span, metric or log record by a key (trace id by
//! default) over a consistent hash ring of backends, each an OTLP/gRPC exporter built from
//! `protocol.otlp` with its endpoint replaced. The backend list comes from a resolver (`static`,
//! `dns`, `k8s`) and changes in place: new backends are added, removed ones finish what they are
//! sending and are then shut down; a batch a backend could not take fails the attempt, and the
//! top-level `retry_on_failure` routes it again through the ring as it is then.
//!
//! Spans and log records are split on the encoded request ([`split_by_key`], with
//! `signal::split`): each backend's request is built from the byte ranges of its items and of their
//! resource and scope messages; only what the key needs is read or decoded. Metrics are routed on
//! decoded data.
//!
//! The backend protocol is injected by the registry (`Factory::new(otlp_grpc factory)`), so this
//! component does not import another one.

mod decoded;
mod dns;
pub mod resolver;
pub mod ring;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric, Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{
    ConfigResult, ExporterFactory, Host, PreparedExporter, Reconfigure, StartError,
};
use crate::config::{duration, ComponentId, ConfigError};
use crate::exporters::helper::settings::default_timeout;
use crate::exporters::helper::{self, Accepted, ExportError, QueueSettings, RetrySettings, Sender};
use crate::pipeline::{AnyConsumer, SignalConsumer};
use crate::signal::split::{self, Route};
use crate::signal::{Batch, DecodeError, Logs, Metrics, Signal, SignalKind, Traces};
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

/// Spans and log records: what routing reads from an encoded item.
trait Routed: Signal {
    type Item: Message + Default;
    /// The item's `trace_id` field.
    const TRACE_ID: u32;
    /// The item's `attributes` field.
    const ATTRIBUTES: u32;
    /// Whether a resource routed by `service` or `resource` goes whole, empty scopes included (spans,
    /// as otelcol's traces exporter), or record by record (logs, where otelcol keys each record).
    const WHOLE_RESOURCES: bool;
    fn attributes(item: &Self::Item) -> &[KeyValue];
}

impl Routed for Traces {
    type Item = Span;
    const TRACE_ID: u32 = 1;
    const ATTRIBUTES: u32 = 9;
    const WHOLE_RESOURCES: bool = true;
    fn attributes(item: &Span) -> &[KeyValue] {
        &item.attributes
    }
}

impl Routed for Logs {
    type Item = LogRecord;
    const TRACE_ID: u32 = 9;
    const ATTRIBUTES: u32 = 6;
    const WHOLE_RESOURCES: bool = false;
    fn attributes(item: &LogRecord) -> &[KeyValue] {
        &item.attributes
    }
}

/// Picks the ring position of each resource or item of an encoded request: the trace id is read in
/// place; for `service`/`resource` only the resource is decoded; for `attributes` the resource and
/// each item's attributes (nothing else of the item).
struct KeyRouter<'a, S: Routed> {
    ring: &'a Ring,
    key: RoutingKey,
    attributes: &'a [String],
    resource_attrs: Vec<KeyValue>,
    /// The destination of every item of the current resource, when the key is the resource's.
    resource_dest: Option<usize>,
    item: S::Item,
}

impl<S: Routed> split::Router for KeyRouter<'_, S> {
    type Error = DecodeError;

    fn resource(&mut self, msg: &split::Container<'_>) -> Result<Route, DecodeError> {
        self.resource_dest = None;
        if self.key == RoutingKey::TraceId {
            return Ok(Route::PerItem);
        }
        self.resource_attrs = msg
            .head::<Resource>()?
            .map(|r| r.attributes)
            .unwrap_or_default();
        let rattrs = &self.resource_attrs;
        let key = match self.key {
            RoutingKey::Service => attr_str(rattrs, "service.name")
                .unwrap_or_default()
                .into_bytes(),
            RoutingKey::Resource => attrs_key(rattrs),
            _ => return Ok(Route::PerItem),
        };
        let d = self.ring.index_for(&key).unwrap_or_default();
        if S::WHOLE_RESOURCES {
            return Ok(Route::Whole(d));
        }
        self.resource_dest = Some(d);
        Ok(Route::PerItem)
    }

    fn scope(&mut self, _: &split::Container<'_>) -> Result<bool, DecodeError> {
        Ok(true)
    }

    fn item(&mut self, item: &[u8]) -> Result<Option<usize>, DecodeError> {
        if let Some(d) = self.resource_dest {
            return Ok(Some(d));
        }
        let d = if self.key == RoutingKey::Attributes {
            self.item = S::Item::default();
            split::merge_fields(&mut self.item, item, &|t| t == S::ATTRIBUTES)?;
            let attrs = S::attributes(&self.item);
            let key: Vec<u8> = self
                .attributes
                .iter()
                .flat_map(|a| {
                    attr_str(attrs, a)
                        .or_else(|| attr_str(&self.resource_attrs, a))
                        .unwrap_or_default()
                        .into_bytes()
                })
                .collect();
            self.ring.index_for(&key)
        } else {
            self.ring
                .index_for(split::last_bytes_field(item, S::TRACE_ID)?)
        };
        Ok(Some(d.unwrap_or_default()))
    }
}

/// `batch` split by `key` between the endpoints of `ring`, working on the encoded request (a decoded
/// batch is encoded once first): each part holds the resource and scope fields of its items as they
/// were, and the items' bytes.
fn split_by_key<S: Routed>(
    batch: &Batch<S>,
    ring: &Ring,
    key: RoutingKey,
    attributes: &[String],
) -> Result<Vec<(String, Batch<S>)>, DecodeError> {
    let mut router = KeyRouter::<S> {
        ring,
        key,
        attributes,
        resource_attrs: Vec::new(),
        resource_dest: None,
        item: S::Item::default(),
    };
    let mut parts = Vec::new();
    for segment in batch.encoded_segments() {
        split::split(&segment, &mut router, &mut parts)?;
    }
    Ok(parts
        .into_iter()
        .enumerate()
        .filter(|(_, p)| !p.bytes.is_empty())
        .map(|(i, p)| {
            let ep = ring.endpoints.get(i).cloned().unwrap_or_default();
            let part = Batch::<S>::from_own_encoding(Bytes::from(p.bytes), p.items)
                .with_metadata(batch.metadata.clone());
            (ep, part)
        })
        .collect())
}

/// The split of a batch of spans by trace id over `endpoints`, each part encoded as a backend sends
/// it: on the encoded request as the exporter does, or (`decoded`) as it did before, on decoded
/// resources. For `benches/processors.rs`.
#[doc(hidden)]
pub fn bench_split_by_trace_id(
    batch: &Batch<Traces>,
    endpoints: &[String],
    decoded: bool,
) -> Vec<(String, Bytes)> {
    let ring = Ring::new(endpoints);
    if !decoded {
        return split_by_key(batch, &ring, RoutingKey::TraceId, &[])
            .unwrap_or_default()
            .into_iter()
            .map(|(ep, part)| (ep, part.encode_to_bytes()))
            .collect();
    }
    let mut batch = batch.clone();
    let Ok(resources) = batch.resources() else {
        return Vec::new();
    };
    decoded::decoded_traces(resources, &ring, RoutingKey::TraceId, &[])
        .into_iter()
        .map(|(ep, res)| (ep, Batch::<Traces>::from_resources(res).encode_to_bytes()))
        .collect()
}

/// Routing on decoded resources (metrics): `route(resource attrs, item)` gives each item's key.
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
        parts: Vec<(String, Batch<S>)>,
        backends: &BTreeMap<String, AnyConsumer>,
    ) -> Result<Accepted, ExportError> {
        let sends = parts.into_iter().map(|(ep, part)| {
            let consumer = backends.get(&ep).and_then(AnyConsumer::typed::<S>);
            let id = self.0.id.clone();
            async move {
                let Some(c) = consumer else {
                    return Err(ExportError::retryable(
                        format!("backend {ep} is gone"),
                        None,
                    ));
                };
                let started = std::time::Instant::now();
                let r = c.consume(part).await;
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

    /// Spans and log records: split on the encoded request (see [`split_by_key`]).
    async fn send_routed<S: Routed + SignalConsumer>(
        &self,
        batch: &Batch<S>,
    ) -> Result<Accepted, ExportError> {
        let b = &self.0;
        let (ring, backends) = b.snapshot();
        if ring.endpoints.is_empty() {
            return Err(no_backends());
        }
        let parts = split_by_key(batch, &ring, b.key, &b.attributes)
            .map_err(|e| ExportError::permanent(e.to_string()))?;
        self.send_parts(parts, &backends).await
    }
}

fn no_backends() -> ExportError {
    ExportError::retryable("loadbalancing: no backends resolved yet", None)
}

#[async_trait]
impl Sender<Traces> for LbSender {
    async fn send(&self, batch: &Batch<Traces>) -> Result<Accepted, ExportError> {
        self.send_routed(batch).await
    }
}

#[async_trait]
impl Sender<Logs> for LbSender {
    async fn send(&self, batch: &Batch<Logs>) -> Result<Accepted, ExportError> {
        self.send_routed(batch).await
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
        let parts = parts
            .by_backend
            .into_iter()
            .map(|(ep, res)| {
                let part = Batch::<Metrics>::from_resources(res).with_metadata(metadata.clone());
                (ep, part)
            })
            .collect();
        self.send_parts::<Metrics>(parts, &backends).await
    }
}

#[cfg(test)]
mod tests;
