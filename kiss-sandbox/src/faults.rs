//! Faults queued by tests for the next requests to a path.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One misbehaviour of the server, applied to one request.
///
/// In the control plane's JSON: `{"kind": "status", "status": 503}`,
/// `{"kind": "rate_limited", "retry_after_secs": 7}`, `{"kind": "truncated_body"}`,
/// `{"kind": "malformed_json"}`, `{"kind": "slow_body", "bytes_per_sec": 2048}`,
/// `{"kind": "delay_headers", "millis": 1500}`, `{"kind": "connection_reset"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this status (400–599) and the standard `{"error": ...}` body.
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// Answer `429` as the rate limiter would, with this `Retry-After`.
    RateLimited {
        /// Seconds in `Retry-After`.
        retry_after_secs: u64,
    },
    /// Send the real response, but cut the body off: after `after_bytes` bytes, or half-way
    /// through the first chunk when not given. The connection is then aborted, so the client
    /// sees a body that ends mid-array.
    TruncatedBody {
        /// Bytes to send before cutting off.
        #[serde(default)]
        after_bytes: Option<usize>,
    },
    /// Answer `200` with a complete body that is not valid JSON.
    MalformedJson,
    /// Send the real response body at this rate.
    SlowBody {
        /// Bytes per second (at least 1).
        bytes_per_sec: u64,
    },
    /// Wait this long before sending the response headers.
    DelayHeaders {
        /// Milliseconds.
        millis: u64,
    },
    /// Reset the TCP connection (RST) instead of answering.
    ConnectionReset,
}

/// The body of a malformed-JSON fault: it starts like a product array and breaks.
/// The longest wait a fault may ask for: a year is far past any test, and keeps the sandbox's
/// date arithmetic far from chrono's limits.
pub(crate) const MAX_FAULT_SECS: u64 = 365 * 24 * 3600;

pub(crate) const MALFORMED_JSON: &str =
    "[{\"SKU\":\"DRAC001\",\"Name\":\"Dracula Adult Costume\"},{\"SKU\":\"FANG001\",\"Name\":}]";

/// Faults waiting for requests, per path.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    /// Per path, each fault with how many more requests get it: a count costs no memory, so
    /// a test (or a careless caller) may ask for any number.
    queued: Mutex<HashMap<String, VecDeque<(Fault, usize)>>>,
}

impl FaultQueue {
    pub(crate) fn push(&self, path: &str, fault: Fault, count: usize) {
        let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        if count > 0 {
            queued
                .entry(path.to_owned())
                .or_default()
                .push_back((fault, count));
        }
    }

    pub(crate) fn pop(&self, path: &str) -> Option<Fault> {
        let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        let queue = queued.get_mut(path)?;
        let (fault, remaining) = queue.front_mut()?;
        let fault = fault.clone();
        *remaining -= 1;
        if *remaining == 0 {
            queue.pop_front();
        }
        Some(fault)
    }

    pub(crate) fn clear(&self) {
        self.queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl Fault {
    /// Checks the parameters, with a message for the control plane's caller.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Fault::Status { status } if !(400..=599).contains(status) => Err(format!(
                "status {status} is not an error status (use 400-599)"
            )),
            Fault::SlowBody { bytes_per_sec: 0 } => Err("bytes_per_sec must be at least 1".into()),
            Fault::RateLimited { retry_after_secs } if *retry_after_secs > MAX_FAULT_SECS => Err(
                format!("retry_after_secs must be at most {MAX_FAULT_SECS} (a year)"),
            ),
            Fault::DelayHeaders { millis } if *millis > MAX_FAULT_SECS * 1000 => Err(format!(
                "millis must be at most {} (a year)",
                MAX_FAULT_SECS * 1000
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_served_in_order_per_path() {
        let queue = FaultQueue::default();
        queue.push("/products", Fault::MalformedJson, 2);
        queue.push("/products", Fault::ConnectionReset, 1);
        assert_eq!(queue.pop("/stock"), None);
        assert_eq!(queue.pop("/products"), Some(Fault::MalformedJson));
        assert_eq!(queue.pop("/products"), Some(Fault::MalformedJson));
        assert_eq!(queue.pop("/products"), Some(Fault::ConnectionReset));
        assert_eq!(queue.pop("/products"), None);
    }

    #[test]
    fn a_huge_count_costs_nothing_and_absurd_waits_are_refused() {
        let queue = FaultQueue::default();
        queue.push("/stock", Fault::MalformedJson, usize::MAX);
        queue.push("/stock", Fault::ConnectionReset, 0);
        for _ in 0..3 {
            assert_eq!(queue.pop("/stock"), Some(Fault::MalformedJson));
        }
        let absurd = Fault::RateLimited {
            retry_after_secs: 10_000_000_000_000,
        };
        assert!(absurd.validate().is_err());
        assert!(Fault::DelayHeaders { millis: u64::MAX }.validate().is_err());
    }

    #[test]
    fn json_form_is_tagged_by_kind() {
        let fault: Fault =
            serde_json::from_str(r#"{"kind":"slow_body","bytes_per_sec":10}"#).unwrap();
        assert_eq!(fault, Fault::SlowBody { bytes_per_sec: 10 });
        let fault: Fault = serde_json::from_str(r#"{"kind":"truncated_body"}"#).unwrap();
        assert_eq!(fault, Fault::TruncatedBody { after_bytes: None });
        assert!(Fault::Status { status: 200 }.validate().is_err());
        assert!(Fault::Status { status: 503 }.validate().is_ok());
    }
}
