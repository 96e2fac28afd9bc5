//! Silences, with Alertmanager's semantics: a matcher (here any expression
//! of the filter language), a time range `[starts, ends)`, who made it and
//! why. While a silence is active, the failing alerts it matches are
//! *silenced*: shown dimmed and counted apart, kept out of the bell, marked
//! in headless JSON lines. A silence never changes what is stored,
//! forwarded or recorded.
//!
//! A passing alert is never silenced: a fix is always news.
//!
//! Expired silences are kept (the list shows them, and one can be edited
//! back to life) for [`KEEP_EXPIRED_MS`], and at most [`MAX_SILENCES`]
//! silences exist at once: the oldest expired ones make room, and an
//! addition over the bound with only active ones is refused. Matchers and
//! comments are bounded in bytes. Time is a parameter, as everywhere in
//! the model.

use super::Change;
use super::filter::{AlertView, Filter};

/// Silences kept at most (active and expired).
pub const MAX_SILENCES: usize = 1_000;
/// The longest matcher, in bytes.
pub const MAX_MATCHER_BYTES: usize = 1_024;
/// The longest comment, in bytes.
pub const MAX_COMMENT_BYTES: usize = 1_024;
/// The longest creator name, in bytes.
pub const MAX_CREATOR_BYTES: usize = 128;
/// Expired silences are forgotten this long after their end.
pub const KEEP_EXPIRED_MS: u64 = 7 * 24 * 3600 * 1000;

/// One silence.
#[derive(Debug, Clone)]
pub struct Silence {
    /// Eight hex digits, unique among the silences.
    pub id: String,
    /// The filter expression, as typed.
    pub matcher: String,
    pub filter: Filter,
    pub starts_ms: u64,
    pub ends_ms: u64,
    pub comment: String,
    pub created_by: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Silence {
    /// Builds a silence from its parts (as stored), checking each.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: &str,
        matcher: &str,
        starts_ms: u64,
        ends_ms: u64,
        comment: &str,
        created_by: &str,
        created_ms: u64,
        updated_ms: u64,
    ) -> Result<Silence, String> {
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("id {id:?}: expected letters and digits"));
        }
        let filter = parse_matcher(matcher)?;
        check_len("comment", comment, MAX_COMMENT_BYTES)?;
        check_len("created_by", created_by, MAX_CREATOR_BYTES)?;
        if ends_ms < starts_ms {
            return Err("ends before it starts".to_owned());
        }
        Ok(Silence {
            id: id.to_owned(),
            matcher: matcher.trim().to_owned(),
            filter,
            starts_ms,
            ends_ms,
            comment: comment.to_owned(),
            created_by: created_by.to_owned(),
            created_ms,
            updated_ms,
        })
    }

    /// Active: started and not yet ended.
    pub fn active(&self, now_ms: u64) -> bool {
        self.starts_ms <= now_ms && now_ms < self.ends_ms
    }

    /// Ended (expired by time or by hand).
    pub fn expired(&self, now_ms: u64) -> bool {
        now_ms >= self.ends_ms
    }

    /// Whether the silence covers this alert (whatever the time): only
    /// failing alerts are silenced.
    pub fn covers(&self, a: &AlertView<'_>) -> bool {
        !a.pass && self.filter.matches(a)
    }
}

fn check_len(field: &str, s: &str, max: usize) -> Result<(), String> {
    if s.len() > max {
        return Err(format!("{field} is longer than {max} bytes"));
    }
    Ok(())
}

/// Parses a silence's matcher: a non-empty filter expression without
/// `age` terms (a silence has its own time range; an age would silence an
/// alert for a while and then not, without anyone touching it).
pub fn parse_matcher(matcher: &str) -> Result<Filter, String> {
    let m = matcher.trim();
    check_len("matcher", m, MAX_MATCHER_BYTES)?;
    if m.is_empty() {
        return Err("the matcher is empty (it would silence everything)".to_owned());
    }
    if mentions_age(m) {
        return Err("age terms are not allowed in a silence (it has its own end)".to_owned());
    }
    let f = Filter::parse(m).map_err(|e| format!("matcher {m:?} {e}"))?;
    if f.is_empty() {
        return Err("the matcher is empty (it would silence everything)".to_owned());
    }
    Ok(f)
}

/// Whether a filter source has an `age` comparison term (as the TUI's
/// index checks it: approximate, quotes not parsed, so a phrase that
/// starts with `age<` is refused too — the safe side).
fn mentions_age(source: &str) -> bool {
    source.split_whitespace().any(|t| {
        let t = t.trim_start_matches(['-', '(']);
        t.get(..3).is_some_and(|a| a.eq_ignore_ascii_case("age"))
            && matches!(t.as_bytes().get(3), Some(b'<' | b'>' | b'='))
    })
}

/// When a new silence ends: a duration from now (`1h`, `2d`, `1h30m`,
/// `90m`, `1w`), or `until` a UTC time (`until 2026-12-04T17:00`,
/// `until 2026-12-04 17:00:00`, `until 2026-12-04`), or a bare time.
pub fn parse_end(spec: &str, now_ms: u64) -> Result<u64, String> {
    let s = spec.trim();
    if s.is_empty() {
        return Err("expected a duration such as 1h or 2d, or `until TIME`".to_owned());
    }
    let (until, rest) = match s.strip_prefix("until") {
        Some(r) => (true, r.trim()),
        None => (false, s),
    };
    if !until && let Ok(d) = humantime::parse_duration(rest) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if ms < 1000 {
            return Err(format!("{s:?}: at least 1s"));
        }
        return Ok(now_ms.saturating_add(ms));
    }
    match parse_utc(rest) {
        Some(t) if t > now_ms => Ok(t),
        Some(_) => Err(format!("{rest:?} is in the past")),
        None => Err(format!(
            "{s:?}: expected a duration such as 1h or 2d, or `until 2026-12-04T17:00` (UTC)"
        )),
    }
}

/// A UTC time, with or without seconds or a time of day.
fn parse_utc(s: &str) -> Option<u64> {
    let s = s.trim().trim_end_matches(['Z', 'z']);
    let candidates = [
        format!("{s}Z"),
        format!("{s}:00Z"),
        format!("{s}T00:00:00Z"),
    ];
    candidates.iter().find_map(|c| {
        let t = humantime::parse_rfc3339_weak(c).ok()?;
        let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
        u64::try_from(d.as_millis()).ok()
    })
}

/// A duration for the list view: `59m`, `3h 12m`, `2d 4h`.
pub fn short_duration(ms: u64) -> String {
    let m = ms / 60_000;
    let (d, h, m) = (m / (24 * 60), (m / 60) % 24, m % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{}s", ms / 1000),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// The set of silences. `version` changes with every change, so users of
/// the set know when to re-evaluate what it silences.
#[derive(Debug, Clone, Default)]
pub struct Silences {
    list: Vec<Silence>,
    version: u64,
    /// Expired silences forgotten (retention or the count bound).
    pruned: u64,
}

impl Silences {
    /// Starts from stored silences (already checked one by one); duplicates
    /// of an id keep the first, and the bound applies.
    pub fn from_list(list: Vec<Silence>, now_ms: u64) -> Silences {
        let mut s = Silences::default();
        for x in list {
            if !s.list.iter().any(|y| y.id == x.id) {
                s.list.push(x);
            }
        }
        s.prune(now_ms);
        s.version = 1;
        s
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn pruned(&self) -> u64 {
        self.pruned
    }

    pub fn all(&self) -> &[Silence] {
        &self.list
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.list.iter().find(|s| s.id == id)
    }

    /// The active silences at `now_ms`.
    pub fn active(&self, now_ms: u64) -> impl Iterator<Item = &Silence> {
        self.list.iter().filter(move |s| s.active(now_ms))
    }

    /// The first active silence covering the alert (the one ending last
    /// when several do: it is the one that keeps it silenced longest).
    pub fn silencing(&self, a: &AlertView<'_>, now_ms: u64) -> Option<&Silence> {
        self.active(now_ms)
            .filter(|s| s.covers(a))
            .max_by_key(|s| s.ends_ms)
    }

    /// As [`Silences::silencing`] for an alert of the given parts.
    pub fn silencing_parts(
        &self,
        (owner, repo, policy): (&str, &str, &str),
        details: &str,
        pass: bool,
        change: Change,
        now_ms: u64,
    ) -> Option<&Silence> {
        if pass || self.list.is_empty() {
            return None;
        }
        let view = AlertView {
            owner,
            repo,
            policy,
            details,
            pass,
            change,
            age_ms: 0,
        };
        self.silencing(&view, now_ms)
    }

    /// The next time a silence starts or ends after `now_ms`: what it
    /// silences changes then.
    pub fn next_change(&self, now_ms: u64) -> Option<u64> {
        self.list
            .iter()
            .flat_map(|s| [s.starts_ms, s.ends_ms])
            .filter(|&t| t > now_ms)
            .min()
    }

    /// Adds a silence starting now. Returns its id.
    pub fn add(
        &mut self,
        matcher: &str,
        ends_ms: u64,
        comment: &str,
        created_by: &str,
        now_ms: u64,
    ) -> Result<String, String> {
        if ends_ms <= now_ms {
            return Err("it would end before it starts".to_owned());
        }
        self.prune(now_ms);
        if self.list.len() >= MAX_SILENCES {
            self.drop_oldest_expired(now_ms);
        }
        if self.list.len() >= MAX_SILENCES {
            return Err(format!(
                "{MAX_SILENCES} silences are active already; expire some first"
            ));
        }
        let id = self.new_id(matcher, now_ms);
        let s = Silence::new(
            &id, matcher, now_ms, ends_ms, comment, created_by, now_ms, now_ms,
        )?;
        self.list.push(s);
        self.version += 1;
        Ok(id)
    }

    /// Ends a silence now. False if there is no such active silence.
    pub fn expire(&mut self, id: &str, now_ms: u64) -> bool {
        let Some(s) = self.list.iter_mut().find(|s| s.id == id) else {
            return false;
        };
        if s.expired(now_ms) {
            return false;
        }
        s.ends_ms = now_ms.max(s.starts_ms);
        s.updated_ms = now_ms;
        self.version += 1;
        true
    }

    /// Changes a silence's end and/or comment; an expired silence given a
    /// new end starts again now.
    pub fn edit(
        &mut self,
        id: &str,
        ends_ms: Option<u64>,
        comment: Option<&str>,
        now_ms: u64,
    ) -> Result<(), String> {
        if let Some(c) = comment {
            check_len("comment", c, MAX_COMMENT_BYTES)?;
        }
        let s = self
            .list
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| format!("no silence {id}"))?;
        if let Some(end) = ends_ms {
            if end <= now_ms {
                return Err("it would end before now".to_owned());
            }
            if s.expired(now_ms) {
                s.starts_ms = now_ms;
            }
            s.ends_ms = end;
        }
        if let Some(c) = comment {
            s.comment = c.to_owned();
        }
        s.updated_ms = now_ms;
        self.version += 1;
        Ok(())
    }

    /// Forgets silences expired for longer than [`KEEP_EXPIRED_MS`].
    pub fn prune(&mut self, now_ms: u64) {
        let before = self.list.len();
        self.list
            .retain(|s| s.ends_ms.saturating_add(KEEP_EXPIRED_MS) > now_ms);
        let n = before - self.list.len();
        if n > 0 {
            self.pruned += n as u64;
            self.version += 1;
        }
        while self.list.len() > MAX_SILENCES && self.drop_oldest_expired(now_ms) {}
    }

    fn drop_oldest_expired(&mut self, now_ms: u64) -> bool {
        let oldest = self
            .list
            .iter()
            .enumerate()
            .filter(|(_, s)| s.expired(now_ms))
            .min_by_key(|(_, s)| s.ends_ms)
            .map(|(i, _)| i);
        match oldest {
            Some(i) => {
                self.list.remove(i);
                self.pruned += 1;
                self.version += 1;
                true
            }
            None => false,
        }
    }

    fn new_id(&self, matcher: &str, now_ms: u64) -> String {
        // FNV-1a over the time, the matcher and a counter: short, and
        // unique among the silences (checked).
        for n in 0u64.. {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in now_ms
                .to_le_bytes()
                .iter()
                .chain(matcher.as_bytes())
                .chain(&(n + self.version).to_le_bytes())
            {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            let id = format!("{:08x}", (h ^ (h >> 32)) as u32);
            if self.get(&id).is_none() {
                return id;
            }
        }
        unreachable!("u64 ids exhausted")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;

    fn fail<'a>(owner: &'a str, repo: &'a str, policy: &'a str) -> AlertView<'a> {
        AlertView {
            owner,
            repo,
            policy,
            details: "",
            pass: false,
            change: Change::Same,
            age_ms: 0,
        }
    }

    #[test]
    fn a_silence_covers_matching_failures_while_active() {
        let mut s = Silences::default();
        let id = s
            .add("policy:CODEOWNERS", 10 * H, "fix scheduled", "alice", 9 * H)
            .unwrap();
        assert_eq!(id.len(), 8);
        let a = fail("ossf", "scorecard", "CODEOWNERS");
        assert_eq!(s.silencing(&a, 9 * H).map(|x| x.id.as_str()), Some(&*id));
        assert!(s.silencing(&a, 10 * H).is_none(), "ended");
        assert!(s.silencing(&a, 9 * H - 1).is_none(), "not started");
        let other = fail("ossf", "scorecard", "Branch Protection");
        assert!(s.silencing(&other, 9 * H).is_none());
        let pass = AlertView { pass: true, ..a };
        assert!(
            s.silencing(&pass, 9 * H).is_none(),
            "a pass is never silenced"
        );
        assert_eq!(s.next_change(9 * H), Some(10 * H));
    }

    #[test]
    fn expire_and_edit() {
        let mut s = Silences::default();
        let id = s.add("org:ossf", 2 * H, "", "bob", H).unwrap();
        let v = s.version();
        assert!(s.expire(&id, H + 1));
        assert!(s.version() > v);
        assert!(!s.expire(&id, H + 2), "already expired");
        let a = fail("ossf", "x", "P");
        assert!(s.silencing(&a, H + 1).is_none());
        // Edited back to life with a new end: starts again now.
        s.edit(&id, Some(5 * H), Some("again"), 3 * H).unwrap();
        let x = s.get(&id).unwrap();
        assert_eq!(
            (x.starts_ms, x.ends_ms, x.comment.as_str()),
            (3 * H, 5 * H, "again")
        );
        assert!(s.silencing(&a, 4 * H).is_some());
        assert!(
            s.edit(&id, Some(2 * H), None, 3 * H).is_err(),
            "in the past"
        );
    }

    #[test]
    fn bad_matchers_are_refused_with_a_reason() {
        let mut s = Silences::default();
        for (m, why) in [
            ("", "empty"),
            ("  ", "empty"),
            ("age<1h", "age"),
            ("org:x -age>=2d", "age"),
            ("(org:x", "matcher"),
        ] {
            let e = s.add(m, 2 * H, "", "me", H).unwrap_err();
            assert!(e.contains(why), "{m:?}: {e}");
        }
        let long = "x".repeat(MAX_MATCHER_BYTES + 1);
        assert!(
            s.add(&long, 2 * H, "", "me", H)
                .unwrap_err()
                .contains("longer")
        );
        assert!(
            s.add("org:x", H, "", "me", H).is_err(),
            "ends before it starts"
        );
        assert!(s.is_empty());
    }

    #[test]
    fn bounded_expired_first() {
        let mut s = Silences::default();
        for i in 0..MAX_SILENCES as u64 {
            s.add("org:x", H + 1 + i, "", "me", H).unwrap();
        }
        assert!(
            s.add("org:y", 10 * H, "", "me", H)
                .unwrap_err()
                .contains("active")
        );
        // Once some have expired, they make room (the oldest first).
        s.add("org:y", 10 * H, "", "me", H + 3).unwrap();
        assert_eq!(s.all().len(), MAX_SILENCES);
        assert_eq!(s.pruned(), 1);
        assert!(s.all().iter().all(|x| x.ends_ms != H + 1));
        // Long expired ones are forgotten.
        s.prune(10 * H + KEEP_EXPIRED_MS);
        assert!(s.is_empty());
    }

    #[test]
    fn ends_are_durations_or_times() {
        let now = 1_764_500_000_000; // 2025-11-30T10:53:20Z
        assert_eq!(parse_end("1h", now), Ok(now + H));
        assert_eq!(parse_end("2d", now), Ok(now + 48 * H));
        assert_eq!(parse_end("1h30m", now), Ok(now + H + H / 2));
        assert_eq!(
            parse_end("until 2025-12-04T17:00", now),
            Ok(1_764_867_600_000)
        );
        assert_eq!(parse_end("2025-12-04 17:00:00", now), Ok(1_764_867_600_000));
        assert_eq!(parse_end("until 2025-12-05", now), Ok(1_764_892_800_000));
        assert!(
            parse_end("until 2020-01-01", now)
                .unwrap_err()
                .contains("past")
        );
        assert!(parse_end("soon", now).unwrap_err().contains("expected"));
        assert!(parse_end("0s", now).is_err());
        assert_eq!(short_duration(59 * 60_000), "59m");
        assert_eq!(short_duration(3 * H + 12 * 60_000), "3h 12m");
        assert_eq!(short_duration(52 * H), "2d 4h");
    }
}
