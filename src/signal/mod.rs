//! The three OTLP signals and the batch that carries one signal's data through a pipeline.
//!
//! A [`Batch`] holds either the encoded export request exactly as it arrived (one or more protobuf
//! segments; concatenating encoded `Export*ServiceRequest`s is itself a valid request, because its only
//! field is repeated) or the decoded resources behind an `Arc`. Components that only forward or count
//! never decode; a component that changes data calls [`Batch::resources_mut`], which decodes once and
//! copies only when another consumer still shares the same data (fan-out copy-on-write).

pub mod codec;
pub mod pbwrite;
pub mod resource_edit;
pub mod scan;
pub mod split;

pub use scan::DecodeError;

use std::fmt;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric, ResourceMetrics};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Which signal a pipeline, component or batch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignalKind {
    Traces,
    Metrics,
    Logs,
}

impl SignalKind {
    pub const ALL: [SignalKind; 3] = [SignalKind::Traces, SignalKind::Metrics, SignalKind::Logs];

    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Traces => "traces",
            SignalKind::Metrics => "metrics",
            SignalKind::Logs => "logs",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One OTLP signal: its protobuf types, how its items are counted, and its wire names.
pub trait Signal: Send + Sync + Sized + 'static {
    const KIND: SignalKind;
    /// The item name in otelcol's metric names: `spans`, `metric_points`, `log_records`.
    const ITEM: &'static str;
    /// The gRPC service name, e.g. `opentelemetry.proto.collector.trace.v1.TraceService`.
    const GRPC_SERVICE: &'static str;
    /// The gRPC method path, e.g. `/opentelemetry.proto.collector.trace.v1.TraceService/Export`.
    const GRPC_PATH: &'static str;

    type Resource: Message
        + Default
        + Clone
        + PartialEq
        + Serialize
        + fmt::Debug
        + Send
        + Sync
        + 'static;
    type Request: Message + Default + Serialize + DeserializeOwned + Send + 'static;
    type Response: Message + Default + Serialize + DeserializeOwned + Send + 'static;

    fn into_resources(req: Self::Request) -> Vec<Self::Resource>;
    fn from_resources(resources: Vec<Self::Resource>) -> Self::Request;
    fn count(resources: &[Self::Resource]) -> usize;
    /// Validates an encoded request and counts its items without decoding it: `Ok` only if prost
    /// decodes it (see [`scan`]).
    fn scan(encoded: &[u8]) -> Result<usize, DecodeError>;
    /// The rejected count and message of a response's `partial_success`, if any.
    fn partial_success(resp: &Self::Response) -> Option<(i64, String)>;
}

pub struct Traces;
pub struct Metrics;
pub struct Logs;

impl Signal for Traces {
    const KIND: SignalKind = SignalKind::Traces;
    const ITEM: &'static str = "spans";
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    type Resource = ResourceSpans;
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;

    fn into_resources(req: Self::Request) -> Vec<Self::Resource> {
        req.resource_spans
    }
    fn from_resources(resource_spans: Vec<Self::Resource>) -> Self::Request {
        ExportTraceServiceRequest { resource_spans }
    }
    fn count(resources: &[Self::Resource]) -> usize {
        resources
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    }
    fn scan(encoded: &[u8]) -> Result<usize, DecodeError> {
        scan::scan_request(&scan::TRACES_REQUEST, encoded)
    }
    fn partial_success(resp: &Self::Response) -> Option<(i64, String)> {
        resp.partial_success
            .as_ref()
            .map(|p| (p.rejected_spans, p.error_message.clone()))
    }
}

impl Signal for Metrics {
    const KIND: SignalKind = SignalKind::Metrics;
    const ITEM: &'static str = "metric_points";
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const GRPC_PATH: &'static str =
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    type Resource = ResourceMetrics;
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;

    fn into_resources(req: Self::Request) -> Vec<Self::Resource> {
        req.resource_metrics
    }
    fn from_resources(resource_metrics: Vec<Self::Resource>) -> Self::Request {
        ExportMetricsServiceRequest { resource_metrics }
    }
    fn count(resources: &[Self::Resource]) -> usize {
        resources
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| match &m.data {
                Some(metric::Data::Gauge(g)) => g.data_points.len(),
                Some(metric::Data::Sum(s)) => s.data_points.len(),
                Some(metric::Data::Histogram(h)) => h.data_points.len(),
                Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
                Some(metric::Data::Summary(s)) => s.data_points.len(),
                None => 0,
            })
            .sum()
    }
    fn scan(encoded: &[u8]) -> Result<usize, DecodeError> {
        scan::scan_request(&scan::METRICS_REQUEST, encoded)
    }
    fn partial_success(resp: &Self::Response) -> Option<(i64, String)> {
        resp.partial_success
            .as_ref()
            .map(|p| (p.rejected_data_points, p.error_message.clone()))
    }
}

impl Signal for Logs {
    const KIND: SignalKind = SignalKind::Logs;
    const ITEM: &'static str = "log_records";
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    type Resource = ResourceLogs;
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;

    fn into_resources(req: Self::Request) -> Vec<Self::Resource> {
        req.resource_logs
    }
    fn from_resources(resource_logs: Vec<Self::Resource>) -> Self::Request {
        ExportLogsServiceRequest { resource_logs }
    }
    fn count(resources: &[Self::Resource]) -> usize {
        resources
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum()
    }
    fn scan(encoded: &[u8]) -> Result<usize, DecodeError> {
        scan::scan_request(&scan::LOGS_REQUEST, encoded)
    }
    fn partial_success(resp: &Self::Response) -> Option<(i64, String)> {
        resp.partial_success
            .as_ref()
            .map(|p| (p.rejected_log_records, p.error_message.clone()))
    }
}

/// Client metadata (request headers) carried with a batch when a receiver sets `include_metadata`.
/// Keys are lower-case header names; a key may have several values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientMetadata {
    pub entries: Vec<(String, String)>,
    /// The peer's address, for `from_context: client.address`.
    pub address: Option<String>,
}

impl ClientMetadata {
    pub fn get<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let key = key.to_ascii_lowercase();
        self.entries
            .iter()
            .filter(move |(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

enum Data<S: Signal> {
    /// Encoded `Export*ServiceRequest` segments; their concatenation is the request.
    Encoded(Vec<Bytes>),
    Decoded(Arc<Vec<S::Resource>>),
}

impl<S: Signal> Clone for Data<S> {
    fn clone(&self) -> Self {
        match self {
            Data::Encoded(v) => Data::Encoded(v.clone()),
            Data::Decoded(v) => Data::Decoded(v.clone()),
        }
    }
}

/// Encoded requests joined end to end, which is itself one valid request; a single segment is
/// returned as it is, without copying.
pub fn join_segments(mut segments: Vec<Bytes>) -> Bytes {
    if segments.len() == 1 {
        return segments.pop().unwrap_or_default();
    }
    let len = segments.iter().map(Bytes::len).sum();
    let mut buf = BytesMut::with_capacity(len);
    for s in segments {
        buf.put(s);
    }
    buf.freeze()
}

/// One signal's data on its way through a pipeline, with its item count and client metadata.
/// Cloning is cheap (reference counts); see the module docs for when data is copied.
pub struct Batch<S: Signal> {
    data: Data<S>,
    items: usize,
    pub metadata: Option<Arc<ClientMetadata>>,
}

impl<S: Signal> Clone for Batch<S> {
    fn clone(&self) -> Self {
        Batch {
            data: self.data.clone(),
            items: self.items,
            metadata: self.metadata.clone(),
        }
    }
}

impl<S: Signal> fmt::Debug for Batch<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = match &self.data {
            Data::Encoded(v) => format!("encoded({} segments)", v.len()),
            Data::Decoded(_) => "decoded".to_string(),
        };
        write!(f, "Batch<{}>{{items: {}, {form}}}", S::KIND, self.items)
    }
}

impl<S: Signal> Batch<S> {
    /// Validates an encoded request (see [`Signal::scan`]) and wraps it without decoding.
    pub fn from_encoded(bytes: Bytes) -> Result<Self, DecodeError> {
        let items = S::scan(&bytes)?;
        Ok(Batch {
            data: Data::Encoded(vec![bytes]),
            items,
            metadata: None,
        })
    }

    /// Wraps a request that this process encoded itself, with prost's encoding rules (a receiver
    /// that writes OTLP directly instead of building the messages), without the scan. `items` must be
    /// the request's item count.
    pub fn from_own_encoding(bytes: Bytes, items: usize) -> Self {
        Batch {
            data: Data::Encoded(vec![bytes]),
            items,
            metadata: None,
        }
    }

    pub fn from_resources(resources: Vec<S::Resource>) -> Self {
        let items = S::count(&resources);
        Batch {
            data: Data::Decoded(Arc::new(resources)),
            items,
            metadata: None,
        }
    }

    pub fn from_request(req: S::Request) -> Self {
        Self::from_resources(S::into_resources(req))
    }

    pub fn with_metadata(mut self, metadata: Option<Arc<ClientMetadata>>) -> Self {
        self.metadata = metadata;
        self
    }

    /// Spans, metric data points or log records, as otelcol counts them.
    pub fn items(&self) -> usize {
        self.items
    }

    /// The number of resources, without decoding an encoded batch (for the debug exporter's
    /// `basic` verbosity, which prints only counts).
    pub fn resource_count(&mut self) -> Result<usize, DecodeError> {
        let counted = match &self.data {
            Data::Encoded(segments) => segments
                .iter()
                .map(|s| pbwrite::top_level_entries(s))
                .sum::<Option<usize>>(),
            Data::Decoded(v) => Some(v.len()),
        };
        match counted {
            Some(n) => Ok(n),
            None => self.resources().map(<[_]>::len),
        }
    }

    pub fn is_encoded(&self) -> bool {
        matches!(self.data, Data::Encoded(_))
    }

    /// The decoded resources, decoding (once) if the batch is still encoded.
    pub fn resources(&mut self) -> Result<&[S::Resource], DecodeError> {
        self.decode()?;
        match &self.data {
            Data::Decoded(v) => Ok(v.as_slice()),
            Data::Encoded(_) => unreachable!("decoded above"),
        }
    }

    /// Mutable resources, for processors that change data. Copies them if another batch shares them.
    /// The caller must call [`Batch::recount`] if it added or removed items.
    pub fn resources_mut(&mut self) -> Result<&mut Vec<S::Resource>, DecodeError> {
        self.decode()?;
        match &mut self.data {
            Data::Decoded(v) => Ok(Arc::make_mut(v)),
            Data::Encoded(_) => unreachable!("decoded above"),
        }
    }

    /// For processors that change only resources: while the batch is still encoded, applies `edit`
    /// to the resource of every resource message in the encoded bytes (see [`resource_edit`]) and
    /// returns `true`; the items are neither decoded nor counted again. `false` (nothing done) when
    /// the batch is decoded: use [`Batch::resources_mut`] then.
    pub fn edit_encoded_resources(
        &mut self,
        edit: &mut dyn FnMut(&mut Option<opentelemetry_proto::tonic::resource::v1::Resource>),
    ) -> Result<bool, DecodeError> {
        let Data::Encoded(segments) = &mut self.data else {
            return Ok(false);
        };
        for s in segments.iter_mut() {
            *s = resource_edit::edit_segment(s, edit)?;
        }
        Ok(true)
    }

    /// For `filter` and `transform` when all they run is in the resource context: while the batch is
    /// still encoded, applies `edit` to the resource and `schema_url` of every resource message in
    /// the encoded bytes (see [`resource_edit::edit_resource_messages`]), leaving out the messages it
    /// drops (and, with `prune_empty`, scope and resource messages without items), and returns `true`;
    /// items are counted again (a scan, no decode) only when some were dropped. `false` (nothing done)
    /// when the batch is decoded.
    pub fn edit_encoded_resource_messages(
        &mut self,
        prune_empty: bool,
        edit: &mut resource_edit::EditFn<'_>,
    ) -> Result<bool, resource_edit::EditError> {
        let Data::Encoded(segments) = &mut self.data else {
            return Ok(false);
        };
        let mut removed = false;
        for s in segments.iter_mut() {
            let e = resource_edit::edit_resource_messages(s, prune_empty, edit)?;
            removed |= e.removed;
            *s = e.bytes;
        }
        if removed {
            let mut items = 0usize;
            for s in segments.iter() {
                items = items.saturating_add(S::scan(s)?);
            }
            self.items = items;
        }
        Ok(true)
    }

    /// For components that keep some items of an encoded batch (`filter`): while the batch is still
    /// encoded, splits each segment with `router` (see [`split`]), keeps what it sends to destination
    /// 0 and counts those items, and returns `true`. The batch is unchanged when `router` fails, and
    /// `false` (nothing done) when the batch is decoded.
    pub fn retain_encoded<R: split::Router>(&mut self, router: &mut R) -> Result<bool, R::Error> {
        let Data::Encoded(segments) = &self.data else {
            return Ok(false);
        };
        let mut kept = Vec::with_capacity(segments.len());
        let mut items = 0usize;
        let mut parts = Vec::new();
        for s in segments {
            parts.clear();
            split::split(s, router, &mut parts)?;
            if let Some(p) = parts.drain(..).next().filter(|p| !p.bytes.is_empty()) {
                items = items.saturating_add(p.items);
                kept.push(Bytes::from(p.bytes));
            }
        }
        self.data = Data::Encoded(kept);
        self.items = items;
        Ok(true)
    }

    pub fn recount(&mut self) {
        if let Data::Decoded(v) = &self.data {
            self.items = S::count(v);
        }
    }

    /// Takes the resources out (decoding if needed), copying only if shared.
    pub fn into_resources(mut self) -> Result<Vec<S::Resource>, DecodeError> {
        self.decode()?;
        match self.data {
            Data::Decoded(v) => Ok(Arc::try_unwrap(v).unwrap_or_else(|shared| (*shared).clone())),
            Data::Encoded(_) => unreachable!("decoded above"),
        }
    }

    fn decode(&mut self) -> Result<(), DecodeError> {
        if let Data::Encoded(segments) = &self.data {
            let mut resources = Vec::new();
            for seg in segments {
                resources.extend(S::into_resources(
                    S::Request::decode(seg.clone()).map_err(DecodeError::from)?,
                ));
            }
            self.data = Data::Decoded(Arc::new(resources));
        }
        Ok(())
    }

    /// Decodes each encoded request (segment) on its own and leaves out those prost cannot decode,
    /// returning what is wrong with each with its item count: one bad request never costs the others
    /// batched with it. The receivers' scan refuses such requests, so this is defence in depth.
    pub fn into_resources_per_request(self) -> (Vec<S::Resource>, Vec<DecodeError>) {
        match self.data {
            Data::Decoded(v) => (
                Arc::try_unwrap(v).unwrap_or_else(|shared| (*shared).clone()),
                Vec::new(),
            ),
            Data::Encoded(segments) => {
                let mut resources = Vec::new();
                let mut bad = Vec::new();
                for seg in segments {
                    match S::Request::decode(seg.clone()) {
                        Ok(req) => resources.extend(S::into_resources(req)),
                        Err(e) => {
                            let items = match S::scan(&seg) {
                                Ok(n) => n,
                                Err(scan) => scan.items(),
                            };
                            bad.push(DecodeError::from(e).with_items(items));
                        }
                    }
                }
                (resources, bad)
            }
        }
    }

    /// Bytes of encoded data (0 once decoded): what decoding it would have to read.
    pub fn encoded_len(&self) -> usize {
        match &self.data {
            Data::Encoded(v) => v.iter().map(Bytes::len).sum(),
            Data::Decoded(_) => 0,
        }
    }

    /// An encoded batch that skipped the scan, for tests of what happens when decoding fails later.
    #[cfg(test)]
    pub(crate) fn from_encoded_unchecked(bytes: Bytes, items: usize) -> Self {
        Batch {
            data: Data::Encoded(vec![bytes]),
            items,
            metadata: None,
        }
    }

    /// The encoded request as segments to be written one after another. Encodes decoded data.
    pub fn encoded_segments(&self) -> Vec<Bytes> {
        match &self.data {
            Data::Encoded(v) => v.clone(),
            Data::Decoded(v) => {
                let mut buf = BytesMut::new();
                for r in v.iter() {
                    prost::encoding::message::encode(1, r, &mut buf);
                }
                vec![buf.freeze()]
            }
        }
    }

    /// The encoded request as one contiguous buffer.
    pub fn encode_to_bytes(&self) -> Bytes {
        join_segments(self.encoded_segments())
    }

    /// The request in OTLP/JSON.
    pub fn to_json(&mut self) -> Result<Vec<u8>, DecodeError> {
        let req = S::from_resources(self.resources()?.to_vec());
        Ok(serde_json::to_vec(&req).unwrap_or_default())
    }

    /// Appends another batch of the same signal. Encoded batches are joined without decoding.
    pub fn append(&mut self, other: Batch<S>) -> Result<(), DecodeError> {
        self.items += other.items;
        match (&mut self.data, other.data) {
            (Data::Encoded(a), Data::Encoded(b)) => a.extend(b),
            (_, other_data) => {
                let other_batch = Batch::<S> {
                    data: other_data,
                    items: 0,
                    metadata: None,
                };
                let more = other_batch.into_resources()?;
                self.resources_mut()?.extend(more);
            }
        }
        Ok(())
    }

    pub fn empty() -> Self {
        Batch {
            data: Data::Encoded(Vec::new()),
            items: 0,
            metadata: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span};

    fn spans(n: usize, name: &str) -> Vec<ResourceSpans> {
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: name.into(),
            ..Default::default()
        };
        vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span; n],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    #[test]
    fn encoded_batches_concatenate_into_a_valid_request() {
        let a = Batch::<Traces>::from_resources(spans(2, "a")).encode_to_bytes();
        let b = Batch::<Traces>::from_resources(spans(3, "b")).encode_to_bytes();
        let mut joined = Batch::<Traces>::from_encoded(a).unwrap();
        joined.append(Batch::from_encoded(b).unwrap()).unwrap();
        assert_eq!(joined.items(), 5);
        assert!(joined.is_encoded());
        let decoded = Batch::<Traces>::from_encoded(joined.encode_to_bytes()).unwrap();
        let names: Vec<String> = decoded
            .into_resources()
            .unwrap()
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(names, ["a", "a", "b", "b", "b"]);
    }

    #[test]
    fn mutation_copies_only_shared_data() {
        let mut a = Batch::<Traces>::from_resources(spans(1, "x"));
        let b = a.clone();
        a.resources_mut().unwrap()[0].scope_spans[0].spans[0].name = "changed".into();
        let mut b = b;
        assert_eq!(b.resources().unwrap()[0].scope_spans[0].spans[0].name, "x");
    }
}
