//! Runtime values: what paths read and converters return. Borrowed where they come from the data or
//! from a literal in the compiled program, so that reading a value allocates nothing.

use std::borrow::Cow;
use std::cmp::Ordering;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};

use super::ast::CmpOp;

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Map(Cow<'a, [KeyValue]>),
    List(Cow<'a, [AnyValue]>),
    /// Nanoseconds since the Unix epoch.
    Time(i64),
    /// Nanoseconds.
    Duration(i64),
}

pub type Owned = Value<'static>;

impl<'a> Value<'a> {
    pub fn str(s: &'a str) -> Self {
        Value::Str(Cow::Borrowed(s))
    }

    pub fn into_owned(self) -> Owned {
        match self {
            Value::Nil => Value::Nil,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Double(d) => Value::Double(d),
            Value::Time(t) => Value::Time(t),
            Value::Duration(d) => Value::Duration(d),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::Map(m) => Value::Map(Cow::Owned(m.into_owned())),
            Value::List(l) => Value::List(Cow::Owned(l.into_owned())),
        }
    }

    /// A shorter-lived borrow of the same value.
    pub fn reborrow(&self) -> Value<'_> {
        match self {
            Value::Nil => Value::Nil,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Double(d) => Value::Double(*d),
            Value::Time(t) => Value::Time(*t),
            Value::Duration(d) => Value::Duration(*d),
            Value::Str(s) => Value::Str(Cow::Borrowed(s)),
            Value::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
            Value::Map(m) => Value::Map(Cow::Borrowed(m)),
            Value::List(l) => Value::List(Cow::Borrowed(l)),
        }
    }

    pub fn from_any(v: &'a AnyValue) -> Self {
        match &v.value {
            None | Some(Av::StringValueStrindex(_)) => Value::Nil,
            Some(Av::StringValue(s)) => Value::Str(Cow::Borrowed(s)),
            Some(Av::BoolValue(b)) => Value::Bool(*b),
            Some(Av::IntValue(i)) => Value::Int(*i),
            Some(Av::DoubleValue(d)) => Value::Double(*d),
            Some(Av::BytesValue(b)) => Value::Bytes(Cow::Borrowed(b)),
            Some(Av::KvlistValue(m)) => Value::Map(Cow::Borrowed(&m.values)),
            Some(Av::ArrayValue(a)) => Value::List(Cow::Borrowed(&a.values)),
        }
    }

    pub fn from_opt_any(v: Option<&'a AnyValue>) -> Self {
        v.map(Value::from_any).unwrap_or(Value::Nil)
    }

    /// The value as an attribute value; times and durations become integers (nanoseconds).
    pub fn to_any(&self) -> AnyValue {
        self.reborrow().into_any()
    }

    pub fn into_any(self) -> AnyValue {
        let value = match self {
            Value::Nil => None,
            Value::Bool(b) => Some(Av::BoolValue(b)),
            Value::Int(i) | Value::Time(i) | Value::Duration(i) => Some(Av::IntValue(i)),
            Value::Double(d) => Some(Av::DoubleValue(d)),
            Value::Str(s) => Some(Av::StringValue(s.into_owned())),
            Value::Bytes(b) => Some(Av::BytesValue(b.into_owned())),
            Value::Map(m) => Some(Av::KvlistValue(KeyValueList {
                values: m.into_owned(),
            })),
            Value::List(l) => Some(Av::ArrayValue(ArrayValue {
                values: l.into_owned(),
            })),
        };
        AnyValue { value }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Double(_) => "double",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Map(_) => "map",
            Value::List(_) => "slice",
            Value::Time(_) => "time",
            Value::Duration(_) => "duration",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as text, as pcommon's `AsString` renders it (maps and slices as JSON).
    pub fn to_text(&self) -> String {
        match self {
            Value::Nil => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) | Value::Time(i) | Value::Duration(i) => i.to_string(),
            Value::Double(d) => format_double(*d),
            Value::Str(s) => s.to_string(),
            Value::Bytes(b) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(b)
            }
            Value::Map(_) | Value::List(_) => {
                serde_json::to_string(&to_json(&self.to_any())).unwrap_or_default()
            }
        }
    }
}

/// Doubles as Go's `strconv.FormatFloat(f, 'f', -1, 64)`: no exponent, shortest round-trip digits.
pub fn format_double(d: f64) -> String {
    if d.is_finite() {
        let s = format!("{d}");
        s
    } else if d.is_nan() {
        "NaN".into()
    } else if d > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

pub fn to_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        None | Some(Av::StringValueStrindex(_)) => J::Null,
        Some(Av::StringValue(s)) => J::String(s.clone()),
        Some(Av::BoolValue(b)) => J::Bool(*b),
        Some(Av::IntValue(i)) => J::from(*i),
        Some(Av::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or(J::Null),
        Some(Av::BytesValue(b)) => {
            use base64::Engine;
            J::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(Av::KvlistValue(m)) => J::Object(
            m.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map(to_json).unwrap_or(J::Null),
                    )
                })
                .collect(),
        ),
        Some(Av::ArrayValue(a)) => J::Array(a.values.iter().map(to_json).collect()),
    }
}

pub fn from_json(j: &serde_json::Value) -> AnyValue {
    use serde_json::Value as J;
    let value = match j {
        J::Null => None,
        J::Bool(b) => Some(Av::BoolValue(*b)),
        // ParseJSON yields doubles for every number, as otelcol's does.
        J::Number(n) => Some(Av::DoubleValue(n.as_f64().unwrap_or(0.0))),
        J::String(s) => Some(Av::StringValue(s.clone())),
        J::Array(a) => Some(Av::ArrayValue(ArrayValue {
            values: a.iter().map(from_json).collect(),
        })),
        J::Object(o) => Some(Av::KvlistValue(KeyValueList {
            values: o
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: Some(from_json(v)),
                    ..Default::default()
                })
                .collect(),
        })),
    };
    AnyValue { value }
}

fn ord_result(op: CmpOp, o: Option<Ordering>) -> bool {
    let Some(o) = o else {
        return op == CmpOp::Ne;
    };
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
    }
}

fn eq_only(op: CmpOp, equal: bool) -> bool {
    match op {
        CmpOp::Eq => equal,
        CmpOp::Ne => !equal,
        _ => false,
    }
}

/// OTTL's typed comparison: numbers compare across int and double; strings, bytes, times and
/// durations with their own kind; bools, maps and slices only for (in)equality; nil equals only nil;
/// values of different types are never equal and never ordered.
pub fn compare(op: CmpOp, a: &Value, b: &Value) -> bool {
    use Value::*;
    match (a, b) {
        (Nil, Nil) => eq_only(op, true),
        (Nil, _) | (_, Nil) => eq_only(op, false),
        (Bool(x), Bool(y)) => eq_only(op, x == y),
        (Int(x), Int(y)) => ord_result(op, Some(x.cmp(y))),
        (Double(x), Double(y)) => ord_result(op, x.partial_cmp(y)),
        (Int(x), Double(y)) => ord_result(op, (*x as f64).partial_cmp(y)),
        (Double(x), Int(y)) => ord_result(op, x.partial_cmp(&(*y as f64))),
        (Str(x), Str(y)) => ord_result(op, Some(x.as_ref().cmp(y.as_ref()))),
        (Bytes(x), Bytes(y)) => ord_result(op, Some(x.as_ref().cmp(y.as_ref()))),
        (Time(x), Time(y)) | (Duration(x), Duration(y)) => ord_result(op, Some(x.cmp(y))),
        (Map(x), Map(y)) => eq_only(op, maps_equal(x, y)),
        (List(x), List(y)) => eq_only(op, x == y),
        _ => eq_only(op, false),
    }
}

/// Map equality ignores key order, as pcommon's does.
fn maps_equal(a: &[KeyValue], b: &[KeyValue]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|kv| b.iter().any(|o| o.key == kv.key && o.value == kv.value))
}
