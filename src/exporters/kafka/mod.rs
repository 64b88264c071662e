//! The `kafka` exporter (traces, metrics, logs): each export request becomes one Kafka message (or
//! several: one per trace or per resource when partitioning, and pieces of a request larger than
//! `producer::max_message_bytes`), written with librdkafka.
//!
//! Delivery: a batch counts as sent only when the broker acknowledged every message of it at
//! `producer::required_acks` (librdkafka's delivery reports); otherwise the whole batch is retried by
//! the exporter helper (queue → retry → timeout), so a failure may write some messages twice (at
//! least once, as otelcol).

mod split;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{ConfigResult, ExporterFactory, Host, PreparedExporter, StartError};
use crate::config::{duration, ComponentId, ConfigError};
use crate::exporters::helper::{self, Accepted, ExportError, QueueSettings, RetrySettings, Sender};
use crate::kafka::{self, Auth, Encoding, Metadata};
use crate::pipeline::AnyConsumer;
use crate::signal::{Batch, Logs, Metrics, Signal, SignalKind, Traces};
use crate::tls::ClientTls;

pub use split::Split;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "kafka::default_brokers")]
    pub brokers: Vec<String>,
    #[serde(default = "kafka::default_client_id")]
    pub client_id: String,
    #[serde(default)]
    pub protocol_version: Option<String>,
    #[serde(default)]
    pub resolve_canonical_bootstrap_servers_only: bool,
    #[serde(default)]
    pub auth: Option<Auth>,
    #[serde(default)]
    pub tls: Option<ClientTls>,
    #[serde(default)]
    pub metadata: Metadata,
    /// Deprecated in otelcol: the topic of every signal (use `traces::topic` etc.).
    #[serde(default)]
    pub topic: Option<String>,
    /// Deprecated in otelcol: the encoding of every signal (use `traces::encoding` etc.).
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub traces: SignalSettings,
    #[serde(default)]
    pub metrics: SignalSettings,
    #[serde(default)]
    pub logs: SignalSettings,
    #[serde(default)]
    pub topic_from_attribute: String,
    #[serde(default)]
    pub partition_traces_by_id: bool,
    #[serde(default)]
    pub partition_metrics_by_resource_attributes: bool,
    #[serde(default)]
    pub partition_logs_by_resource_attributes: bool,
    /// Client metadata keys written as message headers.
    #[serde(default)]
    pub include_metadata_keys: Vec<String>,
    /// A client metadata key whose first value becomes the message key.
    #[serde(default)]
    pub message_key_from_metadata_key: Option<String>,
    #[serde(default)]
    pub producer: Producer,
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
    #[serde(default)]
    pub sending_queue: QueueSettings,
    #[serde(skip)]
    path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSettings {
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
}

/// `producer:` (otelcol's `configkafka.ProducerConfig`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Producer {
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    #[serde(default = "one")]
    pub required_acks: i32,
    #[serde(default = "default_compression")]
    pub compression: String,
    #[serde(default)]
    pub compression_params: CompressionParams,
    #[serde(default = "default_flush_max_messages")]
    pub flush_max_messages: usize,
    #[serde(default = "default_linger", with = "duration")]
    pub linger: Duration,
    #[serde(default = "yes")]
    pub allow_auto_topic_creation: bool,
}

impl Default for Producer {
    fn default() -> Self {
        Producer {
            max_message_bytes: default_max_message_bytes(),
            required_acks: 1,
            compression: default_compression(),
            compression_params: CompressionParams::default(),
            flush_max_messages: default_flush_max_messages(),
            linger: default_linger(),
            allow_auto_topic_creation: true,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressionParams {
    #[serde(default)]
    pub level: i32,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_max_message_bytes() -> usize {
    1_000_000
}
fn one() -> i32 {
    1
}
fn yes() -> bool {
    true
}
fn default_compression() -> String {
    "none".into()
}
fn default_flush_max_messages() -> usize {
    10_000
}
fn default_linger() -> Duration {
    Duration::from_millis(10)
}

/// Bytes kept free under `max_message_bytes` for the record's key, headers and framing.
const RECORD_OVERHEAD: usize = 512;

pub struct Factory;

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        "kafka"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExporter>> {
        let mut c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        c.path = path.to_string();
        let mut errors = Vec::new();
        c.client().validate(path, &mut errors);
        for signal in SignalKind::ALL {
            let (key, enc) = c.encoding_key(signal);
            Encoding::parse(&enc, &format!("{path}::{key}"), &mut errors);
            let topic = c.topic_for(signal);
            if topic.is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}::{}::topic", signal.as_str()),
                    "topic must not be empty",
                ));
            }
        }
        let p = &c.producer;
        if !(1000..=1_000_000_000).contains(&p.max_message_bytes) {
            errors.push(ConfigError::new(
                format!("{path}::producer::max_message_bytes"),
                "must be between 1000 and 1000000000 (librdkafka's limits)",
            ));
        }
        if ![0, 1, -1].contains(&p.required_acks) {
            errors.push(ConfigError::new(
                format!("{path}::producer::required_acks"),
                format!(
                    "invalid value {} (0: no acknowledgement, 1: the leader, -1: all in-sync replicas)",
                    p.required_acks
                ),
            ));
        }
        if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&p.compression.as_str()) {
            errors.push(ConfigError::new(
                format!("{path}::producer::compression"),
                format!(
                    "unsupported compression {:?} (none, gzip, snappy, lz4, zstd)",
                    p.compression
                ),
            ));
        }
        let level = p.compression_params.level;
        let level_ok = match p.compression.as_str() {
            _ if level == 0 || level == -1 => true,
            "gzip" => (1..=9).contains(&level),
            "lz4" => (1..=12).contains(&level),
            "zstd" => (1..=22).contains(&level),
            _ => false,
        };
        if !level_ok {
            errors.push(ConfigError::new(
                format!("{path}::producer::compression_params::level"),
                format!("invalid level {level} for compression {:?}", p.compression),
            ));
        }
        if p.flush_max_messages > 1_000_000 {
            errors.push(ConfigError::new(
                format!("{path}::producer::flush_max_messages"),
                "must be at most 1000000 (librdkafka's batch.num.messages limit)",
            ));
        }
        if p.linger > Duration::from_secs(900) {
            errors.push(ConfigError::new(
                format!("{path}::producer::linger"),
                "must be at most 900s (librdkafka's linger.ms limit)",
            ));
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
    fn client(&self) -> kafka::Client<'_> {
        kafka::Client {
            brokers: &self.brokers,
            client_id: &self.client_id,
            protocol_version: self.protocol_version.as_deref(),
            resolve_canonical_bootstrap_servers_only: self.resolve_canonical_bootstrap_servers_only,
            auth: self.auth.as_ref(),
            tls: self.tls.as_ref(),
            metadata: &self.metadata,
        }
    }

    fn signal(&self, signal: SignalKind) -> &SignalSettings {
        match signal {
            SignalKind::Traces => &self.traces,
            SignalKind::Metrics => &self.metrics,
            SignalKind::Logs => &self.logs,
        }
    }

    /// The topic: the signal's own, else the deprecated top-level one, else otelcol's default.
    fn topic_for(&self, signal: SignalKind) -> String {
        self.signal(signal)
            .topic
            .clone()
            .or_else(|| self.topic.clone())
            .unwrap_or_else(|| {
                match signal {
                    SignalKind::Traces => "otlp_spans",
                    SignalKind::Metrics => "otlp_metrics",
                    SignalKind::Logs => "otlp_logs",
                }
                .to_string()
            })
    }

    /// The encoding's key path (for errors) and value.
    fn encoding_key(&self, signal: SignalKind) -> (String, String) {
        if let Some(e) = &self.signal(signal).encoding {
            return (format!("{}::encoding", signal.as_str()), e.clone());
        }
        if let Some(e) = &self.encoding {
            return ("encoding".into(), e.clone());
        }
        ("encoding".into(), "otlp_proto".into())
    }

    fn producer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        self.client().apply(&mut c);
        let p = &self.producer;
        c.set("acks", p.required_acks.to_string());
        c.set("compression.type", &p.compression);
        if p.compression_params.level != 0 {
            c.set("compression.level", p.compression_params.level.to_string());
        }
        c.set("linger.ms", kafka::millis(p.linger).to_string());
        if p.flush_max_messages > 0 {
            c.set("batch.num.messages", p.flush_max_messages.to_string());
        }
        // Messages are split below max_message_bytes by the exporter; librdkafka's own request limit
        // (and its batch.size, which must not exceed it) stays at least its default.
        c.set(
            "message.max.bytes",
            p.max_message_bytes.max(1_000_000).to_string(),
        );
        c.set(
            "allow.auto.create.topics",
            p.allow_auto_topic_creation.to_string(),
        );
        // The key → partition mapping of the Java client, Sarama and franz-go (otelcol), so that
        // `partition_traces_by_id` puts a trace where otelcol would.
        c.set("partitioner", "murmur2_random");
        // librdkafka gives up on a message after this; the helper's timeout and retry take over.
        if !self.timeout.is_zero() {
            c.set(
                "message.timeout.ms",
                kafka::millis(self.timeout).max(1).to_string(),
            );
        }
        c
    }
}

impl PreparedExporter for Config {
    fn warnings(&self) -> Vec<String> {
        let path = &self.path;
        let mut w = self.client().warnings(path);
        if self.topic.is_some() {
            w.push(format!(
                "{path}::topic: deprecated in otelcol; use traces::topic, metrics::topic, logs::topic"
            ));
        }
        if self.encoding.is_some() {
            w.push(format!(
                "{path}::encoding: deprecated in otelcol; use traces::encoding, metrics::encoding, logs::encoding"
            ));
        }
        w
    }

    fn create(
        &self,
        id: &ComponentId,
        signal: SignalKind,
        host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        let producer: FutureProducer = self.producer_config().create().map_err(|e| {
            StartError::new(
                format!("exporters::{id}"),
                format!("cannot create the Kafka producer: {e}"),
            )
        })?;
        let (_, enc) = self.encoding_key(signal);
        let mut ignored = Vec::new();
        let sender = KafkaSender {
            producer,
            topic: self.topic_for(signal),
            encoding: Encoding::parse(&enc, "", &mut ignored),
            topic_from_attribute: self.topic_from_attribute.clone(),
            partition: match signal {
                SignalKind::Traces => self.partition_traces_by_id,
                SignalKind::Metrics => self.partition_metrics_by_resource_attributes,
                SignalKind::Logs => self.partition_logs_by_resource_attributes,
            },
            include_metadata_keys: self.include_metadata_keys.clone(),
            message_key_from_metadata_key: self.message_key_from_metadata_key.clone(),
            max_bytes: self
                .producer
                .max_message_bytes
                .saturating_sub(RECORD_OVERHEAD)
                .max(1),
            queue_timeout: self.timeout,
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

struct KafkaSender {
    producer: FutureProducer,
    topic: String,
    encoding: Encoding,
    topic_from_attribute: String,
    /// `partition_traces_by_id` for traces, `partition_*_by_resource_attributes` otherwise.
    partition: bool,
    include_metadata_keys: Vec<String>,
    message_key_from_metadata_key: Option<String>,
    /// The largest value a message may have.
    max_bytes: usize,
    queue_timeout: Duration,
}

/// One message to write: its key (if any) and value.
struct Message {
    key: Option<Vec<u8>>,
    value: Bytes,
}

/// What each signal does for partitioning: traces by trace id, the others by resource attributes.
trait Partition: Split {
    /// The resources cut into groups with their message keys.
    fn partition(resources: Vec<Self::Resource>) -> Vec<(Vec<u8>, Vec<Self::Resource>)>;
    /// The value of a resource attribute, for `topic_from_attribute`.
    fn attribute(resources: &[Self::Resource], key: &str) -> Option<String>;
}

fn string_attr(
    attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(V::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
}

/// A stable key for a resource's attributes (sorted, then SHA-256, first 16 bytes): resources with
/// the same attributes go to the same partition.
fn resource_key(r: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> Vec<u8> {
    use prost::Message as _;
    use sha2::Digest;
    let mut attrs = r.map(|r| r.attributes.clone()).unwrap_or_default();
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
    let mut h = sha2::Sha256::new();
    for kv in &attrs {
        h.update(kv.encode_to_vec());
    }
    h.finalize()
        .get(..16)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

impl Partition for Traces {
    fn partition(resources: Vec<Self::Resource>) -> Vec<(Vec<u8>, Vec<Self::Resource>)> {
        split::by_trace_id(resources)
            .into_iter()
            .map(|(k, v)| (k.into_bytes(), v))
            .collect()
    }
    fn attribute(resources: &[Self::Resource], key: &str) -> Option<String> {
        resources
            .iter()
            .find_map(|r| string_attr(r.resource.as_ref().map(|r| r.attributes.as_slice())?, key))
    }
}

impl Partition for Metrics {
    fn partition(resources: Vec<Self::Resource>) -> Vec<(Vec<u8>, Vec<Self::Resource>)> {
        resources
            .into_iter()
            .map(|r| (resource_key(r.resource.as_ref()), vec![r]))
            .collect()
    }
    fn attribute(resources: &[Self::Resource], key: &str) -> Option<String> {
        resources
            .iter()
            .find_map(|r| string_attr(r.resource.as_ref().map(|r| r.attributes.as_slice())?, key))
    }
}

impl Partition for Logs {
    fn partition(resources: Vec<Self::Resource>) -> Vec<(Vec<u8>, Vec<Self::Resource>)> {
        resources
            .into_iter()
            .map(|r| (resource_key(r.resource.as_ref()), vec![r]))
            .collect()
    }
    fn attribute(resources: &[Self::Resource], key: &str) -> Option<String> {
        resources
            .iter()
            .find_map(|r| string_attr(r.resource.as_ref().map(|r| r.attributes.as_slice())?, key))
    }
}

/// Packs encoded requests, in order, into messages of at most `max_bytes` each, joining neighbours
/// without decoding them; `None` when one request alone is larger (then it has to be split decoded).
fn pack_segments(segments: Vec<Bytes>, max_bytes: usize) -> Option<Vec<Bytes>> {
    if segments.iter().any(|s| s.len() > max_bytes) {
        return None;
    }
    let mut out = Vec::new();
    let mut run: Vec<Bytes> = Vec::new();
    let mut run_len = 0usize;
    for s in segments {
        if run_len + s.len() > max_bytes && !run.is_empty() {
            out.push(crate::signal::join_segments(std::mem::take(&mut run)));
            run_len = 0;
        }
        run_len += s.len();
        run.push(s);
    }
    if !run.is_empty() {
        out.push(crate::signal::join_segments(run));
    }
    Some(out)
}

/// Encodes `resources` as one message value, or several (cut in halves, recursively) when it
/// encodes larger than `max_bytes`.
fn encode_split<S: Split>(
    encoding: Encoding,
    max_bytes: usize,
    resources: Vec<S::Resource>,
    out: &mut Vec<Bytes>,
) -> Result<(), ExportError> {
    let mut batch = Batch::<S>::from_resources(resources);
    let value = encoding
        .encode(&mut batch)
        .map_err(ExportError::permanent)?;
    if value.len() <= max_bytes {
        out.push(value);
        return Ok(());
    }
    let resources = batch.into_resources().map_err(|e| {
        ExportError::permanent(format!("cannot decode the request to split it: {e}"))
    })?;
    match S::halve(resources) {
        Some((a, b)) => {
            encode_split::<S>(encoding, max_bytes, a, out)?;
            encode_split::<S>(encoding, max_bytes, b, out)
        }
        None => Err(ExportError::permanent(format!(
            "a single {} encodes to {} bytes, more than producer::max_message_bytes allows",
            S::ITEM.trim_end_matches('s'),
            value.len()
        ))),
    }
}

impl KafkaSender {
    /// The messages for one batch: one per request unless partitioning or splitting asks for more.
    fn messages<S: Partition>(
        &self,
        batch: &Batch<S>,
    ) -> Result<(String, Vec<Message>), ExportError> {
        let meta_key = self.message_key_from_metadata_key.as_ref().and_then(|k| {
            batch
                .metadata
                .as_ref()
                .and_then(|m| m.get(k).next().map(|v| v.as_bytes().to_vec()))
        });
        let mut batch = batch.clone();
        let mut topic = None;
        if !self.topic_from_attribute.is_empty() {
            let resources = batch
                .resources()
                .map_err(|e| ExportError::permanent(format!("cannot decode the request: {e}")))?;
            topic = S::attribute(resources, &self.topic_from_attribute);
        }
        let topic = topic.unwrap_or_else(|| self.topic.clone());
        // The fast path: forwarded protobuf is written as it came, never decoded. A batch is a run of
        // encoded requests, and requests joined end to end are one valid request, so a batch above the
        // limit is cut between requests; only a single request above the limit needs decoding.
        if !self.partition && self.encoding == Encoding::OtlpProto && batch.encoded_len() > 0 {
            if let Some(values) = pack_segments(batch.encoded_segments(), self.max_bytes) {
                return Ok((
                    topic,
                    values
                        .into_iter()
                        .map(|value| Message {
                            key: meta_key.clone(),
                            value,
                        })
                        .collect(),
                ));
            }
        }
        let resources = batch
            .into_resources()
            .map_err(|e| ExportError::permanent(format!("cannot decode the request: {e}")))?;
        let groups = if self.partition {
            S::partition(resources)
                .into_iter()
                .map(|(k, r)| (Some(k), r))
                .collect()
        } else {
            vec![(meta_key, resources)]
        };
        let mut messages = Vec::new();
        for (key, resources) in groups {
            let mut values = Vec::new();
            encode_split::<S>(self.encoding, self.max_bytes, resources, &mut values)?;
            messages.extend(values.into_iter().map(|value| Message {
                key: key.clone(),
                value,
            }));
        }
        Ok((topic, messages))
    }

    fn headers<S: Signal>(&self, batch: &Batch<S>) -> Option<OwnedHeaders> {
        let meta = batch.metadata.as_ref()?;
        let mut h = OwnedHeaders::new();
        let mut any = false;
        for k in &self.include_metadata_keys {
            for v in meta.get(k) {
                h = h.insert(Header {
                    key: k,
                    value: Some(v.as_bytes()),
                });
                any = true;
            }
        }
        any.then_some(h)
    }

    async fn send_batch<S: Partition>(&self, batch: &Batch<S>) -> Result<Accepted, ExportError> {
        if batch.items() == 0 {
            return Ok(Accepted::ALL);
        }
        let (topic, messages) = self.messages(batch)?;
        let headers = self.headers(batch);
        let sends = messages.iter().map(|m| {
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&topic).payload(m.value.as_ref());
            if let Some(k) = &m.key {
                record = record.key(k.as_slice());
            }
            if let Some(h) = &headers {
                record = record.headers(h.clone());
            }
            self.producer.send(
                record,
                Timeout::After(self.queue_timeout.max(Duration::from_millis(1))),
            )
        });
        // Every message must be acknowledged; the first failure decides the batch's fate.
        let results = futures::future::join_all(sends).await;
        for r in results {
            if let Err((e, _)) = r {
                return Err(classify(&topic, &e));
            }
        }
        Ok(Accepted::ALL)
    }
}

/// Errors that writing again cannot fix are permanent; everything else (broker down, leader moving,
/// timeouts, a full local queue) is retried.
fn classify(topic: &str, e: &KafkaError) -> ExportError {
    let msg = format!("writing to topic {topic:?} failed: {e}");
    let code = match e {
        KafkaError::MessageProduction(code) => Some(*code),
        _ => e.rdkafka_error_code(),
    };
    match code {
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::InvalidTopic
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::UnsupportedCompressionType
            | RDKafkaErrorCode::SaslAuthenticationFailed,
        ) => ExportError::permanent(msg),
        _ => ExportError::retryable(msg, None),
    }
}

#[async_trait]
impl Sender<Traces> for KafkaSender {
    async fn send(&self, batch: &Batch<Traces>) -> Result<Accepted, ExportError> {
        self.send_batch(batch).await
    }
}

#[async_trait]
impl Sender<Metrics> for KafkaSender {
    async fn send(&self, batch: &Batch<Metrics>) -> Result<Accepted, ExportError> {
        self.send_batch(batch).await
    }
}

#[async_trait]
impl Sender<Logs> for KafkaSender {
    async fn send(&self, batch: &Batch<Logs>) -> Result<Accepted, ExportError> {
        self.send_batch(batch).await
    }
}
