//! The `jaeger` receiver's settings, with otelcol's keys and defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JaegerReceiverConfig {
    #[serde(default)]
    pub protocols: Protocols,
    /// Refused at validation, as otelcol does: the `jaegerremotesampling` extension replaced it.
    #[serde(default)]
    pub remote_sampling: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    #[serde(default, deserialize_with = "present_or", bound = "")]
    pub grpc: Option<GrpcConfig>,
    #[serde(default, deserialize_with = "present_or", bound = "")]
    pub thrift_http: Option<HttpConfig>,
    #[serde(default, deserialize_with = "present_compact")]
    pub thrift_compact: Option<UdpConfig>,
    #[serde(default, deserialize_with = "present_binary")]
    pub thrift_binary: Option<UdpConfig>,
}

/// `grpc:` with no settings enables it with defaults; leaving it out disables it.
fn present_or<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

fn present_compact<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UdpConfig>, D::Error> {
    present_udp(d, 6831)
}

fn present_binary<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UdpConfig>, D::Error> {
    present_udp(d, 6832)
}

fn present_udp<'de, D: Deserializer<'de>>(d: D, port: u16) -> Result<Option<UdpConfig>, D::Error> {
    let mut c = Option::<UdpConfig>::deserialize(d)?.unwrap_or_else(UdpConfig::defaults);
    if c.endpoint.is_empty() {
        c.endpoint = format!("localhost:{port}");
    }
    Ok(Some(c))
}

#[derive(Debug, Clone, Deserialize)]
pub struct GrpcConfig {
    #[serde(default = "default_grpc_endpoint")]
    pub endpoint: String,
    #[serde(default = "default_transport")]
    pub transport: String,
    /// MiB; 0 means otelcol's default of 4.
    #[serde(default)]
    pub max_recv_msg_size_mib: u64,
    #[serde(default)]
    pub max_concurrent_streams: u32,
    /// otelcol's other gRPC server keys: accepted, not implemented (each one is a warning).
    #[serde(flatten)]
    pub unimplemented: BTreeMap<String, serde_yaml::Value>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            endpoint: default_grpc_endpoint(),
            transport: default_transport(),
            max_recv_msg_size_mib: 0,
            max_concurrent_streams: 0,
            unimplemented: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpConfig {
    #[serde(default = "default_http_endpoint")]
    pub endpoint: String,
    #[serde(default = "default_max_body")]
    pub max_request_body_size: u64,
    /// otelcol's other HTTP server keys: accepted, not implemented (each one is a warning).
    #[serde(flatten)]
    pub unimplemented: BTreeMap<String, serde_yaml::Value>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            endpoint: default_http_endpoint(),
            max_request_body_size: default_max_body(),
            unimplemented: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpConfig {
    /// `localhost:6831` (compact) or `localhost:6832` (binary) when left out.
    #[serde(default)]
    pub endpoint: String,
    /// Packets waiting for a worker; a packet arriving when it is full is dropped (and counted).
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
    /// Larger packets are dropped (and counted).
    #[serde(default = "default_max_packet_size")]
    pub max_packet_size: usize,
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// SO_RCVBUF in bytes; 0 leaves the system's default.
    #[serde(default)]
    pub socket_buffer_size: usize,
}

impl UdpConfig {
    fn defaults() -> Self {
        UdpConfig {
            endpoint: String::new(),
            queue_size: default_queue_size(),
            max_packet_size: default_max_packet_size(),
            workers: default_workers(),
            socket_buffer_size: 0,
        }
    }
}

fn default_grpc_endpoint() -> String {
    "localhost:14250".into()
}
fn default_http_endpoint() -> String {
    "localhost:14268".into()
}
fn default_transport() -> String {
    "tcp".into()
}
fn default_max_body() -> u64 {
    20 * 1024 * 1024
}
fn default_queue_size() -> usize {
    1_000
}
fn default_max_packet_size() -> usize {
    65_000
}
fn default_workers() -> usize {
    10
}
