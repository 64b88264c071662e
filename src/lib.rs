//! ferrotel: an OpenTelemetry Collector-compatible telemetry daemon.
//!
//! # Layout
//! - [`config`]: loading YAML and `--set`, merging, `${…}` expansion, the top-level schema, key-path errors.
//! - [`signal`]: the three OTLP signals and [`signal::Batch`], which carries data encoded until a
//!   component needs it decoded.
//! - [`pipeline`]: the [`pipeline::Consumer`] trait, fan-out, admission control, graph validation
//!   ([`pipeline::graph`]), start/stop order ([`pipeline::service`]) and partial reload.
//! - [`component`]: the component model: factory traits, [`component::Host`], start-up errors.
//! - [`components`]: the registry, the one list of built-in components (imports them; none imports it).
//! - [`receivers`]: `otlp` (gRPC and HTTP), `prometheus` (scrape), `hostmetrics` (Linux /proc, /sys),
//!   `filelog` (files, with Stanza operators), `jaeger`, `zipkin`.
//! - [`stanza`]: the log operators of `filelog` (parsers, transformers, router), fields and expressions.
//! - [`processors`]: processors (batch, memory_limiter, attributes, resource, …).
//! - [`exporters`]: `otlp_grpc`, `otlp_http`, `debug`, `prometheus` (pull), `prometheusremotewrite`,
//!   and the shared queue/retry/timeout helper.
//! - [`prom`]: Prometheus formats shared by the Prometheus components: text/OpenMetrics parser,
//!   OTLP → Prometheus naming and translation, Remote-Write protobuf (generated from `proto/`).
//! - [`connectors`]: connectors, each an exporter in one pipeline and a receiver in others
//!   (`forward`, `routing`, `count`).
//! - [`extensions`]: extensions (health_check, storage, auth, …).
//! - [`telemetry`]: the collector's own logs and metrics.
//! - [`auth`]: the authenticator traits and `auth:` settings (lookups in [`extensions::auth`]).
//! - [`net`]: `host:port` endpoints as otelcol writes them.
//! - [`compression`]: gzip/zstd/zlib/snappy/lz4 bodies for the HTTP receiver and the exporters,
//!   bounded output, large bodies on the blocking pool.
//! - [`kafka`] (feature `kafka`): the Kafka client settings and message encodings the `kafka`
//!   exporter and receiver share (librdkafka through `rdkafka`).
//! - [`tls`]: `tls:` settings of servers and clients (otelcol's configtls) on rustls, with reload.
//! - [`watch`]: the one poll loop for files re-read when they change (certificates, credentials).
#![forbid(unsafe_code)]

pub mod auth;
pub mod component;
pub mod components;
pub mod compression;
pub mod config;
pub mod connectors;
pub mod exporters;
pub mod extensions;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod net;
pub mod ottl;
pub mod pipeline;
pub mod processors;
pub mod prom;
pub mod receivers;
pub mod signal;
pub mod stanza;
pub mod telemetry;
pub mod tls;
pub mod watch;
