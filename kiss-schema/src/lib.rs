//! The Kiss Customer API's contract, as data: what every other crate of kiss-rs agrees on.
//!
//! - [`SchemaDocument`]: the workspace's **one schema model**, the parsed form of the API's
//!   schema documents (`/products/schema`, `/stock/schema`, and our own for `/prices`, which
//!   has no schema endpoint).
//! - [`wire_key`]: the one function that turns a schema name into the key the data uses
//!   (`sKU` → `SKU`: only the first character is upper-cased; see [`names`]).
//! - [`SchemaDiff`]: what changed between two schema documents, field by field.
//! - [`Endpoint`]: the three data endpoints, their paths and their schema paths.
//! - [`contract`]: the default profile's schema documents and the documentation's example
//!   payloads, the only copy of them in the repository.
//!
//! It does no I/O, and knows nothing of Rust identifiers (that is kiss-codegen's job), of
//! records (kiss-dynamic) or of HTTP (kiss-client, kiss-sandbox).
//!
//! ```
//! use kiss_schema::{Endpoint, SchemaDiff};
//! let products = Endpoint::Products.default_schema();
//! assert_eq!(products.fields[0].name, "sKU");
//! assert_eq!(products.fields[0].wire_key, "SKU");
//! assert!(SchemaDiff::between(&products, &products).is_empty());
//! ```

pub mod contract;
pub mod diff;
mod endpoint;
pub mod names;
pub mod schema;

pub use diff::{ArrayChange, FieldChange, SchemaDiff, SectionDiff};
pub use endpoint::{Endpoint, UnknownEndpoint};
pub use names::wire_key;
pub use schema::{ArraySchema, FieldSchema, FieldType, SchemaDocument, SchemaError};
