//! What the sandbox's HTTP tests share: a relaxed sandbox, and plain HTTP requests (the
//! subject of these tests is what goes over the wire, so no client library sits in between).
#![allow(dead_code)]

use kiss_sandbox::{Sandbox, SandboxConfig, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE};

/// Starts a sandbox.
pub async fn start(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config)
        .await
        .expect("the sandbox starts on loopback")
}

/// A sandbox with limits high enough that a test never trips them by accident.
pub async fn start_relaxed(products: usize) -> Sandbox {
    start(SandboxConfig::relaxed(products)).await
}

/// An HTTP client that talks to loopback directly (no proxy from the environment).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a plain HTTP client builds")
}

/// A token for `code`/`key`, from the token endpoint (so the request is counted, as a real
/// client's would be).
pub async fn token_for(base: &str, code: &str, key: &str) -> String {
    let response = client()
        .post(format!("{base}/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", code),
            ("client_secret", key),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A token for the default customer, from the token endpoint.
pub async fn token(base: &str) -> String {
    token_for(base, DEFAULT_CUSTOMER_CODE, DEFAULT_API_KEY).await
}

/// `GET base+path` with a bearer token.
pub async fn get(base: &str, path: &str, token: &str) -> reqwest::Response {
    client()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// One of the contract's documents by its file name (`products.schema.json`,
/// `stock.example.json`, …).
pub fn example(file_name: &str) -> String {
    kiss_schema::contract::document(file_name)
        .expect("a contract document")
        .to_owned()
}
