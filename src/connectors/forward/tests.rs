use std::sync::Arc;
use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::signal::Logs;

#[derive(Default)]
struct Capture {
    items: Mutex<usize>,
    shutdowns: Mutex<usize>,
}

#[async_trait]
impl Consumer<Logs> for Capture {
    async fn consume(&self, batch: Batch<Logs>) -> Result<(), ConsumeError> {
        *self.items.lock().unwrap() += batch.items();
        Ok(())
    }
    async fn shutdown(&self, _: tokio::time::Instant) {
        *self.shutdowns.lock().unwrap() += 1;
    }
}

#[tokio::test]
async fn forwards_to_every_downstream_pipeline_and_never_shuts_them_down() {
    let a = Arc::new(Capture::default());
    let b = Arc::new(Capture::default());
    let next = vec![
        (
            PipelineId::parse("logs/a").unwrap(),
            AnyConsumer::Logs(a.clone()),
        ),
        (
            PipelineId::parse("logs/b").unwrap(),
            AnyConsumer::Logs(b.clone()),
        ),
    ];
    let id = ComponentId::parse("forward").unwrap();
    let c = Prepared
        .create(
            &id,
            SignalKind::Logs,
            SignalKind::Logs,
            next,
            &Host::default(),
        )
        .unwrap();
    let AnyConsumer::Logs(c) = c else {
        panic!("wrong signal")
    };
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let batch = Batch::<Logs>::from_resources(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord::default(); 3],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    c.consume(batch).await.unwrap();
    c.shutdown(tokio::time::Instant::now()).await;
    assert_eq!(*a.items.lock().unwrap(), 3);
    assert_eq!(*b.items.lock().unwrap(), 3);
    assert_eq!(*a.shutdowns.lock().unwrap(), 0);
}
