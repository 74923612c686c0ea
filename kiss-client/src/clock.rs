//! Time and sleeping, injectable so quota, backoff and refresh logic are tested without real
//! waits. The injection point ([`Clock`], [`ManualClock`], `ClientBuilder::clock`) is public
//! only with the `test-util` feature: it is for tests, not for using the API.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// A source of time for the client.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Instant;
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
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
