//! The queue → retry stack against a scripted sender.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;
use crate::component::{ExtensionFactory, Host};
use crate::signal::Traces;

/// When an attempt was made, and the span names it carried.
type Attempt = (Instant, Vec<String>);

#[derive(Clone, Default)]
struct Script {
    /// Answers to give, in order; `Ok` once they run out (or `hang` when set).
    answers: Arc<Mutex<VecDeque<Result<Accepted, ExportError>>>>,
    /// Span names of every attempt, and when it happened.
    attempts: Arc<Mutex<Vec<Attempt>>>,
    hang: Arc<Mutex<bool>>,
}

#[async_trait]
impl Sender<Traces> for Script {
    async fn send(&self, batch: &Batch<Traces>) -> Result<Accepted, ExportError> {
        let mut b = batch.clone();
        let names = b
            .resources()
            .unwrap()
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect();
        self.attempts.lock().unwrap().push((Instant::now(), names));
        if *self.hang.lock().unwrap() {
            futures::future::pending::<()>().await;
        }
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(Accepted::ALL))
    }
}

impl Script {
    fn answer(&self, a: Result<Accepted, ExportError>) {
        self.answers.lock().unwrap().push_back(a);
    }
    fn names(&self) -> Vec<String> {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, n)| n.clone())
            .collect()
    }
    fn count(&self) -> usize {
        self.attempts.lock().unwrap().len()
    }
}

fn spans(prefix: &str, n: usize) -> Batch<Traces> {
    let spans = (0..n)
        .map(|i| Span {
            name: format!("{prefix}-{i}"),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        })
        .collect();
    let b = Batch::<Traces>::from_resources(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }]);
    // As a receiver hands it on: still encoded.
    Batch::from_encoded(b.encode_to_bytes()).unwrap()
}

fn retry(ms: u64) -> RetrySettings {
    RetrySettings {
        initial_interval: Duration::from_millis(ms),
        max_interval: Duration::from_millis(ms * 4),
        max_elapsed_time: Duration::ZERO,
        ..Default::default()
    }
}

fn exporter(script: &Script, queue: QueueSettings, host: &Host) -> Exporter<Traces> {
    Exporter::build(
        "otlp/test".into(),
        Box::new(script.clone()),
        Duration::from_secs(5),
        retry(50),
        queue,
        host,
    )
    .unwrap()
}

async fn storage_host(dir: &std::path::Path, fsync: bool) -> Host {
    let f = crate::extensions::file_storage::Factory;
    let cfg =
        serde_yaml::from_str(&format!("{{directory: {}, fsync: {fsync}}}", dir.display())).unwrap();
    let p = f.prepare(&cfg, "extensions::file_storage").unwrap();
    let id = ComponentId::parse("file_storage").unwrap();
    let ext = p.create(&id).unwrap();
    let mut host = Host::default();
    ext.start(&host).await.unwrap();
    host.extensions.insert(id, ext);
    host
}

fn persistent() -> QueueSettings {
    QueueSettings {
        storage: Some("file_storage".into()),
        num_consumers: 2,
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_throttle_delay_is_a_floor_for_the_next_try() {
    let s = Script::default();
    s.answer(Err(ExportError::retryable(
        "503",
        Some(Duration::from_secs(2)),
    )));
    let e = exporter(&s, QueueSettings::default(), &Host::default());
    e.consume(spans("a", 1)).await.unwrap();
    e.shutdown(Instant::now() + Duration::from_secs(30)).await;
    let at = s.attempts.lock().unwrap().clone();
    assert_eq!(at.len(), 2);
    assert!(at[1].0 - at[0].0 >= Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_is_not_retried() {
    let s = Script::default();
    s.answer(Err(ExportError::permanent("400")));
    let e = exporter(
        &s,
        QueueSettings {
            wait_for_result: true,
            ..Default::default()
        },
        &Host::default(),
    );
    let r = e.consume(spans("a", 3)).await;
    assert!(matches!(r, Err(ConsumeError::Permanent(_))), "{r:?}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(s.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_retryably_and_loses_nothing_it_took() {
    let s = Script::default();
    for _ in 0..20 {
        s.answer(Err(ExportError::retryable("down", None)));
    }
    let e = exporter(
        &s,
        QueueSettings {
            queue_size: 3,
            num_consumers: 1,
            ..Default::default()
        },
        &Host::default(),
    );
    let mut taken = Vec::new();
    let mut refused = 0;
    for i in 0..10 {
        match e.consume(spans(&format!("b{i}"), 1)).await {
            Ok(()) => taken.push(format!("b{i}-0")),
            Err(err) => {
                assert!(err.is_retryable());
                refused += 1;
            }
        }
    }
    assert_eq!(taken.len(), 3);
    assert_eq!(refused, 7);
    e.shutdown(Instant::now() + Duration::from_secs(600)).await;
    let names = s.names();
    for t in taken {
        assert!(names.contains(&t), "{t} missing");
    }
}

#[tokio::test(start_paused = true)]
async fn queue_batching_merges_requests() {
    let s = Script::default();
    let e = exporter(
        &s,
        QueueSettings {
            batch: Some(BatchSettings {
                min_size: 50,
                ..Default::default()
            }),
            ..Default::default()
        },
        &Host::default(),
    );
    for i in 0..10 {
        e.consume(spans(&format!("c{i}"), 10)).await.unwrap();
    }
    e.consume(spans("tail", 5)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sizes: Vec<usize> = s
        .attempts
        .lock()
        .unwrap()
        .iter()
        .map(|(_, n)| n.len())
        .collect();
    // Two batches of 50, and the 5 left after flush_timeout.
    assert_eq!(sizes, vec![50, 50, 5]);
    e.shutdown(Instant::now() + Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_persistent_queue_keeps_what_was_not_sent_for_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let host = storage_host(tmp.path(), false).await;
    let down = Script::default();
    *down.hang.lock().unwrap() = true;
    let e = exporter(&down, persistent(), &host);
    for i in 0..20 {
        e.consume(spans(&format!("d{i}"), 5)).await.unwrap();
    }
    // Two are in flight (hanging) at shutdown: they are kept too. (Wait for both to be sent, so
    // that a slow machine does not shut down before they leave the queue.)
    assert!(wait_for(Duration::from_secs(10), || down.count() >= 2).await);
    e.shutdown(Instant::now() + Duration::from_millis(300))
        .await;
    assert_eq!(down.count(), 2);

    let up = Script::default();
    let e = exporter(&up, persistent(), &host);
    assert!(
        wait_for(Duration::from_secs(10), || up.names().len() >= 100).await,
        "got {}",
        up.names().len()
    );
    let mut names = up.names();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 100);
    e.shutdown(Instant::now() + Duration::from_secs(5)).await;

    // Everything was sent: a third start finds nothing.
    let again = Script::default();
    let e = exporter(&again, persistent(), &host);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(again.count(), 0);
    e.shutdown(Instant::now() + Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_persistent_queue_with_batching_keeps_unbatched_data() {
    let tmp = tempfile::tempdir().unwrap();
    let host = storage_host(tmp.path(), true).await;
    let down = Script::default();
    *down.hang.lock().unwrap() = true;
    let q = QueueSettings {
        batch: Some(BatchSettings {
            min_size: 1000,
            flush_timeout: Duration::from_secs(60),
            ..Default::default()
        }),
        ..persistent()
    };
    let e = exporter(&down, q.clone(), &host);
    for i in 0..10 {
        e.consume(spans(&format!("e{i}"), 10)).await.unwrap();
    }
    e.shutdown(Instant::now() + Duration::from_millis(200))
        .await;
    assert_eq!(down.count(), 0, "held by the batcher, not sent");

    let up = Script::default();
    let q = QueueSettings {
        batch: Some(BatchSettings {
            min_size: 100,
            ..Default::default()
        }),
        ..q
    };
    let e = exporter(&up, q, &host);
    assert!(wait_for(Duration::from_secs(10), || up.names().len() >= 100).await);
    assert_eq!(up.count(), 1, "sent as one merged batch");
    e.shutdown(Instant::now() + Duration::from_secs(5)).await;
}

#[tokio::test]
async fn storage_must_name_an_enabled_storage_extension() {
    let s = Script::default();
    let err = Exporter::<Traces>::build(
        "otlp".into(),
        Box::new(s),
        Duration::from_secs(1),
        retry(10),
        QueueSettings {
            storage: Some("file_storage/missing".into()),
            ..Default::default()
        },
        &Host::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("file_storage/missing"), "{err}");
}

async fn wait_for(timeout: Duration, f: impl Fn() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

fn no_queue() -> QueueSettings {
    QueueSettings {
        enabled: false,
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_huge_throttle_and_an_infinite_multiplier_do_not_panic() {
    let s = Script::default();
    for _ in 0..3 {
        s.answer(Err(ExportError::retryable("503", Some(Duration::MAX))));
    }
    let mut r = retry(50);
    r.multiplier = f64::INFINITY;
    r.max_elapsed_time = Duration::from_secs(60);
    let e = Exporter::new(
        "otlp/t".into(),
        Box::new(s.clone()),
        Duration::ZERO,
        r,
        no_queue(),
    );
    // The wait would pass max_elapsed_time: dropped at once, retryably, without an overflow.
    let err = e.consume(spans("a", 1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(s.count(), 1);
    // With no limit on elapsed time the same wait ends at the shutdown deadline.
    let mut r = retry(50);
    r.multiplier = f64::NAN;
    let e = Arc::new(Exporter::new(
        "otlp/t".into(),
        Box::new(s.clone()),
        Duration::ZERO,
        r,
        no_queue(),
    ));
    let e2 = e.clone();
    let send = tokio::spawn(async move { e2.consume(spans("b", 1)).await });
    assert!(wait_for(Duration::from_secs(1), || s.count() == 2).await);
    e.shutdown(Instant::now() + Duration::from_secs(1)).await;
    assert!(send.await.unwrap().is_err());
    assert_eq!(
        saturating_mul(Duration::from_secs(1), f64::INFINITY),
        Duration::MAX
    );
    assert_eq!(saturating_mul(Duration::MAX, 2.0), Duration::MAX);
    assert_eq!(saturating_mul(Duration::from_secs(1), -1.0), Duration::ZERO);
}

/// Answers after a while; for the timeout tests.
struct Slow(Duration);

#[async_trait]
impl Sender<Traces> for Slow {
    async fn send(&self, _: &Batch<Traces>) -> Result<Accepted, ExportError> {
        tokio::time::sleep(self.0).await;
        Ok(Accepted::ALL)
    }
}

#[tokio::test(start_paused = true)]
async fn a_zero_timeout_means_no_timeout() {
    let e = Exporter::new(
        "otlp/t".into(),
        Box::new(Slow(Duration::from_secs(100))),
        Duration::ZERO,
        retry(50),
        no_queue(),
    );
    e.consume(spans("a", 1)).await.unwrap();
    let e = Exporter::new(
        "otlp/t".into(),
        Box::new(Slow(Duration::from_secs(100))),
        Duration::from_secs(1),
        RetrySettings {
            enabled: false,
            ..Default::default()
        },
        no_queue(),
    );
    assert!(e.consume(spans("a", 1)).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn waiting_senders_are_answered_at_the_shutdown_deadline() {
    let s = Script::default();
    *s.hang.lock().unwrap() = true;
    let q = QueueSettings {
        num_consumers: 1,
        queue_size: 2,
        block_on_overflow: true,
        wait_for_result: true,
        ..Default::default()
    };
    let e = Arc::new(exporter(&s, q, &Host::default()));
    // One being sent (hanging), one queued, one blocked on the full queue: all three wait.
    let waits: Vec<_> = (0..3)
        .map(|i| {
            let e = e.clone();
            tokio::spawn(async move { e.consume(spans(&format!("w{i}"), 1)).await })
        })
        .collect();
    assert!(wait_for(Duration::from_secs(1), || s.count() == 1).await);
    e.shutdown(Instant::now() + Duration::from_millis(500))
        .await;
    for w in waits {
        let r = tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .expect("a waiting sender was not answered at the deadline")
            .unwrap();
        assert!(r.is_err(), "{r:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_send_does_not_kill_the_worker() {
    struct Panics(Arc<Mutex<usize>>);
    #[async_trait]
    impl Sender<Traces> for Panics {
        async fn send(&self, _: &Batch<Traces>) -> Result<Accepted, ExportError> {
            let n = {
                let mut n = self.0.lock().unwrap();
                *n += 1;
                *n
            };
            if n == 1 {
                panic!("a bug");
            }
            Ok(Accepted::ALL)
        }
    }
    let n = Arc::new(Mutex::new(0));
    let q = QueueSettings {
        num_consumers: 1,
        queue_size: 1,
        ..Default::default()
    };
    let e = Exporter::new(
        "otlp/t".into(),
        Box::new(Panics(n.clone())),
        Duration::ZERO,
        retry(50),
        q,
    );
    e.consume(spans("a", 1)).await.unwrap();
    // The only worker survived, and the capacity came back: the second batch goes through.
    assert!(wait_for(Duration::from_secs(1), || *n.lock().unwrap() == 1).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    e.consume(spans("b", 1)).await.unwrap();
    assert!(wait_for(Duration::from_secs(1), || *n.lock().unwrap() == 2).await);
    e.shutdown(Instant::now() + Duration::from_secs(1)).await;
}
