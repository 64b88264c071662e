//! The `otlp_http` exporter (also `otlphttp`): OTLP/HTTP, protobuf or JSON.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use prost::Message;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{ConfigResult, ExporterFactory, Host, PreparedExporter, StartError};
use crate::config::{duration, ComponentId, ConfigError};
use crate::exporters::helper::settings::ClientTls;
use crate::exporters::helper::{self, ExportError, QueueSettings, RetrySettings, Sender};
use crate::extensions::auth::{AuthSettings, ClientAuthenticator};
use crate::pipeline::AnyConsumer;
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
    #[serde(default = "default_encoding")]
    pub encoding: String,
    #[serde(default = "default_compression")]
    pub compression: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub tls: ClientTls,
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default = "default_http_timeout", with = "duration")]
    pub timeout: Duration,
    #[serde(default)]
    pub read_buffer_size: Option<u64>,
    #[serde(default)]
    pub write_buffer_size: Option<u64>,
    #[serde(default)]
    pub max_idle_conns: Option<u64>,
    #[serde(default)]
    pub max_idle_conns_per_host: Option<u64>,
    #[serde(default)]
    pub max_conns_per_host: Option<u64>,
    #[serde(default)]
    pub idle_conn_timeout: Option<Value>,
    #[serde(default)]
    pub disable_keep_alives: bool,
    #[serde(default)]
    pub auth: Option<AuthSettings>,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
    #[serde(default)]
    pub sending_queue: QueueSettings,
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
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if c.endpoint.is_none()
            && (c.traces_endpoint.is_none()
                || c.metrics_endpoint.is_none()
                || c.logs_endpoint.is_none())
        {
            errors.push(ConfigError::new(
                format!("{path}::endpoint"),
                "at least one endpoint must be specified: endpoint, or traces_endpoint, metrics_endpoint and logs_endpoint",
            ));
        }
        for (key, v) in [
            ("endpoint", &c.endpoint),
            ("traces_endpoint", &c.traces_endpoint),
            ("metrics_endpoint", &c.metrics_endpoint),
            ("logs_endpoint", &c.logs_endpoint),
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
        if !["gzip", "none", "", "zstd", "deflate", "zlib"].contains(&c.compression.as_str()) {
            errors.push(ConfigError::new(
                format!("{path}::compression"),
                format!(
                    "unsupported compression {:?} (gzip, zstd, deflate, none)",
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
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(c))
    }
}

impl Config {
    fn url_for(&self, signal: SignalKind) -> String {
        let specific = match signal {
            SignalKind::Traces => &self.traces_endpoint,
            SignalKind::Metrics => &self.metrics_endpoint,
            SignalKind::Logs => &self.logs_endpoint,
        };
        if let Some(s) = specific {
            return s.clone();
        }
        let base = self.endpoint.clone().unwrap_or_default();
        format!("{}/v1/{}", base.trim_end_matches('/'), signal.as_str())
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
        if https && !self.tls.insecure {
            b = b.use_preconfigured_tls(
                (*self
                    .tls
                    .load(&[crate::tls::ALPN_H2, crate::tls::ALPN_HTTP])?)
                .clone(),
            );
        }
        if let Some(p) = &self.proxy_url {
            b = b.proxy(reqwest::Proxy::all(p).map_err(|e| format!("proxy_url {p:?}: {e}"))?);
        }
        if self.disable_keep_alives {
            b = b.pool_max_idle_per_host(0);
        }
        b.build().map_err(|e| e.to_string())
    }
}

impl PreparedExporter for Config {
    fn create(
        &self,
        id: &ComponentId,
        signal: SignalKind,
        host: &Host,
    ) -> Result<AnyConsumer, StartError> {
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
            url: self.url_for(signal),
            json: self.encoding == "json",
            compression: self.compression.clone(),
            headers: self.headers.clone(),
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
    compression: String,
    headers: BTreeMap<String, String>,
    id: String,
    auth: Option<Arc<dyn ClientAuthenticator>>,
}

fn compress(algo: &str, data: &[u8]) -> std::io::Result<Vec<u8>> {
    match algo {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 4),
                flate2::Compression::fast(),
            );
            e.write_all(data)?;
            e.finish()
        }
        "deflate" | "zlib" => {
            let mut e = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(data.len() / 4),
                flate2::Compression::fast(),
            );
            e.write_all(data)?;
            e.finish()
        }
        "zstd" => zstd::stream::encode_all(data, 1),
        _ => Ok(data.to_vec()),
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v.trim()).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

#[async_trait]
impl<S: Signal> Sender<S> for HttpSender {
    async fn send(&self, batch: &Batch<S>) -> Result<(), ExportError> {
        let body: Bytes = if self.json {
            let mut b = batch.clone();
            Bytes::from(
                b.to_json()
                    .map_err(|e| ExportError::permanent(format!("cannot encode as JSON: {e}")))?,
            )
        } else {
            batch.encode_to_bytes()
        };
        let mut req = self.client.post(&self.url).header(
            "content-type",
            if self.json {
                "application/json"
            } else {
                "application/x-protobuf"
            },
        );
        let body = match self.compression.as_str() {
            "" | "none" => body,
            algo => {
                req = req.header(
                    "content-encoding",
                    if algo == "zlib" { "deflate" } else { algo },
                );
                Bytes::from(
                    compress(algo, &body)
                        .map_err(|e| ExportError::permanent(format!("compression failed: {e}")))?,
                )
            }
        };
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some(auth) = &self.auth {
            for (k, v) in auth
                .headers(batch.metadata.as_deref())
                .map_err(ExportError::permanent)?
            {
                req = req.header(k, v);
            }
        }
        let resp = req.body(body).send().await.map_err(|e| {
            ExportError::retryable(format!("request to {} failed: {e}", self.url), None)
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
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
            if let Some((rejected, msg)) = parsed.as_ref().and_then(S::partial_success) {
                if rejected > 0 || !msg.is_empty() {
                    crate::telemetry::events::exporter_send_failed(
                        &self.id,
                        S::KIND,
                        rejected.max(0) as usize,
                    );
                    tracing::warn!(exporter = %self.id, rejected, message = %msg, "partial success: the destination rejected some items");
                }
            }
            return Ok(());
        }
        let detail = String::from_utf8_lossy(&body[..body.len().min(512)]).to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
