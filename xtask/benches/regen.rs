//! `cargo xtask regen --from` on the saved schemas: the generation itself (reading the
//! documents, generating and formatting every file, comparing with the checked-in ones),
//! without cargo's build. Run: `cargo bench -p xtask --bench regen`.

use kiss_dynamic::SchemaDocument;

fn main() {
    divan::main();
}

fn saved() -> Vec<SchemaDocument> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../generated/schemas");
    ["products", "stock", "prices"]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(format!("{dir}/{name}.schema.json"))
                .expect("saved schema documents");
            SchemaDocument::from_json(&text).expect("valid documents")
        })
        .collect()
}

#[divan::bench]
fn generate_crate_from_saved_schemas() -> usize {
    let documents = saved();
    let files = kiss_codegen::generate_crate(&documents).expect("generates");
    files.iter().map(|f| f.contents.len()).sum()
}
