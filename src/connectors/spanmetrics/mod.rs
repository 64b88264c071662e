//! The `spanmetrics` connector (traces → metrics), as otelcol-contrib's spanmetricsconnector:
//! `calls` (sum) and `duration` (explicit or exponential histogram) per service, span name, kind,
//! status and configured dimensions, optionally `events`, flushed every `metrics_flush_interval`
//! and once more at shutdown, so nothing aggregated is lost.
//!
//! Spans are aggregated under one mutex as they arrive (the traces pipeline is acknowledged at
//! once, as otelcol does); a task flushes on the interval and hands one metrics batch to the next
//! consumer. Flushes are serialised, so a cumulative series never goes back in time downstream.

pub mod aggregate;
pub mod config;
mod factory;
pub mod histogram;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::pipeline::{ConsumeError, Consumer};
use crate::signal::{Batch, Metrics, Traces};
use crate::telemetry::events;
use aggregate::Aggregator;
pub use config::Config;
pub use factory::Factory;

/// The connector's type name in `connectors:`.
pub const TYPE_NAME: &str = "spanmetrics";

/// Unix time in nanoseconds (0 if the clock is before 1970).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
        .unwrap_or(0)
}

/// The running connector: a traces consumer that feeds a metrics consumer.
pub struct SpanMetrics {
    id: String,
    interval: Duration,
    state: Mutex<Aggregator>,
    next: Arc<dyn Consumer<Metrics>>,
    /// Held across build-and-send, so flushes reach the next consumer in order.
    flushing: tokio::sync::Mutex<()>,
    ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Tells the flush task to stop between flushes (never in the middle of one).
    stop: Arc<tokio::sync::Notify>,
}

impl SpanMetrics {
    /// Builds the connector and, inside a tokio runtime, starts its flush task.
    pub fn start(
        id: impl Into<String>,
        cfg: &Config,
        next: Arc<dyn Consumer<Metrics>>,
    ) -> Arc<Self> {
        let me = Arc::new(SpanMetrics {
            id: id.into(),
            interval: cfg.metrics_flush_interval,
            state: Mutex::new(Aggregator::new(cfg)),
            next,
            flushing: tokio::sync::Mutex::new(()),
            ticker: Mutex::new(None),
            stop: Arc::new(tokio::sync::Notify::new()),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            // Only a weak reference in the task: the pipeline owns the connector.
            let weak = Arc::downgrade(&me);
            let interval = me.interval;
            let stop = me.stop.clone();
            let task = tokio::spawn(async move {
                let start = tokio::time::Instant::now() + interval;
                let mut iv = tokio::time::interval_at(start, interval);
                iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = iv.tick() => {}
                        _ = stop.notified() => return,
                    }
                    let Some(me) = weak.upgrade() else { return };
                    let deadline = tokio::time::Instant::now() + interval;
                    me.flush(deadline).await;
                }
            });
            *me.ticker.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        }
        me
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Aggregator> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Series held in memory now.
    pub fn series_count(&self) -> usize {
        self.lock().series_count()
    }

    /// Builds the metrics and hands them on, retrying a refusal until `deadline`.
    pub async fn flush(&self, deadline: tokio::time::Instant) {
        // A flush still sending when the deadline comes is overtaken rather than waited for.
        let _order = tokio::time::timeout_at(deadline, self.flushing.lock())
            .await
            .ok();
        let flushed = self.lock().flush(now_ns());
        for (reason, n) in flushed.evicted {
            events::spanmetrics_series_evicted(&self.id, reason.as_str(), n);
        }
        if flushed.resource_metrics.is_empty() {
            return;
        }
        let batch = Batch::<Metrics>::from_resources(flushed.resource_metrics);
        let mut delay = Duration::from_millis(50);
        loop {
            let attempt = tokio::time::timeout_at(deadline, self.next.consume(batch.clone())).await;
            let err = match attempt {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e,
                Err(_) => ConsumeError::retryable("flush deadline passed"),
            };
            let now = tokio::time::Instant::now();
            if !err.is_retryable() || now + delay >= deadline {
                tracing::warn!(connector = %self.id, error = %err, "spanmetrics: metrics refused downstream; this flush is lost");
                events::spanmetrics_flush_failed(&self.id);
                return;
            }
            tokio::time::sleep(err.retry_after().unwrap_or(delay).min(deadline - now)).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}

#[async_trait]
impl Consumer<Traces> for SpanMetrics {
    async fn consume(&self, mut batch: Batch<Traces>) -> Result<(), ConsumeError> {
        let resources = batch.resources()?;
        let now = now_ns();
        self.lock().aggregate(resources, now);
        Ok(())
    }

    /// Stops the flush task and flushes what is held (delta and cumulative alike) before
    /// `deadline`. The metrics pipeline it feeds must still be running.
    async fn shutdown(&self, deadline: tokio::time::Instant) {
        self.stop.notify_one();
        self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.flush(deadline).await;
    }
}

impl Drop for SpanMetrics {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }
}
