//! Terminal safety for strings that came over the wire.
//!
//! Alert fields (owner, repo, policy names, `details`) are written by whoever
//! can reach the AlertSink. Printed raw, they could move the cursor, clear the
//! screen, rename the terminal window, or hide/reorder text with bidi and
//! zero-width tricks. Everything from the network goes through [`line()`] or
//! [`text()`] before it reaches the terminal.
//!
//! Neutralised characters are replaced by a *visible* escape rather than
//! dropped, so an operator can see that something was there:
//!
//! | input | shown as |
//! |---|---|
//! | `\n`, `\t`, `\r` (in [`line()`]) | `\n`, `\t`, `\r` (backslash + letter) |
//! | other C0 controls, DEL, C1 controls (U+0080–U+009F) | `\xNN`, e.g. ESC → `\x1b`, 8-bit CSI → `\x9b` |
//! | invisible/format characters (see below) | `\u{XXXX}` (lowercase hex, at least 4 digits), e.g. `\u{202e}` |
//!
//! "Invisible/format characters" are Unicode general category Cf, the
//! Default_Ignorable_Code_Point set, and the line/paragraph separators
//! U+2028/U+2029: bidi controls (U+061C, U+200E/F, U+202A–U+202E,
//! U+2066–U+2069), zero-width characters (U+200B–U+200D, U+2060–U+2064,
//! U+FEFF), soft hyphen, combining grapheme joiner, Hangul fillers, tag
//! characters (U+E0000–U+E007F), interlinear annotation (U+FFF9–U+FFFB), and
//! the rest of Cf. ZWJ is escaped too, so emoji ZWJ sequences show their parts
//! (their rendered width differs between terminals anyway).
//!
//! Variation selectors (U+FE00–U+FE0F, U+E0100–U+E01EF, Mongolian free
//! variation selectors) are kept when a *single* one directly follows a
//! visible character, which is how real text uses them (`❤️`, `⚠️`); one at
//! the start, after whitespace, or after another selector is escaped, since
//! runs of selectors are a known way to smuggle invisible data.
//!
//! The replacement character U+FFFD and all other printable text pass
//! unchanged. The escapes are not themselves escaped (a literal `\x1b` typed
//! by the sender looks the same as an escaped ESC): the goal is safety and
//! visibility, not a reversible encoding, so the output is deterministic but
//! [`line()`] is not idempotent.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Spaces a tab becomes in multi-line text.
const TAB_SPACES: &str = "    ";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// One-line contexts: every control character is escaped.
    Line,
    /// Multi-line contexts: `\n` kept, `\t` expanded, `\r\n` normalised.
    Text,
}

/// Sanitizes `s` for a one-line context (names in panes, status bar,
/// terminal title).
///
/// Newline, tab and carriage return become the two-character texts `\n`,
/// `\t` and `\r`, so a multi-line value stays on one visible line and the
/// operator can see where the breaks were. Everything else is handled as
/// described in the [module docs](self). Clean input is returned borrowed.
pub fn line(s: &str) -> Cow<'_, str> {
    sanitize(s, Mode::Line)
}

/// Sanitizes `s` for a multi-line context (the alert details text).
///
/// Keeps `\n` as a line break, turns `\t` into four spaces, drops a `\r`
/// that is part of `\r\n` and escapes a lone `\r` (it would move the cursor
/// back over the line); everything else as [`line()`].
pub fn text(s: &str) -> Cow<'_, str> {
    sanitize(s, Mode::Text)
}

/// True if [`line()`] would return `s` unchanged.
pub fn is_clean_line(s: &str) -> bool {
    first_dirty(s, Mode::Line).is_none()
}

fn sanitize(s: &str, mode: Mode) -> Cow<'_, str> {
    let Some(start) = first_dirty(s, mode) else {
        return Cow::Borrowed(s);
    };
    // Everything before `start` is kept verbatim; escapes are short, so a
    // little headroom avoids most reallocations.
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..start]);
    let mut prev_is_base = s[..start].chars().next_back().is_some_and(is_base);
    let mut chars = s[start..].chars().peekable();
    while let Some(c) = chars.next() {
        let kept = match c {
            '\n' if mode == Mode::Text => {
                out.push('\n');
                false
            }
            '\t' if mode == Mode::Text => {
                out.push_str(TAB_SPACES);
                false
            }
            '\r' if mode == Mode::Text && chars.peek() == Some(&'\n') => false,
            _ if must_escape(c, prev_is_base) => {
                push_escape(&mut out, c);
                false
            }
            _ => {
                out.push(c);
                true
            }
        };
        prev_is_base = kept && is_base(c);
    }
    Cow::Owned(out)
}

/// Byte index of the first character that needs changing, if any.
fn first_dirty(s: &str, mode: Mode) -> Option<usize> {
    // Fast path: printable ASCII (plus '\n' for text) is the common case and
    // never needs work; scanning bytes avoids UTF-8 decoding for it.
    let ascii_ok = |b: u8| (0x20..0x7f).contains(&b) || (b == b'\n' && mode == Mode::Text);
    let start = s.bytes().position(|b| !ascii_ok(b))?;
    // `start` is at a char boundary: all bytes before it are ASCII.
    let mut prev_is_base = s[..start].chars().next_back().is_some_and(is_base);
    for (i, c) in s[start..].char_indices() {
        let changes = match c {
            '\n' => mode == Mode::Line,
            // A tab is expanded and a '\r' dropped or escaped: both changes.
            '\t' | '\r' => true,
            _ => must_escape(c, prev_is_base),
        };
        if changes {
            return Some(start + i);
        }
        prev_is_base = is_base(c);
    }
    None
}

/// Whether `c` (not '\n'/'\t'/'\r' in text mode, which are handled by the
/// caller) is replaced by an escape. `prev_is_base` tells whether the
/// previous character was kept verbatim and can carry a variation selector.
fn must_escape(c: char, prev_is_base: bool) -> bool {
    c.is_control() || is_invisible(c) || (is_variation_selector(c) && !prev_is_base)
}

/// A visible character that a variation selector may legitimately modify.
fn is_base(c: char) -> bool {
    !c.is_whitespace() && !c.is_control() && !is_invisible(c) && !is_variation_selector(c)
}

fn push_escape(out: &mut String, c: char) {
    // Writing into a String cannot fail.
    let _ = match c {
        '\n' => out.write_str("\\n"),
        '\t' => out.write_str("\\t"),
        '\r' => out.write_str("\\r"),
        // C0, DEL and C1 are all below U+0100, so two hex digits suffice.
        _ if c.is_control() => write!(out, "\\x{:02x}", u32::from(c)),
        _ => write!(out, "\\u{{{:04x}}}", u32::from(c)),
    };
}

/// Variation selectors: invisible modifiers of the preceding character.
fn is_variation_selector(c: char) -> bool {
    matches!(c,
        '\u{180B}'..='\u{180D}' | '\u{180F}'   // Mongolian free variation selectors
        | '\u{FE00}'..='\u{FE0F}'              // VS1–VS16 (incl. text/emoji presentation)
        | '\u{E0100}'..='\u{E01EF}'            // VS17–VS256 (ideographic variants)
    )
}

/// Characters that render as nothing (or reorder/hide other text) and have
/// no business in alert text: general category Cf, the other
/// Default_Ignorable_Code_Points except variation selectors, and the
/// line/paragraph separators. Enumerated from Unicode 16 so no extra crate
/// is needed; unassigned default-ignorable ranges are included so future
/// assignments there stay neutralised.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                          // soft hyphen
        | '\u{034F}'                        // combining grapheme joiner
        | '\u{0600}'..='\u{0605}'           // Arabic number signs (prepended marks)
        | '\u{061C}'                        // Arabic letter mark (bidi)
        | '\u{06DD}'                        // Arabic end of ayah
        | '\u{070F}'                        // Syriac abbreviation mark
        | '\u{0890}'..='\u{0891}'           // Arabic pound/piastre mark above
        | '\u{08E2}'                        // Arabic disputed end of ayah
        | '\u{115F}'..='\u{1160}'           // Hangul choseong/jungseong fillers
        | '\u{17B4}'..='\u{17B5}'           // Khmer inherent vowels (invisible)
        | '\u{180E}'                        // Mongolian vowel separator
        | '\u{200B}'..='\u{200F}'           // ZWSP, ZWNJ, ZWJ, LRM, RLM
        | '\u{2028}'..='\u{2029}'           // line / paragraph separator
        | '\u{202A}'..='\u{202E}'           // bidi embeddings and overrides
        | '\u{2060}'..='\u{206F}'           // word joiner, invisible operators, bidi isolates, deprecated
        | '\u{3164}'                        // Hangul filler
        | '\u{FEFF}'                        // BOM / zero-width no-break space
        | '\u{FFA0}'                        // halfwidth Hangul filler
        | '\u{FFF0}'..='\u{FFFB}'           // reserved + interlinear annotation
        | '\u{110BD}' | '\u{110CD}'         // Kaithi number signs
        | '\u{13430}'..='\u{1343F}'         // Egyptian hieroglyph format controls
        | '\u{1BCA0}'..='\u{1BCA3}'         // shorthand format controls
        | '\u{1D173}'..='\u{1D17A}'         // musical beam/tie/slur/phrase controls
        | '\u{E0000}'..='\u{E00FF}'         // tag characters (+ reserved)
        | '\u{E01F0}'..='\u{E0FFF}'         // reserved default-ignorable
    )
}

/// Writes `value` as JSON whose text is safe on a terminal: besides the C0
/// controls, quote and backslash that JSON always escapes, every character
/// [`line()`] would neutralise (DEL, C1 controls such as the 8-bit CSI
/// U+009B, bidi overrides, zero-width and other invisible characters, stray
/// variation selectors) is written as a `\uXXXX` escape (a surrogate pair
/// above U+FFFF). JSON escapes are lossless: a reader gets the raw wire text
/// back. No newline is added.
pub fn write_json<W, T>(w: &mut W, value: &T) -> std::io::Result<()>
where
    W: std::io::Write + ?Sized,
    T: serde::Serialize + ?Sized,
{
    let mut ser = serde_json::Serializer::with_formatter(w, TerminalSafeJson);
    value.serialize(&mut ser).map_err(std::io::Error::from)
}

/// serde_json's compact format, escaping what [`write_json`] describes.
struct TerminalSafeJson;

impl serde_json::ser::Formatter for TerminalSafeJson {
    fn write_string_fragment<W>(&mut self, w: &mut W, fragment: &str) -> std::io::Result<()>
    where
        W: ?Sized + std::io::Write,
    {
        if fragment.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return w.write_all(fragment.as_bytes());
        }
        // A fragment starts after an escape or at the start of the string,
        // neither of which carries a variation selector.
        let mut prev_is_base = false;
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if must_escape(c, prev_is_base) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
                start = i + c.len_utf8();
            }
            prev_is_base = is_base(c);
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn json_escapes_what_a_terminal_would_act_on_and_round_trips() {
        let raw = "a\u{1b}[2J\u{7f}\u{9b}31m\u{202e}x\u{200b}y\u{e0041}\u{fe0f}\"\\ ⚠\u{fe0f} é";
        let mut out = Vec::new();
        write_json(&mut out, &serde_json::json!({"s": raw})).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"s\":\"a\\u001b[2J\\u007f\\u009b31m\\u202ex\\u200by\\udb40\\udc41\\ufe0f\\\"\\\\ ⚠\u{fe0f} é\"}"
        );
        assert!(is_clean_line(&text), "{text:?}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["s"], raw);
    }

    /// Characters that must never survive `line`, whatever their context.
    fn always_neutralised(c: char) -> bool {
        c.is_control() || is_invisible(c)
    }

    #[test]
    fn clean_ascii_is_borrowed() {
        let s = "octo-org/widgets: Branch Protection (FAIL) ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./";
        assert!(matches!(line(s), Cow::Borrowed(_)));
        assert!(matches!(text(s), Cow::Borrowed(_)));
        assert!(is_clean_line(s));
        assert!(matches!(line(""), Cow::Borrowed("")));
    }

    #[test]
    fn clean_unicode_is_borrowed() {
        let s = "Zürich – 東京 – مرحبا – emoji 🚀 ❤\u{FE0F} replacement \u{FFFD} nbsp\u{A0}";
        assert!(matches!(line(s), Cow::Borrowed(_)));
        assert!(is_clean_line(s));
        let multi = "first line\nsecond line ✓\n";
        assert!(matches!(text(multi), Cow::Borrowed(_)));
        assert!(!is_clean_line(multi));
    }

    #[test]
    fn c0_del_and_c1_become_hex_escapes() {
        assert_eq!(line("a\x00b"), "a\\x00b");
        assert_eq!(line("\x07bell"), "\\x07bell");
        assert_eq!(line("esc\x1b"), "esc\\x1b");
        assert_eq!(line("del\x7f"), "del\\x7f");
        assert_eq!(line("nel\u{85}"), "nel\\x85");
        assert_eq!(line("csi\u{9b}31m"), "csi\\x9b31m");
        assert_eq!(line("\u{9f}"), "\\x9f");
        // U+00A0 (first char after C1) is printable and stays.
        assert_eq!(line("\u{a0}"), "\u{a0}");
    }

    #[test]
    fn line_shows_newline_tab_and_cr_as_backslash_letters() {
        assert_eq!(line("a\nb\tc\rd\r\n"), "a\\nb\\tc\\rd\\r\\n");
        assert!(!is_clean_line("a\tb"));
    }

    #[test]
    fn hostile_terminal_sequences_are_neutralised() {
        assert_eq!(line("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
        assert_eq!(line("\x1b[2J\x1b[H"), "\\x1b[2J\\x1b[H");
        assert_eq!(line("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
        assert_eq!(line("\u{9b}2J"), "\\x9b2J");
        // OSC 8 hyperlink with an 8-bit string terminator.
        assert_eq!(
            line("\x1b]8;;http://evil\u{9c}click\x1b]8;;\u{9c}"),
            "\\x1b]8;;http://evil\\x9cclick\\x1b]8;;\\x9c"
        );
        assert_eq!(text("ok\n\x1b[2Jgone"), "ok\n\\x1b[2Jgone");
    }

    #[test]
    fn bidi_controls_are_escaped() {
        // "Trojan Source": RLO makes "txt.exe" display as "exe.txt".
        assert_eq!(line("invoice\u{202E}txt.exe"), "invoice\\u{202e}txt.exe");
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2066}', '\u{2067}', '\u{2068}',
            '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            let s = format!("a{c}b");
            assert_eq!(line(&s), format!("a\\u{{{:04x}}}b", u32::from(c)), "{c:?}");
            assert!(!is_clean_line(&s));
        }
    }

    #[test]
    fn zero_width_and_invisible_formatting_are_escaped() {
        for c in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{2061}',
            '\u{2062}',
            '\u{2063}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{180E}',
            '\u{034F}',
            '\u{3164}',
            '\u{115F}',
            '\u{FFA0}',
            '\u{0600}',
            '\u{1D173}',
        ] {
            let s = format!("x{c}y");
            assert_eq!(line(&s), format!("x\\u{{{:04x}}}y", u32::from(c)), "{c:?}");
        }
    }

    #[test]
    fn tags_annotations_and_separators_are_escaped() {
        assert_eq!(
            line("a\u{E0001}\u{E0041}\u{E007F}"),
            "a\\u{e0001}\\u{e0041}\\u{e007f}"
        );
        assert_eq!(
            line("\u{FFF9}x\u{FFFA}y\u{FFFB}"),
            "\\u{fff9}x\\u{fffa}y\\u{fffb}"
        );
        assert_eq!(line("a\u{2028}b\u{2029}c"), "a\\u{2028}b\\u{2029}c");
        assert_eq!(text("a\u{2028}b"), "a\\u{2028}b");
    }

    #[test]
    fn variation_selectors_kept_only_singly_after_a_visible_char() {
        assert_eq!(line("⚠\u{FE0F} warn"), "⚠\u{FE0F} warn");
        assert_eq!(line("葛\u{E0100}"), "葛\u{E0100}");
        assert_eq!(line("\u{FE0F}start"), "\\u{fe0f}start");
        assert_eq!(line("a \u{FE0F}"), "a \\u{fe0f}");
        assert_eq!(
            line("a\u{FE0F}\u{FE0E}\u{E0100}"),
            "a\u{FE0F}\\u{fe0e}\\u{e0100}"
        );
        // After an escaped character there is nothing visible to modify.
        assert_eq!(line("\x1b\u{FE0F}"), "\\x1b\\u{fe0f}");
        assert_eq!(text("\n\u{FE0F}"), "\n\\u{fe0f}");
    }

    #[test]
    fn replacement_char_passes() {
        assert_eq!(line("bad \u{FFFD} byte"), "bad \u{FFFD} byte");
    }

    #[test]
    fn text_keeps_newlines_expands_tabs_and_normalises_crlf() {
        assert_eq!(text("a\r\nb\r\n"), "a\nb\n");
        assert_eq!(text("a\rb"), "a\\rb");
        assert_eq!(text("a\r"), "a\\r");
        assert_eq!(text("\r\r\n"), "\\r\n");
        assert_eq!(text("\tindented\tx"), "    indented    x");
        assert_eq!(text("x\x1b[1my"), "x\\x1b[1my");
        assert!(matches!(text("a\nb"), Cow::Borrowed(_)));
        assert!(matches!(text("a\r\nb"), Cow::Owned(_)));
    }

    #[test]
    fn dirty_suffix_keeps_clean_prefix() {
        assert_eq!(line("héllo wörld\x1b"), "héllo wörld\\x1b");
        assert_eq!(line("❤\u{FE0F}\x00"), "❤\u{FE0F}\\x00");
    }

    /// Strings biased towards the interesting characters.
    fn hostile_string() -> impl Strategy<Value = String> {
        let interesting = prop_oneof![
            any::<char>(),
            prop::char::range('\0', '\u{a0}'),
            prop::sample::select(vec![
                '\n',
                '\r',
                '\t',
                '\x1b',
                '\u{9b}',
                '\u{202E}',
                '\u{2066}',
                '\u{200D}',
                '\u{FEFF}',
                '\u{FE0F}',
                '\u{E0100}',
                '\u{E0041}',
                '\u{2028}',
                '\u{FFFD}',
                '\u{AD}',
                ' ',
                'a',
            ]),
        ];
        prop::collection::vec(interesting, 0..64).prop_map(|v| v.into_iter().collect())
    }

    /// Checks the variation-selector rule on sanitized output.
    fn selectors_follow_visible_chars(out: &str) -> bool {
        let mut prev: Option<char> = None;
        for c in out.chars() {
            if is_variation_selector(c) && !prev.is_some_and(is_base) {
                return false;
            }
            prev = Some(c);
        }
        true
    }

    proptest! {
        #[test]
        fn line_output_has_no_controls_or_invisibles(s in hostile_string()) {
            let out = line(&s);
            prop_assert!(!out.chars().any(always_neutralised), "{:?} -> {:?}", s, out);
            prop_assert!(selectors_follow_visible_chars(&out), "{:?} -> {:?}", s, out);
        }

        #[test]
        fn text_output_only_control_is_newline(s in hostile_string()) {
            let out = text(&s);
            prop_assert!(
                !out.chars().any(|c| c != '\n' && always_neutralised(c)),
                "{:?} -> {:?}", s, out
            );
            prop_assert!(selectors_follow_visible_chars(&out), "{:?} -> {:?}", s, out);
            prop_assert_eq!(out.matches('\n').count(), s.matches('\n').count());
        }

        #[test]
        fn deterministic_and_borrowed_when_clean(s in hostile_string()) {
            let a = line(&s);
            prop_assert_eq!(&a, &line(&s));
            prop_assert_eq!(is_clean_line(&s), matches!(a, Cow::Borrowed(_)));
            if is_clean_line(&s) {
                prop_assert_eq!(a.as_ref(), s.as_str());
            } else {
                prop_assert_ne!(a.as_ref(), s.as_str());
            }
            let t = text(&s);
            prop_assert_eq!(matches!(t, Cow::Borrowed(_)), t.as_ref() == s.as_str());
        }

        #[test]
        fn printable_ascii_is_untouched(s in "[ -~]{0,80}") {
            prop_assert!(matches!(line(&s), Cow::Borrowed(_)));
            prop_assert!(matches!(text(&s), Cow::Borrowed(_)));
        }
    }
}
