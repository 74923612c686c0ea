//! The generated models against the docs' example payloads and live sandbox data.

use kiss_generated::{Product, ProductPrice, StockEntry};
use kiss_tests::{relaxed_sandbox as sandbox, served};

fn example(file_name: &str) -> String {
    kiss_schema::contract::document(file_name)
        .expect("a contract document")
        .to_owned()
}

/// Serves three fields the models do not know: `ECOScore`, `ProductVideos[].URL`, and (with
/// `images`) `ProductImages[].AltText`.
fn grow_products(sandbox: &kiss_sandbox::Sandbox, images: bool) {
    use kiss_schema::{FieldSchema, FieldType};
    let products = kiss_sandbox::Endpoint::Products;
    let control = sandbox.control();
    let field = |name: &str, kind| FieldSchema::new(name, kind, false);
    control
        .add_field(products, None, field("eCOScore", FieldType::Decimal))
        .unwrap();
    if images {
        control
            .add_field(
                products,
                Some("productImages"),
                field("altText", FieldType::String),
            )
            .unwrap();
    }
    control
        .add_field(
            products,
            Some("productVideos"),
            field("uRL", FieldType::String),
        )
        .unwrap();
}

fn same_json(a: &str, b: &str) {
    let a: serde_json::Value = serde_json::from_str(a).unwrap();
    let b: serde_json::Value = serde_json::from_str(b).unwrap();
    assert_eq!(a, b);
}

#[test]
fn the_documented_examples_decode_and_round_trip() {
    let products: Vec<Product> = serde_json::from_str(&example("products.example.json")).unwrap();
    let dracula = &products[0];
    assert_eq!(dracula.sku, "DRAC001");
    assert_eq!(dracula.hs_code.as_deref(), Some("6114.30"));
    assert_eq!(
        dracula.packaged_length_in_cm.as_ref().unwrap().to_string(),
        "30.00"
    );
    assert_eq!(dracula.carton_qty, Some(12));
    assert_eq!(dracula.product_images.len(), 2);
    assert_eq!(dracula.product_images[0].is_primary_image, Some(true));
    assert_eq!(
        dracula.product_accessories[0].accessory_sku.as_deref(),
        Some("FANG001")
    );
    assert_eq!(dracula.product_prices[0].moq, Some(12));
    assert!(dracula.unknown_fields.is_empty());
    let text = serde_json::to_string(&products).unwrap();
    same_json(&text, &example("products.example.json"));
    assert!(
        text.contains(r#""CompositionPercentage":100.00"#),
        "exact decimals"
    );

    let stock: Vec<StockEntry> = serde_json::from_str(&example("stock.example.json")).unwrap();
    assert_eq!(
        stock[0].next_available_eta.unwrap().to_string(),
        "2026-06-15"
    );
    assert_eq!(stock[1].next_available_eta, None);
    same_json(
        &serde_json::to_string(&stock).unwrap(),
        &example("stock.example.json"),
    );

    let prices: Vec<ProductPrice> = serde_json::from_str(&example("prices.example.json")).unwrap();
    let price = prices[0].price_excl_vat.as_ref().unwrap();
    assert_eq!(price.to_string(), "19.9500");
    // Numerically 19.95, at the scale the API sent.
    let exact = price.to_rust_decimal().unwrap();
    assert_eq!(
        exact,
        "19.95"
            .parse::<kiss_dynamic::Decimal>()
            .unwrap()
            .to_rust_decimal()
            .unwrap()
    );
    assert_eq!(exact.scale(), 4);
    let text = serde_json::to_string(&prices).unwrap();
    assert!(text.contains(r#""PriceExclVAT":19.9500"#));
    same_json(&text, &example("prices.example.json"));
}

#[test]
fn keys_spelled_as_schema_names_are_accepted_and_missing_required_fields_are_errors() {
    let stock: StockEntry =
        serde_json::from_str(r#"{"sKU":"A","availableQTY":3,"NextAvailableETA":null}"#).unwrap();
    assert_eq!((stock.sku.as_str(), stock.available_qty), ("A", Some(3)));
    let err = serde_json::from_str::<StockEntry>(r#"{"AvailableQTY":3}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `SKU`"), "{err}");
    let err = serde_json::from_str::<StockEntry>(r#"{"SKU":"A","AvailableQTY":"3"}"#).unwrap_err();
    assert!(err.to_string().contains("invalid type"), "{err}");
    // Absent or null nested arrays read as empty.
    let product: Product = serde_json::from_str(r#"{"SKU":"A","ProductImages":null}"#).unwrap();
    assert!(product.product_images.is_empty() && product.product_prices.is_empty());
}

#[test]
fn the_crate_describes_its_own_surface() {
    assert_eq!(kiss_generated::API_PROFILE, "2026-04");
    let documents: Vec<kiss_dynamic::SchemaDocument> = kiss_generated::SCHEMA_DOCUMENTS
        .iter()
        .map(|(endpoint, text)| {
            let document = kiss_dynamic::SchemaDocument::from_json(text).unwrap();
            assert_eq!(&document.endpoint, endpoint);
            document
        })
        .collect();
    assert_eq!(
        kiss_codegen::surface_fingerprint(&documents),
        kiss_generated::SCHEMA_FINGERPRINT
    );
    assert_eq!(Product::WIRE_KEYS.len(), 29 + 5);
    assert_eq!(
        StockEntry::WIRE_KEYS,
        ["SKU", "StockLocation", "AvailableQTY", "NextAvailableETA"]
    );
}

#[tokio::test]
async fn sandbox_data_decodes_and_serializes_back_byte_for_byte() {
    let sandbox = sandbox(400).await;
    let body = served(&sandbox, "/products").await;
    let products: Vec<Product> = serde_json::from_slice(&body).unwrap();
    assert_eq!(products.len(), 400);
    assert_eq!(serde_json::to_vec(&products).unwrap(), body);
    let body = served(&sandbox, "/stock").await;
    let stock: Vec<StockEntry> = serde_json::from_slice(&body).unwrap();
    assert_eq!(serde_json::to_vec(&stock).unwrap(), body);
    let body = served(&sandbox, "/prices").await;
    let prices: Vec<ProductPrice> = serde_json::from_slice(&body).unwrap();
    assert_eq!(serde_json::to_vec(&prices).unwrap(), body);
}

#[tokio::test]
async fn fields_the_api_adds_are_kept_and_written_back() {
    let sandbox = sandbox(30).await;
    grow_products(&sandbox, true);

    let body = served(&sandbox, "/products").await;
    let decoded: Vec<Product> = serde_json::from_slice(&body).unwrap();
    for product in &decoded {
        let unknown: Vec<&str> = product.unknown_fields.iter().map(|(k, _)| k).collect();
        assert_eq!(unknown, ["ECOScore", "ProductVideos"]);
        assert!(product
            .product_images
            .iter()
            .all(|i| i.unknown_fields.get_raw("AltText").is_some()));
    }
    // Nothing lost and every digit kept: decode both with the grown schema and compare
    // (the unknown fields now come after the nested arrays, so the bytes differ in order).
    let again = serde_json::to_vec(&decoded).unwrap();
    let live = sandbox.control().profile().products.document;
    let decoder = kiss_dynamic::Decoder::new(&live);
    let (sent, written) = (
        decoder.decode_array(&body).unwrap(),
        decoder.decode_array(&again).unwrap(),
    );
    assert!(
        sent == written,
        "the re-serialized records differ from the served ones"
    );
}

#[tokio::test]
async fn the_fast_path_reads_exactly_what_serde_reads() {
    use kiss_dynamic::model::{decode_all, decode_one};
    let sandbox = sandbox(300).await;
    for grow in [false, true] {
        if grow {
            grow_products(&sandbox, false);
        }
        let body = served(&sandbox, "/products").await;
        let fast: Vec<Product> = decode_all(&body).unwrap();
        let serde: Vec<Product> = serde_json::from_slice(&body).unwrap();
        assert!(fast == serde, "grown: {grow}");
    }
    let stock = served(&sandbox, "/stock").await;
    assert!(
        decode_all::<StockEntry>(&stock).unwrap()
            == serde_json::from_slice::<Vec<StockEntry>>(&stock).unwrap()
    );
    let prices = served(&sandbox, "/prices").await;
    assert!(
        decode_all::<ProductPrice>(&prices).unwrap()
            == serde_json::from_slice::<Vec<ProductPrice>>(&prices).unwrap()
    );

    // Spellings, nulls and errors behave as through serde.
    let entry: StockEntry =
        decode_one(br#"{"sKU":"A","availableQTY":3,"NextAvailableETA":null,"X":[1.50]}"#).unwrap();
    assert_eq!((entry.sku.as_str(), entry.available_qty), ("A", Some(3)));
    assert_eq!(entry.unknown_fields.get_raw("X"), Some("[1.50]"));
    let err = decode_one::<StockEntry>(br#"{"AvailableQTY":3}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `SKU`"), "{err}");
    let err = decode_one::<StockEntry>(br#"{"SKU":"A","AvailableQTY":"3"}"#).unwrap_err();
    assert!(
        err.to_string().contains("AvailableQTY: expected integer"),
        "{err}"
    );
    let err = decode_one::<StockEntry>(br#"{"SKU":"A","AvailableQTY":1.5}"#).unwrap_err();
    assert!(err.to_string().contains("expected integer"), "{err}");
    let product: Product = decode_one(br#"{"SKU":"A","ProductImages":null}"#).unwrap();
    assert!(product.product_images.is_empty());
    assert!(decode_all::<StockEntry>(br#"[{"SKU":"A"},"#).is_err());
}

#[test]
fn a_repeated_key_keeps_both_values_in_the_typed_structs_too() {
    use kiss_dynamic::model::decode_one;
    let text = r#"{"SKU":"A","AvailableQTY":1,"availableQTY":2,"SKU":"B"}"#;
    let from_bytes: StockEntry = decode_one(text.as_bytes()).unwrap();
    let through_serde: StockEntry = serde_json::from_str(text).unwrap();
    for entry in [&from_bytes, &through_serde] {
        assert_eq!((entry.sku.as_str(), entry.available_qty), ("A", Some(1)));
        assert_eq!(entry.unknown_fields.get_raw("availableQTY"), Some("2"));
        assert_eq!(entry.unknown_fields.get_raw("SKU"), Some(r#""B""#));
    }
    let back = serde_json::to_string(&from_bytes).unwrap();
    for kept in [
        r#""SKU":"A""#,
        r#""AvailableQTY":1"#,
        r#""availableQTY":2"#,
        r#""SKU":"B""#,
    ] {
        assert!(back.contains(kept), "{back}");
    }
}
