//! Parsers: json_parser, json_array_parser, regex_parser, key_value_parser, csv_parser, syslog_parser.
//! Each takes `parse_from` (default `body`) and `parse_to` (default `attributes`), and the optional
//! `timestamp`, `severity`, `trace`, `scope_name` blocks and `body` (a field copied to the body after
//! parsing), applied in that order after a successful parse.

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_yaml::{Mapping, Value as Yaml};

use super::transform::{ParseFrom, TraceCfg, TraceParser};
use super::{parse_cfg, BuildError, Transform};
use crate::stanza::entry::{as_text, Entry, Field, Root};
use crate::stanza::severity::{SeverityConfig, SeverityParser};
use crate::stanza::time::{TimeConfig, TimeParser};

pub struct Base {
    parse_from: Field,
    parse_to: Field,
    time: Option<TimeParser>,
    severity: Option<SeverityParser>,
    trace: Option<TraceParser>,
    scope: Option<Field>,
    body: Option<Field>,
}

pub struct Parser {
    base: Base,
    kind: Kind,
}

enum Kind {
    Json,
    JsonArray(Option<Vec<String>>),
    Regex(Regex),
    KeyValue {
        delim: String,
        pair: Option<String>,
    },
    Csv {
        header: Option<Vec<String>>,
        header_attr: Option<String>,
        delim: u8,
        lazy_quotes: bool,
        ignore_quotes: bool,
    },
    Syslog {
        rfc5424: bool,
    },
}

fn take<T: for<'de> Deserialize<'de>>(
    m: &mut Mapping,
    k: &str,
    at: &str,
) -> Result<Option<T>, BuildError> {
    match m.remove(k) {
        None | Some(Yaml::Null) => Ok(None),
        Some(v) => crate::config::parse::<T>(&v, "").map(Some).map_err(|e| {
            (
                if e.path.is_empty() {
                    format!("{at}::{k}")
                } else {
                    format!("{at}::{k}::{}", e.path)
                },
                e.message,
            )
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCfg {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonArrayCfg {
    #[serde(default)]
    header: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegexCfg {
    regex: String,
    #[serde(default)]
    cache: Option<Yaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KvCfg {
    #[serde(default = "eq")]
    delimiter: String,
    #[serde(default)]
    pair_delimiter: Option<String>,
}
fn eq() -> String {
    "=".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvCfg {
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    header_attribute: Option<String>,
    #[serde(default)]
    header_delimiter: Option<String>,
    #[serde(default)]
    delimiter: Option<String>,
    #[serde(default)]
    lazy_quotes: bool,
    #[serde(default)]
    ignore_quotes: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyslogCfg {
    protocol: String,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    enable_octet_counting: bool,
    #[serde(default)]
    allow_skip_pri_header: bool,
    #[serde(default)]
    non_transparent_framing_trailer: Option<String>,
}

pub fn build(kind: &str, mut m: Mapping, at: &str) -> Result<(Parser, Vec<String>), BuildError> {
    let mut warnings = Vec::new();
    let parse_from = take::<Field>(&mut m, "parse_from", at)?.unwrap_or_else(Field::body);
    let default_to = if kind == "json_array_parser" {
        Field::body()
    } else {
        Field::attributes()
    };
    let parse_to = take::<Field>(&mut m, "parse_to", at)?.unwrap_or(default_to);
    let time = match take::<TimeConfig>(&mut m, "timestamp", at)? {
        Some(t) => {
            warnings.extend(t.warnings());
            Some(t.build().map_err(|e| (format!("{at}::timestamp"), e))?)
        }
        None => None,
    };
    let severity = match take::<SeverityConfig>(&mut m, "severity", at)? {
        Some(s) => Some(s.build().map_err(|e| (format!("{at}::severity"), e))?),
        None => None,
    };
    let trace = take::<TraceCfg>(&mut m, "trace", at)?.map(|t| t.build());
    let scope = take::<ParseFrom>(&mut m, "scope_name", at)?.map(|s| s.parse_from);
    let body = take::<Field>(&mut m, "body", at)?;
    if m.remove("preserve_to").is_some() {
        return Err((
            format!("{at}::preserve_to"),
            "removed in Stanza; use a copy operator".into(),
        ));
    }
    let k = match kind {
        "json_parser" => {
            let _: JsonCfg = parse_cfg(&m, at)?;
            Kind::Json
        }
        "json_array_parser" => {
            let c: JsonArrayCfg = parse_cfg(&m, at)?;
            Kind::JsonArray(c.header.map(|h| h.split(',').map(str::to_string).collect()))
        }
        "regex_parser" => {
            let c: RegexCfg = parse_cfg(&m, at)?;
            if c.cache.is_some() {
                warnings
                    .push("cache is accepted and ignored (regex results are not cached)".into());
            }
            let re = Regex::new(&c.regex).map_err(|e| (format!("{at}::regex"), e.to_string()))?;
            if re.capture_names().flatten().next().is_none() {
                return Err((
                    format!("{at}::regex"),
                    "no named capture groups in regex".into(),
                ));
            }
            Kind::Regex(re)
        }
        "key_value_parser" => {
            let c: KvCfg = parse_cfg(&m, at)?;
            if c.delimiter.is_empty() || c.pair_delimiter.as_deref() == Some(&c.delimiter) {
                return Err((
                    format!("{at}::delimiter"),
                    "must be non-empty and differ from pair_delimiter".into(),
                ));
            }
            Kind::KeyValue {
                delim: c.delimiter,
                pair: c.pair_delimiter,
            }
        }
        "csv_parser" => {
            let c: CsvCfg = parse_cfg(&m, at)?;
            let delim = c.delimiter.unwrap_or_else(|| ",".into());
            if delim.len() != 1 {
                return Err((
                    format!("{at}::delimiter"),
                    "must be a single character".into(),
                ));
            }
            let hd = c.header_delimiter.unwrap_or_else(|| delim.clone());
            if c.header.is_some() == c.header_attribute.is_some() {
                return Err((
                    format!("{at}::header"),
                    "exactly one of header and header_attribute is required".into(),
                ));
            }
            // As otelcol: the header must contain the header delimiter.
            if let Some(h) = &c.header {
                if !h.contains(hd.as_str()) {
                    return Err((
                        format!("{at}::header"),
                        format!("missing field delimiter {hd:?} in header"),
                    ));
                }
            }
            Kind::Csv {
                header: c
                    .header
                    .map(|h| h.split(hd.as_str()).map(str::to_string).collect()),
                header_attr: c.header_attribute,
                delim: delim.as_bytes()[0],
                lazy_quotes: c.lazy_quotes,
                ignore_quotes: c.ignore_quotes,
            }
        }
        "syslog_parser" => {
            let c: SyslogCfg = parse_cfg(&m, at)?;
            if c.enable_octet_counting
                || c.non_transparent_framing_trailer.is_some()
                || c.allow_skip_pri_header
            {
                warnings.push("enable_octet_counting, non_transparent_framing_trailer and allow_skip_pri_header are accepted and ignored".into());
            }
            if c.location.as_deref().is_some_and(|l| l != "UTC") {
                warnings.push("location is not resolved: RFC 3164 times are taken as UTC".into());
            }
            match c.protocol.as_str() {
                "rfc5424" => Kind::Syslog { rfc5424: true },
                "rfc3164" => Kind::Syslog { rfc5424: false },
                p => {
                    return Err((
                        format!("{at}::protocol"),
                        format!("invalid protocol {p:?} (rfc3164, rfc5424)"),
                    ))
                }
            }
        }
        _ => unreachable!("only parser kinds are passed"),
    };
    Ok((
        Parser {
            base: Base {
                parse_from,
                parse_to,
                time,
                severity,
                trace,
                scope,
                body,
            },
            kind: k,
        },
        warnings,
    ))
}

impl Transform for Parser {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        let b = &self.base;
        let src = e
            .get(&b.parse_from)
            .ok_or_else(|| format!("{} does not exist", b.parse_from))?;
        let parsed = match &self.kind {
            Kind::Json => match src {
                Value::String(s) => match serde_json::from_str::<Value>(s) {
                    Ok(v @ Value::Object(_)) => v,
                    Ok(_) => return Err("expected a JSON object".into()),
                    Err(err) => return Err(format!("invalid JSON: {err}")),
                },
                Value::Object(_) => src.clone(),
                _ => return Err("type is not a string".into()),
            },
            Kind::JsonArray(header) => {
                let Value::String(s) = src else {
                    return Err("type is not a string".into());
                };
                let Ok(Value::Array(a)) = serde_json::from_str::<Value>(s) else {
                    return Err("expected a JSON array".into());
                };
                match header {
                    None => Value::Array(a),
                    Some(h) => {
                        if h.len() != a.len() {
                            return Err(format!(
                                "wrong number of fields: expected {}, found {}",
                                h.len(),
                                a.len()
                            ));
                        }
                        Value::Object(h.iter().cloned().zip(a).collect())
                    }
                }
            }
            Kind::Regex(re) => {
                let s = as_text(src);
                let caps = re.captures(&s).ok_or("regex pattern does not match")?;
                let mut m = Map::new();
                for name in re.capture_names().flatten() {
                    if let Some(c) = caps.name(name) {
                        m.insert(name.to_string(), Value::String(c.as_str().to_string()));
                    }
                }
                Value::Object(m)
            }
            Kind::KeyValue { delim, pair } => {
                Value::Object(kv(&as_text(src), delim, pair.as_deref())?)
            }
            Kind::Csv {
                header,
                header_attr,
                delim,
                lazy_quotes,
                ignore_quotes,
            } => {
                let hdr: Vec<String> = match (header, header_attr) {
                    (Some(h), _) => h.clone(),
                    (None, Some(a)) => {
                        let h = e
                            .attributes
                            .get(a)
                            .ok_or_else(|| format!("header attribute {a:?} is missing"))?;
                        as_text(h)
                            .split(*delim as char)
                            .map(str::to_string)
                            .collect()
                    }
                    _ => vec![],
                };
                let vals = csv_fields(&as_text(src), *delim, *lazy_quotes, *ignore_quotes)?;
                if vals.len() != hdr.len() {
                    return Err(format!(
                        "wrong number of fields: expected {}, found {}",
                        hdr.len(),
                        vals.len()
                    ));
                }
                Value::Object(
                    hdr.into_iter()
                        .zip(vals.into_iter().map(Value::String))
                        .collect(),
                )
            }
            Kind::Syslog { rfc5424 } => {
                let (m, ts, sev) = syslog(&as_text(src), *rfc5424)?;
                if let Some(ts) = ts {
                    e.timestamp = ts;
                }
                if let Some((n, t)) = sev {
                    e.severity = n;
                    e.severity_text = t.to_string();
                }
                Value::Object(m)
            }
        };
        match (b.parse_to.root, b.parse_to.path.is_empty(), parsed) {
            (Root::Attributes | Root::Resource, true, Value::Object(m)) => {
                let dst = if b.parse_to.root == Root::Attributes {
                    &mut e.attributes
                } else {
                    &mut e.resource
                };
                dst.extend(m);
            }
            (_, _, v) => e.set(&b.parse_to, v)?,
        }
        if let Some(f) = &b.body {
            let v = e
                .get(f)
                .cloned()
                .ok_or_else(|| format!("{f} does not exist"))?;
            e.body = v;
        }
        if let Some(t) = &b.time {
            t.apply(e)?;
        }
        if let Some(s) = &b.severity {
            s.apply(e)?;
        }
        if let Some(t) = &b.trace {
            t.apply(e)?;
        }
        if let Some(f) = &b.scope {
            if let Some(v) = e.get(f) {
                e.scope_name = as_text(v);
            }
        }
        Ok(())
    }
}

/// `k=v k2="quoted value"`; pairs split on `pair` (default: whitespace), quotes around values removed.
fn kv(s: &str, delim: &str, pair: Option<&str>) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut pairs = Vec::new();
    match pair {
        Some(p) => pairs.extend(s.split(p).map(str::to_string)),
        None => {
            // Whitespace outside quotes separates pairs.
            let mut cur = String::new();
            let mut quote: Option<char> = None;
            for c in s.chars() {
                match quote {
                    Some(q) if c == q => {
                        quote = None;
                        cur.push(c)
                    }
                    Some(_) => cur.push(c),
                    None if c == '"' || c == '\'' => {
                        quote = Some(c);
                        cur.push(c)
                    }
                    None if c.is_whitespace() => {
                        if !cur.is_empty() {
                            pairs.push(std::mem::take(&mut cur));
                        }
                    }
                    None => cur.push(c),
                }
            }
            if !cur.is_empty() {
                pairs.push(cur);
            }
        }
    }
    for p in pairs {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let (k, v) = p
            .split_once(delim)
            .ok_or_else(|| format!("cannot split {p:?} into 2 items"))?;
        let strip = |x: &str| {
            let x = x.trim();
            for q in ['"', '\''] {
                if x.len() >= 2 && x.starts_with(q) && x.ends_with(q) {
                    return x[1..x.len() - 1].to_string();
                }
            }
            x.to_string()
        };
        out.insert(strip(k), Value::String(strip(v)));
    }
    Ok(out)
}

fn csv_fields(s: &str, delim: u8, lazy: bool, ignore_quotes: bool) -> Result<Vec<String>, String> {
    if ignore_quotes {
        return Ok(s.split(delim as char).map(str::to_string).collect());
    }
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    let mut at_start = true;
    let mut quoted = false;
    while i < b.len() {
        let c = b[i];
        if quoted {
            if c == b'"' {
                if b.get(i + 1) == Some(&b'"') {
                    cur.push(b'"');
                    i += 2;
                    continue;
                }
                quoted = false;
                if !(i + 1 == b.len() || b[i + 1] == delim || lazy) {
                    return Err("extraneous \" in field".into());
                }
            } else {
                cur.push(c);
            }
        } else if c == delim {
            out.push(String::from_utf8_lossy(&cur).into_owned());
            cur.clear();
            at_start = true;
            i += 1;
            continue;
        } else if c == b'"' && at_start {
            quoted = true;
        } else if c == b'"' && !lazy {
            return Err("bare \" in non-quoted field".into());
        } else {
            cur.push(c);
        }
        at_start = false;
        i += 1;
    }
    if quoted && !lazy {
        return Err("extraneous or missing \" in quoted field".into());
    }
    out.push(String::from_utf8_lossy(&cur).into_owned());
    Ok(out)
}

const SYSLOG_SEV: [(i32, &str); 8] = [
    (21, "emerg"),
    (19, "alert"),
    (18, "crit"),
    (17, "err"),
    (13, "warning"),
    (10, "notice"),
    (9, "info"),
    (5, "debug"),
];

type Syslog = (Map<String, Value>, Option<u64>, Option<(i32, &'static str)>);

fn syslog(s: &str, rfc5424: bool) -> Result<Syslog, String> {
    use std::sync::OnceLock;
    static R5424: OnceLock<Regex> = OnceLock::new();
    static R3164: OnceLock<Regex> = OnceLock::new();
    let mut m = Map::new();
    let (pri, rest) = match s.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((p, r)) => (p.parse::<u32>().map_err(|_| "invalid priority")?, r),
        None => return Err("expecting a priority value within angle brackets".into()),
    };
    if pri > 191 {
        return Err("priority out of range".into());
    }
    m.insert("priority".into(), Value::from(pri));
    m.insert("facility".into(), Value::from(pri / 8));
    m.insert("severity".into(), Value::from(pri % 8));
    let sev = SYSLOG_SEV[(pri % 8) as usize];
    let mut ts = None;
    if rfc5424 {
        let re = R5424.get_or_init(|| {
            Regex::new(r"^(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[.*?\])+)(?: (.*))?$")
                .expect("valid")
        });
        let c = re.captures(rest).ok_or("not an RFC 5424 message")?;
        let g = |i: usize| c.get(i).map(|x| x.as_str()).filter(|x| *x != "-");
        m.insert(
            "version".into(),
            Value::from(g(1).and_then(|v| v.parse::<u32>().ok()).unwrap_or(1)),
        );
        if let Some(t) = g(2) {
            let p = crate::stanza::time::strptime_pieces("%Y-%m-%dT%H:%M:%S.%f%z").expect("valid");
            let p2 = crate::stanza::time::strptime_pieces("%Y-%m-%dT%H:%M:%S%z").expect("valid");
            ts = crate::stanza::time::strptime(&p, t)
                .or_else(|_| crate::stanza::time::strptime(&p2, t))
                .ok();
        }
        for (i, k) in [
            (3, "hostname"),
            (4, "appname"),
            (5, "proc_id"),
            (6, "msg_id"),
        ] {
            if let Some(v) = g(i) {
                m.insert(k.into(), Value::from(v));
            }
        }
        if let Some(sd) = g(7) {
            m.insert("structured_data".into(), structured_data(sd));
        }
        if let Some(msg) = c.get(8) {
            m.insert(
                "message".into(),
                Value::from(msg.as_str().trim_start_matches('\u{feff}')),
            );
        }
    } else {
        let re = R3164.get_or_init(|| {
            Regex::new(r"^([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) (\S+) (?:([^:\[\s]+)(?:\[(\d+)\])?: ?)?(.*)$").expect("valid")
        });
        let c = re.captures(rest).ok_or("not an RFC 3164 message")?;
        let p = crate::stanza::time::strptime_pieces("%Y %b %e %H:%M:%S").expect("valid");
        // RFC 3164 has no year: the current one, as Stanza does.
        let year = 1970 + now_year();
        ts = crate::stanza::time::strptime(&p, &format!("{year} {}", &c[1])).ok();
        m.insert("hostname".into(), Value::from(&c[2]));
        if let Some(a) = c.get(3) {
            m.insert("appname".into(), Value::from(a.as_str()));
        }
        if let Some(p) = c.get(4) {
            m.insert("proc_id".into(), Value::from(p.as_str()));
        }
        m.insert("message".into(), Value::from(&c[5]));
    }
    Ok((m, ts, Some(sev)))
}

fn now_year() -> u64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Years since 1970 of the current date (leap days make at most a day's error around New Year).
    (secs as f64 / 31_556_952.0) as u64
}

fn structured_data(sd: &str) -> Value {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    static KV: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"\[([^\s\]]+)((?:\s+[^=\s]+="(?:[^"\\]|\\.)*")*)\]"#).expect("valid")
    });
    let kv = KV.get_or_init(|| Regex::new(r#"([^=\s]+)="((?:[^"\\]|\\.)*)""#).expect("valid"));
    let mut out = Map::new();
    for c in re.captures_iter(sd) {
        let mut params = Map::new();
        for p in kv.captures_iter(&c[2]) {
            params.insert(p[1].to_string(), Value::from(p[2].replace("\\\"", "\"")));
        }
        out.insert(c[1].to_string(), Value::Object(params));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;

    #[test]
    fn parsers() {
        let out = run(
            r#"
- type: regex_parser
  regex: '^(?P<time>\S+) (?P<sev>\w+) (?P<rest>.*)$'
  timestamp: {parse_from: attributes.time, layout: '%Y-%m-%dT%H:%M:%SZ'}
  severity: {parse_from: attributes.sev}
- type: key_value_parser
  parse_from: attributes.rest
  parse_to: attributes.kv
- type: csv_parser
  parse_from: attributes.kv.csv
  header: a|b|c
  header_delimiter: '|'
  parse_to: attributes.csv
"#,
            &[r#"2024-01-02T03:04:05Z WARN x=1 y="two words" csv='1,"q,z",3'"#],
        );
        let e = &out[0];
        assert_eq!(e.timestamp, 1_704_164_645_000_000_000);
        assert_eq!(e.severity, 13);
        assert_eq!(e.attributes["kv"]["y"], "two words");
        assert_eq!(e.attributes["csv"]["b"], "q,z");
    }

    #[test]
    fn syslog() {
        let out = run(
            "[{type: syslog_parser, protocol: rfc5424}]",
            &[
                r#"<34>1 2003-10-11T22:14:15.003Z mymachine su 77 ID47 [exampleSDID@32473 iut="3" eventSource="App"] 'su root' failed"#,
            ],
        );
        let e = &out[0];
        assert_eq!(e.attributes["appname"], "su");
        assert_eq!(
            e.attributes["structured_data"]["exampleSDID@32473"]["iut"],
            "3"
        );
        assert_eq!(e.severity, 18);
        assert_eq!(e.timestamp, 1_065_910_455_003_000_000);
        let out = run(
            "[{type: syslog_parser, protocol: rfc3164}]",
            &["<13>Oct 11 22:14:15 host app[42]: hello"],
        );
        assert_eq!(out[0].attributes["proc_id"], "42");
        assert_eq!(out[0].attributes["message"], "hello");
    }
}
