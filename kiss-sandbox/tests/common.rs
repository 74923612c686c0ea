//! Helpers shared by the sandbox's HTTP tests.
#![allow(dead_code)]

use kiss_sandbox::{Sandbox, SandboxConfig, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE};

pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");

pub async fn start(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config)
        .await
        .expect("the sandbox starts on loopback")
}

/// A sandbox with limits high enough that a test never trips them by accident.
pub async fn start_relaxed(products: usize) -> Sandbox {
    start(SandboxConfig {
        products,
        rate_limit: kiss_sandbox::RateLimit {
            per_minute: 100_000,
            per_hour: 100_000,
        },
        ..SandboxConfig::default()
    })
    .await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a plain HTTP client builds")
}

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

pub async fn token(base: &str) -> String {
    token_for(base, DEFAULT_CUSTOMER_CODE, DEFAULT_API_KEY).await
}

pub async fn get(base: &str, path: &str, token: &str) -> reqwest::Response {
    client()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{EXAMPLES}/{name}")).unwrap()
}
