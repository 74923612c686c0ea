//! Types for the Kiss Customer API whose shape is only known at run time.
//!
//! This crate holds the workspace's **one schema model** ([`schema`]): the parsed form of the
//! API's schema documents (`/products/schema`, `/stock/schema`, and our checked-in one for
//! `/prices`), the mapping from schema names to wire keys and Rust identifiers ([`names`]), and
//! the diff between two schema documents ([`diff`]). Code generation, the client, the sandbox
//! and the CLI all read schemas through it, so the quirks of the API (schema names with only the
//! first letter lowered) are handled in exactly one place.
//!
//! On top of the model it decodes records by the live schema ([`Decoder`]): typed values
//! ([`Value`]) including exact decimals that keep their text, every field the schema does not
//! know kept and reported, a lossless way back to JSON, a push decoder for arrays arriving in
//! chunks ([`ArrayStream`]) and a tabular view for CSV ([`TableLayout`]). This is how users stay
//! forward-compatible: the API adds fields without changing its profile.
//!
//! It does no I/O: fetching documents is the client's job, serving them the sandbox's.

pub mod decimal;
pub mod decode;
pub mod diff;
pub mod fast;
pub mod names;
mod parse;
pub mod record;
pub mod schema;
pub mod stream;
pub mod table;
pub mod typed;
pub mod value;

pub use decimal::Decimal;
pub use decode::{ArraySeed, DecodeError, Decoder, Issue, IssueKind, Mode, RecordSeed};
pub use record::{Entry, EntryKind, Record, RecordSchema, TypeMismatch};
pub use stream::{ArrayStream, ElementDecoder, Records, StreamError, Typed};
pub use table::{cell, TableLayout};
pub use value::{RawJson, Value};

/// The string type of [`Value::String`] and of kiss-generated's string fields: short strings
/// (up to 24 bytes, most codes and SKUs) inline, without an allocation. Derefs to `str`.
pub use compact_str::CompactString;

pub use diff::{ArrayChange, FieldChange, SchemaDiff, SectionDiff};
pub use names::{rust_field_idents, rust_ident, wire_key, RustIdentError};
pub use schema::{
    prices_schema, ArraySchema, FieldSchema, FieldType, SchemaDocument, SchemaError,
    PRICES_SCHEMA_JSON,
};
