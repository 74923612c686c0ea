//! The one place where wire keys become Rust identifiers.
//!
//! Wire keys come from [`kiss_schema::wire_key`] (`sKU` → `SKU`). heck is used here, and only
//! here, to make Rust names, and only from the wire key: `"SKU"` gives `sku`, where the schema
//! name `"sKU"` would give `s_ku`. It never makes a data key (`"sKU"` in heck's
//! `UpperCamelCase` is `SKu`, which the data does not use).

use heck::{ToSnakeCase, ToUpperCamelCase};
use thiserror::Error;

/// Why a wire key cannot become a Rust identifier.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RustIdentError {
    /// Nothing of the key survives as an identifier character (for example `"€/%"`).
    #[error(
        "the field {wire_key:?} has no character usable in a Rust identifier; \
         rename it in the schema document or map it by hand"
    )]
    NoIdentifierCharacters {
        /// The offending wire key, verbatim.
        wire_key: String,
    },
}

/// Words Rust reserves: a field named like one gets a trailing underscore (`type_`). Raw
/// identifiers (`r#type`) would not do, since `self`, `super`, `crate` and `Self` cannot be raw.
const RUST_KEYWORDS: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "Self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "union",
    "macro_rules",
    "raw",
    "safe",
];

/// A snake_case Rust identifier for one wire key.
///
/// Characters that cannot stand in an identifier become word breaks, a leading digit gets an
/// `f_` prefix, and keywords get a trailing underscore. Unicode letters are kept (Rust accepts
/// them). Collisions between fields are resolved by [`rust_field_idents`].
///
/// ```
/// use kiss_codegen::names::rust_ident;
/// assert_eq!(rust_ident("SKU").unwrap(), "sku");
/// assert_eq!(rust_ident("HSCode").unwrap(), "hs_code");
/// assert_eq!(rust_ident("PackagedLength_in_cm").unwrap(), "packaged_length_in_cm");
/// assert_eq!(rust_ident("Type").unwrap(), "type_");
/// assert_eq!(rust_ident("3DModel").unwrap(), "f_3d_model");
/// ```
pub fn rust_ident(wire_key: &str) -> Result<String, RustIdentError> {
    // Replace what heck would silently drop with a separator, so `Price-EUR` and `PriceEUR`
    // stay told apart by the collision pass rather than by luck.
    let cleaned: String = wire_key
        .chars()
        .map(|c| {
            if unicode_ident::is_xid_continue(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    let snake = cleaned.to_snake_case();
    if snake.is_empty() || snake.chars().all(|c| c == '_') {
        return Err(RustIdentError::NoIdentifierCharacters {
            wire_key: wire_key.to_owned(),
        });
    }
    let snake = match snake.chars().next() {
        Some(first) if !unicode_ident::is_xid_start(first) && first != '_' => format!("f_{snake}"),
        _ => snake,
    };
    if RUST_KEYWORDS.contains(&snake.as_str()) {
        Ok(format!("{snake}_"))
    } else {
        Ok(snake)
    }
}

/// An UpperCamelCase Rust type name for a wire key (or any name), such as a nested array's
/// element struct: `ProductImages` → `ProductImages` (see [`singular`] for the element name).
///
/// ```
/// use kiss_codegen::names::rust_type_ident;
/// assert_eq!(rust_type_ident("ProductImages").unwrap(), "ProductImages");
/// assert_eq!(rust_type_ident("HSCodes").unwrap(), "HsCodes");
/// assert_eq!(rust_type_ident("3dViews").unwrap(), "T3dViews");
/// assert_eq!(rust_type_ident("Self").unwrap(), "Self_");
/// ```
pub fn rust_type_ident(name: &str) -> Result<String, RustIdentError> {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if unicode_ident::is_xid_continue(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    let camel = cleaned.to_upper_camel_case();
    if camel.is_empty() || camel.chars().all(|c| c == '_') {
        return Err(RustIdentError::NoIdentifierCharacters {
            wire_key: name.to_owned(),
        });
    }
    let camel = match camel.chars().next() {
        Some(first) if !unicode_ident::is_xid_start(first) => format!("T{camel}"),
        _ => camel,
    };
    if RUST_KEYWORDS.contains(&camel.as_str()) {
        Ok(format!("{camel}_"))
    } else {
        Ok(camel)
    }
}

/// The singular of an English plural type name, for naming array elements readably:
/// `ProductImages` → `ProductImage`, `ProductAccessories` → `ProductAccessory`; names that do
/// not look plural are kept (`ProductComposition`).
///
/// ```
/// use kiss_codegen::names::singular;
/// assert_eq!(singular("ProductAccessories"), "ProductAccessory");
/// assert_eq!(singular("ProductPrices"), "ProductPrice");
/// assert_eq!(singular("Boxes"), "Box");
/// assert_eq!(singular("ProductComposition"), "ProductComposition");
/// assert_eq!(singular("Status"), "Status");
/// ```
pub fn singular(name: &str) -> String {
    let keep = |n: usize| name[..name.len() - n].to_owned();
    if name.len() > 4 && name.ends_with("ies") {
        return format!("{}y", keep(3));
    }
    for suffix in ["sses", "ches", "shes", "xes", "zes"] {
        if name.len() > suffix.len() + 1 && name.ends_with(suffix) {
            return keep(2);
        }
    }
    let ends_like_singular = ["ss", "us", "is", "os"].iter().any(|s| name.ends_with(s));
    if name.len() > 2 && name.ends_with('s') && !ends_like_singular {
        return keep(1);
    }
    name.to_owned()
}

/// Rust identifiers for all fields of one struct, in order, unique among themselves and not
/// equal to any of `reserved` (names the caller needs for itself, such as the unknown-fields
/// map). A later field that collides with an earlier one gets `_2`, `_3`, ... appended.
///
/// ```
/// use kiss_codegen::names::rust_field_idents;
/// let idents = rust_field_idents(["SKU", "Sku", "sku_2", "Extra"], &["extra"]).unwrap();
/// assert_eq!(idents, ["sku", "sku_3", "sku_2", "extra_2"]);
/// ```
pub fn rust_field_idents<'a>(
    wire_keys: impl IntoIterator<Item = &'a str>,
    reserved: &[&str],
) -> Result<Vec<String>, RustIdentError> {
    let bases = wire_keys
        .into_iter()
        .map(rust_ident)
        .collect::<Result<Vec<_>, _>>()?;
    let mut taken: std::collections::HashSet<String> =
        reserved.iter().map(|s| (*s).to_owned()).collect();
    // Names that are already unique keep their natural spelling even when an earlier field
    // would otherwise have taken it with a suffix: claim them first.
    let mut counts = std::collections::HashMap::new();
    for base in &bases {
        *counts.entry(base.as_str()).or_insert(0usize) += 1;
    }
    let mut out: Vec<Option<String>> = vec![None; bases.len()];
    for (i, base) in bases.iter().enumerate() {
        if counts[base.as_str()] == 1 && !taken.contains(base) {
            taken.insert(base.clone());
            out[i] = Some(base.clone());
        }
    }
    for (i, base) in bases.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        let name = if taken.contains(base) {
            (2..)
                .map(|n| format!("{base}_{n}"))
                .find(|candidate| !taken.contains(candidate))
                .unwrap_or_else(|| unreachable!("an unbounded range always finds a free suffix"))
        } else {
            base.clone()
        };
        taken.insert(name.clone());
        out[i] = Some(name);
    }
    Ok(out.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documentation's wire keys and the identifiers they get.
    const DOCUMENTED: &[(&str, &str)] = &[
        ("SKU", "sku"),
        ("MOQ", "moq"),
        ("HSCode", "hs_code"),
        ("AmazonASIN", "amazon_asin"),
        ("PriceExclVAT", "price_excl_vat"),
        ("AvailableQTY", "available_qty"),
        ("NextAvailableETA", "next_available_eta"),
        ("ImageID", "image_id"),
        ("AccessorySKU", "accessory_sku"),
        ("PackagedLength_in_cm", "packaged_length_in_cm"),
        ("PackagedWeight_in_g", "packaged_weight_in_g"),
        ("CartonQty", "carton_qty"),
        ("IsPrimaryImage", "is_primary_image"),
        ("ProductCategoryCode", "product_category_code"),
        ("CompositionPercentage", "composition_percentage"),
        ("Name", "name"),
    ];

    #[test]
    fn documented_wire_keys_get_documented_idents() {
        for (key, ident) in DOCUMENTED {
            assert_eq!(rust_ident(key).unwrap(), *ident, "ident of {key}");
        }
    }

    #[test]
    fn odd_names() {
        assert_eq!(rust_ident("X").unwrap(), "x");
        assert_eq!(rust_ident("Größe").unwrap(), "größe");
        assert_eq!(rust_ident("2ndSKU").unwrap(), "f_2nd_sku");
        assert_eq!(rust_ident("Price-EUR").unwrap(), "price_eur");
        assert_eq!(rust_ident("Say \"hi\"").unwrap(), "say_hi");
        assert_eq!(rust_ident("Self").unwrap(), "self_");
        assert_eq!(rust_ident("Crate").unwrap(), "crate_");
        assert_eq!(rust_ident("Async").unwrap(), "async_");
        assert!(matches!(
            rust_ident("€/%"),
            Err(RustIdentError::NoIdentifierCharacters { wire_key }) if wire_key == "€/%"
        ));
        assert!(rust_ident("").is_err());
        assert!(rust_ident("__").is_err());
    }

    #[test]
    fn collisions_after_conversion_get_suffixes() {
        let idents = rust_field_idents(["ImageID", "ImageId", "Image_ID"], &[]).unwrap();
        assert_eq!(idents, ["image_id", "image_id_2", "image_id_3"]);
        let idents = rust_field_idents(["A", "A_2", "A"], &[]).unwrap();
        assert_eq!(idents, ["a", "a_2", "a_3"]);
        let err = rust_field_idents(["Ok", "%"], &[]).unwrap_err();
        assert_eq!(
            err,
            RustIdentError::NoIdentifierCharacters {
                wire_key: "%".into()
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn idents_are_unique_and_valid(keys in proptest::collection::vec("[A-Za-z0-9_ \\-é]{1,8}", 0..12)) {
            if let Ok(idents) = rust_field_idents(keys.iter().map(String::as_str), &["extra"]) {
                let unique: std::collections::HashSet<_> = idents.iter().collect();
                proptest::prop_assert_eq!(unique.len(), idents.len());
                for ident in &idents {
                    proptest::prop_assert!(ident != "extra");
                    let first = ident.chars().next().unwrap();
                    proptest::prop_assert!(unicode_ident::is_xid_start(first) || first == '_');
                    proptest::prop_assert!(ident.chars().all(unicode_ident::is_xid_continue));
                    proptest::prop_assert!(!RUST_KEYWORDS.contains(&ident.as_str()));
                }
            }
        }
    }
}
