//! The routing this exporter did on decoded resources before it split encoded requests, kept as
//! the reference that the unit tests and `benches/processors.rs` compare the encoded split with.

use std::collections::BTreeMap;

#[cfg(test)]
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

use super::ring::Ring;
use super::{attr_str, attrs_key, RoutingKey};

/// Spans: a resource whose key is its own goes whole, others are split span by span into
/// fragments per backend (adjacent scope messages with an equal scope were merged).
pub(super) fn decoded_traces(
    resources: &[ResourceSpans],
    ring: &Ring,
    key: RoutingKey,
    attributes: &[String],
) -> BTreeMap<String, Vec<ResourceSpans>> {
    let mut by_backend: BTreeMap<String, Vec<ResourceSpans>> = BTreeMap::new();
    for rs in resources {
        let rattrs = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        let whole_key = match key {
            RoutingKey::Service => Some(
                attr_str(rattrs, "service.name")
                    .unwrap_or_default()
                    .into_bytes(),
            ),
            RoutingKey::Resource => Some(attrs_key(rattrs)),
            _ => None,
        };
        if let Some(k) = whole_key {
            let ep = ring.endpoint_for(&k).unwrap_or_default().to_string();
            by_backend.entry(ep).or_default().push(rs.clone());
            continue;
        }
        let mut frags: BTreeMap<String, ResourceSpans> = BTreeMap::new();
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let k: Vec<u8> = if key == RoutingKey::Attributes {
                    attributes
                        .iter()
                        .flat_map(|a| {
                            attr_str(&span.attributes, a)
                                .or_else(|| attr_str(rattrs, a))
                                .unwrap_or_default()
                                .into_bytes()
                        })
                        .collect()
                } else {
                    span.trace_id.clone()
                };
                let ep = ring.endpoint_for(&k).unwrap_or_default().to_string();
                let f = frags.entry(ep).or_insert_with(|| ResourceSpans {
                    resource: rs.resource.clone(),
                    scope_spans: vec![],
                    schema_url: rs.schema_url.clone(),
                });
                if f.scope_spans.last().is_none_or(|l| l.scope != ss.scope) {
                    f.scope_spans.push(ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: vec![],
                        schema_url: ss.schema_url.clone(),
                    });
                }
                if let Some(l) = f.scope_spans.last_mut() {
                    l.spans.push(span.clone());
                }
            }
        }
        for (ep, f) in frags {
            by_backend.entry(ep).or_default().push(f);
        }
    }
    by_backend
}

/// Log records: every key routes record by record.
#[cfg(test)]
pub(super) fn decoded_logs(
    resources: &[ResourceLogs],
    ring: &Ring,
    key: RoutingKey,
    attributes: &[String],
) -> BTreeMap<String, Vec<ResourceLogs>> {
    let mut by_backend: BTreeMap<String, Vec<ResourceLogs>> = BTreeMap::new();
    for rl in resources {
        let rattrs = rl
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        let mut frags: BTreeMap<String, ResourceLogs> = BTreeMap::new();
        for sl in &rl.scope_logs {
            for rec in &sl.log_records {
                let k: Vec<u8> = match key {
                    RoutingKey::Service => attr_str(rattrs, "service.name")
                        .unwrap_or_default()
                        .into_bytes(),
                    RoutingKey::Resource => attrs_key(rattrs),
                    RoutingKey::Attributes => attributes
                        .iter()
                        .flat_map(|a| {
                            attr_str(&rec.attributes, a)
                                .or_else(|| attr_str(rattrs, a))
                                .unwrap_or_default()
                                .into_bytes()
                        })
                        .collect(),
                    _ => rec.trace_id.clone(),
                };
                let ep = ring.endpoint_for(&k).unwrap_or_default().to_string();
                let f = frags.entry(ep).or_insert_with(|| ResourceLogs {
                    resource: rl.resource.clone(),
                    scope_logs: vec![],
                    schema_url: rl.schema_url.clone(),
                });
                if f.scope_logs.last().is_none_or(|l| l.scope != sl.scope) {
                    f.scope_logs.push(ScopeLogs {
                        scope: sl.scope.clone(),
                        log_records: vec![],
                        schema_url: sl.schema_url.clone(),
                    });
                }
                if let Some(l) = f.scope_logs.last_mut() {
                    l.log_records.push(rec.clone());
                }
            }
        }
        for (ep, f) in frags {
            by_backend.entry(ep).or_default().push(f);
        }
    }
    by_backend
}
