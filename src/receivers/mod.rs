//! Receivers: where data enters ferrotel.

pub mod hostmetrics;
pub mod otlp;
pub mod prometheus;
