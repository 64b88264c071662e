//! A log entry as Stanza operators see it, Stanza's field syntax, and the conversion to OTLP.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::{Map, Value};

/// One log entry on its way through the operators. Values are JSON values (strings, numbers, maps,
/// lists); `body` starts as the line read from the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub body: Value,
    pub attributes: Map<String, Value>,
    pub resource: Map<String, Value>,
    /// Unix nanoseconds; 0 = not set.
    pub timestamp: u64,
    pub observed_timestamp: u64,
    pub severity: i32,
    pub severity_text: String,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub trace_flags: u32,
    pub scope_name: String,
    /// Where the entry came from: (reader id, byte offset where its first line starts). Operators
    /// that hold entries back (recombine, container partial lines) report the smallest offset they
    /// hold, so a checkpoint never moves past data that was not passed on yet.
    pub origin: Option<(u64, u64)>,
}

/// Which part of an entry a field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Body,
    Attributes,
    Resource,
}

/// A Stanza field: `body`, `body.a.b`, `body["a.b"]`, `attributes.k`, `attributes["k.8s"]`,
/// `resource.x`; the older `$body`, `$attributes`, `$resource`, `$record` (= body) are accepted too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub root: Root,
    pub path: Vec<String>,
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.root {
            Root::Body => "body",
            Root::Attributes => "attributes",
            Root::Resource => "resource",
        })?;
        for p in &self.path {
            if p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                write!(f, ".{p}")?;
            } else {
                write!(f, "[{p:?}]")?;
            }
        }
        Ok(())
    }
}

impl Field {
    pub fn body() -> Field {
        Field {
            root: Root::Body,
            path: vec![],
        }
    }

    pub fn attributes() -> Field {
        Field {
            root: Root::Attributes,
            path: vec![],
        }
    }

    pub fn attr(k: &str) -> Field {
        Field {
            root: Root::Attributes,
            path: vec![k.to_string()],
        }
    }

    /// Parses a field; a bare name without a root (`message`) means `body.message`, as Stanza did.
    pub fn parse(s: &str) -> Result<Field, String> {
        let s = s.trim();
        let s = s.strip_prefix('$').unwrap_or(s);
        let (root, rest) = if let Some(r) = strip_root(s, "body") {
            (Root::Body, r)
        } else if let Some(r) = strip_root(s, "record") {
            (Root::Body, r)
        } else if let Some(r) = strip_root(s, "attributes") {
            (Root::Attributes, r)
        } else if let Some(r) = strip_root(s, "resource") {
            (Root::Resource, r)
        } else if s.is_empty() {
            return Err("empty field".into());
        } else {
            return Err(format!(
                "invalid field {s:?}: must start with body, attributes or resource"
            ));
        };
        let mut path = Vec::new();
        let mut rest = rest;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(format!("invalid field {s:?}: empty segment"));
                }
                path.push(r[..end].to_string());
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let r = r.trim_start();
                let q = r
                    .chars()
                    .next()
                    .filter(|c| *c == '"' || *c == '\'')
                    .ok_or_else(|| format!("invalid field {s:?}: expected a quoted key after ["))?;
                let r = &r[1..];
                let close = r
                    .find(q)
                    .ok_or_else(|| format!("invalid field {s:?}: unterminated quote"))?;
                path.push(r[..close].to_string());
                rest = r[close + 1..]
                    .trim_start()
                    .strip_prefix(']')
                    .ok_or_else(|| format!("invalid field {s:?}: expected ]"))?;
            } else {
                return Err(format!("invalid field {s:?}"));
            }
        }
        Ok(Field { root, path })
    }
}

fn strip_root<'a>(s: &'a str, root: &str) -> Option<&'a str> {
    let r = s.strip_prefix(root)?;
    (r.is_empty() || r.starts_with('.') || r.starts_with('[')).then_some(r)
}

impl serde::Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Field::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Entry {
    pub fn new(body: Value) -> Entry {
        Entry {
            body,
            ..Default::default()
        }
    }

    fn root_map(&mut self, root: Root) -> &mut Map<String, Value> {
        match root {
            Root::Attributes => &mut self.attributes,
            Root::Resource => &mut self.resource,
            Root::Body => {
                if !self.body.is_object() {
                    self.body = Value::Object(Map::new());
                }
                self.body.as_object_mut().expect("just made an object")
            }
        }
    }

    pub fn get(&self, f: &Field) -> Option<&Value> {
        let (first, rest) = match f.root {
            Root::Body => {
                let mut v = &self.body;
                for p in &f.path {
                    v = v.as_object()?.get(p)?;
                }
                return Some(v);
            }
            Root::Attributes => (&self.attributes, &f.path[..]),
            Root::Resource => (&self.resource, &f.path[..]),
        };
        let (k, rest) = rest.split_first()?;
        let mut v = first.get(k)?;
        for p in rest {
            v = v.as_object()?.get(p)?;
        }
        Some(v)
    }

    /// Sets a field, creating maps on the way. Setting a whole attributes/resource map needs a map.
    pub fn set(&mut self, f: &Field, value: Value) -> Result<(), String> {
        if f.path.is_empty() {
            match f.root {
                Root::Body => self.body = value,
                Root::Attributes | Root::Resource => match value {
                    Value::Object(m) => *self.root_map(f.root) = m,
                    _ => return Err(format!("cannot set {f} to a value that is not a map")),
                },
            }
            return Ok(());
        }
        let mut m = self.root_map(f.root);
        let (last, parents) = f.path.split_last().expect("non-empty");
        for p in parents {
            let slot = m
                .entry(p.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            m = slot.as_object_mut().expect("just made an object");
        }
        m.insert(last.clone(), value);
        Ok(())
    }

    pub fn delete(&mut self, f: &Field) -> Option<Value> {
        if f.path.is_empty() {
            return Some(match f.root {
                Root::Body => std::mem::take(&mut self.body),
                Root::Attributes => Value::Object(std::mem::take(&mut self.attributes)),
                Root::Resource => Value::Object(std::mem::take(&mut self.resource)),
            });
        }
        let (last, parents) = f.path.split_last()?;
        let mut m: &mut Map<String, Value> = match f.root {
            Root::Body => self.body.as_object_mut()?,
            Root::Attributes => &mut self.attributes,
            Root::Resource => &mut self.resource,
        };
        for p in parents {
            m = m.get_mut(p)?.as_object_mut()?;
        }
        m.remove(last)
    }
}

/// A value as text, as Stanza renders non-strings for parsers and comparisons.
pub fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn to_any(v: Value) -> AnyValue {
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(0.0)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s)),
        Value::Array(a) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: a.into_iter().map(to_any).collect(),
        })),
        Value::Object(m) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: to_key_values(m),
        })),
    };
    AnyValue { value }
}

pub fn to_key_values(m: Map<String, Value>) -> Vec<KeyValue> {
    m.into_iter()
        .map(|(key, v)| KeyValue {
            key,
            value: Some(to_any(v)),
            ..Default::default()
        })
        .collect()
}

impl Entry {
    /// The OTLP log record; resource and scope are grouped by the caller.
    pub fn into_record(self) -> (Map<String, Value>, String, LogRecord) {
        let rec = LogRecord {
            time_unix_nano: self.timestamp,
            observed_time_unix_nano: self.observed_timestamp,
            severity_number: self.severity,
            severity_text: self.severity_text,
            body: Some(to_any(self.body)),
            attributes: to_key_values(self.attributes),
            flags: self.trace_flags,
            trace_id: self.trace_id,
            span_id: self.span_id,
            ..Default::default()
        };
        (self.resource, self.scope_name, rec)
    }
}

/// Groups entries into `ResourceLogs` by resource and scope, keeping their order within a group.
pub fn to_resource_logs(
    entries: Vec<Entry>,
) -> Vec<opentelemetry_proto::tonic::logs::v1::ResourceLogs> {
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    type Group = (String, Map<String, Value>, BTreeMap<String, Vec<LogRecord>>);
    let mut groups: Vec<Group> = Vec::new();
    for e in entries {
        let (res, scope, rec) = e.into_record();
        // Resource maps are few per batch; a string key keeps grouping cheap and exact.
        let key = if res.is_empty() {
            String::new()
        } else {
            Value::Object(res.clone()).to_string()
        };
        let g = match groups.iter_mut().position(|g| g.0 == key) {
            Some(i) => &mut groups[i],
            None => {
                groups.push((key, res, BTreeMap::new()));
                groups.last_mut().expect("just pushed")
            }
        };
        g.2.entry(scope).or_default().push(rec);
    }
    groups
        .into_iter()
        .map(|(_, res, scopes)| ResourceLogs {
            resource: Some(Resource {
                attributes: to_key_values(res),
                ..Default::default()
            }),
            scope_logs: scopes
                .into_iter()
                .map(|(name, log_records)| ScopeLogs {
                    scope: (!name.is_empty()).then(|| InstrumentationScope {
                        name,
                        ..Default::default()
                    }),
                    log_records,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}

/// The OTLP/protobuf encoding of log entries, written directly from the entries: the same bytes prost
/// writes for `ExportLogsServiceRequest { resource_logs: to_resource_logs(entries) }` (same grouping,
/// fields in tag order, proto3 defaults left out), without building the prost messages first. The
/// pipeline passes such a request on encoded (batching joins requests without decoding them).
pub mod encode {
    use std::collections::BTreeMap;

    use prost::encoding::encoded_len_varint;
    use serde_json::{Map, Value};

    use super::Entry;
    use crate::signal::pbwrite::{
        delimited, put_bytes, put_double, put_fixed32, put_fixed64, put_header, put_varint,
    };

    /// The content of an `AnyValue` (as `to_any` builds it).
    fn any_len(v: &Value) -> usize {
        match v {
            Value::Null => 0,
            Value::Bool(b) => 1 + encoded_len_varint(*b as u64),
            Value::Number(n) => match n.as_i64() {
                Some(i) => 1 + encoded_len_varint(i as u64),
                None => 1 + 8,
            },
            Value::String(s) => 1 + delimited(s.len()),
            Value::Array(a) => 1 + delimited(a.iter().map(|x| 1 + delimited(any_len(x))).sum()),
            Value::Object(m) => 1 + delimited(kvs_len(m)),
        }
    }

    fn put_any(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Null => {}
            Value::Bool(b) => put_varint(2, *b as u64, out),
            Value::Number(n) => match n.as_i64() {
                Some(i) => put_varint(3, i as u64, out),
                None => put_double(4, n.as_f64().unwrap_or(0.0), out),
            },
            Value::String(s) => {
                put_header(1, s.len(), out);
                out.extend_from_slice(s.as_bytes());
            }
            Value::Array(a) => {
                put_header(5, a.iter().map(|x| 1 + delimited(any_len(x))).sum(), out);
                for x in a {
                    put_header(1, any_len(x), out);
                    put_any(x, out);
                }
            }
            Value::Object(m) => {
                put_header(6, kvs_len(m), out);
                put_kvs(1, m, out);
            }
        }
    }

    /// The content of a `KeyValue`.
    fn kv_len(k: &str, v: &Value) -> usize {
        let key = if k.is_empty() {
            0
        } else {
            1 + delimited(k.len())
        };
        key + 1 + delimited(any_len(v))
    }

    /// A map as repeated `KeyValue` fields (tag 1 in `KeyValueList` and `Resource`).
    fn kvs_len(m: &Map<String, Value>) -> usize {
        m.iter().map(|(k, v)| 1 + delimited(kv_len(k, v))).sum()
    }

    fn put_kvs(tag: u32, m: &Map<String, Value>, out: &mut Vec<u8>) {
        for (k, v) in m {
            put_header(tag, kv_len(k, v), out);
            put_bytes(1, k.as_bytes(), out);
            put_header(2, any_len(v), out);
            put_any(v, out);
        }
    }

    /// The content of the entry's `LogRecord`.
    fn record_len(e: &Entry) -> usize {
        let mut n = 0;
        if e.timestamp != 0 {
            n += 1 + 8;
        }
        if e.severity != 0 {
            n += 1 + encoded_len_varint(e.severity as i64 as u64);
        }
        if !e.severity_text.is_empty() {
            n += 1 + delimited(e.severity_text.len());
        }
        n += 1 + delimited(any_len(&e.body));
        n += e
            .attributes
            .iter()
            .map(|(k, v)| 1 + delimited(kv_len(k, v)))
            .sum::<usize>();
        if e.trace_flags != 0 {
            n += 1 + 4;
        }
        if !e.trace_id.is_empty() {
            n += 1 + delimited(e.trace_id.len());
        }
        if !e.span_id.is_empty() {
            n += 1 + delimited(e.span_id.len());
        }
        if e.observed_timestamp != 0 {
            n += 1 + 8;
        }
        n
    }

    /// Appends the entry as a `log_records` field (tag 2) of a `ScopeLogs`.
    fn put_record(e: &Entry, out: &mut Vec<u8>) {
        put_header(2, record_len(e), out);
        put_fixed64(1, e.timestamp, out);
        if e.severity != 0 {
            put_varint(2, e.severity as i64 as u64, out);
        }
        put_bytes(3, e.severity_text.as_bytes(), out);
        put_header(5, any_len(&e.body), out);
        put_any(&e.body, out);
        put_kvs(6, &e.attributes, out);
        if e.trace_flags != 0 {
            put_fixed32(8, e.trace_flags, out);
        }
        put_bytes(9, &e.trace_id, out);
        put_bytes(10, &e.span_id, out);
        put_fixed64(11, e.observed_timestamp, out);
    }

    /// Log records of one resource and no scope name, encoded as they arrive: what a `filelog`
    /// receiver without operators sends (its records all have the receiver's `resource`). A line
    /// with the same attributes for every record of a file is written from the text and the
    /// attributes encoded once ([`attributes`]), without building an [`Entry`].
    #[derive(Default)]
    pub struct Records {
        records: Vec<u8>,
        n: usize,
    }

    impl Records {
        pub fn len(&self) -> usize {
            self.n
        }

        pub fn is_empty(&self) -> bool {
            self.n == 0
        }

        pub fn push_entry(&mut self, e: &Entry) {
            put_record(e, &mut self.records);
            self.n += 1;
        }

        /// The record of `Entry { body: line, attributes, observed_timestamp }`, where `attributes`
        /// is [`attributes`] of the entry's map.
        pub fn push_line(&mut self, line: &str, attributes: &[u8], observed_timestamp: u64) {
            let body = 1 + delimited(line.len());
            let mut len = 1 + delimited(body) + attributes.len();
            if observed_timestamp != 0 {
                len += 1 + 8;
            }
            let out = &mut self.records;
            put_header(2, len, out);
            put_header(5, body, out);
            put_header(1, line.len(), out);
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(attributes);
            put_fixed64(11, observed_timestamp, out);
            self.n += 1;
        }

        /// The `ExportLogsServiceRequest` of the records so far (then empty): the bytes
        /// [`logs_request`] writes for the same entries with this resource.
        pub fn take_request(&mut self, resource: &Map<String, Value>) -> Vec<u8> {
            if self.n == 0 {
                return Vec::new();
            }
            let mut out = Vec::with_capacity(self.records.len() + 64);
            write_group(resource, &[("", &self.records)], &mut out);
            // The buffer is kept for the next batch (one batch's worth, not one per file).
            self.records.clear();
            self.n = 0;
            out
        }
    }

    /// A log record's `attributes` fields (tag 6) as [`Records::push_line`] takes them.
    pub fn attributes(m: &Map<String, Value>) -> Vec<u8> {
        let mut out = Vec::new();
        put_kvs(6, m, &mut out);
        out
    }

    type Group = (Map<String, Value>, BTreeMap<String, Vec<u8>>);

    /// Encodes the entries as an `ExportLogsServiceRequest`, grouped as `to_resource_logs` groups
    /// them: by resource in the order first seen, then by scope name, records in order.
    pub fn logs_request(entries: impl IntoIterator<Item = Entry>) -> Vec<u8> {
        // Resources are few per batch and compared as maps (no copy, no serialization per entry).
        let mut groups: Vec<Group> = Vec::new();
        let entries = entries.into_iter();
        let count = entries.size_hint().0;
        for mut e in entries {
            let gi = match groups.iter().position(|g| g.0 == e.resource) {
                Some(i) => i,
                None => {
                    groups.push((std::mem::take(&mut e.resource), BTreeMap::new()));
                    groups.len() - 1
                }
            };
            let Some(g) = groups.get_mut(gi) else {
                continue;
            };
            let records = g.1.entry(std::mem::take(&mut e.scope_name)).or_default();
            if records.is_empty() {
                // Room for the batch at the first record's size (up to 1 MiB), instead of
                // growing by doubling.
                let guess = count.saturating_mul(1 + delimited(record_len(&e)));
                records.reserve(guess.min(1 << 20));
            }
            put_record(&e, records);
        }
        write_groups(&groups)
    }

    fn write_groups(groups: &[Group]) -> Vec<u8> {
        let body_bytes: usize = groups.iter().flat_map(|g| g.1.values()).map(Vec::len).sum();
        let mut out = Vec::with_capacity(body_bytes + 64 * groups.len() + 16);
        for (res, scopes) in groups {
            let scopes: Vec<(&str, &[u8])> = scopes
                .iter()
                .map(|(name, records)| (name.as_str(), records.as_slice()))
                .collect();
            write_group(res, &scopes, &mut out);
        }
        out
    }

    /// One `ResourceLogs` (tag 1) with its `ScopeLogs` of encoded records.
    fn write_group(res: &Map<String, Value>, scopes: &[(&str, &[u8])], out: &mut Vec<u8>) {
        let scope_len = |name: &str, records: &[u8]| {
            let scope = if name.is_empty() {
                0
            } else {
                1 + delimited(1 + delimited(name.len()))
            };
            scope + records.len()
        };
        let resource_len = 1 + delimited(kvs_len(res));
        let scopes_len: usize = scopes
            .iter()
            .map(|(name, records)| 1 + delimited(scope_len(name, records)))
            .sum();
        put_header(1, resource_len + scopes_len, out);
        put_header(1, kvs_len(res), out);
        put_kvs(1, res, out);
        for (name, records) in scopes {
            put_header(2, scope_len(name, records), out);
            if !name.is_empty() {
                put_header(1, 1 + delimited(name.len()), out);
                put_bytes(1, name.as_bytes(), out);
            }
            out.extend_from_slice(records);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_and_set() {
        let f = Field::parse(r#"attributes["k8s.pod.name"]"#).unwrap();
        assert_eq!(f.path, vec!["k8s.pod.name"]);
        let g = Field::parse("body.a.b").unwrap();
        let mut e = Entry::new(Value::String("x".into()));
        e.set(&g, Value::from(1)).unwrap();
        assert_eq!(e.get(&g), Some(&Value::from(1)));
        e.set(&f, Value::from("p")).unwrap();
        assert_eq!(e.attributes["k8s.pod.name"], "p");
        assert_eq!(Field::parse("$record.x").unwrap().root, Root::Body);
        assert!(Field::parse("foo").is_err());
        assert_eq!(e.delete(&g), Some(Value::from(1)));
    }

    #[test]
    fn direct_encoding_is_what_prost_encodes() {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use prost::Message;
        let mut entries = Vec::new();
        let bodies = [
            Value::String("plain line".into()),
            Value::Null,
            Value::String(String::new()),
            serde_json::json!({"a": 1, "b": [true, false, null, -3, 2.5, "x", {"c": {}}], "": "empty key", "big": u64::MAX}),
            Value::Array(vec![]),
            Value::from(-1),
        ];
        for (i, body) in bodies.into_iter().enumerate() {
            let mut e = Entry::new(body);
            e.observed_timestamp = 1_700_000_000_000_000_000 + i as u64;
            if i % 2 == 0 {
                e.timestamp = 1_600_000_000_000_000_000;
                e.severity = 9;
                e.severity_text = "INFO".into();
                e.trace_id = vec![1; 16];
                e.span_id = vec![2; 8];
                e.trace_flags = 1;
            }
            if i == 5 {
                e.severity = -2;
            }
            e.attributes
                .insert("log.file.name".into(), Value::from("app.log"));
            e.attributes.insert("n".into(), Value::from(i as i64));
            if i >= 3 {
                e.resource.insert("k8s.pod.name".into(), Value::from("p"));
            }
            if i == 4 {
                e.scope_name = "scope".into();
            }
            entries.push(e);
        }
        let want = ExportLogsServiceRequest {
            resource_logs: to_resource_logs(entries.clone()),
        };
        let got = encode::logs_request(entries);
        assert_eq!(ExportLogsServiceRequest::decode(&got[..]).unwrap(), want);
        assert_eq!(got, want.encode_to_vec(), "the same bytes as prost");
        assert!(encode::logs_request(vec![]).is_empty());
    }

    #[test]
    fn records_written_from_lines_are_what_entries_encode() {
        let mut attrs = Map::new();
        attrs.insert("log.file.name".into(), Value::from("app.log"));
        attrs.insert("n".into(), Value::from(7));
        let mut resource = Map::new();
        resource.insert("host".into(), Value::from("h"));
        for (resource, attrs, observed) in [
            (Map::new(), Map::new(), 0),
            (resource.clone(), attrs.clone(), 1_700_000_000_000_000_000),
            (Map::new(), attrs, 5),
        ] {
            let mut entries = Vec::new();
            let mut records = encode::Records::default();
            let pb = encode::attributes(&attrs);
            for (i, line) in ["a line", "", "ünïcode ☃", &"x".repeat(300)]
                .iter()
                .enumerate()
            {
                let mut e = Entry::new(Value::String(line.to_string()));
                e.attributes = attrs.clone();
                e.observed_timestamp = observed;
                e.resource = resource.clone();
                // Both ways of adding a record give the same bytes.
                if i % 2 == 0 {
                    records.push_line(line, &pb, observed);
                } else {
                    records.push_entry(&e);
                }
                entries.push(e);
            }
            assert_eq!(records.len(), 4);
            assert_eq!(
                records.take_request(&resource),
                encode::logs_request(entries)
            );
            assert!(records.is_empty());
            assert!(records.take_request(&resource).is_empty());
        }
    }
}
