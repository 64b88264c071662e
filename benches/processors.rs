//! The processors on a realistic payload: one request of 1,000 spans with 10 attributes each.
//!
//! `cargo bench --bench processors`

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use ferrotel::pipeline::{ConsumeError, Consumer};
use ferrotel::processors::attributes::{AttributesProcessor, Rules};
use ferrotel::processors::batch::{BatchProcessor, Config};
use ferrotel::signal::{Batch, Traces};

struct Discard;

#[async_trait]
impl Consumer<Traces> for Discard {
    async fn consume(&self, batch: Batch<Traces>) -> Result<(), ConsumeError> {
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
    let spans = (0..1000)
        .map(|i| Span {
            trace_id: vec![(i % 251) as u8; 16],
            span_id: vec![(i % 241) as u8; 8],
            name: format!("GET /api/v1/items/{i}"),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            end_time_unix_nano: 1_700_000_000_001_000_000 + i,
            attributes: vec![
                kv("http.method", V::StringValue("GET".into())),
                kv("http.route", V::StringValue("/api/v1/items/{id}".into())),
                kv("http.status_code", V::IntValue(200)),
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

fn batch_config(yaml: &str) -> Config {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    ferrotel::config::parse(&v, "processors::batch").unwrap()
}

fn bench_batch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bytes = request();
    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(1000));
    // Joining encoded requests: a send every 8 requests (send_batch_size 8000).
    let p = rt.block_on(async {
        BatchProcessor::<Traces>::new(
            batch_config("{send_batch_size: 8000, timeout: 10s}"),
            Arc::new(Discard),
            "batch",
        )
    });
    g.bench_function("consume 1000 spans (encoded, joined)", |b| {
        b.iter(|| {
            rt.block_on(async {
                p.consume(Batch::from_encoded(bytes.clone()).unwrap())
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            })
        })
    });
    // Splitting at send_batch_max_size decodes: 1000 spans into two batches of 500.
    let p = rt.block_on(async {
        BatchProcessor::<Traces>::new(
            batch_config("{send_batch_size: 500, send_batch_max_size: 500, timeout: 10s}"),
            Arc::new(Discard),
            "batch",
        )
    });
    g.bench_function("consume 1000 spans split at 500 (decodes)", |b| {
        b.iter(|| {
            rt.block_on(async {
                p.consume(Batch::from_encoded(bytes.clone()).unwrap())
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            })
        })
    });
    g.finish();
}

fn bench_attributes(c: &mut Criterion) {
    let bytes = request();
    let v: serde_yaml::Value = serde_yaml::from_str(
        r#"
actions:
  - {key: environment, value: production, action: insert}
  - {key: db.statement, action: delete}
  - {key: user.email, action: hash}
  - {key: http.status_code, action: convert, converted_type: string}
  - {key: http.url, pattern: '^(?P<url_scheme>\w+)://(?P<url_host>[^/]+)', action: extract}
"#,
    )
    .unwrap();
    let rules = Arc::new(Rules::prepare(&v, "processors::attributes").unwrap());
    let p = AttributesProcessor::<Traces>::new(rules, Arc::new(Discard));
    let mut g = c.benchmark_group("attributes");
    g.throughput(Throughput::Elements(1000));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("decode + 5 actions on 1000 spans", |b| {
        b.iter_batched(
            || Batch::<Traces>::from_encoded(bytes.clone()).unwrap(),
            |mut batch| {
                p.process(&mut batch).unwrap();
                batch
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("decode + 5 actions + encode on 1000 spans", |b| {
        b.iter_batched(
            || Batch::<Traces>::from_encoded(bytes.clone()).unwrap(),
            |mut batch| {
                p.process(&mut batch).unwrap();
                batch.encode_to_bytes()
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("decode + encode only (baseline)", |b| {
        b.iter_batched(
            || Batch::<Traces>::from_encoded(bytes.clone()).unwrap(),
            |mut batch| {
                batch.resources_mut().unwrap();
                batch.encode_to_bytes()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// `filter` and `transform` with only resource-context conditions / statements: the encoded-resource
/// path (only each resource message's `Resource` is decoded; spans are copied as bytes) against the
/// full path (decode every span, run, encode) on the same 1,000-span request. Both rows end with the
/// request encoded, as an exporter needs it.
fn bench_resource_only_ottl(c: &mut Criterion) {
    use ferrotel::processors::{filter, transform};
    let bytes = request();
    let filter_rules = Arc::new(
        filter::Rules::prepare(
            &serde_yaml::from_str(
                r#"{trace_conditions: ['resource.attributes["k8s.namespace.name"] == "x"']}"#,
            )
            .unwrap(),
            "processors::filter",
        )
        .unwrap(),
    );
    let transform_rules = Arc::new(
        transform::Rules::prepare(
            &serde_yaml::from_str(r#"{trace_statements: ['set(resource.attributes["a"], "b")']}"#)
                .unwrap(),
            "processors::transform",
        )
        .unwrap(),
    );
    let f = filter::FilterProcessor::<Traces>::new(filter_rules, "filter", Arc::new(Discard));
    let t = transform::TransformProcessor::<Traces>::new(
        transform_rules,
        "transform",
        Arc::new(Discard),
    );
    let mut g = c.benchmark_group("resource-only ottl");
    g.throughput(Throughput::Elements(1000));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("filter: encoded-resource path, 1000 spans", |b| {
        b.iter_batched(
            || Batch::<Traces>::from_encoded(bytes.clone()).unwrap(),
            |mut batch| {
                f.process(&mut batch).unwrap();
                batch.encode_to_bytes()
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("filter: full path (decode, run, encode), 1000 spans", |b| {
        b.iter_batched(
            || Batch::<Traces>::from_encoded(bytes.clone()).unwrap(),
            |mut batch| {
                batch.resources_mut().unwrap();
                f.process(&mut batch).unwrap();
                batch.encode_to_bytes()
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("transform: encoded-resource path, 1000 spans", |b| {
        b.iter_batched(
            || Batch::<Traces>::from_encoded(bytes.clone()).unwrap(),
            |mut batch| {
                t.process(&mut batch).unwrap();
                batch.encode_to_bytes()
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function(
        "transform: full path (decode, run, encode), 1000 spans",
        |b| {
            b.iter_batched(
                || Batch::<Traces>::from_encoded(bytes.clone()).unwrap(),
                |mut batch| {
                    batch.resources_mut().unwrap();
                    t.process(&mut batch).unwrap();
                    batch.encode_to_bytes()
                },
                BatchSize::SmallInput,
            )
        },
    );
    g.finish();
}

/// The first 100 spans of [`request`] (100 traces), as one encoded request.
fn request_100() -> bytes::Bytes {
    let mut b = Batch::<Traces>::from_encoded(request()).unwrap();
    let mut r = b.resources().unwrap().to_vec();
    r[0].scope_spans[0].spans.truncate(100);
    Batch::<Traces>::from_resources(r).encode_to_bytes()
}

/// `loadbalancing` by trace id over three backends, a 100-span request: the split on the encoded
/// request (copies the resource, scope and span bytes) against the decoded routing it replaced
/// (decode, clone into fragments, encode each part). Both end with each part encoded.
fn bench_loadbalancing(c: &mut Criterion) {
    use ferrotel::exporters::loadbalancing::bench_split_by_trace_id as split;
    let bytes = request_100();
    let eps: Vec<String> = ["gw-0:4317", "gw-1:4317", "gw-2:4317"]
        .map(String::from)
        .to_vec();
    let mut g = c.benchmark_group("loadbalancing");
    g.throughput(Throughput::Elements(100));
    g.measurement_time(Duration::from_secs(5));
    for (name, decoded) in [
        ("split by traceID, encoded, 100 spans", false),
        ("split by traceID, decoded (old), 100 spans", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || Batch::<Traces>::from_encoded(bytes.clone()).unwrap(),
                |batch| split(&batch, &eps, decoded),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// `filter` with one span attribute equality (drops half the spans) on a 100-span encoded request:
/// the encoded path (decodes each span's `attributes` only, copies the kept spans' bytes) against
/// the decoded path (decode, run, encode). Both end with the request encoded.
fn bench_filter_span_attribute(c: &mut Criterion) {
    use ferrotel::processors::filter;
    let bytes = request_100();
    let rules = Arc::new(
        filter::Rules::prepare(
            &serde_yaml::from_str(
                r#"{trace_conditions: ['span.attributes["cache.hit"] == true']}"#,
            )
            .unwrap(),
            "processors::filter",
        )
        .unwrap(),
    );
    let f = filter::FilterProcessor::<Traces>::new(rules, "filter", Arc::new(Discard));
    let mut g = c.benchmark_group("filter span attribute");
    g.throughput(Throughput::Elements(100));
    g.measurement_time(Duration::from_secs(5));
    for (name, decoded) in [
        ("encoded path, 100 spans", false),
        ("decoded path (decode, run, encode), 100 spans", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || Batch::<Traces>::from_encoded(bytes.clone()).unwrap(),
                |mut batch| {
                    if decoded {
                        batch.resources_mut().unwrap();
                    }
                    assert_eq!(f.process(&mut batch).unwrap(), 50);
                    batch.encode_to_bytes()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_batch,
    bench_attributes,
    bench_resource_only_ottl,
    bench_loadbalancing,
    bench_filter_span_attribute
);
criterion_main!(benches);
