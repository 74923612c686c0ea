//! Each fault kind, queued through the HTTP control plane and seen by a plain client.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::json;

async fn queue(base: &str, path: &str, fault: serde_json::Value, count: usize) {
    let response = client()
        .post(format!("{base}/_sandbox/faults"))
        .json(&json!({ "path": path, "fault": fault, "count": count }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn status_faults_answer_with_the_standard_error_body_then_stop() {
    let sandbox = start_relaxed(5).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    for status in [500u16, 502, 503, 504] {
        queue(
            &base,
            "/stock",
            json!({"kind": "status", "status": status}),
            1,
        )
        .await;
        let response = get(&base, "/stock", &token).await;
        assert_eq!(response.status().as_u16(), status);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert_eq!(
            get(&base, "/stock", &token).await.status(),
            200,
            "only one request"
        );
    }
    // `count` applies a fault to that many requests; /health can be made unhealthy this way.
    queue(
        &base,
        "/health",
        json!({"kind": "status", "status": 503}),
        2,
    )
    .await;
    for _ in 0..2 {
        let response = client().get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(response.status(), 503);
    }
    let response = client().get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn rate_limited_fault_carries_the_given_retry_after() {
    let sandbox = start_relaxed(5).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    queue(
        &base,
        "/products",
        json!({"kind": "rate_limited", "retry_after_secs": 7}),
        1,
    )
    .await;
    let response = get(&base, "/products", &token).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.headers()["x-rate-limit-remaining"], "0");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("API calls quota exceeded!"));
}

#[tokio::test]
async fn truncated_bodies_end_mid_array_with_an_error() {
    let sandbox = start_relaxed(200).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    let full = get(&base, "/products", &token).await.bytes().await.unwrap();
    for (fault, expect_prefix) in [
        (
            json!({"kind": "truncated_body", "after_bytes": 5000}),
            Some(5000),
        ),
        (json!({"kind": "truncated_body"}), None),
    ] {
        queue(&base, "/products", fault, 1).await;
        let response = get(&base, "/products", &token).await;
        assert_eq!(response.status(), 200, "headers are sent before the cut");
        let mut received = Vec::new();
        let mut stream = response.bytes_stream();
        let mut failed = false;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => received.extend_from_slice(&bytes),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "the client sees an error, not a shorter body");
        assert!(!received.is_empty() && received.len() < full.len());
        assert_eq!(
            &full[..received.len()],
            &received[..],
            "a prefix of the real body"
        );
        if let Some(prefix) = expect_prefix {
            assert_eq!(received.len(), prefix);
        }
        assert!(serde_json::from_slice::<serde_json::Value>(&received).is_err());
    }
    // The next request is whole again.
    let again = get(&base, "/products", &token).await.bytes().await.unwrap();
    assert_eq!(again, full);
}

#[tokio::test]
async fn malformed_json_is_a_complete_200_that_does_not_parse() {
    let sandbox = start_relaxed(5).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    queue(&base, "/prices", json!({"kind": "malformed_json"}), 1).await;
    let response = get(&base, "/prices", &token).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    let err = serde_json::from_slice::<serde_json::Value>(&body).unwrap_err();
    assert!(err.is_syntax(), "{err}");
}

#[tokio::test]
async fn slow_bodies_arrive_whole_in_many_small_pieces() {
    let sandbox = start_relaxed(3).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    let full = get(&base, "/stock", &token).await.bytes().await.unwrap();
    let rate = 2_000u64;
    queue(
        &base,
        "/stock",
        json!({"kind": "slow_body", "bytes_per_sec": rate}),
        1,
    )
    .await;
    let started = Instant::now();
    let response = get(&base, "/stock", &token).await;
    let mut stream = response.bytes_stream();
    let (mut received, mut pieces) = (Vec::new(), 0);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(
            chunk.len() as u64 <= rate / 20,
            "no piece larger than 50 ms worth"
        );
        received.extend_from_slice(&chunk);
        pieces += 1;
    }
    assert_eq!(received, full);
    assert!(pieces >= full.len() / (rate as usize / 20));
    // A lower bound only: the server sleeps 50 ms per piece, so it cannot be faster.
    assert!(started.elapsed() >= Duration::from_millis(50 * pieces as u64));
}

#[tokio::test]
async fn delayed_headers_arrive_no_sooner_than_the_delay() {
    let sandbox = start_relaxed(3).await;
    let base = sandbox.base_url();
    queue(
        &base,
        "/api/version",
        json!({"kind": "delay_headers", "millis": 300}),
        1,
    )
    .await;
    let started = Instant::now();
    let response = client()
        .get(format!("{base}/api/version"))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn connection_reset_is_a_transport_error() {
    let sandbox = start_relaxed(3).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    queue(&base, "/products", json!({"kind": "connection_reset"}), 1).await;
    let err = client()
        .get(format!("{base}/products"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "no HTTP answer: {err:?}");
    let chain = format!("{err:?}");
    assert!(
        chain.contains("reset") || chain.contains("closed") || chain.contains("IncompleteMessage"),
        "{chain}"
    );
    assert_eq!(get(&base, "/products", &token).await.status(), 200);
}

#[tokio::test]
async fn bad_fault_requests_are_refused_with_a_reason() {
    let sandbox = start_relaxed(3).await;
    let base = sandbox.base_url();
    for body in [
        json!({"path": "/stock", "fault": {"kind": "status", "status": 200}}),
        json!({"path": "/stock", "fault": {"kind": "slow_body", "bytes_per_sec": 0}}),
        json!({"path": "/stock", "fault": {"kind": "teleport"}}),
        json!({"fault": {"kind": "malformed_json"}}),
    ] {
        let response = client()
            .post(format!("{base}/_sandbox/faults"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert!(error["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}
