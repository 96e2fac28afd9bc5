//! One upstream's queue and its state machine: the lanes, the counters, the
//! per-alert outcome ring and the undelivered sets, all behind ONE mutex per
//! upstream so that every snapshot balances:
//!
//! `accepted = delivered + failed + dropped + queued + in_flight`
//!
//! Each transition (accept, drop, take, finish) moves one alert from one
//! bucket to another inside a single critical section; `queued` is the
//! length of the queues themselves and `in_flight` the number of alerts a
//! lane or a proxied call holds, so there is no second copy to drift.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{Notify, Semaphore};
use tonic::Code;

use crate::model::AlertRecord;

pub use super::outcome::{DropReason, Outcome, Role, UpstreamState};
pub use super::snapshot::UpstreamSnapshot;
pub use super::undelivered::{MAX_RANGES, SeqRanges, Undelivered};

/// Without any answer for this long while alerts wait, an upstream counts
/// as stalled rather than behind, and senders are no longer held for it.
pub const DEFAULT_STALL: Duration = Duration::from_secs(1);
/// Per-alert outcomes kept per upstream (a ring indexed by seq).
pub const DEFAULT_OUTCOMES: usize = 131_072;
/// Latency percentiles cover the last 10–20 s.
const LATENCY_WINDOW: Duration = Duration::from_secs(10);
/// The delivery rate is measured over at least this long (snapshots a
/// second apart, as from `--stats-interval 1`, each get a fresh rate).
const RATE_WINDOW: Duration = Duration::from_millis(500);

/// A fixed ring of outcomes indexed by `seq % capacity`.
struct OutcomeRing {
    slots: Vec<Option<(u64, Outcome)>>,
}

impl OutcomeRing {
    fn new(capacity: usize) -> OutcomeRing {
        OutcomeRing {
            slots: vec![None; capacity.max(1)],
        }
    }

    fn set(&mut self, seq: u64, outcome: Outcome) {
        let n = self.slots.len() as u64;
        let slot = &mut self.slots[(seq % n) as usize];
        // Never overwrite a newer alert's outcome with an older one's.
        if slot.as_ref().is_none_or(|(s, _)| *s <= seq) {
            *slot = Some((seq, outcome));
        }
    }

    fn get(&self, seq: u64) -> Option<Outcome> {
        let n = self.slots.len() as u64;
        match &self.slots[(seq % n) as usize] {
            Some((s, o)) if *s == seq => Some(o.clone()),
            _ => None,
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("histogram bounds")
}

fn quantile(h: &Histogram<u64>, q: f64) -> Option<Duration> {
    (!h.is_empty()).then(|| Duration::from_micros(h.value_at_quantile(q)))
}

/// Result of taking the next alerts off a lane.
pub(crate) enum Take {
    /// A run of one or more alerts, now in flight (see [`Upstream::take`]).
    Run,
    Empty,
    /// The input ended and the lane is empty: the lane is done.
    Done,
}

/// Whether an attempt reached the upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// It answered (with any status): it is up.
    Answered,
    /// It could not be reached (connect, TLS, stream error): it is down.
    Unreachable,
    /// The caller went away, or the call was never sent: state unchanged.
    NoAnswer,
    /// Nothing answered within the forward timeout: reachable but hung,
    /// shown down (as an unreachable one) until it answers again. Left
    /// `up`, a hung tee upstream looked healthy while nothing got through.
    TimedOut,
}

/// What the idle check is to do ([`Upstream::probe_due`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    Due,
    NotDue,
    /// The upstream's input closed: shutting down.
    Stop,
}

/// How an attempt ended, for the counters.
pub(crate) enum Finish {
    Delivered {
        attempts: u32,
        latency: Duration,
    },
    Failed {
        code: Code,
        message: Arc<str>,
        attempts: u32,
        reach: Reach,
        /// Upstream latency when it answered.
        latency: Option<Duration>,
    },
}

struct Inner {
    accepted: u64,
    delivered: u64,
    failed: u64,
    dropped: u64,
    retries: u64,
    queued: usize,
    lanes: Vec<VecDeque<Arc<AlertRecord>>>,
    /// The alerts each lane is sending (in flight): one, or a run of
    /// identical requests.
    lane_current: Vec<Vec<u64>>,
    /// Alerts being proxied (sender waiting).
    direct: HashSet<u64>,
    input_closed: bool,
    state: UpstreamState,
    state_since: Instant,
    last_error: Option<(Arc<str>, Instant)>,
    /// Answers received (any status): tells an outage from a bad alert.
    answers: u64,
    /// When the upstream last answered (any status).
    last_answer: Option<Instant>,
    /// When an alert was last delivered, and when the upstream last
    /// answered one with a failure: an upstream that answers but refuses
    /// everything (a wrong token) is up, yet delivers nothing.
    last_delivered: Option<Instant>,
    last_refused: Option<Instant>,
    /// While alerts are in flight: when the upstream was last heard from
    /// (an answer of any status), or when the first of them was sent if it
    /// has not answered since. None when nothing is in flight. A hung
    /// upstream stays `up` until the forward timeout; this says sooner that
    /// it has stopped answering.
    waiting_since: Option<Instant>,
    /// When the last alert in flight settled (or the upstream was made):
    /// how long it has been idle, for the idle check.
    quiet_since: Instant,
    /// Calls timed out, and nothing answered since: `down` that only an
    /// answer to an alert undoes (the idle check's ping does not exercise
    /// the upstream's handler, which may be what hangs).
    timed_out: bool,
    hist_total: Histogram<u64>,
    hist_cur: Histogram<u64>,
    hist_prev: Histogram<u64>,
    hist_rotated: Instant,
    rate_sample: (Instant, u64),
    rate: f64,
    outcomes: OutcomeRing,
    dropped_seqs: SeqRanges,
    failed_seqs: SeqRanges,
}

impl Inner {
    fn in_flight(&self) -> usize {
        self.lane_current.iter().map(Vec::len).sum::<usize>() + self.direct.len()
    }

    /// Nothing queued and nothing in flight: only the idle check can tell
    /// how the upstream is.
    fn idle(&self) -> bool {
        self.queued == 0 && self.in_flight() == 0
    }

    /// Something was put in flight: the wait for an answer starts now,
    /// unless one was already running.
    fn sending(&mut self) {
        if self.waiting_since.is_none() {
            self.waiting_since = Some(Instant::now());
        }
    }

    /// An alert left flight; `answered`: the upstream answered it.
    fn settled(&mut self, answered: bool, now: Instant) {
        if self.in_flight() == 0 {
            self.waiting_since = None;
            self.quiet_since = now;
        } else if answered {
            self.waiting_since = Some(now);
        }
    }

    fn set_state(&mut self, state: UpstreamState, now: Instant) {
        if self.state != state {
            self.state = state;
            self.state_since = now;
        }
    }

    fn reached(&mut self, reach: Reach, now: Instant) {
        match reach {
            Reach::Answered => {
                self.answers += 1;
                self.last_answer = Some(now);
                self.timed_out = false;
                if self.waiting_since.is_some() {
                    self.waiting_since = Some(now);
                }
                self.set_state(UpstreamState::Up, now);
            }
            Reach::Unreachable => self.set_state(UpstreamState::Down, now),
            Reach::TimedOut => {
                self.timed_out = true;
                self.set_state(UpstreamState::Down, now);
            }
            Reach::NoAnswer => {}
        }
    }

    fn set_error(&mut self, message: Arc<str>, now: Instant) {
        self.last_error = Some((message, now));
    }

    fn record_latency(&mut self, latency: Duration, now: Instant) {
        if now.duration_since(self.hist_rotated) >= LATENCY_WINDOW {
            std::mem::swap(&mut self.hist_cur, &mut self.hist_prev);
            self.hist_cur.reset();
            self.hist_rotated = now;
        }
        let us = (latency.as_micros() as u64).clamp(1, 600_000_000);
        let _ = self.hist_cur.record(us);
        let _ = self.hist_total.record(us);
    }
}

/// One upstream's shared state; see the module docs.
pub struct Upstream {
    pub(crate) url: String,
    pub(crate) role: Role,
    capacity: usize,
    inner: Mutex<Inner>,
    pub(crate) wake: Vec<Notify>,
    /// Requests in flight at once (`--forward-concurrency`), over all lanes
    /// and runs.
    pub(crate) permits: Semaphore,
    /// Per lane: an attempt of the alerts it holds may have reached the
    /// upstream (one is under way, or one ended in a way that does not
    /// say it did not). False while every attempt so far was refused
    /// before sending: at exit those alerts are `queued` (never sent), not
    /// `in_flight` (a review: a dead upstream's alerts read "may have
    /// arrived"). Atomics: set by the lane around each attempt, no lock.
    pub(crate) lane_sent: Vec<std::sync::atomic::AtomicBool>,
    /// Read without the lock by the pacing check on the ingest path.
    pub(crate) backlog: Backlog,
}

/// Whether an upstream is behind, published (under the upstream's lock) for
/// lock-free reading by [`super::pace`], and a wake-up for held senders.
pub(crate) struct Backlog {
    queued: AtomicUsize,
    /// The last seq the feeder handed over (queued, dropped or lost).
    fed: AtomicU64,
    up: AtomicBool,
    closed: AtomicBool,
    /// µs after `base` of the upstream's last answer (0: none yet).
    last_answer_us: AtomicU64,
    base: Instant,
    /// Without an answer for this long (µs) the upstream is stalled, not
    /// behind: held senders go (see [`Backlog::behind`]).
    stall_us: AtomicU64,
    /// Alerts waiting (queued, or accepted but not yet fed) at or above
    /// which a healthy upstream counts as behind.
    high: usize,
    /// Senders being held; wake-ups are only sent while there are some.
    pub(crate) waiting: AtomicUsize,
    /// Wakes as many held senders as there is room for below the mark when
    /// the queue shrinks, and all of them when the state changes; each
    /// checks its own alert again.
    pub(crate) room: Notify,
    /// Sender answers held because this upstream was behind.
    pub(crate) held: AtomicU64,
    /// … of which were released by a time bound (the hold limit, or the
    /// upstream stalling), not by room in the queue.
    pub(crate) held_to_limit: AtomicU64,
}

impl Backlog {
    fn new(capacity: usize) -> Backlog {
        Backlog {
            queued: AtomicUsize::new(0),
            fed: AtomicU64::new(0),
            up: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            last_answer_us: AtomicU64::new(0),
            base: Instant::now(),
            stall_us: AtomicU64::new(DEFAULT_STALL.as_micros() as u64),
            high: capacity.div_ceil(2).max(1),
            waiting: AtomicUsize::new(0),
            room: Notify::new(),
            held: AtomicU64::new(0),
            held_to_limit: AtomicU64::new(0),
        }
    }

    /// Whether the upstream is behind as seen by alert `seq`: healthy (its
    /// last attempt got an answer, and it answered within the stall time)
    /// and at least half a queue waits ahead of `seq`, counting alerts the
    /// feeder has not handed over yet (it works in batches, and a fast
    /// sender would otherwise slip past). An upstream that is down, or that
    /// stopped answering (hung), is never behind: holding senders is for an
    /// upstream that delivers, only slower — an outage must not stall them.
    pub(crate) fn behind(&self, seq: u64) -> bool {
        self.behind_at(seq, Instant::now())
    }

    pub(crate) fn behind_at(&self, seq: u64, now: Instant) -> bool {
        if !self.up.load(Ordering::Relaxed) || self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let unfed = seq.saturating_sub(self.fed.load(Ordering::Relaxed));
        if (self.queued.load(Ordering::Relaxed) as u64).saturating_add(unfed) < self.high as u64 {
            return false;
        }
        // Only now the clock: this is the rare path.
        let last = self.last_answer_us.load(Ordering::Relaxed);
        let since =
            (now.saturating_duration_since(self.base).as_micros() as u64).saturating_sub(last);
        last > 0 && since < self.stall_us.load(Ordering::Relaxed)
    }

    /// How long without an answer makes the upstream stalled.
    pub(crate) fn stall(&self) -> Duration {
        Duration::from_micros(self.stall_us.load(Ordering::Relaxed))
    }

    pub(crate) fn set_stall(&self, d: Duration) {
        self.stall_us
            .store((d.as_micros() as u64).max(1), Ordering::Relaxed);
    }
}

/// `text` without a leading gRPC code name (`Unavailable: …` → `…`), as
/// error lines are written by `send::status_text`.
fn without_code(text: &str) -> &str {
    const CODES: [&str; 17] = [
        "Ok",
        "Cancelled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    match text.split_once(": ") {
        Some((code, rest)) if CODES.contains(&code) => rest,
        _ if CODES.contains(&text) => "",
        _ => text,
    }
}

/// Whether two alerts are the same request on the wire (same key, status
/// and details). Names are interned and details shared per key, so this is
/// mostly pointer comparisons.
fn same_request(a: &AlertRecord, b: &AlertRecord) -> bool {
    a.pass == b.pass
        && a.owner == b.owner
        && a.repo == b.repo
        && a.policy == b.policy
        && a.details == b.details
}

impl Upstream {
    pub(crate) fn new(
        url: String,
        role: Role,
        capacity: usize,
        lanes: usize,
        outcomes: usize,
    ) -> Upstream {
        let now = Instant::now();
        let lanes = lanes.max(1);
        Upstream {
            url,
            role,
            capacity,
            inner: Mutex::new(Inner {
                accepted: 0,
                delivered: 0,
                failed: 0,
                dropped: 0,
                retries: 0,
                queued: 0,
                lanes: (0..lanes).map(|_| VecDeque::new()).collect(),
                lane_current: vec![Vec::new(); lanes],
                direct: HashSet::new(),
                input_closed: false,
                state: UpstreamState::Connecting,
                state_since: now,
                last_error: None,
                answers: 0,
                last_answer: None,
                last_delivered: None,
                last_refused: None,
                waiting_since: None,
                quiet_since: now,
                timed_out: false,
                hist_total: histogram(),
                hist_cur: histogram(),
                hist_prev: histogram(),
                hist_rotated: now,
                rate_sample: (now, 0),
                rate: 0.0,
                outcomes: OutcomeRing::new(outcomes),
                dropped_seqs: SeqRanges::default(),
                failed_seqs: SeqRanges::default(),
            }),
            wake: (0..lanes).map(|_| Notify::new()).collect(),
            permits: Semaphore::new(lanes),
            lane_sent: (0..lanes)
                .map(|_| std::sync::atomic::AtomicBool::new(false))
                .collect(),
            backlog: Backlog::new(capacity),
        }
    }

    /// Publishes the backlog for the pacing check and wakes held senders
    /// when the queue shrank or the state changed. Call with the lock held,
    /// after a change to the queue or the state.
    fn publish(&self, g: &Inner) {
        let b = &self.backlog;
        if let Some(t) = g.last_answer {
            // +1: 0 means "no answer yet".
            let us = t.saturating_duration_since(b.base).as_micros() as u64 + 1;
            b.last_answer_us.store(us, Ordering::Relaxed);
        }
        let freed = b
            .queued
            .swap(g.queued, Ordering::Relaxed)
            .saturating_sub(g.queued);
        let up = g.state == UpstreamState::Up;
        let changed = b.up.swap(up, Ordering::Relaxed) != up
            || b.closed.swap(g.input_closed, Ordering::Relaxed) != g.input_closed;
        let waiting = b.waiting.load(Ordering::Relaxed);
        if waiting == 0 {
            return;
        }
        if changed {
            // Down, hung or closed: nobody should wait any more.
            b.room.notify_waiters();
        } else if freed > 0 && g.queued < b.high {
            // As many held senders as there is room below the mark:
            // releasing all of them at once lets them all send at once, and
            // the queue overshoots; waking one that is still behind is
            // wasted.
            for _ in 0..(b.high - g.queued).min(waiting) {
                b.room.notify_one();
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The lane of an alert's key: alerts of one key always share a lane,
    /// which sends one at a time, so they arrive in order.
    fn lane_of(&self, r: &AlertRecord, lanes: usize) -> usize {
        let mut h = std::hash::DefaultHasher::new();
        r.owner.hash(&mut h);
        r.repo.hash(&mut h);
        r.policy.hash(&mut h);
        (h.finish() % lanes as u64) as usize
    }

    /// Accepts a batch from the hub: queued, or dropped when full. Fills
    /// `woken` with the lanes that got work.
    pub(crate) fn enqueue(&self, batch: &mut Vec<Arc<AlertRecord>>, woken: &mut Vec<bool>) {
        let mut g = self.lock();
        let inner = &mut *g;
        let lanes = inner.lanes.len();
        woken.clear();
        woken.resize(lanes, false);
        if let Some(last) = batch.last() {
            self.backlog.fed.store(last.seq, Ordering::Relaxed);
        }
        for r in batch.drain(..) {
            inner.accepted += 1;
            if inner.queued < self.capacity {
                let lane = self.lane_of(&r, lanes);
                inner.outcomes.set(r.seq, Outcome::Queued);
                inner.lanes[lane].push_back(r);
                inner.queued += 1;
                woken[lane] = true;
            } else {
                inner.dropped += 1;
                inner.dropped_seqs.insert(r.seq);
                inner
                    .outcomes
                    .set(r.seq, Outcome::Dropped(DropReason::QueueFull));
            }
        }
        self.publish(inner);
    }

    /// The hub's queue overflowed: `n` alerts from `first` on never reached
    /// this forwarder.
    pub(crate) fn lagged(&self, first: u64, n: u64) {
        if n == 0 {
            return;
        }
        let mut g = self.lock();
        self.backlog.fed.store(first + n - 1, Ordering::Relaxed);
        g.accepted += n;
        g.dropped += n;
        g.dropped_seqs.insert_range(first, first + n - 1);
        let last = first + n - 1;
        // Only the newest fit in the ring anyway.
        let span = g.outcomes.slots.len() as u64;
        for seq in last.saturating_sub(span - 1).max(first)..=last {
            g.outcomes.set(seq, Outcome::Dropped(DropReason::Lagged));
        }
    }

    pub(crate) fn close_input(&self) {
        {
            let mut g = self.lock();
            g.input_closed = true;
            self.publish(&g);
        }
        // Held senders go: nothing more will be queued.
        self.backlog.room.notify_waiters();
        for w in &self.wake {
            w.notify_one();
        }
    }

    /// Takes the next alert of a lane into `run`, together with the
    /// alerts right behind it that are the very same request (same key,
    /// status and details), up to `max`: it is in flight until `finish`.
    ///
    /// Why a run may be sent at once: the upstream cannot tell identical
    /// requests apart, so their order among themselves is unobservable,
    /// and the lane still waits for the whole run before the next,
    /// different alert, so every key's observable order holds. Allstar
    /// repeats a check's result scan after scan, and a client stuck on one
    /// key floods the same request; without runs one key is limited to one
    /// call per round trip.
    pub(crate) fn take(&self, lane: usize, max: usize, run: &mut Vec<Arc<AlertRecord>>) -> Take {
        let mut g = self.lock();
        let inner = &mut *g;
        let Some(first) = inner.lanes[lane].pop_front() else {
            return if inner.input_closed {
                Take::Done
            } else {
                Take::Empty
            };
        };
        run.clear();
        run.push(first);
        while run.len() < max.max(1)
            && let Some(next) = inner.lanes[lane].front()
            && same_request(next, &run[0])
        {
            if let Some(next) = inner.lanes[lane].pop_front() {
                run.push(next);
            }
        }
        inner.queued -= run.len();
        // Not sent until an attempt starts (`send::deliver`).
        self.lane_sent[lane].store(false, Ordering::Relaxed);
        let current = &mut inner.lane_current[lane];
        current.clear();
        for r in run.iter() {
            current.push(r.seq);
            inner.outcomes.set(r.seq, Outcome::InFlight { attempts: 0 });
        }
        inner.sending();
        self.publish(inner);
        Take::Run
    }

    /// A proxied alert: accepted and in flight at once.
    pub(crate) fn begin_direct(&self, seq: u64) {
        let mut g = self.lock();
        g.accepted += 1;
        g.direct.insert(seq);
        g.sending();
        g.outcomes.set(seq, Outcome::InFlight { attempts: 0 });
    }

    /// Answers seen so far (any status).
    pub(crate) fn answers(&self) -> u64 {
        self.lock().answers
    }

    /// An attempt failed and the alert will be tried again.
    pub(crate) fn retrying(&self, seq: u64, attempts: u32, message: Arc<str>, reach: Reach) {
        let now = Instant::now();
        let mut g = self.lock();
        g.retries += 1;
        g.reached(reach, now);
        g.set_error(message, now);
        g.outcomes.set(seq, Outcome::InFlight { attempts });
        self.publish(&g);
    }

    /// The alert's fate is decided. `lane` is None for proxied alerts.
    pub(crate) fn finish(&self, lane: Option<usize>, seq: u64, how: Finish) {
        let now = Instant::now();
        let mut g = self.lock();
        match lane {
            Some(l) => {
                let current = &mut g.lane_current[l];
                if let Some(i) = current.iter().position(|&s| s == seq) {
                    current.swap_remove(i);
                }
            }
            None => {
                g.direct.remove(&seq);
            }
        }
        let answered = match &how {
            Finish::Delivered { .. } => true,
            Finish::Failed { reach, .. } => *reach == Reach::Answered,
        };
        g.settled(answered, now);
        match how {
            Finish::Delivered { attempts, latency } => {
                g.delivered += 1;
                g.answers += 1;
                g.timed_out = false;
                g.last_answer = Some(now);
                g.last_delivered = Some(now);
                g.set_state(UpstreamState::Up, now);
                g.record_latency(latency, now);
                g.outcomes
                    .set(seq, Outcome::Delivered { attempts, latency });
            }
            Finish::Failed {
                code,
                message,
                attempts,
                reach,
                latency,
            } => {
                g.failed += 1;
                g.failed_seqs.insert(seq);
                g.reached(reach, now);
                if reach == Reach::Answered {
                    g.last_refused = Some(now);
                }
                if let Some(l) = latency {
                    g.record_latency(l, now);
                }
                // The error line leads with its code; the outcome keeps
                // the code apart (`describe` shows it), so not twice.
                let detail: Arc<str> = without_code(&message).into();
                g.set_error(message, now);
                g.outcomes.set(
                    seq,
                    Outcome::Failed {
                        code,
                        message: detail,
                        attempts,
                    },
                );
            }
        }
        self.publish(&g);
    }

    /// Whether the idle check should look at this upstream now: nothing
    /// queued or in flight for `every` (the answers to alerts tell its state
    /// better), or never used yet (a mistyped address is found before the
    /// first alert).
    pub(crate) fn probe_due(&self, every: Duration) -> Probe {
        let g = self.lock();
        if g.input_closed {
            return Probe::Stop;
        }
        let idle = g.idle();
        let unused = g.answers == 0 && g.accepted == 0;
        if idle && (unused || g.quiet_since.elapsed() >= every) {
            Probe::Due
        } else {
            Probe::NotDue
        }
    }

    /// The idle check found the upstream unreachable or not answering:
    /// down, unless alerts are being sent (their outcome decides).
    pub(crate) fn probe_failed(&self, message: &str) {
        let now = Instant::now();
        let mut g = self.lock();
        if !g.idle() {
            return;
        }
        g.set_state(UpstreamState::Down, now);
        // What it finds now (refused, then hung, say), kept with its first
        // time while it finds the same.
        if g.last_error.as_ref().is_none_or(|(m, _)| **m != *message) {
            g.set_error(message.into(), now);
        }
        self.publish(&g);
    }

    /// The idle check reached the upstream (its HTTP/2 server answered a
    /// ping; for `https://`, a connection with its TLS): up, from `connecting` or
    /// from a `down` the check or a refused connection set. Not from a
    /// `down` that timed-out calls set: only an answer undoes that.
    pub(crate) fn probe_reached(&self) {
        let now = Instant::now();
        let mut g = self.lock();
        if !g.idle() || g.timed_out || g.state == UpstreamState::Up {
            return;
        }
        g.set_state(UpstreamState::Up, now);
        self.publish(&g);
    }

    /// The outcome of one alert, if still tracked.
    pub fn outcome(&self, seq: u64) -> Option<Outcome> {
        self.lock().outcomes.get(seq)
    }

    pub fn snapshot(&self) -> UpstreamSnapshot {
        let now = Instant::now();
        let mut g = self.lock();
        let dt = now.duration_since(g.rate_sample.0);
        if dt >= RATE_WINDOW {
            g.rate = (g.delivered - g.rate_sample.1) as f64 / dt.as_secs_f64();
            g.rate_sample = (now, g.delivered);
        }
        let mut recent = g.hist_cur.clone();
        let _ = recent.add(&g.hist_prev);
        let refusing = g.state == UpstreamState::Up
            && g.last_refused
                .is_some_and(|r| g.last_delivered.is_none_or(|d| r > d));
        let unsent = self.held_unsent(&g);
        UpstreamSnapshot {
            url: self.url.clone(),
            role: self.role,
            state: g.state,
            state_for: now.duration_since(g.state_since),
            refusing,
            // Down says more (and an unreachable upstream was sent
            // nothing to answer).
            unanswered_for: g
                .waiting_since
                .filter(|_| g.in_flight() > 0 && g.state != UpstreamState::Down)
                .map(|t| now.saturating_duration_since(t)),
            accepted: g.accepted,
            delivered: g.delivered,
            failed: g.failed,
            dropped: g.dropped,
            // What lanes hold and never sent is queued, as the exit
            // report says (`undelivered`): a dead upstream's panel read
            // `in flight 1` where the exit line said `still queued 1`.
            queued: (g.queued + unsent) as u64,
            in_flight: (g.in_flight() - unsent) as u64,
            retries: g.retries,
            queue_capacity: self.capacity,
            rate: g.rate,
            latency_p50: quantile(&recent, 0.50),
            latency_p99: quantile(&recent, 0.99),
            latency_p50_total: quantile(&g.hist_total, 0.50),
            latency_p99_total: quantile(&g.hist_total, 0.99),
            last_error: g
                .last_error
                .as_ref()
                .map(|(m, _)| crate::sanitize::line(m).into_owned()),
            last_error_age: g.last_error.as_ref().map(|(_, t)| now.duration_since(*t)),
            held: self.backlog.held.load(Ordering::Relaxed),
            held_to_limit: self.backlog.held_to_limit.load(Ordering::Relaxed),
            holding: self.backlog.waiting.load(Ordering::Relaxed) as u64,
        }
    }

    /// Whether an attempt of what `lane` holds may have reached the
    /// upstream (see `lane_sent`).
    fn lane_was_sent(&self, lane: usize) -> bool {
        self.lane_sent
            .get(lane)
            .is_none_or(|s| s.load(Ordering::Relaxed))
    }

    /// Alerts lanes hold whose every attempt was refused before sending.
    fn held_unsent(&self, g: &Inner) -> usize {
        g.lane_current
            .iter()
            .enumerate()
            .filter(|&(l, _)| !self.lane_was_sent(l))
            .map(|(_, seqs)| seqs.len())
            .sum()
    }

    /// Exactly what did not reach this upstream (call after the senders
    /// stopped, so the sets are final).
    pub fn undelivered(&self) -> Undelivered {
        let g = self.lock();
        let sent = |lane: usize| self.lane_was_sent(lane);
        let holding = |sent_or_not: bool| {
            g.lane_current
                .iter()
                .enumerate()
                .filter(move |&(l, _)| sent(l) == sent_or_not)
                .flat_map(|(_, seqs)| seqs.iter().copied())
        };
        let queued = SeqRanges::from_seqs(
            g.lanes
                .iter()
                .flatten()
                .map(|r| r.seq)
                .chain(holding(false)),
        );
        let in_flight = SeqRanges::from_seqs(holding(true).chain(g.direct.iter().copied()));
        Undelivered {
            url: self.url.clone(),
            dropped: g.dropped_seqs.clone(),
            failed: g.failed_seqs.clone(),
            queued,
            in_flight,
        }
    }
}

#[cfg(any(test, feature = "test-support"))]
impl super::ForwardStats {
    /// Forwarding stats that show exactly the given snapshots, for tests and
    /// screenshots: nothing is sent and nothing changes afterwards.
    ///
    /// Per upstream, from its [`UpstreamSnapshot`]: `url`, `role`, `state`
    /// and how long (`state_for`), the counters (`accepted` is their sum, so
    /// they balance; `in_flight` alerts get placeholder seqs), `retries`,
    /// `queue_capacity`, `rate` (kept as given), the recent latency
    /// `latency_p50`/`latency_p99` (also the whole-run ones; the `*_total`
    /// fields are ignored), `refusing`, `unanswered_for`, `last_error` with its age, `held`,
    /// `held_to_limit` and `holding`. The outcomes list sets
    /// per-alert outcomes `(seq, outcome)` for [`super::ForwardStats::outcomes`].
    pub fn for_display(
        mode: crate::forward::ForwardMode,
        upstreams: Vec<(UpstreamSnapshot, Vec<(u64, Outcome)>)>,
    ) -> super::ForwardStats {
        let now = Instant::now();
        let ago = |d: Duration| now.checked_sub(d).unwrap_or(now);
        let upstreams = upstreams
            .into_iter()
            .map(|(s, outcomes)| {
                let up =
                    Upstream::new(s.url.clone(), s.role, s.queue_capacity, 1, DEFAULT_OUTCOMES);
                {
                    let mut g = up.lock();
                    g.delivered = s.delivered;
                    g.failed = s.failed;
                    g.dropped = s.dropped;
                    g.retries = s.retries;
                    g.queued = s.queued as usize;
                    g.direct = (0..s.in_flight).map(|i| u64::MAX - i).collect();
                    g.waiting_since = s.unanswered_for.map(ago);
                    if s.refusing {
                        // Refused after its last delivery.
                        g.last_delivered = None;
                        g.last_refused = Some(now);
                    }
                    g.accepted = s.delivered + s.failed + s.dropped + s.queued + s.in_flight;
                    g.answers = s.delivered + s.failed;
                    g.state = s.state;
                    g.state_since = ago(s.state_for);
                    g.last_error = s
                        .last_error
                        .as_deref()
                        .map(|m| (Arc::from(m), ago(s.last_error_age.unwrap_or_default())));
                    // 98 % at p50 and 2 % at p99: those are the quantiles.
                    for (latency, n) in [(s.latency_p50, 98), (s.latency_p99, 2)] {
                        if let Some(l) = latency {
                            for _ in 0..n {
                                g.record_latency(l, now);
                            }
                        }
                    }
                    g.rate = s.rate;
                    // A sample "in the future": the rate is never recomputed.
                    g.rate_sample = (
                        now.checked_add(Duration::from_secs(365 * 86_400))
                            .unwrap_or(now),
                        s.delivered,
                    );
                    for (seq, o) in outcomes {
                        g.outcomes.set(seq, o);
                    }
                }
                let b = &up.backlog;
                b.held.store(s.held, Ordering::Relaxed);
                b.held_to_limit.store(s.held_to_limit, Ordering::Relaxed);
                b.waiting.store(s.holding as usize, Ordering::Relaxed);
                Arc::new(up)
            })
            .collect();
        super::ForwardStats {
            mode,
            upstreams,
            remote: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hung upstream is said to be one within seconds, not at the forward
    /// timeout: the wait for an answer runs while anything is in flight and
    /// restarts at each answer. On old, nothing measured it (a review saw a
    /// hung upstream `up` until the timeout marked it down).
    #[test]
    fn the_wait_for_an_answer_runs_while_alerts_are_in_flight() {
        let u = Upstream::new("http://u".into(), Role::Proxy, 10, 1, 16);
        let long_ago = |u: &Upstream| {
            u.lock().waiting_since = Instant::now().checked_sub(Duration::from_secs(10));
        };
        assert_eq!(u.snapshot().unanswered_for, None, "nothing in flight");
        u.begin_direct(1);
        u.begin_direct(2);
        long_ago(&u);
        let s = u.snapshot();
        assert!(s.unanswered_for >= Some(Duration::from_secs(10)), "{s:?}");
        assert!(s.not_answering(), "hung before its first answer: {s:?}");
        u.lock().set_state(UpstreamState::Up, Instant::now());
        assert!(u.snapshot().not_answering());
        // Down says more: no wait is reported then.
        u.lock().set_state(UpstreamState::Down, Instant::now());
        assert_eq!(u.snapshot().unanswered_for, None);
        u.lock().set_state(UpstreamState::Up, Instant::now());

        // A call that could not reach it is no answer: the wait goes on.
        u.retrying(1, 1, "refused".into(), Reach::Unreachable);
        u.lock().set_state(UpstreamState::Up, Instant::now());
        assert!(
            u.snapshot().not_answering(),
            "an unreachable attempt is no answer"
        );

        // One answered: the other's wait starts again from that answer.
        let delivered = Finish::Delivered {
            attempts: 1,
            latency: Duration::from_millis(1),
        };
        u.finish(None, 1, delivered);
        let s = u.snapshot();
        assert!(
            s.unanswered_for
                .is_some_and(|d| d < Duration::from_secs(10))
                && !s.not_answering(),
            "{s:?}"
        );

        // An answer that is a refusal is an answer too.
        long_ago(&u);
        u.retrying(2, 1, "busy".into(), Reach::Answered);
        assert!(!u.snapshot().not_answering());

        // Nothing in flight: no wait, whatever happened before.
        long_ago(&u);
        let failed = Finish::Failed {
            code: Code::DeadlineExceeded,
            message: "timed out".into(),
            attempts: 3,
            reach: Reach::TimedOut,
            latency: None,
        };
        u.finish(None, 2, failed);
        assert_eq!(u.snapshot().unanswered_for, None);
        u.begin_direct(3);
        assert!(
            u.snapshot().unanswered_for < Some(Duration::from_secs(10)),
            "a new wait"
        );
    }

    /// The idle check's verdicts: a reached upstream is up (from
    /// connecting, or a down that a refused connection or the check set),
    /// but not over timed-out calls, and never while alerts are in flight;
    /// a failed check downs only an idle upstream.
    #[test]
    fn the_idle_check_moves_only_an_idle_upstream() {
        let u = Upstream::new("http://u".into(), Role::Tee, 10, 1, 16);
        let state = |u: &Upstream| u.snapshot().state;
        u.probe_reached();
        assert_eq!(
            state(&u),
            UpstreamState::Up,
            "reachable before its first alert"
        );
        u.probe_failed("Unavailable: gone (found while idle)");
        assert_eq!(state(&u), UpstreamState::Down);
        // Down, it says what it finds now.
        u.probe_failed("Unavailable: hung (found while idle)");
        assert_eq!(
            u.snapshot().last_error.as_deref(),
            Some("Unavailable: hung (found while idle)")
        );
        u.probe_reached();
        assert_eq!(state(&u), UpstreamState::Up, "back");

        // In flight: the calls decide, not the check.
        u.begin_direct(1);
        u.probe_failed("Unavailable: gone (found while idle)");
        assert_eq!(state(&u), UpstreamState::Up);
        u.retrying(1, 1, "refused".into(), Reach::Unreachable);
        u.probe_reached();
        assert_eq!(state(&u), UpstreamState::Down);
        let failed = |reach| Finish::Failed {
            code: Code::Unavailable,
            message: "x".into(),
            attempts: 2,
            reach,
            latency: None,
        };
        u.finish(None, 1, failed(Reach::Unreachable));
        u.probe_reached();
        assert_eq!(
            state(&u),
            UpstreamState::Up,
            "refused connections, then reached"
        );

        // Calls that timed out: a ping does not show the handler answers.
        u.begin_direct(2);
        u.finish(None, 2, failed(Reach::TimedOut));
        assert_eq!(state(&u), UpstreamState::Down);
        u.probe_reached();
        assert_eq!(
            state(&u),
            UpstreamState::Down,
            "only an answer undoes a timeout"
        );
        u.begin_direct(3);
        u.finish(
            None,
            3,
            Finish::Delivered {
                attempts: 1,
                latency: Duration::from_millis(1),
            },
        );
        assert_eq!(state(&u), UpstreamState::Up);
    }

    #[test]
    fn ranges_merge_and_count() {
        let mut r = SeqRanges::default();
        for s in [5, 3, 4, 10, 1, 11, 9, 2] {
            r.insert(s);
        }
        assert_eq!(r.ranges(), vec![(1, 5), (9, 11)]);
        assert_eq!(r.count(), 8);
        r.insert_range(6, 8);
        assert_eq!(r.ranges(), vec![(1, 11)]);
        r.insert_range(20, 30);
        r.insert_range(15, 25);
        assert_eq!(r.ranges(), vec![(1, 11), (15, 30)]);
    }

    #[test]
    fn the_ring_keeps_newer_outcomes() {
        let mut ring = OutcomeRing::new(4);
        ring.set(1, Outcome::Queued);
        assert_eq!(ring.get(1), Some(Outcome::Queued));
        ring.set(5, Outcome::Dropped(DropReason::QueueFull));
        assert_eq!(ring.get(1), None, "evicted by a newer seq");
        ring.set(1, Outcome::InFlight { attempts: 0 });
        assert_eq!(ring.get(5), Some(Outcome::Dropped(DropReason::QueueFull)));
    }

    /// Records as the store makes them: names interned, details shared.
    fn records(alerts: &[(&str, bool, &str)]) -> Vec<Arc<AlertRecord>> {
        let mut store = crate::model::Store::default();
        alerts
            .iter()
            .map(|(repo, pass, details)| {
                let a = crate::model::NewAlert {
                    owner: "o".into(),
                    repo: (*repo).into(),
                    policy: "p".into(),
                    details: (*details).into(),
                    pass: *pass,
                };
                Arc::new(store.ingest(&a, 0, None).unwrap())
            })
            .collect()
    }

    fn queued(up: &Upstream, alerts: &[(&str, bool, &str)]) {
        let mut batch = records(alerts);
        let mut woken = Vec::new();
        up.enqueue(&mut batch, &mut woken);
    }

    fn delivered(up: &Upstream, seq: u64) {
        let latency = Duration::from_millis(1);
        up.finish(
            Some(0),
            seq,
            Finish::Delivered {
                attempts: 1,
                latency,
            },
        );
    }

    fn seqs(run: &[Arc<AlertRecord>]) -> Vec<u64> {
        run.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn a_lane_sends_a_run_of_identical_requests_at_once_and_nothing_else() {
        let up = Upstream::new("u".into(), Role::Tee, 100, 1, 64);
        // 1–3 the same request, 4 other details, 5 other status, 6–7 the
        // same as 1 again, 8 another key.
        queued(
            &up,
            &[
                ("r", false, "x"),
                ("r", false, "x"),
                ("r", false, "x"),
                ("r", false, "y"),
                ("r", true, "y"),
                ("r", false, "x"),
                ("r", false, "x"),
                ("s", false, "x"),
            ],
        );
        let mut run = Vec::new();
        assert!(matches!(up.take(0, 2, &mut run), Take::Run));
        assert_eq!(seqs(&run), [1, 2], "capped at max");
        // Taken and not attempted yet: still queued (not sent).
        let snap = up.snapshot();
        assert_eq!((snap.queued, snap.in_flight), (8, 0));
        assert!(snap.balances());
        // An attempt under way: in flight.
        up.lane_sent[0].store(true, Ordering::Relaxed);
        let snap = up.snapshot();
        assert_eq!((snap.queued, snap.in_flight), (6, 2));
        assert!(snap.balances());
        for r in &run {
            delivered(&up, r.seq);
        }
        let mut runs = Vec::new();
        while let Take::Run = up.take(0, 64, &mut run) {
            runs.push(seqs(&run));
            for r in &run {
                delivered(&up, r.seq);
            }
        }
        assert_eq!(runs, [vec![3], vec![4], vec![5], vec![6, 7], vec![8]]);
        let snap = up.snapshot();
        assert_eq!((snap.delivered, snap.queued, snap.in_flight), (8, 0, 0));
    }

    #[test]
    fn a_healthy_upstream_is_behind_at_half_its_queue_and_a_down_one_never() {
        let up = Upstream::new("u".into(), Role::Tee, 4, 1, 64);
        queued(&up, &[("a", true, ""), ("b", true, ""), ("c", true, "")]);
        assert!(!up.backlog.behind(3), "connecting: not behind");
        let mut run = Vec::new();
        let _ = up.take(0, 1, &mut run);
        delivered(&up, run[0].seq);
        assert!(up.backlog.behind(3), "up, 2 of 4 queued");
        let _ = up.take(0, 1, &mut run);
        assert!(!up.backlog.behind(3), "1 of 4 queued");
        assert!(up.backlog.behind(4), "1 queued, 1 not fed yet");
        queued(&up, &[("d", true, "")]);
        assert!(up.backlog.behind(4));
        up.finish(
            Some(0),
            run[0].seq,
            Finish::Failed {
                code: Code::Unavailable,
                message: "connection refused".into(),
                attempts: 1,
                reach: Reach::Unreachable,
                latency: None,
            },
        );
        assert!(!up.backlog.behind(100), "down: senders are never held");
    }

    #[test]
    fn an_upstream_silent_for_the_stall_time_is_not_behind() {
        let up = Upstream::new("u".into(), Role::Tee, 2, 1, 64);
        up.backlog.set_stall(Duration::from_secs(1));
        queued(&up, &[("a", true, ""), ("b", true, ""), ("c", true, "")]);
        let mut run = Vec::new();
        let _ = up.take(0, 1, &mut run);
        delivered(&up, run[0].seq);
        let now = Instant::now();
        assert!(up.backlog.behind_at(3, now), "answered just now");
        assert!(
            !up.backlog.behind_at(3, now + Duration::from_secs(2)),
            "no answer for 2 s: stalled, senders go"
        );
    }

    #[test]
    fn a_failed_outcome_names_its_code_once() {
        let up = Upstream::new("u".into(), Role::Tee, 10, 1, 64);
        queued(&up, &[("r", false, "x")]);
        let mut run = Vec::new();
        let _ = up.take(0, 1, &mut run);
        up.finish(
            Some(0),
            run[0].seq,
            Finish::Failed {
                code: Code::InvalidArgument,
                message: "InvalidArgument: details too long".into(),
                attempts: 1,
                reach: Reach::Answered,
                latency: None,
            },
        );
        let shown = up.outcome(run[0].seq).unwrap().describe();
        assert_eq!(shown, "failed: InvalidArgument: details too long");
        assert_eq!(
            up.snapshot().last_error.as_deref(),
            Some("InvalidArgument: details too long"),
            "the error line keeps its code"
        );
        assert_eq!(without_code("Unknown"), "");
        assert_eq!(without_code("Notacode: x"), "Notacode: x");
    }

    #[test]
    fn outcomes_describe_safely() {
        let o = Outcome::Failed {
            code: Code::InvalidArgument,
            message: "bad\u{1b}[2Jthing".into(),
            attempts: 1,
        };
        let d = o.describe();
        assert!(!d.contains('\u{1b}'), "{d}");
        assert!(d.starts_with("failed: InvalidArgument: bad"), "{d}");
    }
}
