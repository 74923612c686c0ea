//! Per-customer rate limiting: a minute window and an hour window, enforced at once.
//!
//! Windows are fixed and start at a bucket's first request after the previous window ended,
//! the way the API's `X-Rate-Limit-Reset` header describes them. Every request counts,
//! including the ones refused here.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::RateLimit;

/// Whose quota a request counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    /// A Customer Code.
    Customer(String),
    /// Unauthenticated `/api/version`, `/health` and unattributable requests: one bucket for
    /// the whole deployment.
    Anonymous,
}

/// A request over the limit, with what the 429 response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limited {
    /// `1m` or `1h`.
    pub window: &'static str,
    pub limit: u32,
    pub reset: DateTime<Utc>,
    pub retry_after_secs: i64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: DateTime<Utc>,
    count: u32,
}

impl Window {
    fn hit(&mut self, now: DateTime<Utc>, length: TimeDelta) {
        if now >= self.start + length {
            self.start = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
    }
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<Bucket, (Window, Window)>>,
    /// Requests refused with a `429` by the limits (not by faults), for tests to judge by.
    refused: std::sync::atomic::AtomicU64,
}

const MINUTE: TimeDelta = TimeDelta::seconds(60);
const HOUR: TimeDelta = TimeDelta::seconds(3600);

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
            refused: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Requests refused by the limits so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts one request of `bucket` at `now`, and says whether it is over a limit. When both
    /// windows are exceeded the hour is reported, since waiting out the minute would not help.
    pub(crate) fn admit(&self, bucket: &Bucket, now: DateTime<Utc>) -> Result<(), Limited> {
        let admitted = self.admit_counted(bucket, now);
        if admitted.is_err() {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        admitted
    }

    fn admit_counted(&self, bucket: &Bucket, now: DateTime<Utc>) -> Result<(), Limited> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = Window {
            start: now,
            count: 0,
        };
        let (minute, hour) = buckets.entry(bucket.clone()).or_insert((fresh, fresh));
        minute.hit(now, MINUTE);
        hour.hit(now, HOUR);
        let limited = |window, limit, start: DateTime<Utc>, length: TimeDelta| {
            let reset = start + length;
            let millis = (reset - now).num_milliseconds().max(0);
            Err(Limited {
                window,
                limit,
                reset,
                retry_after_secs: ((millis + 999) / 1000).max(1),
            })
        };
        if hour.count > self.limit.per_hour {
            return limited("1h", self.limit.per_hour, hour.start, HOUR);
        }
        if minute.count > self.limit.per_minute {
            return limited("1m", self.limit.per_minute, minute.start, MINUTE);
        }
        Ok(())
    }

    /// Forgets all counts.
    pub(crate) fn reset(&self) {
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_window_trips_then_resets() {
        let limiter = RateLimiter::new(RateLimit {
            per_minute: 3,
            per_hour: 100,
        });
        let bucket = Bucket::Customer("A".into());
        let t0 = Utc::now();
        for _ in 0..3 {
            assert!(limiter.admit(&bucket, t0).is_ok());
        }
        let limited = limiter
            .admit(&bucket, t0 + TimeDelta::seconds(20))
            .unwrap_err();
        assert_eq!(limited.window, "1m");
        assert_eq!(limited.retry_after_secs, 40);
        assert_eq!(limited.reset, t0 + MINUTE);
        // Another bucket is unaffected.
        assert!(limiter.admit(&Bucket::Anonymous, t0).is_ok());
        assert!(limiter.admit(&bucket, t0 + MINUTE).is_ok());
    }

    #[test]
    fn hour_window_wins_when_both_trip() {
        let limiter = RateLimiter::new(RateLimit {
            per_minute: 2,
            per_hour: 2,
        });
        let bucket = Bucket::Anonymous;
        let t0 = Utc::now();
        limiter.admit(&bucket, t0).unwrap();
        limiter.admit(&bucket, t0).unwrap();
        let limited = limiter.admit(&bucket, t0).unwrap_err();
        assert_eq!((limited.window, limited.limit), ("1h", 2));
        // Rejected requests count too: a new minute does not help within the hour.
        assert_eq!(
            limiter.admit(&bucket, t0 + MINUTE).unwrap_err().window,
            "1h"
        );
    }
}
