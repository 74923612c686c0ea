//! Decoding JSON into [`Record`]s, guided by the schema, straight from the bytes.
//!
//! The decoder is a `serde::de::DeserializeSeed` over serde_json's slice deserializer. Each
//! value is first taken as a borrowed `RawValue` (no copy), then read by the declared type:
//! that is how decimals keep their exact text without turning on serde_json's global
//! `arbitrary_precision` feature, which would change `serde_json::Value` for every crate in a
//! user's build.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::decimal::Decimal;
use crate::record::{Entry, EntryKind, Record, RecordSchema};
use crate::schema::{FieldType, SchemaDocument};
use crate::stream::ArrayStream;
use crate::value::{RawJson, Value};

/// Whether decoding issues are errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Keep going: a value not of its declared type is kept as it came (with its inferred
    /// type), and every issue is recorded on the record ([`Record::issues`]). The default.
    #[default]
    Lenient,
    /// Any issue (missing required field, type mismatch, unknown field, duplicate key) fails
    /// the record with [`DecodeError::Strict`].
    Strict,
}

/// What was wrong with one value of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "issue", rename_all = "snake_case")]
pub enum IssueKind {
    /// A required field is absent.
    MissingRequired,
    /// A required field is `null`.
    RequiredIsNull,
    /// The value is not of the declared type; it is kept as it came.
    TypeMismatch {
        /// The declared type.
        expected: FieldType,
        /// What the JSON held.
        found: &'static str,
    },
    /// The schema does not know this key; the value is kept with an inferred type.
    UnknownField,
    /// The key appears twice; the last value is kept.
    DuplicateKey,
}

/// One issue, with the path of the value (`ProductImages[1].ImageID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// Where: the key, with nested array and element index when nested.
    pub path: String,
    /// What.
    #[serde(flatten)]
    pub kind: IssueKind,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            IssueKind::MissingRequired => write!(f, "{}: required field is missing", self.path),
            IssueKind::RequiredIsNull => write!(f, "{}: required field is null", self.path),
            IssueKind::TypeMismatch { expected, found } => {
                write!(f, "{}: expected {expected}, found {found}", self.path)
            }
            IssueKind::UnknownField => write!(f, "{}: field not in the schema", self.path),
            IssueKind::DuplicateKey => write!(f, "{}: key appears more than once", self.path),
        }
    }
}

/// A record or array that could not be decoded.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The bytes are not the JSON expected (not JSON, or not an object / array of objects).
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// Strict mode met an issue.
    #[error("{issue} (strict decoding; decode leniently to keep such values and see every issue)")]
    Strict {
        /// The first issue.
        issue: Issue,
    },
}

impl From<serde_json::Error> for DecodeError {
    fn from(e: serde_json::Error) -> DecodeError {
        // serde_json appends the position; it is kept in fields of its own.
        let message = e.to_string();
        let message = match message.find(" at line ") {
            Some(at) => message[..at].to_owned(),
            None => message,
        };
        DecodeError::Json {
            line: e.line(),
            column: e.column(),
            message,
        }
    }
}

/// Decodes records of one schema.
///
/// ```
/// use kiss_dynamic::{Decoder, IssueKind, SchemaDocument};
/// let schema = SchemaDocument::from_json(r#"{"endpoint":"/stock","apiVersion":"2026-04",
///   "fields":[{"name":"sKU","type":"string","required":true},
///             {"name":"availableQTY","type":"integer"}]}"#).unwrap();
/// let records = Decoder::new(&schema)
///     .decode_array(br#"[{"SKU":"A","AvailableQTY":3},{"AvailableQTY":"many"}]"#)
///     .unwrap();
/// assert_eq!(records[0].get_i64("AvailableQTY").unwrap(), Some(3));
/// let kinds: Vec<_> = records[1].issues().iter().map(|i| &i.kind).collect();
/// assert!(matches!(kinds[0], IssueKind::TypeMismatch { found: "string", .. }));
/// assert_eq!(kinds[1], &IssueKind::MissingRequired);
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    schema: Arc<RecordSchema>,
    mode: Mode,
}

impl Decoder {
    /// A lenient decoder for the records of `document`.
    pub fn new(document: &SchemaDocument) -> Decoder {
        Decoder::for_record_schema(RecordSchema::from_document(document))
    }

    /// A lenient decoder for records of `schema`.
    pub fn for_record_schema(schema: Arc<RecordSchema>) -> Decoder {
        Decoder {
            schema,
            mode: Mode::Lenient,
        }
    }

    /// The same decoder in another mode.
    pub fn with_mode(mut self, mode: Mode) -> Decoder {
        self.mode = mode;
        self
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The record schema records are decoded by.
    pub fn record_schema(&self) -> &Arc<RecordSchema> {
        &self.schema
    }

    /// A seed for one record, for use with serde_json's `Deserializer::from_slice` or
    /// `from_str` (values are borrowed as raw JSON, which serde_json's reader-based
    /// deserializer cannot do: use [`Decoder::stream`] for readers).
    pub fn record_seed(&self) -> RecordSeed<'_> {
        RecordSeed {
            schema: &self.schema,
            mode: self.mode,
        }
    }

    /// A seed for a JSON array of records.
    pub fn array_seed(&self) -> ArraySeed<'_> {
        ArraySeed {
            record: self.record_seed(),
        }
    }

    /// Decodes one JSON object.
    pub fn decode_record(&self, bytes: &[u8]) -> Result<Record, DecodeError> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let record = self.lenient_seed().deserialize(&mut deserializer)?;
        deserializer.end()?;
        self.check(record)
    }

    /// Decodes a JSON array of objects, as the data endpoints serve it.
    pub fn decode_array(&self, bytes: &[u8]) -> Result<Vec<Record>, DecodeError> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let seed = ArraySeed {
            record: self.lenient_seed(),
        };
        let records = seed.deserialize(&mut deserializer)?;
        deserializer.end()?;
        records.into_iter().map(|r| self.check(r)).collect()
    }

    /// A push decoder for a JSON array arriving in chunks of any size.
    pub fn stream(&self) -> ArrayStream {
        ArrayStream::new(self.clone())
    }

    /// Collects every issue on the record, then applies the mode: the typed issue, rather than
    /// serde's text error, is what a strict caller gets.
    fn lenient_seed(&self) -> RecordSeed<'_> {
        RecordSeed {
            schema: &self.schema,
            mode: Mode::Lenient,
        }
    }

    pub(crate) fn check(&self, record: Record) -> Result<Record, DecodeError> {
        match (self.mode, record.issues.first()) {
            (Mode::Strict, Some(issue)) => Err(DecodeError::Strict {
                issue: issue.clone(),
            }),
            _ => Ok(record),
        }
    }
}

/// `DeserializeSeed` for one record.
#[derive(Debug, Clone, Copy)]
pub struct RecordSeed<'a> {
    schema: &'a Arc<RecordSchema>,
    mode: Mode,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Record;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Record, D::Error> {
        deserializer.deserialize_map(RecordVisitor(self))
    }
}

/// `DeserializeSeed` for a JSON array of records.
#[derive(Debug, Clone, Copy)]
pub struct ArraySeed<'a> {
    record: RecordSeed<'a>,
}

impl<'de> DeserializeSeed<'de> for ArraySeed<'_> {
    type Value = Vec<Record>;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Vec<Record>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed<'_> {
    type Value = Vec<Record>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Record>, A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(record) = seq.next_element_seed(self.record)? {
            records.push(record);
        }
        Ok(records)
    }
}

/// A key as read: borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct RecordVisitor<'a>(RecordSeed<'a>);

impl<'de> Visitor<'de> for RecordVisitor<'_> {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (one record)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let schema = self.0.schema;
        let mut record = Record::new(schema.clone());
        let report_unknown = !schema.entries().is_empty();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let raw: &'de RawValue = map.next_value()?;
            let text = raw.get();
            match schema.position(&key) {
                Some(position) => {
                    let entry = &schema.entries()[position];
                    if record.slots[position].is_some() {
                        record.issues.push(issue(&key, IssueKind::DuplicateKey));
                    }
                    if *key != entry.wire_key {
                        if !record.spelled_as_name.contains(&position) {
                            record.spelled_as_name.push(position);
                        }
                    } else {
                        record.spelled_as_name.retain(|p| *p != position);
                    }
                    let value = decode_entry(entry, text, &mut record.issues);
                    record.slots[position] = Some(value);
                }
                None => {
                    if report_unknown {
                        record.issues.push(issue(&key, IssueKind::UnknownField));
                    }
                    let value = infer(text);
                    match record.unknown.iter_mut().find(|(k, _)| *k == *key) {
                        Some((_, existing)) => {
                            record.issues.push(issue(&key, IssueKind::DuplicateKey));
                            *existing = value;
                        }
                        None => record.unknown.push((key.into_owned(), value)),
                    }
                }
            }
        }
        for (position, entry) in schema.entries().iter().enumerate() {
            if !entry.required {
                continue;
            }
            match &record.slots[position] {
                None => record
                    .issues
                    .push(issue(&entry.wire_key, IssueKind::MissingRequired)),
                Some(Value::Null) => record
                    .issues
                    .push(issue(&entry.wire_key, IssueKind::RequiredIsNull)),
                Some(_) => {}
            }
        }
        if self.0.mode == Mode::Strict {
            if let Some(first) = record.issues.first() {
                return Err(de::Error::custom(format_args!("{first} (strict decoding)")));
            }
        }
        Ok(record)
    }
}

fn issue(path: &str, kind: IssueKind) -> Issue {
    Issue {
        path: path.to_owned(),
        kind,
    }
}

fn decode_entry(entry: &Entry, text: &str, issues: &mut Vec<Issue>) -> Value {
    match &entry.kind {
        EntryKind::Scalar(field_type) => match decode_scalar(field_type, text) {
            Ok(value) => value,
            Err(found) => {
                issues.push(issue(
                    &entry.wire_key,
                    IssueKind::TypeMismatch {
                        expected: field_type.clone(),
                        found: found.kind(),
                    },
                ));
                found
            }
        },
        EntryKind::Array(elements) => {
            if text.starts_with('n') {
                return Value::Null;
            }
            match decode_elements(elements, text) {
                Some(mut records) => {
                    for (i, record) in records.iter_mut().enumerate() {
                        for nested in record.issues.drain(..) {
                            issues.push(Issue {
                                path: format!("{}[{i}].{}", entry.wire_key, nested.path),
                                kind: nested.kind,
                            });
                        }
                    }
                    Value::Array(records)
                }
                None => {
                    let found = infer(text);
                    issues.push(issue(
                        &entry.wire_key,
                        IssueKind::TypeMismatch {
                            expected: FieldType::Other("array of objects".into()),
                            found: json_kind(text),
                        },
                    ));
                    found
                }
            }
        }
    }
}

/// A nested array of objects, or `None` when the text is not one.
fn decode_elements(schema: &Arc<RecordSchema>, text: &str) -> Option<Vec<Record>> {
    if !text.starts_with('[') {
        return None;
    }
    let seed = ArraySeed {
        record: RecordSeed {
            schema,
            mode: Mode::Lenient,
        },
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    seed.deserialize(&mut deserializer).ok()
}

fn json_kind(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        Some(b'[') => "array",
        Some(b'{') => "object",
        _ => "number",
    }
}

/// The value of a declared scalar type, or the value as inferred when it is not of that type.
fn decode_scalar(field_type: &FieldType, text: &str) -> Result<Value, Value> {
    if text == "null" {
        return Ok(Value::Null);
    }
    match field_type {
        FieldType::String if text.starts_with('"') => Ok(Value::String(unescape(text))),
        FieldType::Decimal if is_number(text) => Ok(Value::Decimal(Decimal::from_valid_json(text))),
        FieldType::Integer if is_number(text) => match parse_integer(text) {
            Some(n) => Ok(Value::Integer(n)),
            None => Err(Value::Decimal(Decimal::from_valid_json(text))),
        },
        FieldType::Boolean if text == "true" => Ok(Value::Bool(true)),
        FieldType::Boolean if text == "false" => Ok(Value::Bool(false)),
        FieldType::Date if text.starts_with('"') => {
            let s = unescape(text);
            match parse_date(&s) {
                Some(date) => Ok(Value::Date(date)),
                None => Err(Value::String(s)),
            }
        }
        FieldType::Other(_) => Ok(raw_json(text)),
        _ => Err(infer(text)),
    }
}

fn is_number(text: &str) -> bool {
    matches!(text.as_bytes().first(), Some(b'-' | b'0'..=b'9'))
}

fn parse_integer(text: &str) -> Option<i64> {
    if text.contains(['.', 'e', 'E']) || text == "-0" {
        return None;
    }
    text.parse().ok()
}

/// A date only when it prints back exactly as written, so that the round trip is lossless.
fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    (date.format("%Y-%m-%d").to_string() == s).then_some(date)
}

fn unescape(text: &str) -> String {
    if !text.contains('\\') {
        // serde_json validated the string: without escapes, the text between the quotes is it.
        return text[1..text.len() - 1].to_owned();
    }
    serde_json::from_str(text).unwrap_or_else(|_| text[1..text.len() - 1].to_owned())
}

fn raw_json(text: &str) -> Value {
    match RawJson::from_text(text) {
        Ok(raw) => Value::Json(raw),
        Err(_) => Value::String(text.to_owned()),
    }
}

/// The value of a field the schema does not know, with a type inferred from the JSON.
fn infer(text: &str) -> Value {
    match text.as_bytes().first() {
        Some(b'"') => Value::String(unescape(text)),
        Some(b't') => Value::Bool(true),
        Some(b'f') => Value::Bool(false),
        Some(b'n') => Value::Null,
        Some(b'-' | b'0'..=b'9') => match parse_integer(text) {
            Some(n) => Value::Integer(n),
            None => Value::Decimal(Decimal::from_valid_json(text)),
        },
        Some(b'[') => match decode_elements(&RecordSchema::empty(), text) {
            Some(records) => Value::Array(records),
            None => raw_json(text),
        },
        _ => raw_json(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn products() -> SchemaDocument {
        SchemaDocument::from_json(include_str!("../../kiss-sandbox/data/products.schema.json"))
            .unwrap()
    }

    #[test]
    fn the_documented_product_decodes_typed_and_round_trips() {
        let text = include_str!("../../kiss-sandbox/data/products.json");
        let records = Decoder::new(&products())
            .decode_array(text.as_bytes())
            .unwrap();
        let product = &records[0];
        assert!(product.issues().is_empty(), "{:?}", product.issues());
        assert_eq!(product.get_str("SKU").unwrap(), Some("DRAC001"));
        assert_eq!(product.get_str("hSCode").unwrap(), Some("6114.30"));
        assert_eq!(
            product
                .get_decimal("PackagedLength_in_cm")
                .unwrap()
                .unwrap()
                .to_string(),
            "30.00"
        );
        assert_eq!(product.get_i64("CartonQty").unwrap(), Some(12));
        let images = product.get_array("ProductImages").unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].get_bool("IsPrimaryImage").unwrap(), Some(true));
        assert_eq!(images[1].get_str("imageID").unwrap(), Some("IMG002"));
        let price = &product.get_array("productPrices").unwrap()[0];
        assert_eq!(
            price
                .get_decimal("PriceExclVAT")
                .unwrap()
                .unwrap()
                .to_string(),
            "19.95"
        );
        let err = product.get_i64("SKU").unwrap_err();
        assert_eq!(err.to_string(), "SKU holds string, not integer");
        let original: serde_json::Value = serde_json::from_str(text).unwrap();
        let encoded: serde_json::Value =
            serde_json::from_str(&format!("[{}]", product.to_json())).unwrap();
        assert_eq!(encoded, original);
        assert!(product
            .to_json()
            .contains(r#""CompositionPercentage":100.00"#));
    }

    #[test]
    fn keeps_unknown_fields_with_inferred_types_and_reports_them() {
        let stock =
            SchemaDocument::from_json(include_str!("../../kiss-sandbox/data/stock.schema.json"))
                .unwrap();
        let text = br#"{"SKU":"A","BinLocation":"R1-04","Reserved":3,"Weight":1.250,
            "Tags":["x",1],"Batches":[{"Lot":"L1","Qty":2}],"Meta":{"a":[1,2.50]},"Flag":false,"Gone":null}"#;
        let record = Decoder::new(&stock).decode_record(text).unwrap();
        let unknown: Vec<(&str, &str)> = record
            .unknown_fields()
            .map(|(k, v)| (k, v.kind()))
            .collect();
        assert_eq!(
            unknown,
            [
                ("BinLocation", "string"),
                ("Reserved", "integer"),
                ("Weight", "decimal"),
                ("Tags", "untyped JSON"),
                ("Batches", "array of records"),
                ("Meta", "untyped JSON"),
                ("Flag", "boolean"),
                ("Gone", "null")
            ]
        );
        assert_eq!(
            record
                .issues()
                .iter()
                .filter(|i| i.kind == IssueKind::UnknownField)
                .count(),
            8
        );
        let json = record.to_json();
        assert!(
            json.contains(r#""Weight":1.250"#) && json.contains(r#""Meta":{"a":[1,2.50]}"#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).unwrap(),
            serde_json::from_slice::<serde_json::Value>(text).unwrap()
        );
    }

    #[test]
    fn mismatches_are_kept_raw_in_lenient_mode_and_fail_strict_mode() {
        let stock =
            SchemaDocument::from_json(include_str!("../../kiss-sandbox/data/stock.schema.json"))
                .unwrap();
        let text =
            br#"{"SKU":null,"AvailableQTY":4.5,"NextAvailableETA":"soon","StockLocation":7}"#;
        let record = Decoder::new(&stock).decode_record(text).unwrap();
        let issues: Vec<String> = record.issues().iter().map(ToString::to_string).collect();
        assert_eq!(
            issues,
            [
                "AvailableQTY: expected integer, found decimal",
                "NextAvailableETA: expected date, found string",
                "StockLocation: expected string, found integer",
                "SKU: required field is null",
            ]
        );
        assert_eq!(
            record.get("AvailableQTY"),
            Some(&Value::Decimal("4.5".parse().unwrap()))
        );
        // Same keys and values, in schema order.
        assert_eq!(
            record.to_json(),
            r#"{"SKU":null,"StockLocation":7,"AvailableQTY":4.5,"NextAvailableETA":"soon"}"#
        );
        let strict = Decoder::new(&stock).with_mode(Mode::Strict);
        match strict.decode_record(text) {
            Err(DecodeError::Strict { issue }) => assert_eq!(issue.path, "AvailableQTY"),
            other => panic!("{other:?}"),
        }
        assert!(strict.decode_record(br#"{"SKU":"A"}"#).is_ok());
        assert!(matches!(
            strict.decode_record(br#"{"SKU":"A","New":1}"#),
            Err(DecodeError::Strict { .. })
        ));
    }

    #[test]
    fn nested_issues_carry_their_path_and_keys_spelled_as_schema_names_are_accepted() {
        let text = br#"{"sKU":"X","ProductImages":[{"ImageID":"I"},{"ImageID":5,"AltText":"a"}],"ProductPrices":null}"#;
        let record = Decoder::new(&products()).decode_record(text).unwrap();
        let issues: Vec<String> = record.issues().iter().map(ToString::to_string).collect();
        assert_eq!(
            issues,
            [
                "ProductImages[1].ImageID: expected string, found integer",
                "ProductImages[1].AltText: field not in the schema",
            ]
        );
        assert_eq!(record.get_str("SKU").unwrap(), Some("X"));
        assert!(record.get_array("ProductPrices").unwrap().is_empty());
        assert!(record.get_array("ProductAccessories").unwrap().is_empty());
        // Re-encoded with the spelling it came with, and the null array kept.
        assert_eq!(record.to_json(), std::str::from_utf8(text).unwrap());
    }

    #[test]
    fn not_json_or_not_objects_is_an_error_with_position() {
        let decoder = Decoder::new(&products());
        let err = decoder
            .decode_array(b"[{\"SKU\":\"A\"},\n 42]")
            .unwrap_err();
        match err {
            DecodeError::Json { line, .. } => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
        assert!(decoder.decode_array(b"[{\"SKU\":\"A\"}").is_err());
        assert!(decoder.decode_array(b"[{\"SKU\":\"A\"}] x").is_err());
        assert!(decoder.decode_record(b"{\"SKU\":}").is_err());
    }

    #[test]
    fn dates_only_when_they_print_back_the_same() {
        assert!(parse_date("2026-06-15").is_some());
        assert!(parse_date("2026-6-15").is_none());
        assert!(parse_date("2026-02-30").is_none());
        assert!(parse_date("+2026-06-15").is_none());
    }
}
