//! Pipelines: the consumer trait, fan-out, admission control, and building and running the graph.

mod consumer;
pub mod graph;
pub mod listeners;
mod reload;
pub mod service;

pub use consumer::{ConsumeError, Consumer, FanOut};

use std::sync::{Arc, RwLock};

use crate::signal::{Logs, Metrics, Signal, SignalKind, Traces};

/// A consumer of any one signal, so factories can be called without knowing the signal statically.
#[derive(Clone)]
pub enum AnyConsumer {
    Traces(Arc<dyn Consumer<Traces>>),
    Metrics(Arc<dyn Consumer<Metrics>>),
    Logs(Arc<dyn Consumer<Logs>>),
}

/// Ties a signal type to its [`AnyConsumer`] variant, so per-signal code is written once as a generic
/// over `S: SignalConsumer` and dispatched with [`with_signal!`](crate::with_signal).
pub trait SignalConsumer: Signal {
    fn any(c: Arc<dyn Consumer<Self>>) -> AnyConsumer;
    fn get(c: &AnyConsumer) -> Option<&Arc<dyn Consumer<Self>>>;
}

macro_rules! signal_consumer {
    ($($v:ident),*) => {$(
        impl SignalConsumer for $v {
            fn any(c: Arc<dyn Consumer<Self>>) -> AnyConsumer {
                AnyConsumer::$v(c)
            }
            fn get(c: &AnyConsumer) -> Option<&Arc<dyn Consumer<Self>>> {
                match c {
                    AnyConsumer::$v(c) => Some(c),
                    _ => None,
                }
            }
        }
    )*};
}
signal_consumer!(Traces, Metrics, Logs);

/// Evaluates `$body` with the type alias `$S` bound to the signal type of `$kind` (a [`SignalKind`]):
/// the one place a runtime signal becomes a static one.
///
/// ```ignore
/// with_signal!(signal, S => S::any(Arc::new(MyConsumer::<S>::new())))
/// ```
#[macro_export]
macro_rules! with_signal {
    ($kind:expr, $S:ident => $body:expr) => {
        match $kind {
            $crate::signal::SignalKind::Traces => {
                type $S = $crate::signal::Traces;
                $body
            }
            $crate::signal::SignalKind::Metrics => {
                type $S = $crate::signal::Metrics;
                $body
            }
            $crate::signal::SignalKind::Logs => {
                type $S = $crate::signal::Logs;
                $body
            }
        }
    };
}

/// Evaluates `$body` with `$c` bound to the typed consumer inside an [`AnyConsumer`]: the one place a
/// runtime consumer becomes a typed one (the body is compiled once per signal, so it may call generic
/// code over `S: SignalConsumer`).
///
/// ```ignore
/// on_any!(next, n => tokio::spawn(run(n)))
/// ```
#[macro_export]
macro_rules! on_any {
    ($any:expr, $c:ident => $body:expr) => {
        match $any {
            $crate::pipeline::AnyConsumer::Traces($c) => $body,
            $crate::pipeline::AnyConsumer::Metrics($c) => $body,
            $crate::pipeline::AnyConsumer::Logs($c) => $body,
        }
    };
}

impl AnyConsumer {
    pub fn signal(&self) -> SignalKind {
        fn kind<S: Signal>(_: &Arc<dyn Consumer<S>>) -> SignalKind {
            S::KIND
        }
        on_any!(self, c => kind(c))
    }

    /// The typed consumer, if this one carries `S`.
    pub fn typed<S: SignalConsumer>(&self) -> Option<Arc<dyn Consumer<S>>> {
        S::get(self).cloned()
    }

    /// Wraps the consumer with a component built the same way for every signal (see [`BuildFor`]).
    pub fn wrap<B: BuildForAll + ?Sized>(self, b: &B) -> AnyConsumer {
        fn one<S: SignalConsumer, B: BuildFor<S> + ?Sized>(
            b: &B,
            next: Arc<dyn Consumer<S>>,
        ) -> AnyConsumer {
            S::any(b.build(next))
        }
        on_any!(self, n => one(b, n))
    }

    /// See [`Consumer::closing`].
    pub fn closing(&self) {
        on_any!(self, c => c.closing())
    }

    pub async fn shutdown(&self, deadline: tokio::time::Instant) {
        on_any!(self, c => c.shutdown(deadline).await)
    }

    /// A fan-out over consumers that must all carry `signal` (others are ignored).
    pub fn fan_out(signal: SignalKind, consumers: Vec<AnyConsumer>) -> AnyConsumer {
        with_signal!(signal, S => S::any(fan_out::<S>(
            consumers.iter().filter_map(AnyConsumer::typed::<S>).collect(),
        )))
    }
}

/// One consumer feeding all of `consumers`: the consumer itself when there is one.
pub fn fan_out<S: Signal>(mut consumers: Vec<Arc<dyn Consumer<S>>>) -> Arc<dyn Consumer<S>> {
    if consumers.len() == 1 {
        return consumers.remove(0);
    }
    Arc::new(FanOut::new(consumers))
}

/// Builds one component in front of `next`, for signal `S`. A processor whose logic is the same for
/// every signal implements it once, generically (`impl<S: Bound> BuildFor<S> for Prepared`), and its
/// `create` calls [`AnyConsumer::wrap`], which picks the signal.
pub trait BuildFor<S: Signal> {
    fn build(&self, next: Arc<dyn Consumer<S>>) -> Arc<dyn Consumer<S>>;
}

/// A component that [`BuildFor`] every signal: what [`AnyConsumer::wrap`] takes.
pub trait BuildForAll: BuildFor<Traces> + BuildFor<Metrics> + BuildFor<Logs> {}

impl<T: BuildFor<Traces> + BuildFor<Metrics> + BuildFor<Logs> + ?Sized> BuildForAll for T {}

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
