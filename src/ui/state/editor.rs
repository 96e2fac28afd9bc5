//! The line editor shared by every one-line input (the `/` prompt, the
//! export prompt, the silence form's fields), and the `/` prompt itself.

use crossterm::event::{KeyCode, KeyEvent};

use crate::model::filter::{Filter, FilterError};
use crate::ui::keymap::Action;

/// The byte offset of char `char_pos` in `s` (its end past the last char).
pub(in crate::ui) fn byte_at(s: &str, char_pos: usize) -> usize {
    s.char_indices().nth(char_pos).map_or(s.len(), |(i, _)| i)
}

/// Applies a line-editing key to `input` with its cursor (in chars):
/// `Some(true)` if the text changed, `Some(false)` if only the cursor
/// moved, `None` if the action is no edit here (or had nothing to do).
pub(in crate::ui) fn edit_line(
    input: &mut String,
    cursor: &mut usize,
    action: Action,
    ev: &KeyEvent,
) -> Option<bool> {
    let len = input.chars().count();
    match action {
        Action::Insert => {
            let KeyCode::Char(c) = ev.code else {
                return None;
            };
            input.insert(byte_at(input, *cursor), c);
            *cursor += 1;
        }
        Action::Backspace if *cursor > 0 => {
            *cursor -= 1;
            input.remove(byte_at(input, *cursor));
        }
        Action::Delete if *cursor < len => {
            input.remove(byte_at(input, *cursor));
        }
        Action::ClearInput => {
            input.clear();
            *cursor = 0;
        }
        Action::Left => *cursor = cursor.saturating_sub(1),
        Action::Right => *cursor = (*cursor + 1).min(len),
        Action::Home => *cursor = 0,
        Action::End => *cursor = len,
        _ => return None,
    }
    Some(matches!(
        action,
        Action::Insert | Action::Backspace | Action::Delete | Action::ClearInput
    ))
}

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    /// Cursor positions are chars, edits land on char boundaries, and only
    /// text changes report `Some(true)`.
    #[test]
    fn edits_count_chars_not_bytes() {
        let (mut s, mut at) = ("né".to_owned(), 2);
        let none = key(' ');
        assert_eq!(edit_line(&mut s, &mut at, Action::Left, &none), Some(false));
        assert_eq!(
            edit_line(&mut s, &mut at, Action::Insert, &key('ü')),
            Some(true)
        );
        assert_eq!((s.as_str(), at), ("nüé", 2));
        assert_eq!(
            edit_line(&mut s, &mut at, Action::Delete, &none),
            Some(true)
        );
        assert_eq!(
            edit_line(&mut s, &mut at, Action::Backspace, &none),
            Some(true)
        );
        assert_eq!((s.as_str(), at), ("n", 1));
        assert_eq!(edit_line(&mut s, &mut at, Action::Home, &none), Some(false));
        assert_eq!(edit_line(&mut s, &mut at, Action::Backspace, &none), None);
        assert_eq!(
            edit_line(&mut s, &mut at, Action::Delete, &none),
            Some(true)
        );
        assert_eq!(edit_line(&mut s, &mut at, Action::Delete, &none), None);
        assert_eq!(edit_line(&mut s, &mut at, Action::Apply, &none), None);
        assert_eq!(s, "");
    }
}
