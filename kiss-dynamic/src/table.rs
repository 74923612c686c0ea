//! A tabular view of records, for CSV export.
//!
//! The columns are fixed before the first row, so a table streams: the schema's entries in
//! schema order, headed by their wire keys (a wire key listed twice is one column), then one
//! last column, `_extra`, holding the record's fields the schema does not know as one compact
//! JSON object (empty when there are none). Nothing the API sends is lost, and the cost of a
//! row does not grow with the number of distinct unknown keys seen so far.
//!
//! A nested array is one cell holding the array's JSON text: it keeps every element and field
//! losslessly, in one column whatever the element count, and spreadsheet users can still read
//! it; exploding arrays into rows or numbered columns would either repeat the parent or make
//! the column set depend on the data.

use std::collections::HashSet;
use std::sync::Arc;

use kiss_schema::FieldType;

use crate::raw::RawRecord;
use crate::record::write_json_str;
use crate::record::{EntryKind, Record, RecordSchema, Value};

/// The header of the last column, which holds the fields the schema does not know. (Named
/// with a leading underscore, which the API's PascalCase wire keys never have; should a schema
/// list it anyway, the column takes a longer name.)
pub const EXTRA_COLUMN: &str = "_extra";

/// Which columns a table has.
///
/// ```
/// use kiss_dynamic::{Decoder, SchemaDocument, TableLayout};
/// let schema = SchemaDocument::from_json(r#"{"endpoint":"/prices","apiVersion":"2026-04",
///   "fields":[{"name":"sKU","type":"string"},{"name":"priceExclVAT","type":"decimal"}]}"#).unwrap();
/// let decoder = Decoder::new(&schema);
/// let record = decoder.decode_record(br#"{"SKU":"A","PriceExclVAT":2.4500,"Promo":true}"#).unwrap();
/// let layout = TableLayout::new(decoder.record_schema().clone());
/// assert_eq!(layout.headers().collect::<Vec<_>>(), ["SKU", "PriceExclVAT", "_extra"]);
/// assert_eq!(layout.row(&record), ["A", "2.4500", r#"{"Promo":true}"#]);
/// ```
#[derive(Debug, Clone)]
pub struct TableLayout {
    schema: Arc<RecordSchema>,
    /// The wire keys of the columns before the extra one, each once, in schema order.
    columns: Vec<String>,
    /// For each column, the position of its (first) entry, and whether its cells are JSON
    /// text whatever the value (entries of a type this crate does not know).
    sources: Vec<(usize, bool)>,
    extra: String,
}

impl TableLayout {
    /// The columns of `schema`'s records.
    pub fn new(schema: Arc<RecordSchema>) -> TableLayout {
        let mut seen = HashSet::with_capacity(schema.entries().len());
        let columns: Vec<String> = schema
            .entries()
            .iter()
            .filter(|entry| seen.insert(entry.wire_key.as_str()))
            .map(|entry| entry.wire_key.clone())
            .collect();
        let sources = columns
            .iter()
            .filter_map(|key| {
                let position = schema.position(key)?;
                let json = matches!(
                    schema.entries().get(position).map(|e| &e.kind),
                    Some(EntryKind::Scalar(FieldType::Other(_)))
                );
                Some((position, json))
            })
            .collect();
        let mut extra = EXTRA_COLUMN.to_owned();
        while seen.contains(extra.as_str()) {
            extra.insert(0, '_');
        }
        TableLayout {
            schema,
            columns,
            sources,
            extra,
        }
    }

    /// Column headers: wire keys in schema order, then the extra column.
    pub fn headers(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(self.extra.as_str()))
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len() + 1
    }

    /// Whether there are no columns (never: the extra column is always there).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The schema the columns come from.
    pub fn schema(&self) -> &Arc<RecordSchema> {
        &self.schema
    }

    /// One cell per column for `record`; absent and null are empty cells, and the last cell is
    /// the record's unknown fields as one JSON object (empty when it has none).
    pub fn row(&self, record: &Record) -> Vec<String> {
        let mut row: Vec<String> = self
            .columns
            .iter()
            .map(|key| record.value(key).map(cell).unwrap_or_default())
            .collect();
        row.push(extra_cell(record));
        row
    }
}

impl TableLayout {
    /// Hands `cell` the text of each cell of `record`'s row, in column order: the same cells
    /// as [`TableLayout::row`] of the decoded record, taken from the record's text (strings
    /// unescaped, numbers as written, arrays and untyped JSON compacted, unknown fields as one
    /// JSON object with their keys and values as they came). `scratch` holds the cells that
    /// are not a slice of the input as they are (escaped strings, JSON with whitespace, the
    /// extra column); nothing is allocated per cell.
    pub fn raw_cells<E>(
        &self,
        record: &RawRecord<'_>,
        scratch: &mut Vec<u8>,
        mut cell: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        for &(position, json) in &self.sources {
            let Some(value) = record.value_at(position) else {
                cell(b"")?;
                continue;
            };
            let text = value.json();
            match text.as_bytes().first() {
                None | Some(b'n') => cell(b"")?,
                Some(b'"') if !json => match value.as_str() {
                    Some(s) => cell(s.as_bytes())?,
                    None => cell(text.as_bytes())?,
                },
                Some(b'[' | b'{' | b'"') if value.is_compact() => cell(text.as_bytes())?,
                Some(b'[' | b'{' | b'"') => {
                    scratch.clear();
                    value.write_compact(scratch);
                    cell(scratch)?;
                }
                Some(_) => cell(text.as_bytes())?,
            }
        }
        scratch.clear();
        for (key, value) in record.unknown_fields() {
            scratch.push(if scratch.is_empty() { b'{' } else { b',' });
            scratch.push(b'"');
            scratch.extend_from_slice(key.as_bytes());
            scratch.extend_from_slice(b"\":");
            value.write_compact(scratch);
        }
        if !scratch.is_empty() {
            scratch.push(b'}');
        }
        cell(scratch)
    }
}

/// The fields of `record` the schema does not know, as one compact JSON object; empty when
/// there are none.
fn extra_cell(record: &Record) -> String {
    let mut out = Vec::new();
    for (key, value) in record.unknown_fields() {
        out.push(if out.is_empty() { b'{' } else { b',' });
        write_json_str(&mut out, key);
        out.push(b':');
        value.write_json(&mut out);
    }
    if !out.is_empty() {
        out.push(b'}');
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The text of one value in a cell: strings as they are, numbers exactly as written, booleans
/// `true`/`false`, dates `YYYY-MM-DD`, null empty, arrays and untyped JSON as compact JSON.
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
    fn columns_follow_the_schema_then_one_extra_column() {
        let schema = SchemaDocument::from_json(kiss_schema::contract::PRODUCTS_SCHEMA).unwrap();
        let decoder = Decoder::new(&schema);
        let first = decoder
            .decode_record(br#"{"SKU":"A","Name":null,"ProductImages":[{"ImageID":"I1","IsPrimaryImage":true}],"Eco":1.50}"#)
            .unwrap();
        let second = decoder
            .decode_record(br#"{"SKU":"B","Launch":"2027-01-01","Eco":2,"CartonQty":6}"#)
            .unwrap();
        let layout = TableLayout::new(decoder.record_schema().clone());
        let headers: Vec<&str> = layout.headers().collect();
        assert_eq!(headers.len(), 29 + 5 + 1);
        assert_eq!(headers[0], "SKU");
        assert_eq!(headers[26], "HSCode");
        assert_eq!(headers[29], "ProductImages");
        assert_eq!(headers[34], "_extra");
        let row = layout.row(&first);
        assert_eq!(row.len(), layout.len());
        assert_eq!(row[0], "A");
        assert_eq!(row[1], "", "null is an empty cell");
        assert_eq!(row[29], r#"[{"ImageID":"I1","IsPrimaryImage":true}]"#);
        assert_eq!(row[30], "", "an absent array is an empty cell");
        assert_eq!(row[34], r#"{"Eco":1.50}"#, "decimals exactly as written");
        let row = layout.row(&second);
        assert_eq!(
            (row[20].as_str(), row[34].as_str()),
            ("6", r#"{"Launch":"2027-01-01","Eco":2}"#)
        );
    }

    #[test]
    fn a_wire_key_listed_twice_is_one_column_and_extra_never_collides() {
        let schema = SchemaDocument::from_json(
            r#"{"endpoint":"/x","apiVersion":"1","fields":[{"name":"sKU","type":"string"},
               {"name":"SKU","type":"string"},{"name":"_extra","type":"string"}]}"#,
        )
        .unwrap();
        let layout = TableLayout::new(Decoder::new(&schema).record_schema().clone());
        assert_eq!(
            layout.headers().collect::<Vec<_>>(),
            ["SKU", "_extra", "__extra"]
        );
    }
}
