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
    #[serde(default)]
    pub batch: Option<serde_yaml::Value>,
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
        if self.storage.is_some() {
            errors.push(ConfigError::new(
                format!("{path}::sending_queue::storage"),
                "persistent queues are not supported by this ferrotel build yet (see the README's roadmap)",
            ));
        }
        if self.batch.as_ref().is_some_and(|b| !b.is_null()) {
            errors.push(ConfigError::new(
                format!("{path}::sending_queue::batch"),
                "queue batching is not supported by this ferrotel build yet; use the batch processor",
            ));
        }
    }
}

impl RetrySettings {
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        let p = format!("{path}::retry_on_failure");
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            errors.push(ConfigError::new(
                format!("{p}::randomization_factor"),
                "must be between 0 and 1",
            ));
        }
        if self.multiplier < 1.0 {
            errors.push(ConfigError::new(
                format!("{p}::multiplier"),
                "must be at least 1",
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
