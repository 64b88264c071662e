//! Processors: components between receivers and exporters.

pub mod resourcedetection;
