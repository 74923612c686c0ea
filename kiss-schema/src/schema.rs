//! The parsed form of a Kiss schema document.
//!
//! ```json
//! { "endpoint": "/products", "apiVersion": "2026-04",
//!   "fields": [ { "name": "sKU", "type": "string", "required": true } ],
//!   "arrays": { "productImages": { "fields": [ { "name": "imageID", "type": "string" } ] } } }
//! ```
//!
//! Parsing is tolerant the way the API's versioning demands: unknown type strings are kept
//! verbatim ([`FieldType::Other`]), an absent `required` means not required, unknown keys are
//! ignored, and the order of `fields` and of `arrays` is kept (it is the schema order that
//! records, generated structs and CSV columns follow).

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::names::wire_key;

/// A schema document that could not be read.
#[derive(Debug, Error)]
pub enum SchemaError {
    /// The text is not JSON, or not a schema document (with the line and column serde saw).
    #[error("not a Kiss schema document: {source} (expected an object with \"endpoint\", \"apiVersion\", \"fields\" and optionally \"arrays\")")]
    Malformed {
        /// What serde reported, with its position.
        #[from]
        source: serde_json::Error,
    },
}

/// The declared type of a field. Types the docs do not name are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// `string`: text, including numeric-looking codes (`Barcode`, `HSCode`).
    String,
    /// `decimal`: an exact decimal number (money, measures). Never a float.
    Decimal,
    /// `integer`: a whole number.
    Integer,
    /// `boolean`.
    Boolean,
    /// `date`: `YYYY-MM-DD`.
    Date,
    /// Any other type string, verbatim; values of it are handled as untyped JSON.
    Other(String),
}

impl FieldType {
    /// The type as the schema document spells it.
    pub fn as_str(&self) -> &str {
        match self {
            FieldType::String => "string",
            FieldType::Decimal => "decimal",
            FieldType::Integer => "integer",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Other(other) => other,
        }
    }

    /// Reads a type string; anything unknown becomes [`FieldType::Other`].
    pub fn parse(text: &str) -> FieldType {
        match text {
            "string" => FieldType::String,
            "decimal" => FieldType::Decimal,
            "integer" => FieldType::Integer,
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Date,
            other => FieldType::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FieldType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FieldType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(FieldType::parse(&text))
    }
}

/// One field of a record or of a nested array element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSchema {
    /// The name as the schema document reports it (`sKU`).
    pub name: String,
    /// The key the data uses (`SKU`): see [`wire_key`].
    pub wire_key: String,
    /// The declared type.
    pub field_type: FieldType,
    /// Whether the document says `"required": true`. Absent means not required.
    pub required: bool,
}

impl FieldSchema {
    /// A field from its schema name; the wire key is derived by the first-letter rule.
    pub fn new(name: impl Into<String>, field_type: FieldType, required: bool) -> FieldSchema {
        let name = name.into();
        FieldSchema {
            wire_key: wire_key(&name),
            name,
            field_type,
            required,
        }
    }

    /// Whether `key` names this field: its wire key, or its schema name verbatim (so that a
    /// later profile that fixes the casing quirk breaks nothing).
    pub fn matches_key(&self, key: &str) -> bool {
        self.wire_key == key || self.name == key
    }
}

/// One nested array property of a record and the fields of its elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArraySchema {
    /// The schema name (`productImages`).
    pub name: String,
    /// The data key (`ProductImages`).
    pub wire_key: String,
    /// The element fields, in schema order.
    pub fields: Vec<FieldSchema>,
}

impl ArraySchema {
    /// A nested array from its schema name (the wire key follows from it).
    pub fn new(name: impl Into<String>, fields: Vec<FieldSchema>) -> ArraySchema {
        let name = name.into();
        ArraySchema {
            wire_key: wire_key(&name),
            name,
            fields,
        }
    }

    /// The element field named `key` (wire key or schema name).
    pub fn field(&self, key: &str) -> Option<&FieldSchema> {
        find_field(&self.fields, key)
    }

    /// Whether `key` names this array (wire key or schema name).
    pub fn matches_key(&self, key: &str) -> bool {
        self.wire_key == key || self.name == key
    }
}

/// A parsed schema document for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDocument {
    /// The endpoint the document describes (`/products`).
    pub endpoint: String,
    /// The API profile (`2026-04`).
    pub api_version: String,
    /// A note about the document, when it has one (our hand-written `/prices` schema says
    /// where it came from). Not part of the API's format; kept when writing documents out.
    pub description: Option<String>,
    /// The top-level scalar fields, in schema order.
    pub fields: Vec<FieldSchema>,
    /// The nested array properties, in document order.
    pub arrays: Vec<ArraySchema>,
}

impl SchemaDocument {
    /// Parses a schema document from JSON text.
    ///
    /// ```
    /// use kiss_schema::{FieldType, SchemaDocument};
    /// let doc = SchemaDocument::from_json(r#"{"endpoint":"/stock","apiVersion":"2026-04",
    ///     "fields":[{"name":"sKU","type":"string","required":true},
    ///               {"name":"colourHex","type":"rgb"}]}"#).unwrap();
    /// assert_eq!(doc.fields[0].wire_key, "SKU");
    /// assert_eq!(doc.fields[1].field_type, FieldType::Other("rgb".into()));
    /// assert!(!doc.fields[1].required);
    /// ```
    pub fn from_json(text: &str) -> Result<SchemaDocument, SchemaError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Parses a schema document from JSON bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<SchemaDocument, SchemaError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The document as pretty JSON in the endpoint's own format, fields and arrays in schema
    /// order, every field with an explicit `required`: stable output for files kept in git.
    pub fn to_pretty_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .unwrap_or_else(|_| unreachable!("a schema document always serializes"));
        text.push('\n');
        text
    }

    /// The top-level field named `key` (wire key or schema name).
    pub fn field(&self, key: &str) -> Option<&FieldSchema> {
        find_field(&self.fields, key)
    }

    /// The nested array named `key` (wire key or schema name).
    pub fn array(&self, key: &str) -> Option<&ArraySchema> {
        self.arrays.iter().find(|a| a.matches_key(key))
    }

    /// The last path segment of the endpoint (`products` for `/products`).
    pub fn endpoint_name(&self) -> &str {
        self.endpoint
            .trim_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
    }
}

fn find_field<'a>(fields: &'a [FieldSchema], key: &str) -> Option<&'a FieldSchema> {
    fields
        .iter()
        .find(|f| f.wire_key == key)
        .or_else(|| fields.iter().find(|f| f.name == key))
}

// ---- serde ------------------------------------------------------------------------------

#[derive(Deserialize, Serialize)]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    field_type: FieldType,
    #[serde(default, deserialize_with = "null_as_false")]
    required: bool,
}

fn null_as_false<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(false))
}

#[derive(Deserialize, Serialize)]
struct RawArray {
    #[serde(default)]
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
struct RawDocument {
    endpoint: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    fields: Vec<RawField>,
    #[serde(default)]
    arrays: OrderedArrays,
}

/// `arrays` is a JSON object whose key order is the schema order; serde_json's `Map` would
/// sort it (without the `preserve_order` feature), so it is read entry by entry.
#[derive(Default)]
struct OrderedArrays(Vec<(String, RawArray)>);

impl<'de> Deserialize<'de> for OrderedArrays {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArraysVisitor;
        impl<'de> Visitor<'de> for ArraysVisitor {
            type Value = OrderedArrays;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of nested array schemas, or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<OrderedArrays, E> {
                Ok(OrderedArrays::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedArrays, A::Error> {
                let mut entries = Vec::new();
                while let Some((name, array)) = map.next_entry::<String, RawArray>()? {
                    entries.push((name, array));
                }
                Ok(OrderedArrays(entries))
            }
        }
        deserializer.deserialize_any(ArraysVisitor)
    }
}

impl From<RawField> for FieldSchema {
    fn from(raw: RawField) -> FieldSchema {
        FieldSchema::new(raw.name, raw.field_type, raw.required)
    }
}

impl<'de> Deserialize<'de> for SchemaDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawDocument::deserialize(deserializer)?;
        Ok(SchemaDocument {
            endpoint: raw.endpoint,
            api_version: raw.api_version,
            description: raw.description,
            fields: raw.fields.into_iter().map(FieldSchema::from).collect(),
            arrays: raw
                .arrays
                .0
                .into_iter()
                .map(|(name, array)| ArraySchema {
                    wire_key: wire_key(&name),
                    name,
                    fields: array.fields.into_iter().map(FieldSchema::from).collect(),
                })
                .collect(),
        })
    }
}

struct FieldsOut<'a>(&'a [FieldSchema]);

impl Serialize for FieldsOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeSeq, SerializeStruct};
        struct One<'a>(&'a FieldSchema);
        impl Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut s = serializer.serialize_struct("Field", 3)?;
                s.serialize_field("name", &self.0.name)?;
                s.serialize_field("type", &self.0.field_type)?;
                s.serialize_field("required", &self.0.required)?;
                s.end()
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for field in self.0 {
            seq.serialize_element(&One(field))?;
        }
        seq.end()
    }
}

impl Serialize for SchemaDocument {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeStruct};
        struct Arrays<'a>(&'a [ArraySchema]);
        impl Serialize for Arrays<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                struct Element<'a>(&'a ArraySchema);
                impl Serialize for Element<'_> {
                    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                        let mut s = serializer.serialize_struct("Array", 1)?;
                        s.serialize_field("fields", &FieldsOut(&self.0.fields))?;
                        s.end()
                    }
                }
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for array in self.0 {
                    map.serialize_entry(&array.name, &Element(array))?;
                }
                map.end()
            }
        }
        let len =
            3 + usize::from(!self.arrays.is_empty()) + usize::from(self.description.is_some());
        let mut s = serializer.serialize_struct("SchemaDocument", len)?;
        s.serialize_field("endpoint", &self.endpoint)?;
        s.serialize_field("apiVersion", &self.api_version)?;
        if let Some(description) = &self.description {
            s.serialize_field("description", description)?;
        }
        s.serialize_field("fields", &FieldsOut(&self.fields))?;
        if !self.arrays.is_empty() {
            s.serialize_field("arrays", &Arrays(&self.arrays))?;
        }
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCTS: &str = crate::contract::PRODUCTS_SCHEMA;

    #[test]
    fn parses_the_documented_products_schema_in_order() {
        let doc = SchemaDocument::from_json(PRODUCTS).unwrap();
        assert_eq!(doc.endpoint, "/products");
        assert_eq!(doc.endpoint_name(), "products");
        assert_eq!(doc.api_version, "2026-04");
        assert_eq!(doc.fields.len(), 29);
        assert_eq!(doc.fields[0].wire_key, "SKU");
        assert!(doc.fields[0].required);
        assert_eq!(
            doc.fields.last().unwrap().wire_key,
            "ProductCompositionText"
        );
        let arrays: Vec<_> = doc.arrays.iter().map(|a| a.wire_key.as_str()).collect();
        assert_eq!(
            arrays,
            [
                "ProductImages",
                "ProductAccessories",
                "ProductSubstitutions",
                "ProductComposition",
                "ProductPrices"
            ]
        );
        // Nested fields that omit `required` are not required.
        let accessories = doc.array("productAccessories").unwrap();
        assert!(!accessories.fields[0].required);
        assert_eq!(
            doc.array("ProductComposition").unwrap().fields[2].field_type,
            FieldType::Decimal
        );
        assert_eq!(doc.field("hSCode").unwrap().wire_key, "HSCode");
        assert_eq!(doc.field("HSCode").unwrap().name, "hSCode");
    }

    #[test]
    fn the_checked_in_prices_schema_matches_the_example_prices() {
        let doc = SchemaDocument::from_json(crate::contract::PRICES_SCHEMA).unwrap();
        assert_eq!(doc.endpoint, "/prices");
        let data: serde_json::Value =
            serde_json::from_str(crate::contract::PRICES_EXAMPLE).unwrap();
        let keys: Vec<&str> = data[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut wire: Vec<&str> = doc.fields.iter().map(|f| f.wire_key.as_str()).collect();
        wire.sort_unstable();
        assert_eq!(keys, wire, "serde_json's map is sorted, so compare sorted");
    }

    #[test]
    fn tolerates_unknown_types_keys_and_missing_parts() {
        let doc = SchemaDocument::from_json(
            r#"{"endpoint":"/x","apiVersion":"2027-01","deprecated":[1,2],"extra":{"a":1},
                "fields":[{"name":"a","type":"geo-point","required":null,"format":"wkt"}],
                "arrays":null}"#,
        )
        .unwrap();
        assert_eq!(
            doc.fields[0].field_type,
            FieldType::Other("geo-point".into())
        );
        assert!(!doc.fields[0].required);
        assert!(doc.arrays.is_empty());
        let doc = SchemaDocument::from_json(r#"{"endpoint":"/y","apiVersion":"1"}"#).unwrap();
        assert!(doc.fields.is_empty());
    }

    #[test]
    fn rejects_what_is_not_a_schema_document_with_position() {
        let err = SchemaDocument::from_json("{\"endpoint\": 3}").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(SchemaDocument::from_json("[]").is_err());
        assert!(SchemaDocument::from_json("{\"endpoint\":\"/a\"}")
            .unwrap_err()
            .to_string()
            .contains("apiVersion"));
    }

    #[test]
    fn pretty_json_round_trips_and_keeps_order() {
        let doc = SchemaDocument::from_json(PRODUCTS).unwrap();
        let text = doc.to_pretty_json();
        assert_eq!(SchemaDocument::from_json(&text).unwrap(), doc);
        let images = text.find("productImages").unwrap();
        let prices = text.find("productPrices").unwrap();
        assert!(images < prices);
        assert!(text.find("\"sKU\"").unwrap() < text.find("\"name\": \"name\"").unwrap());
    }
}
