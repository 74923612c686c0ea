//! One transport for the Kiss Customer API, under both the typed models (kiss-generated) and
//! the dynamic records (kiss-dynamic).
//!
//! It exchanges credentials for a token and caches it (refreshing ahead of expiry, with
//! jitter, one request however many callers wait), paces every request it makes to both rate
//! windows so normal use never sees a `429`, backs off on `429` and `5xx` the way the
//! reference asks, streams the big arrays record by record with memory bounded by the
//! largest record, and turns every documented failure into one typed [`Error`]. The API Key and
//! tokens never reach `Debug`, logs or errors.
//!
//! It does not generate or decode models itself: those are kiss-generated's and
//! kiss-dynamic's. The typed endpoints ([`Client::products`], [`Client::check_surface`], …)
//! come with the `typed` feature (on by default); without it the crate does not depend on
//! kiss-generated, which is how `cargo xtask regen` builds even when the generated crate
//! does not.
//!
//! ```no_run
//! # async fn run() -> Result<(), kiss_client::Error> {
//! let client = kiss_client::Client::from_env()?; // KISS_BASE_URL, KISS_CUSTOMER_CODE, KISS_API_KEY
//! let stock = client.stock().await?;
//! println!("{} stock rows", stock.len());
//! let check = client.check_surface().await?;
//! if !check.is_in_step() {
//!     eprintln!("the API changed: regenerate the models\n{check}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Modules, each importing only from those below it: [`Client`]'s methods by job (`endpoints`,
//! `stream`, `surface`, `builder`) over the token cache (`token`) over the one send-with-retry
//! loop (`retry`), over the client's state (`client`), over reading answers (`response`),
//! [`RetryPolicy`], pacing, the clock, secrets and [`Error`].

mod builder;
mod client;
mod clock;
mod endpoints;
mod error;
mod pacing;
mod policy;
mod response;
mod retry;
mod secret;
mod stream;
mod surface;
mod token;

pub use builder::ClientBuilder;
pub use client::Client;
#[cfg(feature = "test-util")]
pub use clock::{Clock, ManualClock, SystemClock};
pub use clock::{ScaledClock, MAX_TIME_SCALE};
pub use error::Error;
pub use kiss_schema::Endpoint;
pub use pacing::{reserve_slot, Quota, Reservation, SharedQuota};
pub use policy::RetryPolicy;
pub use secret::Secret;
pub use stream::RawRecords;
pub use surface::SurfaceCheck;
