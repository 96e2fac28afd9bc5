//! The option layer: the command line and the YAML config file, merged into
//! [`Settings`], and mapped onto the engines' own configuration types.
//!
//! Only the entry points (`main.rs`, `run.rs`, `commands.rs`) import this
//! module; the engines (`sink/`, `hub`, `forward/`, `record`, `client/`) own
//! their option types and defaults and are handed plain values
//! (`engines.rs`).
//!
//! - `options.rs`: every option of the sink, declared once;
//! - `values.rs`: how a value is spelled (numbers with `_`, durations with
//!   units, rates, addresses), the same on the command line and in the file;
//! - `engines.rs`: `Settings` → `SinkLimits`, `StoreLimits`, `ForwardConfig`.
//!
//! Keys mirror the long CLI options (`listen`, `demo-rate`, `forward`, …);
//! the command line wins over the file, the file over the defaults. Unknown
//! keys and bad values are errors naming the file, the line and the key.

mod engines;
mod options;
pub mod values;

use std::path::{Path, PathBuf};

pub use options::{
    BUDGET_MAX, BUDGET_MIN, FileConfig, HISTORY_MAX, QUEUE_MAX, RunArgs, Settings, default_config,
    keys, merge,
};
pub use values::parse_listen;

/// Larger files are refused before parsing: a config is a few KiB, and a
/// path such as `/dev/zero` must not be read without end.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// Token files hold one line.
pub const MAX_TOKEN_BYTES: u64 = 64 * 1024;
/// Flow collections (`[`/`{`) nested deeper than this are refused before
/// the YAML parser sees them (it is quadratic in the nesting depth); no
/// option needs more than one level.
const MAX_NESTING: usize = 16;

const CONFIG_PREAMBLE: &str = "\
# sinkwatch config file: <config dir>/sinkwatch/config.yaml, or --config FILE.
# Keys mirror the long command-line options; the command line wins.
# Unknown keys are errors. Whole numbers may group digits (250_000);
# durations take units (10s, 500ms, 2m, 7d).
";

/// A config error: one line naming the file, the line and the key.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Reads at most `limit` bytes of a file as text; errors name the file and
/// say what it was meant to be.
pub fn read_limited(path: &Path, what: &str, limit: u64) -> Result<String, ConfigError> {
    crate::files::read_limited(path, limit)
        .map_err(|e| ConfigError(format!("{}: cannot read {what}: {e}", path.display())))
}

/// Parses config text; `origin` names the file in errors.
pub fn parse_file(text: &str, origin: &str) -> Result<FileConfig, ConfigError> {
    // A byte-order mark (Windows editors write one) is no part of the YAML:
    // left in, it made the first key a different key and every position 1:1.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let at = |line: usize, col: usize, msg: &str| {
        // One line, whatever the file holds (a block scalar quoted in the
        // message would otherwise break it).
        ConfigError(format!(
            "{origin}:{line}:{col}: {}",
            crate::sanitize::line(msg)
        ))
    };
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    if let Some((line, col)) = too_deep(text) {
        return Err(at(
            line,
            col,
            &format!("nested deeper than {MAX_NESTING} levels"),
        ));
    }
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let msg = strip_location(&e.to_string());
        // serde_yaml places a repeated key at the start of the mapping;
        // the line to fix is the repetition.
        if let Some(line) = duplicate_key(&msg).and_then(|k| second_line(text, &k)) {
            return at(line, 1, &msg);
        }
        // YAML indents with spaces; its own words for a tab do not say so.
        let tab = e
            .location()
            .and_then(|l| text.lines().nth(l.line().saturating_sub(1)))
            .is_some_and(|l| l.trim_end().starts_with([' ', '\t']) && l.contains('\t'));
        let msg = if tab {
            format!("{msg} (a tab: YAML indents with spaces)")
        } else {
            msg
        };
        match e.location() {
            Some(l) => at(l.line(), l.column(), &msg),
            None => ConfigError(format!("{origin}: {}", crate::sanitize::line(&msg))),
        }
    })?;
    let map = match value {
        serde_yaml::Value::Null => return Ok(FileConfig::default()),
        serde_yaml::Value::Mapping(m) => m,
        _ => return Err(at(1, 1, "expected keys such as `listen: 127.0.0.1:50051`")),
    };
    let known = keys();
    let mut file = FileConfig::default();
    for (k, v) in map {
        let key = match &k {
            serde_yaml::Value::String(s) => s.clone(),
            other => scalar_text(other).unwrap_or_default(),
        };
        let (line, col) = locate(text, &key);
        if !known.contains(&key) {
            let hint = crate::suggest::did_you_mean(&key, known.iter().map(String::as_str))
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            return Err(at(line, 1, &format!("unknown field `{key}`{hint}")));
        }
        if let (Some(entries), "views") = (v.as_mapping(), key.as_str()) {
            // `views: {name: expression}`: each entry checked at its own line.
            let raw = view_entries(entries, text, line).map_err(|(l, c, e)| at(l, c, &e))?;
            file.lines.insert(key.clone(), line);
            options::set_file_value(&mut file, &key, raw)
                .map_err(|e| at(line, col, &format!("key `{key}`: {e}")))?;
            continue;
        }
        // `state: true` would otherwise be a file named "true".
        if let (serde_yaml::Value::Bool(b), Some(vname)) = (&v, options::value_name(&key)) {
            return Err(at(
                line,
                col,
                &format!("key `{key}`: expected {vname}, not `{b}` (only flags take true/false)"),
            ));
        }
        let item_at = |i: usize, items: Option<&[String]>| {
            list_item(text, line, i)
                .or_else(|| items.and_then(|all| flow_item(text, line, col, all, i)))
                .unwrap_or((line, col))
        };
        let raw = match raw_values(&v) {
            Ok(None) => continue, // `key:` or `key: ~` leaves the default
            Ok(Some(raw)) => raw,
            Err((Some(i), e)) => {
                let (l, c) = item_at(i, None);
                return Err(at(l, c, &format!("key `{key}`: {e}")));
            }
            Err((None, e)) => return Err(at(line, col, &format!("key `{key}`: {e}"))),
        };
        if v.is_sequence() {
            // A bad item is reported at its own line, not the key's: each
            // checked alone first (a scratch config, so nothing is set twice).
            for (i, item) in raw.iter().enumerate() {
                let mut scratch = FileConfig::default();
                if let Err(e) = options::set_file_value(&mut scratch, &key, vec![item.clone()]) {
                    let (l, c) = item_at(i, Some(&raw));
                    return Err(at(l, c, &format!("key `{key}`: {e}")));
                }
            }
        }
        file.lines.insert(key.clone(), line);
        options::set_file_value(&mut file, &key, raw)
            .map_err(|e| at(line, col, &format!("key `{key}`: {e}")))?;
    }
    Ok(file)
}

/// Where the `index`th item (from 0) of a block list under the top-level
/// key on line `key_line` starts (line and column, from 1); None for a flow
/// list (`key: [a, b]`, all on the key's line) or when it cannot be found.
fn list_item(text: &str, key_line: usize, index: usize) -> Option<(usize, usize)> {
    let mut n = 0;
    for (i, l) in text.lines().enumerate().skip(key_line) {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = l.len() - trimmed.len();
        match trimmed.strip_prefix('-') {
            Some(rest) if rest.is_empty() || rest.starts_with([' ', '\t']) => {
                if n == index {
                    let gap = rest.len() - rest.trim_start().len();
                    return Some((i + 1, indent + 1 + gap + 1));
                }
                n += 1;
            }
            // The next top-level key: the list has ended.
            _ if indent == 0 => return None,
            // A multi-line item's continuation.
            _ => {}
        }
    }
    None
}

/// The `views:` mapping as `NAME=EXPR` values, each entry checked (name,
/// expression, count); an error carries where it is about (found after
/// `from`, the key's line): the entry's name, or its expression.
fn view_entries(
    entries: &serde_yaml::Mapping,
    text: &str,
    from: usize,
) -> Result<Vec<String>, (usize, usize, String)> {
    use crate::ui::state::{MAX_VIEWS, SavedView};
    if entries.len() > MAX_VIEWS {
        return Err((from, 1, format!("key `views`: more than {MAX_VIEWS} views")));
    }
    let mut out = Vec::new();
    for (k, v) in entries {
        let name = scalar_text(k).unwrap_or_default();
        // The entry's line, and the columns (from 1) of its name and of
        // what follows its `:` (the expression, when on the same line).
        let (line, name_col, expr_col) = text
            .lines()
            .enumerate()
            .skip(from)
            .find_map(|(i, l)| {
                let trimmed = l.trim_start();
                let unquoted = trimmed.trim_start_matches(['"', '\'']);
                let rest = unquoted.strip_prefix(name.as_str())?;
                let after = rest.trim_start_matches(['"', '\'']).strip_prefix(':')?;
                let indent = l.len() - trimmed.len();
                let value = l.len() - after.trim_start().len();
                Some((i + 1, indent + 1, value + 1))
            })
            .unwrap_or((from, 1, 1));
        let Some(expr) = scalar_text(v) else {
            return Err((
                line,
                expr_col,
                format!("key `views`: view `{name}`: expected a filter expression"),
            ));
        };
        if out
            .iter()
            .any(|o: &String| o.split_once('=').is_some_and(|(n, _)| n == name))
        {
            return Err((line, name_col, format!("key `views`: view `{name}` twice")));
        }
        // A bad name is reported at the name, a bad expression at it.
        SavedView::new(&name, "").map_err(|e| (line, name_col, format!("key `views`: {e}")))?;
        SavedView::new(&name, &expr).map_err(|e| (line, expr_col, format!("key `views`: {e}")))?;
        out.push(format!("{name}={expr}"));
    }
    Ok(out)
}

/// A value as the option parsers read it: a scalar is one text, a list of
/// scalars several; `None` for null. An error names the list item it is
/// about (from 0), when it is about one.
fn raw_values(v: &serde_yaml::Value) -> Result<Option<Vec<String>>, (Option<usize>, String)> {
    match v {
        serde_yaml::Value::Null => Ok(None),
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(n, i)| {
                scalar_text(i).ok_or_else(|| {
                    let what = match i {
                        serde_yaml::Value::Null => "an empty list item",
                        serde_yaml::Value::Sequence(_) => "a list inside the list",
                        _ => "a mapping inside the list",
                    };
                    (Some(n), format!("{what}: each item is one value"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        serde_yaml::Value::Tagged(t) => raw_values(&t.value),
        other => scalar_text(other)
            .map(|s| Some(vec![s]))
            .ok_or_else(|| (None, "expected a value, not a mapping".to_owned())),
    }
}

/// Where item `index` of `items` is written in a flow list (`key: [a, "b
/// c"]`) that starts at line `key_line`, column `col`: each item's text is
/// looked for after the one before it (inside its quotes, when quoted);
/// None when one is not found as written (escapes, a flow list that is not
/// where the value starts).
fn flow_item(
    text: &str,
    key_line: usize,
    col: usize,
    items: &[String],
    index: usize,
) -> Option<(usize, usize)> {
    let start: usize = text
        .split_inclusive('\n')
        .take(key_line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>()
        + col.saturating_sub(1);
    if !text.get(start..)?.starts_with('[') {
        return None;
    }
    let mut at = start + 1;
    for (j, item) in items.get(..=index)?.iter().enumerate() {
        at += text.get(at..)?.find(item.as_str())?;
        if j < index {
            at += item.len();
        }
    }
    let line = text[..at].matches('\n').count() + 1;
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    Some((line, text[line_start..at].chars().count() + 1))
}

fn scalar_text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Where a top-level key's value starts (line and column, from 1); the
/// file's first line when the key cannot be found (e.g. a flow mapping).
fn locate(text: &str, key: &str) -> (usize, usize) {
    key_places(text, key).next().unwrap_or((1, 1))
}

/// Every line that sets a top-level key (plain or quoted), with the column
/// where its value starts; from 1.
fn key_places<'a>(text: &'a str, key: &'a str) -> impl Iterator<Item = (usize, usize)> + 'a {
    text.lines().enumerate().filter_map(move |(i, line)| {
        let rest = line
            .strip_prefix(key)
            .or_else(|| line.strip_prefix(&format!("\"{key}\"")))
            .or_else(|| line.strip_prefix(&format!("'{key}'")))?;
        let after = rest.trim_start().strip_prefix(':')?;
        Some((i + 1, line.len() - after.trim_start().len() + 1))
    })
}

/// The key of serde_yaml's `duplicate entry with key "K"`.
fn duplicate_key(msg: &str) -> Option<String> {
    let quoted = msg.strip_prefix("duplicate entry with key ")?;
    serde_yaml::from_str::<String>(quoted).ok()
}

/// The line of a top-level key's second occurrence (from 1).
fn second_line(text: &str, key: &str) -> Option<usize> {
    key_places(text, key).nth(1).map(|(line, _)| line)
}

/// The first place where `[`/`{` nest deeper than [`MAX_NESTING`]
/// (counting brackets inside quotes too: over-strict only for values no
/// option takes).
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (i, line) in text.lines().enumerate() {
        for (j, c) in line.chars().enumerate() {
            match c {
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some((i + 1, j + 1));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
}

/// serde_yaml appends " at line L column C"; the location is printed first.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// The default config path: `<config dir>/sinkwatch/config.yaml`.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("sinkwatch").join("config.yaml"))
}

/// Reads the file named by `--config`, or the default one when present.
pub fn load(explicit: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>), ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match default_path() {
            Some(p) if p.is_file() => p,
            _ => return Ok((FileConfig::default(), None)),
        },
    };
    let text = read_limited(&path, "config", MAX_CONFIG_BYTES)?;
    let cfg = parse_file(&text, &path.display().to_string())?;
    Ok((cfg, Some(path)))
}

/// The settings of a run: the config file (`--config`, or the default one)
/// under the command line.
pub fn settings(cli: &RunArgs) -> Result<Settings, ConfigError> {
    let (file, path) = load(cli.config.as_deref())?;
    merge(cli, file, path)
}

/// Reads a secret token from a file: its first line, trimmed. Errors name
/// the file.
pub fn read_token(path: &Path) -> Result<String, ConfigError> {
    let text = read_limited(path, "token file", MAX_TOKEN_BYTES)?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        return Err(ConfigError(format!(
            "{}: token file is empty",
            path.display()
        )));
    }
    if !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(ConfigError(format!(
            "{}: token must be printable ASCII without spaces",
            path.display()
        )));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::WhenBehind;
    use std::time::Duration;

    fn defaults() -> Settings {
        merge(&RunArgs::default(), FileConfig::default(), None).unwrap()
    }

    #[test]
    fn every_default_parses_within_its_range() {
        options::check_defaults();
    }

    #[test]
    fn the_default_config_parses_to_the_defaults() {
        let file = parse_file(&default_config(), "default").unwrap();
        let mut s = merge(&RunArgs::default(), file, None).unwrap();
        s.given.clear(); // set in the file, to the defaults
        // Settings holds no floats that are not round-trippable, so the
        // debug forms agree field by field.
        assert_eq!(format!("{s:?}"), format!("{:?}", defaults()));
    }

    #[test]
    fn every_key_is_in_the_printed_config() {
        let text = default_config();
        for key in keys() {
            assert!(
                text.contains(&format!("\n{key}:")) || text.contains(&format!("\n# {key}:")),
                "{key} missing from the printed config"
            );
        }
    }

    #[test]
    fn forward_options_merge_and_check() {
        let file = parse_file(
            "forward-queue: 5\nforward-grace: 0\nforward-timeout: 0.5\nforward-when-behind: drop\n",
            "f",
        )
        .unwrap();
        let cli = RunArgs {
            forward_retries: Some(0),
            ..RunArgs::default()
        };
        let s = merge(&cli, file, None).unwrap();
        assert_eq!(s.forward_queue, 5);
        assert_eq!(s.forward_retries, 0);
        assert_eq!(s.forward_grace, Duration::ZERO);
        assert_eq!(s.forward_timeout, Duration::from_millis(500));
        assert_eq!(s.forward_when_behind, WhenBehind::Drop);
        let cli = RunArgs {
            forward_when_behind: Some(WhenBehind::Wait),
            ..RunArgs::default()
        };
        let file = parse_file("forward-when-behind: drop\n", "f").unwrap();
        assert_eq!(
            merge(&cli, file, None).unwrap().forward_when_behind,
            WhenBehind::Wait,
            "the command line wins"
        );
        let err = parse_file("\nforward-when-behind: block\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:2:"), "{err}");
        assert!(parse_file("forward-timeout: 0\n", "f").is_err());
        assert!(parse_file("forward-grace: -1\n", "f").is_err());
        assert!(parse_file("forward-queue: 0\n", "f").is_err());
    }

    #[test]
    fn unknown_key_names_file_line_and_key_with_a_suggestion() {
        let err = parse_file("listen: 127.0.0.1:1\nhistroy: 5\n", "/etc/sw.yaml").unwrap_err();
        assert!(err.0.starts_with("/etc/sw.yaml:2:1: "), "{err}");
        assert!(err.0.contains("unknown field `histroy`"), "{err}");
        assert!(err.0.contains("did you mean `history`?"), "{err}");
        let err = parse_file("zzzzzz: 5\n", "f").unwrap_err();
        assert!(!err.0.contains("did you mean"), "{err}");
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let err = parse_file("fps: 30\nhistory: -3\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:2:10: "), "{err}");
        assert!(err.0.contains("`history`"), "{err}");

        let err = parse_file("\nlisten: nowhere\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:2:"), "{err}");
        assert!(
            err.0.contains("listen") && err.0.contains("nowhere"),
            "{err}"
        );

        let err = parse_file("forward-mode: mirror\n", "c.yaml").unwrap_err();
        assert!(
            err.0.contains("forward-mode") && err.0.contains("mirror"),
            "{err}"
        );

        let err = parse_file("queue: 0\n", "c.yaml").unwrap_err();
        assert!(err.0.contains("allowed 1 to"), "{err}");
        let err = parse_file("fps: 1000\n", "c.yaml").unwrap_err();
        assert!(err.0.contains("out of range: allowed 1 to 240"), "{err}");
    }

    /// What a first user writes (issue: "`forward:` as one string is
    /// expected a sequence", "`forward-timeout: 10s` is expected f64",
    /// "`history: 250,000` is expected u64").
    #[test]
    fn the_spellings_people_write_are_accepted() {
        let file = parse_file(
            "forward: http://127.0.0.1:7001\nforward-timeout: 10s\nhistory: 250,000\nqueue: 1_024\nstats-interval: 1m\nidle-timeout: 2\n",
            "f",
        )
        .unwrap();
        let s = merge(&RunArgs::default(), file, None).unwrap();
        assert_eq!(s.forward, vec!["http://127.0.0.1:7001".into()]);
        assert_eq!(s.forward_timeout, Duration::from_secs(10));
        assert_eq!(s.history, 250_000);
        assert_eq!(s.queue, 1024);
        assert_eq!(s.stats_interval, Duration::from_secs(60));
        assert_eq!(s.idle_timeout, Duration::from_secs(2));
        let s = merge(
            &RunArgs::default(),
            parse_file("forward: [a:1, b:2]\n", "f").unwrap(),
            None,
        )
        .unwrap();
        assert_eq!(s.forward.len(), 2);
    }

    /// A list's bad item is reported at its line and column, not at its
    /// key's (a review: the error sent the reader to the list's first line).
    #[test]
    fn a_bad_list_item_is_reported_at_its_own_line() {
        let text = "history: 10\nforward:\n  # upstreams\n  - http://127.0.0.1:7001\n\n  -   \"ftp://x y\"\noidc-audience: [a]\n";
        let err = parse_file(text, "c.yaml").unwrap_err();
        assert!(
            err.0
                .starts_with("c.yaml:6:7: key `forward`: unsupported URL"),
            "{err}"
        );
        // At indentation 0 too, and a flow list stays at its key's line.
        let err = parse_file("forward:\n- a:1\n- a b\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:3:3: "), "{err}");
        // A flow list: the item where it is written, after the ones before
        // it (`a:1` is inside the bad one too), on later lines too.
        let err = parse_file("forward: [a:1, \"a:1 b\"]\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:1:17: "), "{err}");
        let err = parse_file("forward: [\n  a:1,\n  \"a b\"]\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:3:4: "), "{err}");
        // One item is an item too; and one that is empty or not a value.
        let err = parse_file("forward:\n\n  # c\n  - bad url\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:4:5: "), "{err}");
        let err = parse_file("history:\n  - x\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:2:5: "), "{err}");
        let err = parse_file("forward:\n  - a:1\n  - ~\n", "c.yaml").unwrap_err();
        assert!(
            err.0
                .starts_with("c.yaml:3:5: key `forward`: an empty list item"),
            "{err}"
        );
        let err = parse_file("oidc-audience:\n  - a\n  - [b]\n", "c.yaml").unwrap_err();
        assert!(
            err.0
                .starts_with("c.yaml:3:5: key `oidc-audience`: a list inside"),
            "{err}"
        );
        // Too many values for a single-value key: the key's line.
        let err = parse_file("stats-interval:\n  - 1s\n  - 2s\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:1:"), "{err}");
    }

    /// A file a Windows editor saved with a byte-order mark reads as
    /// without one, its positions too (a review: two keys were "more than
    /// one document", one key's errors all at 1:1).
    #[test]
    fn a_byte_order_mark_is_not_part_of_the_file() {
        let file = parse_file("\u{feff}history: 5\r\nutc: true\r\n", "c.yaml").unwrap();
        let s = merge(&RunArgs::default(), file, None).unwrap();
        assert_eq!(s.history, 5);
        let err = parse_file("\u{feff}history: x\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:1:10: "), "{err}");
        let err = parse_file("\u{feff}forward:\n  - bad url\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:2:5: "), "{err}");
    }

    /// A tab where YAML wants spaces is named as such.
    #[test]
    fn a_tab_in_the_indentation_is_named() {
        let err = parse_file("forward:\n\t- a:1\n", "c.yaml").unwrap_err();
        assert!(err.0.contains("a tab: YAML indents with spaces"), "{err}");
    }

    #[test]
    fn command_line_wins_over_the_file() {
        let file = parse_file(
            "listen: 127.0.0.1:7000\nhistory: 10\nforward: [\"a:1\"]\nno-tui: true\n",
            "f",
        )
        .unwrap();
        let cli = RunArgs {
            listen: Some("127.0.0.1:8000".parse().unwrap()),
            forward: Some(vec!["b:2".into()]),
            ..RunArgs::default()
        };
        let s = merge(&cli, file, None).unwrap();
        assert_eq!(s.listen.port(), 8000);
        assert_eq!(s.history, 10, "the file fills what the CLI leaves out");
        assert_eq!(s.forward, vec!["b:2".into()]);
        assert!(
            s.no_tui,
            "a flag set in the file holds when the CLI is silent"
        );
    }

    #[test]
    fn every_byte_limit_takes_units() {
        use values::Bytes;
        let file = parse_file(
            "max-details-bytes: 4MiB\nmax-message-bytes: 2MiB\nmax-name-bytes: 1KiB\n",
            "f",
        )
        .unwrap();
        let s = merge(&RunArgs::default(), file, None).unwrap();
        assert_eq!(s.max_details_bytes, Bytes(4 << 20));
        assert_eq!(s.max_message_bytes, Bytes(2 << 20));
        assert_eq!(s.max_name_bytes, Bytes(1024));
        let err = parse_file("\nmax-details-bytes: 17MiB\n", "f").unwrap_err();
        assert!(err.0.starts_with("f:2:"), "{err}");
    }

    #[test]
    fn true_or_false_is_for_flags_only() {
        let err = parse_file("listen: 127.0.0.1:0\nstate: true\n", "c.yaml").unwrap_err();
        assert!(
            err.0
                .starts_with("c.yaml:2:8: key `state`: expected FILE|none, not `true`"),
            "{err}"
        );
        let err = parse_file("theme: false\n", "c.yaml").unwrap_err();
        assert!(err.0.contains("key `theme`"), "{err}");
        let file = parse_file("no-tui: true\nutc: false\n", "c.yaml").unwrap();
        assert_eq!((file.no_tui, file.utc), (Some(true), Some(false)));
    }

    #[test]
    fn a_repeated_key_is_told_at_its_repetition() {
        let err = parse_file(
            "listen: 127.0.0.1:0\nhistory: 10\n\nhistory: 20\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(err.0.starts_with("c.yaml:4:1: "), "{err}");
        assert!(err.0.contains("history"), "{err}");
    }

    #[test]
    fn a_rule_between_options_names_the_file_line_of_one_set_there() {
        let path = Some(std::path::PathBuf::from("c.yaml"));
        let file = parse_file("listen: 127.0.0.1:0\n\ntls-cert: /c.pem\n", "c.yaml").unwrap();
        let err = merge(&RunArgs::default(), file, path.clone()).unwrap_err();
        assert!(
            err.0.starts_with("c.yaml:3: --tls-cert and --tls-key"),
            "{err}"
        );
        // The key set in the file is found after others named first.
        let file = parse_file("tls-key: /k.pem\n", "c.yaml").unwrap();
        let err = merge(&RunArgs::default(), file, path.clone()).unwrap_err();
        assert!(err.0.starts_with("c.yaml:1: "), "{err}");
        // Given on the command line: no file to name.
        let cli = RunArgs {
            tls_cert: Some("/c.pem".into()),
            ..RunArgs::default()
        };
        let file = parse_file("history: 10\n", "c.yaml").unwrap();
        let err = merge(&cli, file, path.clone()).unwrap_err();
        assert!(err.0.starts_with("--tls-cert and"), "{err}");
        // Errors found later (reading the files an option names) too.
        let file = parse_file("history: 10\nforward-sign: hmac:/s\n", "c.yaml").unwrap();
        let s = merge(&RunArgs::default(), file, path).unwrap();
        assert_eq!(
            s.blame("--forward-sign: /s: cannot read"),
            "c.yaml:2: --forward-sign: /s: cannot read"
        );
        assert_eq!(
            s.blame("--history-x: no"),
            "--history-x: no",
            "whole names only"
        );
    }

    #[test]
    fn state_options_merge_and_check() {
        use crate::state::{Retain, StateChoice};
        let d = defaults();
        assert_eq!(d.state, None, "not chosen: the run decides");
        assert_eq!(d.retain, Retain(Some(crate::state::DEFAULT_RETAIN)));
        let file = parse_file("state: none\nretain: forever\n", "f").unwrap();
        let s = merge(&RunArgs::default(), file, None).unwrap();
        assert_eq!(s.state, Some(StateChoice::Memory));
        assert_eq!(s.retain, Retain(None));
        let file = parse_file("state: a.db\nretain: 12h\n", "f").unwrap();
        let cli = RunArgs {
            state: Some(StateChoice::File("b.db".into())),
            retain: Some(Retain(Some(Duration::from_secs(60)))),
            ..RunArgs::default()
        };
        let s = merge(&cli, file, None).unwrap();
        assert_eq!(
            s.state,
            Some(StateChoice::File("b.db".into())),
            "the command line wins"
        );
        assert_eq!(s.retain, Retain(Some(Duration::from_secs(60))));
        let err = parse_file("\nretain: soon\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:2:"), "{err}");
        assert!(err.0.contains("retain"), "{err}");
        assert!(parse_file("retain: 0s\n", "f").is_err());
        assert!(parse_file("state: ''\n", "f").is_err());
    }

    #[test]
    fn credential_options_merge_and_check() {
        use crate::sink::auth::Combine;
        use crate::sink::auth::signature::KeySpec;
        let file = parse_file(
            "oidc-issuer: https://accounts.google.com\noidc-audience: [a, b]\n\
             oidc-allow: [x@y.z]\nverify-signature: hmac:/etc/s\nauth: all\n",
            "f",
        )
        .unwrap();
        let s = merge(&RunArgs::default(), file, None).unwrap();
        assert_eq!(s.oidc_audience, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(s.auth, Combine::All);
        assert_eq!(s.verify_signature, Some(KeySpec::Hmac("/etc/s".into())));
        assert_eq!(s.oauth_tokeninfo(), None);
        // An endpoint implies access tokens; the default is Google's.
        let cli = RunArgs {
            oauth_access_tokens: Some(true),
            oidc_allow: Some(vec!["x".into()]),
            ..RunArgs::default()
        };
        let s = merge(&cli, FileConfig::default(), None).unwrap();
        assert_eq!(
            s.oauth_tokeninfo().as_deref(),
            Some(crate::sink::auth::tokeninfo::DEFAULT_URL)
        );
        // Options without what they refine, and two bearer methods that
        // cannot both be required, are errors naming them.
        let cli = RunArgs {
            oidc_audience: Some(vec!["a".into()]),
            ..RunArgs::default()
        };
        let e = merge(&cli, FileConfig::default(), None).unwrap_err();
        assert!(e.0.contains("oidc-issuer"), "{e}");
        let cli = RunArgs {
            auth: Some(Combine::All),
            token_file: Some("t".into()),
            oidc_issuer: Some("https://i".into()),
            ..RunArgs::default()
        };
        let e = merge(&cli, FileConfig::default(), None).unwrap_err();
        assert!(e.0.contains("authorization header"), "{e}");
        let cli = RunArgs {
            auth: Some(Combine::All),
            ..RunArgs::default()
        };
        let e = merge(&cli, FileConfig::default(), None).unwrap_err();
        assert!(e.0.contains("without any method"), "{e}");
        let e = parse_file("verify-signature: rsa:/k\n", "c.yaml").unwrap_err();
        assert!(e.0.starts_with("c.yaml:1:"), "{e}");
    }

    #[test]
    fn views_are_a_mapping_checked_entry_by_entry() {
        let file = parse_file(
            "fps: 30\nviews:\n  failing bp: policy:\"Branch Protection\" status:fail\n  \"ossf\": org:ossf\n",
            "c.yaml",
        )
        .unwrap();
        let s = merge(&RunArgs::default(), file, None).unwrap();
        let names: Vec<&str> = s.views.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["failing bp", "ossf"]);
        assert_eq!(s.views[1].filter.source(), "org:ossf");
        // A bad expression names the file, the entry's line and the view.
        let err = parse_file("views:\n  a: org:ossf\n  b: status:maybe\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:3:6:"), "{err}");
        assert!(
            err.0.contains("view `b`") && err.0.contains("status:maybe"),
            "{err}"
        );
        let err = parse_file("views:\n  a: org:x\n  a: org:y\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:"), "{err}");
        let err = parse_file("views:\n  a: [1, 2]\n", "c.yaml").unwrap_err();
        assert!(
            err.0.starts_with("c.yaml:2:6:") && err.0.contains("view `a`"),
            "{err}"
        );
        // A bad name at the name (quoted, deeper indented).
        let err = parse_file("views:\n    \"a=b\":   org:x\n", "c.yaml").unwrap_err();
        assert!(
            err.0.starts_with("c.yaml:2:5:") && err.0.contains("may not hold `=`"),
            "{err}"
        );
        let err = parse_file("views:\n    \"ok\":   status:maybe\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:2:13:"), "{err}");
        // The list spelling (as on the command line) works too.
        let file = parse_file("views: [\"x=status:fail\"]\n", "c.yaml").unwrap();
        assert_eq!(
            merge(&RunArgs::default(), file, None).unwrap().views.len(),
            1
        );
        // --bell-on is a filter expression, checked like one.
        let err = parse_file("\nbell-on: status:maybe\n", "c.yaml").unwrap_err();
        assert!(
            err.0.starts_with("c.yaml:2:") && err.0.contains("bell-on"),
            "{err}"
        );
        let file = parse_file("bell-on: policy:CODEOWNERS\n", "c.yaml").unwrap();
        let s = merge(&RunArgs::default(), file, None).unwrap();
        assert_eq!(
            s.bell_on.map(|f| f.source().to_owned()).as_deref(),
            Some("policy:CODEOWNERS")
        );
    }

    #[test]
    fn tls_options_must_come_together() {
        let file = parse_file("tls-cert: a.pem\n", "f").unwrap();
        assert!(merge(&RunArgs::default(), file, None).is_err());
    }

    #[test]
    fn empty_and_comment_only_files_are_fine() {
        assert_eq!(
            format!("{:?}", parse_file("", "f").unwrap()),
            format!("{:?}", FileConfig::default())
        );
        assert_eq!(
            format!("{:?}", parse_file("# nothing\nrecord: ~\n", "f").unwrap()),
            format!("{:?}", FileConfig::default())
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let text = format!("forward: {}\n", "[".repeat(100_000));
        let err = parse_file(&text, "f").unwrap_err();
        assert!(err.0.starts_with("f:1:"), "{err}");
        assert!(err.0.contains("nested deeper"), "{err}");
    }

    #[test]
    fn files_are_read_with_a_size_limit() {
        let err = read_limited(Path::new("/dev/zero"), "config", 1024).unwrap_err();
        assert!(
            err.0.contains("/dev/zero") && err.0.contains("larger than"),
            "{err}"
        );
        let err = read_token(Path::new("/dev/zero")).unwrap_err();
        assert!(err.0.contains("token file"), "{err}");
    }
}
