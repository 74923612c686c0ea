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
pub(crate) const MALFORMED_JSON: &str =
    "[{\"SKU\":\"DRAC001\",\"Name\":\"Dracula Adult Costume\"},{\"SKU\":\"FANG001\",\"Name\":}]";

/// Faults waiting for requests, per path.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    queued: Mutex<HashMap<String, VecDeque<Fault>>>,
}

impl FaultQueue {
    pub(crate) fn push(&self, path: &str, fault: Fault, count: usize) {
        let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        let queue = queued.entry(path.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(fault, count));
    }

    pub(crate) fn pop(&self, path: &str) -> Option<Fault> {
        let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        queued.get_mut(path).and_then(VecDeque::pop_front)
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
