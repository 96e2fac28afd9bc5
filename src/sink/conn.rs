//! Connection limits tonic does not have: a cap on open connections, overall
//! and per peer; a deadline for a connection's first accepted alert; a
//! deadline on writes the peer does not read; eviction of connections that
//! have had nothing accepted for a while when a cap is reached; and a bound
//! on the request bytes buffered per connection, per peer and in all.
//!
//! [`LimitedIncoming`] accepts from the listener and hands tonic a
//! [`LimitedIo`] per connection. At most `max_connections` are open, and at
//! most `max_connections_per_peer` from one address (IPv6: one /64). A
//! connection is *pending* until an alert sent on it is accepted
//! ([`mark_accepted`]; refused requests, health and reflection calls do not
//! count), and a pending connection must get one accepted within
//! `idle_timeout` — the deadline covers the TLS handshake, the HTTP/2
//! preface and the request — or it is closed (counted `idle_timeout`).
//! Connections that connect and send nothing, handshake slowly (slowloris)
//! or only send requests that are refused therefore never hold a place for
//! long.
//!
//! When a cap is reached, a new connection evicts the oldest connection that
//! is pending — or else the oldest that has had nothing accepted for
//! `idle_timeout` — among that peer's connections (per-peer cap) or all
//! (overall cap): it is closed at once, counted `too_many_connections`. A
//! client that sends alerts therefore keeps its place, and a flood of
//! connections, however large and whatever it sends, cannot lock it out.
//! When every place is held by a connection with a recent accepted alert,
//! the new connection is closed at once (counted `too_many_connections`, or
//! `too_many_from_peer`) rather than left waiting in the kernel's backlog.
//!
//! Every check runs on reads *and* writes: HTTP/2 stops reading a connection
//! while an answer it owes (a PING's ack, a SETTINGS ack) cannot be written,
//! so a peer that never reads would otherwise never be closed. A write that
//! makes no progress for `idle_timeout` closes the connection (counted
//! `write_stall`), pending or not.
//!
//! Request bodies are metered ([`Metered`]): the bytes a request has
//! received and not yet finished with count against its connection, its
//! peer (a quarter of the total) and the total; over any of them the request
//! is `RESOURCE_EXHAUSTED` (counted `buffer_full`), so unfinished messages
//! cannot pin memory beyond a fixed bound. Pending connections share three
//! quarters of the total: requests held open from many addresses cannot
//! keep out a connection that has had an alert accepted.
//!
//! A closed connection gives its place back *before* its socket closes, so a
//! peer that sees the close can connect again at once.
//!
//! Because [`LimitedIo`] carries its own connect info ([`ConnInfo`]), tonic's
//! `Request::remote_addr()` and `peer_certs()` do not see it; use
//! [`peer_of`] / [`peer_addr`] instead.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

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
#[derive(Debug)]
struct Shared {
    /// When an alert sent on it was last accepted, in milliseconds since
    /// the limiter's epoch, plus one; 0: never.
    accepted_at: AtomicU64,
    /// Evicted by a newer connection: close at the next poll.
    evicted: AtomicBool,
    /// Wakes the connection's task to close it when evicted.
    waker: AtomicWaker,
    /// The client certificate's identity, described once per connection.
    identity: OnceLock<Option<String>>,
    /// Request bytes buffered now by this connection's requests.
    buffered: AtomicUsize,
    /// This connection's peer (address or /64).
    peer: Arc<PeerShare>,
    limiter: Arc<Limiter>,
    /// The last OIDC token presented on this connection and its verdict.
    oidc_memo: super::auth::oidc::ConnMemo,
}

/// What one peer holds: its connections and its buffered request bytes.
#[derive(Debug, Default)]
struct PeerShare {
    /// Changed only under the limiter's lock.
    conns: AtomicUsize,
    buffered: AtomicUsize,
}

impl ConnInfo {
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.tcp.remote_addr()
    }

    /// Notes that an alert sent on this connection was accepted: its
    /// first-request deadline no longer applies, and it is not evictable
    /// for the next `idle_timeout`.
    pub fn mark_accepted(&self) {
        let now = self.shared.limiter.now_ms() + 1;
        // Load first: within one millisecond this is only a read.
        if self.shared.accepted_at.load(Ordering::Relaxed) != now {
            self.shared.accepted_at.store(now, Ordering::Relaxed);
        }
    }

    /// Whether an alert sent on this connection was ever accepted.
    pub fn has_accepted(&self) -> bool {
        self.shared.accepted_at.load(Ordering::Relaxed) != 0
    }
}

/// Marks the connection of a request as having had an alert accepted (see
/// the module docs).
pub fn mark_accepted(ext: &http::Extensions) {
    if let Some(info) = conn_info(ext) {
        info.mark_accepted();
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

/// The memo of the last OIDC token presented on a request's connection
/// (connections accepted by [`LimitedIncoming`] only).
pub fn oidc_memo(ext: &http::Extensions) -> Option<&super::auth::oidc::ConnMemo> {
    conn_info(ext).map(|i| &i.shared.oidc_memo)
}

fn conn_info(ext: &http::Extensions) -> Option<&ConnInfo> {
    ext.get::<ConnInfo>()
        .or_else(|| ext.get::<TlsConnectInfo<ConnInfo>>().map(|t| t.get_ref()))
}

/// The places for connections: overall, per peer, and the connections in
/// accept order (for eviction); and the request bytes buffered.
struct Limiter {
    max: usize,
    per_peer: usize,
    idle: Duration,
    epoch: Instant,
    open: AtomicUsize,
    state: Mutex<LimiterState>,
    hub: Arc<Hub>,
    buffered: AtomicUsize,
    max_buffered: usize,
    max_buffered_conn: usize,
    max_buffered_peer: usize,
    /// Of the total, what connections that never had an alert accepted
    /// may hold together (see [`Metered::charge`]).
    max_buffered_unproven: usize,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("max", &self.max)
            .field("per_peer", &self.per_peer)
            .field("open", &self.open)
            .field("buffered", &self.buffered)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct LimiterState {
    peers: HashMap<IpAddr, Arc<PeerShare>>,
    /// Open connections in accept order; entries of closed or evicted ones
    /// are dropped lazily.
    conns: VecDeque<Weak<Shared>>,
}

/// Why no place was found for a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoPlace {
    Overall,
    Peer,
}

impl Limiter {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn lock(&self) -> MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new connection from `ip`: a free one, or that of an
    /// evicted connection (see the module docs).
    fn admit(&self, ip: IpAddr) -> Result<Arc<PeerShare>, NoPlace> {
        let key = super::rate::peer_key(ip);
        let mut st = self.lock();
        let share = st.peers.entry(key).or_default().clone();
        let mine = share.conns.load(Ordering::Relaxed);
        let open = self.open.load(Ordering::Relaxed);
        // Evicted connections close at their next poll; until then they
        // still count. Never hold more than twice a cap.
        // (A per-peer cap as large as the overall one is no separate cap.)
        let result = if mine >= self.per_peer && self.per_peer < self.max {
            if mine < self.per_peer.saturating_mul(2)
                && st.evict(self, |c| Arc::ptr_eq(&c.peer, &share))
            {
                Ok(())
            } else {
                Err(NoPlace::Peer)
            }
        } else if open >= self.max {
            if open < self.max.saturating_mul(2) && st.evict(self, |_| true) {
                Ok(())
            } else {
                Err(NoPlace::Overall)
            }
        } else {
            Ok(())
        };
        match result {
            Ok(()) => {
                share.conns.fetch_add(1, Ordering::Relaxed);
                self.open.fetch_add(1, Ordering::AcqRel);
                Ok(share)
            }
            Err(e) => {
                if share.conns.load(Ordering::Relaxed) == 0 {
                    st.peers.remove(&key);
                }
                Err(e)
            }
        }
    }

    fn register(&self, shared: &Arc<Shared>) {
        let mut st = self.lock();
        // Keep the queue in proportion to the open connections.
        if st.conns.len() >= self.max.saturating_mul(2).max(64) {
            st.conns.retain(is_live);
        }
        st.conns.push_back(Arc::downgrade(shared));
    }

    /// A connection closed: its places are free again.
    fn release(&self, ip: Option<IpAddr>, share: &Arc<PeerShare>) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        let mut st = self.lock();
        if share.conns.fetch_sub(1, Ordering::Relaxed) == 1
            && let Some(ip) = ip
        {
            let key = super::rate::peer_key(ip);
            if st.peers.get(&key).is_some_and(|s| Arc::ptr_eq(s, share)) {
                st.peers.remove(&key);
            }
        }
    }
}

/// Whether a queued connection is still open and not evicted.
fn is_live(w: &Weak<Shared>) -> bool {
    w.upgrade()
        .is_some_and(|s| !s.evicted.load(Ordering::Relaxed))
}

impl LimiterState {
    /// Evicts the oldest connection passing `which` that is pending, or
    /// else the oldest that has had nothing accepted for the idle timeout.
    fn evict(&mut self, limiter: &Limiter, which: impl Fn(&Shared) -> bool) -> bool {
        let now = limiter.now_ms();
        let idle = limiter.idle.as_millis() as u64;
        self.conns.retain(is_live);
        let evictable = |c: &Shared, pass: u8| {
            let at = c.accepted_at.load(Ordering::Relaxed);
            match pass {
                0 => at == 0,
                _ => at != 0 && now.saturating_sub(at - 1) >= idle,
            }
        };
        for pass in 0..2 {
            let found = self.conns.iter().position(|w| {
                w.upgrade()
                    .is_some_and(|c| which(&c) && evictable(&c, pass))
            });
            if let Some(c) = found
                .and_then(|i| self.conns.remove(i))
                .and_then(|w| w.upgrade())
            {
                c.evicted.store(true, Ordering::Relaxed);
                c.waker.wake();
                limiter.hub.refuse(Refusal::TooManyConnections);
                return true;
            }
        }
        false
    }
}

/// The accept loop's stream: see the module docs.
pub struct LimitedIncoming {
    /// Shared with its [`Closer`]: taken (the socket closed) as the
    /// shutdown starts.
    listener: Arc<Mutex<Option<TcpListener>>>,
    limiter: Arc<Limiter>,
    backoff: Option<Pin<Box<Sleep>>>,
}

/// Closes a [`LimitedIncoming`]'s listening socket. The server stops
/// polling it when its shutdown starts, but would keep it open until every
/// connection had closed — up to the shutdown's 5 s with a viewer that
/// does not read — so a sink restarted at once could not bind the port,
/// and a sender's connection waited in the backlog to be closed unanswered
/// (a user's review). Closed, the port is free and a new connection is
/// refused plainly.
pub struct Closer(Arc<Mutex<Option<TcpListener>>>);

impl Closer {
    pub fn close(&self) {
        drop(self.0.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}

impl LimitedIncoming {
    pub fn new(listener: TcpListener, hub: Arc<Hub>, limits: &super::SinkLimits) -> Self {
        let max = limits.max_connections.max(1);
        let max_buffered = limits.max_buffered_bytes.max(1);
        let per_conn = limits.max_buffered_per_connection();
        LimitedIncoming {
            listener: Arc::new(Mutex::new(Some(listener))),
            limiter: Arc::new(Limiter {
                max,
                per_peer: limits.max_connections_per_peer.clamp(1, max),
                idle: limits.idle_timeout,
                epoch: Instant::now(),
                open: AtomicUsize::new(0),
                state: Mutex::default(),
                hub,
                buffered: AtomicUsize::new(0),
                max_buffered,
                max_buffered_conn: per_conn,
                // One peer may fill a quarter of the total: it takes four
                // addresses to keep everyone else's requests out.
                max_buffered_peer: (max_buffered / 4).max(per_conn),
                // A quarter of it is kept for connections that have had
                // an alert accepted: requests held open from many
                // addresses (which never have one accepted) can no longer
                // keep a sender's established connection out. Three
                // quarters for the others keeps what it takes to fill
                // their part near the four addresses it took to fill all.
                max_buffered_unproven: (max_buffered / 4 * 3).max(per_conn).min(max_buffered),
            }),
            backoff: None,
        }
    }

    pub fn closer(&self) -> Closer {
        Closer(self.listener.clone())
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
        let listener = this.listener.clone();
        let listener = listener.lock().unwrap_or_else(|e| e.into_inner());
        let Some(listener) = listener.as_ref() else {
            return Poll::Ready(None); // closed: the server is stopping
        };
        for _ in 0..ACCEPT_BUDGET {
            match ready!(listener.poll_accept(cx)) {
                Ok((stream, peer)) => match this.limiter.admit(peer.ip()) {
                    Ok(share) => {
                        let _ = stream.set_nodelay(true);
                        let io = LimitedIo::new(stream, peer, &this.limiter, share);
                        return Poll::Ready(Some(Ok(io)));
                    }
                    Err(why) => {
                        let (refusal, whose) = match why {
                            NoPlace::Overall => (Refusal::TooManyConnections, "every place"),
                            NoPlace::Peer => (Refusal::TooManyFromPeer, "every place of its peer"),
                        };
                        this.limiter.hub.refuse(refusal);
                        tracing::debug!(
                            "connection from {peer} closed: {whose} is held by a connection with a recent accepted alert"
                        );
                        drop(stream);
                    }
                },
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

/// A connection's places in the limiter and in the open-connections gauge;
/// given back when dropped.
struct Slot {
    shared: Arc<Shared>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let limiter = &self.shared.limiter;
        limiter.release(self.ip, &self.shared.peer);
        limiter.hub.connection_closed();
    }
}

/// Why a connection is being closed by the sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closing {
    IdleTimeout,
    Evicted,
    WriteStall,
}

/// One accepted connection: see the module docs.
pub struct LimitedIo {
    // Field order is drop order: the slot goes before the socket closes, so
    // a peer that sees the close can connect again.
    slot: Slot,
    io: TcpStream,
    info: ConnInfo,
    /// Until an alert is accepted: the first-request deadline.
    deadline: Option<Pin<Box<Sleep>>>,
    /// While a write waits for the peer to read: the stall deadline.
    stall: Option<Pin<Box<Sleep>>>,
    closing: Option<Closing>,
}

impl LimitedIo {
    fn new(io: TcpStream, peer: SocketAddr, limiter: &Arc<Limiter>, share: Arc<PeerShare>) -> Self {
        limiter.hub.connection_opened();
        let shared = Arc::new(Shared {
            accepted_at: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            identity: OnceLock::new(),
            buffered: AtomicUsize::new(0),
            peer: share,
            limiter: limiter.clone(),
            oidc_memo: Default::default(),
        });
        limiter.register(&shared);
        let info = ConnInfo {
            tcp: TcpConnectInfo {
                local_addr: io.local_addr().ok(),
                remote_addr: Some(peer),
            },
            shared: shared.clone(),
        };
        LimitedIo {
            slot: Slot {
                shared,
                ip: Some(peer.ip()),
            },
            io,
            info,
            deadline: Some(Box::pin(tokio::time::sleep(limiter.idle))),
            stall: None,
            closing: None,
        }
    }

    fn closed_error(why: Closing) -> io::Error {
        match why {
            Closing::IdleTimeout => io::Error::new(
                io::ErrorKind::TimedOut,
                "no accepted request within the idle timeout",
            ),
            Closing::Evicted => io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed for a newer connection: the connection limit was reached and this one had nothing accepted lately",
            ),
            Closing::WriteStall => io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer read nothing of what it was sent within the idle timeout",
            ),
        }
    }

    fn close(&mut self, why: Closing) -> io::Error {
        tracing::debug!(
            "connection from {:?} closed: {}",
            self.info.remote_addr(),
            Self::closed_error(why)
        );
        self.deadline = None;
        self.stall = None;
        self.closing = Some(why);
        Self::closed_error(why)
    }

    /// Eviction and the first-request deadline; `Err` once either closed
    /// the connection. Called on reads and on writes that wait, so a peer
    /// that stops reading is closed as surely as one that stops writing.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Some(why) = self.closing {
            return Err(Self::closed_error(why));
        }
        let shared = &self.info.shared;
        shared.waker.register(cx.waker());
        if shared.evicted.load(Ordering::Relaxed) {
            return Err(self.close(Closing::Evicted));
        }
        let Some(deadline) = &mut self.deadline else {
            return Ok(());
        };
        if shared.accepted_at.load(Ordering::Relaxed) != 0 {
            self.deadline = None;
            return Ok(());
        }
        if deadline.as_mut().poll(cx).is_ready() {
            self.slot.shared.limiter.hub.refuse(Refusal::IdleTimeout);
            return Err(self.close(Closing::IdleTimeout));
        }
        Ok(())
    }

    /// A write could not proceed: the peer is not reading. Past the stall
    /// deadline the connection is closed.
    fn write_waits(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        self.check(cx)?;
        let idle = self.slot.shared.limiter.idle;
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if stall.as_mut().poll(cx).is_ready() {
            self.slot.shared.limiter.hub.refuse(Refusal::WriteStall);
            return Err(self.close(Closing::WriteStall));
        }
        Ok(())
    }

    /// After a write: bytes went out (the stall deadline is off), or none
    /// could (it runs).
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match r {
            Poll::Pending => {
                self.write_waits(cx)?;
                Poll::Pending
            }
            Poll::Ready(Ok(n)) if n > 0 => {
                self.stall = None;
                Poll::Ready(Ok(n))
            }
            other => other,
        }
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
        self.check(cx)?;
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
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(why) = self.closing {
            return Poll::Ready(Err(Self::closed_error(why)));
        }
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A flush says nothing about progress (TCP's is a no-op): only a
        // write that moved bytes ends a stall.
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Pending => {
                self.write_waits(cx)?;
                Poll::Pending
            }
            done => done,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A request body whose received bytes count against its connection, its
/// peer and the total until the request is done with them (the body is
/// dropped once the message is decoded): see the module docs.
pub struct Metered {
    inner: tonic::body::Body,
    shared: Option<Arc<Shared>>,
    held: usize,
    /// For `/AlertSink/Alert`, a unary method: where the gRPC framing is, to
    /// refuse a second message instead of dropping it unseen.
    unary: Option<Framing>,
}

/// The gRPC length-prefixed framing of a request body, followed across
/// DATA frames: only the 5-byte prefixes are looked at.
#[derive(Debug, Default)]
struct Framing {
    prefix: [u8; 5],
    have: usize,
    remaining: u64,
    messages: u32,
}

/// The status of a unary call that carried more than one message: INTERNAL,
/// as gRPC's implementations answer a cardinality violation.
/// How a request over the buffered-bytes bound is answered (counted
/// `buffer_full` where it happens, so the decode-error remapping leaves it).
pub const BUFFER_FULL: &str = "too many request bytes buffered";

/// What one open request is charged against the buffered-bytes bounds
/// before its body: about what h2's stream and the decoder's buffer take
/// (measured: 13 KB per stream held open with headers only).
pub const STREAM_BYTES: usize = 12 * 1024;

pub const MORE_THAN_ONE_MESSAGE: &str =
    "a unary call carries exactly one AlertRequest; this one had more";

impl Framing {
    /// Follows `data`; true once a second message begins.
    fn second_message(&mut self, data: &[u8]) -> bool {
        let mut i = 0;
        while i < data.len() {
            if self.remaining > 0 {
                let take = self.remaining.min((data.len() - i) as u64);
                self.remaining -= take;
                i += take as usize;
                continue;
            }
            self.prefix[self.have] = data[i];
            self.have += 1;
            i += 1;
            if self.have == 5 {
                self.messages += 1;
                if self.messages > 1 {
                    return true;
                }
                let len = [
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ];
                self.remaining = u64::from(u32::from_be_bytes(len));
                self.have = 0;
            }
        }
        false
    }
}

impl Metered {
    fn charge(&mut self, n: usize) -> Result<(), tonic::Status> {
        let Some(s) = &self.shared else {
            return Ok(());
        };
        let l = &s.limiter;
        self.held += n;
        let conn = s.buffered.fetch_add(n, Ordering::Relaxed) + n;
        let peer = s.peer.buffered.fetch_add(n, Ordering::Relaxed) + n;
        let total = l.buffered.fetch_add(n, Ordering::Relaxed) + n;
        let over = if conn > l.max_buffered_conn {
            Some(("this connection", l.max_buffered_conn))
        } else if peer > l.max_buffered_peer {
            Some(("this address", l.max_buffered_peer))
        } else if total > l.max_buffered {
            Some(("all connections", l.max_buffered))
        } else if total > l.max_buffered_unproven && s.accepted_at.load(Ordering::Relaxed) == 0 {
            Some((
                "connections that have had no alert accepted",
                l.max_buffered_unproven,
            ))
        } else {
            None
        };
        match over {
            None => Ok(()),
            Some((whose, limit)) => {
                l.hub.refuse(Refusal::BufferFull);
                Err(tonic::Status::resource_exhausted(format!(
                    "{BUFFER_FULL} for {whose} (limit {limit}): retry later"
                )))
            }
        }
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        if let Some(s) = &self.shared
            && self.held > 0
        {
            s.buffered.fetch_sub(self.held, Ordering::Relaxed);
            s.peer.buffered.fetch_sub(self.held, Ordering::Relaxed);
            s.limiter.buffered.fetch_sub(self.held, Ordering::Relaxed);
        }
    }
}

impl http_body::Body for Metered {
    type Data = tonic::codegen::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<tonic::codegen::Bytes>, tonic::Status>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(f)) = &frame
            && let Some(data) = f.data_ref()
        {
            if let Err(status) = self.charge(data.len()) {
                return Poll::Ready(Some(Err(status)));
            }
            if let Some(framing) = &mut self.unary
                && framing.second_message(data)
            {
                return Poll::Ready(Some(Err(tonic::Status::internal(MORE_THAN_ONE_MESSAGE))));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A tower layer over all services of the server: meters request bodies
/// ([`Metered`]) and, while credentials are required, refuses reflection
/// without the static bearer token (its answers are large next to the
/// request, and list what is served). With only per-call credentials that
/// need verifying (OIDC, access tokens, signatures) and no static token,
/// reflection is refused outright: clients use `proto/alertsink.proto`.
/// Health stays open: its answers are small and probes rarely carry
/// credentials.
#[derive(Clone, Debug, Default)]
pub struct ConnGuardLayer {
    token: Option<Arc<[u8]>>,
    auth_required: bool,
}

impl ConnGuardLayer {
    pub fn new(token: Option<&[u8]>, auth_required: bool) -> Self {
        ConnGuardLayer {
            token: token.map(Arc::from),
            auth_required: auth_required || token.is_some(),
        }
    }
}

impl<S> tower::Layer<S> for ConnGuardLayer {
    type Service = ConnGuard<S>;

    fn layer(&self, inner: S) -> ConnGuard<S> {
        ConnGuard {
            inner,
            token: self.token.clone(),
            auth_required: self.auth_required,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConnGuard<S> {
    inner: S,
    token: Option<Arc<[u8]>>,
    auth_required: bool,
}

impl<S> tower::Service<http::Request<tonic::body::Body>> for ConnGuard<S>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
        >,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures_util::future::Either<
        S::Future,
        futures_util::future::Ready<Result<S::Response, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let shared = conn_info(req.extensions()).map(|i| i.shared.clone());
        if self.auth_required
            && req.uri().path().starts_with("/grpc.reflection.")
            && !self
                .token
                .as_deref()
                .is_some_and(|t| super::auth::bearer_matches(req.headers(), t))
        {
            if let Some(s) = &shared {
                s.limiter.hub.refuse(Refusal::Unauthenticated);
            }
            return futures_util::future::Either::Right(futures_util::future::ready(Ok(
                tonic::Status::unauthenticated(
                    "reflection needs the static bearer token (--token-file) while credentials are required; use proto/alertsink.proto",
                )
                .into_http(),
            )));
        }
        let unary = (req.uri().path() == "/AlertSink/Alert").then(Framing::default);
        let (parts, body) = req.into_parts();
        let mut body = Metered {
            inner: body,
            shared,
            held: 0,
            unary,
        };
        // An open request costs the sink its stream and decode state before
        // any byte of its body arrives: counted from the start, so that
        // requests that never send one (headers only, held open) are
        // bounded like unfinished bodies are (a user's review: 3 GB from
        // such streams on health checks, under a 64 MiB budget).
        if let Err(status) = body.charge(STREAM_BYTES) {
            return futures_util::future::Either::Right(futures_util::future::ready(Ok(
                status.into_http()
            )));
        }
        let req = http::Request::from_parts(parts, tonic::body::Body::new(body));
        futures_util::future::Either::Left(self.inner.call(req))
    }
}
