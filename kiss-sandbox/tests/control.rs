//! The control plane: counters, profile swaps, and bad input on the API's own paths.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn counters_count_every_request_per_path() {
    let sandbox = start_relaxed(3).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    get(&base, "/stock", &token).await;
    get(&base, "/stock", "bad").await;
    client()
        .delete(format!("{base}/stock"))
        .send()
        .await
        .unwrap();
    let counters: std::collections::BTreeMap<String, u64> = client()
        .get(format!("{base}/_sandbox/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["/auth/token"], 1);
    assert_eq!(counters["/stock"], 3);
    assert!(
        !counters.keys().any(|k| k.starts_with("/_sandbox")),
        "control calls are not counted"
    );
    let response = client()
        .delete(format!("{base}/_sandbox/counters"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(sandbox.control().request_count("/stock"), 0);
}

#[tokio::test]
async fn swapping_the_profile_changes_schemas_and_data_at_once() {
    let sandbox = start_relaxed(10).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    let mut products: serde_json::Value =
        serde_json::from_str(&example("products.schema.json")).unwrap();
    // A field added without a profile bump, and a new nested array.
    products["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "eCOScore", "type": "integer"}));
    products["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "launchDate", "type": "date", "required": false}));
    products["arrays"]["productVideos"] = json!({"fields": [{"name": "uRL", "type": "string"}]});
    let response = client()
        .put(format!("{base}/_sandbox/profile"))
        .json(&json!({ "products": products }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let served: serde_json::Value = get(&base, "/products/schema", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(served, products);
    let data: Vec<serde_json::Value> = get(&base, "/products", &token).await.json().await.unwrap();
    for record in &data {
        assert!(
            record["ECOScore"].is_i64(),
            "wire key by the first-letter rule: {record}"
        );
        assert!(record["LaunchDate"].is_string());
        assert!(record["ProductVideos"].is_array());
    }
    assert_eq!(
        get(&base, "/api/version", &token)
            .await
            .text()
            .await
            .unwrap(),
        r#"{"apiVersion":"2026-04"}"#
    );

    // A profile bump that also removes a field.
    products["apiVersion"] = json!("2026-10");
    products["fields"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["name"] != "theme");
    let mut stock: serde_json::Value = serde_json::from_str(&example("stock.schema.json")).unwrap();
    stock["apiVersion"] = json!("2026-10");
    let response = client()
        .put(format!("{base}/_sandbox/profile"))
        .json(&json!({ "products": products, "stock": stock }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        get(&base, "/api/version", &token)
            .await
            .text()
            .await
            .unwrap(),
        r#"{"apiVersion":"2026-10"}"#
    );
    let data: Vec<serde_json::Value> = get(&base, "/products", &token).await.json().await.unwrap();
    assert!(data.iter().all(|r| r.get("Theme").is_none()));

    // Back to the start.
    let response = client()
        .delete(format!("{base}/_sandbox/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        get(&base, "/products/schema", &token)
            .await
            .text()
            .await
            .unwrap(),
        example("products.schema.json")
    );
}

#[tokio::test]
async fn invalid_profiles_are_refused_and_change_nothing() {
    let sandbox = start_relaxed(3).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    let served = || async {
        let mut all = Vec::new();
        for path in [
            "/products/schema",
            "/stock/schema",
            "/products",
            "/stock",
            "/prices",
            "/api/version",
        ] {
            all.push(get(&base, path, &token).await.text().await.unwrap());
        }
        all
    };
    let before = served().await;
    let products: serde_json::Value =
        serde_json::from_str(&example("products.schema.json")).unwrap();
    let mut grown = products.clone();
    grown["apiVersion"] = json!("2030-01");
    grown["fields"].as_array_mut().unwrap().pop();
    let stock: serde_json::Value = serde_json::from_str(&example("stock.schema.json")).unwrap();
    for body in [
        json!({ "products": stock }),
        json!({ "stock": {"endpoint": "/stock"} }),
        json!({ "stock": 42 }),
        // A valid part beside an invalid one: nothing of it may be applied.
        json!({ "products": grown, "stock": 42 }),
        json!({ "products": grown, "prices": {"endpoint": "/stock", "apiVersion": "1"} }),
    ] {
        let response = client()
            .put(format!("{base}/_sandbox/profile"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
    }
    let response = client()
        .put(format!("{base}/_sandbox/profile"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        served().await == before,
        "a refused profile changed what is served"
    );
}

#[tokio::test]
async fn bad_input_gets_documented_statuses_and_clear_messages() {
    let sandbox = start_relaxed(3).await;
    let base = sandbox.base_url();
    let http = client();
    let token = token(&base).await;
    // Wrong methods: 405, Allow, and the standard error body.
    for (method, path, allow) in [
        (reqwest::Method::POST, "/products", "GET"),
        (reqwest::Method::PUT, "/api/version", "GET"),
        (reqwest::Method::GET, "/auth/token", "POST"),
        (reqwest::Method::DELETE, "/health", "GET"),
    ] {
        let response = http
            .request(method.clone(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(path));
    }
    // Unknown paths: 404 with the standard body.
    let response = http.get(format!("{base}/orders")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("/orders"));
    // A garbage body on a GET is ignored.
    let response = http
        .get(format!("{base}/stock"))
        .bearer_auth(&token)
        .body(vec![0u8; 3_000_000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Oversized headers are refused by the HTTP layer, and the server lives on.
    let response = http
        .get(format!("{base}/stock"))
        .header("x-junk", "j".repeat(1_000_000))
        .send()
        .await;
    if let Ok(response) = response {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn absurd_control_inputs_are_refused_or_saturated_and_the_sandbox_lives_on() {
    let sandbox = start_relaxed(3).await;
    let base = sandbox.base_url();
    let http = client();
    let post = |path: &'static str, body: serde_json::Value| {
        http.post(format!("{base}{path}")).json(&body).send()
    };
    // A jump of 10^13 seconds saturates at a thousand years; 1e13 is not a whole number.
    let jump = post(
        "/_sandbox/clock/advance",
        json!({"seconds": 10_000_000_000_000u64}),
    );
    assert_eq!(jump.await.unwrap().status(), 204);
    let float = post("/_sandbox/clock/advance", json!({"seconds": 1e13}));
    assert_eq!(float.await.unwrap().status(), 400);
    // A fault count of 10^11 costs nothing; a wait of 10^13 seconds is refused.
    let many =
        json!({"path": "/stock", "fault": {"kind": "malformed_json"}, "count": 100_000_000_000u64});
    assert_eq!(post("/_sandbox/faults", many).await.unwrap().status(), 204);
    let forever = json!({"path": "/stock", "fault": {"kind": "rate_limited", "retry_after_secs": 10_000_000_000_000u64}, "count": 1});
    let refused = post("/_sandbox/faults", forever).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("at most"));
    // Everything still answers, in the far future.
    let token = token(&base).await;
    let stock = get(&base, "/stock", &token).await;
    assert_eq!(stock.status(), 200, "the malformed fault is served");
    sandbox.control().clear_faults();
    assert_eq!(get(&base, "/stock", &token).await.status(), 200);
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
