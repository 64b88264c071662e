//! Reading a destination's answers, shared by every exporter: why a send failed (the error chain and
//! its transport-level cause) and when to try again (`Retry-After`).

use std::time::{Duration, SystemTime};

/// `Retry-After` as seconds or an HTTP date. A value otelcol cannot hold either (more seconds than a
/// Go duration, about 292 years) or cannot parse is ignored, as otelcol does: never a panic.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    const GO_MAX_SECS: u64 = (i64::MAX as u64) / 1_000_000_000;
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return (secs <= GO_MAX_SECS).then(|| Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

/// The transport-level error behind `err`, if its source chain has one: an I/O error (reset, refused,
/// broken pipe, end of file, TLS), an h2 error (GOAWAY, stream reset, connection error), a hyper error
/// (connection closed, incomplete message) or a tonic transport error. A status the destination sent
/// has no source.
pub fn transport_cause(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = err.source();
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(format!("I/O error ({:?}): {io}", io.kind()));
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            let what = if h2.is_go_away() {
                "GOAWAY"
            } else if h2.is_reset() {
                "stream reset"
            } else if h2.is_io() {
                "I/O"
            } else {
                "protocol"
            };
            return Some(format!("HTTP/2 {what}: {h2}"));
        }
        if e.is::<hyper::Error>() || e.is::<tonic::transport::Error>() {
            return Some(error_chain(e));
        }
        cur = e.source();
    }
    None
}

/// `err` and its causes, joined: what a log line needs to say why a send failed.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("18446744073709551615"), None);
        assert_eq!(parse_retry_after("99999999999999999999999"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert!(parse_retry_after("9223372036").is_some());
    }
}
