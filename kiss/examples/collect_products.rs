//! Collects every product into a `Vec<Product>` (the typed path) and says how many there are
//! and how many carried fields the model does not know. `benches/export_vs_curl.py` times it
//! against curl fetching the same body.
//!
//! Run: `cargo run -p kiss --example collect_products` (against the sandbox unless
//! `KISS_BASE_URL`, `KISS_CUSTOMER_CODE` and `KISS_API_KEY` are set).

mod common;

#[kiss::tokio::main(crate = "kiss::tokio")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let connection = common::connect().await?;
    let products = connection.client.products().await?;
    let with_unknown = products
        .iter()
        .filter(|p| !p.unknown_fields.is_empty())
        .count();
    println!(
        "{} products, {with_unknown} with fields the model does not know",
        products.len()
    );
    Ok(())
}
