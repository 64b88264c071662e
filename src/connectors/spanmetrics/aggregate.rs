//! The aggregation state: resources → series → calls, duration histogram, exemplars, events; and the
//! flush that turns it into OTLP metrics.
//!
//! Memory is bounded three ways: `resource_metrics_cache_size` resources (least recently used
//! evicted, exported once more at the next flush so nothing aggregated is lost),
//! `aggregation_cardinality_limit` series per resource and metric (otelcol's overflow series), and
//! `series_cache_size` series in all. When the series cache is full a new series counts in its
//! resource's overflow series; the next flush, having exported everything, evicts the series that
//! were not updated during the interval it closes. Every eviction is counted.
//!
//! Series keys are exact (a presence byte and a typed, length-prefixed encoding per dimension), so
//! two different attribute sets never share a series (otelcol joins values with a NUL byte, which
//! lets an absent dimension and a shifted value collide).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use prost::Message;

use super::config::{self, Config, Dimension};
use super::histogram::{Explicit, Exponential};

/// The attribute otelcol puts on the series that takes what is over the cardinality limit.
pub const OVERFLOW_KEY: &str = "otel.metric.overflow";
pub const SCOPE_NAME: &str = "spanmetricsconnector";
const SCOPE_NAME_KEY: &str = "span.instrumentation.scope.name";
const SCOPE_VERSION_KEY: &str = "span.instrumentation.scope.version";

/// Why series left the cache (the `reason` of the eviction counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvictReason {
    /// `series_cache_size` reached: idle series dropped after they were exported.
    SeriesCacheFull,
    /// `resource_metrics_cache_size` reached: a resource's series dropped after their last export.
    ResourceCacheFull,
    /// More evicted resources than `resource_metrics_cache_size` waited for a flush: dropped
    /// without their last export (their counts since the previous flush are lost).
    ResourceDropped,
    /// Not updated for `metrics_expiration`.
    Expired,
}

impl EvictReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EvictReason::SeriesCacheFull => "series_cache_full",
            EvictReason::ResourceCacheFull => "resource_cache_full",
            EvictReason::ResourceDropped => "resource_dropped",
            EvictReason::Expired => "expired",
        }
    }
}

/// The settings the hot path reads, computed once from the config.
struct Settings {
    dimensions: Vec<Dimension>,
    /// `dimensions` followed by `events.dimensions`.
    event_dimensions: Vec<Dimension>,
    include: [bool; 4],
    scopes: Vec<String>,
    key_attributes: Vec<String>,
    unit_divider: f64,
    unit: &'static str,
    bounds: Arc<[f64]>,
    exponential: Option<usize>,
    histogram: bool,
    exemplars: bool,
    max_exemplars: usize,
    events: bool,
    delta: bool,
    cardinality_limit: usize,
    series_cap: usize,
    resource_cap: usize,
    expiration_ns: u64,
    timestamp_cache: usize,
    calls_name: String,
    duration_name: String,
    events_name: String,
}

impl Settings {
    fn new(cfg: &Config) -> Self {
        let name = |n: &str| {
            if cfg.namespace.is_empty() {
                n.to_string()
            } else {
                format!("{}.{n}", cfg.namespace)
            }
        };
        let excluded = |d: &str| cfg.exclude_dimensions.iter().any(|e| e == d);
        Settings {
            dimensions: cfg.dimensions.clone(),
            event_dimensions: cfg
                .dimensions
                .iter()
                .chain(&cfg.events.dimensions)
                .cloned()
                .collect(),
            include: config::DEFAULT_DIMENSIONS.map(|d| !excluded(d)),
            scopes: cfg.include_instrumentation_scope.clone(),
            key_attributes: cfg.resource_metrics_key_attributes.clone(),
            unit_divider: cfg.histogram.unit.divider(),
            unit: cfg.histogram.unit.as_str(),
            bounds: Arc::from(cfg.explicit_bounds()),
            exponential: cfg.exponential_max_size(),
            histogram: !cfg.histogram.disable,
            exemplars: cfg.exemplars.enabled,
            max_exemplars: cfg.exemplars.max_per_data_point.unwrap_or(usize::MAX),
            events: cfg.events.enabled,
            delta: cfg.is_delta(),
            cardinality_limit: cfg.aggregation_cardinality_limit.max(0) as usize,
            series_cap: cfg.series_cache_size.max(1),
            resource_cap: cfg.resource_metrics_cache_size.max(1),
            expiration_ns: cfg.metrics_expiration.as_nanos().min(u64::MAX as u128) as u64,
            timestamp_cache: cfg.metric_timestamp_cache_size.max(1),
            calls_name: name("calls"),
            duration_name: name("duration"),
            events_name: name("events"),
        }
    }
}

#[derive(Debug, Clone)]
enum Hist {
    None,
    Explicit(Explicit),
    Exponential(Exponential),
}

/// One series of `calls` and `duration` (they share dimensions, as in otelcol).
#[derive(Debug)]
struct Series {
    attributes: Vec<KeyValue>,
    calls: u64,
    hist: Hist,
    exemplars: Vec<Exemplar>,
    start_ns: u64,
    last_seen_ns: u64,
    /// The flush generation it was last updated in.
    touched: u64,
}

/// One series of the `events` metric.
#[derive(Debug)]
struct EventSeries {
    attributes: Vec<KeyValue>,
    count: u64,
    exemplars: Vec<Exemplar>,
    start_ns: u64,
    last_seen_ns: u64,
    touched: u64,
}

type Key = Box<[u8]>;

struct ResourceEntry {
    attributes: Vec<KeyValue>,
    series: HashMap<Key, Series>,
    overflow: Option<Series>,
    events: HashMap<Key, EventSeries>,
    events_overflow: Option<EventSeries>,
    /// Bumped on every use, for least-recently-used eviction.
    last_used: u64,
}

impl ResourceEntry {
    fn series_count(&self) -> usize {
        self.series.len()
            + self.events.len()
            + usize::from(self.overflow.is_some())
            + usize::from(self.events_overflow.is_some())
    }
}

/// Remembers when each delta series was last flushed (the next point's start time), bounded:
/// the entry written longest ago goes first.
#[derive(Default)]
struct TimestampCache {
    map: HashMap<Key, (u64, u64)>,
    order: VecDeque<(Key, u64)>,
    next: u64,
    cap: usize,
}

impl TimestampCache {
    fn get(&self, k: &[u8]) -> Option<u64> {
        self.map.get(k).map(|(ts, _)| *ts)
    }

    fn put(&mut self, k: Key, ts: u64) {
        self.next += 1;
        let stamp = self.next;
        self.order.push_back((k.clone(), stamp));
        self.map.insert(k, (ts, stamp));
        while self.map.len() > self.cap {
            let Some((old, s)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|(_, cur)| *cur == s) {
                self.map.remove(&old);
            }
        }
        // Entries re-written leave stale queue items behind; keep the queue proportional.
        if self.order.len() > 2 * self.cap + 16 {
            let map = &self.map;
            self.order
                .retain(|(k, s)| map.get(k).is_some_and(|(_, cur)| cur == s));
        }
    }
}

/// What one flush produced.
#[derive(Debug, Default)]
pub struct Flushed {
    pub resource_metrics: Vec<ResourceMetrics>,
    /// Series that left the cache, by reason.
    pub evicted: Vec<(EvictReason, usize)>,
}

/// The aggregation state. Not synchronised: the connector holds it behind a mutex.
pub struct Aggregator {
    s: Settings,
    resources: HashMap<Key, ResourceEntry>,
    /// Evicted resources waiting for their last export.
    retired: Vec<ResourceEntry>,
    series_total: usize,
    use_clock: u64,
    generation: u64,
    delta_starts: TimestampCache,
    key_buf: Vec<u8>,
    resource_buf: Vec<u8>,
    evicted: HashMap<EvictReason, usize>,
}

impl Aggregator {
    pub fn new(cfg: &Config) -> Self {
        let s = Settings::new(cfg);
        let delta_starts = TimestampCache {
            cap: s.timestamp_cache,
            ..Default::default()
        };
        Aggregator {
            s,
            resources: HashMap::new(),
            retired: Vec::new(),
            series_total: 0,
            use_clock: 0,
            generation: 1,
            delta_starts,
            key_buf: Vec::with_capacity(256),
            resource_buf: Vec::with_capacity(256),
            evicted: HashMap::new(),
        }
    }

    /// Series held now (including overflow and events series, and evicted resources not yet flushed).
    pub fn series_count(&self) -> usize {
        self.series_total
    }

    pub fn resource_count(&self) -> usize {
        self.resources.len()
    }

    /// Adds every span of `resource_spans` (received at `now_ns`, Unix nanoseconds). Resources
    /// without a `service.name` are skipped, as otelcol does.
    pub fn aggregate(&mut self, resource_spans: &[ResourceSpans], now_ns: u64) {
        let mut key = std::mem::take(&mut self.key_buf);
        for rs in resource_spans {
            let empty = Vec::new();
            let res_attrs = rs.resource.as_ref().map_or(&empty, |r| &r.attributes);
            let Some(service) = find(res_attrs, config::SERVICE_NAME) else {
                continue;
            };
            let service = match &service.value {
                Some(V::StringValue(s)) => s.as_str(),
                _ => "",
            };
            if rs.scope_spans.iter().all(|ss| ss.spans.is_empty()) {
                continue;
            }
            self.resource_key(res_attrs);
            let rkey = std::mem::take(&mut self.resource_buf);
            self.ensure_resource(&rkey, res_attrs);
            // Taken out of the map for the resource's spans: one lookup per resource, not per span.
            let Some((stored_key, mut entry)) = self.resources.remove_entry(&rkey[..]) else {
                self.resource_buf = rkey;
                continue;
            };
            for ss in &rs.scope_spans {
                let scope = scope_dims(&self.s, ss.scope.as_ref());
                for span in &ss.spans {
                    let cx = SpanCx {
                        service,
                        span,
                        scope,
                        res_attrs,
                    };
                    self.add_span(&mut entry, &mut key, &cx, now_ns);
                }
            }
            self.resources.insert(stored_key, entry);
            self.resource_buf = rkey;
        }
        self.key_buf = key;
    }

    /// Encodes the identifying resource attributes into `resource_buf`.
    fn resource_key(&mut self, attrs: &[KeyValue]) {
        let mut picked: Vec<&KeyValue> = attrs
            .iter()
            .filter(|kv| {
                self.s.key_attributes.is_empty() || self.s.key_attributes.contains(&kv.key)
            })
            .collect();
        picked.sort_by(|a, b| a.key.cmp(&b.key));
        picked.dedup_by(|a, b| a.key == b.key);
        self.resource_buf.clear();
        for kv in picked {
            put_str(&mut self.resource_buf, &kv.key);
            put_value(&mut self.resource_buf, kv.value.as_ref());
        }
    }

    fn ensure_resource(&mut self, rkey: &[u8], attrs: &[KeyValue]) {
        self.use_clock += 1;
        if let Some(r) = self.resources.get_mut(rkey) {
            r.last_used = self.use_clock;
            return;
        }
        if self.resources.len() >= self.s.resource_cap {
            self.evict_resource();
        }
        self.resources.insert(
            Box::from(rkey),
            ResourceEntry {
                attributes: attrs.to_vec(),
                series: HashMap::new(),
                overflow: None,
                events: HashMap::new(),
                events_overflow: None,
                last_used: self.use_clock,
            },
        );
    }

    /// Moves the least recently used resource out; it is exported once more at the next flush.
    fn evict_resource(&mut self) {
        let Some(oldest) = self
            .resources
            .iter()
            .min_by_key(|(_, r)| r.last_used)
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        let Some(entry) = self.resources.remove(&oldest) else {
            return;
        };
        if entry.series_count() == 0 {
            return;
        }
        if self.retired.len() >= self.s.resource_cap {
            let dropped = self.retired.remove(0);
            let n = dropped.series_count();
            self.series_total = self.series_total.saturating_sub(n);
            *self
                .evicted
                .entry(EvictReason::ResourceDropped)
                .or_default() += n;
        }
        self.retired.push(entry);
    }

    fn add_span(&mut self, entry: &mut ResourceEntry, key: &mut Vec<u8>, cx: &SpanCx, now_ns: u64) {
        let s = &self.s;
        let span = cx.span;
        let duration_ns = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano);
        let duration = duration_ns as f64 / s.unit_divider;
        let exemplar = exemplar(s, span, duration);
        let generation = self.generation;

        key.clear();
        series_key(s, key, cx, &s.dimensions, None);
        let series = if let Some(series) = entry.series.get_mut(&key[..]) {
            series
        } else if room_for(s, entry.series.len(), self.series_total) {
            self.series_total += 1;
            let attributes = attributes(s, cx, &s.dimensions, None);
            entry
                .series
                .entry(Box::from(&key[..]))
                .or_insert_with(|| Series::new(s, attributes, now_ns, generation))
        } else {
            if entry.overflow.is_none() {
                self.series_total += 1;
            }
            entry
                .overflow
                .get_or_insert_with(|| Series::new(s, overflow_attributes(), now_ns, generation))
        };
        series.calls = series.calls.saturating_add(1);
        match &mut series.hist {
            Hist::None => {}
            Hist::Explicit(h) => h.observe(duration),
            Hist::Exponential(h) => h.observe(duration),
        }
        if let Some(e) = &exemplar {
            // One exemplar list serves both metrics: otelcol adds the same exemplar to each.
            if series.exemplars.len() < s.max_exemplars {
                series.exemplars.push(e.clone());
            }
        }
        series.last_seen_ns = now_ns;
        series.touched = generation;

        if !s.events {
            return;
        }
        for event in &span.events {
            key.clear();
            series_key(s, key, cx, &s.event_dimensions, Some(&event.attributes));
            let series = if let Some(series) = entry.events.get_mut(&key[..]) {
                series
            } else if room_for(s, entry.events.len(), self.series_total) {
                self.series_total += 1;
                let attributes = attributes(s, cx, &s.event_dimensions, Some(&event.attributes));
                entry
                    .events
                    .entry(Box::from(&key[..]))
                    .or_insert_with(|| EventSeries::new(attributes, now_ns, generation))
            } else {
                if entry.events_overflow.is_none() {
                    self.series_total += 1;
                }
                entry.events_overflow.get_or_insert_with(|| {
                    EventSeries::new(overflow_attributes(), now_ns, generation)
                })
            };
            series.count = series.count.saturating_add(1);
            if let Some(e) = &exemplar {
                if series.exemplars.len() < s.max_exemplars {
                    series.exemplars.push(e.clone());
                }
            }
            series.last_seen_ns = now_ns;
            series.touched = generation;
        }
    }

    /// Builds the metrics of every resource as of `now_ns` and resets what the temporality says:
    /// delta forgets everything; cumulative clears exemplars, drops expired series, and when the
    /// series cache is full evicts the series not updated since the previous flush.
    pub fn flush(&mut self, now_ns: u64) -> Flushed {
        let mut out = Vec::with_capacity(self.resources.len() + self.retired.len());
        // Expiration first: an expired series is not exported again.
        if self.s.expiration_ns > 0 {
            let exp = self.s.expiration_ns;
            let mut n = 0;
            for r in self.resources.values_mut().chain(self.retired.iter_mut()) {
                let before = r.series_count();
                r.series
                    .retain(|_, s| now_ns.saturating_sub(s.last_seen_ns) < exp);
                r.events
                    .retain(|_, s| now_ns.saturating_sub(s.last_seen_ns) < exp);
                if r.overflow
                    .as_ref()
                    .is_some_and(|s| now_ns.saturating_sub(s.last_seen_ns) >= exp)
                {
                    r.overflow = None;
                }
                if r.events_overflow
                    .as_ref()
                    .is_some_and(|s| now_ns.saturating_sub(s.last_seen_ns) >= exp)
                {
                    r.events_overflow = None;
                }
                n += before - r.series_count();
            }
            if n > 0 {
                self.series_total = self.series_total.saturating_sub(n);
                *self.evicted.entry(EvictReason::Expired).or_default() += n;
            }
            self.resources.retain(|_, r| r.series_count() > 0);
        }

        let mut keys: Vec<(&Key, &ResourceEntry)> = self.resources.iter().collect();
        // Stable output order (oldest resource first) makes flushes comparable.
        keys.sort_by_key(|(_, r)| r.last_used);
        let retired = std::mem::take(&mut self.retired);
        let mut delta_updates: Vec<Key> = Vec::new();
        for (rkey, r) in keys
            .into_iter()
            .map(|(k, r)| (Some(k), r))
            .chain(retired.iter().map(|r| (None, r)))
        {
            if let Some(rm) = self.build_resource(rkey, r, now_ns, &mut delta_updates) {
                out.push(rm);
            }
        }
        for k in delta_updates {
            self.delta_starts.put(k, now_ns);
        }
        // Evicted resources had their last export.
        let retired_series: usize = retired.iter().map(ResourceEntry::series_count).sum();
        if retired_series > 0 {
            self.series_total = self.series_total.saturating_sub(retired_series);
            *self
                .evicted
                .entry(EvictReason::ResourceCacheFull)
                .or_default() += retired_series;
        }

        if self.s.delta {
            self.resources.clear();
            self.series_total = 0;
        } else {
            let full = self.series_total >= self.s.series_cap;
            let generation = self.generation;
            let mut idle = 0;
            for r in self.resources.values_mut() {
                if full {
                    let before = r.series_count();
                    r.series.retain(|_, s| s.touched == generation);
                    r.events.retain(|_, s| s.touched == generation);
                    if r.overflow.as_ref().is_some_and(|s| s.touched != generation) {
                        r.overflow = None;
                    }
                    if r.events_overflow
                        .as_ref()
                        .is_some_and(|s| s.touched != generation)
                    {
                        r.events_overflow = None;
                    }
                    idle += before - r.series_count();
                }
                for s in r.series.values_mut() {
                    s.exemplars.clear();
                }
                for s in r.events.values_mut() {
                    s.exemplars.clear();
                }
                if let Some(s) = r.overflow.as_mut() {
                    s.exemplars.clear();
                }
                if let Some(s) = r.events_overflow.as_mut() {
                    s.exemplars.clear();
                }
            }
            if idle > 0 {
                self.series_total = self.series_total.saturating_sub(idle);
                *self
                    .evicted
                    .entry(EvictReason::SeriesCacheFull)
                    .or_default() += idle;
                self.resources.retain(|_, r| r.series_count() > 0);
            }
        }
        self.generation += 1;
        Flushed {
            resource_metrics: out,
            evicted: self.evicted.drain().collect(),
        }
    }

    fn build_resource(
        &self,
        rkey: Option<&Key>,
        r: &ResourceEntry,
        now_ns: u64,
        delta_updates: &mut Vec<Key>,
    ) -> Option<ResourceMetrics> {
        if r.series_count() == 0 {
            return None;
        }
        let s = &self.s;
        let temporality = if s.delta {
            AggregationTemporality::Delta
        } else {
            AggregationTemporality::Cumulative
        } as i32;
        // Delta: a series continues from its previous flush when the timestamp cache remembers it.
        let mut start_of = |tag: u8, key: Option<&[u8]>, created: u64| -> u64 {
            if !s.delta {
                return created;
            }
            let Some(rkey) = rkey else { return created };
            let mut id = Vec::with_capacity(rkey.len() + 2 + key.map_or(0, <[u8]>::len));
            id.extend_from_slice(rkey);
            id.push(0xff);
            id.push(tag);
            if let Some(k) = key {
                id.extend_from_slice(k);
            }
            let start = self.delta_starts.get(&id).unwrap_or(created);
            delta_updates.push(id.into_boxed_slice());
            start
        };
        let stamp = |ex: &[Exemplar]| -> Vec<Exemplar> {
            ex.iter()
                .map(|e| Exemplar {
                    time_unix_nano: now_ns,
                    ..e.clone()
                })
                .collect()
        };

        let calls_series: Vec<(Option<&[u8]>, &Series)> = r
            .series
            .iter()
            .map(|(k, v)| (Some(&k[..]), v))
            .chain(r.overflow.iter().map(|v| (None, v)))
            .collect();
        let mut metrics = Vec::with_capacity(3);
        if !calls_series.is_empty() {
            let mut calls = Vec::with_capacity(calls_series.len());
            let mut explicit = Vec::new();
            let mut expo = Vec::new();
            for (k, series) in &calls_series {
                let start = start_of(if k.is_some() { 1 } else { 2 }, *k, series.start_ns);
                calls.push(NumberDataPoint {
                    attributes: series.attributes.clone(),
                    start_time_unix_nano: start,
                    time_unix_nano: now_ns,
                    exemplars: stamp(&series.exemplars),
                    flags: 0,
                    value: Some(number_data_point::Value::AsInt(
                        series.calls.min(i64::MAX as u64) as i64,
                    )),
                });
                match &series.hist {
                    Hist::None => {}
                    Hist::Explicit(h) => explicit.push(HistogramDataPoint {
                        attributes: series.attributes.clone(),
                        start_time_unix_nano: start,
                        time_unix_nano: now_ns,
                        count: h.count,
                        sum: Some(h.sum),
                        bucket_counts: h.bucket_counts.clone(),
                        explicit_bounds: h.bounds.to_vec(),
                        exemplars: stamp(&series.exemplars),
                        flags: 0,
                        min: None,
                        max: None,
                    }),
                    Hist::Exponential(h) => expo.push(ExponentialHistogramDataPoint {
                        attributes: series.attributes.clone(),
                        start_time_unix_nano: start,
                        time_unix_nano: now_ns,
                        count: h.count,
                        sum: Some(h.sum),
                        scale: h.scale,
                        zero_count: h.zero_count,
                        positive: Some(h.positive()),
                        negative: Some(Default::default()),
                        flags: 0,
                        exemplars: stamp(&series.exemplars),
                        min: (h.count > 0).then_some(h.min),
                        max: (h.count > 0).then_some(h.max),
                        zero_threshold: 0.0,
                    }),
                }
            }
            metrics.push(Metric {
                name: s.calls_name.clone(),
                description: String::new(),
                unit: String::new(),
                metadata: vec![],
                data: Some(metric::Data::Sum(Sum {
                    data_points: calls,
                    aggregation_temporality: temporality,
                    is_monotonic: true,
                })),
            });
            if !explicit.is_empty() {
                metrics.push(Metric {
                    name: s.duration_name.clone(),
                    description: String::new(),
                    unit: s.unit.to_string(),
                    metadata: vec![],
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points: explicit,
                        aggregation_temporality: temporality,
                    })),
                });
            }
            if !expo.is_empty() {
                metrics.push(Metric {
                    name: s.duration_name.clone(),
                    description: String::new(),
                    unit: s.unit.to_string(),
                    metadata: vec![],
                    data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: expo,
                        aggregation_temporality: temporality,
                    })),
                });
            }
        }
        let events: Vec<(Option<&[u8]>, &EventSeries)> = r
            .events
            .iter()
            .map(|(k, v)| (Some(&k[..]), v))
            .chain(r.events_overflow.iter().map(|v| (None, v)))
            .collect();
        if s.events && !events.is_empty() {
            let points = events
                .iter()
                .map(|(k, e)| NumberDataPoint {
                    attributes: e.attributes.clone(),
                    start_time_unix_nano: start_of(if k.is_some() { 3 } else { 4 }, *k, e.start_ns),
                    time_unix_nano: now_ns,
                    exemplars: stamp(&e.exemplars),
                    flags: 0,
                    value: Some(number_data_point::Value::AsInt(
                        e.count.min(i64::MAX as u64) as i64,
                    )),
                })
                .collect();
            metrics.push(Metric {
                name: s.events_name.clone(),
                description: String::new(),
                unit: String::new(),
                metadata: vec![],
                data: Some(metric::Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: temporality,
                    is_monotonic: true,
                })),
            });
        }
        Some(ResourceMetrics {
            resource: Some(OtlpResource {
                attributes: r.attributes.clone(),
                dropped_attributes_count: 0,
                entity_refs: vec![],
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_string(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        })
    }
}

/// What every dimension lookup of one span needs.
struct SpanCx<'a> {
    service: &'a str,
    span: &'a Span,
    scope: Option<(&'a str, &'a str)>,
    res_attrs: &'a [KeyValue],
}

impl Series {
    fn new(s: &Settings, attributes: Vec<KeyValue>, now_ns: u64, generation: u64) -> Self {
        Series {
            attributes,
            calls: 0,
            hist: if !s.histogram {
                Hist::None
            } else if let Some(max) = s.exponential {
                Hist::Exponential(Exponential::new(max))
            } else {
                Hist::Explicit(Explicit::new(s.bounds.clone()))
            },
            exemplars: Vec::new(),
            start_ns: now_ns,
            last_seen_ns: now_ns,
            touched: generation,
        }
    }
}

impl EventSeries {
    fn new(attributes: Vec<KeyValue>, now_ns: u64, generation: u64) -> Self {
        EventSeries {
            attributes,
            count: 0,
            exemplars: Vec::new(),
            start_ns: now_ns,
            last_seen_ns: now_ns,
            touched: generation,
        }
    }
}

/// Whether a new series may be created (cardinality limit per resource and metric, series cache).
fn room_for(s: &Settings, per_resource: usize, total: usize) -> bool {
    (s.cardinality_limit == 0 || per_resource < s.cardinality_limit) && total < s.series_cap
}

/// The scope's name and version when `include_instrumentation_scope` lists it.
fn scope_dims<'a>(
    s: &Settings,
    scope: Option<&'a InstrumentationScope>,
) -> Option<(&'a str, &'a str)> {
    let scope = scope?;
    if scope.name.is_empty() || !s.scopes.contains(&scope.name) {
        return None;
    }
    Some((scope.name.as_str(), scope.version.as_str()))
}

fn exemplar(s: &Settings, span: &Span, duration: f64) -> Option<Exemplar> {
    if !s.exemplars || span.trace_id.len() != 16 || span.trace_id.iter().all(|b| *b == 0) {
        return None;
    }
    Some(Exemplar {
        filtered_attributes: vec![],
        time_unix_nano: 0,
        span_id: span.span_id.clone(),
        trace_id: span.trace_id.clone(),
        value: Some(exemplar::Value::AsDouble(duration)),
    })
}

/// The series key: each default dimension (unless excluded), then each configured dimension as
/// a presence byte and its typed value, then the instrumentation scope if included.
fn series_key(
    s: &Settings,
    key: &mut Vec<u8>,
    cx: &SpanCx,
    dims: &[Dimension],
    event_attrs: Option<&[KeyValue]>,
) {
    let span = cx.span;
    let [svc, name, kind, status] = s.include;
    if svc {
        put_str(key, cx.service);
    }
    if name {
        put_str(key, &span.name);
    }
    if kind {
        key.extend_from_slice(&span.kind.to_le_bytes());
    }
    if status {
        key.extend_from_slice(&status_code(span).to_le_bytes());
    }
    for d in dims {
        match dimension_value(d, &span.attributes, event_attrs, cx.res_attrs) {
            Some(DimValue::Attr(v)) => {
                key.push(1);
                put_value(key, Some(v));
            }
            Some(DimValue::Default(v)) => {
                key.push(1);
                key.push(TAG_STRING);
                put_str(key, v);
            }
            None => key.push(0),
        }
    }
    match cx.scope {
        Some((n, v)) => {
            key.push(1);
            put_str(key, n);
            put_str(key, v);
        }
        None => key.push(0),
    }
}

fn attributes(
    s: &Settings,
    cx: &SpanCx,
    dims: &[Dimension],
    event_attrs: Option<&[KeyValue]>,
) -> Vec<KeyValue> {
    let span = cx.span;
    let [svc, name, kind, status] = s.include;
    let mut out = Vec::with_capacity(4 + dims.len());
    if svc {
        out.push(kv_str(config::SERVICE_NAME, cx.service));
    }
    if name {
        out.push(kv_str(config::SPAN_NAME, &span.name));
    }
    if kind {
        out.push(kv_str(config::SPAN_KIND, span_kind_str(span.kind)));
    }
    if status {
        out.push(kv_str(
            config::STATUS_CODE,
            status_code_str(status_code(span)),
        ));
    }
    for d in dims {
        match dimension_value(d, &span.attributes, event_attrs, cx.res_attrs) {
            Some(DimValue::Attr(v)) => out.push(KeyValue {
                key: d.name.clone(),
                value: Some(v.clone()),
                ..Default::default()
            }),
            Some(DimValue::Default(v)) => out.push(kv_str(&d.name, v)),
            None => {}
        }
    }
    if let Some((n, v)) = cx.scope {
        out.push(kv_str(SCOPE_NAME_KEY, n));
        if !v.is_empty() {
            out.push(kv_str(SCOPE_VERSION_KEY, v));
        }
    }
    out
}

fn overflow_attributes() -> Vec<KeyValue> {
    vec![KeyValue {
        key: OVERFLOW_KEY.to_string(),
        value: Some(AnyValue {
            value: Some(V::BoolValue(true)),
        }),
        ..Default::default()
    }]
}

enum DimValue<'a> {
    Attr(&'a AnyValue),
    Default(&'a str),
}

/// otelcol's lookup order: span attributes, then (event attributes and) resource attributes, then
/// the dimension's default; without a default a missing dimension is left out.
fn dimension_value<'a>(
    d: &'a Dimension,
    span_attrs: &'a [KeyValue],
    event_attrs: Option<&'a [KeyValue]>,
    res_attrs: &'a [KeyValue],
) -> Option<DimValue<'a>> {
    if let Some(v) = find(span_attrs, &d.name) {
        return Some(DimValue::Attr(v));
    }
    if let Some(v) = event_attrs.and_then(|e| find(e, &d.name)) {
        return Some(DimValue::Attr(v));
    }
    if let Some(v) = find(res_attrs, &d.name) {
        return Some(DimValue::Attr(v));
    }
    d.default.as_deref().map(DimValue::Default)
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

fn kv_str(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(V::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn status_code(span: &Span) -> i32 {
    span.status.as_ref().map_or(0, |s| s.code)
}

/// otelcol's `traceutil.SpanKindStr`.
pub fn span_kind_str(kind: i32) -> &'static str {
    match kind {
        0 => "SPAN_KIND_UNSPECIFIED",
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "",
    }
}

/// otelcol's `traceutil.StatusCodeStr`.
pub fn status_code_str(code: i32) -> &'static str {
    match code {
        0 => "STATUS_CODE_UNSET",
        1 => "STATUS_CODE_OK",
        2 => "STATUS_CODE_ERROR",
        _ => "",
    }
}

const TAG_STRING: u8 = 1;

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// A typed encoding, so that `1` (int) and `"1"` (string) are different series, as their
/// attributes are.
fn put_value(buf: &mut Vec<u8>, v: Option<&AnyValue>) {
    match v.and_then(|v| v.value.as_ref()) {
        None => buf.push(0),
        Some(V::StringValue(s)) => {
            buf.push(TAG_STRING);
            put_str(buf, s);
        }
        Some(V::BoolValue(b)) => {
            buf.push(2);
            buf.push(u8::from(*b));
        }
        Some(V::IntValue(i)) => {
            buf.push(3);
            buf.extend_from_slice(&i.to_le_bytes());
        }
        Some(V::DoubleValue(d)) => {
            buf.push(4);
            buf.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Some(V::BytesValue(b)) => {
            buf.push(5);
            buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
            buf.extend_from_slice(b);
        }
        Some(other) => {
            buf.push(6);
            let any = AnyValue {
                value: Some(other.clone()),
            };
            let len = any.encoded_len();
            buf.extend_from_slice(&(len as u32).to_le_bytes());
            any.encode_raw(buf);
        }
    }
}
