//! Processors: components between receivers and exporters.
