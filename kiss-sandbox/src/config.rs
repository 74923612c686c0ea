//! How a sandbox is set up: customers, catalogue, profile, token lifetime and rate limits.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::profile::Profile;

/// The Customer Code of the sandbox's default customer.
pub const DEFAULT_CUSTOMER_CODE: &str = "ACME01";
/// The API Key of the sandbox's default customer. It is public on purpose: it opens nothing
/// but a sandbox.
pub const DEFAULT_API_KEY: &str = "sandbox-key-ACME01-not-a-secret";

/// One set of credentials the sandbox accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct Customer {
    /// The Customer Code (`client_id`).
    pub code: String,
    /// The API Key (`client_secret`).
    pub api_key: String,
    /// Whether the customer's record is missing: credentials work, data endpoints answer
    /// `404 {"error":"Customer not found."}`.
    pub missing: bool,
}

impl Customer {
    /// A customer whose record exists.
    pub fn new(code: impl Into<String>, api_key: impl Into<String>) -> Customer {
        Customer {
            code: code.into(),
            api_key: api_key.into(),
            missing: false,
        }
    }
}

// The API Key is a secret even in a sandbox: users may configure real-looking keys.
impl fmt::Debug for Customer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Customer")
            .field("code", &self.code)
            .field("api_key", &"<redacted>")
            .field("missing", &self.missing)
            .finish()
    }
}

/// `CODE=KEY`, as given on the command line.
impl FromStr for Customer {
    type Err = String;
    fn from_str(s: &str) -> Result<Customer, String> {
        match s.split_once('=') {
            Some((code, key)) if !code.is_empty() && !key.is_empty() => {
                Ok(Customer::new(code, key))
            }
            _ => Err("expected CODE=KEY, for example ACME01=my-sandbox-key".to_owned()),
        }
    }
}

/// The two rate windows the API enforces at once, per Customer Code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests admitted per minute.
    pub per_minute: u32,
    /// Requests admitted per hour.
    pub per_hour: u32,
}

impl RateLimit {
    /// Limits so high that a test never trips them by accident (a million a minute and an
    /// hour): for tests and benchmarks whose subject is not the rate limit.
    pub const RELAXED: RateLimit = RateLimit {
        per_minute: 1_000_000,
        per_hour: 1_000_000,
    };
}

impl Default for RateLimit {
    /// The documented limits: 60 per minute and 1,000 per hour.
    fn default() -> RateLimit {
        RateLimit {
            per_minute: 60,
            per_hour: 1_000,
        }
    }
}

/// `PER_MIN,PER_HOUR`, as given on the command line.
impl FromStr for RateLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<RateLimit, String> {
        let parsed = s
            .split_once(',')
            .and_then(|(m, h)| Some((m.trim().parse().ok()?, h.trim().parse().ok()?)));
        match parsed {
            Some((per_minute, per_hour)) if per_minute > 0 && per_hour > 0 => Ok(RateLimit {
                per_minute,
                per_hour,
            }),
            _ => Err("expected PER_MIN,PER_HOUR with both above zero, for example 60,1000".into()),
        }
    }
}

/// Everything a sandbox needs to start.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free port. Default `127.0.0.1:0`.
    pub addr: SocketAddr,
    /// How many products the catalogue has (and stock and price rows). Default 300.
    pub products: usize,
    /// The catalogue's seed. Default 2026.
    pub seed: u64,
    /// The served surface. Default: the documented `2026-04` profile.
    pub profile: Profile,
    /// Accepted credentials. Default: `ACME01` with [`DEFAULT_API_KEY`].
    pub customers: Vec<Customer>,
    /// How long tokens live. Default 3600 s.
    pub token_ttl: Duration,
    /// The rate limits. Default 60/minute and 1,000/hour.
    pub rate_limit: RateLimit,
    /// How long a request's body may take to arrive, after its headers (a request that
    /// trickles or stalls is answered `408` and its connection closed). Default 10 s.
    pub body_timeout: Duration,
    /// How many times faster than real time the sandbox's clock runs (its rate windows,
    /// token lifetimes and catalogue changes with it), for simulated runs; 1 to 3600.
    /// Default 1.
    pub time_scale: u32,
}

impl SandboxConfig {
    /// The default sandbox with `products` products and [`RateLimit::RELAXED`]: what most
    /// tests and benchmarks want.
    pub fn relaxed(products: usize) -> SandboxConfig {
        SandboxConfig {
            products,
            rate_limit: RateLimit::RELAXED,
            ..SandboxConfig::default()
        }
    }
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            products: 300,
            seed: 2026,
            profile: Profile::default(),
            customers: vec![Customer::new(DEFAULT_CUSTOMER_CODE, DEFAULT_API_KEY)],
            token_ttl: Duration::from_secs(3600),
            rate_limit: RateLimit::default(),
            body_timeout: Duration::from_secs(10),
            time_scale: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_command_line_values() {
        let c: Customer = "ACME02=k=ey".parse().unwrap();
        assert_eq!((c.code.as_str(), c.api_key.as_str()), ("ACME02", "k=ey"));
        assert!("ACME02".parse::<Customer>().is_err());
        assert!("=key".parse::<Customer>().is_err());
        let r: RateLimit = "5, 8".parse().unwrap();
        assert_eq!(
            r,
            RateLimit {
                per_minute: 5,
                per_hour: 8
            }
        );
        assert!("0,8".parse::<RateLimit>().is_err());
        assert!("5".parse::<RateLimit>().is_err());
    }

    #[test]
    fn debug_never_shows_an_api_key() {
        let config = SandboxConfig {
            customers: vec![Customer::new("X", "super-secret-key")],
            ..SandboxConfig::default()
        };
        assert!(!format!("{config:?}").contains("super-secret-key"));
    }
}
