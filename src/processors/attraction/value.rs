//! Attribute values as otelcol's pdata sees them: conversion from config YAML, `AsString`, the hash
//! digest, and the `convert` action's coercions.

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use serde_yaml::Value as Yaml;
use sha2::{Digest, Sha256};

/// A config value (`value:`, `default_value:`, a matcher's `value:`) as an attribute value, typed as
/// otelcol types it: YAML integers become ints, floats doubles, lists arrays, maps key-value lists.
pub fn from_yaml(y: &Yaml) -> Result<Option<AnyValue>, String> {
    Ok(match y {
        Yaml::Null => None,
        Yaml::Bool(b) => Some(any(V::BoolValue(*b))),
        Yaml::Number(n) => Some(if let Some(i) = n.as_i64() {
            any(V::IntValue(i))
        } else if let Some(u) = n.as_u64() {
            // Beyond i64: Go's FromRaw takes uint64 as int64, wrapping.
            any(V::IntValue(u as i64))
        } else {
            any(V::DoubleValue(n.as_f64().unwrap_or_default()))
        }),
        Yaml::String(s) => Some(any(V::StringValue(s.clone()))),
        Yaml::Sequence(seq) => {
            let mut values = Vec::with_capacity(seq.len());
            for v in seq {
                values.push(from_yaml(v)?.unwrap_or_default());
            }
            Some(any(V::ArrayValue(ArrayValue { values })))
        }
        Yaml::Mapping(m) => {
            let mut values = Vec::with_capacity(m.len());
            for (k, v) in m {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .map_err(|e| e.to_string())?
                        .trim()
                        .to_string(),
                };
                values.push(KeyValue {
                    key,
                    value: from_yaml(v)?,
                    ..Default::default()
                });
            }
            Some(any(V::KvlistValue(KeyValueList { values })))
        }
        Yaml::Tagged(t) => from_yaml(&t.value)?,
    })
}

pub fn any(v: V) -> AnyValue {
    AnyValue { value: Some(v) }
}

pub fn string(s: impl Into<String>) -> Option<AnyValue> {
    Some(any(V::StringValue(s.into())))
}

/// pdata's `Value.AsString`: the value as a string, maps and arrays as JSON.
pub fn as_string(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(V::StringValue(s)) => s.clone(),
        Some(V::BoolValue(b)) => b.to_string(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(V::DoubleValue(d)) => float_as_string(*d),
        Some(V::BytesValue(b)) => base64::engine::general_purpose::STANDARD.encode(b),
        Some(other @ (V::ArrayValue(_) | V::KvlistValue(_))) => {
            serde_json::to_string(&to_json(Some(other))).unwrap_or_default()
        }
        // A string-table reference is only meaningful in profiles.
        Some(V::StringValueStrindex(_)) => String::new(),
    }
}

/// A double as Go's pdata writes it: like ES6 number-to-string (plain decimal, exponent form below
/// 1e-6 or from 1e21 on).
pub fn float_as_string(f: f64) -> String {
    if f.is_nan() {
        return "json: unsupported value: NaN".into();
    }
    if f.is_infinite() {
        return format!(
            "json: unsupported value: {}",
            if f > 0.0 { "+Inf" } else { "-Inf" }
        );
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1e21` / `1.5e-7`; Go writes `1e+21` / `1.5e-07`, trimmed to `1.5e-7`.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => format!("{mant}e+{exp}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

fn to_json(v: Option<&V>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        None | Some(V::StringValueStrindex(_)) => J::Null,
        Some(V::StringValue(s)) => J::String(s.clone()),
        Some(V::BoolValue(b)) => J::Bool(*b),
        Some(V::IntValue(i)) => J::from(*i),
        Some(V::DoubleValue(d)) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Some(V::BytesValue(b)) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Some(V::ArrayValue(a)) => {
            J::Array(a.values.iter().map(|v| to_json(v.value.as_ref())).collect())
        }
        // serde_json's map is sorted, as Go's encoding/json sorts map keys.
        Some(V::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        to_json(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                    )
                })
                .collect(),
        ),
    }
}

/// The `hash` action: SHA-256 hex of the value's bytes as otelcol computes them (a string's UTF-8,
/// an int's or a double's 8 little-endian bytes, a bool as one byte 1 or 0). Other types, and the
/// empty string, become the empty string.
pub fn hash(v: &mut Option<AnyValue>) {
    let bytes: Option<Vec<u8>> = match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(V::StringValue(s)) => Some(s.as_bytes().to_vec()),
        Some(V::BoolValue(b)) => Some(vec![u8::from(*b)]),
        Some(V::IntValue(i)) => Some(i.to_le_bytes().to_vec()),
        Some(V::DoubleValue(d)) => Some(d.to_bits().to_le_bytes().to_vec()),
        _ => None,
    };
    let hashed = match bytes {
        Some(b) if !b.is_empty() => hex(&Sha256::digest(&b)),
        _ => String::new(),
    };
    *v = string(hashed);
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// The `convert` action's target type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvertTo {
    Int,
    Double,
    String,
}

/// Converts in place; a value that cannot be converted is left as it is (as otelcol does).
pub fn convert(v: &mut Option<AnyValue>, to: ConvertTo) {
    let cur = v.as_ref().and_then(|v| v.value.as_ref());
    let new = match (to, cur) {
        (ConvertTo::String, Some(V::StringValue(_))) => None,
        (ConvertTo::String, _) => Some(V::StringValue(as_string(v.as_ref()))),
        (ConvertTo::Int, Some(V::DoubleValue(d))) => Some(V::IntValue(*d as i64)),
        (ConvertTo::Int, Some(V::BoolValue(b))) => Some(V::IntValue(i64::from(*b))),
        (ConvertTo::Int, Some(V::StringValue(s))) => s.parse::<i64>().ok().map(V::IntValue),
        (ConvertTo::Int, _) => None,
        (ConvertTo::Double, Some(V::IntValue(i))) => Some(V::DoubleValue(*i as f64)),
        (ConvertTo::Double, Some(V::BoolValue(b))) => {
            Some(V::DoubleValue(if *b { 1.0 } else { 0.0 }))
        }
        (ConvertTo::Double, Some(V::StringValue(s))) => parse_go_float(s).map(V::DoubleValue),
        (ConvertTo::Double, _) => None,
    };
    if let Some(n) = new {
        *v = Some(any(n));
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms it shares with Rust, plus its `Inf`/`+Inf` spelling.
fn parse_go_float(s: &str) -> Option<f64> {
    if s.contains('_') || s.trim() != s {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<AnyValue> {
        string(v)
    }

    #[test]
    fn hash_matches_otelcol_digests() {
        // Digests as otelcol's sha2Hasher computes them (SHA-256 over the bytes described above).
        let mut v = s("foo");
        hash(&mut v);
        assert_eq!(
            v,
            s("2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae")
        );
        let mut v = Some(any(V::IntValue(1)));
        hash(&mut v); // sha256 of 01 00 00 00 00 00 00 00
        assert_eq!(
            v,
            s("7c9fa136d4413fa6173637e883b6998d32e1d675f88cddff9dcbcf331820f4b8")
        );
        let mut v = Some(any(V::BoolValue(true)));
        hash(&mut v); // sha256 of 01
        assert_eq!(
            v,
            s("4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a")
        );
        let mut v = Some(any(V::BoolValue(false)));
        hash(&mut v); // sha256 of 00
        assert_eq!(
            v,
            s("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        let mut v = Some(any(V::DoubleValue(1.0)));
        hash(&mut v); // sha256 of 00 00 00 00 00 00 f0 3f
        assert_eq!(
            v,
            s("6c3c396ed6b5c36dcae172271f462051b1266b851e92df3deea8ac65478fd712")
        );
        let mut v = s("");
        hash(&mut v);
        assert_eq!(v, s(""));
        let mut v = Some(any(V::BytesValue(vec![1, 2])));
        hash(&mut v);
        assert_eq!(v, s(""));
    }

    #[test]
    fn as_string_like_pdata() {
        assert_eq!(float_as_string(1.5), "1.5");
        assert_eq!(float_as_string(200.0), "200");
        assert_eq!(float_as_string(1e21), "1e+21");
        assert_eq!(float_as_string(1.5e-7), "1.5e-7");
        assert_eq!(float_as_string(0.000001), "0.000001");
        let kv = any(V::KvlistValue(KeyValueList {
            values: vec![
                KeyValue {
                    key: "b".into(),
                    value: Some(any(V::IntValue(1))),
                    ..Default::default()
                },
                KeyValue {
                    key: "a".into(),
                    value: s("x"),
                    ..Default::default()
                },
            ],
        }));
        assert_eq!(as_string(Some(&kv)), r#"{"a":"x","b":1}"#);
        assert_eq!(as_string(Some(&any(V::BytesValue(vec![1, 2, 3])))), "AQID");
    }

    #[test]
    fn convert_table() {
        let int = |i| Some(any(V::IntValue(i)));
        let dbl = |d| Some(any(V::DoubleValue(d)));
        let boo = |b| Some(any(V::BoolValue(b)));
        let cases: Vec<(Option<AnyValue>, ConvertTo, Option<AnyValue>)> = vec![
            (s("123"), ConvertTo::Int, int(123)),
            (s("-7"), ConvertTo::Int, int(-7)),
            (s("12.5"), ConvertTo::Int, s("12.5")),
            (s("abc"), ConvertTo::Int, s("abc")),
            (dbl(3.9), ConvertTo::Int, int(3)),
            (boo(true), ConvertTo::Int, int(1)),
            (int(5), ConvertTo::Int, int(5)),
            (s("12.5"), ConvertTo::Double, dbl(12.5)),
            (s("x"), ConvertTo::Double, s("x")),
            (int(2), ConvertTo::Double, dbl(2.0)),
            (boo(false), ConvertTo::Double, dbl(0.0)),
            (int(42), ConvertTo::String, s("42")),
            (dbl(1.25), ConvertTo::String, s("1.25")),
            (boo(true), ConvertTo::String, s("true")),
            (None, ConvertTo::String, s("")),
            (None, ConvertTo::Int, None),
        ];
        for (i, (mut v, to, want)) in cases.into_iter().enumerate() {
            convert(&mut v, to);
            assert_eq!(v, want, "case {i}");
        }
    }

    #[test]
    fn yaml_values_are_typed() {
        let y: Yaml = serde_yaml::from_str("[1, 2.5, true, x, {k: v}]").unwrap();
        let v = from_yaml(&y).unwrap().unwrap();
        let Some(V::ArrayValue(a)) = v.value else {
            panic!()
        };
        assert_eq!(a.values[0], any(V::IntValue(1)));
        assert_eq!(a.values[1], any(V::DoubleValue(2.5)));
        assert_eq!(a.values[2], any(V::BoolValue(true)));
        assert_eq!(a.values[3], any(V::StringValue("x".into())));
    }
}
