//! Bodies are built with the generated prost types and encoded by prost, as a target's client
//! library would send them.

use super::client::{self, BucketSpan, LabelPair, MetricFamily, MetricType as T};
use super::*;
use crate::prom::text::{Buckets, Exposition};

fn label(name: &str, value: &str) -> LabelPair {
    LabelPair {
        name: Some(name.into()),
        value: Some(value.into()),
    }
}

pub(crate) fn family(name: &str, t: T, metric: Vec<client::Metric>) -> MetricFamily {
    MetricFamily {
        name: Some(name.into()),
        help: Some(format!("{name} help")),
        r#type: Some(t as i32),
        metric,
        unit: None,
    }
}

pub(crate) fn body(families: &[MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in families {
        f.encode_length_delimited(&mut out).unwrap();
    }
    out
}

fn span(offset: i32, length: u32) -> BucketSpan {
    BucketSpan {
        offset: Some(offset),
        length: Some(length),
    }
}

fn ts(seconds: i64, nanos: i32) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos }
}

/// A native histogram with observations on both sides of zero and in the zero bucket: positive
/// buckets 1, 2 (Prometheus indices 0, 1), a gap of 2, then 1 (index 4); one negative bucket of 3
/// (index 0); 4 in the zero bucket (within ±0.001).
pub(crate) fn native_histogram() -> client::Histogram {
    client::Histogram {
        sample_count: Some(11),
        sample_sum: Some(-1.5),
        schema: Some(1),
        zero_threshold: Some(0.001),
        zero_count: Some(4),
        positive_span: vec![span(0, 2), span(2, 1)],
        positive_delta: vec![1, 1, -1],
        negative_span: vec![span(0, 1)],
        negative_delta: vec![3],
        created_timestamp: Some(ts(1_700_000_000, 500_000_000)),
        exemplars: vec![client::Exemplar {
            label: vec![label("trace_id", "0102030405060708090a0b0c0d0e0f10")],
            value: Some(1.5),
            timestamp: Some(ts(1_700_000_001, 0)),
        }],
        ..Default::default()
    }
}

pub(crate) fn every_type() -> Vec<MetricFamily> {
    vec![
        family(
            "requests_total",
            T::Counter,
            vec![client::Metric {
                label: vec![label("code", "200")],
                counter: Some(client::Counter {
                    value: Some(5.0),
                    exemplar: Some(client::Exemplar {
                        label: vec![label("span_id", "0102030405060708")],
                        value: Some(1.0),
                        timestamp: None,
                    }),
                    created_timestamp: Some(ts(1_700_000_000, 0)),
                }),
                timestamp_ms: Some(1_700_000_100_000),
                ..Default::default()
            }],
        ),
        family(
            "temperature",
            T::Gauge,
            vec![client::Metric {
                gauge: Some(client::Gauge { value: Some(21.5) }),
                ..Default::default()
            }],
        ),
        family(
            "mystery",
            T::Untyped,
            vec![client::Metric {
                untyped: Some(client::Untyped { value: Some(-3.0) }),
                ..Default::default()
            }],
        ),
        family(
            "rpc_seconds",
            T::Summary,
            vec![client::Metric {
                summary: Some(client::Summary {
                    sample_count: Some(10),
                    sample_sum: Some(4.5),
                    quantile: vec![
                        client::Quantile {
                            quantile: Some(0.5),
                            value: Some(0.3),
                        },
                        client::Quantile {
                            quantile: Some(0.99),
                            value: Some(0.9),
                        },
                    ],
                    created_timestamp: None,
                }),
                ..Default::default()
            }],
        ),
        family(
            "latency_seconds",
            T::Histogram,
            vec![client::Metric {
                histogram: Some(client::Histogram {
                    sample_count: Some(4),
                    sample_sum: Some(9.0),
                    bucket: vec![
                        client::Bucket {
                            cumulative_count: Some(2),
                            upper_bound: Some(1.0),
                            ..Default::default()
                        },
                        client::Bucket {
                            cumulative_count: Some(3),
                            upper_bound: Some(5.0),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }),
                ..Default::default()
            }],
        ),
        family(
            "native_seconds",
            T::Histogram,
            vec![client::Metric {
                label: vec![label("path", "/")],
                histogram: Some(native_histogram()),
                ..Default::default()
            }],
        ),
    ]
}

fn names(e: &Exposition) -> Vec<String> {
    e.samples.iter().map(|s| s.name().to_string()).collect()
}

#[test]
fn every_metric_type_becomes_the_samples_prometheus_parses() {
    let e = parse(&body(&every_type())).unwrap();
    assert_eq!(
        names(&e),
        [
            "requests_total",
            "temperature",
            "mystery",
            "rpc_seconds",
            "rpc_seconds",
            "rpc_seconds_sum",
            "rpc_seconds_count",
            "latency_seconds_bucket",
            "latency_seconds_bucket",
            "latency_seconds_bucket",
            "latency_seconds_sum",
            "latency_seconds_count",
            "native_seconds",
        ]
    );
    let meta = |n: &str| e.metadata.get(n).unwrap().clone();
    assert_eq!(meta("requests_total").mtype, MetricType::Counter);
    assert_eq!(meta("requests_total").help, "requests_total help");
    assert_eq!(meta("mystery").mtype, MetricType::Unknown);
    assert_eq!(meta("native_seconds").mtype, MetricType::Histogram);

    let c = &e.samples[0];
    assert_eq!(c.value, 5.0);
    assert_eq!(c.timestamp_ms, Some(1_700_000_100_000));
    assert!(c.labels.contains(&("code".into(), "200".into())));
    assert_eq!(c.exemplar.as_ref().unwrap().labels[0].0, "span_id");
    assert_eq!(c.extra.as_ref().unwrap().created, Some(1_700_000_000.0));

    let q: Vec<(String, f64)> = e.samples[3..5]
        .iter()
        .map(|s| (s.labels.last().unwrap().1.clone(), s.value))
        .collect();
    assert_eq!(q, [("0.5".into(), 0.3), ("0.99".into(), 0.9)]);

    // The +Inf bucket the body left out is added, with the total count.
    let buckets: Vec<(String, f64)> = e.samples[7..10]
        .iter()
        .map(|s| (s.labels.last().unwrap().1.clone(), s.value))
        .collect();
    assert_eq!(
        buckets,
        [("1".into(), 2.0), ("5".into(), 3.0), ("+Inf".into(), 4.0)]
    );
}

#[test]
fn native_histogram_buckets_in_otlp_form() {
    let e = parse(&body(&every_type())).unwrap();
    let s = e.samples.last().unwrap();
    let extra = s.extra.as_ref().unwrap();
    assert_eq!(extra.created, Some(1_700_000_000.5));
    let n = extra.native.as_ref().unwrap();
    assert_eq!((n.schema, n.count, n.sum), (1, 11, -1.5));
    assert_eq!((n.zero_threshold, n.zero_count), (0.001, 4));
    // Deltas 1, +1, -1 → counts 1, 2, 1; the gap of 2 between the spans is two empty buckets;
    // OTLP's offset is Prometheus' minus one.
    assert_eq!(
        n.positive,
        Buckets {
            offset: -1,
            counts: vec![1, 2, 0, 0, 1]
        }
    );
    assert_eq!(
        n.negative,
        Buckets {
            offset: -1,
            counts: vec![3]
        }
    );
    assert_eq!(n.exemplars.len(), 1);
    assert_eq!(n.exemplars[0].timestamp_ms, Some(1_700_000_001_000));
}

#[test]
fn float_native_histogram_and_empty_native_histogram() {
    let float = client::Histogram {
        sample_count_float: Some(3.0),
        sample_sum: Some(2.0),
        schema: Some(0),
        zero_count_float: Some(1.0),
        positive_span: vec![span(3, 2)],
        positive_count: vec![1.0, 1.0],
        ..Default::default()
    };
    // No observations yet: the no-op span tells it from a classic histogram.
    let empty = client::Histogram {
        sample_count: Some(0),
        sample_sum: Some(0.0),
        schema: Some(0),
        positive_span: vec![span(0, 0)],
        ..Default::default()
    };
    let families = vec![family(
        "h",
        T::Histogram,
        vec![
            client::Metric {
                label: vec![label("k", "float")],
                histogram: Some(float),
                ..Default::default()
            },
            client::Metric {
                label: vec![label("k", "empty")],
                histogram: Some(empty),
                ..Default::default()
            },
        ],
    )];
    let e = parse(&body(&families)).unwrap();
    assert_eq!(e.samples.len(), 2);
    let n = |i: usize| e.samples[i].extra.as_ref().unwrap().native.clone().unwrap();
    assert_eq!((n(0).count, n(0).zero_count), (3, 1));
    assert_eq!(
        n(0).positive,
        Buckets {
            offset: 2,
            counts: vec![1, 1]
        }
    );
    assert_eq!(n(1).count, 0);
    assert!(n(1).positive.counts.is_empty());
}

#[test]
fn malformed_bodies_and_histograms_are_errors() {
    let bad = |h: client::Histogram| {
        parse(&body(&[family(
            "h",
            T::Histogram,
            vec![client::Metric {
                histogram: Some(h),
                ..Default::default()
            }],
        )]))
        .unwrap_err()
    };
    let h = || client::Histogram {
        schema: Some(2),
        sample_count: Some(1),
        ..Default::default()
    };
    assert!(bad(client::Histogram {
        positive_span: vec![span(0, 2)],
        positive_delta: vec![1],
        ..h()
    })
    .contains("spans need more buckets"));
    assert!(bad(client::Histogram {
        positive_span: vec![span(0, 1)],
        positive_delta: vec![1, 1],
        ..h()
    })
    .contains("more buckets than the spans"));
    assert!(bad(client::Histogram {
        positive_span: vec![span(0, 1)],
        positive_delta: vec![-1],
        ..h()
    })
    .contains("negative bucket count"));
    assert!(bad(client::Histogram {
        positive_span: vec![span(0, 1), span(i32::MAX, 1)],
        positive_delta: vec![1, 0],
        ..h()
    })
    .contains("too many buckets"));
    assert!(bad(client::Histogram {
        schema: Some(9),
        ..h()
    })
    .contains("schema"));
    // A truncated body, a length past the end, and garbage.
    let mut b = body(&every_type());
    b.truncate(b.len() - 3);
    assert!(parse(&b).is_err());
    assert!(parse(&[0xff, 0xff, 0x01, 0x00]).is_err());
    assert!(parse(b"# TYPE x gauge\nx 1\n").is_err());
    assert!(parse(&[]).unwrap().samples.is_empty());
}

#[test]
fn content_types() {
    assert!(is_protobuf(MEDIA_TYPE));
    assert!(is_protobuf(
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    ));
    assert!(!is_protobuf(
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text"
    ));
    assert!(!is_protobuf("text/plain; version=0.0.4"));
}
