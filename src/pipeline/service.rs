//! Running a plan: exporters are built first and receivers started last; shutdown goes the other way,
//! each stage draining into the next before the deadline (otelcol's topological start and stop).
//!
//! Shutdown has one budget (`--shutdown-timeout`): receivers stop accepting at once and get at most
//! half of it to answer requests in flight (then their connections are closed); processors flush and
//! exporters drain within the rest, all against the same deadline. A reload ([`reload`]) starts the
//! new service beside the running one and only then stops the old one, so a config that fails to start
//! never takes the collector down.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::component::{Extension, Host, Receiver, StartError};
use crate::config::ComponentId;
use crate::pipeline::graph::Plan;
use crate::pipeline::listeners;
use crate::pipeline::AnyConsumer;
use crate::signal::SignalKind;

pub struct Service {
    extensions: Vec<(ComponentId, std::sync::Arc<dyn Extension>)>,
    receivers: Vec<(ComponentId, Box<dyn Receiver>)>,
    /// Each pipeline's processors, first to last; pipelines upstream of connectors first.
    processors: Vec<Vec<AnyConsumer>>,
    /// Connector instances, each with the index into `processors` of the first pipeline it feeds:
    /// it is shut down just before that pipeline's processors.
    connectors: Vec<(usize, AnyConsumer)>,
    exporters: Vec<AnyConsumer>,
}

impl Service {
    /// Builds and starts every component of `plan`. On failure whatever was started is stopped again;
    /// sockets shared with a running service (see [`listeners`]) stay open for it.
    pub async fn start(plan: &Plan) -> Result<Service, StartError> {
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

        // Pipelines from the last downstream to the first upstream, so that a connector is built
        // after the pipelines it feeds and before the pipelines that feed it.
        let mut entries: Vec<Option<AnyConsumer>> = vec![None; plan.pipelines.len()];
        let mut chains: Vec<Vec<AnyConsumer>> = vec![Vec::new(); plan.pipelines.len()];
        let mut connector_instances: Vec<Option<AnyConsumer>> =
            vec![None; plan.connector_uses.len()];
        for &i in plan.order.iter().rev() {
            let p = &plan.pipelines[i];
            let mut outs: Vec<AnyConsumer> = p
                .exporters
                .iter()
                .map(|e| exporter_instances[&(e.clone(), p.id.signal)].clone())
                .collect();
            for (u, c) in plan.connector_uses.iter().enumerate() {
                if !c.upstream.contains(&i) {
                    continue;
                }
                if connector_instances[u].is_none() {
                    let next = c
                        .downstream
                        .iter()
                        .filter_map(|&q| Some((plan.pipelines[q].id.clone(), entries[q].clone()?)))
                        .collect();
                    connector_instances[u] =
                        Some(plan.connectors[&c.id].create(&c.id, c.from, c.to, next, &host)?);
                }
                outs.extend(connector_instances[u].clone());
            }
            let mut next = AnyConsumer::fan_out(p.id.signal, outs);
            let mut chain = Vec::new();
            for pid in p.processors.iter().rev() {
                next = plan.processors[pid].create(pid, &p.id.to_string(), next, &host)?;
                chain.push(next.clone());
            }
            chain.reverse();
            chains[i] = chain;
            entries[i] = Some(next);
        }
        // Shutdown order: pipelines upstream first; a connector right before the first pipeline it
        // feeds, so it stops only after everything that feeds it has flushed into it.
        let position = |i: usize| plan.order.iter().position(|&o| o == i).unwrap_or(0);
        let processors: Vec<Vec<AnyConsumer>> = plan
            .order
            .iter()
            .map(|&i| std::mem::take(&mut chains[i]))
            .collect();
        let connectors: Vec<(usize, AnyConsumer)> = plan
            .connector_uses
            .iter()
            .zip(connector_instances)
            .filter_map(|(c, inst)| {
                let before = c.downstream.iter().map(|&q| position(q)).min()?;
                Some((before, inst?))
            })
            .collect();

        let mut receivers = Vec::new();
        for (rid, prepared) in &plan.receivers {
            let mut consumers = Vec::new();
            for sig in SignalKind::ALL {
                let entries: Vec<AnyConsumer> = plan
                    .pipelines
                    .iter()
                    .zip(&entries)
                    .filter(|(p, _)| p.id.signal == sig && p.receivers.contains(rid))
                    .filter_map(|(_, e)| e.clone())
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
            connectors,
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
    /// `timeout` has passed; then stops extensions. Receivers get at most half of `timeout`.
    pub async fn shutdown(&mut self, timeout: Duration) {
        self.stop(timeout, true).await
    }

    /// As [`Service::shutdown`], for a service that a reload replaced: the new one is already serving,
    /// so the extensions are not reported unready (a health check keeps answering 200).
    async fn shutdown_replaced(&mut self, timeout: Duration) {
        self.stop(timeout, false).await
    }

    async fn stop(&mut self, timeout: Duration, unready: bool) {
        let start = Instant::now();
        let deadline = at(start, timeout);
        let receivers_by = at(start, timeout / 2);
        if unready {
            for (_, ext) in &self.extensions {
                ext.set_ready(false);
            }
        }
        // Receivers: all stop accepting at once, then answer what is in flight. A client stuck
        // mid-body must not hold the rest of the budget: past half of it the receivers are dropped,
        // which closes their connections.
        let mut receivers = std::mem::take(&mut self.receivers);
        let stopping = futures::future::join_all(receivers.iter_mut().map(|(id, r)| {
            tracing::debug!(receiver = %id, "stopping receiver");
            r.shutdown()
        }));
        if tokio::time::timeout_at(receivers_by, stopping)
            .await
            .is_err()
        {
            tracing::warn!(
                "receivers still had requests in flight after half of the shutdown timeout; closing their connections"
            );
        }
        drop(receivers);
        for (i, chain) in self.processors.iter().enumerate() {
            for (_, c) in self.connectors.iter().filter(|(before, _)| *before == i) {
                if tokio::time::timeout_at(deadline, c.shutdown(deadline))
                    .await
                    .is_err()
                {
                    tracing::warn!("a connector was still flushing at the shutdown deadline");
                }
            }
            for p in chain {
                if tokio::time::timeout_at(deadline, p.shutdown(deadline))
                    .await
                    .is_err()
                {
                    tracing::warn!("a processor was still flushing at the shutdown deadline");
                }
            }
        }
        let draining =
            futures::future::join_all(self.exporters.iter().map(|e| e.shutdown(deadline)));
        if tokio::time::timeout_at(deadline, draining).await.is_err() {
            tracing::warn!(
                "exporters were still draining at the shutdown deadline; what they held is dropped"
            );
        }
        self.processors.clear();
        self.connectors.clear();
        self.exporters.clear();
        // Extensions (storage, health check) last, each briefly even when the deadline has passed.
        for (id, ext) in self.extensions.iter().rev() {
            let by = deadline.max(Instant::now() + Duration::from_millis(200));
            if tokio::time::timeout_at(by, ext.shutdown()).await.is_err() {
                tracing::warn!(extension = %id, "extension did not stop before the shutdown deadline");
            }
        }
    }
}

/// `start + d`, saturating far in the future instead of overflowing.
fn at(start: Instant, d: Duration) -> Instant {
    start
        .checked_add(d)
        .unwrap_or_else(|| start + Duration::from_secs(86_400 * 365))
}

/// Whether any exporter keeps its sending queue on disk (`sending_queue.storage`). Two services
/// cannot share a queue directory, so such a reload stops the old service before starting the new.
fn uses_persistent_queue(plan: &Plan) -> bool {
    plan.config.exporters.values().any(|e| {
        e.get("sending_queue")
            .and_then(|q| q.get("storage"))
            .is_some_and(|s| !s.is_null())
    })
}

/// What a reload did.
pub enum Reloaded {
    /// The new configuration is running; the old service was drained and stopped.
    Success,
    /// The new configuration could not start; the old configuration is still serving.
    Failed(StartError),
}

/// Replaces `current` (running `current_plan`) with a service for `next`, never leaving the collector
/// without a running service unless even the old configuration can no longer start (`Err`).
///
/// Without persistent queues the new service is started first, taking over the listening sockets of
/// ports both configurations use (so both serve them for a moment and no connection is refused);
/// only once it runs is the old one stopped, draining what it acknowledged into its destinations
/// within `timeout`. If the new one fails at any step, the old one never stopped.
///
/// With a persistent queue in either configuration the old service is stopped first (its queue stays
/// on disk for the new one) while its sockets are held open, so clients wait in the backlog rather
/// than being refused; if the new service then fails, the old configuration is started again.
pub async fn reload(
    current: &mut Service,
    current_plan: &Plan,
    next: &Plan,
    timeout: Duration,
) -> Result<Reloaded, StartError> {
    if !uses_persistent_queue(current_plan) && !uses_persistent_queue(next) {
        return match Service::start(next).await {
            Ok(new) => {
                let mut old = std::mem::replace(current, new);
                old.shutdown_replaced(timeout).await;
                Ok(Reloaded::Success)
            }
            Err(e) => Ok(Reloaded::Failed(e)),
        };
    }
    let held = listeners::hold_all();
    current.shutdown_replaced(timeout).await;
    let outcome = match Service::start(next).await {
        Ok(new) => {
            *current = new;
            Ok(Reloaded::Success)
        }
        Err(e) => match Service::start(current_plan).await {
            Ok(old) => {
                *current = old;
                Ok(Reloaded::Failed(e))
            }
            Err(again) => {
                tracing::error!(error = %e, "the new configuration failed to start");
                Err(again)
            }
        },
    };
    drop(held);
    outcome
}
