//! The one check of an exporter's `headers:` (both OTLP exporters). otelcol accepts any string as a
//! header name in config (its own test config has `"can you have a . here?"`) and fails the export
//! later; ferrotel warns at `validate` and start-up, naming the header, and an export that would carry
//! it fails as a permanent error (counted as `send_failed`, not retried: it cannot succeed).

use std::collections::BTreeMap;

/// Why `name: value` cannot be sent, or `None` when it can. gRPC metadata is stricter than HTTP:
/// names are lower-cased, a `-bin` suffix means binary (base64) metadata, and values must be visible
/// ASCII.
pub fn problem(name: &str, value: &str, grpc: bool) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
        return Some(format!("{name:?} is not a valid HTTP header name"));
    }
    if grpc {
        if lower.ends_with("-bin") {
            return Some(format!(
                "{name:?} names binary gRPC metadata, which headers cannot set"
            ));
        }
        if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Some(format!(
                "the value of {name:?} is not printable ASCII, as gRPC metadata must be"
            ));
        }
    } else if http::HeaderValue::from_str(value).is_err() {
        return Some(format!(
            "the value of {name:?} is not a valid HTTP header value"
        ));
    }
    None
}

/// One warning per header that cannot be sent, each naming its key path (`path` is the exporter's).
pub fn warnings(headers: &BTreeMap<String, String>, path: &str, grpc: bool) -> Vec<String> {
    headers
        .iter()
        .filter_map(|(k, v)| {
            problem(k, v, grpc).map(|p| {
                format!("{path}::headers::{k}: {p}; every export will fail (a permanent error)")
            })
        })
        .collect()
}

/// The first header that cannot be sent, as the message of the permanent error every send returns.
pub fn first_problem(headers: &BTreeMap<String, String>, grpc: bool) -> Option<String> {
    headers
        .iter()
        .find_map(|(k, v)| problem(k, v, grpc))
        .map(|p| format!("invalid header in the exporter's headers: {p}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otelcol_test_header_is_refused_by_both() {
        assert!(problem("can you have a . here?", "x", false).is_some());
        assert!(problem("can you have a . here?", "x", true).is_some());
        assert!(problem("X-Tenant", "a b", false).is_none());
        assert!(problem("X-Tenant", "a b", true).is_none());
        assert!(problem("x-ok", "bad\nvalue", false).is_some());
        assert!(problem("x-ok", "é", true).is_some());
        assert!(problem("trace-bin", "x", true).is_some());
        let h = BTreeMap::from([("a b".to_string(), "v".to_string())]);
        let w = warnings(&h, "exporters::otlp_http", false);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("exporters::otlp_http::headers::a b:"),
            "{w:?}"
        );
    }
}
