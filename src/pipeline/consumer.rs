//! The one consumer trait every processor and exporter implements, generic over the signal.

use std::time::Duration;

use async_trait::async_trait;

use crate::signal::{Batch, Signal};

/// Why a consumer did not take a batch. Receivers turn this into a gRPC status / HTTP code; exporters
/// decide from it whether to retry.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConsumeError {
    /// Temporarily refused (backpressure, memory limit, full queue, destination down). The sender should
    /// retry, after `retry_after` if given. gRPC `UNAVAILABLE`, HTTP 503.
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Refused for lack of a resource the sender may get back later (gRPC `RESOURCE_EXHAUSTED`, HTTP 429).
    #[error("{message}")]
    ResourceExhausted {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The data itself is bad (HTTP 400, gRPC `INVALID_ARGUMENT`); never retried.
    #[error("{0}")]
    InvalidArgument(String),
    /// Will not succeed however often it is tried (HTTP 500, gRPC `INTERNAL`); never retried.
    #[error("{0}")]
    Permanent(String),
}

impl ConsumeError {
    pub fn retryable(message: impl Into<String>) -> Self {
        ConsumeError::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConsumeError::Retryable { .. } | ConsumeError::ResourceExhausted { .. }
        )
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConsumeError::Retryable { retry_after, .. }
            | ConsumeError::ResourceExhausted { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl ConsumeError {
    /// A failed edit of encoded resource messages by component `id`: undecodable data is an invalid
    /// argument, a failed statement or condition a permanent error naming the component.
    pub fn from_edit(id: &str, e: crate::signal::resource_edit::EditError) -> Self {
        match e {
            crate::signal::resource_edit::EditError::Decode(e) => e.into(),
            crate::signal::resource_edit::EditError::Edit(e) => {
                ConsumeError::Permanent(format!("{id}: {e}"))
            }
        }
    }
}

impl From<crate::signal::DecodeError> for ConsumeError {
    fn from(e: crate::signal::DecodeError) -> Self {
        ConsumeError::InvalidArgument(format!("cannot decode OTLP data: {e}"))
    }
}

/// Takes batches of one signal: processors and exporters implement it, fan-outs compose it.
///
/// Contract:
/// - `consume` returns `Ok` only when the batch is safely in this consumer's (or a downstream's) hands;
///   the receiver acknowledges the sender only then. An `Err` travels back to the sender.
/// - `consume` may be called concurrently from many receivers' tasks.
/// - `shutdown` is called once, after every upstream component has stopped calling `consume`; it must
///   pass on (flush) what it holds before the deadline, then return. No `consume` follows it.
#[async_trait]
pub trait Consumer<S: Signal>: Send + Sync {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError>;

    /// Shutdown has begun: receivers are stopping and [`Consumer::shutdown`] follows. A component
    /// holding senders that wait (a full queue with `block_on_overflow`) answers them now, so that
    /// they hear back before the receivers close their connections.
    fn closing(&self) {}

    async fn shutdown(&self, _deadline: tokio::time::Instant) {}
}

/// Feeds one batch to several consumers. The batch is shared, not copied: a consumer that changes data
/// copies it on write (see [`Batch::resources_mut`]). The first error wins, as in otelcol's fan-out.
pub struct FanOut<S: Signal> {
    consumers: Vec<std::sync::Arc<dyn Consumer<S>>>,
}

impl<S: Signal> FanOut<S> {
    pub fn new(consumers: Vec<std::sync::Arc<dyn Consumer<S>>>) -> Self {
        FanOut { consumers }
    }
}

#[async_trait]
impl<S: Signal> Consumer<S> for FanOut<S> {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        match self.consumers.as_slice() {
            [] => Ok(()),
            [one] => one.consume(batch).await,
            many => {
                let results =
                    futures::future::join_all(many.iter().map(|c| c.consume(batch.clone()))).await;
                results.into_iter().find(Result::is_err).unwrap_or(Ok(()))
            }
        }
    }
}
