//! Setting up a [`Client`]: where, who, and how patiently.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{Client, Inner};
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::pacing::{Pacer, Quota};
use crate::policy::RetryPolicy;
use crate::secret::Secret;

/// Sets up a [`Client`].
pub struct ClientBuilder {
    base_url: Option<String>,
    customer_code: Option<String>,
    api_key: Option<Secret>,
    connect_timeout: Duration,
    read_timeout: Duration,
    document_timeout: Duration,
    max_document_bytes: u64,
    max_record_bytes: u64,
    user_agent: String,
    quota: Quota,
    retry: RetryPolicy,
    shared_quota: Option<crate::pacing::Shared>,
    allow_insecure_http: bool,
    clock: Arc<dyn Clock>,
    /// Whether the clock is a [`crate::ScaledClock`] (loopback only).
    scaled: bool,
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
            document_timeout: Duration::from_secs(30),
            max_document_bytes: 16 * 1024 * 1024,
            max_record_bytes: kiss_dynamic::stream::DEFAULT_MAX_RECORD_BYTES,
            user_agent: concat!("kiss-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            quota: Quota::default(),
            retry: RetryPolicy::default(),
            shared_quota: None,
            allow_insecure_http: false,
            clock: Arc::new(SystemClock),
            scaled: false,
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
    /// The API Key (`client_secret`): a [`Secret`], or any string.
    ///
    /// ```
    /// use kiss_client::{Client, Secret};
    /// let key = Secret::new(std::env::var("MY_KISS_KEY").unwrap_or_default());
    /// let builder = Client::builder().api_key(key);
    /// let same = Client::builder().api_key("a-key-from-elsewhere");
    /// # let _ = (builder, same);
    /// ```
    pub fn api_key(mut self, key: impl Into<Secret>) -> Self {
        self.api_key = Some(key.into());
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
    /// The total time a small document (token, schema, version, health) may take, body
    /// included: a server that trickles one is refused. Default 30 s. (The big data arrays have
    /// no total deadline, only the read timeout.)
    pub fn document_timeout(mut self, deadline: Duration) -> Self {
        self.document_timeout = deadline;
        self
    }
    /// The largest small document (token, schema, version) accepted. Default 16 MiB.
    pub fn max_document_bytes(mut self, limit: u64) -> Self {
        self.max_document_bytes = limit;
        self
    }
    /// The largest single record of a data array accepted (memory is bounded by it, not by
    /// the array). Default 256 MiB.
    pub fn max_record_bytes(mut self, limit: u64) -> Self {
        self.max_record_bytes = limit;
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
    /// Paces requests together with every other client (in any process on this machine) that
    /// names the same file: the quota is per customer, so two programs of one customer
    /// running at once must share it. The file holds the last hour's send times, under a lock.
    pub fn shared_quota_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.shared_quota = Some(crate::pacing::Shared::File(path.into()));
        self
    }
    /// Paces requests together with every other client that reserves its send slots in
    /// `shared` (such as the processes of one customer on several machines): the quota is
    /// per customer. Replaces [`ClientBuilder::shared_quota_file`].
    pub fn shared_quota(mut self, shared: std::sync::Arc<dyn crate::SharedQuota>) -> Self {
        self.shared_quota = Some(crate::pacing::Shared::Custom(shared));
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
    /// The clock for pacing, backoff and token refresh (tests inject a
    /// [`ManualClock`](crate::ManualClock)). With the `test-util` feature.
    #[cfg(feature = "test-util")]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// Paces, backs off and refreshes tokens on simulated time, for runs against a sandbox
    /// whose clock runs as fast ([`ScaledClock`](crate::ScaledClock)); refused at build for
    /// a base URL that is not loopback, whose rate windows run in real time.
    pub fn time_scale(mut self, clock: crate::ScaledClock) -> Self {
        self.clock = Arc::new(clock);
        self.scaled = true;
        self
    }

    /// Builds the client; fails on a missing setting, an insecure URL, or a URL that holds
    /// credentials (`https://user:password@host/`: never sent, never repeated).
    pub fn build(self) -> Result<Client, Error> {
        let missing = |what: &str| Error::Config(format!("{what} is not set"));
        let raw_url = self.base_url.ok_or_else(|| missing("the base URL"))?;
        let base = url::Url::parse(&raw_url).map_err(|e| {
            Error::Config(format!(
                "{:?} is not a URL: {e}",
                without_userinfo(&raw_url)
            ))
        })?;
        if !base.username().is_empty() || base.password().is_some() {
            // Sent as HTTP Basic beside the bearer token on every request, and written into
            // file names and messages: refused, and never repeated.
            return Err(Error::Config(format!(
                "the base URL {} holds credentials (user:password@); the API authenticates \
                 with the Customer Code and API Key alone: remove them from the URL",
                without_userinfo(&raw_url)
            )));
        }
        let loopback = match base.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        if self.scaled && !loopback {
            return Err(Error::Config(format!(
                "a time scale is for a sandbox on this machine, not {raw_url}: the API's rate \
                 windows run in real time"
            )));
        }
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
            .redirect(redirect_policy())
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
                pacer: Pacer::new(self.quota, self.shared_quota),
                token: tokio::sync::Mutex::new(None),
                generation: AtomicU64::new(0),
                retry: self.retry,
                read_timeout: self.read_timeout,
                document_timeout: self.document_timeout,
                max_document_bytes: self.max_document_bytes,
                max_record_bytes: self.max_record_bytes,
                clock: self.clock,
            }),
        })
    }
}

/// Redirects are followed only within the origin they start from, and never for the token
/// request: its body carries the API Key, and reqwest re-sends a body on 307/308. A redirect
/// that is not followed reaches the caller as its 3xx answer, which is an error
/// ([`Error::Redirected`]) rather than another host's data.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        let same_origin = first.origin() == attempt.url().origin();
        if first.path() == crate::token::TOKEN_PATH || !same_origin || attempt.previous().len() > 5
        {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

impl ClientBuilder {
    /// A builder with the base URL, Customer Code and API Key from `KISS_BASE_URL`,
    /// `KISS_CUSTOMER_CODE` and `KISS_API_KEY`, every other setting at its default: change
    /// what you need, then [`ClientBuilder::build`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use kiss_client::{ClientBuilder, RetryPolicy};
    /// # fn run() -> Result<(), kiss_client::Error> {
    /// let client = ClientBuilder::from_env()?
    ///     .retry_policy(RetryPolicy { max_attempts: 6, ..RetryPolicy::default() })
    ///     .read_timeout(Duration::from_secs(120))
    ///     .build()?;
    /// # let _ = client; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming the first variable that is not set.
    pub fn from_env() -> Result<ClientBuilder, Error> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| Error::Config(format!("{name} is not set")))
        };
        Ok(ClientBuilder::default()
            .base_url(var("KISS_BASE_URL")?)
            .customer_code(var("KISS_CUSTOMER_CODE")?)
            .api_key(var("KISS_API_KEY")?))
    }
}

impl Client {
    /// A builder with every setting at its default.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client from `KISS_BASE_URL`, `KISS_CUSTOMER_CODE` and `KISS_API_KEY`, every other
    /// setting at its default (to change some, start from [`ClientBuilder::from_env`]).
    pub fn from_env() -> Result<Client, Error> {
        ClientBuilder::from_env()?.build()
    }
}

/// `url` with any `user:password@` between its scheme and its host shown as `***@`, for
/// messages about a URL that may hold a secret (written by hand: a URL that does not parse
/// has no parser's help).
pub(crate) fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{path}"),
        None => format!("{authority}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_with_credentials_is_refused_without_repeating_them() {
        for url in [
            "https://alice:s3cret-pw@api.example.com/",
            "https://token-only@api.example.com",
            "http://alice:s3cret-pw@127.0.0.1:8080/",
        ] {
            let refused = Client::builder()
                .base_url(url)
                .customer_code("C1")
                .api_key("k")
                .build()
                .unwrap_err();
            let said = refused.to_string();
            assert!(matches!(refused, Error::Config(_)), "{said}");
            assert!(said.contains("holds credentials"), "{said}");
            assert!(
                !said.contains("s3cret") && !said.contains("alice") && !said.contains("token-only"),
                "{said}"
            );
            assert!(said.contains("***@"), "{said}");
        }
    }

    #[test]
    fn userinfo_is_hidden_in_urls_that_do_not_parse_too() {
        assert_eq!(
            without_userinfo("https://a:b@host:99999/x"),
            "https://***@host:99999/x"
        );
        assert_eq!(without_userinfo("https://host/a@b"), "https://host/a@b");
        assert_eq!(without_userinfo("a:b@host"), "***@host");
    }
}
