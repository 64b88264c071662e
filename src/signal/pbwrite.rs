//! Writing OTLP protobuf directly, for receivers that encode what they produce instead of building
//! the prost messages first (see `Batch::from_own_encoding`). Callers write fields in tag order and
//! leave out proto3 defaults, as prost does, so the bytes are the ones prost would write; each such
//! encoder has a unit test comparing its output with prost's.

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

/// A length-delimited field's size after its key: the length prefix and the content.
pub fn delimited(n: usize) -> usize {
    encoded_len_varint(n as u64) + n
}

/// The key and length prefix of a length-delimited field of `len` bytes.
pub fn put_header(tag: u32, len: usize, out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

/// A `string`/`bytes` field, left out when empty (proto3 default).
pub fn put_bytes(tag: u32, b: &[u8], out: &mut Vec<u8>) {
    if !b.is_empty() {
        put_header(tag, b.len(), out);
        out.extend_from_slice(b);
    }
}

/// The size of a `string`/`bytes` field (key included), 0 when empty.
pub fn bytes_len(tag_len: usize, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        tag_len + delimited(n)
    }
}

/// A `fixed64` field, left out when 0.
pub fn put_fixed64(tag: u32, v: u64, out: &mut Vec<u8>) {
    if v != 0 {
        encode_key(tag, WireType::SixtyFourBit, out);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// A `double` inside a oneof (written even when 0).
pub fn put_double(tag: u32, v: f64, out: &mut Vec<u8>) {
    encode_key(tag, WireType::SixtyFourBit, out);
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// A varint field (written even when 0: callers skip defaults themselves).
pub fn put_varint(tag: u32, v: u64, out: &mut Vec<u8>) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(v, out);
}

/// A `fixed32` field (written even when 0).
pub fn put_fixed32(tag: u32, v: u32, out: &mut Vec<u8>) {
    encode_key(tag, WireType::ThirtyTwoBit, out);
    out.extend_from_slice(&v.to_le_bytes());
}

/// The content size of a `KeyValue` with a string value.
pub fn kv_str_len(k: &str, v: &str) -> usize {
    bytes_len(1, k.len()) + 1 + delimited(1 + delimited(v.len()))
}

/// A repeated `KeyValue` field (tag `tag`) with a string value.
pub fn put_kv_str(tag: u32, k: &str, v: &str, out: &mut Vec<u8>) {
    put_header(tag, kv_str_len(k, v), out);
    put_bytes(1, k.as_bytes(), out);
    put_header(2, 1 + delimited(v.len()), out);
    put_header(1, v.len(), out);
    out.extend_from_slice(v.as_bytes());
}

/// The number of top-level entries of an encoded export request (its resources), read without
/// decoding them; `None` if the bytes are not a well-formed message.
pub fn top_level_entries(mut b: &[u8]) -> Option<usize> {
    use prost::encoding::decode_varint;
    let mut n = 0;
    while !b.is_empty() {
        let key = decode_varint(&mut b).ok()?;
        let skip = match key & 7 {
            0 => {
                decode_varint(&mut b).ok()?;
                0
            }
            1 => 8,
            2 => usize::try_from(decode_varint(&mut b).ok()?).ok()?,
            5 => 4,
            _ => return None,
        };
        b = b.get(skip..)?;
        if key >> 3 == 1 {
            n += 1;
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use prost::Message;

    #[test]
    fn key_values_are_what_prost_writes() {
        for (k, v) in [("a", "b"), ("", ""), ("k8s.pod.name", &"x".repeat(300)[..])] {
            let want = KeyValue {
                key: k.into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(v.into())),
                }),
                ..Default::default()
            };
            let mut got = Vec::new();
            put_kv_str(1, k, v, &mut got);
            let mut w = Vec::new();
            prost::encoding::message::encode(1, &want, &mut w);
            assert_eq!(got, w);
            assert_eq!(kv_str_len(k, v), want.encoded_len());
        }
        assert_eq!(top_level_entries(&[]), Some(0));
        assert_eq!(top_level_entries(&[0x0a, 0x00, 0x0a, 0x01, 0x00]), Some(2));
        assert_eq!(top_level_entries(&[0x0a, 0x05]), None);
    }
}
