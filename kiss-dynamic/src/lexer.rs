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
    /// Whether whitespace between tokens has been skipped: when not, the text read so far is
    /// already compact and can be copied as it is.
    spaced: bool,
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
            spaced: false,
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

    /// The whole input.
    #[inline]
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// The byte at an offset, if the input has one there.
    #[inline]
    pub(crate) fn byte_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(offset).copied()
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
            self.spaced = true;
        }
    }

    /// Whether any whitespace between tokens was skipped since the last call, which resets it.
    #[inline]
    pub(crate) fn take_spaced(&mut self) -> bool {
        std::mem::take(&mut self.spaced)
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
        self.skip_plain_string_bytes();
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

    /// Moves to the next byte that ends the fast scan of a string (see [`STRING_STOP`]), or to
    /// the end. Eight bytes at a time: most of a body is string contents.
    #[inline]
    fn skip_plain_string_bytes(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        // A high bit set in each byte of `word` that is zero. The lowest one is exact (a
        // borrow only spreads upwards), which is all this needs.
        let zero_bytes = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
        while let Some(eight) = self.bytes.get(self.pos..self.pos + 8) {
            let Ok(eight) = <[u8; 8]>::try_from(eight) else {
                break;
            };
            let word = u64::from_le_bytes(eight);
            let stops = zero_bytes(word ^ (ONES * u64::from(b'"')))
                | zero_bytes(word ^ (ONES * u64::from(b'\\')))
                // Bytes below 0x20: control characters (bytes from 0x80 up keep their high bit
                // out through `!word`).
                | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS);
            if stops != 0 {
                self.pos += (stops.trailing_zeros() / 8) as usize;
                return;
            }
            self.pos += 8;
        }
        while self.pos < self.bytes.len() && !STRING_STOP[self.bytes[self.pos] as usize] {
            self.pos += 1;
        }
    }

    /// Whether the input at the position is `quoted` (a key in its quotes), exactly; moves
    /// past it if so. Only for keys with no quote, backslash or control character, which read
    /// the same escaped or not.
    #[inline]
    pub(crate) fn quoted_key(&mut self, quoted: &[u8]) -> bool {
        let end = self.pos + quoted.len();
        let matches = self
            .bytes
            .get(self.pos..end)
            .is_some_and(|here| same_bytes(here, quoted));
        if matches {
            self.pos = end;
        }
        matches
    }

    /// Moves past a string, validated exactly as [`Parser::string`] validates it, without
    /// making its value: a plain string (no escapes) is one scan; one with escapes goes the
    /// full way, so that what is refused is refused alike.
    #[inline]
    pub(crate) fn skip_string(&mut self) -> Parsed<()> {
        if self.peek() != Some(b'"') {
            return self.string().map(|_| ());
        }
        let start = self.pos;
        self.pos += 1;
        self.skip_plain_string_bytes();
        if self.peek() == Some(b'"') {
            self.pos += 1;
            return Ok(());
        }
        self.pos = start;
        self.string().map(|_| ())
    }

    /// A number's text, checked against the JSON grammar in the same pass, and whether it is
    /// written as an integer (no fraction, no exponent).
    #[inline]
    pub(crate) fn number_shape(&mut self) -> Parsed<(&'a str, bool)> {
        let start = self.pos;
        let digits = |parser: &mut Parser<'a>| {
            let from = parser.pos;
            while parser.peek().is_some_and(|b| b.is_ascii_digit()) {
                parser.pos += 1;
            }
            parser.pos - from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let first = self.peek();
        let whole = digits(self);
        let mut integer = true;
        let mut valid = whole == 1 || (whole > 1 && first != Some(b'0'));
        if valid && self.peek() == Some(b'.') {
            self.pos += 1;
            integer = false;
            valid = digits(self) > 0;
        }
        if valid && matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            integer = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            valid = digits(self) > 0;
        }
        // What the grammar cannot continue with must not be a number's character either
        // (`1.2.3`, `01`, `1-`): the same refusals as [`Parser::number`].
        if valid
            && matches!(
                self.peek(),
                Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            )
        {
            valid = false;
        }
        if !valid {
            self.pos = start;
            return self.number().map(|text| (text, false));
        }
        Ok((self.utf8(start, self.pos)?, integer))
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
        if self
            .bytes
            .get(self.pos..self.pos + word.len())
            .is_some_and(|here| same_bytes(here, word.as_bytes()))
        {
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

/// Whether two slices hold the same bytes: for the short keys and literals of a record,
/// a few word compares inline (overlapping at the end) beat a call to `memcmp`, which `==` on
/// slices makes.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word8 = |s: &[u8], at: usize| {
        s.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map(u64::from_ne_bytes)
    };
    let word4 = |s: &[u8], at: usize| {
        s.get(at..at + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map(u32::from_ne_bytes)
    };
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if word8(a, at) != word8(b, at) {
                return false;
            }
            at += 8;
        }
        word8(a, n - 8) == word8(b, n - 8)
    } else if n >= 4 {
        word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
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

    /// The eight-at-a-time scan stops at the first quote, backslash or control character
    /// wherever it falls in the word, and never at a byte from 0x80 up.
    #[test]
    fn strings_end_exactly_where_the_word_scan_says() {
        for length in 0..24 {
            for stop in ['"', '\\', '\u{1}', '\u{1f}'] {
                for at in 0..length {
                    let mut body: Vec<char> = "é€abcdefghijklmnopqrstuvwxyz~"
                        .chars()
                        .cycle()
                        .take(length)
                        .collect();
                    body[at] = stop;
                    let body: String = body.into_iter().collect();
                    let text = format!("\"{body}\"");
                    let mut parser = Parser::from_text(&text);
                    let result = parser.string();
                    match stop {
                        '"' => assert_eq!(result.unwrap(), body[..body.find('"').unwrap()]),
                        '\\' => assert!(result.is_err() || result.unwrap().len() < body.len()),
                        _ => assert!(result.is_err(), "{text:?}"),
                    }
                }
            }
            let plain: String = "é€abcdefghijklmnopqrstuvwxyz~"
                .chars()
                .cycle()
                .take(length)
                .collect();
            let text = format!("\"{plain}\"");
            assert_eq!(Parser::from_text(&text).string().unwrap(), plain);
        }
    }

    #[test]
    fn same_bytes_compares_every_byte_at_every_length() {
        for n in 0..40 {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_bytes(&a, &a.clone()));
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "length {n}, byte {at}");
            }
            assert!(!same_bytes(&a, &a[..n.saturating_sub(1)]) || n == 0);
        }
    }

    /// The one-pass number check accepts and refuses exactly what `number` does.
    #[test]
    fn number_shape_agrees_with_number() {
        for text in [
            "0", "-0", "7", "12", "-12", "1.5", "0.25", "1e5", "1E+5", "1.5e-3", "01", "-", "1.",
            ".5", "1e", "1e+", "1.2.3", "1-", "00", "-01", "1.5e3e", "12,", "3}", "0.0]", "+1",
        ] {
            let number = Parser::from_text(text).number().map(str::to_owned);
            let mut parser = Parser::from_text(text);
            let shape = parser.number_shape();
            assert_eq!(
                shape.as_ref().map(|(t, _)| t.to_string()).ok(),
                number.as_ref().ok().cloned(),
                "{text}"
            );
            if let Ok((t, integer)) = shape {
                assert_eq!(integer, !t.contains(['.', 'e', 'E']), "{text}");
            }
        }
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
