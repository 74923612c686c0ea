//! Generates typed Rust models from Kiss schema documents.
//!
//! The engine behind `cargo xtask regen` (a thin front end). It reads schemas only through
//! [`kiss_schema::SchemaDocument`], so wire keys come from one function
//! ([`kiss_schema::wire_key`]); Rust names are made from those wire keys by [`names`], the only
//! place in the workspace that uses a case-conversion library. Output is built as tokens with
//! `quote` (identifiers are never pasted as strings), checked by `syn`, and printed by
//! `prettyplease`.
//!
//! Each generated struct:
//! - has one field per schema field in schema order, each `#[serde(rename = "<wire key>")]`,
//!   `Option<T>` unless required, nested arrays as `Vec<Element>` (absent or null read as
//!   empty), `kiss_dynamic::CompactString` for `string` (short codes and SKUs inline, no
//!   allocation; derefs to `str`), exact `kiss_dynamic::Decimal` for `decimal` (never `f64`),
//!   `chrono::NaiveDate` for `date`, `kiss_dynamic::RawJson` for types the docs do not name;
//! - keeps every field the schema does not know in `unknown_fields`, without buffering the
//!   way `#[serde(flatten)]` does; keys spelled as the schema name are accepted too (a later
//!   profile may fix the API's casing quirk);
//! - has one decoding function, `kiss_dynamic::model::Model::read`, generic over where keys
//!   and values come from: bytes (kiss-dynamic's one-pass lexer, what kiss-client uses) or any
//!   serde `Deserializer` (the generated `Deserialize` calls it). One plan per field drives
//!   both the struct and that function.
//!
//! Every path in the generated code starts at a crate root (`::core::option::Option`,
//! `::kiss_dynamic::Decimal`, `::serde::Deserialize`), so a schema can name its types and
//! fields anything (`Option`, `String`, `Reader`, `Default`, `S`…) and the code still compiles.
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

pub mod names;

use kiss_schema::{FieldSchema, FieldType, SchemaDocument};
use names::{rust_field_idents, rust_ident, rust_type_ident, singular, RustIdentError};
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
    // Type names need only differ from each other: every path the generated code uses is
    // fully qualified, so a schema may name its types anything.
    let mut taken: HashSet<String> = HashSet::new();
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
    let tokens = quote! {
        #module_doc

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

/// Every path in generated code starts at a crate root (`::core::…`, `::serde::…`,
/// `::kiss_dynamic::…`), as typify does: whatever a schema names its types (`Option`,
/// `Result`, `Reader`, `Decimal`, `Default`…), nothing it generates can shadow what the code
/// refers to. Generic parameters are spelled `__S`/`__D`, which no type name made by
/// [`names::rust_type_ident`] can be (its names never start with an underscore).
fn scalar_type(field_type: &FieldType) -> TokenStream {
    match field_type {
        FieldType::String => quote!(::kiss_dynamic::CompactString),
        FieldType::Decimal => quote!(::kiss_dynamic::Decimal),
        FieldType::Integer => quote!(i64),
        FieldType::Boolean => quote!(bool),
        FieldType::Date => quote!(::chrono::NaiveDate),
        FieldType::Other(_) => quote!(::kiss_dynamic::RawJson),
    }
}

/// Everything the emitter needs to know about one field of a struct.
struct FieldPlan<'a> {
    /// The Rust field name.
    ident: Ident,
    /// The local variable that collects the value while the object is read.
    slot: Ident,
    schema_name: &'a str,
    wire_key: &'a str,
    /// The field's Rust type.
    ty: TokenStream,
    /// Absent is an error (required scalars); otherwise absent is [`FieldPlan::absent`].
    required: bool,
    /// The value of a field that is not required and absent: `None`, or an empty array.
    absent: TokenStream,
    doc: String,
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
    let plans = plan_fields(endpoint, fields, arrays)?;
    let type_ident = Ident::new(name, Span::call_site());
    let field_defs = plans.iter().map(|p| {
        let (doc, wire_key, ident, ty) = (&p.doc, p.wire_key, &p.ident, &p.ty);
        quote! {
            #[doc = #doc]
            #[serde(rename = #wire_key)]
            pub #ident: #ty,
        }
    });
    let slots = plans.iter().map(|p| {
        let (slot, ty) = (&p.slot, &p.ty);
        if p.required {
            quote! { let mut #slot: ::core::option::Option<#ty> = ::core::option::Option::None; }
        } else {
            let absent = &p.absent;
            quote! { let mut #slot: #ty = #absent; }
        }
    });
    let reads = plans.iter().enumerate().map(|(position, p)| {
        let (slot, wire_key) = (&p.slot, p.wire_key);
        let position = proc_macro2::Literal::usize_unsuffixed(position);
        let value = quote!(source.value(#wire_key)?);
        let assign = if p.required {
            quote!(#slot = ::core::option::Option::Some(#value))
        } else {
            quote!(#slot = #value)
        };
        quote! {
            ::core::option::Option::Some(#position) => {
                seen[#position] = true;
                #assign;
            }
        }
    });
    let finishes = plans.iter().map(|p| {
        let (ident, slot, wire_key) = (&p.ident, &p.slot, p.wire_key);
        if p.required {
            quote! { #ident: #slot.ok_or_else(|| source.missing(#wire_key))?, }
        } else {
            quote! { #ident: #slot, }
        }
    });
    let index_arms = plans.iter().enumerate().map(|(position, p)| {
        let (wire_key, schema_name) = (p.wire_key, p.schema_name);
        let position = proc_macro2::Literal::usize_unsuffixed(position);
        let names = if schema_name == wire_key {
            quote!(#wire_key)
        } else {
            quote!(#wire_key | #schema_name)
        };
        quote! { #names => ::core::option::Option::Some(#position), }
    });
    let wire_keys = plans.iter().map(|p| p.wire_key);
    let field_count = proc_macro2::Literal::usize_unsuffixed(plans.len());
    let expecting = format!("{name}: a record of {endpoint} (a JSON object)");
    // A struct whose schema lists no fields (an empty nested array schema) keeps everything
    // as unknown fields; matching on nothing would only draw lints.
    let (field_index, read_keys) = if plans.is_empty() {
        (
            quote! {},
            quote! {
                while let ::core::option::Option::Some(key) = source.next_key()? {
                    source.capture(key, &mut unknown_fields)?;
                }
            },
        )
    } else {
        (
            quote! {
                /// The position of the field a key names (wire key or schema name).
                fn field_index(key: &str) -> ::core::option::Option<usize> {
                    match key {
                        #(#index_arms)*
                        _ => ::core::option::Option::None,
                    }
                }
            },
            quote! {
                // A key seen twice (maybe spelled the other way: `Name`, then `name`) keeps
                // its first value in the field and the second among the unknown fields, so
                // that nothing is lost.
                let mut seen = [false; #field_count];
                // Records arrive in schema order: try the next field's key before matching.
                let mut next = 0;
                while let ::core::option::Option::Some(key) = source.next_key()? {
                    let index = match Self::WIRE_KEYS.get(next) {
                        ::core::option::Option::Some(expected) if *expected == &*key => {
                            ::core::option::Option::Some(next)
                        }
                        _ => Self::field_index(&key),
                    };
                    next = index.map_or(next, |i| i + 1);
                    match index {
                        ::core::option::Option::Some(i) if seen.get(i) == ::core::option::Option::Some(&true) => {
                            source.capture(key, &mut unknown_fields)?
                        }
                        #(#reads)*
                        _ => source.capture(key, &mut unknown_fields)?,
                    }
                }
            },
        )
    };
    Ok(quote! {
        #[doc = #doc]
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq, ::serde::Serialize)]
        pub struct #type_ident {
            #(#field_defs)*
            /// Fields the schema does not know, in arrival order: kept, and written back.
            #[serde(flatten)]
            pub unknown_fields: ::kiss_dynamic::typed::UnknownFields,
        }

        impl #type_ident {
            /// The wire keys of the fields, in schema order.
            pub const WIRE_KEYS: &'static [&'static str] = &[#(#wire_keys),*];

            #field_index
        }

        /// The one decoding engine of this struct, for both entry points: bytes
        /// (`kiss_dynamic::model::decode_all`) and serde (`Deserialize` below).
        impl ::kiss_dynamic::model::Model for #type_ident {
            const EXPECTING: &'static str = #expecting;

            fn read<'de, __S: ::kiss_dynamic::model::FieldSource<'de>>(
                source: &mut __S,
            ) -> ::core::result::Result<Self, __S::Error> {
                #(#slots)*
                let mut unknown_fields = ::kiss_dynamic::typed::UnknownFields::new();
                #read_keys
                ::core::result::Result::Ok(Self {
                    #(#finishes)*
                    unknown_fields,
                })
            }
        }

        impl<'de> ::serde::Deserialize<'de> for #type_ident {
            fn deserialize<__D: ::serde::Deserializer<'de>>(
                deserializer: __D,
            ) -> ::core::result::Result<Self, __D::Error> {
                ::kiss_dynamic::model::deserialize(deserializer)
            }
        }
    })
}

/// One plan per field, in schema order (scalars, then nested arrays); fails naming the field
/// when two map to one wire key or one has no usable Rust name.
fn plan_fields<'a>(
    endpoint: &str,
    fields: &'a [FieldSchema],
    arrays: &'a [ArrayField<'a>],
) -> Result<Vec<FieldPlan<'a>>, CodegenError> {
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
    let scalars = fields.iter().map(|field| {
        let scalar = scalar_type(&field.field_type);
        let required = if field.required { ", required" } else { "" };
        let ty = if field.required {
            scalar
        } else {
            quote!(::core::option::Option<#scalar>)
        };
        let doc = format!(
            " `{}` (schema name `{}`): {}{required}.",
            field.wire_key, field.name, field.field_type
        );
        let absent = quote!(::core::option::Option::None);
        (
            field.name.as_str(),
            field.wire_key.as_str(),
            ty,
            field.required,
            absent,
            doc,
        )
    });
    let nested = arrays.iter().map(|array| {
        let element = Ident::new(array.element, Span::call_site());
        let doc = format!(
            " `{}` (schema name `{}`): nested array; absent or null reads as empty.",
            array.wire_key, array.name
        );
        let ty = quote!(::std::vec::Vec<#element>);
        let absent = quote!(::std::vec::Vec::new());
        (array.name, array.wire_key, ty, false, absent, doc)
    });
    // `rust_field_idents` gives one identifier per wire key, in the same order.
    let plans = scalars
        .chain(nested)
        .zip(idents)
        .map(
            |((schema_name, wire_key, ty, required, absent, doc), ident)| FieldPlan {
                slot: format_ident!("slot_{}", ident),
                ident: Ident::new(&ident, Span::call_site()),
                schema_name,
                wire_key,
                ty,
                required,
                absent,
                doc,
            },
        )
        .collect();
    Ok(plans)
}
