//! Building the running graph, and partial reload: a reload that restarts only what changed.
//!
//! A reload is planned first ([`diff`]), without touching anything that runs:
//! - an exporter instance (one per exporter and signal) whose config did not change is kept, with its
//!   queue and its connections; one that can take the change in place ([`Reconfigure`]) is kept and
//!   told the new config once the reload has succeeded; every other one is built anew;
//! - every processor chain is built anew in front of the exporters (processors are cheap to build and
//!   hold little; their old instances are flushed into the exporters, which is where their data goes);
//! - a receiver whose config and set of signals did not change keeps running: receivers feed their
//!   pipelines through a [`Slot`], and the reload swaps what the slot points at. A changed receiver is
//!   built and started beside the old one (on the same socket when its endpoint is unchanged, see
//!   [`crate::pipeline::listeners`]) and the old one is then stopped.
//!
//! [`stage`] builds and starts everything new; if any step fails, what it built is stopped and the
//! running graph was never touched. [`commit`] then swaps the new parts in and drains the old ones:
//! old receivers stop (answering what they have in flight), requests already inside an old chain
//! finish, the old chains flush, and old exporters drain. Nothing acknowledged is dropped on the way.
//!
//! Changes a partial reload cannot make (extensions, or a persistent queue that would be opened twice)
//! make [`diff`] return `None`; the caller then replaces the whole service.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use serde_yaml::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::component::{Host, Receiver, Reconfigure, StartError};
use crate::config::ComponentId;
use crate::pipeline::graph::Plan;
use crate::pipeline::{Admission, AnyConsumer, ConsumeError, Consumer, SignalConsumer};
use crate::signal::{Batch, SignalKind};

/// An exporter instance is identified by its exporter and the signal it carries.
pub type ExporterKey = (ComponentId, SignalKind);

/// One running exporter instance, fed by every pipeline of its signal.
pub struct RunningExporter {
    pub consumer: AnyConsumer,
    pub handle: Option<Arc<dyn Reconfigure>>,
}

/// One running receiver and the slots it feeds (one per signal it carries, in [`SignalKind::ALL`]
/// order).
pub struct RunningReceiver {
    pub id: ComponentId,
    pub receiver: Box<dyn Receiver>,
    pub slots: Vec<Arc<Slot>>,
}

/// The pipelines' running components, without the extensions.
#[derive(Default)]
pub struct Running {
    pub receivers: Vec<RunningReceiver>,
    /// Each pipeline's processors, first to last; pipelines upstream of connectors first.
    pub processors: Vec<Vec<AnyConsumer>>,
    /// Connector instances, each with the index into `processors` of the first pipeline it feeds:
    /// it is flushed just before that pipeline's processors.
    pub connectors: Vec<(usize, AnyConsumer)>,
    pub exporters: BTreeMap<ExporterKey, RunningExporter>,
}

/// What a partial reload keeps; everything else is built anew.
#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    /// Exporter instances kept as they are.
    pub kept_exporters: BTreeSet<ExporterKey>,
    /// Exporter instances kept and given their new config in place.
    pub in_place: BTreeSet<ExporterKey>,
    /// Receivers kept running; their slots are pointed at the new chains.
    pub kept_receivers: BTreeSet<ComponentId>,
}

/// The signals each receiver of `plan` feeds, in [`SignalKind::ALL`] order; receivers that no
/// pipeline uses are left out (they are not started).
fn receiver_signals(plan: &Plan) -> BTreeMap<ComponentId, Vec<SignalKind>> {
    let mut out = BTreeMap::new();
    for rid in plan.receivers.keys() {
        let sigs: Vec<SignalKind> = SignalKind::ALL
            .into_iter()
            .filter(|s| {
                plan.pipelines
                    .iter()
                    .any(|p| p.id.signal == *s && p.receivers.contains(rid))
            })
            .collect();
        if !sigs.is_empty() {
            out.insert(rid.clone(), sigs);
        }
    }
    out
}

/// Every exporter instance `plan` needs.
fn exporter_keys(plan: &Plan) -> BTreeSet<ExporterKey> {
    plan.pipelines
        .iter()
        .flat_map(|p| p.exporters.iter().map(|e| (e.clone(), p.id.signal)))
        .collect()
}

fn section<'a>(m: &'a BTreeMap<String, Value>, id: &ComponentId) -> Option<&'a Value> {
    m.get(&id.to_string())
}

fn uses_storage(cfg: Option<&Value>) -> bool {
    cfg.and_then(|e| e.get("sending_queue"))
        .and_then(|q| q.get("storage"))
        .is_some_and(|s| !s.is_null())
}

/// Plans a partial reload from `old` (running as `exporters`) to `new`, or `None` when only a full
/// one can make the change: the extensions changed (every component may hold them), or an exporter
/// with a persistent queue would be rebuilt (two instances cannot share its directory).
pub fn diff(
    old: &Plan,
    new: &Plan,
    exporters: &BTreeMap<ExporterKey, RunningExporter>,
) -> Option<Diff> {
    let (oc, nc) = (&old.config, &new.config);
    if oc.service.extensions != nc.service.extensions
        || nc
            .service
            .extensions
            .iter()
            .any(|x| oc.extensions.get(x) != nc.extensions.get(x))
    {
        return None;
    }
    let mut d = Diff::default();
    for key in exporter_keys(new) {
        let Some(running) = exporters.get(&key) else {
            continue;
        };
        let (was, is) = (
            section(&oc.exporters, &key.0),
            section(&nc.exporters, &key.0),
        );
        let (Some(was), Some(is)) = (was, is) else {
            continue;
        };
        if was == is {
            d.kept_exporters.insert(key);
        } else if running.handle.as_ref().is_some_and(|h| h.accepts(was, is)) {
            d.in_place.insert(key);
        }
    }
    let kept = |k: &ExporterKey| d.kept_exporters.contains(k) || d.in_place.contains(k);
    let built = exporter_keys(new).into_iter().filter(|k| !kept(k));
    let dropped = exporters.keys().filter(|k| !kept(k)).cloned();
    if built
        .map(|k| section(&nc.exporters, &k.0))
        .chain(dropped.map(|k| section(&oc.exporters, &k.0)))
        .any(uses_storage)
    {
        return None;
    }
    let (was, is) = (receiver_signals(old), receiver_signals(new));
    for (rid, sigs) in &is {
        if was.get(rid) == Some(sigs)
            && section(&oc.receivers, rid).is_some()
            && section(&oc.receivers, rid) == section(&nc.receivers, rid)
        {
            d.kept_receivers.insert(rid.clone());
        }
    }
    Some(d)
}

/// What [`stage`] built and started, ready for [`commit`].
pub struct Staged {
    exporters: BTreeMap<ExporterKey, RunningExporter>,
    /// Instances taken over from the running graph (kept or changed in place).
    reused: BTreeSet<ExporterKey>,
    in_place: Vec<(Arc<dyn Reconfigure>, Value)>,
    processors: Vec<Vec<AnyConsumer>>,
    connectors: Vec<(usize, AnyConsumer)>,
    /// The admission gates the new processors registered.
    admission: Arc<Admission>,
    /// Receivers built and started by this stage.
    receivers: Vec<RunningReceiver>,
    /// Running receivers kept, with what their slots are to feed from now on.
    retargeted: BTreeMap<ComponentId, Vec<AnyConsumer>>,
}

impl Staged {
    /// Stops everything this stage built, leaving what it took over from the running graph alone.
    async fn abandon(mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        stop_receivers(std::mem::take(&mut self.receivers), deadline).await;
        flush_processors(&self.processors, &self.connectors, deadline).await;
        let reused = &self.reused;
        let built = self
            .exporters
            .iter()
            .filter(|(k, _)| !reused.contains(*k))
            .map(|(_, e)| &e.consumer);
        drain_exporters(built, deadline).await;
    }
}

/// Builds and starts what `plan` needs beside `running` (nothing runs yet on a first start), as
/// `diff` decided. On error everything built here is stopped again and `running` is unchanged.
pub async fn stage(
    plan: &Plan,
    host: &Host,
    running: &Running,
    diff: &Diff,
) -> Result<Staged, StartError> {
    let mut staged = Staged {
        exporters: BTreeMap::new(),
        reused: BTreeSet::new(),
        in_place: Vec::new(),
        processors: Vec::new(),
        connectors: Vec::new(),
        admission: Arc::new(Admission::default()),
        receivers: Vec::new(),
        retargeted: BTreeMap::new(),
    };
    match build(plan, host, running, diff, &mut staged).await {
        Ok(()) => Ok(staged),
        Err(e) => {
            staged.abandon().await;
            Err(e)
        }
    }
}

async fn build(
    plan: &Plan,
    host: &Host,
    running: &Running,
    diff: &Diff,
    staged: &mut Staged,
) -> Result<(), StartError> {
    // One exporter instance per (exporter, signal), fed by every pipeline of that signal.
    for key in exporter_keys(plan) {
        let taken = if diff.kept_exporters.contains(&key) || diff.in_place.contains(&key) {
            running.exporters.get(&key)
        } else {
            None
        };
        let instance = match taken {
            Some(r) => {
                if diff.in_place.contains(&key) {
                    if let (Some(h), Some(cfg)) =
                        (&r.handle, section(&plan.config.exporters, &key.0))
                    {
                        staged.in_place.push((h.clone(), cfg.clone()));
                    }
                }
                staged.reused.insert(key.clone());
                RunningExporter {
                    consumer: r.consumer.clone(),
                    handle: r.handle.clone(),
                }
            }
            None => {
                let Some(prepared) = plan.exporters.get(&key.0) else {
                    continue;
                };
                let (consumer, handle) = prepared.create_reconfigurable(&key.0, key.1, host)?;
                RunningExporter { consumer, handle }
            }
        };
        staged.exporters.insert(key, instance);
    }

    // Processors register their admission gates with a fresh set, installed on commit.
    let processor_host = Host {
        extensions: host.extensions.clone(),
        admission: staged.admission.clone(),
    };
    let pipeline_entries = build_chains(plan, &processor_host, staged)?;

    for (rid, prepared) in &plan.receivers {
        let mut consumers = Vec::new();
        for sig in SignalKind::ALL {
            let entries: Vec<AnyConsumer> = plan
                .pipelines
                .iter()
                .zip(&pipeline_entries)
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
        if diff.kept_receivers.contains(rid) {
            staged.retargeted.insert(rid.clone(), consumers);
            continue;
        }
        let slots: Vec<Arc<Slot>> = consumers.into_iter().map(Slot::new).collect();
        let feeds = slots.iter().map(Slot::as_consumer).collect();
        let receiver = prepared.create(rid, feeds, host)?;
        staged.receivers.push(RunningReceiver {
            id: rid.clone(),
            receiver,
            slots,
        });
        if let Some(r) = staged.receivers.last_mut() {
            r.receiver.start(host).await?;
        }
    }
    Ok(())
}

/// Builds every pipeline's processors and every connector in front of the staged exporters, and
/// returns each pipeline's entry (by index into `plan.pipelines`). Pipelines are built from the last
/// downstream to the first upstream, so that a connector is built after the pipelines it feeds and
/// before the pipelines that feed it. Like processors, connectors are rebuilt on every reload. What
/// was built is in `staged` even on error, so that it can be stopped again.
fn build_chains(
    plan: &Plan,
    host: &Host,
    staged: &mut Staged,
) -> Result<Vec<Option<AnyConsumer>>, StartError> {
    let n = plan.pipelines.len();
    let mut entries: Vec<Option<AnyConsumer>> = vec![None; n];
    let mut chains: Vec<Vec<AnyConsumer>> = vec![Vec::new(); n];
    let mut connectors: Vec<Option<AnyConsumer>> = vec![None; plan.connector_uses.len()];
    let mut built = Ok(());
    'pipelines: for &i in plan.order.iter().rev() {
        let Some(p) = plan.pipelines.get(i) else {
            continue;
        };
        let mut outs: Vec<AnyConsumer> = p
            .exporters
            .iter()
            .filter_map(|e| staged.exporters.get(&(e.clone(), p.id.signal)))
            .map(|r| r.consumer.clone())
            .collect();
        for (u, c) in plan.connector_uses.iter().enumerate() {
            if !c.upstream.contains(&i) {
                continue;
            }
            if connectors[u].is_none() {
                let next = c
                    .downstream
                    .iter()
                    .filter_map(|&q| {
                        Some((plan.pipelines.get(q)?.id.clone(), entries.get(q)?.clone()?))
                    })
                    .collect();
                let Some(prepared) = plan.connectors.get(&c.id) else {
                    continue;
                };
                match prepared.create(&c.id, c.from, c.to, next, host) {
                    Ok(inst) => connectors[u] = Some(inst),
                    Err(e) => {
                        built = Err(e);
                        break 'pipelines;
                    }
                }
            }
            outs.extend(connectors[u].clone());
        }
        let mut next = AnyConsumer::fan_out(p.id.signal, outs);
        let mut chain = Vec::new();
        for pid in p.processors.iter().rev() {
            let Some(prepared) = plan.processors.get(pid) else {
                continue;
            };
            match prepared.create(pid, &p.id.to_string(), next, host) {
                Ok(c) => next = c,
                Err(e) => {
                    chain.reverse();
                    chains[i] = chain;
                    built = Err(e);
                    break 'pipelines;
                }
            }
            chain.push(next.clone());
        }
        chain.reverse();
        chains[i] = chain;
        entries[i] = Some(next);
    }
    // Shutdown order: pipelines upstream first; a connector right before the first pipeline it
    // feeds, so it stops only after everything that feeds it has flushed into it.
    let position = |i: usize| plan.order.iter().position(|&o| o == i).unwrap_or(0);
    staged.processors = plan
        .order
        .iter()
        .filter_map(|&i| chains.get_mut(i).map(std::mem::take))
        .collect();
    staged.connectors = plan
        .connector_uses
        .iter()
        .zip(connectors)
        .filter_map(|(c, inst)| {
            let before = c.downstream.iter().map(|&q| position(q)).min()?;
            Some((before, inst?))
        })
        .collect();
    built.map(|()| entries)
}

/// Swaps `staged` into `running`, then drains what it replaced within `timeout`: old receivers stop
/// (with at most half of it for their requests in flight), requests already in an old chain finish,
/// old chains flush into the exporters, and exporters no longer used drain.
pub async fn commit(running: &mut Running, host: &Host, staged: Staged, timeout: Duration) {
    let start = Instant::now();
    let deadline = at(start, timeout);
    let Staged {
        exporters,
        reused,
        in_place,
        processors,
        connectors,
        admission,
        receivers,
        mut retargeted,
    } = staged;

    let mut kept = Vec::new();
    let mut replaced = Vec::new();
    let mut retired = Vec::new();
    for r in std::mem::take(&mut running.receivers) {
        match retargeted.remove(&r.id) {
            Some(next) => {
                for (slot, c) in r.slots.iter().zip(next) {
                    retired.push(slot.swap(c));
                }
                kept.push(r);
            }
            None => replaced.push(r),
        }
    }
    for (h, cfg) in in_place {
        h.apply(&cfg);
    }
    host.admission.replace_with(&admission);
    running.receivers = kept;
    running.receivers.extend(receivers);
    let old_processors = std::mem::replace(&mut running.processors, processors);
    let old_connectors = std::mem::replace(&mut running.connectors, connectors);
    let mut old_exporters = std::mem::replace(&mut running.exporters, exporters);
    old_exporters.retain(|k, _| !reused.contains(k));

    stop_receivers(replaced, at(start, timeout / 2)).await;
    for g in &retired {
        if !g.drained(deadline).await {
            tracing::warn!("requests were still in a replaced pipeline at the reload deadline");
        }
    }
    flush_processors(&old_processors, &old_connectors, deadline).await;
    drain_exporters(old_exporters.values().map(|e| &e.consumer), deadline).await;
}

/// Stops the pipelines: receivers (at most until `receivers_by`), then processors in pipeline order,
/// then exporters, all before `deadline`.
pub async fn stop(running: &mut Running, receivers_by: Instant, deadline: Instant) {
    // Senders blocked on a full exporter queue are answered first (retryably), while their
    // receivers can still tell them.
    for e in running.exporters.values() {
        e.consumer.closing();
    }
    stop_receivers(std::mem::take(&mut running.receivers), receivers_by).await;
    flush_processors(&running.processors, &running.connectors, deadline).await;
    drain_exporters(running.exporters.values().map(|e| &e.consumer), deadline).await;
    running.processors.clear();
    running.connectors.clear();
    running.exporters.clear();
}

/// All stop accepting at once, then answer what is in flight. A client stuck mid-body must not hold
/// the rest of the budget: past `by` the receivers are dropped, which closes their connections.
async fn stop_receivers(mut receivers: Vec<RunningReceiver>, by: Instant) {
    let stopping = futures::future::join_all(receivers.iter_mut().map(|r| {
        tracing::debug!(receiver = %r.id, "stopping receiver");
        r.receiver.shutdown()
    }));
    if tokio::time::timeout_at(by, stopping).await.is_err() {
        tracing::warn!(
            "receivers still had requests in flight after half of the shutdown timeout; closing their connections"
        );
    }
}

/// Flushes the chains in order (upstream pipelines first), each connector just before the first
/// pipeline it feeds.
async fn flush_processors(
    chains: &[Vec<AnyConsumer>],
    connectors: &[(usize, AnyConsumer)],
    deadline: Instant,
) {
    for (i, chain) in chains.iter().enumerate() {
        for (_, c) in connectors.iter().filter(|(before, _)| *before == i) {
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
}

async fn drain_exporters<'a>(exporters: impl Iterator<Item = &'a AnyConsumer>, deadline: Instant) {
    let draining = futures::future::join_all(exporters.map(|e| e.shutdown(deadline)));
    if tokio::time::timeout_at(deadline, draining).await.is_err() {
        tracing::warn!(
            "exporters were still draining at the shutdown deadline; what they held is dropped"
        );
    }
}

/// `start + d`, saturating far in the future instead of overflowing.
pub fn at(start: Instant, d: Duration) -> Instant {
    start
        .checked_add(d)
        .unwrap_or_else(|| start + Duration::from_secs(86_400 * 365))
}

/// What a receiver feeds for one signal: a pointer a reload can swap while the receiver runs.
///
/// Each swap starts a new generation; a generation counts the requests in it, so the reload can
/// wait until the replaced chain has none left before flushing it.
pub struct Slot {
    signal: SignalKind,
    current: RwLock<Arc<Generation>>,
}

pub struct Generation {
    consumer: AnyConsumer,
    in_flight: AtomicUsize,
    retired: AtomicBool,
    idle: Notify,
}

impl Generation {
    fn new(consumer: AnyConsumer) -> Arc<Generation> {
        Arc::new(Generation {
            consumer,
            in_flight: AtomicUsize::new(0),
            retired: AtomicBool::new(false),
            idle: Notify::new(),
        })
    }

    /// Waits until no request is in this (retired) generation; `false` if `deadline` came first.
    async fn drained(&self, deadline: Instant) -> bool {
        loop {
            let idle = self.idle.notified();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return false;
            }
        }
    }
}

/// Counts one request in a generation for as long as it lives (also when its future is dropped).
struct InFlight<'a>(&'a Generation);

impl<'a> InFlight<'a> {
    fn enter(g: &'a Generation) -> Self {
        g.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(g)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Slot {
    pub fn new(consumer: AnyConsumer) -> Arc<Slot> {
        Arc::new(Slot {
            signal: consumer.signal(),
            current: RwLock::new(Generation::new(consumer)),
        })
    }

    pub fn as_consumer(self: &Arc<Self>) -> AnyConsumer {
        crate::with_signal!(self.signal, S => S::any(self.clone()))
    }

    /// Points the slot at `next`; returns the replaced generation, to be waited on with `drained`.
    fn swap(&self, next: AnyConsumer) -> Arc<Generation> {
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            Generation::new(next),
        );
        // A request that took the old generation just before the swap sees this and starts again on
        // the new one; one already counted is waited for (both sides use SeqCst).
        old.retired.store(true, Ordering::SeqCst);
        old
    }
}

#[async_trait]
impl<S: SignalConsumer> Consumer<S> for Slot {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        loop {
            let generation = self
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let _counted = InFlight::enter(&generation);
            if generation.retired.load(Ordering::SeqCst) {
                continue;
            }
            let Some(c) = S::get(&generation.consumer) else {
                return Err(ConsumeError::Permanent(format!(
                    "internal: a {} pipeline was wired to a {} receiver slot",
                    generation.consumer.signal(),
                    S::KIND
                )));
            };
            return c.consume(batch).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{Batch, Traces};
    use std::sync::atomic::AtomicU64;

    /// Counts items; holds each request until `gate` opens.
    struct Counting {
        items: AtomicU64,
        gate: tokio::sync::Semaphore,
    }

    #[async_trait]
    impl Consumer<Traces> for Counting {
        async fn consume(&self, batch: Batch<Traces>) -> Result<(), ConsumeError> {
            let _p = self.gate.acquire().await;
            self.items.fetch_add(batch.items() as u64, Ordering::SeqCst);
            Ok(())
        }
    }

    fn counting(open: bool) -> Arc<Counting> {
        Arc::new(Counting {
            items: AtomicU64::new(0),
            gate: tokio::sync::Semaphore::new(if open { 1000 } else { 0 }),
        })
    }

    fn one_span() -> Batch<Traces> {
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        Batch::from_resources(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span::default()],
                ..Default::default()
            }],
            ..Default::default()
        }])
    }

    #[tokio::test]
    async fn a_swap_waits_for_requests_in_the_old_generation_and_sends_new_ones_on() {
        let old = counting(false);
        let new = counting(true);
        let slot = Slot::new(AnyConsumer::Traces(old.clone()));
        let AnyConsumer::Traces(feed) = slot.as_consumer() else {
            unreachable!()
        };
        let held = tokio::spawn({
            let feed = feed.clone();
            async move { feed.consume(one_span()).await }
        });
        // Wait until the request is inside the old chain.
        loop {
            let g = slot.current.read().unwrap().clone();
            if g.in_flight.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        let retired = slot.swap(AnyConsumer::Traces(new.clone()));
        feed.consume(one_span()).await.unwrap();
        assert_eq!(
            new.items.load(Ordering::SeqCst),
            1,
            "new requests go to the new chain"
        );
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(
            !retired.drained(soon).await,
            "a request is still in the old chain"
        );
        old.gate.add_permits(1);
        assert!(
            retired
                .drained(Instant::now() + Duration::from_secs(5))
                .await
        );
        held.await.unwrap().unwrap();
        assert_eq!(old.items.load(Ordering::SeqCst), 1);
    }
}
