//! The `otlp_grpc` exporter (also `otlp`): OTLP/gRPC to another collector or backend. Batches that are
//! still encoded are written as they arrived, without re-encoding.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderName, HeaderValue};
use prost::Message;
use serde::Deserialize;
use serde_yaml::Value;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tower::{Service, ServiceExt};

use crate::component::{ConfigResult, ExporterFactory, Host, PreparedExporter, StartError};
use crate::compression::{Algorithm, Encoder};
use crate::config::duration::opt_duration;
use crate::config::{duration, ComponentId, ConfigError};
use crate::exporters::helper::errors::{error_chain, transport_cause};
use crate::exporters::helper::settings::{default_timeout, ClientTls};
use crate::exporters::helper::{
    self, headers, Accepted, ExportError, QueueSettings, RetrySettings, Sender,
};
use crate::extensions::auth::{AuthSettings, ClientAuthenticator};
use crate::pipeline::AnyConsumer;
use crate::signal::codec::RawCodec;
use crate::signal::{Batch, Signal, SignalKind};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub endpoint: String,
    #[serde(default)]
    pub tls: ClientTls,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_compression")]
    pub compression: String,
    #[serde(default)]
    pub keepalive: Option<ClientKeepalive>,
    #[serde(default)]
    pub balancer_name: Option<String>,
    #[serde(default)]
    pub authority: Option<String>,
    #[serde(default)]
    pub wait_for_ready: bool,
    #[serde(default)]
    pub auth: Option<AuthSettings>,
    #[serde(default)]
    pub read_buffer_size: Option<u64>,
    #[serde(default)]
    pub write_buffer_size: Option<u64>,
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
    #[serde(default)]
    pub sending_queue: QueueSettings,
    /// The key path of this exporter, for warnings.
    #[serde(skip)]
    path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientKeepalive {
    #[serde(default, with = "opt_duration")]
    pub time: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub permit_without_stream: bool,
}

fn default_compression() -> String {
    "gzip".into()
}

pub struct Factory;

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        "otlp_grpc"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["otlp"]
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExporter>> {
        if cfg.is_null() || cfg.get("endpoint").is_none() {
            return Err(vec![ConfigError::new(
                format!("{path}::endpoint"),
                "requires a non-empty \"endpoint\"",
            )]);
        }
        let mut c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        c.path = path.to_string();
        let mut errors = Vec::new();
        if grpc_compression(&c.compression).is_err() {
            errors.push(ConfigError::new(
                format!("{path}::compression"),
                format!(
                    "unsupported compression {:?} (gzip, zstd, deflate, snappy, none)",
                    c.compression
                ),
            ));
        }
        c.tls.validate(&format!("{path}::tls"), &mut errors);
        if let Some(a) = &c.auth {
            a.validate(&format!("{path}::auth"), &mut errors);
        }
        c.retry_on_failure.validate(path, &mut errors);
        c.sending_queue.validate(path, &mut errors);
        if let Err(e) = check_endpoint(&c.endpoint) {
            errors.push(ConfigError::new(format!("{path}::endpoint"), e));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(c))
    }
}

/// `dns://authority/host:port` or `dns:///host:port` → `host:port` (gRPC's name syntax, as
/// otelcol's exporter accepts it); anything else unchanged.
fn strip_dns(ep: &str) -> Result<&str, String> {
    let Some(rest) = ep.strip_prefix("dns://") else {
        return Ok(ep);
    };
    let hostport = match rest.strip_prefix('/') {
        Some(h) => h,
        None => rest.split_once('/').map(|(_, h)| h).unwrap_or(""),
    };
    if hostport.is_empty() || hostport.contains('/') {
        return Err(format!(
            "invalid dns scheme format {ep:?} (dns:///host:port or dns://authority/host:port)"
        ));
    }
    Ok(hostport)
}

/// otelcol's `Validate`: a non-empty endpoint whose `host:port` has a numeric port, after an
/// `http://`, `https://` or `dns://…/` prefix. `unix://` paths are accepted (and fail at start).
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let ep = endpoint.trim();
    if ep.is_empty() {
        return Err("requires a non-empty \"endpoint\"".into());
    }
    if ep.starts_with("unix:") {
        return Ok(());
    }
    let hostport = if let Some(r) = ep.strip_prefix("http://") {
        r.split('/').next().unwrap_or(r)
    } else if let Some(r) = ep.strip_prefix("https://") {
        r.split('/').next().unwrap_or(r)
    } else if ep.starts_with("dns:") {
        strip_dns(ep)?
    } else if ep.contains("://") {
        return Err(format!(
            "unsupported scheme in endpoint {ep:?} (use host:port, http://, https://, dns:// or unix://)"
        ));
    } else {
        ep
    };
    let Some((host, port)) = hostport.rsplit_once(':') else {
        return Err(format!("address {hostport}: missing port in address"));
    };
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!("address {hostport}: too many colons in address"));
    }
    if port.is_empty() || port.parse::<u64>().is_err() {
        return Err(format!("invalid port {port:?}"));
    }
    Ok(())
}

/// `host:port` gets a scheme from the TLS settings; an explicit `http://` means plaintext.
fn endpoint_uri(c: &Config) -> Result<(String, bool), String> {
    let ep = c.endpoint.trim();
    if ep.is_empty() {
        return Err("requires a non-empty \"endpoint\"".into());
    }
    if ep.starts_with("unix:") {
        return Err(format!(
            "endpoint {ep:?}: unix sockets are not supported by ferrotel's gRPC client yet"
        ));
    }
    let ep = strip_dns(ep)?;
    let (uri, tls) = if let Some(rest) = ep.strip_prefix("https://") {
        (format!("https://{rest}"), true)
    } else if let Some(rest) = ep.strip_prefix("http://") {
        (format!("http://{rest}"), false)
    } else if ep.contains("://") {
        return Err(format!(
            "unsupported scheme in endpoint {ep:?} (use host:port, http:// or https://)"
        ));
    } else if c.tls.insecure {
        (format!("http://{ep}"), false)
    } else {
        (format!("https://{ep}"), true)
    };
    http::Uri::from_str(&uri).map_err(|e| format!("invalid endpoint {ep:?}: {e}"))?;
    Ok((uri, tls))
}

impl Config {
    fn channel(&self) -> Result<Channel, String> {
        let (uri, tls) = endpoint_uri(self)?;
        let target = http::Uri::from_str(&uri).map_err(|e| e.to_string())?;
        // TLS is ours (rustls, configtls semantics): tonic dials a plain http:// endpoint through our
        // connector, since it refuses https:// without its own TLS; the origin stays https://.
        let dial = if tls {
            format!(
                "http://{}",
                target.authority().map(|a| a.as_str()).unwrap_or_default()
            )
        } else {
            uri.clone()
        };
        let mut ep = Endpoint::from_shared(dial)
            .map_err(|e| e.to_string())?
            .tcp_nodelay(true);
        if let Some(k) = &self.keepalive {
            if let Some(t) = k.time {
                ep = ep.http2_keep_alive_interval(t);
            }
            if let Some(t) = k.timeout {
                ep = ep.keep_alive_timeout(t);
            }
            ep = ep.keep_alive_while_idle(k.permit_without_stream);
        }
        if let Some(a) = &self.authority {
            let origin =
                http::Uri::from_str(&format!("{}://{a}", if tls { "https" } else { "http" }))
                    .map_err(|e| format!("invalid authority {a:?}: {e}"))?;
            ep = ep.origin(origin);
        }
        if tls {
            if self.authority.is_none() {
                ep = ep.origin(target);
            }
            return Ok(ep.connect_with_connector_lazy(self.tls.grpc_connector()?));
        }
        Ok(ep.connect_lazy())
    }
}

/// The compressor and `grpc-encoding` for `compression` (gzip, zstd, snappy, and zlib sent as
/// `deflate`; `none` sends plain). Level: gzip at 6 and zstd at 3, the defaults of otelcol's gRPC
/// client, which has no level key. gRPC's `snappy` is the snappy framing format, not a raw block:
/// what otelcol's configgrpc registers under that name (golang/snappy's buffered writer).
fn grpc_compression(name: &str) -> Result<Option<(Encoder, &'static str)>, ()> {
    match Algorithm::from_config(name) {
        Some(Algorithm::None) => Ok(None),
        Some(Algorithm::Gzip) => Ok(Some((Encoder::new(Algorithm::Gzip, 0), "gzip"))),
        Some(Algorithm::Zstd) => Ok(Some((Encoder::new(Algorithm::Zstd, 0), "zstd"))),
        Some(Algorithm::Snappy) if name == "snappy" => {
            Ok(Some((Encoder::new(Algorithm::SnappyFramed, 0), "snappy")))
        }
        Some(Algorithm::Zlib) if name == "deflate" => {
            Ok(Some((Encoder::new(Algorithm::Zlib, 0), "deflate")))
        }
        _ => Err(()),
    }
}

impl PreparedExporter for Config {
    fn warnings(&self) -> Vec<String> {
        let mut w = headers::warnings(&self.headers, &self.path, true);
        if self.endpoint.trim().starts_with("unix:") {
            w.push(format!(
                "{}::endpoint: unix sockets are not supported by ferrotel's gRPC client yet; the exporter will fail to start",
                self.path
            ));
        } else if let Some(r) = self.endpoint.trim().strip_prefix("dns://") {
            if !r.starts_with('/') {
                w.push(format!(
                    "{}::endpoint: the DNS authority is ignored; the system resolver is used",
                    self.path
                ));
            }
        }
        for (key, set) in [
            (
                "read_buffer_size",
                self.read_buffer_size.is_some_and(|n| n > 0),
            ),
            (
                "write_buffer_size",
                self.write_buffer_size.is_some_and(|n| n > 0),
            ),
        ] {
            if set {
                w.push(format!(
                    "{}::{key}: not supported by ferrotel's gRPC client; ignored",
                    self.path
                ));
            }
        }
        w
    }

    fn create(
        &self,
        id: &ComponentId,
        signal: SignalKind,
        host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        let channel = self
            .channel()
            .map_err(|e| StartError::new(format!("exporters::{id}"), e))?;
        let auth = self
            .auth
            .as_ref()
            .map(|a| crate::extensions::auth::client(host, a, &format!("exporters::{id}")))
            .transpose()?;
        let compression = grpc_compression(&self.compression).unwrap_or(None);
        let metadata: Vec<(HeaderName, HeaderValue)> = self
            .headers
            .iter()
            .filter_map(|(k, v)| {
                let k = MetadataKey::<tonic::metadata::Ascii>::from_str(&k.to_ascii_lowercase())
                    .ok()?;
                let v = MetadataValue::<tonic::metadata::Ascii>::from_str(v).ok()?;
                Some((
                    HeaderName::from_bytes(k.as_str().as_bytes()).ok()?,
                    HeaderValue::from_bytes(v.as_encoded_bytes()).ok()?,
                ))
            })
            .collect();
        let sender = GrpcSender {
            channel,
            compression,
            headers: Arc::new(metadata),
            bad_header: headers::first_problem(&self.headers, true),
            id: id.to_string(),
            auth,
        };
        helper::for_signal(
            signal,
            id,
            sender,
            self.timeout,
            &self.retry_on_failure,
            &self.sending_queue,
            host,
        )
    }
}

#[derive(Clone)]
struct GrpcSender {
    channel: Channel,
    /// The compressor and its `grpc-encoding` name; tonic never compresses: the message is
    /// compressed by `crate::compression` (off the async workers when large) and framed here.
    compression: Option<(Encoder, &'static str)>,
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    /// A configured header that cannot be sent: every send fails permanently with this.
    bad_header: Option<String>,
    id: String,
    auth: Option<Arc<dyn ClientAuthenticator>>,
}

#[async_trait]
impl<S: Signal> Sender<S> for GrpcSender {
    async fn send(&self, batch: &Batch<S>) -> Result<Accepted, ExportError> {
        if let Some(p) = &self.bad_header {
            return Err(ExportError::permanent(p.clone()));
        }
        let mut req = http::Request::builder()
            .method(http::Method::POST)
            .version(http::Version::HTTP_2)
            .uri(S::GRPC_PATH)
            .header(http::header::TE, "trailers")
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .body(())
            .map_err(|e| ExportError::permanent(format!("cannot build the request: {e}")))?;
        let h = req.headers_mut();
        if let Some(auth) = &self.auth {
            // The authenticator sees the exporter's own headers (headers_setter's insert, update
            // and delete act on them) and its result replaces them.
            let mut own = http::HeaderMap::new();
            for (k, v) in self.headers.iter() {
                own.insert(k.clone(), v.clone());
            }
            auth.apply(&mut own, batch.metadata.as_deref())
                .map_err(ExportError::permanent)?;
            for (k, v) in own.iter() {
                match (
                    MetadataKey::<tonic::metadata::Ascii>::from_bytes(k.as_str().as_bytes()),
                    MetadataValue::<tonic::metadata::Ascii>::try_from(v.as_bytes()),
                ) {
                    (Ok(_), Ok(_)) => {
                        h.insert(k.clone(), v.clone());
                    }
                    _ => {
                        return Err(ExportError::permanent(format!(
                            "the authenticator's header {k:?} cannot be sent as gRPC metadata"
                        )))
                    }
                }
            }
        } else {
            for (k, v) in self.headers.iter() {
                h.insert(k.clone(), v.clone());
            }
        }
        let segments = batch.encoded_segments();
        let chunks = match &self.compression {
            Some((encoder, name)) => {
                h.insert("grpc-encoding", HeaderValue::from_static(name));
                let message = encoder
                    .compress_segments(segments)
                    .await
                    .map_err(|e| ExportError::permanent(format!("compression failed: {e}")))?;
                vec![frame_header(true, message.len())?, message]
            }
            None => {
                let len = segments.iter().map(Bytes::len).sum();
                let mut chunks = Vec::with_capacity(segments.len() + 1);
                chunks.push(frame_header(false, len)?);
                chunks.extend(segments);
                chunks
            }
        };
        let body = http_body_util::StreamBody::new(futures::stream::iter(
            chunks
                .into_iter()
                .map(|b| Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(b))),
        ));
        let req = req.map(|()| tonic::body::Body::new(body));
        let mut channel = self.channel.clone();
        let ready = channel.ready().await.map_err(|e| {
            ExportError::retryable(format!("connection failed: {}", error_chain(&e)), None)
        })?;
        let resp = match ready.call(req).await {
            Ok(r) => r,
            Err(e) => return Err(classify(&tonic::Status::from_error(Box::new(e)))),
        };
        match read_response(resp).await {
            Ok(Some(body)) => {
                let partial = S::Response::decode(body)
                    .ok()
                    .and_then(|r| S::partial_success(&r));
                Ok(Accepted::from_partial_success(&self.id, partial))
            }
            // A trailers-only OK answer has no message: nothing was rejected.
            Ok(None) => Ok(Accepted::ALL),
            Err(status) => Err(classify(&status)),
        }
    }
}

/// The 5-byte gRPC message prefix: the compressed flag and the big-endian length.
fn frame_header(compressed: bool, len: usize) -> Result<Bytes, ExportError> {
    let len = u32::try_from(len).map_err(|_| {
        ExportError::permanent(format!("the request of {len} bytes is too large for gRPC"))
    })?;
    let mut b = BytesMut::with_capacity(5);
    b.put_u8(u8::from(compressed));
    b.put_u32(len);
    Ok(b.freeze())
}

/// The response message of a unary call (`None` for a trailers-only OK), or the status the server
/// (or the HTTP layer) ended the call with: tonic's own response handling, the response being
/// uncompressed since no `grpc-accept-encoding` was offered.
async fn read_response(
    resp: http::Response<tonic::body::Body>,
) -> Result<Option<Bytes>, tonic::Status> {
    let (parts, body) = resp.into_parts();
    if let Some(status) = tonic::Status::from_header_map(&parts.headers) {
        if status.code() != tonic::Code::Ok {
            return Err(status);
        }
        return Ok(None);
    }
    let mut stream =
        tonic::Streaming::<Bytes>::new_response(RawCodec, body, parts.status, None, Some(64 << 20));
    let message = stream.message().await?;
    stream.trailers().await?;
    Ok(message)
}

/// otelcol's classification of a status the destination sent: these codes are retried;
/// RESOURCE_EXHAUSTED only with RetryInfo. A status tonic made up for a transport failure (a reset or
/// closed connection is `Unknown`, an h2 stream reset `Internal`, …) is classified by its cause
/// instead: every transport failure is retried, as grpc-go reports them `Unavailable`.
pub fn classify(status: &tonic::Status) -> ExportError {
    use tonic::Code;
    use tonic_types::StatusExt;
    if let Some(cause) = transport_cause(status) {
        return ExportError::retryable(
            format!(
                "gRPC {:?} (transport failure: {cause}): {}",
                status.code(),
                status.message()
            ),
            None,
        );
    }
    let throttle = status.get_details_retry_info().and_then(|r| r.retry_delay);
    let msg = format!("gRPC {:?}: {}", status.code(), status.message());
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => ExportError::retryable(msg, throttle),
        Code::ResourceExhausted if throttle.is_some() => ExportError::retryable(msg, throttle),
        _ => ExportError::permanent(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_the_destination_sent() {
        let p = |s: tonic::Status| classify(&s).retryable;
        assert!(p(tonic::Status::unavailable("x")));
        assert!(!p(tonic::Status::internal("x")));
        assert!(!p(tonic::Status::unknown("x")));
        assert!(!p(tonic::Status::invalid_argument("x")));
        assert!(!p(tonic::Status::resource_exhausted("x")));
    }

    #[test]
    fn transport_failures_are_retried_whatever_code_tonic_chose() {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let s = tonic::Status::from_error(Box::new(reset));
        assert_eq!(s.code(), tonic::Code::Unknown);
        assert!(classify(&s).retryable, "{:?}", classify(&s));
        let h2: h2::Error = h2::Reason::INTERNAL_ERROR.into();
        let s = tonic::Status::from_error(Box::new(h2));
        assert!(classify(&s).retryable, "{:?}", classify(&s));
    }

    #[test]
    fn snappy_is_the_framing_format_as_otelcols_grpc_snappy() {
        let prep = |c: &str| {
            let cfg: Value =
                serde_yaml::from_str(&format!("{{endpoint: localhost:4317, compression: {c}}}"))
                    .unwrap();
            Factory.prepare(&cfg, "exporters::otlp").map(drop)
        };
        assert!(prep("snappy").is_ok());
        for refused in ["lz4", "x-snappy-framed", "zlib"] {
            let e = prep(refused).unwrap_err();
            assert!(e[0].to_string().contains("snappy"), "{e:?}");
        }
        let (encoder, name) = grpc_compression("snappy").unwrap().unwrap();
        assert_eq!(name, "snappy");
        assert_eq!(encoder.algorithm, Algorithm::SnappyFramed);
    }

    #[test]
    fn header_check_is_a_warning_not_an_error() {
        let cfg: Value = serde_yaml::from_str(
            "{endpoint: localhost:4317, tls: {insecure: true}, headers: {\"can you have a . here?\": v}}",
        )
        .unwrap();
        let p = Factory.prepare(&cfg, "exporters::otlp").unwrap();
        let w = p.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("exporters::otlp::headers::can you have a . here?"));
    }
}
