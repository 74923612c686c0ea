//! The token endpoint's OAuth errors and every way a bearer token is refused.

mod common;

use std::time::Duration;

use common::*;
use kiss_sandbox::{Customer, SandboxConfig, DEFAULT_API_KEY};

async fn token_request(
    base: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, serde_json::Value) {
    let response = client()
        .post(format!("{base}/auth/token"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn token_endpoint_answers_bad_requests_in_oauth_format() {
    let sandbox = start_relaxed(5).await;
    let base = sandbox.base_url();
    let good =
        format!("grant_type=client_credentials&client_id=ACME01&client_secret={DEFAULT_API_KEY}");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "application/json",
            r#"{"grant_type":"client_credentials"}"#.into(),
            400,
            "invalid_request",
        ),
        ("text/plain", good.clone(), 400, "invalid_request"),
        (
            FORM,
            "client_id=ACME01&client_secret=x".into(),
            400,
            "invalid_request",
        ),
        (
            FORM,
            "grant_type=password&client_id=ACME01&client_secret=x".into(),
            400,
            "unsupported_grant_type",
        ),
        (
            FORM,
            "grant_type=client_credentials&client_id=ACME01".into(),
            400,
            "invalid_request",
        ),
        (
            FORM,
            "grant_type=client_credentials&client_secret=x".into(),
            400,
            "invalid_request",
        ),
        (
            FORM,
            format!("{good}&client_id=ACME01"),
            400,
            "invalid_request",
        ),
        (
            FORM,
            "grant_type=client_credentials&client_id=ACME01&client_secret=wrong".into(),
            401,
            "invalid_client",
        ),
        (
            FORM,
            format!("grant_type=client_credentials&client_id=NOPE&client_secret={DEFAULT_API_KEY}"),
            401,
            "invalid_client",
        ),
        (FORM, "x".repeat(100_000), 400, "invalid_request"),
        (FORM, "%%%&&&=\u{0}".into(), 400, "invalid_request"),
    ];
    for (content_type, body, status, code) in cases {
        let (got_status, got) = token_request(&base, content_type, body.clone()).await;
        let shown = &body[..body.len().min(60)];
        assert_eq!(got_status, status, "{content_type} {shown}: {got}");
        assert_eq!(got["error"], code, "{content_type} {shown}");
        assert!(got["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()));
    }
    // Binary garbage in the body.
    let (status, got) = token_request(&base, FORM, vec![0xffu8, 0xfe, 0x00, 0x80]).await;
    assert_eq!(
        (status, got["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // Exactly the credentials work, with any charset parameter on the content type.
    let (status, got) = token_request(
        &base,
        "application/x-www-form-urlencoded; charset=utf-8",
        good,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(got["token_type"], "Bearer");
}

async fn assert_invalid_token(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 401, "{what}");
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\"",
        "{what}"
    );
    assert_eq!(response.bytes().await.unwrap().len(), 0, "{what}: no body");
}

#[tokio::test]
async fn protected_endpoints_refuse_missing_and_malformed_tokens_with_401() {
    let sandbox = start_relaxed(5).await;
    let base = sandbox.base_url();
    let http = client();
    for path in [
        "/products",
        "/stock",
        "/prices",
        "/products/schema",
        "/stock/schema",
    ] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_invalid_token(response, &format!("{path} without a token")).await;
        for header in [
            "Bearer",
            "Bearer ",
            "Basic QUNNRTAxOmtleQ==",
            "Bearer not-a-jwt",
            "Bearer a.b.c",
            "eyJhbGciOi",
        ] {
            let response = http
                .get(format!("{base}{path}"))
                .header("authorization", header)
                .send()
                .await
                .unwrap();
            assert_invalid_token(response, &format!("{path} with {header:?}")).await;
        }
        let response = http
            .get(format!("{base}{path}"))
            .header(
                "authorization",
                reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_invalid_token(response, &format!("{path} with non-UTF-8")).await;
    }
    // The scheme is case-insensitive, as HTTP has it.
    let token = token(&base).await;
    let response = http
        .get(format!("{base}/stock"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let sandbox = start(SandboxConfig {
        token_ttl: Duration::from_secs(120),
        ..SandboxConfig::default()
    })
    .await;
    let base = sandbox.base_url();
    let response = client()
        .post(format!("{base}/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "ACME01"),
            ("client_secret", DEFAULT_API_KEY),
        ])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 120, "the configured lifetime is served");
    let token = body["access_token"].as_str().unwrap().to_owned();
    sandbox.control().advance_clock(Duration::from_secs(119));
    assert_eq!(get(&base, "/stock", &token).await.status(), 200);
    sandbox.control().advance_clock(Duration::from_secs(1));
    assert_invalid_token(get(&base, "/stock", &token).await, "expired").await;
    // A new exchange gives a working token again.
    let fresh = common::token(&base).await;
    assert_eq!(get(&base, "/stock", &fresh).await.status(), 200);
}

#[tokio::test]
async fn revoked_tokens_are_refused_and_new_ones_work() {
    let sandbox = start_relaxed(5).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    assert_eq!(get(&base, "/prices", &token).await.status(), 200);
    let response = client()
        .post(format!("{base}/_sandbox/tokens/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_invalid_token(get(&base, "/prices", &token).await, "revoked").await;
    let fresh = common::token(&base).await;
    assert_eq!(get(&base, "/prices", &fresh).await.status(), 200);
}

#[tokio::test]
async fn tokens_signed_by_another_sandbox_are_refused() {
    let ours = start_relaxed(5).await;
    let theirs = start_relaxed(5).await;
    let foreign = token(&theirs.base_url()).await;
    assert_invalid_token(
        get(&ours.base_url(), "/products", &foreign).await,
        "foreign",
    )
    .await;
    // Tampering with the payload breaks the signature too.
    let genuine = token(&ours.base_url()).await;
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    let tampered = parts.join(".");
    assert_invalid_token(
        get(&ours.base_url(), "/products", &tampered).await,
        "tampered",
    )
    .await;
}

#[tokio::test]
async fn a_missing_customer_record_is_404_on_data_endpoints() {
    let mut ghost = Customer::new("GHOST01", "ghost-key");
    ghost.missing = true;
    let sandbox = start(SandboxConfig {
        customers: vec![Customer::new("ACME01", DEFAULT_API_KEY), ghost],
        ..SandboxConfig::default()
    })
    .await;
    let base = sandbox.base_url();
    let token = token_for(&base, "GHOST01", "ghost-key").await;
    for path in ["/products", "/stock", "/prices"] {
        let response = get(&base, path, &token).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"error":"Customer not found."}"#
        );
    }
    let response = get(&base, "/api/version", &token).await;
    assert_eq!(response.status(), 200);
}
