//! Pre-emptive pacing to both rate windows, so normal use never meets a 429.
//!
//! A sliding log of send times: no span of a minute (or an hour) holds more requests than the
//! quota allows, which keeps every fixed window the server counts in under its limit too.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests admitted per window. Defaults to the documented 60 per minute and 1,000 per hour;
/// raise it for accounts with higher limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per minute.
    pub per_minute: u32,
    /// Requests per hour.
    pub per_hour: u32,
}

impl Default for Quota {
    fn default() -> Quota {
        Quota {
            per_minute: 60,
            per_hour: 1_000,
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// Slack for the distance between our clock and the server's.
const MARGIN: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub(crate) struct Pacer {
    quota: Quota,
    sent: Mutex<VecDeque<Instant>>,
}

impl Pacer {
    pub(crate) fn new(quota: Quota) -> Pacer {
        Pacer {
            quota,
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Reserves a send slot: how long to wait from `now` before sending.
    pub(crate) fn reserve(&self, now: Instant) -> Duration {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        while sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= HOUR + MARGIN)
        {
            sent.pop_front();
        }
        let earliest = |limit: u32, window: Duration| -> Instant {
            let limit = limit.max(1) as usize;
            let in_use: Vec<&Instant> = sent
                .iter()
                .filter(|t| **t + window + MARGIN > now)
                .collect();
            if in_use.len() < limit {
                now
            } else {
                // The slot frees when the limit-th most recent request leaves the window.
                *in_use[in_use.len() - limit] + window + MARGIN
            }
        };
        let at = earliest(self.quota.per_minute, MINUTE).max(earliest(self.quota.per_hour, HOUR));
        let position = sent.partition_point(|t| *t <= at);
        sent.insert(position, at);
        at.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_requests_to_the_minute_window() {
        let pacer = Pacer::new(Quota {
            per_minute: 3,
            per_hour: 100,
        });
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..7).map(|_| pacer.reserve(t0)).collect();
        assert_eq!(waits[..3], [Duration::ZERO; 3]);
        assert_eq!(waits[3], MINUTE + MARGIN);
        assert_eq!(waits[5], MINUTE + MARGIN);
        assert_eq!(waits[6], 2 * (MINUTE + MARGIN));
    }

    #[test]
    fn the_hour_window_binds_when_it_is_the_tighter_one() {
        let pacer = Pacer::new(Quota {
            per_minute: 100,
            per_hour: 2,
        });
        let t0 = Instant::now();
        assert_eq!(pacer.reserve(t0), Duration::ZERO);
        assert_eq!(pacer.reserve(t0 + Duration::from_secs(10)), Duration::ZERO);
        let wait = pacer.reserve(t0 + Duration::from_secs(20));
        assert_eq!(wait, HOUR + MARGIN - Duration::from_secs(20));
    }

    #[test]
    fn no_minute_ever_holds_more_than_the_quota() {
        let pacer = Pacer::new(Quota {
            per_minute: 5,
            per_hour: 1_000,
        });
        let t0 = Instant::now();
        let mut sends = Vec::new();
        for i in 0..40u64 {
            let now = t0 + Duration::from_millis(i * 700);
            sends.push(now + pacer.reserve(now));
        }
        sends.sort();
        for (i, start) in sends.iter().enumerate() {
            let within = sends[i..]
                .iter()
                .take_while(|t| **t < *start + MINUTE)
                .count();
            assert!(within <= 5, "{within} sends within a minute of send {i}");
        }
    }
}
