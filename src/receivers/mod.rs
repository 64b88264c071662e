//! Receivers: where data enters ferrotel.

pub mod common;
pub mod jaeger;
pub mod otlp;
pub mod zipkin;
