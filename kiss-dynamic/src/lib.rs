//! Records of the Kiss Customer API whose shape is only known at run time.
//!
//! Decodes records by the live schema ([`Decoder`]): typed values ([`Value`]) including exact
//! decimals that keep their text, every field the schema does not know kept and reported, a
//! lossless way back to JSON, a push decoder for arrays arriving in chunks ([`ArrayStream`])
//! a pass-through of records checked against the schema but never re-encoded ([`RawStream`]),
//! and a tabular view for CSV ([`TableLayout`]). This is how users stay forward-compatible: the
//! API adds fields without changing its profile. It also holds what kiss-generated's structs
//! are built from ([`model`]: their one decoding engine, from bytes or through serde; [`typed`]:
//! unknown-field capture, exact decimals through serde).
//!
//! Schemas come from [`kiss_schema`] (re-exported here, so one dependency is enough to decode).
//! This crate does no I/O: fetching is the client's job, serving the sandbox's.
//!
//! The modules are layered; each imports only from the ones below it:
//!
//! | layer | modules |
//! |---|---|
//! | views and adapters | [`table`], [`model`] (the generated structs' engine) over [`typed`] |
//! | streaming | [`stream`] (chunked arrays, decoded), [`raw`] (chunked arrays, checked and passed on as they came) over `check` (records checked without being built) |
//! | decoding | [`decode`] (modes, serde seeds) over `build` (records from the lexer) |
//! | data | [`record`] (records and values), [`decimal`] |
//! | the lexer | `lexer` (JSON bytes, one pass) |
//! | vocabulary | [`error`] (issues, errors, positions) |

mod build;
mod check;
pub mod decimal;
pub mod decode;
pub mod error;
mod lexer;
pub mod model;
pub mod raw;
pub mod record;
pub mod stream;
pub mod table;
pub mod typed;

pub use decimal::Decimal;
pub use decode::{ArraySeed, Decoder, Mode, RecordSeed};
pub use error::{DecodeError, Issue, IssueKind};
pub use raw::{FeedError, RawRecord, RawStream, RawValue};
pub use record::{Entry, EntryKind, FromValue, RawJson, Record, RecordSchema, TypeMismatch, Value};
pub use stream::{ArrayStream, ElementDecoder, Records, StreamError, Typed};
pub use table::{cell, TableLayout, EXTRA_COLUMN};

/// The string type of [`Value::String`] and of kiss-generated's string fields: short strings
/// (up to 24 bytes, most codes and SKUs) inline, without an allocation. Derefs to `str`.
pub use compact_str::CompactString;

/// The schema model these records are decoded by.
pub use kiss_schema::{self, FieldSchema, FieldType, SchemaDocument};
