//! Generates typed Rust models from Kiss schema documents.
//!
//! The engine behind `cargo xtask regen` (a thin front end). It reads schemas only through
//! [`kiss_dynamic::SchemaDocument`], so wire keys come from one function
//! ([`kiss_dynamic::wire_key`]) and Rust names from its neighbours in `kiss_dynamic::names`.
//! Output is built as tokens with `quote` (identifiers are never pasted as strings), checked
//! by `syn`, and printed by `prettyplease`.
//!
//! Each generated struct:
//! - has one field per schema field in schema order, each `#[serde(rename = "<wire key>")]`,
//!   `Option<T>` unless required, nested arrays as `Vec<Element>` (absent or null read as
//!   empty), [`kiss_dynamic::CompactString`] for `string` (short codes and SKUs inline, no
//!   allocation; derefs to `str`), exact [`kiss_dynamic::Decimal`] for `decimal` (never
//!   `f64`), `chrono::NaiveDate` for `date`, [`kiss_dynamic::RawJson`] for types the docs do
//!   not name;
//! - keeps every field the schema does not know in `unknown_fields`, read by a generated
//!   `Deserialize` that matches keys itself, so nothing is buffered the way
//!   `#[serde(flatten)]` buffers a whole record; keys spelled as the schema name are accepted
//!   too (a later profile may fix the API's casing quirk);
//! - also implements [`kiss_dynamic::fast::FastDecode`]: the same fields read straight from the
//!   bytes by kiss-dynamic's one-pass parser, faster than serde (what kiss-client uses).
//!
//! It does not fetch anything, and writes no files: callers get [`GeneratedFile`]s.
//!
//! ```
//! use kiss_dynamic::SchemaDocument;
//! let stock = SchemaDocument::from_json(r#"{"endpoint":"/stock","apiVersion":"2026-04",
//!     "fields":[{"name":"sKU","type":"string","required":true}]}"#).unwrap();
//! let code = kiss_codegen::generate_module(&stock).unwrap();
//! assert!(code.contains("pub struct StockEntry"));
//! assert!(code.contains(r#"#[serde(rename = "SKU")]"#));
//! ```

use std::collections::HashSet;

use kiss_dynamic::names::{rust_field_idents, rust_ident, rust_type_ident, singular};
use kiss_dynamic::{FieldSchema, FieldType, RustIdentError, SchemaDocument};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Why code could not be generated.
#[derive(Debug, Error)]
pub enum CodegenError {
    /// A field's name has nothing usable in a Rust identifier.
    #[error("{endpoint}: field {schema_name:?} cannot be given a Rust name ({source}); rename it in the schema document")]
    BadName {
        /// The endpoint of the schema.
        endpoint: String,
        /// The field's schema name.
        schema_name: String,
        /// Why.
        source: RustIdentError,
    },
    /// Two fields map to one wire key, so the data cannot tell them apart.
    #[error("{endpoint}: the fields {first:?} and {second:?} both map to the wire key {wire_key:?}; the data cannot tell them apart, so fix the schema document")]
    DuplicateWireKey {
        /// The endpoint of the schema.
        endpoint: String,
        /// The first field's schema name.
        first: String,
        /// The second field's schema name.
        second: String,
        /// The shared wire key.
        wire_key: String,
    },
    /// Two schema documents describe the same endpoint.
    #[error("two schema documents describe {endpoint}; give one per endpoint")]
    DuplicateEndpoint {
        /// The endpoint.
        endpoint: String,
    },
    /// No documents were given.
    #[error("no schema documents to generate from")]
    NoDocuments,
    /// The generated tokens did not parse as Rust (a bug in the generator: please report it
    /// with the schema document).
    #[error("{endpoint}: generated code does not parse ({message}); this is a kiss-codegen bug")]
    Internal {
        /// The endpoint of the schema.
        endpoint: String,
        /// syn's message.
        message: String,
    },
}

/// One file of the generated crate, its path relative to the crate's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Such as `src/products.rs` or `schemas/products.schema.json`.
    pub path: String,
    /// The whole file.
    pub contents: String,
}

/// The fingerprint of one schema document: SHA-256 over its stable pretty form.
pub fn fingerprint(document: &SchemaDocument) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(document.to_pretty_json().as_bytes()))
    )
}

/// The fingerprint of a whole surface: SHA-256 over each endpoint and its document's
/// fingerprint, in endpoint order (so the order documents are given in does not matter).
pub fn surface_fingerprint(documents: &[SchemaDocument]) -> String {
    let mut lines: Vec<String> = documents
        .iter()
        .map(|d| format!("{} {}\n", d.endpoint, fingerprint(d)))
        .collect();
    lines.sort();
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(lines.concat().as_bytes()))
    )
}

/// The module name of an endpoint's file (`products` for `/products`).
pub fn module_name(document: &SchemaDocument) -> Result<String, CodegenError> {
    rust_ident(document.endpoint_name()).map_err(|source| CodegenError::BadName {
        endpoint: document.endpoint.clone(),
        schema_name: document.endpoint.clone(),
        source,
    })
}

/// The record struct's name: the reference's model names for the documented endpoints
/// (`Product`, `StockEntry`, `ProductPrice`), otherwise the singular of the endpoint's name.
pub fn record_type_name(document: &SchemaDocument) -> Result<String, CodegenError> {
    let documented = match document.endpoint.as_str() {
        "/products" => Some("Product"),
        "/stock" => Some("StockEntry"),
        "/prices" => Some("ProductPrice"),
        _ => None,
    };
    if let Some(name) = documented {
        return Ok(name.to_owned());
    }
    rust_type_ident(&singular(document.endpoint_name()))
        .map(|name| singular(&name))
        .map_err(|source| CodegenError::BadName {
            endpoint: document.endpoint.clone(),
            schema_name: document.endpoint.clone(),
            source,
        })
}

/// The whole generated crate's files: `src/lib.rs`, one `src/<endpoint>.rs` per document, and
/// `schemas/<endpoint>.schema.json` (pretty, stably ordered).
pub fn generate_crate(documents: &[SchemaDocument]) -> Result<Vec<GeneratedFile>, CodegenError> {
    if documents.is_empty() {
        return Err(CodegenError::NoDocuments);
    }
    let mut seen = HashSet::new();
    for document in documents {
        if !seen.insert(document.endpoint.as_str()) {
            return Err(CodegenError::DuplicateEndpoint {
                endpoint: document.endpoint.clone(),
            });
        }
    }
    let mut files = vec![GeneratedFile {
        path: "src/lib.rs".to_owned(),
        contents: generate_lib(documents)?,
    }];
    for document in documents {
        let module = module_name(document)?;
        files.push(GeneratedFile {
            path: format!("src/{module}.rs"),
            contents: generate_module(document)?,
        });
        files.push(GeneratedFile {
            path: format!("schemas/{module}.schema.json"),
            contents: document.to_pretty_json(),
        });
    }
    Ok(files)
}

fn header(what: &str, profile: &str, fingerprint: &str) -> String {
    format!(
        "// @generated by kiss-codegen from {what}: do not edit by hand.\n\
         // Profile {profile}, schema fingerprint {fingerprint}.\n\
         // Regenerate with `cargo xtask regen`.\n\n"
    )
}

/// `#![doc]` attributes, one per line, so prettyplease prints `//!` lines.
fn inner_doc(text: &str) -> TokenStream {
    let lines = text.lines().map(|line| {
        if line.is_empty() {
            String::new()
        } else {
            format!(" {line}")
        }
    });
    quote! { #(#![doc = #lines])* }
}

fn print(endpoint: &str, tokens: TokenStream) -> Result<String, CodegenError> {
    let file: syn::File = syn::parse2(tokens).map_err(|e| CodegenError::Internal {
        endpoint: endpoint.to_owned(),
        message: e.to_string(),
    })?;
    Ok(space_items(&prettyplease::unparse(&file)))
}

fn generate_lib(documents: &[SchemaDocument]) -> Result<String, CodegenError> {
    let profile = &documents[0].api_version;
    let surface = surface_fingerprint(documents);
    let mut sorted: Vec<&SchemaDocument> = documents.iter().collect();
    sorted.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    let mut modules = Vec::new();
    let mut reexports = Vec::new();
    let mut schema_entries = Vec::new();
    let mut exported = HashSet::new();
    for document in &sorted {
        let module = module_name(document)?;
        let module_ident = Ident::new(&module, Span::call_site());
        let record = record_type_name(document)?;
        let record_ident = Ident::new(&record, Span::call_site());
        let module_doc = format!(" Typed records of `{}`.", document.endpoint);
        modules.push(quote! {
            #[doc = #module_doc]
            #[rustfmt::skip]
            pub mod #module_ident;
        });
        // Two endpoints with one record name would clash at the crate root; the second stays
        // reachable through its module.
        if exported.insert(record) {
            reexports.push(quote! { pub use #module_ident::#record_ident; });
        }
        let endpoint = &document.endpoint;
        let path = format!("../schemas/{module}.schema.json");
        schema_entries.push(quote! { (#endpoint, include_str!(#path)) });
    }
    let endpoints: Vec<String> = sorted.iter().map(|d| format!("`{}`", d.endpoint)).collect();
    let crate_doc = inner_doc(&format!(
        "Typed models of the Kiss Customer API, generated by kiss-codegen from the schema\n\
         documents of {} (profile {profile}).\n\n\
         Do not edit: run `cargo xtask regen` when the API's surface changes. Every struct\n\
         keeps the fields its schema does not know in `unknown_fields`, so new API fields are\n\
         never lost.",
        endpoints.join(", ")
    ));
    let tokens = quote! {
        #crate_doc
        // Generated files are formatted by the generator (prettyplease), not by rustfmt.
        #![cfg_attr(rustfmt, rustfmt::skip)]

        #(#modules)*

        #(#reexports)*

        /// The API profile (`/api/version`) these models were generated from.
        pub const API_PROFILE: &str = #profile;

        /// The fingerprint of all the schema documents together: compare it with a live
        /// surface to see whether these models are stale.
        pub const SCHEMA_FINGERPRINT: &str = #surface;

        /// The schema documents these models were generated from: `(endpoint, JSON text)`.
        pub const SCHEMA_DOCUMENTS: &[(&str, &str)] = &[#(#schema_entries),*];
    };
    let body = print("the generated crate", tokens)?;
    let what = format!("the schema documents of {}", endpoints.join(", "));
    Ok(format!("{}{body}", header(&what, profile, &surface)))
}

/// One endpoint's module: the record struct and one struct per nested array element.
pub fn generate_module(document: &SchemaDocument) -> Result<String, CodegenError> {
    let endpoint = &document.endpoint;
    let record = record_type_name(document)?;
    let mut taken: HashSet<String> = RESERVED_TYPE_NAMES
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    let record = unique_type_name(record, &mut taken);
    let mut structs = Vec::new();
    let mut array_types = Vec::new();
    for array in &document.arrays {
        let base = rust_type_ident(&singular(&array.wire_key)).map_err(|source| {
            CodegenError::BadName {
                endpoint: endpoint.clone(),
                schema_name: array.name.clone(),
                source,
            }
        })?;
        let name = unique_type_name(base, &mut taken);
        let doc = format!(
            " One element of `{}` in a record of `{endpoint}` (schema name `{}`).",
            array.wire_key, array.name
        );
        structs.push(generate_struct(endpoint, &name, &doc, &array.fields, &[])?);
        array_types.push(name);
    }
    let arrays: Vec<ArrayField<'_>> = document
        .arrays
        .iter()
        .zip(&array_types)
        .map(|(array, element)| ArrayField {
            name: &array.name,
            wire_key: &array.wire_key,
            element,
        })
        .collect();
    let doc = format!(
        " A record of `{endpoint}` (profile {}), fields in schema order.",
        document.api_version
    );
    structs.insert(
        0,
        generate_struct(endpoint, &record, &doc, &document.fields, &arrays)?,
    );
    let profile = &document.api_version;
    let print_fingerprint = fingerprint(document);
    let module_doc = inner_doc(&format!(
        "Typed records of `{endpoint}`, generated from its schema document (profile {profile})."
    ));
    let imports = imports(document);
    let tokens = quote! {
        #module_doc

        #imports

        /// The profile of the schema document this module was generated from.
        pub const PROFILE: &str = #profile;

        /// The fingerprint of that schema document.
        pub const SCHEMA_FINGERPRINT: &str = #print_fingerprint;

        #(#structs)*
    };
    let body = print(endpoint, tokens)?;
    let what = format!("the `{endpoint}` schema document");
    Ok(format!(
        "{}{body}",
        header(&what, profile, &print_fingerprint)
    ))
}

fn unique_type_name(base: String, taken: &mut HashSet<String>) -> String {
    let name = if taken.contains(&base) {
        let element = format!("{base}Element");
        if taken.contains(&element) {
            (2..)
                .map(|n| format!("{base}Element{n}"))
                .find(|candidate| !taken.contains(candidate))
                .unwrap_or_else(|| unreachable!("an unbounded range always finds a free name"))
        } else {
            element
        }
    } else {
        base
    };
    taken.insert(name.clone());
    name
}

struct ArrayField<'a> {
    name: &'a str,
    wire_key: &'a str,
    element: &'a str,
}

/// How a field is read and written.
enum Shape {
    /// The type, and the `Reader` method that reads it.
    Required(TokenStream, &'static str),
    Optional(TokenStream, &'static str),
    Array(TokenStream),
}

/// The fast path's `Reader` method for a scalar type.
fn reader_method(field_type: &FieldType) -> &'static str {
    match field_type {
        FieldType::String => "string",
        FieldType::Decimal => "decimal",
        FieldType::Integer => "integer",
        FieldType::Boolean => "boolean",
        FieldType::Date => "date",
        FieldType::Other(_) => "raw_json",
    }
}

fn scalar_type(field_type: &FieldType) -> TokenStream {
    match field_type {
        FieldType::String => quote!(CompactString),
        FieldType::Decimal => quote!(Decimal),
        FieldType::Integer => quote!(i64),
        FieldType::Boolean => quote!(bool),
        FieldType::Date => quote!(NaiveDate),
        FieldType::Other(_) => quote!(RawJson),
    }
}

/// Names the generated code uses unqualified (prelude and imports): no generated struct may
/// take one.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "String",
    "Option",
    "Some",
    "None",
    "Vec",
    "Box",
    "Result",
    "Ok",
    "Err",
    "Decimal",
    "NaiveDate",
    "RawJson",
    "Key",
    "UnknownFields",
    "Deserialize",
    "Deserializer",
    "Serialize",
    "MapAccess",
    "Visitor",
    "Formatter",
    "RecordVisitor",
];

/// The `use` lines for the types a module's fields need (no unused imports).
fn imports(document: &SchemaDocument) -> TokenStream {
    let types: HashSet<&FieldType> = document
        .fields
        .iter()
        .chain(document.arrays.iter().flat_map(|a| &a.fields))
        .map(|f| &f.field_type)
        .collect();
    let mut dynamic = vec![];
    if types.contains(&FieldType::String) {
        dynamic.push(quote!(CompactString));
    }
    if types.contains(&FieldType::Decimal) {
        dynamic.push(quote!(Decimal));
    }
    if types.iter().any(|t| matches!(t, FieldType::Other(_))) {
        dynamic.push(quote!(RawJson));
    }
    let dynamic = (!dynamic.is_empty()).then(|| quote!(use kiss_dynamic::{#(#dynamic),*};));
    let chrono = types.contains(&FieldType::Date).then(|| {
        quote!(
            use chrono::NaiveDate;
        )
    });
    quote! {
        use std::fmt::Formatter;

        #chrono
        use kiss_dynamic::fast::{FastDecode, ReadError, Reader};
        use kiss_dynamic::typed::{Key, UnknownFields};
        #dynamic
        use serde::de::{Error as _, MapAccess, Visitor};
        use serde::{Deserialize, Deserializer, Serialize};
    }
}

/// prettyplease prints items back to back; hand-written code has a blank line between them.
fn space_items(code: &str) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = String::with_capacity(code.len() + code.len() / 20);
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        out.push('\n');
        let Some(next) = lines.get(i + 1) else {
            continue;
        };
        let ends_item = line == &"}" || (!line.starts_with(' ') && line.ends_with(';'));
        let is_use = |l: &str| l.starts_with("use ") || l.starts_with("pub use ");
        let both_uses = is_use(line) && is_use(next);
        let after_inner_doc = line.starts_with("//!") && !next.starts_with("//!");
        let after_inner_attribute = line.starts_with("#![") && !next.starts_with("#![");
        if (ends_item && !both_uses && !next.is_empty()) || after_inner_doc || after_inner_attribute
        {
            out.push('\n');
        }
    }
    out
}

fn generate_struct(
    endpoint: &str,
    name: &str,
    doc: &str,
    fields: &[FieldSchema],
    arrays: &[ArrayField<'_>],
) -> Result<TokenStream, CodegenError> {
    let mut by_wire_key: Vec<(&str, &str)> = Vec::new();
    let entries = fields
        .iter()
        .map(|f| (f.name.as_str(), f.wire_key.as_str()))
        .chain(arrays.iter().map(|a| (a.name, a.wire_key)));
    for (schema_name, wire_key) in entries {
        if let Some((first, _)) = by_wire_key.iter().find(|(_, w)| *w == wire_key) {
            return Err(CodegenError::DuplicateWireKey {
                endpoint: endpoint.to_owned(),
                first: (*first).to_owned(),
                second: schema_name.to_owned(),
                wire_key: wire_key.to_owned(),
            });
        }
        by_wire_key.push((schema_name, wire_key));
    }
    let idents = rust_field_idents(by_wire_key.iter().map(|(_, w)| *w), &["unknown_fields"])
        .map_err(|source| {
            let RustIdentError::NoIdentifierCharacters { wire_key } = &source;
            let schema_name = by_wire_key
                .iter()
                .find(|(_, w)| w == wire_key)
                .map_or_else(|| wire_key.clone(), |(n, _)| (*n).to_owned());
            CodegenError::BadName {
                endpoint: endpoint.to_owned(),
                schema_name,
                source,
            }
        })?;

    let mut shapes: Vec<(Shape, String)> = fields
        .iter()
        .map(|f| {
            let ty = scalar_type(&f.field_type);
            let required = if f.required { ", required" } else { "" };
            let doc = format!(
                " `{}` (schema name `{}`): {}{required}.",
                f.wire_key, f.name, f.field_type
            );
            let method = reader_method(&f.field_type);
            let shape = if f.required {
                Shape::Required(ty, method)
            } else {
                Shape::Optional(ty, method)
            };
            (shape, doc)
        })
        .collect();
    shapes.extend(arrays.iter().map(|a| {
        let element = Ident::new(a.element, Span::call_site());
        let doc = format!(
            " `{}` (schema name `{}`): nested array; absent or null reads as empty.",
            a.wire_key, a.name
        );
        (Shape::Array(quote!(#element)), doc)
    }));

    let type_ident = Ident::new(name, Span::call_site());
    let mut field_defs = Vec::new();
    let mut slot_defs = Vec::new();
    let mut match_arms = Vec::new();
    let mut index_arms = Vec::new();
    let mut finishes = Vec::new();
    let mut fast_arms = Vec::new();
    let mut fast_finishes = Vec::new();
    for (position, ((ident_text, (schema_name, wire_key)), (shape, field_doc))) in
        idents.iter().zip(&by_wire_key).zip(&shapes).enumerate()
    {
        let ident = Ident::new(ident_text, Span::call_site());
        let slot = format_ident!("slot_{}", ident_text);
        let names = if schema_name == wire_key {
            quote!(#wire_key)
        } else {
            quote!(#wire_key | #schema_name)
        };
        let position = proc_macro2::Literal::usize_unsuffixed(position);
        index_arms.push(quote! { #names => Some(#position), });
        let pattern = quote!(Some(#position));
        let field_type = match shape {
            Shape::Required(ty, method) => {
                let method = format_ident!("{}", method);
                slot_defs.push(quote! { let mut #slot: Option<#ty> = None; });
                match_arms.push(quote! { #pattern => #slot = Some(map.next_value()?), });
                finishes.push(quote! {
                    #ident: #slot.ok_or_else(|| A::Error::missing_field(#wire_key))?,
                });
                fast_arms.push(quote! { #pattern => #slot = Some(reader.#method(#wire_key)?), });
                fast_finishes.push(quote! {
                    #ident: #slot.ok_or_else(|| reader.missing(#wire_key))?,
                });
                quote!(#ty)
            }
            Shape::Optional(ty, method) => {
                let method = format_ident!("opt_{}", method);
                slot_defs.push(quote! { let mut #slot: Option<#ty> = None; });
                match_arms.push(quote! { #pattern => #slot = map.next_value()?, });
                finishes.push(quote! { #ident: #slot, });
                fast_arms.push(quote! { #pattern => #slot = reader.#method(#wire_key)?, });
                fast_finishes.push(quote! { #ident: #slot, });
                quote!(Option<#ty>)
            }
            Shape::Array(element) => {
                slot_defs.push(quote! { let mut #slot: Vec<#element> = Vec::new(); });
                match_arms.push(quote! {
                    #pattern => #slot = map.next_value::<Option<Vec<#element>>>()?.unwrap_or_default(),
                });
                finishes.push(quote! { #ident: #slot, });
                fast_arms
                    .push(quote! { #pattern => #slot = reader.array::<#element>(#wire_key)?, });
                fast_finishes.push(quote! { #ident: #slot, });
                quote!(Vec<#element>)
            }
        };
        field_defs.push(quote! {
            #[doc = #field_doc]
            #[serde(rename = #wire_key)]
            pub #ident: #field_type,
        });
    }
    let wire_keys = by_wire_key.iter().map(|(_, w)| *w);
    let expecting = format!("{name}: a record of {endpoint} (a JSON object)");
    // A struct whose schema lists no fields (an empty nested array schema) keeps everything
    // as unknown fields; matching on nothing would only draw lints.
    let (field_index, read_fields, fast_fields) = if by_wire_key.is_empty() {
        (
            quote! {},
            quote! {
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    unknown_fields.read_value(key.0, &mut map)?;
                }
            },
            quote! {
                reader.object(|reader, key| reader.capture(key, &mut unknown_fields))?;
            },
        )
    } else {
        (
            quote! {
                /// The position of the field a key names (wire key or schema name).
                fn field_index(key: &str) -> Option<usize> {
                    match key {
                        #(#index_arms)*
                        _ => None,
                    }
                }
            },
            quote! {
                // Records arrive in schema order: try the next field's key before searching.
                let mut next = 0;
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let index = if #type_ident::WIRE_KEYS.get(next) == Some(&&*key.0) {
                        Some(next)
                    } else {
                        #type_ident::field_index(&key.0)
                    };
                    next = index.map_or(next, |i| i + 1);
                    match index {
                        #(#match_arms)*
                        _ => unknown_fields.read_value(key.0, &mut map)?,
                    }
                }
            },
            quote! {
                let mut next = 0;
                reader.object(|reader, key| {
                    let index = if #type_ident::WIRE_KEYS.get(next) == Some(&&*key) {
                        Some(next)
                    } else {
                        #type_ident::field_index(&key)
                    };
                    next = index.map_or(next, |i| i + 1);
                    match index {
                        #(#fast_arms)*
                        _ => reader.capture(key, &mut unknown_fields)?,
                    }
                    Ok(())
                })?;
            },
        )
    };
    Ok(quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct #type_ident {
            #(#field_defs)*
            /// Fields the schema does not know, in arrival order: kept, and written back.
            #[serde(flatten)]
            pub unknown_fields: UnknownFields,
        }

        impl #type_ident {
            /// The wire keys of the fields, in schema order.
            pub const WIRE_KEYS: &'static [&'static str] = &[#(#wire_keys),*];

            #field_index
        }

        impl<'de> Deserialize<'de> for #type_ident {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct RecordVisitor;

                impl<'de> Visitor<'de> for RecordVisitor {
                    type Value = #type_ident;

                    fn expecting(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
                        f.write_str(#expecting)
                    }

                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<#type_ident, A::Error> {
                        #(#slot_defs)*
                        let mut unknown_fields = UnknownFields::default();
                        #read_fields
                        Ok(#type_ident {
                            #(#finishes)*
                            unknown_fields,
                        })
                    }
                }

                deserializer.deserialize_map(RecordVisitor)
            }
        }

        /// The fast path: read straight from JSON bytes by kiss-dynamic's parser.
        impl FastDecode for #type_ident {
            fn read(reader: &mut Reader<'_>) -> Result<Self, ReadError> {
                #(#slot_defs)*
                let mut unknown_fields = UnknownFields::default();
                #fast_fields
                Ok(#type_ident {
                    #(#fast_finishes)*
                    unknown_fields,
                })
            }
        }
    })
}
