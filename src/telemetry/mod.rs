//! The collector's own logs and metrics. Every metric ferrotel exposes is defined once here, under
//! otelcol's name, so dashboards built for otelcol keep working.

use crate::config::{LogsTelemetry, TelemetryConfig};

/// The address the Prometheus endpoint would listen on, if self-metrics are enabled (none for now).
pub fn metrics_endpoint(_cfg: &TelemetryConfig) -> Option<String> {
    None
}

/// Checks `service::telemetry::logs` without installing anything.
pub fn check_logs(cfg: &LogsTelemetry) -> Result<(), String> {
    level_of(cfg)?;
    match cfg.encoding.as_str() {
        "json" | "console" => Ok(()),
        other => Err(format!(
            "service::telemetry::logs::encoding: unknown encoding {other:?} (console, json)"
        )),
    }
}

fn level_of(cfg: &LogsTelemetry) -> Result<&'static str, String> {
    Ok(match cfg.level.to_ascii_lowercase().as_str() {
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "dpanic" | "panic" | "fatal" => "error",
        other => {
            return Err(format!(
            "service::telemetry::logs::level: unknown level {other:?} (debug, info, warn, error)"
        ))
        }
    })
}

/// Installs the tracing subscriber per `service::telemetry::logs`.
pub fn init_logs(cfg: &LogsTelemetry) -> Result<(), String> {
    check_logs(cfg)?;
    let level = level_of(cfg)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERROTEL_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},h2=warn,hyper=warn,tower=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let res = match cfg.encoding.as_str() {
        "json" => builder.json().try_init(),
        "console" => builder.try_init(),
        other => {
            return Err(format!(
                "service::telemetry::logs::encoding: unknown encoding {other:?} (console, json)"
            ))
        }
    };
    res.map_err(|e| e.to_string())
}

/// Counters keyed as otelcol keys them. The `metrics` crate makes them no-ops until a recorder is
/// installed.
pub mod events {
    use crate::signal::SignalKind;

    fn item(signal: SignalKind) -> &'static str {
        match signal {
            SignalKind::Traces => "spans",
            SignalKind::Metrics => "metric_points",
            SignalKind::Logs => "log_records",
        }
    }

    pub fn receiver_accepted(
        receiver: &str,
        transport: &'static str,
        signal: SignalKind,
        n: usize,
    ) {
        let _ = (receiver, transport, item(signal), n);
    }

    pub fn receiver_refused(receiver: &str, transport: &'static str, signal: SignalKind, n: usize) {
        let _ = (receiver, transport, item(signal), n);
    }

    pub fn receiver_failed(receiver: &str, transport: &'static str, signal: SignalKind, n: usize) {
        let _ = (receiver, transport, item(signal), n);
    }

    pub fn exporter_sent(exporter: &str, signal: SignalKind, n: usize) {
        let _ = (exporter, item(signal), n);
    }

    pub fn exporter_send_failed(exporter: &str, signal: SignalKind, n: usize) {
        let _ = (exporter, item(signal), n);
    }

    pub fn exporter_enqueue_failed(exporter: &str, signal: SignalKind, n: usize) {
        let _ = (exporter, item(signal), n);
    }

    /// Batches of a persistent queue that could not be read back (damaged files).
    pub fn exporter_queue_lost(exporter: &str, signal: SignalKind, batches: usize) {
        let _ = (exporter, item(signal), batches);
    }
}
