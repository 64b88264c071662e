//! Validating scans of encoded OTLP export requests.
//!
//! The receivers do not decode a request into owned structs: they walk its wire format, check it and
//! count its items. The bytes then travel through the pipeline unchanged, and only a component that
//! reads or changes the data decodes them — possibly much later, after the request was acknowledged
//! and joined with others into one batch. So the scan must refuse **everything prost would refuse**
//! when decoding the request (otherwise one bad request, once joined, poisons the decode of a whole
//! batch):
//! - every known field has the wire type prost expects (repeated numeric fields packed or not);
//! - every length fits in its enclosing message, every varint is well formed;
//! - every `string` field (names, attribute keys, string values, nested in `AnyValue` /
//!   `KeyValueList` / `ArrayValue` at any depth) is valid UTF-8;
//! - messages nest no deeper than prost's recursion limit (100), unknown fields (groups too) included;
//!
//! and additionally what OTLP (and otelcol's pdata) requires: trace ids of 16 bytes and span ids of 8
//! (a span's own ids always; links', log records' and exemplars' ids empty or of that size).
//!
//! The walk is driven by a table of the OTLP messages below, one entry per field number, mirroring
//! the prost structs of `opentelemetry-proto`. Nothing is allocated unless the request is invalid: the
//! path of the offending field (`resource_spans[0].scope_spans[0].spans[3].name`) is worked out only
//! then. `tests::scan_accepts_only_what_prost_decodes` checks the table against prost on mutated
//! requests.

use std::borrow::Cow;
use std::fmt;

use prost::encoding::{decode_key, decode_varint, WireType};

/// prost's recursion limit (`prost::RECURSION_LIMIT`, not exported): how deep messages may nest.
pub const RECURSION_LIMIT: u32 = 100;

/// A request that is not valid OTLP protobuf, with what is wrong with it (and where).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    message: String,
    /// Items found in the request, as far as its structure could be read (for the refusal counters).
    items: usize,
}

impl DecodeError {
    pub fn new(message: impl Into<String>) -> Self {
        DecodeError {
            message: message.into(),
            items: 0,
        }
    }

    pub(crate) fn with_items(mut self, items: usize) -> Self {
        self.items = items;
        self
    }

    /// Spans, metric data points or log records the refused request holds, counted as far as its
    /// structure could be read (exact when only a value inside an item is bad).
    pub fn items(&self) -> usize {
        self.items
    }
}

impl From<prost::DecodeError> for DecodeError {
    fn from(e: prost::DecodeError) -> Self {
        DecodeError::new(e.to_string())
    }
}

/// How prost decodes a field; see the module docs.
#[derive(Clone, Copy)]
enum Kind {
    /// Not a field of the message: skipped as prost skips unknown fields.
    Unknown,
    /// int32, int64, uint32, uint64, sint32, bool, enum.
    Varint,
    Fixed32,
    /// fixed64, sfixed64, double.
    Fixed64,
    String,
    Bytes,
    /// Bytes whose length must be one of these (trace and span ids).
    Id(&'static [usize], &'static str),
    Message(&'static Msg),
    /// A message alternative of a `oneof` that holds items (a metric's data): as prost, only the last
    /// alternative's items remain (repeats of the same alternative merge).
    OneofMessage(&'static Msg),
    /// repeated varint scalars, packed or not.
    RepeatedVarint,
    /// repeated fixed64 / double, packed or not.
    RepeatedFixed64,
}

#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    kind: Kind,
    repeated: bool,
}

/// An OTLP message: its fields indexed by field number.
pub struct Msg {
    fields: &'static [Field],
    /// Each occurrence is one item (a span, a metric data point, a log record).
    item: bool,
    /// Items can occur inside it (the lenient count descends only into these).
    holds_items: bool,
}

impl Msg {
    /// How field `tag` decodes (`Unknown` for a field the message does not have).
    #[inline(always)]
    fn kind(&self, tag: u32) -> Kind {
        self.fields
            .get(tag as usize)
            .map_or(Kind::Unknown, |f| f.kind)
    }
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        repeated: false,
    }
}
const fn r(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        repeated: true,
    }
}
const U: Field = f("", Kind::Unknown);
const fn m(fields: &'static [Field]) -> Msg {
    Msg {
        fields,
        item: false,
        holds_items: false,
    }
}
const fn container(fields: &'static [Field]) -> Msg {
    Msg {
        fields,
        item: false,
        holds_items: true,
    }
}
const fn item(fields: &'static [Field]) -> Msg {
    Msg {
        fields,
        item: true,
        holds_items: true,
    }
}

use Kind::{
    Bytes, Fixed32, Fixed64, Id, Message as M, OneofMessage, RepeatedFixed64, RepeatedVarint,
    String as S, Varint,
};

const TRACE_ID: Kind = Id(&[16], "trace_id");
const SPAN_ID: Kind = Id(&[8], "span_id");
const OPT_TRACE_ID: Kind = Id(&[0, 16], "trace_id");
const OPT_SPAN_ID: Kind = Id(&[0, 8], "span_id");

// opentelemetry.proto.common.v1 and resource.v1
static ANY_VALUE: Msg = m(&[
    U,
    f("string_value", S),
    f("bool_value", Varint),
    f("int_value", Varint),
    f("double_value", Fixed64),
    f("array_value", M(&ARRAY_VALUE)),
    f("kvlist_value", M(&KEY_VALUE_LIST)),
    f("bytes_value", Bytes),
    f("string_value_strindex", Varint),
]);
static ARRAY_VALUE: Msg = m(&[U, r("values", M(&ANY_VALUE))]);
static KEY_VALUE_LIST: Msg = m(&[U, r("values", M(&KEY_VALUE))]);
static KEY_VALUE: Msg = m(&[
    U,
    f("key", S),
    f("value", M(&ANY_VALUE)),
    f("key_strindex", Varint),
]);
static SCOPE: Msg = m(&[
    U,
    f("name", S),
    f("version", S),
    r("attributes", M(&KEY_VALUE)),
    f("dropped_attributes_count", Varint),
]);
static ENTITY_REF: Msg = m(&[
    U,
    f("schema_url", S),
    f("type", S),
    r("id_keys", S),
    r("description_keys", S),
]);
static RESOURCE: Msg = m(&[
    U,
    r("attributes", M(&KEY_VALUE)),
    f("dropped_attributes_count", Varint),
    r("entity_refs", M(&ENTITY_REF)),
]);

// opentelemetry.proto.trace.v1
/// `ExportTraceServiceRequest`.
pub static TRACES_REQUEST: Msg = container(&[U, r("resource_spans", M(&RESOURCE_SPANS))]);
static RESOURCE_SPANS: Msg = container(&[
    U,
    f("resource", M(&RESOURCE)),
    r("scope_spans", M(&SCOPE_SPANS)),
    f("schema_url", S),
]);
static SCOPE_SPANS: Msg = container(&[
    U,
    f("scope", M(&SCOPE)),
    r("spans", M(&SPAN)),
    f("schema_url", S),
]);
static SPAN: Msg = item(&[
    U,
    f("trace_id", TRACE_ID),
    f("span_id", SPAN_ID),
    f("trace_state", S),
    f("parent_span_id", OPT_SPAN_ID),
    f("name", S),
    f("kind", Varint),
    f("start_time_unix_nano", Fixed64),
    f("end_time_unix_nano", Fixed64),
    r("attributes", M(&KEY_VALUE)),
    f("dropped_attributes_count", Varint),
    r("events", M(&SPAN_EVENT)),
    f("dropped_events_count", Varint),
    r("links", M(&SPAN_LINK)),
    f("dropped_links_count", Varint),
    f("status", M(&SPAN_STATUS)),
    f("flags", Fixed32),
]);
static SPAN_EVENT: Msg = m(&[
    U,
    f("time_unix_nano", Fixed64),
    f("name", S),
    r("attributes", M(&KEY_VALUE)),
    f("dropped_attributes_count", Varint),
]);
static SPAN_LINK: Msg = m(&[
    U,
    f("trace_id", OPT_TRACE_ID),
    f("span_id", OPT_SPAN_ID),
    f("trace_state", S),
    r("attributes", M(&KEY_VALUE)),
    f("dropped_attributes_count", Varint),
    f("flags", Fixed32),
]);
static SPAN_STATUS: Msg = m(&[U, U, f("message", S), f("code", Varint)]);

// opentelemetry.proto.logs.v1
/// `ExportLogsServiceRequest`.
pub static LOGS_REQUEST: Msg = container(&[U, r("resource_logs", M(&RESOURCE_LOGS))]);
static RESOURCE_LOGS: Msg = container(&[
    U,
    f("resource", M(&RESOURCE)),
    r("scope_logs", M(&SCOPE_LOGS)),
    f("schema_url", S),
]);
static SCOPE_LOGS: Msg = container(&[
    U,
    f("scope", M(&SCOPE)),
    r("log_records", M(&LOG_RECORD)),
    f("schema_url", S),
]);
static LOG_RECORD: Msg = item(&[
    U,
    f("time_unix_nano", Fixed64),
    f("severity_number", Varint),
    f("severity_text", S),
    U,
    f("body", M(&ANY_VALUE)),
    r("attributes", M(&KEY_VALUE)),
    f("dropped_attributes_count", Varint),
    f("flags", Fixed32),
    f("trace_id", OPT_TRACE_ID),
    f("span_id", OPT_SPAN_ID),
    f("observed_time_unix_nano", Fixed64),
    f("event_name", S),
]);

// opentelemetry.proto.metrics.v1
/// `ExportMetricsServiceRequest`.
pub static METRICS_REQUEST: Msg = container(&[U, r("resource_metrics", M(&RESOURCE_METRICS))]);
static RESOURCE_METRICS: Msg = container(&[
    U,
    f("resource", M(&RESOURCE)),
    r("scope_metrics", M(&SCOPE_METRICS)),
    f("schema_url", S),
]);
static SCOPE_METRICS: Msg = container(&[
    U,
    f("scope", M(&SCOPE)),
    r("metrics", M(&METRIC)),
    f("schema_url", S),
]);
static METRIC: Msg = container(&[
    U,
    f("name", S),
    f("description", S),
    f("unit", S),
    U,
    f("gauge", OneofMessage(&GAUGE)),
    U,
    f("sum", OneofMessage(&SUM)),
    U,
    f("histogram", OneofMessage(&HISTOGRAM)),
    f("exponential_histogram", OneofMessage(&EXP_HISTOGRAM)),
    f("summary", OneofMessage(&SUMMARY)),
    r("metadata", M(&KEY_VALUE)),
]);
static GAUGE: Msg = container(&[U, r("data_points", M(&NUMBER_POINT))]);
static SUM: Msg = container(&[
    U,
    r("data_points", M(&NUMBER_POINT)),
    f("aggregation_temporality", Varint),
    f("is_monotonic", Varint),
]);
static HISTOGRAM: Msg = container(&[
    U,
    r("data_points", M(&HISTOGRAM_POINT)),
    f("aggregation_temporality", Varint),
]);
static EXP_HISTOGRAM: Msg = container(&[
    U,
    r("data_points", M(&EXP_HISTOGRAM_POINT)),
    f("aggregation_temporality", Varint),
]);
static SUMMARY: Msg = container(&[U, r("data_points", M(&SUMMARY_POINT))]);
static NUMBER_POINT: Msg = item(&[
    U,
    U,
    f("start_time_unix_nano", Fixed64),
    f("time_unix_nano", Fixed64),
    f("as_double", Fixed64),
    r("exemplars", M(&EXEMPLAR)),
    f("as_int", Fixed64),
    r("attributes", M(&KEY_VALUE)),
    f("flags", Varint),
]);
static HISTOGRAM_POINT: Msg = item(&[
    U,
    U,
    f("start_time_unix_nano", Fixed64),
    f("time_unix_nano", Fixed64),
    f("count", Fixed64),
    f("sum", Fixed64),
    f("bucket_counts", RepeatedFixed64),
    f("explicit_bounds", RepeatedFixed64),
    r("exemplars", M(&EXEMPLAR)),
    r("attributes", M(&KEY_VALUE)),
    f("flags", Varint),
    f("min", Fixed64),
    f("max", Fixed64),
]);
static EXP_HISTOGRAM_POINT: Msg = item(&[
    U,
    r("attributes", M(&KEY_VALUE)),
    f("start_time_unix_nano", Fixed64),
    f("time_unix_nano", Fixed64),
    f("count", Fixed64),
    f("sum", Fixed64),
    f("scale", Varint),
    f("zero_count", Fixed64),
    f("positive", M(&BUCKETS)),
    f("negative", M(&BUCKETS)),
    f("flags", Varint),
    r("exemplars", M(&EXEMPLAR)),
    f("min", Fixed64),
    f("max", Fixed64),
    f("zero_threshold", Fixed64),
]);
static BUCKETS: Msg = m(&[U, f("offset", Varint), f("bucket_counts", RepeatedVarint)]);
static SUMMARY_POINT: Msg = item(&[
    U,
    U,
    f("start_time_unix_nano", Fixed64),
    f("time_unix_nano", Fixed64),
    f("count", Fixed64),
    f("sum", Fixed64),
    r("quantile_values", M(&VALUE_AT_QUANTILE)),
    r("attributes", M(&KEY_VALUE)),
    f("flags", Varint),
]);
static VALUE_AT_QUANTILE: Msg = m(&[U, f("quantile", Fixed64), f("value", Fixed64)]);
static EXEMPLAR: Msg = m(&[
    U,
    U,
    f("time_unix_nano", Fixed64),
    f("as_double", Fixed64),
    f("span_id", OPT_SPAN_ID),
    f("trace_id", OPT_TRACE_ID),
    f("as_int", Fixed64),
    r("filtered_attributes", M(&KEY_VALUE)),
]);

/// What is wrong, and the path to it (innermost segment first); built only on the error path.
#[derive(Debug)]
struct Fault {
    what: Cow<'static, str>,
    path: Vec<(&'static str, Option<usize>)>,
}

/// The scan's result: the fault is boxed so that `Ok` and `Err` fit in registers on the hot path.
type Res<T> = Result<T, Box<Fault>>;

impl Fault {
    #[cold]
    fn new(what: impl Into<Cow<'static, str>>) -> Box<Self> {
        Box::new(Fault {
            what: what.into(),
            path: Vec::new(),
        })
    }
}

impl From<prost::DecodeError> for Box<Fault> {
    #[cold]
    fn from(e: prost::DecodeError) -> Self {
        Fault::new(e.to_string())
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A path through deeply nested values is shortened in the middle.
        let len = self.path.len();
        for (i, (name, index)) in self.path.iter().rev().enumerate() {
            if len > 16 && (10..len - 4).contains(&i) {
                if i == 10 {
                    write!(f, ".…({} more)…", len - 14)?;
                }
                continue;
            }
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(name)?;
            if let Some(n) = index {
                write!(f, "[{n}]")?;
            }
        }
        if !self.path.is_empty() {
            f.write_str(": ")?;
        }
        f.write_str(&self.what)
    }
}

#[inline]
fn expect(actual: WireType, expected: WireType) -> Res<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(wrong_wire_type(actual, expected))
    }
}

#[cold]
fn wrong_wire_type(actual: WireType, expected: WireType) -> Box<Fault> {
    Fault::new(format!(
        "wrong wire type {actual:?} (expected {expected:?})"
    ))
}

/// A field key: a one-byte key (field numbers up to 15, the usual case) is read here, any other
/// (and every invalid one, so that the error is prost's) by prost's `decode_key`.
#[inline(always)]
fn key(buf: &mut &[u8]) -> Res<(u32, WireType)> {
    let whole: &[u8] = buf;
    if let [b, rest @ ..] = whole {
        if (8..0x80).contains(b) {
            if let Ok(wt) = WireType::try_from(u64::from(b & 7)) {
                *buf = rest;
                return Ok((u32::from(b >> 3), wt));
            }
        }
    }
    Ok(decode_key(buf)?)
}

/// Skips a varint: one byte inline, longer ones (and errors) through prost's `decode_varint`.
#[inline(always)]
fn varint(buf: &mut &[u8]) -> Res<()> {
    let whole: &[u8] = buf;
    if let [b, rest @ ..] = whole {
        if *b < 0x80 {
            *buf = rest;
            return Ok(());
        }
    }
    decode_varint(buf)?;
    Ok(())
}

/// Reads a length prefix and splits off that many bytes.
#[inline(always)]
fn delimited<'a>(buf: &mut &'a [u8]) -> Res<&'a [u8]> {
    let whole: &'a [u8] = buf;
    let len = match whole {
        [b, rest @ ..] if *b < 0x80 => {
            *buf = rest;
            u64::from(*b)
        }
        _ => decode_varint(buf)?,
    };
    let whole: &'a [u8] = buf;
    match usize::try_from(len).ok().filter(|&n| n <= whole.len()) {
        Some(n) => {
            let (head, tail) = whole.split_at(n);
            *buf = tail;
            Ok(head)
        }
        None => Err(truncated(len, whole.len())),
    }
}

#[cold]
fn truncated(len: u64, left: usize) -> Box<Fault> {
    Fault::new(format!(
        "truncated: length {len} exceeds the {left} bytes left"
    ))
}

#[inline(always)]
fn fixed(buf: &mut &[u8], width: usize) -> Res<()> {
    let whole: &[u8] = buf;
    match whole.get(width..) {
        Some(rest) => {
            *buf = rest;
            Ok(())
        }
        None => Err(Fault::new("truncated fixed-width value")),
    }
}

/// A length-delimited `string`: split off and checked to be UTF-8.
#[inline(always)]
fn string(buf: &mut &[u8]) -> Res<()> {
    if utf8(delimited(buf)?) {
        Ok(())
    } else {
        Err(Fault::new("invalid UTF-8"))
    }
}

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether `s` is UTF-8. Most OTLP strings are ASCII: they are checked a word at a time (the last,
/// partial word overlapping the one before it); from the first word holding a non-ASCII byte on, the
/// rest goes through `str::from_utf8` (that word starts at a character boundary, as every byte
/// before it is ASCII), so a long ASCII prefix is not checked twice.
#[inline]
fn utf8(s: &[u8]) -> bool {
    let word = |c: &[u8]| <[u8; 8]>::try_from(c).map_or(HIGH_BITS, u64::from_ne_bytes);
    if s.len() < 8 {
        return s.iter().fold(0u8, |acc, b| acc | b) < 0x80 || std::str::from_utf8(s).is_ok();
    }
    let mut chunks = s.chunks_exact(8);
    for (i, c) in (&mut chunks).enumerate() {
        if word(c) & HIGH_BITS != 0 {
            return std::str::from_utf8(s.get(i * 8..).unwrap_or_default()).is_ok();
        }
    }
    let done = s.len() - chunks.remainder().len();
    done == s.len()
        || word(s.get(s.len() - 8..).unwrap_or_default()) & HIGH_BITS == 0
        || std::str::from_utf8(s.get(done..).unwrap_or_default()).is_ok()
}

#[cold]
fn too_deep() -> Box<Fault> {
    Fault::new(format!(
        "nested deeper than {RECURSION_LIMIT} levels (prost's recursion limit)"
    ))
}

/// Skips an unknown field as prost's `skip_field` does (which counts nesting against the limit too).
fn skip(wt: WireType, tag: u32, buf: &mut &[u8], depth: u32) -> Res<()> {
    if depth == 0 {
        return Err(too_deep());
    }
    match wt {
        WireType::Varint => varint(buf)?,
        WireType::ThirtyTwoBit => fixed(buf, 4)?,
        WireType::SixtyFourBit => fixed(buf, 8)?,
        WireType::LengthDelimited => {
            delimited(buf)?;
        }
        WireType::StartGroup => loop {
            let (inner_tag, inner_wt) = key(buf)?;
            if inner_wt == WireType::EndGroup {
                if inner_tag != tag {
                    return Err(Fault::new("unexpected end group tag"));
                }
                break;
            }
            skip(inner_wt, inner_tag, buf, depth - 1)?;
        },
        WireType::EndGroup => return Err(Fault::new("unexpected end group tag")),
    }
    Ok(())
}

/// Walks one message's fields (`body`, without its length prefix); `depth` is prost's remaining
/// recursion budget for the fields of this message. Returns the items inside.
fn walk(msg: &'static Msg, body: &[u8], depth: u32) -> Res<usize> {
    let mut buf = body;
    let mut items = usize::from(msg.item);
    let mut oneof_tag = 0u32;
    let mut oneof_items = 0usize;
    while !buf.is_empty() {
        let at = body.len() - buf.len();
        let (tag, wt) = key(&mut buf)?;
        let kind = msg.kind(tag);
        match field(kind, tag, wt, &mut buf, depth) {
            Ok(n) if matches!(kind, Kind::OneofMessage(_)) => {
                if tag != oneof_tag {
                    oneof_tag = tag;
                    oneof_items = 0;
                }
                oneof_items += n;
            }
            Ok(n) => items += n,
            Err(fault) => return Err(at_field(fault, msg, body, at, tag)),
        }
    }
    Ok(items + oneof_items)
}

/// Adds the path segment of the field whose key starts at `at` in `body` to a fault from inside it.
#[cold]
fn at_field(mut fault: Box<Fault>, msg: &Msg, body: &[u8], at: usize, tag: u32) -> Box<Fault> {
    fault.path.push(segment(msg, body, at, tag));
    fault
}

/// Checks one field of kind `kind` whose key was just read; returns the items inside it.
#[inline(always)]
fn field(kind: Kind, tag: u32, wt: WireType, buf: &mut &[u8], depth: u32) -> Res<usize> {
    match kind {
        Kind::Unknown => skip(wt, tag, buf, depth).map(|()| 0),
        Kind::Varint => expect(wt, WireType::Varint)
            .and_then(|()| varint(buf))
            .map(|()| 0),
        Kind::Fixed32 => expect(wt, WireType::ThirtyTwoBit)
            .and_then(|()| fixed(buf, 4))
            .map(|()| 0),
        Kind::Fixed64 => expect(wt, WireType::SixtyFourBit)
            .and_then(|()| fixed(buf, 8))
            .map(|()| 0),
        Kind::String => expect(wt, WireType::LengthDelimited)
            .and_then(|()| string(buf))
            .map(|()| 0),
        Kind::Bytes => expect(wt, WireType::LengthDelimited)
            .and_then(|()| delimited(buf))
            .map(|_| 0),
        Kind::Id(allowed, what) => expect(wt, WireType::LengthDelimited)
            .and_then(|()| delimited(buf))
            .and_then(|id| {
                if allowed.contains(&id.len()) {
                    Ok(0)
                } else {
                    Err(bad_id(allowed, what, id.len()))
                }
            }),
        Kind::Message(child) | Kind::OneofMessage(child) => expect(wt, WireType::LengthDelimited)
            .and_then(|()| {
                if depth == 0 {
                    return Err(too_deep());
                }
                let sub = delimited(buf)?;
                walk_child(child, sub, depth - 1)
            }),
        Kind::RepeatedVarint => {
            if wt == WireType::LengthDelimited {
                delimited(buf).and_then(|mut packed| {
                    while !packed.is_empty() {
                        varint(&mut packed)?;
                    }
                    Ok(0)
                })
            } else {
                expect(wt, WireType::Varint)
                    .and_then(|()| varint(buf))
                    .map(|()| 0)
            }
        }
        Kind::RepeatedFixed64 => {
            if wt == WireType::LengthDelimited {
                delimited(buf).and_then(|packed| {
                    if packed.len() % 8 == 0 {
                        Ok(0)
                    } else {
                        Err(Fault::new(format!(
                            "packed 64-bit values of {} bytes (not a multiple of 8)",
                            packed.len()
                        )))
                    }
                })
            } else {
                expect(wt, WireType::SixtyFourBit)
                    .and_then(|()| fixed(buf, 8))
                    .map(|()| 0)
            }
        }
    }
}

#[cold]
fn bad_id(allowed: &[usize], what: &str, len: usize) -> Box<Fault> {
    Fault::new(format!(
        "invalid {what} length {len} (must be {})",
        allowed
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    ))
}

/// Walks a nested message: `KeyValue` and `AnyValue`, the bulk of every request, through their
/// unrolled walks, the others through the table.
#[inline(always)]
fn walk_child(child: &'static Msg, body: &[u8], depth: u32) -> Res<usize> {
    if std::ptr::eq(child, &KEY_VALUE) {
        walk_key_value(body, depth).map(|()| 0)
    } else if std::ptr::eq(child, &ANY_VALUE) {
        walk_any_value(body, depth).map(|()| 0)
    } else {
        walk(child, body, depth)
    }
}

/// [`walk`] of a `KeyValue`, its fields matched by their one-byte keys (the table's entries for the
/// right wire types); anything else (other wire types, unknown fields) goes through [`field`] as in
/// [`walk`], so the two accept and refuse the same bytes.
fn walk_key_value(body: &[u8], depth: u32) -> Res<()> {
    let mut buf = body;
    while let [k, rest @ ..] = buf {
        let at = body.len() - buf.len();
        let res = match *k {
            // key: string
            0x0a => {
                buf = rest;
                string(&mut buf)
            }
            // value: AnyValue
            0x12 if depth > 0 => {
                buf = rest;
                delimited(&mut buf).and_then(|sub| walk_any_value(sub, depth - 1))
            }
            _ => table_field(&KEY_VALUE, &mut buf, depth),
        };
        if let Err(fault) = res {
            return Err(at_key(fault, &KEY_VALUE, body, at));
        }
    }
    Ok(())
}

/// One field of `msg` checked through its table entry, as [`walk`] does: the fast paths' fallback.
#[inline(always)]
fn table_field(msg: &Msg, buf: &mut &[u8], depth: u32) -> Res<()> {
    let (tag, wt) = key(buf)?;
    field(msg.kind(tag), tag, wt, buf, depth).map(drop)
}

/// [`walk_key_value`] for `AnyValue`.
fn walk_any_value(body: &[u8], depth: u32) -> Res<()> {
    let mut buf = body;
    while let [k, rest @ ..] = buf {
        let at = body.len() - buf.len();
        let res = match *k {
            // string_value
            0x0a => {
                buf = rest;
                string(&mut buf)
            }
            // bool_value, int_value, string_value_strindex
            0x10 | 0x18 | 0x40 => {
                buf = rest;
                varint(&mut buf)
            }
            // double_value
            0x21 => {
                buf = rest;
                fixed(&mut buf, 8)
            }
            // bytes_value
            0x3a => {
                buf = rest;
                delimited(&mut buf).map(drop)
            }
            // array_value, kvlist_value
            0x2a | 0x32 if depth > 0 => {
                buf = rest;
                let child = if *k == 0x2a {
                    &ARRAY_VALUE
                } else {
                    &KEY_VALUE_LIST
                };
                delimited(&mut buf).and_then(|sub| walk(child, sub, depth - 1).map(drop))
            }
            _ => table_field(&ANY_VALUE, &mut buf, depth),
        };
        if let Err(fault) = res {
            return Err(at_key(fault, &ANY_VALUE, body, at));
        }
    }
    Ok(())
}

/// [`at_field`] when the tag is not at hand: read again from the key at `at`.
#[cold]
fn at_key(fault: Box<Fault>, msg: &Msg, body: &[u8], at: usize) -> Box<Fault> {
    let mut key_at = body.get(at..).unwrap_or_default();
    match decode_key(&mut key_at) {
        Ok((tag, _)) => at_field(fault, msg, body, at, tag),
        Err(_) => fault,
    }
}

/// The path segment of the field whose key starts at `at` in `body`: its name and, for a repeated
/// field, which occurrence it is (counted again here, on the error path only).
#[cold]
fn segment(msg: &Msg, body: &[u8], at: usize, tag: u32) -> (&'static str, Option<usize>) {
    let Some(field) = msg.fields.get(tag as usize).filter(|f| !f.name.is_empty()) else {
        return ("<unknown field>", None);
    };
    if !field.repeated {
        return (field.name, None);
    }
    let mut buf = body.get(..at).unwrap_or_default();
    let mut n = 0;
    while let Ok((t, wt)) = decode_key(&mut buf) {
        if t == tag {
            n += 1;
        }
        if skip(wt, t, &mut buf, RECURSION_LIMIT).is_err() {
            break;
        }
    }
    (field.name, Some(n))
}

/// Counts items as far as the structure can be read, ignoring what is wrong with values: for the
/// refusal counters of a request the scan refused.
#[cold]
fn count_lenient(msg: &'static Msg, body: &[u8]) -> usize {
    let mut buf = body;
    let mut items = usize::from(msg.item);
    let mut oneof_tag = 0u32;
    let mut oneof_items = 0usize;
    while let Ok((tag, wt)) = decode_key(&mut buf) {
        let field = msg.fields.get(tag as usize).unwrap_or(&U);
        match field.kind {
            Kind::Message(child) | Kind::OneofMessage(child)
                if child.holds_items && wt == WireType::LengthDelimited =>
            {
                let Ok(sub) = delimited(&mut buf) else { break };
                let n = count_lenient(child, sub);
                if matches!(field.kind, Kind::OneofMessage(_)) {
                    if tag != oneof_tag {
                        oneof_tag = tag;
                        oneof_items = 0;
                    }
                    oneof_items += n;
                } else {
                    items += n;
                }
            }
            _ => {
                if skip(wt, tag, &mut buf, RECURSION_LIMIT).is_err() {
                    break;
                }
            }
        }
    }
    items + oneof_items
}

/// Scans an encoded export request (`request` is [`TRACES_REQUEST`], [`METRICS_REQUEST`] or
/// [`LOGS_REQUEST`]): `Ok` with its item count exactly when prost would decode it (and its ids have
/// valid lengths); otherwise what is wrong and where, with the items it holds.
pub fn scan_request(request: &'static Msg, encoded: &[u8]) -> Result<usize, DecodeError> {
    walk(request, encoded, RECURSION_LIMIT).map_err(|fault| DecodeError {
        message: fault.to_string(),
        items: count_lenient(request, encoded),
    })
}

#[cfg(test)]
mod tests;
