//! The fast decoding path of kiss-generated's structs: the one-pass parser of this crate
//! filling typed fields directly, rather than serde_json's deserializer and serde's visitor
//! protocol. Generated code implements [`FastDecode`] with the [`Reader`] primitives; the
//! results are the same as through serde (a test in kiss-generated checks it).

use std::borrow::Cow;

use chrono::NaiveDate;
use compact_str::CompactString;

use crate::decimal::Decimal;
use crate::decode::DecodeError;
use crate::parse::{line_and_column, parse_date, Parser, SyntaxError};
use crate::stream::ElementDecoder;
use crate::typed::UnknownFields;
use crate::value::RawJson;

/// Why a record could not be read into its struct, with the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError(SyntaxError);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {})", self.0.message, self.0.offset)
    }
}

impl std::error::Error for ReadError {}

type Read<T> = Result<T, ReadError>;

impl From<SyntaxError> for ReadError {
    fn from(e: SyntaxError) -> ReadError {
        ReadError(e)
    }
}

/// A struct that can be read straight from JSON bytes by a [`Reader`].
pub trait FastDecode: Sized {
    /// Reads one JSON object into the struct.
    fn read(reader: &mut Reader<'_>) -> Result<Self, ReadError>;
}

/// Reads JSON values from bytes, one typed primitive at a time.
pub struct Reader<'a> {
    parser: Parser<'a>,
}

impl<'a> Reader<'a> {
    /// An error at the current offset.
    fn fail<T>(&self, message: String) -> Read<T> {
        Err(ReadError(SyntaxError {
            offset: self.offset(),
            message,
        }))
    }

    fn mismatch<T>(&self, wire_key: &str, expected: &str) -> Read<T> {
        let found = self.parser.found();
        self.fail(format!("{wire_key}: expected {expected}, found {found}"))
    }

    fn offset(&self) -> usize {
        self.parser.offset()
    }

    /// Calls `field` with each key of the object here; `field` must read the value.
    pub fn object(
        &mut self,
        mut field: impl FnMut(&mut Reader<'a>, Cow<'a, str>) -> Read<()>,
    ) -> Read<()> {
        self.parser.expect(b'{', "'{' opening a record")?;
        self.parser.skip_whitespace();
        if self.parser.peek() == Some(b'}') {
            self.parser.advance(1);
            return Ok(());
        }
        loop {
            self.parser.skip_whitespace();
            let key = self.parser.string()?;
            self.parser.expect(b':', "':' after a key")?;
            self.parser.skip_whitespace();
            field(self, key)?;
            self.parser.skip_whitespace();
            match self.parser.peek() {
                Some(b',') => self.parser.advance(1),
                Some(b'}') => {
                    self.parser.advance(1);
                    return Ok(());
                }
                _ => {
                    let found = self.parser.found();
                    return self.fail(format!("expected ',' or '}}' in a record, found {found}"));
                }
            }
        }
    }

    /// Whether the value here is `null` (consumed if so).
    fn null(&mut self) -> Read<bool> {
        if self.parser.peek() == Some(b'n') {
            self.parser.literal("null")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A string.
    pub fn string(&mut self, wire_key: &str) -> Read<CompactString> {
        if self.parser.peek() != Some(b'"') {
            return self.mismatch(wire_key, "string");
        }
        Ok(CompactString::from(self.parser.string()?))
    }

    /// A string or null.
    pub fn opt_string(&mut self, wire_key: &str) -> Read<Option<CompactString>> {
        if self.null()? {
            return Ok(None);
        }
        self.string(wire_key).map(Some)
    }

    /// An exact decimal.
    pub fn decimal(&mut self, wire_key: &str) -> Read<Decimal> {
        match self.parser.peek() {
            Some(b'-' | b'0'..=b'9') => Ok(Decimal::from_valid_json(self.parser.number()?)),
            _ => self.mismatch(wire_key, "decimal"),
        }
    }

    /// A decimal or null.
    pub fn opt_decimal(&mut self, wire_key: &str) -> Read<Option<Decimal>> {
        if self.null()? {
            return Ok(None);
        }
        self.decimal(wire_key).map(Some)
    }

    /// An integer.
    pub fn integer(&mut self, wire_key: &str) -> Read<i64> {
        match self.parser.peek() {
            Some(b'-' | b'0'..=b'9') => {
                let start = self.offset();
                let text = self.parser.number()?;
                match text.parse() {
                    Ok(n) if !text.contains(['.', 'e', 'E']) => Ok(n),
                    _ => Err(ReadError(SyntaxError {
                        offset: start,
                        message: format!("{wire_key}: expected integer, found {text}"),
                    })),
                }
            }
            _ => self.mismatch(wire_key, "integer"),
        }
    }

    /// An integer or null.
    pub fn opt_integer(&mut self, wire_key: &str) -> Read<Option<i64>> {
        if self.null()? {
            return Ok(None);
        }
        self.integer(wire_key).map(Some)
    }

    /// A boolean.
    pub fn boolean(&mut self, wire_key: &str) -> Read<bool> {
        match self.parser.peek() {
            Some(b't') => self
                .parser
                .literal("true")
                .map(|()| true)
                .map_err(ReadError),
            Some(b'f') => self
                .parser
                .literal("false")
                .map(|()| false)
                .map_err(ReadError),
            _ => self.mismatch(wire_key, "boolean"),
        }
    }

    /// A boolean or null.
    pub fn opt_boolean(&mut self, wire_key: &str) -> Read<Option<bool>> {
        if self.null()? {
            return Ok(None);
        }
        self.boolean(wire_key).map(Some)
    }

    /// A `YYYY-MM-DD` date.
    pub fn date(&mut self, wire_key: &str) -> Read<NaiveDate> {
        if self.parser.peek() == Some(b'"') {
            let start = self.offset();
            let text = self.parser.string()?;
            return parse_date(&text).ok_or_else(|| {
                ReadError(SyntaxError {
                    offset: start,
                    message: format!("{wire_key}: expected date (YYYY-MM-DD), found {text:?}"),
                })
            });
        }
        self.mismatch(wire_key, "date")
    }

    /// A date or null.
    pub fn opt_date(&mut self, wire_key: &str) -> Read<Option<NaiveDate>> {
        if self.null()? {
            return Ok(None);
        }
        self.date(wire_key).map(Some)
    }

    /// Any JSON value, verbatim.
    pub fn raw_json(&mut self, _wire_key: &str) -> Read<RawJson> {
        let text = self.parser.skip_value(0)?;
        RawJson::from_text(text).map_err(|e| {
            ReadError(SyntaxError {
                offset: self.offset(),
                message: e.to_string(),
            })
        })
    }

    /// Any JSON value or null.
    pub fn opt_raw_json(&mut self, wire_key: &str) -> Read<Option<RawJson>> {
        if self.null()? {
            return Ok(None);
        }
        self.raw_json(wire_key).map(Some)
    }

    /// A nested array of records; null reads as empty.
    pub fn array<T: FastDecode>(&mut self, wire_key: &str) -> Read<Vec<T>> {
        if self.null()? {
            return Ok(Vec::new());
        }
        if self.parser.peek() != Some(b'[') {
            return self.mismatch(wire_key, "array of records");
        }
        self.parser.advance(1);
        let mut items = Vec::new();
        self.parser.skip_whitespace();
        if self.parser.peek() == Some(b']') {
            self.parser.advance(1);
            return Ok(items);
        }
        loop {
            self.parser.skip_whitespace();
            items.push(T::read(self)?);
            self.parser.skip_whitespace();
            match self.parser.peek() {
                Some(b',') => self.parser.advance(1),
                Some(b']') => {
                    self.parser.advance(1);
                    return Ok(items);
                }
                _ => return self.mismatch(wire_key, "',' or ']' in an array"),
            }
        }
    }

    /// Keeps the value here, verbatim, as an unknown field.
    pub fn capture(&mut self, key: Cow<'a, str>, unknown: &mut UnknownFields) -> Read<()> {
        let text = self.parser.skip_value(0)?;
        unknown.push_captured(&key, text);
        Ok(())
    }

    /// The error for a required field that was absent.
    pub fn missing(&self, wire_key: &str) -> ReadError {
        ReadError(SyntaxError {
            offset: self.offset(),
            message: format!("missing field `{wire_key}`"),
        })
    }
}

fn to_decode_error(bytes: &[u8], error: ReadError) -> DecodeError {
    let (line, column) = line_and_column(bytes, error.0.offset);
    DecodeError::Json {
        line,
        column,
        message: error.0.message,
    }
}

/// Reads one JSON object into `T`.
pub fn decode_one<T: FastDecode>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut reader = Reader {
        parser: Parser::new(bytes).map_err(|e| to_decode_error(bytes, ReadError(e)))?,
    };
    reader.parser.skip_whitespace();
    let value = T::read(&mut reader).map_err(|e| to_decode_error(bytes, e))?;
    reader
        .parser
        .end()
        .map_err(|e| to_decode_error(bytes, ReadError(e)))?;
    Ok(value)
}

/// Reads a JSON array of objects into `Vec<T>`.
pub fn decode_all<T: FastDecode>(bytes: &[u8]) -> Result<Vec<T>, DecodeError> {
    let mut reader = Reader {
        parser: Parser::new(bytes).map_err(|e| to_decode_error(bytes, ReadError(e)))?,
    };
    reader.parser.skip_whitespace();
    let items = reader
        .array::<T>("the array")
        .map_err(|e| to_decode_error(bytes, e))?;
    reader
        .parser
        .end()
        .map_err(|e| to_decode_error(bytes, ReadError(e)))?;
    Ok(items)
}

/// Reads a JSON array of objects one `T` at a time, handing each to `each` (memory bounded by
/// one record when `each` drops it). Returns how many there were.
pub fn decode_each<T: FastDecode>(
    bytes: &[u8],
    mut each: impl FnMut(T),
) -> Result<usize, DecodeError> {
    let fail = |e: ReadError| to_decode_error(bytes, e);
    let mut reader = Reader {
        parser: Parser::new(bytes).map_err(|e| fail(ReadError(e)))?,
    };
    let parser = &mut reader.parser;
    parser.skip_whitespace();
    parser
        .expect(b'[', "'[' opening an array of records")
        .map_err(|e| fail(ReadError(e)))?;
    parser.skip_whitespace();
    let mut count = 0;
    if reader.parser.peek() == Some(b']') {
        reader.parser.advance(1);
    } else {
        loop {
            reader.parser.skip_whitespace();
            each(T::read(&mut reader).map_err(fail)?);
            count += 1;
            reader.parser.skip_whitespace();
            match reader.parser.peek() {
                Some(b',') => reader.parser.advance(1),
                Some(b']') => {
                    reader.parser.advance(1);
                    break;
                }
                _ => return reader.mismatch("the array", "',' or ']'").map_err(fail),
            }
        }
    }
    reader.parser.end().map_err(|e| fail(ReadError(e)))?;
    Ok(count)
}

/// An [`ElementDecoder`] for [`crate::ArrayStream`] that reads each element with [`FastDecode`].
pub struct Fast<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Default for Fast<T> {
    fn default() -> Fast<T> {
        Fast(std::marker::PhantomData)
    }
}

impl<T: FastDecode> ElementDecoder for Fast<T> {
    type Output = T;
    fn decode_element(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        decode_one(bytes)
    }
}
