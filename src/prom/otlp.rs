//! OTLP metrics → Prometheus series, as otelcol's `prometheusremotewrite` translator and `prometheus`
//! exporter name them: metric names with unit/`_total` suffixes, sanitized labels, `job`/`instance`
//! from `service.namespace`/`service.name`/`service.instance.id`, optional resource labels, and one
//! `target_info` series per resource.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, AggregationTemporality, DataPointFlags, ResourceMetrics,
};

use super::naming::{self, NameKind};

/// How series are named and labelled.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub namespace: String,
    pub add_metric_suffixes: bool,
    pub resource_to_telemetry: bool,
    pub target_info: bool,
    /// Added to every series that does not already carry the label.
    pub const_labels: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    /// `bounds` without `+Inf`; `counts` per bucket (not cumulative), one more than `bounds`.
    Histogram {
        bounds: Vec<f64>,
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
}

/// One OTLP data point, named and labelled for Prometheus.
#[derive(Debug, Clone)]
pub struct Point {
    /// The family name (without `_bucket`/`_sum`/`_count`).
    pub name: String,
    pub kind: Kind,
    pub help: String,
    /// Sorted by name; no `__name__`.
    pub labels: Vec<(String, String)>,
    pub value: Value,
    pub timestamp_ms: i64,
    pub start_ns: u64,
    /// A delta sum or histogram: the pull exporter accumulates it; remote write drops it.
    pub delta: bool,
    /// The point carries the `NoRecordedValue` flag: a Prometheus stale marker.
    pub stale: bool,
}

/// The bit pattern Prometheus uses for a stale marker (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

pub fn any_value_string(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        Some(other) => serde_json::to_string(&format!("{other:?}")).unwrap_or_default(),
        None => String::new(),
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a KeyValue> {
    attrs.iter().find(|kv| kv.key == key)
}

/// `job` and `instance` for a resource, as otelcol derives them.
pub fn job_instance(attrs: &[KeyValue]) -> (Option<String>, Option<String>) {
    let name = attr(attrs, "service.name").map(|kv| any_value_string(&kv.value));
    let ns = attr(attrs, "service.namespace").map(|kv| any_value_string(&kv.value));
    let job = match (ns, name) {
        (Some(ns), Some(n)) if !ns.is_empty() => Some(format!("{ns}/{n}")),
        (_, n) => n,
    };
    let instance = attr(attrs, "service.instance.id").map(|kv| any_value_string(&kv.value));
    (job, instance)
}

/// Adds a label; sanitized names that collide are joined with `;` (otelcol does the same).
fn put(labels: &mut BTreeMap<String, String>, name: &str, value: String) {
    let key = naming::label_name(name);
    if key.is_empty() {
        return;
    }
    labels
        .entry(key)
        .and_modify(|v| {
            if !value.is_empty() && *v != value {
                v.push(';');
                v.push_str(&value);
            }
        })
        .or_insert(value);
}

fn base_labels(
    resource: &[KeyValue],
    point_attrs: &[KeyValue],
    s: &Settings,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    if s.resource_to_telemetry {
        for kv in resource {
            put(&mut labels, &kv.key, any_value_string(&kv.value));
        }
    }
    for kv in point_attrs {
        put(&mut labels, &kv.key, any_value_string(&kv.value));
    }
    let (job, instance) = job_instance(resource);
    if let Some(j) = job {
        labels.insert("job".into(), j);
    }
    if let Some(i) = instance {
        labels.insert("instance".into(), i);
    }
    for (k, v) in &s.const_labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    labels
}

fn ms(nanos: u64) -> i64 {
    (nanos / 1_000_000).min(i64::MAX as u64) as i64
}

fn stale(flags: u32) -> bool {
    flags & DataPointFlags::NoRecordedValueMask as u32 != 0
}

/// Every data point of one resource, named and labelled. `target_info` (if enabled and the resource
/// has attributes besides the service identity) comes last, stamped with the latest point's time.
pub fn convert(rm: &ResourceMetrics, s: &Settings, out: &mut Vec<Point>) {
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NV;
    let resource: &[KeyValue] = rm
        .resource
        .as_ref()
        .map(|r| r.attributes.as_slice())
        .unwrap_or(&[]);
    let mut latest = 0i64;
    for sm in &rm.scope_metrics {
        for m in &sm.metrics {
            let Some(data) = &m.data else { continue };
            let (kind, name_kind, delta) = match data {
                metric::Data::Gauge(_) => (Kind::Gauge, NameKind::Gauge, false),
                metric::Data::Sum(sum) => {
                    let delta = sum.aggregation_temporality == AggregationTemporality::Delta as i32;
                    if sum.is_monotonic {
                        (Kind::Counter, NameKind::MonotonicSum, delta)
                    } else {
                        (Kind::Gauge, NameKind::Gauge, delta)
                    }
                }
                metric::Data::Histogram(h) => (
                    Kind::Histogram,
                    NameKind::Other,
                    h.aggregation_temporality == AggregationTemporality::Delta as i32,
                ),
                metric::Data::Summary(_) => (Kind::Summary, NameKind::Other, false),
                // Native histograms need Remote-Write/protobuf exposition support: not translated.
                metric::Data::ExponentialHistogram(_) => continue,
            };
            let name = naming::metric_name(
                &m.name,
                &m.unit,
                name_kind,
                &s.namespace,
                s.add_metric_suffixes,
            );
            let mut push = |attrs: &[KeyValue], value: Value, t: u64, start: u64, flags: u32| {
                let ts = ms(t);
                latest = latest.max(ts);
                out.push(Point {
                    name: name.clone(),
                    kind,
                    help: m.description.clone(),
                    labels: base_labels(resource, attrs, s).into_iter().collect(),
                    value,
                    timestamp_ms: ts,
                    start_ns: start,
                    delta,
                    stale: stale(flags),
                });
            };
            let number = |v: &Option<NV>| match v {
                Some(NV::AsDouble(d)) => *d,
                Some(NV::AsInt(i)) => *i as f64,
                None => 0.0,
            };
            match data {
                metric::Data::Gauge(g) => {
                    for p in &g.data_points {
                        push(
                            &p.attributes,
                            Value::Scalar(number(&p.value)),
                            p.time_unix_nano,
                            p.start_time_unix_nano,
                            p.flags,
                        );
                    }
                }
                metric::Data::Sum(g) => {
                    for p in &g.data_points {
                        push(
                            &p.attributes,
                            Value::Scalar(number(&p.value)),
                            p.time_unix_nano,
                            p.start_time_unix_nano,
                            p.flags,
                        );
                    }
                }
                metric::Data::Histogram(h) => {
                    for p in &h.data_points {
                        let mut counts = p.bucket_counts.clone();
                        counts.resize(p.explicit_bounds.len() + 1, 0);
                        push(
                            &p.attributes,
                            Value::Histogram {
                                bounds: p.explicit_bounds.clone(),
                                counts,
                                sum: p.sum.unwrap_or(0.0),
                                count: p.count,
                            },
                            p.time_unix_nano,
                            p.start_time_unix_nano,
                            p.flags,
                        );
                    }
                }
                metric::Data::Summary(sm) => {
                    for p in &sm.data_points {
                        push(
                            &p.attributes,
                            Value::Summary {
                                quantiles: p
                                    .quantile_values
                                    .iter()
                                    .map(|q| (q.quantile, q.value))
                                    .collect(),
                                sum: p.sum,
                                count: p.count,
                            },
                            p.time_unix_nano,
                            p.start_time_unix_nano,
                            p.flags,
                        );
                    }
                }
                metric::Data::ExponentialHistogram(_) => {}
            }
        }
    }
    if s.target_info {
        let extra: Vec<&KeyValue> = resource
            .iter()
            .filter(|kv| {
                !matches!(
                    kv.key.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                )
            })
            .collect();
        if !extra.is_empty() && latest > 0 {
            let mut labels = BTreeMap::new();
            for kv in &extra {
                put(&mut labels, &kv.key, any_value_string(&kv.value));
            }
            let (job, instance) = job_instance(resource);
            if let Some(j) = job {
                labels.insert("job".into(), j);
            }
            if let Some(i) = instance {
                labels.insert("instance".into(), i);
            }
            let name = if s.namespace.is_empty() {
                "target_info".to_string()
            } else {
                format!("{}_target_info", naming::sanitize_metric(&s.namespace))
            };
            out.push(Point {
                name,
                kind: Kind::Gauge,
                help: "Target metadata".into(),
                labels: labels.into_iter().collect(),
                value: Value::Scalar(1.0),
                timestamp_ms: latest,
                start_ns: 0,
                delta: false,
                stale: false,
            });
        }
    }
}

/// A point flattened into Prometheus samples: `(suffix, extra label, value)`; `extra` is `le` or
/// `quantile`. Stale points give stale-NaN samples.
/// One flattened sample: name suffix, the extra `le`/`quantile` label, value.
pub type FlatSample = (&'static str, Option<(&'static str, String)>, f64);

pub fn samples(p: &Point) -> Vec<FlatSample> {
    let stale = p.stale;
    let v = |x: f64| if stale { stale_nan() } else { x };
    match &p.value {
        Value::Scalar(x) => vec![("", None, v(*x))],
        Value::Histogram {
            bounds,
            counts,
            sum,
            count,
        } => {
            let mut out = Vec::with_capacity(bounds.len() + 3);
            let mut cum = 0u64;
            for (i, b) in bounds.iter().enumerate() {
                cum = cum.saturating_add(counts.get(i).copied().unwrap_or(0));
                out.push((
                    "_bucket",
                    Some(("le", naming::format_float(*b))),
                    v(cum as f64),
                ));
            }
            out.push(("_bucket", Some(("le", "+Inf".into())), v(*count as f64)));
            out.push(("_sum", None, v(*sum)));
            out.push(("_count", None, v(*count as f64)));
            out
        }
        Value::Summary {
            quantiles,
            sum,
            count,
        } => {
            let mut out: Vec<_> = quantiles
                .iter()
                .map(|(q, x)| ("", Some(("quantile", naming::format_float(*q))), v(*x)))
                .collect();
            out.push(("_sum", None, v(*sum)));
            out.push(("_count", None, v(*count as f64)));
            out
        }
    }
}
