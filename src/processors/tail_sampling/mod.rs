//! The `tail_sampling` processor: holds each trace for `decision_wait`, then keeps or drops it whole
//! by otelcol's policies and rules (a `drop` policy wins; otherwise any "sampled" keeps the trace).
//!
//! Memory: a pending trace is kept as the encoded `ResourceSpans` fragments it arrived in (one per
//! resource and batch), so a pending span costs about its encoded size; `num_traces`,
//! `maximum_trace_size_bytes` and `maximum_total_bytes` bound it, and every eviction is counted.
//! Decisions run on their own task, so ingest cannot starve them; late spans of a decided trace
//! follow the cached decision.

pub mod policy;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message;
use serde::Deserialize;
use serde_yaml::Value;
use tokio::time::Instant;

use crate::component::{ConfigResult, Host, PreparedProcessor, ProcessorFactory, StartError};
use crate::config::{duration, ComponentId, ConfigError};
use crate::pipeline::{AnyConsumer, ConsumeError, Consumer};
use crate::signal::{Batch, SignalKind, Traces};
use crate::telemetry::events;
use policy::{Decision, Policy, PolicyConfig, TraceView};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_wait", with = "duration")]
    pub decision_wait: Duration,
    #[serde(default = "default_num_traces")]
    pub num_traces: u64,
    #[serde(default)]
    pub expected_new_traces_per_sec: u64,
    #[serde(default)]
    pub decision_cache: DecisionCache,
    #[serde(default)]
    pub sample_on_first_match: bool,
    #[serde(default)]
    pub drop_pending_traces_on_shutdown: bool,
    /// A trace that grows past this many bytes (encoded) is dropped and its later spans too; 0: no limit.
    #[serde(default)]
    pub maximum_trace_size_bytes: u64,
    /// ferrotel: bytes held by all pending traces; the oldest are evicted (counted) above it.
    #[serde(default = "default_total_bytes")]
    pub maximum_total_bytes: u64,
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionCache {
    #[serde(default)]
    pub sampled_cache_size: usize,
    #[serde(default)]
    pub non_sampled_cache_size: usize,
}

/// The most encoded bytes one request of decided traces carries (see `forward`).
const FORWARD_CHUNK_BYTES: usize = 1 << 20;

fn default_wait() -> Duration {
    Duration::from_secs(30)
}
fn default_num_traces() -> u64 {
    50_000
}
fn default_total_bytes() -> u64 {
    512 << 20
}

pub struct Factory;

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "tail_sampling"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &[SignalKind::Traces]
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedProcessor>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if c.policies.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::policies"),
                "at least one policy is needed",
            ));
        }
        if c.num_traces == 0 {
            errors.push(ConfigError::new(
                format!("{path}::num_traces"),
                "must be greater than 0",
            ));
        }
        if c.decision_wait.is_zero() {
            errors.push(ConfigError::new(
                format!("{path}::decision_wait"),
                "must be greater than 0",
            ));
        }
        let mut names = HashSet::new();
        for (i, p) in c.policies.iter().enumerate() {
            if !names.insert(p.name.clone()) {
                errors.push(ConfigError::new(
                    format!("{path}::policies::{i}::name"),
                    format!("duplicate policy name {:?}", p.name),
                ));
            }
            Policy::compile(p, &format!("{path}::policies::{i}"), &mut errors);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(c))
    }
}

impl PreparedProcessor for Config {
    fn create(
        &self,
        id: &ComponentId,
        _pipeline: &str,
        next: AnyConsumer,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        let AnyConsumer::Traces(next) = next else {
            return Err(StartError::new(
                format!("processors::{id}"),
                "tail_sampling handles traces only",
            ));
        };
        let mut errors = Vec::new();
        let policies: Vec<Policy> = self
            .policies
            .iter()
            .filter_map(|p| Policy::compile(p, "", &mut errors))
            .collect();
        Ok(AnyConsumer::Traces(TailSampler::start(
            id.to_string(),
            self.clone(),
            policies,
            next,
        )))
    }
}

type TraceId = [u8; 16];

fn trace_key(id: &[u8]) -> TraceId {
    let mut k = [0u8; 16];
    let n = id.len().min(16);
    k[..n].copy_from_slice(&id[..n]);
    k
}

struct Pending {
    /// Encoded `ExportTraceServiceRequest` pieces (field 1, one `ResourceSpans` each).
    segments: Vec<Bytes>,
    bytes: usize,
    spans: usize,
    arrived: Instant,
}

/// A bounded set that forgets its oldest members (otelcol uses an LRU; FIFO order here).
#[derive(Default)]
struct Cache {
    set: HashSet<TraceId>,
    order: VecDeque<TraceId>,
    cap: usize,
}

impl Cache {
    fn new(cap: usize) -> Self {
        Cache {
            cap,
            ..Default::default()
        }
    }
    fn insert(&mut self, id: TraceId) {
        if self.cap == 0 || !self.set.insert(id) {
            return;
        }
        self.order.push_back(id);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
    fn contains(&self, id: &TraceId) -> bool {
        self.set.contains(id)
    }
}

#[derive(Default)]
struct State {
    pending: HashMap<TraceId, Pending>,
    /// Arrival order, for decisions (oldest first) and evictions.
    order: VecDeque<TraceId>,
    total_bytes: usize,
    sampled: Cache,
    not_sampled: Cache,
    /// Traces dropped for size: their later spans are dropped too.
    too_large: Cache,
    closed: bool,
}

pub struct TailSampler {
    id: String,
    cfg: Config,
    policies: Vec<Policy>,
    state: Mutex<State>,
    next: Arc<dyn Consumer<Traces>>,
    ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A decided trace on its way out.
struct Decided {
    segments: Vec<Bytes>,
    spans: usize,
}

impl TailSampler {
    pub fn start(
        id: String,
        cfg: Config,
        policies: Vec<Policy>,
        next: Arc<dyn Consumer<Traces>>,
    ) -> Arc<Self> {
        let cap = cfg.decision_cache.clone();
        let expected = cfg.expected_new_traces_per_sec as usize;
        let state = State {
            pending: HashMap::with_capacity(expected.min(1 << 20)),
            sampled: Cache::new(cap.sampled_cache_size),
            not_sampled: Cache::new(cap.non_sampled_cache_size),
            too_large: Cache::new(cfg.num_traces.min(1 << 20) as usize),
            ..Default::default()
        };
        let me = Arc::new(TailSampler {
            id,
            cfg,
            policies,
            state: Mutex::new(state),
            next,
            ticker: Mutex::new(None),
        });
        // Only a weak reference in the task: the pipeline owns the processor.
        if tokio::runtime::Handle::try_current().is_ok() {
            let weak = Arc::downgrade(&me);
            let tick = (me.cfg.decision_wait / 10)
                .clamp(Duration::from_millis(10), Duration::from_secs(1));
            let task = tokio::spawn(async move {
                let mut iv = tokio::time::interval(tick);
                iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    iv.tick().await;
                    let Some(me) = weak.upgrade() else { return };
                    me.decide_due(Instant::now()).await;
                }
            });
            *me.ticker.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        }
        me
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides every trace whose `decision_wait` has passed (all of them with `now = None`).
    async fn decide_due(&self, now: Instant) {
        let due = {
            let mut st = self.lock();
            let mut due = Vec::new();
            while let Some(id) = st.order.front().copied() {
                let Some(p) = st.pending.get(&id) else {
                    st.order.pop_front();
                    continue;
                };
                if now.saturating_duration_since(p.arrived) < self.cfg.decision_wait {
                    break;
                }
                st.order.pop_front();
                if let Some(p) = st.pending.remove(&id) {
                    st.total_bytes = st.total_bytes.saturating_sub(p.bytes);
                    due.push((id, p));
                }
            }
            events::tail_sampling_traces_on_memory(&self.id, st.pending.len());
            due
        };
        if due.is_empty() {
            return;
        }
        let mut out = Vec::new();
        let mut decisions = Vec::new();
        for (id, p) in due {
            let started = std::time::Instant::now();
            let keep = self.evaluate(&id, &p);
            events::tail_sampling_decision_latency(&self.id, started.elapsed());
            decisions.push((id, keep));
            if keep {
                out.push(Decided {
                    segments: p.segments,
                    spans: p.spans,
                });
            }
        }
        {
            let mut st = self.lock();
            for (id, keep) in decisions {
                if keep {
                    st.sampled.insert(id);
                } else {
                    st.not_sampled.insert(id);
                }
            }
        }
        self.forward(out).await;
    }

    /// otelcol's rules: a `drop` verdict wins; otherwise any "sampled" keeps the trace.
    fn evaluate(&self, id: &TraceId, p: &Pending) -> bool {
        let mut resources = Vec::new();
        let mut bad = false;
        for seg in &p.segments {
            match opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
                seg.clone(),
            ) {
                Ok(r) => resources.extend(r.resource_spans),
                Err(_) => bad = true,
            }
        }
        if bad {
            events::tail_sampling_policy_evaluation_error(&self.id);
        }
        let view = TraceView {
            resources: &resources,
            spans: p.spans,
            bytes: p.bytes,
        };
        let mut sampled = false;
        let mut dropped = false;
        for pol in &self.policies {
            let d = pol.evaluate(id, &view);
            events::tail_sampling_policy_decision(
                &self.id,
                &pol.name,
                d == Decision::Sampled,
                p.spans,
            );
            match d {
                Decision::Dropped => {
                    dropped = true;
                    break;
                }
                Decision::Sampled => {
                    sampled = true;
                    if self.cfg.sample_on_first_match {
                        break;
                    }
                }
                Decision::NotSampled => {}
            }
        }
        let keep = sampled && !dropped;
        events::tail_sampling_global_decision(&self.id, keep);
        keep
    }

    /// Passes decided traces on, in requests of at most `FORWARD_CHUNK_BYTES` (a trace larger than
    /// that goes alone): a tick or a shutdown that decides 100,000 traces at once must not become
    /// one request over the 4 MiB a gRPC receiver (otelcol's or ferrotel's) takes by default.
    async fn forward(&self, out: Vec<Decided>) {
        let mut chunk: Vec<Decided> = Vec::new();
        let mut chunk_bytes = 0;
        for d in out {
            let bytes: usize = d.segments.iter().map(Bytes::len).sum();
            if !chunk.is_empty() && chunk_bytes + bytes > FORWARD_CHUNK_BYTES {
                self.forward_chunk(std::mem::take(&mut chunk)).await;
                chunk_bytes = 0;
            }
            chunk_bytes += bytes;
            chunk.push(d);
        }
        self.forward_chunk(chunk).await;
    }

    /// Passes one request of decided traces on. They were acknowledged upstream already: a refusal
    /// is retried for a while, then counted as lost.
    async fn forward_chunk(&self, out: Vec<Decided>) {
        if out.is_empty() {
            return;
        }
        let spans: usize = out.iter().map(|d| d.spans).sum();
        let len = out.iter().flat_map(|d| &d.segments).map(Bytes::len).sum();
        let mut buf = BytesMut::with_capacity(len);
        for s in out.iter().flat_map(|d| &d.segments) {
            buf.extend_from_slice(s);
        }
        let Ok(batch) = Batch::<Traces>::from_encoded(buf.freeze()) else {
            events::tail_sampling_lost_spans(&self.id, spans);
            return;
        };
        let mut delay = Duration::from_millis(50);
        for _ in 0..10 {
            match self.next.consume(batch.clone()).await {
                Ok(()) => return,
                Err(e) if e.is_retryable() => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::warn!(processor = %self.id, error = %e, "tail_sampling: sampled traces refused");
                    break;
                }
            }
        }
        events::tail_sampling_lost_spans(&self.id, spans);
    }

    /// Splits a batch into per-trace fragments and files them; returns fragments of traces already
    /// sampled (late spans), to be passed on at once.
    fn ingest(&self, resources: &[ResourceSpans]) -> Vec<Bytes> {
        let now = Instant::now();
        let mut late = Vec::new();
        let mut st = self.lock();
        for rs in resources {
            // Fragments of this resource, by trace id, keeping the scopes.
            let mut by_trace: Vec<(TraceId, ResourceSpans)> = Vec::new();
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let id = trace_key(&span.trace_id);
                    let frag = match by_trace.iter_mut().find(|(t, _)| *t == id) {
                        Some((_, f)) => f,
                        None => {
                            by_trace.push((
                                id,
                                ResourceSpans {
                                    resource: rs.resource.clone(),
                                    scope_spans: vec![],
                                    schema_url: rs.schema_url.clone(),
                                },
                            ));
                            &mut by_trace.last_mut().expect("just pushed").1
                        }
                    };
                    let same_scope = frag.scope_spans.last().is_some_and(|last| {
                        last.scope == ss.scope && last.schema_url == ss.schema_url
                    });
                    if !same_scope {
                        frag.scope_spans.push(ScopeSpans {
                            scope: ss.scope.clone(),
                            spans: vec![],
                            schema_url: ss.schema_url.clone(),
                        });
                    }
                    if let Some(last) = frag.scope_spans.last_mut() {
                        last.spans.push(span.clone());
                    }
                }
            }
            for (id, frag) in by_trace {
                let spans: usize = frag.scope_spans.iter().map(|s| s.spans.len()).sum();
                let mut buf = BytesMut::with_capacity(frag.encoded_len() + 8);
                prost::encoding::message::encode(1, &frag, &mut buf);
                let seg = buf.freeze();
                self.file(&mut st, id, seg, spans, now, &mut late);
            }
        }
        events::tail_sampling_traces_on_memory(&self.id, st.pending.len());
        late
    }

    fn file(
        &self,
        st: &mut State,
        id: TraceId,
        seg: Bytes,
        spans: usize,
        now: Instant,
        late: &mut Vec<Bytes>,
    ) {
        if st.sampled.contains(&id) {
            late.push(seg);
            return;
        }
        if st.not_sampled.contains(&id) || st.too_large.contains(&id) {
            events::tail_sampling_late_span_dropped(&self.id, spans);
            return;
        }
        let size = seg.len();
        let max_trace = self.cfg.maximum_trace_size_bytes as usize;
        if let Some(p) = st.pending.get_mut(&id) {
            if max_trace > 0 && p.bytes.saturating_add(size) > max_trace {
                let dropped = p.spans + spans;
                let bytes = p.bytes;
                st.pending.remove(&id);
                st.total_bytes = st.total_bytes.saturating_sub(bytes);
                st.too_large.insert(id);
                events::tail_sampling_evicted(&self.id, "trace_too_large", dropped);
                return;
            }
            p.segments.push(seg);
            p.bytes += size;
            p.spans += spans;
            st.total_bytes += size;
        } else {
            if max_trace > 0 && size > max_trace {
                st.too_large.insert(id);
                events::tail_sampling_evicted(&self.id, "trace_too_large", spans);
                return;
            }
            events::tail_sampling_new_trace(&self.id);
            // Make room: num_traces, then the total byte bound (oldest first).
            while st.pending.len() as u64 >= self.cfg.num_traces {
                if !self.evict_oldest(st, "num_traces") {
                    break;
                }
            }
            st.pending.insert(
                id,
                Pending {
                    segments: vec![seg],
                    bytes: size,
                    spans,
                    arrived: now,
                },
            );
            st.order.push_back(id);
            st.total_bytes += size;
        }
        let max_total = self.cfg.maximum_total_bytes as usize;
        while max_total > 0 && st.total_bytes > max_total {
            if !self.evict_oldest(st, "maximum_total_bytes") {
                break;
            }
        }
    }

    /// Drops the oldest pending trace undecided (otelcol's `sampling_trace_dropped_too_early`).
    fn evict_oldest(&self, st: &mut State, reason: &'static str) -> bool {
        while let Some(old) = st.order.pop_front() {
            if let Some(p) = st.pending.remove(&old) {
                st.total_bytes = st.total_bytes.saturating_sub(p.bytes);
                st.not_sampled.insert(old);
                events::tail_sampling_evicted(&self.id, reason, p.spans);
                return true;
            }
        }
        false
    }

    /// Bytes held by pending traces and how many traces (for tests and the memory measurement).
    pub fn held(&self) -> (usize, usize) {
        let st = self.lock();
        (st.total_bytes, st.pending.len())
    }
}

#[async_trait]
impl Consumer<Traces> for TailSampler {
    async fn consume(&self, mut batch: Batch<Traces>) -> Result<(), ConsumeError> {
        if self.lock().closed {
            return Err(ConsumeError::retryable("tail_sampling is shutting down"));
        }
        let late = self.ingest(batch.resources()?);
        if late.is_empty() {
            return Ok(());
        }
        let mut buf = BytesMut::new();
        for s in late {
            buf.extend_from_slice(&s);
        }
        let batch = Batch::<Traces>::from_encoded(buf.freeze())?;
        self.next.consume(batch).await
    }

    async fn shutdown(&self, deadline: tokio::time::Instant) {
        if let Some(t) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
        self.lock().closed = true;
        if self.cfg.drop_pending_traces_on_shutdown {
            let mut st = self.lock();
            let n: usize = st.pending.values().map(|p| p.spans).sum();
            st.pending.clear();
            st.order.clear();
            st.total_bytes = 0;
            events::tail_sampling_evicted(&self.id, "shutdown", n);
        } else {
            // Decide everything now (otelcol waits for nothing either).
            let far = Instant::now() + self.cfg.decision_wait + Duration::from_secs(1);
            let _ = tokio::time::timeout_at(deadline, self.decide_due(far)).await;
        }
    }
}

#[cfg(test)]
mod tests;
