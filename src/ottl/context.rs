//! Contexts (`resource`, `scope`, `span`, `spanevent`, `log`, `metric`, `datapoint`): which paths each
//! one has, how a path is resolved once at compile time to a [`Field`], and how a field is read from and
//! written to the data of one item ([`Ctx`]).

use std::borrow::Cow;
use std::fmt;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use super::value::{Owned, Value};

/// An OTTL context: what one statement runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContextKind {
    Resource,
    Scope,
    Span,
    SpanEvent,
    Metric,
    DataPoint,
    Log,
}

impl ContextKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "resource" => ContextKind::Resource,
            "scope" | "instrumentation_scope" => ContextKind::Scope,
            "span" => ContextKind::Span,
            "spanevent" => ContextKind::SpanEvent,
            "metric" => ContextKind::Metric,
            "datapoint" => ContextKind::DataPoint,
            "log" => ContextKind::Log,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ContextKind::Resource => "resource",
            ContextKind::Scope => "scope",
            ContextKind::Span => "span",
            ContextKind::SpanEvent => "spanevent",
            ContextKind::Metric => "metric",
            ContextKind::DataPoint => "datapoint",
            ContextKind::Log => "log",
        }
    }
    /// Contexts whose paths this context can read: itself and its parents.
    pub fn can_see(self, other: ContextKind) -> bool {
        use ContextKind::*;
        self == other
            || match other {
                Resource => true,
                Scope => self != Resource,
                Span => self == SpanEvent,
                Metric => self == DataPoint,
                _ => false,
            }
    }
    /// How deep the context is: inference picks the deepest context named by any path.
    pub fn depth(self) -> u8 {
        match self {
            ContextKind::Resource => 0,
            ContextKind::Scope => 1,
            ContextKind::Span | ContextKind::Metric | ContextKind::Log => 2,
            ContextKind::SpanEvent | ContextKind::DataPoint => 3,
        }
    }
}

impl fmt::Display for ContextKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resolved path: which field of which part of the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ResourceAttributes,
    ResourceDroppedAttributesCount,
    ResourceSchemaUrl,
    ScopeName,
    ScopeVersion,
    ScopeAttributes,
    ScopeDroppedAttributesCount,
    ScopeSchemaUrl,
    SpanTraceId,
    SpanTraceIdString,
    SpanSpanId,
    SpanSpanIdString,
    SpanParentSpanId,
    SpanParentSpanIdString,
    SpanTraceState,
    /// `trace_state["key"]`: the W3C tracestate as a map of its list members.
    SpanTraceStateKey,
    SpanName,
    SpanKind,
    SpanKindString,
    SpanKindDeprecatedString,
    SpanStartTimeUnixNano,
    SpanEndTimeUnixNano,
    SpanStartTime,
    SpanEndTime,
    SpanAttributes,
    SpanDroppedAttributesCount,
    SpanDroppedEventsCount,
    SpanDroppedLinksCount,
    SpanStatusCode,
    SpanStatusMessage,
    SpanFlags,
    EventName,
    EventTimeUnixNano,
    EventTime,
    EventAttributes,
    EventDroppedAttributesCount,
    LogTimeUnixNano,
    LogObservedTimeUnixNano,
    LogTime,
    LogObservedTime,
    LogSeverityNumber,
    LogSeverityText,
    LogBody,
    LogBodyString,
    LogAttributes,
    LogDroppedAttributesCount,
    LogFlags,
    LogTraceId,
    LogTraceIdString,
    LogSpanId,
    LogSpanIdString,
    LogEventName,
    MetricName,
    MetricDescription,
    MetricUnit,
    MetricType,
    MetricAggregationTemporality,
    MetricIsMonotonic,
    MetricMetadata,
    PointAttributes,
    PointStartTimeUnixNano,
    PointTimeUnixNano,
    PointStartTime,
    PointTime,
    PointValueDouble,
    PointValueInt,
    PointFlags,
    PointCount,
    PointSum,
    PointBucketCounts,
    PointExplicitBounds,
    PointScale,
    PointZeroCount,
    PointPositiveOffset,
    PointPositiveBucketCounts,
    PointNegativeOffset,
    PointNegativeBucketCounts,
}

impl Field {
    /// The context that owns the field.
    pub fn owner(self) -> ContextKind {
        use Field::*;
        match self {
            ResourceAttributes | ResourceDroppedAttributesCount | ResourceSchemaUrl => {
                ContextKind::Resource
            }
            ScopeName
            | ScopeVersion
            | ScopeAttributes
            | ScopeDroppedAttributesCount
            | ScopeSchemaUrl => ContextKind::Scope,
            EventName
            | EventTimeUnixNano
            | EventTime
            | EventAttributes
            | EventDroppedAttributesCount => ContextKind::SpanEvent,
            f if (f as u8) >= (SpanTraceId as u8) && (f as u8) <= (SpanFlags as u8) => {
                ContextKind::Span
            }
            f if (f as u8) >= (LogTimeUnixNano as u8) && (f as u8) <= (LogEventName as u8) => {
                ContextKind::Log
            }
            f if (f as u8) >= (MetricName as u8) && (f as u8) <= (MetricMetadata as u8) => {
                ContextKind::Metric
            }
            _ => ContextKind::DataPoint,
        }
    }

    /// The number of the `Span` or `LogRecord` protobuf field the path reads (for decoding only
    /// what conditions read); `None` for fields of other messages.
    pub fn item_field_number(self) -> Option<u32> {
        use Field::*;
        Some(match self {
            SpanTraceId | SpanTraceIdString => 1,
            SpanSpanId | SpanSpanIdString => 2,
            SpanTraceState | SpanTraceStateKey => 3,
            SpanParentSpanId | SpanParentSpanIdString => 4,
            SpanName => 5,
            SpanKind | SpanKindString | SpanKindDeprecatedString => 6,
            SpanStartTimeUnixNano | SpanStartTime => 7,
            SpanEndTimeUnixNano | SpanEndTime => 8,
            SpanAttributes => 9,
            SpanDroppedAttributesCount => 10,
            SpanDroppedEventsCount => 12,
            SpanDroppedLinksCount => 14,
            SpanStatusCode | SpanStatusMessage => 15,
            SpanFlags => 16,
            LogTimeUnixNano | LogTime => 1,
            LogSeverityNumber => 2,
            LogSeverityText => 3,
            LogBody | LogBodyString => 5,
            LogAttributes => 6,
            LogDroppedAttributesCount => 7,
            LogFlags => 8,
            LogTraceId | LogTraceIdString => 9,
            LogSpanId | LogSpanIdString => 10,
            LogObservedTimeUnixNano | LogObservedTime => 11,
            LogEventName => 12,
            _ => return None,
        })
    }

    /// Whether the field holds a map that keys index (`attributes["k"]`) or an any-value (`body`).
    pub fn indexable(self) -> bool {
        use Field::*;
        matches!(
            self,
            ResourceAttributes
                | ScopeAttributes
                | SpanAttributes
                | EventAttributes
                | LogAttributes
                | LogBody
                | PointAttributes
                | SpanTraceStateKey
                | MetricMetadata
                | PointBucketCounts
                | PointExplicitBounds
                | PointPositiveBucketCounts
                | PointNegativeBucketCounts
        )
    }

    /// Fields no statement may write (derived or read-only in otelcol).
    pub fn read_only(self) -> bool {
        matches!(self, Field::MetricType | Field::SpanKindDeprecatedString)
    }
}

/// Resolves dotted field names (without the context prefix) in context `ctx`.
pub fn resolve(ctx: ContextKind, fields: &[&str]) -> Option<Field> {
    use Field::*;
    let f = match ctx {
        ContextKind::Resource => match fields {
            ["attributes"] => ResourceAttributes,
            ["dropped_attributes_count"] => ResourceDroppedAttributesCount,
            ["schema_url"] => ResourceSchemaUrl,
            _ => return None,
        },
        ContextKind::Scope => match fields {
            ["name"] => ScopeName,
            ["version"] => ScopeVersion,
            ["attributes"] => ScopeAttributes,
            ["dropped_attributes_count"] => ScopeDroppedAttributesCount,
            ["schema_url"] => ScopeSchemaUrl,
            _ => return None,
        },
        ContextKind::Span => match fields {
            ["trace_id"] => SpanTraceId,
            ["trace_id", "string"] => SpanTraceIdString,
            ["span_id"] => SpanSpanId,
            ["span_id", "string"] => SpanSpanIdString,
            ["parent_span_id"] => SpanParentSpanId,
            ["parent_span_id", "string"] => SpanParentSpanIdString,
            ["trace_state"] => SpanTraceState,
            ["name"] => SpanName,
            ["kind"] => SpanKind,
            ["kind", "string"] => SpanKindString,
            ["kind", "deprecated_string"] => SpanKindDeprecatedString,
            ["start_time_unix_nano"] => SpanStartTimeUnixNano,
            ["end_time_unix_nano"] => SpanEndTimeUnixNano,
            ["start_time"] => SpanStartTime,
            ["end_time"] => SpanEndTime,
            ["attributes"] => SpanAttributes,
            ["dropped_attributes_count"] => SpanDroppedAttributesCount,
            ["dropped_events_count"] => SpanDroppedEventsCount,
            ["dropped_links_count"] => SpanDroppedLinksCount,
            ["status", "code"] => SpanStatusCode,
            ["status", "message"] => SpanStatusMessage,
            ["flags"] => SpanFlags,
            _ => return None,
        },
        ContextKind::SpanEvent => match fields {
            ["name"] => EventName,
            ["time_unix_nano"] => EventTimeUnixNano,
            ["time"] => EventTime,
            ["attributes"] => EventAttributes,
            ["dropped_attributes_count"] => EventDroppedAttributesCount,
            _ => return None,
        },
        ContextKind::Log => match fields {
            ["time_unix_nano"] => LogTimeUnixNano,
            ["observed_time_unix_nano"] => LogObservedTimeUnixNano,
            ["time"] => LogTime,
            ["observed_time"] => LogObservedTime,
            ["severity_number"] => LogSeverityNumber,
            ["severity_text"] => LogSeverityText,
            ["body"] => LogBody,
            ["body", "string"] => LogBodyString,
            ["attributes"] => LogAttributes,
            ["dropped_attributes_count"] => LogDroppedAttributesCount,
            ["flags"] => LogFlags,
            ["trace_id"] => LogTraceId,
            ["trace_id", "string"] => LogTraceIdString,
            ["span_id"] => LogSpanId,
            ["span_id", "string"] => LogSpanIdString,
            ["event_name"] => LogEventName,
            _ => return None,
        },
        ContextKind::Metric => match fields {
            ["name"] => MetricName,
            ["description"] => MetricDescription,
            ["unit"] => MetricUnit,
            ["type"] => MetricType,
            ["aggregation_temporality"] => MetricAggregationTemporality,
            ["is_monotonic"] => MetricIsMonotonic,
            ["metadata"] => MetricMetadata,
            _ => return None,
        },
        ContextKind::DataPoint => match fields {
            ["attributes"] => PointAttributes,
            ["start_time_unix_nano"] => PointStartTimeUnixNano,
            ["time_unix_nano"] => PointTimeUnixNano,
            ["start_time"] => PointStartTime,
            ["time"] => PointTime,
            ["value_double"] => PointValueDouble,
            ["value_int"] => PointValueInt,
            ["flags"] => PointFlags,
            ["count"] => PointCount,
            ["sum"] => PointSum,
            ["bucket_counts"] => PointBucketCounts,
            ["explicit_bounds"] => PointExplicitBounds,
            ["scale"] => PointScale,
            ["zero_count"] => PointZeroCount,
            ["positive", "offset"] => PointPositiveOffset,
            ["positive", "bucket_counts"] => PointPositiveBucketCounts,
            ["negative", "offset"] => PointNegativeOffset,
            ["negative", "bucket_counts"] => PointNegativeBucketCounts,
            _ => return None,
        },
    };
    Some(f)
}

/// The paths otelcol documents that ferrotel does not have yet (listed in docs/ottl.md).
pub fn unsupported(ctx: ContextKind, fields: &[&str]) -> bool {
    matches!(
        (ctx, fields),
        (ContextKind::Span, ["events" | "links" | "status" | "cache"])
            | (ContextKind::DataPoint, ["exemplars" | "quantile_values"])
            | (ContextKind::Metric, ["data_points"])
            | (_, ["cache"])
    )
}

/// The `key=value` list members of a W3C `tracestate`, in order; malformed members are skipped.
pub fn trace_state_members(ts: &str) -> impl Iterator<Item = (&str, &str)> {
    ts.split(',')
        .map(str::trim)
        .filter_map(|m| m.split_once('='))
}

fn valid_trace_state_key(k: &str) -> bool {
    // W3C: simple-key or tenant@system, lower-case letters, digits and _ - * /.
    let part = |p: &str, max: usize| {
        !p.is_empty()
            && p.len() <= max
            && p.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/".contains(&c))
    };
    match k.split_once('@') {
        None => part(k, 256) && k.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric()),
        Some((tenant, system)) => part(tenant, 241) && part(system, 14),
    }
}

fn valid_trace_state_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && !v.ends_with(' ')
        && v.bytes()
            .all(|c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

/// Sets one list member of a W3C `tracestate`: the new or updated member moves to the front, as
/// the W3C spec (and otelcol's `trace_state["key"]` path) does; at most 32 members.
pub fn set_trace_state_member(ts: &mut String, key: &str, value: &str) -> Result<(), String> {
    if !valid_trace_state_key(key) {
        return Err(format!("invalid trace_state key {key:?}"));
    }
    if !valid_trace_state_value(value) {
        return Err(format!("invalid trace_state value {value:?}"));
    }
    let mut out = format!("{key}={value}");
    let mut n = 1;
    for (k, v) in trace_state_members(ts) {
        if k != key {
            out.push(',');
            out.push_str(k);
            out.push('=');
            out.push_str(v);
            n += 1;
        }
    }
    if n > 32 {
        return Err("trace_state would have more than 32 members".into());
    }
    *ts = out;
    Ok(())
}

/// One data point of any metric type.
pub enum Point<'x> {
    Number(&'x mut NumberDataPoint),
    Histogram(&'x mut HistogramDataPoint),
    ExpHistogram(&'x mut ExponentialHistogramDataPoint),
    Summary(&'x mut SummaryDataPoint),
}

/// The data one statement runs on: the item and the containers above it. Parts a context lacks are
/// `None` (a `log` context has no `span`).
#[derive(Default)]
pub struct Ctx<'x> {
    pub resource: Option<&'x mut Option<Resource>>,
    pub resource_schema_url: Option<&'x mut String>,
    pub scope: Option<&'x mut Option<InstrumentationScope>>,
    pub scope_schema_url: Option<&'x mut String>,
    pub span: Option<&'x mut Span>,
    pub event: Option<&'x mut Event>,
    pub log: Option<&'x mut LogRecord>,
    pub metric: Option<&'x mut Metric>,
    pub point: Option<Point<'x>>,
    /// Metrics created by metric-context editors (`extract_sum_metric`, …), appended to the scope's
    /// metrics by the walker; `None` outside the metric context.
    pub new_metrics: Option<&'x mut Vec<Metric>>,
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

pub fn span_kind_name(k: i32) -> &'static str {
    match k {
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "Unspecified",
    }
}

fn metric_type(m: &Metric) -> i64 {
    match &m.data {
        None => 0,
        Some(Data::Gauge(_)) => 1,
        Some(Data::Sum(_)) => 2,
        Some(Data::Histogram(_)) => 3,
        Some(Data::ExponentialHistogram(_)) => 4,
        Some(Data::Summary(_)) => 5,
    }
}

fn u64s(v: &[u64]) -> Value<'static> {
    Value::List(Cow::Owned(
        v.iter()
            .map(|x| AnyValue {
                value: Some(Av::IntValue(*x as i64)),
            })
            .collect(),
    ))
}

fn f64s(v: &[f64]) -> Value<'static> {
    Value::List(Cow::Owned(
        v.iter()
            .map(|x| AnyValue {
                value: Some(Av::DoubleValue(*x)),
            })
            .collect(),
    ))
}

impl<'x> Ctx<'x> {
    /// Reads a field (without keys).
    pub fn get(&self, f: Field) -> Value<'_> {
        use Field::*;
        let res = self.resource.as_ref().and_then(|r| r.as_ref());
        let scope = self.scope.as_ref().and_then(|s| s.as_ref());
        let span = self.span.as_deref();
        let ev = self.event.as_deref();
        let log = self.log.as_deref();
        let metric = self.metric.as_deref();
        fn s(x: &str) -> Value<'_> {
            Value::Str(Cow::Borrowed(x))
        }
        macro_rules! on {
            ($opt:expr, |$v:ident| $e:expr) => {
                match $opt {
                    Some($v) => $e,
                    None => Value::Nil,
                }
            };
        }
        match f {
            ResourceAttributes => Value::Map(Cow::Borrowed(
                res.map(|r| r.attributes.as_slice()).unwrap_or(&[]),
            )),
            ResourceDroppedAttributesCount => {
                Value::Int(res.map(|r| r.dropped_attributes_count as i64).unwrap_or(0))
            }
            ResourceSchemaUrl => s(self
                .resource_schema_url
                .as_deref()
                .map_or("", |x| x.as_str())),
            ScopeName => s(scope.map_or("", |x| x.name.as_str())),
            ScopeVersion => s(scope.map_or("", |x| x.version.as_str())),
            ScopeAttributes => Value::Map(Cow::Borrowed(
                scope.map(|r| r.attributes.as_slice()).unwrap_or(&[]),
            )),
            ScopeDroppedAttributesCount => Value::Int(
                scope
                    .map(|r| r.dropped_attributes_count as i64)
                    .unwrap_or(0),
            ),
            ScopeSchemaUrl => s(self.scope_schema_url.as_deref().map_or("", |x| x.as_str())),
            SpanTraceId => on!(span, |x| Value::Bytes(Cow::Borrowed(&x.trace_id))),
            SpanTraceIdString => on!(span, |x| Value::Str(Cow::Owned(hex(&x.trace_id)))),
            SpanSpanId => on!(span, |x| Value::Bytes(Cow::Borrowed(&x.span_id))),
            SpanSpanIdString => on!(span, |x| Value::Str(Cow::Owned(hex(&x.span_id)))),
            SpanParentSpanId => on!(span, |x| Value::Bytes(Cow::Borrowed(&x.parent_span_id))),
            SpanParentSpanIdString => {
                on!(span, |x| Value::Str(Cow::Owned(hex(&x.parent_span_id))))
            }
            SpanTraceState => on!(span, |x| s(&x.trace_state)),
            SpanTraceStateKey => on!(span, |x| Value::Map(Cow::Owned(
                trace_state_members(&x.trace_state)
                    .map(|(k, v)| KeyValue {
                        key: k.to_string(),
                        value: Some(AnyValue {
                            value: Some(Av::StringValue(v.to_string())),
                        }),
                        ..Default::default()
                    })
                    .collect()
            ))),
            SpanName => on!(span, |x| s(&x.name)),
            SpanKind => on!(span, |x| Value::Int(x.kind as i64)),
            SpanKindString => on!(span, |x| s(span_kind_name(x.kind))),
            SpanKindDeprecatedString => on!(span, |x| s(match x.kind {
                1 => "SPAN_KIND_INTERNAL",
                2 => "SPAN_KIND_SERVER",
                3 => "SPAN_KIND_CLIENT",
                4 => "SPAN_KIND_PRODUCER",
                5 => "SPAN_KIND_CONSUMER",
                _ => "SPAN_KIND_UNSPECIFIED",
            })),
            SpanStartTimeUnixNano => on!(span, |x| Value::Int(x.start_time_unix_nano as i64)),
            SpanEndTimeUnixNano => on!(span, |x| Value::Int(x.end_time_unix_nano as i64)),
            SpanStartTime => on!(span, |x| Value::Time(x.start_time_unix_nano as i64)),
            SpanEndTime => on!(span, |x| Value::Time(x.end_time_unix_nano as i64)),
            SpanAttributes => on!(span, |x| Value::Map(Cow::Borrowed(&x.attributes))),
            SpanDroppedAttributesCount => {
                on!(span, |x| Value::Int(x.dropped_attributes_count as i64))
            }
            SpanDroppedEventsCount => on!(span, |x| Value::Int(x.dropped_events_count as i64)),
            SpanDroppedLinksCount => on!(span, |x| Value::Int(x.dropped_links_count as i64)),
            SpanStatusCode => on!(span, |x| Value::Int(
                x.status.as_ref().map_or(0, |s| s.code as i64)
            )),
            SpanStatusMessage => on!(span, |x| s(x
                .status
                .as_ref()
                .map_or("", |s| s.message.as_str()))),
            SpanFlags => on!(span, |x| Value::Int(x.flags as i64)),
            EventName => on!(ev, |x| s(&x.name)),
            EventTimeUnixNano => on!(ev, |x| Value::Int(x.time_unix_nano as i64)),
            EventTime => on!(ev, |x| Value::Time(x.time_unix_nano as i64)),
            EventAttributes => on!(ev, |x| Value::Map(Cow::Borrowed(&x.attributes))),
            EventDroppedAttributesCount => {
                on!(ev, |x| Value::Int(x.dropped_attributes_count as i64))
            }
            LogTimeUnixNano => on!(log, |x| Value::Int(x.time_unix_nano as i64)),
            LogObservedTimeUnixNano => on!(log, |x| Value::Int(x.observed_time_unix_nano as i64)),
            LogTime => on!(log, |x| Value::Time(x.time_unix_nano as i64)),
            LogObservedTime => on!(log, |x| Value::Time(x.observed_time_unix_nano as i64)),
            LogSeverityNumber => on!(log, |x| Value::Int(x.severity_number as i64)),
            LogSeverityText => on!(log, |x| s(&x.severity_text)),
            LogBody => on!(log, |x| Value::from_opt_any(x.body.as_ref())),
            LogBodyString => on!(log, |x| match Value::from_opt_any(x.body.as_ref()) {
                v @ Value::Str(_) => v,
                v => Value::Str(Cow::Owned(v.to_text())),
            }),
            LogAttributes => on!(log, |x| Value::Map(Cow::Borrowed(&x.attributes))),
            LogDroppedAttributesCount => {
                on!(log, |x| Value::Int(x.dropped_attributes_count as i64))
            }
            LogFlags => on!(log, |x| Value::Int(x.flags as i64)),
            LogTraceId => on!(log, |x| Value::Bytes(Cow::Borrowed(&x.trace_id))),
            LogTraceIdString => on!(log, |x| Value::Str(Cow::Owned(hex(&x.trace_id)))),
            LogSpanId => on!(log, |x| Value::Bytes(Cow::Borrowed(&x.span_id))),
            LogSpanIdString => on!(log, |x| Value::Str(Cow::Owned(hex(&x.span_id)))),
            LogEventName => on!(log, |x| s(&x.event_name)),
            MetricName => on!(metric, |x| s(&x.name)),
            MetricDescription => on!(metric, |x| s(&x.description)),
            MetricUnit => on!(metric, |x| s(&x.unit)),
            MetricType => on!(metric, |x| Value::Int(metric_type(x))),
            MetricAggregationTemporality => on!(metric, |x| Value::Int(match &x.data {
                Some(Data::Sum(d)) => d.aggregation_temporality as i64,
                Some(Data::Histogram(d)) => d.aggregation_temporality as i64,
                Some(Data::ExponentialHistogram(d)) => d.aggregation_temporality as i64,
                _ => 0,
            })),
            MetricIsMonotonic => on!(metric, |x| Value::Bool(matches!(
                &x.data,
                Some(Data::Sum(d)) if d.is_monotonic
            ))),
            MetricMetadata => on!(metric, |x| Value::Map(Cow::Borrowed(&x.metadata))),
            _ => self.get_point(f),
        }
    }

    fn get_point(&self, f: Field) -> Value<'_> {
        use Field::*;
        let Some(p) = self.point.as_ref() else {
            return Value::Nil;
        };
        macro_rules! common {
            ($p:expr, $field:ident) => {
                match $p {
                    Point::Number(d) => &d.$field,
                    Point::Histogram(d) => &d.$field,
                    Point::ExpHistogram(d) => &d.$field,
                    Point::Summary(d) => &d.$field,
                }
            };
        }
        match f {
            PointAttributes => Value::Map(Cow::Borrowed(common!(p, attributes))),
            PointStartTimeUnixNano => Value::Int(*common!(p, start_time_unix_nano) as i64),
            PointTimeUnixNano => Value::Int(*common!(p, time_unix_nano) as i64),
            PointStartTime => Value::Time(*common!(p, start_time_unix_nano) as i64),
            PointTime => Value::Time(*common!(p, time_unix_nano) as i64),
            PointFlags => Value::Int(*common!(p, flags) as i64),
            PointValueDouble => match p {
                Point::Number(d) => match d.value {
                    Some(number_data_point::Value::AsDouble(x)) => Value::Double(x),
                    _ => Value::Double(0.0),
                },
                _ => Value::Nil,
            },
            PointValueInt => match p {
                Point::Number(d) => match d.value {
                    Some(number_data_point::Value::AsInt(x)) => Value::Int(x),
                    _ => Value::Int(0),
                },
                _ => Value::Nil,
            },
            PointCount => match p {
                Point::Histogram(d) => Value::Int(d.count as i64),
                Point::ExpHistogram(d) => Value::Int(d.count as i64),
                Point::Summary(d) => Value::Int(d.count as i64),
                Point::Number(_) => Value::Nil,
            },
            PointSum => match p {
                Point::Histogram(d) => Value::Double(d.sum.unwrap_or(0.0)),
                Point::ExpHistogram(d) => Value::Double(d.sum.unwrap_or(0.0)),
                Point::Summary(d) => Value::Double(d.sum),
                Point::Number(_) => Value::Nil,
            },
            PointBucketCounts => match p {
                Point::Histogram(d) => u64s(&d.bucket_counts),
                _ => Value::Nil,
            },
            PointExplicitBounds => match p {
                Point::Histogram(d) => f64s(&d.explicit_bounds),
                _ => Value::Nil,
            },
            PointScale => match p {
                Point::ExpHistogram(d) => Value::Int(d.scale as i64),
                _ => Value::Nil,
            },
            PointZeroCount => match p {
                Point::ExpHistogram(d) => Value::Int(d.zero_count as i64),
                _ => Value::Nil,
            },
            PointPositiveOffset
            | PointNegativeOffset
            | PointPositiveBucketCounts
            | PointNegativeBucketCounts => match p {
                Point::ExpHistogram(d) => {
                    let b = if matches!(f, PointPositiveOffset | PointPositiveBucketCounts) {
                        d.positive.as_ref()
                    } else {
                        d.negative.as_ref()
                    };
                    match (f, b) {
                        (PointPositiveOffset | PointNegativeOffset, b) => {
                            Value::Int(b.map_or(0, |b| b.offset as i64))
                        }
                        (_, b) => u64s(b.map_or(&[], |b| b.bucket_counts.as_slice())),
                    }
                }
                _ => Value::Nil,
            },
            _ => Value::Nil,
        }
    }

    /// The attribute map or any-value a field holds, for writing through keys.
    pub fn container_mut(&mut self, f: Field) -> Option<Container<'_>> {
        use Field::*;
        Some(match f {
            ResourceAttributes => Container::Map(
                &mut self
                    .resource
                    .as_deref_mut()?
                    .get_or_insert_with(Default::default)
                    .attributes,
            ),
            ScopeAttributes => Container::Map(
                &mut self
                    .scope
                    .as_deref_mut()?
                    .get_or_insert_with(Default::default)
                    .attributes,
            ),
            SpanAttributes => Container::Map(&mut self.span.as_deref_mut()?.attributes),
            EventAttributes => Container::Map(&mut self.event.as_deref_mut()?.attributes),
            LogAttributes => Container::Map(&mut self.log.as_deref_mut()?.attributes),
            MetricMetadata => Container::Map(&mut self.metric.as_deref_mut()?.metadata),
            LogBody => Container::Any(
                self.log
                    .as_deref_mut()?
                    .body
                    .get_or_insert_with(Default::default),
            ),
            PointAttributes => Container::Map(match self.point.as_mut()? {
                Point::Number(d) => &mut d.attributes,
                Point::Histogram(d) => &mut d.attributes,
                Point::ExpHistogram(d) => &mut d.attributes,
                Point::Summary(d) => &mut d.attributes,
            }),
            _ => return None,
        })
    }

    /// Writes a field (without keys). The value's type must fit; a wrong type is an error.
    pub fn set(&mut self, f: Field, v: Owned) -> Result<(), String> {
        use Field::*;
        let type_err = |want: &str, v: &Owned| {
            Err(format!(
                "cannot set {f:?}: expected {want}, got {}",
                v.type_name()
            ))
        };
        macro_rules! string {
            ($slot:expr) => {
                match v {
                    Value::Str(s) => {
                        if let Some(slot) = $slot {
                            *slot = s.into_owned();
                        }
                        Ok(())
                    }
                    Value::Nil => Ok(()),
                    v => type_err("string", &v),
                }
            };
        }
        macro_rules! int {
            ($slot:expr, $t:ty) => {
                match v {
                    Value::Int(i) | Value::Time(i) => {
                        if let Some(slot) = $slot {
                            *slot = i as $t;
                        }
                        Ok(())
                    }
                    Value::Nil => Ok(()),
                    v => type_err("int", &v),
                }
            };
        }
        macro_rules! time {
            ($slot:expr) => {
                match v {
                    Value::Time(i) => {
                        if let Some(slot) = $slot {
                            *slot = i.max(0) as u64;
                        }
                        Ok(())
                    }
                    Value::Nil => Ok(()),
                    v => type_err("time", &v),
                }
            };
        }
        macro_rules! id {
            ($slot:expr, $len:expr) => {
                match v {
                    Value::Bytes(b) if b.len() == $len => {
                        if let Some(slot) = $slot {
                            *slot = b.into_owned();
                        }
                        Ok(())
                    }
                    Value::Nil => Ok(()),
                    v => type_err(concat!("bytes of length ", $len), &v),
                }
            };
        }
        macro_rules! id_string {
            ($slot:expr, $len:expr) => {
                match v {
                    Value::Str(s) => match unhex(&s) {
                        Some(b) if b.len() == $len => {
                            if let Some(slot) = $slot {
                                *slot = b;
                            }
                            Ok(())
                        }
                        _ => Err(format!(
                            "cannot set {f:?}: {s:?} is not {} hex digits",
                            $len * 2
                        )),
                    },
                    Value::Nil => Ok(()),
                    v => type_err("string", &v),
                }
            };
        }
        match f {
            ResourceAttributes | ScopeAttributes | SpanAttributes | EventAttributes
            | LogAttributes | PointAttributes | MetricMetadata => match v {
                Value::Map(m) => {
                    if let Some(Container::Map(slot)) = self.container_mut(f) {
                        *slot = m.into_owned();
                    }
                    Ok(())
                }
                v => type_err("map", &v),
            },
            LogBody => {
                if let Some(l) = self.log.as_deref_mut() {
                    l.body = Some(v.into_any());
                }
                Ok(())
            }
            LogBodyString => string!(self.log.as_deref_mut().map(|l| {
                let b = l.body.get_or_insert_with(Default::default);
                if !matches!(b.value, Some(Av::StringValue(_))) {
                    b.value = Some(Av::StringValue(String::new()));
                }
                match &mut b.value {
                    Some(Av::StringValue(s)) => s,
                    _ => unreachable!("set above"),
                }
            })),
            ResourceDroppedAttributesCount => int!(
                self.resource.as_deref_mut().map(|r| &mut r
                    .get_or_insert_with(Default::default)
                    .dropped_attributes_count),
                u32
            ),
            ResourceSchemaUrl => string!(self.resource_schema_url.as_deref_mut()),
            ScopeName => string!(self
                .scope
                .as_deref_mut()
                .map(|s| &mut s.get_or_insert_with(Default::default).name)),
            ScopeVersion => string!(self
                .scope
                .as_deref_mut()
                .map(|s| &mut s.get_or_insert_with(Default::default).version)),
            ScopeDroppedAttributesCount => int!(
                self.scope.as_deref_mut().map(|s| &mut s
                    .get_or_insert_with(Default::default)
                    .dropped_attributes_count),
                u32
            ),
            ScopeSchemaUrl => string!(self.scope_schema_url.as_deref_mut()),
            SpanTraceId => id!(self.span.as_deref_mut().map(|s| &mut s.trace_id), 16),
            SpanSpanId => id!(self.span.as_deref_mut().map(|s| &mut s.span_id), 8),
            SpanParentSpanId => id!(self.span.as_deref_mut().map(|s| &mut s.parent_span_id), 8),
            SpanTraceIdString => id_string!(self.span.as_deref_mut().map(|s| &mut s.trace_id), 16),
            SpanSpanIdString => id_string!(self.span.as_deref_mut().map(|s| &mut s.span_id), 8),
            SpanParentSpanIdString => {
                id_string!(self.span.as_deref_mut().map(|s| &mut s.parent_span_id), 8)
            }
            SpanTraceState => string!(self.span.as_deref_mut().map(|s| &mut s.trace_state)),
            SpanName => string!(self.span.as_deref_mut().map(|s| &mut s.name)),
            SpanKind => int!(self.span.as_deref_mut().map(|s| &mut s.kind), i32),
            SpanKindString => match v {
                Value::Str(s) => {
                    let k = (0..=5).find(|k| span_kind_name(*k) == s.as_ref());
                    match (k, self.span.as_deref_mut()) {
                        (Some(k), Some(span)) => {
                            span.kind = k;
                            Ok(())
                        }
                        (None, _) => Err(format!("unknown span kind {s:?}")),
                        _ => Ok(()),
                    }
                }
                v => type_err("string", &v),
            },
            SpanStartTimeUnixNano => {
                int!(
                    self.span
                        .as_deref_mut()
                        .map(|s| &mut s.start_time_unix_nano),
                    u64
                )
            }
            SpanEndTimeUnixNano => {
                int!(
                    self.span.as_deref_mut().map(|s| &mut s.end_time_unix_nano),
                    u64
                )
            }
            SpanStartTime => time!(self
                .span
                .as_deref_mut()
                .map(|s| &mut s.start_time_unix_nano)),
            SpanEndTime => time!(self.span.as_deref_mut().map(|s| &mut s.end_time_unix_nano)),
            SpanDroppedAttributesCount => {
                int!(
                    self.span
                        .as_deref_mut()
                        .map(|s| &mut s.dropped_attributes_count),
                    u32
                )
            }
            SpanDroppedEventsCount => {
                int!(
                    self.span
                        .as_deref_mut()
                        .map(|s| &mut s.dropped_events_count),
                    u32
                )
            }
            SpanDroppedLinksCount => {
                int!(
                    self.span.as_deref_mut().map(|s| &mut s.dropped_links_count),
                    u32
                )
            }
            SpanStatusCode => int!(
                self.span
                    .as_deref_mut()
                    .map(|s| &mut s.status.get_or_insert_with(Status::default).code),
                i32
            ),
            SpanStatusMessage => string!(self
                .span
                .as_deref_mut()
                .map(|s| &mut s.status.get_or_insert_with(Status::default).message)),
            SpanFlags => int!(self.span.as_deref_mut().map(|s| &mut s.flags), u32),
            EventName => string!(self.event.as_deref_mut().map(|s| &mut s.name)),
            EventTimeUnixNano => int!(
                self.event.as_deref_mut().map(|s| &mut s.time_unix_nano),
                u64
            ),
            EventTime => time!(self.event.as_deref_mut().map(|s| &mut s.time_unix_nano)),
            EventDroppedAttributesCount => {
                int!(
                    self.event
                        .as_deref_mut()
                        .map(|s| &mut s.dropped_attributes_count),
                    u32
                )
            }
            LogTimeUnixNano => int!(self.log.as_deref_mut().map(|s| &mut s.time_unix_nano), u64),
            LogObservedTimeUnixNano => {
                int!(
                    self.log
                        .as_deref_mut()
                        .map(|s| &mut s.observed_time_unix_nano),
                    u64
                )
            }
            LogTime => time!(self.log.as_deref_mut().map(|s| &mut s.time_unix_nano)),
            LogObservedTime => time!(self
                .log
                .as_deref_mut()
                .map(|s| &mut s.observed_time_unix_nano)),
            LogSeverityNumber => int!(self.log.as_deref_mut().map(|s| &mut s.severity_number), i32),
            LogSeverityText => string!(self.log.as_deref_mut().map(|s| &mut s.severity_text)),
            LogDroppedAttributesCount => {
                int!(
                    self.log
                        .as_deref_mut()
                        .map(|s| &mut s.dropped_attributes_count),
                    u32
                )
            }
            LogFlags => int!(self.log.as_deref_mut().map(|s| &mut s.flags), u32),
            LogTraceId => id!(self.log.as_deref_mut().map(|s| &mut s.trace_id), 16),
            LogSpanId => id!(self.log.as_deref_mut().map(|s| &mut s.span_id), 8),
            LogTraceIdString => id_string!(self.log.as_deref_mut().map(|s| &mut s.trace_id), 16),
            LogSpanIdString => id_string!(self.log.as_deref_mut().map(|s| &mut s.span_id), 8),
            LogEventName => string!(self.log.as_deref_mut().map(|s| &mut s.event_name)),
            MetricName => string!(self.metric.as_deref_mut().map(|s| &mut s.name)),
            MetricDescription => string!(self.metric.as_deref_mut().map(|s| &mut s.description)),
            MetricUnit => string!(self.metric.as_deref_mut().map(|s| &mut s.unit)),
            MetricAggregationTemporality => match v {
                Value::Int(i) => {
                    match self.metric.as_deref_mut().and_then(|m| m.data.as_mut()) {
                        Some(Data::Sum(d)) => d.aggregation_temporality = i as i32,
                        Some(Data::Histogram(d)) => d.aggregation_temporality = i as i32,
                        Some(Data::ExponentialHistogram(d)) => d.aggregation_temporality = i as i32,
                        _ => {}
                    }
                    Ok(())
                }
                v => type_err("int", &v),
            },
            MetricIsMonotonic => match v {
                Value::Bool(b) => {
                    if let Some(Data::Sum(d)) =
                        self.metric.as_deref_mut().and_then(|m| m.data.as_mut())
                    {
                        d.is_monotonic = b;
                    }
                    Ok(())
                }
                v => type_err("bool", &v),
            },
            MetricType | SpanKindDeprecatedString | SpanTraceStateKey => {
                Err(format!("{f:?} cannot be set"))
            }
            _ => self.set_point(f, v),
        }
    }

    fn set_point(&mut self, f: Field, v: Owned) -> Result<(), String> {
        use Field::*;
        let Some(p) = self.point.as_mut() else {
            return Ok(());
        };
        let int = |v: &Owned| match v {
            Value::Int(i) | Value::Time(i) => Ok(*i),
            v => Err(format!(
                "cannot set {f:?}: expected int, got {}",
                v.type_name()
            )),
        };
        let dbl = |v: &Owned| match v {
            Value::Double(d) => Ok(*d),
            v => Err(format!(
                "cannot set {f:?}: expected double, got {}",
                v.type_name()
            )),
        };
        let list_u64 = |v: &Owned| match v {
            Value::List(l) => Ok(l
                .iter()
                .map(|a| match a.value {
                    Some(Av::IntValue(i)) => i.max(0) as u64,
                    _ => 0,
                })
                .collect::<Vec<u64>>()),
            v => Err(format!(
                "cannot set {f:?}: expected slice, got {}",
                v.type_name()
            )),
        };
        macro_rules! common {
            ($field:ident) => {
                match p {
                    Point::Number(d) => &mut d.$field,
                    Point::Histogram(d) => &mut d.$field,
                    Point::ExpHistogram(d) => &mut d.$field,
                    Point::Summary(d) => &mut d.$field,
                }
            };
        }
        match f {
            PointAttributes => match v {
                Value::Map(m) => {
                    *common!(attributes) = m.into_owned();
                    Ok(())
                }
                v => Err(format!(
                    "cannot set attributes: expected map, got {}",
                    v.type_name()
                )),
            },
            PointStartTimeUnixNano | PointStartTime => {
                *common!(start_time_unix_nano) = int(&v)?.max(0) as u64;
                Ok(())
            }
            PointTimeUnixNano | PointTime => {
                *common!(time_unix_nano) = int(&v)?.max(0) as u64;
                Ok(())
            }
            PointFlags => {
                *common!(flags) = int(&v)? as u32;
                Ok(())
            }
            PointValueDouble => {
                if let Point::Number(d) = p {
                    d.value = Some(number_data_point::Value::AsDouble(dbl(&v)?));
                }
                Ok(())
            }
            PointValueInt => {
                if let Point::Number(d) = p {
                    d.value = Some(number_data_point::Value::AsInt(int(&v)?));
                }
                Ok(())
            }
            PointCount => {
                let c = int(&v)?.max(0) as u64;
                match p {
                    Point::Histogram(d) => d.count = c,
                    Point::ExpHistogram(d) => d.count = c,
                    Point::Summary(d) => d.count = c,
                    Point::Number(_) => {}
                }
                Ok(())
            }
            PointSum => {
                let s = dbl(&v)?;
                match p {
                    Point::Histogram(d) => d.sum = Some(s),
                    Point::ExpHistogram(d) => d.sum = Some(s),
                    Point::Summary(d) => d.sum = s,
                    Point::Number(_) => {}
                }
                Ok(())
            }
            PointBucketCounts => {
                if let Point::Histogram(d) = p {
                    d.bucket_counts = list_u64(&v)?;
                }
                Ok(())
            }
            PointExplicitBounds => {
                if let (Point::Histogram(d), Value::List(l)) = (p, &v) {
                    d.explicit_bounds = l
                        .iter()
                        .map(|a| match a.value {
                            Some(Av::DoubleValue(x)) => x,
                            Some(Av::IntValue(i)) => i as f64,
                            _ => 0.0,
                        })
                        .collect();
                }
                Ok(())
            }
            PointScale => {
                if let Point::ExpHistogram(d) = p {
                    d.scale = int(&v)? as i32;
                }
                Ok(())
            }
            PointZeroCount => {
                if let Point::ExpHistogram(d) = p {
                    d.zero_count = int(&v)?.max(0) as u64;
                }
                Ok(())
            }
            PointPositiveOffset
            | PointNegativeOffset
            | PointPositiveBucketCounts
            | PointNegativeBucketCounts => {
                if let Point::ExpHistogram(d) = p {
                    let b: &mut Buckets =
                        if matches!(f, PointPositiveOffset | PointPositiveBucketCounts) {
                            d.positive.get_or_insert_with(Default::default)
                        } else {
                            d.negative.get_or_insert_with(Default::default)
                        };
                    if matches!(f, PointPositiveOffset | PointNegativeOffset) {
                        b.offset = int(&v)? as i32;
                    } else {
                        b.bucket_counts = list_u64(&v)?;
                    }
                }
                Ok(())
            }
            _ => Err(format!("{f:?} cannot be set in this context")),
        }
    }
}

/// A writable map or any-value reached through a field.
pub enum Container<'c> {
    Map(&'c mut Vec<KeyValue>),
    Any(&'c mut AnyValue),
}

/// A runtime key: `["name"]` or `[0]`.
#[derive(Debug, Clone)]
pub enum KeyRef<'k> {
    Str(Cow<'k, str>),
    Int(i64),
}

/// Reads `v[key]`: a missing map key is nil; a key of the wrong kind, or an index out of range, is an
/// error (as in otelcol).
pub fn index<'a>(v: Value<'a>, key: &KeyRef) -> Result<Value<'a>, String> {
    match (v, key) {
        (Value::Map(m), KeyRef::Str(k)) => Ok(match m {
            Cow::Borrowed(m) => m
                .iter()
                .find(|kv| kv.key == *k)
                .map(|kv| Value::from_opt_any(kv.value.as_ref()))
                .unwrap_or(Value::Nil),
            Cow::Owned(m) => m
                .into_iter()
                .find(|kv| kv.key == *k)
                .map(|kv| Value::from_opt_any(kv.value.as_ref()).into_owned())
                .unwrap_or(Value::Nil),
        }),
        (Value::List(l), KeyRef::Int(i)) => {
            let len = l.len();
            let i = usize::try_from(*i)
                .ok()
                .filter(|i| *i < len)
                .ok_or_else(|| format!("index {i} out of bounds (length {len})"))?;
            Ok(match l {
                Cow::Borrowed(l) => Value::from_any(&l[i]),
                Cow::Owned(l) => Value::from_any(&l[i]).into_owned(),
            })
        }
        (Value::Nil, _) => Ok(Value::Nil),
        (Value::Map(_), KeyRef::Int(_)) => Err("a map must be indexed with a string key".into()),
        (Value::List(_), KeyRef::Str(_)) => Err("a slice must be indexed with an int key".into()),
        (v, _) => Err(format!("type {} cannot be indexed", v.type_name())),
    }
}

fn find_or_insert<'m>(m: &'m mut Vec<KeyValue>, key: &str) -> &'m mut AnyValue {
    let pos = match m.iter().position(|kv| kv.key == key) {
        Some(p) => p,
        None => {
            m.push(KeyValue {
                key: key.to_string(),
                value: Some(AnyValue::default()),
                ..Default::default()
            });
            m.len() - 1
        }
    };
    m[pos].value.get_or_insert_with(Default::default)
}

/// The map inside an any-value, turning it into an empty map first if it is not one.
pub fn as_map_mut(a: &mut AnyValue) -> &mut Vec<KeyValue> {
    if !matches!(a.value, Some(Av::KvlistValue(_))) {
        a.value = Some(Av::KvlistValue(KeyValueList::default()));
    }
    match &mut a.value {
        Some(Av::KvlistValue(m)) => &mut m.values,
        _ => unreachable!("set above"),
    }
}

/// The any-value at `keys` below a container, creating maps on the way for string keys.
pub fn reach<'c>(c: Container<'c>, keys: &[KeyRef]) -> Result<Option<&'c mut AnyValue>, String> {
    let Some((first, rest)) = keys.split_first() else {
        return Ok(match c {
            Container::Any(a) => Some(a),
            Container::Map(_) => None,
        });
    };
    let mut cur: &mut AnyValue = match (c, first) {
        (Container::Map(m), KeyRef::Str(k)) => find_or_insert(m, k),
        (Container::Map(_), KeyRef::Int(_)) => {
            return Err("a map must be indexed with a string key".into())
        }
        (Container::Any(a), _) => {
            return reach_any(a, keys);
        }
    };
    for k in rest {
        cur = match reach_any(cur, std::slice::from_ref(k))? {
            Some(c) => c,
            None => return Ok(None),
        };
    }
    Ok(Some(cur))
}

fn reach_any<'c>(
    mut cur: &'c mut AnyValue,
    keys: &[KeyRef],
) -> Result<Option<&'c mut AnyValue>, String> {
    for k in keys {
        cur = match k {
            KeyRef::Str(k) => find_or_insert(as_map_mut(cur), k),
            KeyRef::Int(i) => match &mut cur.value {
                Some(Av::ArrayValue(a)) => {
                    let len = a.values.len();
                    let i = usize::try_from(*i)
                        .ok()
                        .filter(|i| *i < len)
                        .ok_or_else(|| format!("index {i} out of bounds (length {len})"))?;
                    &mut a.values[i]
                }
                _ => return Err("only a slice can be indexed with an int key".into()),
            },
        };
    }
    Ok(Some(cur))
}
