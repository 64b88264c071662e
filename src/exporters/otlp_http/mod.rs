//! The `otlp_http` exporter (also `otlphttp`): OTLP/HTTP, protobuf or JSON.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use prost::Message;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{ConfigResult, ExporterFactory, Host, PreparedExporter, StartError};
use crate::compression::{Algorithm, Encoder};
use crate::config::{duration, ComponentId, ConfigError};
use crate::exporters::helper::settings::ClientTls;
use crate::exporters::helper::{
    self, headers, Accepted, ExportError, QueueSettings, RetrySettings, Sender,
};
use crate::extensions::auth::{AuthSettings, ClientAuthenticator};
use crate::pipeline::AnyConsumer;
use crate::receivers::otlp::config::opt_duration;
use crate::signal::{Batch, Signal, SignalKind};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub traces_endpoint: Option<String>,
    #[serde(default)]
    pub metrics_endpoint: Option<String>,
    #[serde(default)]
    pub logs_endpoint: Option<String>,
    /// otelcol's profiles signal, which ferrotel has no pipeline for: accepted, warned.
    #[serde(default)]
    pub profiles_endpoint: Option<String>,
    #[serde(default = "default_encoding")]
    pub encoding: String,
    #[serde(default = "default_compression")]
    pub compression: String,
    #[serde(default)]
    pub compression_params: CompressionParams,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub tls: ClientTls,
    #[serde(default)]
    pub proxy_url: Option<String>,
    /// Per attempt; 0 means no timeout (otelcol).
    #[serde(default = "default_http_timeout", with = "duration")]
    pub timeout: Duration,
    /// Not supported by the HTTP client (warned when set).
    #[serde(default)]
    pub read_buffer_size: Option<u64>,
    /// Not supported by the HTTP client (warned when set).
    #[serde(default)]
    pub write_buffer_size: Option<u64>,
    /// Idle connections kept, in total. Each exporter's client talks to one destination, so this
    /// caps the idle connections to it, like `max_idle_conns_per_host` (the smaller one wins).
    #[serde(default)]
    pub max_idle_conns: Option<usize>,
    #[serde(default)]
    pub max_idle_conns_per_host: Option<usize>,
    /// Not supported by the HTTP client (warned when set to a limit).
    #[serde(default)]
    pub max_conns_per_host: Option<u64>,
    /// How long an idle connection is kept; 0 keeps it for ever (otelcol: 90s).
    #[serde(default, with = "opt_duration")]
    pub idle_conn_timeout: Option<Duration>,
    #[serde(default)]
    pub disable_keep_alives: bool,
    #[serde(default)]
    pub auth: Option<AuthSettings>,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
    #[serde(default)]
    pub sending_queue: QueueSettings,
    /// The key path of this exporter, for warnings.
    #[serde(skip)]
    path: String,
}

/// `compression_params` (otelcol's configcompression): `level` 0 is the algorithm's default (6 for
/// gzip/zlib/deflate, about 3 for zstd, as otelcol).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressionParams {
    #[serde(default)]
    pub level: i32,
}

fn default_encoding() -> String {
    "proto".into()
}
fn default_compression() -> String {
    "gzip".into()
}
fn default_http_timeout() -> Duration {
    Duration::from_secs(30)
}

pub struct Factory;

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        "otlp_http"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["otlphttp"]
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExporter>> {
        let mut c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        c.path = path.to_string();
        let mut errors = Vec::new();
        // As otelcol: one endpoint of any kind is enough to load; a signal used in a pipeline
        // without its endpoint (and without `endpoint`) fails at start (`create`).
        if c.endpoint.is_none()
            && c.traces_endpoint.is_none()
            && c.metrics_endpoint.is_none()
            && c.logs_endpoint.is_none()
            && c.profiles_endpoint.is_none()
        {
            errors.push(ConfigError::new(
                format!("{path}::endpoint"),
                "at least one endpoint must be specified: endpoint, or traces_endpoint, metrics_endpoint, logs_endpoint",
            ));
        }
        for (key, v) in [
            ("endpoint", &c.endpoint),
            ("traces_endpoint", &c.traces_endpoint),
            ("metrics_endpoint", &c.metrics_endpoint),
            ("logs_endpoint", &c.logs_endpoint),
            ("profiles_endpoint", &c.profiles_endpoint),
        ] {
            if let Some(v) = v {
                if reqwest::Url::parse(v)
                    .map(|u| !["http", "https"].contains(&u.scheme()))
                    .unwrap_or(true)
                {
                    errors.push(ConfigError::new(
                        format!("{path}::{key}"),
                        format!("invalid URL {v:?}: expected http:// or https://"),
                    ));
                }
            }
        }
        if !["proto", "json"].contains(&c.encoding.as_str()) {
            errors.push(ConfigError::new(
                format!("{path}::encoding"),
                format!("unsupported encoding {:?} (proto, json)", c.encoding),
            ));
        }
        match Algorithm::from_config(&c.compression) {
            None => errors.push(ConfigError::new(
                format!("{path}::compression"),
                format!(
                    "unsupported compression {:?} (gzip, zstd, zlib, deflate, snappy, x-snappy-framed, lz4, none)",
                    c.compression
                ),
            )),
            Some(a) => {
                if let Err(e) = a.validate_level(c.compression_params.level) {
                    errors.push(ConfigError::new(
                        format!("{path}::compression_params::level"),
                        e,
                    ));
                }
            }
        }
        c.tls.validate(&format!("{path}::tls"), &mut errors);
        if let Some(a) = &c.auth {
            a.validate(&format!("{path}::auth"), &mut errors);
        }
        c.retry_on_failure.validate(path, &mut errors);
        c.sending_queue.validate(path, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(c))
    }
}

impl Config {
    /// The URL one signal is sent to; `None` when neither `endpoint` nor the signal's own
    /// endpoint is set (otelcol then fails that signal's exporter at start).
    fn url_for(&self, signal: SignalKind) -> Option<String> {
        let specific = match signal {
            SignalKind::Traces => &self.traces_endpoint,
            SignalKind::Metrics => &self.metrics_endpoint,
            SignalKind::Logs => &self.logs_endpoint,
        };
        if let Some(s) = specific {
            return Some(s.clone());
        }
        let base = self.endpoint.as_ref()?;
        Some(format!(
            "{}/v1/{}",
            base.trim_end_matches('/'),
            signal.as_str()
        ))
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder().tcp_nodelay(true);
        // Our rustls config (configtls semantics) only matters for https:// URLs.
        let https = [
            &self.endpoint,
            &self.traces_endpoint,
            &self.metrics_endpoint,
            &self.logs_endpoint,
        ]
        .into_iter()
        .flatten()
        .any(|u| u.starts_with("https://"));
        b = self
            .tls
            .http_client(b, https, &[crate::tls::ALPN_H2, crate::tls::ALPN_HTTP])?;
        if let Some(p) = &self.proxy_url {
            b = b.proxy(reqwest::Proxy::all(p).map_err(|e| format!("proxy_url {p:?}: {e}"))?);
        }
        let idle = [self.max_idle_conns, self.max_idle_conns_per_host]
            .into_iter()
            .flatten()
            .min();
        if self.disable_keep_alives {
            b = b.pool_max_idle_per_host(0);
        } else if let Some(n) = idle {
            b = b.pool_max_idle_per_host(n);
        }
        if let Some(t) = self.idle_conn_timeout {
            b = b.pool_idle_timeout((!t.is_zero()).then_some(t));
        }
        b.build().map_err(|e| e.to_string())
    }

    fn encoder(&self) -> Encoder {
        Encoder::new(
            Algorithm::from_config(&self.compression).unwrap_or(Algorithm::None),
            self.compression_params.level,
        )
    }
}

impl PreparedExporter for Config {
    fn check_signal(&self, signal: SignalKind) -> Result<(), String> {
        match self.url_for(signal) {
            Some(_) => Ok(()),
            None => Err(format!(
                "either endpoint or {}_endpoint must be specified",
                signal.as_str()
            )),
        }
    }
    fn warnings(&self) -> Vec<String> {
        let path = &self.path;
        let mut w = headers::warnings(&self.headers, path, false);
        if self.profiles_endpoint.is_some() {
            w.push(format!(
                "{path}::profiles_endpoint: ferrotel has no profiles pipelines; ignored"
            ));
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
            (
                "max_conns_per_host",
                self.max_conns_per_host.is_some_and(|n| n > 0),
            ),
        ] {
            if set {
                w.push(format!(
                    "{path}::{key}: not supported by ferrotel's HTTP client; ignored"
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
        let url = self.url_for(signal).ok_or_else(|| {
            StartError::new(
                format!("exporters::{id}"),
                format!(
                    "used in a {} pipeline but neither endpoint nor {}_endpoint is set",
                    signal.as_str(),
                    signal.as_str()
                ),
            )
        })?;
        let client = self
            .client()
            .map_err(|e| StartError::new(format!("exporters::{id}"), e))?;
        let auth = self
            .auth
            .as_ref()
            .map(|a| crate::extensions::auth::client(host, a, &format!("exporters::{id}")))
            .transpose()?;
        let sender = HttpSender {
            client,
            url,
            json: self.encoding == "json",
            encoder: self.encoder(),
            // Parsed once here; an entry that does not parse is `bad_header`, which fails every send.
            headers: {
                let mut h = http::HeaderMap::new();
                for (k, v) in &self.headers {
                    if let (Ok(k), Ok(v)) = (
                        http::HeaderName::from_bytes(k.as_bytes()),
                        http::HeaderValue::from_str(v),
                    ) {
                        h.insert(k, v);
                    }
                }
                h
            },
            bad_header: headers::first_problem(&self.headers, false),
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

struct HttpSender {
    client: reqwest::Client,
    url: String,
    json: bool,
    encoder: Encoder,
    headers: http::HeaderMap,
    /// A configured header that cannot be sent: every send fails permanently with this.
    bad_header: Option<String>,
    id: String,
    auth: Option<Arc<dyn ClientAuthenticator>>,
}

/// A request that failed before a response: a builder error (a header or URL that cannot be sent)
/// can never succeed; everything else is the transport (refused, reset, broken pipe, TLS, GOAWAY,
/// timeout) and is retried, as otelcol retries every failed `client.Do`.
fn classify_request_error(url: &str, e: &reqwest::Error) -> ExportError {
    let cause = crate::exporters::helper::errors::error_chain(e);
    if e.is_builder() {
        return ExportError::permanent(format!("cannot build the request to {url}: {cause}"));
    }
    ExportError::retryable(format!("request to {url} failed: {cause}"), None)
}

impl HttpSender {
    /// Encodes (protobuf or JSON) and compresses the body; large ones on the blocking pool.
    async fn body<S: Signal>(&self, batch: &Batch<S>) -> Result<Bytes, ExportError> {
        let body: Bytes = if self.json {
            let mut b = batch.clone();
            // JSON costs per item; about 128 bytes of output each is a fair guess of the work.
            let work = b.items().saturating_mul(128);
            crate::compression::offload(work, move || b.to_json())
                .await
                .map_err(ExportError::permanent)?
                .map(Bytes::from)
                .map_err(|e| ExportError::permanent(format!("cannot encode as JSON: {e}")))?
        } else {
            batch.encode_to_bytes()
        };
        self.encoder
            .compress(body)
            .await
            .map_err(|e| ExportError::permanent(format!("compression failed: {e}")))
    }
}

#[async_trait]
impl<S: Signal> Sender<S> for HttpSender {
    async fn send(&self, batch: &Batch<S>) -> Result<Accepted, ExportError> {
        if let Some(p) = &self.bad_header {
            return Err(ExportError::permanent(p.clone()));
        }
        let body = self.body(batch).await?;
        let mut req = self.client.post(&self.url).header(
            "content-type",
            if self.json {
                "application/json"
            } else {
                "application/x-protobuf"
            },
        );
        if let Some(enc) = self.encoder.algorithm.content_encoding() {
            req = req.header("content-encoding", enc);
        }
        // The exporter's own headers (all valid: `bad_header` is checked above), then the
        // authenticator's on top of them (headers_setter's insert/update/delete see them).
        let mut headers = self.headers.clone();
        if let Some(auth) = &self.auth {
            auth.apply(&mut headers, batch.metadata.as_deref())
                .map_err(ExportError::permanent)?;
        }
        req = req.headers(headers);
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| classify_request_error(&self.url, &e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::exporters::helper::errors::parse_retry_after);
        let json_resp = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"));
        let body = resp.bytes().await.unwrap_or_default();
        if status.is_success() {
            let parsed = if json_resp {
                serde_json::from_slice::<S::Response>(&body).ok()
            } else {
                S::Response::decode(body).ok()
            };
            let partial = parsed.as_ref().and_then(S::partial_success);
            return Ok(Accepted::from_partial_success(&self.id, partial));
        }
        let detail = String::from_utf8_lossy(body.get(..512).unwrap_or(&body)).to_string();
        let msg = format!(
            "HTTP {} from {}: {}",
            status.as_u16(),
            self.url,
            detail.trim()
        );
        match status.as_u16() {
            429 | 502 | 503 | 504 => Err(ExportError::retryable(msg, retry_after)),
            _ => Err(ExportError::permanent(msg)),
        }
    }
}
