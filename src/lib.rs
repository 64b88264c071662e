//! ferrotel: an OpenTelemetry Collector-compatible telemetry daemon.
//!
//! # Layout
//! - [`config`]: loading YAML and `--set`, merging, `${…}` expansion, the top-level schema, key-path errors.
//! - [`signal`]: the three OTLP signals and [`signal::Batch`], which carries data encoded until a
//!   component needs it decoded.
//! - [`pipeline`]: the [`pipeline::Consumer`] trait, fan-out, admission control, graph validation
//!   ([`pipeline::graph`]) and start/stop order ([`pipeline::service`]).
//! - [`component`]: the component model: factory traits, [`component::Host`], start-up errors.
//! - [`components`]: the registry, the one list of built-in components (imports them; none imports it).
//! - [`receivers`]: `otlp` (gRPC and HTTP), `filelog` (files, with Stanza operators).
//! - [`stanza`]: the log operators of `filelog` (parsers, transformers, router), fields and expressions.
//! - [`processors`]: processors (batch, memory_limiter, attributes, resource, …).
//! - [`exporters`]: `otlp_grpc`, `otlp_http`, `debug`, and the shared queue/retry/timeout helper.
//! - [`extensions`]: extensions (health_check, storage, auth, …).
//! - [`telemetry`]: the collector's own logs and metrics.
//! - [`tls`]: `tls:` settings of servers and clients (otelcol's configtls) on rustls, with reload.
#![forbid(unsafe_code)]

pub mod component;
pub mod components;
pub mod config;
pub mod exporters;
pub mod extensions;
pub mod pipeline;
pub mod processors;
pub mod receivers;
pub mod signal;
pub mod stanza;
pub mod telemetry;
pub mod tls;
