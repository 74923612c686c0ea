//! Generates typed Rust models from Kiss schema documents.
//!
//! Not built yet: the generator lands with its own issue (kiss-codegen, the generated crate and
//! `cargo xtask regen`). It will read schemas only through [`kiss_dynamic::SchemaDocument`], so
//! that wire keys come from one function.
pub use kiss_dynamic::SchemaDocument;
