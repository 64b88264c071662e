//! `severity:` blocks and the `severity_parser`: Stanza's default mapping, `preset`, `mapping` (values,
//! lists, `{min, max}` ranges, `2xx`…`5xx`), `overwrite_text`.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;
use serde_yaml::Value as Yaml;

use super::entry::{as_text, Entry, Field};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityConfig {
    #[serde(default = "default_sev_from")]
    pub parse_from: Field,
    #[serde(default = "default_preset")]
    pub preset: String,
    #[serde(default)]
    pub mapping: serde_yaml::Mapping,
    #[serde(default)]
    pub overwrite_text: bool,
}

fn default_sev_from() -> Field {
    Field::attr("severity")
}
fn default_preset() -> String {
    "default".into()
}

const LEVELS: &[(&str, i32)] = &[
    ("trace", 1),
    ("trace2", 2),
    ("trace3", 3),
    ("trace4", 4),
    ("debug", 5),
    ("debug2", 6),
    ("debug3", 7),
    ("debug4", 8),
    ("info", 9),
    ("info2", 10),
    ("info3", 11),
    ("info4", 12),
    ("warn", 13),
    ("warn2", 14),
    ("warn3", 15),
    ("warn4", 16),
    ("error", 17),
    ("error2", 18),
    ("error3", 19),
    ("error4", 20),
    ("fatal", 21),
    ("fatal2", 22),
    ("fatal3", 23),
    ("fatal4", 24),
];

fn level(name: &str) -> Option<i32> {
    let n = name.to_ascii_lowercase();
    let n = match n.as_str() {
        "warning" => "warn",
        "default" => "info",
        // The aliases otelcol accepts as mapping keys (as in the `default` preset).
        "err" => "error",
        "critical" | "crit" => "fatal",
        _ => n.as_str(),
    };
    LEVELS.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
}

fn short_name(v: i32) -> &'static str {
    LEVELS
        .iter()
        .find(|(_, n)| *n == v)
        .map(|(k, _)| *k)
        .unwrap_or("")
}

#[derive(Debug, Clone)]
pub struct SeverityParser {
    pub parse_from: Field,
    exact: HashMap<String, i32>,
    ranges: Vec<(i64, i64, i32)>,
    overwrite_text: bool,
}

impl SeverityConfig {
    pub fn build(&self) -> Result<SeverityParser, String> {
        let mut exact = HashMap::new();
        let mut ranges = Vec::new();
        match self.preset.as_str() {
            "default" => {
                for (k, v) in LEVELS {
                    exact.insert(k.to_string(), *v);
                    exact.insert(k.to_ascii_uppercase(), *v);
                }
                for (k, v) in [("warning", 13), ("err", 17), ("critical", 21), ("crit", 21)] {
                    exact.insert(k.to_string(), v);
                }
            }
            "none" | "" => {}
            "http" => {
                ranges.extend([
                    (100, 199, 9),
                    (200, 299, 9),
                    (300, 399, 13),
                    (400, 499, 17),
                    (500, 599, 21),
                ]);
            }
            p => return Err(format!("unknown preset {p:?} (default, none, http)")),
        }
        for (k, v) in &self.mapping {
            let name = k.as_str().ok_or("mapping keys must be severity names")?;
            let sev = level(name).ok_or_else(|| format!("unknown severity {name:?} in mapping"))?;
            let items = match v {
                Yaml::Sequence(s) => s.clone(),
                other => vec![other.clone()],
            };
            for it in items {
                match it {
                    Yaml::String(s) if s.len() == 3 && s.ends_with("xx") => {
                        let d = s[..1]
                            .parse::<i64>()
                            .map_err(|_| format!("bad status class {s:?}"))?;
                        ranges.push((d * 100, d * 100 + 99, sev));
                    }
                    Yaml::String(s) => {
                        exact.insert(s.to_ascii_lowercase(), sev);
                        exact.insert(s, sev);
                    }
                    Yaml::Number(n) => {
                        exact.insert(n.to_string(), sev);
                    }
                    Yaml::Bool(b) => {
                        exact.insert(b.to_string(), sev);
                    }
                    Yaml::Mapping(m) => {
                        let get = |k: &str| m.get(k).and_then(Yaml::as_i64);
                        let (Some(min), Some(max)) = (get("min"), get("max")) else {
                            return Err(format!("mapping for {name}: a range needs min and max"));
                        };
                        ranges.push((min, max, sev));
                    }
                    other => {
                        return Err(format!("mapping for {name}: unsupported value {other:?}"))
                    }
                }
            }
        }
        Ok(SeverityParser {
            parse_from: self.parse_from.clone(),
            exact,
            ranges,
            overwrite_text: self.overwrite_text,
        })
    }
}

impl SeverityParser {
    pub fn apply(&self, e: &mut Entry) -> Result<(), String> {
        let v = e
            .get(&self.parse_from)
            .ok_or_else(|| format!("severity field {} is missing", self.parse_from))?;
        let text = as_text(v);
        let num = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        let sev = self
            .exact
            .get(&text)
            .or_else(|| self.exact.get(&text.to_ascii_lowercase()))
            .copied()
            .or_else(|| {
                let n = num?;
                self.ranges
                    .iter()
                    .rev()
                    .find(|(lo, hi, _)| (*lo..=*hi).contains(&n))
                    .map(|r| r.2)
            })
            .unwrap_or(0);
        e.severity = sev;
        e.severity_text = if self.overwrite_text && sev != 0 {
            short_name(sev).to_ascii_uppercase()
        } else {
            text
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_mapping() {
        let c: SeverityConfig = serde_yaml::from_str(
            "{parse_from: body, mapping: {error: [oops, 5xx], warn: {min: 400, max: 499}}}",
        )
        .unwrap();
        let p = c.build().unwrap();
        for (body, want) in [
            ("WARNING", 13),
            ("oops", 17),
            ("503", 17),
            ("404", 13),
            ("info", 9),
            ("zz", 0),
        ] {
            let mut e = Entry::new(Value::from(body));
            p.apply(&mut e).unwrap();
            assert_eq!(e.severity, want, "{body}");
            assert_eq!(e.severity_text, body);
        }
    }
}
