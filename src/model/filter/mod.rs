//! The `/` filter language of the TUI.
//!
//! A filter is a whitespace-separated list of terms that must all match
//! (AND); `or` between terms makes alternatives (AND binds tighter, so
//! `a b or c` is `(a b) or c`), and parentheses group. Matching is
//! case-insensitive everywhere.
//!
//! | term                         | matches when                                         |
//! |------------------------------|------------------------------------------------------|
//! | `org:ossf`, `org:open*`      | the owner matches the glob (`*` any run, `?` one char)|
//! | `org:ossf,acme-corp`         | any of the listed values matches (any key field)     |
//! | `repo:score*`, `repo:ossf/allstar` | the repo name, or owner/name as the Repos pane shows it |
//! | `repo:/^s/`                  | the regex is found in that field (any key field)     |
//! | `policy:"Branch Protection"` | the policy name matches the glob                     |
//! | `status:fail` / `status:pass`| the alert fails / passes (`failing`, `failed`, …)     |
//! | `change:regressed`           | the change is that one (`first`, `same`, `regressed`, `fixed`, `transition`) |
//! | `age<15m`, `age>=2d`         | the alert's age compares so (units ms, s, m, h, d; none = s) |
//! | `word`, `"a phrase"`         | a substring of owner, repo, policy or details        |
//! | `/re/`                       | the regex is found in owner, repo, policy or details |
//! | `-term`, `-( … )`            | the term (or group) does not match                   |
//! | `a or b`, `( … )`            | either side matches; parentheses group               |
//!
//! Double quotes work around any value (`org:"a b"`, `"or"` to search for
//! the word); inside them `\"` is a quote and `\\` a backslash, and a comma
//! is literal. In a glob, `\*`, `\?` and `\\` are literal. In a regex, `\/`
//! is a slash.
//!
//! Everything expensive (lowercasing, glob and regex compilation) happens in
//! [`Filter::parse`], so matching never allocates.

use std::fmt;

use regex::Regex;

use super::Change;

mod glob;
mod parse;
mod search;

use glob::Glob;
use parse::Parser;
use search::Needle;
#[cfg(test)]
use search::contains_ascii_ci;

/// The parts of an alert the filter looks at, borrowed from wherever the
/// caller keeps them.
#[derive(Debug, Clone, Copy)]
pub struct AlertView<'a> {
    pub owner: &'a str,
    pub repo: &'a str,
    pub policy: &'a str,
    pub details: &'a str,
    pub pass: bool,
    pub change: Change,
    pub age_ms: u64,
}

/// Why a filter did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// 0-based char (not byte) offset of the start of the bad term, so the
    /// TUI can put a caret under it.
    pub position: usize,
    /// A one-line message naming the bad term.
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counted from 1, as the TUI's prompt shows it.
        write!(f, "at position {}: {}", self.position + 1, self.message)
    }
}

impl std::error::Error for FilterError {}

/// A parsed filter. The default filter is empty and matches everything.
///
/// It is an AND of clauses, each a boolean tree of terms, kept in three
/// lists by what they read, so that callers can cache: clauses over the
/// key's names only, clauses over names and text (cacheable per key and
/// details), and the rest (status, change, age; re-evaluated every time).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    source: String,
    key_clauses: Vec<Node>,
    attr_clauses: Vec<Node>,
    text_clauses: Vec<Node>,
}

impl std::str::FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

/// What a filter may hold. The operator's own (the TUI, `export`) are
/// bounded only by sense; one from the network (a Watch subscriber's) is
/// evaluated by the sink over every key it holds and every live alert, so
/// it is kept small: [`Limits::REMOTE`] (and the sink runs it a slice at a
/// time, one viewer at a time: `sink::watch::lane`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of filter text.
    pub bytes: usize,
    /// Terms, each alternative of `a,b,c` counted.
    pub terms: usize,
    pub regexes: usize,
    /// The compiled size of each regex (the regex crate's `size_limit`).
    pub regex_bytes: usize,
    /// The cache each regex's lazy DFA may fill, per thread that runs it
    /// (`dfa_size_limit`). Smaller makes a few regexes slower; for the
    /// network's filters, the memory of 64 viewers' eight regexes (the
    /// crate's default of 2 MiB made 1.5 – 2.3 GB) matters more.
    pub dfa_bytes: usize,
}

impl Limits {
    pub const LOCAL: Limits = Limits {
        bytes: usize::MAX,
        terms: usize::MAX,
        regexes: usize::MAX,
        regex_bytes: 10 << 20,
        dfa_bytes: 2 << 20,
    };
    pub const REMOTE: Limits = Limits {
        bytes: 4096,
        terms: 64,
        regexes: 8,
        regex_bytes: 256 << 10,
        dfa_bytes: 64 << 10,
    };
}

impl Filter {
    /// Parses a filter; empty (or all-whitespace) input matches everything.
    pub fn parse(input: &str) -> Result<Filter, FilterError> {
        Filter::parse_within(input, Limits::LOCAL)
    }

    /// Parses a filter within `limits` (see [`Limits`]).
    pub fn parse_within(input: &str, limits: Limits) -> Result<Filter, FilterError> {
        if input.len() > limits.bytes {
            return Err(FilterError {
                position: 0,
                message: format!("longer than {} bytes ({} bytes)", limits.bytes, input.len()),
            });
        }
        let mut filter = Filter {
            source: input.to_owned(),
            ..Filter::default()
        };
        for clause in Parser::new(input, limits).clauses()? {
            match clause.reads() {
                Reads::Key => filter.key_clauses.push(clause),
                Reads::Text => filter.text_clauses.push(clause),
                Reads::Attrs => filter.attr_clauses.push(clause),
            }
        }
        // AND is commutative, so evaluate cheap clauses first to
        // short-circuit before any substring or regex search (stable: keeps
        // user order among equals).
        filter.attr_clauses.sort_by_key(Node::cost);
        filter.text_clauses.sort_by_key(Node::cost);
        Ok(filter)
    }

    /// True when there are no terms.
    pub fn is_empty(&self) -> bool {
        self.key_clauses.is_empty() && !self.has_event_terms()
    }

    /// The text the filter was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when every clause matches the alert.
    pub fn matches(&self, a: &AlertView<'_>) -> bool {
        self.matches_key(a.owner, a.repo, a.policy) && self.matches_event(a)
    }

    /// Evaluates only the clauses that depend on the key alone (org:,
    /// repo:, policy: and their combinations).
    /// Callers pre-compute this once per (owner, repo, policy) key and cache it.
    pub fn matches_key(&self, owner: &str, repo: &str, policy: &str) -> bool {
        self.key_clauses
            .iter()
            .all(|c| c.eval_key(owner, repo, policy))
    }

    /// Evaluates the remaining clauses.
    /// `matches(a) == matches_key(..) && matches_event(a)`.
    pub fn matches_event(&self, a: &AlertView<'_>) -> bool {
        self.matches_attrs(a) && self.matches_text(a)
    }

    /// The clauses that read the alert's status, change or age (and maybe
    /// text as well). `matches_event(a) == matches_attrs(a) && matches_text(a)`.
    pub fn matches_attrs(&self, a: &AlertView<'_>) -> bool {
        self.attr_clauses.iter().all(|c| c.eval(a))
    }

    /// The clauses that read only names and text (bare words and regexes
    /// over the names and details, with any key terms). Their result
    /// depends only on the key and the details text, so callers may cache
    /// it per (key, details).
    pub fn matches_text(&self, a: &AlertView<'_>) -> bool {
        self.text_clauses.iter().all(|c| c.eval(a))
    }

    /// False when [`Filter::matches_key`] alone decides.
    pub fn has_event_terms(&self) -> bool {
        !self.attr_clauses.is_empty() || !self.text_clauses.is_empty()
    }

    /// Bare words and regexes: each reads an alert's names and details
    /// once (what evaluating the filter costs, for the sink's viewers).
    pub fn text_terms(&self) -> usize {
        self.attr_clauses
            .iter()
            .chain(&self.text_clauses)
            .map(Node::text_terms)
            .sum()
    }

    /// True when no term reads text with a search or a regex, and the
    /// filter is short: only key globs, status, change and age. A glob's
    /// match is linear but for patterns of many `*`, where it is up to
    /// the name's length times the pattern's; 256 bytes keep that to a few
    /// tens of microseconds an alert at worst.
    pub fn is_cheap(&self) -> bool {
        self.source.len() <= 256
            && self
                .key_clauses
                .iter()
                .chain(&self.attr_clauses)
                .chain(&self.text_clauses)
                .all(Node::is_cheap)
    }

    /// True if any bare word / regex term exists (they read details).
    pub fn uses_details(&self) -> bool {
        self.attr_clauses
            .iter()
            .chain(&self.text_clauses)
            .any(Node::reads_text)
    }
}

// ---------------------------------------------------------------------------
// Terms and their combinations

/// A clause: a boolean tree of terms.
#[derive(Debug, Clone)]
enum Node {
    Not(Box<Node>),
    All(Vec<Node>),
    Any(Vec<Node>),
    Key(KeyTest),
    Event(EventTest),
}

/// What a clause reads, from least to most: decides where it is cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reads {
    Key,
    Text,
    Attrs,
}

impl Node {
    fn children(&self) -> &[Node] {
        match self {
            Node::Not(n) => std::slice::from_ref(n),
            Node::All(v) | Node::Any(v) => v,
            Node::Key(_) | Node::Event(_) => &[],
        }
    }

    fn reads(&self) -> Reads {
        match self {
            Node::Key(_) => Reads::Key,
            Node::Event(e) if e.reads_text() => Reads::Text,
            Node::Event(_) => Reads::Attrs,
            n => n
                .children()
                .iter()
                .map(Node::reads)
                .max()
                .unwrap_or(Reads::Key),
        }
    }

    fn reads_text(&self) -> bool {
        match self {
            Node::Event(e) => e.reads_text(),
            n => n.children().iter().any(Node::reads_text),
        }
    }

    fn is_cheap(&self) -> bool {
        match self {
            Node::Key(k) => !k.alts.iter().any(|p| matches!(p, Pattern::Regex(_))),
            Node::Event(e) => !e.reads_text(),
            n => n.children().iter().all(Node::is_cheap),
        }
    }

    fn text_terms(&self) -> usize {
        match self {
            Node::Event(e) => usize::from(e.reads_text()),
            n => n.children().iter().map(Node::text_terms).sum(),
        }
    }

    /// Rough relative cost, used only to order evaluation.
    fn cost(&self) -> u8 {
        match self {
            Node::Key(_) => 0,
            Node::Event(e) => e.cost(),
            n => n.children().iter().map(Node::cost).max().unwrap_or(0),
        }
    }

    fn eval(&self, a: &AlertView<'_>) -> bool {
        match self {
            Node::Not(n) => !n.eval(a),
            Node::All(v) => v.iter().all(|n| n.eval(a)),
            Node::Any(v) => v.iter().any(|n| n.eval(a)),
            Node::Key(k) => k.matches(a.owner, a.repo, a.policy),
            Node::Event(e) => e.matches(a),
        }
    }

    /// For clauses of key terms only (see [`Node::reads`]).
    fn eval_key(&self, owner: &str, repo: &str, policy: &str) -> bool {
        match self {
            Node::Not(n) => !n.eval_key(owner, repo, policy),
            Node::All(v) => v.iter().all(|n| n.eval_key(owner, repo, policy)),
            Node::Any(v) => v.iter().any(|n| n.eval_key(owner, repo, policy)),
            Node::Key(k) => k.matches(owner, repo, policy),
            // Never in a key clause.
            Node::Event(_) => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyField {
    Owner,
    Repo,
    Policy,
}

/// One value of a key field (a field may list several: `org:a,b`).
#[derive(Debug, Clone)]
enum Pattern {
    Glob(Glob),
    /// `repo:/re/`: found in the field.
    Regex(Regex),
    /// `repo:owner/name`, as the Repos pane shows repos: both globs.
    OwnerRepo(Glob, Glob),
    /// A bare word `a/b` found in `owner/repo` as the panes show it: the
    /// owner ends with `a` and the repo starts with `b` (ASCII, any case;
    /// neither name has a `/`).
    Straddle(String, String),
}

#[derive(Debug, Clone)]
struct KeyTest {
    field: KeyField,
    /// Any of them matches.
    alts: Vec<Pattern>,
}

impl KeyTest {
    fn matches(&self, owner: &str, repo: &str, policy: &str) -> bool {
        let hay = match self.field {
            KeyField::Owner => owner,
            KeyField::Repo => repo,
            KeyField::Policy => policy,
        };
        self.alts.iter().any(|p| match p {
            Pattern::Glob(g) => g.matches(hay),
            Pattern::Regex(re) => re.is_match(hay),
            Pattern::OwnerRepo(o, r) => o.matches(owner) && r.matches(repo),
            Pattern::Straddle(a, b) => {
                let (o, r) = (owner.as_bytes(), repo.as_bytes());
                o.len() >= a.len()
                    && o[o.len() - a.len()..].eq_ignore_ascii_case(a.as_bytes())
                    && r.get(..b.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(b.as_bytes()))
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
enum EventTest {
    Pass(bool),
    /// Bit set of accepted [`Change`]s (see [`change_bit`]).
    Change(u8),
    Age(Cmp, u64),
    Text(Needle),
    Regex(Regex),
}

impl EventTest {
    fn reads_text(&self) -> bool {
        matches!(self, EventTest::Text(_) | EventTest::Regex(_))
    }

    /// Rough relative cost, used only to order evaluation.
    fn cost(&self) -> u8 {
        match self {
            EventTest::Pass(_) | EventTest::Change(_) | EventTest::Age(..) => 0,
            EventTest::Text(Needle::Ascii(_)) => 1,
            EventTest::Text(Needle::Unicode(_)) | EventTest::Regex(_) => 2,
        }
    }

    fn matches(&self, a: &AlertView<'_>) -> bool {
        match self {
            EventTest::Pass(pass) => a.pass == *pass,
            EventTest::Change(mask) => mask & change_bit(a.change) != 0,
            EventTest::Age(cmp, limit) => match cmp {
                Cmp::Lt => a.age_ms < *limit,
                Cmp::Le => a.age_ms <= *limit,
                Cmp::Gt => a.age_ms > *limit,
                Cmp::Ge => a.age_ms >= *limit,
            },
            EventTest::Text(Needle::Ascii(needle)) => {
                texts(a).iter().any(|hay| needle.is_in(hay.as_bytes()))
            }
            EventTest::Text(Needle::Unicode(re)) | EventTest::Regex(re) => {
                texts(a).iter().any(|hay| re.is_match(hay))
            }
        }
    }
}

/// The fields that bare words and regexes search.
fn texts<'a>(a: &AlertView<'a>) -> [&'a str; 4] {
    [a.owner, a.repo, a.policy, a.details]
}

fn change_bit(c: Change) -> u8 {
    match c {
        Change::First => 1,
        Change::Same => 2,
        Change::Regressed => 4,
        Change::Fixed => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::parse::parse_age_ms;
    use super::*;
    use proptest::prelude::*;
    use regex::RegexBuilder;

    fn alert<'a>(
        owner: &'a str,
        repo: &'a str,
        policy: &'a str,
        details: &'a str,
    ) -> AlertView<'a> {
        AlertView {
            owner,
            repo,
            policy,
            details,
            pass: false,
            change: Change::Same,
            age_ms: 0,
        }
    }

    fn sample() -> AlertView<'static> {
        AlertView {
            owner: "ossf",
            repo: "scorecard",
            policy: "Branch Protection",
            details: "No protection found for branch main",
            pass: false,
            change: Change::Regressed,
            age_ms: 10 * 60_000, // 10 minutes
        }
    }

    /// Parses (panicking with the error on failure) and matches.
    fn m(filter: &str, a: &AlertView<'_>) -> bool {
        let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter:?}: {e}"));
        let key = f.matches_key(a.owner, a.repo, a.policy);
        let event = f.matches_event(a);
        assert_eq!(f.matches(a), key && event, "split mismatch for {filter:?}");
        f.matches(a)
    }

    fn err(filter: &str) -> FilterError {
        match Filter::parse(filter) {
            Ok(f) => panic!("{filter:?} parsed: {f:?}"),
            Err(e) => e,
        }
    }

    /// Asserts an error at `position` whose message names `term` and contains `hint`.
    fn assert_err(filter: &str, position: usize, term: &str, hint: &str) {
        let e = err(filter);
        assert_eq!(e.position, position, "{filter:?}: {e}");
        assert!(e.message.contains(&format!("`{term}`")), "{filter:?}: {e}");
        assert!(e.message.contains(hint), "{filter:?}: {e}");
        assert!(
            !e.message.contains('\n'),
            "{filter:?}: multi-line message {e}"
        );
    }

    // --- basics ----------------------------------------------------------

    #[test]
    fn empty_filter_matches_everything() {
        for input in ["", "   ", "\t\n"] {
            let f = Filter::parse(input).unwrap();
            assert!(f.is_empty());
            assert!(!f.has_event_terms());
            assert!(!f.uses_details());
            assert_eq!(f.source(), input);
            assert!(f.matches(&sample()));
        }
        assert!(Filter::default().is_empty());
        assert!(Filter::default().matches(&sample()));
    }

    #[test]
    fn source_is_kept_and_from_str_works() {
        let f: Filter = "org:ossf  status:fail".parse().unwrap();
        assert_eq!(f.source(), "org:ossf  status:fail");
        assert!(!f.is_empty());
    }

    // --- key fields and globs -------------------------------------------

    #[test]
    fn org_is_case_insensitive_equality() {
        let a = sample();
        assert!(m("org:ossf", &a));
        assert!(m("org:OSSF", &a));
        assert!(m("ORG:Ossf", &a));
        assert!(!m("org:oss", &a), "no glob chars means whole-name equality");
        assert!(!m("org:ossfx", &a));
        assert!(!m("org:scorecard", &a), "org must not look at repo");
    }

    #[test]
    fn repo_and_policy_fields() {
        let a = sample();
        assert!(m("repo:scorecard", &a));
        assert!(m("repo:score*", &a));
        assert!(!m("repo:score", &a));
        assert!(!m("repo:ossf", &a), "repo must not look at owner");
        assert!(m(r#"policy:"Branch Protection""#, &a));
        assert!(m(r#"policy:"branch protection""#, &a));
        assert!(m("policy:branch*", &a));
        assert!(!m("policy:branch", &a));
        assert!(!m("policy:scorecard", &a), "policy must not look at repo");
    }

    #[test]
    fn glob_wildcards() {
        let a = sample();
        assert!(m("org:open*", &alert("openssf", "r", "p", "")));
        assert!(m("org:o*", &a));
        assert!(m("org:*f", &a));
        assert!(m("org:*ss*", &a));
        assert!(m("org:*", &a));
        assert!(m("org:o**f", &a));
        assert!(m("org:o?sf", &a));
        assert!(m("org:????", &a));
        assert!(!m("org:???", &a));
        assert!(!m("org:?????", &a));
        assert!(!m("org:*x*", &a));
        assert!(!m("org:f*", &a));
        // Backtracking: the first `a` tried by `*` is the wrong one.
        assert!(m("repo:*a*b", &alert("o", "xaxxab", "p", "")));
        assert!(!m("repo:*a*b", &alert("o", "xaxxa", "p", "")));
        assert!(m("repo:a*a*a", &alert("o", "aaa", "p", "")));
        assert!(!m("repo:a*a*a", &alert("o", "aa", "p", "")));
        // `*` matches the empty run, `?` never does.
        assert!(m("repo:ab*", &alert("o", "ab", "p", "")));
        assert!(!m("repo:ab?", &alert("o", "ab", "p", "")));
    }

    #[test]
    fn glob_escapes_and_unicode() {
        assert!(m(r"repo:a\*b", &alert("o", "a*b", "p", "")));
        assert!(!m(r"repo:a\*b", &alert("o", "axxb", "p", "")));
        assert!(m(r"repo:a\?", &alert("o", "a?", "p", "")));
        assert!(!m(r"repo:a\?", &alert("o", "ab", "p", "")));
        // `?` is one char, not one byte.
        assert!(m("org:?", &alert("é", "r", "p", "")));
        assert!(m("org:??", &alert("🦀x", "r", "p", "")));
        assert!(!m("org:?", &alert("🦀x", "r", "p", "")));
        // Unicode case folding.
        assert!(m("org:Ünïcödé", &alert("ünïcödé", "r", "p", "")));
        assert!(m("org:ÜN*", &alert("ünïcödé", "r", "p", "")));
        assert!(!m("org:Ünïcödé", &alert("unicode", "r", "p", "")));
    }

    #[test]
    fn quoted_values() {
        assert!(m(r#"org:"a b""#, &alert("A B", "r", "p", "")));
        assert!(!m(r#"org:"a b""#, &alert("a", "r", "p", "")));
        assert!(m(r#"repo:"x\"y""#, &alert("o", "x\"y", "p", "")));
        assert!(m(r#"status:"fail""#, &sample()));
        // A quote in the middle of a value is literal.
        assert!(m(r#"repo:x"y"#, &alert("o", "x\"y", "p", "")));
    }

    // --- status and change -----------------------------------------------

    #[test]
    fn status_values() {
        let fail = sample();
        let pass = AlertView {
            pass: true,
            ..sample()
        };
        for v in ["fail", "failing", "failed", "FAIL"] {
            assert!(m(&format!("status:{v}"), &fail), "{v}");
            assert!(!m(&format!("status:{v}"), &pass), "{v}");
        }
        for v in ["pass", "passing", "passed", "Pass"] {
            assert!(m(&format!("status:{v}"), &pass), "{v}");
            assert!(!m(&format!("status:{v}"), &fail), "{v}");
        }
    }

    #[test]
    fn change_values() {
        let all = [
            Change::First,
            Change::Same,
            Change::Regressed,
            Change::Fixed,
        ];
        for c in all {
            for other in all {
                let a = AlertView {
                    change: other,
                    ..sample()
                };
                assert_eq!(m(&format!("change:{}", c.as_str()), &a), c == other);
                assert_eq!(
                    m(&format!("CHANGE:{}", c.as_str().to_uppercase()), &a),
                    c == other
                );
            }
            let a = AlertView {
                change: c,
                ..sample()
            };
            assert_eq!(m("change:transition", &a), c.is_transition());
            assert_eq!(m("change:transitions", &a), c.is_transition());
        }
    }

    // --- age ----------------------------------------------------------------

    #[test]
    fn age_units() {
        let at = |ms| AlertView {
            age_ms: ms,
            ..sample()
        };
        let cases: [(&str, u64); 8] = [
            ("500ms", 500),
            ("30s", 30_000),
            ("30", 30_000),
            ("15m", 900_000),
            ("2h", 7_200_000),
            ("2d", 172_800_000),
            ("1.5h", 5_400_000),
            ("15M", 900_000),
        ];
        for (text, ms) in cases {
            let f = format!("age<{text}");
            assert!(m(&f, &at(ms - 1)), "{f}");
            assert!(!m(&f, &at(ms)), "{f}");
        }
    }

    #[test]
    fn age_comparators() {
        let at = |ms| AlertView {
            age_ms: ms,
            ..sample()
        };
        let limit = 60_000; // 1m
        for (op, below, equal, above) in [
            ("<", true, false, false),
            ("<=", true, true, false),
            (">", false, false, true),
            (">=", false, true, true),
        ] {
            let f = format!("age{op}1m");
            assert_eq!(m(&f, &at(limit - 1)), below, "{f}");
            assert_eq!(m(&f, &at(limit)), equal, "{f}");
            assert_eq!(m(&f, &at(limit + 1)), above, "{f}");
        }
        assert!(m("AGE>=0", &at(0)));
        // Below 0 is nothing: said, not accepted (a review).
        for never in ["age<0", "age<0s", "age < 0m", "age<0.0001s"] {
            assert_err(never, 0, never, "younger than 0");
        }
        assert!(m("age<=0", &at(0)));
        // Spaced as people write comparisons (a user's review: `age < 15m`
        // was three words of text and matched nothing).
        for spaced in ["age < 1m", "age <1m", "age< 1m", "age  <=  1m"] {
            assert!(m(spaced, &at(limit - 1)), "{spaced}");
            assert!(!m(spaced, &at(limit + 1)), "{spaced}");
        }
        assert!(m("age < 1m org:ossf", &at(0)));
        assert!(m("age>1h age<1d", &at(2 * 3_600_000)));
        assert!(!m("age>1h age<1d", &at(30 * 60_000)));
    }

    #[test]
    fn age_parsing_edges() {
        assert_eq!(parse_age_ms("0"), Some(0));
        assert_eq!(parse_age_ms("0.5s"), Some(500));
        assert_eq!(parse_age_ms("1d"), Some(86_400_000));
        assert_eq!(parse_age_ms("abc"), None);
        assert_eq!(parse_age_ms("m"), None);
        assert_eq!(parse_age_ms("."), None);
        assert_eq!(parse_age_ms("1.2.3s"), None);
        assert_eq!(parse_age_ms("5w"), None);
        assert_eq!(parse_age_ms("1e5"), None);
        assert_eq!(parse_age_ms("inf"), None);
        assert_eq!(parse_age_ms("-5s"), None);
        assert_eq!(parse_age_ms("99999999999999999999d"), None, "overflow");
        assert_eq!(
            parse_age_ms("999999999999999999d"),
            None,
            "overflow on multiply"
        );
        assert_eq!(parse_age_ms("1e308"), None);
    }

    // --- bare words, phrases, regex --------------------------------------

    #[test]
    fn bare_words_search_every_text_field() {
        let a = sample();
        assert!(m("oss", &a), "owner");
        assert!(m("CARD", &a), "repo");
        assert!(m("protect", &a), "policy");
        assert!(m("main", &a), "details");
        assert!(!m("nowhere", &a));
        // Not searched across field boundaries.
        assert!(!m("ossfscorecard", &a));
    }

    /// `org/repo` as the panes show it is found in the names (a review:
    /// `ossf/allstar` matched nothing while `repo:ossf/allstar` did), as a
    /// substring like any bare word; and still in details.
    #[test]
    fn a_bare_org_slash_repo_is_found_in_the_names() {
        let a = sample();
        assert!(m("ossf/scorecard", &a));
        assert!(m("OSSF/Score", &a), "any case, a substring");
        assert!(m("sf/sco", &a), "the end of the org, the start of the repo");
        assert!(!m("ossf/card", &a), "the repo's start, not its middle");
        assert!(!m("ossf/scorecard/x", &a));
        assert!(m("-ossf/other", &a));
        assert!(!m("-ossf/scorecard", &a));
        assert!(m("see/also", &alert("o", "r", "p", "see/also the docs")));
        // Quoted as a phrase, and an org's every repo (a review).
        assert!(m(r#""ossf/scorecard""#, &a));
        assert!(!m(r#"-"ossf/scorecard""#, &a));
        assert!(m("ossf/", &a));
        assert!(!m("acme/", &a));
    }

    #[test]
    fn quoted_phrases() {
        let a = sample();
        assert!(m(r#""no protection found""#, &a));
        assert!(m(r#""NO PROTECTION""#, &a));
        assert!(!m(r#""protection no""#, &a));
        // Unquoted, they are two independent words.
        assert!(m("protection no", &a));
        // A phrase protects text that would otherwise be syntax.
        assert!(m(r#""http://x""#, &alert("o", "r", "p", "see http://x/y")));
        assert!(m(r#""-v""#, &alert("o", "r", "p", "run -v")));
        assert!(!m(r#""-v""#, &alert("o", "r", "p", "run v")));
    }

    #[test]
    fn non_ascii_words_use_unicode_case_folding() {
        let a = alert("o", "r", "p", "Ünïcödé 🦀 ΣΊΣΥΦΟΣ");
        assert!(m("ünïcödé", &a));
        assert!(m("🦀", &a));
        assert!(m("σίσυφος", &a));
        assert!(!m("ünïcode", &a));
        assert!(!m("🐍", &a));
    }

    #[test]
    fn ascii_search_long_haystacks() {
        // Exercise the 8-wide block path, the tail, and block boundaries.
        let long = format!("{}Needle{}", "x".repeat(37), "y".repeat(40));
        for w in [
            "needle", "NEEDLE", "n", "e", "xn", "ey", "xneedley", "x", "y",
        ] {
            assert!(
                contains_ascii_ci(long.as_bytes(), w.to_ascii_lowercase().as_bytes()),
                "{w}"
            );
        }
        for w in ["needles", "xy", "z", "needle!"] {
            assert!(!contains_ascii_ci(long.as_bytes(), w.as_bytes()), "{w}");
        }
        // Every position of a match in a 64-byte haystack, at every length.
        for len in 1..=20 {
            for at in 0..=(64 - len) {
                let mut hay = vec![b'a'; 64];
                for b in &mut hay[at..at + len] {
                    *b = b'B';
                }
                let needle = vec![b'b'; len];
                assert!(contains_ascii_ci(&hay, &needle), "len {len} at {at}");
                let longer = vec![b'b'; len + 1];
                assert!(!contains_ascii_ci(&hay, &longer), "len {len} at {at}");
            }
        }
        // A decoy (first and last bytes match, middle does not) in the same
        // 8-byte block before the real match: every candidate must be tried.
        for pad in 0..16 {
            let hay = format!("{}AxB AyB{}", "z".repeat(pad), "z".repeat(16));
            assert!(contains_ascii_ci(hay.as_bytes(), b"ayb"), "pad {pad}");
            assert!(!contains_ascii_ci(hay.as_bytes(), b"azb"), "pad {pad}");
        }
        // Non-letters must not be case-folded: `@` (0x40) | 0x20 is '`'.
        assert!(!contains_ascii_ci(b"@", b"`"));
        assert!(!contains_ascii_ci(b"[", b"{"));
        assert!(contains_ascii_ci("é@x".as_bytes(), b"@x"));
    }

    #[test]
    fn regex_terms() {
        let a = sample();
        assert!(m("/^oss/", &a), "owner");
        assert!(m("/card$/", &a), "repo");
        assert!(m("/branch\\s+protection/", &a), "policy, case-insensitive");
        assert!(m("/for branch (main|master)/", &a), "spaces inside a regex");
        assert!(!m("/^main/", &a));
        let slashy = alert("o", "r", "p", "path a/b here");
        assert!(m(r"/a\/b/", &slashy), "escaped slash");
        assert!(!m(r"/a\/c/", &slashy));
        assert!(
            m(r"/\d+/", &alert("o", "r", "p", "42")),
            "other escapes kept"
        );
        assert!(!m(r"/\d+/", &alert("o", "r", "p", "x")));
        assert!(
            m(r"/a\\/", &alert("o", "r", "p", r"a\")),
            "`\\\\` then closing slash"
        );
    }

    // --- negation and combinations ----------------------------------------

    #[test]
    fn negation_of_every_kind() {
        let a = sample();
        for term in [
            "org:ossf",
            "repo:score*",
            r#"policy:"Branch Protection""#,
            "status:fail",
            "status:pass",
            "change:regressed",
            "change:fixed",
            "change:transition",
            "age<15m",
            "age>15m",
            "main",
            "nowhere",
            r#""no protection""#,
            "/^oss/",
            "/zzz/",
        ] {
            let plain = m(term, &a);
            assert_eq!(m(&format!("-{term}"), &a), !plain, "{term}");
            assert_eq!(
                m(&format!("--{term}"), &a),
                plain,
                "double negation of {term}"
            );
        }
        assert!(!m("-org:ossf", &a));
        assert!(m("-status:pass", &a));
        assert!(!m("-main", &a));
        assert!(!m("-/^oss/", &a));
    }

    #[test]
    fn all_terms_must_match() {
        let a = sample();
        assert!(m(
            "org:ossf repo:score* status:fail change:regressed age<15m main",
            &a
        ));
        assert!(!m("org:ossf repo:score* status:pass", &a));
        assert!(!m("org:ossf nowhere", &a));
        assert!(!m("org:other main", &a));
        assert!(m("org:ossf -repo:allstar", &a));
        assert!(!m("org:ossf -repo:scorecard", &a));
        assert!(
            m("  org:ossf\t\tstatus:fail  ", &a),
            "any whitespace separates"
        );
        // Order does not matter (event terms are re-ordered internally).
        assert!(!m("nowhere status:fail", &a));
        assert!(!m("status:pass main", &a));
    }

    #[test]
    fn key_and_event_split() {
        let f = Filter::parse("org:ossf -repo:x* status:fail").unwrap();
        assert!(f.has_event_terms());
        assert!(!f.uses_details());
        assert!(f.matches_key("OSSF", "scorecard", "any"));
        assert!(!f.matches_key("ossf", "xyz", "any"));
        assert!(!f.matches_key("other", "scorecard", "any"));
        let pass = AlertView {
            pass: true,
            ..sample()
        };
        assert!(f.matches_event(&sample()));
        assert!(!f.matches_event(&pass));

        // Only key terms: the event part always agrees.
        let f = Filter::parse("org:ossf policy:*").unwrap();
        assert!(!f.has_event_terms());
        assert!(f.matches_event(&pass));

        // Only event terms: the key part always agrees.
        let f = Filter::parse("ossf").unwrap();
        assert!(f.has_event_terms());
        assert!(f.uses_details());
        assert!(f.matches_key("a", "b", "c"));
        assert!(Filter::parse("/x/").unwrap().uses_details());
        assert!(Filter::parse("-\"a b\"").unwrap().uses_details());
        assert!(!Filter::parse("age<1m change:first").unwrap().uses_details());
    }

    // --- errors ------------------------------------------------------------

    #[test]
    fn unknown_field() {
        assert_err("foo:bar", 0, "foo:bar", "unknown field `foo`");
        let e = err("org:a foo:bar");
        assert_eq!(e.position, 6);
        for f in ["org", "repo", "policy", "status", "change", "age"] {
            assert!(e.message.contains(f), "lists {f}: {e}");
        }
        assert_err("-Foo:bar", 0, "-Foo:bar", "unknown field `Foo`");
        assert_err("age:5m", 0, "age:5m", "age<15m");
    }

    #[test]
    fn bad_status_and_change() {
        assert_err(
            "status:maybe",
            0,
            "status:maybe",
            "status:pass or status:fail",
        );
        assert_err("x status:ok", 2, "status:ok", "bad status");
        assert_err("change:new", 0, "change:new", "transition");
        assert_err("a  -change:x", 3, "-change:x", "bad change");
    }

    #[test]
    fn bad_age() {
        assert_err("age<abc", 0, "age<abc", "bad age `abc`");
        assert_err("x age>5w", 2, "age>5w", "ms, s, m, h or d");
        assert_err("age=5m", 0, "age=5m", "<, >, <= or >=");
        assert_err("age<", 0, "age<", "missing age");
        assert_err("age>= x", 0, "age>=", "missing age");
        assert_err("age<<5", 0, "age<<5", "bad age");
        assert_err(
            "age<99999999999999999999",
            0,
            "age<99999999999999999999",
            "bad age",
        );
    }

    #[test]
    fn repo_as_owner_slash_name_and_as_name() {
        let a = sample(); // ossf/scorecard
        assert!(m("repo:ossf/scorecard", &a));
        assert!(m("repo:scorecard", &a));
        assert!(m("repo:OSSF/score*", &a));
        assert!(m("repo:*/scorecard", &a));
        assert!(!m("repo:acme/scorecard", &a));
        assert!(!m("repo:ossf/allstar", &a));
    }

    #[test]
    fn or_inside_a_field_and_between_terms_with_parentheses() {
        let a = sample(); // ossf/scorecard, Branch Protection, fail, regressed
        assert!(m("org:acme-corp,ossf", &a));
        assert!(!m("org:acme-corp,nimbus", &a));
        assert!(m("repo:allstar,ossf/scorecard", &a));
        assert!(m("org:acme or org:ossf", &a));
        assert!(m("org:acme OR repo:score*", &a));
        assert!(!m("org:acme or repo:allstar", &a));
        // AND binds tighter than OR: (org:acme status:pass) or (org:ossf).
        assert!(m("org:acme status:fail or org:ossf", &a));
        assert!(!m("org:ossf status:pass or org:acme", &a));
        assert!(m("(org:acme or org:ossf) status:fail", &a));
        assert!(!m("(org:acme or org:ossf) status:pass", &a));
        assert!(m("-(org:acme or status:pass)", &a));
        assert!(!m("-(org:ossf or status:pass)", &a));
        assert!(m("((org:ossf))", &a));
        // Mixed clauses: key, text and status together.
        assert!(m("status:pass or protection", &a));
        assert!(!m("status:pass or allstar", &a));
        assert!(m("(org:x or \"branch main\") change:regressed", &a));
        // Quoted, `or` and a comma are text.
        assert!(m("\"or\"", &a)); // in "scorecard"
        assert!(m(
            "policy:\"Branch Protection,x\" or policy:\"Branch Protection\"",
            &a
        ));
        // Key-only clauses are decided by matches_key alone.
        let f = Filter::parse("org:acme or repo:score*").unwrap();
        assert!(!f.has_event_terms());
        // A clause that reads status and text is not cached as text.
        let f = Filter::parse("status:pass or protection").unwrap();
        assert!(f.uses_details());
        let mut passing = a;
        passing.pass = true;
        passing.details = "";
        assert!(f.matches_attrs(&passing) && f.matches_text(&passing));
    }

    #[test]
    fn regex_per_field() {
        let a = sample();
        assert!(m("repo:/^s/", &a));
        assert!(!m("repo:/^o/", &a));
        assert!(m("org:/^os+f$/", &a));
        assert!(m("policy:/branch\\s+prot/", &a));
        // A regex is not split at commas.
        assert!(m("repo:/^s.{1,20}$/", &a));
        assert_err("repo:/(/", 0, "repo:/(/", "invalid regex");
    }

    #[test]
    fn boolean_errors_point_at_their_token_and_stay_short() {
        assert_err("org:a or", 6, "or", "needs a term after");
        assert_err("or org:a", 0, "or", "needs a term before");
        assert_err("(org:a", 0, "(", "without a closing");
        assert_err("org:a )", 6, ")", "without a matching");
        // Glued to the value, it is the same typo (it matched nothing).
        assert_err("org:ossf)", 8, ")", "without a matching");
        assert!(Filter::parse("(org:ossf)").is_ok());
        // A bare word too (it searched the text `ossf)`); quoted, or with
        // its `(`, it is text.
        assert_err("ossf)", 4, ")", "without a matching");
        assert_err("check failed)", 12, ")", "without a matching");
        assert!(Filter::parse("\"ossf)\"").is_ok());
        assert!(Filter::parse("f(x)").is_ok());
        assert_err("()", 0, "()", "empty parentheses");
        assert_err("org:a,,b", 0, "org:a,,b", "empty value");
        let deep = format!("{}x{}", "(".repeat(40), ")".repeat(40));
        assert!(err(&deep).message.contains("too deep"));
        // Long input: the quoted term is cut, the message stays one short line.
        let e = err(&format!("org:ossf \"{}", "word ".repeat(40)));
        assert_eq!(e.position, 9);
        assert!(e.message.chars().count() < 80, "{e}");
        let e = err("frob:x");
        assert!(e.message.chars().count() < 90, "{e}");
    }

    #[test]
    fn unterminated_quote() {
        assert_err(
            r#"org:ossf "no protection"#,
            9,
            r#""no protection"#,
            "unterminated quote",
        );
        // At the quote, not at the field or the `-` before it.
        assert_err(r#"policy:"Branch"#, 7, r#""Branch"#, "unterminated quote");
        assert_err(r#"-"x\""#, 1, r#""x\""#, "unterminated quote");
    }

    #[test]
    fn regex_errors() {
        assert_err("org:a /abc", 6, "/abc", "unterminated regex");
        assert_err(r"/abc\/", 0, r"/abc\/", "unterminated regex");
        assert_err(r"/abc\", 0, r"/abc\", "unterminated regex");
        let e = err("x /(unclosed/");
        assert_eq!(e.position, 2);
        assert!(e.message.contains("`/(unclosed/`"), "{e}");
        assert!(e.message.contains("invalid regex: unclosed group"), "{e}");
        assert!(!e.message.contains('\n'));
        assert_err("-/[z-a]/", 0, "-/[z-a]/", "invalid regex");
        assert_err("//", 0, "//", "empty regex");
        assert_err("/a/b", 0, "/a/b", "after the closing");
    }

    #[test]
    fn empty_values_and_lone_dash() {
        assert_err("org:", 0, "org:", "empty value for `org:`");
        assert_err(
            "status:fail repo: x",
            12,
            "repo:",
            "empty value for `repo:`",
        );
        assert_err(r#"policy:"""#, 0, r#"policy:"""#, "empty value");
        assert_err("change:", 0, "change:", "empty value");
        assert_err(r#""""#, 0, r#""""#, "empty phrase");
        assert_err("-", 0, "-", "followed by a term");
        assert_err("org:ossf - x", 9, "-", "followed by a term");
        assert_err("--", 0, "--", "followed by a term");
        assert_err(r#"org:"a"b"#, 0, r#"org:"a"b"#, "after the closing");
    }

    #[test]
    fn error_positions_count_chars_not_bytes() {
        // "ünï " is 4 chars but 6 bytes.
        assert_err("ünï foo:x", 4, "foo:x", "unknown field");
        assert_err("🦀🦀 org:", 3, "org:", "empty value");
    }

    #[test]
    fn long_terms_are_shortened_in_messages() {
        let input = format!("foo:{}", "x".repeat(500));
        let e = err(&input);
        assert!(e.message.len() < 300, "{e}");
        assert!(e.message.contains('…'));
    }

    #[test]
    fn display_includes_position_and_message() {
        let e = err("a foo:bar");
        let shown = e.to_string();
        // Counted from 1, as the TUI shows it.
        assert!(
            shown.starts_with("at position 3: ") && shown.contains("foo"),
            "{shown}"
        );
        let _: &dyn std::error::Error = &e;
    }

    #[test]
    fn non_ascii_never_panics() {
        let a = alert("Ünïcödé", "🦀-repo", "ΣΊΣΥΦΟΣ", "İstanbul ß ﬁ");
        for input in [
            "org:Ünïcödé",
            "org:ünï*",
            "repo:🦀*",
            "repo:?-repo",
            "policy:σίσυφος",
            "İ",
            "i̇",
            "ß",
            "SS",
            "ﬁ",
            "/🦀/",
            "/(?-i)ß/",
            "-🦀",
            "\"🦀 -\"",
            "org:🦀\u{0}",
            "\u{0}\u{1b}[31m",
            "age<٣m",
            "status:ƒail",
            "：",
            "org\u{3000}x",
        ] {
            if let Ok(f) = Filter::parse(input) {
                let key = f.matches_key(a.owner, a.repo, a.policy);
                assert_eq!(f.matches(&a), key && f.matches_event(&a), "{input:?}");
            }
        }
        assert!(m("org:Ünïcödé", &a));
        assert!(m("repo:🦀*", &a));
        assert!(m("İstan", &a));
    }

    /// Not a correctness test: `cargo test --release --lib model::filter -- --ignored`
    /// checks the 1,000,000-alert budget on worst cases where every alert
    /// reaches every term (a word found nowhere, so all four fields are fully
    /// scanned, and one found only at the very end of details).
    #[test]
    #[ignore]
    fn perf_one_million_alerts() {
        let details: Vec<String> = (0..1000)
            .map(|i| {
                format!(
                    "Branch protection is not enabled for the default branch main \
                     in repository number {i}; see the repository Settings"
                )
            })
            .collect();
        // Best of 5 runs: the machine is shared, we want the code's cost.
        let time = |src: &str| {
            let f = Filter::parse(src).unwrap();
            let mut best = std::time::Duration::MAX;
            let mut hits = 0;
            for _ in 0..5 {
                let start = std::time::Instant::now();
                hits = 0;
                for (i, d) in details.iter().cycle().take(1_000_000).enumerate() {
                    let a = AlertView {
                        owner: "ossf",
                        repo: "scorecard",
                        policy: "Branch Protection",
                        details: d,
                        pass: i % 3 == 0,
                        change: Change::Same,
                        age_ms: i as u64,
                    };
                    hits += usize::from(f.matches(std::hint::black_box(&a)));
                }
                best = best.min(start.elapsed());
            }
            eprintln!("{src:32} 1M alerts: {best:?}, {hits} hits");
            (best, hits)
        };
        for src in [
            "-nomatch",
            "SETTINGS",
            "/settings/",
            "status:pass change:same age<1d -nomatch",
        ] {
            let (took, hits) = time(src);
            assert!(hits > 0, "{src}");
            if !cfg!(debug_assertions) {
                assert!(took.as_millis() <= 100, "{src}: {took:?}");
            }
        }
        // A real regex runs at the regex crate's speed: report it only.
        time(r"/number \d+;/");
    }

    // --- properties -----------------------------------------------------------

    fn change_strategy() -> impl Strategy<Value = Change> {
        prop_oneof![
            Just(Change::First),
            Just(Change::Same),
            Just(Change::Regressed),
            Just(Change::Fixed)
        ]
    }

    /// Alert text: ASCII, punctuation that is syntax in the filter language,
    /// and some non-ASCII.
    const TEXT: &str = "[a-zA-Z0-9 ._:*?/\\\\\"<>=-]{0,12}|[a-zÜéЖσ🦀 ]{0,8}";

    #[derive(Debug, Clone)]
    struct OwnedAlert {
        owner: String,
        repo: String,
        policy: String,
        details: String,
        pass: bool,
        change: Change,
        age_ms: u64,
    }

    impl OwnedAlert {
        fn view(&self) -> AlertView<'_> {
            AlertView {
                owner: &self.owner,
                repo: &self.repo,
                policy: &self.policy,
                details: &self.details,
                pass: self.pass,
                change: self.change,
                age_ms: self.age_ms,
            }
        }
    }

    fn alert_strategy() -> impl Strategy<Value = OwnedAlert> {
        (
            TEXT,
            TEXT,
            TEXT,
            TEXT,
            any::<bool>(),
            change_strategy(),
            0u64..200_000_000,
        )
            .prop_map(
                |(owner, repo, policy, details, pass, change, age_ms)| OwnedAlert {
                    owner,
                    repo,
                    policy,
                    details,
                    pass,
                    change,
                    age_ms,
                },
            )
    }

    /// Quotes `s` as a filter phrase or value.
    fn quote(s: &str) -> String {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }

    /// One valid, non-negated term of any kind.
    fn term_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            ("org|repo|policy", "[a-zA-Z*?Ü]{1,5}").prop_map(|(f, v)| format!("{f}:{v}")),
            ("org|repo|policy", TEXT)
                .prop_filter("non-empty", |(_, v)| !v.is_empty())
                .prop_map(|(f, v)| format!("{f}:{}", quote(&v))),
            "status:(pass|fail|passing|failed)",
            "change:(first|same|regressed|fixed|transition)",
            "age(<|>|<=|>=)[1-9][0-9]{0,3}(ms|s|m|h|d)?",
            "[a-zA-Z0-9éσ🦀]{1,4}",
            TEXT.prop_filter("non-empty", |v| !v.is_empty())
                .prop_map(|v| quote(&v)),
            "/[a-z.]{1,3}/",
        ]
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = Filter::parse(&input);
        }

        #[test]
        fn parse_never_panics_on_syntax_soup(
            input in "[a-zA-Z:\"/\\\\<>=*?.0-9 \t\u{0}\u{7f}Ü🦀-]{0,30}",
            a in alert_strategy(),
        ) {
            if let Ok(f) = Filter::parse(&input) {
                let v = a.view();
                prop_assert_eq!(f.matches(&v), f.matches_key(v.owner, v.repo, v.policy) && f.matches_event(&v));
            }
        }

        #[test]
        fn error_position_is_inside_the_input(input in any::<String>()) {
            if let Err(e) = Filter::parse(&input) {
                prop_assert!(e.position < input.chars().count());
                prop_assert!(!e.message.is_empty());
            }
        }

        #[test]
        fn matches_is_key_and_event(
            terms in prop::collection::vec((any::<bool>(), term_strategy()), 0..5),
            a in alert_strategy(),
        ) {
            let input: Vec<String> = terms
                .iter()
                .map(|(neg, t)| if *neg { format!("-{t}") } else { t.clone() })
                .collect();
            let f = Filter::parse(&input.join(" ")).unwrap();
            let v = a.view();
            prop_assert_eq!(f.matches(&v), f.matches_key(v.owner, v.repo, v.policy) && f.matches_event(&v));
            prop_assert_eq!(f.matches_event(&v), f.matches_attrs(&v) && f.matches_text(&v));
            // AND: the whole matches iff each term matches alone.
            let each = input.iter().all(|t| Filter::parse(t).unwrap().matches(&v));
            prop_assert_eq!(f.matches(&v), each);
        }

        #[test]
        fn word_from_a_field_matches(
            a in alert_strategy(),
            field in 0usize..4,
            from in 0usize..20,
            len in 1usize..20,
        ) {
            let v = a.view();
            let text = [v.owner, v.repo, v.policy, v.details][field];
            let chars: Vec<char> = text.chars().collect();
            prop_assume!(!chars.is_empty());
            let from = from % chars.len();
            let to = (from + len).min(chars.len());
            let word: String = chars[from..to].iter().collect();
            // Quoted: any text works as a phrase.
            prop_assert!(Filter::parse(&quote(&word)).unwrap().matches(&v), "{:?}", word);
            // Unquoted, when the word is plainly a word (not the keyword
            // `or`, which only works quoted: the module docs).
            if word.chars().all(char::is_alphanumeric) && !word.eq_ignore_ascii_case("or") {
                prop_assert!(Filter::parse(&word).unwrap().matches(&v), "{:?}", word);
                if word.is_ascii() {
                    let upper = word.to_ascii_uppercase();
                    prop_assert!(Filter::parse(&upper).unwrap().matches(&v), "{:?}", upper);
                }
            }
        }

        #[test]
        fn negation_flips_single_terms(term in term_strategy(), a in alert_strategy()) {
            let v = a.view();
            let plain = Filter::parse(&term).unwrap().matches(&v);
            let negated = Filter::parse(&format!("-{term}")).unwrap().matches(&v);
            prop_assert_eq!(negated, !plain);
        }

        #[test]
        fn globs_agree_with_a_reference_regex(pattern in "[ab*?]{0,6}", hay in "[abAB]{0,8}") {
            // Reference: translate the glob into an anchored case-insensitive regex.
            let re: String = pattern
                .chars()
                .map(|c| match c {
                    '*' => ".*".to_string(),
                    '?' => ".".to_string(),
                    c => c.to_string(),
                })
                .collect();
            let re = RegexBuilder::new(&format!("^(?:{re})$")).case_insensitive(true).build().unwrap();
            prop_assert_eq!(Glob::new(&pattern).matches(&hay), re.is_match(&hay));
        }

        #[test]
        fn ascii_search_agrees_with_std_dense(hay in "[abAB]{0,48}", needle in "[ab]{1,6}") {
            // A two-letter alphabet makes first/last-byte candidates that fail
            // verification very common.
            let expected = hay.to_ascii_lowercase().contains(&needle);
            prop_assert_eq!(contains_ascii_ci(hay.as_bytes(), needle.as_bytes()), expected);
        }

        #[test]
        fn ascii_search_agrees_with_std(hay in "[a-cA-C@`é]{0,40}", needle in "[a-c@`]{1,4}") {
            let expected = hay.to_ascii_lowercase().contains(&needle);
            prop_assert_eq!(contains_ascii_ci(hay.as_bytes(), needle.as_bytes()), expected);
        }
    }
}
