//! The `prometheusremotewrite` exporter: OTLP metrics → Prometheus Remote-Write 1.0 (snappy-
//! compressed protobuf `WriteRequest`s), named as otelcol's translator names them, behind the shared
//! queue → retry → timeout stack.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prost::Message;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{ConfigResult, ExporterFactory, Host, PreparedExporter, StartError};
use crate::config::{duration, ComponentId, ConfigError};
use crate::exporters::helper::settings::ClientTls;
use crate::exporters::helper::{self, Accepted, ExportError, QueueSettings, RetrySettings, Sender};
use crate::extensions::auth::{AuthSettings, ClientAuthenticator};
use crate::pipeline::AnyConsumer;
use crate::prom::otlp::{self, Kind, Point};
use crate::prom::remote::{
    metric_metadata::MetricType, Label, MetricMetadata, Sample, TimeSeries, WriteRequest,
};
use crate::signal::{Batch, Metrics, SignalKind};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enabled {
    #[serde(default)]
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetInfo {
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for TargetInfo {
    fn default() -> Self {
        TargetInfo { enabled: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteQueue {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "ten_thousand")]
    pub queue_size: u64,
    #[serde(default = "five")]
    pub num_consumers: usize,
}

impl Default for RemoteWriteQueue {
    fn default() -> Self {
        RemoteWriteQueue {
            enabled: true,
            queue_size: 10_000,
            num_consumers: 5,
        }
    }
}

fn yes() -> bool {
    true
}
fn ten_thousand() -> u64 {
    10_000
}
fn five() -> usize {
    5
}
fn d5s() -> Duration {
    Duration::from_secs(5)
}
fn three_mb() -> usize {
    3_000_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub endpoint: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub tls: ClientTls,
    #[serde(default = "d5s", with = "duration")]
    pub timeout: Duration,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub resource_to_telemetry_conversion: Option<Enabled>,
    #[serde(default)]
    pub target_info: TargetInfo,
    #[serde(default = "yes")]
    pub add_metric_suffixes: bool,
    #[serde(default)]
    pub send_metadata: bool,
    #[serde(default = "three_mb")]
    pub max_batch_size_bytes: usize,
    #[serde(default)]
    pub remote_write_queue: RemoteWriteQueue,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
    #[serde(default)]
    pub auth: Option<AuthSettings>,
    #[serde(default)]
    pub compression: Option<String>,
    /// otelcol keys accepted and not implemented (warned).
    #[serde(default)]
    pub wal: Option<Value>,
    #[serde(default)]
    pub export_created_metric: Option<Value>,
    #[serde(default)]
    pub max_batch_request_parallelism: Option<Value>,
    /// otelcol's HTTP client buffer sizes: accepted, not implemented (warned).
    #[serde(default)]
    pub read_buffer_size: Option<Value>,
    #[serde(default)]
    pub write_buffer_size: Option<Value>,
    #[serde(default)]
    pub protobuf_message: Option<String>,
    /// This exporter's key path, for warnings.
    #[serde(skip)]
    pub path: String,
}

pub struct Factory;

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        "prometheusremotewrite"
    }
    /// Recent otelcol-contrib names it `prometheus_remote_write` (its testdata does).
    fn aliases(&self) -> &'static [&'static str] {
        &["prometheus_remote_write"]
    }
    fn signals(&self) -> &'static [SignalKind] {
        &[SignalKind::Metrics]
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExporter>> {
        let mut c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        c.path = path.to_string();
        let mut errors = Vec::new();
        if reqwest::Url::parse(&c.endpoint)
            .map(|u| !["http", "https"].contains(&u.scheme()))
            .unwrap_or(true)
        {
            errors.push(ConfigError::new(
                format!("{path}::endpoint"),
                format!("invalid URL {:?}: expected http:// or https://", c.endpoint),
            ));
        }
        for (k, v) in &c.external_labels {
            if k.is_empty() || v.is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}::external_labels::{k}"),
                    "external labels must have a non-empty name and value",
                ));
            }
        }
        if c.remote_write_queue.enabled && c.remote_write_queue.queue_size == 0 {
            errors.push(ConfigError::new(
                format!("{path}::remote_write_queue::queue_size"),
                "must be positive",
            ));
        }
        if c.remote_write_queue.enabled && c.remote_write_queue.num_consumers == 0 {
            errors.push(ConfigError::new(
                format!("{path}::remote_write_queue::num_consumers"),
                "must be positive",
            ));
        }
        if c.max_batch_size_bytes == 0 {
            errors.push(ConfigError::new(
                format!("{path}::max_batch_size_bytes"),
                "must be positive",
            ));
        }
        if let Some(p) = &c.protobuf_message {
            if p != "prometheus.WriteRequest" {
                errors.push(ConfigError::new(
                    format!("{path}::protobuf_message"),
                    format!("unsupported {p:?}: ferrotel sends Remote-Write 1.0 (prometheus.WriteRequest)"),
                ));
            }
        }
        if let Some(n) = c
            .max_batch_request_parallelism
            .as_ref()
            .and_then(Value::as_i64)
        {
            if n < 1 {
                errors.push(ConfigError::new(
                    format!("{path}::max_batch_request_parallelism"),
                    "can't be set to below 1",
                ));
            }
        }
        if let Some(comp) = &c.compression {
            if comp != "snappy" {
                errors.push(ConfigError::new(
                    format!("{path}::compression"),
                    "Remote-Write requires snappy",
                ));
            }
        }
        c.tls.validate(&format!("{path}::tls"), &mut errors);
        if let Some(a) = &c.auth {
            a.validate(&format!("{path}::auth"), &mut errors);
        }
        c.retry_on_failure.validate(path, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(c))
    }
}

impl PreparedExporter for Config {
    fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        for (key, v) in [
            ("wal", &self.wal),
            ("export_created_metric", &self.export_created_metric),
            (
                "max_batch_request_parallelism",
                &self.max_batch_request_parallelism,
            ),
            ("read_buffer_size", &self.read_buffer_size),
            ("write_buffer_size", &self.write_buffer_size),
        ] {
            if v.is_some() {
                w.push(format!(
                    "{}::{key}: accepted and not implemented by ferrotel",
                    self.path
                ));
            }
        }
        w
    }

    fn create(
        &self,
        id: &ComponentId,
        signal: SignalKind,
        host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        let at = format!("exporters::{id}");
        let b = self
            .tls
            .http_client(
                reqwest::Client::builder().tcp_nodelay(true),
                self.endpoint.starts_with("https://"),
                &[crate::tls::ALPN_HTTP],
            )
            .map_err(|e| StartError::new(format!("{at}::tls"), e))?;
        let client = b.build().map_err(|e| StartError::new(&at, e))?;
        let auth = self
            .auth
            .as_ref()
            .map(|a| crate::extensions::auth::client(host, a, &at))
            .transpose()?;
        let sender = RemoteWriteSender {
            client,
            url: self.endpoint.clone(),
            headers: self.headers.clone(),
            settings: self.settings(),
            send_metadata: self.send_metadata,
            max_bytes: self.max_batch_size_bytes,
            id: id.to_string(),
            auth,
        };
        let queue = QueueSettings {
            enabled: self.remote_write_queue.enabled,
            num_consumers: self.remote_write_queue.num_consumers.max(1),
            queue_size: self.remote_write_queue.queue_size.max(1),
            ..QueueSettings::default()
        };
        if signal != SignalKind::Metrics {
            return Err(StartError::new(&at, "only metrics are supported"));
        }
        Ok(AnyConsumer::Metrics(Arc::new(helper::Exporter::build(
            id.to_string(),
            Box::new(sender),
            self.timeout,
            self.retry_on_failure.clone(),
            queue,
            host,
        )?)))
    }
}

impl Config {
    fn settings(&self) -> otlp::Settings {
        otlp::Settings {
            namespace: self.namespace.clone(),
            add_metric_suffixes: self.add_metric_suffixes,
            resource_to_telemetry: self
                .resource_to_telemetry_conversion
                .as_ref()
                .is_some_and(|e| e.enabled),
            target_info: self.target_info.enabled,
            const_labels: self
                .external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

struct RemoteWriteSender {
    client: reqwest::Client,
    url: String,
    headers: BTreeMap<String, String>,
    settings: otlp::Settings,
    send_metadata: bool,
    max_bytes: usize,
    id: String,
    auth: Option<Arc<dyn ClientAuthenticator>>,
}

/// Builds the write requests for a batch: series keyed by their full label set, samples of a
/// series in timestamp order, split so that no request is larger than `max_bytes` (encoded,
/// before compression) unless a single series is. Returns the requests and the number of points
/// dropped (delta temporality, which Remote-Write cannot carry).
pub fn build_requests(
    resources: &[opentelemetry_proto::tonic::metrics::v1::ResourceMetrics],
    settings: &otlp::Settings,
    send_metadata: bool,
    max_bytes: usize,
) -> (Vec<WriteRequest>, usize) {
    let mut points: Vec<Point> = Vec::new();
    for rm in resources {
        otlp::convert(rm, settings, &mut points);
    }
    // Exponential histograms would need native histograms: not sent, counted as dropped.
    let mut dropped: usize = resources
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::ExponentialHistogram(
                h,
            )) => h.data_points.len(),
            _ => 0,
        })
        .sum();
    let mut series: HashMap<Vec<(String, String)>, TimeSeries> = HashMap::new();
    let mut order: Vec<Vec<(String, String)>> = Vec::new();
    let mut metadata: BTreeMap<String, MetricMetadata> = BTreeMap::new();
    for p in &points {
        if p.delta {
            dropped += 1;
            continue;
        }
        if send_metadata {
            metadata
                .entry(p.name.clone())
                .or_insert_with(|| MetricMetadata {
                    r#type: match p.kind {
                        Kind::Counter => MetricType::Counter,
                        Kind::Gauge => MetricType::Gauge,
                        Kind::Histogram => MetricType::Histogram,
                        Kind::Summary => MetricType::Summary,
                    } as i32,
                    metric_family_name: p.name.clone(),
                    help: p.help.clone(),
                    unit: String::new(),
                });
        }
        for (suffix, extra, value) in otlp::samples(p) {
            let mut labels = p.labels.clone();
            labels.push(("__name__".into(), format!("{}{suffix}", p.name)));
            if let Some((k, v)) = extra {
                labels.push((k.to_string(), v));
            }
            labels.sort();
            let ts = series.entry(labels.clone()).or_insert_with(|| {
                order.push(labels.clone());
                TimeSeries {
                    labels: labels
                        .iter()
                        .map(|(name, value)| Label {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    ..Default::default()
                }
            });
            ts.samples.push(Sample {
                value,
                timestamp: p.timestamp_ms,
            });
        }
    }
    let mut requests = Vec::new();
    let mut current = WriteRequest::default();
    let mut size = 0usize;
    for key in order {
        let Some(mut ts) = series.remove(&key) else {
            continue;
        };
        ts.samples.sort_by_key(|s| s.timestamp);
        let len = ts.encoded_len() + 8;
        if size > 0 && size + len > max_bytes {
            requests.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.timeseries.push(ts);
    }
    let mut md: Vec<MetricMetadata> = metadata.into_values().collect();
    while !md.is_empty() {
        let mut chunk_size = 0usize;
        let mut n = 0;
        for m in &md {
            let l = m.encoded_len() + 8;
            if n > 0 && size + chunk_size + l > max_bytes {
                break;
            }
            chunk_size += l;
            n += 1;
        }
        if n == 0 {
            requests.push(std::mem::take(&mut current));
            size = 0;
            continue;
        }
        current.metadata.extend(md.drain(..n));
        size += chunk_size;
        if !md.is_empty() {
            requests.push(std::mem::take(&mut current));
            size = 0;
        }
    }
    if !current.timeseries.is_empty() || !current.metadata.is_empty() {
        requests.push(current);
    }
    (requests, dropped)
}

#[async_trait]
impl Sender<Metrics> for RemoteWriteSender {
    async fn send(&self, batch: &Batch<Metrics>) -> Result<Accepted, ExportError> {
        let mut b = batch.clone();
        let resources = b
            .resources()
            .map_err(|e| ExportError::permanent(format!("cannot decode: {e}")))?;
        let (requests, dropped) = build_requests(
            resources,
            &self.settings,
            self.send_metadata,
            self.max_bytes,
        );
        if dropped > 0 {
            // Returned as rejected below: the helper counts them as send_failed, the rest as sent.
            tracing::warn!(exporter = %self.id, dropped, "delta temporality and exponential histograms cannot be sent with Remote-Write; points dropped");
        }
        for req in requests {
            let body = snap::raw::Encoder::new()
                .compress_vec(&req.encode_to_vec())
                .map_err(|e| ExportError::permanent(format!("snappy: {e}")))?;
            let mut r = self
                .client
                .post(&self.url)
                .header("content-encoding", "snappy")
                .header("content-type", "application/x-protobuf")
                .header("x-prometheus-remote-write-version", "0.1.0")
                .header(
                    "user-agent",
                    concat!("ferrotel/", env!("CARGO_PKG_VERSION")),
                );
            if let Some(auth) = &self.auth {
                // The authenticator acts on the exporter's own headers (headers_setter's actions).
                let mut own = http::HeaderMap::new();
                for (k, v) in &self.headers {
                    match (
                        http::HeaderName::from_bytes(k.as_bytes()),
                        http::HeaderValue::from_str(v),
                    ) {
                        (Ok(k), Ok(v)) => {
                            own.insert(k, v);
                        }
                        _ => {
                            return Err(ExportError::permanent(format!(
                                "header {k:?} cannot be sent over HTTP"
                            )))
                        }
                    }
                }
                auth.apply(&mut own, batch.metadata.as_deref())
                    .map_err(ExportError::permanent)?;
                r = r.headers(own);
            } else {
                for (k, v) in &self.headers {
                    r = r.header(k, v);
                }
            }
            let resp = r.body(body).send().await.map_err(|e| {
                ExportError::retryable(format!("request to {} failed: {e}", self.url), None)
            })?;
            let status = resp.status();
            if status.is_success() {
                continue;
            }
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(crate::exporters::helper::errors::parse_retry_after);
            let text = resp.text().await.unwrap_or_default();
            let msg = format!(
                "remote write returned HTTP status {} from {}: {}",
                status.as_u16(),
                self.url,
                text.chars().take(512).collect::<String>().trim()
            );
            // 5xx and 429 are retried (429 honouring Retry-After: otelcol does that only behind its
            // RetryOn429 feature gate); other 4xx are permanent.
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                ExportError::retryable(msg, retry_after)
            } else {
                ExportError::permanent(msg)
            });
        }
        Ok(Accepted { rejected: dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::metrics::v1::{
        metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
        NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn resource(metrics: Vec<Metric>) -> ResourceMetrics {
        ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "svc"),
                    kv("service.namespace", "ns"),
                    kv("service.instance.id", "i-1"),
                    kv("host.name", "h"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn counter(n: usize) -> Metric {
        Metric {
            name: "http.requests".into(),
            unit: "{request}".into(),
            data: Some(metric::Data::Sum(Sum {
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
                data_points: (0..n)
                    .map(|i| NumberDataPoint {
                        attributes: vec![kv("http.method", &format!("m{i}"))],
                        time_unix_nano: 2_000_000_000,
                        value: Some(number_data_point::Value::AsInt(i as i64)),
                        ..Default::default()
                    })
                    .collect(),
            })),
            ..Default::default()
        }
    }

    fn labels(ts: &TimeSeries) -> Vec<(String, String)> {
        ts.labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    }

    #[test]
    fn names_labels_and_target_info() {
        let hist = Metric {
            name: "rpc.duration".into(),
            unit: "ms".into(),
            data: Some(metric::Data::Histogram(Histogram {
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: 2_000_000_000,
                    count: 3,
                    sum: Some(7.0),
                    bucket_counts: vec![1, 2],
                    explicit_bounds: vec![5.0],
                    ..Default::default()
                }],
            })),
            ..Default::default()
        };
        let s = otlp::Settings {
            add_metric_suffixes: true,
            target_info: true,
            const_labels: vec![("cluster".into(), "c1".into())],
            ..Default::default()
        };
        let (reqs, dropped) =
            build_requests(&[resource(vec![counter(1), hist])], &s, true, 1 << 20);
        assert_eq!((reqs.len(), dropped), (1, 0));
        let all: Vec<_> = reqs[0].timeseries.iter().map(labels).collect();
        let names: Vec<String> = all
            .iter()
            .map(|l| l.iter().find(|(k, _)| k == "__name__").unwrap().1.clone())
            .collect();
        assert_eq!(
            names,
            [
                "http_requests_total",
                "rpc_duration_milliseconds_bucket",
                "rpc_duration_milliseconds_bucket",
                "rpc_duration_milliseconds_sum",
                "rpc_duration_milliseconds_count",
                "target_info"
            ]
        );
        let first = &all[0];
        for want in [
            ("job", "ns/svc"),
            ("instance", "i-1"),
            ("http_method", "m0"),
            ("cluster", "c1"),
        ] {
            assert!(
                first.contains(&(want.0.into(), want.1.into())),
                "{want:?} in {first:?}"
            );
        }
        assert!(all[5].contains(&("host_name".into(), "h".into())));
        assert_eq!(reqs[0].timeseries[0].samples[0].timestamp, 2000);
        assert_eq!(
            reqs[0].timeseries[2].samples[0].value, 3.0,
            "+Inf bucket is cumulative"
        );
        assert_eq!(reqs[0].metadata.len(), 3);
    }

    #[test]
    fn splits_by_size() {
        let s = otlp::Settings::default();
        let (reqs, _) = build_requests(&[resource(vec![counter(1000)])], &s, false, 10_000);
        assert!(reqs.len() > 3);
        let total: usize = reqs.iter().map(|r| r.timeseries.len()).sum();
        assert_eq!(total, 1000);
        for r in &reqs {
            assert!(r.encoded_len() <= 10_000);
        }
    }
}
