//! Pre-emptive pacing to both rate windows, so normal use never meets a 429.
//!
//! A sliding log of send times: no span of a minute (or an hour) holds more requests than the
//! quota allows, which keeps every fixed window the server counts in under its limit too.

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::Clock;

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

/// Reserves the earliest send time at or after `now` that keeps both windows within `quota`,
/// given the send times already in `sent` (sorted), and records it there. Generic over the
/// time type so that one process's log (`Instant`) and a log shared between processes
/// (milliseconds of wall-clock time) follow the same rule.
fn reserve_in<T>(
    sent: &mut VecDeque<T>,
    now: T,
    quota: Quota,
    later: impl Fn(T, Duration) -> T,
) -> T
where
    T: Copy + Ord,
{
    while sent
        .front()
        .is_some_and(|t| later(*t, HOUR + MARGIN) <= now)
    {
        sent.pop_front();
    }
    let earliest = |limit: u32, window: Duration| -> T {
        let limit = limit.max(1) as usize;
        let in_use: Vec<&T> = sent
            .iter()
            .filter(|t| later(**t, window + MARGIN) > now)
            .collect();
        if in_use.len() < limit {
            now
        } else {
            // The slot frees when the limit-th most recent request leaves the window.
            later(*in_use[in_use.len() - limit], window + MARGIN)
        }
    };
    let at = earliest(quota.per_minute, MINUTE).max(earliest(quota.per_hour, HOUR));
    let position = sent.partition_point(|t| *t <= at);
    sent.insert(position, at);
    at
}

/// The earliest send time at or after `now` (milliseconds since the Unix epoch) that keeps
/// both windows within `quota`, given the send times already in `sent` (sorted, in the same
/// milliseconds): recorded in `sent`, from which sends older than the hour window are
/// dropped. What a [`SharedQuota`] computes while it holds its log's lock.
///
/// ```
/// use std::collections::VecDeque;
/// use kiss_client::{reserve_slot, Quota};
///
/// let quota = Quota { per_minute: 2, per_hour: 100 };
/// let mut sent = VecDeque::new();
/// assert_eq!(reserve_slot(&mut sent, 1_000, quota), 1_000);
/// assert_eq!(reserve_slot(&mut sent, 1_000, quota), 1_000);
/// // The third waits until the first has left the minute (and a margin for clock skew).
/// assert!(reserve_slot(&mut sent, 1_000, quota) >= 61_000);
/// assert_eq!(sent.len(), 3);
/// ```
pub fn reserve_slot(sent: &mut VecDeque<u64>, now: u64, quota: Quota) -> u64 {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    reserve_in(sent, now, quota, |t, d| t.saturating_add(millis(d)))
}

/// The future of [`SharedQuota::reserve`].
pub type Reservation<'a> = Pin<Box<dyn Future<Output = Result<Duration, String>> + Send + 'a>>;

/// A log of send times shared by every process of one customer, wherever they run, so that
/// together they stay inside both windows: [`crate::ClientBuilder::shared_quota_file`] shares
/// one between the processes of one machine; an implementation of this trait can share one
/// across machines (kiss-store keeps one in a PostgreSQL mirror).
pub trait SharedQuota: Send + Sync + std::fmt::Debug + 'static {
    /// Reserves the next send slot within `quota` in the shared log (computing it with
    /// [`reserve_slot`] under the log's lock) and says how long to wait for it. An error
    /// (said as text) makes the client pace this process alone, with a warning.
    fn reserve(&self, quota: Quota) -> Reservation<'_>;
}

/// A log shared with the other processes of the same customer.
#[derive(Debug, Clone)]
pub(crate) enum Shared {
    /// A file, locked while it is read and written (one machine).
    File(PathBuf),
    /// Elsewhere (such as a database all the machines reach).
    Custom(Arc<dyn SharedQuota>),
}

#[derive(Debug)]
pub(crate) struct Pacer {
    quota: Quota,
    sent: Mutex<VecDeque<Instant>>,
    /// A log shared with the other processes of the same customer, when asked for.
    shared: Option<Shared>,
}

impl Pacer {
    pub(crate) fn new(quota: Quota, shared: Option<Shared>) -> Pacer {
        Pacer {
            quota,
            sent: Mutex::new(VecDeque::new()),
            shared,
        }
    }

    /// [`Pacer::reserve`], through a shared log kept elsewhere when there is one.
    pub(crate) async fn reserve_shared(&self, clock: &dyn Clock) -> Duration {
        if let Some(Shared::Custom(shared)) = &self.shared {
            match shared.reserve(self.quota).await {
                Ok(wait) => return wait,
                Err(error) => tracing::warn!(
                    %error, "cannot use the shared quota log; pacing this process alone"
                ),
            }
        }
        self.reserve_at(clock.now(), clock.unix_millis())
    }

    #[cfg(test)]
    fn reserve(&self, now: Instant) -> Duration {
        self.reserve_at(now, crate::clock::real_unix_millis())
    }

    /// Reserves a send slot: how long to wait from now before sending. With a shared log,
    /// the slot is reserved there (falling back to this process's log if the file cannot be
    /// used, with a warning).
    /// `now` on the client's clock, and as Unix milliseconds for a shared file.
    fn reserve_at(&self, now: Instant, unix_millis: u64) -> Duration {
        if let Some(Shared::File(path)) = &self.shared {
            match reserve_shared(path, self.quota, unix_millis) {
                Ok(wait) => return wait,
                Err(e) => tracing::warn!(
                    path = %path.display(), error = %e,
                    "cannot use the shared quota file; pacing this process alone"
                ),
            }
        }
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let at = reserve_in(&mut sent, now, self.quota, |t, d| t + d);
        at.saturating_duration_since(now)
    }
}

/// Reserves a slot in the file shared by the processes of one customer: one send time per
/// line (milliseconds since the Unix epoch), read, extended and written back under an
/// exclusive lock, so that processes started together never take the same slot.
fn reserve_shared(path: &Path, quota: Quota, now: u64) -> std::io::Result<Duration> {
    use std::io::{Read, Seek, Write};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    // The customer's send times are nobody else's business: readable by its owner only.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.lock()?;
    let mut text = String::new();
    // Bounded: an hour's log of a 1,000-an-hour quota is some 14 KB; anything far larger is
    // not ours, and is started afresh.
    (&mut file).take(1 << 20).read_to_string(&mut text)?;
    let mut sent: VecDeque<u64> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    sent.make_contiguous().sort_unstable();
    let at = reserve_slot(&mut sent, now, quota);
    let mut out = String::with_capacity(sent.len() * 14);
    for t in &sent {
        out.push_str(&t.to_string());
        out.push('\n');
    }
    file.rewind()?;
    file.set_len(0)?;
    file.write_all(out.as_bytes())?;
    file.unlock()?;
    Ok(Duration::from_millis(at.saturating_sub(now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_requests_to_the_minute_window() {
        let pacer = Pacer::new(
            Quota {
                per_minute: 3,
                per_hour: 100,
            },
            None,
        );
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..7).map(|_| pacer.reserve(t0)).collect();
        assert_eq!(waits[..3], [Duration::ZERO; 3]);
        assert_eq!(waits[3], MINUTE + MARGIN);
        assert_eq!(waits[5], MINUTE + MARGIN);
        assert_eq!(waits[6], 2 * (MINUTE + MARGIN));
    }

    #[test]
    fn the_hour_window_binds_when_it_is_the_tighter_one() {
        let pacer = Pacer::new(
            Quota {
                per_minute: 100,
                per_hour: 2,
            },
            None,
        );
        let t0 = Instant::now();
        assert_eq!(pacer.reserve(t0), Duration::ZERO);
        assert_eq!(pacer.reserve(t0 + Duration::from_secs(10)), Duration::ZERO);
        let wait = pacer.reserve(t0 + Duration::from_secs(20));
        assert_eq!(wait, HOUR + MARGIN - Duration::from_secs(20));
    }

    #[test]
    fn processes_sharing_a_log_file_share_the_quota() {
        let path = std::env::temp_dir().join(format!("kiss-quota-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let quota = Quota {
            per_minute: 3,
            per_hour: 100,
        };
        // Two pacers, as two processes would have, over one file.
        let (a, b) = (
            Pacer::new(quota, Some(Shared::File(path.clone()))),
            Pacer::new(quota, Some(Shared::File(path.clone()))),
        );
        let now = Instant::now();
        let waits = [
            a.reserve(now),
            b.reserve(now),
            a.reserve(now),
            b.reserve(now),
        ];
        assert_eq!(waits[..3], [Duration::ZERO; 3]);
        assert!(
            waits[3] > MINUTE,
            "the fourth send waits for the minute: {:?}",
            waits[3]
        );
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, 4);
        // A file that is not ours is started afresh, not an error.
        std::fs::write(&path, "garbage\n").unwrap();
        assert_eq!(a.reserve(now), Duration::ZERO);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn no_minute_ever_holds_more_than_the_quota() {
        let pacer = Pacer::new(
            Quota {
                per_minute: 5,
                per_hour: 1_000,
            },
            None,
        );
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
