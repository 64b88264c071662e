//! Prometheus relabeling (`relabel_configs`, `metric_relabel_configs`) with every action Prometheus
//! has: replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep,
//! lowercase, uppercase.

use regex::Regex;
use serde::Deserialize;

use crate::config::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default)]
    pub source_labels: Vec<String>,
    #[serde(default = "semicolon")]
    pub separator: String,
    #[serde(default)]
    pub target_label: String,
    #[serde(default = "all")]
    pub regex: String,
    #[serde(default)]
    pub modulus: u64,
    #[serde(default = "dollar1")]
    pub replacement: String,
    #[serde(default = "replace")]
    pub action: String,
}

fn semicolon() -> String {
    ";".into()
}
fn all() -> String {
    "(.*)".into()
}
fn dollar1() -> String {
    "$1".into()
}
fn replace() -> String {
    "replace".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

/// A relabel rule, compiled once at config time.
#[derive(Debug, Clone)]
pub struct Rule {
    source_labels: Vec<String>,
    separator: String,
    target_label: String,
    regex: Regex,
    modulus: u64,
    replacement: String,
    action: Action,
}

impl RelabelConfig {
    pub fn compile(&self, path: &str, errors: &mut Vec<ConfigError>) -> Option<Rule> {
        let action = match self.action.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            other => {
                errors.push(ConfigError::new(
                    format!("{path}::action"),
                    format!("unknown relabel action {other:?} (replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase)"),
                ));
                return None;
            }
        };
        // Prometheus anchors the expression at both ends.
        let regex = match Regex::new(&format!("^(?:{})$", self.regex)) {
            Ok(r) => r,
            Err(e) => {
                errors.push(ConfigError::new(
                    format!("{path}::regex"),
                    format!("invalid regular expression: {e}"),
                ));
                return None;
            }
        };
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::target_label"),
                format!(
                    "relabel configuration for {} action requires 'target_label' value",
                    self.action
                ),
            ));
        }
        if action == Action::HashMod && self.modulus == 0 {
            errors.push(ConfigError::new(
                format!("{path}::modulus"),
                "relabel configuration for hashmod requires non-zero modulus",
            ));
        }
        Some(Rule {
            source_labels: self.source_labels.clone(),
            separator: self.separator.clone(),
            target_label: self.target_label.clone(),
            regex,
            modulus: self.modulus,
            replacement: self.replacement.clone(),
            action,
        })
    }
}

fn get<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn set(labels: &mut Vec<(String, String)>, name: &str, value: String) {
    if value.is_empty() {
        labels.retain(|(k, _)| k != name);
        return;
    }
    match labels.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value,
        None => labels.push((name.to_string(), value)),
    }
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Applies the rules in order. `None`: the series (or target) is dropped.
pub fn apply(rules: &[Rule], mut labels: Vec<(String, String)>) -> Option<Vec<(String, String)>> {
    for r in rules {
        let value = r
            .source_labels
            .iter()
            .map(|s| get(&labels, s))
            .collect::<Vec<_>>()
            .join(&r.separator);
        match r.action {
            Action::Drop => {
                if r.regex.is_match(&value) {
                    return None;
                }
            }
            Action::Keep => {
                if !r.regex.is_match(&value) {
                    return None;
                }
            }
            Action::DropEqual => {
                if value == get(&labels, &r.target_label) {
                    return None;
                }
            }
            Action::KeepEqual => {
                if value != get(&labels, &r.target_label) {
                    return None;
                }
            }
            Action::Replace => {
                let Some(caps) = r.regex.captures(&value) else {
                    continue;
                };
                let mut target = String::new();
                caps.expand(&r.target_label, &mut target);
                if !valid_label_name(&target) {
                    continue;
                }
                let mut res = String::new();
                caps.expand(&r.replacement, &mut res);
                set(&mut labels, &target, res);
            }
            Action::Lowercase => set(&mut labels, &r.target_label, value.to_lowercase()),
            Action::Uppercase => set(&mut labels, &r.target_label, value.to_uppercase()),
            Action::HashMod => {
                // Prometheus: the first 8 bytes of the MD5 sum, big-endian, modulo `modulus`. We
                // use SHA-256's first 8 bytes: the same spread, but shards differ from Prometheus'
                // (documented).
                use sha2::Digest;
                let d = sha2::Sha256::digest(value.as_bytes());
                let mut b = [0u8; 8];
                b.copy_from_slice(&d[..8]);
                let m = u64::from_be_bytes(b) % r.modulus.max(1);
                set(&mut labels, &r.target_label, m.to_string());
            }
            Action::LabelMap => {
                let mut add = Vec::new();
                for (k, v) in &labels {
                    if let Some(caps) = r.regex.captures(k) {
                        let mut name = String::new();
                        caps.expand(&r.replacement, &mut name);
                        add.push((name, v.clone()));
                    }
                }
                for (k, v) in add {
                    set(&mut labels, &k, v);
                }
            }
            Action::LabelDrop => labels.retain(|(k, _)| !r.regex.is_match(k)),
            Action::LabelKeep => labels.retain(|(k, _)| r.regex.is_match(k)),
        }
    }
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> Rule {
        let c: RelabelConfig = serde_yaml::from_str(yaml).unwrap();
        let mut errs = Vec::new();
        let r = c.compile("r", &mut errs).unwrap();
        assert!(errs.is_empty(), "{errs:?}");
        r
    }

    fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn actions() {
        let base = l(&[
            ("__name__", "go_gc_duration_seconds"),
            ("a", "x"),
            ("b", "x"),
        ]);
        assert!(apply(
            &[rule(
                "{source_labels: [__name__], regex: 'go_.*', action: drop}"
            )],
            base.clone()
        )
        .is_none());
        assert!(
            apply(
                &[rule(
                    "{source_labels: [__name__], regex: 'go', action: drop}"
                )],
                base.clone()
            )
            .is_some(),
            "anchored"
        );
        assert!(apply(
            &[rule(
                "{source_labels: [__name__], regex: 'node_.*', action: keep}"
            )],
            base.clone()
        )
        .is_none());
        let out = apply(
            &[rule("{source_labels: [a, b], separator: '-', target_label: c, regex: '(.*)-(.*)', replacement: '${2}_$1'}")],
            base.clone(),
        )
        .unwrap();
        assert_eq!(get(&out, "c"), "x_x");
        let out = apply(
            &[rule(
                "{regex: '(a|b)', replacement: 'new_$1', action: labelmap}",
            )],
            base.clone(),
        )
        .unwrap();
        assert_eq!(get(&out, "new_a"), "x");
        let out = apply(&[rule("{regex: 'a', action: labeldrop}")], base.clone()).unwrap();
        assert_eq!(get(&out, "a"), "");
        let out = apply(
            &[rule("{regex: '__name__|a', action: labelkeep}")],
            base.clone(),
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        assert!(apply(
            &[rule(
                "{source_labels: [a], target_label: b, action: dropequal}"
            )],
            base.clone()
        )
        .is_none());
        assert!(apply(
            &[rule(
                "{source_labels: [a], target_label: b, action: keepequal}"
            )],
            base.clone()
        )
        .is_some());
        let out = apply(
            &[rule(
                "{source_labels: [a], target_label: u, action: uppercase}",
            )],
            base.clone(),
        )
        .unwrap();
        assert_eq!(get(&out, "u"), "X");
        let out = apply(
            &[rule(
                "{source_labels: [a], target_label: h, modulus: 4, action: hashmod}",
            )],
            base.clone(),
        )
        .unwrap();
        assert!(get(&out, "h").parse::<u64>().unwrap() < 4);
        // An empty replacement removes the label.
        let out = apply(
            &[rule(
                "{source_labels: [a], target_label: a, replacement: ''}",
            )],
            base,
        )
        .unwrap();
        assert_eq!(get(&out, "a"), "");
    }

    #[test]
    fn bad_rules_name_their_key() {
        let mut errs = Vec::new();
        let c: RelabelConfig = serde_yaml::from_str("{action: nope}").unwrap();
        c.compile("p", &mut errs);
        let c: RelabelConfig = serde_yaml::from_str("{regex: '('}").unwrap();
        c.compile("q", &mut errs);
        let c: RelabelConfig = serde_yaml::from_str("{action: hashmod, target_label: x}").unwrap();
        c.compile("r", &mut errs);
        let paths: Vec<_> = errs.iter().map(|e| e.path.clone()).collect();
        assert_eq!(paths, ["p::action", "q::regex", "r::modulus"]);
    }
}
