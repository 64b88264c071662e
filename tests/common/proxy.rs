//! A small TCP fault proxy for the chaos tests: it forwards connections to an upstream address, but
//! resets (RST, with `SO_LINGER` 0) the first `reset_first` connections once their first request
//! bytes arrived: what a backend restart or a load balancer does to a request in flight. It can also
//! be cut off ([`FaultProxy::cut`]): every open connection is reset and new ones are refused until
//! [`FaultProxy::restore`], as when a network partition separates a client from its server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    /// Connections reset so far.
    pub resets: Arc<AtomicUsize>,
    /// True while cut off.
    down: Arc<tokio::sync::watch::Sender<bool>>,
}

impl FaultProxy {
    /// Starts the proxy on an ephemeral port of 127.0.0.1, on the caller's runtime.
    pub async fn start(upstream: SocketAddr, reset_first: usize) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = FaultProxy {
            addr: listener.local_addr().unwrap(),
            accepted: Arc::new(AtomicUsize::new(0)),
            resets: Arc::new(AtomicUsize::new(0)),
            down: Arc::new(tokio::sync::watch::channel(false).0),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let n = p.accepted.fetch_add(1, Ordering::SeqCst);
                let resets = p.resets.clone();
                let down = p.down.subscribe();
                tokio::spawn(async move {
                    if *down.borrow() {
                        let _ = client.set_zero_linger();
                        drop(client);
                        resets.fetch_add(1, Ordering::SeqCst);
                    } else if n < reset_first {
                        reset_mid_request(client).await;
                        resets.fetch_add(1, Ordering::SeqCst);
                    } else {
                        forward(client, upstream, down).await;
                    }
                });
            }
        });
        proxy
    }

    pub fn resets(&self) -> usize {
        self.resets.load(Ordering::SeqCst)
    }

    /// Resets every open connection and refuses (resets) new ones until [`FaultProxy::restore`].
    pub fn cut(&self) {
        self.down.send_replace(true);
    }

    pub fn restore(&self) {
        self.down.send_replace(false);
    }
}

/// Waits for the first bytes of a request, then drops the connection with an RST.
async fn reset_mid_request(mut client: TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = client.read(&mut buf).await;
    let _ = client.set_zero_linger();
    drop(client);
}

async fn forward(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut down: tokio::sync::watch::Receiver<bool>,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = down.wait_for(|d| *d) => {
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
    }
}
