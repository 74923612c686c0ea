//! A tabular view of records, for CSV export.
//!
//! Columns are the schema's entries in schema order, headed by their wire keys, then unknown
//! fields in the order they were first seen. A nested array is one cell holding the array's
//! JSON text: it keeps every element and field losslessly, in one column whatever the element
//! count, and spreadsheet users can still read it; exploding arrays into rows or numbered
//! columns would either repeat the parent or make the column set depend on the data.

use std::sync::Arc;

use crate::record::Value;
use crate::record::{Record, RecordSchema};

/// Which columns a table has.
///
/// ```
/// use kiss_dynamic::{Decoder, SchemaDocument, TableLayout};
/// let schema = SchemaDocument::from_json(r#"{"endpoint":"/prices","apiVersion":"2026-04",
///   "fields":[{"name":"sKU","type":"string"},{"name":"priceExclVAT","type":"decimal"}]}"#).unwrap();
/// let decoder = Decoder::new(&schema);
/// let record = decoder.decode_record(br#"{"SKU":"A","PriceExclVAT":2.4500,"Promo":true}"#).unwrap();
/// let mut layout = TableLayout::new(decoder.record_schema().clone());
/// layout.observe(&record);
/// assert_eq!(layout.headers().collect::<Vec<_>>(), ["SKU", "PriceExclVAT", "Promo"]);
/// assert_eq!(layout.row(&record), ["A", "2.4500", "true"]);
/// ```
#[derive(Debug, Clone)]
pub struct TableLayout {
    schema: Arc<RecordSchema>,
    unknown: Vec<String>,
}

impl TableLayout {
    /// The schema's columns only.
    pub fn new(schema: Arc<RecordSchema>) -> TableLayout {
        TableLayout {
            schema,
            unknown: Vec::new(),
        }
    }

    /// Adds a column for each unknown field of `record` not seen before; how many were added.
    pub fn observe(&mut self, record: &Record) -> usize {
        let before = self.unknown.len();
        for (key, _) in record.unknown_fields() {
            if !self.unknown.iter().any(|k| k == key) {
                self.unknown.push(key.to_owned());
            }
        }
        self.unknown.len() - before
    }

    /// Column headers: wire keys in schema order, then unknown fields.
    pub fn headers(&self) -> impl Iterator<Item = &str> {
        self.schema
            .entries()
            .iter()
            .map(|e| e.wire_key.as_str())
            .chain(self.unknown.iter().map(String::as_str))
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.schema.entries().len() + self.unknown.len()
    }

    /// Whether there are no columns.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One cell per column for `record`; absent and null are empty cells.
    pub fn row(&self, record: &Record) -> Vec<String> {
        let known = self
            .schema
            .entries()
            .iter()
            .map(|e| record.get(&e.wire_key));
        let unknown = self.unknown.iter().map(|k| record.get(k));
        known
            .chain(unknown)
            .map(|value| value.map(cell).unwrap_or_default())
            .collect()
    }
}

/// The text of one value in a cell: strings as they are, numbers exactly as written, booleans
/// `true`/`false`, dates `YYYY-MM-DD`, null empty, arrays and untyped JSON as JSON text.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.to_string(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        other => other.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decoder, SchemaDocument};

    #[test]
    fn columns_follow_the_schema_then_unknown_fields_as_first_seen() {
        let schema = SchemaDocument::from_json(kiss_schema::contract::PRODUCTS_SCHEMA).unwrap();
        let decoder = Decoder::new(&schema);
        let first = decoder
            .decode_record(br#"{"SKU":"A","Name":null,"ProductImages":[{"ImageID":"I1","IsPrimaryImage":true}],"Eco":1.50}"#)
            .unwrap();
        let second = decoder
            .decode_record(br#"{"SKU":"B","Launch":"2027-01-01","Eco":2,"CartonQty":6}"#)
            .unwrap();
        let mut layout = TableLayout::new(decoder.record_schema().clone());
        assert_eq!(layout.observe(&first), 1);
        assert_eq!(layout.observe(&second), 1);
        assert_eq!(layout.observe(&second), 0);
        let headers: Vec<&str> = layout.headers().collect();
        assert_eq!(headers.len(), 29 + 5 + 2);
        assert_eq!(headers[0], "SKU");
        assert_eq!(headers[26], "HSCode");
        assert_eq!(headers[29], "ProductImages");
        assert_eq!(&headers[34..], ["Eco", "Launch"]);
        let row = layout.row(&first);
        assert_eq!(row.len(), layout.len());
        assert_eq!(row[0], "A");
        assert_eq!(row[1], "", "null is an empty cell");
        assert_eq!(row[29], r#"[{"ImageID":"I1","IsPrimaryImage":true}]"#);
        assert_eq!(row[30], "", "an absent array is an empty cell");
        assert_eq!(row[34], "1.50", "decimals exactly as written");
        let row = layout.row(&second);
        assert_eq!(
            (row[20].as_str(), row[34].as_str(), row[35].as_str()),
            ("6", "2", "2027-01-01")
        );
    }
}
