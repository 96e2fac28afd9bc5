//! Small formatting helpers shared by the panes. Times are local by
//! default (as a person reads a clock) and UTC with `--utc`, which matches
//! the JSON lines' `at` exactly; UTC times end in `Z`, local dates show
//! their offset.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether times are shown in local time. A process-wide display setting:
/// set once when the TUI starts (`--utc` keeps it off); off by default so
/// that tests and tools see UTC.
static LOCAL_TIME: AtomicBool = AtomicBool::new(false);

/// Shows times in local time (`true`) or UTC.
pub fn use_local_time(local: bool) {
    LOCAL_TIME.store(local, Ordering::Relaxed);
}

/// Whether times are shown in UTC.
pub fn utc() -> bool {
    !LOCAL_TIME.load(Ordering::Relaxed)
}

/// The local offset from UTC at `secs` (Unix time), in seconds; 0 for UTC.
fn offset_s(secs: i64) -> i64 {
    if utc() {
        return 0;
    }
    local_offset(secs)
}

#[cfg(unix)]
// `time_t` is 32 bits on some targets, where the conversion can fail.
#[allow(irrefutable_let_patterns, clippy::useless_conversion)]
fn local_offset(secs: i64) -> i64 {
    let Ok(t) = libc::time_t::try_from(secs) else {
        return 0;
    };
    // SAFETY: localtime_r writes only into `tm`, which we own; a zeroed
    // `tm` is a valid value of that plain C struct.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            0
        } else {
            i64::from(tm.tm_gmtoff)
        }
    }
}

#[cfg(not(unix))]
fn local_offset(_secs: i64) -> i64 {
    0
}

pub use crate::numbers::thousands;

/// Time of day, `HH:MM:SS` (local, or UTC; see [`use_local_time`]).
pub fn clock(at_ms: u64) -> String {
    let secs = (at_ms / 1000) as i64;
    clock_at(at_ms, offset_s(secs))
}

fn clock_at(at_ms: u64, off: i64) -> String {
    let secs = ((at_ms / 1000) as i64 + off).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Date and time: `2026-11-25 21:00:03Z` in UTC, `2026-11-25
/// 22:00:03+01:00` in local time.
pub fn date_time(at_ms: u64) -> String {
    let secs = (at_ms / 1000) as i64;
    date_time_at(at_ms, (!utc()).then(|| offset_s(secs)))
}

/// `off`: the local offset, or `None` for UTC.
fn date_time_at(at_ms: u64, off: Option<i64>) -> String {
    let secs = (at_ms / 1000) as i64;
    let shifted = (secs + off.unwrap_or(0)).max(0) as u64;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(shifted);
    let s = humantime::format_rfc3339_seconds(t)
        .to_string()
        .replacen('T', " ", 1);
    let Some(off) = off else {
        return s;
    };
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.unsigned_abs();
    format!(
        "{}{sign}{:02}:{:02}",
        s.trim_end_matches('Z'),
        a / 3600,
        (a / 60) % 60
    )
}

/// A short age: `5s`, `3m`, `2h`, `4d`.
pub fn ago(now_ms: u64, at_ms: u64) -> String {
    let s = now_ms.saturating_sub(at_ms) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A short duration, as [`ago`]: `5s`, `3m`, `2h`, `4d`.
pub fn span(d: std::time::Duration) -> String {
    ago(d.as_millis().min(u128::from(u64::MAX)) as u64, 0)
}

/// A latency: `0.8 ms`, `12 ms`, `1.5 s`; `–` when unknown.
pub fn latency(d: Option<std::time::Duration>) -> String {
    let Some(d) = d else {
        return "–".into();
    };
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// Alerts per second.
pub fn rate(per_s: f64) -> String {
    if per_s < 10.0 {
        format!("{per_s:.1}/s")
    } else {
        format!("{}/s", thousands(per_s.round() as u64))
    }
}

/// `n` followed by `one` or `many`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// Display width of a string in terminal columns.
pub fn width(s: &str) -> usize {
    ratatui::text::Span::raw(s).width()
}

/// `s` cut to at most `max` columns; when cut, its last column is `…` so
/// that a cut never looks like a whole name.
/// As [`ellipsize`], but never cutting a word (or a number) in two: the
/// cut goes back to the last space, so `✗ 16 failing` in 5 columns is
/// `✗ …`, never `✗ 1…` (a cut number reads as a smaller one).
pub fn ellipsize_words(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    let cut = ellipsize(s, max);
    let kept = cut.strip_suffix('…').unwrap_or(&cut);
    // Whole when the cut fell on a space (before or after it).
    let next = s[kept.len()..].chars().next();
    if kept.ends_with(' ') || next.is_some_and(char::is_whitespace) {
        return cut;
    }
    match kept.rfind(' ') {
        Some(at) => format!("{}…", &kept[..=at]),
        None if max > 0 => "…".to_owned(),
        None => String::new(),
    }
}

pub fn ellipsize(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let room = max - 1;
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = width(c.encode_utf8(&mut [0; 4]));
        if used + cw > room {
            break;
        }
        used += cw;
        out.push(c);
    }
    out.push('…');
    out
}

/// `org/repo` in at most `max` columns. The org is cut first (down to two
/// columns and `…`), because within one org the repo name is what tells
/// rows apart: `nimbus-io/nimbus` and `nimbus-io/nimbus-operator` stay
/// distinct as `nim…/nimbus` and `nim…/nimbus-operator`.
pub fn org_repo_fit(org: &str, repo: &str, max: usize) -> String {
    let (ow, rw) = (width(org), width(repo));
    if ow + 1 + rw <= max {
        return format!("{org}/{repo}");
    }
    const ORG_MIN: usize = 3;
    if ORG_MIN + 1 + rw <= max {
        return format!("{}/{repo}", ellipsize(org, max - 1 - rw));
    }
    if max >= ORG_MIN + 2 {
        return format!(
            "{}/{}",
            ellipsize(org, ORG_MIN),
            ellipsize(repo, max - ORG_MIN - 1)
        );
    }
    ellipsize(&format!("{org}/{repo}"), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsize_words_never_cuts_a_number() {
        assert_eq!(ellipsize_words("✗ 16 failing", 20), "✗ 16 failing");
        assert_eq!(ellipsize_words("✗ 16 failing", 4), "✗ …");
        assert_eq!(ellipsize_words("✗ 16 failing", 6), "✗ 16 …");
        assert_eq!(ellipsize_words("116 alerts", 3), "…");
        assert_eq!(ellipsize_words("116 alerts", 0), "");
        assert!(ellipsize_words(" 1,378 keys", 5).ends_with(" …"));
    }

    #[test]
    fn formats() {
        // 2026-11-25T21:00:03Z
        let t = 1_795_640_403_000;
        assert_eq!(clock(t), "21:00:03");
        assert_eq!(date_time(t), "2026-11-25 21:00:03Z");
        assert!(utc(), "UTC unless the TUI asks for local time");
        // Local time: shifted, and the date says its offset.
        assert_eq!(clock_at(t, 3_600), "22:00:03");
        assert_eq!(clock_at(t, -22 * 3_600), "23:00:03");
        assert_eq!(date_time_at(t, Some(3_600)), "2026-11-25 22:00:03+01:00");
        assert_eq!(
            date_time_at(t, Some(-5 * 3_600 - 1_800)),
            "2026-11-25 15:30:03-05:30"
        );
        assert_eq!(date_time_at(t, None), "2026-11-25 21:00:03Z");
        assert_eq!(ago(t + 59_999, t), "59s");
        assert_eq!(ago(t + 60_000, t), "1m");
        assert_eq!(ago(t + 7_200_000, t), "2h");
        assert_eq!(ago(t, t + 5), "0s");
        assert_eq!(rate(2.25), "2.2/s");
        assert_eq!(rate(12_345.4), "12,345/s");
        assert_eq!(plural(1, "key", "keys"), "1 key");
        assert_eq!(plural(2, "key", "keys"), "2 keys");
        use std::time::Duration;
        assert_eq!(span(Duration::from_millis(59_999)), "59s");
        assert_eq!(span(Duration::from_secs(150)), "2m");
        assert_eq!(latency(None), "–");
        assert_eq!(latency(Some(Duration::from_micros(1_207))), "1.2 ms");
        assert_eq!(latency(Some(Duration::from_micros(48_000))), "48 ms");
        assert_eq!(latency(Some(Duration::from_millis(1_500))), "1.5 s");
    }

    #[test]
    fn cuts_show_an_ellipsis() {
        assert_eq!(ellipsize("allstar", 7), "allstar");
        assert_eq!(ellipsize("allstar", 5), "alls…");
        assert_eq!(ellipsize("allstar", 1), "…");
        assert_eq!(ellipsize("allstar", 0), "");
        // Wide characters count as two columns.
        assert_eq!(ellipsize("日本語", 4), "日…");
        assert_eq!(org_repo_fit("ossf", "allstar", 12), "ossf/allstar");
        // The org gives way first, so repos of one org stay apart.
        let a = org_repo_fit("nimbus-io", "nimbus", 14);
        let b = org_repo_fit("nimbus-io", "nimbus-operator", 20);
        assert_eq!(a, "nimbus…/nimbus");
        assert_eq!(b, "nim…/nimbus-operator");
        assert_eq!(
            org_repo_fit("nimbus-io", "nimbus-operator", 12),
            "ni…/nimbus-…"
        );
        for max in 0..30 {
            assert!(width(&org_repo_fit("nimbus-io", "nimbus-operator", max)) <= max);
        }
    }
}
