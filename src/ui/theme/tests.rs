use super::load::ThemeFile;
use super::*;
use proptest::prelude::*;
use std::fs;

fn builtin_source(name: &str) -> &'static str {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap()
}

fn all_styles(t: &Theme) -> Vec<(&'static str, Style)> {
    Theme::ROLES
        .iter()
        .map(|r| (*r, t.style(r).unwrap()))
        .collect()
}

#[test]
fn colours_degrade_to_what_the_terminal_advertises() {
    use ColorDepth::*;
    assert_eq!(
        ColorDepth::from_env(Some("truecolor"), Some("xterm")),
        TrueColor
    );
    assert_eq!(ColorDepth::from_env(Some("24bit"), None), TrueColor);
    assert_eq!(
        ColorDepth::from_env(None, Some("xterm-256color")),
        Indexed256
    );
    assert_eq!(ColorDepth::from_env(None, Some("xterm")), Ansi16);
    assert_eq!(ColorDepth::from_env(Some(""), None), Ansi16);
    let rgb = Color::Rgb(0x07, 0x36, 0x42);
    assert_eq!(degrade_color(rgb, TrueColor), rgb);
    assert!(matches!(
        degrade_color(rgb, Indexed256),
        Color::Indexed(16..)
    ));
    assert_eq!(
        degrade_color(Color::Rgb(250, 10, 10), Ansi16),
        Color::LightRed
    );
    assert_eq!(degrade_color(Color::Indexed(196), Ansi16), Color::LightRed);
    assert_eq!(degrade_color(Color::Indexed(3), Ansi16), Color::Yellow);
    assert_eq!(
        degrade_color(Color::Rgb(128, 128, 128), Indexed256),
        Color::Indexed(244)
    );
    // solarized-dark emits no 24-bit colour on a plain xterm.
    let t = Theme::load("solarized-dark", None)
        .unwrap()
        .with_depth(Ansi16);
    for role in Theme::ROLES {
        let s = t.style(role).unwrap();
        for c in [s.fg, s.bg].into_iter().flatten() {
            assert!(
                !matches!(c, Color::Rgb(..) | Color::Indexed(16..)),
                "{role}: {c:?}"
            );
        }
    }
}

#[test]
fn builtin_list_matches_embedded_sources() {
    let embedded: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
    assert_eq!(Theme::builtin_names(), embedded.as_slice());
    assert_eq!(Theme::builtin_names()[0], "dark");
}

#[test]
fn every_builtin_parses_and_defines_every_role_itself() {
    for name in Theme::builtin_names() {
        let src = builtin_source(name);
        let file: ThemeFile = serde_yaml::from_str(src).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Built-ins are standalone so none inherits colours meant for a
        // different background.
        assert_eq!(file.extends.as_deref(), Some(NO_BASE), "{name}");
        assert_eq!(
            file.styles.missing(),
            Vec::<&str>::new(),
            "{name} is incomplete"
        );
        let theme = Theme::load(name, None).unwrap();
        assert_eq!(theme.name, *name);
    }
}

#[test]
fn the_default_theme_is_the_dark_builtin() {
    let t = Theme::default_theme();
    assert_eq!(t, Theme::load("dark", None).unwrap());
    assert_eq!(t.name, "dark");
    assert_eq!(Theme::default(), t);
}

#[test]
fn roles_are_distinct_where_the_ui_relies_on_it() {
    for name in Theme::builtin_names() {
        let t = Theme::load(name, None).unwrap();
        for (a, b) in [
            ("fail", "text"),
            ("pass", "fail"),
            ("regressed", "fail"),
            ("fixed", "pass"),
            ("selected", "text"),
            ("flash", "text"),
            ("border_focused", "border"),
            ("title_focused", "title"),
            ("filter_error", "text"),
            ("banner", "text"),
        ] {
            assert_ne!(t.style(a), t.style(b), "{name}: {a} looks like {b}");
        }
    }
}

/// Approximate sRGB of a colour in the xterm default palette.
fn rgb(c: Color) -> Option<(u8, u8, u8)> {
    Some(match c {
        Color::Reset => return None,
        Color::Black => (0, 0, 0),
        Color::Red => (0xcd, 0, 0),
        Color::Green => (0, 0xcd, 0),
        Color::Yellow => (0xcd, 0xcd, 0),
        Color::Blue => (0, 0, 0xee),
        Color::Magenta => (0xcd, 0, 0xcd),
        Color::Cyan => (0, 0xcd, 0xcd),
        Color::Gray => (0xe5, 0xe5, 0xe5),
        Color::DarkGray => (0x7f, 0x7f, 0x7f),
        Color::LightRed => (0xff, 0, 0),
        Color::LightGreen => (0, 0xff, 0),
        Color::LightYellow => (0xff, 0xff, 0),
        Color::LightBlue => (0x5c, 0x5c, 0xff),
        Color::LightMagenta => (0xff, 0, 0xff),
        Color::LightCyan => (0, 0xff, 0xff),
        Color::White => (0xff, 0xff, 0xff),
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Indexed(i @ 0..=15) => return rgb(ANSI16[usize::from(i)]),
        Color::Indexed(i @ 16..=231) => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let i = i - 16;
            (level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        Color::Indexed(i) => {
            let v = 8 + 10 * (i - 232);
            (v, v, v)
        }
    })
}

const ANSI16: [Color; 16] = [
    Color::Black,
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::Gray,
    Color::DarkGray,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
    Color::White,
];

fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// WCAG-style contrast check against the terminal colours each theme is
/// designed for, so e.g. `light` never puts light text on a light
/// background. Decorations (`dim`, `border`) may be quieter.
#[test]
fn builtin_colours_have_readable_contrast() {
    let white = (0xff, 0xff, 0xff);
    let black = (0, 0, 0);
    let terminals = [
        ("dark", (0xe5, 0xe5, 0xe5), black),
        ("light", black, white),
        ("high-contrast", (0xe5, 0xe5, 0xe5), black),
        ("solarized-dark", (0x83, 0x94, 0x96), (0x00, 0x2b, 0x36)),
        ("monochrome", (0xe5, 0xe5, 0xe5), black),
    ];
    for (name, term_fg, term_bg) in terminals {
        let t = Theme::load(name, None).unwrap();
        let minimum = |role: &str| match (name, role) {
            ("high-contrast", _) => 4.5,
            (_, "dim" | "border") => 2.5,
            _ => 3.0,
        };
        for (role, s) in all_styles(&t) {
            let mut fg = s.fg.and_then(rgb).unwrap_or(term_fg);
            let mut bg = s.bg.and_then(rgb).unwrap_or(term_bg);
            if effective_modifiers(s).contains(Modifier::REVERSED) {
                std::mem::swap(&mut fg, &mut bg);
            }
            let ratio = contrast(fg, bg);
            assert!(
                ratio >= minimum(role),
                "{name}.{role}: contrast {ratio:.2} ({s:?})"
            );
        }
    }
}

#[test]
fn partial_theme_overrides_only_its_keys() {
    let dark = Theme::default_theme();
    let t = Theme::from_yaml(
        "styles:\n  fail: magenta\n  pass: { fg: 34, bold: true }\n",
        "mine",
    )
    .unwrap();
    assert_eq!(t.name, "mine");
    assert_eq!(t.fail, Style::new().fg(Color::Magenta));
    assert_eq!(
        t.pass,
        Style::new()
            .fg(Color::Indexed(34))
            .add_modifier(Modifier::BOLD)
    );
    for (role, s) in all_styles(&t) {
        if role != "fail" && role != "pass" {
            assert_eq!(Some(s), dark.style(role), "{role}");
        }
    }
}

#[test]
fn extends_another_builtin_and_names() {
    let light = Theme::load("light", None).unwrap();
    let t = Theme::from_yaml(
        "name: Mine\nextends: light\nstyles:\n  dim: \"#808080\"\n",
        "x",
    )
    .unwrap();
    assert_eq!(t.name, "Mine");
    assert_eq!(t.dim, Style::new().fg(Color::Rgb(0x80, 0x80, 0x80)));
    assert_eq!(t.text, light.text);
    let blank = Theme::from_yaml("extends: none\nstyles:\n  text: red\n", "x").unwrap();
    assert_eq!(blank.text.fg, Some(Color::Red));
    assert_eq!(blank.fail, Style::new());
}

#[test]
fn style_forms_and_colour_spellings() {
    let t = Theme::from_yaml(
        "styles:\n\
         \x20 text: reset\n\
         \x20 dim: dark_gray\n\
         \x20 border: lightred\n\
         \x20 title: light_red\n\
         \x20 fail: \"#FF8800\"\n\
         \x20 pass: 0\n\
         \x20 fixed: \"255\"\n\
         \x20 selected: { bg: blue, fg: white, bold: true, italic: true, underline: true, reversed: true, dim: true }\n\
         \x20 flash: { bold: false }\n",
        "t",
    )
    .unwrap();
    assert_eq!(t.text.fg, Some(Color::Reset));
    assert_eq!(t.dim.fg, Some(Color::DarkGray));
    assert_eq!(t.border.fg, Some(Color::LightRed));
    assert_eq!(t.title.fg, Some(Color::LightRed));
    assert_eq!(t.fail.fg, Some(Color::Rgb(0xff, 0x88, 0)));
    assert_eq!(t.pass.fg, Some(Color::Indexed(0)));
    assert_eq!(t.fixed.fg, Some(Color::Indexed(255)));
    assert_eq!(t.selected.bg, Some(Color::Blue));
    assert_eq!(
        t.selected.add_modifier,
        Modifier::BOLD
            | Modifier::ITALIC
            | Modifier::UNDERLINED
            | Modifier::REVERSED
            | Modifier::DIM
    );
    assert_eq!(t.flash, Style::new().remove_modifier(Modifier::BOLD));
}

#[test]
fn unknown_role_is_an_error_naming_the_key_and_line() {
    let err = Theme::from_yaml("styles:\n  text: red\n  bogus_role: red\n", "my.yaml").unwrap_err();
    assert_eq!(err.key(), Some("bogus_role"));
    assert_eq!(err.line(), Some(3));
    let msg = err.to_string();
    assert!(msg.contains("bogus_role"), "{msg}");
    assert!(msg.starts_with("my.yaml:3:3: "), "{msg}");
}

#[test]
fn unknown_attribute_and_top_level_key_are_errors() {
    let err = Theme::from_yaml("styles:\n  fail: { fg: red, blink: true }\n", "x").unwrap_err();
    assert_eq!(err.key(), Some("blink"));
    assert!(err.to_string().contains("blink"), "{err}");
    let err = Theme::from_yaml("colours: {}\n", "x").unwrap_err();
    assert_eq!(err.key(), Some("colours"));
}

#[test]
fn bad_colour_error_names_the_value_and_key() {
    let err = Theme::from_yaml("styles:\n  fail: { fg: reddish }\n", "x").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("reddish"), "{msg}");
    assert!(msg.contains("styles.fail"), "{msg}");
    assert_eq!(err.line(), Some(2));
    for bad in ["\"#12345\"", "256", "-1", "\"#gg0000\"", "[red]", "true"] {
        let err = Theme::from_yaml(&format!("styles:\n  pass: {bad}\n"), "x").unwrap_err();
        assert!(err.to_string().contains("styles.pass"), "{bad}: {err}");
    }
    let err = Theme::from_yaml("styles:\n  pass: 300\n", "x").unwrap_err();
    assert!(err.to_string().contains("300"), "{err}");
}

#[test]
fn unquoted_hex_colour_is_explained_not_ignored() {
    let err = Theme::from_yaml("styles:\n  fail: #ff0000\n", "x").unwrap_err();
    assert!(err.to_string().contains("quotes"), "{err}");
    let err = Theme::from_yaml("styles:\n  fail: { fg: #ff0000 }\n", "x");
    assert!(err.is_err());
}

#[test]
fn empty_file_is_the_base_theme() {
    let t = Theme::from_yaml("# nothing here\n", "empty").unwrap();
    assert_eq!(t.fail, Theme::default_theme().fail);
    assert_eq!(t.name, "empty");
}

#[test]
fn unknown_theme_name_is_an_error() {
    let err = Theme::load("no-such-theme", None).unwrap_err();
    assert!(err.to_string().contains("no-such-theme"), "{err}");
    let err = Theme::from_yaml("extends: nope\n", "x").unwrap_err();
    assert_eq!(err.key(), Some("extends"));
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn loads_from_a_file_path_and_user_dir() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ocean.yaml");
    fs::write(
        &path,
        "extends: light\nstyles:\n  fail: { fg: magenta, bold: true }\n",
    )
    .unwrap();

    let by_path = Theme::load(path.to_str().unwrap(), None).unwrap();
    assert_eq!(by_path.name, "ocean");
    assert_eq!(by_path.fail.fg, Some(Color::Magenta));
    assert_eq!(by_path.text, Theme::load("light", None).unwrap().text);

    let by_name = Theme::load("ocean", Some(dir.path())).unwrap();
    assert_eq!(by_name, by_path);
    // Without the user dir the bare name is unknown.
    assert!(Theme::load("ocean", None).is_err());
    // `.yml` works too, and built-in names win over user files.
    fs::write(dir.path().join("reef.yml"), "styles:\n  pass: cyan\n").unwrap();
    assert_eq!(
        Theme::load("reef", Some(dir.path())).unwrap().pass.fg,
        Some(Color::Cyan)
    );
    fs::write(dir.path().join("dark.yaml"), "styles:\n  pass: cyan\n").unwrap();
    assert_eq!(
        Theme::load("dark", Some(dir.path())).unwrap(),
        Theme::default_theme()
    );
}

#[test]
fn extends_a_relative_file_and_reports_errors_in_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("base.yaml"),
        "extends: none\nstyles:\n  text: blue\n",
    )
    .unwrap();
    let child = dir.path().join("child.yaml");
    fs::write(&child, "extends: base.yaml\nstyles:\n  dim: gray\n").unwrap();
    let t = Theme::load(child.to_str().unwrap(), None).unwrap();
    assert_eq!(t.text.fg, Some(Color::Blue));
    assert_eq!(t.dim.fg, Some(Color::Gray));

    fs::write(dir.path().join("base.yaml"), "styles:\n  text: nocolour\n").unwrap();
    let err = Theme::load(child.to_str().unwrap(), None).unwrap_err();
    assert!(err.origin().ends_with("base.yaml"), "{err}");
    assert!(err.to_string().contains("nocolour"), "{err}");
}

#[test]
fn extends_cycle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.yaml"), "extends: b.yaml\n").unwrap();
    fs::write(dir.path().join("b.yaml"), "extends: a.yaml\n").unwrap();
    let err = Theme::load(dir.path().join("a.yaml").to_str().unwrap(), None).unwrap_err();
    assert_eq!(err.key(), Some("extends"));
    assert!(err.to_string().contains("cycle"), "{err}");

    fs::write(dir.path().join("self.yaml"), "extends: self\n").unwrap();
    let err = Theme::load("self", Some(dir.path())).unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    let err = Theme::load("/nonexistent/dir/theme.yaml", None).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/dir/theme.yaml"),
        "{err}"
    );
}

fn has_colour(s: Style) -> bool {
    [s.fg, s.bg]
        .into_iter()
        .flatten()
        .any(|c| c != Color::Reset)
}

#[test]
fn without_color_strips_colour_but_keeps_states_distinct() {
    for name in Theme::builtin_names() {
        let t = Theme::load(name, None).unwrap().without_color();
        for (role, s) in all_styles(&t) {
            assert!(!has_colour(s), "{name}.{role}: {s:?}");
        }
        let m = |s: Style| effective_modifiers(s);
        for role in [
            "fail",
            "regressed",
            "selected",
            "flash",
            "filter_error",
            "banner",
        ] {
            assert_ne!(m(t.style(role).unwrap()), m(t.text), "{name}: {role}");
        }
        assert_ne!(m(t.regressed), m(t.fail), "{name}");
        assert_ne!(m(t.border_focused), m(t.border), "{name}");
    }
    // Even a theme that relied on colour alone gets modifiers.
    let t = Theme::from_yaml(
        "extends: none\nstyles:\n  fail: red\n  regressed: { bg: red }\n  selected: { bg: blue }\n",
        "x",
    )
    .unwrap()
    .without_color();
    assert!(t.fail.add_modifier.contains(Modifier::BOLD));
    assert!(t.selected.add_modifier.contains(Modifier::REVERSED));
    assert_ne!(t.regressed.add_modifier, t.fail.add_modifier);
    assert_ne!(t.flash.add_modifier, Modifier::empty());
}

#[test]
fn style_lookup_by_role_name() {
    let t = Theme::default_theme();
    assert_eq!(t.style("fail"), Some(t.fail));
    assert_eq!(t.style("nope"), None);
    assert_eq!(Theme::ROLES.len(), 28);
}

#[test]
fn user_theme_dir_ends_in_sinkwatch_themes() {
    if let Some(dir) = user_theme_dir() {
        assert!(dir.ends_with("sinkwatch/themes"), "{}", dir.display());
    }
}

proptest! {
    #[test]
    fn from_yaml_never_panics(s in any::<String>()) {
        let _ = Theme::from_yaml(&s, "fuzz");
    }

    #[test]
    fn from_yaml_never_panics_on_theme_like_text(
        s in "(name: [a-z]{0,5}\n|extends: (dark|none|light|x)\n|styles:\n|  [a-z_]{1,12}: ([a-z_#0-9\"]{0,9}|\\{[a-z]{0,5}: [a-z0-9#]{0,7}\\})\n|[ :{}#\"-]{0,4}\n){0,12}"
    ) {
        let _ = Theme::from_yaml(&s, "fuzz");
    }
}

/// A theme saved with a byte-order mark reads as without one.
#[test]
fn a_byte_order_mark_is_not_part_of_a_theme() {
    let src = "extends: light\nstyles:\n  fail: { fg: 21 }\n";
    let with = Theme::from_yaml(&format!("\u{feff}{src}"), "t.yaml").unwrap();
    let without = Theme::from_yaml(src, "t.yaml").unwrap();
    assert_eq!(with.style("fail"), without.style("fail"));
    assert_ne!(
        with.style("fail"),
        Theme::load("light", None).unwrap().style("fail")
    );
}
