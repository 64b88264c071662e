//! Receivers: where data enters ferrotel.

pub mod filelog;
pub mod otlp;
