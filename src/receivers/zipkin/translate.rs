//! Zipkin (v2 model) to OTLP, as otelcol's zipkin translator does it:
//! - spans are grouped by local service name into resources (`service.name`, or the key named by the
//!   `otlp.service.name.source` tag); resource-level tags (`telemetry.*`, `host.*`, `service.*`, …)
//!   move to the resource; `otel.library.*` tags pick the scope (`otel.scope.*` stay attributes);
//! - kind from the span's kind (`span.kind: internal` tag when it has none); `shared` spans keep theirs;
//! - status from `otel.status_code` (`STATUS_CODE_*` or `Ok`/`Error`; other values read as Unset) /
//!   `otel.status_description`, and an `error` tag sets Error (the tag is kept unless it is `true`);
//! - local endpoint → `net.host.ip`/`net.host.port`; remote → `peer.service`, `net.sock.peer.addr`,
//!   `net.sock.peer.port`; `w3c.tracestate` tag → trace state;
//! - annotations → events (`name|{json attributes}|dropped` as the OTel Zipkin exporter writes them);
//! - a missing timestamp becomes the Unix epoch with `otel.zipkin.absentField.startTime: true`;
//! - with `parse_string_tags`, tag values that parse as int, double or bool get that type.

use opentelemetry_proto::tonic::common::v1::{any_value, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};

use super::model::{Kind, ZSpan};
use crate::receivers::common::{kv, span_id, str_kv, trace_id};

const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
const SERVICE_NAME_SOURCE: &str = "otlp.service.name.source";

/// Tag prefixes that are resource attributes in OTel's semantic conventions.
const RESOURCE_PREFIXES: &[&str] = &[
    "service.",
    "telemetry.",
    "host.",
    "os.",
    "process.",
    "container.",
    "k8s.",
    "cloud.",
    "faas.",
    "deployment.",
    "device.",
    "webengine.",
    "aws.ecs.",
    "aws.eks.",
    "aws.log.",
    "gcp.",
    "heroku.",
];

fn is_resource_key(k: &str) -> bool {
    RESOURCE_PREFIXES.iter().any(|p| k.starts_with(p))
}

pub fn to_otlp(spans: Vec<ZSpan>, parse_string_tags: bool) -> Vec<ResourceSpans> {
    let mut out: Vec<(String, ResourceSpans)> = Vec::new();
    for mut z in spans {
        let service = z
            .local
            .as_ref()
            .map(|e| e.service_name.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| NO_SERVICE_NAME.to_string());
        let resource = resource(&mut z, &service);
        let (scope_name, scope_version) = scope_of(&mut z);
        let span = span_to_otlp(z, parse_string_tags);
        let i = match out
            .iter()
            .position(|(s, rs)| *s == service && rs.resource.as_ref() == Some(&resource))
        {
            Some(i) => i,
            None => {
                out.push((
                    service.clone(),
                    ResourceSpans {
                        resource: Some(resource),
                        ..Default::default()
                    },
                ));
                out.len() - 1
            }
        };
        let rs = &mut out[i].1;
        let j = match rs.scope_spans.iter().position(|sc| {
            sc.scope
                .as_ref()
                .map(|x| (x.name.as_str(), x.version.as_str()))
                == Some((scope_name.as_str(), scope_version.as_str()))
        }) {
            Some(j) => j,
            None => {
                rs.scope_spans.push(ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: scope_name,
                        version: scope_version,
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                rs.scope_spans.len() - 1
            }
        };
        rs.scope_spans[j].spans.push(span);
    }
    out.into_iter().map(|(_, rs)| rs).collect()
}

fn resource(z: &mut ZSpan, service: &str) -> Resource {
    let mut attrs = Vec::new();
    if service != NO_SERVICE_NAME {
        let key = z
            .tags
            .remove(SERVICE_NAME_SOURCE)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "service.name".into());
        attrs.push(str_kv(&key, service));
        let keys: Vec<String> = z
            .tags
            .keys()
            .filter(|k| is_resource_key(k))
            .cloned()
            .collect();
        for k in keys {
            if let Some(v) = z.tags.remove(&k) {
                match attrs.iter_mut().find(|a| a.key == k) {
                    Some(a) => *a = str_kv(&k, v),
                    None => attrs.push(str_kv(&k, v)),
                }
            }
        }
    }
    Resource {
        attributes: attrs,
        ..Default::default()
    }
}

/// The scope from the `otel.library.name` / `otel.library.version` tags, as otelcol's Zipkin
/// translator reads it. Both tags are always removed (otelcol never makes them span attributes);
/// `otel.scope.*` tags are not read and stay attributes, as in otelcol.
fn scope_of(z: &mut ZSpan) -> (String, String) {
    let name = z.tags.remove("otel.library.name").unwrap_or_default();
    let version = z.tags.remove("otel.library.version").unwrap_or_default();
    if name.is_empty() {
        (String::new(), String::new())
    } else {
        (name, version)
    }
}

fn typed(v: String, parse: bool) -> any_value::Value {
    if parse {
        if let Ok(i) = v.parse::<i64>() {
            return any_value::Value::IntValue(i);
        }
        if let Ok(d) = v.parse::<f64>() {
            return any_value::Value::DoubleValue(d);
        }
        match v.as_str() {
            "true" | "TRUE" | "True" | "t" | "T" => return any_value::Value::BoolValue(true),
            "false" | "FALSE" | "False" | "f" | "F" => return any_value::Value::BoolValue(false),
            _ => {}
        }
    }
    any_value::Value::StringValue(v)
}

fn span_to_otlp(mut z: ZSpan, parse_string_tags: bool) -> Span {
    let trace_state = z.tags.remove("w3c.tracestate").unwrap_or_default();
    let kind = match z.kind {
        Some(Kind::Client) => span::SpanKind::Client,
        Some(Kind::Server) => span::SpanKind::Server,
        Some(Kind::Producer) => span::SpanKind::Producer,
        Some(Kind::Consumer) => span::SpanKind::Consumer,
        None => match z.tags.remove("span.kind").as_deref() {
            Some("internal") => span::SpanKind::Internal,
            _ => span::SpanKind::Unspecified,
        },
    };
    let mut st: Option<Status> = None;
    if let Some(code) = z.tags.remove("otel.status_code") {
        // otelcol's table: the proto names and the names an older Zipkin exporter used. Anything
        // else, including the OK / ERROR that the OpenTelemetry SDKs' Zipkin exporters write,
        // reads as Unset (an `error` tag still makes the span Error below).
        let c = match code.as_str() {
            "STATUS_CODE_OK" | "Ok" => status::StatusCode::Ok,
            "STATUS_CODE_ERROR" | "Error" => status::StatusCode::Error,
            _ => status::StatusCode::Unset,
        };
        st = Some(Status {
            code: c as i32,
            message: z.tags.remove("otel.status_description").unwrap_or_default(),
        });
    }
    if let Some(v) = z.tags.get("error") {
        let s = st.get_or_insert_with(Status::default);
        s.code = status::StatusCode::Error as i32;
        if v == "true" {
            z.tags.remove("error");
        }
    }
    let mut attrs: Vec<KeyValue> = std::mem::take(&mut z.tags)
        .into_iter()
        .map(|(k, v)| kv(&k, typed(v, parse_string_tags)))
        .collect();
    if let Some(l) = &z.local {
        if let Some(ip) = l.ipv4 {
            attrs.push(str_kv("net.host.ip", ip.to_string()));
        }
        if let Some(ip) = l.ipv6 {
            put(&mut attrs, str_kv("net.host.ip", ip.to_string()));
        }
        if l.port > 0 {
            attrs.push(kv(
                "net.host.port",
                any_value::Value::IntValue(i64::from(l.port)),
            ));
        }
    }
    if let Some(r) = &z.remote {
        if !r.service_name.is_empty() {
            attrs.push(str_kv("peer.service", r.service_name.clone()));
        }
        if let Some(ip) = r.ipv4 {
            attrs.push(str_kv("net.sock.peer.addr", ip.to_string()));
        }
        if let Some(ip) = r.ipv6 {
            put(&mut attrs, str_kv("net.sock.peer.addr", ip.to_string()));
        }
        if r.port > 0 {
            attrs.push(kv(
                "net.sock.peer.port",
                any_value::Value::IntValue(i64::from(r.port)),
            ));
        }
    }
    let (start, end) = if z.timestamp == 0 {
        attrs.push(kv(
            "otel.zipkin.absentField.startTime",
            any_value::Value::BoolValue(true),
        ));
        (0, z.duration.saturating_mul(1000))
    } else {
        let s = z.timestamp.saturating_mul(1000);
        (s, s.saturating_add(z.duration.saturating_mul(1000)))
    };
    let events = z
        .annotations
        .into_iter()
        .map(|(ts, v)| event(ts, v))
        .collect();
    Span {
        trace_id: trace_id(z.trace_high, z.trace_low),
        span_id: span_id(z.id),
        trace_state,
        parent_span_id: match z.parent_id {
            Some(p) if p != z.id && p != 0 => span_id(p),
            _ => Vec::new(),
        },
        name: z.name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attrs,
        events,
        status: st,
        ..Default::default()
    }
}

fn put(attrs: &mut Vec<KeyValue>, kv: KeyValue) {
    match attrs.iter_mut().find(|a| a.key == kv.key) {
        Some(a) => *a = kv,
        None => attrs.push(kv),
    }
}

/// An annotation as otelcol reads it: split on `|`, the first part is the name; with three parts or
/// more, the middle ones (joined by `|`) are a JSON object of attributes and the last the dropped
/// attribute count (`name|{"attr":value,…}|dropped`, as the OTel Zipkin exporter writes events).
/// Where otelcol refuses the whole request for middle parts that are not a JSON object or a count
/// that is not a number, ferrotel keeps the event with its name and without attributes.
fn event(ts: u64, value: String) -> span::Event {
    let parts: Vec<&str> = value.split('|').collect();
    let mut e = span::Event {
        time_unix_nano: ts.saturating_mul(1000),
        name: parts.first().copied().unwrap_or_default().to_string(),
        ..Default::default()
    };
    let n = parts.len();
    if n < 3 {
        return e;
    }
    let json = parts[1..n - 1].join("|");
    let (Ok(serde_json::Value::Object(map)), Ok(dropped)) = (
        serde_json::from_str::<serde_json::Value>(&json),
        parts[n - 1].parse::<u32>(),
    ) else {
        return e;
    };
    e.attributes = map
        .into_iter()
        .filter_map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => any_value::Value::StringValue(s),
                serde_json::Value::Bool(b) => any_value::Value::BoolValue(b),
                // JSON numbers are floats to otelcol: a whole one is an int.
                serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => any_value::Value::IntValue(i),
                    (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
                        any_value::Value::IntValue(f as i64)
                    }
                    (None, f) => any_value::Value::DoubleValue(f.unwrap_or_default()),
                },
                // otelcol keeps only strings, numbers and booleans.
                _ => return None,
            };
            Some(kv(&k, v))
        })
        .collect();
    e.dropped_attributes_count = dropped;
    e
}

#[cfg(test)]
mod tests {
    use super::super::model;
    use super::*;

    #[test]
    fn v2_json_fields() {
        let body = br#"[{"traceId":"0102030405060708090a0b0c0d0e0f10","id":"0000000000000002","parentId":"0000000000000001",
          "kind":"SERVER","name":"get","timestamp":1000,"duration":5,
          "localEndpoint":{"serviceName":"svc","ipv4":"10.0.0.1","port":80},
          "remoteEndpoint":{"serviceName":"peer","ipv4":"10.0.0.2","port":9},
          "annotations":[{"timestamp":1001,"value":"ev|{\"a\":1,\"f\":2.0,\"s\":\"x|y\"}|3"},{"timestamp":1002,"value":"two|{\"a\":1}"},{"timestamp":1003,"value":"{\"ev\": {\"k\": \"v\"}}"}],
          "tags":{"otel.status_code":"ERROR","error":"boom","n":"7","telemetry.sdk.name":"x","otel.library.name":"lib"}}]"#;
        let rs = to_otlp(model::v2_json(body).unwrap(), true);
        let res = rs[0].resource.as_ref().unwrap();
        assert_eq!(
            res.attributes,
            vec![
                str_kv("service.name", "svc"),
                str_kv("telemetry.sdk.name", "x")
            ]
        );
        assert_eq!(rs[0].scope_spans[0].scope.as_ref().unwrap().name, "lib");
        let s = &rs[0].scope_spans[0].spans[0];
        assert_eq!(s.trace_id, (1..=16).collect::<Vec<u8>>());
        assert_eq!(s.parent_span_id, 1u64.to_be_bytes());
        assert_eq!(s.kind, span::SpanKind::Server as i32);
        assert_eq!(
            s.status.as_ref().unwrap().code,
            status::StatusCode::Error as i32
        );
        assert_eq!(s.start_time_unix_nano, 1_000_000);
        assert_eq!(s.end_time_unix_nano, 1_005_000);
        assert!(s.attributes.contains(&str_kv("error", "boom")));
        assert!(s
            .attributes
            .contains(&kv("n", any_value::Value::IntValue(7))));
        assert!(s.attributes.contains(&str_kv("peer.service", "peer")));
        assert!(s
            .attributes
            .contains(&kv("net.host.port", any_value::Value::IntValue(80))));
        // As otelcol: `name|{json}|dropped`; a whole JSON number is an int; the JSON may hold `|`.
        assert_eq!(s.events[0].name, "ev");
        let mut attrs = s.events[0].attributes.clone();
        attrs.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(
            attrs,
            vec![
                kv("a", any_value::Value::IntValue(1)),
                kv("f", any_value::Value::IntValue(2)),
                str_kv("s", "x|y")
            ]
        );
        assert_eq!(s.events[0].dropped_attributes_count, 3);
        // Two parts: the first is the name, and there are no attributes.
        assert_eq!(s.events[1].name, "two");
        assert!(s.events[1].attributes.is_empty());
        // No `|`: all name (what the Python Zipkin exporter writes).
        assert_eq!(s.events[2].name, r#"{"ev": {"k": "v"}}"#);
        // The SDKs' `ERROR` is not in otelcol's table; the `error` tag makes the span Error.
        assert_eq!(s.status.as_ref().unwrap().message, "");
    }

    #[test]
    fn v1_json_core_annotations() {
        let body = br#"[{"traceId":"0000000000000001","id":"0000000000000002","name":"call",
          "annotations":[{"timestamp":10,"value":"cs","endpoint":{"serviceName":"front"}},
                         {"timestamp":30,"value":"cr","endpoint":{"serviceName":"front"}},
                         {"timestamp":20,"value":"retry"}],
          "binaryAnnotations":[{"key":"sa","value":true,"endpoint":{"serviceName":"back","port":8080}},
                               {"key":"http.path","value":"/x"}]}]"#;
        let z = model::v1_json(body).unwrap();
        assert_eq!(z[0].kind, Some(Kind::Client));
        assert_eq!((z[0].timestamp, z[0].duration), (10, 20));
        assert_eq!(z[0].local.as_ref().unwrap().service_name, "front");
        assert_eq!(z[0].remote.as_ref().unwrap().service_name, "back");
        assert_eq!(z[0].annotations, vec![(20, "retry".to_string())]);
        assert_eq!(z[0].tags.get("http.path").map(String::as_str), Some("/x"));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(model::v2_json(b"[{").is_err());
        assert!(model::v2_json(br#"[{"traceId":"zz","id":"1"}]"#).is_err());
        assert!(model::v1_thrift(&[0x0c, 0x7f, 0xff, 0xff, 0xff]).is_err());
        assert!(model::v1_thrift(&[]).is_err());
        assert!(model::v2_proto(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }
}
