//! Network addresses as otelcol's configs write them (`host:port`, `:port`), shared by receivers,
//! extensions and the graph's port-clash check.

use std::net::SocketAddr;

/// `host:port` split, with `:port` meaning every interface.
pub fn split_host_port(ep: &str) -> Option<(&str, u16)> {
    let (host, port) = ep.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host, port.parse().ok()?))
}

/// Resolves `host:port` for binding; an empty host means every interface. Prefers IPv4, as Go does.
pub async fn resolve_bind(ep: &str) -> Result<SocketAddr, String> {
    let target = if ep.starts_with(':') {
        format!("0.0.0.0{ep}")
    } else {
        ep.to_string()
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&target)
        .await
        .map_err(|e| format!("cannot resolve {ep:?}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{ep:?} resolves to no address"))
}
