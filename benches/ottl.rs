//! OTTL processors per span: 100 spans per request, 10 attributes each, arriving encoded (as from a
//! receiver). `passthrough` decodes and re-encodes the request (what any processor that changes data
//! costs at least); `filter` drops spans by one attribute equality; `transform` runs five statements
//! (set, delete_key, replace_pattern, truncate_all, a `where` on kind). Each iteration decodes, runs and
//! re-encodes, as in a pipeline.
//!
//! `cargo bench --bench ottl`

use std::sync::Arc;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use ferrotel::pipeline::{ConsumeError, Consumer};
use ferrotel::processors::{filter, transform};
use ferrotel::signal::{Batch, Traces};

struct Discard;

#[async_trait]
impl Consumer<Traces> for Discard {
    async fn consume(&self, batch: Batch<Traces>) -> Result<(), ConsumeError> {
        std::hint::black_box(batch);
        Ok(())
    }
}

const SPANS: usize = 100;

fn request() -> bytes::Bytes {
    let s = |v: &str| {
        Some(AnyValue {
            value: Some(V::StringValue(v.into())),
        })
    };
    let spans = (0..SPANS)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: format!("GET /users/{i}"),
            kind: if i % 2 == 0 { 2 } else { 3 },
            attributes: (0..10)
                .map(|j| KeyValue {
                    key: if j == 0 {
                        "http.route".into()
                    } else {
                        format!("attr.{j}")
                    },
                    value: if j == 0 {
                        s(if i % 10 == 0 {
                            "/health"
                        } else {
                            "/users/{id}"
                        })
                    } else {
                        s(&format!("value number {j} of span {i} with some length"))
                    },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    Batch::<Traces>::from_resources(vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: s("api"),
                ..Default::default()
            }],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }])
    .encode_to_bytes()
}

fn bench(c: &mut Criterion) {
    let req = request();
    let mut g = c.benchmark_group("ottl");
    g.throughput(Throughput::Elements(SPANS as u64));

    g.bench_function("passthrough_decode_encode", |b| {
        b.iter_batched(
            || Batch::<Traces>::from_encoded(req.clone()).unwrap(),
            |mut batch| {
                batch.resources_mut().unwrap();
                batch.encode_to_bytes()
            },
            BatchSize::SmallInput,
        )
    });

    let rules = Arc::new(
        filter::Rules::prepare(
            &serde_yaml::from_str(
                r#"trace_conditions: ['span.attributes["http.route"] == "/health"']"#,
            )
            .unwrap(),
            "filter",
        )
        .unwrap(),
    );
    let p = filter::FilterProcessor::<Traces>::new(rules, "filter", Arc::new(Discard));
    g.bench_function("filter_one_attribute_equality", |b| {
        b.iter_batched(
            || Batch::<Traces>::from_encoded(req.clone()).unwrap(),
            |mut batch| {
                p.process(&mut batch).unwrap();
                batch.encode_to_bytes()
            },
            BatchSize::SmallInput,
        )
    });

    let rules = Arc::new(
        transform::Rules::prepare(
            &serde_yaml::from_str(
                r#"
trace_statements:
  - set(span.attributes["env"], "prod")
  - delete_key(span.attributes, "attr.9")
  - replace_pattern(span.name, "/users/\\d+", "/users/{id}")
  - truncate_all(span.attributes, 32)
  - set(span.attributes["server"], true) where span.kind == SPAN_KIND_SERVER
"#,
            )
            .unwrap(),
            "transform",
        )
        .unwrap(),
    );
    let p = transform::TransformProcessor::<Traces>::new(rules, "transform", Arc::new(Discard));
    g.bench_function("transform_five_statements", |b| {
        b.iter_batched(
            || Batch::<Traces>::from_encoded(req.clone()).unwrap(),
            |mut batch| {
                p.process(&mut batch).unwrap();
                batch.encode_to_bytes()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
