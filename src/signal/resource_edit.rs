//! Editing the `resource` of every top-level message of an encoded request without decoding the
//! rest: `ResourceSpans`, `ResourceMetrics` and `ResourceLogs` all carry the `Resource` as field 1,
//! so only that small message is decoded and encoded again; the scopes and their items are copied
//! as bytes. For the `resource` and `resourcedetection` processors, which touch nothing else, and for
//! `filter` and `transform` when every condition or statement is in the resource context (they may
//! also read and write the resource message's `schema_url`, field 3, and `filter` drops whole
//! resource messages).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::encoding::{decode_varint, encode_varint};
use prost::Message;

use super::DecodeError;

/// Wire type of length-delimited fields.
const LEN: u64 = 2;
/// The key of field 1, length-delimited: the resource messages of a request, and the `resource` of
/// each of them.
pub(super) const FIELD_1_LEN: u64 = (1 << 3) | LEN;
/// Field 2, length-delimited: the scope messages of a resource message, and the items (spans, log
/// records, metrics) of a scope message.
pub(super) const FIELD_2_LEN: u64 = (2 << 3) | LEN;
/// Field 3, length-delimited: the `schema_url` of a resource message.
const FIELD_3_LEN: u64 = (3 << 3) | LEN;

/// Why an edit of encoded resource messages stopped.
#[derive(Debug)]
pub enum EditError {
    /// The bytes are not what prost would decode.
    Decode(DecodeError),
    /// The edit callback failed (an OTTL error with `error_mode: propagate`).
    Edit(String),
}

impl From<DecodeError> for EditError {
    fn from(e: DecodeError) -> Self {
        EditError::Decode(e)
    }
}

/// Called with the resource and `schema_url` of each resource message; returns whether to drop the
/// whole resource message.
pub type EditFn<'f> = dyn FnMut(&mut Option<Resource>, &mut String) -> Result<bool, String> + 'f;

/// An edited segment, and whether resource or scope messages were removed from it (its items must
/// then be counted again).
pub struct Edited {
    pub bytes: Bytes,
    pub removed: bool,
}

/// A field of a message: its key, and where its whole encoding and its payload are.
pub(super) struct Field {
    pub(super) key: u64,
    pub(super) whole: Range<usize>,
    pub(super) payload: Range<usize>,
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    let mut rest = buf.get(*pos..).unwrap_or_default();
    let before = rest.len();
    let v = decode_varint(&mut rest).map_err(|e| DecodeError::new(e.to_string()))?;
    *pos += before - rest.len();
    Ok(v)
}

/// The field starting at `*pos`, moving `*pos` past it.
pub(super) fn next_field(buf: &[u8], pos: &mut usize) -> Result<Field, DecodeError> {
    let start = *pos;
    let key = varint(buf, pos)?;
    let skip = match key & 7 {
        0 => {
            varint(buf, pos)?;
            0
        }
        1 => 8,
        2 => usize::try_from(varint(buf, pos)?).unwrap_or(usize::MAX),
        5 => 4,
        w => return Err(DecodeError::new(format!("unsupported wire type {w}"))),
    };
    let from = *pos;
    let to = from
        .checked_add(skip)
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| DecodeError::new("a field runs past the end of its message"))?;
    *pos = to;
    Ok(Field {
        key,
        whole: start..to,
        payload: from..to,
    })
}

pub(super) fn slice(buf: &[u8], r: Range<usize>) -> &[u8] {
    buf.get(r).unwrap_or_default()
}

/// `segment` (an encoded export request) with `edit` applied to the resource of each of its
/// resource messages. Fields other than the resource are kept byte for byte, in their order.
pub fn edit_segment(
    segment: &[u8],
    edit: &mut dyn FnMut(&mut Option<Resource>),
) -> Result<Bytes, DecodeError> {
    let mut each = |r: &mut Option<Resource>, _: &mut String| -> Result<bool, String> {
        edit(r);
        Ok(false)
    };
    match edit_resource_messages(segment, false, &mut each) {
        Ok(e) => Ok(e.bytes),
        Err(EditError::Decode(e)) => Err(e),
        Err(EditError::Edit(e)) => Err(DecodeError::new(e)),
    }
}

/// `segment` with `edit` applied to the resource and `schema_url` of each resource message, leaving
/// out the messages `edit` drops. With `prune_empty`, scope messages without items and resource
/// messages left without scope messages are left out too, as `filter` does after it ran. Everything
/// else is copied byte for byte, in its order.
pub fn edit_resource_messages(
    segment: &[u8],
    prune_empty: bool,
    edit: &mut EditFn<'_>,
) -> Result<Edited, EditError> {
    let mut out = BytesMut::with_capacity(segment.len().saturating_add(256));
    let mut pos = 0;
    let mut inner = Vec::new();
    let mut removed = false;
    while pos < segment.len() {
        let f = next_field(segment, &mut pos)?;
        if f.key != FIELD_1_LEN {
            out.put_slice(slice(segment, f.whole));
            continue;
        }
        inner.clear();
        match edit_resource_message(slice(segment, f.payload), prune_empty, edit, &mut inner)? {
            Kept::Yes => {}
            // Items were dropped: they must be counted again.
            Kept::Dropped => {
                removed = true;
                continue;
            }
            // Nothing with items was left out.
            Kept::Empty => continue,
        }
        encode_varint(FIELD_1_LEN, &mut out);
        encode_varint(inner.len() as u64, &mut out);
        out.put_slice(&inner);
    }
    Ok(Edited {
        bytes: out.freeze(),
        removed,
    })
}

/// What became of one resource message.
enum Kept {
    Yes,
    /// Dropped by the edit, with its items.
    Dropped,
    /// Left without scope messages by pruning (it had no items).
    Empty,
}

/// Whether a scope message holds at least one item (field 2).
fn has_items(scope: &[u8]) -> Result<bool, DecodeError> {
    let mut pos = 0;
    while pos < scope.len() {
        if next_field(scope, &mut pos)?.key == FIELD_2_LEN {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One `Resource*` message with its resource edited, into `out`: the resource first (occurrences
/// merged, as a decoder does), then the other fields as they were (the `schema_url` last when it was
/// changed), unless `edit` drops it or pruning empties it.
fn edit_resource_message(
    msg: &[u8],
    prune_empty: bool,
    edit: &mut EditFn<'_>,
    out: &mut Vec<u8>,
) -> Result<Kept, EditError> {
    let mut resource: Option<Resource> = None;
    let mut schema_url = String::new();
    let mut others = Vec::new();
    let mut pos = 0;
    while pos < msg.len() {
        let f = next_field(msg, &mut pos)?;
        if f.key == FIELD_1_LEN {
            resource
                .get_or_insert_with(Resource::default)
                .merge(slice(msg, f.payload))
                .map_err(|e| DecodeError::new(format!("resource: {e}")))?;
        } else {
            if f.key == FIELD_3_LEN {
                // The last occurrence wins, as for any scalar field.
                schema_url = String::from_utf8(slice(msg, f.payload.clone()).to_vec())
                    .map_err(|_| DecodeError::new("schema_url: invalid UTF-8"))?;
            }
            others.push(f);
        }
    }
    let original_url = schema_url.clone();
    if edit(&mut resource, &mut schema_url).map_err(EditError::Edit)? {
        return Ok(Kept::Dropped);
    }
    let url_changed = schema_url != original_url;
    let mut scopes = 0usize;
    if let Some(r) = &resource {
        encode_varint(FIELD_1_LEN, out);
        encode_varint(r.encoded_len() as u64, out);
        r.encode_raw(out);
    }
    for f in others {
        if f.key == FIELD_3_LEN && url_changed {
            continue;
        }
        if f.key == FIELD_2_LEN {
            if prune_empty && !has_items(slice(msg, f.payload.clone()))? {
                continue;
            }
            scopes += 1;
        }
        out.extend_from_slice(slice(msg, f.whole));
    }
    if url_changed && !schema_url.is_empty() {
        encode_varint(FIELD_3_LEN, out);
        encode_varint(schema_url.len() as u64, out);
        out.extend_from_slice(schema_url.as_bytes());
    }
    Ok(if prune_empty && scopes == 0 {
        Kept::Empty
    } else {
        Kept::Yes
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn request() -> ExportTraceServiceRequest {
        let rs = |res: Option<Resource>, n: usize| ResourceSpans {
            resource: res,
            scope_spans: vec![ScopeSpans {
                spans: (0..n)
                    .map(|i| Span {
                        name: format!("s{i}"),
                        attributes: vec![kv("a", "b")],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            schema_url: "https://schema".into(),
        };
        ExportTraceServiceRequest {
            resource_spans: vec![
                rs(
                    Some(Resource {
                        attributes: vec![kv("service.name", "x")],
                        ..Default::default()
                    }),
                    3,
                ),
                rs(None, 2),
            ],
        }
    }

    #[test]
    fn edits_the_resource_and_keeps_everything_else() {
        let req = request();
        let bytes = req.encode_to_vec();
        let out = edit_segment(&bytes, &mut |r| {
            if let Some(r) = r {
                r.attributes.push(kv("env", "prod"));
            }
        })
        .unwrap();
        let mut want = req.clone();
        want.resource_spans[0]
            .resource
            .as_mut()
            .unwrap()
            .attributes
            .push(kv("env", "prod"));
        assert_eq!(ExportTraceServiceRequest::decode(&out[..]).unwrap(), want);
    }

    #[test]
    fn absent_resource_can_be_created_and_nothing_changes_without_edits() {
        let req = request();
        let bytes = req.encode_to_vec();
        assert_eq!(&edit_segment(&bytes, &mut |_| {}).unwrap()[..], &bytes[..]);
        let out = edit_segment(&bytes, &mut |r| {
            r.get_or_insert_with(Resource::default)
                .attributes
                .push(kv("k", "v"));
        })
        .unwrap();
        let got = ExportTraceServiceRequest::decode(&out[..]).unwrap();
        assert_eq!(
            got.resource_spans[1].resource.as_ref().unwrap().attributes,
            vec![kv("k", "v")]
        );
        assert_eq!(
            got.resource_spans[1].scope_spans,
            req.resource_spans[1].scope_spans
        );
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let bytes = request().encode_to_vec();
        for cut in 0..bytes.len() {
            let _ = edit_segment(&bytes[..cut], &mut |_| {});
        }
        assert!(edit_segment(&[0x0a, 0x7f, 0x01], &mut |_| {}).is_err());
        assert!(edit_segment(&[0x0b], &mut |_| {}).is_err());
    }
}
