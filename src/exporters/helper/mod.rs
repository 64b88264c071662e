//! What every network exporter shares, as otelcol's exporterhelper: a bounded sending queue with
//! `num_consumers` workers, retry with jittered exponential backoff that honours the destination's
//! throttle delay and skips permanent errors, and a timeout per attempt.

pub mod settings;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub use settings::{QueueSettings, RetrySettings, Sizer};

use crate::pipeline::{ConsumeError, Consumer};
use crate::signal::{Batch, Signal};
use crate::telemetry::events;

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

/// Sends one batch to a destination, once. Partial success is handled inside (logged and counted).
#[async_trait]
pub trait Sender<S: Signal>: Send + Sync + 'static {
    async fn send(&self, batch: &Batch<S>) -> Result<(), ExportError>;
}

struct Item<S: Signal> {
    batch: Batch<S>,
    _permit: Option<OwnedSemaphorePermit>,
    done: Option<oneshot::Sender<Result<(), ConsumeError>>>,
}

/// An exporter: the queue → retry → timeout stack in front of a [`Sender`].
pub struct Exporter<S: Signal> {
    inner: Arc<Inner<S>>,
    queue: Option<QueueSide<S>>,
}

struct QueueSide<S: Signal> {
    tx: std::sync::Mutex<Option<mpsc::UnboundedSender<Item<S>>>>,
    capacity: Arc<Semaphore>,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    settings: QueueSettings,
}

struct Inner<S: Signal> {
    id: String,
    sender: Box<dyn Sender<S>>,
    timeout: Duration,
    retry: RetrySettings,
    /// Set at shutdown: retries stop waiting past it.
    deadline: std::sync::Mutex<Option<Instant>>,
    queued: AtomicU64,
}

impl<S: Signal> Exporter<S> {
    pub fn new(
        id: String,
        sender: Box<dyn Sender<S>>,
        timeout: Duration,
        retry: RetrySettings,
        queue: QueueSettings,
    ) -> Self {
        let inner = Arc::new(Inner {
            id,
            sender,
            timeout,
            retry,
            deadline: std::sync::Mutex::new(None),
            queued: AtomicU64::new(0),
        });
        let queue = queue.enabled.then(|| {
            let (tx, rx) = mpsc::unbounded_channel::<Item<S>>();
            let rx = Arc::new(Mutex::new(rx));
            let workers = (0..queue.num_consumers)
                .map(|_| {
                    let rx = rx.clone();
                    let inner = inner.clone();
                    tokio::spawn(async move {
                        loop {
                            let item = { rx.lock().await.recv().await };
                            let Some(item) = item else { break };
                            let result = inner.send_with_retry(&item.batch).await;
                            inner.queued.fetch_sub(1, Ordering::Relaxed);
                            if let Some(done) = item.done {
                                let _ = done.send(result);
                            }
                        }
                    })
                })
                .collect();
            let permits = usize::try_from(queue.queue_size)
                .unwrap_or(usize::MAX)
                .min(Semaphore::MAX_PERMITS);
            let capacity = Arc::new(Semaphore::new(permits));
            let probe = Arc::downgrade(&capacity);
            events::exporter_queue(&inner.id, S::KIND, permits as u64, move || {
                probe
                    .upgrade()
                    .map(|c| (permits - c.available_permits()) as u64)
            });
            QueueSide {
                tx: std::sync::Mutex::new(Some(tx)),
                capacity,
                workers: Mutex::new(workers),
                settings: queue,
            }
        });
        Exporter { inner, queue }
    }
}

impl<S: Signal> Inner<S> {
    /// Sends with retries; returns the final outcome, already counted and logged.
    async fn send_with_retry(&self, batch: &Batch<S>) -> Result<(), ConsumeError> {
        let start = Instant::now();
        let mut interval = self.retry.initial_interval;
        let items = batch.items();
        loop {
            let attempt = match tokio::time::timeout(self.timeout, self.sender.send(batch)).await {
                Ok(r) => r,
                Err(_) => Err(ExportError::retryable(
                    format!("request timed out after {:?}", self.timeout),
                    None,
                )),
            };
            let err = match attempt {
                Ok(()) => {
                    events::exporter_sent(&self.id, S::KIND, items);
                    return Ok(());
                }
                Err(e) => e,
            };
            if !err.retryable {
                events::exporter_send_failed(&self.id, S::KIND, items);
                tracing::error!(exporter = %self.id, items, error = %err.message, "exporting failed; dropping data (permanent error, not retried)");
                return Err(ConsumeError::Permanent(err.message));
            }
            if !self.retry.enabled {
                events::exporter_send_failed(&self.id, S::KIND, items);
                tracing::error!(exporter = %self.id, items, error = %err.message, "exporting failed; dropping data (retry_on_failure is disabled)");
                return Err(ConsumeError::Retryable {
                    message: err.message,
                    retry_after: err.throttle,
                });
            }
            let jitter =
                1.0 + self.retry.randomization_factor * (rand::random::<f64>() * 2.0 - 1.0);
            let backoff = interval.mul_f64(jitter.max(0.0));
            let wait = backoff.max(err.throttle.unwrap_or_default());
            let elapsed = start.elapsed();
            if !self.retry.max_elapsed_time.is_zero()
                && elapsed + wait > self.retry.max_elapsed_time
            {
                events::exporter_send_failed(&self.id, S::KIND, items);
                tracing::error!(exporter = %self.id, items, error = %err.message, "exporting failed; dropping data (no more retries left: max_elapsed_time reached)");
                return Err(ConsumeError::Retryable {
                    message: err.message,
                    retry_after: err.throttle,
                });
            }
            let deadline = *self.deadline.lock().unwrap_or_else(|e| e.into_inner());
            if deadline.is_some_and(|d| Instant::now() + wait > d) {
                events::exporter_send_failed(&self.id, S::KIND, items);
                tracing::error!(exporter = %self.id, items, error = %err.message, "exporting failed at shutdown; dropping data (the shutdown deadline passed)");
                return Err(ConsumeError::Retryable {
                    message: err.message,
                    retry_after: None,
                });
            }
            tracing::info!(exporter = %self.id, error = %err.message, interval = ?wait, "exporting failed; will retry");
            tokio::time::sleep(wait).await;
            interval = interval
                .mul_f64(self.retry.multiplier)
                .min(self.retry.max_interval);
        }
    }
}

#[async_trait]
impl<S: Signal> Consumer<S> for Exporter<S> {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        let Some(q) = &self.queue else {
            return self.inner.send_with_retry(&batch).await;
        };
        let units = match q.settings.sizer {
            Sizer::Requests => 1,
            Sizer::Items => batch.items().max(1),
            Sizer::Bytes => batch
                .encoded_segments()
                .iter()
                .map(|s| s.len())
                .sum::<usize>()
                .max(1),
        };
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        let permit = if q.settings.block_on_overflow || q.settings.blocking == Some(true) {
            q.capacity.clone().acquire_many_owned(units).await.ok()
        } else {
            q.capacity.clone().try_acquire_many_owned(units).ok()
        };
        let Some(permit) = permit else {
            events::exporter_enqueue_failed(&self.inner.id, S::KIND, batch.items());
            return Err(ConsumeError::retryable(format!(
                "sending queue of exporter {} is full",
                self.inner.id
            )));
        };
        let (done, result) = if q.settings.wait_for_result {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let item = Item {
            batch,
            _permit: Some(permit),
            done,
        };
        {
            let tx = q.tx.lock().unwrap_or_else(|e| e.into_inner());
            let Some(tx) = tx.as_ref() else {
                return Err(ConsumeError::retryable(format!(
                    "exporter {} is shutting down",
                    self.inner.id
                )));
            };
            self.inner.queued.fetch_add(1, Ordering::Relaxed);
            if tx.send(item).is_err() {
                self.inner.queued.fetch_sub(1, Ordering::Relaxed);
                return Err(ConsumeError::retryable(format!(
                    "exporter {} is shutting down",
                    self.inner.id
                )));
            }
        }
        match result {
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| Err(ConsumeError::retryable("exporter stopped"))),
            None => Ok(()),
        }
    }

    /// Closes the queue and lets the workers drain it until the deadline; what is left is logged.
    async fn shutdown(&self, deadline: Instant) {
        *self
            .inner
            .deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(deadline);
        let Some(q) = &self.queue else { return };
        q.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut workers = q.workers.lock().await;
        let all = futures::future::join_all(workers.iter_mut());
        if tokio::time::timeout_at(deadline, all).await.is_err() {
            let left = self.inner.queued.load(Ordering::Relaxed);
            tracing::error!(exporter = %self.inner.id, batches = left, "shutdown deadline passed with data still queued; it is dropped");
            for w in workers.iter() {
                w.abort();
            }
        }
    }
}
