//! The `spanmetrics` connector's per-span cost against pass-through, on one request of 1,000 spans
//! with 10 attributes each (20 span names, so the series already exist after the first request, as
//! in a steady state).
//!
//! `cargo bench --bench spanmetrics`

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::executor::block_on;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use ferrotel::connectors::spanmetrics::{Config, SpanMetrics};
use ferrotel::pipeline::{ConsumeError, Consumer};
use ferrotel::signal::{Batch, Metrics, Signal, Traces};

struct Discard;

#[async_trait]
impl<S: Signal> Consumer<S> for Discard {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        std::hint::black_box(batch);
        Ok(())
    }
}

fn kv(k: &str, v: V) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// 1,000 spans, 10 attributes each, encoded as they arrive from a receiver.
fn request() -> bytes::Bytes {
    let spans = (0..1000u64)
        .map(|i| Span {
            trace_id: vec![(i % 251) as u8 + 1; 16],
            span_id: vec![(i % 241) as u8; 8],
            name: format!("GET /api/v1/route{}", i % 20),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            end_time_unix_nano: 1_700_000_000_000_000_000 + i + (i % 50) * 1_000_000,
            attributes: vec![
                kv("http.method", V::StringValue("GET".into())),
                kv("http.route", V::StringValue("/api/v1/items/{id}".into())),
                kv("http.status_code", V::IntValue(200 + (i % 2) as i64 * 300)),
                kv(
                    "http.url",
                    V::StringValue(format!("https://shop.example.com/api/v1/items/{i}?q=x")),
                ),
                kv("net.peer.ip", V::StringValue("10.1.2.3".into())),
                kv("user.email", V::StringValue(format!("user{i}@example.com"))),
                kv("user.id", V::IntValue(i as i64)),
                kv(
                    "db.statement",
                    V::StringValue("SELECT * FROM items WHERE id = ?".into()),
                ),
                kv("cache.hit", V::BoolValue(i % 2 == 0)),
                kv("duration.ms", V::DoubleValue(12.5)),
            ],
            ..Default::default()
        })
        .collect();
    let r = vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", V::StringValue("shop".into()))],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }];
    Batch::<Traces>::from_resources(r).encode_to_bytes()
}

fn connector(yaml: &str) -> Arc<SpanMetrics> {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let cfg: Config = ferrotel::config::parse(&v, "connectors::spanmetrics").unwrap();
    assert!(cfg.validate("connectors::spanmetrics").is_empty());
    let next: Arc<dyn Consumer<Metrics>> = Arc::new(Discard);
    // Outside a runtime: no flush task; the bench measures the consume path only.
    SpanMetrics::start("spanmetrics", &cfg, next)
}

fn bench(c: &mut Criterion) {
    let req = request();
    let mut g = c.benchmark_group("spanmetrics");
    g.throughput(Throughput::Elements(1000));
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("pass-through (forward the encoded batch)", |b| {
        let next: Arc<dyn Consumer<Traces>> = Arc::new(Discard);
        b.iter(|| {
            let batch = Batch::<Traces>::from_encoded(req.clone()).unwrap();
            block_on(next.consume(batch)).unwrap();
        })
    });
    g.bench_function("decode only (baseline for any decoding component)", |b| {
        b.iter(|| {
            let batch = Batch::<Traces>::from_encoded(req.clone()).unwrap();
            std::hint::black_box(batch.into_resources().unwrap());
        })
    });
    for (name, yaml) in [
        ("spanmetrics default (decode + aggregate)", "{}"),
        (
            "spanmetrics + 2 dimensions + exemplars",
            "{dimensions: [{name: http.method}, {name: http.status_code}], exemplars: {enabled: true, max_per_data_point: 10}}",
        ),
        (
            "spanmetrics exponential histogram",
            "histogram: {exponential: {max_size: 160}}",
        ),
    ] {
        let sm = connector(yaml);
        g.bench_function(name, |b| {
            b.iter(|| {
                let batch = Batch::<Traces>::from_encoded(req.clone()).unwrap();
                block_on(sm.consume(batch)).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
