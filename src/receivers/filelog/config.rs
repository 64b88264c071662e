//! `filelog` config: otelcol's keys and defaults.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;

use super::header::{Header, HeaderConfig};
use super::ordering::{Ordering, OrderingCriteria};
use crate::config::{duration, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default, with = "duration")]
    pub exclude_older_than: Duration,
    #[serde(default = "end")]
    pub start_at: String,
    #[serde(default = "d200ms", with = "duration")]
    pub poll_interval: Duration,
    #[serde(default = "d1024")]
    pub max_concurrent_files: usize,
    #[serde(default)]
    pub max_batches: usize,
    #[serde(default = "fp_default")]
    pub fingerprint_size: Yaml,
    #[serde(default = "max_log_default")]
    pub max_log_size: Yaml,
    #[serde(default = "utf8")]
    pub encoding: String,
    #[serde(default)]
    pub multiline: Option<Multiline>,
    #[serde(default = "d500ms", with = "duration")]
    pub force_flush_period: Duration,
    #[serde(default = "yes")]
    pub include_file_name: bool,
    #[serde(default)]
    pub include_file_path: bool,
    #[serde(default)]
    pub include_file_name_resolved: bool,
    #[serde(default)]
    pub include_file_path_resolved: bool,
    #[serde(default)]
    pub include_file_owner_name: bool,
    #[serde(default)]
    pub include_file_owner_group_name: bool,
    #[serde(default)]
    pub include_file_record_number: bool,
    #[serde(default)]
    pub include_file_record_offset: bool,
    #[serde(default)]
    pub delete_after_read: bool,
    #[serde(default)]
    pub compression: String,
    #[serde(default)]
    pub ordering_criteria: Option<OrderingCriteria>,
    #[serde(default)]
    pub header: Option<HeaderConfig>,
    #[serde(default)]
    pub retry_on_failure: RetryOnFailure,
    #[serde(default)]
    pub attributes: Map<String, Value>,
    #[serde(default)]
    pub resource: Map<String, Value>,
    #[serde(default)]
    pub storage: Option<String>,
    #[serde(default)]
    pub operators: Vec<Yaml>,
    #[serde(default)]
    pub preserve_leading_whitespaces: bool,
    #[serde(default)]
    pub preserve_trailing_whitespaces: bool,
    #[serde(default)]
    pub acquire_fs_lock: bool,
    #[serde(default)]
    pub polls_to_archive: Option<u64>,
    #[serde(default)]
    pub max_log_size_behavior: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Multiline {
    #[serde(default)]
    pub line_start_pattern: Option<String>,
    #[serde(default)]
    pub line_end_pattern: Option<String>,
    #[serde(default)]
    pub omit_pattern: bool,
}

/// otelcol's `consumerretry`: off by default. ferrotel pauses reading on a retryable refusal either
/// way (a file is never read ahead of what the pipeline took); `enabled` adds `max_elapsed_time`,
/// after which the batch is dropped as otelcol does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryOnFailure {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "d1s", with = "duration")]
    pub initial_interval: Duration,
    #[serde(default = "d30s", with = "duration")]
    pub max_interval: Duration,
    #[serde(default = "d5m", with = "duration")]
    pub max_elapsed_time: Duration,
}

impl Default for RetryOnFailure {
    fn default() -> Self {
        RetryOnFailure {
            enabled: false,
            initial_interval: d1s(),
            max_interval: d30s(),
            max_elapsed_time: d5m(),
        }
    }
}

fn end() -> String {
    "end".into()
}
fn d200ms() -> Duration {
    Duration::from_millis(200)
}
fn d500ms() -> Duration {
    Duration::from_millis(500)
}
fn d1s() -> Duration {
    Duration::from_secs(1)
}
fn d30s() -> Duration {
    Duration::from_secs(30)
}
fn d5m() -> Duration {
    Duration::from_secs(300)
}
fn d1024() -> usize {
    1024
}
fn yes() -> bool {
    true
}
fn utf8() -> String {
    "utf-8".into()
}
fn fp_default() -> Yaml {
    Yaml::String("1kb".into())
}
fn max_log_default() -> Yaml {
    Yaml::String("1MiB".into())
}

/// A byte size as otelcol reads it (go-humanize): an integer, or a number with `b`, `kb` (1000),
/// `kib` (1024), `mb`, `mib`, `gb`, `gib` (case-insensitive).
pub fn byte_size(v: &Yaml) -> Result<u64, String> {
    match v {
        Yaml::Number(n) => n.as_u64().ok_or_else(|| format!("invalid byte size {n}")),
        Yaml::String(s) => {
            let t = s.trim().to_ascii_lowercase();
            let split = t
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(t.len());
            let (num, unit) = t.split_at(split);
            let num: f64 = num
                .parse()
                .map_err(|_| format!("invalid byte size {s:?}"))?;
            let mult: u64 = match unit.trim() {
                "" | "b" => 1,
                "kb" | "k" => 1000,
                "kib" | "ki" => 1024,
                "mb" | "m" => 1000 * 1000,
                "mib" | "mi" => 1024 * 1024,
                "gb" | "g" => 1000 * 1000 * 1000,
                "gib" | "gi" => 1024 * 1024 * 1024,
                u => return Err(format!("invalid byte size {s:?}: unknown unit {u:?}")),
            };
            Ok((num * mult as f64) as u64)
        }
        other => Err(format!("invalid byte size {other:?}")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    Ascii,
    Nop,
}

/// The config with sizes and patterns resolved, as the reader uses it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub fingerprint_size: usize,
    pub max_log_size: usize,
    pub encoding: Encoding,
    pub line_start: Option<regex::Regex>,
    pub line_end: Option<regex::Regex>,
    pub omit_pattern: bool,
    pub gzip: Gzip,
    pub ordering: Option<Ordering>,
    pub header: Option<Header>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gzip {
    Never,
    Always,
    ByExtension,
}

impl Config {
    /// Checks every key, returning the resolved settings or every error with its key path.
    pub fn validate(&self, path: &str) -> Result<Resolved, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut err = |k: &str, m: String| errors.push(ConfigError::new(format!("{path}::{k}"), m));
        if self.include.is_empty() {
            err("include", "at least one include pattern is required".into());
        }
        for (k, list) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, p) in list.iter().enumerate() {
                if let Err(e) = super::glob::Glob::new(p) {
                    err(&format!("{k}::{i}"), e);
                }
            }
        }
        if !["end", "beginning"].contains(&self.start_at.as_str()) {
            err(
                "start_at",
                format!("invalid start_at {:?} (end, beginning)", self.start_at),
            );
        }
        if self.poll_interval.is_zero() {
            err("poll_interval", "must be positive".into());
        }
        if self.max_concurrent_files < 1 {
            err("max_concurrent_files", "must be positive".into());
        }
        let fingerprint_size = match byte_size(&self.fingerprint_size) {
            Ok(n) if n >= 16 => n as usize,
            Ok(_) => {
                err("fingerprint_size", "must be at least 16 bytes".into());
                1000
            }
            Err(e) => {
                err("fingerprint_size", e);
                1000
            }
        };
        let max_log_size = match byte_size(&self.max_log_size) {
            Ok(n) if n > 0 => n as usize,
            Ok(_) => {
                err("max_log_size", "must be positive".into());
                1 << 20
            }
            Err(e) => {
                err("max_log_size", e);
                1 << 20
            }
        };
        let encoding = match self.encoding.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" | "" => Encoding::Utf8,
            "utf-16le" | "utf16le" => Encoding::Utf16Le,
            "utf-16be" | "utf16be" => Encoding::Utf16Be,
            "ascii" | "us-ascii" => Encoding::Ascii,
            "nop" => Encoding::Nop,
            e => {
                err(
                    "encoding",
                    format!("unsupported encoding {e:?} (utf-8, utf-16le, utf-16be, ascii, nop)"),
                );
                Encoding::Utf8
            }
        };
        let mut line_start = None;
        let mut line_end = None;
        let mut omit_pattern = false;
        if let Some(m) = &self.multiline {
            omit_pattern = m.omit_pattern;
            match (&m.line_start_pattern, &m.line_end_pattern) {
                (Some(_), Some(_)) => err(
                    "multiline",
                    "only one of line_start_pattern or line_end_pattern can be set".into(),
                ),
                (None, None) => err(
                    "multiline",
                    "one of line_start_pattern or line_end_pattern must be set".into(),
                ),
                (Some(p), None) => match regex::Regex::new(p) {
                    Ok(r) => line_start = Some(r),
                    Err(e) => err("multiline::line_start_pattern", e.to_string()),
                },
                (None, Some(p)) => match regex::Regex::new(p) {
                    Ok(r) => line_end = Some(r),
                    Err(e) => err("multiline::line_end_pattern", e.to_string()),
                },
            }
        }
        let gzip = match self.compression.as_str() {
            "" => Gzip::Never,
            "gzip" => Gzip::Always,
            "auto" => Gzip::ByExtension,
            c => {
                err(
                    "compression",
                    format!("unsupported compression {c:?} (gzip, auto)"),
                );
                Gzip::Never
            }
        };
        if self.delete_after_read && self.start_at != "beginning" {
            err(
                "delete_after_read",
                "requires start_at: beginning (as in otelcol)".into(),
            );
        }
        if let Some(b) = &self.max_log_size_behavior {
            if b != "split" {
                err(
                    "max_log_size_behavior",
                    format!("unsupported value {b:?}: ferrotel splits long lines (split)"),
                );
            }
        }
        if let Some(s) = &self.storage {
            if let Err(e) = crate::config::ComponentId::parse(s) {
                err("storage", e);
            }
        }
        if self.retry_on_failure.initial_interval.is_zero() {
            err(
                "retry_on_failure::initial_interval",
                "must be positive".into(),
            );
        }
        if let Err(es) =
            crate::stanza::Pipeline::build(&self.operators, &format!("{path}::operators"))
        {
            for (p, m) in es {
                errors.push(ConfigError::new(p, m));
            }
        }
        let ordering = self
            .ordering_criteria
            .as_ref()
            .and_then(|o| o.build(&format!("{path}::ordering_criteria"), &mut errors));
        let header = self
            .header
            .as_ref()
            .and_then(|h| h.build(&format!("{path}::header"), &self.start_at, &mut errors));
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Resolved {
            ordering,
            header,
            fingerprint_size,
            max_log_size,
            encoding,
            line_start,
            line_end,
            omit_pattern,
            gzip,
        })
    }

    pub fn warnings(&self, path: &str) -> Vec<String> {
        let mut w = Vec::new();
        if self
            .ordering_criteria
            .as_ref()
            .is_some_and(|o| o.sort_by.is_empty() && (o.group_by.is_some() || o.regex.is_some()))
        {
            w.push(format!("{path}::ordering_criteria: without sort_by nothing is filtered or ordered (as in otelcol)"));
        }
        if self.header.is_some() && self.storage.is_some() {
            w.push(format!("{path}::header: the header's attributes are not saved with the offsets: a file resumed after a restart has no header attributes"));
        }
        if self.multiline.as_ref().is_some_and(|m| m.omit_pattern) {
            w.push(format!("{path}::multiline::omit_pattern: accepted and ignored: the matched pattern stays in the record"));
        }
        if self.acquire_fs_lock {
            w.push(format!("{path}::acquire_fs_lock: accepted and ignored"));
        }
        if self.delete_after_read {
            w.push(format!("{path}::delete_after_read: files are deleted without otelcol's feature gate filelog.allowFileDeletion (otelcol refuses the key without it)"));
        }
        if self.polls_to_archive.is_some() {
            w.push(format!("{path}::polls_to_archive: accepted and ignored: known files are kept for 3 polls after they disappear"));
        }
        if self.encoding == "nop" {
            w.push(format!("{path}::encoding: nop bodies are passed on as text (invalid UTF-8 replaced), not as bytes"));
        }
        if let Ok((_, ws)) =
            crate::stanza::Pipeline::build(&self.operators, &format!("{path}::operators"))
        {
            w.extend(ws);
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(byte_size(&Yaml::String("1kb".into())).unwrap(), 1000);
        assert_eq!(byte_size(&Yaml::String("1MiB".into())).unwrap(), 1 << 20);
        assert_eq!(
            byte_size(&serde_yaml::from_str("2048").unwrap()).unwrap(),
            2048
        );
        assert!(byte_size(&Yaml::String("1 parsec".into())).is_err());
    }
}
