//! The costs of the OTLP data path: decoding and encoding a 1,000-span request (protobuf and JSON),
//! ferrotel's validating scan against a full prost decode, and joining batches (encoded concatenation
//! against decode-and-extend). Run with `cargo bench --bench codec`.

use bytes::Bytes;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ferrotel::signal::{Batch, SignalKind, Traces};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

#[allow(dead_code)]
#[path = "../src/bin/ferrotel-loadgen/gen.rs"]
mod gen;

fn request(spans: usize) -> Bytes {
    let t = gen::Template::new(&gen::GenConfig {
        signal: SignalKind::Traces,
        items_per_request: spans,
        attributes: 10,
        service_name: "bench".into(),
    });
    let mut buf = Vec::new();
    t.render(0, 1_700_000_000_000_000_000, &mut buf);
    Bytes::from(buf)
}

fn codec(c: &mut Criterion) {
    let proto = request(1000);
    let req = ExportTraceServiceRequest::decode(proto.clone()).unwrap();
    let json = serde_json::to_vec(&req).unwrap();

    let mut g = c.benchmark_group("decode_1000_spans");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("scan (Batch::from_encoded)", |b| {
        b.iter(|| Batch::<Traces>::from_encoded(black_box(proto.clone())).unwrap())
    });
    g.bench_function("protobuf (prost)", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(black_box(proto.clone())).unwrap())
    });
    g.bench_function("json (serde)", |b| {
        b.iter(|| serde_json::from_slice::<ExportTraceServiceRequest>(black_box(&json)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("encode_1000_spans");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("protobuf (prost)", |b| {
        b.iter(|| black_box(&req).encode_to_vec())
    });
    g.bench_function("json (serde)", |b| {
        b.iter(|| serde_json::to_vec(black_box(&req)).unwrap())
    });
    // A decoded batch (as after a processor changed it) is encoded by prost on every call: the real
    // cost. (An encoded batch of one request would only clone an `Arc`, which measures nothing.)
    g.bench_function("decoded batch (Batch::encode_to_bytes)", |b| {
        let batch = Batch::<Traces>::from_resources(req.resource_spans.clone());
        assert!(!batch.is_encoded());
        b.iter(|| black_box(&batch).encode_to_bytes())
    });
    // Ten encoded requests of 100 spans joined into one buffer: a copy of every byte.
    g.bench_function("10 encoded requests joined (Batch::encode_to_bytes)", |b| {
        let mut batch = Batch::<Traces>::empty();
        for _ in 0..10 {
            batch
                .append(Batch::from_encoded(request(100)).unwrap())
                .unwrap();
        }
        b.iter(|| black_box(&batch).encode_to_bytes())
    });
    g.finish();
}

fn batching(c: &mut Criterion) {
    // 82 requests of 100 spans: about one batch of otelcol's default send_batch_size (8192).
    let parts: Vec<Bytes> = (0..82).map(|_| request(100)).collect();
    let mut g = c.benchmark_group("batch_82x100_spans");
    g.throughput(Throughput::Elements(8200));
    g.bench_function("append encoded, then one buffer", |b| {
        b.iter_batched(
            || parts.clone(),
            |parts| {
                let mut acc = Batch::<Traces>::empty();
                for p in parts {
                    acc.append(Batch::from_encoded(p).unwrap()).unwrap();
                }
                acc.encode_to_bytes()
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("decode, extend, encode (prost)", |b| {
        b.iter_batched(
            || parts.clone(),
            |parts| {
                let mut all = ExportTraceServiceRequest::default();
                for p in parts {
                    all.resource_spans
                        .extend(ExportTraceServiceRequest::decode(p).unwrap().resource_spans);
                }
                all.encode_to_vec()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, codec, batching);
criterion_main!(benches);
