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
//! `stream`, `surface`) over the token cache (`token`) over the one send-with-retry loop
//! (`retry`), over reading answers (`response`), pacing, the clock, secrets and [`Error`].

mod builder;
pub mod clock;
mod endpoints;
mod error;
mod pacing;
mod response;
mod retry;
mod secret;
mod stream;
mod surface;
mod token;

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

pub use builder::ClientBuilder;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use kiss_schema::Endpoint;
pub use pacing::Quota;
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use surface::SurfaceCheck;

/// A client for one deployment and one customer. Cheap to clone; clones share the token,
/// the pacing and the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    customer_code: String,
    api_key: Secret,
    pacer: pacing::Pacer,
    token: tokio::sync::Mutex<Option<token::CachedToken>>,
    generation: AtomicU64,
    retry: RetryPolicy,
    read_timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base)
            .field("customer_code", &self.inner.customer_code)
            .field("api_key", &self.inner.api_key)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client from `KISS_BASE_URL`, `KISS_CUSTOMER_CODE` and `KISS_API_KEY`.
    pub fn from_env() -> Result<Client, Error> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| Error::Config(format!("{name} is not set")))
        };
        Client::builder()
            .base_url(var("KISS_BASE_URL")?)
            .customer_code(var("KISS_CUSTOMER_CODE")?)
            .api_key(var("KISS_API_KEY")?)
            .build()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base)
    }
}
