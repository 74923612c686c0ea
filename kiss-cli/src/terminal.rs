//! Text from the server (or from another process, through the mirror) made safe to print on
//! a terminal: an escape sequence could move the cursor, rewrite earlier lines or retitle
//! the window, and a newline could forge a line of kiss's own output.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL and C1: newlines, escapes, carriage
/// returns) written as a visible escape such as `\n` or `\u{1b}`; unchanged when it has
/// none.
///
/// A hand-written loop rather than `str::escape_debug`, which also escapes quotes,
/// backslashes and every non-printable Unicode letter, and would change the look of
/// ordinary values (`"O'Neil"`, `C:\`).
pub(crate) fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escaped;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(escaped("DRAC001"), "DRAC001");
        assert_eq!(escaped("O'Neil \\ 19.9500"), "O'Neil \\ 19.9500");
        assert_eq!(
            escaped("a\nkiss: forged\u{1b}[2J\u{9b}\r"),
            "a\\nkiss: forged\\u{1b}[2J\\u{9b}\\r"
        );
    }
}
