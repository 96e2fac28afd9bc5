//! Whole-string, case-insensitive globs for `org:`, `repo:` and `policy:`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GlobTok {
    /// `*`: any run of chars, including none.
    Star,
    /// `?`: exactly one char.
    One,
    /// A literal char, already case-folded.
    Lit(char),
}

/// A whole-string, case-insensitive glob. Without wildcards it is a plain
/// case-insensitive equality.
#[derive(Debug, Clone)]
pub(super) struct Glob {
    toks: Box<[GlobTok]>,
}

/// Simple one-to-one case folding: ASCII fast path, and Unicode chars whose
/// lowercase is a single char (`Ü` → `ü`); the rare multi-char lowercase
/// (`İ`) is left as is. Used on both pattern and haystack, so it is consistent.
fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    if lower.len() == 1 {
        lower.next().unwrap_or(c)
    } else {
        c
    }
}

impl Glob {
    pub(super) fn new(pattern: &str) -> Glob {
        let mut toks = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let tok = match c {
                '*' => GlobTok::Star,
                '?' => GlobTok::One,
                // `\x` is a literal x; a trailing `\` is a literal backslash.
                '\\' => GlobTok::Lit(fold(chars.next().unwrap_or('\\'))),
                c => GlobTok::Lit(fold(c)),
            };
            // `**` means `*`; collapsing avoids useless backtracking.
            if !(tok == GlobTok::Star && toks.last() == Some(&GlobTok::Star)) {
                toks.push(tok);
            }
        }
        Glob {
            toks: toks.into_boxed_slice(),
        }
    }

    /// Iterative wildcard matching with single-star backtracking: O(n·m)
    /// worst case, no recursion, no allocation.
    pub(super) fn matches(&self, hay: &str) -> bool {
        let toks = &self.toks;
        let next_char = |at: usize| hay[at..].chars().next();
        let (mut t, mut h) = (0usize, 0usize); // token index, hay byte index
        // Where to resume after the last `*`: (token after it, hay byte index).
        let mut resume: Option<(usize, usize)> = None;
        loop {
            if let Some(&tok) = toks.get(t) {
                match (tok, next_char(h)) {
                    (GlobTok::Star, _) => {
                        t += 1;
                        resume = Some((t, h));
                        continue;
                    }
                    (GlobTok::One, Some(c)) => {
                        t += 1;
                        h += c.len_utf8();
                        continue;
                    }
                    (GlobTok::Lit(l), Some(c)) if fold(c) == l => {
                        t += 1;
                        h += c.len_utf8();
                        continue;
                    }
                    _ => {}
                }
            } else if h == hay.len() {
                return true;
            }
            // Mismatch: let the last `*` swallow one more char, or fail.
            match resume {
                Some((rt, rh)) => match next_char(rh) {
                    Some(c) => {
                        let rh = rh + c.len_utf8();
                        resume = Some((rt, rh));
                        (t, h) = (rt, rh);
                    }
                    None => return false,
                },
                None => return false,
            }
        }
    }
}
