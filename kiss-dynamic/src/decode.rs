//! Decoding JSON into [`Record`]s, guided by the schema, straight from the bytes.
//!
//! One pass, typed as it goes (see the parser module for why it is hand-written). The same
//! decoder is offered to serde as a [`DeserializeSeed`] ([`Decoder::record_seed`],
//! [`Decoder::array_seed`]) for use inside larger serde_json documents.

use std::fmt;
use std::sync::Arc;

use kiss_schema::SchemaDocument;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::DecodeError;
use crate::lexer::Parser;
use crate::record::{Record, RecordSchema, Value};

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

    /// A seed for one record, for serde_json's `Deserializer::from_slice` or `from_str`: the
    /// record is borrowed as raw JSON (which serde_json's reader-based deserializer cannot do;
    /// use [`Decoder::stream`] for readers) and decoded as [`Decoder::decode_record`] does.
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
        let record = Parser::new(bytes)
            .and_then(|mut parser| parser.record(&self.schema).map(|r| (parser, r)))
            .and_then(|(mut parser, record)| parser.end().map(|()| record))
            .map_err(|e| DecodeError::at(bytes, e))?;
        self.check(record)
    }

    /// Decodes a JSON array of objects, as the data endpoints serve it.
    pub fn decode_array(&self, bytes: &[u8]) -> Result<Vec<Record>, DecodeError> {
        let records = Parser::new(bytes)
            .and_then(|mut parser| parser.records(&self.schema).map(|r| (parser, r)))
            .and_then(|(mut parser, records)| parser.end().map(|()| records))
            .map_err(|e| DecodeError::at(bytes, e))?;
        records.into_iter().map(|r| self.check(r)).collect()
    }

    /// Applies the mode to a record whose issues were all collected.
    pub(crate) fn check(&self, record: Record) -> Result<Record, DecodeError> {
        match (self.mode, record.issues().first()) {
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
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        let record = Parser::from_text(text)
            .record(self.schema)
            .map_err(|e| de::Error::custom(DecodeError::at(text.as_bytes(), e)))?;
        match (self.mode, record.issues().first()) {
            (Mode::Strict, Some(issue)) => Err(de::Error::custom(DecodeError::Strict {
                issue: issue.clone(),
            })),
            _ => Ok(record),
        }
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

impl Value {
    /// A value from JSON text, typed by inference as for unknown fields (strings, integers,
    /// exact decimals, booleans, null, arrays of objects as records, other JSON verbatim).
    pub fn from_json(text: &str) -> Result<Value, DecodeError> {
        let mut parser = Parser::from_text(text);
        parser
            .inferred_value()
            .and_then(|value| parser.end().map(|()| value))
            .map_err(|e| DecodeError::at(text.as_bytes(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IssueKind, Value};

    fn products() -> SchemaDocument {
        SchemaDocument::from_json(kiss_schema::contract::PRODUCTS_SCHEMA).unwrap()
    }

    #[test]
    fn the_documented_product_decodes_typed_and_round_trips() {
        let text = kiss_schema::contract::PRODUCTS_EXAMPLE;
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
        let stock = SchemaDocument::from_json(kiss_schema::contract::STOCK_SCHEMA).unwrap();
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
        let stock = SchemaDocument::from_json(kiss_schema::contract::STOCK_SCHEMA).unwrap();
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
            record.value("AvailableQTY"),
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
    fn a_repeated_key_keeps_both_values() {
        let decoder = Decoder::new(&products());
        let record = decoder
            .decode_record(br#"{"SKU":"A","Name":"x","name":"y","Zzz":1,"Zzz":2.50}"#)
            .unwrap();
        assert_eq!(
            record.get::<&str>("Name").unwrap(),
            "x",
            "the first value is the field's"
        );
        assert_eq!(
            record.to_json(),
            r#"{"SKU":"A","Name":"x","name":"y","Zzz":1,"Zzz":2.50}"#,
            "and every value is written back"
        );
        let duplicates: Vec<&str> = record
            .issues()
            .iter()
            .filter(|i| i.kind == IssueKind::DuplicateKey)
            .map(|i| i.path.as_str())
            .collect();
        assert_eq!(duplicates, ["name", "Zzz"]);
        assert!(Decoder::new(&products())
            .with_mode(Mode::Strict)
            .decode_record(br#"{"SKU":"A","SKU":"B"}"#)
            .is_err());
    }

    /// Nesting far deeper than any record, in every place a record can hold it, is an error
    /// (not a stack overflow): about 8,000 levels in 48 KB.
    #[test]
    fn hostile_nesting_is_an_error_on_every_path() {
        let schema = SchemaDocument::from_json(kiss_schema::contract::PRODUCTS_SCHEMA).unwrap();
        let decoder = Decoder::new(&schema);
        let deep =
            |open: &str, close: &str| format!("{}1{}", open.repeat(8_000), close.repeat(8_000));
        let cases = [
            // An unknown field holding arrays of records of arrays of records…
            format!(r#"{{"SKU":"A","Zzz":{}}}"#, deep(r#"[{"a":"#, "}]")),
            // The same inside a known nested array.
            format!(
                r#"{{"SKU":"A","ProductImages":[{{"ImageID":{}}}]}}"#,
                deep(r#"[{"a":"#, "}]")
            ),
            // Plain arrays and plain objects.
            format!(r#"{{"SKU":"A","Zzz":{}}}"#, deep("[", "]")),
            format!(r#"{{"SKU":"A","Zzz":{}}}"#, deep(r#"{"a":"#, "}")),
        ];
        for case in &cases {
            let err = decoder.decode_record(case.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("nested deeper"), "{err}");
            let array = format!("[{case}]");
            let mut stream = decoder.stream();
            let results: Vec<_> = stream.feed(array.as_bytes()).collect();
            assert!(results.iter().any(Result::is_err));
            assert!(Value::from_json(&case[case.find('[').unwrap_or(0)..]).is_err());
        }
        // Nesting within the limit still decodes.
        let fine = format!(
            r#"{{"SKU":"A","Zzz":{}}}"#,
            "[".repeat(100) + &"]".repeat(100)
        );
        assert!(decoder.decode_record(fine.as_bytes()).is_ok());
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
}
