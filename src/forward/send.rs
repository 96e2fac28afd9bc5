//! Sending to an upstream: the feeder (hub → queue), the lanes (queue →
//! upstream, with retries) and one attempt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use super::upstream::{Finish, Reach, Take, Upstream};
use crate::grpc::Client;
use crate::grpc::diagnose::{self, Stage};
use crate::model::AlertRecord;
use crate::proto::AlertRequest;

/// Exponential backoff between attempts, with jitter.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// Wait after the first failed attempt.
    pub first: Duration,
    /// Longest wait (also while an upstream is down: how soon delivery
    /// resumes once it is back).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// The wait before retry number `n` (1-based), jittered to 50–100 %.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .first
            .saturating_mul(1u32 << n.saturating_sub(1).min(20));
        exp.min(self.max).mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// What the lanes need to know.
pub(crate) struct LaneConfig {
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Backoff,
    /// The longest run of identical alerts a lane sends at once.
    pub run: usize,
    /// Signs each attempt (`--forward-sign`).
    pub signer: Option<Arc<crate::sink::auth::signature::Signer>>,
}

/// How a failed attempt is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// The upstream answered with a status that will not change on retry.
    Permanent,
    /// The upstream answered UNAVAILABLE, RESOURCE_EXHAUSTED or
    /// DEADLINE_EXCEEDED, or did not answer in time: retried, up to the limit.
    Transient,
    /// It could not be reached at all (connect, TLS, HTTP/2 errors).
    Unreachable,
    /// The call never reached it: refused by a GOAWAY or REFUSED_STREAM,
    /// or queued on a connection that was closing (src/grpc/unsent.rs).
    /// Retried without using up the alert's retries.
    Unsent,
}

/// Sorts a failed attempt. A status that came from the transport carries
/// its cause as `source`; statuses the upstream sent have none.
pub(crate) fn classify(s: &Status) -> Class {
    if crate::grpc::unsent::never_processed(s) {
        return Class::Unsent;
    }
    let transport = std::error::Error::source(s).is_some()
        || (s.code() == Code::Unknown && s.message().starts_with("Service was not ready"));
    if transport {
        return Class::Unreachable;
    }
    match s.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => Class::Transient,
        _ if from_a_gateway(s) => Class::Transient,
        _ => Class::Permanent,
    }
}

/// Whether the status is tonic's report of an HTTP 502, 503 or 504 answer
/// that was not gRPC — a proxy in front of the upstream (nginx's `grpc_pass`
/// answers 502 when it cannot reach it). gRPC maps these HTTP statuses to
/// UNAVAILABLE; tonic reports them as INTERNAL or UNKNOWN when the proxy
/// sent a body (its HTML error page), naming the status in the message.
fn from_a_gateway(s: &Status) -> bool {
    matches!(s.code(), Code::Internal | Code::Unknown)
        && ["502", "503", "504"].iter().any(|http| {
            s.message()
                .contains(&format!("response with status: {http} "))
        })
}

/// A failed call to the upstream at `url` as one line with its code, e.g.
/// `Unavailable: connection refused — check that the upstream is running
/// and listening on HOST:PORT` (raw; sanitize before showing).
pub(crate) fn status_text(url: &str, s: &Status, stage: Stage) -> String {
    let detail = status_detail(url, s, stage);
    if detail.is_empty() {
        format!("{:?}", s.code())
    } else {
        format!("{:?}: {detail}", s.code())
    }
}

/// Why a call to the upstream at `url` failed, without the code: for a
/// transport failure (the upstream never answered), the likely cause and
/// what to check ([`diagnose::upstream_failure`]); for a status the
/// upstream sent, its message as it is.
pub(crate) fn status_detail(url: &str, s: &Status, stage: Stage) -> String {
    diagnose::upstream_failure(url, s, stage).unwrap_or_else(|| raw_detail(s))
}

/// When a call to an upstream failed, for [`diagnose`]: the lanes connect
/// lazily, so a first call includes the connection; once the upstream has
/// answered anything, a connection that breaks was one that worked.
pub(crate) fn stage_of(up: &Upstream) -> Stage {
    if up.answers() == 0 {
        Stage::FirstCall
    } else {
        Stage::LaterCall
    }
}

/// A status's message and causes, without the code.
fn raw_detail(s: &Status) -> String {
    let mut text = s.message().to_owned();
    let mut cur = std::error::Error::source(s);
    while let Some(c) = cur {
        let t = c.to_string();
        if !text.contains(&t) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&t);
        }
        cur = c.source();
    }
    text
}

/// `1.5 s`, `10 s`.
pub(crate) fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

pub(crate) fn request_of(r: &AlertRecord) -> AlertRequest {
    AlertRequest {
        owner_name: r.owner.to_string(),
        repo_name: r.repo.to_string(),
        policy_name: r.policy.to_string(),
        details: r.details.to_string(),
        pass: r.pass,
    }
}

/// A failed attempt: the status, and whether it is our own deadline.
pub(crate) struct AttemptError {
    pub status: Status,
    pub timed_out: bool,
}

/// One attempt. A timeout is DEADLINE_EXCEEDED naming the upstream (and the
/// request carries `grpc-timeout`, so the upstream knows too).
pub(crate) async fn attempt(
    client: &mut Client,
    url: &str,
    r: &AlertRecord,
    timeout: Duration,
    metadata: Option<&MetadataMap>,
    signer: Option<&crate::sink::auth::signature::Signer>,
) -> Result<(), AttemptError> {
    let mut req = tonic::Request::new(request_of(r));
    if let Some(md) = metadata {
        *req.metadata_mut() = md.clone();
    }
    // Signed by sinkwatch, anew for each attempt (a signature is single-use
    // at a verifying upstream). The sender's own signature is never passed
    // on: it covers the sender's bytes and vouches for the sender, not for
    // this hop (see NOT_PASSED).
    if let Some(s) = signer
        && let Ok(v) = s
            .header(&prost::Message::encode_to_vec(req.get_ref()))
            .parse()
    {
        req.metadata_mut()
            .insert(crate::sink::auth::signature::HEADER, v);
    }
    // The sinks this alert went through, this one last: a sink that finds
    // itself among them refuses it (a forwarding loop).
    if let Some(p) = &r.peer
        && !p.hops.is_empty()
        && let Ok(v) = tonic::metadata::MetadataValue::try_from(&*p.hops)
    {
        req.metadata_mut().insert(crate::hub::HOP_HEADER, v);
    }
    req.set_timeout(timeout);
    let t0 = std::time::Instant::now();
    match tokio::time::timeout(timeout, client.alert(req)).await {
        Ok(Ok(_)) => Ok(()),
        // The upstream enforces the `grpc-timeout` we sent as well, and its
        // answer to it (tonic: CANCELLED "Timeout expired") can beat our own
        // timer: an error once the deadline passed is the deadline.
        Ok(Err(status)) if !deadline_passed(&status) && t0.elapsed() < timeout => {
            Err(AttemptError {
                status,
                timed_out: false,
            })
        }
        // tonic's channel enforces `grpc-timeout` too, and may be first.
        _ => Err(AttemptError {
            status: Status::deadline_exceeded(format!(
                "upstream {url} did not answer within {}",
                seconds(timeout)
            )),
            timed_out: true,
        }),
    }
}

/// Whether a status is tonic's own `grpc-timeout` expiry.
fn deadline_passed(s: &Status) -> bool {
    let mut cur = std::error::Error::source(s);
    while let Some(e) = cur {
        if e.is::<tonic::TimeoutExpired>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Drains the hub subscription into the upstream's queue, promptly and in
/// batches; never waits on the upstream. Ends when the hub closes.
///
/// A feeder kept off the CPU longer than the hub's queue lasts is skipped
/// records (`Lagged`): it reads them back from the hub's history
/// (`refetch`) and queues them in seq order, so only what the history let
/// go too is dropped (counted, `DropReason::Lagged`).
pub(crate) async fn feed(
    up: Arc<Upstream>,
    mut rx: broadcast::Receiver<Arc<AlertRecord>>,
    mut next: u64,
    refetch: crate::hub::Refetch,
) {
    const BATCH: usize = 512;
    let mut batch: Vec<Arc<AlertRecord>> = Vec::with_capacity(BATCH);
    let mut woken = Vec::new();
    let flush = |batch: &mut Vec<Arc<AlertRecord>>, woken: &mut Vec<bool>| {
        if batch.is_empty() {
            return;
        }
        up.enqueue(batch, woken);
        for (lane, w) in woken.iter().enumerate() {
            if *w {
                up.wake[lane].notify_one();
            }
        }
    };
    // When caught up, nap briefly before awaiting: while alerts flow, the
    // hub's `send` then finds no waiter to wake (a wake-up per alert showed
    // up as scheduler time on the ingest path). After ~20 ms without news
    // the task awaits normally and costs nothing at rest.
    const NAPS_BEFORE_AWAIT: u32 = 20;
    let mut naps = 0;
    loop {
        let got = match rx.try_recv() {
            Ok(r) => Ok(r),
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                Err(broadcast::error::RecvError::Lagged(n))
            }
            Err(broadcast::error::TryRecvError::Closed) => break,
            Err(broadcast::error::TryRecvError::Empty) => {
                flush(&mut batch, &mut woken);
                if naps < NAPS_BEFORE_AWAIT {
                    naps += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    continue;
                }
                rx.recv().await
            }
        };
        naps = 0;
        match got {
            Ok(r) => {
                next = r.seq + 1;
                batch.push(r);
                if batch.len() >= BATCH {
                    flush(&mut batch, &mut woken);
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                flush(&mut batch, &mut woken);
                // Seqs are contiguous: `next..next + n` were skipped.
                let end = next + n;
                let _ = crate::hub::read_back::<std::convert::Infallible>(
                    &refetch,
                    (next, end),
                    |got| {
                        match got {
                            crate::hub::ReadBack::Found(r) => {
                                batch.push(Arc::new(r));
                                if batch.len() >= BATCH {
                                    flush(&mut batch, &mut woken);
                                }
                            }
                            // What was read before the run goes first.
                            crate::hub::ReadBack::Missing(first, n) => {
                                flush(&mut batch, &mut woken);
                                up.lagged(first, n);
                            }
                        }
                        Ok(())
                    },
                );
                flush(&mut batch, &mut woken);
                next = end;
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
    flush(&mut batch, &mut woken);
    up.close_input();
}

/// One lane: sends its alerts one at a time (so a key's alerts arrive in
/// order) — except a run of identical requests, sent at once (see
/// [`Upstream::take`]) — retrying transient failures. Ends when the input
/// ended and the lane is empty.
pub(crate) async fn lane(up: Arc<Upstream>, lane: usize, mut client: Client, cfg: Arc<LaneConfig>) {
    let mut run = Vec::new();
    loop {
        match up.take(lane, cfg.run, &mut run) {
            Take::Run if run.len() == 1 => deliver(&up, lane, &mut client, &cfg, &run[0]).await,
            Take::Run => {
                let sends = run.iter().map(|r| {
                    let mut client = client.clone();
                    let (up, cfg) = (&up, &cfg);
                    async move { deliver(up, lane, &mut client, cfg, r).await }
                });
                futures_util::future::join_all(sends).await;
            }
            Take::Empty => up.wake[lane].notified().await,
            Take::Done => return,
        }
    }
}

/// Delivers one alert with retries.
///
/// While the upstream is unreachable the alert waits at the head of its
/// lane without using up its retries (an outage is not the alert's fault;
/// the bounded queue fills and then drops, counted), retrying with backoff
/// so delivery resumes soon after the upstream is back. Unreachability
/// counts against the retries only when the upstream answered other
/// attempts meanwhile (then it is this alert that cannot get through).
async fn deliver(
    up: &Upstream,
    lane: usize,
    client: &mut Client,
    cfg: &LaneConfig,
    r: &AlertRecord,
) {
    let mut attempts: u32 = 0;
    let mut used: u32 = 0;
    let mut waits: u32 = 0;
    let mut answers_before = up.answers();
    // Whether an attempt may have reached the upstream (see `lane_sent`).
    let sent = &up.lane_sent[lane];
    let mut reached = false;
    loop {
        attempts += 1;
        let result = {
            // The semaphore is never closed.
            let _permit = up.permits.acquire().await;
            sent.store(true, std::sync::atomic::Ordering::Relaxed);
            let t0 = Instant::now();
            attempt(client, &up.url, r, cfg.timeout, None, cfg.signer.as_deref())
                .await
                .map_err(|e| (e, t0.elapsed()))
                .map(|()| t0.elapsed())
        };
        let (status, timed_out, latency) = match result {
            Ok(latency) => {
                up.finish(Some(lane), r.seq, Finish::Delivered { attempts, latency });
                return;
            }
            Err((e, latency)) => (e.status, e.timed_out, latency),
        };
        let class = classify(&status);
        let message: Arc<str> = status_text(&up.url, &status, stage_of(up)).into();
        let (reach, latency) = match class {
            Class::Unsent => (Reach::NoAnswer, None),
            Class::Unreachable => (Reach::Unreachable, None),
            _ if timed_out => (Reach::TimedOut, None),
            _ => (Reach::Answered, Some(latency)),
        };
        // Refused before sending (no connection, a GOAWAY): not sent, unless
        // an attempt before may have been.
        reached |= !matches!(class, Class::Unsent | Class::Unreachable);
        sent.store(reached, std::sync::atomic::Ordering::Relaxed);
        let uses_budget = match class {
            // It never reached the upstream (a GOAWAY, e.g. nginx's after
            // `keepalive_requests` calls): nothing to hold against it.
            Class::Unsent => false,
            Class::Permanent | Class::Transient => true,
            Class::Unreachable => {
                let now = up.answers();
                let others_got_through = now != answers_before;
                answers_before = now;
                others_got_through
            }
        };
        if class == Class::Permanent || (uses_budget && used >= cfg.retries) {
            let how = Finish::Failed {
                code: status.code(),
                message,
                attempts,
                reach,
                latency,
            };
            up.finish(Some(lane), r.seq, how);
            return;
        }
        if uses_budget {
            used += 1;
            waits = used;
        } else {
            waits = waits.saturating_add(1);
        }
        up.retrying(r.seq, attempts, message, reach);
        tokio::time::sleep(cfg.backoff.delay(waits)).await;
    }
}

/// `grpc-timeout` of a request (`<digits><H|M|S|m|u|n>`), if present.
pub(crate) fn grpc_timeout(md: &MetadataMap) -> Option<Duration> {
    let v = md.get("grpc-timeout")?.to_str().ok()?;
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (num, unit) = v.split_at(v.len() - 1);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Metadata never passed through to an upstream: credentials (the sender's
/// token is a secret between it and sinkwatch; the upstream gets its own
/// with `--forward-token-file`), cookies, and transport or gRPC protocol
/// headers that belong to one hop.
const NOT_PASSED: &[&str] = &[
    "authorization",
    // A payload signature vouches for the sender to sinkwatch; upstreams get
    // sinkwatch's own (`--forward-sign`).
    crate::sink::auth::signature::HEADER,
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "te",
    "content-type",
    "content-length",
    "user-agent",
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "accept-encoding",
];

/// The sender's metadata to pass on: everything but [`NOT_PASSED`] and
/// `grpc-*`.
pub(crate) fn passed_metadata(md: &MetadataMap) -> MetadataMap {
    use tonic::metadata::KeyAndValueRef;
    let mut out = MetadataMap::new();
    for kv in md.iter() {
        match kv {
            KeyAndValueRef::Ascii(k, v) => {
                let name = k.as_str();
                if !name.starts_with("grpc-") && !NOT_PASSED.contains(&name) {
                    out.append(k.clone(), v.clone());
                }
            }
            KeyAndValueRef::Binary(k, v) => {
                if !k.as_str().starts_with("grpc-") {
                    out.append_bin(k.clone(), v.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse() {
        let mut md = MetadataMap::new();
        md.insert("grpc-timeout", "250m".parse().unwrap());
        assert_eq!(grpc_timeout(&md), Some(Duration::from_millis(250)));
        md.insert("grpc-timeout", "3S".parse().unwrap());
        assert_eq!(grpc_timeout(&md), Some(Duration::from_secs(3)));
        md.insert("grpc-timeout", "x".parse().unwrap());
        assert_eq!(grpc_timeout(&md), None);
    }

    #[test]
    fn credentials_and_protocol_headers_are_not_passed() {
        let mut md = MetadataMap::new();
        md.insert("authorization", "Bearer secret".parse().unwrap());
        md.insert("cookie", "a=b".parse().unwrap());
        md.insert("grpc-timeout", "1S".parse().unwrap());
        md.insert("te", "trailers".parse().unwrap());
        md.insert("x-request-id", "abc".parse().unwrap());
        md.append("x-tag", "1".parse().unwrap());
        md.append("x-tag", "2".parse().unwrap());
        md.insert_bin(
            "trace-bin",
            tonic::metadata::MetadataValue::from_bytes(b"\x00\x01"),
        );
        let out = passed_metadata(&md);
        assert!(out.get("authorization").is_none());
        assert!(out.get("cookie").is_none());
        assert!(out.get("grpc-timeout").is_none());
        assert!(out.get("te").is_none());
        assert_eq!(out.get("x-request-id").unwrap(), "abc");
        assert_eq!(out.get_all("x-tag").iter().count(), 2);
        assert!(out.get_bin("trace-bin").is_some());
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(&Status::unavailable("x")), Class::Transient);
        assert_eq!(classify(&Status::resource_exhausted("x")), Class::Transient);
        assert_eq!(classify(&Status::deadline_exceeded("x")), Class::Transient);
        assert_eq!(classify(&Status::invalid_argument("x")), Class::Permanent);
        // What tonic makes of nginx's 502 page (seen with grpc_pass in front
        // of an upstream that closed its connections).
        let gateway = Status::internal(
            "protocol error: received message with invalid compression flag: 60 (valid flags \
             are 0 and 1) while receiving response with status: 502 Bad Gateway",
        );
        assert_eq!(classify(&gateway), Class::Transient);
        let teapot = Status::internal("while receiving response with status: 418 I'm a teapot");
        assert_eq!(classify(&teapot), Class::Permanent);
        assert_eq!(classify(&Status::unauthenticated("x")), Class::Permanent);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            classify(&Status::from_error(Box::new(io))),
            Class::Unreachable
        );
    }

    #[test]
    fn backoff_grows_to_the_cap() {
        let b = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert!(b.delay(1) <= Duration::from_millis(100));
        assert!(b.delay(1) >= Duration::from_millis(50));
        assert!(b.delay(3) >= Duration::from_millis(200));
        assert!(b.delay(30) <= Duration::from_secs(1));
    }
}
