//! Accepting connections for both protocols: the connection limit (`max_connections`), TLS, and the
//! deadlines that keep silent peers from holding slots: a first-bytes deadline covering the TLS
//! handshake and the protocol preface, an idle timeout, and the cut-off at the end of the shutdown
//! budget. A connection holds its slot until it closes.
//!
//! The deadlines live in [`Conn`] itself (its reads and writes fail once one passes), so they apply
//! the same way to hyper, tonic, plain TCP and TLS, whatever state the protocol code is in.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::tls::{ReloadingServerTls, ServerTls};

/// How long a new connection may take to finish its TLS handshake and send its protocol preface,
/// unless configured otherwise.
pub const DEFAULT_FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP/2 connection preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`) is 24 bytes; an HTTP/1 request
/// line with its first header is longer. Until this much has arrived the first-bytes deadline applies.
pub const PREFACE_BYTES: usize = 24;

/// What a listener enforces on each connection.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    /// Open connections at most; 0 = unlimited.
    pub max_connections: usize,
    /// From accept until the TLS handshake is done and [`PREFACE_BYTES`] have been read.
    pub first_bytes_timeout: Duration,
    /// Closed after this long with no byte read or written; `None` = never.
    pub idle_timeout: Option<Duration>,
}

pub struct Listener {
    tcp: Arc<TcpListener>,
    tls: Option<Arc<ReloadingServerTls>>,
    slots: Arc<Semaphore>,
    settings: ConnSettings,
    cut: Arc<watch::Sender<bool>>,
    who: String,
}

/// Closes every connection a listener accepted (their reads and writes fail from then on), once the
/// receiver's share of the shutdown budget is spent.
#[derive(Clone)]
pub struct CutOff(Arc<watch::Sender<bool>>);

impl CutOff {
    pub fn cut(&self) {
        self.0.send_replace(true);
    }
}

impl Listener {
    /// Binds (or takes over the running service's socket on the same address, see
    /// [`crate::pipeline::listeners`]) and, with `tls`, loads the certificates (errors name the file
    /// and the problem).
    pub async fn bind(
        endpoint: &str,
        tls: Option<&ServerTls>,
        alpn: &[&[u8]],
        settings: ConnSettings,
        who: String,
    ) -> Result<Listener, String> {
        // Certificates first: a bad file should fail start-up before the port is taken.
        let tls = match tls {
            Some(t) => Some(Arc::new(ReloadingServerTls::start(t, alpn, who.clone())?)),
            None => None,
        };
        let addr = super::resolve_bind(endpoint).await?;
        let tcp = crate::pipeline::listeners::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {endpoint}: {e}"))?;
        let slots = if settings.max_connections == 0 {
            Semaphore::MAX_PERMITS
        } else {
            settings.max_connections.min(Semaphore::MAX_PERMITS)
        };
        let (cut, _) = watch::channel(false);
        Ok(Listener {
            tcp,
            tls,
            slots: Arc::new(Semaphore::new(slots)),
            settings,
            cut: Arc::new(cut),
            who,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    pub fn cut_off(&self) -> CutOff {
        CutOff(self.cut.clone())
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
                        deadline: after(self.settings.first_bytes_timeout),
                        idle: self.settings.idle_timeout,
                        cut: self.cut.subscribe(),
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

/// `now + d`, or `None` when that is too far to represent (no deadline).
fn after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// An accepted TCP connection, before its TLS handshake (run it off the accept loop).
pub struct Pending {
    stream: TcpStream,
    pub peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    tls: Option<tokio_rustls::TlsAcceptor>,
    deadline: Option<Instant>,
    idle: Option<Duration>,
    cut: watch::Receiver<bool>,
    who: String,
}

impl Pending {
    /// Completes the TLS handshake, if any, before the first-bytes deadline. A failed handshake (no
    /// client certificate, an unknown CA, a plaintext client, too slow) is logged at debug level and
    /// the connection dropped.
    pub async fn establish(self) -> Option<Conn> {
        let info = self.stream.connect_info();
        let io = match self.tls {
            None => Io::Plain(self.stream),
            Some(acceptor) => {
                let handshake = acceptor.accept(self.stream);
                let done = match self.deadline {
                    Some(d) => tokio::time::timeout_at(d, handshake).await,
                    None => Ok(handshake.await),
                };
                match done {
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
        let mut cut = self.cut;
        let timer = self.deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
        Some(Conn {
            io,
            info,
            _permit: self.permit,
            cut: Box::pin(async move {
                let _ = cut.wait_for(|c| *c).await;
            }),
            timer,
            preface_left: PREFACE_BYTES,
            idle: self.idle,
            busy: Arc::new(AtomicUsize::new(0)),
        })
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// A connection, plain or TLS, holding its slot under `max_connections`, with its deadlines.
pub struct Conn {
    io: Io,
    info: TcpConnectInfo,
    _permit: OwnedSemaphorePermit,
    /// Ready once the listener's [`CutOff`] fired.
    cut: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
    /// The first-bytes deadline, then the idle deadline; `None` when neither applies.
    timer: Option<Pin<Box<Sleep>>>,
    /// Bytes still to arrive before the first-bytes deadline gives way to the idle timeout.
    preface_left: usize,
    idle: Option<Duration>,
    busy: Arc<AtomicUsize>,
}

/// Marks a connection busy while held (a request being answered).
pub struct Busy(Arc<AtomicUsize>);

impl Busy {
    pub fn new(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::AcqRel);
        Busy(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Conn {
    /// Fails once the connection was cut off or, for reads, one of its deadlines passed (registering
    /// wake-ups for both, so a read waiting on a silent peer is woken to fail). Writes only stop at the
    /// cut-off: an answer to a request that took long is still delivered.
    fn check(&mut self, cx: &mut Context<'_>, reading: bool) -> io::Result<()> {
        if self.cut.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection closed: the receiver is shutting down",
            ));
        }
        if !reading {
            return Ok(());
        }
        let Some(t) = &mut self.timer else {
            return Ok(());
        };
        if t.as_mut().poll(cx).is_pending() {
            return Ok(());
        }
        if self.preface_left > 0 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection closed: no protocol preface before the first-bytes deadline",
            ));
        }
        // Idle only counts while no request is being answered on this connection.
        if self.busy.load(Ordering::Acquire) > 0 {
            if let Some(at) = self.idle.and_then(after) {
                t.as_mut().reset(at);
                let _ = t.as_mut().poll(cx);
            }
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "connection closed: idle timeout",
        ))
    }

    /// Requests being answered on this connection: while it is above zero the idle timeout waits.
    /// The server increments it for the life of each request it handles (see [`Busy`]).
    pub fn busy(&self) -> Arc<AtomicUsize> {
        self.busy.clone()
    }

    fn activity(&mut self, read: usize) {
        if self.preface_left > 0 {
            self.preface_left = self.preface_left.saturating_sub(read);
            if self.preface_left > 0 {
                return;
            }
        }
        match (self.idle.and_then(after), &mut self.timer) {
            (Some(at), Some(t)) => t.as_mut().reset(at),
            (Some(at), None) => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            (None, t) => *t = None,
        }
    }
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
        let this = self.get_mut();
        this.check(cx, true)?;
        let before = buf.filled().len();
        let r = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            this.activity(n);
        }
        r
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx, false)?;
        let r = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity(0);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx, false)?;
        let r = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        };
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity(0);
        }
        r
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
