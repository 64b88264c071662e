//! The `filter` processor's config: the current `*_conditions` lists (context inferred), the older
//! per-context blocks (`traces.span`, …), and the legacy `include`/`exclude` match properties, which
//! are translated to OTTL conditions.

use serde::Deserialize;
use serde_yaml::Value as Yaml;

use crate::ottl::ast::Expr;
use crate::ottl::ErrorMode;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub error_mode: ErrorMode,
    #[serde(default)]
    pub trace_conditions: Vec<ConditionEntry>,
    #[serde(default)]
    pub metric_conditions: Vec<ConditionEntry>,
    #[serde(default)]
    pub log_conditions: Vec<ConditionEntry>,
    #[serde(default)]
    pub profile_conditions: Vec<ConditionEntry>,
    #[serde(default)]
    pub traces: Option<TracesBlock>,
    #[serde(default)]
    pub metrics: Option<MetricsBlock>,
    #[serde(default)]
    pub logs: Option<LogsBlock>,
    /// Legacy `spans: {include, exclude}`.
    #[serde(default)]
    pub spans: Option<IncludeExclude<MatchProperties>>,
}

/// One entry of a `*_conditions` list: a condition (context inferred) or a group.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ConditionEntry {
    One(String),
    Group(ConditionGroup),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionGroup {
    #[serde(default)]
    pub context: Option<String>,
    pub conditions: Vec<String>,
    #[serde(default)]
    pub error_mode: Option<ErrorMode>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesBlock {
    #[serde(default)]
    pub resource: Vec<String>,
    #[serde(default)]
    pub span: Vec<String>,
    #[serde(default)]
    pub spanevent: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsBlock {
    #[serde(default)]
    pub resource: Vec<String>,
    #[serde(default)]
    pub metric: Vec<String>,
    #[serde(default)]
    pub datapoint: Vec<String>,
    #[serde(default)]
    pub include: Option<MetricMatchProperties>,
    #[serde(default)]
    pub exclude: Option<MetricMatchProperties>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsBlock {
    #[serde(default)]
    pub resource: Vec<String>,
    #[serde(default)]
    pub log_record: Vec<String>,
    #[serde(default)]
    pub include: Option<LogMatchProperties>,
    #[serde(default)]
    pub exclude: Option<LogMatchProperties>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeExclude<T> {
    #[serde(default)]
    pub include: Option<T>,
    #[serde(default)]
    pub exclude: Option<T>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attribute {
    pub key: String,
    #[serde(default)]
    pub value: Option<Yaml>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Library {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexpConfig {
    #[serde(default)]
    pub cacheenabled: bool,
    #[serde(default)]
    pub cachemaxnumentries: u64,
}

/// otelcol's `filterconfig.MatchProperties` (spans).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchProperties {
    #[serde(default)]
    pub match_type: String,
    #[serde(default)]
    pub regexp: Option<RegexpConfig>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub span_names: Vec<String>,
    #[serde(default)]
    pub span_kinds: Vec<String>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    #[serde(default)]
    pub resources: Vec<Attribute>,
    #[serde(default)]
    pub libraries: Vec<Library>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityNumber {
    pub min: Yaml,
    #[serde(default)]
    pub match_undefined: bool,
}

/// otelcol's `filterconfig.LogMatchProperties`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogMatchProperties {
    #[serde(default)]
    pub match_type: String,
    #[serde(default)]
    pub resource_attributes: Vec<Attribute>,
    #[serde(default)]
    pub record_attributes: Vec<Attribute>,
    #[serde(default)]
    pub severity_texts: Vec<String>,
    #[serde(default)]
    pub severity_number: Option<SeverityNumber>,
    #[serde(default)]
    pub bodies: Vec<String>,
}

/// otelcol's `filterconfig.MetricMatchProperties`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricMatchProperties {
    #[serde(default)]
    pub match_type: String,
    #[serde(default)]
    pub regexp: Option<RegexpConfig>,
    #[serde(default)]
    pub metric_names: Vec<String>,
    #[serde(default)]
    pub expressions: Vec<String>,
    #[serde(default)]
    pub resource_attributes: Vec<Attribute>,
}

fn q(s: &str) -> String {
    Expr::Str(s.to_string()).to_string()
}

/// Translates match properties to one OTTL condition that is true when they match.
struct Translate {
    regexp: bool,
    /// Each entry must hold (AND); each is an OR of alternatives.
    parts: Vec<String>,
}

impl Translate {
    fn new(match_type: &str, path: &str) -> Result<Translate, String> {
        let regexp = match match_type {
            "strict" => false,
            "regexp" => true,
            "expr" => return Err(format!("{path}::match_type: \"expr\" is not supported by ferrotel yet; use OTTL conditions")),
            "" => return Err(format!("{path}::match_type: missing; expected strict or regexp")),
            other => return Err(format!("{path}::match_type: unknown {other:?}; expected strict or regexp")),
        };
        Ok(Translate {
            regexp,
            parts: vec![],
        })
    }

    fn one(&self, path: &str, v: &str) -> String {
        if self.regexp {
            format!("IsMatch({path}, {})", q(v))
        } else {
            format!("{path} == {}", q(v))
        }
    }

    fn any_of(&mut self, path: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let alts: Vec<String> = values.iter().map(|v| self.one(path, v)).collect();
        self.parts.push(format!("({})", alts.join(" or ")));
    }

    fn attrs(&mut self, base: &str, attrs: &[Attribute], at: &str) -> Result<(), String> {
        for (i, a) in attrs.iter().enumerate() {
            let p = format!("{base}[{}]", q(&a.key));
            let c = match &a.value {
                None | Some(Yaml::Null) => format!("{p} != nil"),
                Some(Yaml::String(s)) => self.one(&p, s),
                Some(v) if self.regexp => {
                    return Err(format!("{at}::{i}::value: with match_type regexp the value must be a string, got {v:?}"))
                }
                Some(Yaml::Bool(b)) => format!("{p} == {b}"),
                Some(Yaml::Number(n)) if n.is_i64() => format!("{p} == {n}"),
                Some(Yaml::Number(n)) => format!("{p} == {:?}", n.as_f64().unwrap_or(0.0)),
                Some(v) => return Err(format!("{at}::{i}::value: unsupported value {v:?}")),
            };
            self.parts.push(c);
        }
        Ok(())
    }

    fn finish(self, path: &str) -> Result<String, String> {
        if self.parts.is_empty() {
            return Err(format!("{path}: at least one property must be given"));
        }
        Ok(self.parts.join(" and "))
    }
}

pub fn span_condition(p: &MatchProperties, path: &str) -> Result<String, String> {
    let mut t = Translate::new(&p.match_type, path)?;
    t.any_of("resource.attributes[\"service.name\"]", &p.services);
    t.any_of("span.name", &p.span_names);
    t.any_of("span.kind.deprecated_string", &p.span_kinds);
    t.attrs(
        "span.attributes",
        &p.attributes,
        &format!("{path}::attributes"),
    )?;
    t.attrs(
        "resource.attributes",
        &p.resources,
        &format!("{path}::resources"),
    )?;
    if !p.libraries.is_empty() {
        let alts: Vec<String> = p
            .libraries
            .iter()
            .map(|l| {
                let mut c = t.one("scope.name", &l.name);
                if let Some(v) = &l.version {
                    c = format!("{c} and {}", t.one("scope.version", v));
                }
                format!("({c})")
            })
            .collect();
        t.parts.push(format!("({})", alts.join(" or ")));
    }
    t.finish(path)
}

pub fn log_condition(p: &LogMatchProperties, path: &str) -> Result<String, String> {
    let mut t = Translate::new(&p.match_type, path)?;
    t.attrs(
        "resource.attributes",
        &p.resource_attributes,
        &format!("{path}::resource_attributes"),
    )?;
    t.attrs(
        "log.attributes",
        &p.record_attributes,
        &format!("{path}::record_attributes"),
    )?;
    t.any_of("log.severity_text", &p.severity_texts);
    t.any_of("log.body.string", &p.bodies);
    if let Some(s) = &p.severity_number {
        let min = match &s.min {
            Yaml::Number(n) if n.is_i64() => n.as_i64().unwrap_or(0),
            Yaml::String(name) => severity_by_name(name).ok_or_else(|| {
                format!("{path}::severity_number::min: unknown severity {name:?}")
            })?,
            other => {
                return Err(format!(
                    "{path}::severity_number::min: expected a number or a name, got {other:?}"
                ))
            }
        };
        let mut c = format!("log.severity_number >= {min}");
        if s.match_undefined {
            c = format!("({c} or log.severity_number == 0)");
        } else {
            c = format!("({c})");
        }
        t.parts.push(c);
    }
    t.finish(path)
}

fn severity_by_name(name: &str) -> Option<i64> {
    let up = name.to_ascii_uppercase();
    crate::ottl::funcs::enum_value(&format!("SEVERITY_NUMBER_{up}"))
}

pub fn metric_condition(p: &MetricMatchProperties, path: &str) -> Result<String, String> {
    if !p.expressions.is_empty() {
        return Err(format!("{path}::expressions: expr matching is not supported by ferrotel yet; use OTTL conditions"));
    }
    let mut t = Translate::new(&p.match_type, path)?;
    t.any_of("metric.name", &p.metric_names);
    t.attrs(
        "resource.attributes",
        &p.resource_attributes,
        &format!("{path}::resource_attributes"),
    )?;
    t.finish(path)
}

/// The drop condition for an include/exclude pair: not matching `include`, or matching `exclude`.
pub fn drop_condition(include: Option<String>, exclude: Option<String>) -> Option<String> {
    match (include, exclude) {
        (None, None) => None,
        (Some(i), None) => Some(format!("not ({i})")),
        (None, Some(e)) => Some(e),
        (Some(i), Some(e)) => Some(format!("not ({i}) or ({e})")),
    }
}
