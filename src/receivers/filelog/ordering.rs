//! `ordering_criteria`, as otelcol's fileconsumer matcher applies it after the globs: only when
//! `sort_by` is set, the found paths are grouped by `group_by` (the first capture group; paths it does
//! not match are left out), and in each group the paths `regex` does not match are left out, each
//! `sort_by` entry sorts by one named capture (`numeric`, `alphabetical`, `timestamp`) or by
//! modification time (`mtime`) — paths whose value does not parse are left out — and the first
//! `top_n` (default 1) are kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use crate::config::ConfigError;
use crate::stanza::time::{strptime, strptime_pieces, Piece};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderingCriteria {
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub top_n: Option<i64>,
    #[serde(default)]
    pub sort_by: Vec<SortBy>,
    #[serde(default)]
    pub group_by: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortBy {
    #[serde(default)]
    pub sort_type: Option<String>,
    #[serde(default)]
    pub regex_key: String,
    #[serde(default)]
    pub ascending: bool,
    /// `timestamp`: the strptime layout of the capture.
    #[serde(default)]
    pub layout: String,
    /// `timestamp`: accepted; every capture is read in one zone, which leaves their order as it is.
    #[serde(default)]
    pub location: Option<String>,
}

#[derive(Debug, Clone)]
enum SortType {
    Numeric,
    Alphabetical,
    Timestamp(Vec<Piece>),
    Mtime,
}

#[derive(Debug, Clone)]
struct Sort {
    sort_type: SortType,
    regex_key: String,
    ascending: bool,
}

/// The compiled criteria.
#[derive(Debug, Clone)]
pub struct Ordering {
    regex: Option<regex::Regex>,
    group_by: Option<regex::Regex>,
    sorts: Vec<Sort>,
    top_n: usize,
}

/// A path and the named captures of `regex` in it.
type Item = (PathBuf, BTreeMap<String, String>);

/// A sortable value of one path.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Value {
    Int(i64),
    Text(String),
    Time(u64),
    Mtime(SystemTime),
}

impl OrderingCriteria {
    /// The criteria, or None when `sort_by` is empty (then nothing is filtered or ordered, as in
    /// otelcol). Errors go to `errors` with their key paths under `path`.
    pub fn build(&self, path: &str, errors: &mut Vec<ConfigError>) -> Option<Ordering> {
        let mut err = |k: &str, m: String| errors.push(ConfigError::new(format!("{path}::{k}"), m));
        let regex = match self.regex.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => match regex::Regex::new(r) {
                Ok(r) => Some(r),
                Err(e) => {
                    err("regex", format!("invalid regular expression: {e}"));
                    None
                }
            },
            None => None,
        };
        let group_by = match self.group_by.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => match regex::Regex::new(r) {
                Ok(r) if r.captures_len() > 1 => Some(r),
                Ok(_) => {
                    err(
                        "group_by",
                        "needs a capture group: its first capture names the group".into(),
                    );
                    None
                }
                Err(e) => {
                    err("group_by", format!("invalid regular expression: {e}"));
                    None
                }
            },
            None => None,
        };
        if self.sort_by.is_empty() {
            return None;
        }
        let top_n = match self.top_n {
            None | Some(0) => 1,
            Some(n) if n < 0 => {
                err("top_n", "'top_n' must be a positive integer".into());
                1
            }
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let mut sorts = Vec::new();
        let mut needs_regex = false;
        for (i, s) in self.sort_by.iter().enumerate() {
            let at = format!("sort_by::{i}");
            let sort_type = match s
                .sort_type
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("numeric") => SortType::Numeric,
                Some("alphabetical") => SortType::Alphabetical,
                Some("timestamp") => {
                    if s.layout.is_empty() {
                        err(&format!("{at}::layout"), "layout must be specified".into());
                        continue;
                    }
                    match strptime_pieces(&s.layout) {
                        Ok(p) => SortType::Timestamp(p),
                        Err(e) => {
                            err(&format!("{at}::layout"), e);
                            continue;
                        }
                    }
                }
                Some("mtime") => SortType::Mtime,
                Some(other) => {
                    err(
                        &format!("{at}::sort_type"),
                        format!(
                            "invalid sort_type {other:?} (numeric, alphabetical, timestamp, mtime)"
                        ),
                    );
                    continue;
                }
                None => {
                    err(
                        &format!("{at}::sort_type"),
                        "'sort_type' must be specified".into(),
                    );
                    continue;
                }
            };
            if !matches!(sort_type, SortType::Mtime) {
                needs_regex = true;
                if s.regex_key.is_empty() {
                    err(
                        &format!("{at}::regex_key"),
                        "regex key must be specified".into(),
                    );
                    continue;
                }
                if let Some(r) = &regex {
                    if !r.capture_names().flatten().any(|n| n == s.regex_key) {
                        err(
                            &format!("{at}::regex_key"),
                            format!("{:?} is not a named capture of regex", s.regex_key),
                        );
                    }
                }
            }
            sorts.push(Sort {
                sort_type,
                regex_key: s.regex_key.clone(),
                ascending: s.ascending,
            });
        }
        if needs_regex && regex.is_none() && self.regex.as_deref().is_none_or(str::is_empty) {
            err(
                "regex",
                "'regex' must be specified when 'sort_by' is specified".into(),
            );
        }
        Some(Ordering {
            regex,
            group_by,
            sorts,
            top_n,
        })
    }
}

impl Ordering {
    /// The paths to read this poll, group after group (groups in name order).
    pub fn select(&self, paths: Vec<PathBuf>) -> Vec<PathBuf> {
        let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for p in paths {
            let key = match &self.group_by {
                Some(g) => {
                    let text = p.to_string_lossy();
                    match g.captures(&text).and_then(|c| c.get(1)) {
                        Some(m) => m.as_str().to_string(),
                        None => continue,
                    }
                }
                None => String::new(),
            };
            groups.entry(key).or_default().push(p);
        }
        let mut out = Vec::new();
        for (_, files) in groups {
            out.extend(self.order(files));
        }
        out
    }

    fn order(&self, files: Vec<PathBuf>) -> Vec<PathBuf> {
        // Each path with its captures (as text); paths `regex` does not match are left out.
        let mut items: Vec<Item> = Vec::new();
        for p in files {
            let mut caps = BTreeMap::new();
            if let Some(r) = &self.regex {
                let text = p.to_string_lossy().into_owned();
                let Some(c) = r.captures(&text) else {
                    continue;
                };
                for name in r.capture_names().flatten() {
                    if let Some(m) = c.name(name) {
                        caps.insert(name.to_string(), m.as_str().to_string());
                    }
                }
            }
            items.push((p, caps));
        }
        // Each sort in turn, stable: the last `sort_by` entry decides, earlier ones break its ties.
        for s in &self.sorts {
            let mut keyed: Vec<(Value, Item)> = items
                .into_iter()
                .filter_map(|it| Some((s.value(&it.0, &it.1)?, it)))
                .collect();
            keyed.sort_by(|a, b| {
                let o = a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal);
                if s.ascending {
                    o
                } else {
                    o.reverse()
                }
            });
            items = keyed.into_iter().map(|(_, it)| it).collect();
        }
        items.truncate(self.top_n);
        items.into_iter().map(|(p, _)| p).collect()
    }
}

impl Sort {
    fn value(&self, path: &Path, caps: &BTreeMap<String, String>) -> Option<Value> {
        let cap = || caps.get(&self.regex_key).map(String::as_str).unwrap_or("");
        match &self.sort_type {
            SortType::Numeric => cap().parse::<i64>().ok().map(Value::Int),
            SortType::Alphabetical => Some(Value::Text(cap().to_string())),
            SortType::Timestamp(p) => strptime(p, cap()).ok().map(Value::Time),
            SortType::Mtime => std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .map(Value::Mtime),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordering(yaml: &str) -> Ordering {
        let c: OrderingCriteria = serde_yaml::from_str(yaml).unwrap();
        let mut errors = Vec::new();
        let o = c.build("oc", &mut errors).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        o
    }

    fn errors(yaml: &str) -> Vec<String> {
        let c: OrderingCriteria = serde_yaml::from_str(yaml).unwrap();
        let mut errors = Vec::new();
        c.build("oc", &mut errors);
        errors.iter().map(|e| e.to_string()).collect()
    }

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn numeric_descending_keeps_the_top_n() {
        let o = ordering(
            r#"{regex: 'app\.(?P<n>\d+)\.log$', top_n: 2, sort_by: [{sort_type: numeric, regex_key: n}]}"#,
        );
        let got = o.select(paths(&[
            "/l/app.2.log",
            "/l/app.10.log",
            "/l/app.x.log",
            "/l/other.log",
            "/l/app.9.log",
        ]));
        assert_eq!(got, paths(&["/l/app.10.log", "/l/app.9.log"]));
    }

    #[test]
    fn timestamp_alphabetical_and_groups() {
        let o = ordering(
            r#"{regex: '(?P<svc>[a-z]+)-(?P<day>\d{8})\.log$', group_by: '/(?P<svc>[a-z]+)-', sort_by: [{sort_type: timestamp, regex_key: day, layout: '%Y%m%d'}]}"#,
        );
        let got = o.select(paths(&[
            "/l/api-20240101.log",
            "/l/api-20240315.log",
            "/l/web-20231231.log",
            "/l/web-20240201.log",
            "/l/web-2024020.log",
        ]));
        // One per group (the newest); a name the regex does not match is left out.
        assert_eq!(got, paths(&["/l/api-20240315.log", "/l/web-20240201.log"]));
        let o = ordering(
            r#"{regex: '(?P<name>[a-z]+)\.log$', top_n: 3, sort_by: [{sort_type: alphabetical, regex_key: name, ascending: true}]}"#,
        );
        assert_eq!(
            o.select(paths(&["/c.log", "/a.log", "/d.log", "/b.log"])),
            paths(&["/a.log", "/b.log", "/c.log"])
        );
    }

    #[test]
    fn without_sort_by_nothing_changes_and_bad_criteria_name_their_keys() {
        let c: OrderingCriteria = serde_yaml::from_str("{top_n: 3}").unwrap();
        assert!(c.build("oc", &mut Vec::new()).is_none());
        let e = errors("{top_n: -1, sort_by: [{sort_type: numeric, regex_key: n}]}");
        assert!(e.iter().any(|e| e.contains("oc::top_n")), "{e:?}");
        assert!(e.iter().any(|e| e.contains("oc::regex")), "{e:?}");
        let e = errors(
            "{regex: '(?P<n>x)', sort_by: [{sort_type: sideways}, {sort_type: timestamp, regex_key: n}, {sort_type: numeric, regex_key: m}], group_by: 'nocapture'}",
        );
        for k in [
            "oc::sort_by::0::sort_type",
            "oc::sort_by::1::layout",
            "oc::sort_by::2::regex_key",
            "oc::group_by",
        ] {
            assert!(e.iter().any(|e| e.contains(k)), "{k}: {e:?}");
        }
    }
}
