//! One endpoint's sync: one transaction that adapts the tables to the live schema, merges the
//! response by natural key, writes only what changed, and keeps the history and the changes.
//!
//! A record is compared with what the mirror holds by its fingerprint (a hash of its compact
//! text), so an unchanged record costs one hash and no write; only a new or changed record is
//! decoded into its row. A sync that is dropped before [`EndpointSync::finish`] rolls back.

use std::collections::HashMap;
use std::hash::BuildHasher;

use chrono::{DateTime, Utc};
use kiss_dynamic::{RawRecord, RawStream, SchemaDocument};
use kiss_schema::Endpoint;

use crate::engine::{Change, ChangeKind, Clock, Engine, Load, LoadStatus, RowWrite, Transaction};
use crate::error::StoreError;
use crate::layout::{evolve, Evolution, Layout, OnSchemaChange, SchemaChange};
use crate::row::{
    children_of, fingerprint, key_into, moved, positions, row_of, version_json, with_member, Cell,
    Children, Key, NestedArray, RowData, StoredRow,
};

/// How many changes are gathered before they are written.
const CHANGE_BATCH: usize = 4096;

/// How many duplicate keys a summary names (all are counted).
const NAMED_DUPLICATES: usize = 5;

/// The rows' keys are the server's text: a hash with a per-process random seed, so that no
/// response can be made of keys that collide (xxh3 rather than std's SipHash: a sync hashes
/// every key, and this is several times faster).
type Keys<V> = HashMap<Box<[u8]>, V, KeyHashing>;

/// Hashes a byte-string key in one call of xxh3. Written here because std's `Hash` for
/// `[u8]` feeds a hasher twice (the length, then the bytes), and xxhash-rust's streaming
/// hasher takes several times longer over two small writes than its one-shot function over
/// one (hashing was 8 % of a re-sync's time).
#[derive(Debug, Clone, Copy)]
struct KeyHashing {
    seed: u64,
}

struct KeyHasher {
    seed: u64,
    hash: u64,
}

impl BuildHasher for KeyHashing {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher {
            seed: self.seed,
            hash: 0,
        }
    }
}

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.hash = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.seed ^ self.hash);
    }
    fn write_usize(&mut self, n: usize) {
        // The length prefix: folded into the seed of the bytes' hash, not hashed apart.
        self.hash = (self.hash ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        self.hash
    }
}

fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

/// A row the mirror held when the sync began, or one this sync added.
struct Held {
    hash: [u8; 16],
    deleted: bool,
    seen: bool,
}

/// What a finished sync did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The run as recorded in `_kiss_loads`.
    pub load: Load,
    /// What changed in the tables.
    pub schema_changes: Vec<SchemaChange>,
    /// The first few natural keys that came more than once (all are counted in the load).
    pub duplicate_keys: Vec<String>,
}

/// One endpoint's sync in progress.
pub struct EndpointSync<'e> {
    /// The sync's transaction, while it is open.
    transaction: Option<Box<dyn Transaction + 'e>>,
    endpoint: Endpoint,
    layout: Layout,
    evolution: Evolution,
    load: Load,
    at: String,
    held: Keys<Held>,
    /// The key of the record being merged (a buffer kept from record to record).
    key: Vec<u8>,
    changes: Vec<Change>,
    duplicate_keys: Vec<String>,
    compact: Vec<u8>,
    /// One checker per table after the endpoint's, for the nested arrays' elements.
    checkers: Vec<Option<RawStream>>,
    /// Per table, where each column's value is in a record (or element).
    positions: Vec<Vec<Option<usize>>>,
    /// Per table after the endpoint's, where its nested array is in a record.
    arrays: Vec<Option<NestedArray>>,
    /// Where the natural key's fields are in a record.
    key_positions: Vec<Option<usize>>,
    /// Which of the endpoint's table's columns hold the natural key.
    key_columns: Vec<Option<usize>>,
    /// Whether the tables gained columns that unchanged rows must be rewritten to fill (a
    /// new field, a changed type, a returning field, a new nested array).
    refill: bool,
    /// The time the run's times are taken from.
    clock: Clock,
}

/// RFC 3339 in UTC with milliseconds: sorts as text in time order.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl<'e> EndpointSync<'e> {
    /// Begins `endpoint`'s sync against its live `schema`: records the run as running since
    /// `started` (when its data was asked for; committed at once, so that other processes
    /// see it), opens the sync's
    /// transaction, and adapts the tables (or fails, the tables untouched, when a type
    /// changed under [`OnSchemaChange::Freeze`]). Its end, or failure, is timed by `clock`. A sync that fails from here on is recorded
    /// as failed ([`EndpointSync::fail`], or dropping it); one whose process dies stays `running`,
    /// which readers tell from a live run by its lock ([`Engine::lock_holder`]).
    pub fn begin<E: Engine + ?Sized>(
        engine: &'e mut E,
        endpoint: Endpoint,
        schema: &SchemaDocument,
        on_schema_change: OnSchemaChange,
        started: DateTime<Utc>,
        clock: Clock,
    ) -> Result<EndpointSync<'e>, StoreError> {
        let at = timestamp(started);
        let layout = match Layout::from_schema(endpoint, schema) {
            Ok(layout) => layout,
            Err(e) => {
                record_failure(
                    engine,
                    endpoint,
                    &schema.api_version,
                    started,
                    clock(),
                    &e.to_string(),
                )?;
                return Err(e);
            }
        };
        let running = Load::new(
            endpoint,
            &schema.api_version,
            at.clone(),
            LoadStatus::Running,
        );
        let id = {
            let mut transaction = engine.begin()?;
            let id = transaction.start_load(&running)?;
            transaction.commit()?;
            id
        };
        let mut load = running;
        load.id = id;
        if let Err(e) = engine.start_transaction() {
            close_failed(engine, &mut load, clock(), &e.to_string());
            return Err(e);
        }
        let transaction = engine.started_transaction();
        let mut sync = EndpointSync {
            transaction: Some(transaction),
            endpoint,
            layout,
            evolution: Evolution {
                changes: Vec::new(),
                tables: Vec::new(),
            },
            load,
            at,
            held: Keys::with_hasher(KeyHashing {
                seed: random_seed(),
            }),
            key: Vec::new(),
            changes: Vec::new(),
            duplicate_keys: Vec::new(),
            compact: Vec::with_capacity(4096),
            checkers: Vec::new(),
            positions: Vec::new(),
            arrays: Vec::new(),
            key_positions: Vec::new(),
            key_columns: Vec::new(),
            refill: false,
            clock,
        };
        // From here on, dropping `sync` rolls back and records the run as failed.
        if let Err(e) = sync.prepare(schema, on_schema_change) {
            sync.abandon(&e.to_string());
            return Err(e);
        }
        Ok(sync)
    }

    /// Adapts the tables to `schema` and reads what the mirror holds, in the sync's
    /// transaction.
    fn prepare(
        &mut self,
        schema: &SchemaDocument,
        on_schema_change: OnSchemaChange,
    ) -> Result<(), StoreError> {
        let endpoint = self.endpoint;
        let stored = self.transaction()?.stored_columns(endpoint)?;
        self.evolution = evolve(&self.layout, &stored);
        if on_schema_change == OnSchemaChange::Freeze {
            let frozen: Vec<String> = self
                .evolution
                .changes
                .iter()
                .filter(|c| c.is_type_change())
                .map(ToString::to_string)
                .collect();
            if !frozen.is_empty() {
                return Err(StoreError::Frozen {
                    endpoint: endpoint.name(),
                    changes: frozen.join("; "),
                });
            }
        }
        let (load, at) = (self.load.id, self.at.clone());
        let (layout, evolution) = (self.layout.clone(), self.evolution.clone());
        self.transaction()?.apply(&layout, &evolution, load, &at)?;
        let existing_tables = self.evolution.tables.iter().any(|t| !t.is_new);
        self.refill = existing_tables
            && self
                .evolution
                .changes
                .iter()
                .any(|c| !matches!(c, SchemaChange::Removed { .. }));
        self.checkers = (1..self.evolution.tables.len()).map(|_| None).collect();
        let record_schema = kiss_dynamic::RecordSchema::from_document(schema);
        self.arrays = self
            .evolution
            .tables
            .iter()
            .skip(1)
            .map(|table| {
                table
                    .array
                    .as_deref()
                    .and_then(|a| NestedArray::find(&record_schema, a))
            })
            .collect();
        self.positions = self
            .evolution
            .tables
            .iter()
            .enumerate()
            .map(|(i, table)| match i.checked_sub(1) {
                None => positions(table, &record_schema),
                Some(child) => match self.arrays.get(child) {
                    Some(Some(array)) => positions(table, &array.elements),
                    _ => Vec::new(),
                },
            })
            .collect();
        self.key_positions = self
            .layout
            .key
            .iter()
            .map(|k| record_schema.position(&k.wire_key))
            .collect();
        let main_columns = self
            .evolution
            .tables
            .first()
            .map(|t| t.columns.as_slice())
            .unwrap_or_default();
        self.key_columns = self
            .layout
            .key
            .iter()
            .map(|k| {
                main_columns
                    .iter()
                    .position(|c| c.active && c.wire_key == k.wire_key)
            })
            .collect();
        let current = self.transaction()?.current()?;
        self.held.reserve(current.len());
        self.held.extend(current.into_iter().map(|row| {
            (
                row.key,
                Held {
                    hash: row.hash,
                    deleted: row.deleted,
                    seen: false,
                },
            )
        }));
        Ok(())
    }

    /// What this sync changes in the tables.
    pub fn schema_changes(&self) -> &[SchemaChange] {
        &self.evolution.changes
    }

    /// Merges one record of the response.
    pub fn add(&mut self, record: &RawRecord<'_>) -> Result<(), StoreError> {
        self.load.records += 1;
        let mut key = std::mem::take(&mut self.key);
        let merged = self.merge_keyed(record, &mut key);
        self.key = key;
        merged
    }

    fn merge_keyed(&mut self, record: &RawRecord<'_>, key: &mut Vec<u8>) -> Result<(), StoreError> {
        if !key_into(record, &self.key_positions, key) {
            self.load.skipped += 1;
            return Ok(());
        }
        let key: &[u8] = key;
        let hash = if record.is_compact() {
            fingerprint(record.json().as_bytes())
        } else {
            self.compact.clear();
            record.write_compact(&mut self.compact);
            fingerprint(&self.compact)
        };
        let (existed, inserted, changed) = match self.held.get_mut(key) {
            Some(held) if held.seen => {
                self.duplicate(key);
                return Ok(());
            }
            Some(held) => {
                held.seen = true;
                if held.hash == hash && !held.deleted {
                    if !self.refill {
                        return Ok(());
                    }
                    // Unchanged, but the tables gained columns it must fill.
                    (true, false, false)
                } else {
                    let inserted = held.deleted;
                    held.hash = hash;
                    held.deleted = false;
                    (true, inserted, true)
                }
            }
            None => {
                self.held.insert(
                    key.into(),
                    Held {
                        hash,
                        deleted: false,
                        seen: true,
                    },
                );
                (false, true, true)
            }
        };
        let new = self.stored_row(record);
        let mut closed_version = None;
        if changed && !inserted {
            if let Some(old) = self.transaction()?.current_row(key)? {
                let moved = moved(&self.evolution.tables, &old, &new);
                // The same values in another order or spacing: the row is rewritten (for its
                // fingerprint) but nothing changed.
                if !moved.is_empty() {
                    self.load.updated += 1;
                    for m in moved {
                        self.change(key, ChangeKind::Updated, Some(m));
                    }
                }
                closed_version = Some(version_json(&self.evolution.tables, &old));
            }
        }
        if inserted {
            // Its change is its first version: nothing more to record.
            self.load.inserted += 1;
        }
        let key_cells = self.key_cells(&new.main);
        let write = RowWrite {
            key,
            hash,
            main: &new.main,
            children: &new.children,
            key_cells: &key_cells,
            closed_version: closed_version.as_deref(),
            inserted,
            existed,
            changed,
        };
        self.transaction()?.write(&write)?;
        if self.changes.len() >= CHANGE_BATCH {
            let changes = std::mem::take(&mut self.changes);
            self.transaction()?.add_changes(&changes)?;
            self.changes = changes;
            self.changes.clear();
        }
        Ok(())
    }

    /// The rows `record` becomes: the endpoint's, and each child table's.
    fn stored_row<'r>(&mut self, record: &RawRecord<'r>) -> StoredRow<'r> {
        let tables = &self.evolution.tables;
        let no_positions = Vec::new();
        let mut main = match tables.first() {
            Some(table) => row_of(
                table,
                self.positions.first().unwrap_or(&no_positions),
                record,
            ),
            None => RowData {
                cells: Vec::new(),
                extra: None,
            },
        };
        let mut children = Vec::with_capacity(tables.len().saturating_sub(1));
        for (((table, positions), array), checker) in tables
            .iter()
            .zip(&self.positions)
            .skip(1)
            .zip(&self.arrays)
            .zip(self.checkers.iter_mut())
        {
            let Some(array) = array else {
                children.push(Vec::new());
                continue;
            };
            match children_of(table, positions, record, array, checker) {
                Children::Rows(rows) => children.push(rows),
                Children::Unfit(value) => {
                    // Not an array of objects: no child rows, and the value kept whole, as
                    // it came, where unknown fields go (the record's issues report it).
                    let key = table.array.as_deref().unwrap_or(&table.name);
                    main.extra = Some(with_member(main.extra.take(), key, &value));
                    children.push(Vec::new());
                }
            }
        }
        StoredRow { main, children }
    }

    /// The natural key's cells, from the endpoint's row.
    fn key_cells<'r>(&self, main: &RowData<'r>) -> Vec<Cell<'r>> {
        self.key_columns
            .iter()
            .map(|column| {
                column
                    .and_then(|i| main.cells.get(i).cloned())
                    .unwrap_or(Cell::Null)
            })
            .collect()
    }

    fn duplicate(&mut self, key: &[u8]) {
        self.load.duplicates += 1;
        if self.duplicate_keys.len() < NAMED_DUPLICATES {
            self.duplicate_keys.push(Key::display_of(key));
        }
    }

    fn change(&mut self, key: &[u8], kind: ChangeKind, moved: Option<crate::row::Moved>) {
        // What a person reads holds no NUL (no PostgreSQL text can, and no terminal shows one):
        // every engine records U+FFFD in its place.
        let readable = |text: String| {
            if text.contains('\0') {
                text.replace('\0', "\u{FFFD}")
            } else {
                text
            }
        };
        let (column, old, new) = match moved {
            Some(m) => (
                Some(readable(m.column)),
                m.old.map(readable),
                m.new.map(readable),
            ),
            None => (None, None, None),
        };
        self.changes.push(Change {
            load: self.load.id,
            at: self.at.clone(),
            endpoint: self.endpoint.name().to_owned(),
            key: Key::display_of(key),
            change: kind,
            column,
            old,
            new,
        });
    }

    /// Rolls the sync back and records its run as failed, with `error` (what a person
    /// reads in `kiss status`).
    pub fn fail(mut self, error: &str) {
        self.abandon(error);
    }

    fn abandon(&mut self, error: &str) {
        let Some(transaction) = self.transaction.take() else {
            return;
        };
        // Nothing of an unfinished sync stays; the run is recorded as failed.
        self.load.status = LoadStatus::Failed;
        self.load.finished = Some(timestamp((self.clock)()));
        self.load.error = Some(error.to_owned());
        transaction.fail(&self.load);
    }

    /// The sync's transaction: open from [`EndpointSync::begin`] until it is finished or
    /// abandoned, and no method runs after that.
    fn transaction(&mut self) -> Result<&mut (dyn Transaction + 'e), StoreError> {
        self.transaction
            .as_deref_mut()
            .ok_or_else(|| StoreError::Corrupt {
                detail: "a sync was used after it ended".to_owned(),
            })
    }

    /// Marks what the response no longer had as deleted, records the run, and commits.
    pub fn finish(mut self) -> Result<Summary, StoreError> {
        let outcome = self.finish_run();
        if let Err(e) = &outcome {
            self.abandon(&e.to_string());
        }
        outcome
    }

    fn finish_run(&mut self) -> Result<Summary, StoreError> {
        let mut vanished: Vec<Box<[u8]>> = self
            .held
            .iter()
            .filter(|(_, held)| !held.seen && !held.deleted)
            .map(|(key, _)| key.clone())
            .collect();
        // By key, not in the map's (randomly seeded) order: every run, and every engine,
        // records the same deletions in the same order.
        vanished.sort_unstable();
        for key in vanished {
            let last = self
                .transaction()?
                .current_row(&key)?
                .map(|row| version_json(&self.evolution.tables, &row))
                .unwrap_or_default();
            self.transaction()?.mark_deleted(&key, &last)?;
            self.load.deleted += 1;
            let display = Key::display_of(&key);
            self.changes.push(Change {
                load: self.load.id,
                at: self.at.clone(),
                endpoint: self.endpoint.name().to_owned(),
                key: display,
                change: ChangeKind::Deleted,
                column: None,
                old: None,
                new: None,
            });
        }
        let changes = std::mem::take(&mut self.changes);
        self.transaction()?.add_changes(&changes)?;
        let mut load = self.load.clone();
        load.status = LoadStatus::Ok;
        load.finished = Some(timestamp((self.clock)()));
        self.transaction()?.finish_load(&load)?;
        if let Some(transaction) = self.transaction.take() {
            // A commit that fails records the run as failed itself: the transaction is gone.
            transaction.commit_run(&load)?;
        }
        self.load = load;
        Ok(Summary {
            load: self.load.clone(),
            schema_changes: self.evolution.changes.clone(),
            duplicate_keys: std::mem::take(&mut self.duplicate_keys),
        })
    }
}

impl Drop for EndpointSync<'_> {
    fn drop(&mut self) {
        // Dropped unfinished: the caller stopped it (Ctrl-C, SIGTERM, or an error it did not
        // hand to `fail`).
        self.abandon("stopped before it finished; nothing of it was kept");
    }
}

/// Records the running `load` as failed, in a transaction of its own. Best effort: when the
/// mirror cannot be written (the connection is gone), the run stays `running`, and readers
/// see it as stale once its lock is free.
fn close_failed<E: Engine + ?Sized>(
    engine: &mut E,
    load: &mut Load,
    finished: DateTime<Utc>,
    error: &str,
) {
    load.status = LoadStatus::Failed;
    load.finished = Some(timestamp(finished));
    load.error = Some(error.to_owned());
    if let Ok(mut transaction) = engine.begin() {
        if transaction.finish_load(load).is_ok() {
            let _ = transaction.commit();
        }
    }
}

/// Records a run that failed before its sync could begin (its data never arrived, say), in
/// a transaction of its own, so that `kiss status` can say why. `profile` is the live
/// schema's, when it arrived (empty otherwise).
pub fn record_failure<E: Engine + ?Sized>(
    engine: &mut E,
    endpoint: Endpoint,
    profile: &str,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
    error: &str,
) -> Result<(), StoreError> {
    let mut load = Load::new(endpoint, profile, timestamp(started), LoadStatus::Failed);
    load.finished = Some(timestamp(finished));
    load.error = Some(error.to_owned());
    let mut transaction = engine.begin()?;
    transaction.start_load(&load)?;
    transaction.commit()
}
