//! The `probabilistic_sampler` processor: keeps a fixed share of spans or log records, deciding
//! consistently per trace id as otelcol's `probabilisticsamplerprocessor` does (same hash, same
//! thresholds, same `tracestate` and log attributes), so that ferrotel and otelcol instances agree.
//!
//! Modes: `hash_seed` (the legacy FNV-1a hash with a seed, 14 bits of precision), `proportional`
//! (multiplies an arriving `th` probability by the configured one) and `equalizing` (lowers the
//! probability of items sampled at a higher one). Spans are decided one by one, like otelcol; all
//! spans of a trace get the same decision because it depends on the trace id alone.

pub mod sampling;

use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{ConfigResult, Host, PreparedProcessor, ProcessorFactory, StartError};
use crate::config::{ComponentId, ConfigError};
use crate::pipeline::{AnyConsumer, ConsumeError, Consumer};
use crate::signal::{Batch, Logs, SignalKind, Traces};
use sampling::{Threshold, TraceState};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub sampling_percentage: f32,
    #[serde(default)]
    pub hash_seed: u32,
    /// `hash_seed`, `proportional` or `equalizing`; unset: `hash_seed` when a seed is set (or for logs
    /// sampled by attribute), `proportional` otherwise.
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default = "yes")]
    pub fail_closed: bool,
    #[serde(default = "default_precision")]
    pub sampling_precision: i32,
    /// Logs: `traceID` (default) or `record`.
    #[serde(default = "default_attribute_source")]
    pub attribute_source: String,
    /// Logs: the record attribute hashed when the source is `record` (or the trace id is empty).
    #[serde(default)]
    pub from_attribute: String,
    /// Logs: the record attribute giving a minimum sampling percentage for that record.
    #[serde(default)]
    pub sampling_priority: String,
}

fn yes() -> bool {
    true
}
fn default_precision() -> i32 {
    4
}
fn default_attribute_source() -> String {
    "traceID".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sampling_percentage: 0.0,
            hash_seed: 0,
            mode: None,
            fail_closed: true,
            sampling_precision: 4,
            attribute_source: default_attribute_source(),
            from_attribute: String::new(),
            sampling_priority: String::new(),
        }
    }
}

impl Config {
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        let pct = f64::from(self.sampling_percentage);
        let key = format!("{path}::sampling_percentage");
        if !pct.is_finite() {
            errors.push(ConfigError::new(
                key,
                format!("sampling rate is invalid: {pct}%"),
            ));
        } else if pct < 0.0 {
            errors.push(ConfigError::new(
                key,
                format!("sampling rate is negative: {pct}%"),
            ));
        } else if pct > 0.0 && pct / 100.0 < sampling::MIN_SAMPLING_PROBABILITY {
            errors.push(ConfigError::new(
                key,
                format!("sampling rate is too small: {pct}%"),
            ));
        }
        if let Some(m) = &self.mode {
            if !["hash_seed", "proportional", "equalizing", ""].contains(&m.as_str()) {
                errors.push(ConfigError::new(
                    format!("{path}::mode"),
                    format!("unsupported sampler mode {m:?} (hash_seed, proportional, equalizing)"),
                ));
            }
        }
        if !["traceID", "record", ""].contains(&self.attribute_source.as_str()) {
            errors.push(ConfigError::new(
                format!("{path}::attribute_source"),
                format!(
                    "invalid attribute source: {}. Expected: traceID or record",
                    self.attribute_source
                ),
            ));
        }
        if self.sampling_precision <= 0 {
            errors.push(ConfigError::new(
                format!("{path}::sampling_precision"),
                format!("invalid sampling precision: {}", self.sampling_precision),
            ));
        } else if self.sampling_precision > 14 {
            errors.push(ConfigError::new(
                format!("{path}::sampling_precision"),
                format!(
                    "sampling precision is too great, should be <= 14: {}",
                    self.sampling_precision
                ),
            ));
        }
    }
}

pub struct Factory;

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "probabilistic_sampler"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &[SignalKind::Traces, SignalKind::Logs]
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedProcessor>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        c.validate(path, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(c))
    }
}

impl PreparedProcessor for Config {
    fn create(
        &self,
        id: &ComponentId,
        _pipeline: &str,
        next: AnyConsumer,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        // Not `on_any!`: traces and logs sample differently (trace id vs. attribute), metrics not at all.
        Ok(match next {
            AnyConsumer::Traces(next) => AnyConsumer::Traces(Arc::new(TracesSampler {
                sampler: Sampler::new(self, false),
                id: id.to_string(),
                next,
            })),
            AnyConsumer::Logs(next) => AnyConsumer::Logs(Arc::new(LogsSampler {
                sampler: Sampler::new(self, true),
                id: id.to_string(),
                next,
            })),
            AnyConsumer::Metrics(_) => {
                return Err(StartError::new(
                    format!("processors::{id}"),
                    "the probabilistic_sampler processor does not support metrics",
                ))
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// The legacy hash; `threshold` from `uint32(pct * 163.84)`.
    HashSeed,
    Equalizing,
    /// Multiplies by `ratio`.
    Proportional(f64),
    /// 0%.
    Never,
}

/// The decision logic shared by traces and logs (otelcol's `makeSampler` + `commonShouldSampleLogic`).
#[derive(Debug, Clone)]
pub struct Sampler {
    mode: Mode,
    threshold: Threshold,
    hash_seed: u32,
    precision: i32,
    fail_closed: bool,
    logs_trace_id: bool,
    from_attribute: String,
    sampling_priority: String,
}

/// Where an item's randomness came from: the `policy` label of otelcol's counter.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Missing,
    TraceIdHash,
    TraceIdW3c,
    SamplingRandomness,
    Attribute,
    Priority,
}

impl Source {
    fn policy(self, attr: &str) -> String {
        match self {
            Source::Missing => "missing_randomness".into(),
            Source::TraceIdHash => "trace_id_hash".into(),
            Source::TraceIdW3c => "trace_id_w3c".into(),
            Source::SamplingRandomness => "sampling_randomness".into(),
            Source::Attribute => attr.to_string(),
            Source::Priority => "sampling_priority".into(),
        }
    }
}

/// Sampling state read from (and written back to) a span's tracestate or a record's attributes.
#[derive(Debug, Default)]
struct Carrier {
    threshold: Option<Threshold>,
    tvalue: String,
    randomness: Option<u64>,
    /// Set when the sampler generated the randomness (hash_seed mode): written back on "sampled".
    new_randomness: bool,
    ts: Option<TraceState>,
}

impl Carrier {
    fn update(&mut self, th: Threshold) {
        if let Some(ts) = &mut self.ts {
            let _ = ts.update_threshold(th);
            return;
        }
        if let Some(existing) = self.threshold {
            if !self.tvalue.is_empty() && existing > th {
                return;
            }
        }
        self.threshold = Some(th);
        self.tvalue = th.tvalue();
    }
}

struct Decision {
    sampled: bool,
    source: Source,
}

impl Sampler {
    pub fn new(c: &Config, is_logs: bool) -> Sampler {
        let pct = c.sampling_percentage.min(100.0);
        let mode = match c.mode.as_deref().unwrap_or("") {
            "" if c.hash_seed != 0 || (is_logs && c.attribute_source == "record") => "hash_seed",
            "" => "proportional",
            m => m,
        };
        let mut ratio = f64::from(pct) / 100.0;
        if ratio < sampling::MIN_SAMPLING_PROBABILITY {
            ratio = sampling::MIN_SAMPLING_PROBABILITY;
        }
        let (mode, threshold) = if pct <= 0.0 {
            (Mode::Never, Threshold::NEVER)
        } else {
            match mode {
                "equalizing" => (
                    Mode::Equalizing,
                    sampling::probability_to_threshold(ratio, c.sampling_precision)
                        .unwrap_or(Threshold::ALWAYS),
                ),
                "proportional" => (Mode::Proportional(ratio), Threshold::ALWAYS),
                _ => {
                    let scaled = (pct * sampling::PERCENTAGE_SCALE_FACTOR) as u32;
                    if scaled == 0 {
                        (Mode::Never, Threshold::NEVER)
                    } else {
                        let reject = sampling::NUM_HASH_BUCKETS.saturating_sub(scaled);
                        (Mode::HashSeed, Threshold(u64::from(reject) << 42))
                    }
                }
            }
        };
        Sampler {
            mode,
            threshold,
            hash_seed: c.hash_seed,
            precision: c.sampling_precision,
            fail_closed: c.fail_closed,
            logs_trace_id: c.attribute_source != "record",
            from_attribute: c.from_attribute.clone(),
            sampling_priority: c.sampling_priority.clone(),
        }
    }

    fn decide(&self, carrier: &Carrier) -> Threshold {
        match self.mode {
            Mode::Never => Threshold::NEVER,
            Mode::HashSeed | Mode::Equalizing => self.threshold,
            Mode::Proportional(ratio) => {
                let incoming = carrier.threshold.map(Threshold::probability).unwrap_or(1.0);
                sampling::probability_to_threshold(incoming * ratio, self.precision)
                    .unwrap_or(Threshold::NEVER)
            }
        }
    }

    /// Randomness and carrier of a span (otelcol's `randomnessFromSpan` for each mode).
    fn randomness_of_span(
        &self,
        span: &Span,
    ) -> (u64, Source, Option<Carrier>, Result<(), String>) {
        let parsed = TraceState::parse(&span.trace_state);
        if self.mode == Mode::HashSeed {
            let rnd = sampling::randomness_from_bytes(&span.trace_id, self.hash_seed);
            let mut ts = match parsed {
                Ok(ts) => ts,
                Err(e) => return (rnd, Source::TraceIdHash, None, Err(e)),
            };
            let mut err = Ok(());
            if ts.randomness.is_some() {
                err = Err(
                    "span has sampling randomness, equalizing or proportional mode recommended"
                        .into(),
                );
            } else if ts.threshold.is_some() {
                err = Err(
                    "span has sampling threshold, equalizing or proportional mode recommended"
                        .into(),
                );
            } else {
                ts.set_randomness(rnd);
            }
            let c = Carrier {
                threshold: ts.threshold,
                tvalue: ts.tvalue.clone(),
                randomness: ts.randomness,
                new_randomness: false,
                ts: Some(ts),
            };
            return (rnd, Source::TraceIdHash, Some(c), err);
        }
        let ts = match parsed {
            Ok(ts) => ts,
            Err(e) => return (MAX_RANDOMNESS, Source::Missing, None, Err(e)),
        };
        let (rnd, src) = if let Some(r) = ts.randomness {
            (r, Source::SamplingRandomness)
        } else if span.trace_id.iter().all(|b| *b == 0) {
            (MAX_RANDOMNESS, Source::Missing)
        } else {
            (
                sampling::trace_id_randomness(&span.trace_id),
                Source::TraceIdW3c,
            )
        };
        let c = Carrier {
            threshold: ts.threshold,
            tvalue: ts.tvalue.clone(),
            randomness: ts.randomness,
            new_randomness: false,
            ts: Some(ts),
        };
        (rnd, src, Some(c), Ok(()))
    }

    /// Randomness and carrier of a log record (`sampling.randomness`, `sampling.threshold`).
    fn randomness_of_log(
        &self,
        rec: &LogRecord,
    ) -> (u64, Source, Option<Carrier>, Result<(), String>) {
        let mut carrier = Carrier::default();
        let mut err: Result<(), String> = Ok(());
        if let Some(tv) = string_attr(&rec.attributes, "sampling.threshold") {
            match Threshold::from_tvalue(tv) {
                Ok(th) => {
                    carrier.threshold = Some(th);
                    carrier.tvalue = tv.to_string();
                }
                Err(e) => err = Err(e),
            }
        }
        if let Some(rv) = string_attr(&rec.attributes, "sampling.randomness") {
            match sampling::rvalue_to_randomness(rv) {
                Ok(r) => carrier.randomness = Some(r),
                Err(e) => err = Err(e),
            }
        }
        let attr_rnd = |seed: u32| {
            if self.from_attribute.is_empty() {
                return None;
            }
            rec.attributes
                .iter()
                .find(|kv| kv.key == self.from_attribute)
                .map(|kv| sampling::randomness_from_bytes(&value_bytes(kv.value.as_ref()), seed))
        };
        if self.mode == Mode::HashSeed {
            let (mut rnd, mut src) = (MAX_RANDOMNESS, Source::Missing);
            if self.logs_trace_id {
                rnd = sampling::randomness_from_bytes(&rec.trace_id, self.hash_seed);
                src = Source::TraceIdHash;
            }
            if src == Source::Missing {
                if let Some(r) = attr_rnd(self.hash_seed) {
                    (rnd, src) = (r, Source::Attribute);
                }
            }
            if err.is_err() {
                return (rnd, src, None, err);
            }
            if carrier.randomness.is_some() {
                err = Err("log record has sampling randomness, equalizing or proportional mode recommended".into());
            } else if carrier.threshold.is_some() {
                err = Err("log record has sampling threshold, equalizing or proportional mode recommended".into());
            } else if src != Source::Missing {
                carrier.randomness = Some(rnd);
                carrier.new_randomness = true;
            }
            return (rnd, src, Some(carrier), err);
        }
        if err.is_err() {
            return (MAX_RANDOMNESS, Source::Missing, None, err);
        }
        let (rnd, src) = if let Some(r) = carrier.randomness {
            (r, Source::SamplingRandomness)
        } else if !rec.trace_id.is_empty() && rec.trace_id.iter().any(|b| *b != 0) {
            (
                sampling::trace_id_randomness(&rec.trace_id),
                Source::TraceIdW3c,
            )
        } else if let Some(r) = attr_rnd(self.hash_seed) {
            (r, Source::Attribute)
        } else {
            (MAX_RANDOMNESS, Source::Missing)
        };
        (rnd, src, Some(carrier), Ok(()))
    }

    /// otelcol's `commonShouldSampleLogic` up to the priority override.
    fn threshold_for(
        &self,
        rnd: u64,
        src: Source,
        carrier: &mut Option<Carrier>,
        err: Result<(), String>,
    ) -> Threshold {
        let mut err = err;
        if err.is_ok() {
            if src == Source::Missing {
                err = Err("missing randomness".into());
            } else if let Some(c) = carrier.as_mut() {
                if let Some(tv) = c.threshold {
                    if !tv.should_sample(rnd) {
                        c.threshold = None;
                        c.tvalue.clear();
                        if let Some(ts) = &mut c.ts {
                            ts.clear_threshold();
                        }
                        err = Err("inconsistent arriving t-value".into());
                    }
                }
            }
        }
        match err {
            Ok(()) => match carrier {
                Some(c) => self.decide(c),
                None => self.decide(&Carrier::default()),
            },
            Err(e) => {
                tracing::debug!(error = %e, "probabilistic_sampler");
                if self.fail_closed {
                    Threshold::NEVER
                } else {
                    Threshold::ALWAYS
                }
            }
        }
    }

    /// Decides one span; on "sampled" updates its tracestate as otelcol does.
    fn sample_span(&self, span: &mut Span) -> Decision {
        let (rnd, mut src, mut carrier, err) = self.randomness_of_span(span);
        let mut threshold = self.threshold_for(rnd, src, &mut carrier, err);
        match span_priority(span) {
            Priority::DoNotSample => {
                threshold = Threshold::NEVER;
                src = Source::Priority;
            }
            Priority::MustSample => {
                threshold = Threshold::ALWAYS;
                src = Source::Priority;
            }
            Priority::Defer => {}
        }
        let sampled = threshold.should_sample(rnd);
        if sampled {
            if let Some(mut c) = carrier {
                c.update(threshold);
                if let Some(ts) = c.ts {
                    span.trace_state = ts.serialize();
                }
            }
        }
        Decision {
            sampled,
            source: src,
        }
    }

    fn sample_log(&self, rec: &mut LogRecord) -> Decision {
        let (rnd, mut src, mut carrier, err) = self.randomness_of_log(rec);
        let mut threshold = self.threshold_for(rnd, src, &mut carrier, err);
        if !self.sampling_priority.is_empty() {
            let pth = self.log_priority_threshold(rec);
            if pth < threshold {
                threshold = pth;
                src = Source::Priority;
            }
        }
        let sampled = threshold.should_sample(rnd);
        if sampled {
            if let Some(mut c) = carrier {
                c.update(threshold);
                if !c.tvalue.is_empty() {
                    put_str(&mut rec.attributes, "sampling.threshold", c.tvalue.clone());
                }
                if let (Some(r), true) = (c.randomness, c.new_randomness) {
                    put_str(
                        &mut rec.attributes,
                        "sampling.randomness",
                        sampling::randomness_to_rvalue(r),
                    );
                }
            }
        }
        Decision {
            sampled,
            source: src,
        }
    }

    fn log_priority_threshold(&self, rec: &LogRecord) -> Threshold {
        let min_prob = rec
            .attributes
            .iter()
            .find(|kv| kv.key == self.sampling_priority)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                V::DoubleValue(d) => *d / 100.0,
                V::IntValue(i) => *i as f64 / 100.0,
                _ => 0.0,
            })
            .unwrap_or(0.0);
        if min_prob != 0.0 {
            if let Some(th) = sampling::probability_to_threshold(min_prob, self.precision) {
                return th;
            }
        }
        Threshold::NEVER
    }
}

/// `AllProbabilitiesRandomness`: what a missing randomness compares as.
const MAX_RANDOMNESS: u64 = sampling::MAX_ADJUSTED_COUNT - 1;

enum Priority {
    Defer,
    DoNotSample,
    MustSample,
}

/// The span's `sampling.priority` attribute: 0 drops, above 0 keeps (int, double or numeric string).
fn span_priority(span: &Span) -> Priority {
    let Some(v) = span
        .attributes
        .iter()
        .find(|kv| kv.key == "sampling.priority")
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    else {
        return Priority::Defer;
    };
    let n = match v {
        V::IntValue(i) => *i as f64,
        V::DoubleValue(d) => *d,
        V::StringValue(s) => match s.parse::<f64>() {
            Ok(f) => f,
            Err(_) => return Priority::Defer,
        },
        _ => return Priority::Defer,
    };
    if n == 0.0 {
        Priority::DoNotSample
    } else if n > 0.0 {
        Priority::MustSample
    } else {
        Priority::Defer
    }
}

fn string_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            V::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

fn put_str(attrs: &mut Vec<KeyValue>, key: &str, value: String) {
    let v = Some(AnyValue {
        value: Some(V::StringValue(value)),
    });
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = v,
        None => attrs.push(KeyValue {
            key: key.to_string(),
            value: v,
            ..Default::default()
        }),
    }
}

/// pdata's `getBytesFromValue`: bytes as they are, everything else as its string form.
fn value_bytes(v: Option<&AnyValue>) -> Vec<u8> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(V::BytesValue(b)) => b.clone(),
        _ => crate::processors::attraction::value::as_string(v).into_bytes(),
    }
}

pub struct TracesSampler {
    sampler: Sampler,
    id: String,
    next: Arc<dyn Consumer<Traces>>,
}

#[async_trait]
impl Consumer<Traces> for TracesSampler {
    async fn consume(&self, mut batch: Batch<Traces>) -> Result<(), ConsumeError> {
        let mut counts = Counts::default();
        let resources = batch.resources_mut()?;
        for rs in resources.iter_mut() {
            for ss in rs.scope_spans.iter_mut() {
                ss.spans.retain_mut(|span| {
                    let d = self.sampler.sample_span(span);
                    counts.add(d, &self.sampler.from_attribute);
                    d.sampled
                });
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        }
        resources.retain(|rs| !rs.scope_spans.is_empty());
        let empty = resources.is_empty();
        batch.recount();
        counts.emit(&self.id, false);
        if empty {
            return Ok(());
        }
        self.next.consume(batch).await
    }
}

pub struct LogsSampler {
    sampler: Sampler,
    id: String,
    next: Arc<dyn Consumer<Logs>>,
}

#[async_trait]
impl Consumer<Logs> for LogsSampler {
    async fn consume(&self, mut batch: Batch<Logs>) -> Result<(), ConsumeError> {
        let mut counts = Counts::default();
        let resources = batch.resources_mut()?;
        for rl in resources.iter_mut() {
            for sl in rl.scope_logs.iter_mut() {
                sl.log_records.retain_mut(|rec| {
                    let d = self.sampler.sample_log(rec);
                    counts.add(d, &self.sampler.from_attribute);
                    d.sampled
                });
            }
            rl.scope_logs.retain(|sl| !sl.log_records.is_empty());
        }
        resources.retain(|rl| !rl.scope_logs.is_empty());
        let empty = resources.is_empty();
        batch.recount();
        counts.emit(&self.id, true);
        if empty {
            return Ok(());
        }
        self.next.consume(batch).await
    }
}

impl Clone for Decision {
    fn clone(&self) -> Self {
        *self
    }
}
impl Copy for Decision {}

/// Decisions of one batch, per (policy, sampled), counted once per batch.
#[derive(Default)]
struct Counts(Vec<(String, bool, u64)>);

impl Counts {
    fn add(&mut self, d: Decision, attr: &str) {
        let policy = d.source.policy(attr);
        match self
            .0
            .iter_mut()
            .find(|(p, s, _)| *s == d.sampled && *p == policy)
        {
            Some(e) => e.2 += 1,
            None => self.0.push((policy, d.sampled, 1)),
        }
    }

    fn emit(self, id: &str, logs: bool) {
        for (policy, sampled, n) in self.0 {
            crate::telemetry::events::probabilistic_sampler_count(id, logs, &policy, sampled, n);
        }
    }
}

#[cfg(test)]
mod tests;
