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
use crate::stanza::entry::{as_text, Entry, Field};
use crate::stanza::time::{strptime, strptime_pieces, Piece};

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
        strptime(&self.time, s)
            .or_else(|_| strptime(&strptime_pieces("%Y-%m-%dT%H:%M:%S%z").expect("valid"), s))
    }

    fn metadata(&mut self, e: &mut Entry) -> Result<(), String> {
        let Some(path) = e.attributes.get("log.file.path").map(as_text) else {
            return Err(
                "log.file.path is missing: set include_file_path: true for k8s metadata".into(),
            );
        };
        let meta = self
            .paths
            .entry(path.clone())
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
            .clone();
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
        let line = match e.get(&self.parse_from) {
            Some(Value::String(l)) => l.clone(),
            _ => return Err(("container: body is not a string".into(), e)),
        };
        let line = line.as_str();
        let format = match self.format {
            Format::Auto if line.starts_with('{') => Format::Docker,
            Format::Auto => Format::Cri,
            f => f,
        };
        let (log, stream, partial, ts) = match format {
            Format::Docker => {
                let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(line) else {
                    return Err(("container: invalid docker JSON line".into(), e));
                };
                let log = match m.remove("log") {
                    Some(Value::String(s)) => s,
                    _ => return Err(("container: docker line has no log field".into(), e)),
                };
                let stream = m.remove("stream").map(|v| as_text(&v)).unwrap_or_default();
                let time = m.remove("time").map(|v| as_text(&v)).unwrap_or_default();
                let partial = !log.ends_with('\n');
                let log = log.strip_suffix('\n').map(str::to_string).unwrap_or(log);
                (log, stream, partial, time)
            }
            _ => {
                // <time> <stream> <P|F> <log>
                let mut it = line.splitn(4, ' ');
                let (Some(t), Some(s), Some(tag)) = (it.next(), it.next(), it.next()) else {
                    return Err((
                        "container: not a CRI line (<time> <stream> <P|F> <log>)".into(),
                        e,
                    ));
                };
                let log = it.next().unwrap_or("").to_string();
                e.attributes.insert("logtag".into(), Value::from(tag));
                (log, s.to_string(), tag.starts_with('P'), t.to_string())
            }
        };
        match self.parse_time(&ts) {
            Ok(t) => e.timestamp = t,
            Err(m) => return Err((format!("container: time: {m}"), e)),
        }
        e.body = Value::String(log);
        e.attributes
            .insert("log.iostream".into(), Value::String(stream.clone()));
        if self.metadata {
            if let Err(m) = self.metadata(&mut e) {
                return Err((format!("container: {m}"), e));
            }
        }
        let key = format!(
            "{}\u{0}{stream}",
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
