//! One scrape's samples → OTLP metrics, as otelcol's prometheus receiver converts them: counters →
//! cumulative monotonic sums, gauges and untyped → gauges, classic histograms and summaries with
//! their `_sum`/`_count`/`_created`, exemplars, and stale series → points flagged `NoRecordedValue`.

use std::collections::{BTreeMap, HashMap};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, summary_data_point::ValueAtQuantile,
    AggregationTemporality, DataPointFlags, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, Sum, Summary, SummaryDataPoint,
};

use crate::prom::text::{self, Exposition, MetricType};

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
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The resource's `job` and `instance`.
    pub resource: (String, String),
    pub metric: String,
    pub kind: u8,
    pub attrs: Vec<(String, String)>,
}

const GAUGE: u8 = 0;
const SUM: u8 = 1;
const HIST: u8 = 2;
const SUMMARY: u8 = 3;

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
}

struct Family {
    name: String,
    kind: u8,
    help: String,
    unit: String,
    points: BTreeMap<Vec<(String, String)>, Point>,
}

fn exemplar_of(e: &text::Exemplar, default_ts: i64) -> Exemplar {
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

/// A sample after relabeling: labels (with `__name__`), value, timestamp (ms), exemplar.
pub type ScrapedSample<'a> = (Vec<(String, String)>, f64, i64, Option<&'a text::Exemplar>);

/// Converts samples that already went through relabeling. Each sample's labels include
/// `__name__`; `job` and `instance` are removed (they are resource attributes). `target_info`
/// labels are returned for the resource. Also returns every series key, for stale markers.
pub fn to_metrics(
    resource: &(String, String),
    trim_suffixes: bool,
    expo: &Exposition,
    samples: &[ScrapedSample<'_>],
) -> (Vec<Metric>, Vec<(String, String)>, Vec<SeriesKey>) {
    let mut families: Vec<Family> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut target_info = Vec::new();
    for (labels, value, ts, ex) in samples {
        let name = labels
            .iter()
            .find(|(k, _)| k == "__name__")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let (family, meta) = expo.family_of(name);
        let mtype = meta.map(|m| m.mtype).unwrap_or_default();
        if name == "target_info" || (mtype == MetricType::Info && family == "target") {
            for (k, v) in labels {
                if !matches!(k.as_str(), "__name__" | "job" | "instance") {
                    target_info.push((k.clone(), v.clone()));
                }
            }
            continue;
        }
        let kind = match mtype {
            MetricType::Counter => SUM,
            MetricType::Histogram => HIST,
            MetricType::Summary => SUMMARY,
            _ => GAUGE,
        };
        let suffix = &name[family.len().min(name.len())..];
        let mut attrs: Vec<(String, String)> = labels
            .iter()
            .filter(|(k, _)| {
                let dropped = matches!(k.as_str(), "__name__" | "job" | "instance")
                    || (kind == HIST && k == "le")
                    || (kind == SUMMARY && k == "quantile");
                !dropped
            })
            .cloned()
            .collect();
        attrs.sort();
        let fi = *index.entry(family.to_string()).or_insert_with(|| {
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
            families.len() - 1
        });
        let Some(f) = families.get_mut(fi) else {
            continue;
        };
        let p = f.points.entry(attrs).or_default();
        p.ts_ms = p.ts_ms.max(*ts);
        if suffix == "_created" && kind != GAUGE {
            p.created = Some(*value);
            continue;
        }
        match kind {
            HIST => match suffix {
                "_bucket" => {
                    let le = labels
                        .iter()
                        .find(|(k, _)| k == "le")
                        .and_then(|(_, v)| text::parse_float(v).ok());
                    if let Some(le) = le {
                        p.buckets.push((le, *value));
                    }
                    if let Some(e) = ex {
                        p.exemplars.push(exemplar_of(e, *ts));
                    }
                }
                "_sum" => p.sum = Some(*value),
                "_count" => p.count = Some(*value),
                _ => {}
            },
            SUMMARY => match suffix {
                "_sum" => p.sum = Some(*value),
                "_count" => p.count = Some(*value),
                _ => {
                    if let Some(q) = labels
                        .iter()
                        .find(|(k, _)| k == "quantile")
                        .and_then(|(_, v)| text::parse_float(v).ok())
                    {
                        p.quantiles.push((q, *value));
                    }
                }
            },
            _ => {
                p.value = *value;
                if let Some(e) = ex {
                    p.exemplars.push(exemplar_of(e, *ts));
                }
            }
        }
    }
    let mut keys = Vec::new();
    let metrics = families
        .into_iter()
        .map(|f| {
            for attrs in f.points.keys() {
                keys.push(SeriesKey {
                    resource: resource.clone(),
                    metric: f.name.clone(),
                    kind: f.kind,
                    attrs: attrs.clone(),
                });
            }
            build(f)
        })
        .collect();
    (metrics, target_info, keys)
}

/// otelcol's `trim_metric_suffixes`: a counter loses `_total`, any metric its unit suffix
/// (`_seconds` for unit `seconds`), and a gauge in unit `1`/`ratio` its `_ratio`.
fn trim(name: &str, kind: u8, unit: &str) -> String {
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

fn build(f: Family) -> Metric {
    let data = match f.kind {
        SUM | GAUGE => {
            let points = f
                .points
                .into_iter()
                .map(|(attrs, p)| NumberDataPoint {
                    attributes: attributes(&attrs),
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
                        attributes: attributes(&attrs),
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
        _ => metric::Data::Summary(Summary {
            data_points: f
                .points
                .into_iter()
                .map(|(attrs, mut p)| {
                    p.quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let stale = p.count.map(flags_for).unwrap_or(0);
                    SummaryDataPoint {
                        attributes: attributes(&attrs),
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
        by_metric.entry((&k.metric, k.kind)).or_default().push(k);
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

    fn convert(body: &str, om: bool) -> Vec<Metric> {
        let e = text::parse(body, om).unwrap();
        let samples: Vec<_> = e
            .samples
            .iter()
            .map(|s| (s.labels.clone(), s.value, 1000, s.exemplar.as_ref()))
            .collect();
        to_metrics(&Default::default(), false, &e, &samples).0
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
            .map(|s| (s.labels.clone(), s.value, 1, None))
            .collect();
        let (m, _, keys) = to_metrics(&Default::default(), true, &e, &samples);
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a", "u"]);
        assert_eq!(keys[0].metric, "a");
    }

    #[test]
    fn target_info_becomes_resource_attributes() {
        let e = text::parse("target_info{env=\"prod\",job=\"j\"} 1\nx 1\n", false).unwrap();
        let samples: Vec<_> = e
            .samples
            .iter()
            .map(|s| (s.labels.clone(), s.value, 1, None))
            .collect();
        let (m, ti, _) = to_metrics(&Default::default(), false, &e, &samples);
        assert_eq!(m.len(), 1);
        assert_eq!(ti, vec![("env".to_string(), "prod".to_string())]);
    }
}
