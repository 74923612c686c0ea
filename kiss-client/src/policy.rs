//! How patiently a client retries: the knobs of the one retry loop.

use std::time::Duration;

/// How failures are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts for `500/502/503/504` and transport errors, the first included.
    pub max_attempts: u32,
    /// The first backoff's upper bound: each retry waits between half of its bound and all of
    /// it, the bound doubling per attempt.
    pub base_delay: Duration,
    /// The largest backoff.
    pub max_delay: Duration,
    /// Repeated `429`s waited out before giving up with [`Error::RateLimited`](crate::Error::RateLimited).
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
