//! The `kafka` receiver (traces, metrics, logs): one consumer-group member per signal reads OTLP
//! export requests from its topics and hands each message to the pipeline.
//!
//! Delivery: messages of one consumer are processed one at a time, in order. With
//! `message_marking::after: true` an offset is marked (stored for the next commit) only after the
//! pipeline accepted the message, so a crash re-delivers what was not yet accepted (at least once).
//! A message that is not marked (a refusal, or an error that `on_error` / `on_permanent_error` does
//! not cover) makes the consumer seek its partition back to it and wait (`error_backoff`, at least
//! one second) before reading on: backpressure pauses consumption instead of dropping. A permanent
//! failure that is not marked (a poison message with `on_permanent_error: false`) pauses its
//! partition until the next rebalance, as otelcol's receiver does: the message is read again by
//! whoever owns the partition after it.
//!
//! `exclude_topics` (with at least one regular expression in `topics`, as otelcol requires): the
//! receiver lists the cluster's topics every `metadata.refresh_interval` and subscribes to the names
//! that match, since librdkafka's regex subscriptions cannot exclude.

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use serde::Deserialize;
use serde_yaml::Value;
use tokio::sync::watch;

use crate::component::{
    ConfigResult, Host, PreparedReceiver, Receiver, ReceiverFactory, StartError,
};
use crate::config::{duration, ComponentId, ConfigError};
use crate::kafka::{self, Auth, Encoding, Metadata};
use crate::pipeline::{AnyConsumer, ConsumeError, Consumer as PipelineConsumer};
use crate::signal::{Batch, Logs, Metrics, Signal, SignalKind, Traces};
use crate::telemetry::events;
use crate::tls::ClientTls;

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
    /// Deprecated in otelcol: the topic of every signal.
    #[serde(default)]
    pub topic: Option<String>,
    /// Deprecated in otelcol: the encoding of every signal.
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub traces: SignalSettings,
    #[serde(default)]
    pub metrics: SignalSettings,
    #[serde(default)]
    pub logs: SignalSettings,
    #[serde(default = "default_group_id")]
    pub group_id: String,
    #[serde(default)]
    pub group_instance_id: Option<String>,
    #[serde(default = "default_initial_offset")]
    pub initial_offset: String,
    #[serde(default = "default_session_timeout", with = "duration")]
    pub session_timeout: Duration,
    #[serde(default = "default_heartbeat", with = "duration")]
    pub heartbeat_interval: Duration,
    #[serde(default = "default_strategy")]
    pub group_rebalance_strategy: String,
    #[serde(default = "one")]
    pub min_fetch_size: i32,
    #[serde(default = "default_fetch_size")]
    pub default_fetch_size: i32,
    #[serde(default)]
    pub max_fetch_size: i32,
    #[serde(default = "default_max_fetch_wait", with = "duration")]
    pub max_fetch_wait: Duration,
    #[serde(default = "default_fetch_size")]
    pub max_partition_fetch_bytes: i32,
    #[serde(default)]
    pub rack_id: Option<String>,
    #[serde(default)]
    pub use_leader_epoch: Option<bool>,
    #[serde(default)]
    pub autocommit: AutoCommit,
    #[serde(default)]
    pub message_marking: MessageMarking,
    #[serde(default)]
    pub header_extraction: HeaderExtraction,
    #[serde(default)]
    pub error_backoff: ErrorBackoff,
    /// otelcol's receiver telemetry switches; its metrics are always on here.
    #[serde(default)]
    pub telemetry: Option<serde_yaml::Value>,
    #[serde(skip)]
    path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSettings {
    /// Topics; an entry starting with `^` is a regular expression.
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub exclude_topics: Vec<String>,
    /// Deprecated in otelcol v0.142 (use `topics`).
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoCommit {
    #[serde(default = "yes")]
    pub enable: bool,
    #[serde(default = "default_commit_interval", with = "duration")]
    pub interval: Duration,
}

impl Default for AutoCommit {
    fn default() -> Self {
        AutoCommit {
            enable: true,
            interval: default_commit_interval(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageMarking {
    #[serde(default)]
    pub after: bool,
    #[serde(default)]
    pub on_error: bool,
    /// Defaults to `on_error`, as otelcol.
    #[serde(default)]
    pub on_permanent_error: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderExtraction {
    #[serde(default)]
    pub extract_headers: bool,
    #[serde(default)]
    pub headers: Vec<String>,
}

/// `error_backoff` (otelcol's `configretry.BackOffConfig`, off by default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBackoff {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_backoff_initial", with = "duration")]
    pub initial_interval: Duration,
    #[serde(default = "half")]
    pub randomization_factor: f64,
    #[serde(default = "one_and_half")]
    pub multiplier: f64,
    #[serde(default = "default_backoff_max", with = "duration")]
    pub max_interval: Duration,
    #[serde(default = "default_backoff_elapsed", with = "duration")]
    pub max_elapsed_time: Duration,
}

impl Default for ErrorBackoff {
    fn default() -> Self {
        ErrorBackoff {
            enabled: false,
            initial_interval: default_backoff_initial(),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: default_backoff_max(),
            max_elapsed_time: default_backoff_elapsed(),
        }
    }
}

fn yes() -> bool {
    true
}
fn one() -> i32 {
    1
}
fn half() -> f64 {
    0.5
}
fn one_and_half() -> f64 {
    1.5
}
fn default_group_id() -> String {
    "otel-collector".into()
}
fn default_initial_offset() -> String {
    "latest".into()
}
fn default_session_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_heartbeat() -> Duration {
    Duration::from_secs(3)
}
fn default_strategy() -> String {
    "range".into()
}
fn default_fetch_size() -> i32 {
    1_048_576
}
fn default_max_fetch_wait() -> Duration {
    Duration::from_millis(250)
}
fn default_commit_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_backoff_initial() -> Duration {
    Duration::from_secs(5)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
fn default_backoff_elapsed() -> Duration {
    Duration::from_secs(300)
}

/// The shortest wait before a message that was not marked is read again.
const MIN_BACKOFF: Duration = Duration::from_secs(1);

pub struct Factory;

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        "kafka"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedReceiver>> {
        let mut c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        c.path = path.to_string();
        let mut errors = Vec::new();
        c.client().validate(path, &mut errors);
        for signal in SignalKind::ALL {
            let (key, enc) = c.encoding_key(signal);
            Encoding::parse(&enc, &format!("{path}::{key}"), &mut errors);
            let s = c.signal(signal);
            if s.topic.is_some() && !s.topics.is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}::{}::topic", signal.as_str()),
                    "topic (deprecated) and topics cannot both be set",
                ));
            }
            let topics = c.topics_for(signal);
            if !s.exclude_topics.is_empty() && !topics.iter().any(|t| t.starts_with('^')) {
                errors.push(ConfigError::new(
                    format!("{path}::{}::exclude_topics", signal.as_str()),
                    "exclude_topics needs at least one regular expression in topics (an entry starting with ^)",
                ));
            }
            for (i, t) in s.exclude_topics.iter().enumerate() {
                if let Err(e) = regex::Regex::new(t) {
                    errors.push(ConfigError::new(
                        format!("{path}::{}::exclude_topics::{i}", signal.as_str()),
                        format!("invalid regular expression {t:?}: {e}"),
                    ));
                }
            }
            for (i, t) in topics.iter().enumerate() {
                if t.is_empty() {
                    errors.push(ConfigError::new(
                        format!("{path}::{}::topics::{i}", signal.as_str()),
                        "a topic must not be empty",
                    ));
                } else if let Some(re) = t.strip_prefix('^') {
                    if let Err(e) = regex::Regex::new(&format!("^{re}")) {
                        errors.push(ConfigError::new(
                            format!("{path}::{}::topics::{i}", signal.as_str()),
                            format!("invalid regular expression {t:?}: {e}"),
                        ));
                    }
                }
            }
        }
        if c.group_id.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::group_id"),
                "group_id must not be empty",
            ));
        }
        if !["latest", "earliest"].contains(&c.initial_offset.as_str()) {
            errors.push(ConfigError::new(
                format!("{path}::initial_offset"),
                format!(
                    "invalid initial offset {:?} (latest, earliest)",
                    c.initial_offset
                ),
            ));
        }
        if !["range", "roundrobin", "sticky", "cooperative-sticky"]
            .contains(&c.group_rebalance_strategy.as_str())
        {
            errors.push(ConfigError::new(
                format!("{path}::group_rebalance_strategy"),
                format!(
                    "invalid strategy {:?} (range, roundrobin, sticky, cooperative-sticky)",
                    c.group_rebalance_strategy
                ),
            ));
        }
        if c.session_timeout < Duration::from_millis(1) || c.heartbeat_interval >= c.session_timeout
        {
            errors.push(ConfigError::new(
                format!("{path}::heartbeat_interval"),
                "heartbeat_interval must be shorter than session_timeout",
            ));
        }
        for (key, v) in [
            ("min_fetch_size", c.min_fetch_size),
            ("default_fetch_size", c.default_fetch_size),
            ("max_fetch_size", c.max_fetch_size),
            ("max_partition_fetch_bytes", c.max_partition_fetch_bytes),
        ] {
            if v < 0 {
                errors.push(ConfigError::new(
                    format!("{path}::{key}"),
                    "must not be negative",
                ));
            }
        }
        if c.autocommit.enable && c.autocommit.interval.is_zero() {
            errors.push(ConfigError::new(
                format!("{path}::autocommit::interval"),
                "must be greater than 0",
            ));
        }
        let b = &c.error_backoff;
        if b.enabled && (b.multiplier < 1.0 || !(0.0..=1.0).contains(&b.randomization_factor)) {
            errors.push(ConfigError::new(
                format!("{path}::error_backoff"),
                "multiplier must be at least 1 and randomization_factor between 0 and 1",
            ));
        }
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

    /// `topics`, else the deprecated per-signal `topic`, else the top-level `topic`, else otelcol's
    /// default topic of the signal.
    fn topics_for(&self, signal: SignalKind) -> Vec<String> {
        let s = self.signal(signal);
        if !s.topics.is_empty() {
            return s.topics.clone();
        }
        if let Some(t) = s.topic.clone().or_else(|| self.topic.clone()) {
            return vec![t];
        }
        vec![match signal {
            SignalKind::Traces => "otlp_spans",
            SignalKind::Metrics => "otlp_metrics",
            SignalKind::Logs => "otlp_logs",
        }
        .to_string()]
    }

    /// The topics to select from the cluster's list when `exclude_topics` is set (None otherwise:
    /// librdkafka subscribes to `topics` itself).
    fn topic_filter(&self, signal: SignalKind) -> Option<TopicFilter> {
        let s = self.signal(signal);
        if s.exclude_topics.is_empty() {
            return None;
        }
        let mut f = TopicFilter::default();
        for t in self.topics_for(signal) {
            if t.starts_with('^') {
                f.include.push(regex::Regex::new(&t).ok()?);
            } else {
                f.names.push(t);
            }
        }
        for t in &s.exclude_topics {
            f.exclude.push(regex::Regex::new(t).ok()?);
        }
        Some(f)
    }

    fn encoding_key(&self, signal: SignalKind) -> (String, String) {
        if let Some(e) = &self.signal(signal).encoding {
            return (format!("{}::encoding", signal.as_str()), e.clone());
        }
        if let Some(e) = &self.encoding {
            return ("encoding".into(), e.clone());
        }
        ("encoding".into(), "otlp_proto".into())
    }

    fn on_permanent_error(&self) -> bool {
        self.message_marking
            .on_permanent_error
            .unwrap_or(self.message_marking.on_error)
    }

    fn consumer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        self.client().apply(&mut c);
        c.set("group.id", &self.group_id);
        if let Some(g) = &self.group_instance_id {
            c.set("group.instance.id", g);
        }
        c.set("auto.offset.reset", &self.initial_offset);
        c.set(
            "session.timeout.ms",
            kafka::millis(self.session_timeout).to_string(),
        );
        c.set(
            "heartbeat.interval.ms",
            kafka::millis(self.heartbeat_interval).max(1).to_string(),
        );
        c.set(
            "partition.assignment.strategy",
            match self.group_rebalance_strategy.as_str() {
                "sticky" | "cooperative-sticky" => "cooperative-sticky",
                other => other,
            },
        );
        c.set("fetch.min.bytes", self.min_fetch_size.max(1).to_string());
        c.set(
            "max.partition.fetch.bytes",
            self.default_fetch_size.max(1).to_string(),
        );
        if self.max_fetch_size > 0 {
            c.set("fetch.max.bytes", self.max_fetch_size.to_string());
        }
        c.set(
            "fetch.wait.max.ms",
            kafka::millis(self.max_fetch_wait).to_string(),
        );
        if let Some(r) = &self.rack_id {
            c.set("client.rack", r);
        }
        // Offsets are stored by the receiver (marking) and committed by librdkafka every
        // `autocommit::interval`, or right after marking when autocommit is off.
        c.set("enable.auto.offset.store", "false");
        c.set("enable.auto.commit", self.autocommit.enable.to_string());
        if self.autocommit.enable {
            c.set(
                "auto.commit.interval.ms",
                kafka::millis(self.autocommit.interval).max(1).to_string(),
            );
        }
        c
    }
}

impl PreparedReceiver for Config {
    fn warnings(&self) -> Vec<String> {
        let path = &self.path;
        let mut w = self.client().warnings(path);
        if self.topic.is_some() {
            w.push(format!(
                "{path}::topic: deprecated in otelcol; use traces::topics, metrics::topics, logs::topics"
            ));
        }
        if self.encoding.is_some() {
            w.push(format!(
                "{path}::encoding: deprecated in otelcol; use traces::encoding, metrics::encoding, logs::encoding"
            ));
        }
        for signal in SignalKind::ALL {
            let s = self.signal(signal);
            if s.topic.is_some() {
                w.push(format!(
                    "{path}::{}::topic: deprecated in otelcol v0.142; use {}::topics",
                    signal.as_str(),
                    signal.as_str()
                ));
            }
        }
        if self.group_rebalance_strategy == "sticky" {
            w.push(format!(
                "{path}::group_rebalance_strategy: sticky runs as librdkafka's cooperative-sticky"
            ));
        }
        if self.use_leader_epoch.is_some() {
            w.push(format!(
                "{path}::use_leader_epoch: librdkafka always uses leader epochs; ignored"
            ));
        }
        if self.telemetry.is_some() {
            w.push(format!(
                "{path}::telemetry: the receiver's metrics are always on; ignored"
            ));
        }
        w
    }

    fn endpoints(&self) -> Vec<String> {
        Vec::new()
    }

    fn create(
        &self,
        id: &ComponentId,
        consumers: Vec<AnyConsumer>,
        _host: &Host,
    ) -> Result<Box<dyn Receiver>, StartError> {
        Ok(Box::new(KafkaReceiver {
            id: id.to_string(),
            config: self.clone(),
            consumers,
            stop: None,
            tasks: Vec::new(),
        }))
    }
}

pub struct KafkaReceiver {
    id: String,
    config: Config,
    consumers: Vec<AnyConsumer>,
    stop: Option<watch::Sender<bool>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Logs partition assignments and revocations; librdkafka commits the marked offsets of revoked
/// partitions itself (auto commit) before they are revoked. Assigned partitions are resumed: a
/// partition paused by a permanent failure stays paused only until the next rebalance, as in otelcol.
struct Context {
    id: String,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                tracing::info!(receiver = %self.id, partitions = %describe(tpl), "kafka partitions revoked")
            }
            Rebalance::Assign(tpl) => {
                tracing::info!(receiver = %self.id, partitions = %describe(tpl), "kafka partitions assigned")
            }
            Rebalance::Error(e) => {
                tracing::warn!(receiver = %self.id, error = %e, "kafka rebalance failed")
            }
        }
    }

    fn post_rebalance(&self, c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            // A no-op for partitions that are not paused.
            if let Err(e) = c.resume(tpl) {
                tracing::debug!(receiver = %self.id, error = %e, "cannot resume kafka partitions");
            }
        }
    }
}

/// `topics` with `exclude_topics`: which of the cluster's topics to subscribe to.
#[derive(Default)]
struct TopicFilter {
    /// Plain names (an exact match).
    names: Vec<String>,
    /// `^…` entries of `topics`.
    include: Vec<regex::Regex>,
    /// `exclude_topics`, matched unanchored as otelcol does (`test` also excludes `prod-test-1`).
    exclude: Vec<regex::Regex>,
}

impl TopicFilter {
    fn wants(&self, topic: &str) -> bool {
        // Internal topics (`__consumer_offsets`) are never consumed, as with a regex subscription.
        !topic.starts_with("__")
            && (self.names.iter().any(|n| n == topic)
                || self.include.iter().any(|r| r.is_match(topic)))
            && !self.exclude.iter().any(|r| r.is_match(topic))
    }

    /// The topics to subscribe to, from the names the cluster has.
    fn select<'a>(&self, topics: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        topics
            .into_iter()
            .filter(|t| self.wants(t))
            .map(str::to_string)
            .collect()
    }
}

fn describe(tpl: &TopicPartitionList) -> String {
    tpl.elements()
        .iter()
        .map(|e| format!("{}/{}", e.topic(), e.partition()))
        .collect::<Vec<_>>()
        .join(",")
}

type KafkaConsumer = StreamConsumer<Context>;

/// How one signal's consumer treats messages.
#[derive(Clone)]
struct Policy {
    id: String,
    encoding: Encoding,
    after: bool,
    on_error: bool,
    on_permanent_error: bool,
    autocommit: bool,
    headers: Option<Vec<String>>,
    backoff: ErrorBackoff,
    /// With `exclude_topics`: the topics are selected by the receiver, every `refresh`.
    topics: Option<Arc<TopicFilter>>,
    refresh: Duration,
}

#[async_trait]
impl Receiver for KafkaReceiver {
    async fn start(&mut self, _host: &Host) -> Result<(), StartError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let path = format!("receivers::{}", self.id);
        for next in self.consumers.clone() {
            let signal = next.signal();
            let consumer: KafkaConsumer = self
                .config
                .consumer_config()
                .create_with_context(Context {
                    id: self.id.clone(),
                })
                .map_err(|e| {
                    StartError::new(&path, format!("cannot create the Kafka consumer: {e}"))
                })?;
            let filter = self.config.topic_filter(signal).map(Arc::new);
            if filter.is_none() {
                let topics = self.config.topics_for(signal);
                let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
                consumer.subscribe(&refs).map_err(|e| {
                    StartError::new(&path, format!("cannot subscribe to {topics:?}: {e}"))
                })?;
            }
            let (_, enc) = self.config.encoding_key(signal);
            let mut ignored = Vec::new();
            let policy = Policy {
                id: self.id.clone(),
                encoding: Encoding::parse(&enc, "", &mut ignored),
                after: self.config.message_marking.after,
                on_error: self.config.message_marking.on_error,
                on_permanent_error: self.config.on_permanent_error(),
                autocommit: self.config.autocommit.enable,
                headers: self
                    .config
                    .header_extraction
                    .extract_headers
                    .then(|| self.config.header_extraction.headers.clone()),
                backoff: self.config.error_backoff.clone(),
                topics: filter,
                refresh: self.config.metadata.refresh_interval,
            };
            let consumer = Arc::new(consumer);
            let stop = stop_rx.clone();
            let task = crate::on_any!(next, n => tokio::spawn(run(consumer, n, policy, stop)));
            self.tasks.push(task);
        }
        self.stop = Some(stop_tx);
        Ok(())
    }

    async fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

/// What became of one message.
enum Outcome {
    /// Accepted, or an error that marking covers: mark it and read on.
    Mark,
    /// A retryable refusal, not marked: read it again after a wait.
    Again,
    /// A permanent failure, not marked: its partition stops until the next rebalance.
    Block,
}

/// One signal's consume loop; returns at shutdown after committing what was marked.
async fn run<S: ResourceAttributes>(
    consumer: Arc<KafkaConsumer>,
    next: Arc<dyn PipelineConsumer<S>>,
    policy: Policy,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    // With `exclude_topics`: what the consumer is subscribed to, and when to list the topics again.
    let mut subscribed: Option<BTreeSet<String>> = None;
    let mut next_listing = tokio::time::Instant::now();
    loop {
        let received = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tokio::time::sleep_until(next_listing), if policy.topics.is_some() => None,
            m = consumer.recv() => Some(m),
        };
        let Some(received) = received else {
            let ok = match &policy.topics {
                Some(f) => resubscribe(&consumer, &policy.id, f, &mut subscribed).await,
                None => true,
            };
            // Until the first listing succeeds, try again every second.
            let wait = if ok && subscribed.is_some() {
                policy.refresh
            } else {
                MIN_BACKOFF.min(policy.refresh)
            };
            next_listing = tokio::time::Instant::now() + wait.max(Duration::from_millis(10));
            continue;
        };
        let msg = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(receiver = %policy.id, error = %e, "kafka consumer error");
                if sleep_or_stop(&mut stop, MIN_BACKOFF).await {
                    break;
                }
                continue;
            }
        };
        let topic = msg.topic().to_string();
        let partition = msg.partition();
        let offset = msg.offset();
        let payload = msg.payload().unwrap_or_default().to_vec();
        let headers: Vec<(String, String)> = match (&policy.headers, msg.headers()) {
            (Some(wanted), Some(h)) => h
                .iter()
                .filter(|h| wanted.iter().any(|w| w == h.key))
                .filter_map(|h| {
                    Some((
                        h.key.to_string(),
                        String::from_utf8_lossy(h.value?).into_owned(),
                    ))
                })
                .collect(),
            _ => Vec::new(),
        };
        drop(msg);
        events::kafka_receiver_messages(&policy.id, &topic, partition);
        if !policy.after {
            mark(&consumer, &policy, &topic, partition, offset);
        }
        let outcome = process::<S>(&next, &policy, &topic, partition, &payload, headers).await;
        match outcome {
            Outcome::Mark => {
                failures = 0;
                if policy.after {
                    mark(&consumer, &policy, &topic, partition, offset);
                }
            }
            Outcome::Again | Outcome::Block if !policy.after => failures = 0,
            Outcome::Block => {
                // As otelcol: later messages must not pass the unmarked one, and reading it again
                // cannot help; whoever owns the partition after the next rebalance reads it again
                // from the committed offset.
                let _ = consumer.seek(&topic, partition, Offset::Offset(offset), Duration::ZERO);
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(&topic, partition);
                if let Err(e) = consumer.pause(&tpl) {
                    tracing::warn!(receiver = %policy.id, error = %e, "cannot pause a kafka partition");
                }
                tracing::error!(
                    receiver = %policy.id, topic = %topic, partition, offset,
                    "pausing the partition after a permanent error; it stays paused until the next rebalance (set message_marking::on_permanent_error: true to skip such messages)"
                );
            }
            Outcome::Again => {
                // Read the same message again (the partition waits; others go on after the pause).
                let _ = consumer.seek(&topic, partition, Offset::Offset(offset), Duration::ZERO);
                let wait = backoff(&policy.backoff, failures);
                failures = failures.saturating_add(1);
                if sleep_or_stop(&mut stop, wait).await {
                    break;
                }
            }
        }
    }
    // Commit what was marked, then leave the group (closing blocks: off the async workers).
    let _ = tokio::task::spawn_blocking(move || {
        let _ = consumer.commit_consumer_state(CommitMode::Sync);
        drop(consumer);
    })
    .await;
}

/// Lists the cluster's topics and subscribes to those `filter` selects, when they changed. False
/// when the listing failed (the subscription is kept).
async fn resubscribe(
    consumer: &Arc<KafkaConsumer>,
    id: &str,
    filter: &TopicFilter,
    subscribed: &mut Option<BTreeSet<String>>,
) -> bool {
    let c = consumer.clone();
    let listed = tokio::task::spawn_blocking(move || {
        c.fetch_metadata(None, Duration::from_secs(10)).map(|md| {
            md.topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| t.name().to_string())
                .collect::<Vec<_>>()
        })
    })
    .await;
    let names = match listed {
        Ok(Ok(names)) => names,
        Ok(Err(e)) => {
            tracing::warn!(receiver = %id, error = %e, "cannot list the kafka topics");
            return false;
        }
        Err(_) => return false,
    };
    let want = filter.select(names.iter().map(String::as_str));
    if subscribed.as_ref() == Some(&want) {
        return true;
    }
    if want.is_empty() {
        consumer.unsubscribe();
    } else {
        let refs: Vec<&str> = want.iter().map(String::as_str).collect();
        if let Err(e) = consumer.subscribe(&refs) {
            tracing::warn!(receiver = %id, error = %e, "cannot subscribe to the kafka topics");
            return false;
        }
    }
    tracing::info!(receiver = %id, topics = ?want, "kafka topics selected (topics minus exclude_topics)");
    *subscribed = Some(want);
    true
}

/// Sleeps `d`; true when shutdown began meanwhile.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = stop.wait_for(|s| *s) => true,
        _ = tokio::time::sleep(d) => false,
    }
}

/// The wait before reading an unmarked message again: `error_backoff` when enabled (its elapsed-time
/// limit is not applied: the message is never given up), never less than [`MIN_BACKOFF`].
fn backoff(b: &ErrorBackoff, failures: u32) -> Duration {
    if !b.enabled {
        return MIN_BACKOFF;
    }
    let exp = b
        .multiplier
        .max(1.0)
        .powi(i32::try_from(failures.min(64)).unwrap_or(64));
    let base = b.initial_interval.as_secs_f64() * exp;
    let base = base.min(b.max_interval.as_secs_f64());
    let jitter = 1.0 + b.randomization_factor * (rand::random::<f64>() * 2.0 - 1.0);
    Duration::try_from_secs_f64((base * jitter).max(0.0))
        .unwrap_or(b.max_interval)
        .max(MIN_BACKOFF)
}

/// Stores the message's offset for the next commit (now, when autocommit is off).
fn mark(consumer: &KafkaConsumer, policy: &Policy, topic: &str, partition: i32, offset: i64) {
    if let Err(e) = consumer.store_offset(topic, partition, offset) {
        // The partition was revoked meanwhile: its new owner reads the message again.
        tracing::debug!(receiver = %policy.id, error = %e, "cannot mark a kafka offset");
        return;
    }
    if !policy.autocommit {
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition_offset(topic, partition, Offset::Offset(offset.saturating_add(1)))
            .is_ok()
        {
            let _ = consumer.commit(&tpl, CommitMode::Async);
        }
    }
}

/// Decodes a message and hands it to the pipeline; decides whether it is marked.
async fn process<S: ResourceAttributes>(
    next: &Arc<dyn PipelineConsumer<S>>,
    policy: &Policy,
    topic: &str,
    partition: i32,
    payload: &[u8],
    headers: Vec<(String, String)>,
) -> Outcome {
    let mut batch = match policy.encoding.decode::<S>(payload) {
        Ok(b) => b,
        Err(e) => {
            events::kafka_receiver_unmarshal_failed(&policy.id, S::KIND, topic, partition);
            let marked = policy.on_permanent_error || policy.on_error;
            tracing::error!(
                receiver = %policy.id, topic, partition, error = %e,
                skipped = marked,
                "cannot decode a kafka message"
            );
            // Decoding again cannot succeed: a permanent failure.
            return if marked {
                Outcome::Mark
            } else {
                Outcome::Block
            };
        }
    };
    if !headers.is_empty() {
        if let Err(e) = add_headers(&mut batch, &headers) {
            tracing::warn!(receiver = %policy.id, error = %e, "cannot add kafka headers");
        }
    }
    let n = batch.items();
    if n == 0 {
        return Outcome::Mark;
    }
    match next.consume(batch).await {
        Ok(()) => {
            events::receiver_accepted(&policy.id, "kafka", S::KIND, n);
            Outcome::Mark
        }
        Err(e) => {
            let permanent = !e.is_retryable();
            if permanent {
                events::receiver_failed(&policy.id, "kafka", S::KIND, n);
            } else {
                events::receiver_refused(&policy.id, "kafka", S::KIND, n);
            }
            let marked = policy.on_error || (permanent && policy.on_permanent_error);
            log_refusal(policy, &e, marked);
            if marked {
                Outcome::Mark
            } else if permanent {
                Outcome::Block
            } else {
                Outcome::Again
            }
        }
    }
}

fn log_refusal(policy: &Policy, e: &ConsumeError, marked: bool) {
    if marked {
        tracing::error!(receiver = %policy.id, error = %e, "the pipeline refused a kafka message; it is skipped (marked)");
    } else {
        tracing::warn!(receiver = %policy.id, error = %e, "the pipeline refused a kafka message; it will be read again");
    }
}

/// `header_extraction`: each wanted header becomes the resource attribute `kafka.header.<key>`.
fn add_headers<S: ResourceAttributes>(
    batch: &mut Batch<S>,
    headers: &[(String, String)],
) -> Result<(), crate::signal::DecodeError> {
    let attrs: Vec<KeyValue> = headers
        .iter()
        .map(|(k, v)| KeyValue {
            key: format!("kafka.header.{k}"),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.clone())),
            }),
            ..Default::default()
        })
        .collect();
    let resources = batch.resources_mut()?;
    for r in resources.iter_mut() {
        S::attributes(r).extend(attrs.iter().cloned());
    }
    Ok(())
}

/// A signal whose resources' attributes the receiver can add to (`header_extraction`).
pub trait ResourceAttributes: Signal {
    fn attributes(r: &mut Self::Resource) -> &mut Vec<KeyValue>;
}

impl ResourceAttributes for Traces {
    fn attributes(r: &mut Self::Resource) -> &mut Vec<KeyValue> {
        &mut r.resource.get_or_insert_with(Default::default).attributes
    }
}

impl ResourceAttributes for Metrics {
    fn attributes(r: &mut Self::Resource) -> &mut Vec<KeyValue> {
        &mut r.resource.get_or_insert_with(Default::default).attributes
    }
}

impl ResourceAttributes for Logs {
    fn attributes(r: &mut Self::Resource) -> &mut Vec<KeyValue> {
        &mut r.resource.get_or_insert_with(Default::default).attributes
    }
}
