//! The sandbox's notion of now: real time plus an offset that tests can move forward, so token
//! expiry and rate windows are tested without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// How far the sandbox clock may run ahead of real time: a thousand years.
pub const MAX_OFFSET: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);

/// Wall-clock time shifted by an adjustable offset.
#[derive(Debug, Default)]
pub struct Clock {
    offset_millis: AtomicI64,
}

impl Clock {
    /// The current sandbox time.
    pub fn now(&self) -> DateTime<Utc> {
        let offset = TimeDelta::milliseconds(self.offset_millis.load(Ordering::Relaxed));
        let now = Utc::now();
        now.checked_add_signed(offset).unwrap_or(now)
    }

    /// How far the clock has been moved ahead of real time.
    pub fn offset(&self) -> Duration {
        Duration::from_millis(
            u64::try_from(self.offset_millis.load(Ordering::Relaxed)).unwrap_or(0),
        )
    }

    /// Moves sandbox time forward by `by`, in all at most [`MAX_OFFSET`] past real time (a
    /// test never needs more, and chrono's dates end not far past it).
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .offset_millis
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |offset| {
                Some(
                    offset
                        .saturating_add(millis)
                        .min(MAX_OFFSET.as_millis() as i64),
                )
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now() - before >= TimeDelta::seconds(3600));
        // Absurd jumps saturate; time still works afterwards.
        clock.advance(Duration::from_secs(10_000_000_000_000));
        clock.advance(Duration::MAX);
        let far = clock.now();
        assert!(far > before + TimeDelta::days(365 * 999), "{far}");
        assert!(far + TimeDelta::days(1) > far);
    }
}
