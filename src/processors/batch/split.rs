//! Splitting decoded data at an item count (spans, metric data points, log records), keeping each
//! item's resource, scope and (for metrics) metric description, as otelcol's split functions do.

use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, ExponentialHistogram, Gauge, Histogram, Metric, ResourceMetrics, Sum, Summary,
};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use crate::signal::{Logs, Metrics, Signal, Traces};

pub trait Split: Signal {
    /// Removes the first `n` items from `resources` and returns them.
    fn split_front(resources: &mut Vec<Self::Resource>, n: usize) -> Vec<Self::Resource>;
}

/// Moves whole elements off the front while they fit in `n` items, then splits the next one.
fn split_vec<T>(
    v: &mut Vec<T>,
    n: usize,
    count: impl Fn(&T) -> usize,
    split_one: impl FnOnce(&mut T, usize) -> T,
) -> Vec<T> {
    let mut need = n;
    let mut whole = 0;
    let mut partial = None;
    for e in v.iter_mut() {
        if need == 0 {
            break;
        }
        let c = count(e);
        if c <= need {
            need -= c;
            whole += 1;
        } else {
            partial = Some(split_one(e, need));
            break;
        }
    }
    let mut out: Vec<T> = v.drain(..whole).collect();
    out.extend(partial);
    out
}

fn span_count(r: &ResourceSpans) -> usize {
    r.scope_spans.iter().map(|s| s.spans.len()).sum()
}

impl Split for Traces {
    fn split_front(resources: &mut Vec<ResourceSpans>, n: usize) -> Vec<ResourceSpans> {
        split_vec(resources, n, span_count, |rs, k| {
            let scopes = std::mem::take(&mut rs.scope_spans);
            let mut head = rs.clone();
            rs.scope_spans = scopes;
            head.scope_spans = split_vec(
                &mut rs.scope_spans,
                k,
                |ss| ss.spans.len(),
                |ss, k| {
                    let spans = std::mem::take(&mut ss.spans);
                    let mut h = ss.clone();
                    ss.spans = spans;
                    h.spans = ss.spans.drain(..k).collect();
                    h
                },
            );
            head
        })
    }
}

fn log_count(r: &ResourceLogs) -> usize {
    r.scope_logs.iter().map(|s| s.log_records.len()).sum()
}

impl Split for Logs {
    fn split_front(resources: &mut Vec<ResourceLogs>, n: usize) -> Vec<ResourceLogs> {
        split_vec(resources, n, log_count, |rl, k| {
            let scopes = std::mem::take(&mut rl.scope_logs);
            let mut head = rl.clone();
            rl.scope_logs = scopes;
            head.scope_logs = split_vec(
                &mut rl.scope_logs,
                k,
                |sl| sl.log_records.len(),
                |sl, k| {
                    let records = std::mem::take(&mut sl.log_records);
                    let mut h = sl.clone();
                    sl.log_records = records;
                    h.log_records = sl.log_records.drain(..k).collect();
                    h
                },
            );
            head
        })
    }
}

fn point_count(m: &Metric) -> usize {
    match &m.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

fn split_metric(m: &mut Metric, k: usize) -> Metric {
    let data = m.data.take();
    let mut head = m.clone();
    m.data = data;
    head.data = match &mut m.data {
        Some(Data::Gauge(g)) => Some(Data::Gauge(Gauge {
            data_points: g.data_points.drain(..k).collect(),
        })),
        Some(Data::Sum(s)) => Some(Data::Sum(Sum {
            data_points: s.data_points.drain(..k).collect(),
            aggregation_temporality: s.aggregation_temporality,
            is_monotonic: s.is_monotonic,
        })),
        Some(Data::Histogram(h)) => Some(Data::Histogram(Histogram {
            data_points: h.data_points.drain(..k).collect(),
            aggregation_temporality: h.aggregation_temporality,
        })),
        Some(Data::ExponentialHistogram(h)) => {
            Some(Data::ExponentialHistogram(ExponentialHistogram {
                data_points: h.data_points.drain(..k).collect(),
                aggregation_temporality: h.aggregation_temporality,
            }))
        }
        Some(Data::Summary(s)) => Some(Data::Summary(Summary {
            data_points: s.data_points.drain(..k).collect(),
        })),
        None => None,
    };
    head
}

impl Split for Metrics {
    fn split_front(resources: &mut Vec<ResourceMetrics>, n: usize) -> Vec<ResourceMetrics> {
        let rm_count = |r: &ResourceMetrics| -> usize {
            r.scope_metrics
                .iter()
                .flat_map(|s| &s.metrics)
                .map(point_count)
                .sum()
        };
        split_vec(resources, n, rm_count, |rm, k| {
            let scopes = std::mem::take(&mut rm.scope_metrics);
            let mut head = rm.clone();
            rm.scope_metrics = scopes;
            head.scope_metrics = split_vec(
                &mut rm.scope_metrics,
                k,
                |sm| sm.metrics.iter().map(point_count).sum(),
                |sm, k| {
                    let metrics = std::mem::take(&mut sm.metrics);
                    let mut h = sm.clone();
                    sm.metrics = metrics;
                    h.metrics = split_vec(&mut sm.metrics, k, point_count, split_metric);
                    h
                },
            );
            head
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::{NumberDataPoint, ScopeMetrics};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span};

    fn spans(names: &[&[&str]]) -> Vec<ResourceSpans> {
        names
            .iter()
            .enumerate()
            .map(|(i, scope)| ResourceSpans {
                resource: Some(Resource {
                    dropped_attributes_count: i as u32,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: scope
                        .iter()
                        .map(|n| Span {
                            name: n.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                    schema_url: format!("s{i}"),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect()
    }

    fn names(r: &[ResourceSpans]) -> Vec<(u32, String)> {
        r.iter()
            .flat_map(|rs| {
                let id = rs.resource.as_ref().unwrap().dropped_attributes_count;
                rs.scope_spans
                    .iter()
                    .flat_map(move |s| s.spans.iter().map(move |sp| (id, sp.name.clone())))
            })
            .collect()
    }

    #[test]
    fn traces_split_keeps_resources_and_scopes() {
        let mut r = spans(&[&["a", "b"], &["c", "d", "e"]]);
        let head = Traces::split_front(&mut r, 3);
        assert_eq!(
            names(&head),
            [(0, "a".into()), (0, "b".into()), (1, "c".into())]
        );
        assert_eq!(names(&r), [(1, "d".into()), (1, "e".into())]);
        assert_eq!(head[1].scope_spans[0].schema_url, "s1");
        assert_eq!(r[0].scope_spans[0].schema_url, "s1");
        let rest = Traces::split_front(&mut r, 10);
        assert_eq!(names(&rest).len(), 2);
        assert!(r.is_empty());
    }

    #[test]
    fn metrics_split_inside_a_metric() {
        let sum = |n: usize| Metric {
            name: "m".into(),
            unit: "s".into(),
            data: Some(Data::Sum(Sum {
                data_points: (0..n)
                    .map(|i| NumberDataPoint {
                        time_unix_nano: i as u64,
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: 2,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        let mut r = vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![sum(5), sum(2)],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let head = Metrics::split_front(&mut r, 3);
        assert_eq!(Metrics::count(&head), 3);
        assert_eq!(Metrics::count(&r), 4);
        let Some(Data::Sum(s)) = &head[0].scope_metrics[0].metrics[0].data else {
            panic!()
        };
        assert!(s.is_monotonic && s.aggregation_temporality == 2);
        assert_eq!(head[0].scope_metrics[0].metrics[0].unit, "s");
        let Some(Data::Sum(rest)) = &r[0].scope_metrics[0].metrics[0].data else {
            panic!()
        };
        assert_eq!(rest.data_points[0].time_unix_nano, 3);
    }

    #[test]
    fn logs_split() {
        let mut r = vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default(); 4],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let head = Logs::split_front(&mut r, 1);
        assert_eq!((Logs::count(&head), Logs::count(&r)), (1, 3));
    }
}
