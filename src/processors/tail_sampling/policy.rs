//! Sampling policies: their config (otelcol's keys), compilation, and evaluation on a whole trace.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, ResourceSpans};
use serde::Deserialize;

use crate::config::ConfigError;

/// One policy as written in YAML: `name`, `type` and the block for that type. Sub-policies (of
/// `and`, `drop`, `not`, `composite`) use the same shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub latency: Option<LatencyCfg>,
    #[serde(default)]
    pub numeric_attribute: Option<NumericCfg>,
    #[serde(default)]
    pub probabilistic: Option<ProbabilisticCfg>,
    #[serde(default)]
    pub status_code: Option<StatusCodeCfg>,
    #[serde(default)]
    pub string_attribute: Option<StringCfg>,
    #[serde(default)]
    pub rate_limiting: Option<RateCfg>,
    #[serde(default)]
    pub bytes_limiting: Option<BytesCfg>,
    #[serde(default)]
    pub span_count: Option<SpanCountCfg>,
    #[serde(default)]
    pub trace_state: Option<TraceStateCfg>,
    #[serde(default)]
    pub boolean_attribute: Option<BoolCfg>,
    #[serde(default)]
    pub ottl_condition: Option<serde_yaml::Value>,
    #[serde(default)]
    pub and: Option<AndCfg>,
    #[serde(default)]
    pub drop: Option<DropCfg>,
    #[serde(default)]
    pub not: Option<NotCfg>,
    #[serde(default)]
    pub composite: Option<CompositeCfg>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyCfg {
    #[serde(default)]
    pub threshold_ms: i64,
    #[serde(default)]
    pub upper_threshold_ms: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumericCfg {
    pub key: String,
    #[serde(default)]
    pub min_value: Option<i64>,
    #[serde(default)]
    pub max_value: Option<i64>,
    #[serde(default)]
    pub invert_match: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilisticCfg {
    #[serde(default)]
    pub hash_salt: Option<String>,
    #[serde(default)]
    pub sampling_percentage: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusCodeCfg {
    pub status_codes: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringCfg {
    pub key: String,
    pub values: Vec<String>,
    #[serde(default)]
    pub enabled_regex_matching: bool,
    #[serde(default)]
    pub cache_max_size: usize,
    #[serde(default)]
    pub invert_match: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateCfg {
    pub spans_per_second: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BytesCfg {
    pub bytes_per_second: i64,
    #[serde(default)]
    pub burst_capacity: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanCountCfg {
    #[serde(default)]
    pub min_spans: i64,
    #[serde(default)]
    pub max_spans: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceStateCfg {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoolCfg {
    pub key: String,
    pub value: bool,
    #[serde(default)]
    pub invert_match: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndCfg {
    pub and_sub_policy: Vec<PolicyConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropCfg {
    pub drop_sub_policy: Vec<PolicyConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotCfg {
    pub not_sub_policy: Box<PolicyConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositeCfg {
    pub max_total_spans_per_second: i64,
    #[serde(default)]
    pub policy_order: Vec<String>,
    pub composite_sub_policy: Vec<PolicyConfig>,
    #[serde(default)]
    pub rate_allocation: Vec<RateAllocation>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateAllocation {
    pub policy: String,
    pub percent: i64,
}

/// A policy's verdict on one trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    NotSampled,
    Sampled,
    /// From a `drop` policy: wins over every "sampled".
    Dropped,
}

/// What policies look at: every span of one trace with its resource.
pub struct TraceView<'a> {
    pub resources: &'a [ResourceSpans],
    pub spans: usize,
    pub bytes: usize,
}

impl TraceView<'_> {
    fn spans(
        &self,
    ) -> impl Iterator<Item = (&ResourceSpans, &opentelemetry_proto::tonic::trace::v1::Span)> {
        self.resources.iter().flat_map(|rs| {
            rs.scope_spans
                .iter()
                .flat_map(move |ss| ss.spans.iter().map(move |s| (rs, s)))
        })
    }

    /// Any span whose own or resource attribute `key` satisfies `f`.
    fn any_attr(&self, key: &str, f: impl Fn(&V) -> bool) -> bool {
        let find = |attrs: &[KeyValue]| {
            attrs
                .iter()
                .filter(|kv| kv.key == key)
                .filter_map(|kv| kv.value.as_ref()?.value.as_ref())
                .any(&f)
        };
        self.resources
            .iter()
            .any(|rs| rs.resource.as_ref().is_some_and(|r| find(&r.attributes)))
            || self.spans().any(|(_, s)| find(&s.attributes))
    }
}

pub enum Kind {
    Always,
    Latency {
        lo: u64,
        hi: u64,
    },
    Numeric {
        key: String,
        min: i64,
        max: i64,
        invert: bool,
    },
    Probabilistic {
        salt: String,
        threshold: u64,
    },
    Status(Vec<i32>),
    Str {
        key: String,
        exact: Vec<String>,
        regex: Vec<regex::Regex>,
        invert: bool,
    },
    Rate {
        per_sec: i64,
        state: Mutex<(u64, i64)>,
    },
    Bytes {
        per_sec: f64,
        burst: f64,
        state: Mutex<(Instant, f64)>,
    },
    SpanCount {
        min: i64,
        max: i64,
    },
    TraceState {
        key: String,
        values: Vec<String>,
    },
    Bool {
        key: String,
        value: bool,
        invert: bool,
    },
    And(Vec<Policy>),
    Drop(Vec<Policy>),
    Not(Box<Policy>),
    Composite {
        subs: Vec<(Policy, i64)>,
        total: i64,
        state: Mutex<(u64, Vec<i64>)>,
    },
}

pub struct Policy {
    pub name: String,
    pub kind: Kind,
}

fn now_second() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// FNV-1a (64 bit) of the salt then the trace id: otelcol's probabilistic policy hash.
pub fn hash_trace_id(salt: &str, id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.as_bytes().iter().chain(id) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Policy {
    pub fn compile(c: &PolicyConfig, path: &str, errors: &mut Vec<ConfigError>) -> Option<Policy> {
        macro_rules! need {
            ($field:ident) => {
                match &c.$field {
                    Some(v) => v,
                    None => {
                        errors.push(ConfigError::new(
                            format!("{path}::{}", stringify!($field)),
                            format!(
                                "policy type {:?} needs its \"{}\" block",
                                c.kind,
                                stringify!($field)
                            ),
                        ));
                        return None;
                    }
                }
            };
        }
        let subs = |list: &[PolicyConfig], key: &str, errors: &mut Vec<ConfigError>| {
            let mut out = Vec::new();
            for (i, p) in list.iter().enumerate() {
                if let Some(p) = Policy::compile(p, &format!("{path}::{key}::{i}"), errors) {
                    out.push(p);
                }
            }
            out
        };
        let kind = match c.kind.as_str() {
            "always_sample" => Kind::Always,
            "latency" => {
                let l = need!(latency);
                if l.upper_threshold_ms != 0 && l.upper_threshold_ms < l.threshold_ms {
                    errors.push(ConfigError::new(
                        format!("{path}::latency::upper_threshold_ms"),
                        "must be greater than threshold_ms",
                    ));
                }
                Kind::Latency {
                    lo: l.threshold_ms.max(0) as u64 * 1_000_000,
                    hi: if l.upper_threshold_ms > 0 {
                        l.upper_threshold_ms as u64 * 1_000_000
                    } else {
                        u64::MAX
                    },
                }
            }
            "numeric_attribute" => {
                let n = need!(numeric_attribute);
                if n.min_value.is_none() && n.max_value.is_none() {
                    errors.push(ConfigError::new(
                        format!("{path}::numeric_attribute"),
                        "at least one of min_value and max_value must be set",
                    ));
                }
                if let (Some(min), Some(max)) = (n.min_value, n.max_value) {
                    if min > max {
                        errors.push(ConfigError::new(
                            format!("{path}::numeric_attribute"),
                            format!("min_value ({min}) must be less than max_value ({max})"),
                        ));
                    }
                }
                Kind::Numeric {
                    key: n.key.clone(),
                    min: n.min_value.unwrap_or(i64::MIN),
                    max: n.max_value.unwrap_or(i64::MAX),
                    invert: n.invert_match,
                }
            }
            "probabilistic" => {
                let p = need!(probabilistic);
                if !(0.0..=100.0).contains(&p.sampling_percentage) {
                    errors.push(ConfigError::new(
                        format!("{path}::probabilistic::sampling_percentage"),
                        "must be between 0 and 100",
                    ));
                }
                let salt = p
                    .hash_salt
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "default-hash-seed".into());
                let ratio = p.sampling_percentage.clamp(0.0, 100.0) / 100.0;
                Kind::Probabilistic {
                    salt,
                    threshold: (u64::MAX as f64 * ratio) as u64,
                }
            }
            "status_code" => {
                let s = need!(status_code);
                let mut codes = Vec::new();
                if s.status_codes.is_empty() {
                    errors.push(ConfigError::new(
                        format!("{path}::status_code::status_codes"),
                        "expected at least one status code to filter on",
                    ));
                }
                for (i, code) in s.status_codes.iter().enumerate() {
                    match code.as_str() {
                        "OK" => codes.push(StatusCode::Ok as i32),
                        "ERROR" => codes.push(StatusCode::Error as i32),
                        "UNSET" => codes.push(StatusCode::Unset as i32),
                        other => errors.push(ConfigError::new(
                            format!("{path}::status_code::status_codes::{i}"),
                            format!("unknown status code {other:?}, supported: OK, ERROR, UNSET"),
                        )),
                    }
                }
                Kind::Status(codes)
            }
            "string_attribute" => {
                let s = need!(string_attribute);
                let mut regex = Vec::new();
                if s.enabled_regex_matching {
                    for (i, v) in s.values.iter().enumerate() {
                        match regex::Regex::new(v) {
                            Ok(r) => regex.push(r),
                            Err(e) => errors.push(ConfigError::new(
                                format!("{path}::string_attribute::values::{i}"),
                                format!("invalid regex: {e}"),
                            )),
                        }
                    }
                }
                Kind::Str {
                    key: s.key.clone(),
                    exact: if s.enabled_regex_matching {
                        vec![]
                    } else {
                        s.values.clone()
                    },
                    regex,
                    invert: s.invert_match,
                }
            }
            "rate_limiting" => {
                let r = need!(rate_limiting);
                Kind::Rate {
                    per_sec: r.spans_per_second,
                    state: Mutex::new((0, 0)),
                }
            }
            "bytes_limiting" => {
                let b = need!(bytes_limiting);
                if b.bytes_per_second <= 0 {
                    errors.push(ConfigError::new(
                        format!("{path}::bytes_limiting::bytes_per_second"),
                        "must be greater than 0",
                    ));
                }
                let burst = if b.burst_capacity > 0 {
                    b.burst_capacity
                } else {
                    b.bytes_per_second.saturating_mul(2)
                } as f64;
                Kind::Bytes {
                    per_sec: b.bytes_per_second as f64,
                    burst,
                    state: Mutex::new((Instant::now(), burst)),
                }
            }
            "span_count" => {
                let s = need!(span_count);
                if s.max_spans != 0 && s.max_spans < s.min_spans {
                    errors.push(ConfigError::new(
                        format!("{path}::span_count::max_spans"),
                        "must be greater than or equal to min_spans",
                    ));
                }
                Kind::SpanCount {
                    min: s.min_spans,
                    max: if s.max_spans == 0 {
                        i64::MAX
                    } else {
                        s.max_spans
                    },
                }
            }
            "trace_state" => {
                let t = need!(trace_state);
                Kind::TraceState {
                    key: t.key.clone(),
                    values: t.values.clone(),
                }
            }
            "boolean_attribute" => {
                let b = need!(boolean_attribute);
                Kind::Bool {
                    key: b.key.clone(),
                    value: b.value,
                    invert: b.invert_match,
                }
            }
            "ottl_condition" => {
                errors.push(ConfigError::new(
                    format!("{path}::type"),
                    "policy type \"ottl_condition\" is not supported by ferrotel yet",
                ));
                return None;
            }
            "and" => Kind::And(subs(
                &need!(and).and_sub_policy,
                "and::and_sub_policy",
                errors,
            )),
            "drop" => Kind::Drop(subs(
                &need!(drop).drop_sub_policy,
                "drop::drop_sub_policy",
                errors,
            )),
            "not" => {
                let n = need!(not);
                let p = Policy::compile(
                    &n.not_sub_policy,
                    &format!("{path}::not::not_sub_policy"),
                    errors,
                )?;
                Kind::Not(Box::new(p))
            }
            "composite" => {
                let c2 = need!(composite);
                let policies = subs(
                    &c2.composite_sub_policy,
                    "composite::composite_sub_policy",
                    errors,
                );
                let alloc: BTreeMap<&str, i64> = c2
                    .rate_allocation
                    .iter()
                    .map(|a| (a.policy.as_str(), a.percent))
                    .collect();
                let total_pct: i64 = alloc.values().sum();
                if total_pct > 100 {
                    errors.push(ConfigError::new(
                        format!("{path}::composite::rate_allocation"),
                        "the percentages add up to more than 100",
                    ));
                }
                for (i, a) in c2.rate_allocation.iter().enumerate() {
                    if !c2.composite_sub_policy.iter().any(|p| p.name == a.policy) {
                        errors.push(ConfigError::new(
                            format!("{path}::composite::rate_allocation::{i}::policy"),
                            format!("no composite_sub_policy is named {:?}", a.policy),
                        ));
                    }
                }
                let total = c2.max_total_spans_per_second;
                // Order: policy_order first, then the rest as listed.
                let mut ordered: Vec<Policy> = Vec::new();
                let mut rest = policies;
                for name in &c2.policy_order {
                    if let Some(i) = rest.iter().position(|p| &p.name == name) {
                        ordered.push(rest.remove(i));
                    }
                }
                ordered.extend(rest);
                let subs = ordered
                    .into_iter()
                    .map(|p| {
                        // Without an allocation a policy may use the whole budget.
                        let budget = alloc
                            .get(p.name.as_str())
                            .map(|pct| total.saturating_mul(*pct) / 100)
                            .unwrap_or(total);
                        (p, budget)
                    })
                    .collect::<Vec<_>>();
                let n = subs.len();
                Kind::Composite {
                    subs,
                    total,
                    state: Mutex::new((0, vec![0; n + 1])),
                }
            }
            "" => {
                errors.push(ConfigError::new(
                    format!("{path}::type"),
                    "missing policy type",
                ));
                return None;
            }
            other => {
                errors.push(ConfigError::new(
                    format!("{path}::type"),
                    format!("unknown sampling policy type {other:?}"),
                ));
                return None;
            }
        };
        Some(Policy {
            name: c.name.clone(),
            kind,
        })
    }

    pub fn evaluate(&self, trace_id: &[u8], t: &TraceView<'_>) -> Decision {
        use Decision::*;
        let yes = |b: bool| if b { Sampled } else { NotSampled };
        match &self.kind {
            Kind::Always => Sampled,
            Kind::Latency { lo, hi } => {
                let start = t
                    .spans()
                    .map(|(_, s)| s.start_time_unix_nano)
                    .min()
                    .unwrap_or(0);
                let end = t
                    .spans()
                    .map(|(_, s)| s.end_time_unix_nano)
                    .max()
                    .unwrap_or(0);
                let d = end.saturating_sub(start);
                yes(d >= *lo && d <= *hi)
            }
            Kind::Numeric {
                key,
                min,
                max,
                invert,
            } => {
                let hit = t.any_attr(key, |v| match v {
                    V::IntValue(i) => i >= min && i <= max,
                    V::DoubleValue(d) => *d >= *min as f64 && *d <= *max as f64,
                    _ => false,
                });
                yes(hit != *invert)
            }
            Kind::Probabilistic { salt, threshold } => {
                yes(*threshold > 0 && hash_trace_id(salt, trace_id) <= *threshold)
            }
            Kind::Status(codes) => yes(t
                .spans()
                .any(|(_, s)| codes.contains(&s.status.as_ref().map(|st| st.code).unwrap_or(0)))),
            Kind::Str {
                key,
                exact,
                regex,
                invert,
            } => {
                let hit = t.any_attr(key, |v| match v {
                    V::StringValue(s) => {
                        exact.iter().any(|e| e == s) || regex.iter().any(|r| r.is_match(s))
                    }
                    _ => false,
                });
                yes(hit != *invert)
            }
            Kind::Rate { per_sec, state } => {
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                let now = now_second();
                if st.0 != now {
                    *st = (now, 0);
                }
                let spans = t.spans as i64;
                if st.1.saturating_add(spans) <= *per_sec {
                    st.1 += spans;
                    Sampled
                } else {
                    NotSampled
                }
            }
            Kind::Bytes {
                per_sec,
                burst,
                state,
            } => {
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let elapsed = now.saturating_duration_since(st.0).as_secs_f64();
                st.1 = (st.1 + elapsed * per_sec).min(*burst);
                st.0 = now;
                if st.1 >= t.bytes as f64 {
                    st.1 -= t.bytes as f64;
                    Sampled
                } else {
                    NotSampled
                }
            }
            Kind::SpanCount { min, max } => {
                let n = t.spans as i64;
                yes(n >= *min && n <= *max)
            }
            Kind::TraceState { key, values } => yes(t.spans().any(|(_, s)| {
                s.trace_state.split(',').any(|e| {
                    e.trim()
                        .split_once('=')
                        .is_some_and(|(k, v)| k == key && values.iter().any(|x| x == v))
                })
            })),
            Kind::Bool { key, value, invert } => {
                let hit = t.any_attr(key, |v| matches!(v, V::BoolValue(b) if b == value));
                yes(hit != *invert)
            }
            Kind::And(subs) => {
                yes(!subs.is_empty() && subs.iter().all(|p| p.evaluate(trace_id, t) == Sampled))
            }
            Kind::Drop(subs) => {
                if !subs.is_empty() && subs.iter().all(|p| p.evaluate(trace_id, t) == Sampled) {
                    Dropped
                } else {
                    NotSampled
                }
            }
            Kind::Not(p) => yes(p.evaluate(trace_id, t) != Sampled),
            Kind::Composite { subs, total, state } => {
                let spans = t.spans as i64;
                for (i, (p, budget)) in subs.iter().enumerate() {
                    if p.evaluate(trace_id, t) != Sampled {
                        continue;
                    }
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    let now = now_second();
                    if st.0 != now {
                        st.0 = now;
                        st.1.iter_mut().for_each(|v| *v = 0);
                    }
                    let total_budget = *total;
                    let used_total = st.1[subs.len()];
                    if st.1[i].saturating_add(spans) <= *budget
                        && used_total.saturating_add(spans) <= total_budget
                    {
                        st.1[i] += spans;
                        st.1[subs.len()] += spans;
                        return Sampled;
                    }
                }
                NotSampled
            }
        }
    }
}
