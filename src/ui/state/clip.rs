//! `y`, `Y` and `o`: the selected repo's URL or the selected alert's
//! details to the clipboard through OSC 52, and the repo's GitHub page
//! through the system opener.
//!
//! OSC 52 (`ESC ] 52 ; c ; BASE64 BEL`) asks the terminal to set the
//! clipboard; it works over SSH, but terminals may ignore it (xterm needs
//! `allowWindowOps`, others ask first or cap the size), and nothing comes
//! back to say whether it did: the status line says it was *sent*. Inside
//! tmux the sequence is wrapped for passthrough (`ESC P tmux; … ESC \`),
//! which tmux 3.3+ forwards only with `set -g allow-passthrough on`; the
//! status line says so. At most [`CLIP_MAX_BYTES`] of text are sent.
//!
//! Owner and repo names come from the wire: before they become a URL or an
//! argument of a process they must be valid GitHub names (letters, digits,
//! `-`, and for repos `.` and `_`), so a URL can never carry a path, a query
//! or an option (`-…`) of the opener.

use std::sync::Arc;

use base64::Engine;

use crate::hub::Hub;
use crate::model::Store;

use super::{App, DetailsId};
use crate::ui::keymap::Pane;

/// Text sent through OSC 52 at most (many terminals cap it lower).
pub const CLIP_MAX_BYTES: usize = 64 * 1024;
/// Bytes waiting for the terminal at most; more is dropped (a bell or a
/// copy the terminal never sees, which is harmless).
pub(super) const TERM_OUT_MAX: usize = 256 * 1024;

/// Opens a URL with the system's opener, detached; `Err` is one line.
pub type Opener = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// What the terminal and the system offer, decided once at start (from the
/// environment, in `ui/live.rs`); the defaults suit tests.
#[derive(Clone, Default)]
pub struct TermEnv {
    /// Inside tmux (`$TMUX`): OSC 52 is wrapped for passthrough.
    pub tmux: bool,
    /// Notifications the terminal shows besides the bell.
    pub notify: super::Notify,
    /// The system opener for `o`, when one was found.
    pub opener: Option<Opener>,
    /// How the opener is named in messages (`xdg-open`, `$BROWSER`, …).
    pub opener_name: String,
}

/// A copy or open waiting for the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::ui) enum ClipRequest {
    Url,
    Details,
    Open,
}

/// A GitHub owner (user or organization) name: 1–39 ASCII letters, digits
/// or single hyphens, not starting or ending with one.
pub fn github_owner_ok(s: &str) -> bool {
    (1..=39).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A GitHub repository name: 1–100 ASCII letters, digits, `-`, `_`, `.`,
/// and not `.` or `..`.
pub fn github_repo_ok(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s != "."
        && s != ".."
}

/// `https://github.com/OWNER[/REPO]`, or why the names cannot make one.
pub(super) fn github_url(owner: &str, repo: Option<&str>) -> Result<String, String> {
    if !github_owner_ok(owner) {
        return Err(format!(
            // Quoted, not Debug-formatted: that would escape the
            // sanitizer's escapes again (`\\x1b`).
            "\"{}\" is not a GitHub owner name: no URL made",
            crate::sanitize::line(owner)
        ));
    }
    match repo {
        None => Ok(format!("https://github.com/{owner}")),
        Some(r) if github_repo_ok(r) => Ok(format!("https://github.com/{owner}/{r}")),
        Some(r) => Err(format!(
            "\"{}\" is not a GitHub repository name: no URL made",
            crate::sanitize::line(r)
        )),
    }
}

/// The OSC 52 sequence that puts `text` (cut to [`CLIP_MAX_BYTES`] at a
/// character boundary) on the clipboard; wrapped for tmux passthrough when
/// `tmux`. Returns the bytes and whether the text was cut.
pub fn osc52(text: &str, tmux: bool) -> (Vec<u8>, bool) {
    let mut end = text.len().min(CLIP_MAX_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(&text.as_bytes()[..end]);
    let inner = format!("\x1b]52;c;{b64}\x07");
    let bytes = if tmux {
        // Every ESC inside a DCS passthrough is doubled.
        format!("\x1bPtmux;{}\x1b\\", inner.replace('\x1b', "\x1b\x1b")).into_bytes()
    } else {
        inner.into_bytes()
    };
    (bytes, end < text.len())
}

/// What `y`/`Y`/`o` act on: names and details of the selection.
struct Selected {
    owner: String,
    repo: Option<String>,
    details: Option<String>,
}

impl App {
    /// Queues bytes for the terminal (dropped past [`TERM_OUT_MAX`]).
    pub(in crate::ui) fn emit(&mut self, bytes: &[u8]) -> bool {
        if self.term_out.len() + bytes.len() > TERM_OUT_MAX {
            return false;
        }
        self.term_out.extend_from_slice(bytes);
        true
    }

    /// Bytes for the terminal outside the frame (BEL, OSC 52), emptied.
    pub fn take_terminal_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.term_out)
    }

    /// What the terminal and the system offer (see [`TermEnv`]).
    pub fn set_term_env(&mut self, env: TermEnv) {
        self.term_env = env;
    }

    /// Carries out a pending `y`/`Y`/`o` (at sync: it needs the store).
    pub(super) fn run_clip_request(&mut self, hub: &Hub) {
        let Some(req) = self.clip_request.take() else {
            return;
        };
        self.dirty = true;
        let sel = match self.selected_names(hub) {
            Ok(s) => s,
            Err(e) => {
                self.message = Some((e, true));
                return;
            }
        };
        match req {
            ClipRequest::Url | ClipRequest::Open => {
                let url = match github_url(&sel.owner, sel.repo.as_deref()) {
                    Ok(u) => u,
                    Err(e) => {
                        self.message = Some((e, true));
                        return;
                    }
                };
                if req == ClipRequest::Url {
                    self.copy(&url, &url);
                } else {
                    self.open_url(&url);
                }
            }
            ClipRequest::Details => match sel.details {
                Some(d) if !d.is_empty() => {
                    let what = format!("the details ({} bytes)", d.len());
                    self.copy(&d, &what);
                }
                Some(_) => self.message = Some(("the selected alert has no details".into(), true)),
                None => {
                    self.message = Some((
                        "select an alert (Alerts, Transitions or Details) to copy its details"
                            .into(),
                        true,
                    ))
                }
            },
        }
    }

    fn copy(&mut self, text: &str, what: &str) {
        let (bytes, cut) = osc52(text, self.term_env.tmux);
        if !self.emit(&bytes) {
            self.message = Some(("copy dropped: the terminal is not keeping up".into(), true));
            return;
        }
        let mut m = format!(
            "sent {} via OSC 52 (terminal may not support it",
            crate::sanitize::line(what)
        );
        if self.term_env.tmux {
            m.push_str("; tmux needs allow-passthrough on");
        }
        m.push(')');
        if cut {
            m.push_str(&format!(" · cut to {} KiB", CLIP_MAX_BYTES / 1024));
        }
        self.message = Some((m, false));
    }

    fn open_url(&mut self, url: &str) {
        self.message = Some(match &self.term_env.opener {
            None => (
                format!("no browser opener found (xdg-open, open or $BROWSER): {url}"),
                true,
            ),
            Some(open) => match open(url) {
                Ok(()) => (
                    format!("opening {url} with {}", self.term_env.opener_name),
                    false,
                ),
                Err(e) => (e, true),
            },
        });
    }

    /// The owner, repo and details of the selection in the focused pane
    /// (a stream's selection is the alert its Details shows).
    fn selected_names(&self, hub: &Hub) -> Result<Selected, String> {
        let pane = match self.focus {
            Pane::Details => self.details_from,
            p => p,
        };
        match pane {
            Pane::Orgs => {
                let r = self
                    .lists
                    .orgs
                    .get(self.sel_orgs.pos)
                    .ok_or("no org selected")?;
                Ok(Selected {
                    owner: self.lists.org_name(r.id).to_string(),
                    repo: None,
                    details: None,
                })
            }
            Pane::Repos => {
                let r = self
                    .lists
                    .repos
                    .get(self.sel_repos.pos)
                    .ok_or("no repo selected")?;
                let org = self.lists.repo_org(r.id).ok_or("no repo selected")?;
                Ok(Selected {
                    owner: self.lists.org_name(org).to_string(),
                    repo: Some(self.lists.repo_name(r.id).to_string()),
                    details: None,
                })
            }
            Pane::Alerts | Pane::Transitions => {
                let id = self.details_id.ok_or("no alert selected")?;
                hub.read(|s| selected_alert(s, id))
                    .ok_or_else(|| "the selected alert is no longer in the history".to_owned())
            }
            Pane::Policies | Pane::Forwarding | Pane::Details => {
                Err("select a repo or an alert first".into())
            }
        }
    }
}

fn selected_alert(s: &Store, id: DetailsId) -> Option<Selected> {
    let (key, details) = match id {
        DetailsId::Event(seq) => {
            let e = s.event(seq)?;
            (e.key, e.details.to_string())
        }
        DetailsId::Key(k) => {
            if k as usize >= s.key_count() {
                return None;
            }
            (k, s.key(k).details.to_string())
        }
    };
    let (o, r, _) = s.key_names(key);
    Some(Selected {
        owner: o.to_string(),
        repo: Some(r.to_string()),
        details: Some(details),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_names_are_checked_before_any_url() {
        for ok in ["ossf", "a", "my-org", "A1"] {
            assert!(github_owner_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "x-",
            "a/b",
            "a b",
            "a?b",
            "ünï",
            "a\u{1b}b",
            &"a".repeat(40),
        ] {
            assert!(!github_owner_ok(bad), "{bad:?}");
        }
        for ok in ["scorecard", "a.b_c-d", ".github", "x"] {
            assert!(github_repo_ok(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a#b",
            "-x y",
            "a\nb",
            &"r".repeat(101),
        ] {
            assert!(!github_repo_ok(bad), "{bad:?}");
        }
        assert_eq!(
            github_url("ossf", Some("allstar")).unwrap(),
            "https://github.com/ossf/allstar"
        );
        assert_eq!(github_url("ossf", None).unwrap(), "https://github.com/ossf");
        let e = github_url("ossf", Some("../../evil?x=1")).unwrap_err();
        assert!(e.contains("not a GitHub repository name"), "{e}");
        let e = github_url("--help", Some("r")).unwrap_err();
        assert!(e.contains("not a GitHub owner name"), "{e}");
        // Escaped once: ESC shows as \x1b, not \\x1b.
        let e = github_url("evil\u{1b}[2J", None).unwrap_err();
        assert!(e.starts_with("\"evil\\x1b[2J\" is not"), "{e}");
    }

    #[test]
    fn osc52_is_base64_bounded_and_wrapped_for_tmux() {
        let (b, cut) = osc52("https://github.com/ossf/allstar", false);
        assert!(!cut);
        assert_eq!(
            b,
            b"\x1b]52;c;aHR0cHM6Ly9naXRodWIuY29tL29zc2YvYWxsc3Rhcg==\x07".to_vec()
        );
        let (t, _) = osc52("hi", true);
        assert_eq!(t, b"\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\".to_vec());
        // Cut at a character boundary within the bound.
        let big = "é".repeat(CLIP_MAX_BYTES);
        let (b, cut) = osc52(&big, false);
        assert!(cut);
        let b64 = &b[7..b.len() - 1];
        let text = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert!(text.len() <= CLIP_MAX_BYTES && text.len() >= CLIP_MAX_BYTES - 1);
        assert!(String::from_utf8(text).is_ok());
    }
}
