use super::table::{fit_columns, fit_words, wrap_cell};
use super::*;
use proptest::prelude::*;

fn plain(text: &Text<'_>) -> Vec<String> {
    text.lines
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect()
}

fn spans(line: &Line<'_>) -> Vec<(String, Style)> {
    line.spans
        .iter()
        .map(|s| (s.content.to_string(), s.style))
        .collect()
}

fn theme() -> Theme {
    Theme::default_theme()
}

/// Asserts that no span contains a control or invisible character.
fn assert_clean(text: &Text<'_>) {
    for line in &text.lines {
        for span in &line.spans {
            assert!(
                sanitize::is_clean_line(&span.content),
                "unsanitized span {:?}",
                span.content
            );
        }
    }
}

const ALLSTAR_DETAILS: &str = "Security policy not enabled.\n\
    A SECURITY.md file can give users information about what constitutes a vulnerability \
    and how to report one securely.\n\
    \n\
    **Remediation steps**\n\
    - Add a SECURITY.md file to the repository.\n\
    - See [the docs](https://docs.github.com/en/code-security/getting-started/adding-a-security-policy-to-your-repository)\n\
    \n\
    More at https://github.com/ossf/allstar.\n";

#[test]
fn realistic_allstar_details() {
    let t = theme();
    let text = render(ALLSTAR_DETAILS, &t);
    assert_eq!(
        plain(&text),
        [
            "Security policy not enabled.",
            "A SECURITY.md file can give users information about \
             what constitutes a vulnerability and how to report one securely.",
            "",
            "Remediation steps",
            "• Add a SECURITY.md file to the repository.",
            "• See the docs <https://docs.github.com/en/code-security/getting-started/adding-a-security-policy-to-your-repository>",
            "",
            "More at https://github.com/ossf/allstar.",
        ]
    );
    let base = t.text;
    assert_eq!(spans(&text.lines[0]).len(), 1);
    assert_eq!(text.lines[0].spans[0].style, base);
    assert_eq!(
        spans(&text.lines[3]),
        [("Remediation steps".to_owned(), base.patch(t.md_bold))]
    );
    assert_eq!(
        spans(&text.lines[5]),
        [
            ("• ".to_owned(), base.patch(t.md_bullet)),
            ("See ".to_owned(), base),
            ("the docs".to_owned(), base.patch(t.md_link)),
            (
                " <https://docs.github.com/en/code-security/getting-started/adding-a-security-policy-to-your-repository>"
                    .to_owned(),
                base.patch(t.dim)
            ),
        ]
    );
    assert_eq!(
        spans(&text.lines[7]),
        [
            ("More at ".to_owned(), base),
            (
                "https://github.com/ossf/allstar".to_owned(),
                base.patch(t.md_link)
            ),
            (".".to_owned(), base),
        ]
    );
}

#[test]
fn paragraphs_are_separated_by_one_blank_line() {
    let text = render("one\n\n\n\ntwo\nstill two\n\nthree", &theme());
    assert_eq!(plain(&text), ["one", "", "two", "still two", "", "three"]);
}

#[test]
fn list_after_blank_line_gets_a_gap() {
    let text = render("Steps:\n\n- a\n- b\n\nAfter.", &theme());
    assert_eq!(plain(&text), ["Steps:", "", "• a", "• b", "", "After."]);
}

#[test]
fn headings_are_styled() {
    let t = theme();
    let text = render("# Branch protection\nSome text.\n\n## Details *here*", &t);
    assert_eq!(
        plain(&text),
        ["Branch protection", "", "Some text.", "", "Details here"]
    );
    let heading = t.text.patch(t.md_heading);
    assert_eq!(
        spans(&text.lines[0]),
        [("Branch protection".to_owned(), heading)]
    );
    assert_eq!(
        spans(&text.lines[4]),
        [
            ("Details ".to_owned(), heading),
            ("here".to_owned(), heading.add_modifier(Modifier::ITALIC)),
        ]
    );
}

#[test]
fn bold_patches_over_surrounding_style_and_italic_adds_modifier() {
    let t = theme();
    let text = render("plain **bold _both_** *it*", &t);
    let bold = t.text.patch(t.md_bold);
    assert_eq!(
        spans(&text.lines[0]),
        [
            ("plain ".to_owned(), t.text),
            ("bold ".to_owned(), bold),
            ("both".to_owned(), bold.add_modifier(Modifier::ITALIC)),
            (" ".to_owned(), t.text),
            ("it".to_owned(), t.text.add_modifier(Modifier::ITALIC)),
        ]
    );
}

#[test]
fn nested_and_ordered_lists() {
    let src =
        "- top\n  - nested\n    - deeper\n  - nested 2\n- top 2\n\n1. first\n2. second\n   - sub\n";
    let text = render(src, &theme());
    assert_eq!(
        plain(&text),
        [
            "• top",
            "  • nested",
            "    • deeper",
            "  • nested 2",
            "• top 2",
            "",
            "1. first",
            "2. second",
            "   • sub",
        ]
    );
}

#[test]
fn ordered_list_keeps_its_start_number() {
    let text = render("9. nine\n10. ten\n", &theme());
    assert_eq!(plain(&text), ["9. nine", "10. ten"]);
}

#[test]
fn loose_list_item_with_two_paragraphs_indents_continuation() {
    let text = render("- first para\n\n  second para\n- next\n", &theme());
    assert_eq!(
        plain(&text),
        ["• first para", "", "  second para", "• next"]
    );
}

#[test]
fn inline_code_and_code_blocks() {
    let t = theme();
    let code = t.text.patch(t.md_code);
    let text = render(
        "Run `allstar --fix` now.\n\n```sh\ngit add SECURITY.md\n\tgit push\n```\n\nDone.",
        &t,
    );
    assert_eq!(
        plain(&text),
        [
            "Run allstar --fix now.",
            "",
            "  git add SECURITY.md",
            "      git push",
            "",
            "Done."
        ]
    );
    assert_eq!(text.lines[0].spans[1].content, "allstar --fix");
    assert_eq!(text.lines[0].spans[1].style, code);
    assert!(text.lines[2].spans.iter().all(|s| s.style == code));
}

#[test]
fn code_block_in_list_item_is_indented_under_it() {
    let text = render("- step:\n\n  ```\n  make\n  ```\n", &theme());
    assert_eq!(plain(&text), ["• step:", "", "    make"]);
}

#[test]
fn breaks() {
    let text = render("soft\nbreak and hard  \nbreak\\\nagain", &theme());
    // GitHub issue semantics: every newline is a line break.
    assert_eq!(plain(&text), ["soft", "break and hard", "break", "again"]);
}

#[test]
fn one_finding_per_line_stays_one_per_line() {
    let text = render(
        "Branch protection settings:\nbranch main Require approval: 0 (want 1)\nbranch main Dismiss stale reviews: false\n",
        &theme(),
    );
    assert_eq!(
        plain(&text),
        [
            "Branch protection settings:",
            "branch main Require approval: 0 (want 1)",
            "branch main Dismiss stale reviews: false"
        ]
    );
}

const TABLE: &str = "Checks:\n\n| Check | Score | Reason |\n|---|--:|---|\n\
    | Code-Review | 3 | Found 3/10 approved changesets |\n\
    | Pinned-Dependencies | 10 | all dependencies are pinned |\n";

#[test]
fn tables_are_drawn_as_a_grid_that_fits() {
    let text = render_width(TABLE, &theme(), 200);
    let lines = plain(&text);
    assert_eq!(lines[0], "Checks:");
    assert_eq!(lines[2], "Check               │ Score │ Reason");
    assert_eq!(
        lines[3],
        "────────────────────┼───────┼───────────────────────────────"
    );
    // Right-aligned as the delimiter row says.
    assert_eq!(
        lines[4],
        "Code-Review         │     3 │ Found 3/10 approved changesets"
    );
    assert!(!lines.iter().any(|l| l.contains("|---")), "{lines:?}");
    let head = spans(&text.lines[2]);
    assert!(head[0].1.add_modifier.contains(Modifier::BOLD), "{head:?}");
    assert_clean(&text);
}

#[test]
fn narrow_tables_wrap_their_wide_column_and_stay_within_the_width() {
    let text = render_width(TABLE, &theme(), 40);
    let lines = plain(&text);
    for l in &lines {
        assert!(fmt::width(l) <= 40, "{l:?} in {lines:?}");
    }
    // The long reason wraps under its own column.
    let reason_rows: Vec<&String> = lines.iter().filter(|l| l.contains("│")).collect();
    assert!(reason_rows.len() > 3, "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("approved")), "{lines:?}");
    // Too narrow for any grid: header: value lines.
    let text = render_width(TABLE, &theme(), 12);
    let lines = plain(&text);
    assert!(
        lines.contains(&"Check: Code-Review".to_owned()),
        "{lines:?}"
    );
    assert!(lines.contains(&"Score: 3".to_owned()), "{lines:?}");
}

#[test]
fn fit_columns_keeps_narrow_columns_and_fills_the_room() {
    assert_eq!(fit_columns(&[5, 40, 3], 30), vec![5, 22, 3]);
    let w = fit_columns(&[50, 50, 50], 31);
    assert_eq!(w.iter().sum::<usize>(), 31);
    assert_eq!(wrap_cell("a bb ccc", 4), ["a bb", "ccc"]);
    assert_eq!(wrap_cell("abcdefgh", 3), ["abc", "def", "gh"]);
    // A long word breaks after a hyphen or slash that fits.
    assert_eq!(
        wrap_cell("Token-Permissions", 14),
        ["Token-", "Permissions"]
    );
    assert_eq!(wrap_cell("a/b/cdefgh", 5), ["a/b/", "cdefg", "h"]);
    assert_eq!(wrap_cell("漢字漢字", 5), ["漢字", "漢字"]);
    assert_eq!(wrap_cell("", 3), [""]);
}

/// Where every column can have its longest word, none is broken, and the
/// whole room is used (a user's review: `Thresho` / `ld` with room to
/// spare beside the table).
#[test]
fn columns_keep_their_longest_word_when_they_can() {
    // Check (19; longest word 19), Score (5), Threshold (9), a reason.
    let w = fit_words(&[19, 5, 9, 40], &[19, 5, 9, 8], 50);
    assert_eq!(w.iter().sum::<usize>(), 50);
    assert_eq!(&w[..3], &[19, 5, 9], "{w:?}");
    // Every column lacking, the extra shared by what each lacks.
    let w = fit_words(&[30, 30], &[10, 20], 40);
    assert_eq!(w.iter().sum::<usize>(), 40);
    assert!(
        w[0] >= 10 && w[1] >= 20 && w[0] <= 30 && w[1] <= 30,
        "{w:?}"
    );
    // The demo's Scorecard table in a narrow Details pane: no word broken.
    let table = "| Check | Score | Threshold |\n|---|--:|--:|\n\
                 | Token-Permissions | 3/10 | 8 |\n| Pinned-Dependencies | 4/10 | 8 |\n";
    let lines = plain(&render_width(table, &theme(), 39));
    for l in &lines {
        assert!(fmt::width(l) <= 39, "{l:?}");
    }
    for word in ["Threshold", "Token-Permissions", "Pinned-Dependencies"] {
        assert!(lines.iter().any(|l| l.contains(word)), "{word}: {lines:?}");
    }
    // Narrower: the long names break after their hyphen, not mid-word.
    let lines = plain(&render_width(table, &theme(), 34));
    assert!(lines.iter().any(|l| l.starts_with("Token-  ")), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("Permissions")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains("Threshold")), "{lines:?}");
}

#[test]
fn links_show_url_only_when_it_adds_information() {
    let t = theme();
    let text = render(
        "[https://a.example](https://a.example) <https://b.example> <me@example.com> [x]()",
        &t,
    );
    assert_eq!(
        plain(&text),
        ["https://a.example https://b.example me@example.com x"]
    );
    let text = render("![logo](https://img.example/l.png)", &t);
    assert_eq!(plain(&text), ["logo <https://img.example/l.png>"]);
}

#[test]
fn bare_urls_trim_trailing_punctuation() {
    assert_eq!(
        split_bare_url("see https://x.io/a."),
        Some(("see ", "https://x.io/a", "."))
    );
    assert_eq!(
        split_bare_url("(https://x.io/wiki/A_(b)) ok"),
        Some(("(", "https://x.io/wiki/A_(b)", ") ok"))
    );
    assert_eq!(
        split_bare_url("http://x.io, y"),
        Some(("", "http://x.io", ", y"))
    );
    assert_eq!(split_bare_url("no url"), None);
    assert_eq!(split_bare_url("https:// nothing"), None);
    assert_eq!(
        split_bare_url("http://. then https://y.io"),
        Some(("http://. then ", "https://y.io", ""))
    );
}

#[test]
fn bare_url_scan_is_linear_on_hostile_text() {
    let many = "http://".repeat(50_000);
    assert_eq!(
        split_bare_url(&many).map(|(b, u, _)| (b.len(), u.len())),
        Some((0, many.len()))
    );
    let parens = format!("https://x{}", ")".repeat(100_000));
    assert_eq!(
        split_bare_url(&parens).map(|(_, u, _)| u),
        Some("https://x")
    );
    let empties = "http:// ".repeat(50_000);
    assert_eq!(split_bare_url(&empties), None);
    let text = render(&format!("{empties}\n\n{parens}"), &theme());
    assert_eq!(text.lines.len(), 3);
}

#[test]
fn blockquotes_and_rules() {
    let text = render("> quoted\n> more\n\n---\n\nafter", &theme());
    assert_eq!(plain(&text), ["│ quoted", "│ more", "", RULE, "", "after"]);
}

#[test]
fn raw_html_is_plain_text() {
    let text = render("<div onclick=x>\nhi\n</div>\n\ninline <b>tag</b>", &theme());
    assert_eq!(
        plain(&text),
        ["<div onclick=x>", "hi", "</div>", "", "inline <b>tag</b>"]
    );
}

#[test]
fn task_lists_and_strikethrough() {
    let t = theme();
    let text = render("- [x] done\n- [ ] ~~todo~~", &t);
    assert_eq!(plain(&text), ["• [x] done", "• [ ] todo"]);
    let struck = text.lines[1].spans.last().unwrap();
    assert!(struck.style.add_modifier.contains(Modifier::CROSSED_OUT));
}

#[test]
fn hostile_control_sequences_are_escaped_everywhere() {
    let src = "Title\x1b]0;x\x07 here\u{9b}2J\n\n\
        [click\x1bc](https://evil.example/&#27;]0;x&#7;)\n\n\
        [raw](<https://evil.example/\x1b[2J>)\n\n\
        - item \u{202e}txt.exe\n\n\
        ```\ncode \x1b[31mred\r\n```\n\n\
        <b>\x1b[5m</b>\n\n\
        `\x1b[1m`";
    let text = render(src, &theme());
    assert_clean(&text);
    let all = plain(&text).join("\n");
    assert!(all.contains("Title\\x1b]0;x\\x07 here\\x9b2J"), "{all}");
    // Entity references decode to controls inside the URL: still escaped.
    assert!(
        all.contains("click\\x1bc <https://evil.example/\\x1b]0;x\\x07>"),
        "{all}"
    );
    assert!(all.contains("raw <https://evil.example/\\x1b[2J>"), "{all}");
    assert!(all.contains("\\u{202e}txt.exe"), "{all}");
    assert!(all.contains("code \\x1b[31mred"), "{all}");
}

#[test]
fn empty_and_whitespace_input() {
    assert!(render("", &theme()).lines.is_empty());
    assert!(render("\n\n  \n", &theme()).lines.is_empty());
    assert_eq!(plain(&render("-", &theme())), ["• "]);
}

#[test]
fn deep_nesting_is_bounded() {
    let src = format!("{}x  \ny  \nz", "> ".repeat(5000));
    let text = render(&src, &theme());
    assert_eq!(text.lines.len(), 3);
    assert!(
        text.lines
            .iter()
            .all(|l| l.spans.len() <= MAX_INDENT_LEVELS + 2)
    );
    let lists = format!("{}deep", "- ".repeat(300));
    let text = render(&lists, &theme());
    assert_clean(&text);
}

fn markdownish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "- ",
        "* ",
        "1. ",
        "  ",
        "\n",
        "\n\n",
        "**",
        "*",
        "_",
        "`",
        "```\n",
        "[",
        "](",
        ")",
        "<",
        ">",
        "> ",
        "# ",
        "---\n",
        "https://x.io/",
        "\\",
        "\t",
        "\r\n",
        "\x1b",
        "\x1b]0;t\x07",
        "\u{9b}",
        "\u{202e}",
        "\u{200d}",
        "\u{fe0f}",
        "<b>",
        "![",
        "~~",
        "[ ] ",
        "word",
        "é",
        "&amp;",
        "&#27;",
        "&#x9b;",
        "&#8238;",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn never_panics_and_never_emits_controls(s in any::<String>()) {
        assert_clean(&render(&s, &theme()));
    }

    #[test]
    fn markdown_like_input_is_clean(s in markdownish()) {
        assert_clean(&render(&s, &theme()));
    }
}
