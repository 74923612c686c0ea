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
//! kiss-dynamic's.
//!
//! ```no_run
//! # async fn run() -> Result<(), kiss_client::Error> {
//! let client = kiss_client::Client::from_env()?; // KISS_BASE_URL, KISS_CUSTOMER_CODE, KISS_API_KEY
//! let stock = client.stock().await?;
//! println!("{} stock rows", stock.len());
//! let check = client.check_surface().await?;
//! if !check.is_in_step() {
//!     eprintln!("the API changed: run `cargo xtask regen`\n{check}");
//! }
//! # Ok(())
//! # }
//! ```

pub mod clock;
mod error;
mod pacing;
mod secret;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};
use kiss_dynamic::{ArrayStream, Decoder, ElementDecoder, Record, SchemaDiff, SchemaDocument};
use rand::Rng;
use serde::Deserialize;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use pacing::Quota;
pub use secret::Secret;

/// A data endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/products`
    Products,
    /// `/stock`
    Stock,
    /// `/prices` (no schema endpoint: its schema is the checked-in one)
    Prices,
}

impl Endpoint {
    /// The path (`/products`).
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Products => "/products",
            Endpoint::Stock => "/stock",
            Endpoint::Prices => "/prices",
        }
    }
}

/// How failures are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts for `500/502/503/504` and transport errors, the first included.
    pub max_attempts: u32,
    /// The first backoff's upper bound (full jitter: a random wait up to it, doubling).
    pub base_delay: Duration,
    /// The largest backoff.
    pub max_delay: Duration,
    /// Repeated `429`s waited out before giving up with [`Error::RateLimited`].
    pub max_rate_limit_waits: u32,
    /// The longest single wait for a `429` (Retry-After, doubled on repeats).
    pub rate_limit_ceiling: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_rate_limit_waits: 4,
            rate_limit_ceiling: Duration::from_secs(15 * 60),
        }
    }
}

/// Sets up a [`Client`].
pub struct ClientBuilder {
    base_url: Option<String>,
    customer_code: Option<String>,
    api_key: Option<Secret>,
    connect_timeout: Duration,
    read_timeout: Duration,
    user_agent: String,
    quota: Quota,
    retry: RetryPolicy,
    allow_insecure_http: bool,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("customer_code", &self.customer_code)
            .field("api_key", &self.api_key)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            base_url: None,
            customer_code: None,
            api_key: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            user_agent: concat!("kiss-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            quota: Quota::default(),
            retry: RetryPolicy::default(),
            allow_insecure_http: false,
            clock: Arc::new(SystemClock),
        }
    }
}

impl ClientBuilder {
    /// The deployment, such as `https://api.kiss.example.com`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// The Customer Code (`client_id`).
    pub fn customer_code(mut self, code: impl Into<String>) -> Self {
        self.customer_code = Some(code.into());
        self
    }
    /// The API Key (`client_secret`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(Secret::new(key));
        self
    }
    /// How long to wait for a connection. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// How long a response may go without a byte before it counts as stalled. Default 60 s.
    /// There is no total timeout: a healthy multi-hundred-megabyte download is never cut.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }
    /// The `User-Agent`.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }
    /// The account's quota (default 60/minute and 1,000/hour).
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quota = quota;
        self
    }
    /// How failures are retried.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
    /// Allows `http://` to hosts other than loopback. Only for test rigs you control.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }
    /// The clock for pacing, backoff and token refresh (tests inject a [`ManualClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the client; fails on a missing setting or an insecure URL.
    pub fn build(self) -> Result<Client, Error> {
        let missing = |what: &str| Error::Config(format!("{what} is not set"));
        let raw_url = self.base_url.ok_or_else(|| missing("the base URL"))?;
        let base = url::Url::parse(&raw_url)
            .map_err(|e| Error::Config(format!("{raw_url:?} is not a URL: {e}")))?;
        let loopback = match base.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        match base.scheme() {
            "https" => {}
            "http" if loopback || self.allow_insecure_http => {}
            "http" => return Err(Error::InsecureUrl { url: raw_url }),
            other => {
                return Err(Error::Config(format!(
                    "unsupported scheme {other}:// in {raw_url}"
                )))
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .user_agent(self.user_agent)
            .https_only(!(loopback || self.allow_insecure_http))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base: raw_url.trim_end_matches('/').to_owned(),
                customer_code: self
                    .customer_code
                    .ok_or_else(|| missing("the Customer Code"))?,
                api_key: self.api_key.ok_or_else(|| missing("the API Key"))?,
                pacer: pacing::Pacer::new(self.quota),
                token: tokio::sync::Mutex::new(None),
                generation: AtomicU64::new(0),
                retry: self.retry,
                read_timeout: self.read_timeout,
                clock: self.clock,
            }),
        })
    }
}

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
    token: tokio::sync::Mutex<Option<CachedToken>>,
    generation: AtomicU64,
    retry: RetryPolicy,
    read_timeout: Duration,
    clock: Arc<dyn Clock>,
}

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
    generation: u64,
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

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// A `429` as the server described it.
#[derive(Clone)]
struct Throttle {
    retry_after: Duration,
    window: String,
    limit: Option<u32>,
    reset: Option<chrono::DateTime<chrono::Utc>>,
}

/// What [`Client::check_surface`] found.
#[derive(Debug, Clone)]
pub struct SurfaceCheck {
    /// `/api/version` now.
    pub live_profile: String,
    /// The profile kiss-generated was built from.
    pub generated_profile: String,
    /// Live schema vs the generated crate's, per endpoint with a schema endpoint.
    pub diffs: Vec<SchemaDiff>,
}

impl SurfaceCheck {
    /// Whether the generated models match the live API.
    pub fn is_in_step(&self) -> bool {
        self.live_profile == self.generated_profile && self.diffs.iter().all(SchemaDiff::is_empty)
    }
}

impl fmt::Display for SurfaceCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "profile: live {}, generated {}",
            self.live_profile, self.generated_profile
        )?;
        for diff in &self.diffs {
            write!(f, "{diff}")?;
        }
        Ok(())
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

    async fn pace(&self) {
        let wait = self.inner.pacer.reserve(self.inner.clock.now());
        if !wait.is_zero() {
            tracing::debug!(?wait, "pacing to the quota");
            self.inner.clock.sleep(wait).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let retry = &self.inner.retry;
        let ceiling = retry
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(retry.max_delay);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
    }

    /// The wait for the n-th `429` in a row, or `None` when past the ceiling.
    fn rate_limit_wait(&self, throttle: &Throttle, repeat: u32) -> Option<Duration> {
        let retry = &self.inner.retry;
        if repeat >= retry.max_rate_limit_waits || throttle.retry_after > retry.rate_limit_ceiling {
            return None;
        }
        let doubled = throttle
            .retry_after
            .max(Duration::from_secs(1))
            .saturating_mul(1u32 << repeat.min(16));
        let jitter = Duration::from_millis(rand::thread_rng().gen_range(0..=250));
        Some(doubled.min(retry.rate_limit_ceiling) + jitter)
    }

    /// Waits out one `429` (Retry-After, doubled on repeats), or says to give up.
    async fn wait_out_throttle(
        &self,
        path: &str,
        response: reqwest::Response,
        throttled: &mut u32,
    ) -> Result<(), Error> {
        let throttle = throttle(response).await;
        let wait = self
            .rate_limit_wait(&throttle, *throttled)
            .ok_or_else(|| rate_limited(throttle.clone()))?;
        *throttled += 1;
        tracing::warn!(%path, ?wait, window = %throttle.window, "rate limited; waiting");
        self.inner.clock.sleep(wait).await;
        Ok(())
    }

    /// Backs off after a failed send while the budget lasts; the typed error after that.
    /// (Issuing a token changes nothing on the server, so the token exchange is repeated
    /// like a GET.)
    async fn retry_after_transport_error(
        &self,
        path: &str,
        attempt: u32,
        source: reqwest::Error,
    ) -> Result<(), Error> {
        if attempt >= self.inner.retry.max_attempts {
            return Err(transport(path, attempt, source, self.inner.read_timeout));
        }
        tracing::warn!(%path, attempt, error = %source, "request failed; retrying");
        self.inner.clock.sleep(self.backoff(attempt)).await;
        Ok(())
    }

    /// The cached token, or a new one: one request however many callers ask at once.
    async fn token(&self) -> Result<(Secret, u64), Error> {
        let mut cached = self.inner.token.lock().await;
        if let Some(token) = &*cached {
            if self.inner.clock.now() < token.refresh_at {
                return Ok((token.token.clone(), token.generation));
            }
        }
        let (token, expires_in) = self.fetch_token().await?;
        let lifetime = Duration::from_secs(expires_in);
        // Refresh a few minutes early, and at a random moment within a window, so that a
        // fleet started together does not refresh in step.
        let margin = (lifetime / 5).min(Duration::from_secs(180));
        let spread =
            u64::try_from((lifetime / 10).min(Duration::from_secs(60)).as_millis()).unwrap_or(0);
        let jitter = Duration::from_millis(rand::thread_rng().gen_range(0..=spread));
        let generation = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
        *cached = Some(CachedToken {
            token: token.clone(),
            refresh_at: self.inner.clock.now() + lifetime.saturating_sub(margin + jitter),
            generation,
        });
        Ok((token, generation))
    }

    /// Drops the cached token if it is still the one that was refused.
    async fn forget_token(&self, generation: u64) {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.generation == generation) {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<(Secret, u64), Error> {
        let path = "/auth/token";
        let (mut attempt, mut throttled) = (0u32, 0u32);
        loop {
            attempt += 1;
            self.pace().await;
            let sent = self
                .inner
                .http
                .post(self.url(path))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", self.inner.customer_code.as_str()),
                    ("client_secret", self.inner.api_key.expose()),
                ])
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(source) => {
                    self.retry_after_transport_error(path, attempt, source)
                        .await?;
                    continue;
                }
            };
            let status = response.status().as_u16();
            match status {
                200 => {
                    let body = response
                        .bytes()
                        .await
                        .map_err(|e| transport(path, attempt, e, self.inner.read_timeout))?;
                    let token: TokenResponse =
                        serde_json::from_slice(&body).map_err(|e| Error::InvalidBody {
                            path: path.to_owned(),
                            detail: format!("token response: {e}"),
                        })?;
                    tracing::debug!(expires_in = token.expires_in, "obtained an access token");
                    return Ok((Secret::new(token.access_token), token.expires_in));
                }
                429 => {
                    self.wait_out_throttle(path, response, &mut throttled)
                        .await?
                }
                502..=504 if attempt < self.inner.retry.max_attempts => {
                    self.inner.clock.sleep(self.backoff(attempt)).await;
                }
                400 | 401 => {
                    let body = response.bytes().await.unwrap_or_default();
                    let oauth: Option<OAuthError> = serde_json::from_slice(&body).ok();
                    return Err(match oauth {
                        Some(e) if e.error == "invalid_client" => Error::InvalidClient,
                        Some(e) if e.error == "unsupported_grant_type" => {
                            Error::UnsupportedGrantType
                        }
                        Some(e) => Error::OAuth {
                            code: e.error,
                            description: e.error_description,
                        },
                        None => unexpected(status, path, &body),
                    });
                }
                _ => return Err(self.failure(status, path, attempt, response).await),
            }
        }
    }

    async fn failure(
        &self,
        status: u16,
        path: &str,
        attempts: u32,
        response: reqwest::Response,
    ) -> Error {
        let body = response.bytes().await.unwrap_or_default();
        if (500..600).contains(&status) {
            return Error::Server {
                status,
                attempts,
                message: error_message(&body),
            };
        }
        unexpected(status, path, &body)
    }

    /// GET with a token, pacing and retries; the response once its status is 200.
    async fn get(&self, path: &str) -> Result<reqwest::Response, Error> {
        let (mut attempt, mut throttled, mut refreshed) = (0u32, 0u32, false);
        loop {
            attempt += 1;
            let (token, generation) = self.token().await?;
            self.pace().await;
            let sent = self
                .inner
                .http
                .get(self.url(path))
                .bearer_auth(token.expose())
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(source) => {
                    self.retry_after_transport_error(path, attempt, source)
                        .await?;
                    continue;
                }
            };
            let status = response.status().as_u16();
            tracing::debug!(%path, status, attempt, "response");
            match status {
                200 => return Ok(response),
                401 if !refreshed => {
                    // Expired early or revoked: one fresh token, one more try.
                    refreshed = true;
                    self.forget_token(generation).await;
                }
                401 => return Err(Error::InvalidToken),
                404 => {
                    let body = response.bytes().await.unwrap_or_default();
                    return Err(if error_message(&body) == "Customer not found." {
                        Error::CustomerNotFound
                    } else {
                        unexpected(status, path, &body)
                    });
                }
                429 => {
                    self.wait_out_throttle(path, response, &mut throttled)
                        .await?
                }
                500 | 502 | 503 | 504 if attempt < self.inner.retry.max_attempts => {
                    tracing::warn!(%path, status, attempt, "server error; retrying");
                    self.inner.clock.sleep(self.backoff(attempt)).await;
                }
                _ => return Err(self.failure(status, path, attempt, response).await),
            }
        }
    }

    async fn get_bytes(&self, path: &str) -> Result<Bytes, Error> {
        let response = self.get(path).await?;
        response
            .bytes()
            .await
            .map_err(|e| body_error(path, 0, 0, e, self.inner.read_timeout))
    }

    /// Streams one data endpoint's array, decoded element by element as bytes arrive.
    async fn stream_with<D>(
        &self,
        endpoint: Endpoint,
        decoder: D,
    ) -> Result<BoxStream<'static, Result<D::Output, Error>>, Error>
    where
        D: ElementDecoder + Send + 'static,
        D::Output: Send + 'static,
    {
        let path = endpoint.path();
        let response = self.get(path).await?;
        let read_timeout = self.inner.read_timeout;
        struct State<D: ElementDecoder> {
            body: BoxStream<'static, reqwest::Result<Bytes>>,
            array: ArrayStream<D>,
            ready: VecDeque<D::Output>,
            finished: bool,
        }
        let state = State {
            body: response.bytes_stream().boxed(),
            array: ArrayStream::new(decoder),
            ready: VecDeque::new(),
            finished: false,
        };
        let records = stream::try_unfold(state, move |mut state| async move {
            loop {
                if let Some(record) = state.ready.pop_front() {
                    return Ok(Some((record, state)));
                }
                if state.finished {
                    return Ok(None);
                }
                match state.body.next().await {
                    Some(Ok(chunk)) => {
                        let mut failure = None;
                        for record in state.array.feed(&chunk) {
                            match record {
                                Ok(record) => state.ready.push_back(record),
                                Err(e) => {
                                    failure = Some(e);
                                    break;
                                }
                            }
                        }
                        if let Some(e) = failure {
                            return Err(stream_error(path, &state.array, e));
                        }
                    }
                    Some(Err(e)) => {
                        let (bytes, records) =
                            (state.array.bytes_consumed(), state.array.records_decoded());
                        return Err(body_error(path, bytes, records, e, read_timeout));
                    }
                    None => {
                        state
                            .array
                            .finish()
                            .map_err(|e| stream_error(path, &state.array, e))?;
                        state.finished = true;
                    }
                }
            }
        });
        Ok(records.boxed())
    }

    /// `/products` as typed records, streamed.
    pub async fn products_stream(
        &self,
    ) -> Result<impl Stream<Item = Result<kiss_generated::Product, Error>>, Error> {
        self.stream_with(Endpoint::Products, kiss_dynamic::fast::Fast::default())
            .await
    }

    /// `/stock` as typed records, streamed.
    pub async fn stock_stream(
        &self,
    ) -> Result<impl Stream<Item = Result<kiss_generated::StockEntry, Error>>, Error> {
        self.stream_with(Endpoint::Stock, kiss_dynamic::fast::Fast::default())
            .await
    }

    /// `/prices` as typed records, streamed.
    pub async fn prices_stream(
        &self,
    ) -> Result<impl Stream<Item = Result<kiss_generated::ProductPrice, Error>>, Error> {
        self.stream_with(Endpoint::Prices, kiss_dynamic::fast::Fast::default())
            .await
    }

    /// All of `/products`.
    pub async fn products(&self) -> Result<Vec<kiss_generated::Product>, Error> {
        self.products_stream().await?.try_collect().await
    }

    /// All of `/stock`.
    pub async fn stock(&self) -> Result<Vec<kiss_generated::StockEntry>, Error> {
        self.stock_stream().await?.try_collect().await
    }

    /// All of `/prices`.
    pub async fn prices(&self) -> Result<Vec<kiss_generated::ProductPrice>, Error> {
        self.prices_stream().await?.try_collect().await
    }

    /// The live schema document of an endpoint (`/prices` has none: the checked-in one).
    pub async fn schema(&self, endpoint: Endpoint) -> Result<SchemaDocument, Error> {
        let path = match endpoint {
            Endpoint::Products => "/products/schema",
            Endpoint::Stock => "/stock/schema",
            Endpoint::Prices => return Ok(kiss_dynamic::prices_schema()),
        };
        let body = self.get_bytes(path).await?;
        SchemaDocument::from_slice(&body).map_err(|e| Error::InvalidBody {
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }

    /// Any data endpoint as dynamic records, typed by its live schema and streamed. Also
    /// returns that schema (for table headers, say).
    pub async fn records_stream(
        &self,
        endpoint: Endpoint,
    ) -> Result<(SchemaDocument, impl Stream<Item = Result<Record, Error>>), Error> {
        let schema = self.schema(endpoint).await?;
        let records = self.stream_with(endpoint, Decoder::new(&schema)).await?;
        Ok((schema, records))
    }

    /// `/api/version`: the live profile.
    pub async fn api_version(&self) -> Result<String, Error> {
        let body = self.get_bytes("/api/version").await?;
        #[derive(Deserialize)]
        struct Version {
            #[serde(rename = "apiVersion")]
            api_version: String,
        }
        serde_json::from_slice::<Version>(&body)
            .map(|v| v.api_version)
            .map_err(|e| Error::InvalidBody {
                path: "/api/version".into(),
                detail: e.to_string(),
            })
    }

    /// `/health`: `Ok(true)` for `200 Healthy`, `Ok(false)` for `503`.
    pub async fn health(&self) -> Result<bool, Error> {
        match self.get("/health").await {
            Ok(_) => Ok(true),
            Err(Error::Server { status: 503, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Compares the live profile and schemas with the ones kiss-generated was built from.
    pub async fn check_surface(&self) -> Result<SurfaceCheck, Error> {
        let live_profile = self.api_version().await?;
        let mut diffs = Vec::new();
        for endpoint in [Endpoint::Products, Endpoint::Stock] {
            let live = self.schema(endpoint).await?;
            let generated = kiss_generated::SCHEMA_DOCUMENTS
                .iter()
                .find(|(path, _)| *path == endpoint.path())
                .and_then(|(_, text)| SchemaDocument::from_json(text).ok());
            if let Some(generated) = generated {
                diffs.push(SchemaDiff::between(&generated, &live));
            }
        }
        Ok(SurfaceCheck {
            live_profile,
            generated_profile: kiss_generated::API_PROFILE.to_owned(),
            diffs,
        })
    }
}

/// What a `429` says: its headers, and the limit from its body's `message`
/// (`"API calls quota exceeded! maximum admitted 60 per 1m."`).
async fn throttle(response: reqwest::Response) -> Throttle {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs);
    let window = header("x-rate-limit-limit").unwrap_or_else(|| "unknown".to_owned());
    let reset = header("x-rate-limit-reset")
        .and_then(|v| chrono::DateTime::parse_from_rfc3339(&v).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let body = response.bytes().await.unwrap_or_default();
    let limit = error_message(&body)
        .split("maximum admitted ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    Throttle {
        retry_after,
        window,
        limit,
        reset,
    }
}

fn rate_limited(throttle: Throttle) -> Error {
    Error::RateLimited {
        window: throttle.window,
        limit: throttle.limit,
        reset: throttle.reset,
        retry_after: throttle.retry_after,
    }
}

/// The `error` (or `message`) of a standard error body, or the start of the body.
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Body {
        error: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(
            Body { error: Some(m), .. }
            | Body {
                message: Some(m), ..
            },
        ) => m,
        _ => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

fn unexpected(status: u16, path: &str, body: &[u8]) -> Error {
    Error::UnexpectedStatus {
        status,
        path: path.to_owned(),
        body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

fn transport(path: &str, attempts: u32, source: reqwest::Error, read_timeout: Duration) -> Error {
    if source.is_timeout() {
        return Error::Timeout {
            path: path.to_owned(),
            timeout: read_timeout,
        };
    }
    Error::Transport {
        path: path.to_owned(),
        attempts,
        source,
    }
}

/// A failure while the body was arriving: a stall, or a connection that ended early.
fn body_error(
    path: &str,
    bytes: u64,
    records: u64,
    source: reqwest::Error,
    read_timeout: Duration,
) -> Error {
    if source.is_timeout() {
        return Error::Timeout {
            path: path.to_owned(),
            timeout: read_timeout,
        };
    }
    Error::BodyCutShort {
        path: path.to_owned(),
        bytes,
        records,
        detail: format!("the connection ended: {source}"),
    }
}

fn stream_error<D: ElementDecoder>(
    path: &str,
    array: &ArrayStream<D>,
    error: kiss_dynamic::StreamError,
) -> Error {
    match error {
        kiss_dynamic::StreamError::Truncated {
            offset,
            records,
            where_,
        } => Error::BodyCutShort {
            path: path.to_owned(),
            bytes: offset,
            records,
            detail: format!("it ended {where_}"),
        },
        other => Error::InvalidBody {
            path: path.to_owned(),
            detail: format!("{other} (after {} records)", array.records_decoded()),
        },
    }
}
