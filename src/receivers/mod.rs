//! Receivers: where data enters ferrotel.

pub mod common;
pub mod hostmetrics;
pub mod jaeger;
pub mod otlp;
pub mod prometheus;
pub mod zipkin;
