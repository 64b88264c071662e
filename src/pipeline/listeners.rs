//! Listening sockets, shared by address so that a reload can hand a bound port over from the running
//! service to the new one: both accept on the one socket while the old service drains, so clients are
//! never refused and a port is never released and re-bound (which another process could take).
//!
//! Every component that listens (receivers, the health check) binds through [`bind`]. The registry
//! holds weak references only: a socket closes when the last service using it stops.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use tokio::net::TcpListener;

fn registry() -> &'static Mutex<HashMap<SocketAddr, Weak<TcpListener>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<SocketAddr, Weak<TcpListener>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The socket bound to `addr`: the one a running service already listens on, or a new one. Port 0
/// (an ephemeral port) always binds a new socket.
pub async fn bind(addr: SocketAddr) -> io::Result<Arc<TcpListener>> {
    if addr.port() != 0 {
        if let Some(l) = lookup(addr) {
            return Ok(l);
        }
    }
    let l = Arc::new(TcpListener::bind(addr).await?);
    let bound = l.local_addr()?;
    let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    reg.retain(|_, w| w.strong_count() > 0);
    reg.insert(bound, Arc::downgrade(&l));
    Ok(l)
}

fn lookup(addr: SocketAddr) -> Option<Arc<TcpListener>> {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&addr)
        .and_then(Weak::upgrade)
}

/// Every socket open now. Holding the result keeps them bound (and their backlog accepting) while a
/// reload stops one service and starts the next.
pub fn hold_all() -> Vec<Arc<TcpListener>> {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .filter_map(Weak::upgrade)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_address_shares_one_socket_until_released() {
        let a = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = a.local_addr().unwrap();
        let b = bind(addr).await.unwrap();
        assert!(
            Arc::ptr_eq(&a, &b),
            "a bound port is handed over, not bound twice"
        );
        drop((a, b));
        // Released: binding again gets a fresh socket on the same port.
        let c = bind(addr).await.unwrap();
        assert_eq!(c.local_addr().unwrap(), addr);
    }
}
