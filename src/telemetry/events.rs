//! Every metric the collector reports about itself, one function per event, under otelcol's names and
//! labels. The `metrics` crate makes each call a no-op until [`super::prometheus`] installs a recorder
//! (`service::telemetry::metrics::level: none` never does).
//!
//! Counters are exact: a receiver counts a request's items once, after the pipeline has answered;
//! an exporter counts a batch once, after its last attempt.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{counter, gauge, histogram, Counter};

use crate::signal::SignalKind;

/// How much is reported (`service::telemetry::metrics::level`), as otelcol's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    None = 0,
    Basic = 1,
    Normal = 2,
    Detailed = 3,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "none" => Level::None,
            "basic" => Level::Basic,
            "normal" => Level::Normal,
            "detailed" => Level::Detailed,
            _ => return None,
        })
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Detailed as u8);

/// Sets the level the `normal`-level events check (receiver and exporter counters are `basic`).
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

fn enabled(level: Level) -> bool {
    RECORDING.load(Ordering::Acquire) && LEVEL.load(Ordering::Relaxed) >= level as u8
}

/// One name per signal: `[spans, metric_points, log_records]`.
type Names = [&'static str; 3];

fn pick(names: &Names, signal: SignalKind) -> &'static str {
    match signal {
        SignalKind::Traces => names[0],
        SignalKind::Metrics => names[1],
        SignalKind::Logs => names[2],
    }
}

macro_rules! per_signal {
    ($prefix:literal) => {
        [
            concat!($prefix, "spans"),
            concat!($prefix, "metric_points"),
            concat!($prefix, "log_records"),
        ]
    };
}

const RECEIVER_ACCEPTED: Names = per_signal!("otelcol_receiver_accepted_");
const RECEIVER_REFUSED: Names = per_signal!("otelcol_receiver_refused_");
const RECEIVER_FAILED: Names = per_signal!("otelcol_receiver_failed_");
const EXPORTER_SENT: Names = per_signal!("otelcol_exporter_sent_");
const EXPORTER_SEND_FAILED: Names = per_signal!("otelcol_exporter_send_failed_");
const EXPORTER_ENQUEUE_FAILED: Names = per_signal!("otelcol_exporter_enqueue_failed_");
/// otelcol's (processorhelper) names for items a processor dropped.
const PROCESSOR_DROPPED: Names = per_signal!("otelcol_processor_dropped_");

/// Requests a receiver's authenticator refused (ferrotel's; otelcol only logs them).
pub const RECEIVER_UNAUTHENTICATED: &str = "ferrotel_receiver_unauthenticated_requests";
/// UDP packets a receiver dropped itself (ferrotel's; otelcol only logs them), by `reason`:
/// `queue_full`, `too_large`, `undecodable`.
pub const RECEIVER_UDP_DROPPED: &str = "ferrotel_receiver_udp_dropped_packets";
pub const QUEUE_SIZE: &str = "otelcol_exporter_queue_size";
pub const QUEUE_CAPACITY: &str = "otelcol_exporter_queue_capacity";
pub const BATCH_SEND_SIZE: &str = "otelcol_processor_batch_batch_send_size";
pub const BATCH_TIMEOUT_TRIGGER: &str = "otelcol_processor_batch_timeout_trigger_send";
pub const BATCH_SIZE_TRIGGER: &str = "otelcol_processor_batch_batch_size_trigger_send";

/// Set once a recorder is installed; until then (and with `level: none`) every event returns at once.
static RECORDING: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_recording() {
    RECORDING.store(true, Ordering::Release);
}

type CounterCache = HashMap<(&'static str, &'static str), HashMap<String, Counter>>;

thread_local! {
    /// Counter handles per (name, transport) and component id, so that counting a request is a map
    /// lookup and an atomic add, with no allocation and no registry lock.
    static COUNTERS: RefCell<CounterCache> = RefCell::new(HashMap::new());
}

/// Adds `n` to the counter `name` labelled with the component (`label` = `id`) and, for receivers, the
/// transport.
fn add(name: &'static str, label: &'static str, id: &str, transport: &'static str, n: usize) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    COUNTERS.with(|c| {
        let mut c = c.borrow_mut();
        let by_id = c.entry((name, transport)).or_default();
        if let Some(counter) = by_id.get(id) {
            counter.increment(n as u64);
            return;
        }
        let counter = if transport.is_empty() {
            counter!(name, label => id.to_string())
        } else {
            counter!(name, label => id.to_string(), "transport" => transport)
        };
        counter.increment(n as u64);
        by_id.insert(id.to_string(), counter);
    });
}

/// Items a receiver handed to its pipeline and the pipeline took.
pub fn receiver_accepted(receiver: &str, transport: &'static str, signal: SignalKind, n: usize) {
    add(
        pick(&RECEIVER_ACCEPTED, signal),
        "receiver",
        receiver,
        transport,
        n,
    );
}

/// Items the pipeline refused with a retryable error (the sender was told to retry), and items of a
/// request the receiver refused whole as invalid (prost could not decode it; see `signal::scan`).
pub fn receiver_refused(receiver: &str, transport: &'static str, signal: SignalKind, n: usize) {
    add(
        pick(&RECEIVER_REFUSED, signal),
        "receiver",
        receiver,
        transport,
        n,
    );
}

/// Items the pipeline failed permanently.
pub fn receiver_failed(receiver: &str, transport: &'static str, signal: SignalKind, n: usize) {
    add(
        pick(&RECEIVER_FAILED, signal),
        "receiver",
        receiver,
        transport,
        n,
    );
}

/// Items the destination acknowledged.
pub fn exporter_sent(exporter: &str, signal: SignalKind, n: usize) {
    add(pick(&EXPORTER_SENT, signal), "exporter", exporter, "", n);
}

/// A request refused by the receiver's authenticator (gRPC `UNAUTHENTICATED` / HTTP 401).
pub fn receiver_unauthenticated(receiver: &str, transport: &'static str) {
    add(RECEIVER_UNAUTHENTICATED, "receiver", receiver, transport, 1);
}

/// A UDP packet the receiver dropped before decoding it into the pipeline (`reason`: `queue_full`,
/// `too_large`, `undecodable`). Packets are counted, not spans: a dropped packet's spans are unknown.
pub fn receiver_udp_dropped(receiver: &str, transport: &'static str, reason: &'static str) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    counter!(RECEIVER_UDP_DROPPED, "receiver" => receiver.to_string(), "transport" => transport, "reason" => reason)
        .increment(1);
}

/// Items dropped after the last attempt (permanent error, retries exhausted, shutdown deadline).
pub fn exporter_send_failed(exporter: &str, signal: SignalKind, n: usize) {
    add(
        pick(&EXPORTER_SEND_FAILED, signal),
        "exporter",
        exporter,
        "",
        n,
    );
}

/// Items a processor dropped after accepting them (the batch processor: data that could not be
/// decoded, refused permanently downstream, or still held at the shutdown deadline).
pub fn processor_dropped(processor: &str, signal: SignalKind, n: usize) {
    if n > 0 {
        add(
            pick(&PROCESSOR_DROPPED, signal),
            "processor",
            processor,
            "",
            n,
        );
    }
}

/// Items refused because the sending queue was full.
pub fn exporter_enqueue_failed(exporter: &str, signal: SignalKind, n: usize) {
    add(
        pick(&EXPORTER_ENQUEUE_FAILED, signal),
        "exporter",
        exporter,
        "",
        n,
    );
}

/// Batches of a persistent queue lost to damaged files (ferrotel's own metric; otelcol has none).
pub const EXPORTER_QUEUE_LOST: &str = "ferrotel_exporter_queue_lost_batches";

/// Batches of a persistent queue that could not be read back (damaged files). Rare: not cached.
pub fn exporter_queue_lost(exporter: &str, signal: SignalKind, batches: usize) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    counter!(EXPORTER_QUEUE_LOST, "exporter" => exporter.to_string(), "data_type" => signal.as_str())
        .increment(batches as u64);
}

/// Configuration reloads (SIGHUP) by outcome (ferrotel's own metric; otelcol has none):
/// `ferrotel_config_reloads_total{outcome="success"|"failure"}`. A failure (invalid config, a port in
/// use, an unreadable certificate) leaves the previous configuration running.
pub const CONFIG_RELOADS: &str = "ferrotel_config_reloads";

/// A reload finished: the new configuration runs (`success`) or the old one was kept (`failure`).
pub fn config_reload(success: bool) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    let outcome = if success { "success" } else { "failure" };
    counter!(CONFIG_RELOADS, "outcome" => outcome).increment(1);
}

/// How full a sending queue is, read when metrics are scraped: `None` once the queue is gone.
pub type QueueProbe = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

struct Queue {
    capacity: u64,
    size: QueueProbe,
}

type QueueKey = (String, SignalKind);

fn queues() -> &'static Mutex<BTreeMap<QueueKey, Queue>> {
    static QUEUES: OnceLock<Mutex<BTreeMap<QueueKey, Queue>>> = OnceLock::new();
    QUEUES.get_or_init(Default::default)
}

/// Registers an exporter's sending queue for `otelcol_exporter_queue_size` and
/// `otelcol_exporter_queue_capacity` (in the queue's sizer units). A later registration under the same
/// exporter and signal (a reloaded service) replaces it.
pub fn exporter_queue(
    exporter: &str,
    signal: SignalKind,
    capacity: u64,
    size: impl Fn() -> Option<u64> + Send + Sync + 'static,
) {
    queues().lock().unwrap_or_else(|e| e.into_inner()).insert(
        (exporter.to_string(), signal),
        Queue {
            capacity,
            size: Arc::new(size),
        },
    );
}

/// Reads every registered queue into its gauges; called before each scrape.
pub fn update_queue_gauges() {
    let mut queues = queues().lock().unwrap_or_else(|e| e.into_inner());
    queues.retain(|(exporter, signal), q| {
        let labels = [
            ("exporter", exporter.clone()),
            ("data_type", signal.as_str().to_string()),
        ];
        match (q.size)() {
            Some(size) => {
                gauge!(QUEUE_SIZE, &labels).set(size as f64);
                gauge!(QUEUE_CAPACITY, &labels).set(q.capacity as f64);
                true
            }
            None => false,
        }
    });
}

/// The batch processor sent a batch of `items` (spans, metric points or log records); `normal` level,
/// as otelcol.
pub fn processor_batch_batch_send_size(processor: &str, items: usize) {
    if enabled(Level::Normal) {
        histogram!(BATCH_SEND_SIZE, "processor" => processor.to_string()).record(items as f64);
    }
}

/// `otelcol_processor_batch_timeout_trigger_send`: a batch was sent because `timeout` passed.
pub fn processor_batch_timeout_trigger_send(processor: &str) {
    if enabled(Level::Normal) {
        counter!(BATCH_TIMEOUT_TRIGGER, "processor" => processor.to_string()).increment(1);
    }
}

/// `otelcol_processor_batch_batch_size_trigger_send`: a batch was sent because it reached its size.
pub fn processor_batch_size_trigger_send(processor: &str) {
    if enabled(Level::Normal) {
        counter!(BATCH_SIZE_TRIGGER, "processor" => processor.to_string()).increment(1);
    }
}

/// otelcol's histogram boundaries for `otelcol_processor_batch_batch_send_size`.
pub const BATCH_SEND_SIZE_BUCKETS: &[f64] = &[
    10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0,
    6000.0, 7000.0, 8000.0, 9000.0, 10000.0, 20000.0, 30000.0, 50000.0, 100000.0,
];

/// Registers otelcol's help texts (the `# HELP` lines) with the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    let per_item = [
        (&RECEIVER_ACCEPTED, "successfully pushed into the pipeline"),
        (
            &RECEIVER_REFUSED,
            "that could not be pushed into the pipeline",
        ),
        (
            &RECEIVER_FAILED,
            "that failed to be processed by the pipeline",
        ),
        (&EXPORTER_SENT, "successfully sent to destination"),
        (
            &EXPORTER_SEND_FAILED,
            "in failed attempts to send to destination",
        ),
        (
            &EXPORTER_ENQUEUE_FAILED,
            "failed to be added to the sending queue",
        ),
        (&PROCESSOR_DROPPED, "that were dropped by the processor"),
    ];
    for (names, what) in per_item {
        for (name, item) in names.iter().zip(["spans", "metric points", "log records"]) {
            describe_counter!(*name, format!("Number of {item} {what}."));
        }
    }
    describe_counter!(
        RECEIVER_UNAUTHENTICATED,
        "Number of requests refused by the receiver's authenticator."
    );
    describe_counter!(
        CONFIG_RELOADS,
        "Number of configuration reloads (SIGHUP), by outcome; a failed one keeps the running configuration."
    );
    describe_counter!(
        RECEIVER_UDP_DROPPED,
        "Number of UDP packets the receiver dropped (queue full, too large, undecodable)."
    );
    describe_gauge!(QUEUE_SIZE, "Current size of the retry queue (in batches).");
    describe_gauge!(
        QUEUE_CAPACITY,
        "Fixed capacity of the retry queue (in batches)."
    );
    describe_histogram!(BATCH_SEND_SIZE, "Number of units in the batch");
    describe_counter!(
        BATCH_TIMEOUT_TRIGGER,
        "Number of times the batch was sent due to a timeout trigger"
    );
    describe_counter!(
        BATCH_SIZE_TRIGGER,
        "Number of times the batch was sent due to a size trigger"
    );
}

const FILTER_FILTERED: Names = [
    "otelcol_processor_filter_spans.filtered",
    "otelcol_processor_filter_datapoints.filtered",
    "otelcol_processor_filter_logs.filtered",
];

/// `otelcol_processor_filter_{spans,datapoints,logs}.filtered`: items the filter processor dropped,
/// labelled `filter` with the processor id, as otelcol.
pub fn processor_filter_filtered(processor: &str, signal: SignalKind, n: usize) {
    if n > 0 {
        add(pick(&FILTER_FILTERED, signal), "filter", processor, "", n);
    }
}

// ---- Sampling processors and the loadbalancing exporter (otelcol-contrib's names) ----

pub const PROBABILISTIC_TRACES_SAMPLED: &str =
    "otelcol_processor_probabilistic_sampler_count_traces_sampled";
pub const PROBABILISTIC_LOGS_SAMPLED: &str =
    "otelcol_processor_probabilistic_sampler_count_logs_sampled";

/// `probabilistic_sampler` decisions: spans (or log records) by randomness source and outcome.
pub fn probabilistic_sampler_count(
    processor: &str,
    logs: bool,
    policy: &str,
    sampled: bool,
    n: u64,
) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    let name = if logs {
        PROBABILISTIC_LOGS_SAMPLED
    } else {
        PROBABILISTIC_TRACES_SAMPLED
    };
    counter!(name, "processor" => processor.to_string(), "policy" => policy.to_string(), "sampled" => sampled.to_string())
        .increment(n);
}

pub const TAIL_TRACES_SAMPLED: &str = "otelcol_processor_tail_sampling_count_traces_sampled";
pub const TAIL_SPANS_SAMPLED: &str = "otelcol_processor_tail_sampling_count_spans_sampled";
pub const TAIL_GLOBAL_SAMPLED: &str = "otelcol_processor_tail_sampling_global_count_traces_sampled";
pub const TAIL_DECISION_LATENCY: &str = "otelcol_processor_tail_sampling_sampling_decision_latency";
pub const TAIL_EVAL_ERROR: &str =
    "otelcol_processor_tail_sampling_sampling_policy_evaluation_error";
pub const TAIL_TRACES_ON_MEMORY: &str = "otelcol_processor_tail_sampling_sampling_traces_on_memory";
pub const TAIL_NEW_TRACE: &str = "otelcol_processor_tail_sampling_new_trace_id_received";
pub const TAIL_DROPPED_TOO_EARLY: &str =
    "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early";
/// ferrotel: spans evicted undecided, by reason (`num_traces`, `maximum_total_bytes`,
/// `trace_too_large`, `shutdown`).
pub const TAIL_EVICTED_SPANS: &str = "ferrotel_processor_tail_sampling_evicted_spans";
/// ferrotel: late spans of a trace decided "not sampled" (or too large), dropped.
pub const TAIL_LATE_DROPPED: &str = "ferrotel_processor_tail_sampling_late_spans_dropped";
/// ferrotel: sampled spans the next component refused for good.
pub const TAIL_LOST: &str = "ferrotel_processor_tail_sampling_sampled_spans_lost";

fn processor_counter(name: &'static str, processor: &str, n: u64) {
    if RECORDING.load(Ordering::Acquire) {
        counter!(name, "processor" => processor.to_string()).increment(n);
    }
}

/// One policy's verdict on one trace (`sampled` true/false), counted in traces and spans.
pub fn tail_sampling_policy_decision(processor: &str, policy: &str, sampled: bool, spans: usize) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    let labels = [
        ("processor", processor.to_string()),
        ("policy", policy.to_string()),
        ("sampled", sampled.to_string()),
    ];
    counter!(TAIL_TRACES_SAMPLED, &labels).increment(1);
    counter!(TAIL_SPANS_SAMPLED, &labels).increment(spans as u64);
}

/// The final decision on one trace.
pub fn tail_sampling_global_decision(processor: &str, sampled: bool) {
    if RECORDING.load(Ordering::Acquire) {
        counter!(TAIL_GLOBAL_SAMPLED, "processor" => processor.to_string(), "sampled" => sampled.to_string())
            .increment(1);
    }
}

/// Time to evaluate every policy on one trace, in microseconds as otelcol reports it.
pub fn tail_sampling_decision_latency(processor: &str, took: std::time::Duration) {
    if enabled(Level::Normal) {
        histogram!(TAIL_DECISION_LATENCY, "processor" => processor.to_string())
            .record(took.as_secs_f64() * 1e6);
    }
}

pub fn tail_sampling_policy_evaluation_error(processor: &str) {
    processor_counter(TAIL_EVAL_ERROR, processor, 1);
}

pub fn tail_sampling_traces_on_memory(processor: &str, traces: usize) {
    if RECORDING.load(Ordering::Acquire) {
        gauge!(TAIL_TRACES_ON_MEMORY, "processor" => processor.to_string()).set(traces as f64);
    }
}

pub fn tail_sampling_new_trace(processor: &str) {
    processor_counter(TAIL_NEW_TRACE, processor, 1);
}

/// A pending trace evicted undecided: counted once in otelcol's `…_dropped_too_early` (traces) and
/// in spans by reason.
pub fn tail_sampling_evicted(processor: &str, reason: &'static str, spans: usize) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    if reason != "shutdown" {
        counter!(TAIL_DROPPED_TOO_EARLY, "processor" => processor.to_string()).increment(1);
    }
    counter!(TAIL_EVICTED_SPANS, "processor" => processor.to_string(), "reason" => reason)
        .increment(spans as u64);
}

pub fn tail_sampling_late_span_dropped(processor: &str, spans: usize) {
    processor_counter(TAIL_LATE_DROPPED, processor, spans as u64);
}

pub fn tail_sampling_lost_spans(processor: &str, spans: usize) {
    processor_counter(TAIL_LOST, processor, spans as u64);
}

pub const LB_NUM_BACKENDS: &str = "otelcol_loadbalancer_num_backends";
pub const LB_BACKEND_OUTCOME: &str = "otelcol_loadbalancer_backend_outcome";
pub const LB_NUM_RESOLUTIONS: &str = "otelcol_loadbalancer_num_resolutions";
pub const LB_BACKEND_LATENCY: &str = "otelcol_loadbalancer_backend_latency";

/// Backends currently in the ring.
pub fn loadbalancer_num_backends(exporter: &str, n: usize) {
    if RECORDING.load(Ordering::Acquire) {
        gauge!(LB_NUM_BACKENDS, "exporter" => exporter.to_string()).set(n as f64);
    }
}

/// One resolution of the backend list (`resolver`: static, dns, k8s).
pub fn loadbalancer_num_resolutions(exporter: &str, resolver: &'static str, success: bool) {
    if RECORDING.load(Ordering::Acquire) {
        counter!(LB_NUM_RESOLUTIONS, "exporter" => exporter.to_string(), "resolver" => resolver, "success" => success.to_string())
            .increment(1);
    }
}

/// One request to one backend: its outcome and latency (milliseconds, as otelcol).
pub fn loadbalancer_backend_outcome(
    exporter: &str,
    endpoint: &str,
    success: bool,
    took: std::time::Duration,
) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    counter!(LB_BACKEND_OUTCOME, "exporter" => exporter.to_string(), "endpoint" => endpoint.to_string(), "success" => success.to_string())
        .increment(1);
    histogram!(LB_BACKEND_LATENCY, "exporter" => exporter.to_string(), "endpoint" => endpoint.to_string())
        .record(took.as_secs_f64() * 1e3);
}

// ---- The spanmetrics connector (ferrotel's names; otelcol's connector reports none) ----

/// Series the `spanmetrics` connector dropped from memory, by `reason`: `series_cache_full` and
/// `resource_cache_full` (dropped after their last export), `expired` (`metrics_expiration`),
/// `resource_dropped` (too many evicted resources waiting for a flush: dropped unexported).
pub const SPANMETRICS_SERIES_EVICTED: &str = "ferrotel_connector_spanmetrics_series_evicted";
/// Metric requests the `spanmetrics` connector could not hand to its metrics pipeline (refused
/// permanently, or still refused after its retries).
pub const SPANMETRICS_FLUSH_FAILED: &str = "ferrotel_connector_spanmetrics_flush_failed";

pub fn spanmetrics_series_evicted(connector: &str, reason: &'static str, n: usize) {
    if n == 0 || !RECORDING.load(Ordering::Acquire) {
        return;
    }
    counter!(SPANMETRICS_SERIES_EVICTED, "connector" => connector.to_string(), "reason" => reason)
        .increment(n as u64);
}

pub fn spanmetrics_flush_failed(connector: &str) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    counter!(SPANMETRICS_FLUSH_FAILED, "connector" => connector.to_string()).increment(1);
}

const KAFKA_RECEIVER_MESSAGES: &str = "otelcol_kafka_receiver_messages";
const KAFKA_RECEIVER_UNMARSHAL_FAILED: Names = [
    "otelcol_kafka_receiver_unmarshal_failed_spans",
    "otelcol_kafka_receiver_unmarshal_failed_metric_points",
    "otelcol_kafka_receiver_unmarshal_failed_log_records",
];

/// `otelcol_kafka_receiver_messages`: messages the `kafka` receiver read, labelled as otelcol
/// (`name` = receiver id, `topic`, `partition`).
pub fn kafka_receiver_messages(receiver: &str, topic: &str, partition: i32) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    counter!(KAFKA_RECEIVER_MESSAGES, "name" => receiver.to_string(), "topic" => topic.to_string(), "partition" => partition.to_string())
        .increment(1);
}

/// `otelcol_kafka_receiver_unmarshal_failed_{spans,metric_points,log_records}`: messages the `kafka`
/// receiver could not decode (one per message, as otelcol counts them: the items are unknown).
pub fn kafka_receiver_unmarshal_failed(
    receiver: &str,
    signal: SignalKind,
    topic: &str,
    partition: i32,
) {
    if !RECORDING.load(Ordering::Acquire) {
        return;
    }
    counter!(pick(&KAFKA_RECEIVER_UNMARSHAL_FAILED, signal), "name" => receiver.to_string(), "topic" => topic.to_string(), "partition" => partition.to_string())
        .increment(1);
}
