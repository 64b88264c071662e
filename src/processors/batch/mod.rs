//! The `batch` processor: groups data into larger requests, as otelcol's, and does not lose what it
//! has accepted.
//!
//! - A batch is sent when it reaches `send_batch_size` items, when its oldest data has waited
//!   `timeout`, and at shutdown. Batches over `send_batch_max_size` are split (only then is data
//!   decoded; otherwise encoded requests are joined as they are).
//! - With `metadata_keys`, one batcher per distinct combination of those client metadata values; the
//!   sent batch carries just those values. Past `metadata_cardinality_limit` combinations, data is
//!   refused (permanently, as otelcol).
//! - Unlike otelcol, a refusal from the next consumer is not the end of the data: a retryable one is
//!   retried with backoff until the shutdown deadline. What the processor holds (waiting and being
//!   sent) is bounded; past the bound new data is refused retryably, so senders back off.
//! - Joining and splitting happen outside the state lock, and decoding a large batch to split it runs
//!   on the blocking pool. Each request of a batch is decoded on its own: should one fail to decode
//!   (the receivers' scan refuses such requests, so this is defence in depth), only its items are
//!   dropped — logged and counted in `otelcol_processor_dropped_*` — and the others are sent.

pub mod config;
pub mod split;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use serde_yaml::Value;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::component::{ConfigResult, Host, PreparedProcessor, ProcessorFactory, StartError};
use crate::config::ComponentId;
use crate::pipeline::{AnyConsumer, BuildFor, ConsumeError, Consumer};
use crate::signal::{Batch, ClientMetadata, DecodeError, SignalKind};
use crate::telemetry::events;
pub use config::Config;
use split::Split;

pub struct Factory;

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "batch"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedProcessor>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let errors = c.validate(path);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(Prepared {
            cfg: c,
            id: String::new(),
        }))
    }
}

struct Prepared {
    cfg: Config,
    /// The component id, as otelcol's `processor` metric label.
    id: String,
}

impl PreparedProcessor for Prepared {
    fn create(
        &self,
        id: &ComponentId,
        pipeline: &str,
        next: AnyConsumer,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        let _ = pipeline;
        let named = Prepared {
            cfg: self.cfg.clone(),
            id: id.to_string(),
        };
        Ok(next.wrap(&named))
    }
}

impl<S: Split> BuildFor<S> for Prepared {
    fn build(&self, next: Arc<dyn Consumer<S>>) -> Arc<dyn Consumer<S>> {
        Arc::new(BatchProcessor::new(self.cfg.clone(), next, &self.id))
    }
}

/// Why a batch was sent, for otelcol's trigger counters (shutdown counts as timeout, as otelcol).
#[derive(Clone, Copy)]
enum Trigger {
    Size,
    Timeout,
}

/// The values of `metadata_keys`, in order; no values and an empty value are different keys.
type ShardKey = Vec<Vec<String>>;

struct Shard<S: Split> {
    /// Requests waiting, in arrival order. They are joined (and split) only once taken out, outside
    /// the lock, so that decoding never runs under it.
    parts: Vec<Batch<S>>,
    items: usize,
    /// When the pending data must be sent at the latest.
    deadline: Instant,
    metadata: Option<Arc<ClientMetadata>>,
}

/// Data taken out of a shard to be sent.
struct Taken<S: Split> {
    key: ShardKey,
    parts: Vec<Batch<S>>,
    items: usize,
    metadata: Option<Arc<ClientMetadata>>,
    /// With a size trigger and splitting: what is left below this many items waits for more data.
    keep_below: usize,
}

/// Taken data joined and split: batches to send, a remainder to keep, requests that did not decode.
struct Assembled<S: Split> {
    ready: Vec<Batch<S>>,
    rest: Option<Batch<S>>,
    bad: Vec<DecodeError>,
}

struct State<S: Split> {
    shards: HashMap<ShardKey, Shard<S>>,
    /// Items waiting in shards, being joined or split, and being sent.
    held: usize,
    stopped: bool,
}

struct Inner<S: Split> {
    cfg: Config,
    id: String,
    next: Arc<dyn Consumer<S>>,
    state: Mutex<State<S>>,
    sends: Mutex<JoinSet<()>>,
    timer: Arc<Notify>,
    /// Set at shutdown: retries stop there.
    deadline: Mutex<Option<Instant>>,
    max_pending: usize,
}

pub struct BatchProcessor<S: Split> {
    inner: Arc<Inner<S>>,
}

/// First and longest wait between attempts to hand a batch on.
const RETRY_INITIAL: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Decoding more encoded bytes than this (to split) runs on the blocking pool, not a runtime worker.
const INLINE_DECODE_BYTES: usize = 64 * 1024;

/// `now + d`, saturating far in the future instead of overflowing (`d` comes from config or a peer).
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

impl<S: Split> BatchProcessor<S> {
    /// Starts the timeout task; must be called inside a tokio runtime.
    pub fn new(cfg: Config, next: Arc<dyn Consumer<S>>, id: &str) -> Self {
        let max_pending = cfg.max_pending_items();
        let inner = Arc::new(Inner {
            cfg,
            id: if id.is_empty() {
                "batch".into()
            } else {
                id.to_string()
            },
            next,
            state: Mutex::new(State {
                shards: HashMap::new(),
                held: 0,
                stopped: false,
            }),
            sends: Mutex::new(JoinSet::new()),
            timer: Arc::new(Notify::new()),
            deadline: Mutex::new(None),
            max_pending,
        });
        if !inner.cfg.timeout.is_zero() {
            tokio::spawn(timer_loop(Arc::downgrade(&inner), inner.timer.clone()));
        }
        BatchProcessor { inner }
    }

    /// Items held (waiting or being sent); for tests.
    pub fn held(&self) -> usize {
        lock(&self.inner.state).held
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Joins taken requests and splits them into batches of at most `max` items (`0`: no bound),
/// keeping a remainder below `keep_below` items. Each request is decoded on its own, so one that
/// does not decode is left out and the others are still sent.
fn assemble<S: Split>(parts: Vec<Batch<S>>, max: usize, keep_below: usize) -> Assembled<S> {
    let mut resources = Vec::new();
    let mut bad = Vec::new();
    for part in parts {
        let (r, b) = part.into_resources_per_request();
        resources.extend(r);
        bad.extend(b);
    }
    let mut ready = Vec::new();
    let mut rest = None;
    let mut n = S::count(&resources);
    while n > 0 {
        if keep_below > 0 && n < keep_below {
            rest = Some(Batch::from_resources(resources));
            break;
        }
        if max == 0 || n <= max {
            ready.push(Batch::from_resources(resources));
            break;
        }
        ready.push(Batch::from_resources(S::split_front(&mut resources, max)));
        n = n.saturating_sub(max);
    }
    Assembled { ready, rest, bad }
}

impl<S: Split> Inner<S> {
    fn shard_key(&self, md: Option<&ClientMetadata>) -> (ShardKey, Option<Arc<ClientMetadata>>) {
        if self.cfg.metadata_keys.is_empty() {
            return (Vec::new(), None);
        }
        let mut key = Vec::with_capacity(self.cfg.metadata_keys.len());
        let mut entries = Vec::new();
        for k in &self.cfg.metadata_keys {
            let vals: Vec<String> = md
                .map(|m| m.get(k).map(String::from).collect())
                .unwrap_or_default();
            for v in &vals {
                entries.push((k.to_ascii_lowercase(), v.clone()));
            }
            key.push(vals);
        }
        (
            key,
            Some(Arc::new(ClientMetadata {
                entries,
                address: None,
            })),
        )
    }

    /// Joins (and, past `send_batch_max_size`, splits) what was taken from a shard and sends it; a
    /// remainder below `send_batch_size` goes back to the shard. Never called under the state lock.
    /// Every item taken is accounted for: sent, kept, or dropped (logged and counted); the only await
    /// is in a task of its own, so dropping this future loses nothing.
    async fn dispatch(self: &Arc<Self>, t: Taken<S>, trigger: Trigger) {
        let max = self.cfg.send_batch_max_size as usize;
        let Taken {
            key,
            parts,
            items,
            metadata,
            keep_below,
        } = t;
        let assembled = if (max == 0 || items <= max) && parts.iter().all(Batch::is_encoded) {
            // Encoded requests are joined as they are: no decode.
            let mut joined = Batch::empty();
            let mut bad = Vec::new();
            for p in parts {
                if let Err(e) = joined.append(p) {
                    bad.push(e);
                }
            }
            Assembled {
                ready: vec![joined],
                rest: None,
                bad,
            }
        } else if parts.iter().map(Batch::encoded_len).sum::<usize>() > INLINE_DECODE_BYTES {
            // On the blocking pool, in a task of its own: should the caller's future be dropped (a
            // client hung up), the data is still sent and accounted for.
            let me = self.clone();
            let task = tokio::spawn(async move {
                let a = match tokio::task::spawn_blocking(move || assemble(parts, max, keep_below))
                    .await
                {
                    Ok(a) => a,
                    Err(e) => Assembled {
                        ready: Vec::new(),
                        rest: None,
                        bad: vec![
                            DecodeError::new(format!("splitting failed: {e}")).with_items(items)
                        ],
                    },
                };
                me.finish(key, items, metadata, a, trigger);
            });
            let _ = task.await;
            return;
        } else {
            assemble(parts, max, keep_below)
        };
        self.finish(key, items, metadata, assembled, trigger);
    }

    /// Accounts for `items` taken from the shard `key` once assembled: sends what is ready, keeps the
    /// rest, drops (logs and counts) what did not decode.
    fn finish(
        self: &Arc<Self>,
        key: ShardKey,
        items: usize,
        metadata: Option<Arc<ClientMetadata>>,
        assembled: Assembled<S>,
        trigger: Trigger,
    ) {
        let Assembled {
            mut ready,
            rest,
            bad,
        } = assembled;
        ready.retain(|b| b.items() > 0);
        let sent: usize = ready.iter().map(Batch::items).sum();
        let kept = rest.as_ref().map_or(0, Batch::items);
        let lost = items.saturating_sub(sent + kept);
        for e in &bad {
            tracing::error!(processor = %self.id, items = e.items(), error = %e,
                "a request in the batch cannot be decoded; dropping it and sending the others");
        }
        if lost > 0 {
            tracing::error!(processor = %self.id, items = lost, requests = bad.len(),
                "items dropped: their requests cannot be decoded");
            events::processor_dropped(&self.id, S::KIND, lost);
        }
        {
            let mut st = lock(&self.state);
            st.held = st.held.saturating_sub(lost);
            if let Some(rest) = rest.filter(|r| r.items() > 0) {
                if st.stopped {
                    ready.push(rest);
                } else {
                    let timeout = self.cfg.timeout;
                    let mut new_shard = false;
                    let shard = st.shards.entry(key).or_insert_with(|| {
                        new_shard = true;
                        Shard {
                            parts: Vec::new(),
                            items: 0,
                            deadline: later(Instant::now(), timeout),
                            metadata: metadata.clone(),
                        }
                    });
                    shard.items += rest.items();
                    shard.parts.insert(0, rest);
                    if new_shard {
                        self.timer.notify_one();
                    }
                }
            }
        }
        for b in &mut ready {
            b.metadata = metadata.clone();
        }
        self.spawn_sends(ready, trigger);
    }

    fn spawn_sends(self: &Arc<Self>, batches: Vec<Batch<S>>, trigger: Trigger) {
        if batches.is_empty() {
            return;
        }
        let mut sends = lock(&self.sends);
        while sends.try_join_next().is_some() {}
        for b in batches {
            let inner = self.clone();
            sends.spawn(async move { inner.send(b, trigger).await });
        }
    }

    /// Hands a batch on, retrying retryable refusals until the shutdown deadline.
    async fn send(&self, batch: Batch<S>, trigger: Trigger) {
        let n = batch.items();
        let mut backoff = RETRY_INITIAL;
        loop {
            match self.next.consume(batch.clone()).await {
                Ok(()) => {
                    events::processor_batch_batch_send_size(&self.id, n);
                    match trigger {
                        Trigger::Size => events::processor_batch_size_trigger_send(&self.id),
                        Trigger::Timeout => events::processor_batch_timeout_trigger_send(&self.id),
                    }
                    break;
                }
                Err(e) if e.is_retryable() => {
                    let wait = e.retry_after().unwrap_or(backoff).max(backoff);
                    backoff = (backoff * 2).min(RETRY_MAX);
                    let deadline = *lock(&self.deadline);
                    let now = Instant::now();
                    let until = match deadline {
                        Some(d) if d <= now => {
                            tracing::error!(processor = %self.id, items = n, error = %e,
                                "batch refused by the next component and the shutdown deadline has passed; dropping it");
                            events::processor_dropped(&self.id, S::KIND, n);
                            break;
                        }
                        Some(d) => later(now, wait).min(d),
                        None => later(now, wait),
                    };
                    tracing::debug!(processor = %self.id, items = n, error = %e, "batch refused; retrying");
                    tokio::time::sleep_until(until).await;
                }
                Err(e) => {
                    tracing::error!(processor = %self.id, items = n, error = %e,
                        "batch refused permanently by the next component; dropping it");
                    events::processor_dropped(&self.id, S::KIND, n);
                    break;
                }
            }
        }
        let mut st = lock(&self.state);
        st.held = st.held.saturating_sub(n);
    }

    /// Sends every shard whose deadline has passed (all of them with `all`); returns the next deadline.
    async fn flush_due(self: &Arc<Self>, all: bool) -> Option<Instant> {
        let now = Instant::now();
        let (taken, next) = {
            let mut st = lock(&self.state);
            let due: Vec<ShardKey> = st
                .shards
                .iter()
                .filter(|(_, s)| all || s.deadline <= now)
                .map(|(k, _)| k.clone())
                .collect();
            let mut taken = Vec::with_capacity(due.len());
            for k in due {
                if let Some(shard) = st.shards.remove(&k) {
                    taken.push(Taken {
                        key: k,
                        parts: shard.parts,
                        items: shard.items,
                        metadata: shard.metadata,
                        keep_below: 0,
                    });
                }
            }
            (taken, st.shards.values().map(|s| s.deadline).min())
        };
        for t in taken {
            self.dispatch(t, Trigger::Timeout).await;
        }
        next
    }
}

async fn timer_loop<S: Split>(inner: Weak<Inner<S>>, notify: Arc<Notify>) {
    let mut next: Option<Instant> = None;
    loop {
        let sleep = async {
            match next {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = notify.notified() => {}
            _ = sleep => {}
        }
        let Some(inner) = inner.upgrade() else { return };
        if lock(&inner.state).stopped {
            return;
        }
        next = inner.flush_due(false).await;
    }
}

#[async_trait]
impl<S: Split> Consumer<S> for BatchProcessor<S> {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        let n = batch.items();
        if n == 0 {
            return Ok(());
        }
        let inner = &self.inner;
        let (key, metadata) = inner.shard_key(batch.metadata.as_deref());
        let taken = {
            let mut st = lock(&inner.state);
            if st.stopped {
                return Err(ConsumeError::retryable(
                    "the batch processor is shutting down",
                ));
            }
            if st.held > 0 && st.held.saturating_add(n) > inner.max_pending {
                return Err(ConsumeError::retryable(format!(
                    "the batch processor holds {} items waiting to be sent (limit {}); try again later",
                    st.held, inner.max_pending
                )));
            }
            let limit = inner.cfg.metadata_cardinality_limit as usize;
            if limit != 0 && !st.shards.contains_key(&key) && st.shards.len() >= limit {
                return Err(ConsumeError::Permanent(format!(
                    "too many batcher metadata-value combinations (metadata_cardinality_limit is {limit})"
                )));
            }
            let timeout = inner.cfg.timeout;
            let mut new_deadline = false;
            let shard = st.shards.entry(key.clone()).or_insert_with(|| {
                new_deadline = true;
                Shard {
                    parts: Vec::new(),
                    items: 0,
                    deadline: later(Instant::now(), timeout),
                    metadata: metadata.clone(),
                }
            });
            shard.parts.push(batch.with_metadata(None));
            shard.items += n;
            let size = inner.cfg.send_batch_size as usize;
            let take = if timeout.is_zero() {
                // otelcol counts a send without a timer as a size trigger.
                Some(0)
            } else if size > 0 && shard.items >= size {
                // As otelcol: the timer restarts after a send.
                shard.deadline = later(Instant::now(), timeout);
                Some(size)
            } else {
                None
            };
            let taken = take.map(|keep_below| Taken {
                key: key.clone(),
                parts: std::mem::take(&mut shard.parts),
                items: std::mem::replace(&mut shard.items, 0),
                metadata: shard.metadata.clone(),
                keep_below,
            });
            if shard.items == 0 {
                st.shards.remove(&key);
            }
            st.held += n;
            if new_deadline {
                inner.timer.notify_one();
            }
            taken
        };
        if let Some(t) = taken {
            inner.dispatch(t, Trigger::Size).await;
        }
        Ok(())
    }

    /// Sends everything pending, then waits for every send (retrying refusals) until `deadline`.
    async fn shutdown(&self, deadline: Instant) {
        let inner = &self.inner;
        *lock(&inner.deadline) = Some(deadline);
        lock(&inner.state).stopped = true;
        inner.flush_due(true).await;
        inner.timer.notify_one();
        let mut sends = std::mem::take(&mut *lock(&inner.sends));
        let drained = tokio::time::timeout_at(deadline, async {
            while sends.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            sends.abort_all();
            let left = std::mem::take(&mut lock(&inner.state).held);
            tracing::error!(processor = %inner.id, items = left,
                "shutdown deadline reached before every batch was handed on; dropping the rest");
            events::processor_dropped(&inner.id, S::KIND, left);
        }
    }
}

#[cfg(test)]
mod tests;
