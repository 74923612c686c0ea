//! Time and sleeping, injectable so quota, backoff and refresh logic are tested without real
//! waits. [`ScaledClock`] is public for simulated runs against a sandbox whose clock runs as
//! fast; the other injection points ([`Clock`], [`ManualClock`]) only with the `test-util`
//! feature: they are for tests, not for using the API.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// A source of time for the client.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Instant;
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    /// Now as wall-clock time, in milliseconds since the Unix epoch (for send logs shared
    /// between processes).
    fn unix_millis(&self) -> u64 {
        real_unix_millis()
    }
}

pub(crate) fn real_unix_millis() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The largest time scale: a simulated hour in a real second.
pub const MAX_TIME_SCALE: u32 = 3600;

/// Real time sped up by a whole factor from a fixed moment (the epoch), for simulated runs
/// against a sandbox whose clock runs as fast (`kiss-sandbox --time-scale`): the client's
/// pacing, backoff and token refresh follow it, so an hour of scheduled syncs within both
/// rate windows takes a minute at 60. Processes given the same scale and epoch agree on the
/// time. Never for the real API: its rate windows run in real time.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use kiss_client::ScaledClock;
///
/// let clock = ScaledClock::new(60, UNIX_EPOCH + Duration::from_secs(1_000)).unwrap();
/// // A real second after the epoch is a simulated minute after it.
/// assert_eq!(clock.simulated_millis(1_001_000), 1_060_000);
/// assert_eq!(clock.real_millis(1_060_000), 1_001_000);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    scale: u32,
    /// The epoch as this process's monotonic time, and as Unix milliseconds.
    epoch: Instant,
    epoch_millis: u64,
}

impl ScaledClock {
    /// Time `scale` times as fast as real time (2 to [`MAX_TIME_SCALE`]) from `epoch`, which
    /// must not be in the future; `None` otherwise.
    pub fn new(scale: u32, epoch: std::time::SystemTime) -> Option<ScaledClock> {
        if !(2..=MAX_TIME_SCALE).contains(&scale) {
            return None;
        }
        let since = std::time::SystemTime::now().duration_since(epoch).ok()?;
        Some(ScaledClock {
            scale,
            epoch: Instant::now().checked_sub(since)?,
            epoch_millis: u64::try_from(
                epoch
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_millis(),
            )
            .ok()?,
        })
    }

    /// The factor.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// The simulated time (Unix milliseconds) of a real one at or after the epoch.
    pub fn simulated_millis(&self, real: u64) -> u64 {
        let since = real.saturating_sub(self.epoch_millis);
        self.epoch_millis
            .saturating_add(since.saturating_mul(u64::from(self.scale)))
    }

    /// The real time (Unix milliseconds, rounded up) of a simulated one.
    pub fn real_millis(&self, simulated: u64) -> u64 {
        let since = simulated.saturating_sub(self.epoch_millis);
        self.epoch_millis
            .saturating_add(since.div_ceil(u64::from(self.scale)))
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Instant {
        let since = self.epoch.elapsed();
        since
            .checked_mul(self.scale)
            .and_then(|simulated| self.epoch.checked_add(simulated))
            .unwrap_or_else(Instant::now)
    }
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration / self.scale))
    }
    fn unix_millis(&self) -> u64 {
        self.simulated_millis(real_unix_millis())
    }
}

/// The real clock: `Instant::now` and `tokio::time::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[cfg(feature = "test-util")]
mod manual {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    type SleepHook = Box<dyn Fn(Duration) + Send + Sync>;

    /// A clock that moves only when slept on: every sleep returns at once and moves it forward.
    /// For tests: assert on [`ManualClock::slept`]; a hook can move another clock in step (such
    /// as the sandbox's).
    #[derive(Clone)]
    pub struct ManualClock {
        start: Instant,
        offset_nanos: Arc<AtomicU64>,
        sleeps: Arc<Mutex<Vec<Duration>>>,
        on_sleep: Arc<Mutex<Option<SleepHook>>>,
    }

    impl Default for ManualClock {
        fn default() -> ManualClock {
            ManualClock {
                start: Instant::now(),
                offset_nanos: Arc::new(AtomicU64::new(0)),
                sleeps: Arc::new(Mutex::new(Vec::new())),
                on_sleep: Arc::new(Mutex::new(None)),
            }
        }
    }

    impl std::fmt::Debug for ManualClock {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("ManualClock")
                .field("elapsed", &self.elapsed())
                .finish()
        }
    }

    impl ManualClock {
        /// A clock at an arbitrary start, not moving.
        pub fn new() -> ManualClock {
            ManualClock::default()
        }

        /// Calls `hook` with every sleep's duration (after the clock moved).
        pub fn on_sleep(&self, hook: impl Fn(Duration) + Send + Sync + 'static) {
            *self.on_sleep.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(hook));
        }

        /// Moves the clock forward without a sleep.
        pub fn advance(&self, by: Duration) {
            let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            self.offset_nanos.fetch_add(nanos, Ordering::SeqCst);
        }

        /// How far the clock has moved.
        pub fn elapsed(&self) -> Duration {
            Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst))
        }

        /// Every sleep so far, in order.
        pub fn slept(&self) -> Vec<Duration> {
            self.sleeps
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            self.start + self.elapsed()
        }
        fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
            self.advance(duration);
            self.sleeps
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(duration);
            if let Some(hook) = &*self.on_sleep.lock().unwrap_or_else(|p| p.into_inner()) {
                hook(duration);
            }
            Box::pin(std::future::ready(()))
        }
    }
}

#[cfg(feature = "test-util")]
pub use manual::ManualClock;
