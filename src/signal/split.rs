//! Splitting an encoded export request item by item without decoding it, for components that route
//! or drop spans and log records (`loadbalancing`, `filter`).
//!
//! `ResourceSpans`/`ResourceLogs` (and `ResourceMetrics`) carry their resource as field 1, their scope
//! messages as field 2 and their `schema_url` as field 3; scope messages carry their scope as field 1,
//! their items as field 2 and their `schema_url` as field 3. [`split`] walks a request's resource
//! messages, scope messages and items as byte ranges and asks a [`Router`] where each goes; it then
//! writes, per destination, the resource message's other fields and the scope messages' other fields
//! as they were (unknown fields included) followed by the chosen items, byte for byte. Only the length
//! prefixes of the resource and scope messages are written anew. What the router needs to decide is
//! read from the bytes: [`Container::head`] decodes the resource or scope alone, [`merge_fields`]
//! decodes only some fields of an item, [`last_bytes_field`] reads a `bytes` field (a trace id) in
//! place.
//!
//! The input must be a request the receivers' scan accepted (every `Batch` holds one), so the output
//! is valid too and needs no scan. A scope message with no item left for a destination is left out of
//! that destination's request, and so is a resource message left without scope messages, as otelcol
//! does after filtering or splitting.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ops::Range;

use prost::encoding::{
    decode_key, decode_varint, encode_varint, encoded_len_varint, skip_field, DecodeContext,
    WireType,
};
use prost::Message;

use super::resource_edit::{next_field, slice, FIELD_1_LEN, FIELD_2_LEN};
use super::DecodeError;

/// Where a resource message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// All of it, byte for byte, to this destination (its empty scope messages too).
    Whole(usize),
    /// Left out, with its items.
    Drop,
    /// Item by item, as [`Router::scope`] and [`Router::item`] decide.
    PerItem,
}

/// Decides where the parts of a request go. Calls come in the order of the bytes: a resource
/// message, then (for [`Route::PerItem`]) each of its scope messages followed by that scope's items.
pub trait Router {
    type Error: From<DecodeError>;
    fn resource(&mut self, msg: &Container<'_>) -> Result<Route, Self::Error>;
    /// Whether to look at the scope's items; `false` leaves the scope message out with its items.
    fn scope(&mut self, msg: &Container<'_>) -> Result<bool, Self::Error>;
    /// The destination of one item (the encoded span or log record), `None` to leave it out.
    fn item(&mut self, item: &[u8]) -> Result<Option<usize>, Self::Error>;
}

/// An encoded resource or scope message.
pub struct Container<'a> {
    bytes: &'a [u8],
}

impl<'a> Container<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Container { bytes }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Field 1 (the `Resource` or `InstrumentationScope`) decoded alone, every occurrence merged as
    /// prost merges them; `None` when absent.
    pub fn head<M: Message + Default>(&self) -> Result<Option<M>, DecodeError> {
        let mut head: Option<M> = None;
        let mut pos = 0;
        while pos < self.bytes.len() {
            let f = next_field(self.bytes, &mut pos)?;
            if f.key == FIELD_1_LEN {
                head.get_or_insert_with(M::default)
                    .merge(slice(self.bytes, f.payload))?;
            }
        }
        Ok(head)
    }

    /// The `schema_url` (field 3; the last occurrence wins, as for any scalar field).
    pub fn schema_url(&self) -> Result<String, DecodeError> {
        let b = last_bytes_field(self.bytes, 3)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::new("schema_url: invalid UTF-8"))
    }
}

/// One destination's encoded request and the items in it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Part {
    pub bytes: Vec<u8>,
    pub items: usize,
}

/// The payload of the last occurrence of the length-delimited field `tag` of `msg` (what prost keeps
/// for a `bytes` or `string` field), empty when absent.
pub fn last_bytes_field(msg: &[u8], tag: u32) -> Result<&[u8], DecodeError> {
    let key = (u64::from(tag) << 3) | 2;
    let mut found: &[u8] = &[];
    let mut pos = 0;
    while pos < msg.len() {
        let f = next_field(msg, &mut pos)?;
        if f.key == key {
            found = slice(msg, f.payload);
        }
    }
    Ok(found)
}

/// Merges into `into` the fields of the encoded message `msg` whose numbers `wanted` accepts, as
/// prost's decode of the whole message would set them, skipping the others without decoding them.
pub fn merge_fields<M: Message>(
    into: &mut M,
    mut msg: &[u8],
    wanted: &dyn Fn(u32) -> bool,
) -> Result<(), DecodeError> {
    while !msg.is_empty() {
        let (tag, wire) = decode_key(&mut msg)?;
        if wanted(tag) {
            into.merge_field(tag, wire, &mut msg, DecodeContext::default())?;
        } else {
            skip_field(wire, tag, &mut msg, DecodeContext::default())?;
        }
    }
    Ok(())
}

/// [`merge_fields`], and of the length-delimited fields it wants, only the occurrences whose payload
/// `keep(field number, payload)` accepts (the attributes a condition reads, picked by their key
/// without decoding the others).
pub fn merge_fields_where<M: Message>(
    into: &mut M,
    mut msg: &[u8],
    wanted: &dyn Fn(u32) -> bool,
    keep: &dyn Fn(u32, &[u8]) -> bool,
) -> Result<(), DecodeError> {
    while !msg.is_empty() {
        let (tag, wire) = decode_key(&mut msg)?;
        if !wanted(tag) {
            skip_field(wire, tag, &mut msg, DecodeContext::default())?;
            continue;
        }
        if wire == WireType::LengthDelimited {
            let at = msg;
            let len = usize::try_from(decode_varint(&mut msg)?).unwrap_or(usize::MAX);
            let payload = msg
                .get(..len)
                .ok_or_else(|| DecodeError::new("a field runs past the end of its message"))?;
            msg = msg.get(len..).unwrap_or_default();
            if keep(tag, payload) {
                let mut field = at;
                into.merge_field(tag, wire, &mut field, DecodeContext::default())?;
            }
            continue;
        }
        into.merge_field(tag, wire, &mut msg, DecodeContext::default())?;
    }
    Ok(())
}

/// Items (field 2 of each scope message) of a resource message.
fn count_items(msg: &[u8]) -> Result<usize, DecodeError> {
    let mut n = 0;
    let mut pos = 0;
    while pos < msg.len() {
        let f = next_field(msg, &mut pos)?;
        if f.key == FIELD_2_LEN {
            let scope = slice(msg, f.payload);
            let mut p = 0;
            while p < scope.len() {
                if next_field(scope, &mut p)?.key == FIELD_2_LEN {
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

/// A scope message kept for at least one item: its other fields and its items, as indices into
/// [`Scratch::heads`] and [`Scratch::items`].
struct ScopeAt {
    heads: Range<usize>,
    items: Range<usize>,
}

/// Byte ranges of one resource message, relative to it; reused from one resource message to the next.
#[derive(Default)]
struct Scratch {
    /// The resource message's fields other than its scope messages.
    res_heads: Vec<Range<usize>>,
    scopes: Vec<ScopeAt>,
    /// Scope messages' fields other than their items.
    heads: Vec<Range<usize>>,
    /// Each item routed somewhere, with its destination.
    items: Vec<(usize, Range<usize>)>,
    /// The destinations of this resource message's items, in order of first use.
    used: Vec<usize>,
    /// Per scope: the size of its message for the destination being written, if it has items there.
    sizes: Vec<Option<usize>>,
}

#[allow(clippy::indexing_slicing)] // `d` is in range after the resize.
fn part(parts: &mut Vec<Part>, d: usize) -> &mut Part {
    if parts.len() <= d {
        parts.resize_with(d + 1, Part::default);
    }
    &mut parts[d]
}

fn total(ranges: &[Range<usize>]) -> usize {
    ranges.iter().map(|r| r.len()).sum()
}

/// Splits `segment` (an encoded export request of spans or log records) between destinations as
/// `router` decides, appending to `parts[destination]` (grown as needed). Top-level fields other
/// than resource messages are left out (no decoder keeps them either).
pub fn split<R: Router>(
    segment: &[u8],
    router: &mut R,
    parts: &mut Vec<Part>,
) -> Result<(), R::Error> {
    let mut s = Scratch::default();
    let mut pos = 0;
    while pos < segment.len() {
        let f = next_field(segment, &mut pos)?;
        if f.key != FIELD_1_LEN {
            continue;
        }
        let msg = slice(segment, f.payload.clone());
        match router.resource(&Container::new(msg))? {
            Route::Drop => {}
            Route::Whole(d) => {
                let items = count_items(msg)?;
                let p = part(parts, d);
                p.bytes.extend_from_slice(slice(segment, f.whole));
                p.items += items;
            }
            Route::PerItem => per_item(msg, router, parts, &mut s)?,
        }
    }
    Ok(())
}

fn per_item<R: Router>(
    msg: &[u8],
    router: &mut R,
    parts: &mut Vec<Part>,
    s: &mut Scratch,
) -> Result<(), R::Error> {
    s.res_heads.clear();
    s.scopes.clear();
    s.heads.clear();
    s.items.clear();
    s.used.clear();
    let mut pos = 0;
    while pos < msg.len() {
        let f = next_field(msg, &mut pos)?;
        if f.key != FIELD_2_LEN {
            s.res_heads.push(f.whole);
            continue;
        }
        let base = f.payload.start;
        let scope = slice(msg, f.payload);
        if !router.scope(&Container::new(scope))? {
            continue;
        }
        let (heads, items) = (s.heads.len(), s.items.len());
        let mut p = 0;
        while p < scope.len() {
            let g = next_field(scope, &mut p)?;
            let whole = g.whole.start + base..g.whole.end + base;
            if g.key != FIELD_2_LEN {
                s.heads.push(whole);
            } else if let Some(d) = router.item(slice(scope, g.payload))? {
                s.items.push((d, whole));
                if !s.used.contains(&d) {
                    s.used.push(d);
                }
            }
        }
        if s.items.len() > items {
            s.scopes.push(ScopeAt {
                heads: heads..s.heads.len(),
                items: items..s.items.len(),
            });
        }
    }
    for &d in &s.used {
        s.sizes.clear();
        let mut content = total(&s.res_heads);
        let mut count = 0;
        for sc in &s.scopes {
            let mut size = total(s.heads.get(sc.heads.clone()).unwrap_or_default());
            let mut any = false;
            for (to, r) in s.items.get(sc.items.clone()).unwrap_or_default() {
                if *to == d {
                    size += r.len();
                    count += 1;
                    any = true;
                }
            }
            s.sizes.push(any.then_some(size));
            if any {
                content += 1 + encoded_len_varint(size as u64) + size;
            }
        }
        let p = part(parts, d);
        p.items += count;
        let out = &mut p.bytes;
        out.reserve(1 + encoded_len_varint(content as u64) + content);
        encode_varint(FIELD_1_LEN, out);
        encode_varint(content as u64, out);
        for r in &s.res_heads {
            out.extend_from_slice(slice(msg, r.clone()));
        }
        for (sc, size) in s.scopes.iter().zip(&s.sizes) {
            let Some(size) = size else { continue };
            encode_varint(FIELD_2_LEN, out);
            encode_varint(*size as u64, out);
            for r in s.heads.get(sc.heads.clone()).unwrap_or_default() {
                out.extend_from_slice(slice(msg, r.clone()));
            }
            for (to, r) in s.items.get(sc.items.clone()).unwrap_or_default() {
                if *to == d {
                    out.extend_from_slice(slice(msg, r.clone()));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn span(name: &str, trace: u8) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![1; 8],
            name: name.into(),
            ..Default::default()
        }
    }

    fn request() -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(Resource {
                        dropped_attributes_count: 3,
                        ..Default::default()
                    }),
                    scope_spans: vec![
                        ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: "a".into(),
                                ..Default::default()
                            }),
                            spans: vec![span("a0", 0), span("a1", 1), span("a2", 0)],
                            schema_url: "s".into(),
                        },
                        ScopeSpans::default(),
                        ScopeSpans {
                            spans: vec![span("b0", 1)],
                            ..Default::default()
                        },
                    ],
                    schema_url: "r".into(),
                },
                ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span("c0", 0)],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
        }
    }

    /// Routes spans by the first byte of their trace id; drops spans named `*2`.
    struct ByTrace;
    impl Router for ByTrace {
        type Error = DecodeError;
        fn resource(&mut self, _: &Container<'_>) -> Result<Route, DecodeError> {
            Ok(Route::PerItem)
        }
        fn scope(&mut self, _: &Container<'_>) -> Result<bool, DecodeError> {
            Ok(true)
        }
        fn item(&mut self, item: &[u8]) -> Result<Option<usize>, DecodeError> {
            let mut s = Span::default();
            merge_fields(&mut s, item, &|t| t == 5)?;
            if s.name.ends_with('2') {
                return Ok(None);
            }
            Ok(last_bytes_field(item, 1)?.first().map(|b| usize::from(*b)))
        }
    }

    #[test]
    fn items_go_where_the_router_says_with_their_resource_and_scope() {
        let req = request();
        let mut parts = Vec::new();
        split(&req.encode_to_vec(), &mut ByTrace, &mut parts).unwrap();
        assert_eq!(parts.len(), 2);
        let got: Vec<ExportTraceServiceRequest> = parts
            .iter()
            .map(|p| ExportTraceServiceRequest::decode(&p.bytes[..]).unwrap())
            .collect();
        let r0 = &req.resource_spans[0];
        let want0 = ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span("a0", 0)],
                        ..r0.scope_spans[0].clone()
                    }],
                    ..r0.clone()
                },
                req.resource_spans[1].clone(),
            ],
        };
        let want1 = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![
                    ScopeSpans {
                        spans: vec![span("a1", 1)],
                        ..r0.scope_spans[0].clone()
                    },
                    r0.scope_spans[2].clone(),
                ],
                ..r0.clone()
            }],
        };
        assert_eq!(got, [want0, want1]);
        assert_eq!((parts[0].items, parts[1].items), (2, 2));
    }

    #[test]
    fn heads_and_bytes_fields_read_in_place() {
        let req = request();
        let bytes = req.resource_spans[0].encode_to_vec();
        let c = Container::new(&bytes);
        assert_eq!(
            c.head::<Resource>().unwrap(),
            req.resource_spans[0].resource
        );
        assert_eq!(c.schema_url().unwrap(), "r");
        assert_eq!(Container::new(&[]).head::<Resource>().unwrap(), None);
        let s = span("x", 7).encode_to_vec();
        assert_eq!(last_bytes_field(&s, 1).unwrap(), &[7; 16]);
        assert_eq!(last_bytes_field(&s, 4).unwrap(), &[] as &[u8]);
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let bytes = request().encode_to_vec();
        for cut in 0..bytes.len() {
            let _ = split(&bytes[..cut], &mut ByTrace, &mut Vec::new());
        }
    }
}
