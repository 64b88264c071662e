//! Test helpers for processors: a consumer that records what it is given and can be told to refuse.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::pipeline::{ConsumeError, Consumer};
use crate::signal::{Batch, Signal};

/// Records every batch it accepts; refuses (retryably) while `refuse` is above zero, counting down.
pub struct Capture<S: Signal> {
    pub batches: Mutex<Vec<Batch<S>>>,
    /// How many more calls to refuse; `usize::MAX` refuses for ever.
    pub refuse: AtomicUsize,
    pub calls: AtomicUsize,
}

impl<S: Signal> Default for Capture<S> {
    fn default() -> Self {
        Capture {
            batches: Mutex::new(Vec::new()),
            refuse: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        }
    }
}

impl<S: Signal> Capture<S> {
    pub fn items(&self) -> usize {
        self.batches.lock().unwrap().iter().map(Batch::items).sum()
    }

    /// Item count of each batch received, in order.
    pub fn sizes(&self) -> Vec<usize> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .map(Batch::items)
            .collect()
    }

    /// Every received resource, decoded, in order.
    pub fn resources(&self) -> Vec<S::Resource> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b.clone().into_resources().unwrap())
            .collect()
    }
}

#[async_trait]
impl<S: Signal> Consumer<S> for Capture<S> {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let r = self.refuse.load(Ordering::SeqCst);
        if r > 0 {
            if r != usize::MAX {
                self.refuse.fetch_sub(1, Ordering::SeqCst);
            }
            return Err(ConsumeError::retryable("capture: refusing"));
        }
        self.batches.lock().unwrap().push(batch);
        Ok(())
    }
}
