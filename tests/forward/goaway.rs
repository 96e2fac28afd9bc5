//! An upstream that ends each connection after a number of calls, as nginx
//! does (`keepalive_requests`, 1,000 by default) in front of a real alert
//! plugin: a graceful GOAWAY, after which the calls in flight above its last
//! stream are refused and the calls the client had queued on that
//! connection are never sent. None of them reached the upstream, so the tee
//! retries them without spending their retry budget: every alert is
//! delivered, none fails. (On the code before this test, a scan through
//! nginx lost dozens of alerts per 18,000 as `failed`.)

use super::support::*;

use std::sync::atomic::AtomicU64;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::rawh2::{PREFACE, frame};

/// An AlertSink that answers OK to every call and, like nginx at
/// `keepalive_requests`, ends each connection after `per_connection`
/// calls: a GOAWAY naming that call's stream as the last it takes, streams
/// opened after it ignored, the calls it took answered, then the socket
/// closed. Raw HTTP/2 (tests/common/rawh2.rs): the `h2` crate's server
/// sends a first GOAWAY for every stream and takes the streams opened
/// before the client hears of it, so it never refuses any.
struct GoAwayUpstream {
    addr: SocketAddr,
    answered: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
}

impl GoAwayUpstream {
    async fn start(per_connection: u32) -> GoAwayUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answered = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let (a, c) = (answered.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(sock, per_connection, a.clone()));
            }
        });
        GoAwayUpstream {
            addr,
            answered,
            connections,
        }
    }
}

/// One literal header field, not indexed, with a new name (RFC 7541 §6.2.2;
/// names and values here are under 127 bytes).
fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
}

/// An OK answer on `stream`: headers, an empty AlertResponse, trailers.
fn ok_answer(stream: u32) -> Vec<u8> {
    let mut head = vec![0x88]; // :status 200 (static table)
    literal(&mut head, "content-type", "application/grpc");
    let mut trailers = Vec::new();
    literal(&mut trailers, "grpc-status", "0");
    let mut out = frame(0x1, 0x4, stream, &head);
    out.extend(frame(0x0, 0x0, stream, &[0, 0, 0, 0, 0]));
    out.extend(frame(0x1, 0x4 | 0x1, stream, &trailers));
    out
}

async fn serve(mut sock: TcpStream, per_connection: u32, answered: Arc<AtomicU64>) {
    let mut preface = [0u8; 24];
    if sock.read_exact(&mut preface).await.is_err() || preface[..] != PREFACE[..] {
        return;
    }
    let _ = sock.write_all(&frame(0x4, 0, 0, &[])).await;
    let mut taken = 0;
    // The last stream taken once the GOAWAY went out, and the streams
    // taken but not answered yet.
    let mut last: Option<u32> = None;
    let mut open: HashSet<u32> = HashSet::new();
    loop {
        let mut head = [0u8; 9];
        if sock.read_exact(&mut head).await.is_err() {
            return;
        }
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        if sock.read_exact(&mut payload).await.is_err() {
            return;
        }
        let mut out = Vec::new();
        match kind {
            // SETTINGS and PING: acknowledged.
            0x4 if flags & 0x1 == 0 => out.extend(frame(0x4, 0x1, 0, &[])),
            0x6 if flags & 0x1 == 0 => out.extend(frame(0x6, 0x1, 0, &payload)),
            // HEADERS of a new call: taken unless the GOAWAY went out.
            0x1 if last.is_none() => {
                open.insert(stream);
                taken += 1;
                if taken == per_connection {
                    last = Some(stream);
                    let mut goaway = stream.to_be_bytes().to_vec();
                    goaway.extend_from_slice(&0u32.to_be_bytes()); // NO_ERROR
                    out.extend(frame(0x7, 0, 0, &goaway));
                }
            }
            // DATA: the connection's window given back; a taken call whose
            // message is complete is answered.
            0x0 => {
                if len > 0 {
                    out.extend(frame(0x8, 0, 0, &(len as u32).to_be_bytes()));
                }
                if flags & 0x1 != 0 && open.remove(&stream) {
                    out.extend(ok_answer(stream));
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
        if !out.is_empty() && sock.write_all(&out).await.is_err() {
            return;
        }
        if last.is_some() && open.is_empty() {
            // Every call it took is answered: closed, as nginx does —
            // with a lingering close: what the client still sends is read
            // until it closes too, since closing with unread bytes would
            // reset the connection and lose the answers on their way.
            let _ = sock.shutdown().await;
            let mut sink = [0u8; 4096];
            let linger = async { while matches!(sock.read(&mut sink).await, Ok(n) if n > 0) {} };
            let _ = tokio::time::timeout(Duration::from_secs(5), linger).await;
            return;
        }
    }
}

/// Polls the upstream's state until stopped: whether it was ever shown down.
fn watch_down(stats: Arc<ForwardStats>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if stats.snapshot()[0].state == UpstreamState::Down {
                return true;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        false
    })
}

/// The tee behind such a proxy delivers every alert, and never shows the
/// upstream down for it: a GOAWAY is not an outage. (On the code before
/// this test, each refused call counted as the upstream unreachable.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tee_through_connections_ended_by_goaway_delivers_every_alert() {
    const N: usize = 3000;
    let up = GoAwayUpstream::start(20).await;
    let a_hub = hub();
    let (_, mut a_rx) = a_hub.subscribe();
    let (fwd, stats, a) = forwarding_sink(&a_hub, fast(vec![format!("http://{}", up.addr)])).await;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_down(stats.clone(), stop.clone());

    send_keyed(&a.url(), 8, N / 8, "").await;
    wait_for("every alert delivered or failed", &stats, |s| {
        s[0].delivered + s[0].failed + s[0].dropped == N as u64
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let went_down = watcher.join().unwrap();
    assert_eq!(drain(&mut a_rx).len(), N);
    let snap = &stats.snapshot()[0];
    assert_eq!(
        (snap.delivered, snap.failed, snap.dropped),
        (N as u64, 0, 0),
        "last error: {:?}",
        snap.last_error
    );
    assert!(!went_down, "the upstream was shown down for a GOAWAY");
    assert!(snap.retries > 0, "calls were refused and sent again");
    assert!(
        up.connections.load(Ordering::Relaxed) >= (N / 20) as u64,
        "the upstream ended its connections every 20 calls: {} connections",
        up.connections.load(Ordering::Relaxed)
    );
    assert!(up.answered.load(Ordering::Relaxed) >= N as u64);

    a.stop().await;
    a_hub.close();
    let report = fwd.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.undelivered_total(), 0);
}

/// `sinkwatch load` (and `send`, `replay`, the demo, through the same
/// helper) sends such calls again instead of counting them as errors.
/// (On the code before this test: dozens of `Cancelled` errors per 3,000.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_through_connections_ended_by_goaway_gets_every_call_answered() {
    let up = GoAwayUpstream::start(20).await;
    let target = Target::plain(format!("http://{}", up.addr));
    let plan = sinkwatch::client::load::LoadPlan {
        total: 3000,
        concurrency: 32,
        connections: 4,
        rate: None,
        repos: 100,
    };
    let report = sinkwatch::client::load::run(&target, &plan).await.unwrap();
    assert_eq!(
        (report.ok, report.errors.values().sum::<u64>()),
        (3000, 0),
        "{:?}",
        report.errors
    );
    assert!(report.retried > 0, "calls were refused and sent again");
}
