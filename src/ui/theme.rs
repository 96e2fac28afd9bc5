//! Themes as data: named style roles loaded from YAML.
//!
//! A theme file looks like
//!
//! ```yaml
//! name: my-theme        # optional; defaults to the file stem / built-in name
//! extends: dark         # optional; default `dark`; `none` starts from empty styles
//! styles:
//!   fail: light_magenta             # shorthand: a colour is the foreground
//!   selected: { bg: 236, bold: true }
//!   md_link: { fg: "#5fafff", underline: true }
//! ```
//!
//! A role given in a file replaces the base theme's style for that role
//! entirely (what you write is what you get); roles not mentioned are
//! inherited from the base. In a style map every attribute is optional:
//! `fg`/`bg` take a colour, and `bold`, `italic`, `underline`, `reversed`,
//! `dim` take `true` (add the modifier) or `false` (explicitly remove it from
//! whatever the style is drawn over). Colours are ratatui names (`red`,
//! `light_red`/`lightred`/`bright-red`, `dark_gray`, `reset`, …), `"#rrggbb"`
//! (quoted: an unquoted `#` starts a YAML comment) or a 0–255 palette index.
//!
//! Unknown keys are errors, never silently ignored, so a typo in a role name
//! does not quietly fall back to the base style.

use std::fmt;
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// Built-in theme sources, embedded so the binary needs no data files.
const BUILTINS: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.yaml")),
    ("light", include_str!("../../themes/light.yaml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.yaml"),
    ),
    (
        "solarized-dark",
        include_str!("../../themes/solarized-dark.yaml"),
    ),
    ("monochrome", include_str!("../../themes/monochrome.yaml")),
];

const BUILTIN_NAMES: &[&str] = &[
    "dark",
    "light",
    "high-contrast",
    "solarized-dark",
    "monochrome",
];

/// The theme every other theme builds on unless it says otherwise.
const DEFAULT_BASE: &str = "dark";

/// `extends: none` starts from empty styles instead of a base theme.
const NO_BASE: &str = "none";

/// Longest `extends` chain followed; a backstop behind cycle detection.
const MAX_EXTENDS_DEPTH: usize = 16;

/// Declares the roles once and generates everything that lists them: the
/// `Theme` fields, the YAML `styles` map, and helpers iterating over roles.
macro_rules! roles {
    ($( $(#[doc = $doc:literal])+ $role:ident, )+) => {
        /// Styles for every named role the TUI draws with.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Theme {
            /// Display name (from the file's `name:`, else file stem / built-in name).
            pub name: String,
            $( $(#[doc = $doc])+ pub $role: Style, )+
        }

        /// The `styles:` map of a theme file; absent roles are inherited.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields, expecting = "a map of role: style")]
        struct StylesSpec {
            $(
                #[serde(default, deserialize_with = "some_style")]
                $role: Option<StyleSpec>,
            )+
        }

        impl Theme {
            /// Every role name, as spelled in YAML.
            pub const ROLES: &'static [&'static str] = &[$(stringify!($role)),+];

            /// The style of `role` by its YAML name.
            pub fn style(&self, role: &str) -> Option<Style> {
                match role {
                    $( stringify!($role) => Some(self.$role), )+
                    _ => None,
                }
            }

            /// A theme with every role set to the empty style.
            fn blank(name: String) -> Theme {
                Theme { name, $( $role: Style::new(), )+ }
            }

            fn apply(&mut self, spec: &StylesSpec) {
                $( if let Some(s) = &spec.$role { self.$role = s.to_style(); } )+
            }

            fn map_styles(&mut self, f: impl Fn(Style) -> Style) {
                $( self.$role = f(self.$role); )+
            }
        }

        #[cfg(test)]
        impl StylesSpec {
            /// Roles this map does not set.
            fn missing(&self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $( if self.$role.is_none() { out.push(stringify!($role)); } )+
                out
            }
        }
    };
}

roles! {
    /// Ordinary text (alert names, details body).
    text,
    /// Secondary information (timestamps, hints, link targets).
    dim,
    /// Pane borders.
    border,
    /// Border of the pane with keyboard focus.
    border_focused,
    /// Pane titles.
    title,
    /// Title of the pane with keyboard focus.
    title_focused,
    /// The selected row.
    selected,
    /// A failing policy.
    fail,
    /// A passing policy.
    pass,
    /// A transition from pass to fail.
    regressed,
    /// A transition from fail to pass.
    fixed,
    /// A transition that just arrived (briefly highlighted).
    flash,
    /// Counters of failures.
    count_fail,
    /// Counters of passes / healthy totals.
    count_ok,
    /// The status bar.
    status_bar,
    /// Warnings inside the status bar.
    status_warn,
    /// Key names in the footer.
    footer_key,
    /// Descriptions in the footer.
    footer_text,
    /// The filter input prompt.
    filter_prompt,
    /// An invalid filter expression.
    filter_error,
    /// The security warning banner.
    banner,
    /// Markdown headings in details.
    md_heading,
    /// Markdown strong emphasis (patched over the surrounding style).
    md_bold,
    /// Markdown link text.
    md_link,
    /// Markdown inline code and code blocks.
    md_code,
    /// Markdown list bullets and numbers.
    md_bullet,
    /// Key names in the help screen.
    help_key,
    /// Descriptions in the help screen.
    help_text,
}

/// A theme could not be loaded: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThemeError {
    origin: String,
    line: Option<usize>,
    column: Option<usize>,
    key: Option<String>,
    message: String,
}

impl ThemeError {
    fn new(origin: &str, message: impl Into<String>) -> ThemeError {
        ThemeError {
            origin: origin.to_owned(),
            line: None,
            column: None,
            key: None,
            message: message.into(),
        }
    }

    fn with_key(mut self, key: &str) -> ThemeError {
        self.key = Some(key.to_owned());
        self
    }

    fn from_yaml(origin: &str, err: &serde_yaml::Error) -> ThemeError {
        let mut message = err.to_string();
        let location = err.location();
        // serde_yaml appends " at line L column C"; we show it as a prefix.
        if let Some(loc) = &location {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
        ThemeError {
            origin: origin.to_owned(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            key: yaml_error_key(&message),
            message,
        }
    }

    /// Where the error is: a file path, `built-in theme "NAME"`, `theme "NAME"`
    /// (a name that was not found) or the origin given to [`Theme::from_yaml`].
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// 1-based line in the file, when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The offending key: an unknown role/attribute name, or the path of the
    /// value that did not parse (e.g. `styles.fail.fg`), when known.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What went wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ThemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        match (self.line, self.column) {
            (Some(line), Some(col)) => write!(f, ":{line}:{col}")?,
            (Some(line), None) => write!(f, ":{line}")?,
            _ => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ThemeError {}

/// Extracts the key an error is about from a serde_yaml message, which looks
/// like "styles: unknown field `bogus`, expected …" or "styles.fail.fg: …".
fn yaml_error_key(message: &str) -> Option<String> {
    if let Some(rest) = message.split_once("unknown field `").map(|(_, r)| r) {
        return rest.split_once('`').map(|(k, _)| k.to_owned());
    }
    let (path, _) = message.split_once(": ")?;
    let is_path = !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']'));
    is_path.then(|| path.to_owned())
}

impl Default for Theme {
    fn default() -> Self {
        Theme::default_theme()
    }
}

impl Theme {
    /// Names of the embedded themes, default first.
    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    /// The default (dark) theme.
    pub fn default_theme() -> Theme {
        // The built-ins are covered by tests, so this cannot fail at run time;
        // falling back to blank styles keeps the UI usable even if it did.
        Theme::load(DEFAULT_BASE, None).unwrap_or_else(|_| Theme::blank(DEFAULT_BASE.to_owned()))
    }

    /// Loads a theme by NAME of a built-in or of `<user_dir>/NAME.yaml`
    /// (then `NAME.yml`), or from a path to a FILE (anything containing a
    /// path separator or ending in `.yaml`/`.yml`). Built-in names win over
    /// user files of the same name; `user_dir` is normally
    /// [`user_theme_dir`]. An `extends:` in a file resolves the same way,
    /// with relative paths taken relative to that file.
    pub fn load(name_or_file: &str, user_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        let mut loader = Loader {
            user_dir,
            chain: Vec::new(),
        };
        let source = loader.locate(name_or_file, None, &format!("theme {name_or_file:?}"))?;
        loader.load(source)
    }

    /// Parses a theme from YAML text; `origin` names it in error messages
    /// and is the default theme name. An `extends:` may name a built-in or a
    /// file path (relative to the working directory); user-dir names are not
    /// searched here, so this stays independent of the user's config.
    pub fn from_yaml(src: &str, origin: &str) -> Result<Theme, ThemeError> {
        let mut loader = Loader {
            user_dir: None,
            chain: Vec::new(),
        };
        loader.parse(src, origin, origin, None)
    }

    /// Applies NO_COLOR (<https://no-color.org>): removes every colour, keeps
    /// modifiers, and makes sure the states that colour alone used to tell
    /// apart still look different, by adding a modifier where needed.
    pub fn without_color(mut self) -> Theme {
        self.map_styles(|s| {
            // Rebuilt rather than field-cleared so no colour survives,
            // whichever optional ratatui colour fields are compiled in.
            let mut plain = Style::new();
            plain.add_modifier = s.add_modifier;
            plain.sub_modifier = s.sub_modifier;
            plain
        });
        let text = self.text;
        distinguish(&mut self.fail, &[text], Modifier::BOLD);
        distinguish(
            &mut self.regressed,
            &[text, self.fail],
            Modifier::REVERSED | Modifier::BOLD,
        );
        // The selection is reverse video, whatever it was: bold alone would
        // look exactly like a failing row.
        self.selected = self.selected.add_modifier(Modifier::REVERSED);
        distinguish(
            &mut self.flash,
            &[text, self.selected],
            Modifier::BOLD | Modifier::UNDERLINED,
        );
        distinguish(
            &mut self.filter_error,
            &[text],
            Modifier::BOLD | Modifier::UNDERLINED,
        );
        distinguish(&mut self.fixed, &[text, self.pass], Modifier::BOLD);
        distinguish(&mut self.border_focused, &[self.border], Modifier::BOLD);
        distinguish(
            &mut self.title_focused,
            &[self.title],
            Modifier::BOLD | Modifier::UNDERLINED,
        );
        distinguish(
            &mut self.banner,
            &[text],
            Modifier::REVERSED | Modifier::BOLD,
        );
        distinguish(&mut self.md_link, &[text], Modifier::UNDERLINED);
        self
    }
}

/// How many colours the terminal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorDepth {
    /// 24-bit: `COLORTERM=truecolor` or `24bit`.
    TrueColor,
    /// The xterm 256-colour palette (`TERM=…256color…`).
    Indexed256,
    /// The 16 ANSI colours.
    Ansi16,
}

impl ColorDepth {
    /// From the environment: only an advertised truecolor terminal gets
    /// 24-bit colour (others would show wrong colours or garbage).
    pub fn detect() -> ColorDepth {
        Self::from_env(
            std::env::var("COLORTERM").ok().as_deref(),
            std::env::var("TERM").ok().as_deref(),
        )
    }

    pub fn from_env(colorterm: Option<&str>, term: Option<&str>) -> ColorDepth {
        let colorterm = colorterm.unwrap_or("").to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" {
            ColorDepth::TrueColor
        } else if term.is_some_and(|t| t.contains("256")) {
            ColorDepth::Indexed256
        } else {
            ColorDepth::Ansi16
        }
    }
}

/// The xterm palette's RGB for an index.
fn xterm_rgb(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => ANSI16[i as usize].1,
        16..=231 => {
            let i = i - 16;
            let c = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            (c(i / 36), c((i / 6) % 6), c(i % 6))
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    }
}

/// The 16 ANSI colours with xterm's RGB for them.
const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

fn dist2(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).unsigned_abs();
    d(a.0, b.0).pow(2) + d(a.1, b.1).pow(2) + d(a.2, b.2).pow(2)
}

/// The nearest colour `depth` can show.
pub fn degrade_color(c: Color, depth: ColorDepth) -> Color {
    let rgb = match (c, depth) {
        (_, ColorDepth::TrueColor) => return c,
        (Color::Rgb(r, g, b), _) => (r, g, b),
        (Color::Indexed(i), ColorDepth::Ansi16) if i >= 16 => xterm_rgb(i),
        (Color::Indexed(i), ColorDepth::Ansi16) => return ANSI16[i as usize].0,
        _ => return c,
    };
    match depth {
        ColorDepth::Indexed256 => {
            // Nearest of the 6×6×6 cube and the grey ramp.
            let level = |v: u8| -> u8 {
                const STEPS: [u8; 6] = [0, 95, 135, 175, 215, 255];
                (0..6u8)
                    .min_by_key(|&i| (i32::from(STEPS[i as usize]) - i32::from(v)).abs())
                    .unwrap_or(0)
            };
            let cube = 16 + 36 * level(rgb.0) + 6 * level(rgb.1) + level(rgb.2);
            let avg = ((u16::from(rgb.0) + u16::from(rgb.1) + u16::from(rgb.2)) / 3) as u8;
            let grey = 232 + (avg.saturating_sub(8) / 10).min(23);
            let best = [cube, grey]
                .into_iter()
                .min_by_key(|&i| dist2(xterm_rgb(i), rgb))
                .unwrap_or(cube);
            Color::Indexed(best)
        }
        _ => ANSI16
            .iter()
            .min_by_key(|(_, v)| dist2(*v, rgb))
            .map_or(c, |(c, _)| *c),
    }
}

impl Theme {
    /// The theme in the colours `depth` can show. In 16 colours a
    /// selection whose background fades into black becomes reverse video,
    /// so that it stays visible.
    pub fn with_depth(mut self, depth: ColorDepth) -> Theme {
        if depth == ColorDepth::TrueColor {
            return self;
        }
        self.map_styles(|mut s| {
            s.fg = s.fg.map(|c| degrade_color(c, depth));
            s.bg = s.bg.map(|c| degrade_color(c, depth));
            s
        });
        if matches!(self.selected.bg, Some(Color::Black | Color::Reset))
            || self.selected.bg == self.text.bg && self.selected.bg.is_some()
        {
            self.selected.bg = None;
            self.selected = self.selected.add_modifier(Modifier::REVERSED);
        }
        self
    }
}

/// The modifiers a style effectively turns on.
fn effective_modifiers(s: Style) -> Modifier {
    s.add_modifier - s.sub_modifier
}

/// Adds modifiers to `style` until it differs from each of `others` (by
/// effective modifiers), trying `preferred` first.
fn distinguish(style: &mut Style, others: &[Style], preferred: Modifier) {
    let clashes = |s: Style| {
        others
            .iter()
            .any(|o| effective_modifiers(*o) == effective_modifiers(s))
    };
    for extra in [
        preferred,
        Modifier::REVERSED,
        Modifier::UNDERLINED,
        Modifier::BOLD,
        Modifier::ITALIC,
    ] {
        if !clashes(*style) {
            return;
        }
        *style = style.add_modifier(extra);
    }
}

/// `<config dir>/sinkwatch/themes`, where user theme files live.
pub fn user_theme_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("sinkwatch").join("themes"))
}

/// Where a theme's YAML comes from.
enum Source {
    Builtin(&'static str, &'static str),
    File(PathBuf),
}

/// Resolves a theme and its `extends` chain, remembering the chain so a
/// cycle is reported instead of recursing forever.
struct Loader<'a> {
    user_dir: Option<&'a Path>,
    /// Identities (`builtin:NAME` or a canonical path) being loaded.
    chain: Vec<String>,
}

fn looks_like_file(name: &str) -> bool {
    name.contains('/')
        || name.contains(std::path::MAIN_SEPARATOR)
        || name.ends_with(".yaml")
        || name.ends_with(".yml")
}

impl Loader<'_> {
    /// Finds `name_or_file`; `relative_to` is the directory of the file that
    /// referenced it (for `extends`), `origin` names the referrer in errors.
    fn locate(
        &self,
        name_or_file: &str,
        relative_to: Option<&Path>,
        origin: &str,
    ) -> Result<Source, ThemeError> {
        if looks_like_file(name_or_file) {
            let path = Path::new(name_or_file);
            let path = match relative_to {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path.to_path_buf(),
            };
            return Ok(Source::File(path));
        }
        if let Some((name, src)) = BUILTINS.iter().find(|(n, _)| *n == name_or_file) {
            return Ok(Source::Builtin(name, src));
        }
        if let Some(dir) = self.user_dir {
            for ext in ["yaml", "yml"] {
                let path = dir.join(format!("{name_or_file}.{ext}"));
                if path.is_file() {
                    return Ok(Source::File(path));
                }
            }
        }
        let searched = match self.user_dir {
            Some(dir) => format!(
                "; no file {}",
                dir.join(format!("{name_or_file}.yaml")).display()
            ),
            None => String::new(),
        };
        let hint = crate::suggest::did_you_mean(name_or_file, BUILTIN_NAMES.iter().copied())
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        Err(ThemeError::new(
            origin,
            format!(
                "unknown theme `{name_or_file}` (built-in themes: {}{searched}){hint}",
                BUILTIN_NAMES.join(", ")
            ),
        ))
    }

    fn load(&mut self, source: Source) -> Result<Theme, ThemeError> {
        let (id, origin, default_name, text, dir) = match source {
            Source::Builtin(name, src) => (
                format!("builtin:{name}"),
                format!("built-in theme \"{name}\""),
                name.to_owned(),
                src.to_owned(),
                None,
            ),
            Source::File(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ThemeError::new(&origin, format!("cannot read: {e}")))?;
                let id = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
                (
                    id.display().to_string(),
                    origin,
                    stem.unwrap_or_else(|| "custom".to_owned()),
                    text,
                    path.parent().map(Path::to_path_buf),
                )
            }
        };
        if let Some(pos) = self.chain.iter().position(|c| *c == id) {
            let mut cycle: Vec<&str> = self.chain[pos..].iter().map(String::as_str).collect();
            cycle.push(&id);
            return Err(ThemeError::new(
                &origin,
                format!("`extends` cycle: {}", cycle.join(" → ")),
            )
            .with_key("extends"));
        }
        if self.chain.len() >= MAX_EXTENDS_DEPTH {
            return Err(ThemeError::new(
                &origin,
                format!("`extends` chain longer than {MAX_EXTENDS_DEPTH} themes"),
            )
            .with_key("extends"));
        }
        self.chain.push(id);
        let result = self.parse(&text, &origin, &default_name, dir.as_deref());
        self.chain.pop();
        result
    }

    fn parse(
        &mut self,
        text: &str,
        origin: &str,
        default_name: &str,
        dir: Option<&Path>,
    ) -> Result<Theme, ThemeError> {
        // An empty (or all-comment) file is a valid theme equal to its base.
        let file: ThemeFile = if is_blank_yaml(text) {
            ThemeFile::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| ThemeError::from_yaml(origin, &e))?
        };
        let mut theme = match file.extends.as_deref().unwrap_or(DEFAULT_BASE) {
            NO_BASE => Theme::blank(String::new()),
            parent => {
                let source = self
                    .locate(parent, dir, origin)
                    .map_err(|e| e.with_key("extends"))?;
                self.load(source)?
            }
        };
        theme.apply(&file.styles);
        theme.name = file.name.unwrap_or_else(|| default_name.to_owned());
        Ok(theme)
    }
}

fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

/// One theme file.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a theme: a map with optional name, extends and styles"
)]
struct ThemeFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    extends: Option<String>,
    #[serde(default)]
    styles: StylesSpec,
}

/// A style as written: a colour shorthand (foreground) or a map.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a style map of fg, bg, bold, italic, underline, reversed, dim"
)]
struct StyleSpec {
    #[serde(default, deserialize_with = "some_color")]
    fg: Option<Color>,
    #[serde(default, deserialize_with = "some_color")]
    bg: Option<Color>,
    bold: Option<bool>,
    italic: Option<bool>,
    underline: Option<bool>,
    reversed: Option<bool>,
    dim: Option<bool>,
}

impl StyleSpec {
    fn to_style(&self) -> Style {
        let mut style = Style::new();
        style.fg = self.fg;
        style.bg = self.bg;
        for (flag, modifier) in [
            (self.bold, Modifier::BOLD),
            (self.italic, Modifier::ITALIC),
            (self.underline, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
            (self.dim, Modifier::DIM),
        ] {
            style = match flag {
                Some(true) => style.add_modifier(modifier),
                Some(false) => style.remove_modifier(modifier),
                None => style,
            };
        }
        style
    }
}

/// Hint for the classic YAML trap: `fg: #ff0000` is a comment, i.e. null.
const NULL_HINT: &str = "a style or colour cannot be empty (note: an unquoted `#` starts a YAML \
                         comment, so write hex colours in quotes, e.g. \"#ff8800\")";

/// A role's style; unlike a plain `Option`, YAML null is an error rather
/// than "inherit", since it almost always means an unquoted `#rrggbb`.
fn some_style<'de, D: Deserializer<'de>>(d: D) -> Result<Option<StyleSpec>, D::Error> {
    struct StyleVisitor;
    impl<'de> Visitor<'de> for StyleVisitor {
        type Value = StyleSpec;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a colour or a map of fg, bg, bold, italic, underline, reversed, dim")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<StyleSpec, E> {
            Ok(StyleSpec {
                fg: Some(parse_color(v).map_err(E::custom)?),
                ..StyleSpec::default()
            })
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<StyleSpec, E> {
            Ok(StyleSpec {
                fg: Some(index_color(v).map_err(E::custom)?),
                ..StyleSpec::default()
            })
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<StyleSpec, E> {
            Err(E::custom(format!("invalid colour `{v}`: {COLOUR_FORMS}")))
        }

        fn visit_unit<E: de::Error>(self) -> Result<StyleSpec, E> {
            Err(E::custom(NULL_HINT))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StyleSpec, A::Error> {
            StyleSpec::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(StyleVisitor).map(Some)
}

/// A colour attribute; YAML null is an error for the same reason as above.
fn some_color<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Color>, D::Error> {
    struct ColorVisitor;
    impl<'de> Visitor<'de> for ColorVisitor {
        type Value = Color;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(COLOUR_FORMS)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Color, E> {
            parse_color(v).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Color, E> {
            index_color(v).map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Color, E> {
            Err(E::custom(format!("invalid colour `{v}`: {COLOUR_FORMS}")))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Color, E> {
            Err(E::custom(NULL_HINT))
        }
    }
    d.deserialize_any(ColorVisitor).map(Some)
}

const COLOUR_FORMS: &str =
    "expected a colour name (e.g. red, light_red, dark_gray, reset), \"#rrggbb\" or an index 0-255";

fn parse_color(v: &str) -> Result<Color, String> {
    v.trim()
        .parse::<Color>()
        .map_err(|_| format!("invalid colour `{v}`: {COLOUR_FORMS}"))
}

fn index_color(v: u64) -> Result<Color, String> {
    u8::try_from(v)
        .map(Color::Indexed)
        .map_err(|_| format!("invalid colour `{v}`: {COLOUR_FORMS}"))
}

#[cfg(test)]
mod tests;
