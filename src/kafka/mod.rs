//! What the `kafka` exporter and receiver share (feature `kafka`): otelcol's `configkafka` client
//! settings (`brokers`, `client_id`, `auth`, `tls`, `metadata`, …) turned into librdkafka properties,
//! and the message encodings (`otlp_proto`, `otlp_json`).
//!
//! The client is librdkafka through the `rdkafka` crate; ferrotel does not speak the Kafka protocol
//! itself. A message is one OTLP export request, as otelcol writes it, so either side interoperates
//! with otelcol's `kafka` components.

use std::time::Duration;

use bytes::Bytes;
use rdkafka::ClientConfig;
use serde::Deserialize;

use crate::config::secret::Secret;
use crate::config::{duration, ConfigError};
use crate::signal::{Batch, Signal};
use crate::tls::ClientTls;

/// `auth:` (otelcol's `configkafka.AuthenticationConfig`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    #[serde(default)]
    pub sasl: Option<Sasl>,
    /// Deprecated in otelcol (use `sasl` with `PLAIN`); accepted as that.
    #[serde(default)]
    pub plain_text: Option<PlainText>,
    /// Deprecated in otelcol (use the top-level `tls`); accepted as that.
    #[serde(default)]
    pub tls: Option<ClientTls>,
    /// Kerberos (GSSAPI) is not built in (librdkafka without Cyrus SASL): refused.
    #[serde(default)]
    pub kerberos: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: Secret,
    #[serde(default)]
    pub mechanism: String,
    /// SASL handshake version (0 or 1); librdkafka always uses v1: accepted.
    #[serde(default)]
    pub version: i32,
    /// Only for `AWS_MSK_IAM_OAUTHBEARER`, which is refused.
    #[serde(default)]
    pub aws_msk: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainText {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: Secret,
}

/// `metadata:` (otelcol's `configkafka.MetadataConfig`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    #[serde(default = "yes")]
    pub full: bool,
    #[serde(default = "default_refresh", with = "duration")]
    pub refresh_interval: Duration,
    #[serde(default)]
    pub retry: MetadataRetry,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            full: true,
            refresh_interval: default_refresh(),
            retry: MetadataRetry::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataRetry {
    #[serde(default = "default_retry_max")]
    pub max: u32,
    #[serde(default = "default_retry_backoff", with = "duration")]
    pub backoff: Duration,
}

impl Default for MetadataRetry {
    fn default() -> Self {
        MetadataRetry {
            max: default_retry_max(),
            backoff: default_retry_backoff(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_refresh() -> Duration {
    Duration::from_secs(600)
}
fn default_retry_max() -> u32 {
    3
}
fn default_retry_backoff() -> Duration {
    Duration::from_millis(250)
}
pub fn default_brokers() -> Vec<String> {
    vec!["localhost:9092".into()]
}
pub fn default_client_id() -> String {
    "otel-collector".into()
}

/// The client keys every kafka component has, borrowed from its config.
pub struct Client<'a> {
    pub brokers: &'a [String],
    pub client_id: &'a str,
    pub protocol_version: Option<&'a str>,
    pub resolve_canonical_bootstrap_servers_only: bool,
    pub auth: Option<&'a Auth>,
    pub tls: Option<&'a ClientTls>,
    pub metadata: &'a Metadata,
}

const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

impl Client<'_> {
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        if self.brokers.is_empty() || self.brokers.iter().any(|b| b.trim().is_empty()) {
            errors.push(ConfigError::new(
                format!("{path}::brokers"),
                "at least one broker (host:port) is required, none may be empty",
            ));
        }
        if let Some(v) = self.protocol_version {
            let ok = !v.is_empty()
                && v.split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            if !ok {
                errors.push(ConfigError::new(
                    format!("{path}::protocol_version"),
                    format!("invalid Kafka version {v:?} (e.g. 2.1.0)"),
                ));
            }
        }
        if let Some(tls) = self.tls {
            tls.validate(&format!("{path}::tls"), errors);
        }
        let Some(auth) = self.auth else { return };
        if let Some(tls) = &auth.tls {
            tls.validate(&format!("{path}::auth::tls"), errors);
        }
        if auth.kerberos.is_some() {
            errors.push(ConfigError::new(
                format!("{path}::auth::kerberos"),
                "Kerberos (GSSAPI) is not supported by ferrotel's Kafka client (use auth::sasl with PLAIN or SCRAM-SHA-256/512)",
            ));
        }
        if let Some(s) = &auth.sasl {
            if !MECHANISMS.contains(&s.mechanism.as_str()) {
                errors.push(ConfigError::new(
                    format!("{path}::auth::sasl::mechanism"),
                    format!(
                        "unsupported SASL mechanism {:?} (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; AWS_MSK_IAM_OAUTHBEARER is not supported)",
                        s.mechanism
                    ),
                ));
            }
            if s.username.is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}::auth::sasl::username"),
                    "username is required",
                ));
            }
            if s.password.expose().is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}::auth::sasl::password"),
                    "password is required",
                ));
            }
            if !(0..=1).contains(&s.version) {
                errors.push(ConfigError::new(
                    format!("{path}::auth::sasl::version"),
                    "SASL version must be 0 or 1",
                ));
            }
            if s.aws_msk.is_some() {
                errors.push(ConfigError::new(
                    format!("{path}::auth::sasl::aws_msk"),
                    "AWS MSK IAM is not supported",
                ));
            }
        }
    }

    /// Keys accepted but not (fully) honoured, each with its key path.
    pub fn warnings(&self, path: &str) -> Vec<String> {
        let mut w = Vec::new();
        if self.protocol_version.is_some() {
            w.push(format!(
                "{path}::protocol_version: librdkafka negotiates the protocol version with the broker; ignored"
            ));
        }
        if self.resolve_canonical_bootstrap_servers_only {
            w.push(format!(
                "{path}::resolve_canonical_bootstrap_servers_only: not supported by librdkafka; ignored"
            ));
        }
        if !self.metadata.full {
            w.push(format!(
                "{path}::metadata::full: librdkafka fetches metadata for the topics in use only; ignored"
            ));
        }
        for (key, tls) in [
            ("tls", self.tls),
            ("auth::tls", self.auth.and_then(|a| a.tls.as_ref())),
        ] {
            let Some(t) = tls else { continue };
            for (k, set) in [
                ("server_name_override", t.server_name_override.is_some()),
                ("min_version", t.min_version.is_some()),
                ("max_version", t.max_version.is_some()),
                ("cipher_suites", !t.cipher_suites.is_empty()),
                ("curve_preferences", !t.curve_preferences.is_empty()),
                ("reload_interval", t.reload_interval.is_some()),
                (
                    "include_system_ca_certs_pool",
                    t.include_system_ca_certs_pool,
                ),
            ] {
                if set {
                    w.push(format!(
                        "{path}::{key}::{k}: not supported by the Kafka client (librdkafka/OpenSSL); ignored"
                    ));
                }
            }
        }
        w
    }

    /// The librdkafka properties for these settings.
    pub fn apply(&self, c: &mut ClientConfig) {
        c.set("bootstrap.servers", self.brokers.join(","));
        c.set("client.id", self.client_id);
        c.set(
            "topic.metadata.refresh.interval.ms",
            millis(self.metadata.refresh_interval).to_string(),
        );
        c.set(
            "retry.backoff.ms",
            millis(self.metadata.retry.backoff)
                .clamp(1, 300_000)
                .to_string(),
        );
        let tls = self
            .tls
            .or(self.auth.and_then(|a| a.tls.as_ref()))
            .filter(|t| !t.insecure);
        let sasl = self.auth.and_then(|a| {
            a.sasl
                .as_ref()
                .map(|s| {
                    (
                        s.mechanism.as_str(),
                        s.username.as_str(),
                        s.password.expose(),
                    )
                })
                .or(a
                    .plain_text
                    .as_ref()
                    .map(|p| ("PLAIN", p.username.as_str(), p.password.expose())))
        });
        let protocol = match (tls.is_some(), sasl.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        c.set("security.protocol", protocol);
        if let Some((mechanism, user, password)) = sasl {
            c.set("sasl.mechanisms", mechanism);
            c.set("sasl.username", user);
            c.set("sasl.password", password);
        }
        if let Some(t) = tls {
            if let Some(v) = &t.ca_file {
                c.set("ssl.ca.location", v);
            }
            if let Some(v) = &t.ca_pem {
                c.set("ssl.ca.pem", v);
            }
            if let Some(v) = &t.cert_file {
                c.set("ssl.certificate.location", v);
            }
            if let Some(v) = &t.cert_pem {
                c.set("ssl.certificate.pem", v);
            }
            if let Some(v) = &t.key_file {
                c.set("ssl.key.location", v);
            }
            if let Some(v) = &t.key_pem {
                c.set("ssl.key.pem", v.expose());
            }
            if t.insecure_skip_verify {
                c.set("enable.ssl.certificate.verification", "false");
                c.set("ssl.endpoint.identification.algorithm", "none");
            }
        }
    }
}

/// Whole milliseconds, saturating (librdkafka takes `int` milliseconds).
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis())
        .unwrap_or(i64::MAX)
        .min(i64::from(i32::MAX))
}

/// How a message's value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    OtlpProto,
    OtlpJson,
}

impl Encoding {
    /// `otlp_proto` or `otlp_json`; anything else is refused with a message naming what is supported.
    pub fn parse(s: &str, path: &str, errors: &mut Vec<ConfigError>) -> Encoding {
        match s {
            "otlp_proto" => Encoding::OtlpProto,
            "otlp_json" => Encoding::OtlpJson,
            other => {
                errors.push(ConfigError::new(
                    path,
                    format!(
                        "unsupported encoding {other:?}: ferrotel supports otlp_proto and otlp_json (otelcol's jaeger_*, zipkin_*, raw, text, json and encoding extensions are not available)"
                    ),
                ));
                Encoding::OtlpProto
            }
        }
    }

    /// Encodes a batch as one message value.
    pub fn encode<S: Signal>(self, batch: &mut Batch<S>) -> Result<Bytes, String> {
        match self {
            Encoding::OtlpProto => Ok(batch.encode_to_bytes()),
            Encoding::OtlpJson => batch
                .to_json()
                .map(Bytes::from)
                .map_err(|e| format!("cannot encode as OTLP/JSON: {e}")),
        }
    }

    /// Decodes one message value; an error means the message can never be decoded.
    pub fn decode<S: Signal>(self, value: &[u8]) -> Result<Batch<S>, String> {
        match self {
            Encoding::OtlpProto => Batch::from_encoded(Bytes::copy_from_slice(value))
                .map_err(|e| format!("cannot decode OTLP/protobuf: {e}")),
            Encoding::OtlpJson => serde_json::from_slice::<S::Request>(value)
                .map(Batch::from_request)
                .map_err(|e| format!("cannot decode OTLP/JSON: {e}")),
        }
    }
}
