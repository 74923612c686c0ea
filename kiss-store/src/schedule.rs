//! When `kiss sync --every` runs each endpoint: the schedule a user gives, the Datafeed App's
//! bounds on it, the jitter that spreads many mirrors apart, and the next run each mirror
//! records in `_kiss_schedule` so that several syncers (and a restarted one) share one
//! schedule.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kiss_schema::Endpoint;

use crate::engine::{Engine, Schedule};
use crate::error::StoreError;
use crate::sync::timestamp;

/// The Datafeed App's longest interval, 1,440 minutes: no endpoint is scheduled less
/// often, and jitter never puts a run off past it.
pub const LONGEST_INTERVAL: Duration = Duration::from_secs(1440 * 60);

/// The Datafeed App's shortest interval for `endpoint`: stock every 10 minutes, products and
/// prices every 60.
pub fn shortest_interval(endpoint: Endpoint) -> Duration {
    match endpoint {
        Endpoint::Stock => Duration::from_secs(10 * 60),
        Endpoint::Products | Endpoint::Prices => Duration::from_secs(60 * 60),
    }
}

/// A schedule given by a user: each endpoint's interval, such as
/// `products=6h,stock=15m,prices=6h`, each within the Datafeed App's bounds.
///
/// ```
/// use kiss_store::Every;
/// let every: Every = "products=6h,stock=15m".parse().unwrap();
/// assert_eq!(every.intervals().len(), 2);
/// assert!("stock=5m".parse::<Every>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Every(Vec<(Endpoint, Duration)>);

/// A schedule or span that cannot be used, and why (for the command line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

impl Every {
    /// Each endpoint and its interval, in the order given.
    pub fn intervals(&self) -> &[(Endpoint, Duration)] {
        &self.0
    }
}

impl FromStr for Every {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Every, ScheduleError> {
        let fail = |message: String| Err(ScheduleError(message));
        let mut out: Vec<(Endpoint, Duration)> = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, given)) = part.split_once('=') else {
                return fail(format!(
                    "{part:?} is not ENDPOINT=INTERVAL (such as products=6h,stock=15m)"
                ));
            };
            let (name, given) = (name.trim(), given.trim());
            let Ok(endpoint) = name.parse::<Endpoint>() else {
                return fail(format!(
                    "{name:?} is not an endpoint (products, stock, prices)"
                ));
            };
            let every = span(given)?;
            let shortest = shortest_interval(endpoint);
            // On the exact duration: 86,401 s is past the longest interval, though it
            // rounds to 1,440 minutes.
            if every < shortest || every > LONGEST_INTERVAL {
                return fail(format!(
                    "{name} every {given} is out of bounds: {name} may sync every {} to 1,440 \
                     minutes (the Datafeed App's bounds)",
                    shortest.as_secs() / 60
                ));
            }
            if out.iter().any(|(e, _)| *e == endpoint) {
                return fail(format!("{name} is scheduled twice"));
            }
            out.push((endpoint, every));
        }
        if out.is_empty() {
            return fail("no endpoint scheduled (such as products=6h,stock=15m)".into());
        }
        Ok(Every(out))
    }
}

impl fmt::Display for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (endpoint, every)) in self.0.iter().enumerate() {
            let separator = if i == 0 { "" } else { "," };
            write!(f, "{separator}{}={}s", endpoint.name(), every.as_secs())?;
        }
        Ok(())
    }
}

/// A span such as `90s`, `15m`, `6h` or `2d`, in whole units (at most a whole number of
/// seconds that fits in 64 bits).
pub fn span(text: &str) -> Result<Duration, ScheduleError> {
    let wrong = || ScheduleError(format!("{text:?} is not a span such as 90s, 15m, 6h or 2d"));
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| wrong())?;
    let seconds = match unit {
        "s" => Some(n),
        "m" | "min" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(wrong)?;
    Ok(Duration::from_secs(seconds))
}

/// When a run begun at `started` on `interval` is next due: the interval plus up to 5 % of
/// it (`fraction` of that, from 0 to 1), so that many mirrors started together drift apart,
/// but never later than [`LONGEST_INTERVAL`] after it began.
pub fn next_due(started: DateTime<Utc>, interval: Duration, fraction: f64) -> DateTime<Utc> {
    let jitter = interval.mul_f64(0.05 * fraction.clamp(0.0, 1.0));
    let wait = (interval + jitter).min(LONGEST_INTERVAL.max(interval));
    started + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

/// A random fraction in [0, 1), for the jitter, from the standard library's per-process
/// random keys (nothing here needs more than "different in each process").
pub fn jitter_fraction() -> f64 {
    use std::hash::BuildHasher;
    let bits =
        std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// When the mirror says `endpoint` runs next on the same `interval`, if that is after `now`:
/// another process (or an earlier run of this one) has already done the run now due.
pub fn recorded_next(
    engine: &mut dyn Engine,
    endpoint: Endpoint,
    interval: Duration,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let schedule = engine
        .schedules()
        .ok()?
        .into_iter()
        .find(|s| s.endpoint == endpoint.name() && s.every_secs == interval.as_secs())?;
    let next = DateTime::parse_from_rfc3339(&schedule.next).ok()?;
    Some(next.with_timezone(&Utc)).filter(|next| *next > now)
}

/// Records that `endpoint` runs next at `due` on `interval`, in a transaction of its own.
pub fn record_next(
    engine: &mut dyn Engine,
    endpoint: Endpoint,
    interval: Duration,
    due: DateTime<Utc>,
) -> Result<(), StoreError> {
    let schedule = Schedule {
        endpoint: endpoint.name().to_owned(),
        every_secs: interval.as_secs(),
        next: timestamp(due),
    };
    let mut transaction = engine.begin()?;
    transaction.set_schedule(&schedule)?;
    transaction.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(text: &str) -> Result<Every, String> {
        text.parse::<Every>().map_err(|e| e.to_string())
    }

    #[test]
    fn schedules_within_the_datafeed_apps_bounds() {
        let parsed = every("products=6h,stock=15m,prices=1440m").unwrap();
        assert_eq!(parsed.intervals().len(), 3);
        assert_eq!(
            parsed.intervals()[1],
            (Endpoint::Stock, Duration::from_secs(900))
        );
        let too_often = every("stock=5m").unwrap_err();
        assert!(
            too_often.contains("every 10 to 1,440 minutes"),
            "{too_often}"
        );
        let products = every("products=30m").unwrap_err();
        assert!(products.contains("every 60 to 1,440 minutes"), "{products}");
        assert!(every("stock=2d").is_err());
        assert!(every("stock=15m,stock=20m").is_err());
        assert!(every("orders=1h").is_err());
        assert!(every("stock=15x").is_err());
        assert!(every("stock=86400s").is_ok());
        assert!(every("stock=86401s").is_err());
        assert!(every("stock=599s").is_err());
        assert!(every("stock=99999999999999999999d").is_err());
    }

    #[test]
    fn jitter_never_puts_a_run_past_the_longest_interval() {
        let start = DateTime::from_timestamp(0, 0).unwrap();
        let hours = |h: i64| start + chrono::Duration::hours(h);
        assert_eq!(next_due(start, Duration::from_secs(86_400), 1.0), hours(24));
        assert_eq!(next_due(start, Duration::from_secs(3_600), 0.0), hours(1));
        let most = next_due(start, Duration::from_secs(20 * 3_600), 1.0);
        assert_eq!(most, hours(21));
        let capped = next_due(start, Duration::from_secs(23 * 3_600), 1.0);
        assert_eq!(capped, hours(24));
        assert!(next_due(start, Duration::from_secs(3_600), 0.5) <= hours(2));
    }
}
