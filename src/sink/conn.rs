//! Connection limits tonic does not have: a cap on open connections, a
//! deadline for a connection's first request, and eviction of connections
//! that have not made one when the cap is reached.
//!
//! [`LimitedIncoming`] accepts from the listener and hands tonic a
//! [`LimitedIo`] per connection. At most `max_connections` are open. A
//! connection is *pending* until its first request reaches a service
//! ([`MarkActiveLayer`] marks it *active*; when credentials are required,
//! only an authenticated request counts), and a pending connection must
//! make that request within `idle_timeout` — the deadline covers the TLS
//! handshake, the HTTP/2 preface and the first HEADERS frame — or it is
//! closed (counted `idle_timeout`). Connections that connect and send
//! nothing, send a partial preface or handshake slowly (slowloris) therefore
//! never hold a place for long.
//!
//! When the cap is reached, a new connection evicts the *oldest pending*
//! connection (closed at once, counted `too_many_connections`), so a flood
//! of idle connections, however large, cannot lock out a real client: a
//! client makes its first request right after connecting, and would only be
//! evicted if `max_connections` newer connections arrived before that. Active
//! connections are never evicted; when every place is held by one, the new
//! connection is closed at once (also counted `too_many_connections`) rather
//! than left waiting in the kernel's backlog, where the sender could not
//! tell a busy sink from a dead one. After its first request, HTTP/2
//! keepalive decides whether a connection lives.
//!
//! A closed connection gives its place back *before* its socket closes, so a
//! peer that sees the close can connect again at once.
//!
//! Because [`LimitedIo`] carries its own connect info ([`ConnInfo`]), tonic's
//! `Request::remote_addr()` and `peer_certs()` do not see it; use
//! [`peer_of`] / [`peer_addr`] instead.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tokio_stream::Stream;
use tonic::codegen::http;
use tonic::transport::server::{Connected, TcpConnectInfo, TlsConnectInfo};

use crate::hub::{Hub, Refusal};

/// Connections accepted in one poll before the accept loop yields to other
/// tasks (it may close them all, during a flood).
const ACCEPT_BUDGET: usize = 64;
/// Pause after an accept error that is not about one connection (e.g. out
/// of file descriptors), so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// What is known of a connection; in every request's extensions (inside
/// `TlsConnectInfo` under TLS).
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub tcp: TcpConnectInfo,
    shared: Arc<Shared>,
}

/// State of one connection shared by its IO, its requests and the limiter.
#[derive(Debug, Default)]
struct Shared {
    /// A request reached a service: no deadline, never evicted.
    active: AtomicBool,
    /// Evicted by a newer connection: close at the next poll.
    evicted: AtomicBool,
    /// Wakes the connection's task to close it when evicted.
    waker: AtomicWaker,
    /// The client certificate's identity, described once per connection.
    identity: OnceLock<Option<String>>,
}

impl ConnInfo {
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.tcp.remote_addr()
    }

    /// Notes that the connection made a request: its first-request deadline
    /// no longer applies and it is never evicted.
    pub fn mark_active(&self) {
        // Load first: after the first request this is only a read of a
        // shared, unchanging cache line.
        if !self.shared.active.load(Ordering::Relaxed) {
            self.shared.active.store(true, Ordering::Relaxed);
        }
    }

    pub fn is_active(&self) -> bool {
        self.shared.active.load(Ordering::Relaxed)
    }
}

/// The peer's address of a request.
pub fn peer_addr(ext: &http::Extensions) -> Option<SocketAddr> {
    if let Some(info) = conn_info(ext) {
        return info.remote_addr();
    }
    ext.get::<TcpConnectInfo>()
        .and_then(|i| i.remote_addr())
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()?
                .get_ref()
                .remote_addr()
        })
}

/// The peer of a request: its address and, under mTLS, the identity of its
/// verified client certificate ([`super::tls::identity_of_chain`], worked
/// out once per connection). Works for connections accepted by
/// [`LimitedIncoming`] and, as a fallback, for plain tonic ones.
pub fn peer_of(ext: &http::Extensions) -> (Option<SocketAddr>, Option<String>) {
    // Under TLS tonic inserts both the TLS info and the inner info: look
    // for the TLS one first.
    if let Some(tls) = ext.get::<TlsConnectInfo<ConnInfo>>() {
        let info = tls.get_ref();
        let identity = info
            .shared
            .identity
            .get_or_init(|| {
                tls.peer_certs()
                    .and_then(|c| super::tls::identity_of_chain(&c))
            })
            .clone();
        return (info.remote_addr(), identity);
    }
    if let Some(info) = ext.get::<ConnInfo>() {
        return (info.remote_addr(), None);
    }
    if let Some(tls) = ext.get::<TlsConnectInfo<TcpConnectInfo>>() {
        let identity = tls
            .peer_certs()
            .and_then(|c| super::tls::identity_of_chain(&c));
        return (tls.get_ref().remote_addr(), identity);
    }
    if let Some(info) = ext.get::<TcpConnectInfo>() {
        return (info.remote_addr(), None);
    }
    (None, None)
}

fn conn_info(ext: &http::Extensions) -> Option<&ConnInfo> {
    ext.get::<ConnInfo>()
        .or_else(|| ext.get::<TlsConnectInfo<ConnInfo>>().map(|t| t.get_ref()))
}

/// The places for connections, and the pending ones in accept order.
#[derive(Debug)]
struct Limiter {
    max: usize,
    open: AtomicUsize,
    /// Connections in accept order that may still be pending; entries of
    /// closed or active connections are dropped lazily.
    pending: Mutex<VecDeque<Weak<Shared>>>,
}

/// Whether a connection is still open and has made no request (nor been
/// evicted already).
fn is_pending(s: &Shared) -> bool {
    !s.active.load(Ordering::Relaxed) && !s.evicted.load(Ordering::Relaxed)
}

impl Limiter {
    /// A place for a new connection: a free one, or that of the oldest
    /// pending connection, which is evicted. `None`: every place is held by
    /// an active connection.
    fn admit(&self, hub: &Hub) -> Option<()> {
        let mut open = self.open.load(Ordering::Relaxed);
        while open < self.max {
            match self.open.compare_exchange_weak(
                open,
                open + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(()),
                Err(now) => open = now,
            }
        }
        // Evicted connections close at their next poll; until then they
        // still count. Never hold more than twice the limit.
        if open >= self.max.saturating_mul(2) {
            return None;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(weak) = pending.pop_front() {
            let Some(conn) = weak.upgrade() else { continue };
            if !is_pending(&conn) {
                continue;
            }
            conn.evicted.store(true, Ordering::Relaxed);
            conn.waker.wake();
            hub.refuse(Refusal::TooManyConnections);
            self.open.fetch_add(1, Ordering::AcqRel);
            return Some(());
        }
        None
    }

    fn register(&self, shared: &Arc<Shared>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the queue in proportion to the open connections.
        if pending.len() >= self.max.saturating_mul(2).max(64) {
            pending.retain(|w| w.upgrade().is_some_and(|s| is_pending(&s)));
        }
        pending.push_back(Arc::downgrade(shared));
    }
}

/// The accept loop's stream: see the module docs.
pub struct LimitedIncoming {
    listener: TcpListener,
    limiter: Arc<Limiter>,
    hub: Arc<Hub>,
    idle_timeout: Duration,
    backoff: Option<Pin<Box<Sleep>>>,
}

impl LimitedIncoming {
    pub fn new(
        listener: TcpListener,
        hub: Arc<Hub>,
        max_connections: usize,
        idle_timeout: Duration,
    ) -> Self {
        LimitedIncoming {
            listener,
            limiter: Arc::new(Limiter {
                max: max_connections.max(1),
                open: AtomicUsize::new(0),
                pending: Mutex::new(VecDeque::new()),
            }),
            hub,
            idle_timeout,
            backoff: None,
        }
    }
}

/// Accept errors that concern one connection only; the next accept is fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

impl Stream for LimitedIncoming {
    type Item = io::Result<LimitedIo>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(pause) = &mut this.backoff {
            ready!(pause.as_mut().poll(cx));
            this.backoff = None;
        }
        for _ in 0..ACCEPT_BUDGET {
            match ready!(this.listener.poll_accept(cx)) {
                Ok((stream, peer)) => {
                    if this.limiter.admit(&this.hub).is_some() {
                        let _ = stream.set_nodelay(true);
                        let io = LimitedIo::new(stream, peer, this, this.idle_timeout);
                        return Poll::Ready(Some(Ok(io)));
                    }
                    this.hub.refuse(Refusal::TooManyConnections);
                    tracing::debug!(
                        "connection from {peer} closed: every place is held by an active connection"
                    );
                    drop(stream);
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    tracing::warn!("accept failed: {e}; pausing accepts briefly");
                    let mut pause = Box::pin(tokio::time::sleep(ACCEPT_ERROR_BACKOFF));
                    if pause.as_mut().poll(cx).is_ready() {
                        continue;
                    }
                    this.backoff = Some(pause);
                    return Poll::Pending;
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A connection's place in the limiter and in the open-connections gauge;
/// given back when dropped.
struct Slot {
    limiter: Arc<Limiter>,
    hub: Arc<Hub>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limiter.open.fetch_sub(1, Ordering::AcqRel);
        self.hub.connection_closed();
    }
}

/// Why a connection is being closed by the sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closing {
    IdleTimeout,
    Evicted,
}

/// One accepted connection: see the module docs.
pub struct LimitedIo {
    // Field order is drop order: the slot goes before the socket closes, so
    // a peer that sees the close can connect again.
    slot: Slot,
    io: TcpStream,
    info: ConnInfo,
    /// While pending: the first-request deadline.
    deadline: Option<Pin<Box<Sleep>>>,
    closing: Option<Closing>,
}

impl LimitedIo {
    fn new(io: TcpStream, peer: SocketAddr, incoming: &LimitedIncoming, idle: Duration) -> Self {
        incoming.hub.connection_opened();
        let shared = Arc::new(Shared::default());
        incoming.limiter.register(&shared);
        let info = ConnInfo {
            tcp: TcpConnectInfo {
                local_addr: io.local_addr().ok(),
                remote_addr: Some(peer),
            },
            shared,
        };
        LimitedIo {
            slot: Slot {
                limiter: incoming.limiter.clone(),
                hub: incoming.hub.clone(),
            },
            io,
            info,
            deadline: Some(Box::pin(tokio::time::sleep(idle))),
            closing: None,
        }
    }

    fn closed_error(why: Closing) -> io::Error {
        match why {
            Closing::IdleTimeout => io::Error::new(
                io::ErrorKind::TimedOut,
                "no request within the idle timeout",
            ),
            Closing::Evicted => io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed for a newer connection: the connection limit was reached before this one made a request",
            ),
        }
    }

    /// While the connection is pending: checks eviction and the deadline;
    /// `Err` once either closed it.
    fn check_pending(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Some(why) = self.closing {
            return Err(Self::closed_error(why));
        }
        let Some(deadline) = &mut self.deadline else {
            return Ok(());
        };
        let shared = &self.info.shared;
        if shared.active.load(Ordering::Relaxed) {
            self.deadline = None;
            return Ok(());
        }
        shared.waker.register(cx.waker());
        let why = if shared.evicted.load(Ordering::Relaxed) {
            Closing::Evicted
        } else if deadline.as_mut().poll(cx).is_ready() {
            self.slot.hub.refuse(Refusal::IdleTimeout);
            Closing::IdleTimeout
        } else {
            return Ok(());
        };
        tracing::debug!(
            "connection from {:?} closed: {}",
            self.info.remote_addr(),
            Self::closed_error(why)
        );
        self.deadline = None;
        self.closing = Some(why);
        Err(Self::closed_error(why))
    }
}

impl Connected for LimitedIo {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for LimitedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // The server always has a read pending on a connection, so the
        // deadline's timer and an eviction wake it through here.
        self.check_pending(cx)?;
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(why) = self.closing {
            return Poll::Ready(Err(Self::closed_error(why)));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(why) = self.closing {
            return Poll::Ready(Err(Self::closed_error(why)));
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Marks the connection of a request active (see the module docs): called
/// by the AlertSink service once a request is authenticated.
pub fn mark_active(ext: &http::Extensions) {
    if let Some(info) = conn_info(ext) {
        info.mark_active();
    }
}

/// A tower layer over all services of the server that marks a connection
/// active when a request arrives on it (see the module docs). When
/// credentials are required, it marks nothing: the AlertSink service marks
/// the connection once a request is authenticated ([`mark_active`]), so a
/// client without credentials cannot keep a place by sending refused
/// requests.
#[derive(Clone, Debug, Default)]
pub struct MarkActiveLayer {
    auth_required: bool,
}

impl MarkActiveLayer {
    pub fn new(auth_required: bool) -> Self {
        MarkActiveLayer { auth_required }
    }
}

impl<S> tower::Layer<S> for MarkActiveLayer {
    type Service = MarkActive<S>;

    fn layer(&self, inner: S) -> MarkActive<S> {
        MarkActive {
            inner,
            auth_required: self.auth_required,
        }
    }
}

#[derive(Clone, Debug)]
pub struct MarkActive<S> {
    inner: S,
    auth_required: bool,
}

impl<S, B> tower::Service<http::Request<B>> for MarkActive<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> S::Future {
        if !self.auth_required {
            mark_active(req.extensions());
        }
        self.inner.call(req)
    }
}
