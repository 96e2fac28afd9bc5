//! Loading a theme: built-ins and user files, the `extends` chain, the YAML format.

use super::*;

/// Themes are a few KiB; larger files (or `/dev/zero`) are refused unread.
const MAX_THEME_BYTES: u64 = 1024 * 1024;

/// `<config dir>/sinkwatch/themes`, where user theme files live.
pub fn user_theme_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("sinkwatch").join("themes"))
}

/// Where a theme's YAML comes from.
pub(super) enum Source {
    Builtin(&'static str, &'static str),
    File(PathBuf),
}

/// Resolves a theme and its `extends` chain, remembering the chain so a
/// cycle is reported instead of recursing forever.
pub(super) struct Loader<'a> {
    pub(super) user_dir: Option<&'a Path>,
    /// Identities (`builtin:NAME` or a canonical path) being loaded.
    pub(super) chain: Vec<String>,
}

pub(super) fn looks_like_file(name: &str) -> bool {
    name.contains('/')
        || name.contains(std::path::MAIN_SEPARATOR)
        || name.ends_with(".yaml")
        || name.ends_with(".yml")
}

impl Loader<'_> {
    /// Finds `name_or_file`; `relative_to` is the directory of the file that
    /// referenced it (for `extends`), `origin` names the referrer in errors.
    pub(super) fn locate(
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

    pub(super) fn load(&mut self, source: Source) -> Result<Theme, ThemeError> {
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
                let text = crate::files::read_limited(&path, MAX_THEME_BYTES)
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

    pub(super) fn parse(
        &mut self,
        text: &str,
        origin: &str,
        default_name: &str,
        dir: Option<&Path>,
    ) -> Result<Theme, ThemeError> {
        // A byte-order mark is no part of the YAML (as in the config file).
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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

pub(super) fn is_blank_yaml(text: &str) -> bool {
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
pub(super) struct ThemeFile {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) extends: Option<String>,
    #[serde(default)]
    pub(super) styles: StylesSpec,
}

/// A style as written: a colour shorthand (foreground) or a map.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a style map of fg, bg, bold, italic, underline, reversed, dim"
)]
pub(super) struct StyleSpec {
    #[serde(default, deserialize_with = "some_color")]
    pub(super) fg: Option<Color>,
    #[serde(default, deserialize_with = "some_color")]
    pub(super) bg: Option<Color>,
    pub(super) bold: Option<bool>,
    pub(super) italic: Option<bool>,
    pub(super) underline: Option<bool>,
    pub(super) reversed: Option<bool>,
    pub(super) dim: Option<bool>,
}

impl StyleSpec {
    pub(super) fn to_style(&self) -> Style {
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
pub(super) const NULL_HINT: &str = "a style or colour cannot be empty (note: an unquoted `#` starts a YAML \
                         comment, so write hex colours in quotes, e.g. \"#ff8800\")";

/// A role's style; unlike a plain `Option`, YAML null is an error rather
/// than "inherit", since it almost always means an unquoted `#rrggbb`.
pub(super) fn some_style<'de, D: Deserializer<'de>>(d: D) -> Result<Option<StyleSpec>, D::Error> {
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
pub(super) fn some_color<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Color>, D::Error> {
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

pub(super) const COLOUR_FORMS: &str =
    "expected a colour name (e.g. red, light_red, dark_gray, reset), \"#rrggbb\" or an index 0-255";

pub(super) fn parse_color(v: &str) -> Result<Color, String> {
    v.trim()
        .parse::<Color>()
        .map_err(|_| format!("invalid colour `{v}`: {COLOUR_FORMS}"))
}

pub(super) fn index_color(v: u64) -> Result<Color, String> {
    u8::try_from(v)
        .map(Color::Indexed)
        .map_err(|_| format!("invalid colour `{v}`: {COLOUR_FORMS}"))
}
