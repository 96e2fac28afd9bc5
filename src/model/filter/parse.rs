//! The filter's parser: terms, fields, quoting, and errors that name the
//! term they are about.

use regex::RegexBuilder;

use super::glob::Glob;
use super::search::Needle;
use super::*;

const FIELDS_HELP: &str = "org repo policy status change age<…";

/// Deepest nesting of parentheses: a bound on recursion, far above use.
const MAX_DEPTH: usize = 16;

/// Longest term text quoted in an error message.
const SNIPPET_CHARS: usize = 24;

pub(super) struct Parser {
    chars: Vec<char>,
    /// Current char index.
    pos: usize,
    /// Open parentheses: inside them `)` also ends a term.
    depth: usize,
    limits: Limits,
    /// Terms (each alternative of `a,b` counts) and regexes so far.
    terms: usize,
    regexes: usize,
}

impl Parser {
    pub(super) fn new(input: &str, limits: Limits) -> Parser {
        Parser {
            chars: input.chars().collect(),
            pos: 0,
            depth: 0,
            limits,
            terms: 0,
            regexes: 0,
        }
    }

    /// Counts `n` terms, `regexes` of them regexes, against the limits.
    fn count(&mut self, start: usize, n: usize, regexes: usize) -> Result<(), FilterError> {
        self.terms += n;
        self.regexes += regexes;
        if self.terms > self.limits.terms {
            return Err(self.error(
                start,
                &format!("more than {} terms in one filter", self.limits.terms),
            ));
        }
        if self.regexes > self.limits.regexes {
            return Err(self.error(
                start,
                &format!("more than {} regexes in one filter", self.limits.regexes),
            ));
        }
        Ok(())
    }

    /// A case-insensitive regex within the compiled size limit.
    fn regex(
        &mut self,
        start: usize,
        end: usize,
        pattern: &str,
    ) -> Result<regex::Regex, FilterError> {
        self.count(start, 0, 1)?;
        RegexBuilder::new(pattern)
            .case_insensitive(true)
            .size_limit(self.limits.regex_bytes)
            .dfa_size_limit(self.limits.dfa_bytes)
            .build()
            .map_err(|e| {
                let why = format!("invalid regex: {}", brief_regex_error(&e));
                self.error_to(start, end, &why)
            })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// Whether `c` ends a term here: whitespace, or `)` inside parentheses.
    fn ends_term(&self, c: char) -> bool {
        c.is_whitespace() || (c == ')' && self.depth > 0)
    }

    fn at_term_end(&self) -> bool {
        self.peek().is_none_or(|c| self.ends_term(c))
    }

    /// Index of the next term end at or after `from` (or the end).
    fn word_end(&self, from: usize) -> usize {
        self.chars[from.min(self.chars.len())..]
            .iter()
            .position(|&c| self.ends_term(c))
            .map_or(self.chars.len(), |p| from + p)
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Whether the next word is the keyword `or` (any case), standing alone.
    fn at_or(&self) -> bool {
        let word = |i: usize| self.chars.get(self.pos + i).map(|c| c.to_ascii_lowercase());
        word(0) == Some('o')
            && word(1) == Some('r')
            && self
                .chars
                .get(self.pos + 2)
                .is_none_or(|&c| self.ends_term(c) || c == '(')
    }

    /// The whole filter: its top-level AND, as clauses.
    pub(super) fn clauses(&mut self) -> Result<Vec<Node>, FilterError> {
        self.skip_space();
        if self.peek().is_none() {
            return Ok(Vec::new());
        }
        let node = self.or_expr()?;
        self.skip_space();
        if let Some(c) = self.peek() {
            // Only a `)` can stop the top level early.
            debug_assert_eq!(c, ')');
            return Err(self.error_to(self.pos, self.pos + 1, "`)` without a matching `(`"));
        }
        Ok(match node {
            Node::All(v) => v,
            n => vec![n],
        })
    }

    /// `a b or c d`: ANDs separated by `or`.
    fn or_expr(&mut self) -> Result<Node, FilterError> {
        let mut alts = vec![self.and_expr()?];
        loop {
            self.skip_space();
            if !self.at_or() {
                break;
            }
            let at = self.pos;
            self.pos += 2;
            self.skip_space();
            if self.peek().is_none() || self.peek() == Some(')') || self.at_or() {
                return Err(self.error_to(at, at + 2, "`or` needs a term after it"));
            }
            alts.push(self.and_expr()?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().expect("one")
        } else {
            Node::Any(alts)
        })
    }

    /// Terms up to `or`, `)` or the end; at least one.
    fn and_expr(&mut self) -> Result<Node, FilterError> {
        let mut items = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => break,
                Some(')') if self.depth > 0 => break,
                Some(')') => {
                    return Err(self.error_to(
                        self.pos,
                        self.pos + 1,
                        "`)` without a matching `(`",
                    ));
                }
                _ if self.at_or() => {
                    if items.is_empty() {
                        return Err(self.error_to(
                            self.pos,
                            self.pos + 2,
                            "`or` needs a term before it (quote it to search for \"or\")",
                        ));
                    }
                    break;
                }
                _ => items.push(self.unary()?),
            }
        }
        match items.len() {
            0 => {
                // Never past the input: the caret goes under a character.
                let at = self.pos.min(self.chars.len().saturating_sub(1));
                Err(self.error_to(at, at + 1, "expected a term here"))
            }
            1 => Ok(items.pop().expect("one")),
            _ => Ok(Node::All(items)),
        }
    }

    /// `-…` negations, then `( … )` or a term.
    fn unary(&mut self) -> Result<Node, FilterError> {
        let start = self.pos;
        // Each leading `-` flips the term, so `--x` is just `x`.
        let mut negated = false;
        while self.peek() == Some('-') {
            negated = !negated;
            self.pos += 1;
        }
        let node = if self.peek() == Some('(') {
            if self.depth >= MAX_DEPTH {
                return Err(self.error_to(self.pos, self.pos + 1, "parentheses nested too deep"));
            }
            let open = self.pos;
            self.pos += 1;
            self.depth += 1;
            self.skip_space();
            match self.peek() {
                Some(')') => return Err(self.error_to(open, self.pos + 1, "empty parentheses")),
                None => return Err(self.error_to(open, open + 1, "`(` without a closing `)`")),
                _ => {}
            }
            let inner = self.or_expr()?;
            self.skip_space();
            if self.peek() != Some(')') {
                return Err(self.error_to(open, open + 1, "`(` without a closing `)`"));
            }
            self.pos += 1;
            self.depth -= 1;
            inner
        } else {
            if self.at_term_end() {
                return Err(self.error(start, "`-` must be followed by a term to exclude"));
            }
            self.term(start)?
        };
        Ok(if negated {
            Node::Not(Box::new(node))
        } else {
            node
        })
    }

    /// The term starting at `start` as typed, for messages (shortened).
    fn snippet(&self, start: usize, end: usize) -> String {
        let end = end.min(self.chars.len());
        let text = &self.chars[start.min(end)..end];
        if text.len() > SNIPPET_CHARS {
            let mut s: String = text[..SNIPPET_CHARS].iter().collect();
            s.push('…');
            s
        } else {
            text.iter().collect()
        }
    }

    /// An error for the term from `start` to `end`, as "`term`: message".
    fn error_to(&self, start: usize, end: usize, message: &str) -> FilterError {
        FilterError {
            position: start,
            message: format!("`{}`: {message}", self.snippet(start, end)),
        }
    }

    /// An error for the term starting at `start` and running to the next
    /// whitespace.
    fn error(&self, start: usize, message: &str) -> FilterError {
        self.error_to(start, self.word_end(start), message)
    }

    /// One term at `self.pos` (negations already read; `start` is where
    /// they began, for messages).
    fn term(&mut self, start: usize) -> Result<Node, FilterError> {
        self.count(start, 1, 0)?;
        match self.peek() {
            Some('/') => Ok(Node::Event(self.regex_term(start)?)),
            Some('"') => {
                let phrase = self.quoted(self.pos)?;
                self.expect_term_end(start)?;
                if phrase.is_empty() {
                    return Err(self.error(start, "empty phrase"));
                }
                Ok(text_or_names(&phrase))
            }
            _ => self.word_or_field(start),
        }
    }

    /// After a closing quote or slash the term must end.
    fn expect_term_end(&self, start: usize) -> Result<(), FilterError> {
        match self.peek() {
            Some(c) if !self.ends_term(c) => Err(self.error_to(
                start,
                self.word_end(self.pos),
                &format!("unexpected `{c}` after the closing delimiter (add a space?)"),
            )),
            _ => Ok(()),
        }
    }

    /// Reads a `"…"` value at `self.pos` (which is on the opening quote).
    fn quoted(&mut self, _start: usize) -> Result<String, FilterError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' if matches!(self.peek(), Some('"' | '\\')) => {
                    out.push(self.chars[self.pos]);
                    self.pos += 1;
                }
                c => out.push(c),
            }
        }
        // At the opening quote (not the field before it): that is where the
        // phrase that never ends begins.
        Err(self.error_to(
            open,
            self.chars.len(),
            "unterminated quote (missing closing `\"`)",
        ))
    }

    /// Reads a value (quoted, or up to the end of the term), and whether it
    /// was quoted.
    fn value(&mut self, start: usize) -> Result<(String, bool), FilterError> {
        if self.peek() == Some('"') {
            let v = self.quoted(start)?;
            self.expect_term_end(start)?;
            Ok((v, true))
        } else {
            let end = self.word_end(self.pos);
            let v = self.chars[self.pos..end].iter().collect();
            self.pos = end;
            Ok((v, false))
        }
    }

    /// The patterns of a key field's value: `a,b` lists alternatives,
    /// `/re/` is a regex found in the field, and for `repo:` an
    /// `owner/name` matches both (as the Repos pane shows repos).
    fn patterns(
        &mut self,
        field: KeyField,
        value: &str,
        quoted: bool,
        (start, end): (usize, usize),
    ) -> Result<Vec<Pattern>, FilterError> {
        if !quoted && value.len() >= 2 && value.starts_with('/') && value.ends_with('/') {
            let pattern = value[1..value.len() - 1].replace("\\/", "/");
            return self
                .regex(start, end, &pattern)
                .map(|re| vec![Pattern::Regex(re)]);
        }
        let alts: Vec<&str> = if quoted {
            vec![value]
        } else {
            value.split(',').collect()
        };
        // The first alternative was counted as the term.
        self.count(start, alts.len().saturating_sub(1), 0)?;
        alts.into_iter()
            .map(|alt| {
                if alt.is_empty() {
                    return Err(self.error_to(start, end, "empty value in the list (a,b)"));
                }
                Ok(match (field, alt.split_once('/')) {
                    (KeyField::Repo, Some((owner, name)))
                        if !owner.is_empty() && !name.is_empty() =>
                    {
                        Pattern::OwnerRepo(Glob::new(owner), Glob::new(name))
                    }
                    _ => Pattern::Glob(Glob::new(alt)),
                })
            })
            .collect()
    }

    /// `/regex/` with `\/` for a literal slash; may contain spaces.
    fn regex_term(&mut self, start: usize) -> Result<EventTest, FilterError> {
        self.pos += 1; // opening '/'
        let mut pattern = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.error_to(
                        start,
                        self.chars.len(),
                        "unterminated regex (missing closing `/`)",
                    ));
                }
                Some('/') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('/') => pattern.push('/'),
                        // Other escapes belong to the regex syntax: keep them,
                        // including `\\` (so `\\/` still ends the regex).
                        Some(c) => {
                            pattern.push('\\');
                            pattern.push(c);
                        }
                        None => continue, // reported as unterminated above
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    pattern.push(c);
                    self.pos += 1;
                }
            }
        }
        self.expect_term_end(start)?;
        if pattern.is_empty() {
            return Err(self.error_to(start, self.pos, "empty regex"));
        }
        // A regex without metacharacters is a plain substring: use the
        // (several times faster) substring search for it.
        if regex::escape(&pattern) == pattern {
            return Ok(EventTest::Text(Needle::new(&pattern)));
        }
        let end = self.pos;
        self.regex(start, end, &pattern).map(EventTest::Regex)
    }

    /// `field:value`, `age<…`, or a bare word.
    fn word_or_field(&mut self, start: usize) -> Result<Node, FilterError> {
        let name_start = self.pos;
        let name_len = self.chars[name_start..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic() || **c == '_')
            .count();
        let name: String = self.chars[name_start..name_start + name_len]
            .iter()
            .map(char::to_ascii_lowercase)
            .collect();
        let after = self.chars.get(name_start + name_len).copied();

        if name == "age" && matches!(after, Some('<' | '>' | '=')) {
            self.pos = name_start + name_len;
            return self.age_term(start);
        }
        // `age < 15m`, spaced as people write comparisons: the same term
        // (as text, three words that would silently match nothing).
        if name == "age" && after.is_some_and(char::is_whitespace) {
            let next = self.chars[name_start + name_len..]
                .iter()
                .position(|c| !c.is_whitespace())
                .map(|p| name_start + name_len + p);
            if let Some(p) = next
                && matches!(self.chars[p], '<' | '>')
            {
                self.pos = p;
                return self.age_term(start);
            }
        }
        if name_len == 0 || after != Some(':') {
            // A bare word: everything up to the next whitespace.
            let end = self.word_end(self.pos);
            // `ossf)` outside parentheses: the same typo as `org:ossf)`
            // (a review found one an error and the other a search).
            if self.depth == 0
                && let Some(at) = unmatched_close(&self.chars[self.pos..end])
            {
                let at = self.pos + at;
                return Err(self.error_to(
                    at,
                    at + 1,
                    "`)` without a matching `(` (quote text that has one)",
                ));
            }
            let word: String = self.chars[self.pos..end].iter().collect();
            self.pos = end;
            return Ok(text_or_names(&word));
        }

        self.pos = name_start + name_len + 1; // past ':'
        let key = match name.as_str() {
            "org" => Some(KeyField::Owner),
            "repo" => Some(KeyField::Repo),
            "policy" => Some(KeyField::Policy),
            "status" | "change" => None,
            "age" => {
                return Err(self.error(
                    start,
                    "age is a comparison: age<15m, age>1h, age<=30s, age>=2d",
                ));
            }
            _ => {
                let raw: String = self.chars[name_start..name_start + name_len]
                    .iter()
                    .collect();
                return Err(self.error(
                    start,
                    &format!("unknown field `{raw}` ({FIELDS_HELP}; quote text with `:`)"),
                ));
            }
        };
        if self.at_term_end() {
            return Err(self.error(start, &format!("empty value for `{name}:`")));
        }
        let (value, quoted) = self.value(start)?;
        // From here on the term is `start..self.pos` (a quoted value may
        // contain spaces).
        let end = self.pos;
        if value.is_empty() {
            return Err(self.error_to(start, end, &format!("empty value for `{name}:`")));
        }

        // `org:ossf)` outside parentheses: the `)` is a typo, not part of
        // a name (org, repo and policy names have none).
        if !quoted && self.depth == 0 && key.is_some() && value.ends_with(')') {
            return Err(self.error_to(end - 1, end, "`)` without a matching `(`"));
        }
        if let Some(field) = key {
            let alts = self.patterns(field, &value, quoted, (start, end))?;
            return Ok(Node::Key(KeyTest { field, alts }));
        }
        let lower = value.to_lowercase();
        let test = if name == "status" {
            match lower.as_str() {
                "pass" | "passing" | "passed" => EventTest::Pass(true),
                "fail" | "failing" | "failed" => EventTest::Pass(false),
                _ => {
                    return Err(self.error_to(
                        start,
                        end,
                        "bad status; use status:pass or status:fail",
                    ));
                }
            }
        } else {
            match (lower.as_str(), Change::parse(&lower)) {
                (_, Some(c)) => EventTest::Change(change_bit(c)),
                ("transition" | "transitions", None) => {
                    EventTest::Change(change_bit(Change::Regressed) | change_bit(Change::Fixed))
                }
                _ => {
                    return Err(self.error_to(
                        start,
                        end,
                        "bad change; use first, same, regressed, fixed or transition",
                    ));
                }
            }
        };
        Ok(Node::Event(test))
    }

    /// `age` has been read; `self.pos` is on the comparator.
    fn age_term(&mut self, start: usize) -> Result<Node, FilterError> {
        let cmp = match (self.peek(), self.chars.get(self.pos + 1)) {
            (Some('<'), Some('=')) => Cmp::Le,
            (Some('>'), Some('=')) => Cmp::Ge,
            (Some('<'), _) => Cmp::Lt,
            (Some('>'), _) => Cmp::Gt,
            _ => {
                return Err(self.error(start, "compare age with <, >, <= or >=, e.g. age<15m"));
            }
        };
        self.pos += if matches!(cmp, Cmp::Le | Cmp::Ge) {
            2
        } else {
            1
        };
        // `age < 15m`: the value may follow a space.
        if self.peek().is_some_and(char::is_whitespace)
            && self.chars[self.pos..]
                .iter()
                .find(|c| !c.is_whitespace())
                .is_some_and(|c| c.is_ascii_digit())
        {
            self.skip_space();
        }
        if self.at_term_end() {
            return Err(self.error(start, "missing age after the comparison, e.g. age<15m"));
        }
        let (value, _) = self.value(start)?;
        match parse_age_ms(&value) {
            // No age is below 0: a filter that can match nothing is a typo.
            Some(0) if matches!(cmp, Cmp::Lt) => {
                Err(self.error_to(start, self.pos, "no alert is younger than 0; e.g. age<15m"))
            }
            Some(ms) => Ok(Node::Event(EventTest::Age(cmp, ms))),
            None => Err(self.error_to(
                start,
                self.pos,
                &format!("bad age `{value}`; a number with ms, s, m, h or d, e.g. age<15m"),
            )),
        }
    }
}

/// Where in `word` the first `)` that closes nothing is.
fn unmatched_close(word: &[char]) -> Option<usize> {
    let mut open = 0usize;
    for (i, &c) in word.iter().enumerate() {
        match c {
            '(' => open += 1,
            ')' if open == 0 => return Some(i),
            ')' => open -= 1,
            _ => {}
        }
    }
    None
}

/// `15m` → 900000. Accepts a decimal number (`1.5h`) and a case-insensitive
/// unit; no unit means seconds. None on anything else or on overflow.
pub(super) fn parse_age_ms(s: &str) -> Option<u64> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit_ms: u64 = match unit.to_ascii_lowercase().as_str() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    // Reject `.`, `1.2.3`, and f64's extra spellings (`inf`, `1e5`) up front.
    if !num.bytes().any(|b| b.is_ascii_digit()) || num.matches('.').count() > 1 {
        return None;
    }
    if !num.contains('.') {
        return num.parse::<u64>().ok()?.checked_mul(unit_ms);
    }
    let ms = num.parse::<f64>().ok()? * unit_ms as f64;
    // `u64::MAX as f64` rounds up to 2^64, hence the strict `<`.
    (ms.is_finite() && ms < u64::MAX as f64).then(|| ms.round() as u64)
}

/// The regex crate's message is multi-line (pattern, caret, `error: …`);
/// keep only the `error:` line, which fits a status bar.
fn brief_regex_error(e: &regex::Error) -> String {
    let full = e.to_string();
    full.lines()
        .find_map(|l| l.trim().strip_prefix("error:"))
        .or_else(|| full.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("unknown error")
        .trim()
        .to_owned()
}

/// A bare word or phrase: searched in the names and details; and one with
/// a `/` in `owner/repo` as the panes show it too (a review typed
/// `ossf/allstar` and matched nothing): `ossf/allstar`, `sf/all`, `ossf/`
/// (every repo of an org ending in `ossf`), quoted or not.
fn text_or_names(text: &str) -> Node {
    let node = Node::Event(EventTest::Text(Needle::new(text)));
    match text.split_once('/') {
        Some((a, b)) if !a.is_empty() && !b.contains('/') && text.is_ascii() => {
            let names = Node::Key(KeyTest {
                field: KeyField::Repo,
                alts: vec![Pattern::Straddle(a.to_owned(), b.to_owned())],
            });
            Node::Any(vec![node, names])
        }
        _ => node,
    }
}
