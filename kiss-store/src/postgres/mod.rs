//! The PostgreSQL engine: the shared mirror for teams, read by many services.
//!
//! Types follow the schema: decimals `NUMERIC` (exact, and given back with the scale they were
//! written with: `19.9500`), integers `BIGINT`, booleans `BOOLEAN`, dates `DATE`, strings
//! `TEXT`, unknown types and `_extra` `JSONB`; identifiers are the wire keys, quoted exactly. A
//! value its column cannot hold exactly is kept in the row's `_kiss_unfit`.
//! Tables live in the connection's current schema (set `search_path` in the URL's `options`
//! to use another). Connections use TLS as libpq's `sslmode` says (`prefer` by default; see
//! the `tls` module for `verify-ca`, `verify-full` and `sslrootcert`).
//!
//! The driver is `postgres`, the blocking face of `tokio-postgres` (which the quota sharing
//! uses directly): the [`Engine`] trait is synchronous, so the connection lives on a database
//! thread of its own, as the SQLite engine's does, and the sync hands it rows without waiting.
//! Rows become binary `COPY` data on the calling thread, are copied into temporary staging
//! tables, and are merged into the mirror in SQL when the sync commits, in one transaction
//! with the sync's DDL: a failed sync leaves no row and no half-added column behind. An
//! endpoint's first sync copies into its new tables directly, its child tables on loading
//! connections of their own: these make them under names of their own and commit them just
//! before the sync's transaction renames them into place and commits, so the mirror's
//! tables still appear in one commit.
//!
//! Each customer's endpoint has an advisory lock ([`Engine::try_lock`]), so that
//! syncers on several machines never poll one endpoint at once.

mod connection;
mod copy;
mod quota;
pub(crate) mod tls;
mod writer;

pub use quota::QuotaLog;
pub use tls::describe_url;

use std::sync::mpsc::{self, Receiver, Sender};

use kiss_schema::Endpoint;
use postgres::Config;

use crate::engine::{
    Applied, Change, ChangeQuery, Claim, Engine, EngineTransaction, HeldRow, Identity, Load,
    RowWrite, Schedule, Transaction, TransactionOps,
};
use crate::error::StoreError;
use crate::layout::{quote, Evolution, Layout, StoredColumn, Table};
use crate::row::StoredRow;
use connection::Connection;
use copy::CopyRow;
use writer::{Kinds, Writer};

/// A table's rows are handed to its connection once its `COPY` data holds this many bytes…
///
/// Per table, not per sync, and each table's batches go on in the one `COPY` its connection
/// keeps open for it (see [`Connection::copy`]) for as long as nothing else is done there:
/// every `COPY` statement costs the server a fixed setup, and PostgreSQL 15 pays for its up
/// to 1,000 buffered tuple slots by probing one resource-owner hash chain per slot, so
/// copying each of a products sync's six tables whenever all of them together held 2 MiB
/// (174 statements) cost its backend an eighth of its CPU time (one statement per table
/// rather than a hundred saved no more). A later sync, which stages every table on its one
/// connection, takes a statement each time it turns from one table's batches to another's.
/// Debug builds (the tests) hand over 16 KiB at a time, so that even a test's small sync
/// spans many batches.
const BATCH_BYTES: usize = if cfg!(debug_assertions) {
    16 << 10
} else {
    1 << 20
};
/// A table's first batch is copied at this size, and each next one at twice the last's, up
/// to [`BATCH_BYTES`]: the server starts on a table's rows as soon as there are some, not once
/// a megabyte of them has been read (at first it has nothing else to do).
const FIRST_BATCH_BYTES: usize = if BATCH_BYTES < 64 << 10 {
    BATCH_BYTES
} else {
    64 << 10
};
/// …and at most this many batches wait to be copied: bounds the memory rows wait in.
const BATCHES_IN_FLIGHT: usize = 2;
/// How many loading connections an endpoint's first sync fills its child tables on, at most:
/// one per child table, so that each table's rows go in one `COPY` (see
/// [`Writer::copy_stream`]) and at the end all the tables' indexes are built side by side.
/// Tables beyond this many share connections, a `COPY` per batch.
const LOADING_CONNECTIONS: usize = 8;

/// A mirror in a PostgreSQL database.
pub struct PostgresEngine {
    described: String,
    /// Where the connection goes, for a first sync's loading connections.
    config: Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    thread: Connection,
    /// The first sync of an endpoint fills its child tables on connections of their own (see
    /// [`Loading`]).
    loading: Vec<Loading>,
    /// Per table of the sync (the endpoint's first), where its rows are copied (its staging
    /// table, or the table itself when the sync made it) and the rows' text.
    buffers: Vec<(String, Vec<u8>)>,
    /// Per table of the sync, the loading connection its rows go to, if any.
    loaded_aside: Vec<Option<usize>>,
    /// Per table of the sync, the size at which its next batch is copied.
    due_at: Vec<usize>,
    /// The rows marked deleted, for their staging table.
    deleted: Vec<u8>,
    /// What the buffers hold, for the merge.
    kinds: Kinds,
    /// Whether the endpoint's table is new: its rows (all new) go straight into it.
    main_is_new: bool,
    /// Copied buffers, emptied, to fill again: no fresh memory (and page faults) per batch.
    spare: Receiver<Vec<u8>>,
    give_back: Sender<Vec<u8>>,
}

/// One of a first sync's further connections, on its own database thread, which fill the
/// endpoint's child tables while the sync's own connection fills the endpoint's table.
///
/// One backend would do all of a first sync's server work for an endpoint, one statement
/// after another, and the products endpoint's child rows are half of it. PostgreSQL runs a
/// transaction on one connection only, so a loading connection makes its child tables
/// under names of their own ([`writer::loading_table`]), fills and indexes them in its own
/// transaction, and commits just before the sync's transaction renames them into place and
/// commits. Should the sync fail after a loading connection committed, its tables are
/// dropped; should the process die in that moment, the next first sync of the endpoint
/// drops them.
struct Loading {
    thread: Connection,
    /// The loading tables' names, and the statements that rename them into place.
    tables: Vec<String>,
    adopting: Vec<String>,
    /// Whether its transaction committed.
    committed: bool,
}

impl std::fmt::Debug for PostgresEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEngine")
            .field("database", &self.described)
            .finish_non_exhaustive()
    }
}

impl PostgresEngine {
    /// Connects to the mirror at `url` (`postgres://user@host:port/database?options=…`),
    /// creating its bookkeeping tables when missing.
    pub fn open(url: &str) -> Result<PostgresEngine, StoreError> {
        PostgresEngine::start(url, true)
    }

    /// Opens an existing mirror, for reading it (`kiss status`, `kiss changes`): nothing is
    /// created in the database; [`StoreError::NoMirror`] when there is no mirror there.
    pub fn open_existing(url: &str) -> Result<PostgresEngine, StoreError> {
        PostgresEngine::start(url, false)
    }

    fn start(url: &str, create: bool) -> Result<PostgresEngine, StoreError> {
        let (config, tls) = tls::parse(url)?;
        let described = describe_url(&config);
        let config = Config::from(config);
        let thread = Connection::start(
            "kiss-postgres",
            BATCHES_IN_FLIGHT,
            config.clone(),
            tls.clone(),
            described.clone(),
            create,
        )?
        .connected()?;
        let (give_back, spare) = mpsc::channel();
        Ok(PostgresEngine {
            described,
            config,
            tls,
            thread,
            loading: Vec::new(),
            buffers: Vec::new(),
            loaded_aside: Vec::new(),
            due_at: Vec::new(),
            deleted: Vec::new(),
            kinds: Kinds::default(),
            main_is_new: false,
            spare,
            give_back,
        })
    }

    /// Hands the rows gathered so far to the database threads, to be copied: every table's
    /// (`all`), or only those of the tables whose rows reached their next batch's size.
    fn flush(&mut self, all: bool) -> Result<(), StoreError> {
        let spare = &self.spare;
        let take =
            |rows: &mut Vec<u8>| std::mem::replace(rows, spare.try_recv().unwrap_or_default());
        for (((table, rows), loaded_aside), due_at) in self
            .buffers
            .iter_mut()
            .zip(&self.loaded_aside)
            .zip(&mut self.due_at)
        {
            // Called after every row: most calls find nothing due, and allocate nothing.
            if rows.is_empty() || !(all || rows.len() >= *due_at) {
                continue;
            }
            *due_at = due_at.saturating_mul(2).min(BATCH_BYTES);
            let connection = match loaded_aside.and_then(|i| self.loading.get_mut(i)) {
                Some(loading) => &mut loading.thread,
                None => &mut self.thread,
            };
            connection.copy(table, take(rows), &self.give_back)?;
        }
        if !self.deleted.is_empty() && (all || self.deleted.len() >= BATCH_BYTES) {
            let rows = take(&mut self.deleted);
            self.thread
                .copy(writer::DELETED_STAGE, rows, &self.give_back)?;
        }
        Ok(())
    }

    /// Opens the loading connections of an endpoint's first sync and makes on them, under
    /// their loading names, the tables at `aside` (indexes into the sync's tables): the
    /// `n`th on connection `n % LOADING_CONNECTIONS`. Says which connection each table's rows
    /// go to.
    fn open_loading(
        &mut self,
        layout: &Layout,
        evolution: &Evolution,
        load: i64,
        aside: &[usize],
    ) -> Result<(), StoreError> {
        let endpoint = layout.endpoint;
        let connections = aside.len().clamp(1, LOADING_CONNECTIONS);
        // Per connection, each table under its loading name, and what renames it into place.
        let mut shares: Vec<Vec<(Table, String)>> = (0..connections).map(|_| Vec::new()).collect();
        for (n, &i) in aside.iter().enumerate() {
            let (Some(table), Some(share)) =
                (evolution.tables.get(i), shares.get_mut(n % connections))
            else {
                continue;
            };
            let name = writer::loading_table(endpoint, load, i);
            let adopting = writer::adopting(&name, &table.name);
            share.push((
                Table {
                    name,
                    ..table.clone()
                },
                adopting,
            ));
            if let Some(slot) = self.loaded_aside.get_mut(i) {
                *slot = Some(n % connections);
            }
        }
        // Connected side by side, and their tables made without waiting: the sync's rows
        // wait for nothing but the connections.
        let mut connecting = Vec::new();
        for share in shares {
            let thread = Connection::start(
                "kiss-postgres-load",
                BATCHES_IN_FLIGHT,
                self.config.clone(),
                self.tls.clone(),
                self.described.clone(),
                false,
            )?;
            connecting.push((thread, share));
        }
        for (thread, share) in connecting {
            let (tables, adopting): (Vec<Table>, Vec<String>) = share.into_iter().unzip();
            let mut thread = thread.connected()?;
            let names = tables.iter().map(|t| t.name.clone()).collect();
            let layout = layout.clone();
            thread.post(Writer::begin)?;
            thread.post(move |w| w.make_loading_tables(&layout, &tables))?;
            self.loading.push(Loading {
                thread,
                tables: names,
                adopting,
                committed: false,
            });
        }
        Ok(())
    }

    fn call<R: Send + 'static>(
        &mut self,
        call: impl FnOnce(&mut Writer) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.flush(true)?;
        self.thread.call(call)
    }
}

/// A version of a row as JSON that `JSONB` can hold: one holding the escaped NUL (which
/// `JSONB` refuses) is kept as a JSON string of its text.
fn history_json(version: &str) -> std::borrow::Cow<'_, str> {
    if version.contains("\\u0000") {
        serde_json::to_string(version).unwrap_or_default().into()
    } else {
        version.into()
    }
}

impl Engine for PostgresEngine {
    fn describe(&self) -> String {
        self.described.clone()
    }

    fn held(&mut self, endpoint: Endpoint) -> Result<Vec<HeldRow>, StoreError> {
        self.current(endpoint)
    }

    fn start_transaction(&mut self) -> Result<(), StoreError> {
        self.open_transaction()
    }

    fn started_transaction(&mut self) -> Box<dyn Transaction + '_> {
        Box::new(EngineTransaction::new(self))
    }

    fn loads(&mut self, endpoint: Option<Endpoint>, limit: u64) -> Result<Vec<Load>, StoreError> {
        self.call(move |w| w.loads(endpoint, limit))
    }

    fn changes(&mut self, query: &ChangeQuery) -> Result<Vec<Change>, StoreError> {
        let query = query.clone();
        self.call(move |w| w.changes(&query))
    }

    fn schedules(&mut self) -> Result<Vec<Schedule>, StoreError> {
        self.call(Writer::schedules)
    }

    fn identity(&mut self) -> Result<Option<Identity>, StoreError> {
        self.call(Writer::identity)
    }

    fn claim_identity(&mut self, identity: &Identity, since: &str) -> Result<Identity, StoreError> {
        let (identity, since) = (identity.clone(), since.to_owned());
        self.call(move |w| w.claim_identity(&identity, &since))
    }

    fn lock_holder(
        &mut self,
        customer: &str,
        endpoint: Endpoint,
    ) -> Result<Option<String>, StoreError> {
        let customer = customer.to_owned();
        self.call(move |w| w.lock_holder(&customer, endpoint))
    }

    fn try_lock(&mut self, customer: &str, endpoint: Endpoint) -> Result<Claim, StoreError> {
        let customer = customer.to_owned();
        Ok(match self.call(move |w| w.try_lock(&customer, endpoint))? {
            None => Claim::Taken,
            Some(holder) => Claim::HeldBy(holder),
        })
    }

    fn unlock(&mut self, customer: &str, endpoint: Endpoint) -> Result<(), StoreError> {
        let customer = customer.to_owned();
        self.call(move |w| w.unlock(&customer, endpoint))
    }
}

/// The operations of a transaction, which [`EngineTransaction`] calls with what it applied.
impl TransactionOps for PostgresEngine {
    fn open_transaction(&mut self) -> Result<(), StoreError> {
        self.call(Writer::begin)
    }

    fn commit_transaction(&mut self) -> Result<(), StoreError> {
        self.flush(true)?;
        let kinds = std::mem::take(&mut self.kinds);
        self.thread.post(move |w| {
            w.note_staged(kinds);
            Ok(())
        })?;
        if self.loading.is_empty() {
            return self.thread.call(Writer::commit);
        }
        // Every connection builds its indexes at once; the loading connections commit only
        // when the sync's is ready to, so that they leave tables behind only if the very last
        // steps fail.
        for loading in &mut self.loading {
            loading.thread.post(Writer::prepare_commit)?;
        }
        self.thread.call(Writer::prepare_commit)?;
        let mut adopting = Vec::new();
        for loading in &mut self.loading {
            loading.thread.call(Writer::commit)?;
            loading.committed = true;
            adopting.append(&mut loading.adopting);
        }
        self.thread.call(move |w| w.commit_adopting(&adopting))?;
        self.loading.clear();
        Ok(())
    }

    fn rollback_transaction(&mut self) -> Result<(), StoreError> {
        for (_, rows) in &mut self.buffers {
            rows.clear();
        }
        self.deleted.clear();
        self.kinds = Kinds::default();
        let rolled_back = self.thread.reset(Writer::rollback);
        for mut loading in std::mem::take(&mut self.loading) {
            let tables = loading.tables;
            // Tables it committed, the sync failed to adopt; a failure here leaves them to
            // the next first sync of the endpoint, which drops them.
            let _ = if loading.committed {
                loading.thread.reset(move |w| w.drop_tables(&tables))
            } else {
                loading.thread.reset(Writer::rollback)
            };
        }
        rolled_back
    }

    fn stored_columns(&mut self, endpoint: Endpoint) -> Result<Vec<StoredColumn>, StoreError> {
        self.call(move |w| w.stored_columns(endpoint))
    }

    fn apply(
        &mut self,
        layout: &Layout,
        evolution: &Evolution,
        load: i64,
        at: &str,
    ) -> Result<(), StoreError> {
        self.main_is_new = evolution.tables.first().is_some_and(|t| t.is_new);
        let endpoint = layout.endpoint;
        // An endpoint's first sync fills its child tables on loading connections; later
        // syncs (which read rows back while they write) fill them on the sync's.
        let aside: Vec<usize> = if self.main_is_new {
            (1..evolution.tables.len())
                .filter(|&i| evolution.tables.get(i).is_some_and(|t| t.array.is_some()))
                .collect()
        } else {
            Vec::new()
        };
        // A table this sync makes has no rows to merge with: its rows are copied into it.
        self.buffers = evolution
            .tables
            .iter()
            .enumerate()
            .map(|(i, table)| {
                let target = if aside.contains(&i) {
                    quote(&writer::loading_table(endpoint, load, i))
                } else if table.is_new {
                    quote(&table.name)
                } else {
                    writer::stage(i)
                };
                (target, Vec::new())
            })
            .collect();
        self.loaded_aside = vec![None; evolution.tables.len()];
        self.due_at = vec![FIRST_BATCH_BYTES; evolution.tables.len()];
        self.kinds = Kinds::default();
        {
            let (layout, evolution, at) = (layout.clone(), evolution.clone(), at.to_owned());
            let elsewhere = aside.clone();
            // Posted, not waited for: the loading connections are opened meanwhile.
            self.thread
                .post(move |w| w.apply(&layout, &evolution, load, &at, &elsewhere))?;
        }
        if !aside.is_empty() {
            self.open_loading(layout, evolution, load, &aside)?;
        }
        self.call(|_| Ok(()))
    }

    fn current(&mut self, endpoint: Endpoint) -> Result<Vec<HeldRow>, StoreError> {
        self.call(move |w| w.current(endpoint))
    }

    fn current_row(&mut self, key: &[u8]) -> Result<Option<StoredRow<'static>>, StoreError> {
        // The database thread reads by the tables of the transaction's `apply`.
        let key = key.to_vec();
        self.call(move |w| w.current_row(&key))
    }

    fn write(&mut self, applied: &Applied, row: &RowWrite<'_>) -> Result<(), StoreError> {
        let (layout, evolution) = (&applied.layout, &applied.evolution);
        for loading in self.loading.iter_mut().filter(|l| l.thread.failing()) {
            // Rows handed to a loading connection failed: say why now.
            loading.thread.call(|_| Ok(()))?;
        }
        if self.thread.failing() {
            // Rows handed over earlier failed: say why now rather than at the end.
            return self.call(|_| Ok(()));
        }
        let Some(((_, main_rows), children)) = self.buffers.split_first_mut() else {
            return Err(StoreError::Corrupt {
                detail: "a row was written before the sync's tables were applied".to_owned(),
            });
        };
        let main_table = evolution.tables.first();
        let mut copy = CopyRow::new(main_rows);
        for (cell, column) in row
            .main
            .cells
            .iter()
            .zip(main_table.map(|t| t.columns.as_slice()).unwrap_or_default())
        {
            copy.cell(cell, column.column_type, &column.name);
        }
        copy.json(row.main.extra.as_deref(), &"_extra");
        copy.unfit();
        copy.bytes(row.key);
        copy.bytes(&row.hash);
        // A table's first sync adds the bookkeeping columns that are the same in every row
        // (first seen, changed, change, deleted, run) once its rows are in.
        if !self.main_is_new {
            let (change, write) = match (row.changed, row.existed) {
                (false, _) => {
                    self.kinds.refills = true;
                    (None, "refill")
                }
                (true, true) => {
                    self.kinds.updates = true;
                    (
                        Some(if row.inserted { "inserted" } else { "updated" }),
                        "update",
                    )
                }
                (true, false) => {
                    self.kinds.inserts = true;
                    (Some("inserted"), "insert")
                }
            };
            copy.text(change);
            copy.text(Some(write));
            copy.jsonb(row.closed_version.map(history_json).as_deref());
        }
        copy.end();
        for ((table, rows), (_, out)) in evolution
            .tables
            .iter()
            .skip(1)
            .zip(row.children)
            .zip(children.iter_mut())
        {
            if table.array.is_none() {
                continue;
            }
            if !table.is_new && !rows.is_empty() {
                self.kinds.children = true;
            }
            for (position, data) in rows.iter().enumerate() {
                let mut copy = CopyRow::new(out);
                copy.bytes(row.key);
                for (cell, key) in row.key_cells.iter().zip(&layout.key) {
                    // The parent's key is a copy for joins: kept aside nowhere else.
                    copy.cell(
                        cell,
                        key.column_type,
                        &format_args!("_parent_{}", key.wire_key),
                    );
                }
                copy.int(i64::try_from(position).unwrap_or(i64::MAX));
                for (cell, column) in data.cells.iter().zip(&table.columns) {
                    copy.cell(cell, column.column_type, &column.name);
                }
                copy.json(data.extra.as_deref(), &"_extra");
                copy.unfit();
                copy.end();
            }
        }
        self.flush(false)?;
        Ok(())
    }

    fn mark_deleted(
        &mut self,
        _applied: &Applied,
        key: &[u8],
        closed_version: &str,
    ) -> Result<(), StoreError> {
        // The run's rows are staged for the merge, which knows the table and the run.
        self.kinds.deleted = true;
        let mut copy = CopyRow::new(&mut self.deleted);
        copy.bytes(key);
        copy.jsonb(Some(&history_json(closed_version)));
        copy.end();
        self.flush(false)?;
        Ok(())
    }

    fn add_changes(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::new();
        for change in changes {
            let mut copy = CopyRow::new(&mut rows);
            copy.int(change.load);
            copy.text(Some(&change.at));
            copy.text(Some(&change.endpoint));
            copy.text(Some(&change.key));
            copy.text(Some(change.change.name()));
            copy.text(change.column.as_deref());
            copy.text(change.old.as_deref());
            copy.text(change.new.as_deref());
            copy.end();
        }
        let table = "\"_kiss_changes\" (\"load\", \"at\", \"endpoint\", \"key\", \"change\", \"col\", \"old\", \"new\")".to_owned();
        self.call(move |w| w.copy(&table, &rows))
    }

    fn start_load(&mut self, load: &Load) -> Result<i64, StoreError> {
        let load = load.clone();
        self.call(move |w| w.start_load(&load))
    }

    fn finish_load(&mut self, load: &Load) -> Result<(), StoreError> {
        let load = load.clone();
        self.call(move |w| w.finish_load(&load))
    }

    fn set_schedule(&mut self, schedule: &Schedule) -> Result<(), StoreError> {
        let schedule = schedule.clone();
        self.call(move |w| w.set_schedule(&schedule))
    }
}
