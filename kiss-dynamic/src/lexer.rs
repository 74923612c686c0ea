//! The JSON lexer under every decoder of this crate: strings, numbers, literals and whole
//! values, read in one pass over the bytes with their offsets.
//!
//! Written by hand because serde_json hands numbers to a visitor as `f64` unless its global
//! `arbitrary_precision` feature is on (which would change `serde_json::Value` for every crate
//! in a user's build), and borrowing each value as a `RawValue` to re-read it costs a second
//! pass. This parser keeps every number's text, borrows keys and plain strings straight from
//! the input, and validates everything it keeps verbatim, so re-encoding always yields JSON.
//! String unescaping, the one fiddly part, is delegated to serde_json.

use std::borrow::Cow;

use crate::decimal::is_json_number;
use crate::error::SyntaxError;

/// How deep JSON may nest before it is refused: a guard for the stack against hostile input,
/// the one limit for every path that descends (records, nested arrays, untyped values).
/// The API's records nest two levels; serde_json's own limit is the same 128.
pub const MAX_DEPTH: usize = 128;

type Parsed<T> = Result<T, SyntaxError>;

pub(crate) struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Objects and arrays open around the position.
    depth: usize,
}

/// Bytes that end the fast scan of a string: the quote, the backslash and control characters.
static STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

impl<'a> Parser<'a> {
    /// A parser over `bytes`, which are checked to be UTF-8 once, up front: one fast pass
    /// instead of one call per string.
    pub(crate) fn new(bytes: &'a [u8]) -> Parsed<Parser<'a>> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Parser::from_text(text)),
            Err(e) => Err(SyntaxError {
                offset: e.valid_up_to(),
                message: "invalid UTF-8".to_owned(),
            }),
        }
    }

    pub(crate) fn from_text(text: &'a str) -> Parser<'a> {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
        }
    }

    /// Goes one object or array deeper; an error past [`MAX_DEPTH`].
    #[inline]
    pub(crate) fn enter(&mut self) -> Parsed<()> {
        if self.depth >= MAX_DEPTH {
            return self.error(format!(
                "JSON nested deeper than {MAX_DEPTH} levels (refused to protect the stack)"
            ));
        }
        self.depth += 1;
        Ok(())
    }

    /// Comes back out of an object or array entered with [`Parser::enter`].
    #[inline]
    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    pub(crate) fn error<T>(&self, message: impl Into<String>) -> Parsed<T> {
        Err(SyntaxError {
            offset: self.pos,
            message: message.into(),
        })
    }

    // Hot and small: callers in other modules (and codegen units) must be able to inline it.
    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The current byte offset.
    #[inline]
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Goes back to an offset this parser has already been at.
    #[inline]
    pub(crate) fn rewind(&mut self, offset: usize) {
        self.pos = offset;
    }

    /// Moves past `n` bytes already looked at.
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos += n;
    }

    #[inline]
    pub(crate) fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    pub(crate) fn found(&self) -> String {
        match self.peek() {
            None => "the end of the input".to_owned(),
            Some(b) => format!("'{}'", (b as char).escape_default()),
        }
    }

    #[inline]
    pub(crate) fn expect(&mut self, byte: u8, what: &str) -> Parsed<()> {
        self.skip_whitespace();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            let found = self.found();
            self.error(format!("expected {what}, found {found}"))
        }
    }

    /// Whitespace only until the end.
    pub(crate) fn end(&mut self) -> Parsed<()> {
        self.skip_whitespace();
        match self.peek() {
            None => Ok(()),
            Some(_) => {
                let found = self.found();
                self.error(format!("expected the end of the input, found {found}"))
            }
        }
    }

    /// A string; borrowed when it has no escapes. The position is after the closing quote.
    #[inline]
    pub(crate) fn string(&mut self) -> Parsed<Cow<'a, str>> {
        self.expect(b'"', "a string")?;
        let start = self.pos;
        while self.pos < self.bytes.len() && !STRING_STOP[self.bytes[self.pos] as usize] {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'"') => {
                let text = self.utf8(start, self.pos)?;
                self.pos += 1;
                Ok(Cow::Borrowed(text))
            }
            Some(b'\\') => self.escaped_string(start),
            Some(_) => self.error("a control character inside a string"),
            None => self.error("a string that never ends"),
        }
    }

    /// The text between two offsets. Every offset the parser stops at is next to an ASCII
    /// byte, hence a character boundary; the check is kept rather than assumed.
    #[inline]
    fn utf8(&self, start: usize, end: usize) -> Parsed<&'a str> {
        self.text.get(start..end).ok_or_else(|| SyntaxError {
            offset: start,
            message: "a string split inside a UTF-8 character".to_owned(),
        })
    }

    /// The rest of a string that has escapes: find its end, then let serde_json unescape.
    fn escaped_string(&mut self, start: usize) -> Parsed<Cow<'a, str>> {
        self.skip_string_body()?;
        let quoted = self.utf8(start - 1, self.pos)?;
        serde_json::from_str::<String>(quoted)
            .map(Cow::Owned)
            .map_err(|e| SyntaxError {
                offset: start,
                message: format!("invalid string escape: {e}"),
            })
    }

    /// Moves past the closing quote of a string whose opening quote is behind us, checking
    /// escapes and control characters.
    fn skip_string_body(&mut self) -> Parsed<()> {
        loop {
            match self.peek() {
                None => return self.error("a string that never ends"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            let hex = self.bytes.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return self.error("\\u must be followed by four hex digits");
                            }
                            self.pos += 5;
                        }
                        _ => return self.error("an invalid escape in a string"),
                    }
                }
                Some(b) if b < 0x20 => return self.error("a control character inside a string"),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// The text of a number, checked against the JSON grammar.
    #[inline]
    pub(crate) fn number(&mut self) -> Parsed<&'a str> {
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.pos += 1;
        }
        let text = self.utf8(start, self.pos)?;
        if is_json_number(text) {
            Ok(text)
        } else {
            self.pos = start;
            self.error(format!("{text:?} is not a valid number"))
        }
    }

    #[inline]
    pub(crate) fn literal(&mut self, word: &'static str) -> Parsed<()> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            self.error(format!("expected {word}"))
        }
    }

    /// Moves past any JSON value, validating it; returns its text.
    pub(crate) fn skip_value(&mut self) -> Parsed<&'a str> {
        self.skip_whitespace();
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                let body = self.pos;
                self.skip_string_body()?;
                self.utf8(body, self.pos - 1)?;
            }
            Some(b'{') => {
                self.enter()?;
                self.pos += 1;
                self.skip_whitespace();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.string()?;
                        self.expect(b':', "':' after a key")?;
                        self.skip_value()?;
                        self.skip_whitespace();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => {
                                let found = self.found();
                                return self.error(format!("expected ',' or '}}', found {found}"));
                            }
                        }
                    }
                }
                self.leave();
            }
            Some(b'[') => {
                self.enter()?;
                self.pos += 1;
                self.skip_whitespace();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        self.skip_value()?;
                        self.skip_whitespace();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => {
                                let found = self.found();
                                return self.error(format!("expected ',' or ']', found {found}"));
                            }
                        }
                    }
                }
                self.leave();
            }
            Some(b't') => self.literal("true")?,
            Some(b'f') => self.literal("false")?,
            Some(b'n') => self.literal("null")?,
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
            }
            _ => {
                let found = self.found();
                return self.error(format!("expected a JSON value, found {found}"));
            }
        }
        self.utf8(start, self.pos)
    }
}

/// Appends valid JSON `text` without the whitespace between its tokens: the same value,
/// every digit and character kept, on one line (whitespace inside strings is escaped in
/// valid JSON, so no newline survives).
pub(crate) fn write_compact(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    {
        out.extend_from_slice(bytes);
        return;
    }
    let (mut in_string, mut escaped) = (false, false);
    for &byte in bytes {
        if in_string {
            out.push(byte);
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
            out.push(byte);
            in_string = byte == b'"';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_value_validates_what_it_keeps() {
        for bad in [
            "[1,]",
            "{\"a\" 1}",
            "\"\\x\"",
            "\"\\u12\"",
            "tru",
            "01",
            "[",
            "{\"a\":1,}",
            "\"a\u{1}\"",
        ] {
            assert!(Parser::from_text(bad).skip_value().is_err(), "{bad:?}");
        }
        for good in [
            "[1,{\"a\":[true,null]},\"\\u00e9\\n\"]",
            "{}",
            "[]",
            "-0.5e+3",
            "\"é\"",
        ] {
            let mut parser = Parser::from_text(good);
            assert_eq!(parser.skip_value().unwrap(), good);
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(Parser::from_text(&deep).skip_value().is_err());
    }

    #[test]
    fn compacting_keeps_every_character_of_every_value() {
        let mut out = Vec::new();
        write_compact(
            "{\n  \"a b\" : [ 1.50 ,\n\t\"x\\\" y\" ],\r\n \"c\": null }",
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a b":[1.50,"x\" y"],"c":null}"#
        );
    }

    #[test]
    fn invalid_utf8_is_refused_with_its_offset() {
        assert_eq!(Parser::new(b"\"ab\xff\"").err().map(|e| e.offset), Some(3));
    }
}
