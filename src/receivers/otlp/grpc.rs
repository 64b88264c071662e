//! OTLP/gRPC: the three `Export` services over one tonic server, moving requests as encoded bytes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes};
use futures::future::BoxFuture;
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::config::GrpcConfig;
use super::listener::{ConnSettings, CutOff, Listener, DEFAULT_FIRST_BYTES_TIMEOUT};
use super::{metadata_from_headers, Sink, Sinks};
use crate::compression::{Algorithm, DecompressError};
use crate::extensions::auth::ServerAuthenticator;
use crate::pipeline::{Admission, ConsumeError, SignalConsumer};
use crate::signal::codec::{RawCodec, Segments};
use crate::signal::{Batch, Signal, SignalKind};

pub struct Server {
    pub local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    accept: tokio::task::JoinHandle<()>,
    cut: CutOff,
}

impl Server {
    pub async fn start(
        cfg: GrpcConfig,
        sinks: Sinks,
        admission: Arc<Admission>,
        auth: Option<Arc<dyn ServerAuthenticator>>,
        receiver: String,
        who: String,
    ) -> Result<Server, String> {
        let server_parameters = cfg
            .keepalive
            .as_ref()
            .and_then(|k| k.server_parameters.as_ref());
        let settings = ConnSettings {
            max_connections: cfg.max_connections,
            first_bytes_timeout: DEFAULT_FIRST_BYTES_TIMEOUT,
            // otelcol's `max_connection_idle`; unset, as there, means never.
            idle_timeout: server_parameters
                .and_then(|sp| sp.max_connection_idle)
                .filter(|d| !d.is_zero()),
        };
        let listener = Listener::bind(
            &cfg.endpoint,
            cfg.tls.as_ref(),
            &[crate::tls::ALPN_H2],
            settings,
            who.clone(),
        )
        .await?;
        let cut = listener.cut_off();
        let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
        let mut builder = tonic::transport::Server::builder()
            .max_concurrent_streams(cfg.max_concurrent_streams())
            .http2_max_header_list_size(MAX_HEADER_LIST_SIZE);
        if let Some(sp) = cfg
            .keepalive
            .as_ref()
            .and_then(|k| k.server_parameters.as_ref())
        {
            if let Some(age) = sp.max_connection_age {
                builder = builder.max_connection_age(age);
            }
            if let Some(grace) = sp.max_connection_age_grace {
                builder = builder.max_connection_age_grace(grace);
            }
            builder = builder
                .http2_keepalive_interval(sp.time)
                .http2_keepalive_timeout(sp.timeout);
        }
        let mut routes = tonic::service::RoutesBuilder::default();
        let shared = Shared {
            max_recv: cfg.max_recv_msg_size(),
            include_metadata: cfg.include_metadata,
            admission,
            auth,
            receiver: Arc::from(receiver.as_str()),
        };
        for signal in SignalKind::ALL {
            crate::with_signal!(signal, S => add_service::<S>(&mut routes, &sinks, &shared));
        }
        let router = builder.add_routes(routes.routes());
        let (stop, stopped) = oneshot::channel::<()>();
        // Handshakes run beside the accept loop, so a slow client cannot hold up the others.
        let (conns, incoming) = tokio::sync::mpsc::channel(64);
        let accept = tokio::spawn(async move {
            loop {
                let pending = listener.accept().await;
                let conns = conns.clone();
                tokio::spawn(async move {
                    if let Some(c) = pending.establish().await {
                        let _ = conns.send(Ok::<_, std::io::Error>(c)).await;
                    }
                });
            }
        });
        let incoming = tokio_stream::wrappers::ReceiverStream::new(incoming);
        let task = tokio::spawn(async move {
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await
            {
                tracing::error!(error = %e, "OTLP/gRPC server failed");
            }
        });
        Ok(Server {
            local_addr,
            stop: Some(stop),
            task,
            accept,
            cut,
        })
    }

    /// Stops accepting and waits for requests in flight to be answered. The caller bounds the wait:
    /// dropping this future (or the server) closes every connection still open.
    pub async fn shutdown(mut self) {
        self.accept.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut.cut();
        self.task.abort();
    }
}

/// Request headers (metadata) per request at most, as the HTTP/2 SETTINGS advertise.
const MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;

#[derive(Clone)]
struct Shared {
    max_recv: usize,
    include_metadata: bool,
    admission: Arc<Admission>,
    auth: Option<Arc<dyn ServerAuthenticator>>,
    receiver: Arc<str>,
}

/// Serves `S`'s `Export` method when the receiver is wired to a pipeline of `S`.
fn add_service<S: SignalConsumer>(
    routes: &mut tonic::service::RoutesBuilder,
    sinks: &Sinks,
    shared: &Shared,
) {
    if let Some(sink) = sinks.get::<S>() {
        routes.add_service(ExportService {
            sink,
            shared: shared.clone(),
        });
    }
}

struct ExportService<S: Signal> {
    sink: Sink<S>,
    shared: Shared,
}

impl<S: Signal> Clone for ExportService<S> {
    fn clone(&self) -> Self {
        ExportService {
            sink: self.sink.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: Signal> NamedService for ExportService<S> {
    const NAME: &'static str = S::GRPC_SERVICE;
}

impl<S: Signal> tower::Service<http::Request<tonic::body::Body>> for ExportService<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if req.uri().path() != S::GRPC_PATH {
                return Ok(
                    Status::unimplemented(format!("unknown method {}", req.uri().path()))
                        .into_http(),
                );
            }
            if let Some(auth) = &this.shared.auth {
                if let Err(reason) = auth.authenticate(req.headers()).await {
                    crate::telemetry::events::receiver_unauthenticated(
                        &this.shared.receiver,
                        "grpc",
                    );
                    tracing::debug!(receiver = %this.shared.receiver, reason = %reason, "request refused: unauthenticated");
                    return Ok(Status::unauthenticated("authentication failed").into_http());
                }
            }
            // Refuse before the body is read, so an overloaded collector does not allocate it.
            if let Err(e) = this.shared.admission.check() {
                return Ok(to_status(&e).into_http());
            }
            let req = if is_snappy(req.headers()) {
                match unsnappy(req, this.shared.max_recv).await {
                    Ok(req) => req,
                    Err(status) => return Ok(status.into_http()),
                }
            } else {
                req
            };
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .accept_compressed(CompressionEncoding::Deflate)
                .max_decoding_message_size(this.shared.max_recv);
            Ok(grpc.unary(Handler { svc: this }, req).await)
        })
    }
}

/// Whether the request's messages are compressed with gRPC's `snappy`.
fn is_snappy(headers: &http::HeaderMap) -> bool {
    headers
        .get("grpc-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"snappy"))
}

/// Decompresses the messages of a `grpc-encoding: snappy` request, which tonic has no codec for, and
/// hands the request on uncompressed. otelcol's gRPC server (configgrpc, through
/// `go-grpc-compression`) registers golang/snappy's *framing* format (stream identifier, checksummed
/// chunks) as `snappy`, so that is what is read here; a raw snappy block is refused as it refuses it.
/// Limits and statuses are tonic's for the encodings it decodes itself: a message longer than
/// `max_recv` is OUT_OF_RANGE, one that decompresses to more is RESOURCE_EXHAUSTED, and a corrupt one
/// INTERNAL. Malformed framing is left for tonic to report, as for any other request.
async fn unsnappy(
    req: http::Request<tonic::body::Body>,
    max_recv: usize,
) -> Result<http::Request<tonic::body::Body>, Status> {
    use http_body_util::BodyExt;
    let (mut parts, mut body) = req.into_parts();
    let mut raw = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            raw.extend_from_slice(&data);
            if let Some(len) = message_len(&raw) {
                if len > max_recv {
                    return Err(too_long(len, max_recv));
                }
            }
            if raw.len() > max_recv.saturating_add(2 * MESSAGE_PREFIX) {
                // More than one message of at most `max_recv` bytes: not a unary request.
                break;
            }
        }
    }
    let mut raw = raw.freeze();
    let mut out = bytes::BytesMut::with_capacity(raw.len());
    while let Some(len) = message_len(&raw) {
        let flag = raw.first().copied();
        if flag != Some(1) || raw.len() < MESSAGE_PREFIX + len {
            break;
        }
        if len > max_recv {
            return Err(too_long(len, max_recv));
        }
        let message = raw.slice(MESSAGE_PREFIX..MESSAGE_PREFIX + len);
        raw = raw.slice(MESSAGE_PREFIX + len..);
        let plain = crate::compression::decompress(Algorithm::SnappyFramed, message, max_recv)
            .await
            .map_err(|e| match e {
                DecompressError::TooLarge => Status::resource_exhausted(format!(
                    "Error decompressing: size limit, of {max_recv} bytes, exceeded while decompressing message"
                )),
                DecompressError::Invalid(e) => {
                    Status::internal(format!("Error decompressing: {e}, while sending request"))
                }
            })?;
        let plain_len = u32::try_from(plain.len()).map_err(|_| too_long(plain.len(), max_recv))?;
        out.put_u8(0);
        out.put_u32(plain_len);
        out.extend_from_slice(&plain);
    }
    // Whatever is not a complete compressed message goes on as it came, for tonic to judge.
    out.extend_from_slice(&raw);
    parts.headers.remove("grpc-encoding");
    Ok(http::Request::from_parts(
        parts,
        tonic::body::Body::new(http_body_util::Full::new(out.freeze())),
    ))
}

/// The gRPC message prefix: the compressed flag and the big-endian length.
const MESSAGE_PREFIX: usize = 5;

/// The length of the message whose prefix starts `buf`, once the prefix is there.
fn message_len(buf: &[u8]) -> Option<usize> {
    let len: [u8; 4] = buf.get(1..MESSAGE_PREFIX)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(len)).ok()
}

fn too_long(len: usize, limit: usize) -> Status {
    Status::out_of_range(format!(
        "Error, decoded message length too large: found {len} bytes, the limit is: {limit} bytes"
    ))
}

struct Handler<S: Signal> {
    svc: ExportService<S>,
}

impl<S: Signal> UnaryService<Bytes> for Handler<S> {
    type Response = Segments;
    type Future = BoxFuture<'static, Result<Response<Segments>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let svc = self.svc.clone();
        Box::pin(async move {
            let metadata = svc.shared.include_metadata.then(|| {
                metadata_from_headers(
                    &request.metadata().clone().into_headers(),
                    request.remote_addr(),
                )
            });
            let batch = Batch::<S>::from_encoded(request.into_inner())
                .map_err(|e| {
                    // Refused whole: prost could not decode it later (see `signal::scan`).
                    crate::telemetry::events::receiver_refused(
                        svc.sink.id(),
                        "grpc",
                        S::KIND,
                        e.items(),
                    );
                    tracing::debug!(receiver = svc.sink.id(), error = %e, "invalid OTLP request refused");
                    Status::invalid_argument(format!("cannot decode the OTLP request: {e}"))
                })?
                .with_metadata(metadata);
            svc.sink
                .accept(batch, "grpc")
                .await
                .map_err(|e| to_status(&e))?;
            // An empty Export*ServiceResponse: no partial success.
            Ok(Response::new(Segments::default()))
        })
    }
}

/// A refusal as the gRPC status otelcol would answer, with RetryInfo when a delay is known.
pub fn to_status(e: &ConsumeError) -> Status {
    use tonic_types::{ErrorDetails, StatusExt};
    let (code, delay) = match e {
        ConsumeError::Retryable { retry_after, .. } => (tonic::Code::Unavailable, *retry_after),
        ConsumeError::ResourceExhausted { retry_after, .. } => {
            (tonic::Code::ResourceExhausted, *retry_after)
        }
        ConsumeError::InvalidArgument(_) => (tonic::Code::InvalidArgument, None),
        ConsumeError::Permanent(_) => (tonic::Code::Internal, None),
    };
    match delay {
        Some(d) => {
            Status::with_error_details(code, e.to_string(), ErrorDetails::with_retry_info(Some(d)))
        }
        None => Status::new(code, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::Encoder;
    use http_body_util::BodyExt;

    fn request(encoding: &str, body: Vec<u8>) -> http::Request<tonic::body::Body> {
        http::Request::builder()
            .header("grpc-encoding", encoding)
            .body(tonic::body::Body::new(http_body_util::Full::new(
                Bytes::from(body),
            )))
            .unwrap()
    }

    fn framed(flag: u8, message: &[u8]) -> Vec<u8> {
        let mut v = vec![flag];
        v.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        v.extend_from_slice(message);
        v
    }

    async fn body_of(req: http::Request<tonic::body::Body>) -> Vec<u8> {
        req.into_body().collect().await.unwrap().to_bytes().to_vec()
    }

    /// otelcol's `snappy` is the framing format: the message comes out plain, flagged uncompressed,
    /// and the encoding header is gone (so tonic takes it as is).
    #[tokio::test]
    async fn snappy_messages_are_decompressed_for_tonic() {
        let message: Vec<u8> = (0..100_000u32).map(|i| (i % 97) as u8).collect();
        let packed = Encoder::new(Algorithm::SnappyFramed, 0)
            .compress_sync(&message)
            .unwrap();
        assert!(packed.starts_with(b"\xff\x06\x00\x00sNaPpY"));
        let req = request("snappy", framed(1, &packed));
        assert!(is_snappy(req.headers()));
        let out = unsnappy(req, 4 << 20).await.unwrap();
        assert!(out.headers().get("grpc-encoding").is_none());
        assert_eq!(body_of(out).await, framed(0, &message));
        // An uncompressed message in a snappy request goes on untouched.
        let out = unsnappy(request("snappy", framed(0, b"plain")), 1024)
            .await
            .unwrap();
        assert_eq!(body_of(out).await, framed(0, b"plain"));
    }

    #[tokio::test]
    async fn snappy_limits_and_corruption_give_tonics_statuses() {
        let message = vec![7u8; 10_000];
        let packed = Encoder::new(Algorithm::SnappyFramed, 0)
            .compress_sync(&message)
            .unwrap();
        // Decompresses to more than the limit.
        let e = unsnappy(request("snappy", framed(1, &packed)), 5_000)
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
        // The compressed message itself is longer than the limit.
        let e = unsnappy(request("snappy", framed(1, &packed)), 10)
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");
        // A raw snappy block is not otelcol's gRPC snappy.
        let block = Encoder::new(Algorithm::Snappy, 0)
            .compress_sync(&message)
            .unwrap();
        let e = unsnappy(request("snappy", framed(1, &block)), 1 << 20)
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Internal, "{e:?}");
        assert!(!is_snappy(request("gzip", Vec::new()).headers()));
    }
}
