//! The sandbox's notion of now: real time plus an offset that tests can move forward, so token
//! expiry and rate windows are tested without waiting; and, for simulated runs, real time
//! sped up by a whole factor (`--time-scale`), so that an hour of scheduled syncs against
//! both rate windows takes a minute.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

/// How far the sandbox clock may run ahead of real time: a thousand years.
pub const MAX_OFFSET: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);

/// The largest time scale: a simulated hour in a real second (kiss's own limit,
/// `kiss_client::MAX_TIME_SCALE`, is the same).
pub const MAX_TIME_SCALE: u32 = 3600;

/// Wall-clock time, sped up by a factor from the sandbox's start and shifted by an adjustable
/// offset.
#[derive(Debug)]
pub struct Clock {
    offset_millis: AtomicI64,
    scale: u32,
    started: Instant,
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::scaled(1)
    }
}

impl Clock {
    /// A clock whose time runs `scale` times as fast as real time (1 to [`MAX_TIME_SCALE`]).
    pub fn scaled(scale: u32) -> Clock {
        Clock {
            offset_millis: AtomicI64::new(0),
            scale: scale.clamp(1, MAX_TIME_SCALE),
            started: Instant::now(),
        }
    }

    /// How far simulated time has run ahead of real time since the start, from the scale.
    fn sped_up(&self) -> Duration {
        let extra = self.scale.saturating_sub(1);
        self.started
            .elapsed()
            .checked_mul(extra)
            .unwrap_or(MAX_OFFSET)
    }

    /// The current sandbox time.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        now.checked_add_signed(self.ahead()).unwrap_or(now)
    }

    fn ahead(&self) -> TimeDelta {
        let moved = TimeDelta::milliseconds(self.offset_millis.load(Ordering::Relaxed));
        let sped_up = TimeDelta::from_std(self.sped_up()).unwrap_or(TimeDelta::MAX);
        moved.checked_add(&sped_up).unwrap_or(TimeDelta::MAX)
    }

    /// How far the clock is ahead of real time: moved forward, and sped up.
    pub fn offset(&self) -> Duration {
        self.ahead().to_std().unwrap_or(Duration::ZERO)
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

    #[test]
    fn a_scaled_clock_runs_faster_than_real_time() {
        let clock = Clock::scaled(1000);
        let (real, before) = (std::time::Instant::now(), clock.now());
        // Until the real clock has moved 2 ms, whatever the machine's timer resolution.
        while real.elapsed() < Duration::from_millis(2) {
            std::hint::spin_loop();
        }
        let (simulated, real) = (clock.now() - before, real.elapsed());
        assert!(
            simulated >= TimeDelta::from_std(real * 900).unwrap_or(TimeDelta::MAX),
            "{simulated} in {real:?}"
        );
        assert!(clock.offset() > Duration::ZERO);
    }
}
