//! `include` / `exclude`: which spans, log records and metrics the attributes processor acts on, with
//! otelcol's match properties (its `filterconfig.MatchProperties`) and semantics: every property given
//! must match; a list matches when any entry matches; `regexp` entries match anywhere in the string
//! (RE2-style, unanchored), `strict` entries match exactly.

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use regex::Regex;
use serde::Deserialize;

use crate::config::ConfigError;
use crate::processors::attraction::value;
use crate::signal::SignalKind;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchProperties {
    #[serde(default)]
    pub match_type: String,
    /// Accepted for compatibility; Rust's regex engine needs no result cache.
    #[serde(default)]
    pub regexp: Option<RegexpConfig>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub span_names: Vec<String>,
    #[serde(default)]
    pub span_kinds: Vec<String>,
    #[serde(default)]
    pub log_bodies: Vec<String>,
    #[serde(default)]
    pub log_severity_texts: Vec<String>,
    #[serde(default)]
    pub log_severity_number: Option<SeverityNumberConfig>,
    #[serde(default)]
    pub metric_names: Vec<String>,
    #[serde(default)]
    pub attributes: Vec<AttributeConfig>,
    #[serde(default)]
    pub resources: Vec<AttributeConfig>,
    #[serde(default)]
    pub libraries: Vec<LibraryConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexpConfig {
    #[serde(default)]
    pub cacheenabled: bool,
    #[serde(default)]
    pub cachemaxnumentries: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeConfig {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryConfig {
    #[serde(default)]
    pub name: String,
    /// Absent: any version; `""`: only an empty version.
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityNumberConfig {
    /// A severity number (`9`) or name (`INFO`, `warn2`).
    #[serde(default)]
    pub min: Option<serde_yaml::Value>,
    #[serde(default)]
    pub match_undefined: bool,
}

/// A list of strings or patterns; matches when any entry does.
#[derive(Debug)]
enum StringSet {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
}

impl StringSet {
    fn matches(&self, s: &str) -> bool {
        match self {
            StringSet::Strict(v) => v.iter().any(|x| x == s),
            StringSet::Regexp(v) => v.iter().any(|r| r.is_match(s)),
        }
    }
}

#[derive(Debug)]
enum AttrMatch {
    Exists,
    Strict(Option<AnyValue>),
    Regexp(Regex),
}

#[derive(Debug)]
struct AttrMatcher {
    key: String,
    m: AttrMatch,
}

/// A compiled `include` or `exclude`.
#[derive(Debug)]
pub struct Matcher {
    services: Option<StringSet>,
    span_names: Option<StringSet>,
    span_kinds: Option<StringSet>,
    log_bodies: Option<StringSet>,
    log_severity_texts: Option<StringSet>,
    log_severity_number: Option<(i32, bool)>,
    metric_names: Option<StringSet>,
    attributes: Vec<AttrMatcher>,
    resources: Vec<AttrMatcher>,
    libraries: Vec<(StringSet, Option<StringSet>)>,
    props: MatchProperties,
}

const SPAN_KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

fn span_kind_str(kind: i32) -> &'static str {
    SPAN_KINDS.get(kind as usize).copied().unwrap_or("")
}

impl Matcher {
    /// Compiles the properties; errors carry `path` (`processors::attributes::include`).
    pub fn compile(p: &MatchProperties, path: &str) -> Result<Matcher, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let regexp = match p.match_type.as_str() {
            "strict" => false,
            "regexp" => true,
            other => {
                return Err(vec![ConfigError::new(
                    format!("{path}::match_type"),
                    format!("unrecognized match_type {other:?}, valid types are: regexp, strict"),
                )])
            }
        };
        let mut set = |list: &[String], field: &str| -> Option<StringSet> {
            if list.is_empty() {
                return None;
            }
            if !regexp {
                return Some(StringSet::Strict(list.to_vec()));
            }
            let mut res = Vec::new();
            for (i, pat) in list.iter().enumerate() {
                match Regex::new(pat) {
                    Ok(r) => res.push(r),
                    Err(e) => errors.push(ConfigError::new(
                        format!("{path}::{field}::{i}"),
                        format!("invalid pattern {pat:?}: {e}"),
                    )),
                }
            }
            Some(StringSet::Regexp(res))
        };
        let services = set(&p.services, "services");
        let span_names = set(&p.span_names, "span_names");
        let span_kinds = set(&p.span_kinds, "span_kinds");
        let log_bodies = set(&p.log_bodies, "log_bodies");
        let log_severity_texts = set(&p.log_severity_texts, "log_severity_texts");
        let metric_names = set(&p.metric_names, "metric_names");
        let mut libraries = Vec::new();
        for (i, l) in p.libraries.iter().enumerate() {
            let name = set(
                std::slice::from_ref(&l.name),
                &format!("libraries::{i}::name"),
            );
            let version = l
                .version
                .as_ref()
                .and_then(|v| set(std::slice::from_ref(v), &format!("libraries::{i}::version")));
            if let Some(name) = name {
                libraries.push((name, version));
            }
        }
        let attributes = attr_matchers(
            &p.attributes,
            regexp,
            &format!("{path}::attributes"),
            &mut errors,
        );
        let resources = attr_matchers(
            &p.resources,
            regexp,
            &format!("{path}::resources"),
            &mut errors,
        );
        let log_severity_number = match &p.log_severity_number {
            None => None,
            Some(s) => match severity_number(s.min.as_ref()) {
                Ok(n) => Some((n, s.match_undefined)),
                Err(e) => {
                    errors.push(ConfigError::new(
                        format!("{path}::log_severity_number::min"),
                        e,
                    ));
                    None
                }
            },
        };
        if !regexp {
            for (i, k) in p.span_kinds.iter().enumerate() {
                if !SPAN_KINDS[1..].contains(&k.as_str()) {
                    errors.push(ConfigError::new(
                        format!("{path}::span_kinds::{i}"),
                        format!(
                            "span_kinds must be one of the standard span kinds when match_type=strict: {}",
                            SPAN_KINDS[1..].join(", ")
                        ),
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Matcher {
            services,
            span_names,
            span_kinds,
            log_bodies,
            log_severity_texts,
            log_severity_number,
            metric_names,
            attributes,
            resources,
            libraries,
            props: p.clone(),
        })
    }

    /// otelcol's per-signal rules, checked when the processor is built for a signal. Metrics use only
    /// `metric_names` and `resources` (other properties are ignored, as otelcol ignores them).
    pub fn validate_for(&self, signal: SignalKind) -> Result<(), String> {
        let p = &self.props;
        match signal {
            SignalKind::Traces => {
                if !p.log_bodies.is_empty() {
                    return Err("log_bodies should not be specified for trace spans".into());
                }
                if !p.log_severity_texts.is_empty() {
                    return Err("log_severity_texts should not be specified for trace spans".into());
                }
                if p.log_severity_number.is_some() {
                    return Err(
                        "log_severity_number should not be specified for trace spans".into(),
                    );
                }
                if p.services.is_empty()
                    && p.span_names.is_empty()
                    && p.attributes.is_empty()
                    && p.libraries.is_empty()
                    && p.resources.is_empty()
                    && p.span_kinds.is_empty()
                {
                    return Err("at least one of \"services\", \"span_names\", \"span_kinds\", \"attributes\", \"libraries\" or \"resources\" must be specified for spans".into());
                }
            }
            SignalKind::Logs => {
                if !p.span_names.is_empty() || !p.services.is_empty() || !p.span_kinds.is_empty() {
                    return Err(
                        "services, span_names, and span_kinds are not valid for log records".into(),
                    );
                }
                if p.attributes.is_empty()
                    && p.libraries.is_empty()
                    && p.resources.is_empty()
                    && p.log_bodies.is_empty()
                    && p.log_severity_texts.is_empty()
                    && p.log_severity_number.is_none()
                {
                    return Err("at least one of \"attributes\", \"libraries\", \"resources\", \"log_bodies\", \"log_severity_texts\" or \"log_severity_number\" must be specified for log records".into());
                }
            }
            SignalKind::Metrics => {}
        }
        Ok(())
    }

    /// Whether this matcher takes part for metrics (otelcol ignores one without `metric_names` or
    /// `resources`).
    pub fn applies_to_metrics(&self) -> bool {
        self.metric_names.is_some() || !self.resources.is_empty()
    }

    fn common(
        &self,
        attrs: &[KeyValue],
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
    ) -> bool {
        for (name, version) in &self.libraries {
            let (n, v) = scope.map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
            if !name.matches(n) {
                return false;
            }
            if version.as_ref().is_some_and(|vs| !vs.matches(v)) {
                return false;
            }
        }
        if !self.resources.is_empty()
            && !attrs_match(&self.resources, resource.map_or(&[][..], |r| &r.attributes))
        {
            return false;
        }
        attrs_match(&self.attributes, attrs)
    }

    pub fn matches_span(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        if let Some(s) = &self.services {
            let name = resource
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .map_or_else(
                    || "<nil-service-name>".to_string(),
                    |kv| value::as_string(kv.value.as_ref()),
                );
            if !s.matches(&name) {
                return false;
            }
        }
        if self
            .span_names
            .as_ref()
            .is_some_and(|s| !s.matches(&span.name))
        {
            return false;
        }
        if self
            .span_kinds
            .as_ref()
            .is_some_and(|s| !s.matches(span_kind_str(span.kind)))
        {
            return false;
        }
        self.common(&span.attributes, resource, scope)
    }

    pub fn matches_log(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        log: &LogRecord,
    ) -> bool {
        if self
            .log_bodies
            .as_ref()
            .is_some_and(|s| !s.matches(&value::as_string(log.body.as_ref())))
        {
            return false;
        }
        if self
            .log_severity_texts
            .as_ref()
            .is_some_and(|s| !s.matches(&log.severity_text))
        {
            return false;
        }
        if let Some((min, undefined)) = self.log_severity_number {
            let ok = if log.severity_number == 0 {
                undefined
            } else {
                log.severity_number >= min
            };
            if !ok {
                return false;
            }
        }
        self.common(&log.attributes, resource, scope)
    }

    pub fn matches_metric(&self, resource: Option<&Resource>, metric: &Metric) -> bool {
        if self
            .metric_names
            .as_ref()
            .is_some_and(|s| !s.matches(&metric.name))
        {
            return false;
        }
        self.resources.is_empty()
            || attrs_match(&self.resources, resource.map_or(&[][..], |r| &r.attributes))
    }
}

fn attr_matchers(
    list: &[AttributeConfig],
    regexp: bool,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<AttrMatcher> {
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        if a.key.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::{i}::key"),
                "can't have empty key in the list of attributes",
            ));
            continue;
        }
        let m = match a.value.as_ref().filter(|v| !v.is_null()) {
            None => AttrMatch::Exists,
            Some(y) => {
                let v = match value::from_yaml(y) {
                    Ok(v) => v,
                    Err(e) => {
                        errors.push(ConfigError::new(format!("{path}::{i}::value"), e));
                        continue;
                    }
                };
                if regexp {
                    let Some(V::StringValue(pat)) = v.as_ref().and_then(|v| v.value.as_ref())
                    else {
                        errors.push(ConfigError::new(
                            format!("{path}::{i}::value"),
                            format!("match_type=regexp for {:?} only supports strings", a.key),
                        ));
                        continue;
                    };
                    match Regex::new(pat) {
                        Ok(r) => AttrMatch::Regexp(r),
                        Err(e) => {
                            errors.push(ConfigError::new(
                                format!("{path}::{i}::value"),
                                format!("invalid pattern {pat:?}: {e}"),
                            ));
                            continue;
                        }
                    }
                } else {
                    AttrMatch::Strict(v)
                }
            }
        };
        out.push(AttrMatcher {
            key: a.key.clone(),
            m,
        });
    }
    out
}

/// All matchers must match; with matchers, a record without attributes never matches.
fn attrs_match(matchers: &[AttrMatcher], attrs: &[KeyValue]) -> bool {
    if matchers.is_empty() {
        return true;
    }
    if attrs.is_empty() {
        return false;
    }
    matchers.iter().all(|m| {
        let Some(kv) = attrs.iter().find(|kv| kv.key == m.key) else {
            return false;
        };
        let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
        match &m.m {
            AttrMatch::Exists => true,
            // Typed equality: an int 1 does not match a string "1".
            AttrMatch::Strict(want) => want.as_ref().and_then(|w| w.value.as_ref()) == v,
            AttrMatch::Regexp(re) => {
                let s = match v {
                    Some(V::StringValue(s)) => s.clone(),
                    Some(V::BoolValue(b)) => b.to_string(),
                    Some(V::DoubleValue(d)) => format!("{d}"),
                    Some(V::IntValue(i)) => i.to_string(),
                    _ => return false,
                };
                re.is_match(&s)
            }
        }
    })
}

fn severity_number(min: Option<&serde_yaml::Value>) -> Result<i32, String> {
    const NAMES: [&str; 6] = ["UNSPECIFIED", "TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
    match min {
        None => Ok(0),
        Some(serde_yaml::Value::Number(n)) => n
            .as_i64()
            .filter(|n| (0..=24).contains(n))
            .map(|n| n as i32)
            .ok_or_else(|| format!("severity number {n} is out of range 0..24")),
        Some(serde_yaml::Value::String(s)) => {
            let up = s.to_ascii_uppercase();
            let (base, step) = match up.find(|c: char| c.is_ascii_digit()) {
                Some(i) => (&up[..i], up[i..].parse::<i32>().ok()),
                None => (up.as_str(), Some(1)),
            };
            let step = step.filter(|s| (1..=4).contains(s));
            let base_n = if base == "FATAL" {
                Some(21)
            } else {
                NAMES.iter().position(|n| *n == base).map(|i| {
                    if i == 0 {
                        0
                    } else {
                        (i as i32 - 1) * 4 + 1
                    }
                })
            };
            match (base_n, step) {
                (Some(0), _) if base == "UNSPECIFIED" => Ok(0),
                (Some(b), Some(st)) => Ok(b + st - 1),
                _ => Err(format!(
                    "unknown severity {s:?} (a number, or TRACE, DEBUG, INFO, WARN, ERROR, FATAL with an optional 2-4 suffix)"
                )),
            }
        }
        Some(_) => Err("expected a severity number or name".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_names() {
        let y = |s: &str| serde_yaml::from_str::<serde_yaml::Value>(s).unwrap();
        assert_eq!(severity_number(Some(&y("INFO"))), Ok(9));
        assert_eq!(severity_number(Some(&y("warn2"))), Ok(14));
        assert_eq!(severity_number(Some(&y("FATAL4"))), Ok(24));
        assert_eq!(severity_number(Some(&y("trace"))), Ok(1));
        assert_eq!(severity_number(Some(&y("17"))), Ok(17));
        assert!(severity_number(Some(&y("LOUD"))).is_err());
        assert!(severity_number(Some(&y("INFO5"))).is_err());
    }
}
