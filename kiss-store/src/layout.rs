//! Tables and columns from the live schema, and how a mirror's tables follow it as it changes.
//!
//! One table per endpoint, one child table per nested array; a data column per field, named
//! exactly as the wire key and typed by the schema. What a mirror already holds is described by
//! [`StoredColumn`]s (the engine keeps them in `_kiss_columns`); [`evolve`] compares the two
//! and says what to add, in the order to add it.

use kiss_schema::{Endpoint, FieldType, SchemaDocument};

use crate::error::StoreError;

/// How a column's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// 64-bit integers.
    Integer,
    /// Exact decimals, kept as their text (`19.9500`).
    Decimal,
    /// Booleans (SQLite: 0 or 1).
    Boolean,
    /// Dates, `YYYY-MM-DD`.
    Date,
    /// Strings.
    Text,
    /// A type this version does not know: the JSON text as it came.
    Json,
}

impl ColumnType {
    /// The column type of a schema field type.
    pub fn of(field_type: &FieldType) -> ColumnType {
        match field_type {
            FieldType::String => ColumnType::Text,
            FieldType::Decimal => ColumnType::Decimal,
            FieldType::Integer => ColumnType::Integer,
            FieldType::Boolean => ColumnType::Boolean,
            FieldType::Date => ColumnType::Date,
            FieldType::Other(_) => ColumnType::Json,
        }
    }

    /// Its name in `_kiss_columns` and in variant column names.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Decimal => "decimal",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::Text => "text",
            ColumnType::Json => "json",
        }
    }

    /// The type a name from `_kiss_columns` stands for.
    pub fn from_name(name: &str) -> Option<ColumnType> {
        Some(match name {
            "integer" => ColumnType::Integer,
            "decimal" => ColumnType::Decimal,
            "boolean" => ColumnType::Boolean,
            "date" => ColumnType::Date,
            "text" => ColumnType::Text,
            "json" => ColumnType::Json,
            _ => return None,
        })
    }

    /// The type of a column as a mirror's `_kiss_columns` names it; an error that says so
    /// when the name is not one kiss writes.
    pub fn stored(name: &str) -> Result<ColumnType, StoreError> {
        ColumnType::from_name(name).ok_or_else(|| StoreError::Corrupt {
            detail: format!("_kiss_columns names the type {name:?}"),
        })
    }
}

/// The natural key of an endpoint's records: the wire keys that identify one row.
pub fn natural_key(endpoint: Endpoint) -> &'static [&'static str] {
    match endpoint {
        Endpoint::Products => &["SKU"],
        Endpoint::Stock => &["SKU", "StockLocation"],
        Endpoint::Prices => &["PriceListCode", "SKU", "MOQ"],
    }
}

/// One data column a schema asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The wire key its values come from (and, unless its type changed, its name).
    pub wire_key: String,
    /// How its values are stored.
    pub column_type: ColumnType,
}

/// One table a schema asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The table's name.
    pub name: String,
    /// For a child table, the wire key of the nested array its rows come from.
    pub array: Option<String>,
    /// Its data columns, in schema order.
    pub columns: Vec<Column>,
}

/// The tables one endpoint's live schema asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The natural key's wire keys, with their column types (child tables repeat them as
    /// `_parent_<key>`).
    pub key: Vec<Column>,
    /// The endpoint's table.
    pub main: TableSpec,
    /// One per nested array.
    pub children: Vec<TableSpec>,
}

/// Names that the mirror's own columns use: a schema field may not take them.
const RESERVED_PREFIXES: [&str; 3] = ["_kiss_", "_parent_", "_position"];

impl Layout {
    /// The tables for `document`, the live schema of `endpoint`. An error when the natural key
    /// is not among its fields, or a field takes a name the mirror uses itself.
    pub fn from_schema(
        endpoint: Endpoint,
        document: &SchemaDocument,
    ) -> Result<Layout, StoreError> {
        let schema_error = |reason: String| StoreError::Schema {
            endpoint: endpoint.name(),
            reason,
        };
        let mut key = Vec::new();
        for wire_key in natural_key(endpoint) {
            let field = document
                .fields
                .iter()
                .find(|f| f.wire_key == *wire_key)
                .ok_or_else(|| {
                    schema_error(format!(
                        "its natural key {} is not among its fields",
                        natural_key(endpoint).join(" + ")
                    ))
                })?;
            key.push(Column {
                wire_key: field.wire_key.clone(),
                column_type: ColumnType::of(&field.field_type),
            });
        }
        // Ignoring ASCII case, as SQLite's identifiers do: `_EXTRA` is `_extra` there.
        let reserved = |wire_key: &str| {
            wire_key.eq_ignore_ascii_case("_extra")
                || RESERVED_PREFIXES.iter().any(|p| {
                    wire_key
                        .as_bytes()
                        .get(..p.len())
                        .is_some_and(|start| start.eq_ignore_ascii_case(p.as_bytes()))
                })
        };
        let check = |wire_key: &str| {
            if reserved(wire_key) {
                Err(schema_error(format!(
                    "the field {wire_key} takes a column name the mirror uses for itself"
                )))
            } else {
                Ok(())
            }
        };
        let mut columns = Vec::new();
        for field in &document.fields {
            check(&field.wire_key)?;
            if columns
                .iter()
                .any(|c: &Column| c.wire_key == field.wire_key)
            {
                continue;
            }
            columns.push(Column {
                wire_key: field.wire_key.clone(),
                column_type: ColumnType::of(&field.field_type),
            });
        }
        let main_name = endpoint.name().to_owned();
        let mut children = Vec::new();
        for array in &document.arrays {
            check(&array.wire_key)?;
            let mut element_columns: Vec<Column> = Vec::new();
            for field in &array.fields {
                check(&field.wire_key)?;
                if element_columns.iter().any(|c| c.wire_key == field.wire_key) {
                    continue;
                }
                element_columns.push(Column {
                    wire_key: field.wire_key.clone(),
                    column_type: ColumnType::of(&field.field_type),
                });
            }
            let mut name = child_table_name(endpoint, &array.wire_key);
            // An array named `History` or `Versions` of stock would take the mirror's own
            // history table or versions view: its table is named apart.
            let own = [
                format!("{}_history", endpoint.name()),
                format!("{}_versions", endpoint.name()),
            ];
            if own.contains(&name) {
                name.push_str("_array");
            }
            if name == main_name || children.iter().any(|c: &TableSpec| c.name == name) {
                return Err(schema_error(format!(
                    "two nested arrays would share the table name {name}"
                )));
            }
            children.push(TableSpec {
                name,
                array: Some(array.wire_key.clone()),
                columns: element_columns,
            });
        }
        Ok(Layout {
            endpoint,
            key,
            main: TableSpec {
                name: main_name,
                array: None,
                columns,
            },
            children,
        })
    }

    /// Every table: the endpoint's, then the children.
    pub fn tables(&self) -> impl Iterator<Item = &TableSpec> {
        std::iter::once(&self.main).chain(&self.children)
    }
}

/// `ProductImages` of products → `product_images`; an array whose name does not start with
/// the endpoint's singular gets it in front (`Tags` of stock → `stock_tags`), so that two
/// endpoints' arrays never share a table.
pub fn child_table_name(endpoint: Endpoint, array_wire_key: &str) -> String {
    let snake = snake_case(array_wire_key);
    let singular = match endpoint {
        Endpoint::Products => "product",
        Endpoint::Stock => "stock",
        Endpoint::Prices => "price",
    };
    if snake.starts_with(&format!("{singular}_")) {
        snake
    } else {
        format!("{singular}_{snake}")
    }
}

/// Lower snake case for table names: a word starts at each capital after a lower-case letter
/// or digit, and anything not alphanumeric becomes `_`. Written here rather than taken from
/// heck, which the project keeps for Rust identifiers alone; this one rule is all tables need.
fn snake_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else {
            out.push('_');
        }
    }
    out
}

/// A data column as a mirror holds it (`_kiss_columns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredColumn {
    /// Its table.
    pub table: String,
    /// Its name in the table.
    pub name: String,
    /// The wire key its values come from.
    pub wire_key: String,
    /// How its values are stored.
    pub column_type: ColumnType,
    /// Whether it receives its wire key's values now (a removed field's column, or the old
    /// column of a field whose type changed, does not: NULL from then on).
    pub active: bool,
}

/// One change to a mirror's tables, recorded in `_kiss_schema_changes` and printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaChange {
    /// A table the mirror did not have (a first sync, or a new nested array).
    NewTable {
        /// The table.
        table: String,
    },
    /// A field the mirror did not have.
    NewColumn {
        /// The table.
        table: String,
        /// The wire key (and column name).
        wire_key: String,
        /// Its type.
        column_type: ColumnType,
    },
    /// A field's type changed: its values go to another column from now on.
    TypeChanged {
        /// The table.
        table: String,
        /// The wire key.
        wire_key: String,
        /// The type the mirror had.
        from: ColumnType,
        /// The live schema's type.
        to: ColumnType,
        /// The column that receives the values now (`<wire key>__<type>`).
        column: String,
    },
    /// A field the live schema no longer lists: its column stays, NULL from now on.
    Removed {
        /// The table.
        table: String,
        /// The wire key.
        wire_key: String,
    },
    /// A field listed again after it was removed: its column receives values again.
    Returned {
        /// The table.
        table: String,
        /// The wire key.
        wire_key: String,
    },
}

impl std::fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaChange::NewTable { table } => write!(f, "new table {table}"),
            SchemaChange::NewColumn {
                table,
                wire_key,
                column_type,
            } => write!(f, "new column {table}.\"{wire_key}\" ({})", column_type.name()),
            SchemaChange::TypeChanged {
                table,
                wire_key,
                from,
                to,
                column,
            } => write!(
                f,
                "{table}.\"{wire_key}\" changed type from {} to {}: its values go to \"{column}\" \
                 from now on",
                from.name(),
                to.name()
            ),
            SchemaChange::Removed { table, wire_key } => write!(
                f,
                "{table}.\"{wire_key}\" is no longer in the schema: its column stays, NULL from now on"
            ),
            SchemaChange::Returned { table, wire_key } => {
                write!(f, "{table}.\"{wire_key}\" is back in the schema")
            }
        }
    }
}

impl SchemaChange {
    /// Whether this change is a changed type (what `--on-schema-change freeze` refuses).
    pub fn is_type_change(&self) -> bool {
        matches!(self, SchemaChange::TypeChanged { .. })
    }

    /// A short name of the kind of change, for `_kiss_schema_changes`.
    pub fn kind(&self) -> &'static str {
        match self {
            SchemaChange::NewTable { .. } => "new table",
            SchemaChange::NewColumn { .. } => "new column",
            SchemaChange::TypeChanged { .. } => "type changed",
            SchemaChange::Removed { .. } => "removed",
            SchemaChange::Returned { .. } => "returned",
        }
    }

    /// The table it concerns.
    pub fn table(&self) -> &str {
        match self {
            SchemaChange::NewTable { table }
            | SchemaChange::NewColumn { table, .. }
            | SchemaChange::TypeChanged { table, .. }
            | SchemaChange::Removed { table, .. }
            | SchemaChange::Returned { table, .. } => table,
        }
    }
}

/// What to do when a field's type changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnSchemaChange {
    /// Add a column for the new type (`<wire key>__<type>`) and fill it from now on; the old
    /// column keeps its values. The default.
    #[default]
    Evolve,
    /// Refuse: the sync fails and the mirror is left as it was.
    Freeze,
}

/// One table as a sync writes it: its data columns in order, each with whether it receives
/// values now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The table's name.
    pub name: String,
    /// For a child table, the wire key of its nested array.
    pub array: Option<String>,
    /// Whether the table is new in this sync (to be created).
    pub is_new: bool,
    /// The data columns, stored ones first in their order, then new ones.
    pub columns: Vec<StoredColumn>,
    /// How many of `columns` the mirror already had.
    pub stored: usize,
}

/// What a sync does to a mirror's tables: the changes, and the tables as they are after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evolution {
    /// The changes, in order.
    pub changes: Vec<SchemaChange>,
    /// The endpoint's table, then its children (also those whose arrays left the schema).
    pub tables: Vec<Table>,
}

/// Compares what `layout` asks for with what the mirror holds (`stored`, every column of
/// every table of the endpoint).
pub fn evolve(layout: &Layout, stored: &[StoredColumn]) -> Evolution {
    let mut changes = Vec::new();
    let mut tables = Vec::new();
    for spec in layout.tables() {
        let held: Vec<StoredColumn> = stored
            .iter()
            .filter(|c| c.table == spec.name)
            .cloned()
            .collect();
        let is_new = held.is_empty() && !stored.iter().any(|c| c.table == spec.name);
        if is_new {
            changes.push(SchemaChange::NewTable {
                table: spec.name.clone(),
            });
        }
        let mut columns = held;
        let stored_count = columns.len();
        for column in &spec.columns {
            let same_key: Vec<usize> = (0..columns.len())
                .filter(|&i| columns[i].wire_key == column.wire_key)
                .collect();
            let matching = same_key
                .iter()
                .copied()
                .find(|&i| columns[i].column_type == column.column_type);
            let active_other = same_key
                .iter()
                .copied()
                .find(|&i| columns[i].active && columns[i].column_type != column.column_type);
            match (matching, active_other) {
                (Some(i), None) if columns[i].active => {}
                (Some(i), other) => {
                    // Back to a type (or a field) the mirror had a column for.
                    if let Some(o) = other {
                        columns[o].active = false;
                        changes.push(SchemaChange::TypeChanged {
                            table: spec.name.clone(),
                            wire_key: column.wire_key.clone(),
                            from: columns[o].column_type,
                            to: column.column_type,
                            column: columns[i].name.clone(),
                        });
                    } else {
                        changes.push(SchemaChange::Returned {
                            table: spec.name.clone(),
                            wire_key: column.wire_key.clone(),
                        });
                    }
                    columns[i].active = true;
                }
                (None, Some(o)) => {
                    columns[o].active = false;
                    let name = variant_name(&column.wire_key, column.column_type, &columns);
                    changes.push(SchemaChange::TypeChanged {
                        table: spec.name.clone(),
                        wire_key: column.wire_key.clone(),
                        from: columns[o].column_type,
                        to: column.column_type,
                        column: name.clone(),
                    });
                    columns.push(StoredColumn {
                        table: spec.name.clone(),
                        name,
                        wire_key: column.wire_key.clone(),
                        column_type: column.column_type,
                        active: true,
                    });
                }
                (None, None) => {
                    // Ignoring ASCII case, as SQLite's column names do: `Sku` beside `SKU`
                    // gets a column of its own on every engine.
                    let name = if columns
                        .iter()
                        .any(|c| c.name.eq_ignore_ascii_case(&column.wire_key))
                    {
                        variant_name(&column.wire_key, column.column_type, &columns)
                    } else {
                        column.wire_key.clone()
                    };
                    if !is_new {
                        changes.push(SchemaChange::NewColumn {
                            table: spec.name.clone(),
                            wire_key: column.wire_key.clone(),
                            column_type: column.column_type,
                        });
                    }
                    columns.push(StoredColumn {
                        table: spec.name.clone(),
                        name,
                        wire_key: column.wire_key.clone(),
                        column_type: column.column_type,
                        active: true,
                    });
                }
            }
        }
        for column in columns.iter_mut().take(stored_count) {
            let listed = spec.columns.iter().any(|c| c.wire_key == column.wire_key);
            if column.active && !listed {
                column.active = false;
                changes.push(SchemaChange::Removed {
                    table: spec.name.clone(),
                    wire_key: column.wire_key.clone(),
                });
            }
        }
        tables.push(Table {
            name: spec.name.clone(),
            array: spec.array.clone(),
            is_new,
            columns,
            stored: stored_count,
        });
    }
    // Child tables whose arrays left the schema stay as they are.
    let mut gone: Vec<&str> = stored
        .iter()
        .map(|c| c.table.as_str())
        .filter(|t| !tables.iter().any(|known| known.name == *t))
        .collect();
    gone.dedup();
    for table in gone {
        let mut columns: Vec<StoredColumn> = stored
            .iter()
            .filter(|c| c.table == table)
            .cloned()
            .collect();
        for column in &mut columns {
            if column.active {
                column.active = false;
                changes.push(SchemaChange::Removed {
                    table: table.to_owned(),
                    wire_key: column.wire_key.clone(),
                });
            }
        }
        let stored_count = columns.len();
        tables.push(Table {
            name: table.to_owned(),
            array: None,
            is_new: false,
            columns,
            stored: stored_count,
        });
    }
    Evolution { changes, tables }
}

/// `AvailableQTY__decimal`, or with a number after it when even that is taken.
fn variant_name(wire_key: &str, column_type: ColumnType, columns: &[StoredColumn]) -> String {
    let base = format!("{wire_key}__{}", column_type.name());
    let mut name = base.clone();
    let mut n = 2;
    while columns.iter().any(|c| c.name.eq_ignore_ascii_case(&name)) {
        name = format!("{base}{n}");
        n += 1;
    }
    name
}

/// `name` as an SQL identifier, quoted: wire keys are used exactly as they are (SQLite and
/// PostgreSQL quote alike).
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiss_schema::FieldSchema;

    fn products() -> SchemaDocument {
        SchemaDocument::from_json(kiss_schema::contract::PRODUCTS_SCHEMA).unwrap()
    }

    fn stored_after(layout: &Layout, stored: &[StoredColumn]) -> Vec<StoredColumn> {
        evolve(layout, stored)
            .tables
            .into_iter()
            .flat_map(|t| t.columns)
            .collect()
    }

    #[test]
    fn tables_and_columns_follow_the_schema_with_wire_keys() {
        let layout = Layout::from_schema(Endpoint::Products, &products()).unwrap();
        assert_eq!(layout.main.name, "products");
        assert_eq!(layout.main.columns[0].wire_key, "SKU");
        assert!(layout
            .main
            .columns
            .iter()
            .any(|c| c.wire_key == "PackagedLength_in_cm" && c.column_type == ColumnType::Decimal));
        let names: Vec<&str> = layout.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "product_images",
                "product_accessories",
                "product_substitutions",
                "product_composition",
                "product_prices"
            ]
        );
        assert_eq!(child_table_name(Endpoint::Stock, "Tags"), "stock_tags");
        assert_eq!(
            child_table_name(Endpoint::Prices, "PriceBreaks"),
            "price_breaks"
        );
    }

    #[test]
    fn a_first_sync_creates_every_table_and_a_second_changes_nothing() {
        let layout = Layout::from_schema(Endpoint::Products, &products()).unwrap();
        let first = evolve(&layout, &[]);
        assert_eq!(first.changes.len(), 6, "{:?}", first.changes);
        assert!(first.changes.iter().all(|c| c.kind() == "new table"));
        let stored = stored_after(&layout, &[]);
        assert!(evolve(&layout, &stored).changes.is_empty());
    }

    #[test]
    fn new_removed_retyped_and_returning_fields() {
        let mut schema = products();
        let layout = Layout::from_schema(Endpoint::Products, &schema).unwrap();
        let stored = stored_after(&layout, &[]);
        schema
            .fields
            .push(FieldSchema::new("ecoScore", FieldType::Integer, false));
        schema.fields.retain(|f| f.wire_key != "Theme");
        for field in &mut schema.fields {
            if field.wire_key == "CartonQty" {
                field.field_type = FieldType::Decimal;
            }
        }
        let layout = Layout::from_schema(Endpoint::Products, &schema).unwrap();
        let evolution = evolve(&layout, &stored);
        let text: Vec<String> = evolution.changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "products.\"CartonQty\" changed type from integer to decimal: its values go to \"CartonQty__decimal\" from now on",
                "new column products.\"EcoScore\" (integer)",
                "products.\"Theme\" is no longer in the schema: its column stays, NULL from now on",
            ]
        );
        let stored = stored_after(&layout, &stored);
        // Back to the original schema: integer again, Theme back, EcoScore removed.
        let layout = Layout::from_schema(Endpoint::Products, &products()).unwrap();
        let kinds: Vec<&str> = evolve(&layout, &stored)
            .changes
            .iter()
            .map(SchemaChange::kind)
            .collect();
        assert_eq!(kinds, ["returned", "type changed", "removed"]);
    }

    #[test]
    fn the_natural_key_must_be_in_the_schema() {
        let mut schema = products();
        schema.fields.retain(|f| f.wire_key != "SKU");
        let err = Layout::from_schema(Endpoint::Products, &schema).unwrap_err();
        assert!(err.to_string().contains("natural key SKU"), "{err}");
    }
}
