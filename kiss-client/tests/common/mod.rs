//! Sandbox and client set-up shared by the client's tests.
#![allow(dead_code)]

use kiss_client::{Client, ManualClock, Quota};
use kiss_sandbox::{RateLimit, Sandbox, SandboxConfig, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE};

/// A sandbox with `products` products and the given limits.
pub async fn sandbox_with(products: usize, rate_limit: RateLimit) -> Sandbox {
    Sandbox::start(SandboxConfig {
        rate_limit,
        ..SandboxConfig::relaxed(products)
    })
    .await
    .unwrap()
}

/// Limits a test never trips by accident.
pub const RELAXED: RateLimit = RateLimit::RELAXED;

/// A client quota that never makes the client wait.
pub const UNPACED: Quota = Quota {
    per_minute: 1_000_000,
    per_hour: 1_000_000,
};

/// A client on a manual clock that moves the sandbox's clock in step, so waits are instant
/// and the server sees the time pass.
pub fn client(sandbox: &Sandbox, quota: Quota) -> (Client, ManualClock) {
    let clock = ManualClock::new();
    let control = sandbox.control().clone();
    clock.on_sleep(move |d| control.advance_clock(d));
    let client = Client::builder()
        .base_url(sandbox.base_url())
        .customer_code(DEFAULT_CUSTOMER_CODE)
        .api_key(DEFAULT_API_KEY)
        .quota(quota)
        .clock(clock.clone())
        .build()
        .unwrap();
    (client, clock)
}
