//! The sending queue: bounded by `queue_size` in the unit of its `sizer`, in memory or backed by a
//! [`Store`] on disk. A batch's share of the capacity is returned when it is done with (sent or
//! dropped), so batches being sent count too and disk use stays bounded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

use super::persistent::{Loc, Recovery, Store};
use super::settings::{BatchSettings, Sizer};
use crate::pipeline::ConsumeError;
use crate::signal::{Batch, Signal};
use crate::telemetry::events;

/// Batches read back from disk are kept in memory up to this many bytes; beyond it, the queue reads
/// them from disk when their turn comes, so a long outage does not fill memory.
const CACHE_BYTES: usize = 64 << 20;

/// How a batch ended.
#[derive(Debug)]
pub enum Outcome {
    Sent,
    /// Dropped for good: a permanent error, or retries used up.
    Dropped(ConsumeError),
    /// Not sent because ferrotel is stopping; a persistent queue keeps it for the next start.
    Kept,
}

/// One request in the queue.
pub struct Entry<S: Signal> {
    /// `None` when it is only on disk.
    pub batch: Option<Batch<S>>,
    seq: Option<u64>,
    loc: Option<Loc>,
    units: u64,
    items: usize,
    cached: usize,
    done: Option<oneshot::Sender<Result<(), ConsumeError>>>,
}

/// What a worker sends at once: one entry, or several merged by `sending_queue.batch`.
pub struct Group<S: Signal> {
    pub batch: Batch<S>,
    pub entries: Vec<Entry<S>>,
}

struct State<S: Signal> {
    pending: VecDeque<Entry<S>>,
    /// Capacity in use, in sizer units, by pending and taken entries.
    used: u64,
    /// Entries taken out but not finished (in the batcher or being sent).
    taken: usize,
    /// Items in pending and taken entries.
    items: usize,
    cached: usize,
    /// No new data.
    closed: bool,
    /// Hands out nothing more (a persistent queue at shutdown).
    stopped: bool,
    /// Shutdown has begun: a full queue refuses at once, even with `block_on_overflow`.
    closing: bool,
}

pub struct Queue<S: Signal> {
    id: String,
    sizer: Sizer,
    limit: u64,
    store: Option<Arc<Store>>,
    store_timeout: Duration,
    state: std::sync::Mutex<State<S>>,
    ready: Notify,
    space: Notify,
}

pub fn measure<S: Signal>(sizer: Sizer, batch: &Batch<S>) -> u64 {
    match sizer {
        Sizer::Requests => 1,
        Sizer::Items => batch.items() as u64,
        Sizer::Bytes => batch
            .encoded_segments()
            .iter()
            .map(|s| s.len() as u64)
            .sum(),
    }
}

impl<S: Signal> Queue<S> {
    pub fn new(id: String, sizer: Sizer, limit: u64) -> Self {
        Queue {
            id,
            sizer,
            limit,
            store: None,
            store_timeout: Duration::from_secs(1),
            state: std::sync::Mutex::new(State {
                pending: VecDeque::new(),
                used: 0,
                taken: 0,
                items: 0,
                cached: 0,
                closed: false,
                stopped: false,
                closing: false,
            }),
            ready: Notify::new(),
            space: Notify::new(),
        }
    }

    /// A queue on disk. What a previous run left is added by [`Queue::recovered`] once the store
    /// has read it back.
    pub fn persistent(
        id: String,
        sizer: Sizer,
        limit: u64,
        store: Store,
        timeout: Duration,
    ) -> Self {
        let mut q = Self::new(id, sizer, limit);
        q.store = Some(Arc::new(store));
        q.store_timeout = timeout;
        q
    }

    /// Queues what a previous run left. Those batches take capacity even beyond `limit`: they were
    /// acknowledged, so they are never dropped to make room. Once the queue is closed they are left
    /// on disk for the next start.
    pub fn recovered(&self, recovery: Recovery) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        for r in recovery.records {
            let units = match self.sizer {
                Sizer::Requests => 1,
                Sizer::Items => r.items as u64,
                Sizer::Bytes => r.bytes,
            };
            st.used += units;
            st.items += r.items as usize;
            st.pending.push_back(Entry {
                batch: None,
                seq: Some(r.seq),
                loc: Some(r.loc),
                units,
                items: r.items as usize,
                cached: 0,
                done: None,
            });
        }
        drop(st);
        self.ready.notify_waiters();
    }

    /// Capacity in use, in sizer units (`otelcol_exporter_queue_size`).
    pub fn used(&self) -> u64 {
        self.lock().used
    }

    pub fn capacity(&self) -> u64 {
        self.limit
    }

    pub fn is_persistent(&self) -> bool {
        self.store.is_some()
    }

    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<S>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `units` of capacity, waiting for it if `block`; refuses (retryably) when full.
    async fn reserve(&self, units: u64, items: usize, block: bool) -> Result<(), ConsumeError> {
        loop {
            let freed = self.space.notified();
            {
                let mut st = self.lock();
                if st.closed {
                    return Err(ConsumeError::retryable(format!(
                        "exporter {} is shutting down",
                        self.id
                    )));
                }
                // An empty queue takes a request larger than its capacity rather than refusing it for ever.
                if st.used == 0 || st.used.saturating_add(units) <= self.limit {
                    st.used = st.used.saturating_add(units);
                    return Ok(());
                }
            }
            if !block || self.lock().closing {
                events::exporter_enqueue_failed(&self.id, S::KIND, items);
                return Err(ConsumeError::retryable(format!(
                    "sending queue of exporter {} is full",
                    self.id
                )));
            }
            freed.await;
        }
    }

    fn release(&self, units: u64) {
        let mut st = self.lock();
        st.used = st.used.saturating_sub(units);
        drop(st);
        self.space.notify_waiters();
    }

    fn enqueue(&self, mut entry: Entry<S>) {
        let mut st = self.lock();
        if let Some(b) = &entry.batch {
            if self.store.is_some() {
                let size: usize = b.encoded_segments().iter().map(|s| s.len()).sum();
                if st.cached.saturating_add(size) > CACHE_BYTES {
                    entry.batch = None;
                } else {
                    entry.cached = size;
                    st.cached = st.cached.saturating_add(size);
                }
            }
        }
        st.items = st.items.saturating_add(entry.items);
        st.pending.push_back(entry);
        drop(st);
        self.ready.notify_one();
    }

    /// Queues a batch. Returns once it is in the queue (on disk, for a persistent queue), or, with
    /// `wait`, once it is sent.
    pub async fn push(
        self: &Arc<Self>,
        batch: Batch<S>,
        block: bool,
        wait: bool,
    ) -> Result<(), ConsumeError> {
        let units = measure(self.sizer, &batch);
        let items = batch.items();
        self.reserve(units, items, block).await?;
        let (done, result) = if wait {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let mut entry = Entry {
            batch: Some(batch),
            seq: None,
            loc: None,
            units,
            items,
            cached: 0,
            done,
        };
        if let Some(store) = &self.store {
            let body = entry
                .batch
                .as_ref()
                .map(|b| b.encode_to_bytes())
                .unwrap_or_default();
            let mut written = store.append(body, u32::try_from(items).unwrap_or(u32::MAX));
            match tokio::time::timeout(self.store_timeout, &mut written).await {
                Ok(Ok(Ok((seq, loc)))) => {
                    entry.seq = Some(seq);
                    entry.loc = Some(loc);
                }
                Ok(res) => {
                    self.release(units);
                    let why = match res {
                        Ok(Err(e)) => e.to_string(),
                        _ => "the queue is stopped".to_string(),
                    };
                    tracing::error!(exporter = %self.id, error = %why, "cannot write to the persistent queue; refusing data");
                    return Err(ConsumeError::retryable(format!(
                        "exporter {}: cannot write to the persistent queue: {why}",
                        self.id
                    )));
                }
                Err(_) => {
                    // The write may still land: queue it then, so that it is sent (the sender, told to
                    // retry, may send it again: a duplicate, never a loss).
                    let q = self.clone();
                    entry.done = None;
                    tokio::spawn(async move {
                        match written.await {
                            Ok(Ok((seq, loc))) => {
                                entry.seq = Some(seq);
                                entry.loc = Some(loc);
                                q.enqueue(entry);
                            }
                            _ => q.release(units),
                        }
                    });
                    return Err(ConsumeError::retryable(format!(
                        "exporter {}: the persistent queue did not write within {:?}",
                        self.id, self.store_timeout
                    )));
                }
            }
        }
        self.enqueue(entry);
        match result {
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| Err(ConsumeError::retryable("exporter stopped"))),
            None => Ok(()),
        }
    }

    /// The next entry, or `None` once the queue is closed and empty (or stopped). Cancel-safe.
    pub async fn pop(&self) -> Option<Entry<S>> {
        loop {
            let ready = self.ready.notified();
            {
                let mut st = self.lock();
                if st.stopped {
                    return None;
                }
                if let Some(e) = st.pending.pop_front() {
                    st.taken += 1;
                    st.cached = st.cached.saturating_sub(e.cached);
                    let more = !st.pending.is_empty();
                    drop(st);
                    if more {
                        self.ready.notify_one();
                    }
                    return Some(e);
                }
                if st.closed {
                    return None;
                }
            }
            ready.await;
        }
    }

    /// Makes sure the entry's batch is in memory, reading it from disk if needed. A record that can
    /// no longer be read is counted, logged and finished as dropped.
    pub async fn load(&self, mut entry: Entry<S>) -> Option<(Batch<S>, Entry<S>)> {
        if let Some(b) = entry.batch.take() {
            return Some((b, entry));
        }
        let (Some(store), Some(loc)) = (self.store.clone(), entry.loc) else {
            return None;
        };
        let read = tokio::task::spawn_blocking(move || store.read(loc))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r);
        let err = match read.map(Batch::<S>::from_encoded) {
            Ok(Ok(b)) => return Some((b, entry)),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        events::exporter_queue_lost(&self.id, S::KIND, 1);
        tracing::error!(exporter = %self.id, error = %err, "cannot read a batch back from the persistent queue; it is lost");
        self.finish(vec![entry], Outcome::Dropped(ConsumeError::Permanent(err)));
        None
    }

    /// Ends entries: capacity comes back, a persistent queue forgets them unless they are `Kept`, and
    /// whoever waits for the result gets it.
    pub fn finish(&self, entries: Vec<Entry<S>>, outcome: Outcome) {
        let mut acks = Vec::new();
        let mut units: u64 = 0;
        {
            let mut st = self.lock();
            for e in &entries {
                st.taken = st.taken.saturating_sub(1);
                st.items = st.items.saturating_sub(e.items);
                units = units.saturating_add(e.units);
                if !matches!(outcome, Outcome::Kept) {
                    acks.extend(e.seq);
                }
            }
        }
        if let Some(store) = &self.store {
            store.ack(acks);
        }
        self.release(units);
        for e in entries {
            if let Some(done) = e.done {
                let _ = done.send(match &outcome {
                    Outcome::Sent => Ok(()),
                    Outcome::Dropped(err) => Err(err.clone()),
                    Outcome::Kept => Err(ConsumeError::retryable("exporter stopped")),
                });
            }
        }
    }

    /// Answers every caller still waiting for a queued batch's result (`wait_for_result`) with a
    /// retryable error: at the shutdown deadline, nothing will send it any more. The entries stay, so
    /// [`Queue::remaining`] still counts them.
    pub fn abandon(&self) {
        let waiters: Vec<_> = self
            .lock()
            .pending
            .iter_mut()
            .filter_map(|e| e.done.take())
            .collect();
        for w in waiters {
            let _ = w.send(Err(ConsumeError::retryable(format!(
                "exporter {} stopped before the data was sent",
                self.id
            ))));
        }
    }

    /// Shutdown has begun: senders blocked on a full queue (`block_on_overflow`) are refused now,
    /// retryably and counted as `enqueue_failed`, instead of waiting until their connection is cut.
    pub fn refuse_blocked(&self) {
        self.lock().closing = true;
        self.space.notify_waiters();
    }

    /// No new data; what is queued is still handed out.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_waiters();
        self.space.notify_waiters();
    }

    /// No new data and nothing more handed out: what is queued stays (on disk) for the next start.
    pub fn stop(&self) {
        {
            let mut st = self.lock();
            st.closed = true;
            st.stopped = true;
        }
        self.ready.notify_waiters();
        self.space.notify_waiters();
    }

    /// (batches, items) not done with: queued, being batched or being sent.
    pub fn remaining(&self) -> (usize, usize) {
        let st = self.lock();
        (st.pending.len() + st.taken, st.items)
    }
}

/// An instant so far ahead that it is never reached (a flush timeout too long to add to now).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

/// Merges entries taken from the queue into groups of at least `min_size` (or whatever arrived within
/// `flush_timeout`), per partition, and hands them to the workers through `out`.
pub async fn run_batcher<S: Signal>(
    queue: Arc<Queue<S>>,
    settings: BatchSettings,
    out: mpsc::Sender<Group<S>>,
) {
    struct Acc<S: Signal> {
        batch: Batch<S>,
        entries: Vec<Entry<S>>,
        size: u64,
        since: Instant,
    }
    let mut accs: BTreeMap<Vec<String>, Acc<S>> = BTreeMap::new();
    loop {
        let deadline = accs
            .values()
            .map(|a| {
                a.since
                    .checked_add(settings.flush_timeout)
                    .unwrap_or(far_future())
            })
            .min();
        let next = tokio::select! {
            e = queue.pop() => e,
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                let now = Instant::now();
                let due: Vec<Vec<String>> = accs
                    .iter()
                    .filter(|(_, a)| a.since.checked_add(settings.flush_timeout).is_some_and(|t| t <= now))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in due {
                    if let Some(a) = accs.remove(&k) {
                        if out.send(Group { batch: a.batch, entries: a.entries }).await.is_err() {
                            return;
                        }
                    }
                }
                continue;
            }
        };
        let Some(entry) = next else { break };
        let Some((batch, entry)) = queue.load(entry).await else {
            continue;
        };
        let size = measure(settings.sizer, &batch);
        let key: Vec<String> = settings
            .partition
            .metadata_keys
            .iter()
            .map(|k| {
                batch
                    .metadata
                    .as_ref()
                    .map(|m| m.get(k).collect::<Vec<_>>().join(";"))
                    .unwrap_or_default()
            })
            .collect();
        if settings.max_size > 0 {
            if let Some(a) = accs.get(&key) {
                if a.size.saturating_add(size) > settings.max_size {
                    let Some(a) = accs.remove(&key) else { continue };
                    if out
                        .send(Group {
                            batch: a.batch,
                            entries: a.entries,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        // What is left of (batch, entry) after trying to join an accumulated batch.
        let mut left = Some((batch, entry));
        if let Some(a) = accs.get_mut(&key) {
            if let Some((b, e)) = left.take() {
                // Encoded batches join without decoding and cannot fail; otherwise join a copy, so a
                // failure leaves the accumulated batch intact.
                if a.batch.is_encoded() && b.is_encoded() {
                    let _ = a.batch.append(b);
                    a.entries.push(e);
                    a.size = a.size.saturating_add(size);
                } else {
                    let mut joined = a.batch.clone();
                    if joined.append(b.clone()).is_ok() {
                        a.batch = joined;
                        a.entries.push(e);
                        a.size = a.size.saturating_add(size);
                    } else {
                        left = Some((b, e));
                    }
                }
            }
        }
        if let Some((b, e)) = left {
            if accs.contains_key(&key) {
                // Could not be joined: it goes on its own.
                if out
                    .send(Group {
                        batch: b,
                        entries: vec![e],
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            } else {
                accs.insert(
                    key.clone(),
                    Acc {
                        batch: b,
                        entries: vec![e],
                        size,
                        since: Instant::now(),
                    },
                );
            }
        }
        let full = accs
            .get(&key)
            .is_some_and(|a| a.size >= settings.min_size || settings.flush_timeout.is_zero());
        if let Some(a) = full.then(|| accs.remove(&key)).flatten() {
            if out
                .send(Group {
                    batch: a.batch,
                    entries: a.entries,
                })
                .await
                .is_err()
            {
                return;
            }
        }
    }
    // Closed: flush what is held (a stopped persistent queue keeps it on disk instead).
    if queue.lock().stopped {
        return;
    }
    for (_, a) in accs {
        if out
            .send(Group {
                batch: a.batch,
                entries: a.entries,
            })
            .await
            .is_err()
        {
            return;
        }
    }
}
