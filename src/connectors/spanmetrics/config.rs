//! `connectors::spanmetrics` settings: otelcol-contrib's spanmetricsconnector keys and defaults, plus
//! `series_cache_size` (ferrotel's bound on the series held in memory).

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::config::ConfigError;

/// The dimensions every series has unless `exclude_dimensions` removes them.
pub const SERVICE_NAME: &str = "service.name";
pub const SPAN_NAME: &str = "span.name";
pub const SPAN_KIND: &str = "span.kind";
pub const STATUS_CODE: &str = "status.code";
pub const DEFAULT_DIMENSIONS: [&str; 4] = [SERVICE_NAME, SPAN_NAME, SPAN_KIND, STATUS_CODE];

pub const CUMULATIVE: &str = "AGGREGATION_TEMPORALITY_CUMULATIVE";
pub const DELTA: &str = "AGGREGATION_TEMPORALITY_DELTA";

/// otelcol's default explicit buckets, in milliseconds.
pub const DEFAULT_BUCKETS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10_000.0, 15_000.0,
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub histogram: HistogramConfig,
    /// Extra dimensions on top of the defaults, looked up in span, then resource attributes.
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    /// otelcol: dimensions only the `calls` metric gets. Accepted, not implemented (warning).
    #[serde(default)]
    pub calls_dimensions: Vec<Dimension>,
    /// Default dimensions to leave out (`service.name`, `span.name`, `span.kind`, `status.code`).
    #[serde(default)]
    pub exclude_dimensions: Vec<String>,
    /// Deprecated in otelcol (use `aggregation_cardinality_limit`); accepted and ignored.
    #[serde(default)]
    pub dimensions_cache_size: Option<i64>,
    /// Most resources held; the least recently used is evicted (exported once more first).
    #[serde(default = "default_resource_cache")]
    pub resource_metrics_cache_size: usize,
    /// Resource attributes that identify a resource (all of them when empty).
    #[serde(default)]
    pub resource_metrics_key_attributes: Vec<String>,
    #[serde(default = "default_temporality")]
    pub aggregation_temporality: String,
    #[serde(default = "default_flush", with = "crate::config::duration")]
    pub metrics_flush_interval: Duration,
    /// A series not updated for this long is dropped (`0`: never).
    #[serde(default, with = "crate::config::duration")]
    pub metrics_expiration: Duration,
    /// Delta only: how many series remember their last flush time (the next point's start time).
    #[serde(default = "default_timestamp_cache")]
    pub metric_timestamp_cache_size: usize,
    /// Metric name prefix: `<namespace>.calls`; empty: bare names.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    #[serde(default)]
    pub exemplars: ExemplarsConfig,
    #[serde(default)]
    pub events: EventsConfig,
    /// Scope names whose spans get `span.instrumentation.scope.name`/`.version` dimensions.
    #[serde(default)]
    pub include_instrumentation_scope: Vec<String>,
    /// Most series per resource and metric; more go to one series marked `otel.metric.overflow`
    /// (`0`: no limit).
    #[serde(default)]
    pub aggregation_cardinality_limit: i64,
    /// ferrotel: most series held over all resources. A new series past it evicts one that was not
    /// updated since the last flush (already exported, nothing lost); when every series is active
    /// the span counts in its resource's overflow series.
    #[serde(default = "default_series_cache")]
    pub series_cache_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistogramConfig {
    #[serde(default)]
    pub disable: bool,
    #[serde(default)]
    pub unit: Unit,
    #[serde(default)]
    pub explicit: Option<ExplicitConfig>,
    #[serde(default)]
    pub exponential: Option<ExponentialConfig>,
    /// otelcol: dimensions only the `duration` metric gets. Accepted, not implemented (warning).
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
}

impl Default for HistogramConfig {
    fn default() -> Self {
        HistogramConfig {
            disable: false,
            unit: Unit::Ms,
            explicit: None,
            exponential: None,
            dimensions: vec![],
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Unit {
    #[default]
    #[serde(rename = "ms")]
    Ms,
    #[serde(rename = "s")]
    S,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::S => "s",
        }
    }
    /// Nanoseconds per unit.
    pub fn divider(self) -> f64 {
        match self {
            Unit::Ms => 1e6,
            Unit::S => 1e9,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplicitConfig {
    #[serde(default, deserialize_with = "durations")]
    pub buckets: Option<Vec<Duration>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExponentialConfig {
    /// Most buckets per sign (0: otelcol's default, 160).
    #[serde(default)]
    pub max_size: i32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    pub name: String,
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExemplarsConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Most exemplars per data point and flush (none: no limit, as otelcol).
    #[serde(default)]
    pub max_per_data_point: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Duration>>, D::Error> {
    #[derive(Deserialize)]
    struct W(#[serde(with = "crate::config::duration")] Duration);
    Ok(Option::<Vec<W>>::deserialize(d)?.map(|v| v.into_iter().map(|w| w.0).collect()))
}

fn default_resource_cache() -> usize {
    1000
}
fn default_temporality() -> String {
    CUMULATIVE.to_string()
}
fn default_flush() -> Duration {
    Duration::from_secs(60)
}
fn default_timestamp_cache() -> usize {
    1000
}
fn default_namespace() -> String {
    "traces.span.metrics".to_string()
}
fn default_series_cache() -> usize {
    100_000
}

/// otelcol's default `exponential.max_size`.
pub const DEFAULT_EXPONENTIAL_MAX_SIZE: i32 = 160;

impl Default for Config {
    fn default() -> Self {
        crate::config::parse(&serde_yaml::Value::Null, "").unwrap_or_else(|_| unreachable!())
    }
}

impl Config {
    pub fn is_delta(&self) -> bool {
        self.aggregation_temporality == DELTA
    }

    /// Every problem, each under its key path (`path` is the connector's, `connectors::spanmetrics`).
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        check_dimensions(
            &self.dimensions,
            &format!("{path}::dimensions"),
            &mut errors,
        );
        if self.events.enabled {
            if self.events.dimensions.is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}::events::dimensions"),
                    "no dimensions configured for events",
                ));
            }
            check_dimensions(
                &self.events.dimensions,
                &format!("{path}::events::dimensions"),
                &mut errors,
            );
        }
        for (i, d) in self.exclude_dimensions.iter().enumerate() {
            if !DEFAULT_DIMENSIONS.contains(&d.as_str()) {
                errors.push(ConfigError::new(
                    format!("{path}::exclude_dimensions::{i}"),
                    format!(
                        "{d:?} is not a default dimension (one of {})",
                        DEFAULT_DIMENSIONS.join(", ")
                    ),
                ));
            }
        }
        if self.histogram.explicit.is_some() && self.histogram.exponential.is_some() {
            errors.push(ConfigError::new(
                format!("{path}::histogram"),
                "use either `explicit` or `exponential` buckets histogram",
            ));
        }
        if let Some(b) = self
            .histogram
            .explicit
            .as_ref()
            .and_then(|e| e.buckets.as_ref())
        {
            if b.windows(2).any(|w| w[0] >= w[1]) {
                errors.push(ConfigError::new(
                    format!("{path}::histogram::explicit::buckets"),
                    "buckets must be strictly increasing",
                ));
            }
        }
        if let Some(e) = &self.histogram.exponential {
            if e.max_size < 0 || (e.max_size > 0 && e.max_size < 2) {
                errors.push(ConfigError::new(
                    format!("{path}::histogram::exponential::max_size"),
                    format!(
                        "invalid max_size {}: must be at least 2 (0: 160)",
                        e.max_size
                    ),
                ));
            }
        }
        if self.aggregation_temporality != CUMULATIVE && self.aggregation_temporality != DELTA {
            errors.push(ConfigError::new(
                format!("{path}::aggregation_temporality"),
                format!(
                    "unknown temporality {:?}: one of {CUMULATIVE}, {DELTA}",
                    self.aggregation_temporality
                ),
            ));
        }
        if self.metrics_flush_interval.is_zero() {
            errors.push(ConfigError::new(
                format!("{path}::metrics_flush_interval"),
                "must be greater than 0",
            ));
        }
        if self.aggregation_cardinality_limit < 0 {
            errors.push(ConfigError::new(
                format!("{path}::aggregation_cardinality_limit"),
                format!(
                    "invalid aggregation_cardinality_limit: {}, the limit should be positive",
                    self.aggregation_cardinality_limit
                ),
            ));
        }
        if self.resource_metrics_cache_size == 0 {
            errors.push(ConfigError::new(
                format!("{path}::resource_metrics_cache_size"),
                "must be greater than 0",
            ));
        }
        if self.series_cache_size == 0 {
            errors.push(ConfigError::new(
                format!("{path}::series_cache_size"),
                "must be greater than 0",
            ));
        }
        if self.is_delta() && self.metric_timestamp_cache_size == 0 {
            errors.push(ConfigError::new(
                format!("{path}::metric_timestamp_cache_size"),
                "invalid delta timestamp cache size: 0, the maximum number of the items in the cache should be positive",
            ));
        }
        if let Some(n) = self.dimensions_cache_size {
            if n <= 0 {
                errors.push(ConfigError::new(
                    format!("{path}::dimensions_cache_size"),
                    format!("invalid cache size: {n}, the maximum number of the items in the cache should be positive"),
                ));
            }
        }
        errors
    }

    /// Keys accepted but not acted on, each named by its key path.
    pub fn warnings(&self, path: &str) -> Vec<String> {
        let mut w = Vec::new();
        if self.dimensions_cache_size.is_some() {
            w.push(format!(
                "{path}::dimensions_cache_size is deprecated (as in otelcol) and ignored; \
                 series are bounded by aggregation_cardinality_limit and series_cache_size"
            ));
        }
        if !self.calls_dimensions.is_empty() {
            w.push(format!(
                "{path}::calls_dimensions is accepted but not implemented; use dimensions"
            ));
        }
        if !self.histogram.dimensions.is_empty() {
            w.push(format!(
                "{path}::histogram::dimensions is accepted but not implemented; use dimensions"
            ));
        }
        w
    }

    /// The explicit bucket bounds in the histogram's unit.
    pub fn explicit_bounds(&self) -> Vec<f64> {
        let unit = self.histogram.unit;
        match self
            .histogram
            .explicit
            .as_ref()
            .and_then(|e| e.buckets.as_ref())
        {
            Some(b) => b
                .iter()
                .map(|d| d.as_nanos() as f64 / unit.divider())
                .collect(),
            None => DEFAULT_BUCKETS_MS
                .iter()
                .map(|ms| match unit {
                    Unit::Ms => *ms,
                    Unit::S => ms / 1000.0,
                })
                .collect(),
        }
    }

    /// `max_size` of the exponential histogram, if that is the kind chosen.
    pub fn exponential_max_size(&self) -> Option<usize> {
        self.histogram.exponential.as_ref().map(|e| {
            if e.max_size == 0 {
                DEFAULT_EXPONENTIAL_MAX_SIZE as usize
            } else {
                e.max_size.max(2) as usize
            }
        })
    }
}

/// otelcol's rule: no dimension twice, and none named like a default dimension.
fn check_dimensions(dims: &[Dimension], path: &str, errors: &mut Vec<ConfigError>) {
    let mut seen: HashSet<&str> = DEFAULT_DIMENSIONS.into_iter().collect();
    for (i, d) in dims.iter().enumerate() {
        if d.name.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::{i}::name"),
                "a dimension needs a name",
            ));
        } else if !seen.insert(d.name.as_str()) {
            errors.push(ConfigError::new(
                format!("{path}::{i}::name"),
                format!("duplicate dimension name {}", d.name),
            ));
        }
    }
}
