//! The `memory_limiter` processor: refuses data while the process's resident memory is above the soft
//! limit (hard limit − spike limit), so that senders back off and retry instead of the collector
//! being killed for running out of memory.
//!
//! - Memory is the real resident set size (`/proc/self/statm`), not an allocator's count, read every
//!   `check_interval` by a background task, and again on admission whenever the last reading is
//!   older than [`FAST_RECHECK`], so a burst is noticed within milliseconds rather than a whole
//!   interval.
//! - Receivers ask before they read a request body (an admission gate on [`Host::admission`]): an
//!   overloaded collector refuses without allocating the request. `consume` refuses too, for data
//!   arriving any other way.
//! - A refusal is retryable, "data refused due to high memory usage": gRPC `UNAVAILABLE`, HTTP 503.
//! - One limiter per component id, shared by every pipeline it is in, as otelcol's.

pub mod config;
pub mod memory;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_yaml::Value;

use crate::component::{ConfigResult, Host, PreparedProcessor, ProcessorFactory, StartError};
use crate::config::ComponentId;
use crate::pipeline::{AnyConsumer, BuildFor, ConsumeError, Consumer};
use crate::signal::{Batch, Signal, SignalKind};
pub use config::Config;

/// The refusal message, as otelcol's.
pub const REFUSED: &str = "data refused due to high memory usage";

/// Admission re-reads memory when the last reading is older than this (or than `check_interval`, if
/// shorter).
pub const FAST_RECHECK: Duration = Duration::from_millis(10);

pub struct Factory;

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "memory_limiter"
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
            limiter: OnceLock::new(),
        }))
    }
}

struct Prepared {
    cfg: Config,
    limiter: OnceLock<Arc<Limiter>>,
}

impl PreparedProcessor for Prepared {
    fn create(
        &self,
        id: &ComponentId,
        _pipeline: &str,
        next: AnyConsumer,
        host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        let limiter = match self.limiter.get() {
            Some(l) => l.clone(),
            None => {
                let (hard, soft) = self
                    .cfg
                    .limits(memory::available_memory)
                    .map_err(|e| StartError::new(id, e))?;
                let l = Limiter::start(
                    id.to_string(),
                    hard,
                    soft,
                    self.cfg.check_interval,
                    Arc::new(|| memory::rss_bytes().unwrap_or(0)),
                );
                let gate = l.clone();
                host.admission.add_gate(Arc::new(move || gate.admit()));
                tracing::info!(processor = %id, limit_mib = hard >> 20, soft_limit_mib = soft >> 20,
                    check_interval = ?self.cfg.check_interval, "memory limiter started");
                let _ = self.limiter.set(l.clone());
                l
            }
        };
        Ok(next.wrap(&limiter))
    }
}

/// Reads the process's memory in bytes (replaced in tests).
pub type MemoryReader = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The shared state: the limits, the last reading and whether data is being refused.
pub struct Limiter {
    id: String,
    hard: u64,
    soft: u64,
    read: MemoryReader,
    refusing: AtomicBool,
    above_hard: AtomicBool,
    last_reading: AtomicU64,
    /// Nanoseconds since `epoch` of the last reading.
    last_check: AtomicU64,
    recheck: Duration,
    epoch: Instant,
}

impl Limiter {
    /// Takes a first reading and starts the background check (inside a tokio runtime).
    pub fn start(
        id: String,
        hard: u64,
        soft: u64,
        check_interval: Duration,
        read: MemoryReader,
    ) -> Arc<Limiter> {
        let l = Arc::new(Limiter {
            id,
            hard,
            soft,
            read,
            refusing: AtomicBool::new(false),
            above_hard: AtomicBool::new(false),
            last_reading: AtomicU64::new(0),
            last_check: AtomicU64::new(0),
            recheck: check_interval.min(FAST_RECHECK),
            epoch: Instant::now(),
        });
        l.check();
        let weak: Weak<Limiter> = Arc::downgrade(&l);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(check_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                // Ends when the last pipeline holding the limiter is gone.
                let Some(l) = weak.upgrade() else { return };
                l.check();
            }
        });
        l
    }

    /// Reads memory and updates the refusing state, logging each change as otelcol does.
    pub fn check(&self) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        self.last_check.store(now, Ordering::Relaxed);
        let used = (self.read)();
        self.last_reading.store(used, Ordering::Relaxed);
        let over = used > self.soft;
        let was = self.refusing.swap(over, Ordering::Relaxed);
        if over && !was {
            tracing::warn!(processor = %self.id, cur_mem_mib = used >> 20, soft_limit_mib = self.soft >> 20,
                "Memory usage is above soft limit. Refusing data.");
        } else if !over && was {
            tracing::info!(processor = %self.id, cur_mem_mib = used >> 20,
                "Memory usage back within limits. Resuming normal operation.");
        }
        let hard = used > self.hard;
        if hard && !self.above_hard.swap(true, Ordering::Relaxed) {
            tracing::warn!(processor = %self.id, cur_mem_mib = used >> 20, limit_mib = self.hard >> 20,
                "Memory usage is above hard limit.");
        } else if !hard {
            self.above_hard.store(false, Ordering::Relaxed);
        }
    }

    /// `Err` (retryable) while memory is above the soft limit. Re-reads memory when the last
    /// reading is stale; only one caller does so at a time.
    pub fn admit(&self) -> Result<(), ConsumeError> {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let last = self.last_check.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= self.recheck.as_nanos() as u64
            && self
                .last_check
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.check();
        }
        if self.refusing.load(Ordering::Relaxed) {
            return Err(ConsumeError::retryable(REFUSED));
        }
        Ok(())
    }

    pub fn is_refusing(&self) -> bool {
        self.refusing.load(Ordering::Relaxed)
    }

    /// The last memory reading, in bytes.
    pub fn last_reading(&self) -> u64 {
        self.last_reading.load(Ordering::Relaxed)
    }

    pub fn limits(&self) -> (u64, u64) {
        (self.hard, self.soft)
    }
}

impl<S: Signal> BuildFor<S> for Arc<Limiter> {
    fn build(&self, next: Arc<dyn Consumer<S>>) -> Arc<dyn Consumer<S>> {
        Arc::new(MemoryLimiter {
            limiter: self.clone(),
            next,
        })
    }
}

pub struct MemoryLimiter<S: Signal> {
    limiter: Arc<Limiter>,
    next: Arc<dyn Consumer<S>>,
}

#[async_trait]
impl<S: Signal> Consumer<S> for MemoryLimiter<S> {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        self.limiter.admit()?;
        self.next.consume(batch).await
    }
}

#[cfg(test)]
mod tests;
