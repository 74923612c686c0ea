//! Any bytes given to the schema parser: an error or a document, never a panic; a parsed
//! document survives its own pretty form unchanged, and diffs with itself to nothing.
#![no_main]

use kiss_schema::{SchemaDiff, SchemaDocument};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(document) = SchemaDocument::from_slice(data) else {
        return;
    };
    let again = SchemaDocument::from_json(&document.to_pretty_json())
        .expect("a parsed document's pretty form parses");
    assert_eq!(again, document);
    assert!(SchemaDiff::between(&document, &again).is_empty());
    for field in &document.fields {
        let _ = kiss_codegen::names::rust_ident(&field.wire_key);
    }
});
