//! Streams products and reads a field the generated models do not know: the API adds fields
//! without a new profile, and nothing it sends is lost.
//!
//! Against the sandbox, the example first makes it serve a new field (`EcoScore`), as the API
//! may do at any time. Run: `cargo run -p kiss --example unknown_fields`.

mod common;

use kiss::prelude::*;
use kiss::schema::{FieldSchema, FieldType};

#[kiss::tokio::main(crate = "kiss::tokio")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let connection = common::connect().await?;
    if let Some(sandbox) = connection.sandbox() {
        let eco_score = FieldSchema::new("ecoScore", FieldType::Decimal, false);
        sandbox.add_field(Endpoint::Products, None, eco_score)?;
        eprintln!("(the sandbox now serves EcoScore, a field the models do not know)");
    }
    let client = &connection.client;

    // Typed structs keep what they do not know in `unknown_fields`, as exact JSON text.
    let mut products = client.products_stream().await?;
    let mut shown = 0;
    while let Some(product) = products.try_next().await? {
        if shown < 3 {
            let extra: Vec<String> = product
                .unknown_fields
                .iter()
                .map(|(key, raw)| format!("{key}={raw}"))
                .collect();
            println!("{}: fields the models do not know: {extra:?}", product.sku);
            shown += 1;
        }
    }

    // Records decoded by the live schema type the new field like any other.
    let (schema, records) = client.records_stream(Endpoint::Products).await?;
    let records: Vec<Record> = records.try_collect().await?;
    let new_fields: Vec<&str> = schema
        .fields
        .iter()
        .map(|f| f.wire_key.as_str())
        .filter(|key| !kiss::Product::WIRE_KEYS.contains(key))
        .collect();
    println!("fields the live schema has and the models do not: {new_fields:?}");
    for record in records.iter().take(3) {
        let sku: &str = record.get("SKU")?;
        for key in &new_fields {
            let value: Option<&Value> = record.get(key)?;
            println!(
                "{sku}: {key} = {}",
                value.map_or("absent".into(), ToString::to_string)
            );
        }
    }
    Ok(())
}
