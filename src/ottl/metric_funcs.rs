//! The transform processor's metric-context editors that create metrics or merge data points:
//! `extract_sum_metric`, `extract_count_metric`, `convert_summary_count_val_to_sum`,
//! `convert_summary_sum_val_to_sum` and `aggregate_on_attributes`, as otelcol-contrib's
//! `transformprocessor/internal/metrics` defines them.
//!
//! A created metric goes to [`Ctx::new_metrics`]; the walker appends it to the scope's metrics after
//! the current ones and runs the group's statements on it too, as otelcol's loop over the growing
//! metric slice does ("the new metric will be passed to all subsequent statements").

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point::Value as Nv, ExponentialHistogramDataPoint,
    HistogramDataPoint, Metric, NumberDataPoint, Sum,
};
use prost::Message;

use super::compile::EditFn;
use super::context::Ctx;

/// What a `extract_*`/`convert_summary_*` editor takes from each data point.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Extract {
    /// `extract_sum_metric`: histogram, exponential histogram (points with a sum) and summary.
    Sum,
    /// `extract_count_metric`: histogram, exponential histogram and summary.
    Count,
    /// `convert_summary_sum_val_to_sum`: summaries only, other types are left alone.
    SummarySum,
    /// `convert_summary_count_val_to_sum`: summaries only.
    SummaryCount,
}

fn type_name(d: &Option<Data>) -> &'static str {
    match d {
        None => "Empty",
        Some(Data::Gauge(_)) => "Gauge",
        Some(Data::Sum(_)) => "Sum",
        Some(Data::Histogram(_)) => "Histogram",
        Some(Data::ExponentialHistogram(_)) => "ExponentialHistogram",
        Some(Data::Summary(_)) => "Summary",
    }
}

fn point(attrs: &[KeyValue], start: u64, time: u64, value: Nv) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs.to_vec(),
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(value),
        ..Default::default()
    }
}

/// Builds one of the metric-creating editors. `temporality` is `None` for the `extract_*` forms,
/// which take the source's (cumulative for summaries).
pub fn extract(
    kind: Extract,
    name: &'static str,
    temporality: Option<i32>,
    monotonic: bool,
    suffix: String,
) -> EditFn {
    Box::new(move |ctx: &mut Ctx<'_>| {
        let Some(m) = ctx.metric.as_deref() else {
            return Ok(());
        };
        let summary_only = matches!(kind, Extract::SummarySum | Extract::SummaryCount);
        let (source_temporality, points): (i32, Vec<NumberDataPoint>) = match &m.data {
            Some(Data::Summary(s)) => (
                2,
                s.data_points
                    .iter()
                    .map(|p| {
                        let v = match kind {
                            Extract::Sum | Extract::SummarySum => Nv::AsDouble(p.sum),
                            _ => Nv::AsInt(p.count.min(i64::MAX as u64) as i64),
                        };
                        point(&p.attributes, p.start_time_unix_nano, p.time_unix_nano, v)
                    })
                    .collect(),
            ),
            _ if summary_only => return Ok(()),
            Some(Data::Histogram(h)) => (
                h.aggregation_temporality,
                h.data_points
                    .iter()
                    .filter_map(|p| {
                        let v = match kind {
                            Extract::Sum => Nv::AsDouble(p.sum?),
                            _ => Nv::AsInt(p.count.min(i64::MAX as u64) as i64),
                        };
                        Some(point(
                            &p.attributes,
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                            v,
                        ))
                    })
                    .collect(),
            ),
            Some(Data::ExponentialHistogram(h)) => (
                h.aggregation_temporality,
                h.data_points
                    .iter()
                    .filter_map(|p| {
                        let v = match kind {
                            Extract::Sum => Nv::AsDouble(p.sum?),
                            _ => Nv::AsInt(p.count.min(i64::MAX as u64) as i64),
                        };
                        Some(point(
                            &p.attributes,
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                            v,
                        ))
                    })
                    .collect(),
            ),
            other => {
                return Err(format!(
                    "{name} requires an input metric of type Histogram, ExponentialHistogram or Summary, got {}",
                    type_name(other)
                ))
            }
        };
        // The extract_* forms create a metric only when it has points; the convert_summary_* forms
        // always do, as otelcol.
        if points.is_empty() && !summary_only {
            return Ok(());
        }
        let new = Metric {
            name: format!("{}{suffix}", m.name),
            description: m.description.clone(),
            unit: m.unit.clone(),
            data: Some(Data::Sum(Sum {
                data_points: points,
                aggregation_temporality: temporality.unwrap_or(source_temporality),
                is_monotonic: monotonic,
            })),
            ..Default::default()
        };
        match ctx.new_metrics.as_deref_mut() {
            Some(out) => out.push(new),
            None => return Err(format!("{name} is only available in the metric context")),
        }
        Ok(())
    })
}

/// `aggregate_on_attributes`' aggregation function.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Agg {
    Sum,
    Max,
    Min,
    Mean,
    Median,
    Count,
}

impl Agg {
    pub fn parse(s: &str) -> Option<Agg> {
        Some(match s {
            "sum" => Agg::Sum,
            "max" => Agg::Max,
            "min" => Agg::Min,
            "mean" => Agg::Mean,
            "median" => Agg::Median,
            "count" => Agg::Count,
            _ => return None,
        })
    }
}

/// The grouping key of a data point: its attributes (order-independent), its timestamp and what
/// otelcol also groups by (start time for delta temporality, bucket layout for histograms).
fn group_key(attrs: &[KeyValue], time: u64, extra: &[u64]) -> Vec<u8> {
    let mut sorted: Vec<&KeyValue> = attrs.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut k = Vec::with_capacity(64);
    for kv in sorted {
        k.extend_from_slice(&(kv.key.len() as u64).to_le_bytes());
        k.extend_from_slice(kv.key.as_bytes());
        let v = kv
            .value
            .as_ref()
            .map(|v| v.encode_to_vec())
            .unwrap_or_default();
        k.extend_from_slice(&(v.len() as u64).to_le_bytes());
        k.extend_from_slice(&v);
    }
    k.extend_from_slice(&time.to_le_bytes());
    for e in extra {
        k.extend_from_slice(&e.to_le_bytes());
    }
    k
}

/// Groups points by key in first-seen order.
fn group<P>(points: Vec<P>, key: impl Fn(&P) -> Vec<u8>) -> Vec<Vec<P>> {
    let mut index: std::collections::HashMap<Vec<u8>, usize> = Default::default();
    let mut groups: Vec<Vec<P>> = Vec::new();
    for p in points {
        let k = key(&p);
        match index.get(&k) {
            Some(&i) => groups[i].push(p),
            None => {
                index.insert(k, groups.len());
                groups.push(vec![p]);
            }
        }
    }
    groups
}

fn as_f64(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(Nv::AsDouble(d)) => d,
        Some(Nv::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

fn as_i64(p: &NumberDataPoint) -> i64 {
    match p.value {
        Some(Nv::AsDouble(d)) => d as i64,
        Some(Nv::AsInt(i)) => i,
        None => 0,
    }
}

fn merge_numbers(g: Vec<NumberDataPoint>, agg: Agg) -> NumberDataPoint {
    let n = g.len();
    let mut it = g.into_iter();
    let mut first = it.next().unwrap_or_default();
    let rest: Vec<NumberDataPoint> = it.collect();
    for p in &rest {
        first.start_time_unix_nano = first.start_time_unix_nano.min(p.start_time_unix_nano);
    }
    match first.value {
        Some(Nv::AsInt(v)) => {
            let mut vals: Vec<i64> = std::iter::once(v).chain(rest.iter().map(as_i64)).collect();
            let out = match agg {
                Agg::Sum => vals.iter().fold(0i64, |a, b| a.saturating_add(*b)),
                Agg::Mean => vals.iter().fold(0i64, |a, b| a.saturating_add(*b)) / n as i64,
                Agg::Max => vals.iter().copied().max().unwrap_or(v),
                Agg::Min => vals.iter().copied().min().unwrap_or(v),
                Agg::Count => n as i64,
                Agg::Median => {
                    vals.sort_unstable();
                    let m = vals.len() / 2;
                    if vals.len() % 2 == 1 {
                        vals[m]
                    } else {
                        (vals[m - 1].saturating_add(vals[m])) / 2
                    }
                }
            };
            first.value = Some(Nv::AsInt(out));
        }
        _ => {
            let v = as_f64(&first);
            let mut vals: Vec<f64> = std::iter::once(v).chain(rest.iter().map(as_f64)).collect();
            let out = match agg {
                Agg::Sum => vals.iter().sum(),
                Agg::Mean => vals.iter().sum::<f64>() / n as f64,
                Agg::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Agg::Min => vals.iter().copied().fold(f64::INFINITY, f64::min),
                Agg::Count => n as f64,
                Agg::Median => {
                    vals.sort_by(|a, b| a.total_cmp(b));
                    let m = vals.len() / 2;
                    if vals.len() % 2 == 1 {
                        vals[m]
                    } else {
                        (vals[m - 1] + vals[m]) / 2.0
                    }
                }
            };
            first.value = Some(Nv::AsDouble(out));
        }
    }
    first
}

fn add_counts(into: &mut Vec<u64>, from: &[u64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    for (a, b) in into.iter_mut().zip(from) {
        *a = a.saturating_add(*b);
    }
}

fn merge_histograms(g: Vec<HistogramDataPoint>) -> HistogramDataPoint {
    let mut it = g.into_iter();
    let mut dp = it.next().unwrap_or_default();
    for p in it {
        if p.count == 0 {
            continue;
        }
        dp.count = dp.count.saturating_add(p.count);
        dp.sum = Some(dp.sum.unwrap_or(0.0) + p.sum.unwrap_or(0.0));
        if let (Some(a), Some(b)) = (dp.min, p.min) {
            dp.min = Some(a.min(b));
        }
        if let (Some(a), Some(b)) = (dp.max, p.max) {
            dp.max = Some(a.max(b));
        }
        add_counts(&mut dp.bucket_counts, &p.bucket_counts);
        dp.exemplars.extend(p.exemplars);
        dp.start_time_unix_nano = dp.start_time_unix_nano.min(p.start_time_unix_nano);
    }
    dp
}

fn merge_exp_histograms(g: Vec<ExponentialHistogramDataPoint>) -> ExponentialHistogramDataPoint {
    let mut it = g.into_iter();
    let mut dp = it.next().unwrap_or_default();
    for p in it {
        if p.count == 0 {
            continue;
        }
        dp.count = dp.count.saturating_add(p.count);
        dp.sum = Some(dp.sum.unwrap_or(0.0) + p.sum.unwrap_or(0.0));
        if let (Some(a), Some(b)) = (dp.min, p.min) {
            dp.min = Some(a.min(b));
        }
        if let (Some(a), Some(b)) = (dp.max, p.max) {
            dp.max = Some(a.max(b));
        }
        if let (Some(into), Some(from)) = (dp.negative.as_mut(), p.negative.as_ref()) {
            add_counts(&mut into.bucket_counts, &from.bucket_counts);
        }
        if let (Some(into), Some(from)) = (dp.positive.as_mut(), p.positive.as_ref()) {
            add_counts(&mut into.bucket_counts, &from.bucket_counts);
        }
        dp.zero_count = dp.zero_count.saturating_add(p.zero_count);
        dp.exemplars.extend(p.exemplars);
        dp.start_time_unix_nano = dp.start_time_unix_nano.min(p.start_time_unix_nano);
    }
    dp
}

/// `aggregate_on_attributes(function, Optional[attributes])`: keeps only `attributes` on each point
/// (all when omitted, none for `[]`), then merges the points that share attributes and timestamp.
/// Histograms and exponential histograms merge by summing, whatever the function (as otelcol).
pub fn aggregate_on_attributes(agg: Agg, keep: Option<Vec<String>>) -> EditFn {
    Box::new(move |ctx: &mut Ctx<'_>| {
        let Some(m) = ctx.metric.as_deref_mut() else {
            return Ok(());
        };
        let filter = |attrs: &mut Vec<KeyValue>| {
            if let Some(keep) = &keep {
                attrs.retain(|kv| keep.contains(&kv.key));
            }
        };
        const DELTA: i32 = 1;
        match &mut m.data {
            Some(Data::Summary(_)) => {
                return Err(
                    "aggregate_on_attributes does not support aggregating Summary metrics".into(),
                )
            }
            Some(Data::Gauge(g)) => {
                let mut pts = std::mem::take(&mut g.data_points);
                pts.iter_mut().for_each(|p| filter(&mut p.attributes));
                g.data_points = group(pts, |p| group_key(&p.attributes, p.time_unix_nano, &[]))
                    .into_iter()
                    .map(|g| merge_numbers(g, agg))
                    .collect();
            }
            Some(Data::Sum(s)) => {
                let by_start = s.aggregation_temporality == DELTA;
                let mut pts = std::mem::take(&mut s.data_points);
                pts.iter_mut().for_each(|p| filter(&mut p.attributes));
                s.data_points = group(pts, |p| {
                    let extra = if by_start {
                        vec![p.start_time_unix_nano]
                    } else {
                        vec![]
                    };
                    group_key(&p.attributes, p.time_unix_nano, &extra)
                })
                .into_iter()
                .map(|g| merge_numbers(g, agg))
                .collect();
            }
            Some(Data::Histogram(h)) => {
                let by_start = h.aggregation_temporality == DELTA;
                let mut pts = std::mem::take(&mut h.data_points);
                pts.iter_mut().for_each(|p| filter(&mut p.attributes));
                h.data_points = group(pts, |p| {
                    let mut extra: Vec<u64> =
                        p.explicit_bounds.iter().map(|b| b.to_bits()).collect();
                    extra.push(u64::MAX); // separates the bounds from what follows
                    if by_start {
                        extra.push(p.start_time_unix_nano);
                    }
                    extra.extend([
                        p.min.is_some() as u64,
                        p.max.is_some() as u64,
                        p.flags as u64,
                    ]);
                    group_key(&p.attributes, p.time_unix_nano, &extra)
                })
                .into_iter()
                .map(merge_histograms)
                .collect();
            }
            Some(Data::ExponentialHistogram(h)) => {
                let by_start = h.aggregation_temporality == DELTA;
                let mut pts = std::mem::take(&mut h.data_points);
                pts.iter_mut().for_each(|p| filter(&mut p.attributes));
                h.data_points = group(pts, |p| {
                    let mut extra = vec![
                        p.scale as i64 as u64,
                        p.min.is_some() as u64,
                        p.max.is_some() as u64,
                        p.flags as u64,
                        p.negative.as_ref().map_or(0, |b| b.offset) as i64 as u64,
                        p.positive.as_ref().map_or(0, |b| b.offset) as i64 as u64,
                    ];
                    if by_start {
                        extra.push(p.start_time_unix_nano);
                    }
                    group_key(&p.attributes, p.time_unix_nano, &extra)
                })
                .into_iter()
                .map(merge_exp_histograms)
                .collect();
            }
            None => {}
        }
        Ok(())
    })
}
