//! Bare URLs in text, found the way GitHub's autolinker does.

/// Finds the first `http://` or `https://` URL in `text`, returning the text
/// before it, the URL, and the rest. Trailing punctuation that usually ends a
/// sentence rather than the URL is left out, as GitHub's autolinker does.
/// Linear in the length of `text`, whatever it contains.
pub(super) fn split_bare_url(text: &str) -> Option<(&str, &str, &str)> {
    for (start, _) in text.match_indices("http") {
        let tail = &text[start..];
        let scheme_len = if tail.starts_with("https://") {
            8
        } else if tail.starts_with("http://") {
            7
        } else {
            continue;
        };
        let end = url_end(tail);
        // A scheme with nothing after it is not a link.
        if end > scheme_len {
            return Some((&text[..start], &tail[..end], &tail[end..]));
        }
    }
    None
}

/// Byte length of the URL at the start of `tail`.
pub(super) fn url_end(tail: &str) -> usize {
    let mut end = tail
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`'))
        .unwrap_or(tail.len());
    let url = &tail[..end];
    let opens = url.matches('(').count();
    let mut closes = url.matches(')').count();
    while let Some(last) = tail[..end].chars().next_back() {
        let trailing = match last {
            '.' | ',' | ':' | ';' | '!' | '?' | '\'' | '*' | '_' => true,
            // A ')' closing a '(' before the URL is not part of it.
            ')' if closes > opens => {
                closes -= 1;
                true
            }
            _ => false,
        };
        if !trailing {
            break;
        }
        end -= last.len_utf8();
    }
    end
}
