//! The one decoding engine of kiss-generated's structs.
//!
//! Code generation writes one function per struct, [`Model::read`], that walks the keys of a
//! JSON object and reads each known field by its position, capturing the rest as unknown
//! fields. It is generic over where keys and values come from ([`FieldSource`]), and this
//! module supplies the two sources:
//!
//! - bytes, read by this crate's one-pass lexer ([`Reader`]; [`decode_one`], [`decode_all`],
//!   [`decode_each`], and [`ModelDecoder`] for chunked streams): what kiss-client uses;
//! - any serde `Deserializer` ([`deserialize`], which the generated `Deserialize` impls call),
//!   so `serde_json::from_slice::<Product>` works as users expect.
//!
//! Each field's type says how it is read from either source ([`FieldValue`]), so a struct's
//! decoding is written once and both entry points give the same result.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use chrono::NaiveDate;
use compact_str::CompactString;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::build::parse_date;
use crate::decimal::Decimal;
use crate::error::{line_and_column, DecodeError, SyntaxError};
use crate::lexer::Parser;
use crate::record::RawJson;
use crate::stream::ElementDecoder;
use crate::typed::{Key, UnknownFields};

/// A struct decoded field by field from a JSON object (kiss-generated implements it for
/// every struct it writes).
pub trait Model: Sized {
    /// What the struct is, for serde's "invalid type: …, expected …" messages.
    const EXPECTING: &'static str;

    /// Reads one JSON object's keys and values from `source` into the struct.
    fn read<'de, S: FieldSource<'de>>(source: &mut S) -> Result<Self, S::Error>;
}

/// Where a [`Model`] reads an object's keys and values from.
pub trait FieldSource<'de> {
    /// What reading can fail with.
    type Error;
    /// The next key of the object, or `None` after the last one.
    fn next_key(&mut self) -> Result<Option<Cow<'de, str>>, Self::Error>;
    /// The value of the key just read, as a field of type `V`.
    fn value<V: FieldValue<'de>>(&mut self, wire_key: &'static str) -> Result<V, Self::Error>;
    /// Keeps the value of the key just read, verbatim, as an unknown field.
    fn capture(
        &mut self,
        key: Cow<'de, str>,
        unknown: &mut UnknownFields,
    ) -> Result<(), Self::Error>;
    /// The error for a required field that was absent.
    fn missing(&self, wire_key: &'static str) -> Self::Error;
}

/// A type a generated field can have, readable from both sources.
pub trait FieldValue<'de>: Sized {
    /// Reads the value through serde.
    fn deserialize_field<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
    /// Reads the value from bytes.
    fn read_field(reader: &mut Reader<'de>, wire_key: &str) -> Result<Self, ReadError>;
}

macro_rules! scalar_field {
    ($type:ty, $method:ident) => {
        impl<'de> FieldValue<'de> for $type {
            #[inline]
            fn deserialize_field<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <$type>::deserialize(deserializer)
            }
            #[inline]
            fn read_field(reader: &mut Reader<'de>, wire_key: &str) -> Result<Self, ReadError> {
                reader.$method(wire_key)
            }
        }
    };
}

scalar_field!(CompactString, string);
scalar_field!(Decimal, decimal);
scalar_field!(i64, integer);
scalar_field!(bool, boolean);
scalar_field!(NaiveDate, date);
scalar_field!(RawJson, raw_json);

/// An optional field: `null` (or, through serde, an absent value) is `None`.
impl<'de, V: FieldValue<'de>> FieldValue<'de> for Option<V> {
    fn deserialize_field<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OptionVisitor<V>(PhantomData<fn() -> V>);
        impl<'de, V: FieldValue<'de>> Visitor<'de> for OptionVisitor<V> {
            type Value = Option<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Option<V>, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Option<V>, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Option<V>, D::Error> {
                V::deserialize_field(inner).map(Some)
            }
        }
        deserializer.deserialize_option(OptionVisitor(PhantomData))
    }

    fn read_field(reader: &mut Reader<'de>, wire_key: &str) -> Result<Self, ReadError> {
        if reader.null()? {
            return Ok(None);
        }
        V::read_field(reader, wire_key).map(Some)
    }
}

/// A nested array of records: `null` (or an absent value) reads as empty.
impl<'de, T: Model> FieldValue<'de> for Vec<T> {
    fn deserialize_field<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArrayVisitor<T>(PhantomData<fn() -> T>);
        impl<'de, T: Model> Visitor<'de> for ArrayVisitor<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of records, or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
                Ok(Vec::new())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
                Ok(Vec::new())
            }
            fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Vec<T>, D::Error> {
                inner.deserialize_seq(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                // The size hint comes off the wire: use it only as a bounded guess.
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element_seed(ModelSeed::<T>(PhantomData))? {
                    items.push(item);
                }
                Ok(items)
            }
        }
        deserializer.deserialize_option(ArrayVisitor(PhantomData))
    }

    fn read_field(reader: &mut Reader<'de>, wire_key: &str) -> Result<Self, ReadError> {
        reader.array(wire_key)
    }
}

/// Reads a [`Model`] through serde: what kiss-generated's `Deserialize` impls call.
pub fn deserialize<'de, D: Deserializer<'de>, T: Model>(deserializer: D) -> Result<T, D::Error> {
    ModelSeed::<T>(PhantomData).deserialize(deserializer)
}

struct ModelSeed<T>(PhantomData<fn() -> T>);

impl<'de, T: Model> DeserializeSeed<'de> for ModelSeed<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Model> Visitor<'de> for ModelSeed<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::read(&mut SerdeSource(map))
    }
}

/// A serde map as a [`FieldSource`].
struct SerdeSource<A>(A);

impl<'de, A: MapAccess<'de>> FieldSource<'de> for SerdeSource<A> {
    type Error = A::Error;

    fn next_key(&mut self) -> Result<Option<Cow<'de, str>>, A::Error> {
        Ok(self.0.next_key::<Key<'de>>()?.map(|key| key.0))
    }

    fn value<V: FieldValue<'de>>(&mut self, _wire_key: &'static str) -> Result<V, A::Error> {
        self.0.next_value_seed(FieldSeed::<V>(PhantomData))
    }

    fn capture(&mut self, key: Cow<'de, str>, unknown: &mut UnknownFields) -> Result<(), A::Error> {
        unknown.read_value(key, &mut self.0)
    }

    fn missing(&self, wire_key: &'static str) -> A::Error {
        de::Error::missing_field(wire_key)
    }
}

struct FieldSeed<V>(PhantomData<fn() -> V>);

impl<'de, V: FieldValue<'de>> DeserializeSeed<'de> for FieldSeed<V> {
    type Value = V;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<V, D::Error> {
        V::deserialize_field(deserializer)
    }
}

/// Why a record could not be read into its struct, with the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError(SyntaxError);

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

/// The object at a [`Reader`]'s position as a [`FieldSource`].
struct ObjectSource<'r, 'a> {
    reader: &'r mut Reader<'a>,
    /// Keys read so far; `None` once the closing brace was read.
    keys: Option<usize>,
}

impl<'r, 'a> ObjectSource<'r, 'a> {
    fn new(reader: &'r mut Reader<'a>) -> ObjectSource<'r, 'a> {
        ObjectSource {
            reader,
            keys: Some(0),
        }
    }
}

impl<'a> FieldSource<'a> for ObjectSource<'_, 'a> {
    type Error = ReadError;

    #[inline]
    fn next_key(&mut self) -> Read<Option<Cow<'a, str>>> {
        let Some(keys) = self.keys else {
            return Ok(None);
        };
        let parser = &mut self.reader.parser;
        if keys == 0 {
            parser.expect(b'{', "'{' opening a record")?;
            parser.enter()?;
        }
        parser.skip_whitespace();
        match parser.peek() {
            Some(b'}') => {
                parser.advance(1);
                parser.leave();
                self.keys = None;
                return Ok(None);
            }
            Some(b',') if keys > 0 => {
                parser.advance(1);
                parser.skip_whitespace();
            }
            _ if keys == 0 => {}
            _ => {
                let found = parser.found();
                return self
                    .reader
                    .fail(format!("expected ',' or '}}' in a record, found {found}"));
            }
        }
        let key = parser.string()?;
        parser.expect(b':', "':' after a key")?;
        parser.skip_whitespace();
        self.keys = Some(keys.saturating_add(1));
        Ok(Some(key))
    }

    #[inline]
    fn value<V: FieldValue<'a>>(&mut self, wire_key: &'static str) -> Read<V> {
        V::read_field(self.reader, wire_key)
    }

    #[inline]
    fn capture(&mut self, key: Cow<'a, str>, unknown: &mut UnknownFields) -> Read<()> {
        self.reader.capture(key, unknown)
    }

    fn missing(&self, wire_key: &'static str) -> ReadError {
        self.reader.missing(wire_key)
    }
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

    /// Whether the value here is `null` (consumed if so).
    #[inline]
    pub fn null(&mut self) -> Read<bool> {
        if self.parser.peek() == Some(b'n') {
            self.parser.literal("null")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A string.
    #[inline]
    pub fn string(&mut self, wire_key: &str) -> Read<CompactString> {
        if self.parser.peek() != Some(b'"') {
            return self.mismatch(wire_key, "string");
        }
        Ok(CompactString::from(self.parser.string()?))
    }

    /// A string or null.
    #[inline]
    pub fn opt_string(&mut self, wire_key: &str) -> Read<Option<CompactString>> {
        if self.null()? {
            return Ok(None);
        }
        self.string(wire_key).map(Some)
    }

    /// An exact decimal.
    #[inline]
    pub fn decimal(&mut self, wire_key: &str) -> Read<Decimal> {
        match self.parser.peek() {
            Some(b'-' | b'0'..=b'9') => Ok(Decimal::from_valid_json(self.parser.number()?)),
            _ => self.mismatch(wire_key, "decimal"),
        }
    }

    /// A decimal or null.
    #[inline]
    pub fn opt_decimal(&mut self, wire_key: &str) -> Read<Option<Decimal>> {
        if self.null()? {
            return Ok(None);
        }
        self.decimal(wire_key).map(Some)
    }

    /// An integer.
    #[inline]
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
    #[inline]
    pub fn opt_integer(&mut self, wire_key: &str) -> Read<Option<i64>> {
        if self.null()? {
            return Ok(None);
        }
        self.integer(wire_key).map(Some)
    }

    /// A boolean.
    #[inline]
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
    #[inline]
    pub fn opt_boolean(&mut self, wire_key: &str) -> Read<Option<bool>> {
        if self.null()? {
            return Ok(None);
        }
        self.boolean(wire_key).map(Some)
    }

    /// A `YYYY-MM-DD` date.
    #[inline]
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
    #[inline]
    pub fn opt_date(&mut self, wire_key: &str) -> Read<Option<NaiveDate>> {
        if self.null()? {
            return Ok(None);
        }
        self.date(wire_key).map(Some)
    }

    /// Any JSON value, verbatim.
    pub fn raw_json(&mut self, _wire_key: &str) -> Read<RawJson> {
        let text = self.parser.skip_value()?;
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
    pub fn array<T: Model>(&mut self, wire_key: &str) -> Read<Vec<T>> {
        if self.null()? {
            return Ok(Vec::new());
        }
        self.parser.enter()?;
        let items = self.array_within(wire_key);
        self.parser.leave();
        items
    }

    fn array_within<T: Model>(&mut self, wire_key: &str) -> Read<Vec<T>> {
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
            items.push(T::read(&mut ObjectSource::new(self))?);
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
        let text = self.parser.skip_value()?;
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
pub fn decode_one<T: Model>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut reader = Reader {
        parser: Parser::new(bytes).map_err(|e| to_decode_error(bytes, ReadError(e)))?,
    };
    reader.parser.skip_whitespace();
    let value =
        T::read(&mut ObjectSource::new(&mut reader)).map_err(|e| to_decode_error(bytes, e))?;
    reader
        .parser
        .end()
        .map_err(|e| to_decode_error(bytes, ReadError(e)))?;
    Ok(value)
}

/// Reads a JSON array of objects into `Vec<T>`.
pub fn decode_all<T: Model>(bytes: &[u8]) -> Result<Vec<T>, DecodeError> {
    let mut items = Vec::new();
    decode_each(bytes, |item| items.push(item))?;
    Ok(items)
}

/// Reads a JSON array of objects one `T` at a time, handing each to `each` (memory bounded by
/// one record when `each` drops it). Returns how many there were.
pub fn decode_each<T: Model>(bytes: &[u8], mut each: impl FnMut(T)) -> Result<usize, DecodeError> {
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
    let mut count = 0usize;
    if reader.parser.peek() == Some(b']') {
        reader.parser.advance(1);
    } else {
        loop {
            reader.parser.skip_whitespace();
            each(T::read(&mut ObjectSource::new(&mut reader)).map_err(fail)?);
            count = count.saturating_add(1);
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

/// An [`ElementDecoder`] for [`crate::ArrayStream`] that reads each element into a [`Model`].
pub struct ModelDecoder<T>(PhantomData<fn() -> T>);

impl<T> Default for ModelDecoder<T> {
    fn default() -> ModelDecoder<T> {
        ModelDecoder(PhantomData)
    }
}

impl<T> fmt::Debug for ModelDecoder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelDecoder<{}>", std::any::type_name::<T>())
    }
}

impl<T: Model> ElementDecoder for ModelDecoder<T> {
    type Output = T;
    fn decode_element(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        decode_one(bytes)
    }

    fn decode_in_place(&self, text: &str, start: usize) -> Option<(T, usize)> {
        let mut reader = Reader {
            parser: Parser::from_text(text),
        };
        reader.parser.rewind(start);
        let value = T::read(&mut ObjectSource::new(&mut reader)).ok()?;
        Some((value, reader.parser.offset()))
    }
}
