//! The `jaeger` receiver: api_v2 gRPC (`CollectorService/PostSpans`), thrift over HTTP
//! (`/api/traces`), and the agent's thrift `emitBatch` over UDP (compact and binary protocols),
//! translated to OTLP as otelcol's jaeger translator does ([`translate`]).

pub mod config;
pub mod translate;
mod udp;

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_yaml::Value;

use self::config::JaegerReceiverConfig;
use crate::component::{
    ConfigResult, Host, PreparedReceiver, Receiver, ReceiverFactory, StartError,
};
use crate::config::{ComponentId, ConfigError};
use crate::pipeline::AnyConsumer;
use crate::receivers::common::{
    self, grpc_status_for, http_status_for, jaeger_proto as pb, thrift::jaeger as th, Running,
    TracesSink,
};
use crate::signal::{SignalKind, Traces};

pub struct Factory;

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        "jaeger"
    }

    fn signals(&self) -> &'static [SignalKind] {
        &[SignalKind::Traces]
    }

    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedReceiver>> {
        let c: JaegerReceiverConfig = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if c.remote_sampling.is_some() {
            errors.push(ConfigError::new(
                format!("{path}::remote_sampling"),
                "remote sampling config detected in the Jaeger receiver; use the `jaegerremotesampling` extension instead",
            ));
        }
        let p = &c.protocols;
        if p.grpc.is_none()
            && p.thrift_http.is_none()
            && p.thrift_compact.is_none()
            && p.thrift_binary.is_none()
        {
            errors.push(ConfigError::new(
                format!("{path}::protocols"),
                "must specify at least one protocol when using the Jaeger receiver",
            ));
        }
        let pp = format!("{path}::protocols");
        if let Some(g) = &p.grpc {
            check_endpoint(&g.endpoint, &format!("{pp}::grpc::endpoint"), &mut errors);
            if g.transport != "tcp" {
                errors.push(ConfigError::new(
                    format!("{pp}::grpc::transport"),
                    format!(
                        "unsupported transport {:?}; ferrotel supports tcp",
                        g.transport
                    ),
                ));
            }
            refuse_security(&g.unimplemented, &format!("{pp}::grpc"), &mut errors);
        }
        if let Some(h) = &p.thrift_http {
            check_endpoint(
                &h.endpoint,
                &format!("{pp}::thrift_http::endpoint"),
                &mut errors,
            );
            refuse_security(&h.unimplemented, &format!("{pp}::thrift_http"), &mut errors);
        }
        for (name, u) in [
            ("thrift_compact", &p.thrift_compact),
            ("thrift_binary", &p.thrift_binary),
        ] {
            let Some(u) = u else { continue };
            let at = format!("{pp}::{name}");
            check_endpoint(&u.endpoint, &format!("{at}::endpoint"), &mut errors);
            if u.workers == 0 {
                errors.push(ConfigError::new(
                    format!("{at}::workers"),
                    "must be at least 1",
                ));
            }
            if u.queue_size == 0 {
                errors.push(ConfigError::new(
                    format!("{at}::queue_size"),
                    "must be at least 1",
                ));
            }
            // otelcol's own testdata sets 131072; a datagram is never larger than 65535, so any
            // larger value means "no limit" (as in otelcol).
            if u.max_packet_size == 0 {
                errors.push(ConfigError::new(
                    format!("{at}::max_packet_size"),
                    "must be at least 1",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(Prepared {
            path: path.to_string(),
            config: c,
        }))
    }
}

/// TLS and authentication are not implemented on this receiver: refusing them beats serving
/// plaintext or unauthenticated where the user asked for neither.
fn refuse_security(
    keys: &std::collections::BTreeMap<String, Value>,
    at: &str,
    errors: &mut Vec<ConfigError>,
) {
    for k in ["tls", "auth"] {
        if keys.contains_key(k) {
            errors.push(ConfigError::new(
                format!("{at}::{k}"),
                format!("`{k}` is not supported on the jaeger receiver yet (ferrotel); use the otlp receiver for {k}"),
            ));
        }
    }
}

fn check_endpoint(ep: &str, path: &str, errors: &mut Vec<ConfigError>) {
    if crate::pipeline::graph::split_host_port(ep).is_none() {
        errors.push(ConfigError::new(
            path,
            format!("invalid endpoint {ep:?}: expected host:port"),
        ));
    }
}

struct Prepared {
    path: String,
    config: JaegerReceiverConfig,
}

impl PreparedReceiver for Prepared {
    fn warnings(&self) -> Vec<String> {
        let p = &self.config.protocols;
        let mut w = Vec::new();
        if let Some(g) = &p.grpc {
            w.extend(common::unimplemented_warnings(
                &format!("{}::protocols::grpc", self.path),
                &g.unimplemented,
            ));
        }
        if let Some(h) = &p.thrift_http {
            w.extend(common::unimplemented_warnings(
                &format!("{}::protocols::thrift_http", self.path),
                &h.unimplemented,
            ));
        }
        w
    }

    fn endpoints(&self) -> Vec<String> {
        // UDP ports do not clash with TCP ones, so only the TCP listeners are listed.
        let p = &self.config.protocols;
        let mut v = Vec::new();
        if let Some(g) = &p.grpc {
            v.push(g.endpoint.clone());
        }
        if let Some(h) = &p.thrift_http {
            v.push(h.endpoint.clone());
        }
        v
    }

    fn create(
        &self,
        id: &ComponentId,
        consumers: Vec<AnyConsumer>,
        _host: &Host,
    ) -> Result<Box<dyn Receiver>, StartError> {
        let sink = consumers
            .iter()
            .find_map(AnyConsumer::typed::<Traces>)
            .map(|c| Arc::new(TracesSink::new(id.to_string(), c)));
        let Some(sink) = sink else {
            return Err(StartError::new(
                format!("receivers::{id}"),
                "the jaeger receiver only produces traces",
            ));
        };
        Ok(Box::new(JaegerReceiver {
            id: id.clone(),
            config: self.config.clone(),
            sink,
            running: Vec::new(),
        }))
    }
}

struct JaegerReceiver {
    id: ComponentId,
    config: JaegerReceiverConfig,
    sink: Arc<TracesSink>,
    running: Vec<Running>,
}

#[async_trait]
impl Receiver for JaegerReceiver {
    async fn start(&mut self, host: &Host) -> Result<(), StartError> {
        let at = format!("receivers::{}::protocols", self.id);
        let p = self.config.protocols.clone();
        if let Some(g) = &p.grpc {
            let r = start_grpc(g, self.sink.clone(), host.admission.clone())
                .await
                .map_err(|e| StartError::new(format!("{at}::grpc"), e))?;
            tracing::info!(receiver = %self.id, endpoint = %r.local_addr, "Jaeger gRPC receiver listening");
            self.running.push(r);
        }
        if let Some(h) = &p.thrift_http {
            let limit = usize::try_from(h.max_request_body_size).unwrap_or(usize::MAX);
            let router = axum::Router::new()
                .route("/api/traces", axum::routing::post(thrift_http))
                .layer(axum::extract::DefaultBodyLimit::max(limit))
                .with_state(HttpState {
                    sink: self.sink.clone(),
                    admission: host.admission.clone(),
                    limit,
                });
            let r = common::serve_http(&h.endpoint, router)
                .await
                .map_err(|e| StartError::new(format!("{at}::thrift_http"), e))?;
            tracing::info!(receiver = %self.id, endpoint = %r.local_addr, "Jaeger thrift HTTP receiver listening");
            self.running.push(r);
        }
        for (name, cfg, proto) in [
            ("thrift_compact", &p.thrift_compact, udp::Protocol::Compact),
            ("thrift_binary", &p.thrift_binary, udp::Protocol::Binary),
        ] {
            let Some(cfg) = cfg else { continue };
            let r = udp::start(cfg, proto, self.sink.clone())
                .await
                .map_err(|e| StartError::new(format!("{at}::{name}"), e))?;
            tracing::info!(receiver = %self.id, endpoint = %r.local_addr, "Jaeger {name} UDP receiver listening");
            self.running.push(r);
        }
        Ok(())
    }

    async fn shutdown(&mut self) {
        for r in self.running.drain(..) {
            r.shutdown().await;
        }
    }
}

// ---- gRPC ----

struct Collector {
    sink: Arc<TracesSink>,
    admission: Arc<crate::pipeline::Admission>,
}

#[tonic::async_trait]
impl pb::collector_service_server::CollectorService for Collector {
    async fn post_spans(
        &self,
        request: tonic::Request<pb::PostSpansRequest>,
    ) -> Result<tonic::Response<pb::PostSpansResponse>, tonic::Status> {
        self.admission.check().map_err(|e| grpc_status_for(&e))?;
        let batch = request.into_inner().batch.unwrap_or_default();
        let resources = translate::proto_batch(batch)
            .map_err(|e| tonic::Status::invalid_argument(format!("invalid Jaeger batch: {e}")))?;
        self.sink
            .accept(resources, "grpc")
            .await
            .map_err(|e| grpc_status_for(&e))?;
        Ok(tonic::Response::new(pb::PostSpansResponse {}))
    }
}

async fn start_grpc(
    g: &config::GrpcConfig,
    sink: Arc<TracesSink>,
    admission: Arc<crate::pipeline::Admission>,
) -> Result<Running, String> {
    let addr = common::resolve_bind(&g.endpoint).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", g.endpoint))?;
    let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mib = if g.max_recv_msg_size_mib == 0 {
        4
    } else {
        g.max_recv_msg_size_mib
    };
    let svc =
        pb::collector_service_server::CollectorServiceServer::new(Collector { sink, admission })
            .max_decoding_message_size(
                usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let streams = if g.max_concurrent_streams == 0 {
        100
    } else {
        g.max_concurrent_streams
    };
    let task = tokio::spawn(async move {
        let r = tonic::transport::Server::builder()
            .max_concurrent_streams(streams)
            .add_service(svc)
            .serve_with_incoming_shutdown(
                // TCP_NODELAY (tonic sets it only on listeners it binds itself).
                tokio_stream::StreamExt::map(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    |r| {
                        r.inspect(|tcp| {
                            let _ = tcp.set_nodelay(true);
                        })
                    },
                ),
                common::stopped(rx),
            )
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "Jaeger gRPC server stopped");
        }
    });
    Ok(Running::new(local_addr, tx, vec![task]))
}

// ---- thrift over HTTP ----

#[derive(Clone)]
struct HttpState {
    sink: Arc<TracesSink>,
    admission: Arc<crate::pipeline::Admission>,
    limit: usize,
}

/// Decodes a binary-protocol thrift `Batch`, bounded by the body's size.
pub fn decode_thrift_batch(body: &[u8]) -> Result<th::Batch, String> {
    use thrift::protocol::TSerializable;
    let mut prot = thrift::protocol::TBinaryInputProtocol::with_config(
        common::slice_transport(body),
        true,
        common::thrift_limits(body.len()),
    );
    th::Batch::read_from_in_protocol(&mut prot).map_err(|e| e.to_string())
}

async fn thrift_http(
    State(st): State<HttpState>,
    headers: http::HeaderMap,
    body: bytes::Bytes,
) -> axum::response::Response {
    if let Err(e) = st.admission.check() {
        return (http_status_for(&e), e.to_string()).into_response();
    }
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if ct != "application/x-thrift" && ct != "application/vnd.apache.thrift.binary" {
        return (
            http::StatusCode::BAD_REQUEST,
            format!("Unsupported content type: {ct}"),
        )
            .into_response();
    }
    let enc = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = match common::decompress(body, enc, st.limit) {
        Ok(b) => b,
        Err(common::BodyError::TooLarge) => {
            return (http::StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response()
        }
        Err(common::BodyError::Invalid(m)) => {
            return (http::StatusCode::BAD_REQUEST, m).into_response()
        }
    };
    let batch = match decode_thrift_batch(&body) {
        Ok(b) => b,
        Err(e) => {
            return (
                http::StatusCode::BAD_REQUEST,
                format!("Unable to process request body: {e}"),
            )
                .into_response()
        }
    };
    match st.sink.accept(translate::thrift_batch(batch), "http").await {
        Ok(()) => http::StatusCode::ACCEPTED.into_response(),
        Err(e) => (http_status_for(&e), e.to_string()).into_response(),
    }
}
