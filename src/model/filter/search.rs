//! Case-insensitive substring search for bare words and phrases.
//!
//! ASCII needles use `aho-corasick` with ASCII case folding (already built
//! for `regex`): measured against the hand-written SWAR search this module
//! used before (`cargo bench --bench model -- bare-word`, BENCHMARKS.md) it
//! was faster on every word tried — 15 % on words present in most details,
//! 4× on words present in none — so it was kept.

use aho_corasick::AhoCorasick;
use regex::{Regex, RegexBuilder};

/// A bare word or phrase, prepared for case-insensitive substring search.
#[derive(Debug, Clone)]
pub(super) enum Needle {
    /// ASCII: a searcher built once at parse time, folding ASCII case only
    /// (an ASCII byte never equals a UTF-8 lead or continuation byte, so a
    /// byte-wise hit is always a real substring).
    Ascii(AsciiNeedle),
    /// Non-ASCII needles need Unicode case folding, which the regex crate
    /// does for us (compiled once at parse time).
    Unicode(Regex),
}

impl Needle {
    pub(super) fn new(text: &str) -> Needle {
        if text.is_ascii() {
            Needle::Ascii(AsciiNeedle::new(text.as_bytes()))
        } else {
            // An escaped literal only fails to compile past the regex size
            // limit (a huge phrase); rather than panic, fall back to a byte
            // search that folds only ASCII case.
            match RegexBuilder::new(&regex::escape(text))
                .case_insensitive(true)
                .build()
            {
                Ok(re) => Needle::Unicode(re),
                Err(_) => Needle::Ascii(AsciiNeedle::new(text.as_bytes())),
            }
        }
    }
}

/// A case-insensitive (ASCII) searcher for one needle.
#[derive(Debug, Clone)]
pub(super) struct AsciiNeedle {
    /// `None` only past aho-corasick's size limits (a huge phrase): then a
    /// plain windowed comparison, slower but correct.
    searcher: Option<AhoCorasick>,
    lower: Box<[u8]>,
}

impl AsciiNeedle {
    pub(super) fn new(needle: &[u8]) -> AsciiNeedle {
        let lower: Box<[u8]> = needle.to_ascii_lowercase().into_boxed_slice();
        let searcher = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build([&lower[..]])
            .ok();
        AsciiNeedle { searcher, lower }
    }

    /// Whether the needle occurs in `hay`, ignoring ASCII case.
    pub(super) fn is_in(&self, hay: &[u8]) -> bool {
        if self.lower.is_empty() {
            return true; // the empty needle is everywhere (never built by parse)
        }
        match &self.searcher {
            Some(ac) => ac.is_match(hay),
            None => hay
                .windows(self.lower.len())
                .any(|w| w.eq_ignore_ascii_case(&self.lower)),
        }
    }
}

/// Case-insensitive search of an ASCII `needle` in `hay` (tests).
#[cfg(test)]
pub(super) fn contains_ascii_ci(hay: &[u8], needle: &[u8]) -> bool {
    AsciiNeedle::new(needle).is_in(hay)
}
