//! A live local mirror of the Kiss Customer API in a database: what `kiss sync` drives.
//!
//! Tables come from the live schema, not from inference: one per endpoint (`products`,
//! `stock`, `prices`) and one per nested array (`product_images`, …), with columns named
//! exactly as the wire keys (`"SKU"`, `"PackagedLength_in_cm"`) and typed by the schema.
//! Decimals are stored exactly, never as floats: in SQLite as their text (a `TEXT` column:
//! `19.9500` reads back as `19.9500`), in PostgreSQL as `NUMERIC` (which keeps the scale). Keys the schema does not list are kept in `_extra`, one
//! JSON object per row: nothing the API sends is lost.
//!
//! A sync merges by natural key (products by `SKU`, stock by `SKU` + `StockLocation`, prices
//! by `PriceListCode` + `SKU` + `MOQ`), writes only what changed, marks vanished rows deleted
//! (never removes them), and keeps every version of every row (`<table>_history`, valid from
//! and valid to) and every update and deletion column by column (`_kiss_changes`; an insertion
//! is a row's first version, read from `<table>_versions`). A new field becomes a new
//! column and a new nested array a new table, in the same transaction as the data; a changed
//! type follows the [`OnSchemaChange`] contract. Each endpoint's sync is one transaction.
//!
//! The storage engine is behind [`Engine`]; [`SqliteEngine`] is the embedded default (SQLite,
//! bundled: nothing to install) and [`PostgresEngine`] the shared mirror for teams (typed
//! columns, bulk `COPY`, an advisory lock per customer endpoint, and the quota's send log for
//! every machine in [`postgres::QuotaLog`]). The sync logic ([`EndpointSync`]) never sees SQL.
//!
//! Commands drive a [`Mirror`]: opened at a [`Location`] (a SQLite path or a PostgreSQL
//! URL), locked per customer endpoint with one API for both engines, and holding one
//! deployment's customer ([`Identity`]). Every run is recorded in `_kiss_loads` while it
//! runs, and how it ended. [`schedule`] holds the rules of `kiss sync --every`.
//!
//! The modules are layered; each imports only from the ones below it:
//!
//! | layer | modules |
//! |---|---|
//! | a whole sync | [`run`] (endpoints under their locks, side by side or in turn; the `--every` loop) |
//! | what commands drive | [`mirror`] (where, the lock, whose data), [`schedule`] (`--every`'s rules) |
//! | over any engine, and engines | [`sync`] (one endpoint's run: merge, history, changes), [`sqlite`], [`postgres`] |
//! | what both engines write alike | the bookkeeping tables and statements, once for both dialects |
//! | what engines do and store | [`engine`] (the trait, runs, changes, locks), the database thread they keep their connection on |
//! | rows | [`row`] (rows from records' text, keys, fingerprints, what moved) |
//! | tables | [`layout`] (tables and columns from a schema, and how they evolve) |
//! | vocabulary | [`error`] |

mod bookkeeping;
pub mod engine;
pub mod error;
pub mod layout;
pub mod mirror;
pub mod postgres;
pub mod row;
pub mod run;
pub mod schedule;
pub mod sqlite;
pub mod sync;
mod thread;

pub use engine::{
    holder, Change, ChangeKind, ChangeQuery, Claim, Clock, Engine, HeldRow, Identity, Load,
    LoadStatus, RowWrite, Schedule, Transaction,
};
pub use error::StoreError;
pub use layout::{natural_key, ColumnType, Layout, OnSchemaChange, SchemaChange};
pub use mirror::{Location, Locked, Mirror};
pub use postgres::{PostgresEngine, QuotaLog};
pub use run::{Failed, Merged, Observer, Plan, Records, Source, Stopped};
pub use schedule::Every;
pub use sqlite::SqliteEngine;
pub use sync::{record_failure, timestamp, EndpointSync, Summary};
