//! The Prometheus endpoint for the collector's own metrics (`service::telemetry::metrics`): where it
//! listens, the recorder behind the `metrics` crate, and the HTTP server that renders it.

use std::sync::OnceLock;
use std::time::Instant;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use serde_yaml::Value;
use tokio::sync::oneshot;

use super::events::{self, Level};
use super::process;
use crate::component::StartError;
use crate::config::{ConfigError, MetricsTelemetry};

/// otelcol's default: the Prometheus pull endpoint on `localhost:8888`.
pub const DEFAULT_ADDRESS: &str = "localhost:8888";

/// What `service::telemetry::metrics` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSettings {
    pub level: Level,
    /// `None` when the level is `none`.
    pub address: Option<String>,
    /// Whether the address was configured (a clash is then fatal) or is the default (a clash with
    /// another process only warns, so two collectors on one host both start).
    pub explicit: bool,
    /// Prometheus naming as otelcol's exporter does it: `_total` on counters, unit suffixes. Turned
    /// off by a reader's `without_type_suffix` or `without_units`.
    pub suffixes: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reader {
    #[serde(default)]
    pull: Option<Pull>,
    #[serde(default)]
    periodic: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pull {
    exporter: PullExporter,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PullExporter {
    prometheus: PrometheusReader,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrometheusReader {
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    without_units: bool,
    #[serde(default)]
    without_type_suffix: bool,
    #[serde(default)]
    without_scope_info: bool,
    #[serde(default)]
    with_resource_constant_labels: Value,
}

/// Reads `service::telemetry::metrics`, collecting every problem with its key path.
pub fn settings(cfg: &MetricsTelemetry) -> Result<MetricsSettings, Vec<ConfigError>> {
    const PATH: &str = "service::telemetry::metrics";
    let mut errors = Vec::new();
    let level = Level::parse(&cfg.level).unwrap_or_else(|| {
        errors.push(ConfigError::new(
            format!("{PATH}::level"),
            format!(
                "unknown level {:?} (none, basic, normal, detailed)",
                cfg.level
            ),
        ));
        Level::Normal
    });
    let mut address = None;
    let mut suffixes = true;
    for (i, r) in cfg.readers.iter().enumerate() {
        let path = format!("{PATH}::readers::{i}");
        let reader: Reader = match crate::config::parse(r, &path) {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match (reader.pull, reader.periodic) {
            (Some(pull), None) => {
                let p = pull.exporter.prometheus;
                let _ = (p.without_scope_info, p.with_resource_constant_labels);
                if p.without_units || p.without_type_suffix {
                    suffixes = false;
                }
                let host = p.host.unwrap_or_else(|| "localhost".into());
                let port = p.port.unwrap_or(8888);
                let addr = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                if address.is_some() {
                    errors.push(ConfigError::new(
                        path,
                        "only one Prometheus pull reader is supported",
                    ));
                } else {
                    address = Some(addr);
                }
            }
            (None, Some(_)) => errors.push(ConfigError::new(
                format!("{path}::periodic"),
                "periodic (push) readers are not supported by ferrotel; use a pull reader with a prometheus exporter",
            )),
            _ => errors.push(ConfigError::new(
                path,
                "a reader needs exactly one of pull or periodic",
            )),
        }
    }
    if let Some(a) = &cfg.address {
        if address.is_some() {
            errors.push(ConfigError::new(
                format!("{PATH}::address"),
                "set either address or readers, not both",
            ));
        }
        // otelcol's `:8888` means every interface.
        address = Some(if a.starts_with(':') {
            format!("0.0.0.0{a}")
        } else {
            a.clone()
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let explicit = address.is_some();
    Ok(MetricsSettings {
        level,
        address: (level != Level::None).then(|| address.unwrap_or_else(|| DEFAULT_ADDRESS.into())),
        explicit,
        suffixes,
    })
}

struct Recorder {
    handle: PrometheusHandle,
    started: Instant,
    suffixes: bool,
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls keep the first one's naming).
pub fn install(settings: &MetricsSettings) {
    events::set_level(settings.level);
    RECORDER.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .with_recommended_naming(settings.suffixes)
            .set_buckets_for_metric(
                Matcher::Full(events::BATCH_SEND_SIZE.into()),
                events::BATCH_SEND_SIZE_BUCKETS,
            )
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::debug!("a metrics recorder was already installed");
        }
        events::describe();
        events::set_recording();
        Recorder {
            handle,
            started: Instant::now(),
            suffixes: settings.suffixes,
        }
    });
}

/// The Prometheus text exposition of every metric, process metrics included.
pub fn render() -> String {
    let Some(r) = RECORDER.get() else {
        return String::new();
    };
    events::update_queue_gauges();
    r.handle.run_upkeep();
    let mut out = r.handle.render();
    let p = process::read(r.started);
    let (uptime, cpu, rss) = if r.suffixes {
        (
            "otelcol_process_uptime_seconds_total",
            "otelcol_process_cpu_seconds_total",
            "otelcol_process_memory_rss_bytes",
        )
    } else {
        (
            "otelcol_process_uptime",
            "otelcol_process_cpu_seconds",
            "otelcol_process_memory_rss",
        )
    };
    use std::fmt::Write;
    let _ = write!(
        out,
        "# HELP {uptime} Uptime of the process\n# TYPE {uptime} counter\n{uptime} {}\n\
         # HELP {cpu} Total CPU user and system time in seconds\n# TYPE {cpu} counter\n{cpu} {}\n\
         # HELP {rss} Total physical memory (resident set size)\n# TYPE {rss} gauge\n{rss} {}\n",
        p.uptime_seconds, p.cpu_seconds, p.rss_bytes
    );
    out
}

/// The running endpoint; `shutdown` stops it.
pub struct MetricsServer {
    pub local_addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

/// Installs the recorder and serves `/metrics`, unless the level is `none`. A default address that is
/// taken by another process is logged and skipped; a configured one that cannot be bound is an error.
pub async fn start(settings: &MetricsSettings) -> Result<Option<MetricsServer>, StartError> {
    let Some(address) = &settings.address else {
        return Ok(None);
    };
    install(settings);
    let listener = match tokio::net::TcpListener::bind(address.as_str()).await {
        Ok(l) => l,
        Err(e) if !settings.explicit => {
            tracing::warn!(address = %address, error = %e, "cannot serve the collector's own metrics on the default address; set service::telemetry::metrics to another address");
            return Ok(None);
        }
        Err(e) => {
            return Err(StartError::new(
                "service::telemetry::metrics",
                format!("cannot listen on {address}: {e}"),
            ))
        }
    };
    let local_addr = listener
        .local_addr()
        .map_err(|e| StartError::new("service::telemetry::metrics", e))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(
                    http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                render(),
            )
        }),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "the metrics endpoint failed");
        }
    });
    tracing::info!(address = %local_addr, "serving the collector's own metrics at /metrics");
    Ok(Some(MetricsServer {
        local_addr,
        stop: Some(stop),
        task,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics_cfg(yaml: &str) -> MetricsTelemetry {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn default_is_localhost_8888() {
        let s = settings(&metrics_cfg("{}")).unwrap();
        assert_eq!(s.address.as_deref(), Some("localhost:8888"));
        assert!(!s.explicit);
        assert!(s.suffixes);
    }

    #[test]
    fn readers_and_address_forms() {
        let s = settings(&metrics_cfg(
            "readers: [{pull: {exporter: {prometheus: {host: 0.0.0.0, port: 9999}}}}]",
        ))
        .unwrap();
        assert_eq!(s.address.as_deref(), Some("0.0.0.0:9999"));
        assert!(s.explicit);
        let s = settings(&metrics_cfg("address: ':7777'")).unwrap();
        assert_eq!(s.address.as_deref(), Some("0.0.0.0:7777"));
        let s = settings(&metrics_cfg("level: none\naddress: 'localhost:1'")).unwrap();
        assert_eq!(s.address, None);
        let s = settings(&metrics_cfg(
            "readers: [{pull: {exporter: {prometheus: {host: '::1', port: 1, without_type_suffix: true}}}}]",
        ))
        .unwrap();
        assert_eq!(s.address.as_deref(), Some("[::1]:1"));
        assert!(!s.suffixes);
    }

    #[test]
    fn errors_name_the_key() {
        let e = settings(&metrics_cfg("level: loud")).unwrap_err();
        assert_eq!(e[0].path, "service::telemetry::metrics::level");
        let e = settings(&metrics_cfg(
            "readers: [{pull: {exporter: {prometheus: {hots: x}}}}]",
        ))
        .unwrap_err();
        assert_eq!(
            e[0].path,
            "service::telemetry::metrics::readers::0::pull::exporter::prometheus::hots"
        );
        let e = settings(&metrics_cfg(
            "readers: [{periodic: {exporter: {otlp: {}}}}]",
        ))
        .unwrap_err();
        assert!(e[0].message.contains("not supported"), "{}", e[0].message);
    }

    #[test]
    fn render_has_otelcol_names_labels_and_buckets() {
        use crate::signal::SignalKind;
        install(&settings(&metrics_cfg("{}")).unwrap());
        events::receiver_accepted("otlp/unit", "grpc", SignalKind::Traces, 3);
        events::receiver_accepted("otlp/unit", "grpc", SignalKind::Traces, 4);
        events::exporter_sent("otlp/unit-out", SignalKind::Logs, 5);
        events::exporter_enqueue_failed("otlp/unit-out", SignalKind::Metrics, 2);
        events::processor_batch_batch_send_size("batch/unit", 120);
        events::processor_batch_timeout_trigger_send("batch/unit");
        events::processor_batch_size_trigger_send("batch/unit");
        let gone = std::sync::Arc::new(());
        let weak = std::sync::Arc::downgrade(&gone);
        events::exporter_queue("otlp/unit-out", SignalKind::Logs, 10, move || {
            weak.upgrade().map(|_| 4)
        });
        let text = render();
        for line in [
            r#"otelcol_receiver_accepted_spans_total{receiver="otlp/unit",transport="grpc"} 7"#,
            r#"otelcol_exporter_sent_log_records_total{exporter="otlp/unit-out"} 5"#,
            r#"otelcol_exporter_enqueue_failed_metric_points_total{exporter="otlp/unit-out"} 2"#,
            r#"otelcol_exporter_queue_size{exporter="otlp/unit-out",data_type="logs"} 4"#,
            r#"otelcol_exporter_queue_capacity{exporter="otlp/unit-out",data_type="logs"} 10"#,
            r#"otelcol_processor_batch_batch_send_size_bucket{processor="batch/unit",le="250"} 1"#,
            r#"otelcol_processor_batch_batch_send_size_bucket{processor="batch/unit",le="100"} 0"#,
            r#"otelcol_processor_batch_batch_send_size_sum{processor="batch/unit"} 120"#,
            r#"otelcol_processor_batch_timeout_trigger_send_total{processor="batch/unit"} 1"#,
            r#"otelcol_processor_batch_batch_size_trigger_send_total{processor="batch/unit"} 1"#,
            "# HELP otelcol_receiver_accepted_spans_total Number of spans successfully pushed into the pipeline.",
            "# TYPE otelcol_process_cpu_seconds_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // A queue that is gone stops being reported.
        drop(gone);
        events::update_queue_gauges();
        events::exporter_queue("otlp/unit-out", SignalKind::Logs, 10, || Some(1));
        assert!(render().contains(
            r#"otelcol_exporter_queue_size{exporter="otlp/unit-out",data_type="logs"} 1"#
        ));
    }
}
