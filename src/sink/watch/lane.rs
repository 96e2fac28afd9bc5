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
//! permit, and only for [`SLICE_WORK`] bytes of text read, after which it
//! gives the permit back and yields before the next slice. Viewers together
//! then keep at most one worker busy with filters, whatever they ask, and
//! the rest are ingest's; the task of a viewer whose filter is slow comes
//! back to the runtime (its disconnect, the sink's shutdown) between
//! slices. And an alert's details are read up to [`DETAILS_READ`], so one
//! huge alert cannot make a slice of minutes.
//!
//! Filters without searches or regexes (`status:fail org:ossf`: globs and
//! comparisons, a few per alert) never enter the lane: a second review
//! found such a viewer waiting behind eight others' regexes for minutes.
//! Viewers whose filters search text still share the lane in turn, so a
//! slow one slows the others that search (they fall behind and are told
//! what they missed), never ingest or the viewers without such filters.
//!
//! [`Limits::REMOTE`]: crate::model::filter::Limits::REMOTE

use tokio::sync::{Semaphore, SemaphorePermit};

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
#[derive(Debug)]
pub struct Lane {
    permit: Semaphore,
}

impl Default for Lane {
    fn default() -> Lane {
        Lane {
            permit: Semaphore::new(1),
        }
    }
}

impl Lane {
    /// A viewer's way into the lane (it holds the permit between
    /// [`Slice::enter`] and [`Slice::pause`], within one slice's work).
    /// A cheap filter's ([`Filter::is_cheap`]) never enters it.
    pub fn slice(&self, filter: Option<&Filter>) -> Slice<'_> {
        Slice {
            lane: self,
            permit: None,
            spent: 0,
            cheap: filter.is_none_or(Filter::is_cheap),
        }
    }
}

/// One viewer's turns in the lane.
#[derive(Debug)]
pub struct Slice<'a> {
    lane: &'a Lane,
    permit: Option<SemaphorePermit<'a>>,
    /// Work done in the turn held now.
    spent: usize,
    /// The filter is evaluated outside the lane.
    cheap: bool,
}

/// What a filter reads of an alert: the names for key terms, and names and
/// details once for each text term (a bare word or a regex).
pub fn work(filter: &Filter, r: &AlertRecord) -> usize {
    let names = r.owner.len() + r.repo.len() + r.policy.len() + 64;
    names + filter.text_terms() * (names + r.details.len().min(DETAILS_READ))
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
        if self.permit.is_some() && self.spent + work <= SLICE_WORK {
            self.spent += work;
            return false;
        }
        if self.permit.take().is_some() {
            // Spent: the others' turn (and ingest's, on this thread).
            tokio::task::yield_now().await;
        }
        // The semaphore is never closed; without it the work goes on
        // unsliced rather than not at all.
        self.permit = self.lane.permit.acquire().await.ok();
        self.spent = work;
        true
    }

    /// Gives the lane back before the viewer awaits anything else (a
    /// full send buffer): its reader's pace must not hold the others.
    pub fn pause(&mut self) {
        self.permit = None;
    }

    /// Which of `rows` pass `filter` (all of them without one), in slices.
    pub async fn passing<'r>(
        &mut self,
        rows: impl Iterator<Item = &'r AlertRecord>,
        filter: Option<&Filter>,
    ) -> Vec<&'r AlertRecord> {
        let Some(f) = filter else {
            return rows.collect();
        };
        if self.cheap {
            let now = crate::hub::now_ms();
            return rows.filter(|r| super::passes(r, Some(f), now)).collect();
        }
        let now = crate::hub::now_ms();
        let mut out = Vec::new();
        for r in rows {
            self.enter(work(f, r)).await;
            if super::passes(r, Some(f), now) {
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
            .passing(rows.iter(), Some(&filter))
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
        let passed = futures_util::FutureExt::now_or_never(
            lane.slice(Some(&cheap)).passing(rows.iter(), Some(&cheap)),
        )
        .expect("passed without the lane");
        assert_eq!(passed.len(), 1);
        for costly in ["word", "/re/", "repo:/re/", "status:fail or word"] {
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
