//! `processors::batch` settings, with otelcol's keys and defaults.

use std::time::Duration;

use serde::Deserialize;

use crate::config::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How long a batch may wait for more data before it is sent regardless of size (`0`: at once).
    #[serde(default = "default_timeout", with = "crate::config::duration")]
    pub timeout: Duration,
    /// Item count that triggers a send (a trigger, not a cap; `0`: only `timeout` triggers).
    #[serde(default = "default_send_batch_size")]
    pub send_batch_size: u32,
    /// Upper bound on a sent batch; larger batches are split (`0`: no bound).
    #[serde(default)]
    pub send_batch_max_size: u32,
    /// Client metadata keys (request headers) whose values partition the data into batchers.
    #[serde(default)]
    pub metadata_keys: Vec<String>,
    /// Most distinct combinations of `metadata_keys` values batched at once (`0`: no limit).
    #[serde(default = "default_cardinality")]
    pub metadata_cardinality_limit: u32,
}

fn default_timeout() -> Duration {
    Duration::from_millis(200)
}
fn default_send_batch_size() -> u32 {
    8192
}
fn default_cardinality() -> u32 {
    1000
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timeout: default_timeout(),
            send_batch_size: default_send_batch_size(),
            send_batch_max_size: 0,
            metadata_keys: vec![],
            metadata_cardinality_limit: default_cardinality(),
        }
    }
}

impl Config {
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            errors.push(ConfigError::new(
                format!("{path}::send_batch_max_size"),
                format!(
                    "send_batch_max_size ({}) must be greater or equal to send_batch_size ({})",
                    self.send_batch_max_size, self.send_batch_size
                ),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, k) in self.metadata_keys.iter().enumerate() {
            if !seen.insert(k.to_ascii_lowercase()) {
                errors.push(ConfigError::new(
                    format!("{path}::metadata_keys::{i}"),
                    format!("duplicate entry in metadata_keys: {k:?} (case-insensitive)"),
                ));
            }
        }
        errors
    }

    /// The most items the processor holds (waiting or being sent) before it refuses new data.
    pub fn max_pending_items(&self) -> usize {
        let unit = self.send_batch_size.max(self.send_batch_max_size).max(8192) as usize;
        unit * PENDING_BATCHES
    }
}

/// How many full batches' worth of items the processor may hold; see [`Config::max_pending_items`].
pub const PENDING_BATCHES: usize = 10;
