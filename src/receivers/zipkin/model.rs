//! Zipkin's wire formats decoded into one span model (v2's): v2 JSON and protobuf directly, v1 JSON
//! and thrift through the v1 → v2 conversion Zipkin itself defines (core annotations `cs`/`cr`/
//! `sr`/`ss`/`ms`/`mr` give the kind, timestamp, duration and local endpoint; `ca`/`sa` binary
//! annotations the remote endpoint; other binary annotations become tags).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Deserialize;

use crate::receivers::common::{thrift::zipkincore as th, zipkin_proto as pb};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Client,
    Server,
    Producer,
    Consumer,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub service_name: String,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub port: i32,
}

#[derive(Debug, Clone, Default)]
pub struct ZSpan {
    pub trace_high: u64,
    pub trace_low: u64,
    pub id: u64,
    pub parent_id: Option<u64>,
    pub kind: Option<Kind>,
    pub name: String,
    /// Microseconds since the epoch; 0 when absent.
    pub timestamp: u64,
    pub duration: u64,
    pub local: Option<Endpoint>,
    pub remote: Option<Endpoint>,
    pub annotations: Vec<(u64, String)>,
    pub tags: BTreeMap<String, String>,
    pub shared: bool,
}

fn hex_u64(s: &str, what: &str) -> Result<u64, String> {
    if s.is_empty() || s.len() > 16 {
        return Err(format!("{what} {s:?} must be 1 to 16 hex characters"));
    }
    u64::from_str_radix(s, 16).map_err(|_| format!("{what} {s:?} is not hex"))
}

fn hex_trace_id(s: &str) -> Result<(u64, u64), String> {
    match s.len() {
        1..=16 => Ok((0, hex_u64(s, "traceId")?)),
        17..=32 => {
            let split = s.len() - 16;
            Ok((
                hex_u64(&s[..split], "traceId")?,
                hex_u64(&s[split..], "traceId")?,
            ))
        }
        _ => Err(format!("traceId {s:?} must be 1 to 32 hex characters")),
    }
}

// ---- v2 JSON ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonEndpoint {
    #[serde(default)]
    service_name: Option<String>,
    #[serde(default)]
    ipv4: Option<String>,
    #[serde(default)]
    ipv6: Option<String>,
    #[serde(default)]
    port: Option<i32>,
}

impl JsonEndpoint {
    fn into_endpoint(self) -> Endpoint {
        Endpoint {
            service_name: self.service_name.unwrap_or_default(),
            ipv4: self.ipv4.and_then(|s| s.parse().ok()),
            ipv6: self.ipv6.and_then(|s| s.parse().ok()),
            port: self.port.unwrap_or(0),
        }
    }
}

#[derive(Deserialize)]
struct JsonAnnotation {
    #[serde(default)]
    timestamp: u64,
    #[serde(default)]
    value: String,
    #[serde(default)]
    endpoint: Option<JsonEndpoint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpanV2 {
    trace_id: String,
    id: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    timestamp: Option<u64>,
    #[serde(default)]
    duration: Option<u64>,
    #[serde(default)]
    local_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    remote_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    annotations: Vec<JsonAnnotation>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    shared: Option<bool>,
}

pub fn v2_json(body: &[u8]) -> Result<Vec<ZSpan>, String> {
    let spans: Vec<JsonSpanV2> =
        serde_json::from_slice(body).map_err(|e| format!("cannot decode Zipkin v2 JSON: {e}"))?;
    spans
        .into_iter()
        .map(|s| {
            let (trace_high, trace_low) = hex_trace_id(&s.trace_id)?;
            Ok(ZSpan {
                trace_high,
                trace_low,
                id: hex_u64(&s.id, "id")?,
                parent_id: match s.parent_id.as_deref() {
                    None | Some("") => None,
                    Some(p) => Some(hex_u64(p, "parentId")?),
                },
                kind: match s.kind.as_deref() {
                    Some("CLIENT") => Some(Kind::Client),
                    Some("SERVER") => Some(Kind::Server),
                    Some("PRODUCER") => Some(Kind::Producer),
                    Some("CONSUMER") => Some(Kind::Consumer),
                    _ => None,
                },
                name: s.name.unwrap_or_default(),
                timestamp: s.timestamp.unwrap_or(0),
                duration: s.duration.unwrap_or(0),
                local: s.local_endpoint.map(JsonEndpoint::into_endpoint),
                remote: s.remote_endpoint.map(JsonEndpoint::into_endpoint),
                annotations: s
                    .annotations
                    .into_iter()
                    .map(|a| (a.timestamp, a.value))
                    .collect(),
                tags: s.tags,
                shared: s.shared.unwrap_or(false),
            })
        })
        .collect()
}

// ---- v2 protobuf ----

fn be_u64(b: &[u8], what: &str) -> Result<u64, String> {
    if b.len() > 8 {
        return Err(format!("{what} of {} bytes (at most 8)", b.len()));
    }
    let mut full = [0u8; 8];
    full[8 - b.len()..].copy_from_slice(b);
    Ok(u64::from_be_bytes(full))
}

fn proto_endpoint(e: pb::Endpoint) -> Endpoint {
    Endpoint {
        service_name: e.service_name,
        ipv4: <[u8; 4]>::try_from(e.ipv4.as_slice())
            .ok()
            .map(Ipv4Addr::from),
        ipv6: <[u8; 16]>::try_from(e.ipv6.as_slice())
            .ok()
            .map(Ipv6Addr::from),
        port: e.port,
    }
}

pub fn v2_proto(body: &[u8]) -> Result<Vec<ZSpan>, String> {
    use prost::Message;
    let list =
        pb::ListOfSpans::decode(body).map_err(|e| format!("cannot decode Zipkin protobuf: {e}"))?;
    list.spans
        .into_iter()
        .map(|s| {
            if s.trace_id.len() > 16 {
                return Err(format!(
                    "trace_id of {} bytes (at most 16)",
                    s.trace_id.len()
                ));
            }
            let (trace_high, trace_low) = if s.trace_id.len() > 8 {
                let split = s.trace_id.len() - 8;
                (
                    be_u64(&s.trace_id[..split], "trace_id")?,
                    be_u64(&s.trace_id[split..], "trace_id")?,
                )
            } else {
                (0, be_u64(&s.trace_id, "trace_id")?)
            };
            Ok(ZSpan {
                trace_high,
                trace_low,
                id: be_u64(&s.id, "id")?,
                parent_id: if s.parent_id.is_empty() {
                    None
                } else {
                    Some(be_u64(&s.parent_id, "parent_id")?)
                },
                kind: match pb::span::Kind::try_from(s.kind) {
                    Ok(pb::span::Kind::Client) => Some(Kind::Client),
                    Ok(pb::span::Kind::Server) => Some(Kind::Server),
                    Ok(pb::span::Kind::Producer) => Some(Kind::Producer),
                    Ok(pb::span::Kind::Consumer) => Some(Kind::Consumer),
                    _ => None,
                },
                name: s.name,
                timestamp: s.timestamp,
                duration: s.duration,
                local: s.local_endpoint.map(proto_endpoint),
                remote: s.remote_endpoint.map(proto_endpoint),
                annotations: s
                    .annotations
                    .into_iter()
                    .map(|a| (a.timestamp, a.value))
                    .collect(),
                tags: s.tags.into_iter().collect(),
                shared: s.shared,
            })
        })
        .collect()
}

// ---- v1 (JSON and thrift) ----

/// A v1 span in either encoding, before conversion.
struct V1Span {
    trace_high: u64,
    trace_low: u64,
    id: u64,
    parent_id: Option<u64>,
    name: String,
    timestamp: Option<u64>,
    duration: Option<u64>,
    annotations: Vec<(u64, String, Option<Endpoint>)>,
    /// (key, value as a string, endpoint, is a bool `true`)
    binary: Vec<(String, String, Option<Endpoint>, bool)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonBinaryAnnotation {
    key: String,
    value: serde_json::Value,
    #[serde(default)]
    endpoint: Option<JsonEndpoint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpanV1 {
    trace_id: String,
    id: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    timestamp: Option<u64>,
    #[serde(default)]
    duration: Option<u64>,
    #[serde(default)]
    annotations: Vec<JsonAnnotation>,
    #[serde(default)]
    binary_annotations: Vec<JsonBinaryAnnotation>,
}

pub fn v1_json(body: &[u8]) -> Result<Vec<ZSpan>, String> {
    let spans: Vec<JsonSpanV1> =
        serde_json::from_slice(body).map_err(|e| format!("cannot decode Zipkin v1 JSON: {e}"))?;
    spans
        .into_iter()
        .map(|s| {
            let (trace_high, trace_low) = hex_trace_id(&s.trace_id)?;
            Ok(v1_to_v2(V1Span {
                trace_high,
                trace_low,
                id: hex_u64(&s.id, "id")?,
                parent_id: match s.parent_id.as_deref() {
                    None | Some("") => None,
                    Some(p) => Some(hex_u64(p, "parentId")?),
                },
                name: s.name.unwrap_or_default(),
                timestamp: s.timestamp,
                duration: s.duration,
                annotations: s
                    .annotations
                    .into_iter()
                    .map(|a| {
                        (
                            a.timestamp,
                            a.value,
                            a.endpoint.map(JsonEndpoint::into_endpoint),
                        )
                    })
                    .collect(),
                binary: s
                    .binary_annotations
                    .into_iter()
                    .map(|b| {
                        let is_true = b.value == serde_json::Value::Bool(true);
                        let v = match b.value {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (
                            b.key,
                            v,
                            b.endpoint.map(JsonEndpoint::into_endpoint),
                            is_true,
                        )
                    })
                    .collect(),
            }))
        })
        .collect()
}

fn thrift_endpoint(e: Option<th::Endpoint>) -> Option<Endpoint> {
    let e = e?;
    Some(Endpoint {
        service_name: e.service_name.unwrap_or_default(),
        ipv4: e.ipv4.filter(|v| *v != 0).map(|v| Ipv4Addr::from(v as u32)),
        ipv6: e
            .ipv6
            .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
            .map(Ipv6Addr::from),
        port: e.port.map(|p| i32::from(p as u16)).unwrap_or(0),
    })
}

fn thrift_binary_value(t: th::AnnotationType, v: &[u8]) -> (String, bool) {
    fn arr<const N: usize>(v: &[u8]) -> Option<[u8; N]> {
        <[u8; N]>::try_from(v).ok()
    }
    let s = match t {
        th::AnnotationType::BOOL => {
            let b = v.first().copied().unwrap_or(0) != 0;
            return (b.to_string(), b);
        }
        th::AnnotationType::I16 => arr::<2>(v).map(|a| i16::from_be_bytes(a).to_string()),
        th::AnnotationType::I32 => arr::<4>(v).map(|a| i32::from_be_bytes(a).to_string()),
        th::AnnotationType::I64 => arr::<8>(v).map(|a| i64::from_be_bytes(a).to_string()),
        th::AnnotationType::DOUBLE => arr::<8>(v).map(|a| f64::from_be_bytes(a).to_string()),
        th::AnnotationType::BYTES => {
            use base64::Engine;
            Some(base64::engine::general_purpose::STANDARD.encode(v))
        }
        _ => None,
    };
    (
        s.unwrap_or_else(|| String::from_utf8_lossy(v).into_owned()),
        false,
    )
}

/// A binary-protocol thrift `list<Span>`, as Zipkin v1 thrift senders POST it.
pub fn v1_thrift(body: &[u8]) -> Result<Vec<ZSpan>, String> {
    use thrift::protocol::{TInputProtocol, TSerializable};
    let mut p = thrift::protocol::TBinaryInputProtocol::with_config(
        crate::receivers::common::slice_transport(body),
        true,
        crate::receivers::common::thrift_limits(body.len()),
    );
    let list = p.read_list_begin().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for _ in 0..list.size {
        let s = th::Span::read_from_in_protocol(&mut p).map_err(|e| e.to_string())?;
        out.push(v1_to_v2(V1Span {
            trace_high: s.trace_id_high.unwrap_or(0) as u64,
            trace_low: s.trace_id.unwrap_or(0) as u64,
            id: s.id.unwrap_or(0) as u64,
            parent_id: s.parent_id.filter(|p| *p != 0).map(|p| p as u64),
            name: s.name.unwrap_or_default(),
            timestamp: s.timestamp.map(|t| t as u64),
            duration: s.duration.map(|d| d as u64),
            annotations: s
                .annotations
                .unwrap_or_default()
                .into_iter()
                .map(|a| {
                    (
                        a.timestamp.unwrap_or(0) as u64,
                        a.value.unwrap_or_default(),
                        thrift_endpoint(a.host),
                    )
                })
                .collect(),
            binary: s
                .binary_annotations
                .unwrap_or_default()
                .into_iter()
                .map(|b| {
                    let t = b.annotation_type.unwrap_or(th::AnnotationType::STRING);
                    let (v, is_true) = thrift_binary_value(t, &b.value.unwrap_or_default());
                    (
                        b.key.unwrap_or_default(),
                        v,
                        thrift_endpoint(b.host),
                        is_true,
                    )
                })
                .collect(),
        }));
    }
    p.read_list_end().map_err(|e| e.to_string())?;
    Ok(out)
}

fn v1_to_v2(s: V1Span) -> ZSpan {
    let mut z = ZSpan {
        trace_high: s.trace_high,
        trace_low: s.trace_low,
        id: s.id,
        parent_id: s.parent_id,
        name: s.name,
        timestamp: s.timestamp.unwrap_or(0),
        duration: s.duration.unwrap_or(0),
        ..Default::default()
    };
    let core = |v: &str| s.annotations.iter().find(|a| a.1 == v);
    let (start, end, kind) = if let Some(cs) = core("cs") {
        (Some(cs), core("cr"), Some(Kind::Client))
    } else if let Some(sr) = core("sr") {
        // A server half with no client half in the same span was started elsewhere: shared.
        z.shared = s.timestamp.is_none();
        (Some(sr), core("ss"), Some(Kind::Server))
    } else if let Some(ms) = core("ms") {
        (Some(ms), None, Some(Kind::Producer))
    } else if let Some(mr) = core("mr") {
        (Some(mr), None, Some(Kind::Consumer))
    } else {
        (None, None, None)
    };
    z.kind = kind;
    if let Some(a) = start {
        if z.timestamp == 0 {
            z.timestamp = a.0;
        }
        if z.duration == 0 {
            if let Some(e) = end {
                z.duration = e.0.saturating_sub(a.0);
            }
        }
        z.local = a.2.clone();
    }
    for (ts, value, ep) in &s.annotations {
        if z.local.is_none() {
            z.local = ep.clone();
        }
        if !["cs", "cr", "sr", "ss", "ms", "mr"].contains(&value.as_str()) {
            z.annotations.push((*ts, value.clone()));
        }
    }
    for (key, value, ep, is_true) in s.binary {
        match key.as_str() {
            "ca" | "sa" | "ma" if is_true => {
                if z.remote.is_none() {
                    z.remote = ep;
                }
            }
            _ => {
                if z.local.is_none() {
                    z.local = ep;
                }
                if key == "lc" && value.is_empty() {
                    continue;
                }
                z.tags.insert(key, value);
            }
        }
    }
    z
}
