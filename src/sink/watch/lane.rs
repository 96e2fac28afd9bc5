//! The one lane viewers' filters run in.
//!
//! A viewer's filter comes from the network. Within [`Limits::REMOTE`] it
//! is small, yet run over every key a sink holds, and over every live
//! alert, with long details, eight bad regexes can take minutes of CPU. Run
//! straight in the viewer's task, that work held a runtime worker thread
//! until it was done: two such viewers held both workers of a 2-core
//! machine, sends timed out, a gone viewer was noticed ~10 s late and
//! SIGTERM took 51 s (a hostile review's finding).
//!
//! So a viewer's filter runs in [`Slice`]s: while it holds the lane's one
//! turn, and only for [`SLICE_WORK`] bytes of text read, after which the
//! turn goes on (or to another viewer) and the task yields. Viewers together
//! then keep at most one worker busy with filters, whatever they ask, and
//! the rest are ingest's; the task of a viewer whose filter is slow comes
//! back to the runtime (its disconnect, the sink's shutdown) between
//! slices. And an alert's details are read up to [`DETAILS_READ`], so one
//! huge alert cannot make a slice of minutes.
//!
//! Filters without searches or regexes (`status:fail org:ossf`: globs and
//! comparisons, a few per alert) never enter the lane: a second review
//! found such a viewer waiting behind eight others' regexes for minutes.
//! Viewers whose filters search text share the lane's time fairly: a turn
//! goes to the waiting viewer whose filter has run the least time in it (a
//! newcomer starts level with the one being served). A viewer whose search
//! is quick so keeps getting turns while slow ones wait, and never waits
//! more than one other slice per slice of its own, however many slow ones
//! there are; the slow ones fall behind, and are told what they missed.
//! (By bytes read instead, a quick search of 130 KB an alert still waited
//! 50 ms of a slow regex for every two alerts.)
//!
//! [`Limits::REMOTE`]: crate::model::filter::Limits::REMOTE

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::shown::Shown;
use crate::model::AlertRecord;
use crate::model::filter::Filter;

/// Bytes of text a filter reads in one slice, each text term's pass over
/// an alert counted. At the ~10 MB/s of the worst regex seen that is
/// ~25 ms; at the ~1 GB/s of a literal, a quarter of a millisecond.
pub const SLICE_WORK: usize = 256 * 1024;

/// Bytes of an alert's details a viewer's filter searches: the default
/// `--max-details-bytes`. A sink that takes larger details (up to 16 MiB)
/// would otherwise let one alert hold the lane for tens of seconds under a
/// slow regex (a review: 19.5 s, the viewer's cancel unnoticed).
pub const DETAILS_READ: usize = 64 * 1024;

/// The start of `details` a filter searches: at most [`DETAILS_READ`]
/// bytes, cut at a character's start.
pub fn searched(details: &str) -> &str {
    if details.len() <= DETAILS_READ {
        return details;
    }
    let mut end = DETAILS_READ;
    while !details.is_char_boundary(end) {
        end -= 1;
    }
    &details[..end]
}

/// The lane: one per sink, shared by its viewers.
#[derive(Debug, Default)]
pub struct Lane {
    state: Mutex<LaneState>,
}

#[derive(Debug, Default)]
struct LaneState {
    /// A turn is being taken.
    held: bool,
    /// The tag of the turn taken last: where a newcomer's starts.
    clock: u64,

    /// Breaks ties between equal tags, first come first.
    tickets: u64,
    /// Who waits for a turn, by (tag, ticket): the least tag goes next.
    waiting: BTreeMap<(u64, u64), oneshot::Sender<()>>,
}

/// A turn in the lane; given on when dropped.
#[derive(Debug)]
struct Turn<'a> {
    lane: &'a Lane,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.lane.give_on();
    }
}

/// A place in the line for a turn. Dropped before its turn comes (the
/// viewer went), it leaves the line; dropped just after it came, it gives
/// the turn on.
struct Waiter<'a> {
    lane: &'a Lane,
    key: (u64, u64),
    rx: oneshot::Receiver<()>,
    done: bool,
}

impl<'a> Waiter<'a> {
    async fn turn(mut self) -> Turn<'a> {
        // Err only if the lane went first: go on without it.
        let _ = (&mut self.rx).await;
        self.done = true;
        Turn { lane: self.lane }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let left = self.lane.lock().waiting.remove(&self.key).is_some();
        if !left {
            // Handed the turn (under the lock) and gone before taking it.
            self.lane.give_on();
        }
    }
}

impl Lane {
    fn lock(&self) -> std::sync::MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a turn for a viewer whose filter has run `tag` nanoseconds
    /// in the lane. A newcomer's is raised to the clock: it starts level
    /// with the one served, so leaving and coming back gains nothing.
    /// (Raised on every turn, a quick search lost its lead each time the
    /// slow one after it began, and waited for it.)
    async fn turn(&self, tag: &mut u64, new: bool) -> Turn<'_> {
        let waiter = {
            let mut s = self.lock();
            if new {
                *tag = (*tag).max(s.clock);
            }
            if !s.held {
                s.held = true;
                s.clock = *tag;
                return Turn { lane: self };
            }
            let (tx, rx) = oneshot::channel();
            s.tickets += 1;
            let key = (*tag, s.tickets);
            s.waiting.insert(key, tx);
            Waiter {
                lane: self,
                key,
                rx,
                done: false,
            }
        };
        waiter.turn().await
    }

    /// A turn's work is spent, its viewer has run `tag`: it goes on
    /// (`Ok`), or goes to a waiting viewer that has run less, and the
    /// viewer waits in line (`Err`).
    fn renew<'a>(&'a self, turn: Turn<'a>, tag: u64) -> Result<Turn<'a>, Waiter<'a>> {
        let mut s = self.lock();
        while let Some(first) = s.waiting.first_entry() {
            if first.key().0 >= tag {
                break;
            }
            let ((next, _), tx) = first.remove_entry();
            if tx.send(()).is_ok() {
                s.clock = next;
                // Handed on: not given on again when dropped.
                std::mem::forget(turn);
                let (tx, rx) = oneshot::channel();
                s.tickets += 1;
                let key = (tag, s.tickets);
                s.waiting.insert(key, tx);
                return Err(Waiter {
                    lane: self,
                    key,
                    rx,
                    done: false,
                });
            }
        }
        s.clock = tag;
        drop(s);
        Ok(turn)
    }

    /// A turn ended: the next is the waiting viewer's with the least tag.
    fn give_on(&self) {
        let mut s = self.lock();
        while let Some(((tag, _), tx)) = s.waiting.pop_first() {
            if tx.send(()).is_ok() {
                s.clock = tag;
                return;
            }
        }
        s.held = false;
    }

    /// A viewer's way into the lane (it holds a turn between
    /// [`Slice::enter`] and [`Slice::pause`], within one slice's work).
    /// A cheap filter's ([`Filter::is_cheap`]) never enters it.
    pub fn slice(&self, filter: Option<&Filter>) -> Slice<'_> {
        Slice {
            lane: self,
            turn: None,
            spent: 0,
            ran: 0,
            entered: false,
            cheap: filter.is_none_or(Filter::is_cheap),
        }
    }
}

/// One viewer's turns in the lane.
#[derive(Debug)]
pub struct Slice<'a> {
    lane: &'a Lane,
    /// The turn held now, and when it began.
    turn: Option<(Turn<'a>, tokio::time::Instant)>,
    /// Work done in the turn held now.
    spent: usize,
    /// Nanoseconds of the turns before (the tag its next turn waits with).
    ran: u64,
    /// It has had a turn before.
    entered: bool,
    /// The filter is evaluated outside the lane.
    cheap: bool,
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What a filter reads of an alert: the names for key terms (a long
/// filter's globs may go over a name once per 64 bytes of the filter, at
/// worst), and names and details once for each text term (a bare word or
/// a regex).
pub fn work(filter: &Filter, r: &AlertRecord) -> usize {
    let names = r.owner.len() + r.repo.len() + r.policy.len() + 64;
    let globs = (filter.source().len() / 64).max(1);
    // A change of status is also judged as the alert before it, by that
    // alert's text (`passes`).
    let before = r.before.as_ref().map_or(0, |b| b.len().min(DETAILS_READ));
    names * globs + filter.text_terms() * (names + r.details.len().min(DETAILS_READ) + before)
}

impl Slice<'_> {
    /// Before the filter reads `work` bytes: waits for the lane (after
    /// yielding, when this turn's work is spent). True when this call began
    /// a turn: the caller may look whether its viewer is still there.
    pub async fn enter(&mut self, work: usize) -> bool {
        if self.cheap {
            return false;
        }
        // A turn holds up to SLICE_WORK, or one alert that is more.
        if self.turn.is_some() && self.spent + work <= SLICE_WORK {
            self.spent += work;
            return false;
        }
        if let Some((turn, began)) = self.turn.take() {
            // Spent: the turn goes on, unless a viewer waiting has run less
            // (deciding as it ends, not after: a quick search that gave the
            // lane up and queued again found a slow one in it each time).
            self.ran = self.ran.saturating_add(nanos(began.elapsed()));
            let turn = match self.lane.renew(turn, self.ran) {
                Ok(kept) => {
                    // Ingest's moment on this thread.
                    tokio::task::yield_now().await;
                    kept
                }
                Err(waiter) => waiter.turn().await,
            };
            self.turn = Some((turn, tokio::time::Instant::now()));
            self.spent = work;
            return true;
        }
        let new = !self.entered;
        self.entered = true;
        let turn = self.lane.turn(&mut self.ran, new).await;
        self.turn = Some((turn, tokio::time::Instant::now()));
        self.spent = work;
        true
    }

    /// Gives the lane back before the viewer awaits anything else (a
    /// full send buffer): its reader's pace must not hold the others.
    pub fn pause(&mut self) {
        if let Some((turn, began)) = self.turn.take() {
            drop(turn);
            self.ran = self.ran.saturating_add(nanos(began.elapsed()));
            self.spent = 0;
        }
    }

    /// Which of `rows` pass `filter` (all of them without one), in slices;
    /// `shown` is the viewer's (see `super::passes`), never locked across
    /// an await.
    pub async fn passing<'r>(
        &mut self,
        rows: impl Iterator<Item = &'r AlertRecord>,
        filter: Option<&Filter>,
        shown: &Mutex<Shown>,
    ) -> Vec<&'r AlertRecord> {
        let Some(f) = filter else {
            return rows.collect();
        };
        let now = crate::hub::now_ms();
        if self.cheap {
            let mut shown = shown.lock().unwrap_or_else(|e| e.into_inner());
            return rows
                .filter(|r| super::passes(r, Some(f), now, &mut shown))
                .collect();
        }
        let mut out = Vec::new();
        for r in rows {
            self.enter(work(f, r)).await;
            let mut shown = shown.lock().unwrap_or_else(|e| e.into_inner());
            if super::passes(r, Some(f), now, &mut shown) {
                out.push(r);
            }
        }
        self.pause();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn row(owner: &str, repo: &str, details: &str) -> AlertRecord {
        AlertRecord {
            seq: 1,
            at_ms: 0,
            owner: owner.into(),
            repo: repo.into(),
            policy: "bp".into(),
            pass: false,
            details: details.into(),
            change: crate::model::Change::First,
            peer: None,
            late: false,
            before: None,
            key: crate::model::NO_KEY,
        }
    }

    /// Work spent in one slice gives the thread back: another task runs
    /// before a long filtering ends (the old loop yielded only every 256
    /// items, so 100 alerts of 60 KB under a filter ran without a break).
    #[tokio::test(flavor = "current_thread")]
    async fn a_long_filtering_gives_the_thread_back_between_slices() {
        let lane = Lane::default();
        let filter = Filter::parse("/never(a|b)+q/ zzz").unwrap();
        let rows: Vec<AlertRecord> = (0..100)
            .map(|_| row("o", "r", &"d".repeat(60_000)))
            .collect();
        let ticks = Arc::new(AtomicUsize::new(0));
        let other = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    ticks.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            }
        });
        let passed = lane
            .slice(Some(&filter))
            .passing(rows.iter(), Some(&filter), &Mutex::default())
            .await;
        assert!(passed.is_empty());
        // Two text terms over 60 KB: two alerts a slice, 50 slices.
        let seen = ticks.load(Ordering::Relaxed);
        assert!(seen >= 49, "the other task ran {seen} times");
        other.abort();
    }

    /// One viewer at a time: a second waits while the first holds a turn,
    /// and gets it when the first pauses.
    #[tokio::test(flavor = "current_thread")]
    async fn one_viewer_at_a_time_holds_the_lane() {
        let lane = Lane::default();
        let search = Filter::parse("protection").unwrap();
        let mut a = lane.slice(Some(&search));
        assert!(a.enter(10).await);
        assert!(!a.enter(10).await, "the same turn goes on");
        let mut b = lane.slice(Some(&search));
        let waiting = futures_util::FutureExt::now_or_never(b.enter(10));
        assert!(waiting.is_none(), "b entered while a held the lane");
        a.pause();
        assert!(b.enter(10).await);
    }

    /// Three viewers' ways into `lane` with `filter`.
    fn three<'a>(lane: &'a Lane, filter: &Filter) -> (Slice<'a>, Slice<'a>, Slice<'a>) {
        let one = || lane.slice(Some(filter));
        (one(), one(), one())
    }

    /// Whether `f` completes when polled once (it is kept, pending, if not).
    async fn ready<F: std::future::Future>(f: &mut std::pin::Pin<&mut F>) -> bool {
        tokio::select! {
            biased;
            _ = f => true,
            _ = std::future::ready(()) => false,
        }
    }

    /// The next turn goes to the waiting viewer whose filter has run the
    /// least time in the lane, a newcomer starting level with the one
    /// served: here the new viewer `c` goes before `b`, which has run
    /// 100 ms already (the clock is paused and moved by hand). (First come,
    /// first served, a quick search waited behind every slow one's slice:
    /// a review saw a viewer's opening take minutes behind 63.)
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_viewer_that_has_run_least_goes_next() {
        let lane = Lane::default();
        let search = Filter::parse("word").unwrap();
        let (mut a, mut b, mut c) = three(&lane, &search);
        assert!(b.enter(10).await);
        tokio::time::advance(std::time::Duration::from_millis(100)).await;
        b.pause();
        assert!(a.enter(10).await);
        let mut b_waits = std::pin::pin!(b.enter(10));
        assert!(
            !ready(&mut b_waits).await,
            "b entered while a held the lane"
        );
        {
            let mut c_waits = std::pin::pin!(c.enter(10));
            assert!(!ready(&mut c_waits).await);
            a.pause();
            assert!(ready(&mut c_waits).await, "c, which ran least, goes next");
            assert!(!ready(&mut b_waits).await);
        }
        c.pause();
        assert!(ready(&mut b_waits).await, "then b");
    }

    /// A turn whose work is spent goes on when the viewers waiting have run
    /// longer: the quick search keeps the lane while the slow one waits.
    /// (Given up and queued again, it found the slow one in the lane each
    /// time: a review's quick search of 500 keys took 12.6 s behind one.)
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_spent_turn_goes_on_while_those_waiting_have_run_longer() {
        let lane = Lane::default();
        let search = Filter::parse("word").unwrap();
        let (mut quick, mut slow) = (lane.slice(Some(&search)), lane.slice(Some(&search)));
        assert!(slow.enter(10).await);
        tokio::time::advance(std::time::Duration::from_millis(100)).await;
        slow.pause();
        assert!(quick.enter(10).await);
        let mut slow_waits = std::pin::pin!(slow.enter(10));
        assert!(!ready(&mut slow_waits).await);
        for _ in 0..3 {
            let next = quick.enter(SLICE_WORK);
            let began = tokio::time::timeout(std::time::Duration::from_secs(1), next).await;
            assert_eq!(began, Ok(true), "a new turn, at once");
            assert!(!ready(&mut slow_waits).await, "the slow one still waits");
        }
        // Once the quick one has run longer, the slow one goes.
        tokio::time::advance(std::time::Duration::from_millis(200)).await;
        let mut next = std::pin::pin!(quick.enter(SLICE_WORK));
        assert!(!ready(&mut next).await, "the quick one waits now");
        assert!(ready(&mut slow_waits).await, "the slow one's turn");
    }

    /// A viewer that leaves while it waits leaves the line; the lane is
    /// not lost.
    #[tokio::test(flavor = "current_thread")]
    async fn a_viewer_gone_while_waiting_does_not_keep_the_lane() {
        let lane = Lane::default();
        let search = Filter::parse("word").unwrap();
        let (mut a, mut b, mut c) = three(&lane, &search);
        assert!(a.enter(10).await);
        {
            let mut gone = std::pin::pin!(b.enter(10));
            assert!(!ready(&mut gone).await);
        }
        a.pause();
        let mut c_enters = std::pin::pin!(c.enter(10));
        assert!(ready(&mut c_enters).await);
    }

    /// A filter of globs and comparisons does not wait for the lane (a
    /// `status:fail` viewer waited behind others' regexes for minutes).
    #[tokio::test(flavor = "current_thread")]
    async fn a_cheap_filter_does_not_wait_for_the_lane() {
        let lane = Lane::default();
        let search = Filter::parse("/(a|b)+q/").unwrap();
        let mut busy = lane.slice(Some(&search));
        assert!(busy.enter(10).await);
        let cheap = Filter::parse("status:fail org:o,p repo:r*").unwrap();
        let rows = [row("o", "r1", "x"), row("q", "r2", "x")];
        let passed = futures_util::FutureExt::now_or_never(lane.slice(Some(&cheap)).passing(
            rows.iter(),
            Some(&cheap),
            &Mutex::default(),
        ))
        .expect("passed without the lane");
        assert_eq!(passed.len(), 1);
        let many_stars = format!("org:{}b", "*a".repeat(200));
        for costly in [
            "word",
            "/re/",
            "repo:/re/",
            "status:fail or word",
            &many_stars,
        ] {
            let f = Filter::parse(costly).unwrap();
            assert!(!f.is_cheap(), "{costly}");
        }
    }

    #[test]
    fn a_filter_searches_the_first_64_kib_of_details_cut_at_a_character() {
        let short = "é".repeat(100);
        assert_eq!(searched(&short), short);
        // 2-byte characters from an odd offset: 64 KiB falls inside one.
        let long = format!("x{}", "é".repeat(40_000));
        let cut = searched(&long);
        assert_eq!(cut.len(), DETAILS_READ - 1);
        assert!(long.starts_with(cut));
        let r = row("o", "r", &long);
        let f = Filter::parse("/a/").unwrap();
        assert_eq!(work(&f, &r), 68 + (68 + DETAILS_READ));
    }

    #[test]
    fn a_key_filter_costs_the_names_and_a_text_term_the_details_too() {
        let r = row("ossf", "scorecard", &"x".repeat(1000));
        let names = 4 + 9 + 2 + 64;
        assert_eq!(work(&Filter::parse("org:ossf").unwrap(), &r), names);
        assert_eq!(
            work(&Filter::parse("org:ossf /a/ b").unwrap(), &r),
            names + 2 * (names + 1000)
        );
    }
}
