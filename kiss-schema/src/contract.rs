//! The default profile's schema documents and the documentation's example payloads.
//!
//! These files (under `kiss-schema/contract/`) are the only copy in the repository: the
//! sandbox serves them, tests decode them, `docs/api.md` explains them. The product and stock
//! schemas are the API's documents for profile [`PROFILE`] as we reconstruct them from the
//! documentation; the prices schema is ours (the API serves none), written from the
//! documentation's "Product Price" table in the same format and with the same first-letter
//! naming (`sKU`, `priceExclVAT`, `mOQ`). Only its `sKU` is marked required: the documentation
//! marks none, and a price row without its SKU is useless.
//!
//! The example payloads are the documentation's own, byte for byte (including `19.9500`).

use crate::endpoint::Endpoint;
use crate::schema::SchemaDocument;

/// The API profile the documents below describe.
pub const PROFILE: &str = "2026-04";

/// `/products/schema` in the default profile.
pub const PRODUCTS_SCHEMA: &str = include_str!("../contract/products.schema.json");
/// `/stock/schema` in the default profile.
pub const STOCK_SCHEMA: &str = include_str!("../contract/stock.schema.json");
/// The schema of `/prices`, which has no schema endpoint (ours; see the module doc).
pub const PRICES_SCHEMA: &str = include_str!("../contract/prices.schema.json");

/// The documentation's example `/products` response.
pub const PRODUCTS_EXAMPLE: &str = include_str!("../contract/products.example.json");
/// The documentation's example `/stock` response.
pub const STOCK_EXAMPLE: &str = include_str!("../contract/stock.example.json");
/// The documentation's example `/prices` response.
pub const PRICES_EXAMPLE: &str = include_str!("../contract/prices.example.json");
/// The documentation's example `/auth/token` response.
pub const TOKEN_EXAMPLE: &str = include_str!("../contract/token.example.json");

/// Every document above by its file name under `kiss-schema/contract/`
/// (`products.schema.json`, `products.example.json`, `token.example.json`, …).
pub const DOCUMENTS: &[(&str, &str)] = &[
    ("products.schema.json", PRODUCTS_SCHEMA),
    ("stock.schema.json", STOCK_SCHEMA),
    ("prices.schema.json", PRICES_SCHEMA),
    ("products.example.json", PRODUCTS_EXAMPLE),
    ("stock.example.json", STOCK_EXAMPLE),
    ("prices.example.json", PRICES_EXAMPLE),
    ("token.example.json", TOKEN_EXAMPLE),
];

/// A document of [`DOCUMENTS`] by its file name.
pub fn document(file_name: &str) -> Option<&'static str> {
    DOCUMENTS
        .iter()
        .find(|(name, _)| *name == file_name)
        .map(|(_, text)| *text)
}

/// The schema document's text for an endpoint in the default profile.
pub fn schema_text(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Products => PRODUCTS_SCHEMA,
        Endpoint::Stock => STOCK_SCHEMA,
        Endpoint::Prices => PRICES_SCHEMA,
    }
}

/// The documentation's example response of an endpoint.
pub fn example_text(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Products => PRODUCTS_EXAMPLE,
        Endpoint::Stock => STOCK_EXAMPLE,
        Endpoint::Prices => PRICES_EXAMPLE,
    }
}

impl Endpoint {
    /// The endpoint's schema document in the default profile.
    pub fn default_schema(self) -> SchemaDocument {
        default_schema(self)
    }
}

/// The schema document of an endpoint in the default profile, parsed.
pub fn default_schema(endpoint: Endpoint) -> SchemaDocument {
    // The documents are part of this crate and parsed by its own tests, so a failure here is
    // a build of a broken checkout, not a run-time condition.
    SchemaDocument::from_json(schema_text(endpoint))
        .unwrap_or_else(|e| unreachable!("the checked-in schema of {endpoint} does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_parses_names_its_endpoint_and_the_profile() {
        for endpoint in Endpoint::ALL {
            let doc = SchemaDocument::from_json(schema_text(endpoint)).unwrap();
            assert_eq!(doc.endpoint, endpoint.path());
            assert_eq!(doc.api_version, PROFILE);
        }
    }

    #[test]
    fn every_example_is_an_array_of_records_and_the_token_is_a_bearer_token() {
        for endpoint in Endpoint::ALL {
            let value: serde_json::Value = serde_json::from_str(example_text(endpoint)).unwrap();
            let records = value.as_array().unwrap();
            assert!(!records.is_empty() && records.iter().all(|r| r.is_object()));
        }
        let token: serde_json::Value = serde_json::from_str(TOKEN_EXAMPLE).unwrap();
        assert_eq!(token["token_type"], "Bearer");
        assert!(token["expires_in"].is_u64());
    }

    #[test]
    fn the_example_price_keeps_its_four_decimal_places() {
        assert!(PRICES_EXAMPLE.contains("19.9500"), "{PRICES_EXAMPLE}");
    }
}
