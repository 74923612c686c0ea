//! The Kiss Customer API in one dependency.
//!
//! This crate re-exports what a program that reads its Kiss data needs, so that it depends on
//! `kiss` alone: the client ([`Client`], from `kiss-client`), the typed models ([`models`]:
//! [`Product`], [`StockEntry`], [`ProductPrice`], from `kiss-generated`), the records decoded
//! by the live schema ([`dynamic`]: [`Record`], [`Value`]), the schema model ([`schema`]), and
//! the crates their signatures mention ([`chrono`], [`reqwest`], [`futures_util`], [`tokio`]).
//! [`prelude`] brings the everyday names and the stream extension traits into scope. It adds
//! no code of its own.
//!
//! A price list with stock, in a few lines (`KISS_BASE_URL`, `KISS_CUSTOMER_CODE` and
//! `KISS_API_KEY` set):
//!
//! ```no_run
//! use std::collections::HashMap;
//! use kiss::prelude::*;
//!
//! #[kiss::tokio::main(crate = "kiss::tokio")]
//! async fn main() -> Result<(), kiss::Error> {
//!     let client = Client::from_env()?;
//!     let stock: HashMap<_, _> = client.stock().await?.into_iter().map(|s| (s.sku.clone(), s)).collect();
//!     let prices: HashMap<_, _> = client.prices().await?.into_iter().map(|p| (p.sku.clone(), p)).collect();
//!     for product in client.products().await? {
//!         let price = prices.get(&product.sku).and_then(|p| p.price_excl_vat.as_ref());
//!         let available = stock.get(&product.sku).and_then(|s| s.available_qty);
//!         println!("{} {} {:?} {:?}", product.sku, product.name.unwrap_or_default(), price, available);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Errors in `main`
//!
//! [`Error`]'s `Debug` form is its message and causes, so returning `Result<(), kiss::Error>`
//! from `main` prints something a person can act on. For distinct exit codes, match on the
//! error and return a [`std::process::ExitCode`]:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! #[kiss::tokio::main(crate = "kiss::tokio")]
//! async fn main() -> ExitCode {
//!     let result = async { kiss::Client::from_env()?.stock().await }.await;
//!     match result {
//!         Ok(stock) => { println!("{} rows", stock.len()); ExitCode::SUCCESS }
//!         Err(kiss::Error::InvalidClient) => { eprintln!("check KISS_API_KEY"); ExitCode::from(3) }
//!         Err(kiss::Error::RateLimited { retry_after, .. }) => {
//!             eprintln!("rate limited; try again in {retry_after:?}");
//!             ExitCode::from(4)
//!         }
//!         Err(other) => { eprintln!("{other}"); ExitCode::FAILURE }
//!     }
//! }
//! ```
//!
//! With `anyhow`, `?` works as for any error (`kiss::Error` is `std::error::Error + Send +
//! Sync`), and `{:#}` shows the causes.
//!
//! # Logs
//!
//! The client reports what it does through [`tracing`](https://docs.rs/tracing) (waits for
//! the quota, `429`s, retries), which prints nothing until the program installs a subscriber,
//! for example `tracing_subscriber::fmt().with_writer(std::io::stderr).init()` with the
//! `tracing-subscriber` crate. The API Key and tokens never appear in those logs.
//!
//! # Which price?
//!
//! Each product carries its prices (`Product::product_prices`), and `/prices`
//! ([`Client::prices`]) serves the same price list as rows of its own, with `SKU` and the
//! price list's name. Both are the customer's net prices (discount applied, before VAT). Poll
//! `/prices` when only prices are needed: it is far smaller than `/products`.
//!
//! # Features
//!
//! - `runtime` (default): a multi-threaded tokio runtime and `#[kiss::tokio::main]`. Without
//!   it, bring your own tokio runtime.

pub use kiss_client::{
    Client, ClientBuilder, Endpoint, Error, Quota, RetryPolicy, Secret, SurfaceCheck,
};
pub use kiss_dynamic::{CompactString, Decimal, Record, Value};
pub use kiss_generated::{Product, ProductPrice, StockEntry};

/// The transport: everything of `kiss-client`.
pub use kiss_client as client;
/// Records decoded by the live schema: everything of `kiss-dynamic`.
pub use kiss_dynamic as dynamic;
/// The typed models generated from the API's schema documents: everything of
/// `kiss-generated` (with `API_PROFILE` and `SCHEMA_DOCUMENTS`).
pub use kiss_generated as models;
/// The schema model, wire keys and schema diffs: everything of `kiss-schema`.
pub use kiss_schema as schema;

/// Dates in the models (`NaiveDate`).
pub use chrono;
/// Stream combinators for the streaming endpoints (also in [`prelude`]).
pub use futures_util;
/// The HTTP client inside [`Error::Transport`].
pub use reqwest;
/// The async runtime (with the `runtime` feature, `#[kiss::tokio::main(crate =
/// "kiss::tokio")]`).
pub use tokio;

/// The everyday names: `use kiss::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Client, ClientBuilder, Decimal, Endpoint, Error, Product, ProductPrice, Record, StockEntry,
        Value,
    };
    pub use futures_util::{StreamExt as _, TryStreamExt as _};
}
