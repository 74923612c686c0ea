//! The time kiss schedules and paces by: real time, or for simulated runs against a sandbox
//! whose clock runs as fast (`kiss-sandbox --time-scale N`), real time sped up by the same
//! factor (`KISS_TIME_SCALE`, from `KISS_TIME_EPOCH`). Set once at start-up, before any sync.

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kiss_client::ScaledClock;

static SCALED: OnceLock<ScaledClock> = OnceLock::new();

/// Runs this process on `clock`'s time (once; later calls change nothing).
pub(crate) fn scale(clock: ScaledClock) {
    let _ = SCALED.set(clock);
}

/// The simulated clock, when there is one.
pub(crate) fn scaled() -> Option<ScaledClock> {
    SCALED.get().copied()
}

/// Now.
pub(crate) fn now() -> DateTime<Utc> {
    let Some(clock) = scaled() else {
        return Utc::now();
    };
    let real = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    i64::try_from(clock.simulated_millis(real))
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(Utc::now)
}

/// Waits `duration` of this process's time.
pub(crate) async fn sleep(duration: Duration) {
    let real = match scaled() {
        Some(clock) => duration / clock.scale(),
        None => duration,
    };
    tokio::time::sleep(real).await;
}
