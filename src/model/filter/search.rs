//! Case-insensitive substring search for bare words and phrases.

use regex::{Regex, RegexBuilder};

/// A bare word or phrase, prepared for case-insensitive substring search.
#[derive(Debug, Clone)]
pub(super) enum Needle {
    /// Non-empty, ASCII-lowercased bytes: searched without allocating.
    Ascii(Box<[u8]>),
    /// Non-ASCII needles need Unicode case folding, which the regex crate
    /// does for us (compiled once at parse time).
    Unicode(Regex),
}

impl Needle {
    pub(super) fn new(text: &str) -> Needle {
        if text.is_ascii() {
            Needle::Ascii(text.to_ascii_lowercase().into_bytes().into_boxed_slice())
        } else {
            // An escaped literal only fails to compile past the regex size
            // limit (a huge phrase); rather than panic, fall back to a byte
            // search that folds only ASCII case.
            match RegexBuilder::new(&regex::escape(text))
                .case_insensitive(true)
                .build()
            {
                Ok(re) => Needle::Unicode(re),
                Err(_) => Needle::Ascii(text.to_ascii_lowercase().into_bytes().into_boxed_slice()),
            }
        }
    }
}

/// `b | mask == lower` accepts both cases of an ASCII letter and only the
/// exact byte otherwise.
fn case_mask(lower: u8) -> u8 {
    if lower.is_ascii_lowercase() { 0x20 } else { 0 }
}

/// SWAR constants: the low and the high bit of every byte of a `u64`.
const LO_BITS: u64 = 0x0101_0101_0101_0101;
const HI_BITS: u64 = 0x8080_8080_8080_8080;

/// Case-insensitive search of a lowercased ASCII `needle` in `hay`.
///
/// Candidates must match both the first and the last needle byte. They are
/// found 8 positions at a time with SWAR arithmetic on `u64`s (plain scalar
/// code, so its speed does not hinge on the auto-vectorizer), then verified.
/// ASCII needle bytes never equal UTF-8 lead or continuation bytes, so a
/// byte-wise hit is always a real substring.
pub(super) fn contains_ascii_ci(hay: &[u8], needle: &[u8]) -> bool {
    let n = needle.len();
    let (Some(&first), Some(&last)) = (needle.first(), needle.last()) else {
        return true; // the empty needle is everywhere (never built by parse)
    };
    if hay.len() < n {
        return false;
    }
    let (fm, lm) = (case_mask(first), case_mask(last));
    let candidates = hay.len() - n + 1; // starting positions 0..candidates
    let verify = |i: usize| hay[i..i + n].eq_ignore_ascii_case(needle);

    let splat = |b: u8| LO_BITS * u64::from(b);
    let (fm8, lm8, first8, last8) = (splat(fm), splat(lm), splat(first), splat(last));
    let mut i = 0;
    while i + 8 <= candidates {
        let (Some(a), Some(b)) = (
            hay[i..].first_chunk::<8>(),
            hay[i + n - 1..].first_chunk::<8>(),
        ) else {
            break;
        };
        // A byte of `x` is zero iff both ends match at that position.
        let x =
            ((u64::from_le_bytes(*a) | fm8) ^ first8) | ((u64::from_le_bytes(*b) | lm8) ^ last8);
        // Classic "has a zero byte": flags every zero byte; a byte just above
        // a zero may be flagged too, which `verify` rejects.
        let mut zeros = x.wrapping_sub(LO_BITS) & !x & HI_BITS;
        while zeros != 0 {
            if verify(i + (zeros.trailing_zeros() / 8) as usize) {
                return true;
            }
            zeros &= zeros - 1;
        }
        i += 8;
    }
    (i..candidates).any(|i| (hay[i] | fm) == first && (hay[i + n - 1] | lm) == last && verify(i))
}
