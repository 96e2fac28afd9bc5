//! Prometheus metrics (`--metrics-listen ADDR`, `GET /metrics`).
//!
//! Every value is read at scrape time from the counters the hub, the
//! consumers and the forwarders already keep: a scrape builds a fresh
//! registry, fills it and encodes it in the text format. Nothing is added to
//! the ingest path, and a scrape sees the same numbers as the stats line.
//!
//! The responder is a bounded HTTP/1 server: a few connections at once, a
//! deadline for the request head and for the whole connection, and only
//! `GET /metrics`, `/healthz` and `/readyz` for HTTP probes (and `/`
//! pointing there); it never reads a request body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::forward::{ForwardStats, UpstreamSnapshot};
use crate::hub::Hub;

/// Scrape connections served at once. A new one past them closes the
/// oldest: a scraper's connection is idle but for the moment of its
/// request (the answer is read from counters), and Prometheus reconnects
/// at its next scrape. Held in place instead, 8 connections from 8
/// addresses that sent nothing made scrapes (and the kubelet's probes of
/// `/healthz`) wait 5 – 9 s, or time out (a hostile review).
const MAX_CONNECTIONS: usize = 64;
/// Of them, from one IP address (IPv6: one /64); a new one past them
/// closes that address's oldest. One client holding idle connections
/// cannot starve the scrapes of others (a user's review: 128 idle
/// connections from one address failed every scrape), nor of its own
/// address: behind a port-forward, an ingress or NAT, every scraper
/// shares one (a second review: two slowloris connections from the
/// scraper's address failed 68 of 73 scrapes when the new one was closed).
const MAX_CONNECTIONS_PER_PEER: usize = 4;
/// Time a scrape connection has to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a scrape connection may stay open in all.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A consumer's count of records it lost (fell behind or failed to write).
pub type LostCounter = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Where the metrics are read from at scrape time.
#[derive(Clone)]
pub struct Sources {
    pub hub: Arc<Hub>,
    pub forward: Option<Arc<ForwardStats>>,
    /// Per consumer (stdout, the record file, the state database, …).
    pub lost: Vec<(String, LostCounter)>,
    /// The Watch service's viewers (attached now, alerts they missed).
    pub watchers: Option<Arc<crate::sink::watch::WatchStats>>,
    /// The durable state's counters, when a state database is written.
    pub state: Option<Arc<crate::state::StateStats>>,
    /// The ingest latency histogram, live (the one exception to reading
    /// counters at scrape time: a distribution has to be kept as it goes;
    /// see sink/latency.rs).
    pub latency: Option<Histogram>,
    /// Set once the sink is stopping: `/readyz` then answers 503 (take no
    /// more traffic) while `/metrics` and `/healthz` go on through the
    /// drain of forwards and writers (a review could not watch it).
    pub stopping: Option<tokio::sync::watch::Receiver<bool>>,
}

type Labels = Vec<(String, String)>;

/// A metric's series, encoded in the order they were added (reasons as
/// `Refusal::ALL` lists them, upstreams as configured). prometheus-client's
/// `Family` keeps them in a hash map seeded anew for each scrape's
/// registry, so every scrape listed them in another order and two scrapes
/// could not be compared line by line.
#[derive(Debug)]
struct Ordered<M>(Vec<(Labels, M)>);

impl<M: EncodeMetric + TypedMetric> EncodeMetric for Ordered<M> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, m) in &self.0 {
            m.encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }

    /// As `Family`: a metric without series has no descriptor either.
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A per-upstream metric: name, help, and how to read it from a snapshot.
type UpstreamMetric = (&'static str, &'static str, fn(&UpstreamSnapshot) -> u64);

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter<u64, AtomicU64> = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge_of(value: u64) -> Gauge<i64, AtomicI64> {
    let g: Gauge<i64, AtomicI64> = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    g
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    registry.register(name, help, gauge_of(value));
}

fn counter_family(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (String, u64)>,
) {
    let series = values
        .into_iter()
        .map(|(l, v)| {
            let c: Counter<u64, AtomicU64> = Counter::default();
            c.inc_by(v);
            (vec![(label.to_owned(), l)], c)
        })
        .collect();
    registry.register(name, help, Ordered(series));
}

fn gauge_family(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (String, u64)>,
) {
    let series = values
        .into_iter()
        .map(|(l, v)| (vec![(label.to_owned(), l)], gauge_of(v)))
        .collect();
    registry.register(name, help, Ordered(series));
}

/// The metrics in the Prometheus text format, read now.
pub fn render(sources: &Sources) -> String {
    let mut r = Registry::with_prefix("sinkwatch");
    let (accepted, evicted, keys, failing, details_evicted, memory, regressions, fixes) =
        sources.hub.read(|s| {
            (
                s.accepted(),
                s.evicted(),
                s.key_count() as u64,
                u64::from(s.failing_keys()),
                s.details_evicted(),
                s.memory_used() as u64,
                s.total_regressions(),
                s.total_fixes(),
            )
        });
    counter(
        &mut r,
        "alerts_accepted",
        "Alerts accepted and stored",
        accepted,
    );
    counter_family(
        &mut r,
        "alerts_refused",
        "Requests refused, by reason",
        "reason",
        // Every reason, from 0: a series that appears only with its first
        // refusal has no earlier value for rate() or an alert rule to see.
        crate::hub::Refusal::ALL
            .iter()
            .map(|r| (r.as_str().to_owned(), sources.hub.refused(*r))),
    );
    gauge(&mut r, "keys", "Keys (owner, repo, policy) known", keys);
    gauge(
        &mut r,
        "failing_keys",
        "Keys whose latest alert failed",
        failing,
    );
    counter_family(
        &mut r,
        "transitions",
        "Status changes of a key: regressed (pass to fail) or fixed (fail to pass)",
        "direction",
        [
            ("regressed".to_owned(), regressions),
            ("fixed".to_owned(), fixes),
        ],
    );
    counter(
        &mut r,
        "history_evicted",
        "Events evicted from the history ring (count or memory bound)",
        evicted,
    );
    counter(
        &mut r,
        "details_evicted",
        "Keys whose details were dropped to stay within the memory budget",
        details_evicted,
    );
    gauge(
        &mut r,
        "memory_bytes",
        "Bytes the history and per-key state hold",
        memory,
    );
    gauge(
        &mut r,
        "connections_open",
        "Connections the sink has open",
        sources.hub.open_connections(),
    );
    counter_family(
        &mut r,
        "consumer_lost",
        "Records a consumer lost (fell behind or could not write)",
        "consumer",
        sources.lost.iter().map(|(n, f)| (n.clone(), f())),
    );
    if let Some(w) = &sources.watchers {
        use std::sync::atomic::Ordering::Relaxed;
        gauge(
            &mut r,
            "watchers",
            "Remote viewers attached",
            w.attached.load(Relaxed),
        );
        counter(
            &mut r,
            "watch_missed",
            "Alerts remote viewers missed (each was told): dropped from a live stream because the viewer fell behind, or no longer held when it resumed",
            w.missed.load(Relaxed),
        );
    }
    if let Some(s) = &sources.state {
        counter(
            &mut r,
            "state_written",
            "Alerts committed to the state database",
            s.written.load(std::sync::atomic::Ordering::Relaxed),
        );
        let (backlog, age_ms) = s.backlog(crate::hub::now_ms());
        gauge(
            &mut r,
            "state_backlog",
            "Alerts the state writer holds and has not committed yet (in its spool: a restart after a kill -9 replays them)",
            backlog,
        );
        counter(
            &mut r,
            "state_unspooled",
            "Alerts the state writer held without a copy in its spool (full or failing): a kill -9 before their commit loses them",
            s.unspooled.load(std::sync::atomic::Ordering::Relaxed),
        );
        let age: Gauge<f64, AtomicU64> = Gauge::default();
        age.set(age_ms as f64 / 1000.0);
        r.register_with_unit(
            "state_backlog_age",
            "How long the oldest uncommitted alert of the state writer has waited",
            prometheus_client::registry::Unit::Seconds,
            age,
        );
    }
    if let Some(h) = &sources.latency {
        r.register_with_unit(
            "ingest_latency",
            format!(
                "Time from an Alert call's start to its answer (sampled: one call in {} per thread)",
                crate::sink::latency::SAMPLE_EVERY
            ),
            prometheus_client::registry::Unit::Seconds,
            h.clone(),
        );
    }
    if let Some(f) = &sources.forward {
        let snaps = f.snapshot();
        let each = |get: fn(&UpstreamSnapshot) -> u64| {
            snaps
                .iter()
                .map(move |s| (s.url.clone(), get(s)))
                .collect::<Vec<_>>()
        };
        let counters: [UpstreamMetric; 5] = [
            ("forward_accepted", "Alerts queued for the upstream", |s| {
                s.accepted
            }),
            (
                "forward_delivered",
                "Alerts the upstream acknowledged",
                |s| s.delivered,
            ),
            (
                "forward_failed",
                "Alerts the upstream refused or never answered",
                |s| s.failed,
            ),
            (
                "forward_dropped",
                "Alerts dropped because the upstream's queue was full",
                |s| s.dropped,
            ),
            (
                "forward_retries",
                "Attempts retried after a transient failure",
                |s| s.retries,
            ),
        ];
        for (name, help, get) in counters {
            counter_family(&mut r, name, help, "upstream", each(get));
        }
        let gauges: [UpstreamMetric; 6] = [
            (
                "forward_queued",
                "Alerts not sent to the upstream yet: in its queue, or held for sending while every attempt was refused before sending",
                |s| s.queued,
            ),
            (
                "forward_in_flight",
                "Alerts sent to the upstream and not answered yet (an attempt under way, or retried after no answer)",
                |s| s.in_flight,
            ),
            (
                "forward_queue_capacity",
                "Capacity of the upstream's queue",
                |s| s.queue_capacity as u64,
            ),
            (
                "forward_holding",
                "Sender answers held while the upstream is behind",
                |s| s.holding,
            ),
            (
                "forward_unanswered_seconds",
                "Whole seconds the upstream has left what it was sent unanswered (0: nothing in flight, or down)",
                |s| s.unanswered_for.map_or(0, |d| d.as_secs()),
            ),
            (
                "forward_refusing",
                "1 while the upstream is up and refusing what it is sent (its last answer to an alert a failure, after its last delivery)",
                |s| u64::from(s.refusing),
            ),
        ];
        for (name, help, get) in gauges {
            gauge_family(&mut r, name, help, "upstream", each(get));
        }
        let up = Ordered(
            snaps
                .iter()
                .map(|s| {
                    let labels = vec![
                        ("upstream".to_owned(), s.url.clone()),
                        ("state".to_owned(), s.state.as_str().to_owned()),
                    ];
                    (labels, gauge_of(1))
                })
                .collect(),
        );
        r.register(
            "forward_state",
            "The upstream's connection state (1 for its current state)",
            up,
        );
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

/// Binds the metrics address (before the sink reports readiness, so a taken
/// port is one plain line).
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, String> {
    let l = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("cannot listen on {addr} (--metrics-listen): {e}"))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {addr} (--metrics-listen): {e}"))?;
    Ok(l)
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

fn answer(sources: &Sources, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "GET /metrics\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(sources),
        ),
        // For HTTP probes (a kubelet cannot probe the gRPC health service
        // over TLS). Once the sink stops, readiness fails at once (the
        // Service stops sending) while liveness holds until the process
        // has drained and exits.
        "/readyz" if sources.stopping.as_ref().is_some_and(|s| *s.borrow()) => {
            reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, "stopping\n".into())
        }
        "/healthz" | "/readyz" => reply(StatusCode::OK, TEXT, "ok\n".into()),
        "/" => reply(
            StatusCode::OK,
            TEXT,
            "sinkwatch metrics: GET /metrics (probes: /healthz, /readyz)\n".into(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: GET /metrics\n".into(),
        ),
    }
}

/// The connections served now, by accept order (oldest first), each with
/// its address (see [`MAX_CONNECTIONS_PER_PEER`]) and the sender that
/// closes it.
type Open = Arc<std::sync::Mutex<OpenConns>>;

#[derive(Default)]
struct OpenConns {
    next: u64,
    conns: std::collections::BTreeMap<u64, (std::net::IpAddr, tokio::sync::oneshot::Sender<()>)>,
}

/// A connection's place among the [`MAX_CONNECTIONS`], given back on drop.
struct Place {
    open: Open,
    id: u64,
}

impl Place {
    /// A place for a new connection from `ip`: its address's oldest is
    /// closed at [`MAX_CONNECTIONS_PER_PEER`], else the oldest of all at
    /// [`MAX_CONNECTIONS`]. The receiver says when this one is closed so.
    fn take(open: &Open, ip: std::net::IpAddr) -> (Place, tokio::sync::oneshot::Receiver<()>) {
        let ip = crate::sink::rate::peer_key(ip);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut o = open.lock().unwrap_or_else(|e| e.into_inner());
        let same: Vec<u64> = o
            .conns
            .iter()
            .filter(|(_, (a, _))| *a == ip)
            .map(|(id, _)| *id)
            .collect();
        let closed = if same.len() >= MAX_CONNECTIONS_PER_PEER {
            same.first().copied()
        } else if o.conns.len() >= MAX_CONNECTIONS {
            o.conns.keys().next().copied()
        } else {
            None
        };
        if let Some((_, close)) = closed.and_then(|id| o.conns.remove(&id)) {
            let _ = close.send(());
        }
        o.next += 1;
        let id = o.next;
        o.conns.insert(id, (ip, tx));
        let place = Place {
            open: open.clone(),
            id,
        };
        (place, rx)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut o = self.open.lock().unwrap_or_else(|e| e.into_inner());
        o.conns.remove(&self.id);
    }
}

/// Serves `GET /metrics` until `stop` resolves (call within the runtime).
pub async fn serve(
    listener: std::net::TcpListener,
    sources: Sources,
    stop: impl std::future::Future<Output = ()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("metrics: cannot serve: {e}");
            return;
        }
    };
    let open: Open = Arc::default();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!("metrics: accept: {e}");
                    continue;
                }
            },
            _ = &mut stop => return,
        };
        let (place, mut closed) = Place::take(&open, peer.ip());
        let sources = sources.clone();
        tokio::spawn(async move {
            let _place = place;
            let service = hyper::service::service_fn(move |req| {
                let resp = answer(&sources, &req);
                async move { Ok::<_, std::convert::Infallible>(resp) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(16 * 1024)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                r = tokio::time::timeout(CONNECTION_TIMEOUT, conn) => match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!("metrics: {peer}: {e}"),
                    Err(_) => tracing::debug!(
                        "metrics: {peer}: connection closed after {CONNECTION_TIMEOUT:?}"
                    ),
                },
                _ = &mut closed => tracing::debug!(
                    "metrics: {peer}: closed for a newer connection"
                ),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewAlert, StoreLimits};

    #[test]
    fn a_scrape_reads_the_hub_counters() {
        let hub = Hub::new(StoreLimits::default(), 16);
        let alert = |pass| NewAlert {
            owner: "o".into(),
            repo: "r".into(),
            policy: "p".into(),
            pass,
            details: String::new(),
        };
        hub.ingest(&alert(false), None, None).unwrap();
        hub.ingest(&alert(true), None, None).unwrap();
        hub.refuse(crate::hub::Refusal::EmptyField);
        let sources = Sources {
            stopping: None,
            hub,
            forward: None,
            lost: vec![("stdout".into(), Arc::new(|| 7))],
            watchers: None,
            state: Some(Arc::new({
                let s = crate::state::StateStats::default();
                s.written.store(40, std::sync::atomic::Ordering::Relaxed);
                s.backlog.store(5, std::sync::atomic::Ordering::Relaxed);
                s
            })),
            latency: None,
        };
        let text = render(&sources);
        for line in [
            "sinkwatch_alerts_accepted_total 2",
            "sinkwatch_keys 1",
            "sinkwatch_failing_keys 0",
            "sinkwatch_transitions_total{direction=\"fixed\"} 1",
            "sinkwatch_consumer_lost_total{consumer=\"stdout\"} 7",
            "sinkwatch_state_written_total 40",
            "sinkwatch_state_backlog 5",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(
            text.lines()
                .any(|l| l.starts_with("sinkwatch_alerts_refused_total{reason=")
                    && l.ends_with(" 1")),
            "{text}"
        );
        // The reasons not seen yet are there, at 0.
        assert!(
            text.lines()
                .any(|l| l == "sinkwatch_alerts_refused_total{reason=\"replayed\"} 0"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Series come in a fixed order (the reasons as `Refusal::ALL` has
        // them), the same at every scrape: two scrapes compare line by line.
        let reasons: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("sinkwatch_alerts_refused_total{reason=\""))
            .filter_map(|l| l.split('"').next())
            .collect();
        let all: Vec<&str> = crate::hub::Refusal::ALL
            .iter()
            .map(|r| r.as_str())
            .collect();
        assert_eq!(reasons, all);
        assert_eq!(render(&sources), text);
    }

    /// An upstream refusing alerts, and one not answering, are in the
    /// metrics as in the panel (a review: only the panel said so).
    #[test]
    fn upstreams_refusing_or_not_answering_are_in_the_metrics() {
        use crate::forward::UpstreamState;
        use std::time::Duration;
        let mut refusing = crate::ui::harness::upstream(1, UpstreamState::Up, 60);
        refusing.refusing = true;
        let mut hung = crate::ui::harness::upstream(2, UpstreamState::Up, 60);
        hung.in_flight = 1;
        hung.unanswered_for = Some(Duration::from_millis(7_500));
        let text = render(&Sources {
            stopping: None,
            hub: Hub::new(StoreLimits::default(), 16),
            forward: Some(crate::ui::harness::forwarding(vec![
                (refusing, Vec::new()),
                (hung, Vec::new()),
            ])),
            lost: Vec::new(),
            watchers: None,
            state: None,
            latency: None,
        });
        for line in [
            "sinkwatch_forward_refusing{upstream=\"http://127.0.0.1:1\"} 1",
            "sinkwatch_forward_refusing{upstream=\"http://127.0.0.1:2\"} 0",
            "sinkwatch_forward_unanswered_seconds{upstream=\"http://127.0.0.1:2\"} 7",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
