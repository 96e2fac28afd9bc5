//! The alert as the model sees it, and how it compares with the previous one.

use std::fmt;

/// How an alert compares with the previous alert for the same
/// (owner, repo, policy) key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    /// The key was never seen before.
    First,
    /// Same pass/fail status as before.
    Same,
    /// pass → fail.
    Regressed,
    /// fail → pass.
    Fixed,
}

impl Change {
    /// The name used in JSON lines and the filter language.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::First => "first",
            Change::Same => "same",
            Change::Regressed => "regressed",
            Change::Fixed => "fixed",
        }
    }

    /// Parses the JSON-lines / filter name (case-insensitive).
    pub fn parse(s: &str) -> Option<Change> {
        match s.to_ascii_lowercase().as_str() {
            "first" => Some(Change::First),
            "same" => Some(Change::Same),
            "regressed" => Some(Change::Regressed),
            "fixed" => Some(Change::Fixed),
            _ => None,
        }
    }

    /// Computes the change from the previous status (None: never seen).
    pub fn between(previous: Option<bool>, pass: bool) -> Change {
        match (previous, pass) {
            (None, _) => Change::First,
            (Some(true), false) => Change::Regressed,
            (Some(false), true) => Change::Fixed,
            _ => Change::Same,
        }
    }

    /// True for regressions and fixes.
    pub fn is_transition(self) -> bool {
        matches!(self, Change::Regressed | Change::Fixed)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_between_covers_every_case() {
        assert_eq!(Change::between(None, true), Change::First);
        assert_eq!(Change::between(None, false), Change::First);
        assert_eq!(Change::between(Some(true), true), Change::Same);
        assert_eq!(Change::between(Some(false), false), Change::Same);
        assert_eq!(Change::between(Some(true), false), Change::Regressed);
        assert_eq!(Change::between(Some(false), true), Change::Fixed);
    }

    #[test]
    fn change_names_round_trip() {
        for c in [
            Change::First,
            Change::Same,
            Change::Regressed,
            Change::Fixed,
        ] {
            assert_eq!(Change::parse(c.as_str()), Some(c));
            assert_eq!(Change::parse(&c.as_str().to_uppercase()), Some(c));
        }
        assert_eq!(Change::parse("nope"), None);
    }
}
