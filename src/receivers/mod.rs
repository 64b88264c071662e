//! Receivers: where data enters ferrotel.

pub mod otlp;
