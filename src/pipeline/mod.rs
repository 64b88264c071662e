//! Pipelines: the consumer trait, fan-out, admission control, and building and running the graph.

mod consumer;
pub mod graph;
pub mod listeners;
mod reload;
pub mod service;

pub use consumer::{ConsumeError, Consumer, FanOut};

use std::sync::{Arc, RwLock};

use crate::signal::{Logs, Metrics, SignalKind, Traces};

/// A consumer of any one signal, so factories can be called without knowing the signal statically.
#[derive(Clone)]
pub enum AnyConsumer {
    Traces(Arc<dyn Consumer<Traces>>),
    Metrics(Arc<dyn Consumer<Metrics>>),
    Logs(Arc<dyn Consumer<Logs>>),
}

impl AnyConsumer {
    pub fn signal(&self) -> SignalKind {
        match self {
            AnyConsumer::Traces(_) => SignalKind::Traces,
            AnyConsumer::Metrics(_) => SignalKind::Metrics,
            AnyConsumer::Logs(_) => SignalKind::Logs,
        }
    }

    /// Wraps the consumer with a component built the same way for every signal.
    pub fn wrap(self, b: &dyn BuildFor) -> AnyConsumer {
        match self {
            AnyConsumer::Traces(n) => AnyConsumer::Traces(b.traces(n)),
            AnyConsumer::Metrics(n) => AnyConsumer::Metrics(b.metrics(n)),
            AnyConsumer::Logs(n) => AnyConsumer::Logs(b.logs(n)),
        }
    }

    pub async fn shutdown(&self, deadline: tokio::time::Instant) {
        match self {
            AnyConsumer::Traces(c) => c.shutdown(deadline).await,
            AnyConsumer::Metrics(c) => c.shutdown(deadline).await,
            AnyConsumer::Logs(c) => c.shutdown(deadline).await,
        }
    }

    /// A fan-out over consumers that must all carry `signal`.
    pub fn fan_out(signal: SignalKind, consumers: Vec<AnyConsumer>) -> AnyConsumer {
        macro_rules! collect {
            ($v:ident) => {
                consumers
                    .into_iter()
                    .filter_map(|c| match c {
                        AnyConsumer::$v(c) => Some(c),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            };
        }
        match signal {
            SignalKind::Traces => {
                let mut v = collect!(Traces);
                if v.len() == 1 {
                    return AnyConsumer::Traces(v.remove(0));
                }
                AnyConsumer::Traces(Arc::new(FanOut::new(v)))
            }
            SignalKind::Metrics => {
                let mut v = collect!(Metrics);
                if v.len() == 1 {
                    return AnyConsumer::Metrics(v.remove(0));
                }
                AnyConsumer::Metrics(Arc::new(FanOut::new(v)))
            }
            SignalKind::Logs => {
                let mut v = collect!(Logs);
                if v.len() == 1 {
                    return AnyConsumer::Logs(v.remove(0));
                }
                AnyConsumer::Logs(Arc::new(FanOut::new(v)))
            }
        }
    }
}

/// Builds one component in front of `next`, for whichever signal `next` carries. Processors whose
/// logic is the same for all signals implement this once with a generic helper.
pub trait BuildFor {
    fn traces(&self, next: Arc<dyn Consumer<Traces>>) -> Arc<dyn Consumer<Traces>>;
    fn metrics(&self, next: Arc<dyn Consumer<Metrics>>) -> Arc<dyn Consumer<Metrics>>;
    fn logs(&self, next: Arc<dyn Consumer<Logs>>) -> Arc<dyn Consumer<Logs>>;
}

/// Checks run by receivers before they read a request body (the memory limiter registers one), so that
/// an overloaded collector refuses without allocating the request first.
#[derive(Default)]
pub struct Admission {
    gates: RwLock<Vec<Gate>>,
}

/// One admission check: `Err` refuses the request before its body is read.
pub type Gate = Arc<dyn Fn() -> Result<(), ConsumeError> + Send + Sync>;

impl Admission {
    pub fn add_gate(&self, gate: Gate) {
        self.gates
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(gate);
    }

    /// Replaces every gate with `other`'s: a reload builds its processors against a fresh
    /// [`Admission`] and installs their gates only once it has succeeded.
    pub fn replace_with(&self, other: &Admission) {
        let gates = other
            .gates
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        *self.gates.write().unwrap_or_else(|e| e.into_inner()) = gates;
    }

    pub fn check(&self) -> Result<(), ConsumeError> {
        for g in self.gates.read().unwrap_or_else(|e| e.into_inner()).iter() {
            g()?;
        }
        Ok(())
    }
}
