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
use crate::record::{RawJson, Value};

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
/// Each value is kept as its exact JSON text, copied once into one buffer per record: capture
/// costs a copy, not a parse, and nothing is lost (decimals keep every digit). Values are
/// typed on demand ([`UnknownFields::get`]).
///
/// ```
/// use kiss_dynamic::typed::UnknownFields;
/// use kiss_dynamic::Value;
/// let mut unknown = UnknownFields::default();
/// unknown.insert("EcoScore", &Value::Integer(7));
/// unknown.insert_raw("Weight", "1.250").unwrap();
/// assert_eq!(unknown.get("EcoScore"), Some(Value::Integer(7)));
/// assert_eq!(unknown.get_raw("Weight"), Some("1.250"));
/// assert_eq!(unknown.iter().map(|(key, _)| key).collect::<Vec<_>>(), ["EcoScore", "Weight"]);
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct UnknownFields {
    /// Keys (unescaped) and raw values, back to back.
    text: String,
    /// Per field: where its key ends and its value ends (each starts where the last ended).
    spans: Vec<(u32, u32)>,
}

/// `(key, raw JSON text)` of each unknown field, in arrival order (as [`UnknownFields::iter`]).
impl<'a> IntoIterator for &'a UnknownFields {
    type Item = (&'a str, &'a str);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl fmt::Debug for UnknownFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl UnknownFields {
    /// No unknown fields (the same as `UnknownFields::default()`, callable where a schema
    /// type named `Default` shadows the trait).
    pub const fn new() -> UnknownFields {
        UnknownFields {
            text: String::new(),
            spans: Vec::new(),
        }
    }

    /// Whether there are no unknown fields.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// How many unknown fields there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// `(key, raw JSON text)` of each unknown field, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut start = 0usize;
        self.spans.iter().map(move |&(key_end, value_end)| {
            let (key_end, value_end) = (key_end as usize, value_end as usize);
            let entry = (&self.text[start..key_end], &self.text[key_end..value_end]);
            start = value_end;
            entry
        })
    }

    /// The exact JSON text of one unknown field.
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, raw)| raw)
    }

    /// One unknown field's value, typed by inference (strings, integers, exact decimals,
    /// booleans, null, arrays of objects as records, other JSON verbatim).
    pub fn get(&self, key: &str) -> Option<Value> {
        // The text was validated as JSON when it was captured or inserted.
        self.get_raw(key).and_then(|raw| Value::from_json(raw).ok())
    }

    /// Sets an unknown field (replacing one of the same key, keeping its place).
    pub fn insert(&mut self, key: &str, value: &Value) {
        let raw = value.to_json();
        self.set(key, &raw);
    }

    /// Sets an unknown field from JSON text, which must be one JSON value.
    pub fn insert_raw(&mut self, key: &str, raw: &str) -> Result<(), crate::error::DecodeError> {
        Value::from_json(raw)?;
        self.set(key, raw.trim());
        Ok(())
    }

    /// Removes an unknown field, returning its JSON text.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let raw = self.get_raw(key)?.to_owned();
        self.rebuild(|k| k != key);
        Some(raw)
    }

    fn set(&mut self, key: &str, raw: &str) {
        if self.get_raw(key).is_some() {
            let entries: Vec<(String, String)> = self
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_owned(),
                        if k == key {
                            raw.to_owned()
                        } else {
                            v.to_owned()
                        },
                    )
                })
                .collect();
            *self = UnknownFields::default();
            for (k, v) in &entries {
                self.push(k, v);
            }
        } else {
            self.push(key, raw);
        }
    }

    fn rebuild(&mut self, keep: impl Fn(&str) -> bool) {
        let entries: Vec<(String, String)> = self
            .iter()
            .filter(|(k, _)| keep(k))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        *self = UnknownFields::default();
        for (k, v) in &entries {
            self.push(k, v);
        }
    }

    fn push(&mut self, key: &str, raw: &str) {
        self.text.push_str(key);
        let key_end = offset(self.text.len());
        self.text.push_str(raw);
        self.spans.push((key_end, offset(self.text.len())));
    }

    /// For the byte reader: keeps an already validated raw value. A key that came before
    /// is kept again (every value the server sent stays; [`UnknownFields::get_raw`] finds the
    /// first).
    pub(crate) fn push_captured(&mut self, key: &str, raw: &str) {
        self.push(key, raw);
    }

    /// For generated code: reads the next map value as an unknown field.
    #[doc(hidden)]
    pub fn read_value<'de, A: de::MapAccess<'de>>(
        &mut self,
        key: Cow<'de, str>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        // A repeated key is kept again, like the byte reader does: nothing the server sent
        // is dropped.
        self.text.push_str(&key);
        let key_end = offset(self.text.len());
        map.next_value_seed(AppendRaw(&mut self.text))?;
        self.spans.push((key_end, offset(self.text.len())));
        Ok(())
    }

    /// For generated code: writes the unknown fields into a map being serialized.
    #[doc(hidden)]
    pub fn serialize_into<M: serde::ser::SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        for (key, raw) in self.iter() {
            map.serialize_entry(key, &RawRef(raw))?;
        }
        Ok(())
    }
}

/// Offsets fit in `u32`: one record's unknown fields are far below 4 GiB.
fn offset(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Appends the next value's raw JSON text to a buffer.
struct AppendRaw<'a>(&'a mut String);

impl<'de> de::DeserializeSeed<'de> for AppendRaw<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let buffer = self.0;
        with_raw_text(deserializer, "any JSON value", |text| {
            buffer.push_str(text);
            Ok(())
        })
    }
}

/// Serializes JSON text verbatim with serde_json, the way its `RawValue` does (a one-field
/// struct under the raw-value token), without boxing a `RawValue` per value.
struct RawRef<'a>(&'a str);

impl Serialize for RawRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut raw = serializer.serialize_struct(SERDE_JSON_RAW_VALUE_TOKEN, 1)?;
        raw.serialize_field(SERDE_JSON_RAW_VALUE_TOKEN, self.0)?;
        raw.end()
    }
}

/// Serializes the unknown fields as map entries (generated structs flatten them in, which
/// costs nothing on the serializing side).
impl Serialize for UnknownFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.len()))?;
        self.serialize_into(&mut map)?;
        map.end()
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

/// Serializes the exact text (through serde_json's raw values).
impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawRef(&self.to_string()).serialize(serializer)
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
        fields.insert_raw("a", " 1.50 ").unwrap();
        fields.insert("b", &Value::from("x"));
        fields.insert_raw("a", "[1.0]").unwrap();
        assert!(fields.insert_raw("c", "[1.0").is_err());
        assert_eq!(fields.get_raw("a"), Some("[1.0]"));
        assert_eq!(
            fields.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let mut keys = Vec::new();
        for (key, raw) in &fields {
            keys.push(format!("{key}:{raw}"));
        }
        assert_eq!(keys, ["a:[1.0]", r#"b:"x""#]);
        assert_eq!(fields.remove("a").as_deref(), Some("[1.0]"));
        assert_eq!(fields.len(), 1);
        assert_eq!(format!("{fields:?}"), r#"{"b": "\"x\""}"#);
        let raw: RawJson = serde_json::from_str(r#"{"x": 1.0}"#).unwrap();
        assert_eq!(serde_json::to_string(&raw).unwrap(), r#"{"x": 1.0}"#);
    }
}
