//! The function table: editors (lower-case, change the item) and converters (capitalized, return a
//! value). Each entry binds its arguments at compile time (arity, names, literal patterns, regexes)
//! and returns a closure.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, Gauge, Sum};
use regex::Regex;

use super::ast::{Call, Expr};
use super::compile::{CExpr, CPath, CompileError, Compiler, ConvFn, EditFn};
use super::context::{ContextKind, Ctx, Point};
use super::metric_funcs::{self, Agg, Extract};
use super::value::{format_double, from_json, Owned, Value};

/// A converter added by a component (filter's `HasAttrOnDatapoint`).
pub type ConvFactory = fn(&Compiler<'_>, &Call, Vec<Option<&Expr>>) -> Result<ConvFn, CompileError>;

/// The editors ferrotel has, with their parameter names.
pub const EDITORS: &[(&str, &[&str], usize)] = &[
    ("set", &["target", "value"], 2),
    ("delete_key", &["target", "key"], 2),
    ("delete_matching_keys", &["target", "pattern"], 2),
    ("keep_keys", &["target", "keys"], 2),
    ("keep_matching_keys", &["target", "pattern"], 2),
    ("limit", &["target", "limit", "priority_keys"], 2),
    ("merge_maps", &["target", "source", "strategy"], 3),
    (
        "replace_match",
        &[
            "target",
            "pattern",
            "replacement",
            "function",
            "replacementFormat",
        ],
        3,
    ),
    (
        "replace_all_matches",
        &[
            "target",
            "pattern",
            "replacement",
            "function",
            "replacementFormat",
        ],
        3,
    ),
    (
        "replace_pattern",
        &[
            "target",
            "regex",
            "replacement",
            "function",
            "replacementFormat",
        ],
        3,
    ),
    (
        "replace_all_patterns",
        &[
            "target",
            "mode",
            "regex",
            "replacement",
            "function",
            "replacementFormat",
        ],
        4,
    ),
    ("truncate_all", &["target", "limit"], 2),
    ("append", &["target", "value", "values"], 1),
    ("flatten", &["target", "prefix", "depth"], 1),
    ("convert_sum_to_gauge", &[], 0),
    (
        "convert_gauge_to_sum",
        &["aggregation_temporality", "is_monotonic"],
        2,
    ),
    ("scale_metric", &["factor", "unit"], 1),
    ("extract_sum_metric", &["is_monotonic", "suffix"], 1),
    ("extract_count_metric", &["is_monotonic", "suffix"], 1),
    (
        "convert_summary_sum_val_to_sum",
        &["aggregation_temporality", "is_monotonic", "suffix"],
        2,
    ),
    (
        "convert_summary_count_val_to_sum",
        &["aggregation_temporality", "is_monotonic", "suffix"],
        2,
    ),
    ("aggregate_on_attributes", &["function", "attributes"], 1),
];

/// Functions otelcol has that ferrotel does not yet; naming one is a config error saying so.
pub const NOT_YET: &[&str] = &[
    "aggregate_on_attribute_value",
    "convert_summary_quantile_val_to_gauge",
    "copy_metric",
    "convert_exponential_histogram_to_histogram",
    "delete_matching_keys_by_value",
    "set_semconv_span_name",
    "FormatTime",
    "ParseCSV",
    "ParseXML",
    "ParseSimplifiedXML",
    "ParseInt",
    "ParseSeverity",
    "MD5",
    "SHA512",
    "FNV",
    "Murmur3Hash",
    "Murmur3Hash128",
    "XXH3",
    "XXH128",
    "UUID",
    "UUIDv7",
    "URL",
    "UserAgent",
    "ToCamelCase",
    "ToSnakeCase",
    "ToKeyValueString",
    "Sort",
    "SliceToMap",
    "Index",
    "ContainsValue",
    "GetXML",
    "InsertXML",
    "RemoveXML",
    "ElementizeAttributesXML",
    "ConvertAttributesToElementsXML",
    "ConvertTextToElementsXML",
    "Base64Decode",
    "Decode",
    "ExtractGrokPatterns",
    "Month",
    "Weekday",
    "Year",
    "Day",
    "Hour",
    "Minute",
    "Second",
    "Nanosecond",
    "Hours",
    "Minutes",
    "Seconds",
    "Milliseconds",
    "Microseconds",
    "Nanoseconds",
    "TruncateTime",
    "Unix",
    "IsValidLuhn",
    "CommunityID",
    "ProfileID",
    "IsInCIDR",
];

/// The converters ferrotel has, with their parameter names and how many are required.
pub const CONVERTERS: &[(&str, &[&str], usize)] = &[
    ("Concat", &["vals", "delimiter"], 2),
    ("ConvertCase", &["target", "toCase"], 2),
    ("Double", &["value"], 1),
    ("Int", &["value"], 1),
    ("String", &["value"], 1),
    ("Bool", &["value"], 1),
    ("Hex", &["value"], 1),
    ("HasPrefix", &["target", "prefix"], 2),
    ("HasSuffix", &["target", "suffix"], 2),
    ("IsBool", &["value"], 1),
    ("IsDouble", &["value"], 1),
    ("IsInt", &["value"], 1),
    ("IsMap", &["value"], 1),
    ("IsList", &["value"], 1),
    ("IsString", &["value"], 1),
    ("IsMatch", &["target", "pattern"], 2),
    ("IsRootSpan", &[], 0),
    ("Len", &["target"], 1),
    ("Log", &["value"], 1),
    ("ParseJSON", &["target"], 1),
    (
        "ParseKeyValue",
        &["target", "delimiter", "pair_delimiter"],
        1,
    ),
    ("SHA1", &["value"], 1),
    ("SHA256", &["value"], 1),
    ("Split", &["target", "delimiter"], 2),
    ("Substring", &["target", "start", "length"], 3),
    ("ToLowerCase", &["target"], 1),
    ("ToUpperCase", &["target"], 1),
    ("Trim", &["target", "replacement"], 1),
    ("TrimPrefix", &["target", "prefix"], 2),
    ("TrimSuffix", &["target", "suffix"], 2),
    ("TraceID", &["bytes"], 1),
    ("SpanID", &["bytes"], 1),
    ("UnixNano", &["time"], 1),
    ("UnixMicro", &["time"], 1),
    ("UnixMilli", &["time"], 1),
    ("UnixSeconds", &["time"], 1),
    ("Now", &[], 0),
    ("Time", &["target", "format", "location", "locale"], 2),
    ("Duration", &["duration"], 1),
    ("ExtractPatterns", &["target", "pattern"], 2),
    ("Format", &["format", "vals"], 2),
    ("Keys", &["target"], 1),
    ("Values", &["target"], 1),
];

/// Enum names and their values.
pub fn enum_value(name: &str) -> Option<i64> {
    Some(match name {
        "SPAN_KIND_UNSPECIFIED" => 0,
        "SPAN_KIND_INTERNAL" => 1,
        "SPAN_KIND_SERVER" => 2,
        "SPAN_KIND_CLIENT" => 3,
        "SPAN_KIND_PRODUCER" => 4,
        "SPAN_KIND_CONSUMER" => 5,
        "STATUS_CODE_UNSET" => 0,
        "STATUS_CODE_OK" => 1,
        "STATUS_CODE_ERROR" => 2,
        "METRIC_DATA_TYPE_NONE" => 0,
        "METRIC_DATA_TYPE_GAUGE" => 1,
        "METRIC_DATA_TYPE_SUM" => 2,
        "METRIC_DATA_TYPE_HISTOGRAM" => 3,
        "METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM" => 4,
        "METRIC_DATA_TYPE_SUMMARY" => 5,
        "AGGREGATION_TEMPORALITY_UNSPECIFIED" => 0,
        "AGGREGATION_TEMPORALITY_DELTA" => 1,
        "AGGREGATION_TEMPORALITY_CUMULATIVE" => 2,
        "FLAG_NONE" => 0,
        "FLAG_NO_RECORDED_VALUE" => 1,
        "SEVERITY_NUMBER_UNSPECIFIED" => 0,
        _ => {
            let rest = name.strip_prefix("SEVERITY_NUMBER_")?;
            let (level, n) = match rest.find(|c: char| c.is_ascii_digit()) {
                Some(i) => (&rest[..i], rest[i..].parse::<i64>().ok()?),
                None => (rest, 1),
            };
            if !(1..=4).contains(&n) {
                return None;
            }
            let base = match level {
                "TRACE" => 1,
                "DEBUG" => 5,
                "INFO" => 9,
                "WARN" => 13,
                "ERROR" => 17,
                "FATAL" => 21,
                _ => return None,
            };
            base + n - 1
        }
    })
}

fn err(c: &Call, msg: impl Into<String>) -> CompileError {
    CompileError::new(c.column, format!("{}: {}", c.name, msg.into()))
}

/// Binds positional and named arguments to parameter slots, checking their number and names.
fn bind<'c>(
    c: &'c Call,
    params: &[&str],
    required: usize,
) -> Result<Vec<Option<&'c Expr>>, CompileError> {
    let mut slots: Vec<Option<&Expr>> = vec![None; params.len()];
    if c.args.len() > params.len() {
        return Err(err(
            c,
            format!(
                "expected at most {} argument(s) ({}), got {}",
                params.len(),
                params.join(", "),
                c.args.len()
            ),
        ));
    }
    for (i, a) in c.args.iter().enumerate() {
        let slot = match &a.name {
            None => i,
            Some(n) => params.iter().position(|p| p == n).ok_or_else(|| {
                err(
                    c,
                    format!(
                        "no parameter named {n:?}; parameters: {}",
                        params.join(", ")
                    ),
                )
            })?,
        };
        if slots[slot].is_some() {
            return Err(err(c, format!("argument {:?} given twice", params[slot])));
        }
        slots[slot] = Some(&a.value);
    }
    if let Some(missing) = (0..required).find(|i| slots[*i].is_none()) {
        return Err(err(
            c,
            format!(
                "expected {required} argument(s) ({}), missing {:?}",
                params[..required].join(", "),
                params[missing]
            ),
        ));
    }
    Ok(slots)
}

fn target(cp: &Compiler<'_>, c: &Call, e: Option<&Expr>) -> Result<CPath, CompileError> {
    match e {
        Some(Expr::Path(p)) => {
            let path = cp.path(p)?;
            if path.field.read_only() {
                return Err(err(c, format!("path {p} cannot be written")));
            }
            Ok(path)
        }
        Some(other) => Err(err(c, format!("the target must be a path, found {other}"))),
        None => Err(err(c, "missing target")),
    }
}

fn getter(cp: &Compiler<'_>, e: Option<&Expr>) -> Result<Option<CExpr>, CompileError> {
    e.map(|e| cp.expr(e)).transpose()
}

fn lit_str(c: &Call, e: Option<&Expr>, what: &str) -> Result<Option<String>, CompileError> {
    match e {
        None => Ok(None),
        Some(Expr::Str(s)) => Ok(Some(s.clone())),
        Some(other) => Err(err(
            c,
            format!("{what} must be a string literal, found {other}"),
        )),
    }
}

fn lit_bool(c: &Call, e: Option<&Expr>, what: &str) -> Result<bool, CompileError> {
    match e {
        Some(Expr::Bool(b)) => Ok(*b),
        other => Err(err(
            c,
            format!("{what} must be true or false, found {other:?}"),
        )),
    }
}

fn temporality_arg(c: &Call, e: Option<&Expr>) -> Result<i32, CompileError> {
    match lit_str(c, e, "aggregation_temporality")?.as_deref() {
        Some("cumulative") => Ok(2),
        Some("delta") => Ok(1),
        other => Err(err(
            c,
            format!("aggregation_temporality must be \"cumulative\" or \"delta\", got {other:?}"),
        )),
    }
}

fn lit_int(c: &Call, e: Option<&Expr>, what: &str) -> Result<Option<i64>, CompileError> {
    match e {
        None => Ok(None),
        Some(Expr::Int(i)) => Ok(Some(*i)),
        Some(other) => Err(err(
            c,
            format!("{what} must be an int literal, found {other}"),
        )),
    }
}

fn regex(c: &Call, e: Option<&Expr>, what: &str) -> Result<Regex, CompileError> {
    let s = lit_str(c, e, what)?.unwrap_or_default();
    Regex::new(&s).map_err(|e| err(c, format!("invalid {what} {s:?}: {e}")))
}

/// A glob (`*`, `?`, `[...]`, `{a,b}`) as an anchored regex, as otelcol's `replace_match` takes.
pub fn glob(c: &Call, e: Option<&Expr>) -> Result<Regex, CompileError> {
    let g = lit_str(c, e, "pattern")?.unwrap_or_default();
    let mut re = String::from("^");
    let mut in_class = false;
    let mut in_alt = false;
    for ch in g.chars() {
        match ch {
            '*' if !in_class => re.push_str(".*"),
            '?' if !in_class => re.push('.'),
            '[' if !in_class => {
                in_class = true;
                re.push('[');
            }
            '!' if in_class && re.ends_with('[') => re.push('^'),
            ']' if in_class => {
                in_class = false;
                re.push(']');
            }
            '{' if !in_class => {
                in_alt = true;
                re.push_str("(?:");
            }
            ',' if in_alt => re.push('|'),
            '}' if in_alt => {
                in_alt = false;
                re.push(')');
            }
            c if in_class => re.push(c),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| err(c, format!("invalid pattern {g:?}: {e}")))
}

/// A hash applied to a replacement, and the format it goes into (`%s`).
type Hashing = (fn(&str) -> String, String);

/// The optional `function` argument of the replace editors: a hash applied to the replacement.
fn replacement_fn(
    c: &Call,
    e: Option<&Expr>,
    format: Option<String>,
) -> Result<Option<Hashing>, CompileError> {
    let Some(e) = e else { return Ok(None) };
    let name = match e {
        Expr::Enum(n, _) => n.as_str(),
        Expr::Path(p) if p.fields.len() == 1 && p.keys.is_empty() => p.fields[0].as_str(),
        other => {
            return Err(err(
                c,
                format!("function must name a hash converter, found {other}"),
            ))
        }
    };
    let f: fn(&str) -> String = match name {
        "SHA256" => |s| sha256_hex(s.as_bytes()),
        "SHA1" => |s| sha1_hex(s.as_bytes()),
        other => {
            return Err(err(
                c,
                format!("function {other} in a replacement is not supported by ferrotel yet (SHA1 and SHA256 are)"),
            ))
        }
    };
    Ok(Some((f, format.unwrap_or_else(|| "%s".into()))))
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex_lower(&sha2::Sha256::digest(b))
}

fn sha1_hex(b: &[u8]) -> String {
    use sha1::Digest;
    hex_lower(&sha1::Sha1::digest(b))
}

fn hex_lower(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Applies a regex replacement, then the optional hash with its format.
fn replace(re: &Regex, s: &str, with: &str, f: &Option<Hashing>, all: bool) -> Option<String> {
    if !re.is_match(s) {
        return None;
    }
    let out = match f {
        None if all => re.replace_all(s, with).into_owned(),
        None => re.replace(s, with).into_owned(),
        Some((h, fmt)) => {
            let rep = |caps: &regex::Captures| {
                let mut expanded = String::new();
                caps.expand(with, &mut expanded);
                fmt.replacen("%s", &h(&expanded), 1)
            };
            if all {
                re.replace_all(s, rep).into_owned()
            } else {
                re.replace(s, rep).into_owned()
            }
        }
    };
    Some(out)
}

/// Text of a string-like value (strings, numbers, bools, bytes as hex, maps and slices as JSON).
fn text<'v>(v: &'v Value<'_>) -> Option<Cow<'v, str>> {
    match v {
        Value::Nil => None,
        Value::Str(s) => Some(Cow::Borrowed(s)),
        Value::Bytes(b) => Some(Cow::Owned(hex_lower(b))),
        v => Some(Cow::Owned(v.to_text())),
    }
}

fn str_arg<'v>(v: &'v Value<'_>, what: &str) -> Result<&'v str, String> {
    match v {
        Value::Str(s) => Ok(s),
        v => Err(format!("{what} must be a string, got {}", v.type_name())),
    }
}

fn owned_str(s: String) -> Owned {
    Value::Str(Cow::Owned(s))
}

/// Compiles an editor call.
pub fn editor(cp: &Compiler<'_>, c: &Call) -> Result<EditFn, CompileError> {
    if NOT_YET.contains(&c.name.as_str()) {
        return Err(err(c, "not supported by ferrotel yet"));
    }
    let Some((_, params, required)) = EDITORS.iter().find(|(n, ..)| *n == c.name) else {
        let hint = if c.name.chars().next().is_some_and(|ch| ch.is_uppercase()) {
            " (converters cannot be statements; use set(...) to store a converter's result)"
        } else {
            ""
        };
        return Err(CompileError::new(
            c.column,
            format!("unknown editor {}{hint}", c.name),
        ));
    };
    let a = bind(c, params, *required)?;
    // Every editor from convert_sum_to_gauge on is a metric-context editor.
    let metric_only = EDITORS[14..].iter().any(|(n, ..)| *n == c.name);
    if metric_only && cp.context != ContextKind::Metric {
        return Err(err(
            c,
            format!("only available in the metric context, not {}", cp.context),
        ));
    }
    Ok(match c.name.as_str() {
        "set" => {
            let t = target(cp, c, a[0])?;
            let v = getter(cp, a[1])?.unwrap_or(CExpr::Lit(Value::Nil));
            Box::new(move |ctx| {
                let v = v.eval(ctx)?.into_owned();
                t.set(ctx, v)
            })
        }
        "delete_key" => {
            let t = target(cp, c, a[0])?;
            let key = getter(cp, a[1])?.unwrap_or(CExpr::Lit(Value::Nil));
            Box::new(move |ctx| {
                let k = key.eval(ctx)?;
                let k = str_arg(&k, "key")?.to_string();
                if let Some(m) = t.map_mut(ctx)? {
                    m.retain(|kv| kv.key != k);
                }
                Ok(())
            })
        }
        "delete_matching_keys" | "keep_matching_keys" => {
            let t = target(cp, c, a[0])?;
            let re = regex(c, a[1], "pattern")?;
            let keep = c.name == "keep_matching_keys";
            Box::new(move |ctx| {
                if let Some(m) = t.map_mut(ctx)? {
                    m.retain(|kv| re.is_match(&kv.key) == keep);
                }
                Ok(())
            })
        }
        "keep_keys" => {
            let t = target(cp, c, a[0])?;
            let keys = match a[1] {
                Some(Expr::List(items)) => items
                    .iter()
                    .map(|e| match e {
                        Expr::Str(s) => Ok(s.clone()),
                        o => Err(err(c, format!("keys must be string literals, found {o}"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(o) => {
                    return Err(err(c, format!("keys must be a list of strings, found {o}")))
                }
                None => vec![],
            };
            Box::new(move |ctx| {
                if let Some(m) = t.map_mut(ctx)? {
                    m.retain(|kv| keys.contains(&kv.key));
                }
                Ok(())
            })
        }
        "limit" => {
            let t = target(cp, c, a[0])?;
            let limit = lit_int(c, a[1], "limit")?.unwrap_or(0);
            if limit < 0 {
                return Err(err(c, format!("limit must be >= 0, got {limit}")));
            }
            let limit = limit as usize;
            let priority = match a[2] {
                Some(Expr::List(items)) => items
                    .iter()
                    .map(|e| match e {
                        Expr::Str(s) => Ok(s.clone()),
                        o => Err(err(
                            c,
                            format!("priority_keys must be string literals, found {o}"),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                None => vec![],
                Some(o) => return Err(err(c, format!("priority_keys must be a list, found {o}"))),
            };
            if priority.len() > limit {
                return Err(err(c, "more priority_keys than the limit"));
            }
            Box::new(move |ctx| {
                if let Some(m) = t.map_mut(ctx)? {
                    if m.len() <= limit {
                        return Ok(());
                    }
                    let mut kept = m.iter().filter(|kv| priority.contains(&kv.key)).count();
                    m.retain(|kv| {
                        if priority.contains(&kv.key) {
                            return true;
                        }
                        if kept < limit {
                            kept += 1;
                            true
                        } else {
                            false
                        }
                    });
                }
                Ok(())
            })
        }
        "merge_maps" => {
            let t = target(cp, c, a[0])?;
            let src = getter(cp, a[1])?.unwrap_or(CExpr::Lit(Value::Nil));
            let strategy = lit_str(c, a[2], "strategy")?.unwrap_or_default();
            if !matches!(strategy.as_str(), "insert" | "update" | "upsert") {
                return Err(err(
                    c,
                    format!("strategy must be insert, update or upsert, got {strategy:?}"),
                ));
            }
            Box::new(move |ctx| {
                let src = match src.eval(ctx)? {
                    Value::Map(m) => m.into_owned(),
                    _ => return Ok(()),
                };
                if let Some(m) = t.map_mut(ctx)? {
                    for kv in src {
                        let pos = m.iter().position(|x| x.key == kv.key);
                        match (pos, strategy.as_str()) {
                            (Some(p), "update" | "upsert") => m[p].value = kv.value,
                            (None, "insert" | "upsert") => m.push(kv),
                            _ => {}
                        }
                    }
                }
                Ok(())
            })
        }
        "replace_pattern" | "replace_match" => {
            let t = target(cp, c, a[0])?;
            let re = if c.name == "replace_match" {
                glob(c, a[1])?
            } else {
                regex(c, a[1], "regex")?
            };
            let with = lit_str(c, a[2], "replacement")?.unwrap_or_default();
            let with = if c.name == "replace_match" {
                with.replace('$', "$$")
            } else {
                with
            };
            let f = replacement_fn(c, a[3], lit_str(c, a[4], "replacementFormat")?)?;
            let all = c.name == "replace_pattern";
            Box::new(move |ctx| {
                let new = match t.get(ctx)? {
                    Value::Str(s) => replace(&re, &s, &with, &f, all),
                    _ => None,
                };
                match new {
                    Some(n) => t.set(ctx, owned_str(n)),
                    None => Ok(()),
                }
            })
        }
        "replace_all_matches" | "replace_all_patterns" => {
            let patterns = c.name == "replace_all_patterns";
            let t = target(cp, c, a[0])?;
            let (mode, re_arg, rest) = if patterns {
                let mode = lit_str(c, a[1], "mode")?.unwrap_or_default();
                if !matches!(mode.as_str(), "key" | "value") {
                    return Err(err(
                        c,
                        format!("mode must be \"key\" or \"value\", got {mode:?}"),
                    ));
                }
                (mode, a[2], &a[3..])
            } else {
                ("value".to_string(), a[1], &a[2..])
            };
            let re = if patterns {
                regex(c, re_arg, "regex")?
            } else {
                glob(c, re_arg)?
            };
            let with = lit_str(c, rest[0], "replacement")?.unwrap_or_default();
            let with = if patterns {
                with
            } else {
                with.replace('$', "$$")
            };
            let f = replacement_fn(c, rest[1], lit_str(c, rest[2], "replacementFormat")?)?;
            Box::new(move |ctx| {
                if let Some(m) = t.map_mut(ctx)? {
                    for kv in m.iter_mut() {
                        if mode == "key" {
                            if let Some(n) = replace(&re, &kv.key, &with, &f, true) {
                                kv.key = n;
                            }
                        } else if let Some(AnyValue {
                            value: Some(Av::StringValue(s)),
                        }) = &mut kv.value
                        {
                            if let Some(n) = replace(&re, s, &with, &f, patterns) {
                                *s = n;
                            }
                        }
                    }
                }
                Ok(())
            })
        }
        "truncate_all" => {
            let t = target(cp, c, a[0])?;
            let limit = lit_int(c, a[1], "limit")?.unwrap_or(0);
            if limit < 0 {
                return Err(err(c, format!("limit must be >= 0, got {limit}")));
            }
            let limit = limit as usize;
            Box::new(move |ctx| {
                if let Some(m) = t.map_mut(ctx)? {
                    for kv in m.iter_mut() {
                        if let Some(AnyValue {
                            value: Some(Av::StringValue(s)),
                        }) = &mut kv.value
                        {
                            if s.len() > limit {
                                // At a character boundary at or below the limit, so the result stays UTF-8.
                                let mut cut = limit;
                                while !s.is_char_boundary(cut) {
                                    cut -= 1;
                                }
                                s.truncate(cut);
                            }
                        }
                    }
                }
                Ok(())
            })
        }
        "append" => {
            let t = target(cp, c, a[0])?;
            let v = getter(cp, a[1])?;
            let vs = getter(cp, a[2])?;
            Box::new(move |ctx| {
                let mut items: Vec<AnyValue> = match t.get(ctx)? {
                    Value::Nil => vec![],
                    Value::List(l) => l.into_owned(),
                    other => vec![other.into_any()],
                };
                if let Some(v) = &v {
                    match v.eval(ctx)? {
                        Value::Nil => {}
                        x => items.push(x.into_any()),
                    }
                }
                if let Some(vs) = &vs {
                    match vs.eval(ctx)? {
                        Value::List(l) => items.extend(l.iter().cloned()),
                        Value::Nil => {}
                        x => items.push(x.into_any()),
                    }
                }
                t.set(ctx, Value::List(Cow::Owned(items)))
            })
        }
        "flatten" => {
            let t = target(cp, c, a[0])?;
            let prefix = lit_str(c, a[1], "prefix")?;
            let depth = lit_int(c, a[2], "depth")?.unwrap_or(i64::MAX);
            if depth < 0 {
                return Err(err(c, "depth must be >= 0"));
            }
            Box::new(move |ctx| {
                if let Some(m) = t.map_mut(ctx)? {
                    let old = std::mem::take(m);
                    let mut out = Vec::new();
                    flatten(old, prefix.as_deref(), depth, &mut out);
                    *m = out;
                }
                Ok(())
            })
        }
        "convert_sum_to_gauge" => Box::new(|ctx| {
            if let Some(m) = ctx.metric.as_deref_mut() {
                if let Some(Data::Sum(s)) = &mut m.data {
                    let points = std::mem::take(&mut s.data_points);
                    m.data = Some(Data::Gauge(Gauge {
                        data_points: points,
                    }));
                }
            }
            Ok(())
        }),
        "convert_gauge_to_sum" => {
            let temporality = match lit_str(c, a[0], "aggregation_temporality")?.as_deref() {
                Some("cumulative") => 2,
                Some("delta") => 1,
                other => {
                    return Err(err(c, format!("aggregation_temporality must be \"cumulative\" or \"delta\", got {other:?}")))
                }
            };
            let monotonic = match a[1] {
                Some(Expr::Bool(b)) => *b,
                other => {
                    return Err(err(
                        c,
                        format!("is_monotonic must be true or false, found {other:?}"),
                    ))
                }
            };
            Box::new(move |ctx| {
                if let Some(m) = ctx.metric.as_deref_mut() {
                    if let Some(Data::Gauge(g)) = &mut m.data {
                        let points = std::mem::take(&mut g.data_points);
                        m.data = Some(Data::Sum(Sum {
                            data_points: points,
                            aggregation_temporality: temporality,
                            is_monotonic: monotonic,
                        }));
                    }
                }
                Ok(())
            })
        }
        "scale_metric" => {
            let factor = match a[0] {
                Some(Expr::Float(f)) => *f,
                Some(Expr::Int(i)) => *i as f64,
                other => {
                    return Err(err(
                        c,
                        format!("factor must be a number literal, found {other:?}"),
                    ))
                }
            };
            let unit = lit_str(c, a[1], "unit")?;
            Box::new(move |ctx| {
                use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Nv;
                let Some(m) = ctx.metric.as_deref_mut() else {
                    return Ok(());
                };
                let scale_n = |p: &mut opentelemetry_proto::tonic::metrics::v1::NumberDataPoint| {
                    p.value = match p.value {
                        Some(Nv::AsDouble(d)) => Some(Nv::AsDouble(d * factor)),
                        Some(Nv::AsInt(i)) => Some(Nv::AsInt((i as f64 * factor) as i64)),
                        None => None,
                    }
                };
                match &mut m.data {
                    Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(scale_n),
                    Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(scale_n),
                    Some(Data::Histogram(h)) => {
                        for p in &mut h.data_points {
                            p.sum = p.sum.map(|s| s * factor);
                            p.min = p.min.map(|s| s * factor);
                            p.max = p.max.map(|s| s * factor);
                            p.explicit_bounds.iter_mut().for_each(|b| *b *= factor);
                        }
                    }
                    Some(_) => {
                        return Err("scale_metric supports gauge, sum and histogram metrics".into())
                    }
                    None => {}
                }
                if let Some(u) = &unit {
                    m.unit = u.clone();
                }
                Ok(())
            })
        }
        "extract_sum_metric" | "extract_count_metric" => {
            let monotonic = lit_bool(c, a[0], "is_monotonic")?;
            let (kind, default) = if c.name == "extract_sum_metric" {
                (Extract::Sum, "_sum")
            } else {
                (Extract::Count, "_count")
            };
            let suffix = lit_str(c, a[1], "suffix")?.unwrap_or_else(|| default.into());
            let name = if kind == Extract::Sum {
                "extract_sum_metric"
            } else {
                "extract_count_metric"
            };
            metric_funcs::extract(kind, name, None, monotonic, suffix)
        }
        "convert_summary_sum_val_to_sum" | "convert_summary_count_val_to_sum" => {
            let temporality = temporality_arg(c, a[0])?;
            let monotonic = lit_bool(c, a[1], "is_monotonic")?;
            let (kind, default, name) = if c.name == "convert_summary_sum_val_to_sum" {
                (
                    Extract::SummarySum,
                    "_sum",
                    "convert_summary_sum_val_to_sum",
                )
            } else {
                (
                    Extract::SummaryCount,
                    "_count",
                    "convert_summary_count_val_to_sum",
                )
            };
            let suffix = lit_str(c, a[2], "suffix")?.unwrap_or_else(|| default.into());
            metric_funcs::extract(kind, name, Some(temporality), monotonic, suffix)
        }
        "aggregate_on_attributes" => {
            let f = lit_str(c, a[0], "function")?.unwrap_or_default();
            let Some(agg) = Agg::parse(&f) else {
                return Err(err(
                    c,
                    format!("invalid aggregation function {f:?}, valid options: sum, max, min, mean, median, count"),
                ));
            };
            let keep = match a[1] {
                None => None,
                Some(Expr::List(items)) => Some(
                    items
                        .iter()
                        .map(|e| match e {
                            Expr::Str(s) => Ok(s.clone()),
                            o => Err(err(
                                c,
                                format!("attributes must be string literals, found {o}"),
                            )),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                Some(o) => {
                    return Err(err(
                        c,
                        format!("attributes must be a list of strings, found {o}"),
                    ))
                }
            };
            metric_funcs::aggregate_on_attributes(agg, keep)
        }
        other => return Err(err(c, format!("editor {other} has no implementation"))),
    })
}

fn flatten(m: Vec<KeyValue>, prefix: Option<&str>, depth: i64, out: &mut Vec<KeyValue>) {
    for kv in m {
        let key = match prefix {
            Some(p) => format!("{p}.{}", kv.key),
            None => kv.key,
        };
        match kv.value {
            Some(AnyValue {
                value: Some(Av::KvlistValue(inner)),
            }) if depth > 0 => flatten(inner.values, Some(&key), depth - 1, out),
            Some(AnyValue {
                value: Some(Av::ArrayValue(arr)),
            }) if depth > 0 => {
                let items = arr
                    .values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| KeyValue {
                        key: i.to_string(),
                        value: Some(v),
                        ..Default::default()
                    })
                    .collect();
                flatten(items, Some(&key), depth - 1, out)
            }
            value => out.push(KeyValue {
                key,
                value,
                ..Default::default()
            }),
        }
    }
}

macro_rules! conv {
    (|$ctx:ident| $body:expr) => {
        Box::new(move |$ctx: &Ctx<'_>| -> Result<Owned, String> { $body })
    };
}

/// Compiles a converter call (without the keys on its result).
pub fn converter(cp: &Compiler<'_>, c: &Call) -> Result<ConvFn, CompileError> {
    if NOT_YET.contains(&c.name.as_str()) {
        return Err(err(c, "not supported by ferrotel yet"));
    }
    if let Some((_, f)) = cp.extra.iter().find(|(n, _)| *n == c.name) {
        let params: &[&str] = &["key", "value"];
        let n = if c.name == "HasAttrOnDatapoint" { 2 } else { 1 };
        return f(cp, c, bind(c, &params[..n], n)?);
    }
    let Some((_, params, required)) = CONVERTERS.iter().find(|(n, ..)| *n == c.name) else {
        if EDITORS.iter().any(|(n, ..)| *n == c.name) {
            return Err(CompileError::new(
                c.column,
                format!("editor {} cannot be used as a value", c.name),
            ));
        }
        return Err(CompileError::new(
            c.column,
            format!("unknown converter {}", c.name),
        ));
    };
    let a = bind(c, params, *required)?;
    let g = |i: usize| -> Result<CExpr, CompileError> {
        Ok(getter(cp, a[i])?.unwrap_or(CExpr::Lit(Value::Nil)))
    };
    Ok(match c.name.as_str() {
        "Concat" => {
            let vals = g(0)?;
            let delim = lit_str(c, a[1], "delimiter")?.unwrap_or_default();
            conv!(|ctx| {
                let items = match vals.eval(ctx)? {
                    Value::List(l) => l,
                    v => return Err(format!("vals must be a list, got {}", v.type_name())),
                };
                let parts: Vec<String> = items
                    .iter()
                    .map(|v| {
                        text(&Value::from_any(v))
                            .map(|t| t.into_owned())
                            .unwrap_or_default()
                    })
                    .collect();
                Ok(owned_str(parts.join(&delim)))
            })
        }
        "ConvertCase" => {
            let t = g(0)?;
            let case = lit_str(c, a[1], "toCase")?.unwrap_or_default();
            if !matches!(case.as_str(), "lower" | "upper" | "snake" | "camel") {
                return Err(err(
                    c,
                    format!("toCase must be lower, upper, snake or camel, got {case:?}"),
                ));
            }
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                let Some(s) = v.as_str() else {
                    return Ok(Value::Nil);
                };
                Ok(owned_str(match case.as_str() {
                    "lower" => s.to_lowercase(),
                    "upper" => s.to_uppercase(),
                    "snake" => to_snake(s),
                    _ => to_camel(s),
                }))
            })
        }
        "Double" => {
            let v = g(0)?;
            conv!(|ctx| Ok(match v.eval(ctx)? {
                Value::Double(d) => Value::Double(d),
                Value::Int(i) => Value::Double(i as f64),
                Value::Bool(b) => Value::Double(if b { 1.0 } else { 0.0 }),
                Value::Str(s) => s
                    .trim()
                    .parse::<f64>()
                    .map(Value::Double)
                    .unwrap_or(Value::Nil),
                _ => Value::Nil,
            }))
        }
        "Int" => {
            let v = g(0)?;
            conv!(|ctx| Ok(match v.eval(ctx)? {
                Value::Int(i) => Value::Int(i),
                Value::Double(d) if d.is_finite() => Value::Int(d.trunc() as i64),
                Value::Bool(b) => Value::Int(b as i64),
                Value::Str(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::Int)
                    .unwrap_or(Value::Nil),
                _ => Value::Nil,
            }))
        }
        "Bool" => {
            let v = g(0)?;
            conv!(|ctx| Ok(match v.eval(ctx)? {
                Value::Bool(b) => Value::Bool(b),
                Value::Int(i) => Value::Bool(i != 0),
                Value::Double(d) => Value::Bool(d != 0.0),
                Value::Str(s) => match s.as_ref() {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => Value::Bool(true),
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => Value::Bool(false),
                    _ => Value::Nil,
                },
                _ => Value::Nil,
            }))
        }
        "String" => {
            let v = g(0)?;
            conv!(|ctx| {
                let v = v.eval(ctx)?;
                Ok(match text(&v) {
                    None => Value::Nil,
                    Some(t) => owned_str(t.into_owned()),
                })
            })
        }
        "Hex" => {
            let v = g(0)?;
            conv!(|ctx| Ok(match v.eval(ctx)? {
                Value::Bytes(b) => owned_str(hex_lower(&b)),
                Value::Str(s) => owned_str(hex_lower(s.as_bytes())),
                Value::Int(i) => owned_str(hex_lower(&i.to_be_bytes())),
                Value::Double(d) => owned_str(hex_lower(&d.to_bits().to_be_bytes())),
                Value::Bool(b) => owned_str(hex_lower(&[b as u8])),
                Value::Nil => Value::Nil,
                v => return Err(format!("Hex: unsupported type {}", v.type_name())),
            }))
        }
        "HasPrefix" | "HasSuffix" | "TrimPrefix" | "TrimSuffix" => {
            let t = g(0)?;
            let affix = lit_str(c, a[1], "prefix/suffix")?.unwrap_or_default();
            let which = c.name.clone();
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                let s = match &v {
                    Value::Str(s) => s.as_ref(),
                    Value::Nil if which.starts_with("Has") => return Ok(Value::Bool(false)),
                    Value::Nil => return Ok(Value::Nil),
                    v => return Err(format!("{which}: expected a string, got {}", v.type_name())),
                };
                Ok(match which.as_str() {
                    "HasPrefix" => Value::Bool(s.starts_with(affix.as_str())),
                    "HasSuffix" => Value::Bool(s.ends_with(affix.as_str())),
                    "TrimPrefix" => {
                        owned_str(s.strip_prefix(affix.as_str()).unwrap_or(s).to_string())
                    }
                    _ => owned_str(s.strip_suffix(affix.as_str()).unwrap_or(s).to_string()),
                })
            })
        }
        "IsBool" | "IsDouble" | "IsInt" | "IsMap" | "IsList" | "IsString" => {
            let v = g(0)?;
            let which = c.name.clone();
            conv!(|ctx| {
                let v = v.eval(ctx)?;
                Ok(Value::Bool(matches!(
                    (which.as_str(), &v),
                    ("IsBool", Value::Bool(_))
                        | ("IsDouble", Value::Double(_))
                        | ("IsInt", Value::Int(_))
                        | ("IsMap", Value::Map(_))
                        | ("IsList", Value::List(_))
                        | ("IsString", Value::Str(_))
                )))
            })
        }
        "IsMatch" => {
            let t = g(0)?;
            let re = regex(c, a[1], "pattern")?;
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                Ok(Value::Bool(text(&v).is_some_and(|s| re.is_match(&s))))
            })
        }
        "IsRootSpan" => {
            if !matches!(cp.context, ContextKind::Span | ContextKind::SpanEvent) {
                return Err(err(
                    c,
                    format!("only available in the span context, not {}", cp.context),
                ));
            }
            conv!(|ctx| Ok(Value::Bool(
                ctx.span
                    .as_deref()
                    .is_some_and(|s| s.parent_span_id.is_empty())
            )))
        }
        "Len" => {
            let t = g(0)?;
            conv!(|ctx| Ok(Value::Int(match t.eval(ctx)? {
                Value::Str(s) => s.len() as i64,
                Value::Bytes(b) => b.len() as i64,
                Value::Map(m) => m.len() as i64,
                Value::List(l) => l.len() as i64,
                v => return Err(format!("Len: unsupported type {}", v.type_name())),
            })))
        }
        "Log" => {
            let v = g(0)?;
            conv!(|ctx| {
                let x = match v.eval(ctx)? {
                    Value::Double(d) => d,
                    Value::Int(i) => i as f64,
                    v => return Err(format!("Log: expected a number, got {}", v.type_name())),
                };
                if x <= 0.0 {
                    return Err(format!("Log: {x} is not greater than zero"));
                }
                Ok(Value::Double(x.ln()))
            })
        }
        "ParseJSON" => {
            let t = g(0)?;
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                let s = str_arg(&v, "ParseJSON target")?;
                let j: serde_json::Value =
                    serde_json::from_str(s).map_err(|e| format!("ParseJSON: {e}"))?;
                Ok(match from_json(&j).value {
                    Some(Av::KvlistValue(m)) => Value::Map(Cow::Owned(m.values)),
                    Some(Av::ArrayValue(a)) => Value::List(Cow::Owned(a.values)),
                    _ => return Err("ParseJSON: expected a JSON object or array".into()),
                })
            })
        }
        "ParseKeyValue" => {
            let t = g(0)?;
            let delim = lit_str(c, a[1], "delimiter")?.unwrap_or_else(|| "=".into());
            let pair = lit_str(c, a[2], "pair_delimiter")?.unwrap_or_else(|| " ".into());
            if delim.is_empty() || pair.is_empty() || delim == pair {
                return Err(err(
                    c,
                    "delimiter and pair_delimiter must be non-empty and differ",
                ));
            }
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                let s = str_arg(&v, "ParseKeyValue target")?;
                parse_key_value(s, &delim, &pair).map(|m| Value::Map(Cow::Owned(m)))
            })
        }
        "SHA1" | "SHA256" => {
            let v = g(0)?;
            let sha1 = c.name == "SHA1";
            conv!(|ctx| {
                let v = v.eval(ctx)?;
                let s = str_arg(&v, "value")?;
                Ok(owned_str(if sha1 {
                    sha1_hex(s.as_bytes())
                } else {
                    sha256_hex(s.as_bytes())
                }))
            })
        }
        "Split" => {
            let t = g(0)?;
            let delim = lit_str(c, a[1], "delimiter")?.unwrap_or_default();
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                let Some(s) = v.as_str() else {
                    return Ok(Value::Nil);
                };
                let parts: Vec<AnyValue> = if delim.is_empty() {
                    s.chars()
                        .map(|ch| Value::Str(Cow::Owned(ch.to_string())).into_any())
                        .collect()
                } else {
                    s.split(delim.as_str())
                        .map(|p| Value::str(p).into_any())
                        .collect()
                };
                Ok(Value::List(Cow::Owned(parts)))
            })
        }
        "Substring" => {
            let t = g(0)?;
            let start = g(1)?;
            let len = g(2)?;
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                let s = str_arg(&v, "Substring target")?;
                let (Value::Int(st), Value::Int(ln)) = (start.eval(ctx)?, len.eval(ctx)?) else {
                    return Err("Substring: start and length must be ints".into());
                };
                if st < 0 || ln < 0 || (st as u64).saturating_add(ln as u64) > s.len() as u64 {
                    return Err(format!(
                        "Substring: start {st} + length {ln} out of range for length {}",
                        s.len()
                    ));
                }
                let (st, end) = (st as usize, (st + ln) as usize);
                s.get(st..end)
                    .map(|x| owned_str(x.to_string()))
                    .ok_or_else(|| "Substring: not at a character boundary".to_string())
            })
        }
        "ToLowerCase" | "ToUpperCase" => {
            let t = g(0)?;
            let upper = c.name == "ToUpperCase";
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                let Some(s) = v.as_str() else {
                    return Ok(Value::Nil);
                };
                Ok(owned_str(if upper {
                    s.to_uppercase()
                } else {
                    s.to_lowercase()
                }))
            })
        }
        "Trim" => {
            let t = g(0)?;
            let cut: Vec<char> = lit_str(c, a[1], "replacement")?
                .unwrap_or_else(|| " ".into())
                .chars()
                .collect();
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                let Some(s) = v.as_str() else {
                    return Ok(Value::Nil);
                };
                Ok(owned_str(
                    s.trim_matches(|ch| cut.contains(&ch)).to_string(),
                ))
            })
        }
        "TraceID" | "SpanID" => {
            let want = if c.name == "TraceID" { 16 } else { 8 };
            let b = match a[0] {
                Some(Expr::Bytes(b)) if b.len() == want => b.clone(),
                other => {
                    return Err(err(
                        c,
                        format!("expected a {want}-byte literal (0x...), found {other:?}"),
                    ))
                }
            };
            conv!(|_ctx| Ok(Value::Bytes(Cow::Owned(b.clone()))))
        }
        "UnixNano" | "UnixMicro" | "UnixMilli" | "UnixSeconds" => {
            let t = g(0)?;
            let div: i64 = match c.name.as_str() {
                "UnixNano" => 1,
                "UnixMicro" => 1_000,
                "UnixMilli" => 1_000_000,
                _ => 1_000_000_000,
            };
            conv!(|ctx| match t.eval(ctx)? {
                Value::Time(n) => Ok(Value::Int(n.div_euclid(div))),
                v => Err(format!("expected a time, got {}", v.type_name())),
            })
        }
        "Now" => conv!(|_ctx| Ok(Value::Time(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
                .unwrap_or(0)
        ))),
        "Time" => {
            let t = g(0)?;
            let format = lit_str(c, a[1], "format")?.unwrap_or_default();
            let pieces = crate::stanza::time::strptime_pieces(&ottl_time_layout(&format))
                .map_err(|e| err(c, format!("format {format:?}: {e}")))?;
            let zone = match lit_str(c, a[2], "location")? {
                Some(l) => super::tz::Zone::load(&l).map_err(|e| err(c, e))?,
                None => super::tz::Zone::utc(),
            };
            match lit_str(c, a[3], "locale")?.as_deref() {
                None | Some("") => {}
                Some(l) if l == "en" || l.starts_with("en-") || l.starts_with("en_") => {}
                Some(l) => {
                    return Err(err(
                        c,
                        format!("locale {l:?} is not supported by ferrotel yet (English only)"),
                    ))
                }
            }
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                let s = match &v {
                    Value::Str(s) if !s.is_empty() => s.as_ref(),
                    Value::Str(_) => return Err("Time: target is an empty string".into()),
                    v => {
                        return Err(format!(
                            "Time: target must be a string, got {}",
                            v.type_name()
                        ))
                    }
                };
                let ns =
                    crate::stanza::time::strptime_zoned(&pieces, s, &|wall| zone.to_unix(wall))
                        .map_err(|e| format!("Time: {e}"))?;
                Ok(Value::Time(ns.min(i64::MAX as u64) as i64))
            })
        }
        "Duration" => {
            let t = g(0)?;
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                let s = str_arg(&v, "duration")?;
                crate::config::duration::parse(s)
                    .map(|d| Value::Duration(d.as_nanos().min(i64::MAX as u128) as i64))
                    .map_err(|e| format!("Duration: {e}"))
            })
        }
        "ExtractPatterns" => {
            let t = g(0)?;
            let re = regex(c, a[1], "pattern")?;
            if re.capture_names().flatten().next().is_none() {
                return Err(err(
                    c,
                    "the pattern needs at least one named capture group (?P<name>...)",
                ));
            }
            conv!(|ctx| {
                let v = t.eval(ctx)?;
                let s = str_arg(&v, "ExtractPatterns target")?;
                let mut out = Vec::new();
                if let Some(caps) = re.captures(s) {
                    for name in re.capture_names().flatten() {
                        if let Some(m) = caps.name(name) {
                            out.push(KeyValue {
                                key: name.to_string(),
                                value: Some(Value::str(m.as_str()).into_any()),
                                ..Default::default()
                            });
                        }
                    }
                }
                Ok(Value::Map(Cow::Owned(out)))
            })
        }
        "Format" => {
            let fmt = lit_str(c, a[0], "format")?.unwrap_or_default();
            let vals = g(1)?;
            conv!(|ctx| {
                let items = match vals.eval(ctx)? {
                    Value::List(l) => l,
                    v => {
                        return Err(format!(
                            "Format: vals must be a list, got {}",
                            v.type_name()
                        ))
                    }
                };
                Ok(owned_str(go_format(&fmt, &items)))
            })
        }
        "Keys" | "Values" => {
            let t = g(0)?;
            let keys = c.name == "Keys";
            conv!(|ctx| match t.eval(ctx)? {
                Value::Map(m) => Ok(Value::List(Cow::Owned(
                    m.iter()
                        .map(|kv| if keys {
                            Value::str(&kv.key).into_any()
                        } else {
                            kv.value.clone().unwrap_or_default()
                        })
                        .collect(),
                ))),
                v => Err(format!("expected a map, got {}", v.type_name())),
            })
        }
        other => return Err(err(c, format!("converter {other} has no implementation"))),
    })
}

/// Rewrites OTTL's `Time` format (otelcol's ctime-like directives) into the strptime set the
/// shared parser knows: `%s` is nanoseconds here, `%j`/`%i`/`%k`/`%w` are offsets, `%o %q %g %l %P`
/// unpadded forms, and the composites are spelled out.
fn ottl_time_layout(f: &str) -> String {
    let mut out = String::with_capacity(f.len() + 8);
    let mut it = f.chars();
    while let Some(ch) = it.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        let Some(d) = it.next() else {
            out.push('%');
            break;
        };
        out.push_str(match d {
            'o' | 'q' => "%m",
            'g' => "%d",
            'l' => "%I",
            'P' => "%p",
            'i' | 'j' | 'k' | 'w' => "%z",
            's' | 'L' => "%f",
            'x' => "%D",
            'X' => "%T",
            'r' => "%I:%M:%S %p",
            'R' => "%H:%M",
            'n' => "\n",
            't' => "\t",
            'c' => "%a %b %d %H:%M:%S %Y",
            _ => {
                out.push('%');
                out.push(d);
                continue;
            }
        });
    }
    out
}

fn to_snake(s: &str) -> String {
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else if ch == '-' || ch == ' ' || ch == '.' {
            out.push('_');
        } else {
            out.push(ch);
        }
    }
    out
}

fn to_camel(s: &str) -> String {
    let mut out = String::new();
    let mut up = true;
    for ch in s.chars() {
        if ch == '_' || ch == '-' || ch == ' ' || ch == '.' {
            up = true;
        } else if up {
            out.extend(ch.to_uppercase());
            up = false;
        } else {
            out.push(ch);
        }
    }
    out
}

fn parse_key_value(s: &str, delim: &str, pair: &str) -> Result<Vec<KeyValue>, String> {
    let mut out: Vec<KeyValue> = Vec::new();
    // Split on the pair delimiter outside double or single quotes.
    let mut pairs = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut rest = s;
    while !rest.is_empty() {
        if quote.is_none() && rest.starts_with(pair) {
            pairs.push(std::mem::take(&mut cur));
            rest = &rest[pair.len()..];
            continue;
        }
        let ch = rest.chars().next().unwrap_or_default();
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        cur.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    if quote.is_some() {
        return Err("ParseKeyValue: unterminated quote".into());
    }
    pairs.push(cur);
    for p in pairs.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let Some((k, v)) = p.split_once(delim) else {
            return Err(format!("ParseKeyValue: cannot split {p:?} into 2 items"));
        };
        let unq = |x: &str| -> String {
            let x = x.trim();
            for q in ['"', '\''] {
                if x.len() >= 2 && x.starts_with(q) && x.ends_with(q) {
                    return x[1..x.len() - 1].to_string();
                }
            }
            x.to_string()
        };
        let (k, v) = (unq(k), unq(v));
        let v = AnyValue {
            value: Some(Av::StringValue(v)),
        };
        match out.iter_mut().find(|kv| kv.key == k) {
            Some(kv) => {
                let prev = kv.value.take().unwrap_or_default();
                let mut items = match prev.value {
                    Some(Av::ArrayValue(a)) => a.values,
                    _ => vec![prev],
                };
                items.push(v);
                kv.value = Some(Value::List(Cow::Owned(items)).into_any());
            }
            None => out.push(KeyValue {
                key: k,
                value: Some(v),
                ..Default::default()
            }),
        }
    }
    Ok(out)
}

/// Go's `fmt.Sprintf` for the verbs OTTL formats use: `%s %v %d %f %.Nf %x %q %%`.
fn go_format(fmt: &str, args: &[AnyValue]) -> String {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    let mut n = 0;
    while let Some(ch) = it.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut d = String::new();
            while let Some(c) = it.peek().copied().filter(char::is_ascii_digit) {
                d.push(c);
                it.next();
            }
            prec = d.parse().ok();
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(n) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        n += 1;
        let v = Value::from_any(arg);
        match (verb, &v) {
            ('d', Value::Int(i)) => out.push_str(&i.to_string()),
            ('f', Value::Double(d)) => out.push_str(&format!("{:.*}", prec.unwrap_or(6), d)),
            ('f', Value::Int(i)) => out.push_str(&format!("%!f(int64={i})")),
            ('x', Value::Int(i)) => out.push_str(&format!("{i:x}")),
            ('x', Value::Str(s)) => out.push_str(&hex_lower(s.as_bytes())),
            ('q', Value::Str(s)) => out.push_str(&format!("{s:?}")),
            ('v' | 's', Value::Double(d)) => out.push_str(&format_double(*d)),
            (_, v) => out.push_str(&v.to_text()),
        }
    }
    out
}

/// The datapoints of a metric, for filter's `HasAttrOnDatapoint`.
pub fn any_point_has(ctx: &Ctx<'_>, pred: &dyn Fn(&[KeyValue]) -> bool) -> bool {
    let Some(m) = ctx.metric.as_deref() else {
        if let Some(p) = &ctx.point {
            return pred(match p {
                Point::Number(d) => &d.attributes,
                Point::Histogram(d) => &d.attributes,
                Point::ExpHistogram(d) => &d.attributes,
                Point::Summary(d) => &d.attributes,
            });
        }
        return false;
    };
    match &m.data {
        Some(Data::Gauge(g)) => g.data_points.iter().any(|p| pred(&p.attributes)),
        Some(Data::Sum(g)) => g.data_points.iter().any(|p| pred(&p.attributes)),
        Some(Data::Histogram(g)) => g.data_points.iter().any(|p| pred(&p.attributes)),
        Some(Data::ExponentialHistogram(g)) => g.data_points.iter().any(|p| pred(&p.attributes)),
        Some(Data::Summary(g)) => g.data_points.iter().any(|p| pred(&p.attributes)),
        None => false,
    }
}
