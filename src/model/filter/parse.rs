//! The filter's parser: terms, fields, quoting, and errors that name the
//! term they are about.

use regex::RegexBuilder;

use super::glob::Glob;
use super::search::Needle;
use super::*;

pub(super) enum ParsedTerm {
    Key(Term<KeyTest>),
    Event(Term<EventTest>),
}

const FIELDS_HELP: &str =
    "fields are org, repo, policy, status, change, and age<…/age>… (e.g. age<15m)";

/// Longest term text quoted in an error message.
const SNIPPET_CHARS: usize = 40;

pub(super) struct Parser {
    chars: Vec<char>,
    /// Current char index.
    pos: usize,
}

impl Parser {
    pub(super) fn new(input: &str) -> Parser {
        Parser {
            chars: input.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at_term_end(&self) -> bool {
        self.peek().is_none_or(char::is_whitespace)
    }

    /// Index of the next whitespace at or after `from` (or the end).
    fn word_end(&self, from: usize) -> usize {
        self.chars[from.min(self.chars.len())..]
            .iter()
            .position(|c| c.is_whitespace())
            .map_or(self.chars.len(), |p| from + p)
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

    pub(super) fn next_term(&mut self) -> Result<Option<ParsedTerm>, FilterError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        let start = self.pos;
        if self.peek().is_none() {
            return Ok(None);
        }

        // Each leading `-` flips the term, so `--x` is just `x`.
        let mut negated = false;
        while self.peek() == Some('-') {
            negated = !negated;
            self.pos += 1;
        }
        if self.at_term_end() {
            return Err(self.error(start, "`-` must be followed by a term to exclude"));
        }

        let parsed = match self.peek() {
            Some('/') => ParsedTerm::Event(Term {
                negated,
                test: self.regex_term(start)?,
            }),
            Some('"') => {
                let phrase = self.quoted(start)?;
                self.expect_term_end(start)?;
                if phrase.is_empty() {
                    return Err(self.error(start, "empty phrase"));
                }
                ParsedTerm::Event(Term {
                    negated,
                    test: EventTest::Text(Needle::new(&phrase)),
                })
            }
            _ => self.word_or_field(start, negated)?,
        };
        Ok(Some(parsed))
    }

    /// After a closing quote or slash the term must end.
    fn expect_term_end(&self, start: usize) -> Result<(), FilterError> {
        match self.peek() {
            Some(c) if !c.is_whitespace() => Err(self.error_to(
                start,
                self.word_end(self.pos),
                &format!("unexpected `{c}` after the closing delimiter (add a space?)"),
            )),
            _ => Ok(()),
        }
    }

    /// Reads a `"…"` value at `self.pos` (which is on the opening quote).
    fn quoted(&mut self, start: usize) -> Result<String, FilterError> {
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
        Err(self.error_to(
            start,
            self.chars.len(),
            "unterminated quote (missing closing `\"`)",
        ))
    }

    /// Reads a value (quoted, or up to the next whitespace).
    fn value(&mut self, start: usize) -> Result<String, FilterError> {
        if self.peek() == Some('"') {
            let v = self.quoted(start)?;
            self.expect_term_end(start)?;
            Ok(v)
        } else {
            let end = self.word_end(self.pos);
            let v = self.chars[self.pos..end].iter().collect();
            self.pos = end;
            Ok(v)
        }
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
        RegexBuilder::new(&pattern)
            .case_insensitive(true)
            .build()
            .map(EventTest::Regex)
            .map_err(|e| {
                let why = format!("invalid regex: {}", brief_regex_error(&e));
                self.error_to(start, self.pos, &why)
            })
    }

    /// `field:value`, `age<…`, or a bare word.
    fn word_or_field(&mut self, start: usize, negated: bool) -> Result<ParsedTerm, FilterError> {
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
            return self.age_term(start, negated);
        }
        if name_len == 0 || after != Some(':') {
            // A bare word: everything up to the next whitespace.
            let end = self.word_end(self.pos);
            let word: String = self.chars[self.pos..end].iter().collect();
            self.pos = end;
            return Ok(ParsedTerm::Event(Term {
                negated,
                test: EventTest::Text(Needle::new(&word)),
            }));
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
                    "age is written as a comparison, e.g. age<15m, age>1h, age<=30s or age>=2d",
                ));
            }
            _ => {
                let raw: String = self.chars[name_start..name_start + name_len]
                    .iter()
                    .collect();
                return Err(self.error(
                    start,
                    &format!(
                        "unknown field `{raw}`; {FIELDS_HELP}; \
                         put text with a colon in quotes to search for it"
                    ),
                ));
            }
        };
        if self.at_term_end() {
            return Err(self.error(start, &format!("empty value for `{name}:`")));
        }
        let value = self.value(start)?;
        // From here on the term is `start..self.pos` (a quoted value may
        // contain spaces).
        let end = self.pos;
        if value.is_empty() {
            return Err(self.error_to(start, end, &format!("empty value for `{name}:`")));
        }

        if let Some(field) = key {
            return Ok(ParsedTerm::Key(Term {
                negated,
                test: KeyTest {
                    field,
                    glob: Glob::new(&value),
                },
            }));
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
        Ok(ParsedTerm::Event(Term { negated, test }))
    }

    /// `age` has been read; `self.pos` is on the comparator.
    fn age_term(&mut self, start: usize, negated: bool) -> Result<ParsedTerm, FilterError> {
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
        if self.at_term_end() {
            return Err(self.error(start, "missing age after the comparison, e.g. age<15m"));
        }
        let value = self.value(start)?;
        match parse_age_ms(&value) {
            Some(ms) => Ok(ParsedTerm::Event(Term {
                negated,
                test: EventTest::Age(cmp, ms),
            })),
            None => Err(self.error_to(
                start,
                self.pos,
                &format!(
                    "bad age `{value}`; use a number with unit ms, s, m, h or d \
                     (plain number = seconds), e.g. age<15m"
                ),
            )),
        }
    }
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
