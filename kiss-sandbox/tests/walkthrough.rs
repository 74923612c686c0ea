//! The documentation's Getting Started walkthrough, replayed against the sandbox with a plain
//! HTTP client, and the casing on both sides.

mod common;

use common::*;
use kiss_sandbox::SandboxConfig;

#[tokio::test]
async fn getting_started_walkthrough() {
    let sandbox = start(SandboxConfig::default()).await;
    let base = sandbox.base_url();
    let http = client();

    // 1. Exchange credentials for a token.
    let response = http
        .post(format!("{base}/auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=ACME01&client_secret=sandbox-key-ACME01-not-a-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = response.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT has three parts");
    // The documented key order (a token may itself contain underscores, so look for keys).
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
    assert!(at("access_token") < at("token_type") && at("token_type") < at("expires_in"));

    // 2. The profile, metered but open.
    let response = http
        .get(format!("{base}/api/version"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"apiVersion":"2026-04"}"#
    );

    // 3. The data endpoints: the docs' example records come first, equal in value.
    for (path, example_file, rows) in [
        ("/products", "products.example.json", 1),
        ("/stock", "stock.example.json", 2),
        ("/prices", "prices.example.json", 2),
    ] {
        let response = get(&base, path, &token).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let served: Vec<serde_json::Value> = response.json().await.unwrap();
        assert_eq!(served.len(), 300, "{path}: one row per product");
        let expected: Vec<serde_json::Value> =
            serde_json::from_str(&example(example_file)).unwrap();
        assert_eq!(served[..rows], expected[..], "{path}");
    }

    // Prices keep four decimal places on the wire.
    let prices = get(&base, "/prices", &token).await.text().await.unwrap();
    assert!(
        prices.contains(r#""PriceExclVAT":19.9500"#),
        "{}",
        &prices[..300]
    );
    assert!(prices.contains(r#""PriceExclVAT":2.4500"#));

    // 4. Both schema documents, exactly as documented.
    for (path, file) in [
        ("/products/schema", "products.schema.json"),
        ("/stock/schema", "stock.schema.json"),
    ] {
        let response = get(&base, path, &token).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), example(file), "{path}");
    }

    // 5. Health, as plain text.
    let response = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), "Healthy");
}

#[tokio::test]
async fn data_keys_are_pascal_case_and_schema_names_lower_only_the_first_letter() {
    let sandbox = start_relaxed(40).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    let schema: serde_json::Value = get(&base, "/products/schema", &token)
        .await
        .json()
        .await
        .unwrap();
    let products: Vec<serde_json::Value> =
        get(&base, "/products", &token).await.json().await.unwrap();
    let names: Vec<&str> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for name in [
        "sKU",
        "hSCode",
        "amazonASIN",
        "packagedLength_in_cm",
        "cartonQty",
    ] {
        assert!(names.contains(&name), "{name}");
    }
    let nested = &schema["arrays"]["productImages"]["fields"][0]["name"];
    assert_eq!(nested, "imageID");
    for product in &products {
        let object = product.as_object().unwrap();
        for key in [
            "SKU",
            "HSCode",
            "AmazonASIN",
            "PackagedLength_in_cm",
            "ProductImages",
        ] {
            assert!(object.contains_key(key), "{key} in {product}");
        }
        for name in &names {
            assert!(!object.contains_key(*name) || name.starts_with(char::is_uppercase));
        }
        let image = &product["ProductImages"][0];
        assert!(image.get("ImageID").is_some() && image.get("imageID").is_none());
        assert_eq!(
            object.len(),
            29 + 5,
            "every field and nested array of the schema"
        );
    }
    // The stock schema and rows agree too.
    let stock: Vec<serde_json::Value> = get(&base, "/stock", &token).await.json().await.unwrap();
    assert!(stock
        .iter()
        .all(|row| row.get("AvailableQTY").is_some_and(|q| q.is_i64())));
    assert!(stock.iter().any(|row| row["NextAvailableETA"].is_null()));
    // Every stock SKU is a product SKU.
    let skus: std::collections::HashSet<&str> = products
        .iter()
        .map(|p| p["SKU"].as_str().unwrap())
        .collect();
    assert!(stock
        .iter()
        .all(|row| skus.contains(row["SKU"].as_str().unwrap())));
}

#[tokio::test]
async fn large_catalogues_stream_without_a_content_length() {
    let sandbox = start_relaxed(20_000).await;
    let base = sandbox.base_url();
    let token = token(&base).await;
    let response = get(&base, "/products", &token).await;
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let products: Vec<serde_json::Value> = response.json().await.unwrap();
    assert_eq!(products.len(), 20_000);
    assert_eq!(products[19_999]["SKU"], "KS019999");
}
