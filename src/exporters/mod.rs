//! Exporters: where data leaves ferrotel. Each network exporter is a [`helper::Sender`] behind the
//! shared queue → retry → timeout stack in [`helper`].
//!
//! Exporters read what destinations answer and what configs hold, so nothing here may panic on it:
//! no unwrap/expect/panic/indexing outside tests (exceptions are marked where they are).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod debug;
pub mod helper;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod loadbalancing;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod prometheus;
pub mod prometheusremotewrite;
