//! Running a plan: exporters are built first and receivers started last; shutdown goes the other way,
//! each stage draining into the next before the deadline (otelcol's topological start and stop).

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::component::{Extension, Host, Receiver, StartError};
use crate::config::ComponentId;
use crate::pipeline::graph::Plan;
use crate::pipeline::AnyConsumer;
use crate::signal::SignalKind;

pub struct Service {
    extensions: Vec<(ComponentId, std::sync::Arc<dyn Extension>)>,
    receivers: Vec<(ComponentId, Box<dyn Receiver>)>,
    /// Each pipeline's processors, first to last.
    processors: Vec<Vec<AnyConsumer>>,
    exporters: Vec<AnyConsumer>,
}

impl Service {
    pub async fn start(plan: Plan) -> Result<Service, StartError> {
        let mut host = Host::default();
        let mut extensions = Vec::new();
        for (id, p) in &plan.extensions {
            let ext = p.create(id)?;
            host.extensions.insert(id.clone(), ext.clone());
            extensions.push((id.clone(), ext));
        }
        for (_, ext) in &extensions {
            ext.start(&host).await?;
        }

        // One exporter instance per (exporter, signal), fed by every pipeline of that signal.
        let mut exporter_instances: BTreeMap<(ComponentId, SignalKind), AnyConsumer> =
            BTreeMap::new();
        for p in &plan.pipelines {
            for e in &p.exporters {
                let key = (e.clone(), p.id.signal);
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    exporter_instances.entry(key)
                {
                    slot.insert(plan.exporters[e].create(e, p.id.signal, &host)?);
                }
            }
        }

        let mut pipeline_entries: Vec<AnyConsumer> = Vec::new();
        let mut processors = Vec::new();
        for p in &plan.pipelines {
            let outs = p
                .exporters
                .iter()
                .map(|e| exporter_instances[&(e.clone(), p.id.signal)].clone())
                .collect();
            let mut next = AnyConsumer::fan_out(p.id.signal, outs);
            let mut chain = Vec::new();
            for pid in p.processors.iter().rev() {
                next = plan.processors[pid].create(pid, &p.id.to_string(), next, &host)?;
                chain.push(next.clone());
            }
            chain.reverse();
            processors.push(chain);
            pipeline_entries.push(next);
        }

        let mut receivers = Vec::new();
        for (rid, prepared) in &plan.receivers {
            let mut consumers = Vec::new();
            for sig in SignalKind::ALL {
                let entries: Vec<AnyConsumer> = plan
                    .pipelines
                    .iter()
                    .zip(&pipeline_entries)
                    .filter(|(p, _)| p.id.signal == sig && p.receivers.contains(rid))
                    .map(|(_, e)| e.clone())
                    .collect();
                if !entries.is_empty() {
                    consumers.push(AnyConsumer::fan_out(sig, entries));
                }
            }
            if consumers.is_empty() {
                continue;
            }
            receivers.push((rid.clone(), prepared.create(rid, consumers, &host)?));
        }
        let mut svc = Service {
            extensions,
            receivers,
            processors,
            exporters: exporter_instances.into_values().collect(),
        };
        for i in 0..svc.receivers.len() {
            let (_, r) = &mut svc.receivers[i];
            if let Err(e) = r.start(&host).await {
                svc.shutdown(Duration::from_secs(5)).await;
                return Err(e);
            }
        }
        for (_, ext) in &svc.extensions {
            ext.set_ready(true);
        }
        Ok(svc)
    }

    /// Stops receivers, then flushes processors in pipeline order, then drains exporters, all before
    /// `timeout` has passed; then stops extensions.
    pub async fn shutdown(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for (_, ext) in &self.extensions {
            ext.set_ready(false);
        }
        for (id, r) in &mut self.receivers {
            tracing::debug!(receiver = %id, "stopping receiver");
            r.shutdown().await;
        }
        for chain in &self.processors {
            for p in chain {
                p.shutdown(deadline).await;
            }
        }
        futures::future::join_all(self.exporters.iter().map(|e| e.shutdown(deadline))).await;
        for (_, ext) in self.extensions.iter().rev() {
            ext.shutdown().await;
        }
    }
}
