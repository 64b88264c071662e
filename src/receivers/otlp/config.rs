//! The `otlp` receiver's settings, with otelcol's keys and defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::config::duration;
use crate::extensions::auth::AuthSettings;
use crate::tls::ServerTls;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    #[serde(default)]
    pub protocols: Protocols,
    /// Keys accepted but not implemented, filled in by `prepare`.
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// The key path (`receivers::otlp/x`), for warnings.
    #[serde(skip)]
    pub path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// `grpc:` with no settings enables it with defaults; leaving it out disables it.
    #[serde(default, deserialize_with = "present_or_default")]
    pub grpc: Option<GrpcConfig>,
    #[serde(default, deserialize_with = "present_or_default")]
    pub http: Option<HttpConfig>,
}

fn present_or_default<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    #[serde(default = "default_grpc_endpoint")]
    pub endpoint: String,
    #[serde(default = "default_transport")]
    pub transport: String,
    #[serde(default)]
    pub tls: Option<ServerTls>,
    /// MiB; 0 means otelcol's default of 4.
    #[serde(default)]
    pub max_recv_msg_size_mib: u64,
    /// Per connection; 0 means ferrotel's default of 100 (otelcol: unlimited).
    #[serde(default)]
    pub max_concurrent_streams: u32,
    /// Open connections at most (ferrotel's addition); beyond it new ones wait. 0 = unlimited.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Accepted for otelcol compatibility and ignored with a warning: tonic (hyper's HTTP/2 server)
    /// sizes its transport buffers itself and exposes no such setting. otelcol's default: 512 KiB.
    #[serde(default)]
    pub read_buffer_size: Option<u64>,
    /// As `read_buffer_size`.
    #[serde(default)]
    pub write_buffer_size: Option<u64>,
    #[serde(default)]
    pub keepalive: Option<Keepalive>,
    #[serde(default)]
    pub auth: Option<AuthSettings>,
    #[serde(default)]
    pub include_metadata: bool,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            endpoint: default_grpc_endpoint(),
            transport: default_transport(),
            tls: None,
            max_recv_msg_size_mib: 0,
            max_concurrent_streams: 0,
            max_connections: default_max_connections(),
            read_buffer_size: None,
            write_buffer_size: None,
            keepalive: None,
            auth: None,
            include_metadata: false,
        }
    }
}

impl GrpcConfig {
    pub fn max_recv_msg_size(&self) -> usize {
        let mib = if self.max_recv_msg_size_mib == 0 {
            4
        } else {
            self.max_recv_msg_size_mib
        };
        (mib as usize).saturating_mul(1024 * 1024)
    }

    pub fn max_concurrent_streams(&self) -> u32 {
        if self.max_concurrent_streams == 0 {
            100
        } else {
            self.max_concurrent_streams
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keepalive {
    #[serde(default)]
    pub server_parameters: Option<ServerParameters>,
    #[serde(default)]
    pub enforcement_policy: Option<EnforcementPolicy>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerParameters {
    #[serde(default, with = "opt_duration")]
    pub max_connection_idle: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    pub max_connection_age: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    pub max_connection_age_grace: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    pub time: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnforcementPolicy {
    #[serde(default, with = "opt_duration")]
    pub min_time: Option<Duration>,
    #[serde(default)]
    pub permit_without_stream: bool,
}

pub use crate::config::duration::opt_duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_http_endpoint")]
    pub endpoint: String,
    /// otelcol's confighttp `transport` (tcp; `unix` is accepted and fails at start).
    #[serde(default = "default_transport")]
    pub transport: String,
    #[serde(default)]
    pub tls: Option<ServerTls>,
    #[serde(default)]
    pub cors: Option<Cors>,
    #[serde(default = "default_max_body")]
    pub max_request_body_size: u64,
    #[serde(default)]
    pub include_metadata: bool,
    #[serde(default)]
    pub auth: Option<AuthSettings>,
    #[serde(default)]
    pub response_headers: BTreeMap<String, String>,
    #[serde(default = "default_compression_algorithms")]
    pub compression_algorithms: Vec<String>,
    #[serde(default = "default_traces_path")]
    pub traces_url_path: String,
    #[serde(default = "default_metrics_path")]
    pub metrics_url_path: String,
    #[serde(default = "default_logs_path")]
    pub logs_url_path: String,
    /// How long a client may take to send its request headers (ferrotel's addition; see the README).
    #[serde(default = "default_header_timeout", with = "duration")]
    pub read_header_timeout: Duration,
    /// How long a connection may sit idle, and how long a request body may take.
    #[serde(default = "default_idle_timeout", with = "duration")]
    pub idle_timeout: Duration,
    /// Open connections at most (ferrotel's addition); beyond it new ones wait. 0 = unlimited.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// HTTP/2 streams per connection.
    #[serde(default = "default_http_streams")]
    pub max_concurrent_streams: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            transport: default_transport(),
            endpoint: default_http_endpoint(),
            tls: None,
            cors: None,
            max_request_body_size: default_max_body(),
            include_metadata: false,
            auth: None,
            response_headers: BTreeMap::new(),
            compression_algorithms: default_compression_algorithms(),
            traces_url_path: default_traces_path(),
            metrics_url_path: default_metrics_path(),
            logs_url_path: default_logs_path(),
            read_header_timeout: default_header_timeout(),
            idle_timeout: default_idle_timeout(),
            max_connections: default_max_connections(),
            max_concurrent_streams: default_http_streams(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub exposed_headers: Vec<String>,
    #[serde(default)]
    pub max_age: u64,
}

fn default_grpc_endpoint() -> String {
    "localhost:4317".into()
}
fn default_http_endpoint() -> String {
    "localhost:4318".into()
}
fn default_transport() -> String {
    "tcp".into()
}
fn default_max_body() -> u64 {
    20 * 1024 * 1024
}
fn default_compression_algorithms() -> Vec<String> {
    ["", "gzip", "zstd", "zlib", "snappy", "deflate", "lz4"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}
fn default_traces_path() -> String {
    "/v1/traces".into()
}
fn default_metrics_path() -> String {
    "/v1/metrics".into()
}
fn default_logs_path() -> String {
    "/v1/logs".into()
}
fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_connections() -> usize {
    10_000
}
fn default_http_streams() -> u32 {
    100
}
