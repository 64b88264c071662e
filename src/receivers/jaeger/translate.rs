//! Jaeger (thrift and api_v2 protobuf) to OTLP, as otelcol's `pkg/translator/jaeger` does it:
//! - ids: the 128-bit trace id from its high and low halves, big-endian; span ids likewise;
//! - parent: thrift's `parentSpanId`, or (protobuf) the first `CHILD_OF` reference in the same trace;
//!   every other reference becomes a link with `opentracing.ref_type` (`child_of` / `follows_from`);
//! - tags become attributes (a later tag with the same key wins); `span.kind`, `otel.status_code`,
//!   `otel.status_description`, `error` (a bool) and `w3c.tracestate` become the span's kind, status and
//!   trace state, and `http.status_code` sets the status when nothing else did;
//! - `otel.scope.name`/`otel.scope.version` tags pick the scope (`otel.library.*` stay attributes);
//! - the process becomes the resource: `service.name` plus its tags (`hostname` → `host.name`,
//!   `jaeger.version` → `opencensus.exporterversion: Jaeger-<v>`), except the placeholder service name
//!   `OTLPResourceNoServiceName`;
//! - logs become events (timestamp, the `event` field as the name, the other fields as attributes).

use opentelemetry_proto::tonic::common::v1::{any_value, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};

use crate::receivers::common::{
    jaeger_proto as pb, kv, span_id, str_kv, thrift::jaeger as th, trace_id,
};

/// A Jaeger span in either wire format, with tags already typed as OTLP values.
#[derive(Debug, Default, Clone)]
pub struct JSpan {
    pub trace_high: u64,
    pub trace_low: u64,
    pub span_id: u64,
    pub parent_span_id: u64,
    pub operation_name: String,
    pub references: Vec<JRef>,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub tags: Vec<KeyValue>,
    pub logs: Vec<(u64, Vec<KeyValue>)>,
    pub process: Option<JProcess>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct JProcess {
    pub service_name: String,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone)]
pub struct JRef {
    pub trace_high: u64,
    pub trace_low: u64,
    pub span_id: u64,
    pub follows_from: bool,
}

const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

// ---- thrift ----

fn thrift_tags(tags: Option<Vec<th::Tag>>) -> Vec<KeyValue> {
    let mut out = Vec::new();
    for t in tags.unwrap_or_default() {
        let v = match t.v_type {
            th::TagType::STRING => any_value::Value::StringValue(t.v_str.unwrap_or_default()),
            th::TagType::DOUBLE => any_value::Value::DoubleValue(
                t.v_double.map(|d| d.into_inner()).unwrap_or_default(),
            ),
            th::TagType::BOOL => any_value::Value::BoolValue(t.v_bool.unwrap_or_default()),
            th::TagType::LONG => any_value::Value::IntValue(t.v_long.unwrap_or_default()),
            th::TagType::BINARY => any_value::Value::BytesValue(t.v_binary.unwrap_or_default()),
            other => {
                any_value::Value::StringValue(format!("<Unknown Jaeger TagType \"{}\">", other.0))
            }
        };
        put(&mut out, kv(&t.key, v));
    }
    out
}

fn thrift_process(p: th::Process) -> JProcess {
    JProcess {
        service_name: p.service_name,
        tags: thrift_tags(p.tags),
    }
}

/// A thrift `Batch` (HTTP `/api/traces`, or the agent's `emitBatch` over UDP) into OTLP.
pub fn thrift_batch(b: th::Batch) -> Vec<ResourceSpans> {
    let process = thrift_process(b.process);
    let spans = b
        .spans
        .into_iter()
        .map(|s| JSpan {
            trace_high: s.trace_id_high as u64,
            trace_low: s.trace_id_low as u64,
            span_id: s.span_id as u64,
            parent_span_id: s.parent_span_id as u64,
            operation_name: s.operation_name,
            references: s
                .references
                .unwrap_or_default()
                .into_iter()
                .map(|r| JRef {
                    trace_high: r.trace_id_high as u64,
                    trace_low: r.trace_id_low as u64,
                    span_id: r.span_id as u64,
                    follows_from: r.ref_type == th::SpanRefType::FOLLOWS_FROM,
                })
                .collect(),
            // Microseconds on the wire.
            start_ns: (s.start_time as u64).saturating_mul(1000),
            duration_ns: (s.duration as u64).saturating_mul(1000),
            tags: thrift_tags(s.tags),
            logs: s
                .logs
                .unwrap_or_default()
                .into_iter()
                .map(|l| {
                    (
                        (l.timestamp as u64).saturating_mul(1000),
                        thrift_tags(Some(l.fields)),
                    )
                })
                .collect(),
            process: None,
        })
        .collect();
    to_otlp(vec![(Some(process), spans)])
}

// ---- protobuf (api_v2) ----

fn proto_tags(tags: Vec<pb::KeyValue>) -> Vec<KeyValue> {
    let mut out = Vec::new();
    for t in tags {
        let v = match pb::ValueType::try_from(t.v_type) {
            Ok(pb::ValueType::String) => any_value::Value::StringValue(t.v_str),
            Ok(pb::ValueType::Bool) => any_value::Value::BoolValue(t.v_bool),
            Ok(pb::ValueType::Int64) => any_value::Value::IntValue(t.v_int64),
            Ok(pb::ValueType::Float64) => any_value::Value::DoubleValue(t.v_float64),
            Ok(pb::ValueType::Binary) => any_value::Value::BytesValue(t.v_binary),
            Err(_) => {
                any_value::Value::StringValue(format!("<Unknown Jaeger TagType \"{}\">", t.v_type))
            }
        };
        put(&mut out, kv(&t.key, v));
    }
    out
}

fn proto_process(p: pb::Process) -> JProcess {
    JProcess {
        service_name: p.service_name,
        tags: proto_tags(p.tags),
    }
}

fn ts_ns(t: Option<prost_types::Timestamp>) -> u64 {
    t.map(|t| {
        (t.seconds.max(0) as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.nanos.max(0) as u64)
    })
    .unwrap_or(0)
}

fn dur_ns(d: Option<prost_types::Duration>) -> u64 {
    d.map(|d| {
        (d.seconds.max(0) as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(d.nanos.max(0) as u64)
    })
    .unwrap_or(0)
}

/// A 16-byte trace id into its halves; shorter ids are left-padded, longer ones refused.
fn split_trace_id(b: &[u8]) -> Result<(u64, u64), String> {
    if b.len() > 16 {
        return Err(format!("trace id of {} bytes (at most 16)", b.len()));
    }
    let mut full = [0u8; 16];
    full[16 - b.len()..].copy_from_slice(b);
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&full[..8]);
    lo.copy_from_slice(&full[8..]);
    Ok((u64::from_be_bytes(hi), u64::from_be_bytes(lo)))
}

fn parse_span_id(b: &[u8]) -> Result<u64, String> {
    if b.len() > 8 {
        return Err(format!("span id of {} bytes (at most 8)", b.len()));
    }
    let mut full = [0u8; 8];
    full[8 - b.len()..].copy_from_slice(b);
    Ok(u64::from_be_bytes(full))
}

/// An api_v2 `Batch` (gRPC `PostSpans`) into OTLP. Spans that carry their own process get their own
/// resource, as otelcol's regrouping does.
pub fn proto_batch(b: pb::Batch) -> Result<Vec<ResourceSpans>, String> {
    let batch_process = b.process.map(proto_process);
    let mut groups: Vec<(Option<JProcess>, Vec<JSpan>)> = vec![(batch_process, Vec::new())];
    for s in b.spans {
        if s == pb::Span::default() {
            continue;
        }
        let (trace_high, trace_low) = split_trace_id(&s.trace_id)?;
        let mut references = Vec::new();
        for r in &s.references {
            let (h, l) = split_trace_id(&r.trace_id)?;
            references.push(JRef {
                trace_high: h,
                trace_low: l,
                span_id: parse_span_id(&r.span_id)?,
                follows_from: r.ref_type == pb::SpanRefType::FollowsFrom as i32,
            });
        }
        let parent_span_id = references
            .iter()
            .find(|r| !r.follows_from && r.trace_high == trace_high && r.trace_low == trace_low)
            .map(|r| r.span_id)
            .unwrap_or(0);
        let js = JSpan {
            trace_high,
            trace_low,
            span_id: parse_span_id(&s.span_id)?,
            parent_span_id,
            operation_name: s.operation_name,
            references,
            start_ns: ts_ns(s.start_time),
            duration_ns: dur_ns(s.duration),
            tags: proto_tags(s.tags),
            logs: s
                .logs
                .into_iter()
                .map(|l| (ts_ns(l.timestamp), proto_tags(l.fields)))
                .collect(),
            process: s.process.map(proto_process),
        };
        match js.process.clone() {
            None => groups[0].1.push(js),
            Some(p) => match groups.iter_mut().skip(1).find(|g| g.0.as_ref() == Some(&p)) {
                Some(g) => g.1.push(js),
                None => groups.push((Some(p), vec![js])),
            },
        }
    }
    Ok(to_otlp(groups))
}

// ---- shared translation ----

/// Sets `kv` in `attrs`, replacing an attribute with the same key (as pcommon.Map's Put does).
fn put(attrs: &mut Vec<KeyValue>, kv: KeyValue) {
    match attrs.iter_mut().find(|a| a.key == kv.key) {
        Some(a) => *a = kv,
        None => attrs.push(kv),
    }
}

fn take(attrs: &mut Vec<KeyValue>, key: &str) -> Option<any_value::Value> {
    let i = attrs.iter().position(|a| a.key == key)?;
    attrs.remove(i).value.and_then(|v| v.value)
}

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// pcommon's `Value.Str()`: the string form of any value.
pub fn as_str(v: &any_value::Value) -> String {
    match v {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        any_value::Value::BytesValue(b) => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        _ => String::new(),
    }
}

fn resource(p: Option<JProcess>) -> Resource {
    let mut attrs = Vec::new();
    if let Some(p) = p {
        if p.service_name != NO_SERVICE_NAME && !(p.service_name.is_empty() && p.tags.is_empty()) {
            if !p.service_name.is_empty() {
                attrs.push(str_kv("service.name", p.service_name));
            }
            for t in p.tags {
                put(&mut attrs, t);
            }
            if get(&attrs, "host.name").is_none() {
                if let Some(h) = attrs.iter_mut().find(|a| a.key == "hostname") {
                    h.key = "host.name".into();
                }
            }
            if let Some(v) = take(&mut attrs, "jaeger.version") {
                put(
                    &mut attrs,
                    str_kv(
                        "opencensus.exporterversion",
                        format!("Jaeger-{}", as_str(&v)),
                    ),
                );
            }
        }
    }
    Resource {
        attributes: attrs,
        ..Default::default()
    }
}

/// The scope from the `otel.scope.name` / `otel.scope.version` tags, which are removed. As in
/// otelcol, the deprecated `otel.library.*` tags are not read and stay attributes (SDKs that send
/// both, as the OpenTelemetry Jaeger exporters do, keep them as span attributes in otelcol too).
fn scope_of(tags: &mut Vec<KeyValue>) -> (String, String) {
    match take(tags, "otel.scope.name") {
        Some(name) => {
            let version = take(tags, "otel.scope.version")
                .map(|v| as_str(&v))
                .unwrap_or_default();
            (as_str(&name), version)
        }
        None => (String::new(), String::new()),
    }
}

fn to_otlp(groups: Vec<(Option<JProcess>, Vec<JSpan>)>) -> Vec<ResourceSpans> {
    let mut out = Vec::new();
    for (process, spans) in groups {
        if spans.is_empty() {
            continue;
        }
        let mut scopes: Vec<ScopeSpans> = Vec::new();
        for mut s in spans {
            let (name, version) = scope_of(&mut s.tags);
            let span = span_to_otlp(s);
            let i = match scopes.iter().position(|sc| {
                sc.scope
                    .as_ref()
                    .map(|x| (x.name.as_str(), x.version.as_str()))
                    == Some((name.as_str(), version.as_str()))
            }) {
                Some(i) => i,
                None => {
                    scopes.push(ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: name.clone(),
                            version: version.clone(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                    scopes.len() - 1
                }
            };
            scopes[i].spans.push(span);
        }
        out.push(ResourceSpans {
            resource: Some(resource(process)),
            scope_spans: scopes,
            ..Default::default()
        });
    }
    out
}

fn span_kind(s: &str) -> span::SpanKind {
    match s {
        "client" => span::SpanKind::Client,
        "server" => span::SpanKind::Server,
        "producer" => span::SpanKind::Producer,
        "consumer" => span::SpanKind::Consumer,
        "internal" => span::SpanKind::Internal,
        _ => span::SpanKind::Unspecified,
    }
}

fn span_to_otlp(s: JSpan) -> Span {
    let mut attrs = s.tags;
    let kind = take(&mut attrs, "span.kind")
        .map(|v| span_kind(&as_str(&v)))
        .unwrap_or(span::SpanKind::Unspecified);
    let status = status_from_tags(&mut attrs, kind);
    let trace_state = take(&mut attrs, "w3c.tracestate")
        .map(|v| as_str(&v))
        .unwrap_or_default();
    let events = s
        .logs
        .into_iter()
        .map(|(ts, mut fields)| {
            let name = take(&mut fields, "event")
                .map(|v| as_str(&v))
                .unwrap_or_default();
            span::Event {
                time_unix_nano: ts,
                name,
                attributes: fields,
                dropped_attributes_count: 0,
            }
        })
        .collect();
    let links = s
        .references
        .iter()
        .filter(|r| r.span_id != s.parent_span_id || r.follows_from)
        .map(|r| span::Link {
            trace_id: trace_id(r.trace_high, r.trace_low),
            span_id: span_id(r.span_id),
            attributes: vec![str_kv(
                "opentracing.ref_type",
                if r.follows_from {
                    "follows_from"
                } else {
                    "child_of"
                },
            )],
            ..Default::default()
        })
        .collect();
    Span {
        trace_id: trace_id(s.trace_high, s.trace_low),
        span_id: span_id(s.span_id),
        trace_state,
        parent_span_id: if s.parent_span_id != 0 {
            span_id(s.parent_span_id)
        } else {
            Vec::new()
        },
        name: s.operation_name,
        kind: kind as i32,
        start_time_unix_nano: s.start_ns,
        end_time_unix_nano: s.start_ns.saturating_add(s.duration_ns),
        attributes: attrs,
        events,
        links,
        status,
        ..Default::default()
    }
}

/// otelcol's rules: `error: true` wins (message from `otel.status_description` or
/// `http.status_message`); else `otel.status_code` (removed either way); else an HTTP status code.
fn status_from_tags(attrs: &mut Vec<KeyValue>, kind: span::SpanKind) -> Option<Status> {
    let mut code = status::StatusCode::Unset;
    let mut message = String::new();
    let mut exists = false;
    if let Some(any_value::Value::BoolValue(true)) = get(attrs, "error") {
        code = status::StatusCode::Error;
        take(attrs, "error");
        exists = true;
        if let Some(d) = take(attrs, "otel.status_description") {
            message = as_str(&d);
        } else if let Some(m) = get(attrs, "http.status_message") {
            message = as_str(m);
        }
    }
    if let Some(c) = get(attrs, "otel.status_code").map(as_str) {
        if !exists {
            exists = true;
            match c.to_ascii_uppercase().as_str() {
                "OK" => code = status::StatusCode::Ok,
                "ERROR" => code = status::StatusCode::Error,
                _ => {}
            }
            if let Some(d) = take(attrs, "otel.status_description") {
                message = as_str(&d);
            }
        }
        take(attrs, "otel.status_code");
    } else if !exists {
        if let Some(v) = get(attrs, "http.status_code") {
            let n = match v {
                any_value::Value::IntValue(i) => Some(*i),
                any_value::Value::StringValue(s) => s.parse::<i64>().ok(),
                _ => None,
            };
            if let Some(n) = n {
                let server_4xx = (400..500).contains(&n) && kind == span::SpanKind::Server;
                let c = if (400..500).contains(&n) && kind == span::SpanKind::Client {
                    status::StatusCode::Error
                } else if server_4xx || (100..399).contains(&n) {
                    status::StatusCode::Unset
                } else {
                    status::StatusCode::Error
                };
                if c != status::StatusCode::Unset {
                    exists = true;
                    code = c;
                }
                if let Some(m) = get(attrs, "http.status_message") {
                    message = as_str(m);
                }
            }
        }
    }
    exists.then_some(Status {
        message,
        code: code as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, s: &str) -> th::Tag {
        th::Tag {
            key: key.into(),
            v_type: th::TagType::STRING,
            v_str: Some(s.into()),
            v_double: None,
            v_bool: None,
            v_long: None,
            v_binary: None,
        }
    }

    #[test]
    fn thrift_span_fields() {
        let mut err = tag("error", "");
        err.v_type = th::TagType::BOOL;
        err.v_bool = Some(true);
        let b = th::Batch {
            process: th::Process {
                service_name: "svc".into(),
                tags: Some(vec![tag("hostname", "h1")]),
            },
            spans: vec![th::Span {
                trace_id_low: 2,
                trace_id_high: 1,
                span_id: 3,
                parent_span_id: 4,
                operation_name: "op".into(),
                references: Some(vec![
                    th::SpanRef {
                        ref_type: th::SpanRefType::CHILD_OF,
                        trace_id_low: 2,
                        trace_id_high: 1,
                        span_id: 4,
                    },
                    th::SpanRef {
                        ref_type: th::SpanRefType::FOLLOWS_FROM,
                        trace_id_low: 9,
                        trace_id_high: 0,
                        span_id: 5,
                    },
                ]),
                flags: 1,
                start_time: 1_000,
                duration: 5,
                tags: Some(vec![
                    tag("span.kind", "server"),
                    err,
                    tag("otel.status_description", "boom"),
                    tag("w3c.tracestate", "a=b"),
                    tag("otel.scope.name", "lib"),
                    tag("otel.library.name", "old"),
                    tag("k", "v"),
                ]),
                logs: Some(vec![th::Log {
                    timestamp: 1_001,
                    fields: vec![tag("event", "ev"), tag("x", "y")],
                }]),
            }],
            seq_no: None,
            stats: None,
        };
        let rs = thrift_batch(b);
        assert_eq!(rs.len(), 1);
        let res = rs[0].resource.as_ref().unwrap();
        assert_eq!(
            res.attributes,
            vec![str_kv("service.name", "svc"), str_kv("host.name", "h1")]
        );
        let sc = &rs[0].scope_spans[0];
        assert_eq!(sc.scope.as_ref().unwrap().name, "lib");
        let s = &sc.spans[0];
        assert_eq!(s.trace_id, [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(s.parent_span_id, 4u64.to_be_bytes());
        assert_eq!(s.kind, span::SpanKind::Server as i32);
        assert_eq!(
            s.status,
            Some(Status {
                message: "boom".into(),
                code: status::StatusCode::Error as i32
            })
        );
        assert_eq!(s.trace_state, "a=b");
        // As otelcol: the scope comes from otel.scope.*; otel.library.* stays an attribute.
        assert_eq!(
            s.attributes,
            vec![str_kv("otel.library.name", "old"), str_kv("k", "v")]
        );
        assert_eq!(s.start_time_unix_nano, 1_000_000);
        assert_eq!(s.end_time_unix_nano, 1_005_000);
        assert_eq!(s.events[0].name, "ev");
        assert_eq!(s.events[0].time_unix_nano, 1_001_000);
        assert_eq!(s.events[0].attributes, vec![str_kv("x", "y")]);
        assert_eq!(s.links.len(), 1);
        assert_eq!(s.links[0].span_id, 5u64.to_be_bytes());
        assert_eq!(
            s.links[0].attributes,
            vec![str_kv("opentracing.ref_type", "follows_from")]
        );
    }

    #[test]
    fn http_status_code_fallback() {
        let mut attrs = vec![kv("http.status_code", any_value::Value::IntValue(404))];
        assert_eq!(status_from_tags(&mut attrs, span::SpanKind::Server), None);
        let st = status_from_tags(&mut attrs, span::SpanKind::Client).unwrap();
        assert_eq!(st.code, status::StatusCode::Error as i32);
        let mut attrs = vec![str_kv("otel.status_code", "OK")];
        assert_eq!(
            status_from_tags(&mut attrs, span::SpanKind::Server)
                .unwrap()
                .code,
            1
        );
        assert!(attrs.is_empty());
    }

    #[test]
    fn proto_ids_and_parent() {
        let b = pb::Batch {
            spans: vec![pb::Span {
                trace_id: vec![0; 17],
                span_id: vec![1],
                ..Default::default()
            }],
            process: None,
        };
        assert!(proto_batch(b).is_err());
    }
}
