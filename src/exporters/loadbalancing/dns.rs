//! A minimal DNS client for the `dns` resolver's ferrotel-only `nameserver` key: A and AAAA queries
//! over UDP to one server, answers read with bounds checks only (what a peer sends never panics).
//! Without `nameserver` the resolver uses the system's resolver, as otelcol does.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::UdpSocket;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

/// The addresses `name` has at `server` (A then AAAA records, in answer order). An error when the
/// server answers with an error code or the name has no address, as the system resolver does.
pub async fn lookup(server: SocketAddr, name: &str) -> io::Result<Vec<IpAddr>> {
    let mut out = Vec::new();
    for qtype in [TYPE_A, TYPE_AAAA] {
        out.extend(query(server, name, qtype).await?);
    }
    if out.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{name}: no A or AAAA record at {server}"),
        ));
    }
    Ok(out)
}

async fn query(server: SocketAddr, name: &str, qtype: u16) -> io::Result<Vec<IpAddr>> {
    let id: u16 = rand::random();
    let msg = encode_query(id, name, qtype)?;
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(server).await?;
    sock.send(&msg).await?;
    let mut buf = vec![0u8; 4096];
    // Datagrams with another id (a late answer to an earlier query) are skipped; the caller's
    // timeout bounds the wait.
    loop {
        let n = sock.recv(&mut buf).await?;
        match parse_answer(buf.get(..n).unwrap_or_default(), id) {
            Answer::Other => continue,
            Answer::Error(e) => return Err(io::Error::other(format!("{name}: {e}"))),
            Answer::Addresses(a) => return Ok(a),
        }
    }
}

/// A standard query with recursion desired.
fn encode_query(id: u16, name: &str, qtype: u16) -> io::Result<Vec<u8>> {
    let mut m = Vec::with_capacity(name.len() + 18);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.len() > 253 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a DNS name is at most 253 bytes",
        ));
    }
    for label in name.split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid DNS label {label:?} in {name:?}"),
                )
            })?;
        m.push(len);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(m)
}

#[derive(Debug, PartialEq)]
enum Answer {
    /// Not the answer to our query.
    Other,
    Error(String),
    Addresses(Vec<IpAddr>),
}

fn u16_at(b: &[u8], pos: usize) -> Option<u16> {
    let s = b.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

/// The position after the (possibly compressed) name at `pos`.
fn skip_name(b: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *b.get(pos)?;
        match len & 0xC0 {
            0 if len == 0 => return pos.checked_add(1),
            0 => pos = pos.checked_add(1 + usize::from(len))?,
            // A pointer ends the name.
            0xC0 => {
                b.get(pos.checked_add(1)?)?;
                return pos.checked_add(2);
            }
            _ => return None,
        }
    }
}

fn parse_answer(b: &[u8], id: u16) -> Answer {
    match parse(b, id) {
        Some(a) => a,
        None => Answer::Error("malformed DNS answer".into()),
    }
}

fn parse(b: &[u8], id: u16) -> Option<Answer> {
    if u16_at(b, 0)? != id {
        return Some(Answer::Other);
    }
    let flags = u16_at(b, 2)?;
    if flags & 0x8000 == 0 {
        return Some(Answer::Other);
    }
    match flags & 0x000F {
        0 => {}
        3 => return Some(Answer::Error("no such host (NXDOMAIN)".into())),
        rcode => return Some(Answer::Error(format!("server answered rcode {rcode}"))),
    }
    let questions = u16_at(b, 4)?;
    let answers = u16_at(b, 6)?;
    let mut pos = 12usize;
    for _ in 0..questions {
        pos = skip_name(b, pos)?.checked_add(4)?;
    }
    let mut out = Vec::new();
    for _ in 0..answers {
        pos = skip_name(b, pos)?;
        let rtype = u16_at(b, pos)?;
        let class = u16_at(b, pos.checked_add(2)?)?;
        let rdlen = usize::from(u16_at(b, pos.checked_add(8)?)?);
        let start = pos.checked_add(10)?;
        let end = start.checked_add(rdlen)?;
        let rdata = b.get(start..end)?;
        if class == CLASS_IN {
            match (rtype, rdata.len()) {
                (TYPE_A, 4) => {
                    let a: [u8; 4] = rdata.try_into().ok()?;
                    out.push(IpAddr::from(a));
                }
                (TYPE_AAAA, 16) => {
                    let a: [u8; 16] = rdata.try_into().ok()?;
                    out.push(IpAddr::from(a));
                }
                // CNAMEs and others: the server resolves the chain and answers the addresses too.
                _ => {}
            }
        }
        pos = end;
    }
    Some(Answer::Addresses(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// An answer as a server writes it: the question, then `ips` as A records with a name pointer.
    fn answer(id: u16, name: &str, ips: &[Ipv4Addr]) -> Vec<u8> {
        let q = encode_query(id, name, TYPE_A).unwrap();
        let mut m = q.clone();
        m[2] = 0x81;
        m[3] = 0x80;
        m[6..8].copy_from_slice(&(ips.len() as u16).to_be_bytes());
        for ip in ips {
            m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]);
            m.extend_from_slice(&ip.octets());
        }
        m
    }

    #[test]
    fn queries_are_well_formed_and_bad_names_refused() {
        let q = encode_query(0x1234, "gw.obs.svc.", TYPE_AAAA).unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..], b"\x02gw\x03obs\x03svc\x00\x00\x1c\x00\x01");
        assert!(encode_query(1, "a..b", TYPE_A).is_err());
        assert!(encode_query(1, &"x".repeat(64), TYPE_A).is_err());
    }

    #[test]
    fn answers_are_read_and_foreign_ones_skipped() {
        let ips = [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)];
        let a = answer(7, "gw.test", &ips);
        assert_eq!(
            parse_answer(&a, 7),
            Answer::Addresses(ips.iter().map(|i| IpAddr::V4(*i)).collect())
        );
        assert_eq!(parse_answer(&a, 8), Answer::Other);
        let mut nx = answer(7, "gw.test", &[]);
        nx[3] = 0x83;
        assert!(matches!(parse_answer(&nx, 7), Answer::Error(_)));
    }

    #[test]
    fn truncated_or_garbage_answers_never_panic() {
        let a = answer(
            7,
            "gw.test",
            &[Ipv4Addr::LOCALHOST, Ipv4Addr::new(10, 0, 0, 1)],
        );
        for cut in 0..a.len() {
            let _ = parse_answer(&a[..cut], 7);
        }
        let mut looped = a.clone();
        // A label length running past the end, and a reserved label type.
        looped[12] = 0xff;
        let _ = parse_answer(&looped, 7);
        looped[12] = 0x80;
        assert!(matches!(parse_answer(&looped, 7), Answer::Error(_)));
    }

    #[tokio::test]
    async fn lookup_asks_the_given_server() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                let qtype = u16_at(&buf[..n], n - 4).unwrap();
                let ips: &[Ipv4Addr] = if qtype == TYPE_A {
                    &[Ipv4Addr::new(127, 0, 0, 5)]
                } else {
                    &[]
                };
                server
                    .send_to(&answer(id, "gw.test", ips), from)
                    .await
                    .unwrap();
            }
        });
        assert_eq!(
            lookup(addr, "gw.test").await.unwrap(),
            vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5))]
        );
    }
}
