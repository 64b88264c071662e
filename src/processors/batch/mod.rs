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
use crate::signal::{Batch, ClientMetadata, Logs, Metrics, SignalKind, Traces};
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

impl BuildFor for Prepared {
    fn traces(&self, next: Arc<dyn Consumer<Traces>>) -> Arc<dyn Consumer<Traces>> {
        Arc::new(BatchProcessor::new(self.cfg.clone(), next, &self.id))
    }
    fn metrics(&self, next: Arc<dyn Consumer<Metrics>>) -> Arc<dyn Consumer<Metrics>> {
        Arc::new(BatchProcessor::new(self.cfg.clone(), next, &self.id))
    }
    fn logs(&self, next: Arc<dyn Consumer<Logs>>) -> Arc<dyn Consumer<Logs>> {
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
    pending: Batch<S>,
    /// When the pending data must be sent at the latest.
    deadline: Instant,
    metadata: Option<Arc<ClientMetadata>>,
}

struct State<S: Split> {
    shards: HashMap<ShardKey, Shard<S>>,
    /// Items waiting in shards plus items being sent.
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

    /// Takes batches off the front of `shard` while `ready(items)` holds, each at most
    /// `send_batch_max_size` items.
    fn take_ready(
        &self,
        shard: &mut Shard<S>,
        ready: impl Fn(usize) -> bool,
    ) -> Result<Vec<Batch<S>>, ConsumeError> {
        let max = self.cfg.send_batch_max_size as usize;
        let mut out = Vec::new();
        while shard.pending.items() > 0 && ready(shard.pending.items()) {
            if max == 0 || shard.pending.items() <= max {
                out.push(std::mem::replace(&mut shard.pending, Batch::empty()));
                break;
            }
            // Only splitting needs the data decoded.
            let pending = std::mem::replace(&mut shard.pending, Batch::empty());
            let mut resources = pending.into_resources()?;
            while S::count(&resources) > max && ready(S::count(&resources)) {
                out.push(Batch::from_resources(S::split_front(&mut resources, max)));
            }
            shard.pending = Batch::from_resources(resources);
            if shard.pending.items() > max || !ready(shard.pending.items()) {
                break;
            }
        }
        for b in &mut out {
            b.metadata = shard.metadata.clone();
        }
        Ok(out)
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
                            break;
                        }
                        Some(d) => (now + wait).min(d),
                        None => now + wait,
                    };
                    tracing::debug!(processor = %self.id, items = n, error = %e, "batch refused; retrying");
                    tokio::time::sleep_until(until).await;
                }
                Err(e) => {
                    tracing::error!(processor = %self.id, items = n, error = %e,
                        "batch refused permanently by the next component; dropping it");
                    break;
                }
            }
        }
        let mut st = lock(&self.state);
        st.held = st.held.saturating_sub(n);
    }

    /// Sends every shard whose deadline has passed (all of them with `all`); returns the next deadline.
    fn flush_due(self: &Arc<Self>, all: bool) -> Option<Instant> {
        let now = Instant::now();
        let mut ready = Vec::new();
        let next = {
            let mut st = lock(&self.state);
            let due: Vec<ShardKey> = st
                .shards
                .iter()
                .filter(|(_, s)| all || s.deadline <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for k in due {
                if let Some(mut shard) = st.shards.remove(&k) {
                    match self.take_ready(&mut shard, |_| true) {
                        Ok(b) => ready.extend(b),
                        Err(e) => {
                            tracing::error!(processor = %self.id, error = %e, "cannot split a batch; dropping it");
                        }
                    }
                    let lost = shard.pending.items();
                    st.held = st.held.saturating_sub(lost);
                }
            }
            st.shards.values().map(|s| s.deadline).min()
        };
        self.spawn_sends(ready, Trigger::Timeout);
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
        next = inner.flush_due(false);
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
        let (ready, trigger) = {
            let mut st = lock(&inner.state);
            if st.stopped {
                return Err(ConsumeError::retryable(
                    "the batch processor is shutting down",
                ));
            }
            if st.held > 0 && st.held + n > inner.max_pending {
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
                    pending: Batch::empty(),
                    deadline: Instant::now() + timeout,
                    metadata,
                }
            });
            if shard.pending.items() == 0 {
                shard.pending = batch.with_metadata(None);
            } else {
                shard.pending.append(batch.with_metadata(None))?;
            }
            let size = inner.cfg.send_batch_size as usize;
            let mut trigger = Trigger::Size;
            let ready = if timeout.is_zero() {
                // otelcol counts a send without a timer as a size trigger.
                inner.take_ready(shard, |_| true)?
            } else if size > 0 && shard.pending.items() >= size {
                let b = inner.take_ready(shard, |items| items >= size)?;
                // As otelcol: the timer restarts after a send.
                shard.deadline = Instant::now() + timeout;
                b
            } else {
                trigger = Trigger::Timeout;
                Vec::new()
            };
            if shard.pending.items() == 0 {
                st.shards.remove(&key);
            }
            st.held += n;
            if new_deadline {
                inner.timer.notify_one();
            }
            (ready, trigger)
        };
        inner.spawn_sends(ready, trigger);
        Ok(())
    }

    /// Sends everything pending, then waits for every send (retrying refusals) until `deadline`.
    async fn shutdown(&self, deadline: Instant) {
        let inner = &self.inner;
        *lock(&inner.deadline) = Some(deadline);
        lock(&inner.state).stopped = true;
        inner.flush_due(true);
        inner.timer.notify_one();
        let mut sends = std::mem::take(&mut *lock(&inner.sends));
        let drained = tokio::time::timeout_at(deadline, async {
            while sends.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            let left = lock(&inner.state).held;
            tracing::error!(processor = %inner.id, items = left,
                "shutdown deadline reached before every batch was handed on; dropping the rest");
            sends.abort_all();
        }
    }
}

#[cfg(test)]
mod tests;
