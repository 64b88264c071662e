//! Black-box: OTLP traces in → `spanmetrics` connector → a metrics pipeline → the recording sink,
//! checked against hand-computed calls and bucket counts, for cumulative and delta temporality, and
//! across shutdown (a flush interval longer than the test: only the shutdown flush can deliver).

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{free_port, wait_until, Ferrotel, Sink};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, AggregationTemporality};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};

const MS: u64 = 1_000_000;

fn yaml(port: u16, sink: &Sink, connector: &str) -> String {
    format!(
        r#"
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{port}"}}}}}}
connectors:
  spanmetrics:
{connector}
exporters:
  otlp:
    endpoint: {}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [spanmetrics]}}
    metrics: {{receivers: [spanmetrics], exporters: [otlp]}}
"#,
        sink.grpc_endpoint()
    )
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(V::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// A span `name` lasting `ms`, in error when `error`, with `http.method = method`.
fn sp(name: &str, ms: u64, error: bool, method: &str) -> Span {
    let start = 1_700_000_000_000_000_000u64;
    Span {
        trace_id: vec![7; 16],
        span_id: vec![9; 8],
        name: name.into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + ms * MS,
        attributes: vec![kv("http.method", method)],
        status: error.then(|| Status {
            code: status::StatusCode::Error as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The workload: (service, span name, duration ms, error, method), repeated `rounds` times, sent in
/// several requests. Hand-computed expectations follow it.
const WORKLOAD: &[(&str, &str, u64, bool, &str)] = &[
    ("shop", "GET /cart", 1, false, "GET"),
    ("shop", "GET /cart", 3, false, "GET"),
    ("shop", "GET /cart", 7, false, "GET"),
    ("shop", "GET /cart", 45, false, "GET"),
    ("shop", "POST /pay", 300, true, "POST"),
    ("shop", "POST /pay", 20_000, false, "POST"),
    ("auth", "check", 2, false, "GET"),
];

fn send(rt: &tokio::runtime::Runtime, port: u16, rounds: usize) {
    rt.block_on(async {
        let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        for _ in 0..rounds {
            for (service, name, ms, error, method) in WORKLOAD {
                c.export(request(service, vec![sp(name, *ms, *error, method)]))
                    .await
                    .unwrap();
            }
        }
    });
}

/// A series: (service, span name, status code, http.method).
type SeriesId = (String, String, String, String);

#[derive(Debug, Default, Clone, PartialEq)]
struct Point {
    calls: i64,
    count: u64,
    buckets: Vec<u64>,
    time: u64,
    start: u64,
}

fn attr(attrs: &[KeyValue], key: &str) -> String {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            V::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Every received point per series, in arrival order, with the temporalities seen.
fn received(sink: &Sink) -> (BTreeMap<SeriesId, Vec<Point>>, Vec<i32>) {
    let st = sink.state.lock().unwrap();
    let mut calls: BTreeMap<SeriesId, Vec<(u64, i64, u64)>> = BTreeMap::new();
    let mut hists: BTreeMap<(SeriesId, u64), (u64, Vec<u64>)> = BTreeMap::new();
    let mut temporalities = Vec::new();
    for rm in &st.metrics {
        let service = attr(&rm.resource.as_ref().unwrap().attributes, "service.name");
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            match (&m.name[..], &m.data) {
                ("traces.span.metrics.calls", Some(metric::Data::Sum(s))) => {
                    temporalities.push(s.aggregation_temporality);
                    assert!(s.is_monotonic);
                    for p in &s.data_points {
                        assert_eq!(attr(&p.attributes, "service.name"), service);
                        let id = series_id(&p.attributes);
                        let Some(number_data_point::Value::AsInt(v)) = p.value else {
                            panic!("calls is not an int")
                        };
                        calls.entry(id).or_default().push((
                            p.time_unix_nano,
                            v,
                            p.start_time_unix_nano,
                        ));
                    }
                }
                ("traces.span.metrics.duration", Some(metric::Data::Histogram(h))) => {
                    temporalities.push(h.aggregation_temporality);
                    assert_eq!(m.unit, "ms");
                    for p in &h.data_points {
                        assert_eq!(p.explicit_bounds.len(), 16);
                        hists.insert(
                            (series_id(&p.attributes), p.time_unix_nano),
                            (p.count, p.bucket_counts.clone()),
                        );
                    }
                }
                (name, _) => panic!("unexpected metric {name}"),
            }
        }
    }
    let mut out: BTreeMap<SeriesId, Vec<Point>> = BTreeMap::new();
    for (id, pts) in calls {
        for (time, v, start) in pts {
            let (count, buckets) = hists.get(&(id.clone(), time)).cloned().unwrap_or_default();
            out.entry(id.clone()).or_default().push(Point {
                calls: v,
                count,
                buckets,
                time,
                start,
            });
        }
    }
    (out, temporalities)
}

fn series_id(attrs: &[KeyValue]) -> SeriesId {
    (
        attr(attrs, "service.name"),
        attr(attrs, "span.name"),
        attr(attrs, "status.code"),
        attr(attrs, "http.method"),
    )
}

fn id(service: &str, name: &str, code: &str, method: &str) -> SeriesId {
    (service.into(), name.into(), code.into(), method.into())
}

/// Bucket counts over the default bounds (2 4 6 8 10 50 100 200 400 800 1000 1400 2000 5000 10000
/// 15000 ms) with `n` at each given bucket index.
fn buckets(at: &[(usize, u64)]) -> Vec<u64> {
    let mut b = vec![0; 17];
    for (i, n) in at {
        b[*i] += n;
    }
    b
}

/// The expected totals after `rounds` rounds of the workload, computed by hand:
/// - shop GET /cart (UNSET, GET): 1 → (..2] #0, 3 → (2,4] #1, 7 → (6,8] #3, 45 → (10,50] #5;
/// - shop POST /pay (ERROR, POST): 300 → (200,400] #8;
/// - shop POST /pay (UNSET, POST): 20000 → (15000,..) #16;
/// - auth check (UNSET, GET): 2 → (..2] #0 (a bound's own value is in its bucket).
fn expected(rounds: u64) -> BTreeMap<SeriesId, (i64, Vec<u64>)> {
    let r = rounds;
    BTreeMap::from([
        (
            id("shop", "GET /cart", "STATUS_CODE_UNSET", "GET"),
            (4 * r as i64, buckets(&[(0, r), (1, r), (3, r), (5, r)])),
        ),
        (
            id("shop", "POST /pay", "STATUS_CODE_ERROR", "POST"),
            (r as i64, buckets(&[(8, r)])),
        ),
        (
            id("shop", "POST /pay", "STATUS_CODE_UNSET", "POST"),
            (r as i64, buckets(&[(16, r)])),
        ),
        (
            id("auth", "check", "STATUS_CODE_UNSET", "GET"),
            (r as i64, buckets(&[(0, r)])),
        ),
    ])
}

/// Cumulative: the latest point of each series holds the totals.
fn latest(sink: &Sink) -> BTreeMap<SeriesId, (i64, Vec<u64>)> {
    received(sink)
        .0
        .into_iter()
        .map(|(id, pts)| {
            let p = pts.into_iter().max_by_key(|p| p.time).unwrap();
            assert_eq!(p.calls as u64, p.count, "calls and histogram count differ");
            (id, (p.calls, p.buckets))
        })
        .collect()
}

/// Delta: the points of each series add up to the totals.
fn summed(sink: &Sink) -> BTreeMap<SeriesId, (i64, Vec<u64>)> {
    received(sink)
        .0
        .into_iter()
        .map(|(id, pts)| {
            let mut calls = 0;
            let mut b = vec![0u64; 17];
            for p in pts {
                assert_eq!(p.calls as u64, p.count, "calls and histogram count differ");
                calls += p.calls;
                for (i, n) in p.buckets.iter().enumerate() {
                    b[i] += n;
                }
            }
            (id, (calls, b))
        })
        .collect()
}

const DIMS: &str = "    metrics_flush_interval: 300ms\n    dimensions: [{name: http.method}]\n";

#[test]
fn cumulative_calls_and_buckets_match_hand_counts() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let port = free_port();
    let col = Ferrotel::start(&yaml(port, &sink, DIMS), &[port]);
    send(&rt, port, 3);
    let want = expected(3);
    let ok = wait_until(Duration::from_secs(20), || latest(&sink) == want);
    assert!(
        ok,
        "got {:#?}\nwant {want:#?}\n{}",
        latest(&sink),
        col.logs()
    );
    // More spans: the totals keep growing from the same start.
    send(&rt, port, 2);
    let want = expected(5);
    let ok = wait_until(Duration::from_secs(20), || latest(&sink) == want);
    assert!(ok, "got {:#?}\nwant {want:#?}", latest(&sink));
    let (points, temporalities) = received(&sink);
    assert!(temporalities
        .iter()
        .all(|t| *t == AggregationTemporality::Cumulative as i32));
    for (id, pts) in points {
        let starts: std::collections::BTreeSet<u64> = pts.iter().map(|p| p.start).collect();
        assert_eq!(
            starts.len(),
            1,
            "{id:?}: cumulative start changed: {starts:?}"
        );
        // Never goes backwards.
        let mut by_time = pts.clone();
        by_time.sort_by_key(|p| p.time);
        assert!(
            by_time.windows(2).all(|w| w[0].calls <= w[1].calls),
            "{id:?}"
        );
    }
    col.stop(Duration::from_secs(10));
}

#[test]
fn delta_points_add_up_to_hand_counts() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let port = free_port();
    let cfg = format!("{DIMS}    aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA\n");
    let col = Ferrotel::start(&yaml(port, &sink, &cfg), &[port]);
    send(&rt, port, 4);
    std::thread::sleep(Duration::from_millis(700));
    send(&rt, port, 3);
    let want = expected(7);
    let ok = wait_until(Duration::from_secs(20), || summed(&sink) == want);
    assert!(
        ok,
        "got {:#?}\nwant {want:#?}\n{}",
        summed(&sink),
        col.logs()
    );
    // Nothing is counted twice: a while later the sums are the same.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(summed(&sink), want);
    let (points, temporalities) = received(&sink);
    assert!(temporalities
        .iter()
        .all(|t| *t == AggregationTemporality::Delta as i32));
    // Delta points of a series follow each other: each starts where the previous ended.
    for (id, mut pts) in points {
        pts.sort_by_key(|p| p.time);
        for w in pts.windows(2) {
            assert_eq!(w[1].start, w[0].time, "{id:?}");
        }
    }
    col.stop(Duration::from_secs(10));
}

#[test]
fn shutdown_flushes_what_is_aggregated() {
    for temporality in [
        "AGGREGATION_TEMPORALITY_CUMULATIVE",
        "AGGREGATION_TEMPORALITY_DELTA",
    ] {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let sink = Sink::start(&rt);
        let port = free_port();
        // The interval never elapses during the test: only the shutdown flush can deliver.
        let cfg = format!(
            "    metrics_flush_interval: 1h\n    dimensions: [{{name: http.method}}]\n    aggregation_temporality: {temporality}\n"
        );
        let col = Ferrotel::start(&yaml(port, &sink, &cfg), &[port]);
        send(&rt, port, 2);
        assert!(received(&sink).0.is_empty());
        let logs = col.logs();
        let status = col.stop(Duration::from_secs(15));
        assert!(status.success(), "{temporality}: exit {status}\n{logs}");
        assert_eq!(summed(&sink), expected(2), "{temporality}");
    }
}

#[test]
fn overflow_series_is_marked_as_otelcol_does() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let port = free_port();
    let cfg = "    metrics_flush_interval: 200ms\n    aggregation_cardinality_limit: 2\n";
    let col = Ferrotel::start(&yaml(port, &sink, cfg), &[port]);
    rt.block_on(async {
        let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        let spans = (0..10)
            .map(|i| sp(&format!("op{i}"), 1, false, "GET"))
            .collect();
        c.export(request("svc", spans)).await.unwrap();
    });
    let total = || -> (i64, usize, i64) {
        let st = sink.state.lock().unwrap();
        let Some(last) = st.metrics.last() else {
            return (0, 0, 0);
        };
        let mut total = 0;
        let mut series = 0;
        let mut overflow = 0;
        for m in last.scope_metrics.iter().flat_map(|s| &s.metrics) {
            if let Some(metric::Data::Sum(s)) = &m.data {
                for p in &s.data_points {
                    let Some(number_data_point::Value::AsInt(v)) = p.value else {
                        continue;
                    };
                    total += v;
                    series += 1;
                    if p.attributes.iter().any(|kv| {
                        kv.key == "otel.metric.overflow"
                            && kv.value.as_ref().and_then(|v| v.value.as_ref())
                                == Some(&V::BoolValue(true))
                    }) {
                        overflow += v;
                    }
                }
            }
        }
        (total, series, overflow)
    };
    let ok = wait_until(Duration::from_secs(20), || total() == (10, 3, 8));
    assert!(ok, "got (calls, series, overflow calls) {:?}", total());
    col.stop(Duration::from_secs(10));
}
