//! The client's state, shared by its clones: the HTTP connection pool, the credentials, the
//! token cache, the pacer and the policies. Its methods live in the modules of their jobs.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::error::Error;
use crate::pacing::Pacer;
use crate::policy::RetryPolicy;
use crate::response::scrub;
use crate::secret::Secret;

/// A client for one deployment and one customer. Cheap to clone; clones share the token,
/// the pacing and the connection pool.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let sandbox = kiss_sandbox::Sandbox::start(kiss_sandbox::SandboxConfig::default()).await?;
/// # let base_url = sandbox.base_url();
/// use futures_util::TryStreamExt;
/// use kiss_client::{Client, Endpoint};
///
/// let client = Client::builder()
///     .base_url(base_url) // your deployment's https:// URL
///     .customer_code("ACME01")
///     .api_key("sandbox-key-ACME01-not-a-secret")
///     .build()?;
/// let stock = client.stock().await?; // typed: kiss_generated::StockEntry
/// assert_eq!(stock[0].sku, "DRAC001");
/// let (_schema, records) = client.records_stream(Endpoint::Prices).await?; // by the live schema
/// let first = records.try_collect::<Vec<_>>().await?.remove(0);
/// assert_eq!(first.get::<kiss_dynamic::Decimal>("PriceExclVAT")?.to_string(), "19.9500");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) customer_code: String,
    pub(crate) api_key: Secret,
    pub(crate) pacer: Pacer,
    pub(crate) token: tokio::sync::Mutex<Option<CachedToken>>,
    pub(crate) generation: AtomicU64,
    pub(crate) retry: RetryPolicy,
    pub(crate) read_timeout: Duration,
    pub(crate) document_timeout: Duration,
    pub(crate) max_document_bytes: u64,
    pub(crate) max_record_bytes: u64,
    pub(crate) clock: Arc<dyn Clock>,
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
    /// The customer this client reads for (its customer code).
    pub fn customer_code(&self) -> &str {
        &self.inner.customer_code
    }

    /// The error with the server-supplied text in it scrubbed of this client's API Key and
    /// token, and of control characters: what the server says reaches logs and terminals.
    pub(crate) fn scrubbed(&self, error: Error) -> Error {
        let token = self
            .inner
            .token
            .try_lock()
            .ok()
            .and_then(|cached| cached.as_ref().map(|t| t.token.expose().to_owned()));
        let mut secrets = vec![self.inner.api_key.expose()];
        if let Some(token) = &token {
            secrets.push(token);
        }
        let clean = |text: String| scrub(&text, &secrets);
        match error {
            Error::OAuth { code, description } => Error::OAuth {
                code: clean(code),
                description: clean(description),
            },
            Error::Server {
                status,
                attempts,
                message,
            } => Error::Server {
                status,
                attempts,
                message: clean(message),
            },
            Error::UnexpectedStatus { status, path, body } => Error::UnexpectedStatus {
                status,
                path,
                body: clean(body),
            },
            Error::InvalidBody { path, detail } => Error::InvalidBody {
                path,
                detail: clean(detail),
            },
            Error::Redirected {
                path,
                status,
                location,
                origin,
            } => Error::Redirected {
                path,
                status,
                location: clean(location),
                origin,
            },
            other => other,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base)
    }
}

/// The token in use, and when to stop using it.
pub(crate) struct CachedToken {
    pub(crate) token: Secret,
    pub(crate) refresh_at: Instant,
    /// Which fetch this was, so a refusal forgets only the token it refused.
    pub(crate) generation: u64,
}
