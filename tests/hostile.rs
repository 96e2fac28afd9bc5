//! Hostile input over real loopback sockets. Every case is followed by a
//! successful normal call, and every alert accepted before, during and after
//! is there exactly once with contiguous seq numbers. Every wait is bounded,
//! so a bug fails instead of hanging; nothing sleeps to synchronise.

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestSink, alert};
use prost::Message as _;
use sinkwatch::hub::Refusal;
use sinkwatch::model::AlertRecord;
use sinkwatch::proto::alert_sink_client::AlertSinkClient;
use sinkwatch::sink::service::RawAlertRequest;
use sinkwatch::sink::{SinkConfig, SinkLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tonic::Code;
use tonic::codegen::{Body as _, Service as _, http};

const BOUND: Duration = Duration::from_secs(15);

/// A sink, a subscription from the start, and the count of calls it
/// answered OK: at the end, the subscription must hold exactly those, in
/// contiguous seq order.
struct Harness {
    sink: TestSink,
    rx: broadcast::Receiver<Arc<AlertRecord>>,
    ok: u64,
    n: u64,
}

impl Harness {
    async fn start(limits: SinkLimits) -> Harness {
        let sink = TestSink::start(SinkConfig {
            limits,
            ..SinkConfig::default()
        })
        .await;
        let (_, rx) = sink.hub.subscribe();
        let mut h = Harness {
            sink,
            rx,
            ok: 0,
            n: 0,
        };
        h.normal_call().await;
        h
    }

    /// A normal call on a fresh connection; it must succeed promptly.
    async fn normal_call(&mut self) {
        self.n += 1;
        let url = self.sink.url();
        let n = self.n;
        tokio::time::timeout(BOUND, async move {
            let mut c = AlertSinkClient::connect(url).await.expect("connect");
            c.alert(alert(
                "ossf",
                &format!("normal-{n}"),
                "Branch Protection",
                n % 2 == 0,
                "",
            ))
            .await
            .expect("a normal call succeeds");
        })
        .await
        .expect("a normal call is answered in time");
        self.ok += 1;
    }

    /// Checks that everything answered OK is stored and published exactly
    /// once, in contiguous seq order; then stops the sink.
    async fn finish(mut self, also_ok: u64) {
        let want = self.ok + also_ok;
        assert_eq!(
            self.sink.hub.read(|s| s.accepted()),
            want,
            "accepted = OK answers"
        );
        for seq in 1..=want {
            let r = self
                .rx
                .try_recv()
                .expect("every accepted alert was published");
            assert_eq!(r.seq, seq, "contiguous seq");
        }
        assert!(self.rx.try_recv().is_err(), "nothing more");
        tokio::time::timeout(BOUND, self.sink.stop())
            .await
            .expect("the sink stops");
    }
}

/// Reads until the server closes the connection; panics if it does not
/// within `within`. Returns how long that took.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server did not close the connection within {within:?}"));
    started.elapsed()
}

// ---- raw HTTP/2, just enough to misbehave

// The frames and HPACK pieces are shared with tests/attacks.rs.
use common::rawh2::{PREFACE, frame, grpc_frame, grpc_headers, settings};

fn encoded_alert(repo: &str) -> Vec<u8> {
    alert("ossf", repo, "SECURITY.md", false, "raw").encode_to_vec()
}

/// A whole unary request on `stream`: HEADERS then DATA with END_STREAM.
fn raw_request(stream: u32, repo: &str) -> Vec<u8> {
    let mut out = frame(0x1, 0x4, stream, &grpc_headers("/AlertSink/Alert", &[]));
    out.extend(frame(
        0x0,
        0x1,
        stream,
        &grpc_frame(false, &encoded_alert(repo)),
    ));
    out
}

/// Connects, sends the preface and `client_settings`, reads up to the
/// server's first SETTINGS frame and acknowledges it. After this the caller
/// may stop reading.
async fn raw_h2(sink: &TestSink, client_settings: &[(u16, u32)]) -> TcpStream {
    let mut s = TcpStream::connect(sink.addr).await.unwrap();
    let mut hello = PREFACE.to_vec();
    hello.extend(settings(client_settings));
    s.write_all(&hello).await.unwrap();
    tokio::time::timeout(BOUND, async {
        loop {
            let mut head = [0u8; 9];
            s.read_exact(&mut head).await.unwrap();
            let len = (head[0] as usize) << 16 | (head[1] as usize) << 8 | head[2] as usize;
            let mut payload = vec![0u8; len];
            s.read_exact(&mut payload).await.unwrap();
            if head[3] == 0x4 && head[4] & 0x1 == 0 {
                break;
            }
        }
    })
    .await
    .expect("server SETTINGS");
    s.write_all(&frame(0x4, 0x1, 0, &[])).await.unwrap();
    s
}

// ---- the cases

#[tokio::test]
async fn garbage_bytes_are_dropped_and_the_sink_serves_on() {
    let mut h = Harness::start(SinkLimits::default()).await;
    let mut garbage = vec![0u8; 256 * 1024];
    fastrand::fill(&mut garbage);
    let mut s = TcpStream::connect(h.sink.addr).await.unwrap();
    // The server may close while we are still writing; that is fine.
    let _ = s.write_all(&garbage).await;
    closed_within(&mut s, BOUND).await;

    // Garbage after a valid preface: a frame of an unknown shape on stream 0.
    let mut s = TcpStream::connect(h.sink.addr).await.unwrap();
    let mut bytes = PREFACE.to_vec();
    bytes.extend(frame(0x1, 0x4, 0, b"\xff\xff\xff")); // HEADERS on stream 0: protocol error
    let _ = s.write_all(&bytes).await;
    closed_within(&mut s, BOUND).await;
    h.normal_call().await;
    h.finish(0).await;
}

#[tokio::test]
async fn an_http1_request_is_refused_and_the_sink_serves_on() {
    let mut h = Harness::start(SinkLimits::default()).await;
    for req in [
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "POST /AlertSink/Alert HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/grpc\r\nContent-Length: 5\r\n\r\n\0\0\0\0\0",
        "PRI * HTTP/1.1\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(h.sink.addr).await.unwrap();
        let _ = s.write_all(req.as_bytes()).await;
        closed_within(&mut s, BOUND).await;
    }
    h.normal_call().await;
    h.finish(0).await;
}

#[tokio::test]
async fn a_truncated_preface_is_closed_at_the_idle_timeout() {
    let limits = SinkLimits {
        idle_timeout: Duration::from_millis(800),
        ..SinkLimits::default()
    };
    let mut h = Harness::start(limits).await;
    let mut s = TcpStream::connect(h.sink.addr).await.unwrap();
    s.write_all(&PREFACE[..10]).await.unwrap();
    // Others are served while it hangs.
    h.normal_call().await;
    closed_within(&mut s, BOUND).await;
    // Closed for the idle timeout (not by keepalive or at shutdown).
    assert_eq!(h.sink.hub.refused(Refusal::IdleTimeout), 1);
    // A whole preface and SETTINGS but never a request: closed too.
    let mut s = raw_h2(&h.sink, &[]).await;
    closed_within(&mut s, BOUND).await;
    assert_eq!(h.sink.hub.refused(Refusal::IdleTimeout), 2);
    h.normal_call().await;
    h.finish(0).await;
}

/// A unary call with a raw (bytes) request.
async fn raw_call(url: &str, req: RawAlertRequest) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec =
        tonic_prost::ProstCodec::<RawAlertRequest, sinkwatch::proto::AlertResponse>::default();
    grpc.unary(
        tonic::Request::new(req),
        http::uri::PathAndQuery::from_static("/AlertSink/Alert"),
        codec,
    )
    .await
    .map(|_| ())
}

#[tokio::test]
async fn invalid_utf8_in_each_field_is_named_and_nothing_is_stored() {
    let mut h = Harness::start(SinkLimits::default()).await;
    let good = RawAlertRequest {
        owner_name: b"ossf".to_vec(),
        repo_name: b"allstar".to_vec(),
        policy_name: b"SECURITY.md".to_vec(),
        details: b"fine".to_vec(),
        pass: false,
    };
    let bad: &[u8] = b"ok\xff\xfe\xc3";
    for field in ["owner_name", "repo_name", "policy_name", "details"] {
        let mut r = good.clone();
        match field {
            "owner_name" => r.owner_name = bad.to_vec(),
            "repo_name" => r.repo_name = bad.to_vec(),
            "policy_name" => r.policy_name = bad.to_vec(),
            _ => r.details = bad.to_vec(),
        }
        let st = tokio::time::timeout(BOUND, raw_call(&h.sink.url(), r))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            st.code(),
            Code::InvalidArgument,
            "{field}: {}",
            st.message()
        );
        assert_eq!(
            st.message(),
            format!("{field} is not valid UTF-8 (at byte 2)")
        );
    }
    assert_eq!(h.sink.hub.refused(Refusal::InvalidUtf8), 4);
    h.normal_call().await;
    h.finish(0).await;
}

/// One request through the channel as raw HTTP: returns the grpc-status and
/// message, from the headers (trailers-only) or the trailers.
async fn http_call(
    channel: &mut tonic::transport::Channel,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<tonic::codegen::Bytes>,
) -> (Code, String) {
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body: tonic::codegen::Bytes = body.into();
    let req = req
        .body(tonic::body::Body::new(http_body_util::Full::new(body)))
        .unwrap();
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .unwrap();
    let resp = tokio::time::timeout(BOUND, channel.call(req))
        .await
        .unwrap()
        .unwrap();
    let status_of = |h: &http::HeaderMap| {
        let code = h.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
        let msg = h
            .get("grpc-message")
            .map(|m| m.to_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        Some((Code::from(code), msg))
    };
    if let Some(s) = status_of(resp.headers()) {
        return s;
    }
    let mut body = resp.into_body();
    loop {
        let frame = tokio::time::timeout(
            BOUND,
            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)),
        )
        .await
        .unwrap();
        match frame {
            Some(Ok(f)) => {
                if let Some(t) = f.trailers_ref()
                    && let Some(s) = status_of(t)
                {
                    return s;
                }
            }
            other => panic!("no grpc-status: {:?}", other.map(|r| r.is_ok())),
        }
    }
}

/// A gRPC frame as a String body (our payloads are ASCII, so this is the
/// exact bytes).
fn ascii_frame(compressed: bool, payload: &str) -> String {
    assert!(payload.len() < 128 && payload.is_ascii());
    let bytes = grpc_frame(compressed, payload.as_bytes());
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn unknown_services_methods_and_unsupported_compression_get_clear_statuses() {
    let mut h = Harness::start(SinkLimits::default()).await;
    let mut channel = tonic::transport::Endpoint::from_shared(h.sink.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    // A valid message, as a control: encoded_alert is ASCII for these values.
    let msg = String::from_utf8(encoded_alert("via-raw-http")).unwrap();
    let (code, m) = http_call(
        &mut channel,
        "/AlertSink/Alert",
        &[],
        ascii_frame(false, &msg),
    )
    .await;
    assert_eq!(code, Code::Ok, "{m}");

    let (code, _) = http_call(&mut channel, "/Nope/Alert", &[], ascii_frame(false, &msg)).await;
    assert_eq!(code, Code::Unimplemented, "unknown service");
    let (code, m) = http_call(
        &mut channel,
        "/AlertSink/Nope",
        &[],
        ascii_frame(false, &msg),
    )
    .await;
    assert_eq!(code, Code::Unimplemented, "unknown method");
    assert!(m.contains("/AlertSink/Alert"), "{m}");
    let (code, _) = http_call(
        &mut channel,
        "/grpc.health.v1.Health/Nope",
        &[],
        ascii_frame(false, &msg),
    )
    .await;
    assert_eq!(
        code,
        Code::Unimplemented,
        "unknown method of a known service"
    );

    // Compressed with encodings this sink does not accept.
    for enc in ["br", "x-unheard-of"] {
        let (code, m) = http_call(
            &mut channel,
            "/AlertSink/Alert",
            &[("grpc-encoding", enc)],
            ascii_frame(true, "not really compressed"),
        )
        .await;
        assert_eq!(code, Code::Unimplemented, "{enc}: {m}");
    }
    // Accepted encodings, but the bytes are not what they claim.
    for enc in ["gzip", "deflate", "zstd"] {
        let (code, m) = http_call(
            &mut channel,
            "/AlertSink/Alert",
            &[("grpc-encoding", enc)],
            ascii_frame(true, "not really compressed"),
        )
        .await;
        assert_eq!(code, Code::InvalidArgument, "{enc}: {m}");
        assert!(m.contains("decompressed"), "{m}");
    }
    // The compressed flag without saying how: INTERNAL, as gRPC's spec
    // requires, with a message that says what is wrong.
    let (code, m) = http_call(
        &mut channel,
        "/AlertSink/Alert",
        &[],
        ascii_frame(true, &msg),
    )
    .await;
    assert_eq!(code, Code::Internal, "{m}");
    assert!(m.contains("no%20grpc-encoding"), "{m}");
    assert_eq!(h.sink.hub.refused(Refusal::UnsupportedEncoding), 3);
    assert_eq!(h.sink.hub.refused(Refusal::BadMessage), 3);
    // A frame that says it is longer than what follows.
    let mut short = ascii_frame(false, &msg);
    short.truncate(short.len() - 3);
    let (code, m) = http_call(&mut channel, "/AlertSink/Alert", &[], short).await;
    assert_ne!(code, Code::Ok, "{m}");
    // A content-type that is not gRPC.
    let (code, _) = http_call(
        &mut channel,
        "/AlertSink/Alert",
        &[("content-type", "text/plain")],
        msg.clone(),
    )
    .await;
    assert_ne!(code, Code::Ok);

    h.normal_call().await;
    h.finish(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_leave_the_sink_answering_then_are_closed() {
    // The default connection limit (1024), far fewer than the flood.
    let limits = SinkLimits {
        idle_timeout: Duration::from_secs(3),
        ..SinkLimits::default()
    };
    let max = limits.max_connections as u64;
    let mut h = Harness::start(limits).await;
    let flood = 3000u64;
    let mut idle = Vec::with_capacity(flood as usize);
    let started = Instant::now();
    for _ in 0..flood {
        idle.push(TcpStream::connect(h.sink.addr).await.unwrap());
    }
    let flood_took = started.elapsed();
    // A real client gets in at once: it evicts the oldest idle connection.
    h.normal_call().await;
    assert!(
        h.sink.hub.open_connections() <= 2 * max,
        "bounded: {}",
        h.sink.hub.open_connections()
    );
    for s in &mut idle {
        closed_within(s, BOUND).await;
    }
    // Each idle one was either evicted for a newer one, timed out, or (all
    // come from one address, so the per-peer cap binds first) closed at
    // once while that address's evicted ones were still closing. Places
    // are given back before the socket closes, so the gauge is exact now.
    let evicted = h.sink.hub.refused(Refusal::TooManyConnections);
    let timed_out = h.sink.hub.refused(Refusal::IdleTimeout);
    let closed_at_once = h.sink.hub.refused(Refusal::TooManyFromPeer);
    assert_eq!(
        evicted + timed_out + closed_at_once,
        flood,
        "evicted {evicted}, timed out {timed_out}, closed at once {closed_at_once}"
    );
    if flood_took < Duration::from_secs(2) {
        // No idle one could time out while the flood was building up.
        assert!(evicted + closed_at_once >= flood - max, "{evicted}");
    }
    assert!(
        h.sink.hub.open_connections() <= 1,
        "{}",
        h.sink.hub.open_connections()
    );
    h.normal_call().await;
    h.finish(0).await;
}

#[tokio::test]
async fn at_the_limit_the_oldest_idle_connection_makes_room() {
    let limits = SinkLimits {
        max_connections: 8,
        idle_timeout: Duration::from_secs(60),
        ..SinkLimits::default()
    };
    let mut h = Harness::start(limits).await;
    wait_until(|| h.sink.hub.open_connections() == 0).await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(h.sink.addr).await.unwrap());
    }
    wait_until(|| h.sink.hub.open_connections() == 8).await;
    h.normal_call().await;
    closed_within(&mut held[0], BOUND).await;
    assert_eq!(h.sink.hub.refused(Refusal::TooManyConnections), 1);
    assert_eq!(h.sink.hub.refused(Refusal::IdleTimeout), 0);
    // The next oldest goes for the next newcomer.
    h.normal_call().await;
    closed_within(&mut held[1], BOUND).await;
    assert_eq!(h.sink.hub.refused(Refusal::TooManyConnections), 2);
    drop(held);
    h.finish(0).await;
}

#[tokio::test]
async fn when_every_place_is_active_a_new_connection_is_closed_at_once() {
    let limits = SinkLimits {
        max_connections: 4,
        ..SinkLimits::default()
    };
    let mut h = Harness::start(limits).await;
    wait_until(|| h.sink.hub.open_connections() == 0).await;
    // Four clients that made a request and keep their connections.
    let mut clients = Vec::new();
    for i in 0..4 {
        let mut c = AlertSinkClient::connect(h.sink.url()).await.unwrap();
        c.alert(alert("ossf", &format!("held-{i}"), "p", true, ""))
            .await
            .unwrap();
        clients.push(c);
    }
    let mut extra = TcpStream::connect(h.sink.addr).await.unwrap();
    closed_within(&mut extra, BOUND).await;
    // Closed at once for the cap, not later at the idle timeout.
    assert_eq!(h.sink.hub.refused(Refusal::TooManyConnections), 1);
    assert_eq!(h.sink.hub.refused(Refusal::IdleTimeout), 0);
    // A new client fails fast rather than hanging (the watchdog fails the
    // test otherwise)...
    let r: Result<(), Box<dyn std::error::Error>> = tokio::time::timeout(BOUND, async {
        let mut c = AlertSinkClient::connect(h.sink.url()).await?;
        c.alert(alert("o", "r", "p", true, "")).await?;
        Ok(())
    })
    .await
    .expect("fails fast rather than hanging");
    assert!(r.is_err());
    // ...closed for the cap, not left to time out.
    assert!(h.sink.hub.refused(Refusal::TooManyConnections) >= 2);
    assert_eq!(h.sink.hub.refused(Refusal::IdleTimeout), 0);
    // ...while the connected ones are served.
    for (i, c) in clients.iter_mut().enumerate() {
        c.alert(alert("ossf", &format!("again-{i}"), "p", true, ""))
            .await
            .unwrap();
    }
    // One leaves; its place is free again.
    clients.pop();
    wait_until(|| h.sink.hub.open_connections() < 4).await;
    h.normal_call().await;
    drop(clients);
    h.finish(8).await;
}

/// Waits (bounded) for a condition the server reaches asynchronously.
async fn wait_until(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "condition not reached within {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_stop_others() {
    let limits = SinkLimits {
        max_concurrent_streams: 64,
        ..SinkLimits::default()
    };
    let mut h = Harness::start(limits).await;
    let mut rx = h.sink.hub.subscribe().1;
    // A small receive buffer, so the server's answers back up sooner.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut greedy = sock.connect(h.sink.addr).await.unwrap();
    let mut hello = PREFACE.to_vec();
    hello.extend(settings(&[]));
    hello.extend(frame(0x4, 0x1, 0, &[])); // ACK of the server's SETTINGS, unread
    greedy.write_all(&hello).await.unwrap();

    // Waves of requests within the stream limit, never reading an answer:
    // the next wave goes once the sink has accepted the last one. The
    // answers pile up until the server cannot write to us any more; then
    // nothing more is accepted from us (the wave waits) — stuck, as a
    // client that stopped reading is.
    let wave = 50u32;
    let mut sent = 0u32;
    let mut stuck = false;
    let base = h.sink.hub.read(|s| s.accepted());
    let started = Instant::now();
    while sent < 400_000 && started.elapsed() < Duration::from_secs(20) {
        let mut batch = Vec::new();
        for i in 0..wave {
            batch.extend(raw_request(
                1 + 2 * (sent + i),
                &format!("greedy-{}", sent + i),
            ));
        }
        match tokio::time::timeout(Duration::from_secs(2), greedy.write_all(&batch)).await {
            Ok(Ok(())) => sent += wave,
            Ok(Err(e)) => panic!("the server dropped a client that only stopped reading: {e}"),
            Err(_) => {
                stuck = true;
                break;
            }
        }
        let want = base + sent as u64;
        let hub = h.sink.hub.clone();
        let progressed = tokio::time::timeout(Duration::from_secs(2), async move {
            while hub.read(|s| s.accepted()) < want {
                tokio::task::yield_now().await;
            }
        })
        .await;
        if progressed.is_err() {
            stuck = true;
            break;
        }
    }
    eprintln!(
        "greedy client: sent {sent} requests in {:?}, stuck: {stuck}",
        started.elapsed()
    );
    assert!(stuck, "the greedy client never backed up; sent {sent}");
    // Others are served while it holds its stuck connection open.
    for _ in 0..20 {
        h.normal_call().await;
    }
    // Every greedy request the sink accepted is in the stream exactly once.
    let greedy_accepted = h.sink.hub.read(|s| s.accepted()) - h.ok;
    let mut seen = 0u64;
    while let Ok(r) = rx.try_recv() {
        if r.repo.starts_with("greedy-") {
            seen += 1;
        }
    }
    assert_eq!(seen, greedy_accepted);
    assert!(greedy_accepted >= u64::from(wave), "{greedy_accepted}");
    drop(greedy);
    h.normal_call().await;
    h.finish(greedy_accepted).await;
}

#[tokio::test]
async fn a_client_that_grants_no_flow_control_window_holds_only_its_streams() {
    let limits = SinkLimits {
        max_concurrent_streams: 16,
        ..SinkLimits::default()
    };
    let mut h = Harness::start(limits).await;
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: the server may not send any answer
    // body, so every stream stays open on the server.
    let mut stingy = raw_h2(&h.sink, &[(0x4, 0)]).await;
    let mut batch = Vec::new();
    for i in 0..200u32 {
        batch.extend(raw_request(1 + 2 * i, &format!("stingy-{i}")));
    }
    tokio::time::timeout(BOUND, stingy.write_all(&batch))
        .await
        .unwrap()
        .unwrap();
    // At least the first request's alert is accepted (the sink answers once
    // it has it); streams beyond the limit were refused, not queued.
    wait_until(|| h.sink.hub.read(|s| s.accepted()) >= 2).await;
    for _ in 0..5 {
        h.normal_call().await;
    }
    let stingy_accepted = h.sink.hub.read(|s| s.accepted()) - h.ok;
    assert!(stingy_accepted <= 200);
    drop(stingy);
    h.normal_call().await;
    h.finish(stingy_accepted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_the_limit_queue_or_are_refused_without_harm() {
    let limits = SinkLimits {
        max_concurrent_streams: 4,
        ..SinkLimits::default()
    };
    let mut h = Harness::start(limits).await;
    // A well-behaved client queues beyond the limit: all 300 succeed.
    let channel = tonic::transport::Endpoint::from_shared(h.sink.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    // One call first: until the server's SETTINGS arrive, a client may
    // not know the limit yet (streams sent before then may be refused).
    AlertSinkClient::new(channel.clone())
        .alert(alert("ossf", "warm-up", "p", true, ""))
        .await
        .unwrap();
    let calls = (0..300).map(|i| {
        let mut c = AlertSinkClient::new(channel.clone());
        async move {
            c.alert(alert("ossf", &format!("many-{i}"), "p", true, ""))
                .await
        }
    });
    let results = tokio::time::timeout(BOUND, futures_util::future::join_all(calls))
        .await
        .unwrap();
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );

    // A raw client opening 200 streams it never finishes: beyond 4 they are
    // refused (RST_STREAM); the connection and the sink carry on.
    let mut raw = raw_h2(&h.sink, &[]).await;
    let mut burst = Vec::new();
    for i in 0..200u32 {
        burst.extend(frame(
            0x1,
            0x4,
            1 + 2 * i,
            &grpc_headers("/AlertSink/Alert", &[]),
        ));
    }
    let _ = tokio::time::timeout(BOUND, raw.write_all(&burst)).await;
    // Rapid reset: open and cancel streams in a tight loop (CVE-2023-44487).
    let mut rapid = raw_h2(&h.sink, &[]).await;
    let mut burst = Vec::new();
    for i in 0..5000u32 {
        let id = 1 + 2 * i;
        burst.extend(frame(0x1, 0x4, id, &grpc_headers("/AlertSink/Alert", &[])));
        burst.extend(frame(0x3, 0, id, &8u32.to_be_bytes())); // RST_STREAM CANCEL
    }
    let _ = tokio::time::timeout(BOUND, rapid.write_all(&burst)).await;
    h.normal_call().await;
    drop(raw);
    drop(rapid);
    h.normal_call().await;
    h.finish(301).await;
}

#[tokio::test]
async fn oversize_headers_and_messages_are_refused_with_clear_statuses() {
    let limits = SinkLimits {
        max_message_bytes: 4096,
        ..SinkLimits::default()
    };
    let mut h = Harness::start(limits).await;
    let mut channel = tonic::transport::Endpoint::from_shared(h.sink.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    // A gRPC frame announcing 4 GiB - 1: refused by its header, before any
    // of it is buffered.
    let mut body = vec![0u8, 0x7f, 0x7f, 0x7f, 0x7f];
    body.extend_from_slice(b"tiny");
    let (code, m) = http_call(
        &mut channel,
        "/AlertSink/Alert",
        &[],
        String::from_utf8(body).unwrap(),
    )
    .await;
    assert_eq!(code, Code::ResourceExhausted, "{m}");
    assert!(m.contains("4096"), "{m}");
    assert_eq!(h.sink.hub.refused(Refusal::OverSize), 1, "its own reason");
    assert_eq!(h.sink.hub.refused(Refusal::BadMessage), 0);
    // A 64 KiB header value: over the header list limit; the request fails
    // (the stream is refused) but the sink lives.
    let big = "a".repeat(64 * 1024);
    let mut c = AlertSinkClient::new(channel.clone());
    let mut req = tonic::Request::new(alert("o", "r", "p", true, ""));
    req.metadata_mut().insert("x-big", big.parse().unwrap());
    let r = tokio::time::timeout(BOUND, c.alert(req)).await.unwrap();
    assert!(r.is_err());
    h.normal_call().await;
    h.finish(0).await;
}

#[tokio::test]
async fn the_per_peer_rate_limit_answers_resource_exhausted_and_counts() {
    let limits = SinkLimits {
        rate_limit: Some(5.0),
        ..SinkLimits::default()
    };
    // The harness's first call uses one token.
    let h = Harness::start(limits).await;
    let mut c = AlertSinkClient::connect(h.sink.url()).await.unwrap();
    let mut ok = 0;
    let mut limited = 0;
    let started = Instant::now();
    for i in 0..20 {
        match tokio::time::timeout(BOUND, c.alert(alert("o", &format!("r{i}"), "p", true, "")))
            .await
            .unwrap()
        {
            Ok(_) => ok += 1,
            Err(s) => {
                assert_eq!(s.code(), Code::ResourceExhausted);
                assert!(s.message().contains("rate limit"), "{}", s.message());
                limited += 1;
            }
        }
    }
    // Five per second with a burst of five: 4 more in the first instant,
    // plus at most what refilled while the loop ran.
    let refilled = (started.elapsed().as_secs_f64() * 5.0).ceil() as u64 + 1;
    assert!(
        ok >= 4 && ok <= 4 + refilled,
        "ok {ok}, limited {limited}, refilled {refilled}"
    );
    assert_eq!(ok + limited, 20);
    if refilled < 10 {
        assert!(limited >= 5, "ok {ok}, limited {limited}");
    }
    assert_eq!(h.sink.hub.refused(Refusal::RateLimited), limited);
    h.finish(ok).await;
}

#[tokio::test]
async fn with_a_token_only_authenticated_requests_keep_a_connection() {
    let sink = TestSink::start(SinkConfig {
        token: Some("s3cret".into()),
        limits: SinkLimits {
            idle_timeout: Duration::from_millis(800),
            ..SinkLimits::default()
        },
        ..SinkConfig::default()
    })
    .await;
    // B authenticates, then keeps its connection.
    let mut b = sinkwatch::grpc::Target {
        url: sink.url(),
        token: Some("s3cret".into()),
        ..Default::default()
    }
    .client()
    .unwrap();
    b.alert(alert("ossf", "b", "p", true, "")).await.unwrap();
    // A, connected later, only sends refused requests.
    let mut a = AlertSinkClient::connect(sink.url()).await.unwrap();
    let st = a
        .alert(alert("ossf", "a", "p", true, ""))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unauthenticated);
    // A is closed at its deadline; B's (earlier) deadline no longer applied.
    wait_until(|| sink.hub.refused(Refusal::IdleTimeout) >= 1).await;
    assert_eq!(sink.hub.refused(Refusal::IdleTimeout), 1);
    wait_until(|| sink.hub.open_connections() == 1).await;
    b.alert(alert("ossf", "b", "p", false, "")).await.unwrap();
    assert_eq!(sink.hub.open_connections(), 1, "B kept its connection");
    assert_eq!(sink.hub.read(|s| s.accepted()), 2);
    drop((a, b));
    tokio::time::timeout(BOUND, sink.stop()).await.unwrap();
}

/// grpc-go and grpc-js with compression on send gzip or deflate and do not
/// fall back: each encoding must be answered OK and the alert stored as sent.
#[tokio::test]
async fn compressed_requests_are_accepted_in_every_encoding() {
    use tonic::codec::CompressionEncoding;
    let mut h = Harness::start(SinkLimits::default()).await;
    let details = "No protection found for branch main\n".repeat(50);
    for (i, enc) in [
        CompressionEncoding::Gzip,
        CompressionEncoding::Deflate,
        CompressionEncoding::Zstd,
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = AlertSinkClient::connect(h.sink.url())
            .await
            .unwrap()
            .send_compressed(enc);
        let r = tokio::time::timeout(
            BOUND,
            c.alert(alert("ossf", &format!("z{i}"), "p", false, &details)),
        )
        .await
        .unwrap();
        assert!(r.is_ok(), "{enc:?}: {r:?}");
        h.ok += 1;
    }
    let stored = h
        .sink
        .hub
        .read(|s| s.history().back().map(|e| e.details.to_string()));
    assert_eq!(stored.as_deref(), Some(details.as_str()));
    assert_eq!(h.sink.hub.refused_total(), 0);
    h.finish(0).await;
}

/// A small gzip frame that inflates far beyond the limit (a compression
/// bomb) is refused as over-size, counted, and never fully inflated; an
/// encoding the sink does not know, and a compressed flag without an
/// encoding, are refused with statuses that say so, each counted.
#[tokio::test]
async fn compression_bombs_and_unknown_encodings_are_refused_and_counted() {
    use tonic::codec::CompressionEncoding;
    let limits = SinkLimits {
        max_message_bytes: 16 * 1024,
        ..SinkLimits::default()
    };
    let mut h = Harness::start(limits).await;
    // 8 MiB of details compresses to a few KiB, under the 16 KiB limit as
    // sent, but 512 times over it once inflated.
    let mut c = AlertSinkClient::connect(h.sink.url())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip)
        .max_encoding_message_size(usize::MAX);
    let bomb = "a".repeat(8 << 20);
    let r = tokio::time::timeout(BOUND, c.alert(alert("o", "bomb", "p", false, &bomb)))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(r.code(), Code::ResourceExhausted, "{}", r.message());
    assert!(
        r.message().contains("counts decompressed"),
        "{}",
        r.message()
    );
    assert_eq!(h.sink.hub.refused(Refusal::OverSize), 1);

    let mut channel = tonic::transport::Endpoint::from_shared(h.sink.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let msg = RawAlertRequest {
        owner_name: b"o".to_vec(),
        repo_name: b"r".to_vec(),
        policy_name: b"p".to_vec(),
        details: Vec::new(),
        pass: true,
    }
    .encode_to_vec();
    let frame = |flag: u8| {
        let mut f = vec![flag];
        f.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        f.extend_from_slice(&msg);
        f
    };
    let (code, m) = http_call(
        &mut channel,
        "/AlertSink/Alert",
        &[("grpc-encoding", "br")],
        frame(1),
    )
    .await;
    assert_eq!(code, Code::Unimplemented, "{m}");
    assert!(m.contains("br"), "{m}");
    assert_eq!(h.sink.hub.refused(Refusal::UnsupportedEncoding), 1);

    let (code, m) = http_call(&mut channel, "/AlertSink/Alert", &[], frame(1)).await;
    assert_eq!(code, Code::Internal, "{m}");
    assert!(m.contains("no%20grpc-encoding"), "{m}");
    assert_eq!(h.sink.hub.refused(Refusal::UnsupportedEncoding), 2);
    assert_eq!(h.sink.hub.refused(Refusal::BadMessage), 0);
    h.normal_call().await;
    h.finish(0).await;
}
