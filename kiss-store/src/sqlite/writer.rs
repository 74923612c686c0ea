//! The SQLite connection and everything done with it, on the engine's database thread.
//!
//! Rows arrive in [`Batch`]es, each executed with one prepared statement per table and kind
//! of write; every other operation is a call that [`super::SqliteEngine`] waits for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kiss_schema::Endpoint;
use rusqlite::{params, params_from_iter, Connection};

use crate::bookkeeping::{self, Dialect, Fields};
use crate::engine::{Change, ChangeQuery, HeldRow, Identity, Load, Schedule};
use crate::error::StoreError;
use crate::layout::{quote, ColumnType, Evolution, Layout, StoredColumn, Table};
use crate::row::{Cell, RowData, StoredRow};

/// How long a reader or writer waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The changes table (SQLite numbers its rows itself); the other bookkeeping tables are
/// [`bookkeeping::tables`].
const CHANGES_TABLE: &str = r#"
CREATE TABLE IF NOT EXISTS "_kiss_changes" (
    "load" INTEGER NOT NULL, "at" TEXT NOT NULL, "endpoint" TEXT NOT NULL, "key" TEXT NOT NULL,
    "change" TEXT NOT NULL, "col" TEXT, "old" TEXT, "new" TEXT);
"#;

/// The connection and what one sync prepared on it; owned by the database thread.
pub(super) struct Writer {
    path: PathBuf,
    connection: Connection,
    /// The sync's tables (from the last `apply`): what batches' table numbers and
    /// `current_row` refer to.
    tables: Vec<Table>,
    /// The statements of the tables being synced, by table (built by `apply`).
    sql: HashMap<String, TableSql>,
    /// Indexes of tables created in the running transaction, built before it commits.
    pending_indexes: Vec<String>,
}

fn sql_type(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::Integer | ColumnType::Boolean => "INTEGER",
        ColumnType::Decimal | ColumnType::Date | ColumnType::Text | ColumnType::Json => "TEXT",
    }
}

/// A path as a `file:` URI (SQLite's), its special characters percent-encoded.
fn url_of_file(path: &Path) -> Result<String, String> {
    let absolute =
        std::path::absolute(path).map_err(|e| format!("its full path cannot be found ({e})"))?;
    let text = absolute
        .to_str()
        .ok_or_else(|| "its path is not UTF-8".to_owned())?;
    const SPECIAL: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'#')
        .add(b'?')
        .add(b'%')
        .add(b'"');
    Ok(format!(
        "file:{}",
        percent_encoding::utf8_percent_encode(text, SPECIAL)
    ))
}

fn history_table(endpoint: Endpoint) -> String {
    format!("{}_history", endpoint.name())
}

impl Writer {
    /// Opens (or creates) the mirror at `path`.
    /// Refuses, before anything is written, a file that is not a kiss mirror nor a new
    /// (absent or empty) file: a folder, a file that is not SQLite, or another application's
    /// database (tables of its own, no kiss bookkeeping). Read through a read-only
    /// connection, which never checkpoints another application's write-ahead log.
    fn refuse_foreign(path: &Path) -> Result<(), StoreError> {
        let refused = |why: String| StoreError::NotAMirror {
            path: path.display().to_string(),
            why,
        };
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(refused(format!("it cannot be read ({e})"))),
        };
        if metadata.is_dir() {
            return Err(refused("it is a folder".to_owned()));
        }
        if metadata.len() == 0 {
            return Ok(());
        }
        let mut header = [0u8; 20];
        let read = std::fs::File::open(path)
            .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut header));
        if read.is_err() || &header[..16] != b"SQLite format 3\0" {
            return Err(refused("it is not a SQLite database".to_owned()));
        }
        // A database in WAL mode (its header's format versions are 2; kiss's mirrors use a
        // rollback journal) is read as immutable: even a read-only connection would make its
        // `-wal` and `-shm` files otherwise. Its tables are read from the main file, which
        // is where a kiss mirror's would be.
        let wal = header[18] == 2 || header[19] == 2;
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let connection = if wal {
            let uri = url_of_file(path).map_err(refused)?;
            Connection::open_with_flags(format!("{uri}?immutable=1"), flags)
        } else {
            Connection::open_with_flags(path, flags)
        }
        .map_err(|e| refused(format!("it cannot be opened to be checked ({e})")))?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        let tables: Vec<String> = connection
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                 ORDER BY name",
            )?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        if tables.is_empty() || tables.iter().any(|t| t == "_kiss_loads") {
            return Ok(());
        }
        let named: Vec<&str> = tables.iter().take(3).map(String::as_str).collect();
        Err(refused(format!(
            "it holds tables of its own ({}{}) and no kiss bookkeeping",
            named.join(", "),
            if tables.len() > 3 { ", …" } else { "" }
        )))
    }

    pub(super) fn open(path: &Path) -> Result<Writer, StoreError> {
        Writer::refuse_foreign(path)?;
        let connection = Connection::open(path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        // A rollback journal rather than WAL: a first sync writes every page once instead of
        // twice (2.0 s against 2.3–2.7 s for 50k products, stock and prices), and a rolled-back
        // sync leaves the file as it was, byte for byte. Readers (`kiss status`, `sqlite3`)
        // wait, up to the busy timeout, only while a sync commits or spills its cache.
        // Records are kilobytes long: larger pages split and rebalance far less (only takes
        // effect on a new file).
        connection.pragma_update(None, "page_size", 65_536)?;
        connection.pragma_update(None, "journal_mode", "DELETE")?;
        // A 16 MB page cache: big transactions spill less, and peak memory stays well bounded.
        connection.pragma_update(None, "cache_size", -16_384)?;
        // FULL: with a rollback journal, anything less can corrupt the file on power loss.
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.set_prepared_statement_cache_capacity(64);
        let has_bookkeeping: bool = connection.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_kiss_loads')",
            [],
            |row| row.get(0),
        )?;
        if !has_bookkeeping {
            connection.execute_batch(&format!(
                "BEGIN IMMEDIATE; {} {CHANGES_TABLE} COMMIT;",
                bookkeeping::tables(Dialect::Sqlite)
            ))?;
        } else {
            // A mirror of an earlier kiss gets the tables and columns added since. Only then
            // is anything written: opening a mirror must not wait for a sync in progress.
            let mut missing: Vec<String> = Vec::new();
            let has_identity: bool = connection
                .prepare("SELECT 1 FROM sqlite_master WHERE name = '_kiss_mirror'")?
                .exists([])?;
            if !has_identity {
                missing.push(bookkeeping::tables(Dialect::Sqlite));
            }
            for (table, column, column_type) in bookkeeping::ADDED_COLUMNS {
                let has: bool = connection
                    .prepare(bookkeeping::has_column(Dialect::Sqlite))?
                    .exists([table, column])?;
                if !has {
                    missing.push(format!(
                        "ALTER TABLE {} ADD COLUMN {} {column_type};",
                        quote(table),
                        quote(column)
                    ));
                }
            }
            if !missing.is_empty() {
                connection
                    .execute_batch(&format!("BEGIN IMMEDIATE; {} COMMIT;", missing.join(" ")))?;
            }
        }
        Ok(Writer {
            path: path.to_owned(),
            connection,
            tables: Vec::new(),
            sql: HashMap::new(),
            pending_indexes: Vec::new(),
        })
    }

    fn table_exists(&self, table: &str) -> Result<bool, StoreError> {
        Ok(self.connection.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [table],
            |row| row.get(0),
        )?)
    }

    fn create_table(&mut self, layout: &Layout, table: &Table) -> Result<(), StoreError> {
        let mut columns: Vec<String> = Vec::new();
        let is_main = table.array.is_none() && table.name == layout.main.name;
        if !is_main {
            columns.push("\"_kiss_parent\" BLOB NOT NULL".to_owned());
            for key in &layout.key {
                columns.push(format!(
                    "{} {}",
                    quote(&format!("_parent_{}", key.wire_key)),
                    sql_type(key.column_type)
                ));
            }
            columns.push("\"_position\" INTEGER NOT NULL".to_owned());
        }
        for column in &table.columns {
            columns.push(format!(
                "{} {}",
                quote(&column.name),
                sql_type(column.column_type)
            ));
        }
        columns.push("\"_extra\" TEXT".to_owned());
        if is_main {
            columns.extend(
                [
                    "\"_kiss_key\" BLOB NOT NULL",
                    "\"_kiss_hash\" BLOB NOT NULL",
                    "\"_kiss_first_seen\" TEXT NOT NULL",
                    "\"_kiss_changed\" TEXT NOT NULL",
                    "\"_kiss_change\" TEXT NOT NULL",
                    "\"_kiss_deleted\" TEXT",
                    "\"_kiss_load\" INTEGER NOT NULL",
                ]
                .map(str::to_owned),
            );
        }
        // No key constraint while the table is filled: the rows of the sync that creates it
        // are all new (repeated keys are caught before they get here), so they are appended,
        // and the keys' indexes are built once, sorted, before the sync commits, rather than
        // kept in order row by row.
        self.connection.execute_batch(&format!(
            "CREATE TABLE {} ({});",
            quote(&table.name),
            columns.join(", ")
        ))?;
        let index = if is_main {
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} (\"_kiss_key\", \"_kiss_hash\", \"_kiss_deleted\")",
                quote(&format!("{}_kiss_key", table.name)),
                quote(&table.name)
            )
        } else {
            format!(
                "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} (\"_kiss_parent\", \"_position\")",
                quote(&format!("{}_parent", table.name)),
                quote(&table.name)
            )
        };
        self.pending_indexes.push(index);
        if is_main {
            let key_columns: Vec<String> = layout.key.iter().map(|k| quote(&k.wire_key)).collect();
            let history = history_table(layout.endpoint);
            let key_list = key_columns.join(", ");
            // The natural key's index is built when the first sync is done: in one sort,
            // far faster than row by row.
            self.pending_indexes.push(format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({key_list})",
                quote(&format!("{}_natural_key", table.name)),
                quote(&table.name),
            ));
            self.connection.execute_batch(&format!(
                "{}; {};",
                bookkeeping::history_table(
                    Dialect::Sqlite,
                    layout,
                    sql_type,
                    &format!("{history}_key")
                ),
                bookkeeping::versions_view(layout)
            ))?;
        }
        Ok(())
    }

    /// The statements that write `table` (and, for the endpoint's table, its history), built
    /// once per sync rather than per row.
    fn prepare_statements(&mut self, layout: &Layout, table: &Table) {
        let is_main = table.array.is_none() && table.name == layout.main.name;
        let name = quote(&table.name);
        let data: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
        if !is_main {
            let mut names = vec![quote("_kiss_parent")];
            names.extend(
                layout
                    .key
                    .iter()
                    .map(|k| quote(&format!("_parent_{}", k.wire_key))),
            );
            names.push(quote("_position"));
            names.extend(data.iter().cloned());
            names.push(quote("_extra"));
            let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
            self.sql.entry(table.name.clone()).or_default().set(
                "insert",
                format!(
                    "INSERT INTO {name} ({}) VALUES ({})",
                    names.join(", "),
                    placeholders.join(", ")
                ),
            );
            self.sql.entry(table.name.clone()).or_default().set(
                "clear",
                format!("DELETE FROM {name} WHERE \"_kiss_parent\" = ?1"),
            );
            let mut read = data.clone();
            read.push(quote("_extra"));
            self.sql.entry(table.name.clone()).or_default().set(
                "read",
                format!(
                    "SELECT {} FROM {name} WHERE \"_kiss_parent\" = ?1 ORDER BY \"_position\"",
                    read.join(", ")
                ),
            );
            return;
        }
        let mut names = data.clone();
        names.push(quote("_extra"));
        names.extend(MAIN_META.map(quote));
        let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        // New rows are inserted and rows the mirror had are updated by key: the sync knows
        // which is which, so the key's index need not be unique for an upsert, and can cover
        // what a sync reads of every row (key, fingerprint, deleted).
        self.sql.entry(table.name.clone()).or_default().set(
            "insert",
            format!(
                "INSERT INTO {name} ({}) VALUES ({})",
                names.join(", "),
                placeholders.join(", "),
            ),
        );
        // The same parameters as the insert's; `_kiss_first_seen`'s is left unused.
        let key_parameter = names.iter().position(|n| n == "\"_kiss_key\"").unwrap_or(0) + 1;
        let updates: Vec<String> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| *n != "\"_kiss_key\"" && *n != "\"_kiss_first_seen\"")
            .map(|(i, n)| format!("{n} = ?{}", i + 1))
            .collect();
        self.sql.entry(table.name.clone()).or_default().set(
            "update",
            format!(
                "UPDATE {name} SET {} WHERE \"_kiss_key\" = ?{key_parameter}",
                updates.join(", "),
            ),
        );
        let mut sets: Vec<String> = data
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n} = ?{}", i + 1))
            .collect();
        sets.push(format!("\"_extra\" = ?{}", data.len() + 1));
        self.sql.entry(table.name.clone()).or_default().set(
            "refill",
            format!(
                "UPDATE {name} SET {} WHERE \"_kiss_key\" = ?{}",
                sets.join(", "),
                data.len() + 2
            ),
        );
        let mut read = data.clone();
        read.push(quote("_extra"));
        self.sql.entry(table.name.clone()).or_default().set(
            "read",
            format!(
                "SELECT {} FROM {name} WHERE \"_kiss_key\" = ?1 AND \"_kiss_deleted\" IS NULL",
                read.join(", ")
            ),
        );
        let keys: Vec<String> = layout.key.iter().map(|k| quote(&k.wire_key)).collect();
        let keys = keys.join(", ");
        let history = quote(&history_table(layout.endpoint));
        self.sql.entry(table.name.clone()).or_default().set("close",
            format!(
                "INSERT INTO {history} (\"_kiss_key\", {keys}, \"_kiss_valid_from\",
                    \"_kiss_valid_to\", \"_kiss_change\", \"_kiss_load\", \"_kiss_record\")
                 SELECT \"_kiss_key\", {keys}, \"_kiss_changed\", ?1, \"_kiss_change\", \"_kiss_load\", ?3
                 FROM {name} WHERE \"_kiss_key\" = ?2"
            ),
        );
    }

    fn statement(
        &self,
        table: &str,
        which: fn(&TableSql) -> &str,
    ) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let sql = self.sql.get(table).map(which).filter(|sql| !sql.is_empty());
        let sql = sql.ok_or_else(|| StoreError::Corrupt {
            detail: format!("no statement for {table} (was the sync begun?)"),
        })?;
        Ok(self.connection.prepare_cached(sql)?)
    }
}

/// The statements that write and read one table.
#[derive(Debug, Default)]
struct TableSql {
    insert: String,
    update: String,
    clear: String,
    read: String,
    refill: String,
    close: String,
}

impl TableSql {
    fn set(&mut self, which: &str, sql: String) {
        match which {
            "insert" => self.insert = sql,
            "update" => self.update = sql,
            "clear" => self.clear = sql,
            "read" => self.read = sql,
            "refill" => self.refill = sql,
            _ => self.close = sql,
        }
    }
}

/// The bookkeeping columns of an endpoint's table, after its data columns and `_extra`.
const MAIN_META: [&str; 7] = [
    "_kiss_key",
    "_kiss_hash",
    "_kiss_first_seen",
    "_kiss_changed",
    "_kiss_change",
    "_kiss_deleted",
    "_kiss_load",
];

/// Which of a table's write statements a row write runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Statement {
    /// Insert a row.
    Insert = 0,
    /// Replace a row the mirror has (by key).
    Update = 1,
    /// Remove a parent's child rows.
    Clear = 2,
    /// Rewrite an unchanged row's data columns.
    Refill = 3,
    /// Move a row's current version to the history.
    Close = 4,
}

impl Statement {
    const COUNT: usize = 5;

    fn of(self, sql: &TableSql) -> &str {
        match self {
            Statement::Insert => &sql.insert,
            Statement::Update => &sql.update,
            Statement::Clear => &sql.clear,
            Statement::Refill => &sql.refill,
            Statement::Close => &sql.close,
        }
    }
}

/// Row writes on their way to the database thread: each write's values in order, their text
/// and blobs in one buffer, so that a batch of thousands of rows is a few allocations.
#[derive(Debug, Default)]
pub(super) struct Batch {
    text: Vec<u8>,
    values: Vec<Value>,
    ops: Vec<Op>,
}

/// One statement of a batch: its table (by position in the sync's tables), which statement,
/// and where its values end.
#[derive(Debug)]
struct Op {
    table: usize,
    statement: Statement,
    end: usize,
}

/// A value of a batch; text and blobs are ranges of the batch's buffer.
#[derive(Debug, Clone, Copy)]
enum Value {
    Null,
    Int(i64),
    Text(usize, usize),
    Blob(usize, usize),
}

impl Value {
    fn param(self, buffer: &[u8]) -> Param<'_> {
        let bytes = |start: usize, end: usize| buffer.get(start..end).unwrap_or_default();
        match self {
            Value::Null => Param::Null,
            Value::Int(n) => Param::Int(n),
            Value::Text(start, end) => Param::Text(bytes(start, end)),
            Value::Blob(start, end) => Param::Blob(bytes(start, end)),
        }
    }
}

impl Batch {
    /// Adds a NULL value to the write being built.
    pub(super) fn null(&mut self) {
        self.values.push(Value::Null);
    }

    /// Adds an integer.
    pub(super) fn int(&mut self, n: i64) {
        self.values.push(Value::Int(n));
    }

    /// Adds text (`None`: NULL).
    pub(super) fn text(&mut self, text: Option<&str>) {
        let Some(text) = text else {
            return self.null();
        };
        let start = self.text.len();
        self.text.extend_from_slice(text.as_bytes());
        self.values.push(Value::Text(start, self.text.len()));
    }

    /// Adds a blob.
    pub(super) fn blob(&mut self, bytes: &[u8]) {
        let start = self.text.len();
        self.text.extend_from_slice(bytes);
        self.values.push(Value::Blob(start, self.text.len()));
    }

    /// Adds a cell.
    pub(super) fn cell(&mut self, cell: &Cell<'_>) {
        match cell {
            Cell::Null => self.null(),
            Cell::Integer(n) => self.int(*n),
            Cell::Text(text) => self.text(Some(text)),
        }
    }

    /// Ends a write: `statement` of table `table` with the values added since the last.
    pub(super) fn end(&mut self, table: usize, statement: Statement) {
        self.ops.push(Op {
            table,
            statement,
            end: self.values.len(),
        });
    }

    /// Empties it, keeping its memory for the next batch.
    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.values.clear();
        self.ops.clear();
    }

    /// How many bytes of text and blobs it holds.
    pub(super) fn bytes(&self) -> usize {
        self.text.len()
    }

    /// How many statements it holds.
    pub(super) fn statements(&self) -> usize {
        self.ops.len()
    }
}

/// A parameter bound by reference.
#[derive(Clone, Copy)]
enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match *self {
            Param::Null => ValueRef::Null,
            Param::Int(n) => ValueRef::Integer(n),
            Param::Text(text) => ValueRef::Text(text),
            Param::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

/// The engine's operations, as [`Engine`] names them, run on the database thread.
impl Writer {
    pub(super) fn begin(&mut self) -> Result<(), StoreError> {
        match self.connection.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                Err(StoreError::Busy {
                    path: self.path.display().to_string(),
                    waited_secs: BUSY_TIMEOUT.as_secs(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) fn commit(&mut self) -> Result<(), StoreError> {
        Ok(self.connection.execute_batch("COMMIT")?)
    }

    pub(super) fn rollback(&mut self) -> Result<(), StoreError> {
        self.pending_indexes.clear();
        if self.connection.is_autocommit() {
            return Ok(());
        }
        Ok(self.connection.execute_batch("ROLLBACK")?)
    }

    pub(super) fn stored_columns(
        &mut self,
        endpoint: Endpoint,
    ) -> Result<Vec<StoredColumn>, StoreError> {
        self.query(
            bookkeeping::STORED_COLUMNS,
            &[bookkeeping::Param::Text(Some(endpoint.name()))],
            bookkeeping::stored_column_of,
        )
    }

    pub(super) fn apply(
        &mut self,
        layout: &Layout,
        evolution: &Evolution,
        load: i64,
        at: &str,
    ) -> Result<(), StoreError> {
        let endpoint = layout.endpoint.name();
        for table in &evolution.tables {
            if table.is_new {
                if self.table_exists(&table.name)? {
                    return Err(StoreError::Schema {
                        endpoint,
                        reason: format!(
                            "the database already has a table {} that the mirror did not make; \
                             use another database file",
                            table.name
                        ),
                    });
                }
                self.create_table(layout, table)?;
            } else {
                for column in table.columns.iter().skip(table.stored) {
                    self.connection.execute_batch(&format!(
                        "ALTER TABLE {} ADD COLUMN {} {};",
                        quote(&table.name),
                        quote(&column.name),
                        sql_type(column.column_type)
                    ))?;
                }
            }
            for statement in bookkeeping::columns_of(endpoint, table) {
                self.execute(&statement)?;
            }
            self.prepare_statements(layout, table);
        }
        for change in &evolution.changes {
            let description = change.to_string();
            self.execute(&bookkeeping::schema_change(
                load,
                at,
                endpoint,
                change,
                &description,
            ))?;
        }
        self.tables = evolution.tables.clone();
        Ok(())
    }

    pub(super) fn current(&mut self, endpoint: Endpoint) -> Result<Vec<HeldRow>, StoreError> {
        if !self.table_exists(endpoint.name())? {
            return Ok(Vec::new());
        }
        let mut statement = self.connection.prepare(&format!(
            "SELECT \"_kiss_key\", \"_kiss_hash\", \"_kiss_deleted\" IS NOT NULL FROM {}",
            quote(endpoint.name())
        ))?;
        let rows = statement.query_map([], |row| {
            let key: Vec<u8> = row.get(0)?;
            let hash: Vec<u8> = row.get(1)?;
            let deleted: bool = row.get(2)?;
            Ok((key, hash, deleted))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, hash, deleted) = row?;
            let hash: [u8; 16] = hash.try_into().map_err(|_| StoreError::Corrupt {
                detail: format!("a _kiss_hash in {} is not 16 bytes", endpoint.name()),
            })?;
            out.push(HeldRow {
                key: key.into_boxed_slice(),
                hash,
                deleted,
            });
        }
        Ok(out)
    }

    /// The row with this key, in the tables of the last `apply`.
    pub(super) fn current_row(
        &mut self,
        key: &[u8],
    ) -> Result<Option<StoredRow<'static>>, StoreError> {
        let Some(main) = self.tables.first() else {
            return Ok(None);
        };
        let read = |statement: &mut rusqlite::CachedStatement<'_>, width: usize| {
            let rows = statement.query_map([key], |row| {
                let mut cells = Vec::with_capacity(width);
                for i in 0..width {
                    cells.push(stored_cell(row.get_ref(i)?));
                }
                Ok(RowData {
                    cells,
                    extra: row.get(width)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        };
        let mut rows = read(
            &mut self.statement(&main.name, |t| &t.read)?,
            main.columns.len(),
        )?;
        let Some(main_row) = rows.pop() else {
            return Ok(None);
        };
        let mut children = Vec::new();
        for table in self.tables.iter().skip(1) {
            if table.is_new || table.array.is_none() {
                children.push(Vec::new());
                continue;
            }
            children.push(read(
                &mut self.statement(&table.name, |t| &t.read)?,
                table.columns.len(),
            )?);
        }
        Ok(Some(StoredRow {
            main: main_row,
            children,
        }))
    }

    /// Executes a batch of row writes in order, each kind of statement prepared once.
    pub(super) fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let mut prepared: Vec<Option<rusqlite::CachedStatement<'_>>> = Vec::new();
        let mut first = 0;
        for op in &batch.ops {
            let slot = op.table * Statement::COUNT + op.statement as usize;
            if prepared.len() <= slot {
                prepared.resize_with(slot + 1, || None);
            }
            let statement = match &mut prepared[slot] {
                Some(statement) => statement,
                empty => {
                    let table = self
                        .tables
                        .get(op.table)
                        .ok_or_else(|| StoreError::Corrupt {
                            detail: format!(
                                "a row write names table {} of {}",
                                op.table,
                                self.tables.len()
                            ),
                        })?;
                    let sql = self
                        .sql
                        .get(&table.name)
                        .map(|t| op.statement.of(t))
                        .filter(|sql| !sql.is_empty())
                        .ok_or_else(|| StoreError::Corrupt {
                            detail: format!(
                                "no statement for {} (was the sync begun?)",
                                table.name
                            ),
                        })?;
                    empty.insert(self.connection.prepare_cached(sql)?)
                }
            };
            let values = batch.values.get(first..op.end).unwrap_or_default();
            first = op.end;
            statement.execute(rusqlite::params_from_iter(
                values.iter().map(|v| v.param(&batch.text)),
            ))?;
        }
        Ok(())
    }

    pub(super) fn mark_deleted(
        &mut self,
        endpoint: Endpoint,
        key: &[u8],
        closed_version: &str,
        load: i64,
        at: &str,
    ) -> Result<(), StoreError> {
        let table = endpoint.name();
        self.statement(table, |t| &t.close)?
            .execute(params![at, key, closed_version])?;
        self.connection
            .prepare_cached(&format!(
                "UPDATE {} SET \"_kiss_deleted\" = ?1, \"_kiss_changed\" = ?1,
                    \"_kiss_change\" = 'deleted', \"_kiss_load\" = ?2 WHERE \"_kiss_key\" = ?3",
                quote(table)
            ))?
            .execute(params![at, load, key])?;
        Ok(())
    }

    pub(super) fn add_changes(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        let mut statement = self.connection.prepare_cached(
            "INSERT INTO \"_kiss_changes\" (\"load\", \"at\", \"endpoint\", \"key\", \"change\", \"col\",
                \"old\", \"new\") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for change in changes {
            statement.execute(params![
                change.load,
                change.at,
                change.endpoint,
                change.key,
                change.change.name(),
                change.column,
                change.old,
                change.new
            ])?;
        }
        Ok(())
    }

    /// Runs one of the shared bookkeeping statements.
    fn execute(&mut self, statement: &bookkeeping::Statement<'_>) -> Result<usize, StoreError> {
        let sql = Dialect::Sqlite.render(&statement.sql);
        Ok(self
            .connection
            .prepare_cached(&sql)?
            .execute(params_from_iter(&statement.params))?)
    }

    /// The rows of one of the shared bookkeeping queries, each read by `read`.
    fn query<T>(
        &mut self,
        sql: &str,
        params: &[bookkeeping::Param<'_>],
        read: impl Fn(&dyn Fields) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let sql = Dialect::Sqlite.render(sql);
        let mut statement = self.connection.prepare_cached(&sql)?;
        let mut rows = statement.query(params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(read(row)?);
        }
        Ok(out)
    }

    pub(super) fn start_load(&mut self, load: &Load) -> Result<i64, StoreError> {
        let statement = bookkeeping::start_load(load);
        self.query(&statement.sql, &statement.params, |row| {
            row.integer(0)?.ok_or_else(|| StoreError::Corrupt {
                detail: "_kiss_loads gave no number for a new run".to_owned(),
            })
        })?
        .pop()
        .ok_or_else(|| StoreError::Corrupt {
            detail: "_kiss_loads gave no number for a new run".to_owned(),
        })
    }

    pub(super) fn finish_load(&mut self, load: &Load) -> Result<(), StoreError> {
        for index in std::mem::take(&mut self.pending_indexes) {
            self.connection.execute_batch(&index)?;
        }
        self.execute(&bookkeeping::finish_load(load))?;
        Ok(())
    }

    pub(super) fn loads(
        &mut self,
        endpoint: Option<Endpoint>,
        limit: u64,
    ) -> Result<Vec<Load>, StoreError> {
        let statement = bookkeeping::loads(endpoint, limit);
        self.query(&statement.sql, &statement.params, bookkeeping::load_of)
    }

    pub(super) fn identity(&mut self) -> Result<Option<Identity>, StoreError> {
        Ok(self
            .query(bookkeeping::IDENTITY, &[], bookkeeping::identity_of)?
            .pop())
    }

    pub(super) fn claim_identity(
        &mut self,
        identity: &Identity,
        since: &str,
    ) -> Result<Identity, StoreError> {
        self.connection.execute_batch("BEGIN IMMEDIATE")?;
        let claimed = self
            .execute(&bookkeeping::claim_identity(identity, since))
            .and_then(|_| self.identity());
        match claimed {
            Ok(Some(held)) => {
                self.connection.execute_batch("COMMIT")?;
                Ok(held)
            }
            Ok(None) => {
                let _ = self.connection.execute_batch("ROLLBACK");
                Err(StoreError::Corrupt {
                    detail: "_kiss_mirror holds no row after one was written".to_owned(),
                })
            }
            Err(e) => {
                let _ = self.connection.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    pub(super) fn changes(&mut self, query: &ChangeQuery) -> Result<Vec<Change>, StoreError> {
        let mut inserting = Vec::new();
        for endpoint in Endpoint::ALL {
            let exists: bool = self.connection.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'view' AND name = ?1)",
                [format!("{}_versions", endpoint.name())],
                |row| row.get(0),
            )?;
            if exists {
                let columns = self.stored_columns(endpoint)?;
                inserting.push((endpoint, bookkeeping::key_types(endpoint, &columns)));
            }
        }
        let sql = bookkeeping::changes(Dialect::Sqlite, &inserting);
        let limit = query
            .limit
            .map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let mut statement = self.connection.prepare(&sql)?;
        let mut rows = statement.query(params![
            query.endpoint.map(Endpoint::name),
            query.since,
            limit
        ])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(bookkeeping::change_of(row)?);
        }
        Ok(out)
    }

    pub(super) fn set_schedule(&mut self, schedule: &Schedule) -> Result<(), StoreError> {
        self.execute(&bookkeeping::set_schedule(schedule))?;
        Ok(())
    }

    pub(super) fn schedules(&mut self) -> Result<Vec<Schedule>, StoreError> {
        self.query(bookkeeping::SCHEDULES, &[], bookkeeping::schedule_of)
    }
}

/// A stored value as a cell (SQLite may hand back what the column type did not force).
fn stored_cell(value: rusqlite::types::ValueRef<'_>) -> Cell<'static> {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(n) => Cell::Integer(n),
        ValueRef::Real(x) => Cell::Text(x.to_string().into()),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            Cell::Text(String::from_utf8_lossy(bytes).into_owned().into())
        }
    }
}
