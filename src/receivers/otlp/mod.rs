//! The `otlp` receiver: OTLP over gRPC and over HTTP (protobuf and JSON), as otelcol's.

pub mod config;
mod grpc;
pub mod http;
mod listener;

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use serde_yaml::Value;

use crate::extensions::auth::ServerAuthenticator;

use self::config::OtlpReceiverConfig;
use crate::component::{
    ConfigResult, Host, PreparedReceiver, Receiver, ReceiverFactory, StartError,
};
use crate::config::{ComponentId, ConfigError};
use crate::pipeline::{AnyConsumer, ConsumeError, Consumer, SignalConsumer};
use crate::signal::{Batch, ClientMetadata, Signal, SignalKind};
use crate::telemetry::events;

pub struct Factory;

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        "otlp"
    }

    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }

    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedReceiver>> {
        let mut c: OtlpReceiverConfig = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        c.path = path.to_string();
        let mut errors = Vec::new();
        if c.protocols.grpc.is_none() && c.protocols.http.is_none() {
            errors.push(ConfigError::new(
                format!("{path}::protocols"),
                "must specify at least one protocol when using the OTLP receiver (grpc, http)",
            ));
        }
        if let Some(g) = &c.protocols.grpc {
            let p = format!("{path}::protocols::grpc");
            check_transport(&g.transport, &g.endpoint, &p, &mut errors);
            if let Some(t) = &g.tls {
                t.validate(&format!("{p}::tls"), &mut errors);
            }
            if let Some(a) = &g.auth {
                a.validate(&format!("{p}::auth"), &mut errors);
            }
        }
        if let Some(h) = &mut c.protocols.http {
            let p = format!("{path}::protocols::http");
            check_transport(&h.transport, &h.endpoint, &p, &mut errors);
            for (key, url) in [
                ("traces_url_path", &h.traces_url_path),
                ("metrics_url_path", &h.metrics_url_path),
                ("logs_url_path", &h.logs_url_path),
            ] {
                if let Err(e) = check_url_path(url) {
                    errors.push(ConfigError::new(format!("{p}::{key}"), e));
                }
            }
            if let Some(t) = &h.tls {
                t.validate(&format!("{p}::tls"), &mut errors);
            }
            if let Some(a) = &h.auth {
                a.validate(&format!("{p}::auth"), &mut errors);
            }
            for url in [
                &mut h.traces_url_path,
                &mut h.metrics_url_path,
                &mut h.logs_url_path,
            ] {
                if !url.starts_with('/') {
                    url.insert(0, '/');
                }
            }
            if let Some(cors) = &h.cors {
                if cors.allowed_origins.iter().any(|o| o == "*") {
                    errors.push(ConfigError::new(
                        format!("{p}::cors::allowed_origins"),
                        "a bare \"*\" is not allowed; list the origins, wildcards such as https://*.example.com are allowed",
                    ));
                }
            }
            for (i, a) in h.compression_algorithms.iter().enumerate() {
                if ![
                    "", "none", "gzip", "zstd", "zlib", "deflate", "snappy", "lz4",
                ]
                .contains(&a.as_str())
                {
                    errors.push(ConfigError::new(
                        format!("{p}::compression_algorithms::{i}"),
                        format!("unsupported compression {a:?}"),
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        c.warnings = ignored_keys(&c, path);
        Ok(Arc::new(c))
    }
}

/// Keys accepted for otelcol compatibility that ferrotel does not implement, each named.
fn ignored_keys(c: &OtlpReceiverConfig, path: &str) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(g) = &c.protocols.grpc {
        for (key, set) in [
            ("read_buffer_size", g.read_buffer_size.is_some()),
            ("write_buffer_size", g.write_buffer_size.is_some()),
        ] {
            if set {
                w.push(format!(
                    "{path}::protocols::grpc::{key} is ignored: the gRPC server (tonic on hyper) sizes its transport buffers itself and has no such setting"
                ));
            }
        }
    }
    w
}

/// otelcol's transports: tcp (tcp4, tcp6) listen on `host:port`; `unix` takes a socket path and is
/// accepted (a warning) but not served yet: the receiver then fails to start.
fn check_transport(transport: &str, ep: &str, p: &str, errors: &mut Vec<ConfigError>) {
    match transport {
        "tcp" | "tcp4" | "tcp6" => check_endpoint(ep, &format!("{p}::endpoint"), errors),
        "unix" => {
            if ep.is_empty() {
                errors.push(ConfigError::new(
                    format!("{p}::endpoint"),
                    "transport unix needs a socket path as endpoint",
                ));
            }
        }
        other => errors.push(ConfigError::new(
            format!("{p}::transport"),
            format!("unsupported transport {other:?} (tcp, tcp4, tcp6, unix)"),
        )),
    }
}

/// What Go's `url.Parse` refuses in otelcol's `sanitizeURLPath`: a colon in the first segment
/// (`:invalid` reads as an empty scheme), control characters, a bad `%` escape.
fn check_url_path(url: &str) -> Result<(), String> {
    let first = url.split('/').next().unwrap_or("");
    if first.starts_with(':') {
        return Err(format!(
            "invalid HTTP URL path {url:?}: missing protocol scheme"
        ));
    }
    if first.contains(':') && !first.contains(['?', '#']) {
        let scheme = first.split(':').next().unwrap_or("");
        if !scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(format!(
                "invalid HTTP URL path {url:?}: first path segment in URL cannot contain colon"
            ));
        }
    }
    if url.chars().any(|c| c.is_ascii_control()) {
        return Err(format!(
            "invalid HTTP URL path {url:?}: invalid control character in URL"
        ));
    }
    let b = url.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(format!("invalid HTTP URL path {url:?}: invalid URL escape"));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn check_endpoint(ep: &str, path: &str, errors: &mut Vec<ConfigError>) {
    if crate::net::split_host_port(ep).is_none() {
        errors.push(ConfigError::new(
            path,
            format!("invalid endpoint {ep:?}: expected host:port"),
        ));
    }
}

pub use crate::net::resolve_bind;

impl OtlpReceiverConfig {
    /// The protocols configured with `transport: unix`, which ferrotel does not serve yet.
    fn unix_protocols(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self
            .protocols
            .grpc
            .as_ref()
            .is_some_and(|g| g.transport == "unix")
        {
            v.push("grpc");
        }
        if self
            .protocols
            .http
            .as_ref()
            .is_some_and(|h| h.transport == "unix")
        {
            v.push("http");
        }
        v
    }
}

impl PreparedReceiver for OtlpReceiverConfig {
    fn endpoints(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(g) = self
            .protocols
            .grpc
            .as_ref()
            .filter(|g| g.transport != "unix")
        {
            v.push(g.endpoint.clone());
        }
        if let Some(h) = self
            .protocols
            .http
            .as_ref()
            .filter(|h| h.transport != "unix")
        {
            v.push(h.endpoint.clone());
        }
        v
    }

    fn warnings(&self) -> Vec<String> {
        let unix = self.unix_protocols();
        let unix = unix
            .into_iter()
            .map(|p| {
                format!(
                    "{}::protocols::{p}::transport: unix sockets are not served by ferrotel yet; the receiver will fail to start",
                    self.path
                )
            });
        self.warnings.iter().cloned().chain(unix).collect()
    }

    fn create(
        &self,
        id: &ComponentId,
        consumers: Vec<AnyConsumer>,
        _host: &Host,
    ) -> Result<Box<dyn Receiver>, StartError> {
        if let Some(p) = self.unix_protocols().first() {
            return Err(StartError::new(
                format!("receivers::{id}::protocols::{p}::transport"),
                "unix sockets are not served by ferrotel yet; use tcp",
            ));
        }
        let sinks = Sinks {
            id: Arc::from(id.to_string()),
            consumers,
        };
        Ok(Box::new(OtlpReceiver {
            id: id.clone(),
            config: self.clone(),
            sinks,
            grpc: None,
            http: None,
        }))
    }
}

/// Where one signal's requests go: counts them and hands them to the pipeline.
pub struct Sink<S: Signal> {
    id: Arc<str>,
    next: Arc<dyn Consumer<S>>,
}

impl<S: Signal> Clone for Sink<S> {
    fn clone(&self) -> Self {
        Sink {
            id: self.id.clone(),
            next: self.next.clone(),
        }
    }
}

impl<S: Signal> Sink<S> {
    /// Passes a validated batch on and waits for the pipeline's answer. Zero items are acknowledged
    /// without being passed on, as otelcol does.
    pub async fn accept(
        &self,
        batch: Batch<S>,
        transport: &'static str,
    ) -> Result<(), ConsumeError> {
        let n = batch.items();
        if n == 0 {
            return Ok(());
        }
        match self.next.consume(batch).await {
            Ok(()) => {
                events::receiver_accepted(&self.id, transport, S::KIND, n);
                Ok(())
            }
            Err(e) => {
                if e.is_retryable() {
                    events::receiver_refused(&self.id, transport, S::KIND, n);
                } else {
                    events::receiver_failed(&self.id, transport, S::KIND, n);
                }
                Err(e)
            }
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The pipelines a receiver feeds, one per signal it was wired to.
#[derive(Clone)]
pub struct Sinks {
    id: Arc<str>,
    consumers: Vec<AnyConsumer>,
}

impl Sinks {
    /// The sink for `S`, if the receiver is wired to a pipeline of that signal.
    pub fn get<S: SignalConsumer>(&self) -> Option<Sink<S>> {
        let next = self.consumers.iter().find_map(AnyConsumer::typed::<S>)?;
        Some(Sink {
            id: self.id.clone(),
            next,
        })
    }

    pub fn carries(&self, signal: SignalKind) -> bool {
        self.consumers.iter().any(|c| c.signal() == signal)
    }
}

struct OtlpReceiver {
    id: ComponentId,
    config: OtlpReceiverConfig,
    sinks: Sinks,
    grpc: Option<grpc::Server>,
    http: Option<http::Server>,
}

#[async_trait]
impl Receiver for OtlpReceiver {
    async fn start(&mut self, host: &Host) -> Result<(), StartError> {
        let component = format!("receivers::{}", self.id);
        if let Some(g) = &self.config.protocols.grpc {
            let at = format!("{component}::protocols::grpc");
            let auth = authenticator(host, &g.auth, &at)?;
            let s = grpc::Server::start(
                g.clone(),
                self.sinks.clone(),
                host.admission.clone(),
                auth,
                self.id.to_string(),
                at.clone(),
            )
            .await
            .map_err(|e| StartError::new(&at, e))?;
            tracing::info!(receiver = %self.id, endpoint = %s.local_addr, "OTLP/gRPC receiver listening");
            self.grpc = Some(s);
        }
        if let Some(h) = &self.config.protocols.http {
            let at = format!("{component}::protocols::http");
            let auth = authenticator(host, &h.auth, &at)?;
            let s = http::Server::start(
                h.clone(),
                self.sinks.clone(),
                host.admission.clone(),
                auth,
                self.id.to_string(),
                at.clone(),
            )
            .await
            .map_err(|e| StartError::new(&at, e))?;
            tracing::info!(receiver = %self.id, endpoint = %s.local_addr, "OTLP/HTTP receiver listening");
            self.http = Some(s);
        }
        Ok(())
    }

    /// Both servers stop accepting at once and answer what is in flight concurrently. Dropping this
    /// future (the service's shutdown budget ran out) drops the servers, which closes their
    /// connections.
    async fn shutdown(&mut self) {
        let grpc = self.grpc.take();
        let http = self.http.take();
        futures::join!(
            async {
                if let Some(s) = grpc {
                    s.shutdown().await;
                }
            },
            async {
                if let Some(s) = http {
                    s.shutdown().await;
                }
            }
        );
    }
}

fn authenticator(
    host: &Host,
    auth: &Option<crate::extensions::auth::AuthSettings>,
    at: &str,
) -> Result<Option<Arc<dyn ServerAuthenticator>>, StartError> {
    auth.as_ref()
        .map(|a| crate::extensions::auth::server(host, a, at))
        .transpose()
}

/// Client metadata from request headers, for `include_metadata`.
pub fn metadata_from_headers(
    headers: &::http::HeaderMap,
    peer: Option<SocketAddr>,
) -> Arc<ClientMetadata> {
    let entries = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    Arc::new(ClientMetadata {
        entries,
        address: peer.map(|p| p.ip().to_string()),
    })
}
