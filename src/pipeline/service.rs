//! Running a plan: exporters are built first and receivers started last; shutdown goes the other way,
//! each stage draining into the next before the deadline (otelcol's topological start and stop).
//!
//! Shutdown has one budget (`--shutdown-timeout`): receivers stop accepting at once and get at most
//! half of it to answer requests in flight (then their connections are closed); processors flush and
//! exporters drain within the rest, all against the same deadline. A reload ([`reload`]) builds and
//! starts what changed beside what runs and only then swaps it in, so a config that fails to start
//! never takes the collector down.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::component::{Extension, Host, StartError};
use crate::config::ComponentId;
use crate::pipeline::graph::Plan;
use crate::pipeline::listeners;
use crate::pipeline::reload::{self, at, Diff, Running};

pub struct Service {
    /// The extensions and the admission gates every receiver checks; kept across partial reloads.
    host: Host,
    extensions: Vec<(ComponentId, Arc<dyn Extension>)>,
    running: Running,
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
        let mut svc = Service {
            host,
            extensions,
            running: Running::default(),
        };
        // A first start is a reload from nothing: everything is built.
        match reload::stage(plan, &svc.host, &svc.running, &Diff::default()).await {
            Ok(staged) => reload::commit(&mut svc.running, &svc.host, staged, Duration::ZERO).await,
            Err(e) => {
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
        if unready {
            for (_, ext) in &self.extensions {
                ext.set_ready(false);
            }
        }
        reload::stop(&mut self.running, at(start, timeout / 2), deadline).await;
        // Extensions (storage, health check) last, each briefly even when the deadline has passed.
        for (id, ext) in self.extensions.iter().rev() {
            let by = deadline.max(Instant::now() + Duration::from_millis(200));
            if tokio::time::timeout_at(by, ext.shutdown()).await.is_err() {
                tracing::warn!(extension = %id, "extension did not stop before the shutdown deadline");
            }
        }
    }
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
/// Most reloads restart only what changed (see [`reload::diff`] and the `pipeline::reload` module);
/// the rest of this comment is about reloads that change extensions or a persistent queue, which
/// replace the whole service.
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
    if let Some(diff) = reload::diff(current_plan, next, &current.running.exporters) {
        tracing::info!(
            exporters_kept = diff.kept_exporters.len(),
            exporters_changed_in_place = diff.in_place.len(),
            receivers_kept = diff.kept_receivers.len(),
            "reload: restarting only what changed"
        );
        return match reload::stage(next, &current.host, &current.running, &diff).await {
            Ok(staged) => {
                reload::commit(&mut current.running, &current.host, staged, timeout).await;
                Ok(Reloaded::Success)
            }
            Err(e) => Ok(Reloaded::Failed(e)),
        };
    }
    tracing::info!(
        "reload: the extensions or a persistent queue changed; replacing the whole service"
    );
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
