//! The one place where schema names become wire keys.
//!
//! The API's schema documents report each name with only its first character lower-cased
//! (`sKU` for the data key `SKU`, `hSCode` for `HSCode`). The data key is therefore the schema
//! name with its first character upper-cased and nothing else touched. A word-aware converter
//! (heck's `UpperCamelCase`, Json.NET's policies) gets this wrong (`SKu`, `ImageId`,
//! `PackagedLengthInCm`), which is why no case-conversion crate is used here. Rust
//! identifiers are kiss-codegen's business, made from the wire key this function returns.

/// The data (wire) key for a schema name: its first character upper-cased, the rest untouched.
///
/// ```
/// use kiss_schema::wire_key;
/// assert_eq!(wire_key("sKU"), "SKU");
/// assert_eq!(wire_key("hSCode"), "HSCode");
/// assert_eq!(wire_key("packagedLength_in_cm"), "PackagedLength_in_cm");
/// // Already upper-case (a later profile may fix the quirk): unchanged.
/// assert_eq!(wire_key("SKU"), "SKU");
/// ```
pub fn wire_key(schema_name: &str) -> String {
    let mut chars = schema_name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every schema name in the documentation's examples, with its wire key.
    const DOCUMENTED: &[(&str, &str)] = &[
        ("sKU", "SKU"),
        ("mOQ", "MOQ"),
        ("hSCode", "HSCode"),
        ("amazonASIN", "AmazonASIN"),
        ("priceExclVAT", "PriceExclVAT"),
        ("availableQTY", "AvailableQTY"),
        ("nextAvailableETA", "NextAvailableETA"),
        ("imageID", "ImageID"),
        ("accessorySKU", "AccessorySKU"),
        ("substituteSKU", "SubstituteSKU"),
        ("packagedLength_in_cm", "PackagedLength_in_cm"),
        ("packagedWeight_in_g", "PackagedWeight_in_g"),
        ("cartonQty", "CartonQty"),
        ("isPrimaryImage", "IsPrimaryImage"),
        ("productCategoryCode", "ProductCategoryCode"),
        ("stockLocation", "StockLocation"),
        ("priceListCode", "PriceListCode"),
        ("orderMultiple", "OrderMultiple"),
        ("compositionPercentage", "CompositionPercentage"),
        ("productImages", "ProductImages"),
        ("productCompositionText", "ProductCompositionText"),
        ("name", "Name"),
    ];

    #[test]
    fn documented_names_map_to_documented_keys() {
        for (schema, key) in DOCUMENTED {
            assert_eq!(wire_key(schema), *key, "wire key of {schema}");
        }
    }

    #[test]
    fn every_name_in_the_example_schemas_maps_to_a_key_in_the_example_data() {
        use crate::contract;
        let examples = [
            (contract::PRODUCTS_SCHEMA, contract::PRODUCTS_EXAMPLE),
            (contract::STOCK_SCHEMA, contract::STOCK_EXAMPLE),
            (contract::PRICES_SCHEMA, contract::PRICES_EXAMPLE),
        ];
        for (schema_text, data_text) in examples {
            let schema = crate::SchemaDocument::from_json(schema_text).unwrap();
            let data: serde_json::Value = serde_json::from_str(data_text).unwrap();
            let record = &data[0];
            for field in &schema.fields {
                assert!(record.get(&field.wire_key).is_some(), "{}", field.wire_key);
            }
            for array in &schema.arrays {
                let elements = record[&array.wire_key].as_array().unwrap();
                for field in &array.fields {
                    assert!(
                        elements[0].get(&field.wire_key).is_some(),
                        "{}",
                        field.wire_key
                    );
                }
            }
        }
    }

    #[test]
    fn odd_names() {
        assert_eq!(wire_key(""), "");
        assert_eq!(wire_key("x"), "X");
        assert_eq!(wire_key("X"), "X");
        assert_eq!(wire_key("1abc"), "1abc");
        assert_eq!(wire_key("éclair"), "Éclair");
        // German sharp s upper-cases to two letters; the rest is untouched.
        assert_eq!(wire_key("ßize"), "SSize");
        assert_eq!(wire_key("_private"), "_private");
    }

    proptest::proptest! {
        #[test]
        fn wire_key_only_touches_the_first_character(name in "\\PC{0,12}") {
            let key = wire_key(&name);
            let mut name_chars = name.chars();
            if let Some(first) = name_chars.next() {
                let rest: String = name_chars.collect();
                proptest::prop_assert!(key.ends_with(&rest));
                proptest::prop_assert_eq!(&key[..key.len() - rest.len()], first.to_uppercase().collect::<String>());
            }
        }
    }
}
