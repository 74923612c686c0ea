//! Types for the Kiss Customer API whose shape is only known at run time.
//!
//! This crate holds the workspace's **one schema model** ([`schema`]): the parsed form of the
//! API's schema documents (`/products/schema`, `/stock/schema`, and our checked-in one for
//! `/prices`), the mapping from schema names to wire keys and Rust identifiers ([`names`]), and
//! the diff between two schema documents ([`diff`]). Code generation, the client, the sandbox
//! and the CLI all read schemas through it, so the quirks of the API (schema names with only the
//! first letter lowered) are handled in exactly one place.
//!
//! It does no I/O: fetching documents is the client's job, serving them the sandbox's.

pub mod diff;
pub mod names;
pub mod schema;

pub use diff::{ArrayChange, FieldChange, SchemaDiff, SectionDiff};
pub use names::{rust_field_idents, rust_ident, wire_key, RustIdentError};
pub use schema::{
    prices_schema, ArraySchema, FieldSchema, FieldType, SchemaDocument, SchemaError,
    PRICES_SCHEMA_JSON,
};
