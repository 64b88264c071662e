//! Unit tests against hand-computed counts and bucket counts.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, ExponentialHistogramDataPoint,
    HistogramDataPoint, NumberDataPoint, ResourceMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

use super::aggregate::{Aggregator, EvictReason, OVERFLOW_KEY};
use super::config::Config;
use super::SpanMetrics;
use crate::pipeline::{ConsumeError, Consumer};
use crate::signal::{Batch, Metrics, Traces};

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000_000_000_000;

fn cfg(yaml: &str) -> Config {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let c: Config = crate::config::parse(&v, "connectors::spanmetrics").unwrap();
    assert!(c.validate("connectors::spanmetrics").is_empty(), "{yaml}");
    c
}

fn errors(yaml: &str) -> Vec<String> {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    match crate::config::parse::<Config>(&v, "connectors::spanmetrics") {
        Err(e) => vec![e.to_string()],
        Ok(c) => c
            .validate("connectors::spanmetrics")
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

fn kv(k: &str, v: V) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> V {
    V::StringValue(v.into())
}

/// A span of `name`, `kind`, `status`, lasting `ms` milliseconds, with attributes.
fn sp(name: &str, kind: span::SpanKind, code: i32, ms: u64, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + ms * MS,
        attributes: attrs,
        status: Some(Status {
            code,
            message: String::new(),
        }),
        ..Default::default()
    }
}

fn server(name: &str, ms: u64) -> Span {
    sp(name, span::SpanKind::Server, 0, ms, vec![])
}

fn rs(res: Vec<KeyValue>, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: res,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn svc(name: &str) -> Vec<KeyValue> {
    vec![kv("service.name", s(name))]
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a V> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(V::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// The points of the sum `name` over all resources.
fn sums(out: &[ResourceMetrics], name: &str) -> Vec<NumberDataPoint> {
    let mut v = Vec::new();
    for m in out
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        if m.name == name {
            match &m.data {
                Some(metric::Data::Sum(s)) => {
                    assert!(s.is_monotonic);
                    v.extend(s.data_points.clone())
                }
                other => panic!("{name}: not a sum: {other:?}"),
            }
        }
    }
    v
}

fn temporality(out: &[ResourceMetrics], name: &str) -> i32 {
    for m in out
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        if m.name == name {
            return match &m.data {
                Some(metric::Data::Sum(s)) => s.aggregation_temporality,
                Some(metric::Data::Histogram(h)) => h.aggregation_temporality,
                Some(metric::Data::ExponentialHistogram(h)) => h.aggregation_temporality,
                _ => -1,
            };
        }
    }
    -1
}

fn histos(out: &[ResourceMetrics], name: &str) -> Vec<HistogramDataPoint> {
    let mut v = Vec::new();
    for m in out
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        if m.name == name {
            match &m.data {
                Some(metric::Data::Histogram(h)) => v.extend(h.data_points.clone()),
                other => panic!("{name}: not a histogram: {other:?}"),
            }
        }
    }
    v
}

fn value(p: &NumberDataPoint) -> i64 {
    match p.value {
        Some(number_data_point::Value::AsInt(i)) => i,
        _ => panic!("not an int"),
    }
}

/// calls by span name.
fn calls_by_name(out: &[ResourceMetrics]) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = sums(out, "traces.span.metrics.calls")
        .iter()
        .map(|p| {
            (
                attr_str(&p.attributes, "span.name")
                    .unwrap_or("<overflow>")
                    .to_string(),
                value(p),
            )
        })
        .collect();
    v.sort();
    v
}

const CALLS: &str = "traces.span.metrics.calls";
const DURATION: &str = "traces.span.metrics.duration";

#[test]
fn calls_and_explicit_buckets_match_hand_counts() {
    let mut a = Aggregator::new(&cfg("{}"));
    a.aggregate(
        &[rs(
            svc("shop"),
            vec![
                server("GET /a", 1),
                server("GET /a", 3),
                server("GET /a", 3),
                server("GET /a", 20),
                sp("GET /b", span::SpanKind::Client, 2, 5000, vec![]),
                sp("GET /b", span::SpanKind::Client, 2, 16_000, vec![]),
            ],
        )],
        T0,
    );
    let out = a.flush(T0 + 60_000 * MS).resource_metrics;
    assert_eq!(out.len(), 1);
    let r = out[0].resource.as_ref().unwrap();
    assert_eq!(attr_str(&r.attributes, "service.name"), Some("shop"));
    assert_eq!(
        out[0].scope_metrics[0].scope.as_ref().unwrap().name,
        "spanmetricsconnector"
    );
    assert_eq!(
        calls_by_name(&out),
        vec![("GET /a".into(), 4), ("GET /b".into(), 2)]
    );
    let calls = sums(&out, CALLS);
    let b = calls
        .iter()
        .find(|p| attr_str(&p.attributes, "span.name") == Some("GET /b"))
        .unwrap();
    assert_eq!(
        attr_str(&b.attributes, "span.kind"),
        Some("SPAN_KIND_CLIENT")
    );
    assert_eq!(
        attr_str(&b.attributes, "status.code"),
        Some("STATUS_CODE_ERROR")
    );
    assert_eq!(attr_str(&b.attributes, "service.name"), Some("shop"));
    assert_eq!(b.attributes.len(), 4);
    assert_eq!(b.start_time_unix_nano, T0);
    assert_eq!(b.time_unix_nano, T0 + 60_000 * MS);
    assert_eq!(
        temporality(&out, CALLS),
        AggregationTemporality::Cumulative as i32
    );

    let h = histos(&out, DURATION);
    let ha = h
        .iter()
        .find(|p| attr_str(&p.attributes, "span.name") == Some("GET /a"))
        .unwrap();
    // Default bounds (ms): 2 4 6 8 10 50 100 200 400 800 1000 1400 2000 5000 10000 15000.
    // 1 → (..2]; 3, 3 → (2,4]; 20 → (10,50].
    let mut want = vec![0u64; 17];
    want[0] = 1;
    want[1] = 2;
    want[5] = 1;
    assert_eq!(ha.bucket_counts, want);
    assert_eq!(ha.count, 4);
    assert_eq!(ha.sum, Some(27.0));
    assert_eq!(ha.explicit_bounds.len(), 16);
    assert_eq!(ha.explicit_bounds[13], 5000.0);
    let hb = h
        .iter()
        .find(|p| attr_str(&p.attributes, "span.name") == Some("GET /b"))
        .unwrap();
    // 5000 → (2000,5000] (index 13); 16000 → (15000,+inf) (index 16).
    let mut want = vec![0u64; 17];
    want[13] = 1;
    want[16] = 1;
    assert_eq!(hb.bucket_counts, want);
    let m = out[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == DURATION)
        .unwrap();
    assert_eq!(m.unit, "ms");
}

#[test]
fn cumulative_accumulates_and_delta_resets() {
    let spans = || vec![rs(svc("shop"), vec![server("x", 1), server("x", 3)])];
    let mut c = Aggregator::new(&cfg("{}"));
    let mut d = Aggregator::new(&cfg(
        "aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA",
    ));
    for a in [&mut c, &mut d] {
        a.aggregate(&spans(), T0);
    }
    let t1 = T0 + 10 * MS;
    let (c1, d1) = (c.flush(t1).resource_metrics, d.flush(t1).resource_metrics);
    assert_eq!(calls_by_name(&c1), vec![("x".into(), 2)]);
    assert_eq!(calls_by_name(&d1), vec![("x".into(), 2)]);
    assert_eq!(
        temporality(&d1, CALLS),
        AggregationTemporality::Delta as i32
    );
    assert_eq!(
        temporality(&d1, DURATION),
        AggregationTemporality::Delta as i32
    );

    for a in [&mut c, &mut d] {
        a.aggregate(&[rs(svc("shop"), vec![server("x", 5)])], T0 + 15 * MS);
    }
    let t2 = T0 + 20 * MS;
    let (c2, d2) = (c.flush(t2).resource_metrics, d.flush(t2).resource_metrics);
    assert_eq!(calls_by_name(&c2), vec![("x".into(), 3)]);
    assert_eq!(calls_by_name(&d2), vec![("x".into(), 1)]);
    // Cumulative: the start stays; delta: the series continues from the previous flush.
    assert_eq!(sums(&c2, CALLS)[0].start_time_unix_nano, T0);
    assert_eq!(sums(&d2, CALLS)[0].start_time_unix_nano, t1);
    assert_eq!(histos(&d2, DURATION)[0].start_time_unix_nano, t1);
    let hc = &histos(&c2, DURATION)[0];
    assert_eq!(
        (
            hc.count,
            hc.bucket_counts[0],
            hc.bucket_counts[1],
            hc.bucket_counts[2]
        ),
        (3, 1, 1, 1)
    );
    let hd = &histos(&d2, DURATION)[0];
    assert_eq!((hd.count, hd.bucket_counts[2]), (1, 1));

    // Nothing new: cumulative repeats its totals, delta sends nothing.
    let t3 = T0 + 30 * MS;
    assert_eq!(
        calls_by_name(&c.flush(t3).resource_metrics),
        vec![("x".into(), 3)]
    );
    assert!(d.flush(t3).resource_metrics.is_empty());
}

#[test]
fn dimensions_defaults_precedence_and_types() {
    let c = cfg("dimensions: [{name: http.method, default: GET}, {name: region}, {name: code}]");
    let mut a = Aggregator::new(&c);
    let mut res = svc("shop");
    res.push(kv("region", s("eu")));
    a.aggregate(
        &[rs(
            res,
            vec![
                // method from the default, region from the resource, code absent → left out.
                server("a", 1),
                // span attribute wins over the resource's.
                sp(
                    "a",
                    span::SpanKind::Server,
                    0,
                    1,
                    vec![kv("region", s("us")), kv("http.method", s("POST"))],
                ),
                // 200 (int) and "200" (string) are different series.
                sp(
                    "a",
                    span::SpanKind::Server,
                    0,
                    1,
                    vec![kv("code", V::IntValue(200))],
                ),
                sp(
                    "a",
                    span::SpanKind::Server,
                    0,
                    1,
                    vec![kv("code", s("200"))],
                ),
                sp(
                    "a",
                    span::SpanKind::Server,
                    0,
                    1,
                    vec![kv("code", s("200"))],
                ),
            ],
        )],
        T0,
    );
    let out = a.flush(T0 + MS).resource_metrics;
    let calls = sums(&out, CALLS);
    assert_eq!(calls.len(), 4);
    let find = |method: &str, region: &str, code: Option<&V>| {
        calls
            .iter()
            .find(|p| {
                attr_str(&p.attributes, "http.method") == Some(method)
                    && attr_str(&p.attributes, "region") == Some(region)
                    && attr(&p.attributes, "code") == code
            })
            .map(value)
    };
    assert_eq!(find("GET", "eu", None), Some(1));
    assert_eq!(find("POST", "us", None), Some(1));
    assert_eq!(find("GET", "eu", Some(&V::IntValue(200))), Some(1));
    assert_eq!(find("GET", "eu", Some(&s("200"))), Some(2));
    let plain = calls
        .iter()
        .find(|p| {
            attr(&p.attributes, "code").is_none() && attr_str(&p.attributes, "region") == Some("eu")
        })
        .unwrap();
    assert_eq!(plain.attributes.len(), 6, "{:?}", plain.attributes);
}

#[test]
fn absent_dimension_does_not_collide_with_a_shifted_value() {
    // otelcol's NUL-joined key would give both spans the key "…\0x".
    let mut a = Aggregator::new(&cfg("dimensions: [{name: a}, {name: b}]"));
    a.aggregate(
        &[rs(
            svc("s"),
            vec![
                sp("n", span::SpanKind::Server, 0, 1, vec![kv("a", s("x"))]),
                sp("n", span::SpanKind::Server, 0, 1, vec![kv("b", s("x"))]),
            ],
        )],
        T0,
    );
    assert_eq!(sums(&a.flush(T0).resource_metrics, CALLS).len(), 2);
}

#[test]
fn exclude_dimensions_and_namespace() {
    let mut a = Aggregator::new(&cfg(
        "{exclude_dimensions: [status.code, span.kind], namespace: ''}",
    ));
    a.aggregate(
        &[rs(
            svc("s"),
            vec![
                sp("n", span::SpanKind::Server, 2, 1, vec![]),
                sp("n", span::SpanKind::Client, 1, 1, vec![]),
            ],
        )],
        T0,
    );
    let out = a.flush(T0).resource_metrics;
    let calls = sums(&out, "calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(value(&calls[0]), 2);
    assert_eq!(calls[0].attributes.len(), 2);
    assert!(attr(&calls[0].attributes, "status.code").is_none());
    assert_eq!(histos(&out, "duration").len(), 1);

    let mut a = Aggregator::new(&cfg("namespace: my.ns"));
    a.aggregate(&[rs(svc("s"), vec![server("n", 1)])], T0);
    let out = a.flush(T0).resource_metrics;
    assert_eq!(sums(&out, "my.ns.calls").len(), 1);
    assert_eq!(histos(&out, "my.ns.duration").len(), 1);
}

#[test]
fn seconds_unit_and_custom_buckets() {
    let mut a = Aggregator::new(&cfg("histogram: {unit: s}"));
    a.aggregate(&[rs(svc("s"), vec![server("n", 3), server("n", 1500)])], T0);
    let out = a.flush(T0).resource_metrics;
    let h = &histos(&out, DURATION)[0];
    assert_eq!(h.explicit_bounds[0], 0.002);
    assert_eq!(h.explicit_bounds[15], 15.0);
    // 0.003 s → (0.002, 0.004]; 1.5 s → (1.4, 2].
    assert_eq!(h.bucket_counts[1], 1);
    assert_eq!(h.bucket_counts[12], 1);
    assert_eq!(h.sum, Some(1.503));
    let unit = &out[0].scope_metrics[0].metrics[1].unit;
    assert_eq!(unit, "s");

    let mut a = Aggregator::new(&cfg("histogram: {explicit: {buckets: [100us, 1ms, 10ms]}}"));
    a.aggregate(
        &[rs(
            svc("s"),
            vec![
                server("n", 0),
                server("n", 1),
                server("n", 7),
                server("n", 70),
            ],
        )],
        T0,
    );
    let h = &histos(&a.flush(T0).resource_metrics, DURATION)[0];
    assert_eq!(h.explicit_bounds, vec![0.1, 1.0, 10.0]);
    assert_eq!(h.bucket_counts, vec![1, 1, 1, 1]);
}

#[test]
fn exponential_histogram() {
    let mut a = Aggregator::new(&cfg("histogram: {exponential: {max_size: 4}}"));
    a.aggregate(
        &[rs(
            svc("s"),
            vec![
                server("n", 0),
                server("n", 2),
                server("n", 3),
                server("n", 6),
                server("n", 12),
                server("n", 24),
                server("n", 48),
            ],
        )],
        T0,
    );
    let out = a.flush(T0).resource_metrics;
    let m = &out[0].scope_metrics[0].metrics[1];
    assert_eq!(m.name, DURATION);
    let Some(metric::Data::ExponentialHistogram(h)) = &m.data else {
        panic!("not exponential: {m:?}")
    };
    let p: &ExponentialHistogramDataPoint = &h.data_points[0];
    assert_eq!(p.count, 7);
    assert_eq!(p.zero_count, 1);
    assert_eq!(p.sum, Some(95.0));
    assert_eq!((p.min, p.max), (Some(0.0), Some(48.0)));
    // 2..48 ms span six octaves; four buckets hold them at scale -1: (1,4]: 2, 3 | (4,16]: 6, 12 |
    // (16,64]: 24, 48.
    assert_eq!(p.scale, -1);
    let pos = p.positive.as_ref().unwrap();
    assert_eq!(pos.offset, 0);
    assert_eq!(pos.bucket_counts, vec![2, 2, 2]);
}

#[test]
fn cardinality_limit_sends_new_series_to_overflow() {
    let mut a = Aggregator::new(&cfg("aggregation_cardinality_limit: 2"));
    a.aggregate(
        &[rs(
            svc("s"),
            vec![
                server("a", 1),
                server("b", 1),
                server("c", 1),
                server("d", 1),
                server("a", 1),
            ],
        )],
        T0,
    );
    let out = a.flush(T0).resource_metrics;
    let calls = sums(&out, CALLS);
    assert_eq!(calls.len(), 3);
    let overflow = calls
        .iter()
        .find(|p| attr(&p.attributes, OVERFLOW_KEY).is_some())
        .unwrap();
    assert_eq!(overflow.attributes.len(), 1);
    assert_eq!(
        attr(&overflow.attributes, OVERFLOW_KEY),
        Some(&V::BoolValue(true))
    );
    assert_eq!(value(overflow), 2);
    assert_eq!(
        calls_by_name(&out),
        vec![("<overflow>".into(), 2), ("a".into(), 2), ("b".into(), 1)]
    );
    let h = histos(&out, DURATION);
    assert_eq!(h.len(), 3);
    assert_eq!(h.iter().map(|p| p.count).sum::<u64>(), 5);
}

#[test]
fn series_cache_overflows_then_evicts_idle_series_after_export() {
    let mut a = Aggregator::new(&cfg("series_cache_size: 2"));
    a.aggregate(&[rs(svc("s"), vec![server("a", 1), server("b", 1)])], T0);
    let f1 = a.flush(T0 + MS);
    assert_eq!(
        calls_by_name(&f1.resource_metrics),
        vec![("a".into(), 1), ("b".into(), 1)]
    );
    assert!(f1.evicted.is_empty());
    // Full: the new series counts in the overflow series, nothing is lost.
    a.aggregate(
        &[rs(svc("s"), vec![server("c", 1), server("c", 1)])],
        T0 + 2 * MS,
    );
    assert_eq!(a.series_count(), 3);
    let f2 = a.flush(T0 + 3 * MS);
    assert_eq!(
        calls_by_name(&f2.resource_metrics),
        vec![("<overflow>".into(), 2), ("a".into(), 1), ("b".into(), 1)]
    );
    // a and b were exported and idle through the interval: evicted after this flush.
    assert_eq!(f2.evicted, vec![(EvictReason::SeriesCacheFull, 2)]);
    assert_eq!(a.series_count(), 1);
    a.aggregate(&[rs(svc("s"), vec![server("c", 1)])], T0 + 4 * MS);
    let f3 = a.flush(T0 + 5 * MS);
    assert_eq!(
        calls_by_name(&f3.resource_metrics),
        vec![("<overflow>".into(), 2), ("c".into(), 1)]
    );
    // Still full: the overflow series, idle this interval, goes after its export.
    assert_eq!(f3.evicted, vec![(EvictReason::SeriesCacheFull, 1)]);
    assert_eq!(a.series_count(), 1);
}

#[test]
fn resource_cache_evicts_least_recently_used_after_one_more_export() {
    let mut a = Aggregator::new(&cfg("resource_metrics_cache_size: 1"));
    a.aggregate(&[rs(svc("one"), vec![server("a", 1)])], T0);
    a.aggregate(&[rs(svc("two"), vec![server("a", 1), server("a", 1)])], T0);
    assert_eq!(a.resource_count(), 1);
    let f = a.flush(T0 + MS);
    // "one" was evicted but still exported once: nothing aggregated is lost.
    assert_eq!(f.resource_metrics.len(), 2);
    let total: i64 = sums(&f.resource_metrics, CALLS).iter().map(value).sum();
    assert_eq!(total, 3);
    assert_eq!(f.evicted, vec![(EvictReason::ResourceCacheFull, 1)]);
    let f = a.flush(T0 + 2 * MS);
    assert_eq!(f.resource_metrics.len(), 1);
    let r = f.resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(attr_str(&r.attributes, "service.name"), Some("two"));
}

#[test]
fn resource_key_attributes_merge_resources() {
    let mut a = Aggregator::new(&cfg("resource_metrics_key_attributes: [service.name]"));
    let mut r1 = svc("s");
    r1.push(kv("process.pid", V::IntValue(1)));
    let mut r2 = svc("s");
    r2.push(kv("process.pid", V::IntValue(2)));
    a.aggregate(
        &[
            rs(r1.clone(), vec![server("a", 1)]),
            rs(r2.clone(), vec![server("a", 1)]),
        ],
        T0,
    );
    let out = a.flush(T0).resource_metrics;
    assert_eq!(out.len(), 1);
    assert_eq!(calls_by_name(&out), vec![("a".into(), 2)]);

    let mut a = Aggregator::new(&cfg("{}"));
    a.aggregate(
        &[rs(r1, vec![server("a", 1)]), rs(r2, vec![server("a", 1)])],
        T0,
    );
    assert_eq!(a.flush(T0).resource_metrics.len(), 2);
}

#[test]
fn expiration_drops_idle_series() {
    let mut a = Aggregator::new(&cfg("metrics_expiration: 5s"));
    a.aggregate(&[rs(svc("s"), vec![server("a", 1), server("b", 1)])], T0);
    assert_eq!(
        calls_by_name(&a.flush(T0 + 1000 * MS).resource_metrics).len(),
        2
    );
    a.aggregate(&[rs(svc("s"), vec![server("b", 1)])], T0 + 4000 * MS);
    let f = a.flush(T0 + 6000 * MS);
    assert_eq!(calls_by_name(&f.resource_metrics), vec![("b".into(), 2)]);
    assert_eq!(f.evicted, vec![(EvictReason::Expired, 1)]);
    let f = a.flush(T0 + 20_000 * MS);
    assert!(f.resource_metrics.is_empty());
    assert_eq!(a.series_count(), 0);
}

#[test]
fn exemplars_are_capped_and_cleared_after_each_flush() {
    let mut a = Aggregator::new(&cfg("exemplars: {enabled: true, max_per_data_point: 2}"));
    let mut no_trace = server("a", 1);
    no_trace.trace_id = vec![0; 16];
    a.aggregate(
        &[rs(
            svc("s"),
            vec![no_trace, server("a", 1), server("a", 3), server("a", 5)],
        )],
        T0,
    );
    let out = a.flush(T0 + MS).resource_metrics;
    let c = &sums(&out, CALLS)[0];
    assert_eq!(c.exemplars.len(), 2);
    assert_eq!(c.exemplars[0].trace_id, vec![1; 16]);
    assert_eq!(c.exemplars[0].time_unix_nano, T0 + MS);
    let h = &histos(&out, DURATION)[0];
    assert_eq!(h.exemplars.len(), 2);
    let out = a.flush(T0 + 2 * MS).resource_metrics;
    assert!(sums(&out, CALLS)[0].exemplars.is_empty());

    let mut a = Aggregator::new(&cfg("{}"));
    a.aggregate(&[rs(svc("s"), vec![server("a", 1)])], T0);
    assert!(sums(&a.flush(T0).resource_metrics, CALLS)[0]
        .exemplars
        .is_empty());
}

#[test]
fn events_metric_counts_span_events_by_event_dimensions() {
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    let mut a = Aggregator::new(&cfg(
        "events: {enabled: true, dimensions: [{name: exception.type}]}",
    ));
    let ev = |t: &str| Event {
        name: "exception".into(),
        attributes: vec![kv("exception.type", s(t))],
        ..Default::default()
    };
    let mut x = server("a", 1);
    x.events = vec![ev("Io"), ev("Io"), ev("Parse")];
    let mut y = server("a", 1);
    y.events = vec![ev("Io")];
    a.aggregate(&[rs(svc("s"), vec![x, y, server("b", 1)])], T0);
    let out = a.flush(T0).resource_metrics;
    let events = sums(&out, "traces.span.metrics.events");
    let by = |t: &str| {
        events
            .iter()
            .find(|p| attr_str(&p.attributes, "exception.type") == Some(t))
            .map(value)
    };
    assert_eq!(events.len(), 2);
    assert_eq!(by("Io"), Some(3));
    assert_eq!(by("Parse"), Some(1));
    assert_eq!(calls_by_name(&out), vec![("a".into(), 2), ("b".into(), 1)]);
}

#[test]
fn spans_without_service_name_are_skipped_and_negative_durations_are_zero() {
    let mut a = Aggregator::new(&cfg("{}"));
    let mut backwards = server("a", 0);
    backwards.end_time_unix_nano = 0;
    a.aggregate(
        &[
            rs(vec![], vec![server("x", 1)]),
            rs(svc("s"), vec![backwards]),
        ],
        T0,
    );
    let out = a.flush(T0).resource_metrics;
    assert_eq!(calls_by_name(&out), vec![("a".into(), 1)]);
    let h = &histos(&out, DURATION)[0];
    assert_eq!((h.sum, h.bucket_counts[0]), (Some(0.0), 1));
}

#[test]
fn instrumentation_scope_dimensions() {
    let mut a = Aggregator::new(&cfg("include_instrumentation_scope: [lib]"));
    let mut r = rs(svc("s"), vec![server("a", 1)]);
    r.scope_spans[0].scope = Some(InstrumentationScope {
        name: "lib".into(),
        version: "1.2".into(),
        ..Default::default()
    });
    let other = rs(svc("s"), vec![server("a", 1)]);
    a.aggregate(&[r, other], T0);
    let calls = sums(&a.flush(T0).resource_metrics, CALLS);
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().any(|p| {
        attr_str(&p.attributes, "span.instrumentation.scope.name") == Some("lib")
            && attr_str(&p.attributes, "span.instrumentation.scope.version") == Some("1.2")
    }));
}

#[test]
fn histogram_disable_keeps_calls_only() {
    let mut a = Aggregator::new(&cfg("histogram: {disable: true}"));
    a.aggregate(&[rs(svc("s"), vec![server("a", 1)])], T0);
    let out = a.flush(T0).resource_metrics;
    assert_eq!(out[0].scope_metrics[0].metrics.len(), 1);
    assert_eq!(calls_by_name(&out), vec![("a".into(), 1)]);
}

#[test]
fn delta_timestamp_cache_is_bounded() {
    let mut a = Aggregator::new(&cfg(
        "{aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA, metric_timestamp_cache_size: 1}",
    ));
    let t = |i: u64| T0 + i * 1000 * MS;
    a.aggregate(&[rs(svc("s"), vec![server("a", 1), server("b", 1)])], t(0));
    a.flush(t(1));
    a.aggregate(&[rs(svc("s"), vec![server("a", 1), server("b", 1)])], t(2));
    let out = a.flush(t(3)).resource_metrics;
    // One of the two remembered t(1); the other falls back to its creation time.
    let mut starts: Vec<u64> = sums(&out, CALLS)
        .iter()
        .map(|p| p.start_time_unix_nano)
        .collect();
    starts.sort();
    assert_eq!(starts, vec![t(1), t(2)]);
}

#[test]
fn config_defaults_match_otelcol() {
    let c = cfg("{}");
    assert_eq!(c.namespace, "traces.span.metrics");
    assert_eq!(c.metrics_flush_interval, std::time::Duration::from_secs(60));
    assert_eq!(
        c.aggregation_temporality,
        "AGGREGATION_TEMPORALITY_CUMULATIVE"
    );
    assert_eq!(c.resource_metrics_cache_size, 1000);
    assert_eq!(c.histogram.unit.as_str(), "ms");
    assert_eq!(c.explicit_bounds().len(), 16);
    assert_eq!(c.aggregation_cardinality_limit, 0);
    assert_eq!(c.metrics_expiration, std::time::Duration::ZERO);
    assert!(!c.exemplars.enabled);
    assert_eq!(
        cfg("histogram: {exponential: {}}").exponential_max_size(),
        Some(160)
    );
    assert!(c.warnings("connectors::spanmetrics").is_empty());
    let w = cfg("dimensions_cache_size: 500").warnings("connectors::spanmetrics");
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains("connectors::spanmetrics::dimensions_cache_size"),
        "{w:?}"
    );
}

#[test]
fn config_errors_name_their_key() {
    let cases = [
        ("dimensions: [{name: service.name}]", "dimensions::0::name", "duplicate dimension name service.name"),
        ("dimensions: [{name: a}, {name: a}]", "dimensions::1::name", "duplicate dimension name a"),
        ("histogram: {explicit: {}, exponential: {}}", "histogram", "either `explicit` or `exponential`"),
        ("histogram: {unit: h}", "histogram::unit", ""),
        ("aggregation_temporality: DELTA", "aggregation_temporality", "unknown temporality"),
        ("metrics_flush_interval: 0s", "metrics_flush_interval", "greater than 0"),
        ("aggregation_cardinality_limit: -1", "aggregation_cardinality_limit", "should be positive"),
        ("events: {enabled: true}", "events::dimensions", "no dimensions configured for events"),
        ("exclude_dimensions: [foo]", "exclude_dimensions::0", "not a default dimension"),
        ("histogram: {explicit: {buckets: [10ms, 5ms]}}", "histogram::explicit::buckets", "increasing"),
        ("dimensions_cache_size: 0", "dimensions_cache_size", "positive"),
        ("series_cache_size: 0", "series_cache_size", "greater than 0"),
        ("bogus: 1", "bogus", ""),
        (
            "{aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA, metric_timestamp_cache_size: 0}",
            "metric_timestamp_cache_size",
            "should be positive",
        ),
    ];
    for (yaml, path, msg) in cases {
        let e = errors(yaml);
        assert_eq!(e.len(), 1, "{yaml}: {e:?}");
        assert!(
            e[0].contains(&format!("connectors::spanmetrics::{path}")),
            "{yaml}: {e:?}"
        );
        assert!(e[0].contains(msg), "{yaml}: {e:?}");
    }
}

/// Records every metrics batch it is given.
#[derive(Default)]
struct Capture {
    got: Mutex<Vec<ResourceMetrics>>,
    refuse: Mutex<usize>,
}

#[async_trait]
impl Consumer<Metrics> for Capture {
    async fn consume(&self, batch: Batch<Metrics>) -> Result<(), ConsumeError> {
        {
            let mut r = self.refuse.lock().unwrap();
            if *r > 0 {
                *r -= 1;
                return Err(ConsumeError::retryable("capture: refusing"));
            }
        }
        self.got
            .lock()
            .unwrap()
            .extend(batch.into_resources().unwrap());
        Ok(())
    }
}

fn traces(spans: Vec<Span>) -> Batch<Traces> {
    Batch::from_resources(vec![rs(svc("s"), spans)])
}

#[tokio::test]
async fn shutdown_flushes_what_is_held_even_after_refusals() {
    let capture = Arc::new(Capture::default());
    *capture.refuse.lock().unwrap() = 2;
    let c = cfg("aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA");
    let sm = SpanMetrics::start("spanmetrics", &c, capture.clone());
    sm.consume(traces(vec![server("a", 1), server("a", 3)]))
        .await
        .unwrap();
    // An encoded batch is decoded too.
    let enc = traces(vec![server("b", 1)]).encode_to_bytes();
    sm.consume(Batch::from_encoded(enc).unwrap()).await.unwrap();
    sm.shutdown(tokio::time::Instant::now() + std::time::Duration::from_secs(5))
        .await;
    let got = capture.got.lock().unwrap().clone();
    assert_eq!(calls_by_name(&got), vec![("a".into(), 2), ("b".into(), 1)]);
}

#[tokio::test(start_paused = true)]
async fn flushes_on_the_interval() {
    let capture = Arc::new(Capture::default());
    let c = cfg("metrics_flush_interval: 10s");
    let sm = SpanMetrics::start("spanmetrics", &c, capture.clone());
    sm.consume(traces(vec![server("a", 1)])).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert!(capture.got.lock().unwrap().is_empty());
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(
        calls_by_name(&capture.got.lock().unwrap()),
        vec![("a".into(), 1)]
    );
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    // Cumulative: the second flush repeats the total.
    assert_eq!(capture.got.lock().unwrap().len(), 2);
}
