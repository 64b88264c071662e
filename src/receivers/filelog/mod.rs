//! The `filelog` receiver: tails files matched by globs, identifies them by fingerprint (their first
//! `fingerprint_size` bytes) as otelcol's fileconsumer does, runs Stanza operators, and passes logs on.
//!
//! One thread per receiver polls every `poll_interval`: it finds the files, matches each to a known
//! file by fingerprint (so a renamed file keeps its offset, and a truncated or recreated one is new),
//! reads every file to its end, and sends batches. A file's offset moves only when the pipeline has
//! accepted the records before it; a refusal pauses reading until the batch is taken (backpressure).
//! Files that disappear from the globs (rotated away, deleted) are still read to their end through the
//! handle kept open from the previous poll. With `storage:`, offsets are saved (see [`checkpoint`]).

pub mod checkpoint;
pub mod config;
pub mod glob;
pub mod header;
pub mod ordering;
mod reader;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use serde_json::Value;
use serde_yaml::Value as Yaml;

use self::checkpoint::{Checkpoints, Known};
use self::config::{Config, Gzip, Resolved};
use self::glob::Glob;
use self::reader::{Reader, Token, Trim};
use crate::component::{
    ConfigResult, Host, PreparedReceiver, Receiver, ReceiverFactory, StartError,
};
use crate::config::ComponentId;
use crate::pipeline::{AnyConsumer, Consumer};
use crate::signal::{Batch, Logs, SignalKind};
use crate::stanza::entry::encode::{self, Records};
use crate::stanza::{Entry, Pipeline};
use crate::telemetry::events;

/// Records per batch handed to the pipeline.
const BATCH: usize = 1024;
/// Known files not found for this many polls are forgotten (otelcol keeps three generations).
const FORGET_AFTER_POLLS: u64 = 3;
/// Offsets are saved at most this often while a poll is reading, and at the end of every poll.
const SAVE_EVERY: Duration = Duration::from_millis(250);

pub struct Factory;

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        "filelog"
    }

    fn signals(&self) -> &'static [SignalKind] {
        &[SignalKind::Logs]
    }

    fn prepare(&self, cfg: &Yaml, path: &str) -> ConfigResult<Arc<dyn PreparedReceiver>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let resolved = c.validate(path)?;
        Ok(Arc::new(Prepared {
            warnings: c.warnings(path),
            config: c,
            resolved,
        }))
    }
}

pub struct Prepared {
    config: Config,
    resolved: Resolved,
    warnings: Vec<String>,
}

impl PreparedReceiver for Prepared {
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn endpoints(&self) -> Vec<String> {
        vec![]
    }

    fn create(
        &self,
        id: &ComponentId,
        consumers: Vec<AnyConsumer>,
        _host: &Host,
    ) -> Result<Box<dyn Receiver>, StartError> {
        let logs = consumers
            .iter()
            .find_map(AnyConsumer::typed::<Logs>)
            .ok_or_else(|| {
                StartError::new(format!("receivers::{id}"), "filelog only produces logs")
            })?;
        Ok(Box::new(FilelogReceiver {
            id: id.clone(),
            config: self.config.clone(),
            resolved: self.resolved.clone(),
            consumer: logs,
            stop: Arc::new(Stop::default()),
            thread: None,
        }))
    }
}

#[derive(Default)]
struct Stop {
    flag: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Stop {
    fn stopping(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
    /// Sleeps `d`, or less if stopping; returns false when stopping.
    fn sleep(&self, d: Duration) -> bool {
        let g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.stopping() {
            return false;
        }
        let _ = self.cv.wait_timeout(g, d);
        !self.stopping()
    }
    fn stop(&self) {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.flag.store(true, Ordering::Release);
        self.cv.notify_all();
    }
}

struct FilelogReceiver {
    id: ComponentId,
    config: Config,
    resolved: Resolved,
    consumer: Arc<dyn Consumer<Logs>>,
    stop: Arc<Stop>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[async_trait]
impl Receiver for FilelogReceiver {
    async fn start(&mut self, host: &Host) -> Result<(), StartError> {
        let at = format!("receivers::{}", self.id);
        let checkpoints = match &self.config.storage {
            None => None,
            Some(s) => {
                let sid = ComponentId::parse(s)
                    .map_err(|e| StartError::new(format!("{at}::storage"), e))?;
                let ext = host.extension(&sid).ok_or_else(|| {
                    StartError::new(format!("{at}::storage"), format!("extension {s:?} is not configured or not enabled in service::extensions"))
                })?;
                let fs = ext.storage().ok_or_else(|| {
                    StartError::new(
                        format!("{at}::storage"),
                        format!("extension {s:?} is not a file_storage"),
                    )
                })?;
                let client = match self.id.name.as_deref() {
                    Some(n) if !n.is_empty() => format!("receiver_filelog_{n}"),
                    _ => "receiver_filelog_".to_string(),
                };
                let dir = fs
                    .client_directory(&client)
                    .map_err(|e| StartError::new(format!("{at}::storage"), e))?;
                Some(Checkpoints::new(&dir, fs.fsync()))
            }
        };
        let known = match &checkpoints {
            Some(c) => c.load().map_err(|e| StartError::new(&at, e))?,
            None => vec![],
        };
        let (pipeline, _) = Pipeline::build(&self.config.operators, &format!("{at}::operators"))
            .map_err(|e| StartError::new(&at, format!("{e:?}")))?;
        let mut t = Tailer::new(
            self.id.to_string(),
            self.config.clone(),
            self.resolved.clone(),
            pipeline,
            self.consumer.clone(),
            tokio::runtime::Handle::current(),
            self.stop.clone(),
            checkpoints,
        );
        t.restore(known);
        let id = self.id.to_string();
        self.thread = Some(
            std::thread::Builder::new()
                .name(format!("filelog-{id}"))
                .spawn(move || t.run())
                .map_err(|e| {
                    StartError::new(&at, format!("cannot start the reading thread: {e}"))
                })?,
        );
        tracing::info!(receiver = %self.id, include = ?self.config.include, "filelog receiver started");
        Ok(())
    }

    async fn shutdown(&mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

struct Tailer {
    id: String,
    cfg: Config,
    res: Resolved,
    trim: Trim,
    include: Vec<Glob>,
    exclude: Vec<Glob>,
    readers: Vec<Reader>,
    next_id: u64,
    poll: u64,
    first_poll: bool,
    pipeline: Pipeline,
    consumer: Arc<dyn Consumer<Logs>>,
    rt: tokio::runtime::Handle,
    stop: Arc<Stop>,
    checkpoints: Option<Checkpoints>,
    last_save: Instant,
    dirty: bool,
    out: Vec<Entry>,
    /// Without operators, records are encoded as they are cut (all have `resource` and no scope).
    direct: bool,
    records: Records,
    /// Per reader id: (offset, record count) to commit when the batch in `out` is accepted.
    commits: HashMap<u64, (u64, u64)>,
    users: Option<HashMap<u32, String>>,
    groups: Option<HashMap<u32, String>>,
    tokens: Vec<Token>,
}

impl Tailer {
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: String,
        cfg: Config,
        res: Resolved,
        pipeline: Pipeline,
        consumer: Arc<dyn Consumer<Logs>>,
        rt: tokio::runtime::Handle,
        stop: Arc<Stop>,
        checkpoints: Option<Checkpoints>,
    ) -> Tailer {
        let globs = |l: &[String]| l.iter().filter_map(|p| Glob::new(p).ok()).collect();
        Tailer {
            id,
            include: globs(&cfg.include),
            exclude: globs(&cfg.exclude),
            trim: Trim {
                leading: cfg.preserve_leading_whitespaces,
                trailing: cfg.preserve_trailing_whitespaces,
                force_flush: cfg.force_flush_period,
            },
            direct: pipeline.is_empty(),
            records: Records::default(),
            cfg,
            res,
            readers: Vec::new(),
            next_id: 1,
            poll: 0,
            first_poll: true,
            pipeline,
            consumer,
            rt,
            stop,
            checkpoints,
            last_save: Instant::now(),
            dirty: false,
            out: Vec::new(),
            commits: HashMap::new(),
            users: None,
            groups: None,
            tokens: Vec::new(),
        }
    }

    fn restore(&mut self, known: Vec<Known>) {
        for k in known {
            let Some(fp) = checkpoint::decode_fp(&k.fingerprint) else {
                continue;
            };
            if fp.is_empty() {
                continue;
            }
            let gz = self.is_gz(Path::new(&k.path));
            let r = Reader::new(
                self.next_id,
                PathBuf::from(k.path),
                fp,
                k.offset,
                k.record_number,
                gz,
            );
            self.next_id += 1;
            self.readers.push(r);
        }
    }

    fn is_gz(&self, p: &Path) -> bool {
        match self.res.gzip {
            Gzip::Never => false,
            Gzip::Always => true,
            Gzip::ByExtension => p.extension().is_some_and(|e| e == "gz"),
        }
    }

    fn run(mut self) {
        loop {
            let started = Instant::now();
            self.poll_once();
            if self.stop.stopping() {
                break;
            }
            let wait = self.cfg.poll_interval.saturating_sub(started.elapsed());
            if !self.stop.sleep(wait.max(Duration::from_millis(1))) {
                break;
            }
        }
        // Shutting down: pass on what operators hold, once, and save the offsets.
        let mut held = Vec::new();
        self.pipeline.flush(Instant::now(), true, &mut held);
        self.out.extend(held);
        self.send();
        self.save(true);
    }

    fn find(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        for g in &self.include {
            g.walk(&mut paths);
        }
        paths.sort();
        paths.dedup();
        let cutoff = (!self.cfg.exclude_older_than.is_zero())
            .then(|| SystemTime::now().checked_sub(self.cfg.exclude_older_than))
            .flatten();
        paths.retain(|p| {
            if self.exclude.iter().any(|g| g.matches(p)) {
                return false;
            }
            match cutoff {
                Some(c) => std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m >= c),
                None => true,
            }
        });
        match &self.res.ordering {
            Some(o) => o.select(paths),
            None => paths,
        }
    }

    fn poll_once(&mut self) {
        self.poll += 1;
        let poll = self.poll;
        let paths = self.find();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let mut active: Vec<u64> = Vec::new();
        let fp_size = self.res.fingerprint_size;
        // At most this many files are read per poll beyond those already open (max_batches groups of
        // max_concurrent_files / 2, as otelcol batches them).
        let group = (self.cfg.max_concurrent_files / 2).max(1);
        let budget = if self.cfg.max_batches > 0 {
            group.saturating_mul(self.cfg.max_batches)
        } else {
            usize::MAX
        };
        for path in paths {
            if self.stop.stopping() {
                return;
            }
            if active.len() >= budget {
                break;
            }
            let gz = self.is_gz(&path);
            let Ok((opened, fp)) = reader::open(&path, fp_size, gz) else {
                continue;
            };
            if fp.is_empty() || !seen.insert(fp.clone()) {
                // Empty files have no identity yet; a second path with the same fingerprint is a copy.
                continue;
            }
            let best = self
                .readers
                .iter_mut()
                .filter(|r| r.last_seen != poll && !r.fp.is_empty() && fp.starts_with(&r.fp))
                .max_by_key(|r| r.fp.len());
            match best {
                Some(r) => {
                    r.last_seen = poll;
                    r.path = path;
                    r.gz = gz;
                    if fp.len() > r.fp.len() {
                        r.fp = fp;
                    }
                    let same = r.file.as_ref().is_some_and(|f| f.dev_ino == opened.dev_ino);
                    if !same {
                        if !gz && opened.len < r.offset {
                            // Same first bytes but shorter than what was read: rewritten from scratch.
                            r.offset = 0;
                            r.record_num = 0;
                        }
                        r.attach(opened);
                    }
                    active.push(r.id);
                }
                None => {
                    let start_at_end = self.first_poll && self.cfg.start_at == "end";
                    let offset = if start_at_end && !gz { opened.len } else { 0 };
                    // As otelcol's fileconsumer ("Started watching file"), once per new file.
                    tracing::info!(receiver = %self.id, path = %path.display(), offset, "started watching file");
                    let mut r = Reader::new(self.next_id, path, fp, offset, 0, gz);
                    if offset == 0 {
                        r.header = self.res.header.as_ref().and_then(|h| h.start());
                    }
                    self.next_id += 1;
                    r.last_seen = poll;
                    r.attach(opened);
                    active.push(r.id);
                    self.readers.push(r);
                    self.dirty = true;
                }
            }
        }
        // Files no longer found (rotated out of the globs, deleted) are read to their end through the
        // handle opened in an earlier poll, unless their content was replaced.
        for r in &mut self.readers {
            if r.last_seen != poll && r.file.is_some() {
                if r.still_same() {
                    active.push(r.id);
                } else {
                    r.close();
                }
            }
        }
        for id in active {
            if self.stop.stopping() {
                break;
            }
            self.read_file(id);
        }
        let mut held = Vec::new();
        self.pipeline.flush(Instant::now(), false, &mut held);
        self.out.extend(held);
        self.send();
        self.after_poll();
        self.first_poll = false;
        self.save(true);
    }

    fn after_poll(&mut self) {
        let poll = self.poll;
        for r in &mut self.readers {
            if r.last_seen != poll && r.file.is_some() && r.at_eof {
                r.close();
            }
        }
        if self.cfg.delete_after_read {
            for r in &mut self.readers {
                if r.last_seen == poll
                    && r.at_eof
                    && r.file.is_some()
                    && r.offset == r.buf_start
                    && !self.commits.contains_key(&r.id)
                {
                    if let Err(e) = std::fs::remove_file(&r.path) {
                        tracing::warn!(receiver = %self.id, path = %r.path.display(), error = %e, "delete_after_read: cannot delete");
                    }
                    r.close();
                }
            }
        }
        // Bounded handles: beyond max_concurrent_files, files read to their end are closed (and
        // reopened by path, with their offset, in the next poll).
        let open = self.readers.iter().filter(|r| r.file.is_some()).count();
        if open > self.cfg.max_concurrent_files {
            let mut excess = open - self.cfg.max_concurrent_files;
            for r in &mut self.readers {
                if excess == 0 {
                    break;
                }
                if r.file.is_some() && r.at_eof && r.offset == r.buf_start {
                    r.close();
                    excess -= 1;
                }
            }
        }
        let before = self.readers.len();
        self.readers
            .retain(|r| r.file.is_some() || poll.saturating_sub(r.last_seen) <= FORGET_AFTER_POLLS);
        if self.readers.len() != before {
            self.dirty = true;
        }
    }

    fn file_attrs(&mut self, idx: usize) {
        let r = &self.readers[idx];
        if r.attrs_path == r.path && !r.attrs.is_empty() {
            return;
        }
        let mut m = serde_json::Map::new();
        let path = r.path.clone();
        if self.cfg.include_file_name {
            m.insert(
                "log.file.name".into(),
                Value::from(
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
            );
        }
        if self.cfg.include_file_path {
            m.insert(
                "log.file.path".into(),
                Value::from(path.to_string_lossy().into_owned()),
            );
        }
        if self.cfg.include_file_name_resolved || self.cfg.include_file_path_resolved {
            let resolved = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if self.cfg.include_file_name_resolved {
                m.insert(
                    "log.file.name_resolved".into(),
                    Value::from(
                        resolved
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    ),
                );
            }
            if self.cfg.include_file_path_resolved {
                m.insert(
                    "log.file.path_resolved".into(),
                    Value::from(resolved.to_string_lossy().into_owned()),
                );
            }
        }
        if let Some(f) = &r.file {
            let (uid, gid) = (f.uid, f.gid);
            if self.cfg.include_file_owner_name {
                let users = self.users.get_or_insert_with(|| id_names("/etc/passwd"));
                m.insert(
                    "log.file.owner.name".into(),
                    Value::from(users.get(&uid).cloned().unwrap_or_else(|| uid.to_string())),
                );
            }
            if self.cfg.include_file_owner_group_name {
                let groups = self.groups.get_or_insert_with(|| id_names("/etc/group"));
                m.insert(
                    "log.file.owner.group.name".into(),
                    Value::from(groups.get(&gid).cloned().unwrap_or_else(|| gid.to_string())),
                );
            }
        }
        let r = &mut self.readers[idx];
        // What every record of the file carries when no per-record attribute is added.
        let mut all = m.clone();
        for (k, v) in &self.cfg.attributes {
            all.insert(k.clone(), v.clone());
        }
        r.attrs_pb = encode::attributes(&all);
        r.attrs = m;
        r.attrs_path = path;
    }

    /// Reads one file to its end, sending full batches on the way.
    fn read_file(&mut self, id: u64) {
        let Some(mut idx) = self.readers.iter().position(|r| r.id == id) else {
            return;
        };
        self.file_attrs(idx);
        loop {
            if self.stop.stopping() {
                return;
            }
            let mut tokens = std::mem::take(&mut self.tokens);
            let limit = BATCH.saturating_sub(self.pending()).max(1);
            let eof = self.readers[idx].read_tokens(&self.res, &self.trim, limit, &mut tokens);
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let mut header = self.readers[idx].header.take();
            let r = &self.readers[idx];
            let mut rec = r.cut_records - tokens.len() as u64;
            // Without operators, a header or per-record attributes, a line is encoded as it is.
            let plain = self.direct
                && header.is_none()
                && !self.cfg.include_file_record_number
                && !self.cfg.include_file_record_offset;
            for t in tokens.drain(..) {
                rec += 1;
                if plain {
                    self.records.push_line(&t.text, &r.attrs_pb, now);
                    continue;
                }
                if let Some(h) = header.as_mut() {
                    if h.take(&t.text, t.start) {
                        continue;
                    }
                }
                let mut e = Entry::new(Value::String(t.text));
                e.observed_timestamp = now;
                e.attributes = r.attrs.clone();
                if let Some(h) = &header {
                    e.attributes
                        .extend(h.attrs.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                if self.cfg.include_file_record_number {
                    e.attributes
                        .insert("log.file.record_number".into(), Value::from(rec));
                }
                if self.cfg.include_file_record_offset {
                    e.attributes
                        .insert("log.file.record_offset".into(), Value::from(t.start));
                }
                for (k, v) in &self.cfg.attributes {
                    e.attributes.insert(k.clone(), v.clone());
                }
                if !self.cfg.resource.is_empty() {
                    e.resource = self.cfg.resource.clone();
                }
                e.origin = Some((r.id, t.start));
                if self.direct {
                    self.records.push_entry(&e);
                } else {
                    self.pipeline.process(e, &mut self.out);
                }
            }
            self.tokens = tokens;
            self.readers[idx].header = header;
            let r = &self.readers[idx];
            self.commits.insert(r.id, (r.buf_start, r.cut_records));
            if self.pending() >= BATCH {
                if !self.send() {
                    return;
                }
                match self.readers.iter().position(|r| r.id == id) {
                    Some(i) => idx = i,
                    None => return,
                }
            }
            if eof {
                return;
            }
        }
    }

    /// Sends the pending batch, retrying refusals until it is accepted (reading waits meanwhile);
    /// then moves the offsets of the files it came from. Returns false when stopping with the batch
    /// not accepted (its offsets stay where they were, so it is read again after a restart).
    fn send(&mut self) -> bool {
        if self.direct {
            for e in self.out.drain(..) {
                self.records.push_entry(&e);
            }
        }
        let n = self.pending();
        if n == 0 {
            self.commit();
            return true;
        }
        // Encoded directly: no OTLP messages are built, and the batch processor joins encoded
        // requests without decoding them.
        let encoded = if self.direct {
            self.records.take_request(&self.cfg.resource)
        } else {
            // Drained, so the batch's vector is kept for the next one.
            encode::logs_request(self.out.drain(..))
        };
        let batch = Batch::<Logs>::from_own_encoding(encoded.into(), n);
        let retry = &self.cfg.retry_on_failure;
        let mut backoff = retry.initial_interval;
        let started = Instant::now();
        loop {
            match self.rt.block_on(self.consumer.consume(batch.clone())) {
                Ok(()) => {
                    events::receiver_accepted(&self.id, "", SignalKind::Logs, n);
                    break;
                }
                Err(e) if e.is_retryable() => {
                    events::receiver_refused(&self.id, "", SignalKind::Logs, n);
                    if retry.enabled
                        && !retry.max_elapsed_time.is_zero()
                        && started.elapsed() >= retry.max_elapsed_time
                    {
                        tracing::error!(receiver = %self.id, records = n, error = %e, "dropping logs: refused for longer than retry_on_failure::max_elapsed_time");
                        break;
                    }
                    tracing::debug!(receiver = %self.id, error = %e, ?backoff, "pipeline refused logs; reading paused");
                    let wait = e.retry_after().unwrap_or(backoff).max(backoff);
                    if !self.stop.sleep(wait) {
                        // Not accepted: forget what was cut after the committed offsets.
                        self.commits.clear();
                        for r in &mut self.readers {
                            r.rewind_to_committed();
                        }
                        return false;
                    }
                    backoff = backoff
                        .saturating_mul(2)
                        .min(retry.max_interval.max(retry.initial_interval));
                }
                Err(e) => {
                    events::receiver_failed(&self.id, "", SignalKind::Logs, n);
                    tracing::error!(receiver = %self.id, records = n, error = %e, "dropping logs: the pipeline failed them permanently");
                    break;
                }
            }
        }
        self.commit();
        true
    }

    /// Records cut and not yet sent.
    fn pending(&self) -> usize {
        self.out.len() + self.records.len()
    }

    fn commit(&mut self) {
        if self.commits.is_empty() {
            return;
        }
        for r in &mut self.readers {
            if let Some((off, rec)) = self.commits.remove(&r.id) {
                // Entries still held by operators (recombine, partial lines) keep the offset behind them.
                let held = self.pipeline.held_min_offset(r.id);
                let off = held.map_or(off, |h| h.min(off));
                if off != r.offset {
                    r.offset = off;
                    r.record_num = rec;
                    self.dirty = true;
                }
            }
        }
        self.commits.clear();
        self.save(false);
    }

    fn save(&mut self, force: bool) {
        let Some(c) = &self.checkpoints else { return };
        if !self.dirty || (!force && self.last_save.elapsed() < SAVE_EVERY) {
            return;
        }
        let files = self
            .readers
            .iter()
            .filter(|r| !r.fp.is_empty())
            .map(|r| Known {
                fingerprint: checkpoint::encode_fp(&r.fp),
                offset: r.offset,
                record_number: r.record_num,
                path: r.path.to_string_lossy().into_owned(),
            })
            .collect();
        match c.save(files) {
            Ok(()) => {
                self.dirty = false;
                self.last_save = Instant::now();
            }
            Err(e) => tracing::warn!(receiver = %self.id, error = %e, "cannot save file offsets"),
        }
    }
}

/// `name:x:id:…` lines of /etc/passwd or /etc/group.
fn id_names(file: &str) -> HashMap<u32, String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split(':');
            let name = it.next()?;
            let id = it.nth(1)?.parse().ok()?;
            Some((id, name.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare(yaml: &str) -> ConfigResult<Arc<dyn PreparedReceiver>> {
        Factory.prepare(&serde_yaml::from_str(yaml).unwrap(), "receivers::filelog")
    }

    #[test]
    fn config_errors_name_their_key_and_unimplemented_keys_warn() {
        let errs = prepare("{include: [/x/*.log], poll_intervl: 1s}")
            .err()
            .unwrap();
        assert!(errs[0].to_string().contains("poll_intervl"), "{errs:?}");
        let errs = prepare("{start_at: middle, encoding: latin9, multiline: {}, operators: [{type: regex_parser, regex: '(x'}]}")
            .err()
            .unwrap();
        let paths: Vec<_> = errs.iter().map(|e| e.path.clone()).collect();
        for want in [
            "receivers::filelog::include",
            "receivers::filelog::start_at",
            "receivers::filelog::encoding",
            "receivers::filelog::multiline",
            "receivers::filelog::operators::0::regex",
        ] {
            assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
        }
        let p = prepare("{include: [/x/*.log], start_at: beginning, ordering_criteria: {top_n: 1, regex: x}, header: {pattern: x, metadata_operators: [{type: noop}]}}")
            .unwrap();
        let w = p.warnings();
        assert!(
            w.iter()
                .any(|w| w.contains("ordering_criteria: without sort_by")),
            "{w:?}"
        );
        assert!(!w.iter().any(|w| w.contains("header")), "{w:?}");
        let errs = prepare("{include: [/x/*.log], ordering_criteria: {sort_by: [{sort_type: numeric, regex_key: n}]}, header: {pattern: x, metadata_operators: [{type: noop}]}}")
            .err()
            .unwrap();
        let paths: Vec<_> = errs.iter().map(|e| e.path.clone()).collect();
        for want in [
            "receivers::filelog::ordering_criteria::regex",
            "receivers::filelog::header",
        ] {
            assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
        }
    }
}
