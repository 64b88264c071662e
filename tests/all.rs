//! Every black-box suite in one test binary. Each `tests/<suite>.rs` is a module here; run one with
//! `cargo test --test all <suite>::` (e.g. `cargo test --test all filelog::`). One binary instead of one
//! per file: the shared helpers (`common`, `ops`) and the test harness compile and link once, which
//! takes minutes off a cold CI build.

mod common;
mod ops;

mod architecture;
mod bad_input;
mod chaos_backend;
mod chaos_lifecycle;
mod chaos_poison;
mod chaos_storage;
mod compression;
mod config_cli;
mod connectors;
mod core_pipeline;
mod delivery;
mod deploy;
mod filelog;
mod helm_default;
mod hostmetrics;
mod jaeger_zipkin;
#[cfg(feature = "kafka")]
mod kafka;
mod loadbalancing;
mod loadgen;
mod memory_limiter;
mod otelcol_parity;
mod ottl_processors;
mod processors;
mod prometheus;
mod reload_partial;
mod sampling;
mod sdk_roundtrip;
mod security;
mod shutdown_and_debug;
mod spanmetrics;
mod telemetry;
mod top;
