//! The `debug` exporter: writes what it receives to the log, at otelcol's three verbosities.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{ConfigResult, ExporterFactory, Host, PreparedExporter, StartError};
use crate::config::{ComponentId, ConfigError};
use crate::pipeline::{AnyConsumer, ConsumeError, Consumer, SignalConsumer};
use crate::signal::{Batch, Logs, Metrics, Signal, SignalKind, Traces};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_verbosity")]
    pub verbosity: String,
    #[serde(default = "two")]
    pub sampling_initial: u64,
    #[serde(default = "one")]
    pub sampling_thereafter: u64,
    #[serde(default)]
    pub use_internal_logger: Option<bool>,
    /// otelcol: where the output goes when `use_internal_logger: false` (default `[stdout]`).
    #[serde(default)]
    pub output_paths: Option<Vec<String>>,
}

fn default_verbosity() -> String {
    "basic".into()
}
fn two() -> u64 {
    2
}
fn one() -> u64 {
    1
}

pub struct Factory;

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        "debug"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExporter>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        if !["basic", "normal", "detailed"].contains(&c.verbosity.as_str()) {
            return Err(vec![ConfigError::new(
                format!("{path}::verbosity"),
                format!(
                    "unknown verbosity {:?} (basic, normal, detailed)",
                    c.verbosity
                ),
            )]);
        }
        Ok(Arc::new(c))
    }
}

impl PreparedExporter for Config {
    fn warnings(&self) -> Vec<String> {
        match &self.output_paths {
            Some(p) if p.iter().any(|o| o != "stdout") => vec![
                "exporters::debug::output_paths: ferrotel writes the debug output to its own log (stderr); ignored"
                    .into(),
            ],
            _ => vec![],
        }
    }
    fn create(
        &self,
        id: &ComponentId,
        signal: SignalKind,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        let sampler = Arc::new(Sampler {
            initial: self.sampling_initial,
            thereafter: self.sampling_thereafter.max(1),
            state: Mutex::new((Instant::now(), 0)),
        });
        let verbosity = match self.verbosity.as_str() {
            "detailed" => Verbosity::Detailed,
            "normal" => Verbosity::Normal,
            _ => Verbosity::Basic,
        };
        Ok(
            crate::with_signal!(signal, S => S::any(Arc::new(DebugExporter::<S> {
                id: id.to_string(),
                verbosity,
                sampler,
                _s: std::marker::PhantomData,
            }))),
        )
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Verbosity {
    Basic,
    Normal,
    Detailed,
}

/// zap-style sampling per second: the first `initial` messages, then every `thereafter`-th.
struct Sampler {
    initial: u64,
    thereafter: u64,
    state: Mutex<(Instant, u64)>,
}

impl Sampler {
    fn allow(&self) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.0.elapsed().as_secs() >= 1 {
            *st = (Instant::now(), 0);
        }
        st.1 += 1;
        let n = st.1;
        n <= self.initial || (n - self.initial) % self.thereafter == 0
    }
}

static SEEN: AtomicU64 = AtomicU64::new(0);

struct DebugExporter<S: Signal> {
    id: String,
    verbosity: Verbosity,
    sampler: Arc<Sampler>,
    _s: std::marker::PhantomData<fn() -> S>,
}

/// What the debug exporter says about each signal beyond the item count.
trait Describe: Signal {
    fn title() -> &'static str;
    fn resource_label() -> &'static str;
    fn item_label() -> &'static str;
    fn describe(resources: &[Self::Resource], detailed: bool, out: &mut String);
}

#[async_trait]
impl<S: Describe> Consumer<S> for DebugExporter<S> {
    async fn consume(&self, mut batch: Batch<S>) -> Result<(), ConsumeError> {
        SEEN.fetch_add(batch.items() as u64, Ordering::Relaxed);
        let items = batch.items();
        // Sampling limits what is logged, not what is exported: a sampled-out batch counts as sent.
        if !self.sampler.allow() {
            crate::telemetry::events::exporter_sent(&self.id, S::KIND, items);
            return Ok(());
        }
        // `basic` prints counts only: an encoded batch is not decoded for them.
        let resource_count = batch.resource_count()?;
        tracing::info!(exporter = %self.id, "{} {{\"{}\": {}, \"{}\": {}}}", S::title(), S::resource_label(), resource_count, S::item_label(), items);
        if self.verbosity != Verbosity::Basic {
            let resources = batch.resources()?;
            let mut out = String::new();
            S::describe(resources, self.verbosity == Verbosity::Detailed, &mut out);
            tracing::info!(exporter = %self.id, "{}", out.trim_end());
        }
        crate::telemetry::events::exporter_sent(&self.id, S::KIND, items);
        Ok(())
    }
}

fn value_str(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(any_value::Value::ArrayValue(a)) => {
            format!(
                "[{}]",
                a.values
                    .iter()
                    .map(|v| value_str(&Some(v.clone())))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            format!(
                "{{{}}}",
                kv.values
                    .iter()
                    .map(|kv| format!("{}: {}", kv.key, value_str(&kv.value)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Some(other) => format!("{other:?}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

fn attrs(out: &mut String, indent: &str, title: &str, kvs: &[KeyValue]) {
    if kvs.is_empty() {
        return;
    }
    let _ = writeln!(out, "{indent}{title}:");
    for kv in kvs {
        let _ = writeln!(out, "{indent}     -> {}: {}", kv.key, value_str(&kv.value));
    }
}

fn inline_attrs(kvs: &[KeyValue]) -> String {
    kvs.iter()
        .map(|kv| format!("{}={}", kv.key, value_str(&kv.value)))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Describe for Traces {
    fn title() -> &'static str {
        "Traces"
    }
    fn resource_label() -> &'static str {
        "resource spans"
    }
    fn item_label() -> &'static str {
        "spans"
    }
    fn describe(resources: &[Self::Resource], detailed: bool, out: &mut String) {
        for (i, rs) in resources.iter().enumerate() {
            if detailed {
                let _ = writeln!(out, "ResourceSpans #{i}");
                attrs(
                    out,
                    "",
                    "Resource attributes",
                    rs.resource
                        .as_ref()
                        .map(|r| r.attributes.as_slice())
                        .unwrap_or(&[]),
                );
            }
            for (j, ss) in rs.scope_spans.iter().enumerate() {
                if detailed {
                    let scope = ss.scope.as_ref();
                    let _ = writeln!(
                        out,
                        "ScopeSpans #{j}\nInstrumentationScope {} {}",
                        scope.map(|s| s.name.as_str()).unwrap_or(""),
                        scope.map(|s| s.version.as_str()).unwrap_or("")
                    );
                }
                for (k, s) in ss.spans.iter().enumerate() {
                    if detailed {
                        let _ = writeln!(out, "Span #{k}\n    Trace ID       : {}\n    Parent ID      : {}\n    ID             : {}\n    Name           : {}\n    Kind           : {}\n    Start time     : {}\n    End time       : {}\n    Status code    : {}\n    Status message : {}",
                            hex(&s.trace_id), hex(&s.parent_span_id), hex(&s.span_id), s.name, s.kind, s.start_time_unix_nano, s.end_time_unix_nano,
                            s.status.as_ref().map(|st| st.code).unwrap_or(0), s.status.as_ref().map(|st| st.message.as_str()).unwrap_or(""));
                        attrs(out, "", "Attributes", &s.attributes);
                    } else {
                        let _ = writeln!(
                            out,
                            "{} {} {} {}",
                            s.name,
                            hex(&s.trace_id),
                            hex(&s.span_id),
                            inline_attrs(&s.attributes)
                        );
                    }
                }
            }
        }
    }
}

impl Describe for Metrics {
    fn title() -> &'static str {
        "Metrics"
    }
    fn resource_label() -> &'static str {
        "resource metrics"
    }
    fn item_label() -> &'static str {
        "data points"
    }
    fn describe(resources: &[Self::Resource], detailed: bool, out: &mut String) {
        for (i, rm) in resources.iter().enumerate() {
            if detailed {
                let _ = writeln!(out, "ResourceMetrics #{i}");
                attrs(
                    out,
                    "",
                    "Resource attributes",
                    rm.resource
                        .as_ref()
                        .map(|r| r.attributes.as_slice())
                        .unwrap_or(&[]),
                );
            }
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let kind = match &m.data {
                        Some(metric::Data::Gauge(_)) => "Gauge",
                        Some(metric::Data::Sum(_)) => "Sum",
                        Some(metric::Data::Histogram(_)) => "Histogram",
                        Some(metric::Data::ExponentialHistogram(_)) => "ExponentialHistogram",
                        Some(metric::Data::Summary(_)) => "Summary",
                        None => "Empty",
                    };
                    let _ = writeln!(
                        out,
                        "{} ({kind}) unit={:?} {}",
                        m.name,
                        m.unit,
                        if detailed {
                            format!("{:?}", m.data)
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
    }
}

impl Describe for Logs {
    fn title() -> &'static str {
        "Logs"
    }
    fn resource_label() -> &'static str {
        "resource logs"
    }
    fn item_label() -> &'static str {
        "log records"
    }
    fn describe(resources: &[Self::Resource], detailed: bool, out: &mut String) {
        for (i, rl) in resources.iter().enumerate() {
            if detailed {
                let _ = writeln!(out, "ResourceLog #{i}");
                attrs(
                    out,
                    "",
                    "Resource attributes",
                    rl.resource
                        .as_ref()
                        .map(|r| r.attributes.as_slice())
                        .unwrap_or(&[]),
                );
            }
            for sl in &rl.scope_logs {
                for (k, l) in sl.log_records.iter().enumerate() {
                    if detailed {
                        let _ = writeln!(out, "LogRecord #{k}\nObservedTimestamp: {}\nTimestamp: {}\nSeverityText: {}\nSeverityNumber: {}\nBody: {}\nTrace ID: {}\nSpan ID: {}",
                            l.observed_time_unix_nano, l.time_unix_nano, l.severity_text, l.severity_number, value_str(&l.body), hex(&l.trace_id), hex(&l.span_id));
                        attrs(out, "", "Attributes", &l.attributes);
                    } else {
                        let _ = writeln!(
                            out,
                            "{} {}",
                            value_str(&l.body),
                            inline_attrs(&l.attributes)
                        );
                    }
                }
            }
        }
    }
}
