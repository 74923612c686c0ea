//! Rows from records: the cells of an endpoint's row and of its children's rows, read straight
//! from the record's text; the natural key; the fingerprint that tells whether a record
//! changed; and what moved between a stored row and a new one.

use std::borrow::Cow;

use kiss_dynamic::{EntryKind, RawRecord, RawStream, RawValue};
use kiss_schema::Endpoint;

use crate::layout::{natural_key, ColumnType, StoredColumn, Table};

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell<'a> {
    /// SQL NULL: the field was absent, null, or its column no longer receives values.
    Null,
    /// Integers and booleans (0 or 1).
    Integer(i64),
    /// Everything else as text: strings, exact decimals, dates, JSON.
    Text(Cow<'a, str>),
}

impl Cell<'_> {
    /// The same cell, owning its text.
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Integer(n) => Cell::Integer(n),
            Cell::Text(text) => Cell::Text(Cow::Owned(text.into_owned())),
        }
    }

    /// The cell as JSON text for a column of `column_type` (booleans as `true`/`false`,
    /// decimals and integers as numbers, JSON as it is, the rest as strings).
    pub fn to_json(&self, column_type: ColumnType) -> String {
        match (self, column_type) {
            (Cell::Null, _) => "null".to_owned(),
            (Cell::Integer(n), ColumnType::Boolean) if *n == 0 || *n == 1 => (*n == 1).to_string(),
            (Cell::Integer(n), _) => n.to_string(),
            (Cell::Text(text), ColumnType::Json) => text.to_string(),
            (Cell::Text(text), ColumnType::Decimal) if is_number(text) => text.to_string(),
            (Cell::Text(text), _) => serde_json::to_string(text.as_ref()).unwrap_or_default(),
        }
    }

    /// The cell as people read it in `kiss changes`: `None` for NULL.
    pub fn to_text(&self, column_type: ColumnType) -> Option<String> {
        match (self, column_type) {
            (Cell::Null, _) => None,
            (Cell::Integer(n), ColumnType::Boolean) if *n == 0 || *n == 1 => {
                Some((*n == 1).to_string())
            }
            (Cell::Integer(n), _) => Some(n.to_string()),
            (Cell::Text(text), ColumnType::Json) => Some(canonical_json(text)),
            (Cell::Text(text), _) => Some(text.to_string()),
        }
    }

    /// Whether two cells of a column of `column_type` hold the same value: JSON by its
    /// meaning, not its spelling (a database may keep an object's members in another order).
    pub fn same_as(&self, other: &Cell<'_>, column_type: ColumnType) -> bool {
        match (self, other) {
            (Cell::Text(a), Cell::Text(b)) if column_type == ColumnType::Json && a != b => {
                canonical_json(a) == canonical_json(b)
            }
            _ => self == other,
        }
    }
}

/// JSON text in one spelling: compact, object members sorted by key, strings with the
/// fewest escapes, numbers exactly as written (`1.50` stays `1.50`), so that the same value
/// reads the same from every engine (`{"b":1, "a":[1, 2]}` is `{"a":[1,2],"b":1}`). Text that
/// is not JSON is returned as it is.
pub fn canonical_json(text: &str) -> String {
    use serde_json::value::RawValue;
    fn write(raw: &str, out: &mut String) -> Result<(), serde_json::Error> {
        let raw = raw.trim();
        match raw.as_bytes().first() {
            Some(b'{') => {
                // Sorted, and a repeated key keeps its last value (as JSONB does).
                let members: std::collections::BTreeMap<String, &RawValue> =
                    serde_json::from_str(raw)?;
                out.push('{');
                for (i, (key, member)) in members.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(&key)?);
                    out.push(':');
                    write(member.get(), out)?;
                }
                out.push('}');
            }
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(raw)?;
                out.push('[');
                for (i, item) in items.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item.get(), out)?;
                }
                out.push(']');
            }
            Some(b'"') => {
                let string: String = serde_json::from_str(raw)?;
                out.push_str(&serde_json::to_string(&string)?);
            }
            _ => {
                // Numbers, booleans and null, as written.
                let _: &RawValue = serde_json::from_str(raw)?;
                out.push_str(raw);
            }
        }
        Ok(())
    }
    let mut out = String::with_capacity(text.len());
    match write(text, &mut out) {
        Ok(()) => out,
        Err(_) => text.to_owned(),
    }
}

fn is_number(text: &str) -> bool {
    serde_json::from_str::<serde_json::Number>(text).is_ok()
}

/// The cell of one value (as the record's text has it) in a column of `column_type`: strings
/// unescaped (borrowed unless they have escapes), booleans 0 or 1, integral numbers as
/// integers except in decimal columns, other numbers as their exact text, arrays and objects
/// (and any value of a type this version does not know) as compact JSON.
pub fn cell<'a>(value: RawValue<'a>, column_type: ColumnType) -> Cell<'a> {
    let text = value.json();
    match text.as_bytes().first() {
        None | Some(b'n') => Cell::Null,
        _ if column_type == ColumnType::Json => Cell::Text(value.compact()),
        Some(b'"') => Cell::Text(value.as_str().unwrap_or(Cow::Borrowed(text))),
        Some(b't') => Cell::Integer(1),
        Some(b'f') => Cell::Integer(0),
        Some(b'[' | b'{') => Cell::Text(value.compact()),
        Some(_) if column_type == ColumnType::Decimal => Cell::Text(Cow::Borrowed(text)),
        Some(_) => match integer(text) {
            Some(n) => Cell::Integer(n),
            None => Cell::Text(Cow::Borrowed(text)),
        },
    }
}

/// A JSON number written as an integer that fits in 64 bits.
fn integer(text: &str) -> Option<i64> {
    if text.contains(['.', 'e', 'E']) || text == "-0" {
        return None;
    }
    text.parse().ok()
}

/// A record's natural key: its bytes, what the mirror matches on ([`Key::display`] says how
/// it reads: `DRAC001 / UK01`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// Each component's text, length-prefixed: unambiguous whatever the text holds.
    pub bytes: Box<[u8]>,
}

impl Key {
    /// The key of components given as text.
    pub fn from_parts<'a>(parts: impl IntoIterator<Item = &'a str>) -> Key {
        let mut bytes = Vec::new();
        for part in parts {
            let length = u32::try_from(part.len()).unwrap_or(u32::MAX);
            bytes.extend_from_slice(&length.to_le_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
        Key {
            bytes: bytes.into_boxed_slice(),
        }
    }

    /// The components as people read them, joined by ` / ` (made only when asked for: most
    /// keys are never shown).
    pub fn display(&self) -> String {
        Key::display_of(&self.bytes)
    }

    /// How the key with these bytes reads (`DRAC001 / UK01`).
    pub fn display_of(mut bytes: &[u8]) -> String {
        let mut parts = Vec::new();
        while let Some((length, rest)) = bytes.split_first_chunk::<4>() {
            let length = u32::from_le_bytes(*length) as usize;
            let part = rest.get(..length).unwrap_or(rest);
            // A NUL reads as U+FFFD, as in every text `kiss changes` shows.
            parts.push(String::from_utf8_lossy(part).replace('\0', "\u{FFFD}"));
            bytes = rest.get(length..).unwrap_or_default();
        }
        parts.join(" / ")
    }
}

/// The natural key of `record`, read from its text: `None` when a component is absent or
/// null (such a record cannot be merged, and is reported).
pub fn key_of(record: &RawRecord<'_>, endpoint: Endpoint) -> Option<Key> {
    let positions: Vec<Option<usize>> = natural_key(endpoint)
        .iter()
        .map(|k| record.schema().position(k))
        .collect();
    key_at(record, &positions)
}

/// [`key_of`] with the key fields' positions in the record's schema looked up beforehand.
pub fn key_at(record: &RawRecord<'_>, positions: &[Option<usize>]) -> Option<Key> {
    let mut bytes = Vec::new();
    key_into(record, positions, &mut bytes).then(|| Key {
        bytes: bytes.into_boxed_slice(),
    })
}

/// [`key_at`] into a buffer the caller keeps (a sync looks up every record's key, and keeps
/// few): whether the record has a key.
pub fn key_into(record: &RawRecord<'_>, positions: &[Option<usize>], out: &mut Vec<u8>) -> bool {
    out.clear();
    for position in positions {
        let Some(value) = position.and_then(|p| record.value_at(p)) else {
            return false;
        };
        if value.is_null() {
            return false;
        }
        let text = value.as_str();
        let part = text.as_deref().unwrap_or(value.json());
        let length = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    true
}

/// A record's fingerprint: a 128-bit hash of its compact text. Equal fingerprints, same
/// record; the mirror writes nothing for it.
pub fn fingerprint(compact: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(compact).to_le_bytes()
}

/// One row's data: a cell per column of its table, and the unknown fields as one JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowData<'a> {
    /// One per column of the table, in order.
    pub cells: Vec<Cell<'a>>,
    /// The fields the table has no column for (and repeats of fields it has), as one compact
    /// JSON object with their keys and values as they came.
    pub extra: Option<String>,
}

impl RowData<'_> {
    /// The same row, owning its text.
    pub fn into_owned(self) -> RowData<'static> {
        RowData {
            cells: self.cells.into_iter().map(Cell::into_owned).collect(),
            extra: self.extra,
        }
    }
}

/// Where each column's value is in a record of `schema`: the position of its wire key, looked
/// up once per sync rather than once per cell.
pub fn positions(table: &Table, schema: &kiss_dynamic::RecordSchema) -> Vec<Option<usize>> {
    table
        .columns
        .iter()
        .map(|column| {
            column
                .active
                .then(|| schema.position(&column.wire_key))
                .flatten()
        })
        .collect()
}

/// The row of `table` for `record`: each active column's value, NULL for columns that no
/// longer receive values, and the unknown fields. `positions` come from [`positions`] for the
/// record's schema.
pub fn row_of<'a>(
    table: &Table,
    positions: &[Option<usize>],
    record: &RawRecord<'a>,
) -> RowData<'a> {
    let cells = table
        .columns
        .iter()
        .zip(positions)
        .map(
            |(column, position)| match position.and_then(|p| record.value_at(p)) {
                Some(value) => cell(value, column.column_type),
                None => Cell::Null,
            },
        )
        .collect();
    RowData {
        cells,
        extra: extra_json(record),
    }
}

/// The unknown fields of `record` (and repeats of known ones) as one compact JSON object with
/// their keys and values as they came; `None` when there are none.
pub fn extra_json(record: &RawRecord<'_>) -> Option<String> {
    let mut out = Vec::new();
    for (key, value) in record.unknown_fields() {
        out.push(if out.is_empty() { b'{' } else { b',' });
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        value.write_compact(&mut out);
    }
    if out.is_empty() {
        return None;
    }
    out.push(b'}');
    String::from_utf8(out).ok()
}

/// Where a nested array is in a record, and its elements' schema: looked up once per sync.
#[derive(Debug, Clone)]
pub struct NestedArray {
    /// The array's position in the record's schema.
    pub position: usize,
    /// The schema of its elements.
    pub elements: std::sync::Arc<kiss_dynamic::RecordSchema>,
}

impl NestedArray {
    /// The nested array under `array_key` in records of `schema`, if it has one.
    pub fn find(schema: &kiss_dynamic::RecordSchema, array_key: &str) -> Option<NestedArray> {
        let position = schema.position(array_key)?;
        match &schema.entries().get(position)?.kind {
            EntryKind::Array(elements) => Some(NestedArray {
                position,
                elements: elements.clone(),
            }),
            EntryKind::Scalar(_) => None,
        }
    }
}

/// The rows of a child table for the nested `array` in `record`, in order. `checker` is
/// reused from record to record. The cells borrow the record's text.
pub fn children_of<'r>(
    table: &Table,
    positions: &[Option<usize>],
    record: &RawRecord<'r>,
    array: &NestedArray,
    checker: &mut Option<RawStream>,
) -> Children<'r> {
    let Some(value) = record.value_at(array.position) else {
        return Children::Rows(Vec::new());
    };
    let text = value.json();
    if value.is_null() {
        return Children::Rows(Vec::new());
    }
    if !text.starts_with('[') {
        return Children::Unfit(value.compact().into_owned());
    }
    let checker = match checker {
        Some(checker) if std::sync::Arc::ptr_eq(checker.record_schema(), &array.elements) => {
            checker
        }
        slot => slot.insert(RawStream::for_record_schema(array.elements.clone())),
    };
    let mut rows = Vec::new();
    let checked = checker.check_array(text.as_bytes(), |element| {
        let RowData { cells, extra } = row_of(table, positions, &element);
        rows.push(RowData {
            cells: cells.into_iter().map(|c| within(text, c)).collect(),
            extra,
        });
        Ok::<(), ()>(())
    });
    // An array whose elements are not all objects has no rows: none of them, not the ones
    // before the first that is not, and its value is kept whole as it came.
    match checked {
        Ok(()) => Children::Rows(rows),
        Err(_) => Children::Unfit(value.compact().into_owned()),
    }
}

/// A nested array's rows, or its value as it came when it is not an array of objects (kept in
/// the parent row's `_extra`, under the array's wire key).
#[derive(Debug)]
pub enum Children<'r> {
    /// One row per element.
    Rows(Vec<RowData<'r>>),
    /// The value, compact, which no child table can hold.
    Unfit(String),
}

/// `extra` (a compact JSON object, or none) with one more member, `key`: `value` (JSON).
pub fn with_member(extra: Option<String>, key: &str, value: &str) -> String {
    let member = format!(
        "{}:{value}",
        serde_json::to_string(key).unwrap_or_else(|_| "\"\"".to_owned())
    );
    match extra.as_deref().and_then(|e| e.strip_suffix('}')) {
        Some(open) if open.len() > 1 => format!("{open},{member}}}"),
        _ => format!("{{{member}}}"),
    }
}

/// `cell`, whose text (when it borrows) lies in `outer`, as a cell borrowing `outer`: the
/// checker hands out elements for the length of one call, but their text is the array's.
fn within<'r>(outer: &'r str, cell: Cell<'_>) -> Cell<'r> {
    match cell {
        Cell::Null => Cell::Null,
        Cell::Integer(n) => Cell::Integer(n),
        Cell::Text(Cow::Borrowed(text)) => {
            let start = (text.as_ptr() as usize).wrapping_sub(outer.as_ptr() as usize);
            match outer.get(start..start.saturating_add(text.len())) {
                Some(same) if same.as_ptr() == text.as_ptr() => Cell::Text(Cow::Borrowed(same)),
                _ => Cell::Text(Cow::Owned(text.to_owned())),
            }
        }
        Cell::Text(Cow::Owned(text)) => Cell::Text(Cow::Owned(text)),
    }
}

/// A row as the mirror holds it (or is about to): the endpoint's row, and each child table's
/// rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow<'a> {
    /// The endpoint's row, a cell per column of its table (as the sync's tables list them).
    pub main: RowData<'a>,
    /// Per child table (in the sync's table order after the endpoint's), its rows in order.
    pub children: Vec<Vec<RowData<'a>>>,
}

/// One column that moved between two versions of a row: its wire key (or nested array's),
/// and its value before and after as text (`None`: absent or null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The wire key.
    pub column: String,
    /// Before.
    pub old: Option<String>,
    /// After.
    pub new: Option<String>,
}

/// A row's data as one JSON object: each active column by wire key (by its column type),
/// then the unknown fields.
/// What a row holds for each of its wire keys, in the order the keys first appear among
/// `columns`: the value of the key's active column, or, where that is null, of a column the
/// key no longer writes (its values from before its type changed, or before it left the
/// schema). A key with neither holds `None`. So no value a row was written with is lost from
/// its versions or from what is said to have moved.
fn values_by_key<'c, 'r>(
    columns: &'c [StoredColumn],
    cells: &'r [Cell<'r>],
) -> Vec<(&'c str, Option<(&'r Cell<'r>, ColumnType)>)> {
    let mut out: Vec<(&str, Option<(&Cell<'_>, ColumnType)>)> = Vec::new();
    for (column, cell) in columns.iter().zip(cells) {
        let value = (*cell != Cell::Null).then_some((cell, column.column_type));
        match out.iter_mut().find(|(key, _)| *key == column.wire_key) {
            None => out.push((&column.wire_key, value)),
            Some((_, held)) => {
                // The active column's value wins over an older column's.
                if value.is_some() && (held.is_none() || column.active) {
                    *held = value;
                }
            }
        }
    }
    out
}

fn object_json(columns: &[StoredColumn], row: &RowData<'_>) -> String {
    let mut out = String::from("{");
    for (wire_key, value) in values_by_key(columns, &row.cells) {
        let Some((cell, column_type)) = value else {
            continue;
        };
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(wire_key).unwrap_or_default());
        out.push(':');
        out.push_str(&cell.to_json(column_type));
    }
    if let Some(extra) = row.extra.as_deref().and_then(|e| e.strip_prefix('{')) {
        let members = extra.strip_suffix('}').unwrap_or(extra);
        if !members.is_empty() {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(members);
        }
    }
    out.push('}');
    out
}

/// A child table's rows as one JSON array of objects.
fn rows_json(columns: &[StoredColumn], rows: &[RowData<'_>]) -> String {
    let objects: Vec<String> = rows.iter().map(|r| object_json(columns, r)).collect();
    format!("[{}]", objects.join(","))
}

/// A version of a row as one JSON object (for the history): its fields by wire key, its
/// unknown fields, and its nested arrays.
pub fn version_json(tables: &[Table], row: &StoredRow<'_>) -> String {
    let Some(main) = tables.first() else {
        return "{}".to_owned();
    };
    let mut out = object_json(&main.columns, &row.main);
    for (table, rows) in tables.iter().skip(1).zip(&row.children) {
        let Some(array) = &table.array else {
            continue;
        };
        out.pop();
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(array).unwrap_or_default());
        out.push(':');
        out.push_str(&rows_json(&table.columns, rows));
        out.push('}');
    }
    out
}

/// Whether two lists of a child table's rows hold the same values (JSON by its meaning).
fn rows_same(columns: &[StoredColumn], a: &[RowData<'_>], b: &[RowData<'_>]) -> bool {
    let extra = |e: &Option<String>| e.as_deref().map(canonical_json);
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.cells.len() == y.cells.len()
                && columns
                    .iter()
                    .zip(x.cells.iter().zip(&y.cells))
                    .all(|(c, (p, q))| p.same_as(q, c.column_type))
                && (x.extra == y.extra || extra(&x.extra) == extra(&y.extra))
        })
}

/// What moved between the stored version of a row and the new one: columns in table order,
/// then unknown fields, then nested arrays (as JSON).
pub fn moved(tables: &[Table], old: &StoredRow<'_>, new: &StoredRow<'_>) -> Vec<Moved> {
    let mut out = Vec::new();
    let Some(main) = tables.first() else {
        return out;
    };
    let before = values_by_key(&main.columns, &old.main.cells);
    let after = values_by_key(&main.columns, &new.main.cells);
    for ((wire_key, before), (_, after)) in before.into_iter().zip(after) {
        let same = match (before, after) {
            (None, None) => true,
            (Some((b, t)), Some((a, u))) if t == u => b.same_as(a, t),
            // Held in columns of two types (across a type change): the same if they read
            // the same.
            (Some((b, t)), Some((a, u))) => b.to_text(t) == a.to_text(u),
            _ => false,
        };
        if !same {
            out.push(Moved {
                column: wire_key.to_owned(),
                old: before.and_then(|(cell, t)| cell.to_text(t)),
                new: after.and_then(|(cell, t)| cell.to_text(t)),
            });
        }
    }
    let members = |extra: &Option<String>| -> Vec<(String, String)> {
        extra
            .as_deref()
            .and_then(|e| serde_json::from_str::<Members>(e).ok())
            .map(|m| {
                m.0.into_iter()
                    .map(|(k, v)| (k, canonical_json(v.get())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (before, after) = (members(&old.main.extra), members(&new.main.extra));
    // A nested array whose value was kept in `_extra` (not an array of objects) is compared
    // with its child rows below, as one value.
    let arrays: Vec<&str> = tables
        .iter()
        .skip(1)
        .filter_map(|t| t.array.as_deref())
        .collect();
    let find = |pairs: &[(String, String)], key: &str| {
        pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let mut keys: Vec<&String> = after.iter().map(|(k, _)| k).collect();
    keys.extend(
        before
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !after.iter().any(|(a, _)| a == *k)),
    );
    for key in keys.into_iter().filter(|k| !arrays.contains(&k.as_str())) {
        let (b, a) = (find(&before, key), find(&after, key));
        if b != a {
            out.push(Moved {
                column: key.clone(),
                old: b,
                new: a,
            });
        }
    }
    for ((table, rows_before), rows_after) in
        tables.iter().skip(1).zip(&old.children).zip(&new.children)
    {
        let Some(array) = &table.array else {
            continue;
        };
        let (kept_before, kept_after) = (find(&before, array), find(&after, array));
        let same = match (&kept_before, &kept_after) {
            (None, None) => rows_same(&table.columns, rows_before, rows_after),
            _ => kept_before == kept_after,
        };
        if !same {
            out.push(Moved {
                column: array.clone(),
                old: Some(kept_before.unwrap_or_else(|| rows_json(&table.columns, rows_before))),
                new: Some(kept_after.unwrap_or_else(|| rows_json(&table.columns, rows_after))),
            });
        }
    }
    out
}

/// An object's members in order, repeats included.
struct Members(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Members, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{evolve, Layout};
    use kiss_dynamic::SchemaDocument;

    #[test]
    fn keys_are_unambiguous_and_readable() {
        let a = Key::from_parts(["A / B", "C"]);
        let b = Key::from_parts(["A", "B / C"]);
        assert_ne!(a.bytes, b.bytes);
        assert_eq!(a.display(), "A / B / C");
        assert_eq!(Key::display_of(&b.bytes), "A / B / C");
    }

    #[test]
    fn a_records_key_is_its_fields_text_and_none_without_them() {
        let schema = SchemaDocument::from_json(kiss_schema::contract::PRODUCTS_SCHEMA).unwrap();
        let mut stream = RawStream::new(&schema);
        let mut keys = Vec::new();
        stream
            .check_array(
                br#"[{"SKU":"DR\u0041C001","Name":"x"},{"SKU":null},{"Name":"y"}]"#,
                |record| {
                    let mut buffer = vec![9, 9];
                    let found = key_into(&record, &[record.schema().position("SKU")], &mut buffer);
                    keys.push(found.then_some(buffer));
                    Ok::<(), ()>(())
                },
            )
            .unwrap();
        assert_eq!(
            keys,
            [
                Some(Key::from_parts(["DRAC001"]).bytes.into_vec()),
                None,
                None
            ]
        );
    }

    fn stored(tables: &[Table], json: &str) -> StoredRow<'static> {
        let schema = SchemaDocument::from_json(kiss_schema::contract::PRODUCTS_SCHEMA).unwrap();
        let mut stream = RawStream::new(&schema);
        let mut out = None;
        let mut checker = None;
        stream
            .check_array(format!("[{json}]").as_bytes(), |record| {
                let main = row_of(&tables[0], &positions(&tables[0], record.schema()), &record);
                let children = tables[1..]
                    .iter()
                    .map(|t| {
                        let array = NestedArray::find(record.schema(), t.array.as_deref().unwrap())
                            .unwrap();
                        match children_of(
                            t,
                            &positions(t, &array.elements),
                            &record,
                            &array,
                            &mut checker,
                        ) {
                            Children::Rows(rows) => {
                                rows.into_iter().map(RowData::into_owned).collect()
                            }
                            Children::Unfit(value) => panic!("not an array of objects: {value}"),
                        }
                    })
                    .collect();
                out = Some(StoredRow {
                    main: main.into_owned(),
                    children,
                });
                Ok::<(), ()>(())
            })
            .unwrap();
        out.unwrap()
    }

    #[test]
    fn child_cells_borrow_the_arrays_text_unless_unescaped() {
        let array = r#"[{"a":"plain","b":"esc\u00e9"}]"#;
        let plain = &array[7..12];
        assert_eq!(plain, "plain");
        let borrowed = within(array, Cell::Text(Cow::Borrowed(plain)));
        assert!(matches!(borrowed, Cell::Text(Cow::Borrowed(t)) if t.as_ptr() == plain.as_ptr()));
        // Text from elsewhere (an unescaped copy) is kept as it is, owned.
        let elsewhere = String::from("esc\u{e9}");
        let owned = within(array, Cell::Text(Cow::Borrowed(elsewhere.as_str())));
        assert!(matches!(owned, Cell::Text(Cow::Owned(ref t)) if *t == elsewhere));
        assert_eq!(within(array, Cell::Integer(3)), Cell::Integer(3));
    }

    #[test]
    fn cells_versions_and_moves_come_from_the_text() {
        let schema = SchemaDocument::from_json(kiss_schema::contract::PRODUCTS_SCHEMA).unwrap();
        let tables = evolve(
            &Layout::from_schema(Endpoint::Products, &schema).unwrap(),
            &[],
        )
        .tables;
        let old = stored(
            &tables,
            r#"{"SKU":"A","Name":"Cape \u00e9","CartonQty":12,"PackagedLength_in_cm":30.00,"ProductImages":[{"ImageID":"I1","IsPrimaryImage":true}],"Eco":1.50}"#,
        );
        assert_eq!(old.main.cells[1], Cell::Text("Cape é".into()));
        assert!(old.main.cells.contains(&Cell::Text("30.00".into())));
        assert!(old.main.cells.contains(&Cell::Integer(12)));
        assert_eq!(old.main.extra.as_deref(), Some(r#"{"Eco":1.50}"#));
        assert_eq!(old.children[0].len(), 1);
        let json = version_json(&tables, &old);
        assert!(json.starts_with(r#"{"SKU":"A","Name":"Cape é","#), "{json}");
        assert!(
            json.contains(r#""PackagedLength_in_cm":30.00"#) && json.contains(r#""Eco":1.50"#),
            "{json}"
        );
        assert!(
            json.contains(r#""ProductImages":[{"ImageID":"I1","IsPrimaryImage":true}]"#),
            "{json}"
        );
        let new = stored(
            &tables,
            r#"{"SKU":"A","Name":"Cape é","CartonQty":6,"PackagedLength_in_cm":30.00,"ProductImages":[],"Eco":2}"#,
        );
        let moved: Vec<String> = moved(&tables, &old, &new)
            .into_iter()
            .map(|m| format!("{} {:?} → {:?}", m.column, m.old, m.new))
            .collect();
        assert_eq!(
            moved,
            [
                "CartonQty Some(\"12\") → Some(\"6\")",
                "Eco Some(\"1.50\") → Some(\"2\")",
                "ProductImages Some(\"[{\\\"ImageID\\\":\\\"I1\\\",\\\"IsPrimaryImage\\\":true}]\") → Some(\"[]\")",
            ]
        );
    }

    #[test]
    fn json_reads_the_same_whatever_the_member_order_spacing_or_escapes() {
        assert_eq!(
            canonical_json(r#"{"b": 1.50, "a": [1, {"d": "\u00e9", "c": null}]}"#),
            r#"{"a":[1,{"c":null,"d":"é"}],"b":1.50}"#
        );
        assert_eq!(canonical_json("not json"), "not json");
        let a = Cell::Text(r#"{"x":1,"y":2}"#.into());
        let b = Cell::Text(r#"{"y": 2, "x": 1}"#.into());
        assert!(a.same_as(&b, ColumnType::Json));
        assert!(!a.same_as(&b, ColumnType::Text));
    }
}
