//! Joins products, stock and prices by SKU into a price list: one line per product with its
//! name, net price, currency and what is available now.
//!
//! Run: `cargo run -p kiss --example price_list` (against the sandbox unless `KISS_BASE_URL`,
//! `KISS_CUSTOMER_CODE` and `KISS_API_KEY` are set).

mod common;

use std::collections::HashMap;

use kiss::prelude::*;

#[kiss::tokio::main(crate = "kiss::tokio")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let connection = common::connect().await?;
    let client = &connection.client;

    // Stock and prices are keyed by SKU; a product has at most one row of each here (one
    // warehouse and one price list per customer), so a map per endpoint is the whole join.
    let stock: HashMap<_, _> = client
        .stock()
        .await?
        .into_iter()
        .map(|row| (row.sku.clone(), row))
        .collect();
    let prices: HashMap<_, _> = client
        .prices()
        .await?
        .into_iter()
        .map(|row| (row.sku.clone(), row))
        .collect();

    let mut lines = 0;
    let mut products = client.products_stream().await?;
    while let Some(product) = products.try_next().await? {
        let price = prices.get(&product.sku);
        let net = price
            .and_then(|p| p.price_excl_vat.as_ref())
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        let currency = price.and_then(|p| p.currency_code.as_deref()).unwrap_or("");
        let available = stock
            .get(&product.sku)
            .and_then(|s| s.available_qty)
            .map_or_else(|| "-".to_owned(), |q| q.to_string());
        if lines < 10 {
            println!(
                "{:<10} {:<36} {:>10} {:<3} {:>6}",
                product.sku,
                product.name.as_deref().unwrap_or(""),
                net,
                currency,
                available
            );
        }
        lines += 1;
    }
    println!("… {lines} products in the price list");
    Ok(())
}
