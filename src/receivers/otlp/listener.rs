//! Accepting connections for both protocols: the connection limit (`max_connections`), TLS with a
//! handshake deadline, and certificate reload. A connection holds its slot until it closes.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::tls::{ReloadingServerTls, ServerTls};

pub struct Listener {
    tcp: TcpListener,
    tls: Option<Arc<ReloadingServerTls>>,
    slots: Arc<Semaphore>,
    handshake_timeout: Duration,
    who: String,
}

/// How long a client may take to finish the TLS handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Listener {
    /// Binds and, with `tls`, loads the certificates (errors name the file and the problem).
    pub async fn bind(
        endpoint: &str,
        tls: Option<&ServerTls>,
        alpn: &[&[u8]],
        max_connections: usize,
        handshake_timeout: Duration,
        who: String,
    ) -> Result<Listener, String> {
        // Certificates first: a bad file should fail start-up before the port is taken.
        let tls = match tls {
            Some(t) => Some(Arc::new(ReloadingServerTls::start(t, alpn, who.clone())?)),
            None => None,
        };
        let addr = super::resolve_bind(endpoint).await?;
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {endpoint}: {e}"))?;
        let slots = if max_connections == 0 {
            Semaphore::MAX_PERMITS
        } else {
            max_connections.min(Semaphore::MAX_PERMITS)
        };
        Ok(Listener {
            tcp,
            tls,
            slots: Arc::new(Semaphore::new(slots)),
            handshake_timeout,
            who,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Waits for a free slot, then for a connection. At the limit, new connections wait in the
    /// kernel's backlog until one closes (as Go's LimitListener does).
    pub async fn accept(&self) -> Pending {
        loop {
            let permit = match self.slots.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => std::future::pending().await,
            };
            match self.tcp.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    return Pending {
                        stream,
                        peer,
                        permit,
                        tls: self.tls.as_ref().map(|t| t.acceptor()),
                        handshake_timeout: self.handshake_timeout,
                        who: self.who.clone(),
                    };
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(server = %self.who, error = %e, "accept failed");
                    drop(permit);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// An accepted TCP connection, before its TLS handshake (run it off the accept loop).
pub struct Pending {
    stream: TcpStream,
    pub peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handshake_timeout: Duration,
    who: String,
}

impl Pending {
    /// Completes the TLS handshake, if any. A failed handshake (no client certificate, an unknown CA,
    /// a plaintext client) is logged at debug level and the connection dropped.
    pub async fn establish(self) -> Option<Conn> {
        let info = self.stream.connect_info();
        let io = match self.tls {
            None => Io::Plain(self.stream),
            Some(acceptor) => {
                match tokio::time::timeout(self.handshake_timeout, acceptor.accept(self.stream))
                    .await
                {
                    Ok(Ok(s)) => Io::Tls(Box::new(s)),
                    Ok(Err(e)) => {
                        tracing::debug!(server = %self.who, peer = %self.peer, error = %e, "TLS handshake failed");
                        return None;
                    }
                    Err(_) => {
                        tracing::debug!(server = %self.who, peer = %self.peer, "TLS handshake timed out");
                        return None;
                    }
                }
            }
        };
        Some(Conn {
            io,
            info,
            _permit: self.permit,
        })
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// A connection, plain or TLS, holding its slot under `max_connections`.
pub struct Conn {
    io: Io,
    info: TcpConnectInfo,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
