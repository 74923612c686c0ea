//! Detects drift at start-up and decides what to do: the models were generated from one set of
//! schema documents; the live API may have grown fields (safe: they are kept as unknown fields)
//! or changed its profile or a field's type (not safe: stop and regenerate).
//!
//! Against the sandbox, the example first makes it serve a new field. Run:
//! `cargo run -p kiss --example drift`.

mod common;

use kiss::prelude::*;
use kiss::schema::{FieldSchema, FieldType};

#[kiss::tokio::main(crate = "kiss::tokio")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let connection = common::connect().await?;
    if let Some(sandbox) = connection.sandbox() {
        let bin = FieldSchema::new("binLocation", FieldType::String, false);
        sandbox.add_field(Endpoint::Stock, None, bin)?;
        eprintln!("(the sandbox now serves BinLocation in /stock, a field the models do not know)");
    }
    let check = connection.client.check_surface().await?;
    if check.is_in_step() {
        println!("in step: the API serves exactly what the models were generated from");
        return Ok(());
    }
    print!("{check}");
    let additive = check.live_profile == check.generated_profile
        && check.diffs.iter().all(|diff| diff.is_additive());
    if !additive {
        eprintln!("the API changed in a way the models cannot absorb: regenerate them first");
        std::process::exit(5);
    }
    println!("only new fields: carrying on (they are kept in unknown_fields and written back)");
    let stock = connection.client.stock().await?;
    if let Some(first) = stock.first() {
        println!(
            "{}: kept but unknown to the models: {:?}",
            first.sku,
            first.unknown_fields.iter().collect::<Vec<_>>()
        );
    }
    Ok(())
}
