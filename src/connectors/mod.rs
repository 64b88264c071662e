//! Connectors: an exporter in one pipeline and a receiver in another.

pub mod spanmetrics;
