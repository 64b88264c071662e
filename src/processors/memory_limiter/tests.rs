use std::sync::atomic::AtomicU64;

use super::*;
use crate::processors::testutil::Capture;
use crate::signal::{Logs, Traces};

const MIB: u64 = 1 << 20;

fn errors(yaml: &str) -> String {
    let v: Value = serde_yaml::from_str(yaml).unwrap();
    match Factory.prepare(&v, "processors::memory_limiter") {
        Ok(_) => String::new(),
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn validation_like_otelcol() {
    let p = "processors::memory_limiter";
    let cases = [
        (
            "{limit_mib: 100}",
            format!("{p}::check_interval: 'check_interval' must be greater than zero"),
        ),
        (
            "{check_interval: 1s}",
            format!("{p}::limit_mib: 'limit_mib' or 'limit_percentage' must be greater than zero"),
        ),
        (
            "{check_interval: 1s, limit_mib: 100, spike_limit_mib: 100}",
            format!("{p}::spike_limit_mib: 'spike_limit_mib' must be smaller than 'limit_mib'"),
        ),
        (
            "{check_interval: 1s, limit_percentage: 101}",
            "less than or equal to hundred".into(),
        ),
        (
            "{check_interval: 1s, limit_percentage: 50, spike_limit_percentage: 50}",
            "'spike_limit_percentage' must be smaller than 'limit_percentage'".into(),
        ),
        (
            "{check_interval: 1s, limit_mib: 100, min_gc_interval_when_hard_limited: 1m}",
            "should be larger than".into(),
        ),
        (
            "{check_interval: 1s, limit_mib: 100, limit: 3}",
            "unknown key \"limit\"".into(),
        ),
    ];
    for (yaml, want) in cases {
        let got = errors(yaml);
        assert!(got.contains(&want), "{yaml}: {got}");
    }
    assert_eq!(
        errors("{check_interval: 1s, limit_mib: 4000, spike_limit_mib: 800}"),
        ""
    );
    assert_eq!(
        errors("{check_interval: 1s, limit_percentage: 75, spike_limit_percentage: 15}"),
        ""
    );
}

#[test]
fn limits_from_mib_and_percentages() {
    let c = |yaml: &str| -> Config {
        crate::config::parse(&serde_yaml::from_str(yaml).unwrap(), "").unwrap()
    };
    let none = || None;
    assert_eq!(
        c("{limit_mib: 100}").limits(none),
        Ok((100 * MIB, 80 * MIB))
    );
    assert_eq!(
        c("{limit_mib: 100, spike_limit_mib: 30}").limits(none),
        Ok((100 * MIB, 70 * MIB))
    );
    // limit_mib wins over percentages.
    assert_eq!(
        c("{limit_mib: 100, limit_percentage: 50}").limits(|| Some(1000 * MIB)),
        Ok((100 * MIB, 80 * MIB))
    );
    assert_eq!(
        c("{limit_percentage: 50, spike_limit_percentage: 10}").limits(|| Some(1000 * MIB)),
        Ok((500 * MIB, 400 * MIB))
    );
    assert_eq!(
        c("{limit_percentage: 50}").limits(|| Some(1000 * MIB)),
        Ok((500 * MIB, 400 * MIB))
    );
    assert!(c("{limit_percentage: 50}").limits(none).is_err());
}

fn fake_memory(start: u64) -> (Arc<AtomicU64>, MemoryReader) {
    let m = Arc::new(AtomicU64::new(start));
    let r = m.clone();
    (m, Arc::new(move || r.load(Ordering::Relaxed)))
}

#[tokio::test]
async fn refuses_above_the_soft_limit_and_resumes_below() {
    let (mem, read) = fake_memory(10 * MIB);
    let l = Limiter::start(
        "memory_limiter".into(),
        100 * MIB,
        80 * MIB,
        Duration::from_secs(3600),
        read,
    );
    let capture = Arc::new(Capture::<Traces>::default());
    let AnyConsumer::Traces(p) = AnyConsumer::Traces(capture.clone()).wrap(&l) else {
        panic!()
    };
    p.consume(Batch::empty()).await.unwrap();
    assert_eq!(capture.calls.load(Ordering::SeqCst), 1);

    // Between soft and hard: refused, retryably, with otelcol's message.
    mem.store(85 * MIB, Ordering::Relaxed);
    l.check();
    let err = p.consume(Batch::empty()).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.to_string(), "data refused due to high memory usage");
    assert_eq!(capture.calls.load(Ordering::SeqCst), 1, "not passed on");

    // Back below the soft limit: data flows again.
    mem.store(79 * MIB, Ordering::Relaxed);
    l.check();
    p.consume(Batch::empty()).await.unwrap();
    assert_eq!(capture.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn admission_rereads_stale_memory_without_waiting_for_the_interval() {
    let (mem, read) = fake_memory(10 * MIB);
    let l = Limiter::start(
        "m".into(),
        100 * MIB,
        80 * MIB,
        Duration::from_secs(3600),
        read,
    );
    assert!(l.admit().is_ok());
    mem.store(90 * MIB, Ordering::Relaxed);
    std::thread::sleep(FAST_RECHECK + Duration::from_millis(5));
    assert!(l.admit().is_err(), "a burst is seen within FAST_RECHECK");
    assert_eq!(l.last_reading(), 90 * MIB);
}

#[tokio::test]
async fn background_check_runs_every_interval() {
    let (mem, read) = fake_memory(90 * MIB);
    let l = Limiter::start(
        "m".into(),
        100 * MIB,
        80 * MIB,
        Duration::from_millis(20),
        read,
    );
    assert!(l.is_refusing());
    mem.store(MIB, Ordering::Relaxed);
    for _ in 0..200 {
        if !l.is_refusing() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the background check never ran");
}

#[tokio::test]
async fn the_shared_limiter_registers_an_admission_gate() {
    let v: Value = serde_yaml::from_str("{check_interval: 1s, limit_mib: 1}").unwrap();
    let prepared = Factory.prepare(&v, "processors::memory_limiter").unwrap();
    let host = Host::default();
    let id = ComponentId::parse("memory_limiter").unwrap();
    for _ in 0..2 {
        prepared
            .create(
                &id,
                "traces",
                AnyConsumer::Logs(Arc::new(Capture::<Logs>::default())),
                &host,
            )
            .unwrap();
    }
    // This test process uses far more than the soft limit of 0.8 MiB: the gate refuses.
    let err = host.admission.check().unwrap_err();
    assert_eq!(err.to_string(), REFUSED);
}
