//! The `prometheus` exporter: serves the metrics it receives on `endpoint` at `/metrics` for
//! Prometheus to scrape, named as otelcol's translator names them. Cumulative only: delta sums and
//! histograms are accumulated, as otelcol does. A series not updated for `metric_expiration`
//! disappears.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use serde_yaml::Value as Yaml;

use crate::component::{ConfigResult, ExporterFactory, Host, PreparedExporter, StartError};
use crate::config::{duration, ComponentId, ConfigError};
use crate::pipeline::{AnyConsumer, ConsumeError, Consumer};
use crate::prom::naming::{escape_label_value, format_float};
use crate::prom::otlp::{self, Kind, Point, Value};
use crate::signal::{Batch, Metrics, SignalKind};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enabled {
    #[serde(default)]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}
fn d5m() -> Duration {
    Duration::from_secs(300)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub endpoint: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub const_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub send_timestamps: bool,
    #[serde(default = "d5m", with = "duration")]
    pub metric_expiration: Duration,
    #[serde(default)]
    pub resource_to_telemetry_conversion: Option<Enabled>,
    #[serde(default)]
    pub enable_open_metrics: bool,
    #[serde(default = "yes")]
    pub add_metric_suffixes: bool,
    #[serde(default)]
    pub translation_strategy: Option<String>,
    #[serde(default)]
    pub without_scope_info: bool,
    #[serde(default)]
    pub tls: Option<Yaml>,
    /// This exporter's key path, for warnings.
    #[serde(skip)]
    pub path: String,
}

pub struct Factory;

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        "prometheus"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &[SignalKind::Metrics]
    }
    fn prepare(&self, cfg: &Yaml, path: &str) -> ConfigResult<Arc<dyn PreparedExporter>> {
        let mut c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        c.path = path.to_string();
        let mut errors = Vec::new();
        if crate::pipeline::graph::split_host_port(&c.endpoint).is_none() {
            errors.push(ConfigError::new(
                format!("{path}::endpoint"),
                format!("invalid endpoint {:?}: expected host:port", c.endpoint),
            ));
        }
        match c.translation_strategy.as_deref() {
            None => {}
            Some("UnderscoreEscapingWithSuffixes") => c.add_metric_suffixes = true,
            Some("UnderscoreEscapingWithoutSuffixes") => c.add_metric_suffixes = false,
            Some(other) => errors.push(ConfigError::new(
                format!("{path}::translation_strategy"),
                format!("unsupported {other:?}: ferrotel supports UnderscoreEscapingWithSuffixes and UnderscoreEscapingWithoutSuffixes"),
            )),
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(c))
    }
}

impl PreparedExporter for Config {
    fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.tls.is_some() {
            w.push(format!(
                "{}::tls: accepted and not implemented by ferrotel; served over plain HTTP",
                self.path
            ));
        }
        if self.without_scope_info {
            w.push(format!(
                "{}::without_scope_info: accepted; ferrotel never adds otel_scope_* labels",
                self.path
            ));
        }
        w
    }

    fn create(
        &self,
        id: &ComponentId,
        signal: SignalKind,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        let at = format!("exporters::{id}::endpoint");
        if signal != SignalKind::Metrics {
            return Err(StartError::new(&at, "only metrics are supported"));
        }
        let addr = if self.endpoint.starts_with(':') {
            format!("0.0.0.0{}", self.endpoint)
        } else {
            self.endpoint.clone()
        };
        let listener = std::net::TcpListener::bind(&addr)
            .map_err(|e| StartError::new(&at, format!("cannot listen on {addr}: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| StartError::new(&at, e))?;
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| StartError::new(&at, format!("no runtime: {e}")))?;
        let state = Arc::new(State {
            settings: otlp::Settings {
                namespace: self.namespace.clone(),
                add_metric_suffixes: self.add_metric_suffixes,
                resource_to_telemetry: self
                    .resource_to_telemetry_conversion
                    .as_ref()
                    .is_some_and(|e| e.enabled),
                target_info: true,
                const_labels: self
                    .const_labels
                    .iter()
                    .map(|(k, v)| (crate::prom::naming::label_name(k), v.clone()))
                    .collect(),
            },
            send_timestamps: self.send_timestamps,
            expiration: self.metric_expiration,
            open_metrics: self.enable_open_metrics,
            series: Mutex::new(HashMap::new()),
        });
        let app_state = state.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move |headers: ::http::HeaderMap| {
                let s = app_state.clone();
                async move { s.serve(&headers) }
            }),
        );
        let task = handle.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => {
                    if let Err(e) = axum::serve(l, app).await {
                        tracing::error!(error = %e, "prometheus exporter server failed");
                    }
                }
                Err(e) => tracing::error!(error = %e, "prometheus exporter cannot listen"),
            }
        });
        tracing::info!(exporter = %id, endpoint = %addr, "Prometheus exporter serving /metrics");
        Ok(AnyConsumer::Metrics(Arc::new(PromExporter {
            state,
            task: Mutex::new(Some(task)),
        })))
    }
}

/// A series: its family name and labels.
type SeriesId = (String, Vec<(String, String)>);

struct Entry {
    point: Point,
    updated: Instant,
}

struct State {
    settings: otlp::Settings,
    send_timestamps: bool,
    expiration: Duration,
    open_metrics: bool,
    series: Mutex<HashMap<SeriesId, Entry>>,
}

impl State {
    fn accumulate(&self, points: Vec<Point>) {
        let now = Instant::now();
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        for p in points {
            let key = (p.name.clone(), p.labels.clone());
            match series.get_mut(&key) {
                Some(e) if p.delta => {
                    match (&mut e.point.value, &p.value) {
                        (Value::Scalar(a), Value::Scalar(b)) => *a += b,
                        (
                            Value::Histogram {
                                bounds,
                                counts,
                                sum,
                                count,
                            },
                            Value::Histogram {
                                bounds: b2,
                                counts: c2,
                                sum: s2,
                                count: n2,
                            },
                        ) if bounds == b2 => {
                            for (a, b) in counts.iter_mut().zip(c2) {
                                *a = a.saturating_add(*b);
                            }
                            *sum += s2;
                            *count = count.saturating_add(*n2);
                        }
                        _ => e.point.value = p.value.clone(),
                    }
                    e.point.timestamp_ms = e.point.timestamp_ms.max(p.timestamp_ms);
                    e.updated = now;
                }
                Some(e) => {
                    // An older point than what we hold (out of order) is ignored, as otelcol does.
                    if p.timestamp_ms >= e.point.timestamp_ms {
                        e.point = p;
                        e.updated = now;
                    }
                }
                None => {
                    if !p.stale {
                        series.insert(
                            key,
                            Entry {
                                point: p,
                                updated: now,
                            },
                        );
                    }
                }
            }
        }
    }

    fn serve(&self, headers: &::http::HeaderMap) -> axum::response::Response {
        let om = self.open_metrics
            && headers
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("application/openmetrics-text"));
        let body = self.render(om);
        let ct = if om {
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        } else {
            "text/plain; version=0.0.4; charset=utf-8"
        };
        axum::response::Response::builder()
            .header("content-type", ct)
            .body(axum::body::Body::from(body))
            .unwrap_or_default()
    }

    /// The exposition: one block per family (`# HELP`, `# TYPE`, samples), families sorted.
    fn render(&self, om: bool) -> String {
        let now = Instant::now();
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        series.retain(|_, e| now.saturating_duration_since(e.updated) < self.expiration);
        let mut families: BTreeMap<&str, Vec<&Point>> = BTreeMap::new();
        for e in series.values() {
            if e.point.stale {
                continue;
            }
            families.entry(&e.point.name).or_default().push(&e.point);
        }
        let mut out = String::new();
        for (name, mut points) in families {
            points.sort_by(|a, b| a.labels.cmp(&b.labels));
            let Some(first) = points.first() else {
                continue;
            };
            let kind = first.kind;
            // OpenMetrics names a counter family without `_total`; its samples carry it.
            let family = if om && kind == Kind::Counter {
                name.strip_suffix("_total").unwrap_or(name)
            } else {
                name
            };
            if !first.help.is_empty() {
                out.push_str(&format!("# HELP {family} {}\n", escape_help(&first.help)));
            }
            out.push_str(&format!("# TYPE {family} {}\n", kind.as_str()));
            for p in points {
                for (suffix, extra, value) in otlp::samples(p) {
                    let sample_name = if om && kind == Kind::Counter {
                        format!("{family}_total")
                    } else {
                        format!("{name}{suffix}")
                    };
                    out.push_str(&sample_name);
                    let mut labels: Vec<(&str, &str)> = p
                        .labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    if let Some((k, v)) = &extra {
                        labels.push((k, v.as_str()));
                    }
                    if !labels.is_empty() {
                        out.push('{');
                        for (i, (k, v)) in labels.iter().enumerate() {
                            if i > 0 {
                                out.push(',');
                            }
                            out.push_str(k);
                            out.push_str("=\"");
                            escape_label_value(v, &mut out);
                            out.push('"');
                        }
                        out.push('}');
                    }
                    out.push(' ');
                    out.push_str(&format_float(value));
                    if self.send_timestamps {
                        if om {
                            out.push_str(&format!(" {}", p.timestamp_ms as f64 / 1000.0));
                        } else {
                            out.push_str(&format!(" {}", p.timestamp_ms));
                        }
                    }
                    out.push('\n');
                }
            }
        }
        if om {
            out.push_str("# EOF\n");
        }
        out
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

struct PromExporter {
    state: Arc<State>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[async_trait]
impl Consumer<Metrics> for PromExporter {
    async fn consume(&self, mut batch: Batch<Metrics>) -> Result<(), ConsumeError> {
        let mut points = Vec::new();
        for rm in batch.resources()? {
            otlp::convert(rm, &self.state.settings, &mut points);
        }
        self.state.accumulate(points);
        Ok(())
    }

    async fn shutdown(&self, _deadline: tokio::time::Instant) {
        if let Some(t) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, kind: Kind, v: f64, delta: bool) -> Point {
        Point {
            name: name.into(),
            kind,
            help: "help".into(),
            labels: vec![("job".into(), "j".into())],
            value: Value::Scalar(v),
            timestamp_ms: 1000,
            start_ns: 0,
            delta,
            stale: false,
        }
    }

    fn state(om: bool) -> State {
        State {
            settings: otlp::Settings::default(),
            send_timestamps: false,
            expiration: Duration::from_secs(60),
            open_metrics: om,
            series: Mutex::new(HashMap::new()),
        }
    }

    #[test]
    fn deltas_accumulate_and_render() {
        let s = state(true);
        s.accumulate(vec![point("c_total", Kind::Counter, 2.0, true)]);
        s.accumulate(vec![point("c_total", Kind::Counter, 3.0, true)]);
        s.accumulate(vec![point("g", Kind::Gauge, 7.0, false)]);
        let text = s.render(false);
        assert!(
            text.contains("# TYPE c_total counter\nc_total{job=\"j\"} 5\n"),
            "{text}"
        );
        assert!(text.contains("g{job=\"j\"} 7\n"), "{text}");
        let parsed = crate::prom::text::parse(&text, false).unwrap();
        assert_eq!(parsed.samples.len(), 2);
        let om = s.render(true);
        assert!(
            om.contains("# TYPE c counter\nc_total{job=\"j\"} 5\n"),
            "{om}"
        );
        assert!(crate::prom::text::parse(&om, true).is_ok());
    }

    #[test]
    fn expired_series_disappear() {
        let mut s = state(false);
        s.expiration = Duration::ZERO;
        s.accumulate(vec![point("g", Kind::Gauge, 1.0, false)]);
        assert_eq!(s.render(false), "");
    }
}
