//! What a storage engine does for a sync, and the records of runs and changes it keeps.
//!
//! The sync logic ([`crate::sync`]) decides what to write; an [`Engine`] writes it, in one
//! transaction per endpoint, with its own SQL. Everything an engine stores is described here,
//! so that every engine's mirror answers `kiss changes` and `kiss status` the same way.

use kiss_schema::Endpoint;
use serde::Serialize;

use crate::error::StoreError;
use crate::layout::{Evolution, Layout, StoredColumn};
use crate::row::{Cell, RowData, StoredRow};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadStatus {
    /// Still running (only ever seen from another process).
    Running,
    /// Committed.
    Ok,
    /// Rolled back; the mirror was left as it was.
    Failed,
}

impl LoadStatus {
    /// Its name in `_kiss_loads`.
    pub fn name(self) -> &'static str {
        match self {
            LoadStatus::Running => "running",
            LoadStatus::Ok => "ok",
            LoadStatus::Failed => "failed",
        }
    }

    /// The status a name in `_kiss_loads` stands for.
    pub fn from_name(name: &str) -> Option<LoadStatus> {
        Some(match name {
            "running" => LoadStatus::Running,
            "ok" => LoadStatus::Ok,
            "failed" => LoadStatus::Failed,
            _ => return None,
        })
    }
}

/// One run of one endpoint (`_kiss_loads`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Load {
    /// Its number (0 until stored).
    pub id: i64,
    /// The endpoint's name.
    pub endpoint: String,
    /// The live profile (the schema's `apiVersion`).
    pub profile: String,
    /// When it started (RFC 3339, UTC).
    pub started: String,
    /// When it ended.
    pub finished: Option<String>,
    /// How it ended.
    pub status: LoadStatus,
    /// Records received.
    pub records: u64,
    /// Rows that appeared (or came back after being deleted).
    pub inserted: u64,
    /// Rows whose values changed.
    pub updated: u64,
    /// Rows that vanished from the response, marked deleted.
    pub deleted: u64,
    /// Records whose natural key repeated an earlier record's in the same response (the
    /// first is kept).
    pub duplicates: u64,
    /// Records without a natural key (not stored).
    pub skipped: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// Which process ran it (`host (pid N)`), so that a run in progress, or one whose process
    /// died, can be told apart from another machine (absent in runs of earlier versions).
    pub holder: Option<String>,
}

impl Load {
    /// A run of `endpoint` under `profile`, started at `started`, with nothing counted yet.
    pub fn new(endpoint: Endpoint, profile: &str, started: String, status: LoadStatus) -> Load {
        Load {
            id: 0,
            endpoint: endpoint.name().to_owned(),
            profile: profile.to_owned(),
            started,
            finished: None,
            status,
            records: 0,
            inserted: 0,
            updated: 0,
            deleted: 0,
            duplicates: 0,
            skipped: 0,
            error: None,
            holder: Some(holder()),
        }
    }
}

/// This machine's name, for telling syncers apart.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unnamed host".to_owned())
}

/// This process as a run's holder: `host (pid N)`.
pub fn holder() -> String {
    format!("{} (pid {})", host_name(), std::process::id())
}

/// The clock a sync records its times by: real time, or a simulated one (see the CLI's
/// `KISS_TIME_SCALE`), the same for a run's start, end and failure.
pub type Clock = fn() -> chrono::DateTime<chrono::Utc>;

/// Whose data a mirror holds: one deployment of the API and one customer of it. A mirror
/// holds one; a sync for another is refused before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The deployment: the API's base URL without credentials, or a name such as
    /// `embedded sandbox` for one that has no lasting address.
    pub deployment: String,
    /// The customer code.
    pub customer: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "customer {} of {}", self.customer, self.deployment)
    }
}

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// It appeared.
    Inserted,
    /// Its values changed.
    Updated,
    /// It vanished (and is marked deleted).
    Deleted,
}

impl ChangeKind {
    /// Its name in `_kiss_changes`.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Inserted => "inserted",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
        }
    }

    /// The kind a name in `_kiss_changes` stands for.
    pub fn from_name(name: &str) -> Option<ChangeKind> {
        Some(match name {
            "inserted" => ChangeKind::Inserted,
            "updated" => ChangeKind::Updated,
            "deleted" => ChangeKind::Deleted,
            _ => return None,
        })
    }
}

/// One change to one row (`_kiss_changes`): for an update, one per column that moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The run that made it.
    pub load: i64,
    /// When (the run's start, RFC 3339, UTC).
    pub at: String,
    /// The endpoint's name.
    pub endpoint: String,
    /// The row's natural key as people read it (`DRAC001 / UK01`).
    pub key: String,
    /// What happened.
    pub change: ChangeKind,
    /// For an update, the column (wire key) that moved.
    pub column: Option<String>,
    /// Its value before (absent or null: none).
    pub old: Option<String>,
    /// Its value after.
    pub new: Option<String>,
}

/// Which changes to read.
#[derive(Debug, Clone, Default)]
pub struct ChangeQuery {
    /// Only this endpoint's.
    pub endpoint: Option<Endpoint>,
    /// Only those at or after this time (RFC 3339).
    pub since: Option<String>,
    /// At most this many (the latest).
    pub limit: Option<u64>,
}

/// When `kiss sync --every` runs an endpoint next (`_kiss_schedule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// The endpoint's name.
    pub endpoint: String,
    /// Seconds between runs.
    pub every_secs: u64,
    /// When it runs next (RFC 3339).
    pub next: String,
}

/// Whether this process may sync an endpoint now ([`Engine::try_lock`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// It may: the lock is this process's until [`Engine::unlock`] (or its connection ends).
    Taken,
    /// Another process is syncing it: who, as the database knows it (its
    /// `application_name`, address and since when).
    HeldBy(String),
}

/// A row the mirror holds, as a sync's merge sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRow {
    /// The natural key's bytes.
    pub key: Box<[u8]>,
    /// The fingerprint of the record it was written from.
    pub hash: [u8; 16],
    /// Whether it is marked deleted.
    pub deleted: bool,
}

/// What one row write carries: the row of the endpoint's table, its children's rows, and the
/// version it closes for the history.
#[derive(Debug)]
pub struct RowWrite<'a> {
    /// The natural key's bytes.
    pub key: &'a [u8],
    /// The record's fingerprint.
    pub hash: [u8; 16],
    /// The endpoint's row: a cell per column of the sync's first table.
    pub main: &'a RowData<'a>,
    /// Per further table of the sync (children, in order), its rows.
    pub children: &'a [Vec<RowData<'a>>],
    /// The natural key's cells (child rows repeat them as `_parent_<key>`).
    pub key_cells: &'a [Cell<'a>],
    /// The version this write ends, as JSON for the history (`None` for a row that was
    /// deleted: its deletion is what ends).
    pub closed_version: Option<&'a str>,
    /// Whether the row is new (or back after being deleted) rather than changed.
    pub inserted: bool,
    /// Whether the mirror already had a row with this key (deleted or not): its children are
    /// replaced and its current version closed.
    pub existed: bool,
    /// Whether the record itself changed: `false` when an unchanged row is only rewritten to
    /// fill columns the tables just gained (no new version, no change).
    pub changed: bool,
}

/// A storage engine for the mirror: the transactions a sync writes in, and what readers ask.
///
/// A sync does its work in [`Transaction`]s that [`Engine::begin`] hands out.
pub trait Engine: Send {
    /// Where the mirror is, for messages (a path, or a URL without its password).
    fn describe(&self) -> String;

    /// Starts a transaction that no other writer shares. Dropping it unfinished rolls it
    /// back.
    fn begin(&mut self) -> Result<Box<dyn Transaction + '_>, StoreError> {
        self.start_transaction()?;
        Ok(self.started_transaction())
    }

    /// Starts a transaction on the connection: [`Engine::begin`]'s part that can fail. (Apart
    /// so that a caller can still use the engine when it does: a failure to begin a sync is
    /// recorded with it.)
    fn start_transaction(&mut self) -> Result<(), StoreError>;

    /// The transaction [`Engine::start_transaction`] started, as a value.
    fn started_transaction(&mut self) -> Box<dyn Transaction + '_>;

    /// Every row of `endpoint`'s table as a sync's merge sees it (key, fingerprint, deleted
    /// mark), read outside any sync; none before the endpoint's first sync.
    fn held(&mut self, endpoint: Endpoint) -> Result<Vec<HeldRow>, StoreError>;

    /// The latest runs, newest first, of one endpoint or all.
    fn loads(&mut self, endpoint: Option<Endpoint>, limit: u64) -> Result<Vec<Load>, StoreError>;

    /// Changes, oldest first: within a run, updates and deletions as recorded, then the rows
    /// it inserted by natural key.
    fn changes(&mut self, query: &ChangeQuery) -> Result<Vec<Change>, StoreError>;

    /// The schedules recorded.
    fn schedules(&mut self) -> Result<Vec<Schedule>, StoreError>;

    /// Whose data the mirror holds (`None` before its first sync).
    fn identity(&mut self) -> Result<Option<Identity>, StoreError>;

    /// Records that the mirror holds `identity`'s data, as of `since`, unless it records
    /// another already; returns the one it holds (in a transaction of its own).
    fn claim_identity(&mut self, identity: &Identity, since: &str) -> Result<Identity, StoreError>;

    /// Who holds the lock on `customer`'s `endpoint` right now, if anyone: whether a run
    /// recorded as running is still in progress. An engine whose mirror is a file that the
    /// caller locks whole (SQLite) cannot tell, and says no one.
    fn lock_holder(
        &mut self,
        customer: &str,
        endpoint: Endpoint,
    ) -> Result<Option<String>, StoreError> {
        let _ = (customer, endpoint);
        Ok(None)
    }

    /// Takes the lock that lets one process at a time, on any machine, sync `customer`'s
    /// `endpoint` into this mirror, unless another holds it. An engine whose mirror is a file
    /// that the caller locks whole (SQLite) always grants it.
    fn try_lock(&mut self, customer: &str, endpoint: Endpoint) -> Result<Claim, StoreError> {
        let _ = (customer, endpoint);
        Ok(Claim::Taken)
    }

    /// Releases the lock [`Engine::try_lock`] took.
    fn unlock(&mut self, customer: &str, endpoint: Endpoint) -> Result<(), StoreError> {
        let _ = (customer, endpoint);
        Ok(())
    }
}

/// One transaction on a mirror, as a value: what it prepared ([`Transaction::apply`]: the
/// tables it writes, as which run, at what time) is its own, and ends with it.
///
/// One endpoint's sync calls, in order: [`Transaction::stored_columns`],
/// [`Transaction::apply`], [`Transaction::current`], then [`Transaction::current_row`],
/// [`Transaction::write`] and [`Transaction::mark_deleted`] as needed,
/// [`Transaction::add_changes`], [`Transaction::finish_load`], and [`Transaction::commit`]
/// (or [`Transaction::fail`], or a drop, after which the mirror is exactly as it was).
pub trait Transaction {
    /// The data columns the mirror holds for `endpoint`'s tables (none before its first sync).
    fn stored_columns(&mut self, endpoint: Endpoint) -> Result<Vec<StoredColumn>, StoreError>;

    /// Creates and alters tables as `evolution` says and records its changes, as run `load`
    /// at `at`; from here on the transaction writes these tables, as this run.
    fn apply(
        &mut self,
        layout: &Layout,
        evolution: &Evolution,
        load: i64,
        at: &str,
    ) -> Result<(), StoreError>;

    /// Every row of the applied endpoint's table, as the merge needs it.
    fn current(&mut self) -> Result<Vec<HeldRow>, StoreError>;

    /// The row with this key as the mirror holds it now (cells in the order of the applied
    /// tables), unless it is absent or deleted.
    fn current_row(&mut self, key: &[u8]) -> Result<Option<StoredRow<'static>>, StoreError>;

    /// Inserts or replaces one row and its children, moving the version it ends to the
    /// history.
    fn write(&mut self, row: &RowWrite<'_>) -> Result<(), StoreError>;

    /// Marks the row with this key deleted, moving its last version (`closed_version`, JSON)
    /// to the history.
    fn mark_deleted(&mut self, key: &[u8], closed_version: &str) -> Result<(), StoreError>;

    /// Records updates and deletions (`_kiss_changes`). Insertions are not recorded apart:
    /// an inserted row's first version says when and by which run, and [`Engine::changes`]
    /// reads them from there.
    fn add_changes(&mut self, changes: &[Change]) -> Result<(), StoreError>;

    /// Records a run (as started, or failed before it could start); returns its number. A
    /// sync calls it in a transaction of its own, committed before the sync's begins, so
    /// that other processes see the run while it runs.
    fn start_load(&mut self, load: &Load) -> Result<i64, StoreError>;

    /// Records how a run ended.
    fn finish_load(&mut self, load: &Load) -> Result<(), StoreError>;

    /// Records when an endpoint runs next under `kiss sync --every`.
    fn set_schedule(&mut self, schedule: &Schedule) -> Result<(), StoreError>;

    /// Makes everything in it permanent.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;

    /// Makes a sync's run permanent; when that fails, nothing of it stays and `run` is
    /// recorded as failed, with why, in a transaction of its own.
    fn commit_run(self: Box<Self>, run: &Load) -> Result<(), StoreError>;

    /// Undoes everything in it.
    fn rollback(self: Box<Self>) -> Result<(), StoreError>;

    /// Undoes everything in it, then records `load` as it ended (failed) in a transaction of
    /// its own. Best effort: when the mirror cannot be written (its connection is gone), the
    /// run stays as it was recorded.
    fn fail(self: Box<Self>, load: &Load);
}

/// What [`Transaction::apply`] prepared: the tables a transaction writes, as which run, at
/// what time (an engine's transaction keeps it, so that its later calls need not be told).
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub(crate) layout: Layout,
    pub(crate) evolution: Evolution,
    pub(crate) load: i64,
    pub(crate) at: String,
}

impl Applied {
    /// The applied state, or the error of a call made before [`Transaction::apply`].
    pub(crate) fn of(applied: &Option<Applied>) -> Result<&Applied, StoreError> {
        applied.as_ref().ok_or_else(|| StoreError::Corrupt {
            detail: "a transaction wrote rows before its tables were applied".to_owned(),
        })
    }
}

/// What an engine's handle does in a transaction: [`EngineTransaction`], the one
/// [`Transaction`] of every engine, calls it with what the transaction applied.
pub(crate) trait TransactionOps: Engine {
    /// Starts the transaction on the connection.
    fn open_transaction(&mut self) -> Result<(), StoreError>;
    /// Commits it (rolled back when that fails).
    fn commit_transaction(&mut self) -> Result<(), StoreError>;
    /// Rolls it back.
    fn rollback_transaction(&mut self) -> Result<(), StoreError>;
    /// See [`Transaction::stored_columns`].
    fn stored_columns(&mut self, endpoint: Endpoint) -> Result<Vec<StoredColumn>, StoreError>;
    /// See [`Transaction::apply`].
    fn apply(
        &mut self,
        layout: &Layout,
        evolution: &Evolution,
        load: i64,
        at: &str,
    ) -> Result<(), StoreError>;
    /// Every row of `endpoint`'s table (see [`Transaction::current`]).
    fn current(&mut self, endpoint: Endpoint) -> Result<Vec<HeldRow>, StoreError>;
    /// See [`Transaction::current_row`].
    fn current_row(&mut self, key: &[u8]) -> Result<Option<StoredRow<'static>>, StoreError>;
    /// See [`Transaction::write`]; `applied` is what the transaction applied.
    fn write(&mut self, applied: &Applied, row: &RowWrite<'_>) -> Result<(), StoreError>;
    /// See [`Transaction::mark_deleted`].
    fn mark_deleted(
        &mut self,
        applied: &Applied,
        key: &[u8],
        closed_version: &str,
    ) -> Result<(), StoreError>;
    /// See [`Transaction::add_changes`].
    fn add_changes(&mut self, changes: &[Change]) -> Result<(), StoreError>;
    /// See [`Transaction::start_load`].
    fn start_load(&mut self, load: &Load) -> Result<i64, StoreError>;
    /// See [`Transaction::finish_load`].
    fn finish_load(&mut self, load: &Load) -> Result<(), StoreError>;
    /// See [`Transaction::set_schedule`].
    fn set_schedule(&mut self, schedule: &Schedule) -> Result<(), StoreError>;
}

/// A transaction on an engine: what its `apply` prepared is kept here; the engine's
/// database thread holds the rest (statements, staging tables) until it ends.
pub(crate) struct EngineTransaction<'e, E: TransactionOps + ?Sized> {
    engine: &'e mut E,
    applied: Option<Applied>,
    open: bool,
}

impl<'e, E: TransactionOps + ?Sized> EngineTransaction<'e, E> {
    /// The transaction that `engine.open_transaction()` started.
    pub(crate) fn new(engine: &'e mut E) -> EngineTransaction<'e, E> {
        EngineTransaction {
            engine,
            applied: None,
            open: true,
        }
    }
}

impl<E: TransactionOps + ?Sized> Transaction for EngineTransaction<'_, E> {
    fn stored_columns(&mut self, endpoint: Endpoint) -> Result<Vec<StoredColumn>, StoreError> {
        self.engine.stored_columns(endpoint)
    }

    fn apply(
        &mut self,
        layout: &Layout,
        evolution: &Evolution,
        load: i64,
        at: &str,
    ) -> Result<(), StoreError> {
        self.engine.apply(layout, evolution, load, at)?;
        self.applied = Some(Applied {
            layout: layout.clone(),
            evolution: evolution.clone(),
            load,
            at: at.to_owned(),
        });
        Ok(())
    }

    fn current(&mut self) -> Result<Vec<HeldRow>, StoreError> {
        let endpoint = Applied::of(&self.applied)?.layout.endpoint;
        self.engine.current(endpoint)
    }

    fn current_row(&mut self, key: &[u8]) -> Result<Option<StoredRow<'static>>, StoreError> {
        Applied::of(&self.applied)?;
        self.engine.current_row(key)
    }

    fn write(&mut self, row: &RowWrite<'_>) -> Result<(), StoreError> {
        let applied = Applied::of(&self.applied)?;
        self.engine.write(applied, row)
    }

    fn mark_deleted(&mut self, key: &[u8], closed_version: &str) -> Result<(), StoreError> {
        let applied = Applied::of(&self.applied)?;
        self.engine.mark_deleted(applied, key, closed_version)
    }

    fn add_changes(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        self.engine.add_changes(changes)
    }

    fn start_load(&mut self, load: &Load) -> Result<i64, StoreError> {
        self.engine.start_load(load)
    }

    fn finish_load(&mut self, load: &Load) -> Result<(), StoreError> {
        self.engine.finish_load(load)
    }

    fn set_schedule(&mut self, schedule: &Schedule) -> Result<(), StoreError> {
        self.engine.set_schedule(schedule)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.open = false;
        let committed = self.engine.commit_transaction();
        if committed.is_err() {
            let _ = self.engine.rollback_transaction();
        }
        committed
    }

    fn commit_run(mut self: Box<Self>, run: &Load) -> Result<(), StoreError> {
        self.open = false;
        commit_or_record(
            &mut *self.engine,
            |engine| engine.commit_transaction(),
            |engine| engine.rollback_transaction(),
            run,
        )
    }

    fn rollback(mut self: Box<Self>) -> Result<(), StoreError> {
        self.open = false;
        self.engine.rollback_transaction()
    }

    fn fail(mut self: Box<Self>, load: &Load) {
        self.open = false;
        let _ = self.engine.rollback_transaction();
        record_ended(&mut *self.engine, load);
    }
}

impl<E: TransactionOps + ?Sized> Drop for EngineTransaction<'_, E> {
    fn drop(&mut self) {
        if self.open {
            // A failed rollback is the database's to finish: SQLite's journal undoes it on
            // the next open, and PostgreSQL ends a session that is gone.
            let _ = self.engine.rollback_transaction();
        }
    }
}

/// What an engine's transaction does for [`Transaction::commit_run`]: `commit`, and when it
/// fails, `rollback` and the run recorded as failed on `engine`.
fn commit_or_record<E: Engine + ?Sized>(
    engine: &mut E,
    commit: impl FnOnce(&mut E) -> Result<(), StoreError>,
    rollback: impl FnOnce(&mut E) -> Result<(), StoreError>,
    run: &Load,
) -> Result<(), StoreError> {
    let Err(e) = commit(engine) else {
        return Ok(());
    };
    let _ = rollback(engine);
    let mut failed = run.clone();
    failed.status = LoadStatus::Failed;
    failed.error = Some(e.to_string());
    record_ended(engine, &failed);
    Err(e)
}

/// Records `load` as it ended in a transaction of its own (for [`Transaction::fail`]).
fn record_ended<E: Engine + ?Sized>(engine: &mut E, load: &Load) {
    if let Ok(mut transaction) = engine.begin() {
        if transaction.finish_load(load).is_ok() {
            let _ = transaction.commit();
        }
    }
}
