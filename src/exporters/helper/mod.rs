//! What every network exporter shares, as otelcol's exporterhelper: a bounded sending queue (in
//! memory, or on disk through a storage extension) with `num_consumers` workers, optional batching
//! after the queue, retry with jittered exponential backoff that honours the destination's throttle
//! delay and skips permanent errors, and a timeout per attempt.
//!
//! Delivery: `consume` returns `Ok` once the batch is in the queue; for a persistent queue that is
//! once it is written to the queue's file (and synced, with `fsync`). A batch leaves the queue only
//! when it was sent or dropped for good, so what was being sent at a crash or a shutdown is sent again
//! at the next start.
//!
//! Nothing a destination sends or a config holds may panic here: durations from `Retry-After`,
//! `RetryInfo` or `retry_on_failure` are combined with saturating arithmetic ([`saturating_mul`],
//! `saturating_add`, `checked_add` on instants), and a worker whose send panics anyway finishes its
//! batch (counted as failed) and goes on.

pub mod errors;
pub mod headers;
// Reviewed on its own (it reads its own files, not the network); not under the exporters' lint yet.
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
pub mod persistent;
pub mod queue;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::time::Instant;

pub use settings::{BatchSettings, QueueSettings, RetrySettings, Sizer};

use crate::component::{Host, StartError};
use crate::config::ComponentId;
use crate::pipeline::{ConsumeError, Consumer};
use crate::signal::{Batch, Signal};
use crate::telemetry::events;
use queue::{Group, Outcome, Queue};

/// A failed send, classified as otelcol classifies it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ExportError {
    pub retryable: bool,
    /// The destination's requested delay (HTTP `Retry-After`, gRPC `RetryInfo`).
    pub throttle: Option<Duration>,
    pub message: String,
}

impl ExportError {
    pub fn retryable(message: impl Into<String>, throttle: Option<Duration>) -> Self {
        ExportError {
            retryable: true,
            throttle,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        ExportError {
            retryable: false,
            throttle: None,
            message: message.into(),
        }
    }
}

/// What the destination took of a batch it answered with success: with OTLP partial success, it may
/// have rejected some items (logged by the sender; counted as `send_failed`, the rest as `sent`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted {
    pub rejected: usize,
}

impl Accepted {
    /// Every item was taken.
    pub const ALL: Accepted = Accepted { rejected: 0 };

    /// What a success response's `partial_success` (rejected count, message; see
    /// [`Signal::partial_success`]) means: the rejected items fail, the rest count as sent, and a
    /// non-empty one is logged as a warning, as otelcol does. A negative count is read as none.
    pub fn from_partial_success(exporter: &str, partial: Option<(i64, String)>) -> Accepted {
        let Some((rejected, message)) = partial else {
            return Accepted::ALL;
        };
        if rejected > 0 || !message.is_empty() {
            tracing::warn!(exporter, rejected, %message, "partial success: the destination rejected some items");
        }
        Accepted {
            rejected: usize::try_from(rejected).unwrap_or(0),
        }
    }
}

/// Sends one batch to a destination, once.
#[async_trait]
pub trait Sender<S: Signal>: Send + Sync + 'static {
    async fn send(&self, batch: &Batch<S>) -> Result<Accepted, ExportError>;
}

/// An exporter: the queue → retry → timeout stack in front of a [`Sender`].
pub struct Exporter<S: Signal> {
    inner: Arc<Inner<S>>,
    queue: Option<Arc<Queue<S>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    settings: QueueSettings,
}

struct Inner<S: Signal> {
    id: String,
    sender: Box<dyn Sender<S>>,
    /// Per attempt; zero means no timeout (as otelcol).
    timeout: Duration,
    retry: RetrySettings,
    /// Set at shutdown: retries, attempts and waits end at it.
    deadline: watch::Sender<Option<Instant>>,
    /// Set when a persistent queue stops: retries end at once, the batch stays on disk.
    stop: watch::Sender<bool>,
}

/// What becomes of a batch the exporter stops trying to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// From an in-memory queue: dropped, counted as send_failed.
    Drop,
    /// From a persistent queue: kept on disk when the queue stops; otherwise as `Drop`.
    Keep,
    /// No queue: a retryable failure goes back to the caller uncounted; a permanent one is counted.
    HandBack,
}

/// Where workers take their work from.
enum Source<S: Signal> {
    Queue,
    Batcher(Mutex<mpsc::Receiver<Group<S>>>),
}

/// The queue → retry → timeout stack around `sender`, for the one signal an exporter instance carries:
/// what every network exporter's `create` returns.
pub fn for_signal<T>(
    signal: crate::signal::SignalKind,
    id: &ComponentId,
    sender: T,
    timeout: Duration,
    retry: &RetrySettings,
    queue: &QueueSettings,
    host: &Host,
) -> Result<crate::pipeline::AnyConsumer, StartError>
where
    T: Sender<crate::signal::Traces> + Sender<crate::signal::Metrics> + Sender<crate::signal::Logs>,
{
    use crate::pipeline::SignalConsumer;
    crate::with_signal!(signal, S => Ok(S::any(Arc::new(Exporter::<S>::build(
        id.to_string(),
        Box::new(sender),
        timeout,
        retry.clone(),
        queue.clone(),
        host,
    )?))))
}

impl<S: Signal> Exporter<S> {
    /// An exporter with an in-memory queue (`queue.storage` must be unset; see [`Exporter::build`]).
    pub fn new(
        id: String,
        sender: Box<dyn Sender<S>>,
        timeout: Duration,
        retry: RetrySettings,
        queue: QueueSettings,
    ) -> Self {
        let q = queue
            .enabled
            .then(|| Arc::new(Queue::new(id.clone(), queue.sizer, queue.queue_size.max(1))));
        Self::assemble(id, sender, timeout, retry, queue, q)
    }

    /// An exporter whose queue may be persistent: `queue.storage` names a storage extension in `host`.
    /// Opening the queue recovers what a previous run left; damage is logged and counted, not fatal.
    pub fn build(
        id: String,
        sender: Box<dyn Sender<S>>,
        timeout: Duration,
        retry: RetrySettings,
        queue: QueueSettings,
        host: &Host,
    ) -> Result<Self, StartError> {
        let Some(storage) = queue.storage.clone().filter(|_| queue.enabled) else {
            return Ok(Self::new(id, sender, timeout, retry, queue));
        };
        let component = format!("exporters::{id}::sending_queue::storage");
        let ext_id = ComponentId::parse(&storage).map_err(|e| StartError::new(&component, e))?;
        let ext = host.extension(&ext_id).ok_or_else(|| {
            StartError::new(
                &component,
                format!(
                    "extension {storage:?} is not configured and enabled in service::extensions"
                ),
            )
        })?;
        let fs = ext.storage().ok_or_else(|| {
            StartError::new(
                &component,
                format!("extension {storage:?} is not a storage extension"),
            )
        })?;
        let dir = fs
            .client_directory(&format!("exporter_{id}_{}", S::KIND))
            .map_err(|e| StartError::new(&component, e))?;
        let opts = persistent::StoreOptions {
            fsync: fs.fsync(),
            compact_on_start: fs.compact_on_start(),
            compaction_batch: usize::try_from(fs.compaction_batch()).unwrap_or(usize::MAX),
        };
        // Takes the directory's lock here (a second process fails to start); reading back what a
        // previous run left happens on the queue's writer thread and is queued when it is done.
        let (store, pending) = persistent::Store::open(&dir, S::KIND, &opts).map_err(|e| {
            StartError::new(
                &component,
                format!("cannot open the persistent queue in {}: {e}", dir.display()),
            )
        })?;
        let q = Arc::new(Queue::persistent(
            id.clone(),
            queue.sizer,
            queue.queue_size.max(1),
            store,
            fs.timeout(),
        ));
        let recovering = q.clone();
        let exporter = id.clone();
        tokio::spawn(async move {
            let recovery = match pending.await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    tracing::error!(exporter = %exporter, queue = %dir.display(), error = %e, "cannot read the persistent queue back; its data stays on disk and this exporter refuses new data");
                    return;
                }
                Err(_) => return,
            };
            if recovery.lost > 0 {
                events::exporter_queue_lost(&exporter, S::KIND, recovery.lost as usize);
                tracing::error!(exporter = %exporter, queue = %dir.display(), lost_batches = recovery.lost, damaged_bytes = recovery.damaged_bytes, "the persistent queue was damaged; batches in the damaged parts are lost, the rest will be sent");
            }
            if !recovery.records.is_empty() {
                let items: u64 = recovery.records.iter().map(|r| r.items as u64).sum();
                tracing::info!(exporter = %exporter, batches = recovery.records.len(), items, "resuming the persistent queue left by the previous run");
            }
            recovering.recovered(recovery);
        });
        Ok(Self::assemble(id, sender, timeout, retry, queue, Some(q)))
    }

    fn assemble(
        id: String,
        sender: Box<dyn Sender<S>>,
        timeout: Duration,
        retry: RetrySettings,
        settings: QueueSettings,
        queue: Option<Arc<Queue<S>>>,
    ) -> Self {
        let inner = Arc::new(Inner {
            id,
            sender,
            timeout,
            retry,
            deadline: watch::channel(None).0,
            stop: watch::channel(false).0,
        });
        let mut tasks = Vec::new();
        if let Some(q) = &queue {
            let probe = Arc::downgrade(q);
            events::exporter_queue(&inner.id, S::KIND, q.capacity(), move || {
                probe.upgrade().map(|q| q.used())
            });
            let source = match &settings.batch {
                Some(b) => {
                    let (tx, rx) = mpsc::channel(settings.num_consumers.max(1));
                    tasks.push(tokio::spawn(queue::run_batcher(q.clone(), b.clone(), tx)));
                    Source::Batcher(Mutex::new(rx))
                }
                None => Source::Queue,
            };
            let source = Arc::new(source);
            for _ in 0..settings.num_consumers.max(1) {
                let (q, inner, source) = (q.clone(), inner.clone(), source.clone());
                tasks.push(tokio::spawn(async move {
                    let keep = q.is_persistent();
                    loop {
                        let group = match source.as_ref() {
                            Source::Queue => {
                                let Some(entry) = q.pop().await else { break };
                                let Some((batch, entry)) = q.load(entry).await else {
                                    continue;
                                };
                                Group {
                                    batch,
                                    entries: vec![entry],
                                }
                            }
                            Source::Batcher(rx) => {
                                let Some(g) = rx.lock().await.recv().await else {
                                    break;
                                };
                                g
                            }
                        };
                        let mode = if keep { Mode::Keep } else { Mode::Drop };
                        let outcome = inner.send_caught(&group.batch, mode).await;
                        q.finish(group.entries, outcome);
                    }
                }));
            }
        }
        Exporter {
            inner,
            queue,
            tasks: Mutex::new(tasks),
            settings,
        }
    }
}

impl<S: Signal> Inner<S> {
    /// [`Inner::send_with_retry`], but a panic in the sender (a bug, never input) ends as a failed
    /// send, counted and logged, instead of killing the worker with its batch unfinished.
    async fn send_caught(&self, batch: &Batch<S>, mode: Mode) -> Outcome {
        match std::panic::AssertUnwindSafe(self.send_with_retry(batch, mode))
            .catch_unwind()
            .await
        {
            Ok(outcome) => outcome,
            Err(_) => {
                let items = batch.items();
                events::exporter_send_failed(&self.id, S::KIND, items);
                tracing::error!(exporter = %self.id, items, "exporting failed: the send panicked (a bug); dropping data");
                Outcome::Dropped(ConsumeError::Permanent("the send panicked".into()))
            }
        }
    }

    /// Resolves once the shutdown deadline is set and has passed.
    async fn deadline_passed(&self) {
        let mut rx = self.deadline.subscribe();
        let d = match rx.wait_for(|d| d.is_some()).await {
            Ok(d) => *d,
            // The sender lives as long as `self`.
            Err(_) => None,
        };
        match d {
            Some(d) => tokio::time::sleep_until(d).await,
            None => futures::future::pending().await,
        }
    }

    fn failed(&self, items: usize, err: &ExportError, why: &str) {
        events::exporter_send_failed(&self.id, S::KIND, items);
        tracing::error!(exporter = %self.id, items, error = %err.message, "exporting failed; dropping data ({why})");
    }

    /// A retryable failure this exporter stops trying: dropped and counted here when the batch came
    /// from the queue; without a queue it is handed back to the caller, who owns it from then on
    /// (retries it, or drops and counts it), so it is not counted here.
    fn gave_up(&self, items: usize, err: &ExportError, why: &str, mode: Mode) {
        if mode == Mode::HandBack {
            tracing::warn!(exporter = %self.id, items, error = %err.message, "exporting failed; the error goes back to the caller ({why})");
        } else {
            self.failed(items, err, why);
        }
    }

    /// Sends with retries; returns the final outcome, already counted and logged. With
    /// [`Mode::Keep`], a stop ends the retries at once with [`Outcome::Kept`] (the batch stays in the
    /// persistent queue); otherwise retries, waits and the attempt itself end at the shutdown deadline.
    async fn send_with_retry(&self, batch: &Batch<S>, mode: Mode) -> Outcome {
        let keep = mode == Mode::Keep;
        let start = Instant::now();
        let mut interval = self.retry.initial_interval;
        let items = batch.items();
        let mut stop = self.stop.subscribe();
        let stopped = |stop: &watch::Receiver<bool>| keep && *stop.borrow();
        loop {
            if stopped(&stop) {
                return Outcome::Kept;
            }
            let send = async {
                if self.timeout.is_zero() {
                    return self.sender.send(batch).await;
                }
                match tokio::time::timeout(self.timeout, self.sender.send(batch)).await {
                    Ok(r) => r,
                    Err(_) => Err(ExportError::retryable(
                        format!("request timed out after {:?}", self.timeout),
                        None,
                    )),
                }
            };
            let attempt = tokio::select! {
                r = send => r,
                _ = self.deadline_passed() => {
                    if keep {
                        return Outcome::Kept;
                    }
                    let err = ExportError::retryable("the shutdown deadline passed during the attempt", None);
                    self.gave_up(items, &err, "the shutdown deadline passed", mode);
                    return Outcome::Dropped(ConsumeError::retryable(err.message));
                }
            };
            let err = match attempt {
                Ok(accepted) => {
                    let rejected = accepted.rejected.min(items);
                    if items > rejected {
                        events::exporter_sent(&self.id, S::KIND, items - rejected);
                    }
                    if rejected > 0 {
                        events::exporter_send_failed(&self.id, S::KIND, rejected);
                    }
                    return Outcome::Sent;
                }
                Err(e) => e,
            };
            if !err.retryable {
                self.failed(items, &err, "permanent error, not retried");
                return Outcome::Dropped(ConsumeError::Permanent(err.message));
            }
            let dropped = |err: ExportError| {
                Outcome::Dropped(ConsumeError::Retryable {
                    message: err.message,
                    retry_after: err.throttle,
                })
            };
            if !self.retry.enabled {
                self.gave_up(items, &err, "retry_on_failure is disabled", mode);
                return dropped(err);
            }
            let jitter =
                1.0 + self.retry.randomization_factor * (rand::random::<f64>() * 2.0 - 1.0);
            let backoff = saturating_mul(interval, jitter);
            // The destination's throttle delay is a floor, never shortened by jitter.
            let wait = backoff.max(err.throttle.unwrap_or_default());
            let elapsed = start.elapsed();
            if !self.retry.max_elapsed_time.is_zero()
                && elapsed.saturating_add(wait) > self.retry.max_elapsed_time
            {
                self.gave_up(
                    items,
                    &err,
                    "no more retries left: max_elapsed_time reached",
                    mode,
                );
                return dropped(err);
            }
            let deadline = *self.deadline.borrow();
            let past_deadline = |d: Instant| Instant::now().checked_add(wait).is_none_or(|t| t > d);
            if !keep && deadline.is_some_and(past_deadline) {
                self.gave_up(items, &err, "the shutdown deadline passed", mode);
                return Outcome::Dropped(ConsumeError::Retryable {
                    message: err.message,
                    retry_after: None,
                });
            }
            tracing::info!(exporter = %self.id, error = %err.message, interval = ?wait, "exporting failed; will retry");
            // tokio's sleep saturates a duration too long for an instant (about 30 years).
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s), if keep => return Outcome::Kept,
                _ = self.deadline_passed(), if !keep => {
                    self.gave_up(items, &err, "the shutdown deadline passed", mode);
                    return dropped(err);
                }
            }
            // A multiplier below 1 (otelcol accepts 0) would shrink the wait towards a busy loop:
            // the wait never drops below `initial_interval`.
            interval = saturating_mul(interval, self.retry.multiplier)
                .max(self.retry.initial_interval)
                .min(self.retry.max_interval);
        }
    }
}

/// `d × f` that never panics: non-finite or negative factors (config is validated, but a NaN must not
/// take a worker down) give zero, or `Duration::MAX` for +∞; an overflow saturates.
pub fn saturating_mul(d: Duration, f: f64) -> Duration {
    if f.is_nan() || f <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(d.as_secs_f64() * f).unwrap_or(Duration::MAX)
}

#[async_trait]
impl<S: Signal> Consumer<S> for Exporter<S> {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        // Without a queue the caller gets the error (otelcol), its class kept. A permanent one is
        // counted here as send_failed (the data ends here); a retryable one is not: the caller owns
        // the data again and retries it (the batch processor does) or drops and counts it (a
        // receiver counts it as refused). otelcol counts every failed call, so a retried batch
        // would be counted as failed and then as sent; see `docs/components/exporters/helper.md`.
        let Some(q) = &self.queue else {
            return match self.inner.send_caught(&batch, Mode::HandBack).await {
                Outcome::Sent => Ok(()),
                Outcome::Dropped(e) => Err(e),
                Outcome::Kept => Err(ConsumeError::retryable("exporter stopped")),
            };
        };
        q.push(batch, self.settings.blocks(), self.settings.wait_for_result)
            .await
    }

    fn closing(&self) {
        if let Some(q) = &self.queue {
            q.refuse_blocked();
        }
    }

    /// An in-memory queue drains until the deadline and logs what is left; a persistent queue stops
    /// handing out batches at once, lets sends in progress finish until the deadline, and keeps the
    /// rest (including what was being sent) on disk for the next start.
    async fn shutdown(&self, deadline: Instant) {
        self.inner.deadline.send_replace(Some(deadline));
        let Some(q) = &self.queue else { return };
        let persistent = q.is_persistent();
        if persistent {
            q.stop();
            self.inner.stop.send_replace(true);
        } else {
            q.close();
        }
        let mut tasks = self.tasks.lock().await;
        let all = futures::future::join_all(tasks.iter_mut());
        if tokio::time::timeout_at(deadline, all).await.is_err() {
            for t in tasks.iter() {
                t.abort();
            }
        }
        // Whoever still waits (`wait_for_result`, `block_on_overflow`) is answered now, not never.
        q.abandon();
        let (batches, items) = q.remaining();
        if persistent {
            if batches > 0 {
                tracing::info!(exporter = %self.inner.id, batches, items, "kept in the persistent queue for the next start");
            }
            if let Some(store) = q.store() {
                store.close().await;
            }
        } else if batches > 0 {
            events::exporter_send_failed(&self.inner.id, S::KIND, items);
            tracing::error!(exporter = %self.inner.id, batches, items, "shutdown deadline passed with data still queued; it is dropped");
        }
    }
}

#[cfg(test)]
mod tests;
