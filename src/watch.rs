//! Watching files on disk: the one poll loop for everything re-read when it changes — server and
//! client TLS certificates, credential files (`bearertokenauth::filename`) and `--watch-config`.
//!
//! Polling the content (not the modification time) catches every rotation style: a rename over the
//! file, a symlink swap as Kubernetes does for mounted secrets, an in-place write.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the owner made of a change.
pub enum Outcome {
    /// Applied: the content it was given is now the one in force.
    Applied,
    /// Not applied (a file mid-rotation: certificate written, key not yet): tried again at the next
    /// tick for as long as the content still differs from the last applied one.
    Retry,
    /// The owner is gone: the watch ends.
    Stop,
}

/// The contents of `files` as last read (`None` for a file that cannot be read).
pub type Contents = Vec<Option<Vec<u8>>>;

/// Polls `files` every `every` and, when their content differs from what was last applied, calls
/// `reload` with the new contents. `reload` runs on the blocking pool, so parsing certificates or
/// hashing never holds a runtime thread. Nothing is watched (`None`) when `every` is zero (as otelcol,
/// a zero `reload_interval` means never), when `files` is empty, or outside a tokio runtime. The watch
/// ends when `reload` returns [`Outcome::Stop`] or the returned task is aborted.
pub fn spawn<F>(
    files: Vec<PathBuf>,
    every: Duration,
    reload: F,
) -> Option<tokio::task::JoinHandle<()>>
where
    F: Fn(&Contents) -> Outcome + Send + Sync + 'static,
{
    if every.is_zero() || files.is_empty() {
        return None;
    }
    let rt = tokio::runtime::Handle::try_current().ok()?;
    let reload = Arc::new(reload);
    Some(rt.spawn(async move {
        let mut applied = read_all(&files).await;
        let start = tokio::time::Instant::now();
        let first = start.checked_add(every).unwrap_or(start);
        let mut tick = tokio::time::interval_at(first, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = read_all(&files).await;
            if now == applied {
                continue;
            }
            let (r, seen) = (reload.clone(), now.clone());
            match tokio::task::spawn_blocking(move || r(&seen)).await {
                Ok(Outcome::Applied) => applied = now,
                Ok(Outcome::Retry) => {}
                Ok(Outcome::Stop) | Err(_) => return,
            }
        }
    }))
}

async fn read_all(files: &[PathBuf]) -> Contents {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        out.push(tokio::fs::read(f).await.ok());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_change_is_applied_once_and_a_failed_one_is_retried() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        std::fs::write(&f, "one").unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let task = spawn(vec![f.clone()], Duration::from_millis(10), move |v| {
            // The first attempt at a change fails (as a half-written file would).
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                return Outcome::Retry;
            }
            assert_eq!(v[0].as_deref(), Some(&b"two"[..]));
            Outcome::Applied
        })
        .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 0, "no change, no call");
        std::fs::write(&f, "two").unwrap();
        for _ in 0..200 {
            if calls.load(Ordering::SeqCst) >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "retried once, then applied"
        );
        task.abort();
    }

    #[test]
    fn zero_interval_or_no_files_watch_nothing() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let _g = rt.enter();
        assert!(spawn(vec!["x".into()], Duration::ZERO, |_| Outcome::Stop).is_none());
        assert!(spawn(vec![], Duration::from_secs(1), |_| Outcome::Stop).is_none());
    }
}
