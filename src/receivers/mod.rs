//! Receivers: where data enters ferrotel.

pub mod common;
pub mod filelog;
pub mod hostmetrics;
pub mod jaeger;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod otlp;
pub mod prometheus;
pub mod zipkin;
