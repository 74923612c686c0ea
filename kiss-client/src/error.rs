//! Everything that can go wrong talking to the API, each with what to do about it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

/// A failed call to the Kiss Customer API.
///
/// Its `Debug` form is its message followed by its causes, so that `fn main() -> Result<(),
/// kiss_client::Error>` prints something a person can act on (see [`Error::report`]).
#[derive(Error)]
#[non_exhaustive]
pub enum Error {
    /// The client is set up wrong (a bad URL, a missing setting).
    #[error("client configuration: {0}")]
    Config(String),
    /// A plain-HTTP URL that is not loopback: credentials would travel in clear text.
    #[error("refusing {url}: the API Key and tokens would travel unencrypted; use https:// (plain http is allowed only on loopback, or with allow_insecure_http)")]
    InsecureUrl {
        /// The URL given.
        url: String,
    },
    /// `401 invalid_client`: the Customer Code or API Key is wrong.
    #[error("the Customer Code or API Key was refused (invalid_client): check KISS_CUSTOMER_CODE and KISS_API_KEY")]
    InvalidClient,
    /// `400 unsupported_grant_type`.
    #[error("the token endpoint refused the grant type (unsupported_grant_type): this is a kiss-client bug, please report it")]
    UnsupportedGrantType,
    /// `400 invalid_request` (or another OAuth error code).
    #[error("the token endpoint refused the request ({code}): {description}")]
    OAuth {
        /// The OAuth error code.
        code: String,
        /// The server's description.
        description: String,
    },
    /// A data endpoint refused the token even after a fresh one was fetched.
    #[error("the API refused a freshly issued token (401 invalid_token): the credentials may have been revoked; contact Kiss support if it persists")]
    InvalidToken,
    /// `404 {"error":"Customer not found."}`.
    #[error("the API has no customer record for this Customer Code (404 Customer not found.): contact Kiss support")]
    CustomerNotFound,
    /// Rate limited past the retry ceiling.
    #[error(
        "rate limited on the {window} window{}; the quota resets {}; wait, or raise the client's \
         Quota only if your account allows more",
        limit.map_or_else(String::new, |l| format!(" ({l} requests)")),
        match (reset, retry_after_unreadable) {
            (Some(reset), _) => format!("at {reset}"),
            (None, Some(raw)) => format!(
                "at a time the server did not say (its Retry-After {raw:?} is neither seconds nor a date)"
            ),
            (None, None) => format!("in {}s", retry_after.as_secs()),
        }
    )]
    RateLimited {
        /// `1m` or `1h`, as the server said (`X-Rate-Limit-Limit`).
        window: String,
        /// The limit from the message, when given.
        limit: Option<u32>,
        /// When the quota resets (`X-Rate-Limit-Reset`), when given.
        reset: Option<DateTime<Utc>>,
        /// `Retry-After` (1 s when the server sent none or an unreadable one).
        retry_after: Duration,
        /// A `Retry-After` that was neither seconds nor a date, as sent.
        retry_after_unreadable: Option<String>,
    },
    /// The server answered with a redirect the client does not follow: to another origin, or
    /// for the token request (whose body carries the API Key).
    #[error("{path} was redirected ({status}) to {location}; not followed, since it leaves {origin} or would re-send the API Key: check KISS_BASE_URL")]
    Redirected {
        /// The path requested.
        path: String,
        /// The 3xx status.
        status: u16,
        /// Where to (the `Location` header, shortened).
        location: String,
        /// The origin requests are kept within.
        origin: String,
    },
    /// A body larger than the client accepts for it.
    #[error("{path}: {what} is larger than {limit} bytes; refused rather than held in memory (raise the limit on the client if this is expected)")]
    TooLarge {
        /// The path requested.
        path: String,
        /// What was too large (`the document`, `record 17`).
        what: String,
        /// The limit in force.
        limit: u64,
    },
    /// A small document (token, schema, version, health) did not arrive whole in time.
    #[error("{path}: the answer did not arrive whole within {deadline:?}; a server trickling a small document is refused (retry later)")]
    Deadline {
        /// The path requested.
        path: String,
        /// The total deadline for small documents.
        deadline: std::time::Duration,
    },
    /// A 5xx that persisted through the retry budget.
    #[error("the API failed with {status} after {attempts} attempts: {message}; retry later, and contact Kiss support if it persists")]
    Server {
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The server's `error` message, if any.
        message: String,
    },
    /// A status the reference does not describe for this endpoint.
    #[error("unexpected {status} from {path}: {body}")]
    UnexpectedStatus {
        /// The status.
        status: u16,
        /// The path requested.
        path: String,
        /// The start of the body.
        body: String,
    },
    /// The connection failed (refused, reset, DNS) through the retry budget.
    #[error("could not reach the API ({path}) after {attempts} attempts: {source}; check the base URL and the network")]
    Transport {
        /// The path requested.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// No byte arrived for longer than the read timeout.
    #[error("{path}: no data for {timeout:?} (the connection stalled); retry, or raise the read timeout on a slow link")]
    Timeout {
        /// The path requested.
        path: String,
        /// The idle-read timeout that fired.
        timeout: Duration,
    },
    /// The body ended before the JSON array closed.
    #[error("{path}: the body was cut short after {bytes} bytes and {records} complete records ({detail}); fetch it again")]
    BodyCutShort {
        /// The path requested.
        path: String,
        /// Bytes received.
        bytes: u64,
        /// Records decoded before the cut.
        records: u64,
        /// Where it broke.
        detail: String,
    },
    /// A schema document the models were generated from is missing or does not parse: the
    /// build is broken, so no comparison with the live API can be trusted.
    #[error("the schema document of {endpoint} that the models were generated from {problem}; regenerate the models (cargo xtask regen)")]
    GeneratedSchema {
        /// The endpoint (`/products`).
        endpoint: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The body is not the JSON expected.
    #[error("{path}: the body is not the JSON expected: {detail}")]
    InvalidBody {
        /// The path requested.
        path: String,
        /// What and where (byte offset, record index, line and column).
        detail: String,
    },
}

impl Error {
    /// Whether waiting and trying again may help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. }
                | Error::Server { .. }
                | Error::Transport { .. }
                | Error::Timeout { .. }
                | Error::BodyCutShort { .. }
        )
    }

    /// The message and every cause below it, one per line: what `Debug` shows.
    pub fn report(&self) -> String {
        self.report_joined("\n  caused by: ")
    }

    /// The message and every cause below it, joined by `separator` (`": "` for one line).
    pub fn report_joined(&self, separator: &str) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            // Messages here often end with their cause already; do not say it twice.
            if !text.contains(&cause_text) {
                text.push_str(separator);
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        text
    }
}

/// The message, not the variant's fields: what reaches a person when `main` returns the error.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.report())
    }
}
