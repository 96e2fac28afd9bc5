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

mod color;
mod load;

pub use color::{ColorDepth, degrade_color};
pub use load::user_theme_dir;
use load::{Loader, StyleSpec, some_style};

#[cfg(test)]
mod tests;
