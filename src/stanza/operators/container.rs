//! `container`: Docker JSON, CRI-O and containerd (CRI) lines, partial lines joined, and Kubernetes
//! metadata from the `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log` path.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use serde_yaml::Mapping;

use super::recombine::Combiner;
use super::{parse_cfg, BuildError, Operator};
use crate::stanza::entry::{as_text, Entry, Field, Root};
use crate::stanza::time::{rfc3339_utc, strptime, strptime_pieces, Piece};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cfg {
    #[serde(default)]
    format: Option<String>,
    #[serde(default = "yes")]
    add_metadata_from_filepath: bool,
    #[serde(default)]
    max_log_size: Option<serde_yaml::Value>,
    #[serde(default = "Field::body")]
    parse_from: Field,
}
fn yes() -> bool {
    true
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Auto,
    Docker,
    Cri,
}

pub struct Container {
    format: Format,
    metadata: bool,
    parse_from: Field,
    time: Vec<Piece>,
    partial: Combiner,
    /// k8s metadata per path: the regex runs once per file, not per line.
    paths: HashMap<String, Option<[(&'static str, String); 5]>>,
}

pub fn build(m: Mapping, at: &str) -> Result<(Container, Vec<String>), BuildError> {
    let c: Cfg = parse_cfg(&m, at)?;
    let format = match c.format.as_deref() {
        None | Some("") => Format::Auto,
        Some("docker") => Format::Docker,
        Some("crio") | Some("containerd") => Format::Cri,
        Some(f) => {
            return Err((
                format!("{at}::format"),
                format!("invalid format {f:?} (docker, crio, containerd)"),
            ))
        }
    };
    let max = match &c.max_log_size {
        None => 0,
        Some(v) => crate::receivers::filelog::config::byte_size(v)
            .map_err(|e| (format!("{at}::max_log_size"), e))? as usize,
    };
    Ok((
        Container {
            format,
            metadata: c.add_metadata_from_filepath,
            parse_from: c.parse_from,
            time: strptime_pieces("%Y-%m-%dT%H:%M:%S.%f%z").expect("valid layout"),
            partial: Combiner {
                field: Field::body(),
                with: String::new(),
                max_batch: 1000,
                max_unmatched: 1000,
                max_size: max,
                flush_period: Duration::from_secs(5),
                oldest: false,
                batches: HashMap::new(),
            },
            paths: HashMap::new(),
        },
        vec![],
    ))
}

fn path_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^.*/(?P<namespace>[^_/]+)_(?P<pod_name>[^_/]+)_(?P<uid>[a-f0-9\-]+)/(?P<container_name>[^\._/]+)/(?P<restart_count>\d+)\.log(?:\.[^/]*)?$")
            .expect("valid")
    })
}

impl Container {
    fn parse_time(&self, s: &str) -> Result<u64, String> {
        if let Some(t) = rfc3339_utc(s) {
            return Ok(t);
        }
        strptime(&self.time, s)
            .or_else(|_| strptime(&strptime_pieces("%Y-%m-%dT%H:%M:%S%z").expect("valid"), s))
    }

    fn metadata(&mut self, e: &mut Entry) -> Result<(), String> {
        let path: std::borrow::Cow<'_, str> = match e.attributes.get("log.file.path") {
            Some(Value::String(s)) => std::borrow::Cow::Borrowed(s.as_str()),
            Some(other) => std::borrow::Cow::Owned(as_text(other)),
            None => {
                return Err(
                    "log.file.path is missing: set include_file_path: true for k8s metadata".into(),
                )
            }
        };
        let meta = match self.paths.get(path.as_ref()) {
            Some(m) => m.clone(),
            None => self
                .paths
                .entry(path.to_string())
                .or_insert_with(|| {
                    let c = path_re().captures(&path)?;
                    Some([
                        ("k8s.namespace.name", c["namespace"].to_string()),
                        ("k8s.pod.name", c["pod_name"].to_string()),
                        ("k8s.pod.uid", c["uid"].to_string()),
                        ("k8s.container.name", c["container_name"].to_string()),
                        (
                            "k8s.container.restart_count",
                            c["restart_count"].to_string(),
                        ),
                    ])
                })
                .clone(),
        };
        if self.paths.len() > 10_000 {
            self.paths.clear();
        }
        let Some(meta) = meta else {
            return Err(format!("path {path:?} does not match /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log"));
        };
        for (k, v) in meta {
            e.resource.insert(k.to_string(), Value::String(v));
        }
        Ok(())
    }
}

impl Operator for Container {
    fn process(
        &mut self,
        mut e: Entry,
        out: &mut Vec<(usize, Entry)>,
    ) -> Result<(), (String, Entry)> {
        // The line is taken out of the entry (not copied) when it is the whole body; on an error before
        // the body is replaced it is put back, so the entry leaves as it came.
        let whole_body = self.parse_from.root == Root::Body && self.parse_from.path.is_empty();
        let line: String = if whole_body {
            match std::mem::take(&mut e.body) {
                Value::String(l) => l,
                other => {
                    e.body = other;
                    return Err(("container: body is not a string".into(), e));
                }
            }
        } else {
            match e.get(&self.parse_from) {
                Some(Value::String(l)) => l.clone(),
                _ => return Err(("container: body is not a string".into(), e)),
            }
        };
        let restore = |mut e: Entry, line: String, msg: String| {
            if whole_body {
                e.body = Value::String(line);
            }
            (msg, e)
        };
        let format = match self.format {
            Format::Auto if line.starts_with('{') => Format::Docker,
            Format::Auto => Format::Cri,
            f => f,
        };
        let (log, stream, partial) = match format {
            Format::Docker => {
                let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&line) else {
                    return Err(restore(
                        e,
                        line,
                        "container: invalid docker JSON line".into(),
                    ));
                };
                let log = match m.remove("log") {
                    Some(Value::String(s)) => s,
                    _ => {
                        return Err(restore(
                            e,
                            line,
                            "container: docker line has no log field".into(),
                        ))
                    }
                };
                let stream = m.remove("stream").map(|v| as_text(&v)).unwrap_or_default();
                let time = m.remove("time").map(|v| as_text(&v)).unwrap_or_default();
                match self.parse_time(&time) {
                    Ok(t) => e.timestamp = t,
                    Err(m) => return Err(restore(e, line, format!("container: time: {m}"))),
                }
                let partial = !log.ends_with('\n');
                let log = log.strip_suffix('\n').map(str::to_string).unwrap_or(log);
                (log, stream, partial)
            }
            _ => {
                // <time> <stream> <P|F> <log>: the pieces' ends, found without copying the line.
                let cut = line.split_once(' ').and_then(|(t, r)| {
                    let (s, r) = r.split_once(' ')?;
                    let (tag, log) = r.split_once(' ').unwrap_or((r, ""));
                    Some((t.len(), s.len(), tag.len(), line.len() - log.len()))
                });
                let Some((tl, sl, gl, log_start)) = cut else {
                    return Err(restore(
                        e,
                        line,
                        "container: not a CRI line (<time> <stream> <P|F> <log>)".into(),
                    ));
                };
                let tag = &line[tl + sl + 2..tl + sl + 2 + gl];
                let stream = line[tl + 1..tl + 1 + sl].to_string();
                let partial = tag.starts_with('P');
                e.attributes.insert("logtag".into(), Value::from(tag));
                match self.parse_time(&line[..tl]) {
                    Ok(t) => e.timestamp = t,
                    Err(m) => return Err(restore(e, line, format!("container: time: {m}"))),
                }
                // The log is the end of the line: cut in place, in the line's own allocation.
                let mut log = line;
                log.drain(..log_start.min(log.len()));
                (log, stream, partial)
            }
        };
        e.body = Value::String(log);
        // A complete line with no partial lines pending anywhere passes straight on: no key needed.
        let straight = !partial && self.partial.batches.is_empty();
        let key_stream = if straight {
            String::new()
        } else {
            stream.clone()
        };
        e.attributes
            .insert("log.iostream".into(), Value::String(stream));
        if self.metadata {
            if let Err(m) = self.metadata(&mut e) {
                return Err((format!("container: {m}"), e));
            }
        }
        if straight {
            out.push((0, e));
            return Ok(());
        }
        let key = format!(
            "{}\u{0}{key_stream}",
            e.attributes
                .get("log.file.path")
                .map(as_text)
                .unwrap_or_default()
        );
        if !partial && !self.partial.batches.contains_key(&key) {
            out.push((0, e));
            return Ok(());
        }
        if format == Format::Cri {
            e.attributes.insert("logtag".into(), Value::from("F"));
        }
        self.partial.add(key, e, false, !partial, out);
        Ok(())
    }
    fn flush(&mut self, now: Instant, force: bool, out: &mut Vec<(usize, Entry)>) {
        self.partial.flush(now, force, out)
    }
    fn held_min_offset(&self, reader: u64) -> Option<u64> {
        self.partial.held_min_offset(reader)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;

    #[test]
    fn cri_and_docker() {
        let out = run(
            "[{type: container}]",
            &[
                "2024-01-02T03:04:05.123456789Z stdout P hello ",
                "2024-01-02T03:04:05.2Z stdout F world",
                "2024-01-02T03:04:06Z stderr F oops",
                r#"{"log":"part1 ","stream":"stdout","time":"2024-01-02T03:04:05.5Z"}"#,
                r#"{"log":"part2\n","stream":"stdout","time":"2024-01-02T03:04:05.6Z"}"#,
            ],
        );
        let bodies: Vec<_> = out
            .iter()
            .map(|e| e.body.as_str().unwrap().to_string())
            .collect();
        assert_eq!(bodies, vec!["hello world", "oops", "part1 part2"]);
        assert_eq!(out[0].resource["k8s.pod.name"], "pod-a");
        assert_eq!(out[0].resource["k8s.namespace.name"], "ns1");
        assert_eq!(out[0].resource["k8s.container.restart_count"], "2");
        assert_eq!(out[1].attributes["log.iostream"], "stderr");
        assert_eq!(out[0].attributes["logtag"], "F");
    }
}
