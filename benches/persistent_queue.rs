//! What the persistent queue costs: the same load through an exporter with an in-memory queue, a
//! persistent queue, and a persistent queue with `fsync: true`, to a destination that answers at once.
//! Prints throughput, CPU seconds per million spans (user + system, whole process) and the latency of
//! `consume` (what a receiver waits for before it acknowledges).
//!
//! Run: `cargo bench --bench persistent_queue` (optionally `-- <million spans>`, default 1).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ferrotel::component::{ExtensionFactory, Host};
use ferrotel::config::ComponentId;
use ferrotel::exporters::helper::{
    Accepted, ExportError, Exporter, QueueSettings, RetrySettings, Sender,
};
use ferrotel::pipeline::Consumer;
use ferrotel::signal::{Batch, Traces};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

const SPANS_PER_BATCH: usize = 100;
const SENDERS: usize = 8;

struct Counting(Arc<AtomicUsize>);

#[async_trait]
impl Sender<Traces> for Counting {
    async fn send(&self, batch: &Batch<Traces>) -> Result<Accepted, ExportError> {
        self.0.fetch_add(batch.items(), Ordering::Relaxed);
        Ok(Accepted::ALL)
    }
}

fn batch(n: usize) -> Batch<Traces> {
    let attr = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let spans = (0..n)
        .map(|i| Span {
            name: format!("GET /api/v1/items/{i}"),
            trace_id: (i as u128 + 7).to_be_bytes().to_vec(),
            span_id: (i as u64 + 7).to_be_bytes().to_vec(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_000_100_000,
            attributes: vec![
                attr("http.method", "GET"),
                attr("http.route", "/api/v1/items/{id}"),
                attr("net.peer.name", "backend.internal"),
            ],
            ..Default::default()
        })
        .collect();
    let b = Batch::<Traces>::from_resources(vec![ResourceSpans {
        resource: None,
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }]);
    Batch::from_encoded(b.encode_to_bytes()).unwrap()
}

/// CPU time of this process's threads (from /proc/self/task/*/schedstat, in nanoseconds). Every
/// thread that works during a run (tokio workers, the queue's writer) exists before it starts.
fn cpu() -> Duration {
    let mut ns = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
            ns += s
                .split_whitespace()
                .next()
                .and_then(|x| x.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

async fn run(name: &str, spans: usize, storage: Option<bool>) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut host = Host::default();
    let mut queue = QueueSettings {
        queue_size: 100_000,
        ..Default::default()
    };
    if let Some(fsync) = storage {
        let cfg = serde_yaml::from_str(&format!(
            "{{directory: {}, fsync: {fsync}}}",
            dir.path().display()
        ))
        .unwrap();
        let ext = ferrotel::extensions::file_storage::Factory
            .prepare(&cfg, "extensions::file_storage")
            .map_err(|e| format!("{e:?}"))
            .unwrap()
            .create(&ComponentId::parse("file_storage").unwrap())
            .unwrap();
        ext.start(&host).await.unwrap();
        host.extensions
            .insert(ComponentId::parse("file_storage").unwrap(), ext);
        queue.storage = Some("file_storage".into());
    }
    let sent = Arc::new(AtomicUsize::new(0));
    let exporter = Arc::new(
        Exporter::build(
            "otlp".into(),
            Box::new(Counting(sent.clone())),
            Duration::from_secs(5),
            RetrySettings::default(),
            queue,
            &host,
        )
        .unwrap(),
    );
    let template = batch(SPANS_PER_BATCH);
    let batches = spans / SPANS_PER_BATCH;
    let cpu0 = cpu();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let (e, b) = (exporter.clone(), template.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for _ in (s..batches).step_by(SENDERS) {
                let t = Instant::now();
                while e.consume(b.clone()).await.is_err() {
                    tokio::task::yield_now().await;
                }
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    while sent.load(Ordering::Relaxed) < batches * SPANS_PER_BATCH {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let wall = t0.elapsed();
    let cpu = cpu() - cpu0;
    exporter
        .shutdown(tokio::time::Instant::now() + Duration::from_secs(5))
        .await;
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let million = spans as f64 / 1e6;
    println!(
        "{name:<28} {:>10.0} spans/s   {:>7.3} CPU s per million spans   consume p50 {:>8.1?}  p99 {:>8.1?}",
        spans as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() / million,
        pct(0.5),
        pct(0.99),
    );
}

fn main() {
    // `cargo test --all-targets` runs this too (without `--bench`): then only a quick smoke run.
    let bench = std::env::args().any(|a| a == "--bench");
    let millions: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if bench { 1.0 } else { 0.01 });
    let spans = (millions * 1e6) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{} spans in batches of {SPANS_PER_BATCH}, {SENDERS} concurrent senders, {} bytes per batch",
        spans,
        batch(SPANS_PER_BATCH).encode_to_bytes().len()
    );
    rt.block_on(async {
        run("in-memory queue", spans, None).await;
        run("persistent queue", spans, Some(false)).await;
        run("persistent queue, fsync", spans, Some(true)).await;
    });
}
