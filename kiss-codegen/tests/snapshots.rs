//! The generator's output, reviewed as code: the documented 2026-04 schemas and edge cases.
//! (The edge-case output is also compiled and run: see `edge_cases_compile.rs`.)

use kiss_codegen::CodegenError;
use kiss_schema::{contract, Endpoint, FieldSchema, FieldType, SchemaDocument};

fn doc(text: &str) -> SchemaDocument {
    SchemaDocument::from_json(text).unwrap()
}

#[test]
fn products_2026_04() {
    let products = doc(contract::PRODUCTS_SCHEMA);
    insta::assert_snapshot!(kiss_codegen::generate_module(&products).unwrap());
}

#[test]
fn stock_2026_04() {
    let stock = doc(contract::STOCK_SCHEMA);
    insta::assert_snapshot!(kiss_codegen::generate_module(&stock).unwrap());
}

#[test]
fn prices_2026_04() {
    insta::assert_snapshot!(
        kiss_codegen::generate_module(&Endpoint::Prices.default_schema()).unwrap()
    );
}

#[test]
fn crate_root_for_the_2026_04_surface() {
    let documents = [
        doc(contract::PRODUCTS_SCHEMA),
        doc(contract::STOCK_SCHEMA),
        Endpoint::Prices.default_schema(),
    ];
    let files = kiss_codegen::generate_crate(&documents).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "src/lib.rs",
            "src/products.rs",
            "schemas/products.schema.json",
            "src/stock.rs",
            "schemas/stock.schema.json",
            "src/prices.rs",
            "schemas/prices.schema.json"
        ]
    );
    insta::assert_snapshot!(files[0].contents);
}

#[test]
fn odd_names_keywords_collisions_unknown_types_and_empty_arrays() {
    let odd = doc(include_str!("edge/odd-things.schema.json"));
    insta::assert_snapshot!(kiss_codegen::generate_module(&odd).unwrap());
}

#[test]
fn the_checked_in_edge_case_module_is_current() {
    let odd = doc(include_str!("edge/odd-things.schema.json"));
    let generated = kiss_codegen::generate_module(&odd).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/edge/odd_things.rs");
    if std::env::var_os("KISS_CODEGEN_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        generated == checked_in,
        "tests/edge/odd_things.rs is stale: review the odd_names snapshot, then rerun with \
         KISS_CODEGEN_BLESS=1"
    );
}

#[test]
fn names_that_cannot_be_rust_are_errors_naming_the_field() {
    let bad = doc(
        r#"{"endpoint":"/x","apiVersion":"1","fields":[{"name":"ok","type":"string"},{"name":"€%","type":"string"}]}"#,
    );
    let err = kiss_codegen::generate_module(&bad).unwrap_err();
    assert!(
        matches!(&err, CodegenError::BadName { schema_name, .. } if schema_name == "€%"),
        "{err}"
    );
    assert!(err.to_string().contains("\"€%\""));
}

#[test]
fn two_names_for_one_wire_key_are_an_error() {
    let bad = doc(
        r#"{"endpoint":"/x","apiVersion":"1","fields":[{"name":"sKU","type":"string"},{"name":"SKU","type":"string"}]}"#,
    );
    let err = kiss_codegen::generate_module(&bad).unwrap_err();
    assert!(
        matches!(err, CodegenError::DuplicateWireKey { ref wire_key, .. } if wire_key == "SKU"),
        "{err}"
    );
    let twice = [
        Endpoint::Prices.default_schema(),
        Endpoint::Prices.default_schema(),
    ];
    assert!(matches!(
        kiss_codegen::generate_crate(&twice),
        Err(CodegenError::DuplicateEndpoint { .. })
    ));
}

#[test]
fn fingerprints_follow_the_surface_not_the_formatting() {
    let stock = doc(contract::STOCK_SCHEMA);
    let compact = doc(&serde_json::to_string(
        &serde_json::from_str::<serde_json::Value>(contract::STOCK_SCHEMA).unwrap(),
    )
    .unwrap());
    assert_eq!(
        kiss_codegen::fingerprint(&stock),
        kiss_codegen::fingerprint(&compact)
    );
    let mut grown = stock.clone();
    grown
        .fields
        .push(FieldSchema::new("bin", FieldType::String, false));
    assert_ne!(
        kiss_codegen::fingerprint(&stock),
        kiss_codegen::fingerprint(&grown)
    );
    let prices = Endpoint::Prices.default_schema();
    assert_eq!(
        kiss_codegen::surface_fingerprint(&[stock.clone(), prices.clone()]),
        kiss_codegen::surface_fingerprint(&[prices, stock])
    );
}
