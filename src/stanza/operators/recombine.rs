//! `recombine`: joins consecutive entries of one source (`source_identifier`, default the file path)
//! into one, at `is_first_entry` or `is_last_entry`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use serde_yaml::Mapping;

use super::{parse_cfg, BuildError, Operator};
use crate::stanza::entry::{as_text, Entry, Field};
use crate::stanza::expr::{self, Expr};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cfg {
    combine_field: Field,
    #[serde(default)]
    is_first_entry: Option<String>,
    #[serde(default)]
    is_last_entry: Option<String>,
    #[serde(default = "nl")]
    combine_with: String,
    #[serde(default = "d1000")]
    max_batch_size: usize,
    #[serde(default = "d100")]
    max_unmatched_batch_size: usize,
    #[serde(default)]
    max_log_size: Option<serde_yaml::Value>,
    #[serde(default = "default_source")]
    source_identifier: Field,
    #[serde(default = "d5s", with = "crate::config::duration")]
    force_flush_period: Duration,
    #[serde(default = "newest")]
    overwrite_with: String,
    #[serde(default = "d1000")]
    max_sources: usize,
}
fn nl() -> String {
    "\n".into()
}
fn d1000() -> usize {
    1000
}
fn d100() -> usize {
    100
}
fn d5s() -> Duration {
    Duration::from_secs(5)
}
fn newest() -> String {
    "newest".into()
}
fn default_source() -> Field {
    Field::attr("log.file.path")
}

/// Entries of one source waiting for their end.
pub struct Batch {
    entries: Vec<Entry>,
    size: usize,
    matched: bool,
    last_add: Instant,
}

/// The shared batching logic, also used by the `container` operator for partial lines.
pub struct Combiner {
    pub field: Field,
    pub with: String,
    pub max_batch: usize,
    pub max_unmatched: usize,
    pub max_size: usize,
    pub flush_period: Duration,
    pub oldest: bool,
    pub batches: HashMap<String, Batch>,
}

impl Combiner {
    /// Adds `e` to its source's batch; `starts`/`ends` say whether it begins or ends a record.
    pub fn add(
        &mut self,
        key: String,
        e: Entry,
        starts: bool,
        ends: bool,
        out: &mut Vec<(usize, Entry)>,
    ) {
        if starts {
            if let Some(b) = self.batches.remove(&key) {
                out.push((0, self.combine(b)));
            }
        }
        let now = Instant::now();
        let size = e.get(&self.field).map(|v| as_text(v).len()).unwrap_or(0);
        let b = self.batches.entry(key.clone()).or_insert_with(|| Batch {
            entries: Vec::new(),
            size: 0,
            matched: false,
            last_add: now,
        });
        b.matched |= starts || ends;
        b.entries.push(e);
        b.size += size;
        b.last_add = now;
        let limit = if b.matched {
            self.max_batch
        } else {
            self.max_unmatched.max(1)
        };
        if ends || b.entries.len() >= limit || (self.max_size > 0 && b.size >= self.max_size) {
            if let Some(b) = self.batches.remove(&key) {
                out.push((0, self.combine(b)));
            }
        }
    }

    fn combine(&self, b: Batch) -> Entry {
        let n = b.entries.len();
        let mut text = String::with_capacity(b.size + n * self.with.len());
        let origin = b.entries.first().and_then(|e| e.origin);
        for (i, e) in b.entries.iter().enumerate() {
            if i > 0 {
                text.push_str(&self.with);
            }
            if let Some(v) = e.get(&self.field) {
                text.push_str(&as_text(v));
            }
        }
        if self.max_size > 0 && text.len() > self.max_size {
            let mut cut = self.max_size;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        let mut entries = b.entries;
        let mut base = if self.oldest {
            entries.swap_remove(0)
        } else {
            entries.pop().expect("non-empty batch")
        };
        base.origin = origin;
        let _ = base.set(&self.field, Value::String(text));
        base
    }

    pub fn flush(&mut self, now: Instant, force: bool, out: &mut Vec<(usize, Entry)>) {
        let due: Vec<String> = self
            .batches
            .iter()
            .filter(|(_, b)| {
                force || now.saturating_duration_since(b.last_add) >= self.flush_period
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            if let Some(b) = self.batches.remove(&k) {
                out.push((0, self.combine(b)));
            }
        }
    }

    pub fn held_min_offset(&self, reader: u64) -> Option<u64> {
        self.batches
            .values()
            .filter_map(|b| b.entries.first()?.origin)
            .filter(|(r, _)| *r == reader)
            .map(|(_, o)| o)
            .min()
    }
}

pub struct Recombine {
    first: Option<Expr>,
    last: Option<Expr>,
    source: Field,
    max_sources: usize,
    c: Combiner,
}

pub fn build(m: &Mapping, at: &str) -> Result<Recombine, BuildError> {
    let c: Cfg = parse_cfg(m, at)?;
    let (first, last) = match (&c.is_first_entry, &c.is_last_entry) {
        (Some(f), None) => (
            Some(expr::parse(f).map_err(|e| (format!("{at}::is_first_entry"), e))?),
            None,
        ),
        (None, Some(l)) => (
            None,
            Some(expr::parse(l).map_err(|e| (format!("{at}::is_last_entry"), e))?),
        ),
        _ => {
            return Err((
                at.to_string(),
                "exactly one of is_first_entry and is_last_entry is required".into(),
            ))
        }
    };
    let max_size = match &c.max_log_size {
        None => 0,
        Some(v) => crate::receivers::filelog::config::byte_size(v)
            .map_err(|e| (format!("{at}::max_log_size"), e))? as usize,
    };
    if !["oldest", "newest"].contains(&c.overwrite_with.as_str()) {
        return Err((
            format!("{at}::overwrite_with"),
            "must be oldest or newest".into(),
        ));
    }
    Ok(Recombine {
        first,
        last,
        source: c.source_identifier,
        max_sources: c.max_sources,
        c: Combiner {
            field: c.combine_field,
            with: c.combine_with,
            max_batch: c.max_batch_size.max(1),
            max_unmatched: c.max_unmatched_batch_size,
            max_size,
            flush_period: c.force_flush_period,
            oldest: c.overwrite_with == "oldest",
            batches: HashMap::new(),
        },
    })
}

impl Operator for Recombine {
    fn process(&mut self, e: Entry, out: &mut Vec<(usize, Entry)>) -> Result<(), (String, Entry)> {
        let key = e.get(&self.source).map(as_text).unwrap_or_default();
        if !self.c.batches.contains_key(&key) && self.c.batches.len() >= self.max_sources {
            // Too many sources at once: pass on everything held rather than grow without bound.
            self.c.flush(Instant::now(), true, out);
        }
        let starts = self.first.as_ref().is_some_and(|x| x.eval(&e));
        let ends = self.last.as_ref().is_some_and(|x| x.eval(&e));
        self.c.add(key, e, starts, ends, out);
        Ok(())
    }
    fn flush(&mut self, now: Instant, force: bool, out: &mut Vec<(usize, Entry)>) {
        self.c.flush(now, force, out)
    }
    fn held_min_offset(&self, reader: u64) -> Option<u64> {
        self.c.held_min_offset(reader)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;

    #[test]
    fn first_entry() {
        let out = run(
            r#"[{type: recombine, combine_field: body, is_first_entry: 'body matches "^\\S"'}]"#,
            &["Exception: x", "  at a", "  at b", "next", "  at c"],
        );
        let bodies: Vec<_> = out
            .iter()
            .map(|e| e.body.as_str().unwrap().to_string())
            .collect();
        assert_eq!(bodies, vec!["Exception: x\n  at a\n  at b", "next\n  at c"]);
    }
}
