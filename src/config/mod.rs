//! Configuration: loading YAML files and `--set` overrides, merging them as otelcol does, expanding
//! `${…}` references, the top-level schema, and typed component configs whose errors carry key paths.

pub mod duration;
pub mod expand;
pub mod secret;

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::signal::SignalKind;

/// One configuration problem: where (file and key path) and what.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub source: Option<String>,
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(src) = &self.source {
            write!(f, "{src}: ")?;
        }
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            source: None,
            path: path.into(),
            message: message.into(),
        }
    }
}

/// All the errors found, printed one per line.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// `type` or `type/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    pub kind: String,
    pub name: Option<String>,
}

impl ComponentId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (kind, name) = match s.split_once('/') {
            Some((k, n)) => {
                if n.trim().is_empty() {
                    return Err(format!(
                        "invalid component id {s:?}: the part after '/' must not be empty"
                    ));
                }
                (k, Some(n.to_string()))
            }
            None => (s, None),
        };
        let valid = kind.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "invalid component id {s:?}: the type must start with a letter and hold only letters, digits and '_'"
            ));
        }
        Ok(ComponentId {
            kind: kind.to_string(),
            name,
        })
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.kind, n),
            None => f.write_str(&self.kind),
        }
    }
}

/// `traces`, `metrics`, `logs`, or `signal/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineId {
    pub signal: SignalKind,
    pub name: Option<String>,
}

impl PipelineId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (sig, name) = match s.split_once('/') {
            Some((sig, n)) if !n.is_empty() => (sig, Some(n.to_string())),
            Some(_) => {
                return Err(format!(
                    "invalid pipeline id {s:?}: the part after '/' must not be empty"
                ))
            }
            None => (s, None),
        };
        let signal = SignalKind::parse(sig).ok_or_else(|| {
            format!("invalid pipeline id {s:?}: the signal must be traces, metrics or logs")
        })?;
        Ok(PipelineId { signal, name })
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.signal, n),
            None => write!(f, "{}", self.signal),
        }
    }
}

/// The top-level schema. Component settings stay as YAML here; each component's factory types them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, deserialize_with = "null_as_default")]
    pub receivers: BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub processors: BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub exporters: BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub extensions: BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub connectors: BTreeMap<String, Value>,
    #[serde(default)]
    pub service: ServiceConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub extensions: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub pipelines: BTreeMap<String, PipelineConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub receivers: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub processors: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub exporters: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub logs: LogsTelemetry,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metrics: MetricsTelemetry,
    /// Accepted for compatibility; ferrotel does not trace itself.
    #[serde(default)]
    pub traces: Value,
    #[serde(default)]
    pub resource: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsTelemetry {
    #[serde(default = "default_log_level")]
    pub level: String,
    #[serde(default = "default_log_encoding")]
    pub encoding: String,
    #[serde(default)]
    pub initial_fields: BTreeMap<String, Value>,
    // otelcol's zap settings, accepted so existing files load; see the README.
    #[serde(default)]
    pub development: bool,
    #[serde(default)]
    pub disable_caller: bool,
    #[serde(default)]
    pub disable_stacktrace: bool,
    #[serde(default)]
    pub sampling: Value,
    #[serde(default)]
    pub output_paths: Vec<String>,
    #[serde(default)]
    pub error_output_paths: Vec<String>,
    #[serde(default)]
    pub processors: Value,
}

impl Default for LogsTelemetry {
    fn default() -> Self {
        LogsTelemetry {
            level: default_log_level(),
            encoding: default_log_encoding(),
            initial_fields: BTreeMap::new(),
            development: false,
            disable_caller: false,
            disable_stacktrace: false,
            sampling: Value::Null,
            output_paths: vec![],
            error_output_paths: vec![],
            processors: Value::Null,
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}
fn default_log_encoding() -> String {
    "console".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsTelemetry {
    #[serde(default = "default_metrics_level")]
    pub level: String,
    /// Deprecated in otelcol in favour of `readers`; still accepted.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub readers: Vec<Value>,
    #[serde(default)]
    pub views: Value,
}

impl Default for MetricsTelemetry {
    fn default() -> Self {
        MetricsTelemetry {
            level: default_metrics_level(),
            address: None,
            readers: vec![],
            views: Value::Null,
        }
    }
}

fn default_metrics_level() -> String {
    "normal".into()
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Where the configuration came from: each file (or `--set`) with its parsed YAML, in merge order.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub layers: Vec<(String, Value)>,
}

impl Sources {
    /// The last source that defines the longest existing prefix of `path` (segments split on `::`).
    pub fn origin(&self, path: &str) -> Option<String> {
        let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        for len in (1..=segs.len()).rev() {
            for (name, v) in self.layers.iter().rev() {
                if lookup(v, &segs[..len]).is_some() {
                    return Some(name.clone());
                }
            }
        }
        self.layers.last().map(|(n, _)| n.clone())
    }
}

fn lookup<'a>(v: &'a Value, segs: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for s in segs {
        cur = match cur {
            Value::Mapping(m) => m.get(Value::String(s.to_string()))?,
            Value::Sequence(seq) => seq.get(s.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Deep-merges `over` into `base`: maps merge key by key, everything else (lists too) is replaced.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if !v.is_null() || !existing.is_mapping() => merge(existing, v),
                    Some(_) => {}
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Turns `a.b.c=v` (or otelcol's `a::b::c=v`) into a nested map. The value is parsed as YAML.
pub fn parse_set(arg: &str) -> Result<Value, String> {
    let (key, val) = arg
        .split_once('=')
        .ok_or_else(|| format!("--set {arg:?}: expected key=value"))?;
    let segs: Vec<&str> = if key.contains("::") {
        key.split("::").collect()
    } else {
        key.split('.').collect()
    };
    if segs.iter().any(|s| s.is_empty()) {
        return Err(format!("--set {arg:?}: empty key segment"));
    }
    let mut v: Value = serde_yaml::from_str(val).unwrap_or_else(|_| Value::String(val.to_string()));
    for s in segs.iter().rev() {
        let mut m = Mapping::new();
        m.insert(Value::String(s.to_string()), v);
        v = Value::Mapping(m);
    }
    Ok(v)
}

/// The embedded default configuration: OTLP in on localhost, the debug exporter out.
pub const DEFAULT_CONFIG: &str = include_str!("default.yaml");

/// Reads, merges and expands configuration sources. `files` empty means the embedded default.
pub fn load(files: &[String], sets: &[String]) -> Result<(Value, Sources), ConfigErrors> {
    let mut sources = Sources::default();
    let mut errors = Vec::new();
    if files.is_empty() {
        sources.layers.push((
            "<default config>".into(),
            serde_yaml::from_str(DEFAULT_CONFIG).expect("default config is valid"),
        ));
    }
    for f in files {
        let (name, text) = if let Some(inline) = f.strip_prefix("yaml:") {
            ("--config yaml:".to_string(), Ok(inline.to_string()))
        } else {
            let path = f.strip_prefix("file:").unwrap_or(f);
            (path.to_string(), std::fs::read_to_string(path))
        };
        match text {
            Err(e) => errors.push(ConfigError {
                source: Some(name),
                path: String::new(),
                message: format!("cannot read: {e}"),
            }),
            Ok(text) => match serde_yaml::from_str::<Value>(&text) {
                Ok(Value::Null) => sources.layers.push((name, Value::Mapping(Mapping::new()))),
                Ok(v @ Value::Mapping(_)) => sources.layers.push((name, v)),
                Ok(_) => errors.push(ConfigError {
                    source: Some(name),
                    path: String::new(),
                    message: "the top level must be a map".into(),
                }),
                Err(e) => errors.push(ConfigError {
                    source: Some(name),
                    path: String::new(),
                    message: format!("invalid YAML: {e}"),
                }),
            },
        }
    }
    for s in sets {
        match parse_set(s) {
            Ok(v) => sources.layers.push(("--set".into(), v)),
            Err(e) => errors.push(ConfigError::new("", e)),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let mut merged = Value::Mapping(Mapping::new());
    for (_, v) in &sources.layers {
        merge(&mut merged, v.clone());
    }
    let mut exp_errors = Vec::new();
    expand::expand_value(&mut merged, &mut exp_errors, "");
    if !exp_errors.is_empty() {
        return Err(ConfigErrors(
            exp_errors
                .into_iter()
                .map(|e| {
                    let (path, msg) = e.split_once(": ").unwrap_or(("", &e));
                    ConfigError {
                        source: sources.origin(path),
                        path: path.to_string(),
                        message: msg.to_string(),
                    }
                })
                .collect(),
        ));
    }
    Ok((merged, sources))
}

/// Deserializes `value` into `T`, naming the full key path (`prefix::a::b`) of the first problem.
/// An empty value (`debug:`) is the default config.
pub fn parse<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, ConfigError> {
    let value = if value.is_null() {
        Value::Mapping(Mapping::new())
    } else {
        value.clone()
    };
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let mut path = prefix.to_string();
        for seg in e.path().iter() {
            let s = match seg {
                serde_path_to_error::Segment::Seq { index } => index.to_string(),
                serde_path_to_error::Segment::Map { key } => key.clone(),
                serde_path_to_error::Segment::Enum { variant } => variant.clone(),
                serde_path_to_error::Segment::Unknown => continue,
            };
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(&s);
        }
        let inner = e.into_inner().to_string();
        ConfigError::new(path.clone(), describe_serde_error(&inner, &mut path)).with_path(path)
    })
}

/// Runs `load` (a deserialization plus validation of `value`, whose key path is `prefix`) and reports
/// every unknown key in one pass: serde stops at the first one, so each unknown key found is removed
/// from a copy of the value and `load` runs again, until no unknown key is left. What remains
/// (validation errors of the rest, or success) is reported with them.
pub fn every_unknown_key<T>(
    value: &Value,
    prefix: &str,
    mut load: impl FnMut(&Value) -> Result<T, Vec<ConfigError>>,
) -> Result<T, Vec<ConfigError>> {
    let mut unknown: Vec<ConfigError> = Vec::new();
    let mut value = std::borrow::Cow::Borrowed(value);
    // Each round removes at least one key; the bound only guards against a loader that keeps
    // reporting a key it was not given.
    for _ in 0..256 {
        let errs = match load(&value) {
            Ok(t) if unknown.is_empty() => return Ok(t),
            Ok(_) => return Err(unknown),
            Err(errs) => errs,
        };
        let mut removed = false;
        let mut rest = Vec::new();
        for e in errs {
            if e.message.starts_with("unknown key ") && remove_at(value.to_mut(), prefix, &e.path) {
                removed = true;
                unknown.push(e);
            } else {
                rest.push(e);
            }
        }
        if !removed {
            unknown.extend(rest);
            return Err(unknown);
        }
    }
    Err(unknown)
}

/// Removes the key at `path` (`prefix::a::0::key`) from `value` (the value at `prefix`).
fn remove_at(value: &mut Value, prefix: &str, path: &str) -> bool {
    let rel = if prefix.is_empty() {
        path
    } else {
        match path.strip_prefix(prefix).and_then(|r| r.strip_prefix("::")) {
            Some(r) => r,
            None => return false,
        }
    };
    let segs: Vec<&str> = rel.split("::").collect();
    let Some((key, parents)) = segs.split_last() else {
        return false;
    };
    let mut cur = value;
    for s in parents {
        cur = match cur {
            Value::Mapping(m) => match m.get_mut(Value::String(s.to_string())) {
                Some(v) => v,
                None => return false,
            },
            Value::Sequence(seq) => match s.parse::<usize>().ok().and_then(|i| seq.get_mut(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match cur {
        Value::Mapping(m) => m.remove(Value::String(key.to_string())).is_some(),
        _ => false,
    }
}

impl ConfigError {
    fn with_path(mut self, path: String) -> Self {
        self.path = path;
        self
    }
}

/// Rewrites serde's messages in the words of a config file: an unknown key is appended to the path and
/// the accepted keys are listed.
fn describe_serde_error(msg: &str, path: &mut String) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((key, tail)) = rest.split_once('`') {
            if !path.ends_with(&format!("::{key}")) && path != key {
                if !path.is_empty() {
                    path.push_str("::");
                }
                path.push_str(key);
            }
            let accepted = tail
                .trim_start_matches(", expected one of ")
                .trim_start_matches(", expected ")
                .replace('`', "")
                .replace(" or ", ", ");
            let accepted = if tail.contains("there are no fields") {
                "none".to_string()
            } else {
                accepted
            };
            return format!("unknown key {key:?}; accepted keys: {accepted}");
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        if let Some((key, _)) = rest.split_once('`') {
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(key);
            return format!("missing required key {key:?}");
        }
    }
    msg.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        endpoint: String,
        #[serde(default)]
        size: u32,
    }

    #[test]
    fn unknown_key_names_path_and_accepted_keys() {
        let v: Value = serde_yaml::from_str("grpc: {endpont: x}").unwrap();
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Outer {
            grpc: Inner,
        }
        let e = parse::<Outer>(&v, "receivers::otlp::protocols").unwrap_err();
        assert_eq!(e.path, "receivers::otlp::protocols::grpc::endpont");
        assert!(
            e.message.contains("accepted keys: endpoint, size"),
            "{}",
            e.message
        );
    }

    #[test]
    fn every_unknown_key_is_reported_in_one_pass() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Outer {
            grpc: Inner,
            #[serde(default)]
            list: Vec<Inner>,
        }
        let v: Value = serde_yaml::from_str(
            "grpc: {endpont: x, endpoint: y, siz: 1}\nlist: [{endpoint: a, b: 1}]\nextra: 2",
        )
        .unwrap();
        let errs = every_unknown_key(&v, "receivers::otlp", |v| {
            parse::<Outer>(v, "receivers::otlp").map_err(|e| vec![e])
        })
        .unwrap_err();
        let mut paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "receivers::otlp::extra",
                "receivers::otlp::grpc::endpont",
                "receivers::otlp::grpc::siz",
                "receivers::otlp::list::0::b"
            ]
        );
        // Unknown keys and a remaining error together.
        let v: Value = serde_yaml::from_str("grpc: {endpont: x}").unwrap();
        let errs = every_unknown_key(&v, "r", |v| parse::<Outer>(v, "r").map_err(|e| vec![e]))
            .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].path, "r::grpc::endpont");
        assert!(errs[1].message.contains("endpoint"), "{errs:?}");
    }

    #[test]
    fn wrong_type_names_path() {
        let v: Value = serde_yaml::from_str("endpoint: x\nsize: lots").unwrap();
        let e = parse::<Inner>(&v, "exporters::otlp").unwrap_err();
        assert_eq!(e.path, "exporters::otlp::size");
        assert!(e.message.contains("invalid type"), "{}", e.message);
    }

    #[test]
    fn merge_maps_deep_lists_replace() {
        let mut a: Value = serde_yaml::from_str("a: {b: 1, c: [1, 2]}").unwrap();
        merge(&mut a, serde_yaml::from_str("a: {d: 2, c: [3]}").unwrap());
        assert_eq!(
            a,
            serde_yaml::from_str::<Value>("a: {b: 1, c: [3], d: 2}").unwrap()
        );
        merge(&mut a, parse_set("a.b=hello").unwrap());
        merge(&mut a, parse_set("a::d=5").unwrap());
        assert_eq!(a["a"]["b"], Value::String("hello".into()));
        assert_eq!(a["a"]["d"], Value::Number(5.into()));
    }

    #[test]
    fn ids() {
        assert_eq!(ComponentId::parse("otlp/2").unwrap().to_string(), "otlp/2");
        assert!(ComponentId::parse("otlp/").is_err());
        assert!(ComponentId::parse("9x").is_err());
        assert_eq!(
            PipelineId::parse("traces/a").unwrap().signal,
            SignalKind::Traces
        );
        assert!(PipelineId::parse("spans").is_err());
    }
}
