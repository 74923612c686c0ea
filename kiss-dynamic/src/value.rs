//! The values a record holds: the schema's types, plus untyped JSON for everything else.

use chrono::NaiveDate;
use compact_str::CompactString;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::value::RawValue;

use crate::decimal::Decimal;
use crate::record::Record;

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
            Value::Json(raw) => out.extend_from_slice(raw.get().as_bytes()),
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
