//! What the capture benchmarks share: the catalogue (fetched once from an in-process
//! sandbox), the same model written the usual serde-derive way (`plain`: unknown fields
//! dropped; `flattened`: captured with `#[serde(flatten)]`), and per-record decoding loops.
#![allow(dead_code)]

use std::sync::OnceLock;

use chrono::NaiveDate;
use kiss_dynamic::Decimal;
use serde::Deserialize;

/// Products in the benchmark catalogue.
pub const PRODUCTS: usize = 50_000;

/// The catalogue as the 2026-04 surface serves it: every field known to the models.
pub fn catalogue() -> &'static [u8] {
    static BODY: OnceLock<Vec<u8>> = OnceLock::new();
    BODY.get_or_init(|| fetch_products(None))
}

/// The catalogue after the API grew four fields the models do not know (three scalars and a
/// nested array), without a profile change: what unknown-field capture is for.
pub fn grown_catalogue() -> &'static [u8] {
    static BODY: OnceLock<Vec<u8>> = OnceLock::new();
    BODY.get_or_init(|| {
        let mut schema: serde_json::Value = serde_json::from_str(
            kiss_generated::SCHEMA_DOCUMENTS
                .iter()
                .find(|(endpoint, _)| *endpoint == "/products")
                .expect("products schema")
                .1,
        )
        .expect("schema json");
        let fields = schema["fields"].as_array_mut().expect("fields");
        fields.push(serde_json::json!({"name": "eCOScore", "type": "decimal"}));
        fields.push(serde_json::json!({"name": "launchDate", "type": "date"}));
        fields.push(serde_json::json!({"name": "licenceHolder", "type": "string"}));
        schema["arrays"]["productVideos"] =
            serde_json::json!({"fields": [{"name": "uRL", "type": "string"}, {"name": "seconds", "type": "integer"}]});
        fetch_products(Some(schema.to_string()))
    })
}

fn fetch_products(products_schema: Option<String>) -> Vec<u8> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let sandbox = kiss_tests::relaxed_sandbox(PRODUCTS).await;
        if let Some(schema) = products_schema {
            sandbox
                .control()
                .set_schema(kiss_sandbox::Endpoint::Products, schema)
                .unwrap();
        }
        let body = kiss_tests::served(&sandbox, "/products").await;
        sandbox.shutdown().await;
        body
    })
}

/// The same shape as `kiss_generated::Product`, written the usual serde-derive way, with or
/// without a flattened capture field.
macro_rules! mirror {
    ($module:ident $(, #[$capture_attr:meta] $capture:ident: $capture_ty:ty)?) => {
        pub mod $module {
            use super::*;

            #[allow(dead_code)]
            #[derive(Deserialize)]
            pub struct Product {
                #[serde(rename = "SKU")] pub sku: String,
                #[serde(rename = "Name")] pub name: Option<String>,
                #[serde(rename = "Description")] pub description: Option<String>,
                #[serde(rename = "WebsiteDescription")] pub website_description: Option<String>,
                #[serde(rename = "ProductCategoryCode")] pub product_category_code: Option<String>,
                #[serde(rename = "WashingInstructions")] pub washing_instructions: Option<String>,
                #[serde(rename = "Gender")] pub gender: Option<String>,
                #[serde(rename = "Audience")] pub audience: Option<String>,
                #[serde(rename = "MainColour")] pub main_colour: Option<String>,
                #[serde(rename = "Barcode")] pub barcode: Option<String>,
                #[serde(rename = "Photo")] pub photo: Option<String>,
                #[serde(rename = "Theme")] pub theme: Option<String>,
                #[serde(rename = "PackagedLength_in_cm")] pub packaged_length_in_cm: Option<Decimal>,
                #[serde(rename = "PackagedWidth_in_cm")] pub packaged_width_in_cm: Option<Decimal>,
                #[serde(rename = "PackagedHeight_in_cm")] pub packaged_height_in_cm: Option<Decimal>,
                #[serde(rename = "PackagedWeight_in_g")] pub packaged_weight_in_g: Option<Decimal>,
                #[serde(rename = "CartonLength_in_cm")] pub carton_length_in_cm: Option<Decimal>,
                #[serde(rename = "CartonWidth_in_cm")] pub carton_width_in_cm: Option<Decimal>,
                #[serde(rename = "CartonHeight_in_cm")] pub carton_height_in_cm: Option<Decimal>,
                #[serde(rename = "CartonWeight_in_g")] pub carton_weight_in_g: Option<Decimal>,
                #[serde(rename = "CartonQty")] pub carton_qty: Option<i64>,
                #[serde(rename = "AmazonASIN")] pub amazon_asin: Option<String>,
                #[serde(rename = "CountryOfOrigin")] pub country_of_origin: Option<String>,
                #[serde(rename = "Status")] pub status: Option<String>,
                #[serde(rename = "StyleCode")] pub style_code: Option<String>,
                #[serde(rename = "CartonBarcode")] pub carton_barcode: Option<String>,
                #[serde(rename = "HSCode")] pub hs_code: Option<String>,
                #[serde(rename = "WhatsIncluded")] pub whats_included: Option<String>,
                #[serde(rename = "ProductCompositionText")] pub product_composition_text: Option<String>,
                #[serde(rename = "ProductImages", default)] pub product_images: Vec<Image>,
                #[serde(rename = "ProductAccessories", default)] pub product_accessories: Vec<Accessory>,
                #[serde(rename = "ProductSubstitutions", default)] pub product_substitutions: Vec<Substitution>,
                #[serde(rename = "ProductComposition", default)] pub product_composition: Vec<Composition>,
                #[serde(rename = "ProductPrices", default)] pub product_prices: Vec<Price>,
                $(#[$capture_attr] pub $capture: $capture_ty,)?
            }

            #[allow(dead_code)]
            #[derive(Deserialize)]
            pub struct Image {
                #[serde(rename = "ImageID")] pub image_id: Option<String>,
                #[serde(rename = "FileName")] pub file_name: Option<String>,
                #[serde(rename = "IsPrimaryImage")] pub is_primary_image: Option<bool>,
                $(#[$capture_attr] pub $capture: $capture_ty,)?
            }

            #[allow(dead_code)]
            #[derive(Deserialize)]
            pub struct Accessory {
                #[serde(rename = "AccessorySKU")] pub accessory_sku: Option<String>,
                $(#[$capture_attr] pub $capture: $capture_ty,)?
            }

            #[allow(dead_code)]
            #[derive(Deserialize)]
            pub struct Substitution {
                #[serde(rename = "SubstituteSKU")] pub substitute_sku: Option<String>,
                $(#[$capture_attr] pub $capture: $capture_ty,)?
            }

            #[allow(dead_code)]
            #[derive(Deserialize)]
            pub struct Composition {
                #[serde(rename = "MaterialCode")] pub material_code: Option<String>,
                #[serde(rename = "MaterialDescription")] pub material_description: Option<String>,
                #[serde(rename = "CompositionPercentage")] pub composition_percentage: Option<Decimal>,
                $(#[$capture_attr] pub $capture: $capture_ty,)?
            }

            #[allow(dead_code)]
            #[derive(Deserialize)]
            pub struct Price {
                #[serde(rename = "PriceListCode")] pub price_list_code: Option<String>,
                #[serde(rename = "CurrencyCode")] pub currency_code: Option<String>,
                #[serde(rename = "PriceExclVAT")] pub price_excl_vat: Option<Decimal>,
                #[serde(rename = "MOQ")] pub moq: Option<i64>,
                #[serde(rename = "OrderMultiple")] pub order_multiple: Option<i64>,
                $(#[$capture_attr] pub $capture: $capture_ty,)?
            }
        }
    };
}

mirror!(plain);
mirror!(flattened, #[serde(flatten)] extra: serde_json::Map<String, serde_json::Value>);

// Keeps the date type in the comparison honest if the products schema ever gains a date.
#[allow(dead_code)]
type Date = NaiveDate;

/// Decodes the array one record at a time, dropping each: what a streaming client does, and
/// the decoders' own cost without the allocator's page faults for a whole catalogue.
pub fn each_record<T: serde::de::DeserializeOwned>(body: &[u8]) -> usize {
    struct Each<T>(std::marker::PhantomData<T>);
    impl<'de, T: serde::de::DeserializeOwned> serde::de::Visitor<'de> for Each<T> {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of records")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
            let mut count = 0;
            while let Some(record) = seq.next_element::<T>()? {
                divan::black_box(record);
                count += 1;
            }
            Ok(count)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde::Deserializer::deserialize_seq(&mut deserializer, Each::<T>(std::marker::PhantomData))
        .expect("decodes")
}

/// The fast path one record at a time (each dropped), through the streaming splitter as the
/// client uses it.
pub fn each_record_fast(body: &[u8]) -> usize {
    let mut stream = kiss_dynamic::ArrayStream::new(kiss_dynamic::model::ModelDecoder::<
        kiss_generated::Product,
    >::default());
    let mut count = 0;
    for chunk in body.chunks(64 * 1024) {
        for record in stream.feed(chunk) {
            divan::black_box(record.expect("decodes"));
            count += 1;
        }
    }
    stream.finish().expect("complete");
    count
}
