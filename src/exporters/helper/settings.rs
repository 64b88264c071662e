//! otelcol's exporterhelper settings: `timeout`, `retry_on_failure`, `sending_queue`.

use std::time::Duration;

use serde::Deserialize;

use crate::config::{duration, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "d5s", with = "duration")]
    pub initial_interval: Duration,
    #[serde(default = "half")]
    pub randomization_factor: f64,
    #[serde(default = "one_and_half")]
    pub multiplier: f64,
    #[serde(default = "d30s", with = "duration")]
    pub max_interval: Duration,
    /// 0 retries for ever.
    #[serde(default = "d300s", with = "duration")]
    pub max_elapsed_time: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            enabled: true,
            initial_interval: d5s(),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: d30s(),
            max_elapsed_time: d300s(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sizer {
    #[default]
    Requests,
    Items,
    Bytes,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "ten")]
    pub num_consumers: usize,
    #[serde(default = "thousand")]
    pub queue_size: u64,
    #[serde(default)]
    pub sizer: Sizer,
    #[serde(default)]
    pub block_on_overflow: bool,
    #[serde(default)]
    pub wait_for_result: bool,
    /// The id of a storage extension for a persistent queue.
    #[serde(default)]
    pub storage: Option<String>,
    /// Batching after the queue (otelcol's `sending_queue.batch`): with a persistent queue, data is
    /// on disk before it is batched, so a crash loses nothing that was acknowledged.
    #[serde(default)]
    pub batch: Option<BatchSettings>,
    /// Deprecated otelcol alias of `block_on_overflow`.
    #[serde(default)]
    pub blocking: Option<bool>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            sizer: Sizer::Requests,
            block_on_overflow: false,
            wait_for_result: false,
            storage: None,
            batch: None,
            blocking: None,
        }
    }
}

impl QueueSettings {
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        if self.enabled && self.num_consumers == 0 {
            errors.push(ConfigError::new(
                format!("{path}::sending_queue::num_consumers"),
                "must be positive",
            ));
        }
        if self.enabled && self.queue_size == 0 {
            errors.push(ConfigError::new(
                format!("{path}::sending_queue::queue_size"),
                "must be positive",
            ));
        }
        if let Some(st) = &self.storage {
            if let Err(e) = crate::config::ComponentId::parse(st) {
                errors.push(ConfigError::new(
                    format!("{path}::sending_queue::storage"),
                    e,
                ));
            }
        }
        if let Some(b) = &self.batch {
            let p = format!("{path}::sending_queue::batch");
            if b.max_size > 0 && b.max_size < b.min_size {
                errors.push(ConfigError::new(
                    format!("{p}::max_size"),
                    "must be 0 (no limit) or at least min_size",
                ));
            }
            if b.sizer == Sizer::Requests {
                errors.push(ConfigError::new(
                    format!("{p}::sizer"),
                    "must be items or bytes",
                ));
            }
        }
    }

    pub fn blocks(&self) -> bool {
        self.block_on_overflow || self.blocking == Some(true)
    }
}

/// `sending_queue.batch`: requests taken from the queue are merged until `min_size` is reached or
/// `flush_timeout` has passed since the first; `max_size` (0 = none) caps a merge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    #[serde(default = "d200ms", with = "duration")]
    pub flush_timeout: Duration,
    #[serde(default = "d8192")]
    pub min_size: u64,
    #[serde(default)]
    pub max_size: u64,
    #[serde(default = "items")]
    pub sizer: Sizer,
    #[serde(default)]
    pub partition: Partition,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            flush_timeout: d200ms(),
            min_size: 8192,
            max_size: 0,
            sizer: Sizer::Items,
            partition: Partition::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// Client metadata keys whose values keep batches apart (needs the receiver's `include_metadata`).
    #[serde(default)]
    pub metadata_keys: Vec<String>,
}

fn d200ms() -> Duration {
    Duration::from_millis(200)
}
fn d8192() -> u64 {
    8192
}
fn items() -> Sizer {
    Sizer::Items
}

impl RetrySettings {
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        let p = format!("{path}::retry_on_failure");
        // `contains` is false for NaN, so NaN is refused too.
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            errors.push(ConfigError::new(
                format!("{p}::randomization_factor"),
                "must be a number between 0 and 1",
            ));
        }
        // As otelcol's configretry: negative is refused, 0 and fractions are accepted.
        if !self.multiplier.is_finite() || self.multiplier < 0.0 {
            errors.push(ConfigError::new(
                format!("{p}::multiplier"),
                "must be a finite number, not negative",
            ));
        }
        if self.enabled && self.initial_interval.is_zero() {
            errors.push(ConfigError::new(
                format!("{p}::initial_interval"),
                "must be positive",
            ));
        }
    }
}

fn yes() -> bool {
    true
}
fn ten() -> usize {
    10
}
fn thousand() -> u64 {
    1000
}
fn half() -> f64 {
    0.5
}
fn one_and_half() -> f64 {
    1.5
}
fn d5s() -> Duration {
    Duration::from_secs(5)
}
fn d30s() -> Duration {
    Duration::from_secs(30)
}
fn d300s() -> Duration {
    Duration::from_secs(300)
}
pub fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// Client TLS settings (otelcol's configtls client side); defined with the server side in `crate::tls`.
pub use crate::tls::ClientTls;
