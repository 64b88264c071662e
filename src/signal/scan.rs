//! Validating scans of encoded OTLP export requests.
//!
//! The receivers do not decode a request into owned structs: they walk its wire format with prost's
//! field decoders, check what the OTLP specification requires of it (well-formed protobuf, trace ids of
//! 16 bytes, span ids of 8) and count its items. The bytes then travel through the pipeline unchanged,
//! and only a component that reads or changes the data decodes them. Nothing here allocates.

use bytes::Buf;
use prost::encoding::{skip_field, DecodeContext, WireType};

/// A request that is not valid OTLP protobuf, with what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

impl DecodeError {
    fn new(msg: impl Into<String>) -> Self {
        DecodeError(msg.into())
    }
}

impl From<prost::DecodeError> for DecodeError {
    fn from(e: prost::DecodeError) -> Self {
        DecodeError(e.to_string())
    }
}

/// Walks `message` (a length-delimited sub-message) with a per-field callback.
fn merge_nested<B: Buf>(
    wt: WireType,
    buf: &mut B,
    ctx: DecodeContext,
    mut field: impl FnMut(u32, WireType, &mut B, DecodeContext) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    prost::encoding::check_wire_type(WireType::LengthDelimited, wt)?;
    let len = prost::encoding::decode_varint(buf)? as usize;
    if len > buf.remaining() {
        return Err(DecodeError::new("buffer underflow"));
    }
    let limit = buf.remaining() - len;
    while buf.remaining() > limit {
        let (tag, wt) = prost::encoding::decode_key(buf)?;
        field(tag, wt, buf, ctx.clone())?;
    }
    if buf.remaining() != limit {
        return Err(DecodeError::new("delimited length exceeded"));
    }
    Ok(())
}

/// Reads a bytes field and returns its length, checking it against the allowed lengths.
fn id_field(
    wt: WireType,
    buf: &mut impl Buf,
    allowed: &[usize],
    what: &'static str,
) -> Result<(), DecodeError> {
    prost::encoding::check_wire_type(WireType::LengthDelimited, wt)?;
    let len = prost::encoding::decode_varint(buf)? as usize;
    if len > buf.remaining() {
        return Err(DecodeError::new("buffer underflow"));
    }
    if !allowed.contains(&len) {
        return Err(DecodeError::new(format!("invalid {what} length {len}")));
    }
    buf.advance(len);
    Ok(())
}

/// Scans an export request `{ repeated Resource* = 1 }` whose resources hold `{ repeated Scope* = 2 }`
/// whose scopes hold repeated leaves at `leaf_tag`; `count` counts items inside one leaf.
pub fn scan_request(
    mut buf: &[u8],
    leaf_tag: u32,
    mut leaf: impl FnMut(WireType, &mut &[u8], DecodeContext) -> Result<usize, DecodeError>,
) -> Result<usize, DecodeError> {
    let ctx = DecodeContext::default();
    let mut items = 0usize;
    while buf.has_remaining() {
        let (tag, wt) = prost::encoding::decode_key(&mut buf)?;
        if tag != 1 {
            skip_field(wt, tag, &mut buf, ctx.clone())?;
            continue;
        }
        merge_nested(wt, &mut buf, ctx.clone(), |tag, wt, buf, ctx| {
            if tag != 2 {
                return Ok(skip_field(wt, tag, buf, ctx)?);
            }
            merge_nested(wt, buf, ctx, |tag, wt, buf, ctx| {
                if tag != leaf_tag {
                    return Ok(skip_field(wt, tag, buf, ctx)?);
                }
                items += leaf(wt, buf, ctx)?;
                Ok(())
            })
        })?;
    }
    Ok(items)
}

/// A span: checks `trace_id` (16 bytes), `span_id` (8), `parent_span_id` (0 or 8).
pub fn span(wt: WireType, buf: &mut &[u8], ctx: DecodeContext) -> Result<usize, DecodeError> {
    merge_nested(wt, buf, ctx, |tag, wt, buf, ctx| match tag {
        1 => id_field(wt, buf, &[16], "trace_id"),
        2 => id_field(wt, buf, &[8], "span_id"),
        4 => id_field(wt, buf, &[0, 8], "parent_span_id"),
        _ => Ok(skip_field(wt, tag, buf, ctx)?),
    })?;
    Ok(1)
}

/// A log record: `trace_id` 0 or 16 bytes, `span_id` 0 or 8.
pub fn log_record(wt: WireType, buf: &mut &[u8], ctx: DecodeContext) -> Result<usize, DecodeError> {
    merge_nested(wt, buf, ctx, |tag, wt, buf, ctx| match tag {
        9 => id_field(wt, buf, &[0, 16], "trace_id"),
        10 => id_field(wt, buf, &[0, 8], "span_id"),
        _ => Ok(skip_field(wt, tag, buf, ctx)?),
    })?;
    Ok(1)
}

/// A metric: counts the data points of whichever data kind it carries, as otelcol counts them.
pub fn metric(wt: WireType, buf: &mut &[u8], ctx: DecodeContext) -> Result<usize, DecodeError> {
    let mut points = 0usize;
    merge_nested(wt, buf, ctx, |tag, wt, buf, ctx| match tag {
        // gauge, sum, histogram, exponential_histogram, summary: data_points = 1
        5 | 7 | 9 | 10 | 11 => merge_nested(wt, buf, ctx, |tag, wt, buf, ctx| {
            if tag == 1 {
                points += 1;
            }
            Ok(skip_field(wt, tag, buf, ctx)?)
        }),
        _ => Ok(skip_field(wt, tag, buf, ctx)?),
    })?;
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    fn req(trace_id: Vec<u8>, n: usize) -> Vec<u8> {
        let span = Span {
            trace_id,
            span_id: vec![1; 8],
            name: "s".into(),
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span; n],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn counts_spans_and_checks_ids() {
        assert_eq!(scan_request(&req(vec![7; 16], 3), 2, span).unwrap(), 3);
        let err = scan_request(&req(vec![7; 5], 1), 2, span).unwrap_err();
        assert!(
            err.to_string().contains("invalid trace_id length 5"),
            "{err}"
        );
    }

    #[test]
    fn truncated_and_garbage_are_errors() {
        let full = req(vec![7; 16], 2);
        assert!(scan_request(&full[..full.len() - 3], 2, span).is_err());
        assert!(scan_request(&[0xff, 0xff, 0xff, 0x01, 0x02], 2, span).is_err());
        assert_eq!(scan_request(&[], 2, span).unwrap(), 0);
    }
}
