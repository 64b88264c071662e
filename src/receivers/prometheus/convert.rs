//! One scrape's samples → OTLP metrics, as otelcol's prometheus receiver converts them: counters →
//! cumulative monotonic sums, gauges and untyped → gauges, classic histograms and summaries with
//! their `_sum`/`_count`/`_created`, native histograms (protobuf format) → exponential histograms,
//! exemplars, and stale series → points flagged `NoRecordedValue`.

use std::collections::BTreeMap;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point, metric, number_data_point,
    summary_data_point::ValueAtQuantile, AggregationTemporality, DataPointFlags, Exemplar,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, Sum, Summary, SummaryDataPoint,
};

use std::hash::{Hash, Hasher};

use crate::prom::fasthash::{FastHasher, FastMap};
use crate::prom::text::{self, Exposition, MetricType};
use crate::signal::pbwrite::{
    bytes_len, delimited, put_bytes, put_double, put_fixed64, put_header, put_kv_str, put_varint,
};

pub fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

/// What a stale marker needs to be re-created for a series that disappeared.
///
/// Its hash is computed once, when the series is converted, and is what `Hash` writes: the
/// scrape compares every series with the previous scrape's (a set of them), and each key is then
/// hashed twice (looked up, then inserted by the next scrape) without reading its strings again.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    /// Of the fields below (first: unequal keys differ here, almost always).
    hash: u64,
    /// The resource's `job` and `instance` (shared by every series of the resource).
    pub resource: Arc<(String, String)>,
    /// Shared by every series of the metric.
    pub metric: Arc<str>,
    pub kind: u8,
    attrs: Vec<(String, String)>,
}

impl std::hash::Hash for SeriesKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl SeriesKey {
    pub fn new(
        resource: &Arc<(String, String)>,
        metric: &Arc<str>,
        kind: u8,
        attrs: Vec<(String, String)>,
    ) -> SeriesKey {
        KeyHasher::new(resource, metric, kind).key(resource, metric, kind, attrs)
    }

    /// The hash of every field, computed once.
    pub fn hash64(&self) -> u64 {
        self.hash
    }

    /// The data point's attributes (without `job` and `instance`), sorted.
    pub fn attrs(&self) -> &[(String, String)] {
        &self.attrs
    }
}

/// Hashes series keys of one metric: the resource, name and kind once, then each series' attributes.
struct KeyHasher {
    seed: FastHasher,
}

impl KeyHasher {
    fn new(resource: &(String, String), metric: &str, kind: u8) -> Self {
        let mut seed = FastHasher::default();
        (resource, metric, kind).hash(&mut seed);
        KeyHasher { seed }
    }

    fn key(
        &self,
        resource: &Arc<(String, String)>,
        metric: &Arc<str>,
        kind: u8,
        attrs: Vec<(String, String)>,
    ) -> SeriesKey {
        let mut h = self.seed;
        attrs.hash(&mut h);
        SeriesKey {
            hash: h.finish(),
            resource: resource.clone(),
            metric: metric.clone(),
            kind,
            attrs,
        }
    }
}

/// A series' kind, as its OTLP metric type.
pub const GAUGE: u8 = 0;
pub const SUM: u8 = 1;
pub const HIST: u8 = 2;
pub const SUMMARY: u8 = 3;
pub const EXP_HIST: u8 = 4;

/// The kind of a family's series: its metric type, and whether the series is a native histogram.
pub fn kind_of(mtype: MetricType, native: bool) -> u8 {
    match mtype {
        MetricType::Histogram if native => EXP_HIST,
        MetricType::Counter => SUM,
        MetricType::Histogram => HIST,
        MetricType::Summary => SUMMARY,
        _ => GAUGE,
    }
}

#[derive(Default)]
struct Point {
    ts_ms: i64,
    value: f64,
    created: Option<f64>,
    buckets: Vec<(f64, f64)>,
    quantiles: Vec<(f64, f64)>,
    sum: Option<f64>,
    count: Option<f64>,
    exemplars: Vec<Exemplar>,
    native: Option<text::NativeHistogram>,
}

struct Family {
    name: String,
    kind: u8,
    help: String,
    unit: String,
    points: BTreeMap<Vec<(String, String)>, Point>,
}

pub fn exemplar_of(e: &text::Exemplar, default_ts: i64) -> Exemplar {
    let mut ex = Exemplar {
        time_unix_nano: nanos(e.timestamp_ms.unwrap_or(default_ts)),
        value: Some(exemplar::Value::AsDouble(e.value)),
        ..Default::default()
    };
    for (k, v) in &e.labels {
        match k.as_str() {
            "trace_id" => ex.trace_id = hex_decode(v).filter(|b| b.len() == 16).unwrap_or_default(),
            "span_id" => ex.span_id = hex_decode(v).filter(|b| b.len() == 8).unwrap_or_default(),
            _ => ex.filtered_attributes.push(kv(k, v)),
        }
    }
    ex
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

pub fn nanos(ms: i64) -> u64 {
    (ms.max(0) as u64).saturating_mul(1_000_000)
}

fn secs_to_nanos(s: f64) -> u64 {
    if s.is_finite() && s > 0.0 {
        (s * 1e9) as u64
    } else {
        0
    }
}

/// A sample after relabeling: labels (with `__name__`), value, timestamp (ms), exemplar, and what
/// only the protobuf format carries (created timestamp, native histogram).
pub type ScrapedSample = (
    Vec<(String, String)>,
    f64,
    i64,
    Option<text::Exemplar>,
    Option<Box<text::Extra>>,
);

/// Converts samples that already went through relabeling. Each sample's labels include
/// `__name__`; `job` and `instance` are removed (they are resource attributes). `target_info`
/// labels are returned for the resource. Also returns every series key, for stale markers.
///
/// The samples are taken by value: their label strings become the points' attributes and the
/// series keys without being copied (a scrape converts every series every interval).
pub fn to_metrics(
    resource: &(String, String),
    trim_suffixes: bool,
    expo: &Exposition,
    samples: Vec<ScrapedSample>,
) -> (Vec<Metric>, Vec<(String, String)>, Vec<SeriesKey>) {
    let (families, target_info) = group(trim_suffixes, expo, samples);
    let mut keys = Vec::new();
    let resource = Arc::new(resource.clone());
    let metrics = families
        .into_iter()
        .map(|f| build(f, &resource, &mut keys))
        .collect();
    (metrics, target_info, keys)
}

/// [`to_metrics`], encoded: appends each metric to `out` as a `metrics` field (tag 2) of a
/// `ScopeMetrics`, the same bytes prost writes for [`to_metrics`]' metrics. Gauges and counters (no
/// exemplars) are written straight from the labels, without building OTLP messages. Returns the
/// number of data points, the `target_info` labels and the series keys.
pub fn to_encoded_metrics(
    resource: &(String, String),
    trim_suffixes: bool,
    expo: &Exposition,
    samples: Vec<ScrapedSample>,
    out: &mut Vec<u8>,
) -> (usize, Vec<(String, String)>, Vec<SeriesKey>) {
    let (families, target_info, keys) = to_encoded_families(resource, trim_suffixes, expo, samples);
    let mut points = 0;
    for (bytes, n) in families {
        out.extend_from_slice(&bytes);
        points += n;
    }
    (points, target_info, keys)
}

/// A family's `metrics` field and its number of data points.
pub type EncodedFamily = (Vec<u8>, usize);

/// [`to_encoded_metrics`], a `metrics` field per family (in the order the families were first
/// seen) with its number of data points.
pub fn to_encoded_families(
    resource: &(String, String),
    trim_suffixes: bool,
    expo: &Exposition,
    samples: Vec<ScrapedSample>,
) -> (Vec<EncodedFamily>, Vec<(String, String)>, Vec<SeriesKey>) {
    let (families, target_info) = group(trim_suffixes, expo, samples);
    let mut keys = Vec::new();
    let resource = Arc::new(resource.clone());
    let mut out = Vec::with_capacity(families.len());
    for f in families {
        let mut bytes = Vec::new();
        let points =
            if matches!(f.kind, SUM | GAUGE) && f.points.values().all(|p| p.exemplars.is_empty()) {
                encode_numbers(f, &resource, &mut keys, &mut bytes)
            } else {
                let m = build(f, &resource, &mut keys);
                prost::encoding::message::encode(2, &m, &mut bytes);
                data_points(&m)
            };
        out.push((bytes, points));
    }
    (out, target_info, keys)
}

/// The data points of a metric, as otelcol counts items.
pub fn data_points(m: &Metric) -> usize {
    match &m.data {
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// A gauge or counter family as a `metrics` field: what prost writes for [`build`]'s `Metric`.
fn encode_numbers(
    f: Family,
    resource: &Arc<(String, String)>,
    keys: &mut Vec<SeriesKey>,
    out: &mut Vec<u8>,
) -> usize {
    let metric: Arc<str> = Arc::from(f.name.as_str());
    let hasher = KeyHasher::new(resource, &metric, f.kind);
    let n = f.points.len();
    // The points first: their size is the Gauge's or Sum's.
    let mut dps = Vec::with_capacity(n * 96);
    let mut attrs_pb = Vec::new();
    for (attrs, p) in f.points {
        attrs_pb.clear();
        put_attributes(&attrs, &mut attrs_pb);
        put_number_point(
            &NumberPoint {
                attrs_pb: &attrs_pb,
                ts_ms: p.ts_ms,
                value: p.value,
                created: p.created,
                exemplars: &p.exemplars,
            },
            &mut dps,
        );
        keys.push(hasher.key(resource, &metric, f.kind, attrs));
    }
    put_number_metric(&f.name, &f.help, &f.unit, f.kind, &dps, out);
    n
}

/// A series' attributes as `NumberDataPoint` `attributes` fields (tag 7).
pub fn put_attributes(attrs: &[(String, String)], out: &mut Vec<u8>) {
    for (k, v) in attrs {
        put_kv_str(7, k, v, out);
    }
}

/// One gauge or counter point, its attributes already encoded ([`put_attributes`]).
pub struct NumberPoint<'a> {
    pub attrs_pb: &'a [u8],
    pub ts_ms: i64,
    pub value: f64,
    /// The created timestamp, in seconds.
    pub created: Option<f64>,
    pub exemplars: &'a [Exemplar],
}

/// Appends a `NumberDataPoint` as a `data_points` field (tag 1 of `Gauge` and `Sum`), as prost
/// writes it: a Prometheus stale marker becomes the `NoRecordedValue` flag with a zero value.
pub fn put_number_point(p: &NumberPoint, dps: &mut Vec<u8>) {
    let flags = flags_for(p.value);
    let value = if flags != 0 { 0.0 } else { p.value };
    let start = p.created.map(secs_to_nanos).unwrap_or(0);
    let time = nanos(p.ts_ms);
    // NumberDataPoint: start_time_unix_nano 2, time_unix_nano 3, as_double 4, exemplars 5,
    // attributes 7, flags 8.
    let len = if start != 0 { 9 } else { 0 }
        + if time != 0 { 9 } else { 0 }
        + 9
        + p.exemplars
            .iter()
            .map(|e| prost::encoding::message::encoded_len(5, e))
            .sum::<usize>()
        + p.attrs_pb.len()
        + if flags != 0 {
            1 + prost::encoding::encoded_len_varint(flags as u64)
        } else {
            0
        };
    put_header(1, len, dps);
    put_fixed64(2, start, dps);
    put_fixed64(3, time, dps);
    put_double(4, value, dps);
    for e in p.exemplars {
        prost::encoding::message::encode(5, e, dps);
    }
    dps.extend_from_slice(p.attrs_pb);
    if flags != 0 {
        put_varint(8, flags as u64, dps);
    }
}

/// Appends a gauge (`kind` GAUGE) or cumulative monotonic sum (SUM) as a `metrics` field (tag 2
/// of `ScopeMetrics`) around its encoded points ([`put_number_point`]).
pub fn put_number_metric(
    name: &str,
    help: &str,
    unit: &str,
    kind: u8,
    dps: &[u8],
    out: &mut Vec<u8>,
) {
    // Sum: aggregation_temporality 2 (cumulative), is_monotonic 3 (true).
    let data_len = dps.len() + if kind == SUM { 4 } else { 0 };
    let metric_len = bytes_len(1, name.len())
        + bytes_len(1, help.len())
        + bytes_len(1, unit.len())
        + 1
        + delimited(data_len);
    put_header(2, metric_len, out);
    put_bytes(1, name.as_bytes(), out);
    put_bytes(2, help.as_bytes(), out);
    put_bytes(3, unit.as_bytes(), out);
    put_header(if kind == SUM { 7 } else { 5 }, data_len, out);
    out.extend_from_slice(dps);
    if kind == SUM {
        put_varint(2, AggregationTemporality::Cumulative as u64, out);
        put_varint(3, 1, out);
    }
}

/// Groups samples into families of points (see [`to_metrics`]).
fn group(
    trim_suffixes: bool,
    expo: &Exposition,
    samples: Vec<ScrapedSample>,
) -> (Vec<Family>, Vec<(String, String)>) {
    let mut families: Vec<Family> = Vec::new();
    // By family and whether its series are native histograms: a histogram scraped both ways
    // (`scrape_classic_histograms`) is two metrics of one name, as otelcol makes them.
    let mut index: [FastMap<String, usize>; 2] = Default::default();
    let mut target_info = Vec::new();
    for (mut labels, value, ts, ex, extra) in samples {
        let name = match labels.iter().position(|(k, _)| k == "__name__") {
            Some(i) => labels.remove(i).1,
            None => String::new(),
        };
        let (family, meta) = expo.family_of(&name);
        let mtype = meta.map(|m| m.mtype).unwrap_or_default();
        if name == "target_info" || (mtype == MetricType::Info && family == "target") {
            for (k, v) in labels {
                if !matches!(k.as_str(), "job" | "instance") {
                    target_info.push((k, v));
                }
            }
            continue;
        }
        let kind = kind_of(mtype, extra.as_ref().is_some_and(|e| e.native.is_some()));
        let suffix = name.get(family.len().min(name.len())..).unwrap_or("");
        // The bucket bound or quantile, read before those labels leave the attributes.
        let bound_label = match kind {
            HIST => "le",
            SUMMARY => "quantile",
            _ => "",
        };
        let bound = if bound_label.is_empty() {
            None
        } else {
            labels
                .iter()
                .find(|(k, _)| k == bound_label)
                .and_then(|(_, v)| text::parse_float(v).ok())
        };
        let mut attrs = labels;
        attrs.retain(|(k, _)| {
            !(matches!(k.as_str(), "job" | "instance")
                || (!bound_label.is_empty() && k == bound_label))
        });
        attrs.sort();
        let index = &mut index[usize::from(kind == EXP_HIST)];
        let fi = match index.get(family) {
            Some(&i) => i,
            None => {
                families.push(Family {
                    name: if trim_suffixes {
                        trim(family, kind, meta.map(|m| m.unit.as_str()).unwrap_or(""))
                    } else {
                        family.to_string()
                    },
                    kind,
                    help: meta.map(|m| m.help.clone()).unwrap_or_default(),
                    unit: meta.map(|m| m.unit.clone()).unwrap_or_default(),
                    points: BTreeMap::new(),
                });
                index.insert(family.to_string(), families.len() - 1);
                families.len() - 1
            }
        };
        let Some(f) = families.get_mut(fi) else {
            continue;
        };
        let p = f.points.entry(attrs).or_default();
        p.ts_ms = p.ts_ms.max(ts);
        if let Some(extra) = extra {
            let text::Extra { created, native } = *extra;
            if created.is_some() && kind != GAUGE {
                p.created = created;
            }
            if let Some(n) = native {
                p.exemplars
                    .extend(n.exemplars.iter().map(|e| exemplar_of(e, ts)));
                p.native = Some(n);
                continue;
            }
        }
        if suffix == "_created" && kind != GAUGE {
            p.created = Some(value);
            continue;
        }
        match kind {
            HIST => match suffix {
                "_bucket" => {
                    if let Some(le) = bound {
                        p.buckets.push((le, value));
                    }
                    if let Some(e) = &ex {
                        p.exemplars.push(exemplar_of(e, ts));
                    }
                }
                "_sum" => p.sum = Some(value),
                "_count" => p.count = Some(value),
                _ => {}
            },
            SUMMARY => match suffix {
                "_sum" => p.sum = Some(value),
                "_count" => p.count = Some(value),
                _ => {
                    if let Some(q) = bound {
                        p.quantiles.push((q, value));
                    }
                }
            },
            _ => {
                p.value = value;
                if let Some(e) = &ex {
                    p.exemplars.push(exemplar_of(e, ts));
                }
            }
        }
    }
    (families, target_info)
}

/// otelcol's `trim_metric_suffixes`: a counter loses `_total`, any metric its unit suffix
/// (`_seconds` for unit `seconds`), and a gauge in unit `1`/`ratio` its `_ratio`.
pub fn trim(name: &str, kind: u8, unit: &str) -> String {
    let mut n = name;
    if kind == SUM {
        n = n.strip_suffix("_total").unwrap_or(n);
    }
    if !unit.is_empty() {
        n = n.strip_suffix(&format!("_{unit}")).unwrap_or(n);
    }
    if kind == GAUGE {
        n = n.strip_suffix("_ratio").unwrap_or(n);
    }
    if n.is_empty() {
        name.to_string()
    } else {
        n.to_string()
    }
}

fn attributes(attrs: &[(String, String)]) -> Vec<KeyValue> {
    attrs.iter().map(|(k, v)| kv(k, v)).collect()
}

fn flags_for(v: f64) -> u32 {
    if v.to_bits() == crate::prom::otlp::STALE_NAN_BITS {
        DataPointFlags::NoRecordedValueMask as u32
    } else {
        0
    }
}

/// The metric of a family; each point's attributes move into its series key (pushed to `keys`).
fn build(f: Family, resource: &Arc<(String, String)>, keys: &mut Vec<SeriesKey>) -> Metric {
    let metric: Arc<str> = Arc::from(f.name.as_str());
    let hasher = KeyHasher::new(resource, &metric, f.kind);
    let kind = f.kind;
    let mut key = |attrs: Vec<(String, String)>| {
        let kvs = attributes(&attrs);
        keys.push(hasher.key(resource, &metric, kind, attrs));
        kvs
    };
    let data = match f.kind {
        SUM | GAUGE => {
            let points = f
                .points
                .into_iter()
                .map(|(attrs, p)| NumberDataPoint {
                    attributes: key(attrs),
                    start_time_unix_nano: p.created.map(secs_to_nanos).unwrap_or(0),
                    time_unix_nano: nanos(p.ts_ms),
                    flags: flags_for(p.value),
                    value: Some(number_data_point::Value::AsDouble(
                        if flags_for(p.value) != 0 {
                            0.0
                        } else {
                            p.value
                        },
                    )),
                    exemplars: p.exemplars,
                })
                .collect();
            if f.kind == SUM {
                metric::Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })
            } else {
                metric::Data::Gauge(Gauge {
                    data_points: points,
                })
            }
        }
        HIST => metric::Data::Histogram(Histogram {
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            data_points: f
                .points
                .into_iter()
                .map(|(attrs, mut p)| {
                    p.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let stale = p
                        .count
                        .or(p.buckets.last().map(|b| b.1))
                        .map(flags_for)
                        .unwrap_or(0);
                    let mut bounds = Vec::new();
                    let mut counts = Vec::new();
                    let mut prev = 0f64;
                    for (le, cum) in &p.buckets {
                        if le.is_infinite() && *le > 0.0 {
                            continue;
                        }
                        bounds.push(*le);
                        counts.push((cum - prev).max(0.0) as u64);
                        prev = *cum;
                    }
                    let inf = p
                        .buckets
                        .iter()
                        .find(|(le, _)| le.is_infinite() && *le > 0.0)
                        .map(|b| b.1);
                    let count = p.count.or(inf).unwrap_or(prev);
                    counts.push((inf.unwrap_or(count) - prev).max(0.0) as u64);
                    HistogramDataPoint {
                        attributes: key(attrs),
                        start_time_unix_nano: p.created.map(secs_to_nanos).unwrap_or(0),
                        time_unix_nano: nanos(p.ts_ms),
                        count: if stale != 0 { 0 } else { count.max(0.0) as u64 },
                        sum: p.sum.filter(|_| stale == 0),
                        bucket_counts: if stale != 0 { vec![] } else { counts },
                        explicit_bounds: if stale != 0 { vec![] } else { bounds },
                        exemplars: p.exemplars,
                        flags: stale,
                        min: None,
                        max: None,
                    }
                })
                .collect(),
        }),
        EXP_HIST => metric::Data::ExponentialHistogram(ExponentialHistogram {
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            data_points: f
                .points
                .into_iter()
                .map(|(attrs, p)| {
                    let n = p.native.unwrap_or_default();
                    let stale = flags_for(n.sum);
                    let side = |b: text::Buckets| {
                        (!b.counts.is_empty()).then_some(
                            exponential_histogram_data_point::Buckets {
                                offset: b.offset,
                                bucket_counts: b.counts,
                            },
                        )
                    };
                    let mut point = ExponentialHistogramDataPoint {
                        attributes: key(attrs),
                        start_time_unix_nano: p.created.map(secs_to_nanos).unwrap_or(0),
                        time_unix_nano: nanos(p.ts_ms),
                        flags: stale,
                        exemplars: p.exemplars,
                        ..Default::default()
                    };
                    if stale == 0 {
                        point.scale = n.schema;
                        point.count = n.count;
                        point.sum = Some(n.sum);
                        point.zero_threshold = n.zero_threshold;
                        point.zero_count = n.zero_count;
                        point.positive = side(n.positive);
                        point.negative = side(n.negative);
                    }
                    point
                })
                .collect(),
        }),
        _ => metric::Data::Summary(Summary {
            data_points: f
                .points
                .into_iter()
                .map(|(attrs, mut p)| {
                    p.quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let stale = p.count.map(flags_for).unwrap_or(0);
                    SummaryDataPoint {
                        attributes: key(attrs),
                        start_time_unix_nano: p.created.map(secs_to_nanos).unwrap_or(0),
                        time_unix_nano: nanos(p.ts_ms),
                        count: if stale != 0 {
                            0
                        } else {
                            p.count.unwrap_or(0.0).max(0.0) as u64
                        },
                        sum: if stale != 0 {
                            0.0
                        } else {
                            p.sum.unwrap_or(0.0)
                        },
                        quantile_values: if stale != 0 {
                            vec![]
                        } else {
                            p.quantiles
                                .into_iter()
                                .map(|(quantile, value)| ValueAtQuantile { quantile, value })
                                .collect()
                        },
                        flags: stale,
                    }
                })
                .collect(),
        }),
    };
    Metric {
        name: f.name,
        description: f.help,
        unit: f.unit,
        data: Some(data),
        metadata: vec![],
    }
}

/// Points flagged `NoRecordedValue` for series that were in the previous scrape and are not in
/// this one (or all of them, when the scrape failed), as otelcol turns Prometheus stale markers.
pub fn stale_metrics(gone: &[SeriesKey], ts_ms: i64) -> Vec<Metric> {
    let mut by_metric: BTreeMap<(&str, u8), Vec<&SeriesKey>> = BTreeMap::new();
    for k in gone {
        by_metric.entry((&*k.metric, k.kind)).or_default().push(k);
    }
    let flag = DataPointFlags::NoRecordedValueMask as u32;
    by_metric
        .into_iter()
        .map(|((name, kind), keys)| {
            let t = nanos(ts_ms);
            let data = match kind {
                HIST => metric::Data::Histogram(Histogram {
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    data_points: keys
                        .iter()
                        .map(|k| HistogramDataPoint {
                            attributes: attributes(&k.attrs),
                            time_unix_nano: t,
                            flags: flag,
                            ..Default::default()
                        })
                        .collect(),
                }),
                EXP_HIST => metric::Data::ExponentialHistogram(ExponentialHistogram {
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    data_points: keys
                        .iter()
                        .map(|k| ExponentialHistogramDataPoint {
                            attributes: attributes(&k.attrs),
                            time_unix_nano: t,
                            flags: flag,
                            ..Default::default()
                        })
                        .collect(),
                }),
                SUMMARY => metric::Data::Summary(Summary {
                    data_points: keys
                        .iter()
                        .map(|k| SummaryDataPoint {
                            attributes: attributes(&k.attrs),
                            time_unix_nano: t,
                            flags: flag,
                            ..Default::default()
                        })
                        .collect(),
                }),
                _ => {
                    let points = keys
                        .iter()
                        .map(|k| NumberDataPoint {
                            attributes: attributes(&k.attrs),
                            time_unix_nano: t,
                            flags: flag,
                            value: Some(number_data_point::Value::AsDouble(0.0)),
                            ..Default::default()
                        })
                        .collect();
                    if kind == SUM {
                        metric::Data::Sum(Sum {
                            data_points: points,
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: true,
                        })
                    } else {
                        metric::Data::Gauge(Gauge {
                            data_points: points,
                        })
                    }
                }
            };
            Metric {
                name: name.to_string(),
                data: Some(data),
                ..Default::default()
            }
        })
        .collect()
}

/// A gauge with one point, for `up` and the `scrape_*` series.
pub fn gauge(name: &str, value: f64, ts_ms: i64) -> Metric {
    Metric {
        name: name.to_string(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: nanos(ts_ms),
                value: Some(number_data_point::Value::AsDouble(value)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exposition's samples as the receiver hands them over, at time 1000.
    fn scraped(e: &Exposition) -> Vec<ScrapedSample> {
        e.samples
            .iter()
            .map(|s| {
                (
                    s.labels.clone(),
                    s.value,
                    1000,
                    s.exemplar.clone(),
                    s.extra.clone(),
                )
            })
            .collect()
    }

    fn convert(body: &str, om: bool) -> Vec<Metric> {
        let e = text::parse(body, om).unwrap();
        to_metrics(&Default::default(), false, &e, scraped(&e)).0
    }

    #[test]
    fn counters_histograms_summaries() {
        let m = convert(
            "# TYPE c_total counter\nc_total{cpu=\"0\",mode=\"idle\"} 5\n\
             # TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"5\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 9\nh_count 4\n\
             # TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"0.9\"} 2\ns_sum 10\ns_count 5\nuntyped 3\n",
            false,
        );
        let names: Vec<_> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["c_total", "h", "s", "untyped"]);
        match &m[0].data {
            Some(metric::Data::Sum(s)) => {
                assert!(s.is_monotonic);
                assert_eq!(
                    s.aggregation_temporality,
                    AggregationTemporality::Cumulative as i32
                );
                assert_eq!(s.data_points[0].attributes.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        match &m[1].data {
            Some(metric::Data::Histogram(h)) => {
                let p = &h.data_points[0];
                assert_eq!(p.explicit_bounds, [1.0, 5.0]);
                assert_eq!(p.bucket_counts, [2, 1, 1]);
                assert_eq!((p.count, p.sum), (4, Some(9.0)));
            }
            other => panic!("{other:?}"),
        }
        match &m[2].data {
            Some(metric::Data::Summary(s)) => {
                let p = &s.data_points[0];
                assert_eq!(p.quantile_values.len(), 2);
                assert_eq!((p.count, p.sum), (5, 10.0));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(m[3].data, Some(metric::Data::Gauge(_))));
    }

    #[test]
    fn protobuf_every_type_and_native_histogram() {
        use crate::prom::protobuf::{self, tests as pb};
        use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
        let e = protobuf::parse(&pb::body(&pb::every_type())).unwrap();
        let (m, _, keys) = to_metrics(&Default::default(), false, &e, scraped(&e));
        let names: Vec<_> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "requests_total",
                "temperature",
                "mystery",
                "rpc_seconds",
                "latency_seconds",
                "native_seconds"
            ]
        );
        let Some(metric::Data::Sum(c)) = &m[0].data else {
            panic!("{:?}", m[0])
        };
        assert!(c.is_monotonic);
        assert_eq!(
            c.data_points[0].start_time_unix_nano,
            1_700_000_000_000_000_000
        );
        assert_eq!(
            c.data_points[0].exemplars[0].span_id,
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(m[0].description, "requests_total help");
        assert!(matches!(m[1].data, Some(metric::Data::Gauge(_))));
        assert!(matches!(m[2].data, Some(metric::Data::Gauge(_))));
        let Some(metric::Data::Summary(s)) = &m[3].data else {
            panic!()
        };
        assert_eq!((s.data_points[0].count, s.data_points[0].sum), (10, 4.5));
        assert_eq!(s.data_points[0].quantile_values.len(), 2);
        let Some(metric::Data::Histogram(h)) = &m[4].data else {
            panic!()
        };
        assert_eq!(h.data_points[0].explicit_bounds, [1.0, 5.0]);
        assert_eq!(h.data_points[0].bucket_counts, [2, 1, 1]);
        let Some(metric::Data::ExponentialHistogram(x)) = &m[5].data else {
            panic!("{:?}", m[5])
        };
        assert_eq!(
            x.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let p = &x.data_points[0];
        assert_eq!((p.scale, p.count, p.sum), (1, 11, Some(-1.5)));
        assert_eq!((p.zero_threshold, p.zero_count), (0.001, 4));
        assert_eq!(
            p.positive,
            Some(Buckets {
                offset: -1,
                bucket_counts: vec![1, 2, 0, 0, 1]
            })
        );
        assert_eq!(
            p.negative,
            Some(Buckets {
                offset: -1,
                bucket_counts: vec![3]
            })
        );
        assert_eq!(p.start_time_unix_nano, 1_700_000_000_500_000_000);
        assert_eq!((p.min, p.max), (None, None));
        assert_eq!(p.exemplars[0].trace_id.len(), 16);
        assert_eq!(p.attributes, vec![kv("path", "/")]);
        // A native series that goes away ends with a NoRecordedValue exponential point.
        let gone: Vec<SeriesKey> = keys.into_iter().filter(|k| k.kind == EXP_HIST).collect();
        let stale = stale_metrics(&gone, 2000);
        let Some(metric::Data::ExponentialHistogram(x)) = &stale[0].data else {
            panic!()
        };
        assert_eq!(x.data_points[0].flags, 1);
        assert_eq!(stale[0].name, "native_seconds");
    }

    #[test]
    fn scrape_classic_histograms_keeps_both_forms() {
        use crate::prom::protobuf::{self, client, tests as pb};
        // A native histogram that also has classic buckets, as client_golang exposes one with
        // both bucket kinds configured.
        let mut h = pb::native_histogram();
        h.bucket = vec![client::Bucket {
            cumulative_count: Some(9),
            upper_bound: Some(1.0),
            ..Default::default()
        }];
        let body = pb::body(&[pb::family(
            "both_seconds",
            client::MetricType::Histogram,
            vec![client::Metric {
                histogram: Some(h),
                ..Default::default()
            }],
        )]);
        let kinds = |classic: bool| -> Vec<(String, &'static str)> {
            let e = protobuf::parse_with(&body, classic).unwrap();
            let (m, _, keys) = to_metrics(&Default::default(), false, &e, scraped(&e));
            assert_eq!(keys.len(), m.len());
            m.into_iter()
                .map(|m| {
                    let kind = match &m.data {
                        Some(metric::Data::ExponentialHistogram(_)) => "exponential",
                        Some(metric::Data::Histogram(h)) => {
                            let p = &h.data_points[0];
                            assert_eq!(p.explicit_bounds, [1.0]);
                            assert_eq!(p.bucket_counts, [9, 2]);
                            assert_eq!((p.count, p.sum), (11, Some(-1.5)));
                            assert_eq!(p.start_time_unix_nano, 1_700_000_000_500_000_000);
                            "classic"
                        }
                        other => panic!("{other:?}"),
                    };
                    (m.name, kind)
                })
                .collect()
        };
        assert_eq!(kinds(false), [("both_seconds".to_string(), "exponential")]);
        assert_eq!(
            kinds(true),
            [
                ("both_seconds".to_string(), "exponential"),
                ("both_seconds".to_string(), "classic")
            ]
        );
    }

    #[test]
    fn openmetrics_created_and_exemplars() {
        let m = convert(
            "# TYPE foo counter\nfoo_total 17 # {trace_id=\"0102030405060708090a0b0c0d0e0f10\",x=\"y\"} 1\nfoo_created 1520430000.5\n# EOF\n",
            true,
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "foo");
        let Some(metric::Data::Sum(s)) = &m[0].data else {
            panic!()
        };
        assert_eq!(
            s.data_points[0].start_time_unix_nano,
            1_520_430_000_500_000_000
        );
        assert_eq!(s.data_points[0].exemplars[0].trace_id.len(), 16);
        assert_eq!(s.data_points[0].exemplars[0].filtered_attributes.len(), 1);
    }

    #[test]
    fn trim_metric_suffixes() {
        let e = text::parse(
            "# TYPE a_seconds_total counter\n# UNIT a_seconds_total seconds\na_seconds_total 1\n# TYPE u_ratio gauge\nu_ratio 1\n",
            false,
        )
        .unwrap();
        let samples: Vec<_> = e
            .samples
            .iter()
            .map(|s| (s.labels.clone(), s.value, 1, None, None))
            .collect();
        let (m, _, keys) = to_metrics(&Default::default(), true, &e, samples);
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a", "u"]);
        assert_eq!(&*keys[0].metric, "a");
    }

    #[test]
    fn target_info_becomes_resource_attributes() {
        let e = text::parse("target_info{env=\"prod\",job=\"j\"} 1\nx 1\n", false).unwrap();
        let samples: Vec<_> = e
            .samples
            .iter()
            .map(|s| (s.labels.clone(), s.value, 1, None, None))
            .collect();
        let (m, ti, _) = to_metrics(&Default::default(), false, &e, samples);
        assert_eq!(m.len(), 1);
        assert_eq!(ti, vec![("env".to_string(), "prod".to_string())]);
    }

    #[test]
    fn encoded_metrics_are_what_prost_writes() {
        use prost::Message;
        let body = "# HELP c_total Requests.\n# TYPE c_total counter\nc_total{cpu=\"0\",mode=\"idle\"} 5\nc_total{cpu=\"1\",mode=\"\"} 0\n\
             c_created{a=\"b\"} 1520430000.5\n# TYPE c counter\nc_total{a=\"b\"} 7\nc_created{a=\"b\"} 1520430000.5\n\
             # TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 4\nh_sum 9\nh_count 4\n\
             # TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 10\ns_count 5\n# UNIT g bytes\n# TYPE g gauge\ng 3\nuntyped{x=\"\"} -1.5\n";
        let e = text::parse(body, false).unwrap();
        let stale = f64::from_bits(crate::prom::otlp::STALE_NAN_BITS);
        let samples = || -> Vec<ScrapedSample> {
            let mut v = scraped(&e);
            v.push((
                vec![("__name__".into(), "g".into()), ("k".into(), "v".into())],
                stale,
                0,
                None,
                None,
            ));
            v
        };
        let res = ("job".to_string(), "inst".to_string());
        let (metrics, ti, keys) = to_metrics(&res, false, &e, samples());
        let mut got = Vec::new();
        let (points, ti2, keys2) = to_encoded_metrics(&res, false, &e, samples(), &mut got);
        let mut want = Vec::new();
        for m in &metrics {
            prost::encoding::message::encode(2, m, &mut want);
        }
        assert_eq!(got, want, "the same bytes as prost");
        assert_eq!(points, metrics.iter().map(data_points).sum::<usize>());
        assert_eq!((ti, keys), (ti2, keys2));
        let decoded =
            opentelemetry_proto::tonic::metrics::v1::ScopeMetrics::decode(&got[..]).unwrap();
        assert_eq!(decoded.metrics, metrics);
    }
}
