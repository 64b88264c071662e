//! A minimal blocking HTTP/1.0 GET for plain-HTTP local endpoints (`ferrotel top` scraping the
//! metrics endpoint, `ferrotel healthcheck` in a container without curl).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The status code and body of a response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Splits `http://host:port/path` into (`host:port`, `/path`). The scheme may be left out; the port
/// defaults to 80.
pub fn split_url(url: &str) -> Result<(String, String), String> {
    if url.starts_with("https://") {
        return Err(format!("{url}: only plain http:// endpoints are supported"));
    }
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    let authority = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

/// GETs `url`, giving up after `timeout` for each of connecting, writing and reading.
pub fn get(url: &str, timeout: Duration) -> Result<Response, String> {
    let (authority, path) = split_url(url)?;
    let addrs: Vec<_> = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .collect();
    let mut last_err = format!("{authority}: no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = format!("{a}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last_err)?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{authority}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("{authority}: {e}"))?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("malformed HTTP status line")?;
    Ok(Response {
        status,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8888/metrics").unwrap(),
            ("127.0.0.1:8888".into(), "/metrics".into())
        );
        assert_eq!(
            split_url("localhost:13133").unwrap(),
            ("localhost:13133".into(), "/".into())
        );
        assert_eq!(
            split_url("http://example/x").unwrap(),
            ("example:80".into(), "/x".into())
        );
        assert!(split_url("https://x/").is_err());
    }

    #[test]
    fn responses() {
        let r =
            parse_response(b"HTTP/1.0 503 Service Unavailable\r\nA: b\r\n\r\n{\"x\":1}").unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.body, "{\"x\":1}");
        assert!(parse_response(b"garbage").is_err());
    }
}
