//! Loads stock into your own SQLite table with the dynamic records: the columns you choose,
//! read by wire key from records decoded by the live schema, upserted by SKU in one
//! transaction. (For a mirror of every endpoint that follows schema changes, see `kiss sync`.)
//!
//! Run: `cargo run -p kiss --example sqlite [PATH]` (default: an in-memory database).

mod common;

use kiss::prelude::*;
use rusqlite::{params, Connection};

#[kiss::tokio::main(crate = "kiss::tokio")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let connection = common::connect().await?;
    let mut db = match std::env::args().nth(1) {
        Some(path) => Connection::open(path)?,
        None => Connection::open_in_memory()?,
    };
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS my_stock (
             sku TEXT PRIMARY KEY,
             warehouse TEXT,
             available INTEGER NOT NULL,
             next_eta TEXT
         )",
    )?;

    let (_schema, records) = connection.client.records_stream(Endpoint::Stock).await?;
    let records: Vec<Record> = records.try_collect().await?;
    let transaction = db.transaction()?;
    {
        let mut upsert = transaction.prepare(
            "INSERT INTO my_stock (sku, warehouse, available, next_eta) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (sku) DO UPDATE SET
                 warehouse = excluded.warehouse,
                 available = excluded.available,
                 next_eta = excluded.next_eta",
        )?;
        for record in &records {
            let sku: &str = record.get("SKU")?;
            let warehouse: Option<&str> = record.get("StockLocation")?;
            let available: Option<i64> = record.get("AvailableQTY")?;
            let eta: Option<kiss::chrono::NaiveDate> = record.get("NextAvailableETA")?;
            upsert.execute(params![
                sku,
                warehouse,
                available.unwrap_or(0),
                eta.map(|d| d.to_string())
            ])?;
        }
    }
    transaction.commit()?;

    let (rows, out_of_stock): (i64, i64) = db.query_row(
        "SELECT count(*), count(*) FILTER (WHERE available = 0) FROM my_stock",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    println!("my_stock: {rows} rows, {out_of_stock} out of stock");
    let mut soonest = db.prepare(
        "SELECT sku, next_eta FROM my_stock WHERE next_eta IS NOT NULL ORDER BY next_eta LIMIT 3",
    )?;
    for row in soonest.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })? {
        let (sku, eta) = row?;
        println!("next back in stock: {sku} on {eta}");
    }
    Ok(())
}
