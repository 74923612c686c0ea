//! The SQLite engine: one database file, bundled SQLite (nothing to install).
//!
//! Decimals, dates, strings and JSON are `TEXT` columns (a decimal reads back exactly as the
//! API wrote it: `19.9500`; SQLite would turn a `NUMERIC` or `REAL` column's `19.9500` into a
//! float), integers and booleans `INTEGER`. Pages are 64 KiB (records are kilobytes long),
//! and the journal is SQLite's rollback journal.
//!
//! The connection lives on a database thread of its own. Row writes are gathered into
//! batches and handed over without waiting, so that SQLite inserts one batch while the sync
//! reads and checks the next records on the calling thread: the two halves of a sync take
//! about as long as each other, and the machines it runs on have at least two cores. Every
//! other operation waits for its answer, after the rows before it.

mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};

use kiss_schema::Endpoint;

use crate::engine::{
    Applied, Change, ChangeQuery, Engine, EngineTransaction, HeldRow, Identity, Load, RowWrite,
    Schedule, Transaction, TransactionOps,
};
use crate::error::StoreError;
use crate::layout::{Evolution, Layout, StoredColumn};
use crate::row::StoredRow;
use crate::thread::DatabaseThread;
use writer::{Batch, Statement, Writer};

pub use crate::layout::quote;

/// A batch is handed over once it holds this many bytes of values…
const BATCH_BYTES: usize = 1 << 20;
/// …or this many statements.
const BATCH_STATEMENTS: usize = 4096;
/// Batches handed over and not yet written, at most: bounds the memory rows wait in.
const BATCHES_IN_FLIGHT: usize = 2;

/// A mirror in one SQLite file.
pub struct SqliteEngine {
    path: PathBuf,
    thread: DatabaseThread<Writer>,
    batch: Batch,
    /// Written batches, emptied, to fill again: no fresh memory (and page faults) per batch.
    spare: Receiver<Batch>,
    give_back: Sender<Batch>,
}

impl std::fmt::Debug for SqliteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEngine")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteEngine {
    /// Opens (or creates) the mirror at `path`.
    pub fn open(path: &Path) -> Result<SqliteEngine, StoreError> {
        let opened = path.to_owned();
        let thread = DatabaseThread::start("kiss-sqlite", BATCHES_IN_FLIGHT, move || {
            Writer::open(&opened)
        })?;
        let (give_back, spare) = mpsc::channel::<Batch>();
        Ok(SqliteEngine {
            path: path.to_owned(),
            thread,
            batch: Batch::default(),
            spare,
            give_back,
        })
    }

    /// Hands the rows gathered so far to the database thread.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.batch.statements() == 0 {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_default();
        let mut batch = std::mem::replace(&mut self.batch, next);
        let give_back = self.give_back.clone();
        self.thread.post(move |writer| {
            let written = writer.write(&batch);
            batch.clear();
            let _ = give_back.send(batch);
            written
        })
    }

    /// Runs `call` on the database thread, after every row handed over before it, and waits
    /// for its answer; fails instead with the error of rows that failed.
    fn call<R: Send + 'static>(
        &mut self,
        call: impl FnOnce(&mut Writer) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.flush()?;
        self.thread.call(call)
    }
}

impl Engine for SqliteEngine {
    fn describe(&self) -> String {
        self.path.display().to_string()
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
}

/// The operations of a transaction, which [`EngineTransaction`] calls with what it applied.
impl TransactionOps for SqliteEngine {
    fn open_transaction(&mut self) -> Result<(), StoreError> {
        self.call(Writer::begin)
    }

    fn commit_transaction(&mut self) -> Result<(), StoreError> {
        self.call(Writer::commit)
    }

    fn rollback_transaction(&mut self) -> Result<(), StoreError> {
        // Rows not yet handed over are dropped, and rows that failed are undone with the
        // rest: their error is not this call's.
        self.batch.clear();
        self.thread.reset(Writer::rollback)
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
        let (layout, evolution, at) = (layout.clone(), evolution.clone(), at.to_owned());
        self.call(move |w| w.apply(&layout, &evolution, load, &at))
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
        let (evolution, load, at) = (&applied.evolution, applied.load, applied.at.as_str());
        if self.thread.failing() {
            // Rows handed over earlier failed: say why now rather than at the end.
            return self.call(|_| Ok(()));
        }
        let batch = &mut self.batch;
        if row.changed {
            if row.existed {
                batch.text(Some(at));
                batch.blob(row.key);
                batch.text(row.closed_version);
                batch.end(0, Statement::Close);
            }
            for cell in &row.main.cells {
                batch.cell(cell);
            }
            batch.text(row.main.extra.as_deref());
            let change = if row.inserted {
                crate::engine::ChangeKind::Inserted
            } else {
                crate::engine::ChangeKind::Updated
            };
            batch.blob(row.key);
            batch.blob(&row.hash);
            batch.text(Some(at));
            batch.text(Some(at));
            batch.text(Some(change.name()));
            batch.null();
            batch.int(load);
            batch.end(
                0,
                if row.existed {
                    Statement::Update
                } else {
                    Statement::Insert
                },
            );
        } else {
            for cell in &row.main.cells {
                batch.cell(cell);
            }
            batch.text(row.main.extra.as_deref());
            batch.blob(row.key);
            batch.end(0, Statement::Refill);
        }
        for ((index, table), rows) in evolution
            .tables
            .iter()
            .enumerate()
            .skip(1)
            .zip(row.children)
        {
            if table.array.is_none() {
                continue;
            }
            if row.existed && !table.is_new {
                batch.blob(row.key);
                batch.end(index, Statement::Clear);
            }
            for (position, data) in rows.iter().enumerate() {
                batch.blob(row.key);
                for cell in row.key_cells {
                    batch.cell(cell);
                }
                batch.int(i64::try_from(position).unwrap_or(i64::MAX));
                for cell in &data.cells {
                    batch.cell(cell);
                }
                batch.text(data.extra.as_deref());
                batch.end(index, Statement::Insert);
            }
        }
        if batch.bytes() >= BATCH_BYTES || batch.statements() >= BATCH_STATEMENTS {
            self.flush()?;
        }
        Ok(())
    }

    fn mark_deleted(
        &mut self,
        applied: &Applied,
        key: &[u8],
        closed_version: &str,
    ) -> Result<(), StoreError> {
        let (endpoint, load) = (applied.layout.endpoint, applied.load);
        let (key, closed_version, at) =
            (key.to_vec(), closed_version.to_owned(), applied.at.clone());
        self.call(move |w| w.mark_deleted(endpoint, &key, &closed_version, load, &at))
    }

    fn add_changes(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        let changes = changes.to_vec();
        self.call(move |w| w.add_changes(&changes))
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
