//! Saved views: named filter expressions from the config file (`views:`),
//! picked from the `V` menu by number or with Enter. Picking one applies
//! its filter as the `/` prompt would; the header names the view while the
//! filter is still the view's (any other filter change drops the name).

use crate::model::filter::Filter;

use super::App;

/// Views a config may name: each has a digit in the menu.
pub const MAX_VIEWS: usize = 9;
/// Longest view name, in characters.
pub const MAX_VIEW_NAME: usize = 40;

/// A named filter expression.
#[derive(Clone, Debug)]
pub struct SavedView {
    pub name: String,
    pub filter: Filter,
}

impl SavedView {
    /// A view from its name and expression; `Err` says what is wrong with
    /// either, in one line.
    pub fn new(name: &str, expr: &str) -> Result<SavedView, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("a view needs a name".into());
        }
        if name.chars().count() > MAX_VIEW_NAME {
            return Err(format!(
                "view name `{}…` is longer than {MAX_VIEW_NAME} characters",
                name.chars().take(MAX_VIEW_NAME).collect::<String>()
            ));
        }
        if name.contains('=') || !crate::sanitize::is_clean_line(name) {
            return Err(format!(
                "view name {:?} may not hold `=`, controls or invisible characters",
                crate::sanitize::line(name)
            ));
        }
        let filter = Filter::parse(expr).map_err(|e| {
            format!(
                "view `{name}`: filter {:?} at {}: {}",
                expr,
                e.position + 1,
                e.message
            )
        })?;
        Ok(SavedView {
            name: name.to_owned(),
            filter,
        })
    }

    /// `NAME=EXPR` (the command line's and a list item's spelling).
    pub fn parse(s: &str) -> Result<SavedView, String> {
        match s.split_once('=') {
            Some((name, expr)) => SavedView::new(name, expr),
            None => Err(format!("{s:?}: expected NAME=EXPRESSION")),
        }
    }
}

/// The `V` menu: which row is selected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ViewsMenu {
    pub selected: usize,
}

impl App {
    /// The saved views the menu offers (from the config).
    pub fn set_views(&mut self, views: Vec<SavedView>) {
        self.views = views;
        self.views.truncate(MAX_VIEWS);
        self.views_menu = None;
    }

    /// `V`: the menu, or a message when the config names no view.
    pub(in crate::ui) fn open_views_menu(&mut self) {
        if self.views.is_empty() {
            self.message = Some((
                "no saved views: add `views:` (name: filter) to the config file".into(),
                true,
            ));
        } else {
            let selected = self
                .active_view_name()
                .and_then(|n| self.views.iter().position(|v| v.name == n))
                .unwrap_or(0);
            self.views_menu = Some(ViewsMenu { selected });
        }
    }

    /// Applies view `i` (0-based) as the `/` prompt applies a filter, and
    /// closes the menu. Out of range: nothing.
    pub(in crate::ui) fn pick_view(&mut self, i: usize) {
        let Some(v) = self.views.get(i) else { return };
        self.views_menu = None;
        self.filter = v.filter.clone();
        self.active_view = Some((v.name.clone(), v.filter.source().to_owned()));
        self.matcher_dirty = true;
    }

    /// The name of the view whose filter is the current one, if any.
    pub fn active_view_name(&self) -> Option<&str> {
        match &self.active_view {
            Some((name, source)) if source == self.filter.source() && !source.is_empty() => {
                Some(name)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_expressions_are_checked() {
        let v = SavedView::parse("bp=policy:\"Branch Protection\" status:fail").unwrap();
        assert_eq!(v.name, "bp");
        assert_eq!(
            v.filter.source(),
            "policy:\"Branch Protection\" status:fail"
        );
        // The first `=` splits: the expression may hold more.
        assert!(SavedView::parse("x=repo:/a=b/").is_ok());
        assert!(SavedView::parse("no expression").is_err());
        assert!(SavedView::parse("=status:fail").is_err());
        assert!(SavedView::new("a\u{202e}b", "status:fail").is_err());
        assert!(SavedView::new(&"n".repeat(41), "status:fail").is_err());
        let e = SavedView::new("bad", "status:maybe").unwrap_err();
        assert!(
            e.contains("view `bad`") && e.contains("status:maybe"),
            "{e}"
        );
    }
}
