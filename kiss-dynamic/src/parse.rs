//! The record parser: one pass over the JSON bytes, typed by the schema as it goes.
//!
//! Written by hand because serde_json hands numbers to a visitor as `f64` unless its global
//! `arbitrary_precision` feature is on (which would change `serde_json::Value` for every crate
//! in a user's build), and borrowing each value as a `RawValue` to re-read it costs a second
//! pass. This parser keeps every number's text, borrows keys and plain strings straight from
//! the input, and validates everything it keeps verbatim, so re-encoding always yields JSON.
//! String unescaping, the one fiddly part, is delegated to serde_json.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::NaiveDate;
use compact_str::CompactString;

use crate::decimal::{is_json_number, Decimal};
use crate::decode::{Issue, IssueKind};
use crate::record::{Entry, EntryKind, Extras, Record, RecordSchema};
use crate::schema::FieldType;
use crate::value::{RawJson, Value};

/// How deep untyped JSON may nest before it is refused (a stack guard for hostile input).
const MAX_DEPTH: usize = 128;

/// A syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

type Parsed<T> = Result<T, SyntaxError>;

pub(crate) struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
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
        }
    }

    pub(crate) fn error<T>(&self, message: impl Into<String>) -> Parsed<T> {
        Err(SyntaxError {
            offset: self.pos,
            message: message.into(),
        })
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The current byte offset.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Moves past `n` bytes already looked at.
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos += n;
    }

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

    pub(crate) fn literal(&mut self, word: &'static str) -> Parsed<()> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            self.error(format!("expected {word}"))
        }
    }

    /// Moves past any JSON value, validating it; returns its text.
    pub(crate) fn skip_value(&mut self, depth: usize) -> Parsed<&'a str> {
        self.skip_whitespace();
        let start = self.pos;
        if depth > MAX_DEPTH {
            return self.error(format!("JSON nested deeper than {MAX_DEPTH} levels"));
        }
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                let body = self.pos;
                self.skip_string_body()?;
                self.utf8(body, self.pos - 1)?;
            }
            Some(b'{') => {
                self.pos += 1;
                self.skip_whitespace();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.string()?;
                        self.expect(b':', "':' after a key")?;
                        self.skip_value(depth + 1)?;
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
            }
            Some(b'[') => {
                self.pos += 1;
                self.skip_whitespace();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        self.skip_value(depth + 1)?;
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

    /// One record (a JSON object) of `schema`. Nested issues are lifted into the record with
    /// their path.
    pub(crate) fn record(&mut self, schema: &Arc<RecordSchema>) -> Parsed<Record> {
        self.expect(b'{', "'{' opening a record")?;
        let entries = schema.entries();
        let mut slots: Box<[Option<Value>]> = vec![None; entries.len()].into_boxed_slice();
        let mut extras = Extras::default();
        let report_unknown = !entries.is_empty();
        let mut expected_position = 0;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.skip_whitespace();
                let key = self.string()?;
                self.expect(b':', "':' after a key")?;
                self.skip_whitespace();
                // Data arrives in schema order: try the next entry before the index.
                let (position, as_wire_key) = match entries.get(expected_position) {
                    Some(entry) if entry.wire_key == key => (Some(expected_position), true),
                    _ => match schema.position(&key) {
                        Some(p) => (Some(p), entries[p].wire_key == key),
                        None => (None, false),
                    },
                };
                match position {
                    Some(position) => {
                        expected_position = position + 1;
                        let entry = &entries[position];
                        if slots[position].is_some() {
                            extras.issues.push(issue(&key, IssueKind::DuplicateKey));
                        }
                        if !as_wire_key {
                            if !extras.spelled_as_name.contains(&position) {
                                extras.spelled_as_name.push(position);
                            }
                        } else if !extras.spelled_as_name.is_empty() {
                            extras.spelled_as_name.retain(|p| *p != position);
                        }
                        slots[position] = Some(self.entry(entry, &mut extras.issues)?);
                    }
                    None => {
                        if report_unknown {
                            extras.issues.push(issue(&key, IssueKind::UnknownField));
                        }
                        let value = self.inferred()?;
                        match extras.unknown.iter_mut().find(|(k, _)| *k == *key) {
                            Some((_, existing)) => {
                                extras.issues.push(issue(&key, IssueKind::DuplicateKey));
                                *existing = value;
                            }
                            None => extras.unknown.push((key.into_owned(), value)),
                        }
                    }
                }
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => {
                        let found = self.found();
                        return self
                            .error(format!("expected ',' or '}}' in a record, found {found}"));
                    }
                }
            }
        }
        for (position, entry) in entries.iter().enumerate() {
            if entry.required {
                match &slots[position] {
                    None => extras
                        .issues
                        .push(issue(&entry.wire_key, IssueKind::MissingRequired)),
                    Some(Value::Null) => extras
                        .issues
                        .push(issue(&entry.wire_key, IssueKind::RequiredIsNull)),
                    Some(_) => {}
                }
            }
        }
        Ok(Record::from_parts(schema.clone(), slots, extras))
    }

    /// A JSON array of records of `schema`.
    pub(crate) fn records(&mut self, schema: &Arc<RecordSchema>) -> Parsed<Vec<Record>> {
        self.expect(b'[', "'[' opening an array of records")?;
        let mut records = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(records);
        }
        loop {
            records.push(self.record(schema)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(records);
                }
                _ => {
                    let found = self.found();
                    return self
                        .error(format!("expected ',' or ']' after a record, found {found}"));
                }
            }
        }
    }

    fn entry(&mut self, entry: &Entry, issues: &mut Vec<Issue>) -> Parsed<Value> {
        match &entry.kind {
            EntryKind::Scalar(field_type) => match self.scalar(field_type)? {
                Ok(value) => Ok(value),
                Err(found) => {
                    issues.push(issue(
                        &entry.wire_key,
                        IssueKind::TypeMismatch {
                            expected: field_type.clone(),
                            found: found.kind(),
                        },
                    ));
                    Ok(found)
                }
            },
            EntryKind::Array(elements) => {
                if let Some(mut records) = self.records_if_objects(elements)? {
                    for (i, record) in records.iter_mut().enumerate() {
                        for nested in record.take_issues() {
                            issues.push(Issue {
                                path: format!("{}[{i}].{}", entry.wire_key, nested.path),
                                kind: nested.kind,
                            });
                        }
                    }
                    return Ok(Value::Array(records.into_boxed_slice()));
                }
                let value = self.inferred()?;
                if !value.is_null() {
                    issues.push(issue(
                        &entry.wire_key,
                        IssueKind::TypeMismatch {
                            expected: FieldType::Other("array of objects".into()),
                            found: value.kind(),
                        },
                    ));
                }
                Ok(value)
            }
        }
    }

    /// The array of records starting here; `None` (not moved) when the next value is not an
    /// array or one of its elements is not an object.
    fn records_if_objects(&mut self, schema: &Arc<RecordSchema>) -> Parsed<Option<Vec<Record>>> {
        let start = self.pos;
        if self.peek() != Some(b'[') {
            return Ok(None);
        }
        self.pos += 1;
        let mut records = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Some(records));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'{') {
                self.pos = start;
                return Ok(None);
            }
            records.push(self.record(schema)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Some(records));
                }
                _ => {
                    let found = self.found();
                    return self.error(format!("expected ',' or ']' in an array, found {found}"));
                }
            }
        }
    }

    /// A value of a declared scalar type: `Ok(Ok(typed))`, or `Ok(Err(inferred))` when the
    /// JSON holds something else (kept as it came).
    fn scalar(&mut self, field_type: &FieldType) -> Parsed<Result<Value, Value>> {
        let next = self.peek();
        if next == Some(b'n') {
            self.literal("null")?;
            return Ok(Ok(Value::Null));
        }
        Ok(match (field_type, next) {
            (FieldType::String, Some(b'"')) => {
                Ok(Value::String(CompactString::from(self.string()?)))
            }
            (FieldType::Decimal, Some(b'-' | b'0'..=b'9')) => {
                Ok(Value::Decimal(Decimal::from_valid_json(self.number()?)))
            }
            (FieldType::Integer, Some(b'-' | b'0'..=b'9')) => {
                let text = self.number()?;
                match parse_integer(text) {
                    Some(n) => Ok(Value::Integer(n)),
                    None => Err(Value::Decimal(Decimal::from_valid_json(text))),
                }
            }
            (FieldType::Boolean, Some(b't')) => {
                self.literal("true")?;
                Ok(Value::Bool(true))
            }
            (FieldType::Boolean, Some(b'f')) => {
                self.literal("false")?;
                Ok(Value::Bool(false))
            }
            (FieldType::Date, Some(b'"')) => {
                let text = self.string()?;
                match parse_date(&text) {
                    Some(date) => Ok(Value::Date(date)),
                    None => Err(Value::String(CompactString::from(text))),
                }
            }
            (FieldType::Other(_), _) => {
                let text = self.skip_value(0)?;
                Ok(raw_json(text))
            }
            _ => Err(self.inferred()?),
        })
    }

    /// A value typed by inference, after any whitespace.
    pub(crate) fn inferred_value(&mut self) -> Parsed<Value> {
        self.inferred()
    }

    /// The value of a field the schema does not know, with a type inferred from the JSON.
    fn inferred(&mut self) -> Parsed<Value> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'"') => Ok(Value::String(CompactString::from(self.string()?))),
            Some(b't') => self.literal("true").map(|()| Value::Bool(true)),
            Some(b'f') => self.literal("false").map(|()| Value::Bool(false)),
            Some(b'n') => self.literal("null").map(|()| Value::Null),
            Some(b'-' | b'0'..=b'9') => {
                let text = self.number()?;
                Ok(match parse_integer(text) {
                    Some(n) => Value::Integer(n),
                    None => Value::Decimal(Decimal::from_valid_json(text)),
                })
            }
            Some(b'[') => match self.records_if_objects(&RecordSchema::empty())? {
                Some(records) => Ok(Value::Array(records.into_boxed_slice())),
                None => Ok(raw_json(self.skip_value(0)?)),
            },
            _ => {
                let text = self.skip_value(0)?;
                Ok(raw_json(text))
            }
        }
    }
}

fn issue(path: &str, kind: IssueKind) -> Issue {
    Issue {
        path: path.to_owned(),
        kind,
    }
}

fn parse_integer(text: &str) -> Option<i64> {
    if text.contains(['.', 'e', 'E']) || text == "-0" {
        return None;
    }
    text.parse().ok()
}

/// A date only when it prints back exactly as written, so that the round trip is lossless.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

fn raw_json(text: &str) -> Value {
    match RawJson::from_text(text) {
        Ok(raw) => Value::Json(raw),
        // The parser validated the text; serde_json agrees unless its nesting limit trips.
        Err(_) => Value::String(text.into()),
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_and_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.len()
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, column)
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
            assert!(Parser::from_text(bad).skip_value(0).is_err(), "{bad:?}");
        }
        for good in [
            "[1,{\"a\":[true,null]},\"\\u00e9\\n\"]",
            "{}",
            "[]",
            "-0.5e+3",
            "\"é\"",
        ] {
            let mut parser = Parser::from_text(good);
            assert_eq!(parser.skip_value(0).unwrap(), good);
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(Parser::from_text(&deep).skip_value(0).is_err());
    }

    #[test]
    fn invalid_utf8_is_refused_with_its_offset() {
        assert_eq!(Parser::new(b"\"ab\xff\"").err().map(|e| e.offset), Some(3));
    }

    #[test]
    fn dates() {
        assert!(parse_date("2026-06-15").is_some());
        assert!(parse_date("2026-6-15").is_none());
        assert!(parse_date("2026-02-30").is_none());
        assert!(parse_date("+2026-06-1").is_none());
        assert!(parse_date("２０２６-06-15").is_none());
    }

    #[test]
    fn positions_are_lines_and_columns() {
        assert_eq!(line_and_column(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_and_column(b"ab", 0), (1, 1));
    }
}
