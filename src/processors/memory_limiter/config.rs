//! `processors::memory_limiter` settings, with otelcol's keys, defaults and validation.

use std::time::Duration;

use serde::Deserialize;

use crate::config::ConfigError;

const MIB: u64 = 1 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How often memory is read (required; 1s is otelcol's recommendation).
    #[serde(default, with = "crate::config::duration")]
    pub check_interval: Duration,
    /// Hard limit in MiB; wins over `limit_percentage`.
    #[serde(default)]
    pub limit_mib: u32,
    /// Headroom below the hard limit; the soft limit is `limit_mib - spike_limit_mib` (default:
    /// 20% of the limit).
    #[serde(default)]
    pub spike_limit_mib: u32,
    /// Hard limit as a percentage of the cgroup memory limit (or of total memory without one).
    #[serde(default)]
    pub limit_percentage: u32,
    #[serde(default)]
    pub spike_limit_percentage: u32,
    /// Accepted for compatibility: Go garbage-collection pacing, which has no equivalent here.
    #[serde(default = "ten_seconds", with = "crate::config::duration")]
    pub min_gc_interval_when_soft_limited: Duration,
    #[serde(default, with = "crate::config::duration")]
    pub min_gc_interval_when_hard_limited: Duration,
    /// Accepted for compatibility (otelcol 0.12x+): the longest wait between forced Go GCs.
    #[serde(default, with = "crate::config::duration")]
    pub max_gc_interval_when_soft_limited: Duration,
    #[serde(default, with = "crate::config::duration")]
    pub max_gc_interval_when_hard_limited: Duration,
}

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            check_interval: Duration::ZERO,
            limit_mib: 0,
            spike_limit_mib: 0,
            limit_percentage: 0,
            spike_limit_percentage: 0,
            min_gc_interval_when_soft_limited: ten_seconds(),
            min_gc_interval_when_hard_limited: Duration::ZERO,
            max_gc_interval_when_soft_limited: Duration::ZERO,
            max_gc_interval_when_hard_limited: Duration::ZERO,
        }
    }
}

impl Config {
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let e = |k: &str, m: &str| ConfigError::new(format!("{path}::{k}"), m);
        let mut errors = Vec::new();
        if self.check_interval.is_zero() {
            errors.push(e(
                "check_interval",
                "'check_interval' must be greater than zero",
            ));
        }
        if self.min_gc_interval_when_soft_limited < self.min_gc_interval_when_hard_limited {
            errors.push(e(
                "min_gc_interval_when_soft_limited",
                "'min_gc_interval_when_soft_limited' should be larger than 'min_gc_interval_when_hard_limited'",
            ));
        }
        if self.limit_mib == 0 && self.limit_percentage == 0 {
            errors.push(e(
                "limit_mib",
                "'limit_mib' or 'limit_percentage' must be greater than zero",
            ));
        }
        if self.limit_percentage > 100 || self.spike_limit_percentage > 100 {
            errors.push(e(
                "limit_percentage",
                "'limit_percentage' and 'spike_limit_percentage' must be greater than zero and less than or equal to hundred",
            ));
        }
        if self.limit_mib > 0 && self.limit_mib <= self.spike_limit_mib {
            errors.push(e(
                "spike_limit_mib",
                "'spike_limit_mib' must be smaller than 'limit_mib'",
            ));
        }
        if self.limit_percentage > 0 && self.limit_percentage <= self.spike_limit_percentage {
            errors.push(e(
                "spike_limit_percentage",
                "'spike_limit_percentage' must be smaller than 'limit_percentage'",
            ));
        }
        errors
    }

    /// (hard, soft) limits in bytes; `available` is the memory the percentages are of.
    pub fn limits(&self, available: impl FnOnce() -> Option<u64>) -> Result<(u64, u64), String> {
        let (hard, spike) = if self.limit_mib > 0 {
            (
                u64::from(self.limit_mib) * MIB,
                u64::from(self.spike_limit_mib) * MIB,
            )
        } else {
            let total = available().ok_or("cannot read the memory available to the process")?;
            (
                total * u64::from(self.limit_percentage) / 100,
                total * u64::from(self.spike_limit_percentage) / 100,
            )
        };
        // As otelcol: an unset spike limit is 20% of the limit.
        let spike = if spike == 0 { hard / 5 } else { spike };
        Ok((hard, hard.saturating_sub(spike)))
    }
}
