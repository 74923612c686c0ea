//! Both rate windows, the anonymous bucket, and that every request counts.

mod common;

use std::time::Duration;

use common::*;
use kiss_sandbox::{RateLimit, SandboxConfig};

async fn limited(per_minute: u32, per_hour: u32) -> kiss_sandbox::Sandbox {
    start(SandboxConfig {
        products: 3,
        rate_limit: RateLimit {
            per_minute,
            per_hour,
        },
        ..SandboxConfig::default()
    })
    .await
}

async fn assert_429(response: reqwest::Response, window: &str, limit: u32) {
    assert_eq!(response.status(), 429);
    let headers = response.headers().clone();
    assert_eq!(headers["x-rate-limit-limit"], window);
    assert_eq!(headers["x-rate-limit-remaining"], "0");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    let window_secs = if window == "1m" { 60 } else { 3600 };
    assert!((1..=window_secs).contains(&retry), "Retry-After {retry}");
    let reset = headers["x-rate-limit-reset"].to_str().unwrap();
    let reset = chrono::DateTime::parse_from_rfc3339(reset).unwrap();
    assert_eq!(reset.offset().local_minus_utc(), 0, "UTC");
    assert!(headers["x-rate-limit-reset"]
        .to_str()
        .unwrap()
        .ends_with('Z'));
    let body = response.text().await.unwrap();
    assert_eq!(
        body,
        format!(
            r#"{{"message":"API calls quota exceeded! maximum admitted {limit} per {window}."}}"#
        )
    );
}

#[tokio::test]
async fn the_minute_window_trips_and_reopens_when_it_ends() {
    let sandbox = limited(4, 1_000).await;
    let base = sandbox.base_url();
    let token = token(&base).await; // request 1 of the minute: token requests count
    for _ in 0..3 {
        assert_eq!(get(&base, "/stock", &token).await.status(), 200);
    }
    assert_429(get(&base, "/stock", &token).await, "1m", 4).await;
    // Rejected requests count as well: still limited.
    assert_429(get(&base, "/products/schema", &token).await, "1m", 4).await;
    // The control plane says how many were refused (what a benchmark judges by).
    let refused: serde_json::Value = reqwest::get(format!("{base}/_sandbox/rate-limits"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refused, serde_json::json!({ "refused": 2 }));
    sandbox.control().advance_clock(Duration::from_secs(61));
    assert_eq!(get(&base, "/stock", &token).await.status(), 200);
}

#[tokio::test]
async fn the_hour_window_trips_independently_of_the_minute() {
    let sandbox = limited(1_000, 5).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    for _ in 0..4 {
        assert_eq!(get(&base, "/prices", &token).await.status(), 200);
    }
    assert_429(get(&base, "/prices", &token).await, "1h", 5).await;
    sandbox.control().advance_clock(Duration::from_secs(61));
    assert_429(get(&base, "/prices", &token).await, "1h", 5).await;
    sandbox.control().advance_clock(Duration::from_secs(3600));
    // The hour has passed, and with it the token's lifetime: the exchange is admitted again.
    let token = common::token(&base).await;
    assert_eq!(get(&base, "/prices", &token).await.status(), 200);
}

#[tokio::test]
async fn unauthorized_requests_count_against_the_customer_they_name() {
    let sandbox = limited(3, 1_000).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    sandbox.control().revoke_tokens();
    assert_eq!(get(&base, "/stock", &token).await.status(), 401);
    assert_eq!(get(&base, "/stock", &token).await.status(), 401);
    // The customer's minute is now spent (token + two 401s), even for a fresh exchange.
    let response = client()
        .post(format!("{base}/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "ACME01"),
            ("client_secret", kiss_sandbox::DEFAULT_API_KEY),
        ])
        .send()
        .await
        .unwrap();
    assert_429(response, "1m", 3).await;
}

#[tokio::test]
async fn open_endpoints_share_an_anonymous_bucket_unless_a_token_is_sent() {
    let sandbox = limited(3, 1_000).await;
    let base = sandbox.base_url();
    let http = client();
    let token = token(&base).await; // customer bucket: 1
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/api/version"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Unattributable garbage counts against the anonymous bucket too.
    let response = http
        .get(format!("{base}/products"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_429(
        http.get(format!("{base}/health")).send().await.unwrap(),
        "1m",
        3,
    )
    .await;
    // With a valid token, /health counts against the customer, who still has quota.
    let response = http
        .get(format!("{base}/health"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = http
        .get(format!("{base}/api/version"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_429(get(&base, "/stock", &token).await, "1m", 3).await;
}

#[tokio::test]
async fn customers_have_separate_buckets() {
    let sandbox = start(SandboxConfig {
        products: 3,
        rate_limit: RateLimit {
            per_minute: 2,
            per_hour: 100,
        },
        customers: vec![
            kiss_sandbox::Customer::new("ACME01", kiss_sandbox::DEFAULT_API_KEY),
            kiss_sandbox::Customer::new("ACME02", "second-key"),
        ],
        ..SandboxConfig::default()
    })
    .await;
    let base = sandbox.base_url();
    let first = token(&base).await;
    assert_eq!(get(&base, "/stock", &first).await.status(), 200);
    assert_eq!(get(&base, "/stock", &first).await.status(), 429);
    let second = token_for(&base, "ACME02", "second-key").await;
    assert_eq!(get(&base, "/stock", &second).await.status(), 200);
}
