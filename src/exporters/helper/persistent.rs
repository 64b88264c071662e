//! The persistent sending queue's disk side: append-only segment files of checksummed records, an
//! acknowledgement log, and recovery that never refuses to start.
//!
//! # Files (in the queue's own directory)
//! - `seg-<first seq, 20 digits>.dat`: records, one after another. A record is
//!   `magic "FTQ1" | payload length u32 LE | crc32(payload) u32 LE | payload`, and the payload is
//!   `seq u64 LE | signal u8 | items u32 LE | the encoded Export*ServiceRequest`.
//!   Sequence numbers grow by one per record, across segments and across restarts.
//! - `lock`: held (`flock`, exclusive) by the process using the queue, with its pid inside; a second
//!   process opening the same directory fails at start-up naming the directory and the lock file.
//! - `acks`: 12-byte entries `seq u64 LE | crc32(seq) u32 LE`, one per record that is done with (sent,
//!   or dropped for a permanent error). A lost ack only means a duplicate after a restart.
//!
//! The write index is the next sequence number; the read index is the queue's in-memory order; every
//! record in a segment without an ack is either waiting or in flight, so whatever was being sent at a
//! crash or shutdown is sent again at the next start (at least once).
//!
//! One writer thread owns the files: appends that arrive together are written with one `write` and,
//! with `fsync`, one `fdatasync` (group commit); the appender is answered only after that.
//! A segment is deleted as soon as every record in it is acknowledged; when the queue empties, the
//! active segment is replaced by a fresh one once it is larger than [`ROLL_EMPTY_BYTES`].
//!
//! # Recovery
//! Segments are read record by record; a record with a bad magic, length or checksum starts a search
//! for the next valid record, so damage (a truncated tail, garbage, a zero-filled tail after a power
//! loss) costs only the records it covers. Sequence numbers tell how many unacknowledged records were
//! lost; they are counted and logged, and start-up goes on.
//!
//! Recovery and on-start compaction run on the queue's own writer thread, never on the async runtime:
//! [`Store::open`] takes the lock and returns at once, the recovered records arrive on a channel, and
//! appends wait behind recovery. Memory stays bounded: one segment is read at a time, and compaction
//! writes its copies in chunks of `max_transaction_size` records (at most [`COMPACT_CHUNK_BYTES`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::signal::SignalKind;

const MAGIC: &[u8; 4] = b"FTQ1";
const HEADER: usize = 12;
/// seq + signal + items.
const PAYLOAD_PREFIX: usize = 13;
const ACK_ENTRY: usize = 12;
/// A segment is closed and a new one started once it is this large.
pub const SEGMENT_BYTES: u64 = 8 << 20;
/// When everything is sent and the active segment is larger than this, it is replaced by an empty one.
pub const ROLL_EMPTY_BYTES: u64 = 1 << 20;
/// The ack log is rewritten (only acks for live segments kept) when it grows past this.
const ACKS_REWRITE_BYTES: u64 = 4 << 20;
/// Compaction writes (and syncs) its copies once this many bytes are buffered.
pub const COMPACT_CHUNK_BYTES: usize = 4 << 20;
/// Records longer than this are treated as damage (a corrupted length field).
const MAX_RECORD: usize = 1 << 30;

/// Where a record is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
}

/// A record found at start-up that still has to be sent.
#[derive(Debug, Clone)]
pub struct RecoveredRecord {
    pub seq: u64,
    pub loc: Loc,
    pub items: u32,
    pub bytes: u64,
}

/// What recovery found.
#[derive(Debug, Default)]
pub struct Recovery {
    pub records: Vec<RecoveredRecord>,
    /// Unacknowledged records that could not be read back (at least this many).
    pub lost: u64,
    /// Bytes skipped as damage.
    pub damaged_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub fsync: bool,
    pub compact_on_start: bool,
    /// Records copied per write during compaction (`compaction.max_transaction_size`).
    pub compaction_batch: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            fsync: false,
            compact_on_start: false,
            compaction_batch: 65536,
        }
    }
}

/// What a previous run left, delivered once the writer thread has read it back.
pub type PendingRecovery = oneshot::Receiver<io::Result<Recovery>>;

/// The queue directory's lock file, held while the queue is open (released when the writer thread
/// ends, or by the kernel when the process dies, so a `kill -9` never leaves a stale lock).
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub const FILE: &'static str = "lock";

    /// Takes the lock of `dir` or fails with a message naming the directory, the lock file and the
    /// pid written by the holder.
    pub fn acquire(dir: &Path) -> io::Result<DirLock> {
        use rustix::fs::{flock, FlockOperation};
        let path = dir.join(Self::FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                // Who holds it, for the message another process shows. Best effort.
                let pid = format!("{}\n", std::process::id());
                let _ = file
                    .set_len(0)
                    .and_then(|_| file.write_all_at(pid.as_bytes(), 0));
                Ok(DirLock { _file: file })
            }
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .map_or_else(String::new, |p| format!(" (pid {p})"));
                Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "the persistent queue directory {} is in use by another process{holder}: its lock file {} is held; two collectors must not share a queue directory",
                        dir.display(),
                        path.display()
                    ),
                ))
            }
            Err(e) => Err(io::Error::new(
                io::Error::from(e).kind(),
                format!("cannot lock {}: {e}", path.display()),
            )),
        }
    }
}

type AppendReply = oneshot::Sender<io::Result<(u64, Loc)>>;

enum Cmd {
    Append {
        body: Bytes,
        items: u32,
        reply: AppendReply,
    },
    /// Acks are waiting in the shared list.
    Acks,
    Close(oneshot::Sender<()>),
}

/// A queue's files, written by one thread. Cheap to share; [`Store::close`] stops the thread.
pub struct Store {
    dir: PathBuf,
    tx: std::sync::Mutex<Option<mpsc::Sender<Cmd>>>,
    signal: SignalKind,
    /// Acks gathered between two rounds of the writer, which is woken once for all of them.
    acks: Arc<std::sync::Mutex<Vec<u64>>>,
}

fn seg_name(first: u64) -> String {
    format!("seg-{first:020}.dat")
}

fn parse_seg_name(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?
        .strip_suffix(".dat")?
        .parse()
        .ok()
}

fn signal_byte(s: SignalKind) -> u8 {
    match s {
        SignalKind::Traces => 1,
        SignalKind::Metrics => 2,
        SignalKind::Logs => 3,
    }
}

/// Encodes a record (header and payload).
fn encode_record(seq: u64, signal: SignalKind, items: u32, body: &[u8], out: &mut Vec<u8>) {
    let len = PAYLOAD_PREFIX + body.len();
    let mut h = crc32fast::Hasher::new();
    let mut prefix = [0u8; PAYLOAD_PREFIX];
    prefix[..8].copy_from_slice(&seq.to_le_bytes());
    prefix[8] = signal_byte(signal);
    prefix[9..].copy_from_slice(&items.to_le_bytes());
    h.update(&prefix);
    h.update(body);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(&prefix);
    out.extend_from_slice(body);
}

/// A record parsed at `pos`, if valid: (seq, items, payload length).
fn parse_record(data: &[u8], pos: usize, signal: u8) -> Option<(u64, u32, usize)> {
    let h = data.get(pos..pos + HEADER)?;
    if &h[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(h[4..8].try_into().ok()?) as usize;
    if !(PAYLOAD_PREFIX..=MAX_RECORD).contains(&len) {
        return None;
    }
    let crc = u32::from_le_bytes(h[8..12].try_into().ok()?);
    let payload = data.get(pos + HEADER..pos + HEADER + len)?;
    if crc32fast::hash(payload) != crc || payload[8] != signal {
        return None;
    }
    let seq = u64::from_le_bytes(payload[..8].try_into().ok()?);
    let items = u32::from_le_bytes(payload[9..13].try_into().ok()?);
    Some((seq, items, len))
}

struct Parsed {
    records: Vec<(u64, u32, u64, usize)>,
    damaged_bytes: u64,
    /// Damage after the last valid record.
    damaged_tail: bool,
}

/// What recovery finds in a segment file's bytes: each intact record as (offset, length with header), in
/// order, and the number of damaged bytes it skips. For the fuzz target; never panics, whatever the bytes.
pub fn scan_segment(data: &[u8], signal: SignalKind) -> (Vec<(usize, usize)>, u64) {
    let p = parse_segment(data, signal_byte(signal));
    let records = p
        .records
        .iter()
        .map(|r| (r.2 as usize, HEADER + r.3))
        .collect();
    (records, p.damaged_bytes)
}

/// One record encoded as the queue writes it, for the fuzz target.
pub fn encode_segment_record(seq: u64, signal: SignalKind, items: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + PAYLOAD_PREFIX + body.len());
    encode_record(seq, signal, items, body, &mut out);
    out
}

/// Reads a segment's records, skipping damaged stretches.
fn parse_segment(data: &[u8], signal: u8) -> Parsed {
    let mut records = Vec::new();
    let mut pos = 0;
    let mut damaged_bytes = 0u64;
    let mut damaged_tail = false;
    while pos < data.len() {
        if let Some((seq, items, len)) = parse_record(data, pos, signal) {
            records.push((seq, items, pos as u64, len));
            pos += HEADER + len;
            damaged_tail = false;
            continue;
        }
        // Damage: look for the next valid record.
        let start = pos;
        let mut next = None;
        let mut p = pos + 1;
        while let Some(i) = find(&data[p.min(data.len())..], MAGIC) {
            let cand = p + i;
            if parse_record(data, cand, signal).is_some() {
                next = Some(cand);
                break;
            }
            p = cand + 1;
        }
        let end = next.unwrap_or(data.len());
        damaged_bytes += (end - start) as u64;
        damaged_tail = next.is_none();
        pos = end;
    }
    Parsed {
        records,
        damaged_bytes,
        damaged_tail,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn read_acks(path: &Path) -> io::Result<BTreeSet<u64>> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e),
    };
    Ok(data
        .chunks_exact(ACK_ENTRY)
        .filter_map(|c| {
            let seq = u64::from_le_bytes(c[..8].try_into().ok()?);
            let crc = u32::from_le_bytes(c[8..].try_into().ok()?);
            (crc32fast::hash(&c[..8]) == crc).then_some(seq)
        })
        .collect())
}

fn ack_entry(seq: u64, out: &mut Vec<u8>) {
    let b = seq.to_le_bytes();
    out.extend_from_slice(&b);
    out.extend_from_slice(&crc32fast::hash(&b).to_le_bytes());
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `acks` as a new ack log (temporary file, then rename).
fn rewrite_acks(dir: &Path, acks: &BTreeSet<u64>, fsync: bool) -> io::Result<File> {
    let tmp = dir.join("acks.tmp");
    let mut buf = Vec::with_capacity(acks.len() * ACK_ENTRY);
    for s in acks {
        ack_entry(*s, &mut buf);
    }
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
        if fsync {
            f.sync_data()?;
        }
    }
    std::fs::rename(&tmp, dir.join("acks"))?;
    if fsync {
        sync_dir(dir)?;
    }
    OpenOptions::new().append(true).open(dir.join("acks"))
}

struct Segment {
    /// Records not yet acknowledged.
    live: u64,
    size: u64,
}

/// The writer thread's state.
struct Writer {
    dir: PathBuf,
    signal: SignalKind,
    fsync: bool,
    pending_acks: Arc<std::sync::Mutex<Vec<u64>>>,
    segments: BTreeMap<u64, Segment>,
    active: u64,
    active_file: File,
    acks_file: File,
    acks_size: u64,
    /// Acks for records in segments that still exist.
    acked: BTreeSet<u64>,
    next_seq: u64,
    _lock: DirLock,
}

impl Store {
    /// Opens (or creates) the queue in `dir`: takes its lock (an error if another process holds it)
    /// and starts the writer thread, which first recovers what a previous run left and sends it on the
    /// returned channel. Damage is counted in the [`Recovery`], never an error; errors are for a
    /// directory that cannot be used.
    pub fn open(
        dir: &Path,
        signal: SignalKind,
        opts: &StoreOptions,
    ) -> io::Result<(Store, PendingRecovery)> {
        std::fs::create_dir_all(dir)?;
        let lock = DirLock::acquire(dir)?;
        let (tx, rx) = mpsc::channel();
        let (rec_tx, rec_rx) = oneshot::channel();
        let pending_acks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (d, o, acks) = (dir.to_path_buf(), opts.clone(), pending_acks.clone());
        let name = format!("ferrotel-queue-{}", signal.as_str());
        std::thread::Builder::new().name(name).spawn(move || {
            match Writer::recover(&d, signal, &o, acks, lock) {
                Ok((writer, recovery)) => {
                    let _ = rec_tx.send(Ok(recovery));
                    writer.run(rx);
                }
                Err(e) => {
                    tracing::error!(queue = %d.display(), error = %e, "cannot recover the persistent queue");
                    let _ = rec_tx.send(Err(e));
                }
            }
        })?;
        Ok((
            Store {
                dir: dir.to_path_buf(),
                tx: std::sync::Mutex::new(Some(tx)),
                signal,
                acks: pending_acks,
            },
            rec_rx,
        ))
    }

    /// [`Store::open`], then waits for recovery (tests and tools).
    pub async fn open_recovered(
        dir: &Path,
        signal: SignalKind,
        opts: &StoreOptions,
    ) -> io::Result<(Store, Recovery)> {
        let (store, pending) = Store::open(dir, signal, opts)?;
        let recovery = pending
            .await
            .map_err(|_| io::Error::other("the queue's writer thread stopped"))??;
        Ok((store, recovery))
    }
    pub fn directory(&self) -> &Path {
        &self.dir
    }

    fn send(&self, cmd: Cmd) -> bool {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        tx.as_ref().is_some_and(|tx| tx.send(cmd).is_ok())
    }

    /// Appends a record; the answer comes once it is written (and synced, with `fsync`).
    pub fn append(&self, body: Bytes, items: u32) -> oneshot::Receiver<io::Result<(u64, Loc)>> {
        let (reply, rx) = oneshot::channel();
        if !self.send(Cmd::Append { body, items, reply }) {
            // The receiver sees a closed channel: the caller reports the queue as stopped.
        }
        rx
    }

    /// Marks records as done with; their space is returned when their segment is all done.
    pub fn ack(&self, seqs: Vec<u64>) {
        if seqs.is_empty() {
            return;
        }
        let mut acks = self.acks.lock().unwrap_or_else(|e| e.into_inner());
        let wake = acks.is_empty();
        acks.extend(seqs);
        drop(acks);
        if wake {
            self.send(Cmd::Acks);
        }
    }

    /// Reads a record's encoded request back, checking its checksum.
    pub fn read(&self, loc: Loc) -> io::Result<Bytes> {
        let f = File::open(self.dir.join(seg_name(loc.segment)))?;
        let mut buf = vec![0u8; HEADER + loc.len as usize];
        f.read_exact_at(&mut buf, loc.offset)?;
        if parse_record(&buf, 0, signal_byte(self.signal)).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "record at offset {} of {} is damaged",
                    loc.offset,
                    seg_name(loc.segment)
                ),
            ));
        }
        Ok(Bytes::from(buf).slice(HEADER + PAYLOAD_PREFIX..))
    }

    /// Writes what is pending, stops the writer thread and waits for it.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Cmd::Close(tx)) {
            let _ = rx.await;
        }
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl Writer {
    /// Reads what a previous run left in `dir` (on the writer thread) and gets ready to append.
    fn recover(
        dir: &Path,
        signal: SignalKind,
        opts: &StoreOptions,
        pending_acks: Arc<std::sync::Mutex<Vec<u64>>>,
        lock: DirLock,
    ) -> io::Result<(Writer, Recovery)> {
        let mut firsts = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(first) = parse_seg_name(&name) {
                firsts.push(first);
            } else if name.ends_with(".tmp") {
                // A rewrite of the ack log cut short; the old log is still in place.
                let _ = std::fs::remove_file(entry.path());
            }
        }
        firsts.sort_unstable();
        let acks = read_acks(&dir.join("acks"))?;
        let sig = signal_byte(signal);

        let mut recovery = Recovery::default();
        let mut segments = BTreeMap::new();
        let mut max_seq = acks.last().copied();
        let mut last_nonempty_first = None;
        // Counted once: recorded as done so that the next start does not count them again.
        let mut lost_seqs = Vec::new();
        for (i, first) in firsts.iter().enumerate() {
            let path = dir.join(seg_name(*first));
            let data = std::fs::read(&path)?;
            let parsed = parse_segment(&data, sig);
            let end = firsts.get(i + 1).copied();
            // Records outside this segment's range are damage that happened to checksum; skip them.
            let records: Vec<_> = parsed
                .records
                .into_iter()
                .filter(|r| r.0 >= *first && end.is_none_or(|e| r.0 < e))
                .collect();
            let found: BTreeSet<u64> = records.iter().map(|r| r.0).collect();
            let range_end = end.unwrap_or_else(|| found.last().map_or(*first, |l| l + 1));
            let missing: Vec<u64> = (*first..range_end)
                .filter(|s| !found.contains(s) && !acks.contains(s))
                .collect();
            let mut lost = missing.len() as u64;
            lost_seqs.extend(missing);
            if end.is_none() && parsed.damaged_tail && lost == 0 {
                lost = 1;
            }
            if parsed.damaged_bytes > 0 || lost > 0 {
                tracing::error!(
                    queue = %dir.display(),
                    segment = %seg_name(*first),
                    damaged_bytes = parsed.damaged_bytes,
                    lost_records = lost,
                    recovered_records = records.len(),
                    "persistent queue segment is damaged; sending the intact records"
                );
            }
            recovery.lost += lost;
            recovery.damaged_bytes += parsed.damaged_bytes;
            if !data.is_empty() {
                last_nonempty_first = Some(*first);
            }
            if let Some(m) = found.last() {
                max_seq = Some(max_seq.map_or(*m, |x| x.max(*m)));
            }
            let mut live = 0;
            for (seq, items, offset, len) in records {
                if acks.contains(&seq) {
                    continue;
                }
                live += 1;
                recovery.records.push(RecoveredRecord {
                    seq,
                    loc: Loc {
                        segment: *first,
                        offset,
                        len: len as u32,
                    },
                    items,
                    bytes: (len - PAYLOAD_PREFIX) as u64,
                });
            }
            segments.insert(
                *first,
                Segment {
                    live,
                    size: data.len() as u64,
                },
            );
        }
        let mut next_seq = max_seq.map_or(0, |m| m + 1);
        if let Some(f) = last_nonempty_first {
            next_seq = next_seq.max(f + 1);
        }
        if let Some(f) = firsts.last() {
            next_seq = next_seq.max(*f);
        }

        // Fully sent segments go now; the new run writes to a new segment.
        for (first, seg) in &segments {
            if seg.live == 0 && *first != next_seq {
                std::fs::remove_file(dir.join(seg_name(*first)))?;
            }
        }
        segments.retain(|first, seg| seg.live > 0 || *first == next_seq);
        let kept_acks: BTreeSet<u64> = acks
            .iter()
            .copied()
            .chain(lost_seqs)
            .filter(|s| {
                segments
                    .range(..=*s)
                    .next_back()
                    .is_some_and(|(_, seg)| seg.live > 0)
            })
            .collect();
        let acks_file = rewrite_acks(dir, &kept_acks, opts.fsync)?;

        let active_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(seg_name(next_seq)))?;
        let active_size = active_file.metadata()?.len();
        if opts.fsync {
            sync_dir(dir)?;
        }
        segments.entry(next_seq).or_insert(Segment {
            live: 0,
            size: active_size,
        });
        let mut writer = Writer {
            dir: dir.to_path_buf(),
            signal,
            fsync: opts.fsync,
            pending_acks,
            _lock: lock,
            segments,
            active: next_seq,
            active_file,
            acks_file,
            acks_size: (kept_acks.len() * ACK_ENTRY) as u64,
            acked: kept_acks,
            next_seq,
        };
        if opts.compact_on_start && !recovery.records.is_empty() {
            writer.compact(&mut recovery, opts.compaction_batch)?;
        }
        Ok((writer, recovery))
    }

    fn run(mut self, rx: mpsc::Receiver<Cmd>) {
        let mut buf = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut cmds = vec![first];
            while let Ok(more) = rx.try_recv() {
                cmds.push(more);
                if cmds.len() >= 4096 {
                    break;
                }
            }
            let mut replies = Vec::new();
            let mut acks = Vec::new();
            let mut close = None;
            let mut failed: Option<io::ErrorKind> = None;
            for cmd in cmds {
                match cmd {
                    Cmd::Append { body, items, reply } => {
                        if let Some(kind) = failed {
                            let _ = reply.send(Err(io::Error::new(kind, "earlier write failed")));
                            continue;
                        }
                        if self.segments[&self.active].size + buf.len() as u64 >= SEGMENT_BYTES
                            && (self.segments[&self.active].size > 0 || !buf.is_empty())
                        {
                            if let Err(e) = self.flush(&mut buf, &mut replies) {
                                failed = Some(e.kind());
                            } else if let Err(e) = self.roll() {
                                failed = Some(e.kind());
                            }
                            if let Some(kind) = failed {
                                let _ = reply.send(Err(io::Error::new(kind, "cannot write")));
                                continue;
                            }
                        }
                        let seq = self.next_seq;
                        self.next_seq += 1;
                        let offset = self.segments[&self.active].size + buf.len() as u64;
                        encode_record(seq, self.signal, items, &body, &mut buf);
                        let loc = Loc {
                            segment: self.active,
                            offset,
                            len: (PAYLOAD_PREFIX + body.len()) as u32,
                        };
                        replies.push((reply, seq, loc));
                    }
                    Cmd::Acks => {}
                    Cmd::Close(tx) => close = Some(tx),
                }
            }
            if failed.is_none() {
                if let Err(e) = self.flush(&mut buf, &mut replies) {
                    tracing::error!(queue = %self.dir.display(), error = %e, "cannot write to the persistent queue");
                }
            }
            for (reply, _, _) in replies.drain(..) {
                let _ = reply.send(Err(io::Error::other("write failed")));
            }
            acks.append(&mut self.pending_acks.lock().unwrap_or_else(|e| e.into_inner()));
            if !acks.is_empty() {
                if let Err(e) = self.ack(&acks) {
                    tracing::warn!(queue = %self.dir.display(), error = %e, "cannot record sent items in the persistent queue; they may be sent again after a restart");
                }
            }
            if let Some(tx) = close {
                let _ = self.active_file.sync_data();
                let _ = self.acks_file.sync_data();
                // Releases the lock before the closer hears back, so it may reopen at once.
                drop(self);
                let _ = tx.send(());
                return;
            }
        }
    }

    /// Writes the buffered records to the active segment and answers their appenders.
    fn flush(
        &mut self,
        buf: &mut Vec<u8>,
        replies: &mut Vec<(AppendReply, u64, Loc)>,
    ) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let res = self.active_file.write_all(buf).and_then(|_| {
            if self.fsync {
                self.active_file.sync_data()
            } else {
                Ok(())
            }
        });
        let seg = self.segments.get_mut(&self.active).expect("active segment");
        buf.clear();
        match res {
            Ok(()) => {
                for (reply, seq, loc) in replies.drain(..) {
                    seg.size = seg.size.max(loc.offset + HEADER as u64 + loc.len as u64);
                    seg.live += 1;
                    let _ = reply.send(Ok((seq, loc)));
                }
                Ok(())
            }
            Err(e) => {
                // A partial record may be on disk; recovery skips it. Keep offsets true to the file.
                seg.size = self
                    .active_file
                    .metadata()
                    .map(|m| m.len())
                    .unwrap_or(seg.size);
                for (reply, _, _) in replies.drain(..) {
                    let _ = reply.send(Err(io::Error::new(e.kind(), e.to_string())));
                }
                Err(e)
            }
        }
    }

    /// Starts a new active segment named by the next sequence number.
    fn roll(&mut self) -> io::Result<()> {
        let first = self.next_seq;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(seg_name(first)))?;
        if self.fsync {
            sync_dir(&self.dir)?;
        }
        let old = std::mem::replace(&mut self.active, first);
        self.active_file = file;
        self.segments.insert(first, Segment { live: 0, size: 0 });
        if self.segments.get(&old).is_some_and(|s| s.live == 0) {
            self.remove_segment(old)?;
        }
        Ok(())
    }

    fn remove_segment(&mut self, first: u64) -> io::Result<()> {
        self.segments.remove(&first);
        std::fs::remove_file(self.dir.join(seg_name(first)))?;
        let end = self.segments.range(first..).next().map(|(f, _)| *f);
        let gone: Vec<u64> = match end {
            Some(e) => self.acked.range(first..e).copied().collect(),
            None => self.acked.range(first..).copied().collect(),
        };
        for s in gone {
            self.acked.remove(&s);
        }
        Ok(())
    }

    fn ack(&mut self, seqs: &[u64]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(seqs.len() * ACK_ENTRY);
        let mut emptied = Vec::new();
        for &seq in seqs {
            let Some((first, seg)) = self.segments.range_mut(..=seq).next_back() else {
                continue;
            };
            if seg.live == 0 || !self.acked.insert(seq) {
                continue;
            }
            seg.live -= 1;
            ack_entry(seq, &mut buf);
            if seg.live == 0 {
                emptied.push(*first);
            }
        }
        self.acks_file.write_all(&buf)?;
        self.acks_size += buf.len() as u64;
        for first in emptied {
            if first != self.active {
                self.remove_segment(first)?;
            }
        }
        let all_sent = self.segments.values().all(|s| s.live == 0);
        if all_sent && self.segments[&self.active].size > ROLL_EMPTY_BYTES {
            // Everything is sent: start afresh so the space comes back, then forget the acks.
            self.roll()?;
            self.acks_file = rewrite_acks(&self.dir, &BTreeSet::new(), self.fsync)?;
            self.acked.clear();
            self.acks_size = 0;
        } else if self.acks_size > ACKS_REWRITE_BYTES {
            self.acks_file = rewrite_acks(&self.dir, &self.acked, self.fsync)?;
            self.acks_size = (self.acked.len() * ACK_ENTRY) as u64;
        }
        Ok(())
    }

    /// On-start compaction: copies the records still to send into the fresh active segment (new
    /// sequence numbers) in chunks of at most `batch` records or [`COMPACT_CHUNK_BYTES`], each written
    /// and synced before the next is read, then deletes the old segments. A crash in between only
    /// duplicates: the old segments and their acks are untouched until every copy is on disk.
    fn compact(&mut self, recovery: &mut Recovery, batch: usize) -> io::Result<()> {
        let old: Vec<u64> = self
            .segments
            .keys()
            .copied()
            .filter(|f| *f != self.active)
            .collect();
        if old.is_empty() {
            return Ok(());
        }
        let sig = signal_byte(self.signal);
        let batch = batch.max(1);
        let mut buf = Vec::new();
        let mut in_buf = 0usize;
        let mut moved = Vec::with_capacity(recovery.records.len());
        let mut open: Option<(u64, File)> = None;
        let mut rec = Vec::new();
        for r in &recovery.records {
            if open.as_ref().is_none_or(|(seg, _)| *seg != r.loc.segment) {
                open = Some((
                    r.loc.segment,
                    File::open(self.dir.join(seg_name(r.loc.segment)))?,
                ));
            }
            let Some((_, f)) = &open else { continue };
            rec.resize(HEADER + r.loc.len as usize, 0);
            f.read_exact_at(&mut rec, r.loc.offset)?;
            if parse_record(&rec, 0, sig).is_none() {
                continue;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            let offset = self.segments[&self.active].size + buf.len() as u64;
            encode_record(
                seq,
                self.signal,
                r.items,
                &rec[HEADER + PAYLOAD_PREFIX..],
                &mut buf,
            );
            in_buf += 1;
            moved.push(RecoveredRecord {
                seq,
                loc: Loc {
                    segment: self.active,
                    offset,
                    len: r.loc.len,
                },
                items: r.items,
                bytes: r.bytes,
            });
            if in_buf >= batch || buf.len() >= COMPACT_CHUNK_BYTES {
                self.compact_write(&mut buf, in_buf)?;
                in_buf = 0;
            }
        }
        self.compact_write(&mut buf, in_buf)?;
        self.active_file.sync_data()?;
        for first in old {
            self.remove_segment(first)?;
        }
        self.acked.clear();
        self.acks_file = rewrite_acks(&self.dir, &BTreeSet::new(), true)?;
        self.acks_size = 0;
        tracing::info!(queue = %self.dir.display(), records = moved.len(), "compacted the persistent queue");
        recovery.records = moved;
        Ok(())
    }

    /// Appends a chunk of compaction copies to the active segment.
    fn compact_write(&mut self, buf: &mut Vec<u8>, records: usize) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.active_file.write_all(buf)?;
        if let Some(seg) = self.segments.get_mut(&self.active) {
            seg.size += buf.len() as u64;
            seg.live += records as u64;
        }
        buf.clear();
        Ok(())
    }
}

/// How long to wait for the writer before refusing a sender.
pub fn default_timeout() -> Duration {
    Duration::from_secs(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> StoreOptions {
        StoreOptions::default()
    }

    async fn append(s: &Store, body: &[u8]) -> (u64, Loc) {
        s.append(Bytes::copy_from_slice(body), 1)
            .await
            .unwrap()
            .unwrap()
    }

    fn segs(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".dat"))
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn unacked_records_come_back_in_order_after_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let (s, r) = Store::open_recovered(tmp.path(), SignalKind::Traces, &opts())
            .await
            .unwrap();
        assert!(r.records.is_empty());
        let mut seqs = Vec::new();
        for i in 0..10u8 {
            seqs.push(append(&s, &[i; 100]).await.0);
        }
        s.ack(vec![seqs[0], seqs[3]]);
        s.close().await;
        let (s, r) = Store::open_recovered(tmp.path(), SignalKind::Traces, &opts())
            .await
            .unwrap();
        let got: Vec<u64> = r.records.iter().map(|r| r.seq).collect();
        assert_eq!(got, vec![1, 2, 4, 5, 6, 7, 8, 9]);
        assert_eq!(r.lost, 0);
        assert_eq!(&s.read(r.records[0].loc).unwrap()[..], &[1u8; 100][..]);
        // New records continue the sequence.
        assert_eq!(append(&s, b"x").await.0, 10);
        s.close().await;
    }

    #[tokio::test]
    async fn a_fully_acked_queue_returns_its_space() {
        let tmp = tempfile::tempdir().unwrap();
        let (s, _) = Store::open_recovered(tmp.path(), SignalKind::Logs, &opts())
            .await
            .unwrap();
        let body = vec![7u8; 64 << 10];
        let mut seqs = Vec::new();
        // ~2.5 segments.
        for _ in 0..(SEGMENT_BYTES * 5 / 2 / (64 << 10)) {
            seqs.push(append(&s, &body).await.0);
        }
        assert!(segs(tmp.path()).len() >= 3);
        s.ack(seqs.clone());
        s.close().await;
        let total: u64 = segs(tmp.path())
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert!(total < ROLL_EMPTY_BYTES, "{total} bytes left");
        let (s, r) = Store::open_recovered(tmp.path(), SignalKind::Logs, &opts())
            .await
            .unwrap();
        assert!(r.records.is_empty());
        assert_eq!(append(&s, b"y").await.0, seqs.len() as u64);
        s.close().await;
    }

    #[tokio::test]
    async fn damage_costs_only_the_damaged_records() {
        let tmp = tempfile::tempdir().unwrap();
        for run in 0..3u8 {
            let (s, _) = Store::open_recovered(tmp.path(), SignalKind::Traces, &opts())
                .await
                .unwrap();
            for i in 0..10u8 {
                append(&s, &[run * 10 + i; 50]).await;
            }
            s.close().await;
        }
        let files = segs(tmp.path());
        assert_eq!(files.len(), 3, "{files:?}"); // one segment per run
                                                 // Garbage over records 2..4 of the first segment (each record is 12 + 13 + 50 = 75 bytes).
        let mut d = std::fs::read(&files[0]).unwrap();
        for b in &mut d[150..300] {
            *b = 0xAB;
        }
        std::fs::write(&files[0], &d).unwrap();
        // The whole second segment is garbage.
        let n = std::fs::metadata(&files[1]).unwrap().len() as usize;
        std::fs::write(&files[1], vec![0x5Au8; n]).unwrap();
        // The third is cut in the middle of its last record, then zero-filled.
        let mut d = std::fs::read(&files[2]).unwrap();
        d.truncate(d.len() - 30);
        d.extend_from_slice(&[0u8; 4096]);
        std::fs::write(&files[2], &d).unwrap();

        let (s, r) = Store::open_recovered(tmp.path(), SignalKind::Traces, &opts())
            .await
            .unwrap();
        let got: Vec<u64> = r.records.iter().map(|r| r.seq).collect();
        let want: Vec<u64> = (0..2).chain(4..10).chain(20..29).collect();
        assert_eq!(got, want);
        assert_eq!(r.lost, 2 + 10 + 1);
        for rec in &r.records {
            assert_eq!(s.read(rec.loc).unwrap()[0] as u64, rec.seq);
        }
        // The next record does not reuse a sequence number of a damaged one.
        assert!(append(&s, b"z").await.0 >= 29);
        s.close().await;
    }

    #[tokio::test]
    async fn compaction_on_start_rewrites_survivors() {
        let tmp = tempfile::tempdir().unwrap();
        let (s, _) = Store::open_recovered(tmp.path(), SignalKind::Metrics, &opts())
            .await
            .unwrap();
        let mut seqs = Vec::new();
        for i in 0..20u8 {
            seqs.push(append(&s, &[i; 1000]).await.0);
        }
        s.ack(seqs[..15].to_vec());
        s.close().await;
        let o = StoreOptions {
            compact_on_start: true,
            ..opts()
        };
        let (s, r) = Store::open_recovered(tmp.path(), SignalKind::Metrics, &o)
            .await
            .unwrap();
        assert_eq!(r.records.len(), 5);
        assert_eq!(segs(tmp.path()).len(), 1);
        for (i, rec) in r.records.iter().enumerate() {
            assert_eq!(s.read(rec.loc).unwrap()[0], 15 + i as u8);
        }
        s.close().await;
        let (_s, r) = Store::open_recovered(tmp.path(), SignalKind::Metrics, &opts())
            .await
            .unwrap();
        assert_eq!(r.records.len(), 5);
    }

    #[tokio::test]
    async fn a_record_of_another_signal_is_not_read_as_this_one() {
        let tmp = tempfile::tempdir().unwrap();
        let (s, _) = Store::open_recovered(tmp.path(), SignalKind::Traces, &opts())
            .await
            .unwrap();
        append(&s, b"abc").await;
        s.close().await;
        let (_s, r) = Store::open_recovered(tmp.path(), SignalKind::Logs, &opts())
            .await
            .unwrap();
        assert!(r.records.is_empty());
        assert_eq!(r.lost, 1);
    }

    #[tokio::test]
    async fn a_second_opener_is_refused_naming_the_directory_and_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let (s, _) = Store::open_recovered(tmp.path(), SignalKind::Traces, &opts())
            .await
            .unwrap();
        let err = match Store::open(tmp.path(), SignalKind::Traces, &opts()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("opened a locked queue twice"),
        };
        assert!(err.contains(&tmp.path().display().to_string()), "{err}");
        assert!(err.contains("lock"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        s.close().await;
        // Closing releases it.
        let (s, _) = Store::open_recovered(tmp.path(), SignalKind::Traces, &opts())
            .await
            .unwrap();
        s.close().await;
    }

    #[tokio::test]
    async fn compaction_in_small_chunks_keeps_every_record() {
        let tmp = tempfile::tempdir().unwrap();
        let (s, _) = Store::open_recovered(tmp.path(), SignalKind::Logs, &opts())
            .await
            .unwrap();
        let mut seqs = Vec::new();
        for i in 0..50u8 {
            seqs.push(append(&s, &[i; 300]).await.0);
        }
        s.ack(seqs.iter().copied().filter(|q| q % 3 == 0).collect());
        s.close().await;
        let o = StoreOptions {
            compact_on_start: true,
            compaction_batch: 4,
            ..opts()
        };
        let (s, r) = Store::open_recovered(tmp.path(), SignalKind::Logs, &o)
            .await
            .unwrap();
        let want: Vec<u8> = (0..50u8).filter(|i| i % 3 != 0).collect();
        let got: Vec<u8> = r
            .records
            .iter()
            .map(|rec| s.read(rec.loc).unwrap()[0])
            .collect();
        assert_eq!(got, want);
        s.close().await;
    }
}
