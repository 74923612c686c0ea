//! The data model: records (the fields of one JSON object, typed by the schema, unknown fields
//! kept) and the values they hold. One module, because the two types nest in each other: a
//! value can be a nested array of records.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use compact_str::CompactString;
use kiss_schema::{FieldType, SchemaDocument};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::decimal::Decimal;
use crate::error::Issue;
use crate::lexer::write_compact;

/// What one entry of a record is: a scalar of a declared type, or a nested array of records.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryKind {
    /// A scalar field.
    Scalar(FieldType),
    /// A nested array whose elements follow this schema.
    Array(Arc<RecordSchema>),
}

/// One entry (field or nested array) of a record schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The schema name (`sKU`).
    pub name: String,
    /// The wire key (`SKU`).
    pub wire_key: String,
    /// Whether the schema marks it required.
    pub required: bool,
    /// Scalar or nested array.
    pub kind: EntryKind,
}

/// The shape of one level of records: the top-level fields then the nested arrays of a schema
/// document, in schema order, with a key index for decoding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordSchema {
    entries: Vec<Entry>,
    /// Wire key → position, then schema name → position where it differs.
    index: HashMap<Box<str>, usize>,
    /// Per entry: its wire key in quotes, when the key has no quote, backslash or control
    /// character, so that it can be matched against the input's bytes without reading the key
    /// as a string.
    quoted_keys: Vec<Option<Box<[u8]>>>,
    /// The positions of the required entries, checked after every record.
    required: Vec<usize>,
}

impl RecordSchema {
    /// The record schema of a document's records.
    pub fn from_document(document: &SchemaDocument) -> Arc<RecordSchema> {
        let mut entries: Vec<Entry> = document
            .fields
            .iter()
            .map(|f| Entry {
                name: f.name.clone(),
                wire_key: f.wire_key.clone(),
                required: f.required,
                kind: EntryKind::Scalar(f.field_type.clone()),
            })
            .collect();
        entries.extend(document.arrays.iter().map(|array| {
            let elements = RecordSchema::from_entries(
                array
                    .fields
                    .iter()
                    .map(|f| Entry {
                        name: f.name.clone(),
                        wire_key: f.wire_key.clone(),
                        required: f.required,
                        kind: EntryKind::Scalar(f.field_type.clone()),
                    })
                    .collect(),
            );
            Entry {
                name: array.name.clone(),
                wire_key: array.wire_key.clone(),
                required: false,
                kind: EntryKind::Array(elements),
            }
        }));
        RecordSchema::from_entries(entries)
    }

    /// A schema from entries in order.
    pub fn from_entries(entries: Vec<Entry>) -> Arc<RecordSchema> {
        let mut index = HashMap::with_capacity(entries.len() * 2);
        for (position, entry) in entries.iter().enumerate() {
            index
                .entry(entry.wire_key.as_str().into())
                .or_insert(position);
        }
        // Schema-name spellings are accepted too (a later profile may fix the casing quirk),
        // but never shadow a wire key.
        for (position, entry) in entries.iter().enumerate() {
            index.entry(entry.name.as_str().into()).or_insert(position);
        }
        let quoted_keys = entries
            .iter()
            .map(|entry| {
                let key = entry.wire_key.as_bytes();
                key.iter()
                    .all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
                    .then(|| [&b"\""[..], key, b"\""].concat().into_boxed_slice())
            })
            .collect();
        let required = (0..entries.len())
            .filter(|&position| entries[position].required)
            .collect();
        Arc::new(RecordSchema {
            entries,
            index,
            quoted_keys,
            required,
        })
    }

    /// A schema that knows no fields: every field of its records is unknown.
    pub fn empty() -> Arc<RecordSchema> {
        Arc::new(RecordSchema::default())
    }

    /// The entries, in schema order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The positions of the entries marked required, in schema order.
    pub(crate) fn required_positions(&self) -> &[usize] {
        &self.required
    }

    /// The wire key at `position` in quotes, when it reads the same in JSON with or without
    /// escapes.
    #[inline]
    pub(crate) fn quoted_key(&self, position: usize) -> Option<&[u8]> {
        self.quoted_keys.get(position)?.as_deref()
    }

    /// The position of the entry a key names (wire key or schema name).
    pub fn position(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }
}

/// A typed accessor found a value of another type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{key} holds {found}, not {expected}")]
pub struct TypeMismatch {
    /// The key asked for.
    pub key: String,
    /// What the accessor wanted.
    pub expected: &'static str,
    /// What the record holds.
    pub found: &'static str,
}

/// One decoded JSON object: schema fields by position, unknown fields in arrival order.
///
/// Keys are the wire keys; lookups accept the wire key or the schema name.
///
/// ```
/// use kiss_dynamic::{Decoder, SchemaDocument};
/// let schema = SchemaDocument::from_json(r#"{"endpoint":"/prices","apiVersion":"2026-04",
///   "fields":[{"name":"sKU","type":"string","required":true},
///             {"name":"priceExclVAT","type":"decimal"}]}"#).unwrap();
/// let decoder = Decoder::new(&schema);
/// let record = decoder
///     .decode_record(br#"{"SKU":"DRAC001","PriceExclVAT":19.9500,"Promo":true}"#)
///     .unwrap();
/// assert_eq!(record.get_str("sKU").unwrap(), Some("DRAC001"));
/// assert_eq!(record.get_decimal("PriceExclVAT").unwrap().unwrap().to_string(), "19.9500");
/// assert_eq!(record.unknown_fields().map(|(k, _)| k).collect::<Vec<_>>(), ["Promo"]);
/// assert_eq!(record.to_json(), r#"{"SKU":"DRAC001","PriceExclVAT":19.9500,"Promo":true}"#);
/// ```
#[derive(Clone)]
pub struct Record {
    pub(crate) schema: Arc<RecordSchema>,
    pub(crate) slots: Box<[Option<Value>]>,
    /// What most records do not have, kept out of line so a record is four words.
    pub(crate) extras: Option<Box<Extras>>,
}

/// The rarer parts of a record.
#[derive(Clone, PartialEq, Default)]
pub(crate) struct Extras {
    pub unknown: Vec<(String, Value)>,
    /// Positions whose key arrived spelled as the schema name; re-encoded the same way.
    pub spelled_as_name: Vec<usize>,
    pub issues: Vec<Issue>,
}

impl Extras {
    fn is_empty(&self) -> bool {
        self.unknown.is_empty() && self.spelled_as_name.is_empty() && self.issues.is_empty()
    }
}

/// Records are equal when they hold the same data: schema, values, unknown fields and key
/// spellings. The decoding issues are a report about the input, not part of the data.
impl PartialEq for Record {
    fn eq(&self, other: &Record) -> bool {
        let spellings = |r: &Record| {
            let mut positions = r
                .extras
                .as_ref()
                .map(|e| e.spelled_as_name.clone())
                .unwrap_or_default();
            positions.sort_unstable();
            positions
        };
        (Arc::ptr_eq(&self.schema, &other.schema) || self.schema == other.schema)
            && self.slots == other.slots
            && self.unknown() == other.unknown()
            && spellings(self) == spellings(other)
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Record {
    /// An empty record of `schema`.
    pub fn new(schema: Arc<RecordSchema>) -> Record {
        let slots = vec![None; schema.entries.len()].into_boxed_slice();
        Record {
            schema,
            slots,
            extras: None,
        }
    }

    /// A record from its decoded parts; the extras are boxed only when there are any.
    pub(crate) fn from_parts(
        schema: Arc<RecordSchema>,
        slots: Box<[Option<Value>]>,
        extras: Extras,
    ) -> Record {
        Record {
            schema,
            slots,
            extras: (!extras.is_empty()).then(|| Box::new(extras)),
        }
    }

    fn unknown(&self) -> &[(String, Value)] {
        self.extras.as_ref().map_or(&[], |e| &e.unknown)
    }

    fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Takes the issues out (the parser lifts nested issues into their parent).
    pub(crate) fn take_issues(&mut self) -> Vec<Issue> {
        match &mut self.extras {
            Some(extras) => std::mem::take(&mut extras.issues),
            None => Vec::new(),
        }
    }

    /// The record's schema.
    pub fn schema(&self) -> &Arc<RecordSchema> {
        &self.schema
    }

    /// The value under `key`, typed: one `Result` whatever went wrong. Ask for `Option<T>`
    /// when the field may be absent or null, `T` when it must be there.
    ///
    /// ```
    /// use kiss_dynamic::{Decimal, Decoder, SchemaDocument};
    /// let schema = SchemaDocument::from_json(r#"{"endpoint":"/stock","apiVersion":"2026-04",
    ///   "fields":[{"name":"sKU","type":"string","required":true},
    ///             {"name":"availableQTY","type":"integer"},
    ///             {"name":"nextAvailableETA","type":"date"}]}"#).unwrap();
    /// let record = Decoder::new(&schema)
    ///     .decode_record(br#"{"SKU":"DRAC001","AvailableQTY":432,"NextAvailableETA":null,"Bin":"A7"}"#)
    ///     .unwrap();
    /// let sku: &str = record.get("SKU")?;
    /// let quantity: i64 = record.get("AvailableQTY")?;
    /// let eta: Option<chrono::NaiveDate> = record.get("NextAvailableETA")?;
    /// let bin: Option<&str> = record.get("Bin")?; // a field the schema does not know
    /// assert_eq!((sku, quantity, eta, bin), ("DRAC001", 432, None, Some("A7")));
    /// assert!(record.get::<i64>("NextAvailableETA").is_err()); // null where a value is needed
    /// assert!(record.get::<Decimal>("SKU").is_err()); // a string is not a decimal
    /// # Ok::<(), kiss_dynamic::TypeMismatch>(())
    /// ```
    pub fn get<'a, T: FromValue<'a>>(&'a self, key: &str) -> Result<T, TypeMismatch> {
        match self.value(key) {
            None => T::from_absent().ok_or_else(|| TypeMismatch {
                key: key.to_owned(),
                expected: T::EXPECTED,
                found: "no value (the field is absent)",
            }),
            Some(value) => T::from_value(value).ok_or_else(|| TypeMismatch {
                key: key.to_owned(),
                expected: T::EXPECTED,
                found: value.kind(),
            }),
        }
    }

    /// The value under `key` (wire key or schema name; unknown fields by their key as sent).
    pub fn value(&self, key: &str) -> Option<&Value> {
        match self.schema.position(key) {
            Some(position) => self.slots[position].as_ref(),
            None => self
                .unknown()
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v),
        }
    }

    /// Sets `key` to `value`: a schema field by wire key or schema name, otherwise an unknown
    /// field (replacing one of the same key, or appended).
    pub fn insert(&mut self, key: &str, value: Value) {
        match self.schema.position(key) {
            Some(position) => self.slots[position] = Some(value),
            None => {
                let unknown = &mut self.extras_mut().unknown;
                match unknown.iter_mut().find(|(k, _)| k == key) {
                    Some((_, existing)) => *existing = value,
                    None => unknown.push((key.to_owned(), value)),
                }
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        match self.schema.position(key) {
            Some(position) => self.slots[position].take(),
            None => {
                let unknown = &mut self.extras.as_mut()?.unknown;
                let at = unknown.iter().position(|(k, _)| k == key)?;
                Some(unknown.remove(at).1)
            }
        }
    }

    /// A string field; `Ok(None)` when absent or null.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>, TypeMismatch> {
        self.get(key)
    }

    /// A decimal field (an integer value is accepted and widened).
    pub fn get_decimal(&self, key: &str) -> Result<Option<Decimal>, TypeMismatch> {
        self.get(key)
    }

    /// An integer field.
    pub fn get_i64(&self, key: &str) -> Result<Option<i64>, TypeMismatch> {
        self.get(key)
    }

    /// A boolean field.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, TypeMismatch> {
        self.get(key)
    }

    /// A date field.
    pub fn get_date(&self, key: &str) -> Result<Option<NaiveDate>, TypeMismatch> {
        self.get(key)
    }

    /// A nested array; absent and null arrays are empty, as the reference says to treat them.
    pub fn get_array(&self, key: &str) -> Result<&[Record], TypeMismatch> {
        Ok(self.get::<Option<&[Record]>>(key)?.unwrap_or(&[]))
    }

    /// Present fields as `(key, value)`: schema order first, then unknown fields in arrival
    /// order. Keys are as they were sent (the wire key, or the schema name if sent that way).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        let known = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(position, slot)| Some((self.key_at(position), slot.as_ref()?)));
        known.chain(self.unknown().iter().map(|(k, v)| (k.as_str(), v)))
    }

    fn key_at(&self, position: usize) -> &str {
        let entry = &self.schema.entries[position];
        if self
            .extras
            .as_ref()
            .is_some_and(|e| e.spelled_as_name.contains(&position))
        {
            &entry.name
        } else {
            &entry.wire_key
        }
    }

    /// The fields the schema does not know, in arrival order.
    pub fn unknown_fields(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.unknown().iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Every issue met while decoding this record and its nested records, with paths.
    pub fn issues(&self) -> &[Issue] {
        self.extras.as_ref().map_or(&[], |e| &e.issues)
    }

    /// Appends the record's JSON text: the same keys and values it was decoded from.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, value)) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(out, key);
            out.push(b':');
            value.write_json(out);
        }
        out.push(b'}');
    }

    /// The record's JSON text.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_else(|_| unreachable!("JSON text is UTF-8"))
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let present = self.slots.iter().filter(|s| s.is_some()).count() + self.unknown().len();
        let mut map = serializer.serialize_map(Some(present))?;
        for (key, value) in self.iter() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A Rust type a record's value can be read as, with [`Record::get`].
pub trait FromValue<'a>: Sized {
    /// What the type is called in error messages (`integer`, `string`…).
    const EXPECTED: &'static str;
    /// The value as this type; `None` when it holds something else (null included).
    fn from_value(value: &'a Value) -> Option<Self>;
    /// What an absent field reads as: nothing for plain types, `None` for `Option<T>`.
    fn from_absent() -> Option<Self> {
        None
    }
}

macro_rules! from_value {
    ($type:ty, $expected:literal, |$value:ident| $pick:expr) => {
        impl<'a> FromValue<'a> for $type {
            const EXPECTED: &'static str = $expected;
            fn from_value($value: &'a Value) -> Option<Self> {
                $pick
            }
        }
    };
}

from_value!(&'a str, "string", |v| match v {
    Value::String(s) => Some(s.as_str()),
    _ => None,
});
from_value!(String, "string", |v| match v {
    Value::String(s) => Some(s.to_string()),
    _ => None,
});
from_value!(i64, "integer", |v| match v {
    Value::Integer(n) => Some(*n),
    _ => None,
});
from_value!(bool, "boolean", |v| match v {
    Value::Bool(b) => Some(*b),
    _ => None,
});
// An integer is a decimal too (`12` where `12.00` was expected).
from_value!(Decimal, "decimal", |v| match v {
    Value::Decimal(d) => Some(d.clone()),
    Value::Integer(n) => Some(Decimal::from(*n)),
    _ => None,
});
from_value!(NaiveDate, "date", |v| match v {
    Value::Date(d) => Some(*d),
    _ => None,
});
from_value!(&'a [Record], "array of records", |v| match v {
    Value::Array(records) => Some(&**records),
    _ => None,
});
from_value!(&'a Value, "any value", |v| Some(v));

/// Absent or null is `None`; anything else must be a `T`.
impl<'a, T: FromValue<'a>> FromValue<'a> for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(value: &'a Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
    fn from_absent() -> Option<Self> {
        Some(None)
    }
}

/// `(key, value)` of each present field: schema order first, then unknown fields in arrival
/// order (as [`Record::iter`]).
impl<'a> IntoIterator for &'a Record {
    type Item = (&'a str, &'a Value);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a Value)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// One value of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// `boolean`.
    Bool(bool),
    /// `integer` (and unknown fields holding a whole number that fits `i64`).
    Integer(i64),
    /// `decimal`, exactly as written (and unknown fields holding other numbers).
    Decimal(Decimal),
    /// `string`. Short strings (up to 24 bytes: most codes and SKUs) live inline, without an
    /// allocation of their own.
    String(CompactString),
    /// `date` (`YYYY-MM-DD`).
    Date(NaiveDate),
    /// A nested array of records. (A boxed slice, not a `Vec`, so that a value is three
    /// words: records hold dozens of them.)
    Array(Box<[Record]>),
    /// Untyped JSON, verbatim: values of unknown types, and objects or arrays the schema does
    /// not describe.
    Json(RawJson),
}

/// JSON text kept verbatim (validated, not interpreted). Equal when the text is equal.
#[derive(Debug, Clone)]
pub struct RawJson(pub Box<RawValue>);

impl RawJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// Parses and keeps `text`, if it is one JSON value.
    pub fn from_text(text: impl Into<String>) -> Result<RawJson, serde_json::Error> {
        RawValue::from_string(text.into()).map(RawJson)
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.get() == other.get()
    }
}

impl Value {
    /// The kind of value, as issue messages name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Decimal(_) => "decimal",
            Value::String(_) => "string",
            Value::Date(_) => "date",
            Value::Array(_) => "array of records",
            Value::Json(_) => "untyped JSON",
        }
    }

    /// Whether this is JSON `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Appends the value's JSON text.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Integer(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
            Value::Decimal(d) => d.write_to(out),
            Value::String(s) => write_json_str(out, s),
            Value::Date(d) => {
                out.push(b'"');
                out.extend_from_slice(d.format("%Y-%m-%d").to_string().as_bytes());
                out.push(b'"');
            }
            Value::Array(records) => {
                out.push(b'[');
                for (i, record) in records.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    record.write_json(out);
                }
                out.push(b']');
            }
            // Untyped values as they came, but on one line (NDJSON and CSV cells need that).
            Value::Json(raw) => write_compact(raw.get(), out),
        }
    }

    /// The value's JSON text.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_else(|_| unreachable!("JSON text is UTF-8"))
    }
}

pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Escaping for every code point is serde_json's job; writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Serializes as the JSON the value came from. Decimals and untyped JSON keep their exact text
/// with serde_json's serializer (through `RawValue`); other serializers see them as numbers'
/// text only if they support serde_json's raw values.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Integer(n) => serializer.serialize_i64(*n),
            Value::Decimal(d) => {
                let raw =
                    RawValue::from_string(d.to_string()).map_err(serde::ser::Error::custom)?;
                raw.serialize(serializer)
            }
            Value::String(s) => serializer.serialize_str(s),
            Value::Date(d) => serializer.collect_str(&d.format("%Y-%m-%d")),
            Value::Array(records) => {
                let mut seq = serializer.serialize_seq(Some(records.len()))?;
                for record in records {
                    seq.serialize_element(record)?;
                }
                seq.end()
            }
            Value::Json(raw) => raw.0.serialize(serializer),
        }
    }
}

/// The value as a person reads it: strings without quotes, decimals with every digit they
/// came with, dates as `YYYY-MM-DD`, `null`, and nested arrays or untyped values as their JSON.
///
/// ```
/// use kiss_dynamic::Value;
/// let price = Value::from_json("19.9500").unwrap();
/// assert_eq!(format!("{price} EUR"), "19.9500 EUR");
/// assert_eq!(Value::from("DRAC001").to_string(), "DRAC001");
/// ```
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Integer(n) => write!(f, "{n}"),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::String(s) => f.write_str(s),
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::Array(_) | Value::Json(_) => f.write_str(&self.to_json()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s.into())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Integer(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<Decimal> for Value {
    fn from(d: Decimal) -> Value {
        Value::Decimal(d)
    }
}

impl From<NaiveDate> for Value {
    fn from(d: NaiveDate) -> Value {
        Value::Date(d)
    }
}

#[cfg(test)]
mod size_tests {
    /// Records hold one value per schema field: the size is a memory budget, kept on purpose.
    #[test]
    fn a_value_is_three_words_and_a_record_four() {
        assert_eq!(std::mem::size_of::<super::Value>(), 24);
        assert_eq!(std::mem::size_of::<Option<super::Value>>(), 24);
        assert_eq!(std::mem::size_of::<crate::Record>(), 32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Decoder;

    fn stock() -> Decoder {
        Decoder::new(&SchemaDocument::from_json(kiss_schema::contract::STOCK_SCHEMA).unwrap())
    }

    #[test]
    fn insert_and_remove_by_either_spelling_and_for_unknown_keys() {
        let mut record = stock()
            .decode_record(br#"{"SKU":"A","AvailableQTY":1}"#)
            .unwrap();
        record.insert("availableQTY", Value::Integer(5));
        record.insert("Colour", Value::from("red"));
        record.insert("Colour", Value::from("blue"));
        assert_eq!(record.get_i64("AvailableQTY").unwrap(), Some(5));
        assert_eq!(
            record.to_json(),
            r#"{"SKU":"A","AvailableQTY":5,"Colour":"blue"}"#
        );
        assert_eq!(record.remove("Colour"), Some(Value::from("blue")));
        assert_eq!(record.remove("sKU"), Some(Value::from("A")));
        assert_eq!(record.remove("Nope"), None);
        assert_eq!(record.to_json(), r#"{"AvailableQTY":5}"#);
    }

    #[test]
    fn equality_is_about_data_not_the_decoding_report() {
        // Found by fuzzing: re-encoding reorders issues (schema fields first), not data.
        let decoder = stock();
        let original = decoder
            .decode_record(br#"{"New":1,"AvailableQTY":"x"}"#)
            .unwrap();
        let again = decoder
            .decode_record(original.to_json().as_bytes())
            .unwrap();
        assert_ne!(original.issues(), again.issues());
        assert_eq!(original, again);
        let other = decoder
            .decode_record(br#"{"New":2,"AvailableQTY":"x"}"#)
            .unwrap();
        assert_ne!(original, other);
    }

    #[test]
    fn typed_accessors_say_what_they_found() {
        let record = stock()
            .decode_record(
                br#"{"SKU":"A","AvailableQTY":1,"NextAvailableETA":"2026-06-15","X":[1]}"#,
            )
            .unwrap();
        assert_eq!(
            record
                .get_date("NextAvailableETA")
                .unwrap()
                .unwrap()
                .to_string(),
            "2026-06-15"
        );
        assert_eq!(
            record
                .get_decimal("AvailableQTY")
                .unwrap()
                .unwrap()
                .to_string(),
            "1"
        );
        assert_eq!(record.get_str("Missing").unwrap(), None);
        let err = record.get_bool("X").unwrap_err();
        assert_eq!((err.expected, err.found), ("boolean", "untyped JSON"));
        assert!(record.get_array("SKU").is_err());
        assert_eq!(format!("{record:?}").matches(':').count(), 4, "{record:?}");
    }

    #[test]
    fn untyped_values_are_written_on_one_line_with_every_digit() {
        let record = stock()
            .decode_record(b"{\"SKU\":\"A\",\"Extra\":{\n  \"w\": 1.250,\n  \"t\": \"a\\nb\"\n}}")
            .unwrap();
        let json = record.to_json();
        assert!(!json.contains('\n'), "{json}");
        assert_eq!(json, r#"{"SKU":"A","Extra":{"w":1.250,"t":"a\nb"}}"#);
    }

    #[test]
    fn get_reads_any_type_in_one_result() {
        let record = stock()
            .decode_record(br#"{"SKU":"A","AvailableQTY":3,"NextAvailableETA":null,"Bin":"B7"}"#)
            .unwrap();
        assert_eq!(record.get::<&str>("SKU").unwrap(), "A");
        assert_eq!(
            record.get::<String>("sKU").unwrap(),
            "A",
            "schema names work too"
        );
        assert_eq!(record.get::<i64>("AvailableQTY").unwrap(), 3);
        assert_eq!(
            record.get::<Decimal>("AvailableQTY").unwrap().to_string(),
            "3"
        );
        assert_eq!(
            record.get::<Option<NaiveDate>>("NextAvailableETA").unwrap(),
            None
        );
        assert_eq!(record.get::<Option<&str>>("Bin").unwrap(), Some("B7"));
        assert_eq!(record.get::<Option<i64>>("Nowhere").unwrap(), None);
        let null = record.get::<NaiveDate>("NextAvailableETA").unwrap_err();
        assert_eq!(null.found, "null");
        let absent = record.get::<i64>("Nowhere").unwrap_err();
        assert!(absent.to_string().contains("absent"), "{absent}");
        let wrong = record.get::<bool>("SKU").unwrap_err();
        assert_eq!((wrong.expected, wrong.found), ("boolean", "string"));
    }

    #[test]
    fn records_iterate_in_a_for_loop_and_values_display_as_read() {
        let record = stock()
            .decode_record(br#"{"SKU":"A","AvailableQTY":3,"Price":19.9500,"Tags":[{"a":1}]}"#)
            .unwrap();
        let mut shown = Vec::new();
        for (key, value) in &record {
            shown.push(format!("{key}={value}"));
        }
        assert_eq!(
            shown,
            [
                "SKU=A",
                "AvailableQTY=3",
                "Price=19.9500",
                r#"Tags=[{"a":1}]"#
            ]
        );
        assert_eq!(Value::Null.to_string(), "null");
        assert_eq!(Value::Bool(true).to_string(), "true");
    }
}
