//! Processors: components between receivers and exporters.
//!
//! - [`batch`]: groups data into larger requests (size and time triggers, per-metadata batchers).
//! - [`memory_limiter`]: refuses data while the process's resident memory is over its soft limit.
//! - [`attributes`]: attribute actions on spans, metric data points and log records.
//! - [`resource`]: the same actions on resource attributes.
//! - [`attraction`]: the attribute actions both share.
//! - [`resourcedetection`]: resource attributes detected from the environment and the host.

pub mod attraction;
pub mod attributes;
pub mod batch;
pub mod filter;
pub mod memory_limiter;
pub mod probabilistic_sampler;
pub mod resource;
pub mod resourcedetection;
pub mod tail_sampling;
pub mod transform;

#[cfg(test)]
pub(crate) mod testutil;
