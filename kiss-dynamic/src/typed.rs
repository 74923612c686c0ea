//! What generated structs (kiss-generated) are built from: unknown-field capture without
//! `#[serde(flatten)]`, borrowed keys, and serde support for exact decimals and raw JSON.
//!
//! `#[serde(flatten)]` buffers every entry of the map into serde's private `Content` tree
//! before the struct sees it, known fields included. Generated structs instead match keys
//! themselves and send only unknown ones here.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::decimal::Decimal;
use crate::parse::Parser;
use crate::value::{RawJson, Value};

/// A map key as read: borrowed from the input when it has no escapes (serde's `Cow<str>`
/// always allocates).
#[derive(Debug)]
pub struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
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

/// The fields of a record that its generated struct does not know, in arrival order.
///
/// ```
/// use kiss_dynamic::typed::UnknownFields;
/// use kiss_dynamic::Value;
/// let mut unknown = UnknownFields::default();
/// unknown.insert("EcoScore", Value::Integer(7));
/// assert_eq!(unknown.get("EcoScore"), Some(&Value::Integer(7)));
/// assert_eq!(unknown.iter().count(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnknownFields {
    fields: Vec<(String, Value)>,
}

impl UnknownFields {
    /// Whether there are no unknown fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// How many unknown fields there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// The value of one unknown field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Unknown fields in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Sets an unknown field (replacing one of the same key).
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => *existing = value,
            None => self.fields.push((key, value)),
        }
    }

    /// Removes an unknown field.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let at = self.fields.iter().position(|(k, _)| k == key)?;
        Some(self.fields.remove(at).1)
    }

    /// For generated code: reads the next map value as an unknown field.
    #[doc(hidden)]
    pub fn read_value<'de, A: de::MapAccess<'de>>(
        &mut self,
        key: Cow<'de, str>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let value = map.next_value::<UnknownValue>()?.0;
        self.insert(key.into_owned(), value);
        Ok(())
    }

    /// For generated code: writes the unknown fields into a map being serialized.
    #[doc(hidden)]
    pub fn serialize_into<M: serde::ser::SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        for (key, value) in &self.fields {
            map.serialize_entry(key, value)?;
        }
        Ok(())
    }
}

/// Serializes the unknown fields as map entries (generated structs flatten them in, which
/// costs nothing on the serializing side).
impl Serialize for UnknownFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        self.serialize_into(&mut map)?;
        map.end()
    }
}

/// An unknown field's value, read losslessly through its raw JSON text.
struct UnknownValue(Value);

impl<'de> Deserialize<'de> for UnknownValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        with_raw_text(deserializer, "any JSON value", |text| {
            Value::from_json(text).map_err(|e| e.to_string())
        })
        .map(UnknownValue)
    }
}

/// The name under which serde_json hands out a value's raw text (what `RawValue` asks for).
/// It is serde_json's, not public API; it has not changed since raw values appeared
/// (1.0.29), and the tests below fail loudly if it ever does. Asking for it directly, rather
/// than through `Box<RawValue>`, reads the text borrowed from the input (no allocation per
/// decimal) and still works with `from_reader` (owned text).
const SERDE_JSON_RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Calls `read` with the raw JSON text of the next value. Formats other than serde_json get
/// the value re-rendered as JSON from what serde can tell about it (numbers may lose digits
/// there, which is why the text is asked for first).
fn with_raw_text<'de, D, T>(
    deserializer: D,
    expected: &'static str,
    read: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct RawText<F>(F, &'static str);

    impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for RawText<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.1)
        }
        // serde_json answers the token with a one-entry map: the token, then the raw text
        // (borrowed from a slice, owned from a reader).
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
            if map.next_key::<de::IgnoredAny>()?.is_none() {
                return Err(de::Error::custom("serde_json gave no raw value"));
            }
            let text = map.next_value::<Key<'de>>()?;
            (self.0)(&text.0).map_err(de::Error::custom)
        }
        fn visit_newtype_struct<D: Deserializer<'de>>(self, inner: D) -> Result<T, D::Error> {
            // Not serde_json: go through a JSON value (exact for integers and strings).
            let value = serde_json::Value::deserialize(inner)?;
            (self.0)(&value.to_string()).map_err(de::Error::custom)
        }
    }

    deserializer.deserialize_newtype_struct(SERDE_JSON_RAW_VALUE_TOKEN, RawText(read, expected))
}

impl Value {
    /// A value from JSON text, typed by inference as for unknown fields (strings, integers,
    /// exact decimals, booleans, null, arrays of objects as records, other JSON verbatim).
    pub fn from_json(text: &str) -> Result<Value, crate::DecodeError> {
        let mut parser = Parser::from_text(text);
        parser
            .inferred_value()
            .and_then(|value| parser.end().map(|()| value))
            .map_err(|e| crate::DecodeError::at(text.as_bytes(), e))
    }
}

/// Serializes the exact text (through serde_json's raw values).
impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// Reads a JSON number keeping its exact text (with serde_json; other formats give what
/// they can tell, which for non-integers may already have lost digits).
impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        with_raw_text(deserializer, "a JSON number", |text| {
            text.parse()
                .map_err(|_| format!("invalid type: {text}, expected a JSON number"))
        })
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(RawJson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_text_through_serde_json() {
        let d: Decimal = serde_json::from_str("19.9500").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "19.9500");
        let d: Decimal = serde_json::from_reader(&b"2.4500"[..]).unwrap();
        assert_eq!(d.to_string(), "2.4500");
        assert!(serde_json::from_str::<Decimal>("\"19.95\"").is_err());
        let v: Vec<Decimal> = serde_json::from_value(serde_json::json!([1, 2.5])).unwrap();
        assert_eq!(v[0].to_string(), "1");
        let nested: Vec<Decimal> = serde_json::from_str("[ 1.000 , -0.50 ]").unwrap();
        assert_eq!(nested[1].to_string(), "-0.50");
        let in_a_map: std::collections::BTreeMap<String, Decimal> =
            serde_json::from_reader(&br#"{"a": 7.10}"#[..]).unwrap();
        assert_eq!(in_a_map["a"].to_string(), "7.10");
    }

    #[test]
    fn unknown_values_are_inferred_losslessly() {
        let value = Value::from_json(r#"[{"A":1.50}]"#).unwrap();
        assert_eq!(value.to_json(), r#"[{"A":1.50}]"#);
        assert_eq!(Value::from_json("12").unwrap(), Value::Integer(12));
        assert!(Value::from_json("12 13").is_err());
        let mut fields = UnknownFields::default();
        let read: serde_json::Value = serde_json::from_str(r#"{"a": 1.50}"#).unwrap();
        assert_eq!(read["a"], 1.5);
        let unknown: UnknownValue = serde_json::from_str(" 1.50 ").unwrap();
        fields.insert("a", unknown.0);
        assert_eq!(fields.get("a").unwrap().to_json(), "1.50");
        let raw: RawJson = serde_json::from_str(r#"{"x": 1.0}"#).unwrap();
        assert_eq!(serde_json::to_string(&raw).unwrap(), r#"{"x": 1.0}"#);
    }
}
