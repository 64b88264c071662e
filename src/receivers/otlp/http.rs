//! OTLP/HTTP: protobuf and JSON bodies, compressed or not, with otelcol's status codes. Limits are
//! checked before allocation: the body as read, and the body as decompressed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use prost::Message;
use tokio::sync::oneshot;

use super::config::HttpConfig;
use super::listener::{Busy, ConnSettings, CutOff, Listener};
use super::{metadata_from_headers, Sink, Sinks};
use crate::extensions::auth::ServerAuthenticator;
use crate::pipeline::{Admission, ConsumeError};
use crate::signal::{Batch, DecodeError, Signal, SignalKind};

pub struct Server {
    pub local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    cut: CutOff,
}

struct State {
    cfg: HttpConfig,
    sinks: Sinks,
    admission: Arc<Admission>,
    auth: Option<Arc<dyn ServerAuthenticator>>,
    receiver: String,
}

impl Server {
    pub async fn start(
        cfg: HttpConfig,
        sinks: Sinks,
        admission: Arc<Admission>,
        auth: Option<Arc<dyn ServerAuthenticator>>,
        receiver: String,
        who: String,
    ) -> Result<Server, String> {
        let settings = ConnSettings {
            max_connections: cfg.max_connections,
            // The TLS handshake and protocol detection get the time a client has to send its headers.
            first_bytes_timeout: cfg.read_header_timeout,
            idle_timeout: Some(cfg.idle_timeout).filter(|d| !d.is_zero()),
        };
        let listener = Listener::bind(
            &cfg.endpoint,
            cfg.tls.as_ref(),
            &[crate::tls::ALPN_H2, crate::tls::ALPN_HTTP],
            settings,
            who.clone(),
        )
        .await?;
        let cut = listener.cut_off();
        let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
        let state = Arc::new(State {
            cfg,
            sinks,
            admission,
            auth,
            receiver,
        });
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(state.cfg.read_header_timeout)
                .keep_alive(true);
            // No HTTP/2 keep-alive pings: a silent or dead peer is closed by `idle_timeout` instead
            // (pings would count as activity and keep an idle connection open forever).
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(state.cfg.max_concurrent_streams);
            let graceful = hyper_util::server::graceful::GracefulShutdown::new();
            loop {
                tokio::select! {
                    pending = listener.accept() => {
                        let peer = pending.peer;
                        let st = state.clone();
                        let builder = builder.clone();
                        let watcher = graceful.watcher();
                        tokio::spawn(async move {
                            let Some(conn) = pending.establish().await else { return };
                            let busy = conn.busy();
                            let svc = hyper::service::service_fn(move |req| {
                                let _busy = Busy::new(&busy);
                                let st = st.clone();
                                async move {
                                    let _busy = _busy;
                                    handle(st, peer, req).await
                                }
                            });
                            let conn = builder.serve_connection(TokioIo::new(conn), svc).into_owned();
                            let _ = watcher.watch(conn).await;
                        });
                    }
                    _ = &mut stopped => break,
                }
            }
            drop(listener);
            // Requests in flight are answered; idle keep-alive connections are closed. The wait is
            // bounded by the caller (the service's shutdown budget): dropping the server cuts the
            // connections still open.
            graceful.shutdown().await;
        });
        Ok(Server {
            local_addr,
            stop: Some(stop),
            task,
            cut,
        })
    }

    /// Stops accepting and waits for requests in flight to be answered. The caller bounds the wait:
    /// dropping this future (or the server) closes every connection still open.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.cut.cut();
        self.task.abort();
    }
}

/// google.rpc.Status, the body of every OTLP/HTTP error response.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Proto,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Proto => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

type Resp = Response<Full<Bytes>>;

fn plain(status: StatusCode, msg: impl Into<String>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(msg.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn status_body(status: StatusCode, grpc_code: tonic::Code, msg: String, enc: Encoding) -> Resp {
    let st = RpcStatus {
        code: grpc_code as i32,
        message: msg,
    };
    let body = match enc {
        Encoding::Proto => st.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&st).unwrap_or_default(),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(enc.content_type()),
    );
    r
}

fn refusal(e: &ConsumeError, enc: Encoding) -> Resp {
    let (status, code) = match e {
        ConsumeError::Retryable { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, tonic::Code::Unavailable)
        }
        ConsumeError::ResourceExhausted { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            tonic::Code::ResourceExhausted,
        ),
        ConsumeError::InvalidArgument(_) => (StatusCode::BAD_REQUEST, tonic::Code::InvalidArgument),
        ConsumeError::Permanent(_) => (StatusCode::INTERNAL_SERVER_ERROR, tonic::Code::Internal),
    };
    let mut r = status_body(status, code, e.to_string(), enc);
    if e.is_retryable() {
        // Always advise a delay on a retryable refusal, so that SDKs back off (see the README).
        let secs = e.retry_after().map(|d| d.as_secs().max(1)).unwrap_or(1);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

async fn handle(
    st: Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Resp, Infallible> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_string);
    let allowed_origin = origin.filter(|o| origin_allowed(&st.cfg, o));
    let is_preflight = req.method() == Method::OPTIONS && allowed_origin.is_some();
    let mut resp = if is_preflight {
        preflight(&st.cfg, &req)
    } else {
        route(&st, peer, req).await
    };
    if let Some(o) = allowed_origin {
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&o) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        if let Some(c) = &st.cfg.cors {
            if !c.exposed_headers.is_empty() {
                if let Ok(v) = HeaderValue::from_str(&c.exposed_headers.join(", ")) {
                    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
                }
            }
        }
    }
    for (k, v) in &st.cfg.response_headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    Ok(resp)
}

fn origin_allowed(cfg: &HttpConfig, origin: &str) -> bool {
    let Some(cors) = &cfg.cors else { return false };
    cors.allowed_origins
        .iter()
        .any(|pattern| wildcard_match(pattern, origin))
}

/// `*` matches any run of characters, as otelcol's CORS origins do.
fn wildcard_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern.eq_ignore_ascii_case(s);
    }
    let s = s.to_ascii_lowercase();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        let part = part.to_ascii_lowercase();
        if i == 0 {
            if !s.starts_with(&part) {
                return false;
            }
            pos = part.len();
        } else if i == parts.len() - 1 {
            return s.len() >= pos + part.len() && s.ends_with(&part);
        } else if let Some(found) = s[pos..].find(&part) {
            pos += found + part.len();
        } else {
            return false;
        }
    }
    true
}

fn preflight(cfg: &HttpConfig, req: &Request<Incoming>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    let mut allowed: Vec<String> = vec!["content-type".into(), "content-encoding".into()];
    if let Some(c) = &cfg.cors {
        allowed.extend(c.allowed_headers.iter().map(|s| s.to_ascii_lowercase()));
        if c.max_age > 0 {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(c.max_age));
        }
    }
    if let Some(requested) = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
    {
        let ok: Vec<&str> = requested
            .split(',')
            .map(str::trim)
            .filter(|r| {
                allowed
                    .iter()
                    .any(|a| a == "*" || a.eq_ignore_ascii_case(r))
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&ok.join(", ")) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    }
    r
}

async fn route(st: &Arc<State>, peer: SocketAddr, req: Request<Incoming>) -> Resp {
    match target(st, &req).await {
        Ok((signal, enc)) => crate::with_signal!(signal, S => match st.sinks.get::<S>() {
            Some(sink) => export(st, sink, peer, req, enc).await,
            // `target` answered 404 for a signal the receiver does not carry.
            None => plain(StatusCode::NOT_FOUND, "404 page not found"),
        }),
        Err(refused) => {
            // Read (and drop) the body before answering, up to the size an accepted request may have:
            // over HTTP/2 an answer sent while the client is still sending resets the stream, and the
            // client sees a protocol error instead of the status.
            discard(st, req.into_body()).await;
            refused
        }
    }
}

/// Reads and drops a request body, at most `max_request_body_size` bytes and for at most
/// `idle_timeout`.
async fn discard(st: &State, mut body: Incoming) {
    let limit = st.cfg.max_request_body_size;
    let _ = tokio::time::timeout(st.cfg.idle_timeout, async move {
        let mut total = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                total = total.saturating_add(data.len() as u64);
                if total > limit {
                    return;
                }
            }
        }
    })
    .await;
}

/// Which signal a request carries and how its body is encoded, or the early refusal (401, 404, 405,
/// 415).
#[allow(clippy::result_large_err)]
async fn target(st: &Arc<State>, req: &Request<Incoming>) -> Result<(SignalKind, Encoding), Resp> {
    if let Some(auth) = &st.auth {
        if let Err(reason) = auth.authenticate(req.headers()).await {
            crate::telemetry::events::receiver_unauthenticated(&st.receiver, "http");
            tracing::debug!(receiver = %st.receiver, reason = %reason, "request refused: unauthenticated");
            let mut r = plain(StatusCode::UNAUTHORIZED, "401 unauthenticated");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer, Basic"),
            );
            return Err(r);
        }
    }
    let path = req.uri().path();
    let cfg = &st.cfg;
    let target = if path == cfg.traces_url_path {
        Some(SignalKind::Traces)
    } else if path == cfg.metrics_url_path {
        Some(SignalKind::Metrics)
    } else if path == cfg.logs_url_path {
        Some(SignalKind::Logs)
    } else {
        None
    }
    .filter(|s| st.sinks.carries(*s));
    let Some(target) = target else {
        return Err(plain(StatusCode::NOT_FOUND, "404 page not found"));
    };
    if req.method() != Method::POST {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} method not allowed, supported: [POST]", req.method()),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Err(r);
    }
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let enc = match ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
        "application/x-protobuf" => Encoding::Proto,
        "application/json" => Encoding::Json,
        _ => {
            return Err(plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("415 unsupported media type {ct:?}, supported: [application/json, application/x-protobuf]"),
            ))
        }
    };
    Ok((target, enc))
}

async fn export<S: Signal>(
    st: &Arc<State>,
    sink: Sink<S>,
    peer: SocketAddr,
    req: Request<Incoming>,
    enc: Encoding,
) -> Resp {
    // Refuse before the body is stored, so an overloaded collector does not allocate it. The body is
    // still read and discarded (a frame at a time), so the client gets the 503 instead of a broken
    // connection.
    if let Err(e) = st.admission.check() {
        let _ = tokio::time::timeout(st.cfg.idle_timeout, read_limited(req.into_body(), 0)).await;
        return refusal(&e, enc);
    }
    let limit = st.cfg.max_request_body_size as usize;
    let too_large = |what: &str| {
        status_body(
            StatusCode::PAYLOAD_TOO_LARGE,
            tonic::Code::InvalidArgument,
            format!("{what} exceeds max_request_body_size ({limit} bytes)"),
            enc,
        )
    };
    let content_encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let metadata = st
        .cfg
        .include_metadata
        .then(|| metadata_from_headers(req.headers(), Some(peer)));
    let raw = match tokio::time::timeout(st.cfg.idle_timeout, read_limited(req.into_body(), limit))
        .await
    {
        Err(_) => {
            return status_body(
                StatusCode::REQUEST_TIMEOUT,
                tonic::Code::DeadlineExceeded,
                "timed out reading the request body".into(),
                enc,
            )
        }
        Ok(Err(ReadError::TooLarge)) => return too_large("request body"),
        Ok(Err(ReadError::Read(e))) => {
            return status_body(
                StatusCode::BAD_REQUEST,
                tonic::Code::InvalidArgument,
                format!("failed to read the request body: {e}"),
                enc,
            )
        }
        Ok(Ok(b)) => b,
    };
    // Decompressing and decoding a large body is CPU work: off the async workers past a threshold.
    let algorithms = st.cfg.compression_algorithms.clone();
    let json = enc == Encoding::Json;
    let work = crate::compression::Algorithm::from_content_encoding(&content_encoding)
        .map_or(raw.len(), |a| crate::compression::work_of(a, raw.len()));
    let decoded = crate::compression::offload(work, move || {
        decode_body::<S>(raw, &content_encoding, json, limit, &algorithms)
    })
    .await
    .unwrap_or_else(|e| Err(BodyError::Invalid(e)));
    let batch = match decoded {
        Ok(b) => b.with_metadata(metadata),
        Err(BodyError::TooLarge) => return too_large("decompressed request body"),
        Err(BodyError::Invalid(msg)) => {
            return status_body(
                StatusCode::BAD_REQUEST,
                tonic::Code::InvalidArgument,
                msg,
                enc,
            )
        }
        Err(BodyError::InvalidData(e)) => {
            // Refused whole: prost could not decode it later (see `signal::scan`).
            crate::telemetry::events::receiver_refused(sink.id(), "http", S::KIND, e.items());
            tracing::debug!(receiver = sink.id(), error = %e, "invalid OTLP request refused");
            return status_body(
                StatusCode::BAD_REQUEST,
                tonic::Code::InvalidArgument,
                format!("cannot decode the OTLP request: {e}"),
                enc,
            );
        }
    };
    match sink.accept(batch, "http").await {
        Ok(()) => {
            let body = match enc {
                Encoding::Proto => Bytes::new(),
                Encoding::Json => Bytes::from_static(b"{}"),
            };
            let mut r = Response::new(Full::new(body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(enc.content_type()),
            );
            r
        }
        Err(e) => {
            tracing::debug!(receiver = sink.id(), error = %e, "request refused");
            refusal(&e, enc)
        }
    }
}

/// OTLP/JSON into a batch. The request is re-encoded as protobuf and scanned, so JSON and protobuf
/// senders get the same validation (hex ids of the right length) and the data moves on encoded.
fn decode_json<S: Signal>(body: &[u8]) -> Result<Batch<S>, JsonError> {
    let req: S::Request = serde_json::from_slice(body)
        .map_err(|e| JsonError::Json(format!("cannot decode the JSON request: {e}")))?;
    Batch::<S>::from_encoded(Bytes::from(req.encode_to_vec())).map_err(JsonError::Data)
}

enum JsonError {
    Json(String),
    Data(DecodeError),
}

enum ReadError {
    TooLarge,
    Read(hyper::Error),
}

/// Reads at most `limit` bytes of body. Past the limit the rest is read and discarded (up to a bound),
/// so that the client gets the 413 answer instead of a broken connection it would retry.
async fn read_limited(mut body: Incoming, limit: usize) -> Result<Bytes, ReadError> {
    const DISCARD_AT_MOST: usize = 64 << 20;
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReadError::Read)?;
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total > limit {
                buf = bytes::BytesMut::new();
                if total > limit + DISCARD_AT_MOST {
                    return Err(ReadError::TooLarge);
                }
            } else {
                buf.extend_from_slice(&data);
            }
        }
    }
    if total > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(buf.freeze())
}

/// Why a request body was refused: too large once decompressed (413), or not decodable (400).
#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    Invalid(String),
    /// Read as OTLP, but prost would not decode it (counted as refused, with its items).
    InvalidData(DecodeError),
}

/// A request body as read from the wire into a batch: decompressed per `Content-Encoding` (only the
/// `allowed` algorithms, never past `limit` bytes), then decoded as protobuf or OTLP/JSON and
/// validated. Pure, so that it can be fuzzed (see `fuzz/`).
pub fn decode_body<S: Signal>(
    raw: Bytes,
    content_encoding: &str,
    json: bool,
    limit: usize,
    allowed: &[String],
) -> Result<Batch<S>, BodyError> {
    use crate::compression::{decompress_sync, Algorithm, DecompressError};
    // An uncompressed body is always accepted, whatever `compression_algorithms` lists (otelcol).
    // Framed snappy (`x-snappy-framed`) is a snappy stream: enabled by `snappy` too.
    let family = |a: Algorithm| match a {
        Algorithm::SnappyFramed => Algorithm::Snappy,
        a => a,
    };
    let algo = Algorithm::from_content_encoding(content_encoding).filter(|a| {
        *a == Algorithm::None
            || allowed
                .iter()
                .filter_map(|x| Algorithm::from_config(x))
                .any(|x| x == *a || x == family(*a))
    });
    let Some(algo) = algo else {
        return Err(BodyError::Invalid(format!(
            "unsupported Content-Encoding {content_encoding:?}; enabled: {}",
            allowed
                .iter()
                .filter(|a| !a.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let body = decompress_sync(algo, raw, limit).map_err(|e| match e {
        DecompressError::TooLarge => BodyError::TooLarge,
        DecompressError::Invalid(m) => BodyError::Invalid(m),
    })?;
    if json {
        decode_json::<S>(&body).map_err(|e| match e {
            JsonError::Json(msg) => BodyError::Invalid(msg),
            JsonError::Data(e) => BodyError::InvalidData(e),
        })
    } else {
        Batch::<S>::from_encoded(body).map_err(BodyError::InvalidData)
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    /// `compression_algorithms` decides which encodings are decoded: snappy and lz4 work when
    /// listed, are refused (400) when not, and an uncompressed body is always accepted (otelcol).
    #[test]
    fn compression_algorithms_are_honoured() {
        use crate::compression::{Algorithm, Encoder};
        use crate::signal::Traces;
        let body = bytes::Bytes::from(prost::Message::encode_to_vec(
            &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::default(),
        ));
        let listed: Vec<String> = vec!["snappy".into(), "lz4".into()];
        for (algo, enc) in [(Algorithm::Snappy, "snappy"), (Algorithm::Lz4, "lz4")] {
            let packed = Encoder::new(algo, 0).compress_sync(&body).unwrap();
            let ok =
                super::decode_body::<Traces>(packed.clone().into(), enc, false, 1 << 20, &listed);
            assert!(ok.is_ok(), "{enc} listed: {:?}", ok.err());
            let only_gzip = vec!["gzip".to_string()];
            assert!(
                super::decode_body::<Traces>(packed.into(), enc, false, 1 << 20, &only_gzip)
                    .is_err(),
                "{enc} not listed"
            );
        }
        assert!(super::decode_body::<Traces>(body, "", false, 1 << 20, &listed).is_ok());
    }

    #[test]
    fn cors_wildcards() {
        assert!(wildcard_match(
            "https://*.example.com",
            "https://app.example.com"
        ));
        assert!(!wildcard_match(
            "https://*.example.com",
            "https://example.org"
        ));
        assert!(wildcard_match(
            "http://localhost:3000",
            "http://localhost:3000"
        ));
    }
}
