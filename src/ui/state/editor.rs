//! The `/` prompt's line editor.

use crate::model::filter::{Filter, FilterError};

/// The `/` prompt being edited.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub input: String,
    /// Cursor position in chars.
    pub cursor: usize,
    /// The parse error of `input`, if any.
    pub error: Option<FilterError>,
    pub(in crate::ui) filter: Option<Filter>,
}

impl Prompt {
    pub(in crate::ui) fn new(input: &str) -> Prompt {
        let mut p = Prompt {
            input: input.to_owned(),
            cursor: input.chars().count(),
            error: None,
            filter: None,
        };
        p.parse();
        p
    }

    pub(in crate::ui) fn parse(&mut self) {
        match Filter::parse(&self.input) {
            Ok(f) => {
                self.filter = Some(f);
                self.error = None;
            }
            Err(e) => {
                self.filter = None;
                self.error = Some(e);
            }
        }
    }

    pub(in crate::ui) fn byte_at(&self, char_pos: usize) -> usize {
        self.input
            .char_indices()
            .nth(char_pos)
            .map_or(self.input.len(), |(i, _)| i)
    }
}
