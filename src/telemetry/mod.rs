//! The collector's own logs and metrics. Every metric ferrotel exposes is defined once, in [`events`],
//! under otelcol's name, so dashboards built for otelcol keep working; [`prometheus`] serves them;
//! [`top`] reads them back as a live view.

pub mod events;
pub mod http_get;
pub mod process;
pub mod prometheus;
pub mod top;

use std::io::Write;
use std::sync::Arc;

use crate::config::{ConfigError, LogsTelemetry, TelemetryConfig};

/// The address the Prometheus endpoint listens on, unless `level: none`.
pub fn metrics_endpoint(cfg: &TelemetryConfig) -> Option<String> {
    prometheus::settings(&cfg.metrics).ok()?.address
}

/// Checks all of `service::telemetry` without installing anything.
pub fn check(cfg: &TelemetryConfig) -> Result<(), Vec<ConfigError>> {
    let mut errors = Vec::new();
    if let Err(e) = check_logs(&cfg.logs) {
        let (path, msg) = e.split_once(": ").unwrap_or(("", &e));
        errors.push(ConfigError::new(path, msg));
    }
    if let Err(e) = prometheus::settings(&cfg.metrics) {
        errors.extend(e);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Keys of `service::telemetry` that are accepted and ignored, each named (printed by `validate`,
/// logged at start-up through the plan's warnings).
pub fn warnings(cfg: &TelemetryConfig) -> Vec<String> {
    let mut w = Vec::new();
    let p = "service::telemetry";
    let logs = &cfg.logs;
    if logs.output_paths.iter().any(|o| o != "stderr") {
        w.push(format!(
            "{p}::logs::output_paths is ignored: ferrotel logs to stderr"
        ));
    }
    if logs.error_output_paths.iter().any(|o| o != "stderr") {
        w.push(format!(
            "{p}::logs::error_output_paths is ignored: ferrotel logs to stderr"
        ));
    }
    if !logs.sampling.is_null() {
        w.push(format!(
            "{p}::logs::sampling is ignored: ferrotel does not sample its own logs"
        ));
    }
    if !logs.processors.is_null() {
        w.push(format!("{p}::logs::processors is ignored"));
    }
    if !cfg.metrics.views.is_null() {
        w.push(format!("{p}::metrics::views is ignored: ferrotel's own metrics have fixed names and attributes"));
    }
    w
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
    let json = cfg.encoding == "json";
    let fields = Arc::new(initial_fields(cfg, json));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || WithFields {
            inner: std::io::stderr(),
            fields: fields.clone(),
            json,
        })
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
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

/// `logs::initial_fields` rendered once: `"k":v,` pairs for JSON, ` k=v` pairs for the console.
fn initial_fields(cfg: &LogsTelemetry, json: bool) -> String {
    let mut out = String::new();
    for (k, v) in &cfg.initial_fields {
        let value: serde_json::Value = serde_json::to_value(v).unwrap_or_default();
        if json {
            out.push_str(&format!(
                "{}:{},",
                serde_json::Value::from(k.as_str()),
                value
            ));
        } else {
            let text = match &value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!(" {k}={text}"));
        }
    }
    out
}

/// Adds the initial fields to each log line: the formatter writes one whole line per `write` call, so
/// JSON lines get them after their opening `{` and console lines before their newline.
struct WithFields<W: Write> {
    inner: W,
    fields: Arc<String>,
    json: bool,
}

impl<W: Write> Write for WithFields<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.fields.is_empty() {
            return self.inner.write(buf);
        }
        let mut line = Vec::with_capacity(buf.len() + self.fields.len());
        if self.json && buf.first() == Some(&b'{') {
            line.push(b'{');
            line.extend_from_slice(self.fields.as_bytes());
            line.extend_from_slice(&buf[1..]);
        } else if !self.json && buf.last() == Some(&b'\n') {
            line.extend_from_slice(&buf[..buf.len() - 1]);
            line.extend_from_slice(self.fields.as_bytes());
            line.push(b'\n');
        } else {
            line.extend_from_slice(buf);
        }
        self.inner.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_through(json: bool, fields: &str, line: &str) -> String {
        let mut w = WithFields {
            inner: Vec::new(),
            fields: Arc::new(fields.to_string()),
            json,
        };
        w.write_all(line.as_bytes()).unwrap();
        String::from_utf8(w.inner).unwrap()
    }

    #[test]
    fn initial_fields_in_json_and_console_lines() {
        let cfg: LogsTelemetry =
            serde_yaml::from_str("initial_fields: {service: gw, shard: 3}").unwrap();
        let j = initial_fields(&cfg, true);
        assert_eq!(j, r#""service":"gw","shard":3,"#);
        let out = write_through(true, &j, "{\"level\":\"INFO\"}\n");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["service"], "gw");
        assert_eq!(v["shard"], 3);
        assert_eq!(v["level"], "INFO");
        let c = initial_fields(&cfg, false);
        assert_eq!(
            write_through(false, &c, "INFO running\n"),
            "INFO running service=gw shard=3\n"
        );
    }

    #[test]
    fn check_collects_logs_and_metrics_errors() {
        let cfg: TelemetryConfig =
            serde_yaml::from_str("logs: {level: loud}\nmetrics: {level: loud}").unwrap();
        let e = check(&cfg).unwrap_err();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].path, "service::telemetry::logs::level");
        assert_eq!(e[1].path, "service::telemetry::metrics::level");
    }
}
