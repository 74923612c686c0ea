//! The deterministic, seeded catalogue the sandbox serves.
//!
//! Every record is a pure function of `(seed, index, served schema)`: nothing is stored per
//! product, so 100k+ products cost no memory and are written as the response streams out.
//! Records 0 and 1 are the documentation's own examples (`DRAC001`, `FANG001`), value for value.
//! Each field of the served schema is filled by wire key: fields the generator knows get
//! realistic values, fields it does not know get a synthetic value of their declared type, and
//! fields the schema lacks are left out, so the data always conforms to the served schemas.

use std::borrow::Cow;

use kiss_schema::{Endpoint, FieldSchema, FieldType, SchemaDocument};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::value::RawValue;

use crate::json::{write_key, write_scalar, Scalar};

/// The documentation's example payloads, as served for the first records.
const EXAMPLE_PRODUCTS: &str = kiss_schema::contract::PRODUCTS_EXAMPLE;
const EXAMPLE_STOCK: &str = kiss_schema::contract::STOCK_EXAMPLE;
const EXAMPLE_PRICES: &str = kiss_schema::contract::PRICES_EXAMPLE;

/// One example record with its values as raw JSON text, in document order.
#[derive(Debug)]
struct ExampleRecord(Vec<(String, Box<RawValue>)>);

impl ExampleRecord {
    fn get(&self, key: &str) -> Option<&RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }
}

impl<'de> serde::Deserialize<'de> for ExampleRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ExampleRecord;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ExampleRecord, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    entries.push(entry);
                }
                Ok(ExampleRecord(entries))
            }
        }
        deserializer.deserialize_map(V)
    }
}

fn parse_examples(text: &str) -> Vec<ExampleRecord> {
    serde_json::from_str(text)
        .unwrap_or_else(|e| unreachable!("the embedded example payloads are valid JSON: {e}"))
}

/// The catalogue: how many products, from which seed.
#[derive(Debug)]
pub(crate) struct Catalogue {
    seed: u64,
    len: usize,
    example_products: Vec<ExampleRecord>,
    example_stock: Vec<ExampleRecord>,
    example_prices: Vec<ExampleRecord>,
}

const THEMES: &[(&str, &[&str])] = &[
    (
        "Halloween",
        &[
            "Vampire", "Witch", "Zombie", "Skeleton", "Mummy", "Werewolf", "Ghost",
        ],
    ),
    (
        "Pirates",
        &["Pirate Captain", "Buccaneer", "Parrot", "Deckhand"],
    ),
    (
        "Fairytale",
        &["Princess", "Wizard", "Fairy", "Knight", "Dragon"],
    ),
    (
        "Decades",
        &[
            "Disco Diva",
            "Flapper",
            "Rock 'n' Roll",
            "Hippie",
            "80s Aerobics",
        ],
    ),
    (
        "Animals",
        &["Tiger", "Panda", "Shark", "Unicorn", "Dinosaur"],
    ),
    (
        "Professions",
        &[
            "Firefighter",
            "Doctor",
            "Police Officer",
            "Chef",
            "Astronaut",
        ],
    ),
    (
        "Christmas",
        &["Santa", "Elf", "Reindeer", "Snowman", "Gingerbread"],
    ),
];
const AUDIENCES: &[(&str, &str)] = &[
    ("Adult", "ADULT"),
    ("Child", "CHILD"),
    ("Teen", "TEEN"),
    ("Toddler", "TODDLER"),
];
const GENDERS: &[&str] = &["Male", "Female", "Unisex"];
const COLOURS: &[&str] = &[
    "Black", "Red", "Green", "Blue", "White", "Purple", "Orange", "Gold",
];
const COUNTRIES: &[&str] = &["CN", "GB", "IN", "BD", "TR", "VN", "PT"];
const STATUSES: &[&str] = &[
    "ACTIVE",
    "ACTIVE",
    "ACTIVE",
    "ACTIVE",
    "DISCONTINUED",
    "PRE-ORDER",
];
const HS_CODES: &[&str] = &[
    "6114.30", "6104.43", "6211.43", "9505.90", "6505.00", "6117.80",
];
const MATERIALS: &[(&str, &str)] = &[
    ("POLY", "Polyester"),
    ("COTT", "Cotton"),
    ("ELAS", "Elastane"),
    ("PVC", "Polyvinyl chloride"),
    ("NYLN", "Nylon"),
];
const INCLUDED: &[&str] = &[
    "Hat", "Cape", "Mask", "Gloves", "Belt", "Wig", "Wand", "Jumpsuit",
];

/// The facts of one product from which all its fields (and its stock and price rows) follow.
struct ProductFacts {
    index: usize,
    sku: String,
    theme: &'static str,
    character: &'static str,
    audience: (&'static str, &'static str),
    gender: &'static str,
    colour: &'static str,
    /// Net price in 1/10000 of the currency unit.
    price_units: i64,
    moq: i64,
    order_multiple: i64,
}

/// One hand-made stream per (seed, index, purpose), so a product's price is the same whether
/// it is read from `/products` or `/prices`.
fn rng_for(seed: u64, index: usize, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(index as u64);
    rng
}

const PURPOSE_PRODUCT: u64 = 1;
const PURPOSE_PRICE: u64 = 2;
const PURPOSE_STOCK: u64 = 3;
const PURPOSE_SYNTHETIC: u64 = 4;
const PURPOSE_PRICE_MOVE: u64 = 5;

/// How long one state of the sandbox's world lasts: its clock's offset (how far
/// `/_sandbox/clock/advance` moved it) divided by this is the epoch records are written at.
/// Real time passing does not move the data; only advancing the clock does.
pub const EPOCH_SECS: u64 = 600;

/// A well-mixed 64-bit value of `(seed, index, salt)` (SplitMix64's finaliser): which products
/// move when, decided without storing anything.
fn mix(seed: u64, index: usize, salt: u64) -> u64 {
    let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// An EAN/GTIN check digit over the given digits (weights 3 and 1 from the right).
fn gtin_with_check_digit(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

impl Catalogue {
    /// A catalogue of `len` products from `seed`.
    pub fn new(len: usize, seed: u64) -> Catalogue {
        Catalogue {
            seed,
            len,
            example_products: parse_examples(EXAMPLE_PRODUCTS),
            example_stock: parse_examples(EXAMPLE_STOCK),
            example_prices: parse_examples(EXAMPLE_PRICES),
        }
    }

    /// How many times product `index`'s stock has changed by `epoch`: each product restocks
    /// or sells on its own rhythm, every 1 to 12 epochs (10 minutes to 2 hours).
    pub fn stock_revision(&self, index: usize, epoch: u64) -> u64 {
        let h = mix(self.seed, index, 11);
        let period = 1 + h % 12;
        (epoch + (h >> 8) % period) / period
    }

    /// How many times product `index`'s price has changed by `epoch`: one product in ten is
    /// repriced every 36 epochs (6 hours), the rest never.
    pub fn price_revision(&self, index: usize, epoch: u64) -> u64 {
        let h = mix(self.seed, index, 12);
        if !h.is_multiple_of(10) {
            return 0;
        }
        (epoch + (h >> 8) % 36) / 36
    }

    /// How many products there may ever be: the catalogue's own, then one in a hundred more
    /// that launch later (their indices come after the others').
    pub fn slots(&self) -> usize {
        self.len + self.len / 100
    }

    /// Whether product `index` is in the catalogue in `epoch`. At epoch 0 the catalogue is
    /// exactly its `len` products. Then one in a hundred of them is seasonal and leaves for 36
    /// epochs (6 hours) at a time, and the products after them launch, each at its own epoch
    /// within the first 72 (12 hours), and stay. The documentation's examples always stay.
    pub fn is_listed(&self, index: usize, epoch: u64) -> bool {
        if index < 2 {
            return true;
        }
        let h = mix(self.seed, index, 13);
        if index >= self.len {
            return index < self.slots() && epoch > (h >> 8) % 72;
        }
        let half = (epoch + (h >> 8) % 36) / 36;
        !h.is_multiple_of(100) || half.is_multiple_of(2)
    }

    /// The SKU of product `index`.
    pub fn sku(&self, index: usize) -> String {
        match index {
            0 => "DRAC001".to_owned(),
            1 => "FANG001".to_owned(),
            _ => format!("KS{index:06}"),
        }
    }

    fn facts(&self, index: usize, epoch: u64) -> ProductFacts {
        let mut rng = rng_for(self.seed, index, PURPOSE_PRODUCT);
        let (theme, characters) = pick(&mut rng, THEMES);
        let character = pick(&mut rng, characters);
        let audience = pick(&mut rng, AUDIENCES);
        let gender = pick(&mut rng, GENDERS);
        let colour = pick(&mut rng, COLOURS);
        let mut price_rng = rng_for(self.seed, index, PURPOSE_PRICE);
        let base_units = match index {
            0 => 199_500,
            1 => 24_500,
            _ => price_rng.gen_range(1_000..900_000),
        };
        let price_units = match self.price_revision(index, epoch) {
            0 => base_units,
            // Up or down by at most a tenth, never to zero.
            revision => {
                let mut moved = rng_for(self.seed ^ revision, index, PURPOSE_PRICE_MOVE);
                (base_units * moved.gen_range(90..=110) / 100).max(100)
            }
        };
        let order_multiple = match index {
            1 => 12,
            _ => pick(&mut price_rng, &[1, 3, 6, 12, 24]),
        };
        let moq = match index {
            1 => 24,
            _ => order_multiple * price_rng.gen_range(1..4),
        };
        ProductFacts {
            index,
            sku: self.sku(index),
            theme,
            character,
            audience,
            gender,
            colour,
            price_units,
            moq,
            order_multiple,
        }
    }

    /// Writes record `index` of `endpoint` as a JSON object, shaped by `schema`, as it is at
    /// the catalogue's start (epoch 0).
    #[cfg(test)]
    pub fn write_record(
        &self,
        endpoint: Endpoint,
        schema: &SchemaDocument,
        index: usize,
        out: &mut Vec<u8>,
    ) {
        self.write_record_at(endpoint, schema, index, 0, &[], out);
    }

    /// Writes record `index` of `endpoint` as it is in `epoch` (see [`EPOCH_SECS`]), with the
    /// fields the control plane set (`overrides`: wire key and JSON text) in place of the
    /// generated ones, and appended when the schema does not list them.
    pub fn write_record_at(
        &self,
        endpoint: Endpoint,
        schema: &SchemaDocument,
        index: usize,
        epoch: u64,
        overrides: &[(String, String)],
        out: &mut Vec<u8>,
    ) {
        let examples = match endpoint {
            Endpoint::Products => &self.example_products,
            Endpoint::Stock => &self.example_stock,
            Endpoint::Prices => &self.example_prices,
        };
        let example = examples.get(index);
        let facts = self.facts(index, epoch);
        let stock_revision = self.stock_revision(index, epoch);
        let price_moved = self.price_revision(index, epoch) > 0;
        // The documentation's examples hold until their values move.
        let moved = |key: &str| match (endpoint, key) {
            (Endpoint::Stock, "AvailableQTY" | "NextAvailableETA") => stock_revision > 0,
            (Endpoint::Prices | Endpoint::Products, "PriceExclVAT") => price_moved,
            _ => false,
        };
        let overridden = |key: &str| overrides.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let mut synthetic = rng_for(self.seed, index, PURPOSE_SYNTHETIC);
        out.push(b'{');
        let mut first = true;
        for field in &schema.fields {
            write_key(out, &mut first, &field.wire_key);
            if let Some(value) = overridden(&field.wire_key) {
                out.extend_from_slice(value.as_bytes());
                continue;
            }
            if let Some(raw) = example
                .filter(|_| !moved(&field.wire_key))
                .and_then(|e| e.get(&field.wire_key))
            {
                out.extend_from_slice(raw.get().as_bytes());
                continue;
            }
            let known = match endpoint {
                Endpoint::Products => product_scalar(&facts, &field.wire_key),
                Endpoint::Stock => stock_scalar(self.seed, stock_revision, &facts, &field.wire_key),
                Endpoint::Prices => price_scalar(&facts, &field.wire_key, true),
            };
            let value = known.unwrap_or_else(|| synthetic_scalar(field, index, &mut synthetic));
            write_scalar(out, &value);
        }
        for (key, value) in overrides {
            let listed = schema.fields.iter().any(|f| f.wire_key == *key)
                || schema.arrays.iter().any(|a| a.wire_key == *key);
            if !listed {
                write_key(out, &mut first, key);
                out.extend_from_slice(value.as_bytes());
            }
        }
        for array in &schema.arrays {
            write_key(out, &mut first, &array.wire_key);
            if let Some(value) = overridden(&array.wire_key) {
                out.extend_from_slice(value.as_bytes());
                continue;
            }
            let example_elements: Option<Vec<ExampleRecord>> = example
                .and_then(|e| e.get(&array.wire_key))
                .and_then(|raw| serde_json::from_str(raw.get()).ok());
            let count = match &example_elements {
                Some(elements) => elements.len(),
                None => self.element_count(&facts, &array.wire_key, &mut synthetic),
            };
            out.push(b'[');
            for n in 0..count {
                if n > 0 {
                    out.push(b',');
                }
                out.push(b'{');
                let mut first_in_element = true;
                for field in &array.fields {
                    write_key(out, &mut first_in_element, &field.wire_key);
                    let raw = example_elements
                        .as_ref()
                        .filter(|_| !moved(&field.wire_key))
                        .and_then(|elements| elements.get(n))
                        .and_then(|element| element.get(&field.wire_key));
                    if let Some(raw) = raw {
                        out.extend_from_slice(raw.get().as_bytes());
                        continue;
                    }
                    let value = self
                        .element_scalar(&facts, &array.wire_key, n, &field.wire_key)
                        .unwrap_or_else(|| synthetic_scalar(field, index, &mut synthetic));
                    write_scalar(out, &value);
                }
                out.push(b'}');
            }
            out.push(b']');
        }
        out.push(b'}');
    }

    fn element_count(&self, facts: &ProductFacts, array_key: &str, rng: &mut ChaCha8Rng) -> usize {
        match array_key {
            "ProductImages" => 1 + facts.index % 3,
            "ProductAccessories" if self.len > 1 => facts.index % 3,
            "ProductAccessories" => 0,
            "ProductSubstitutions" if self.len > 1 => facts.index % 2,
            "ProductSubstitutions" => 0,
            "ProductComposition" => 1 + facts.index % 2,
            "ProductPrices" => 1,
            _ => rng.gen_range(0..3),
        }
    }

    fn element_scalar(
        &self,
        facts: &ProductFacts,
        array_key: &str,
        n: usize,
        key: &str,
    ) -> Option<Scalar<'static>> {
        let other_sku = |salt: usize| {
            let other = (facts.index + 1 + salt * 7919) % self.len.max(1);
            self.sku(other)
        };
        Some(match (array_key, key) {
            ("ProductImages", "ImageID") => Scalar::str(format!("IMG{:07}", facts.index * 4 + n)),
            ("ProductImages", "FileName") => {
                let side = ["front", "back", "side", "detail"][n % 4];
                Scalar::str(format!("{}_{side}.jpg", facts.sku))
            }
            ("ProductImages", "IsPrimaryImage") => Scalar::bool(n == 0),
            ("ProductAccessories", "AccessorySKU") => Scalar::str(other_sku(n)),
            ("ProductSubstitutions", "SubstituteSKU") => Scalar::str(other_sku(n + 3)),
            ("ProductComposition", "MaterialCode") => {
                Scalar::str(MATERIALS[(facts.index + n) % MATERIALS.len()].0)
            }
            ("ProductComposition", "MaterialDescription") => {
                Scalar::str(MATERIALS[(facts.index + n) % MATERIALS.len()].1)
            }
            ("ProductComposition", "CompositionPercentage") => {
                let parts = 1 + facts.index % 2;
                let share = if parts == 1 {
                    10_000
                } else if n == 0 {
                    9_500
                } else {
                    500
                };
                Scalar::decimal(share, 2)
            }
            ("ProductPrices", _) => return price_scalar(facts, key, false),
            _ => return None,
        })
    }
}

fn product_scalar(facts: &ProductFacts, key: &str) -> Option<Scalar<'static>> {
    let i = facts.index as i64;
    let (audience, audience_code) = facts.audience;
    Some(match key {
        "SKU" => Scalar::str(facts.sku.clone()),
        "Name" => Scalar::str(format!("{} {audience} Costume", facts.character)),
        "Description" => Scalar::str(format!(
            "{} {} costume for {}s.",
            facts.colour,
            facts.character.to_lowercase(),
            audience.to_lowercase()
        )),
        "WebsiteDescription" => Scalar::str(format!(
            "Be the star of any {} party as a {}.",
            facts.theme.to_lowercase(),
            facts.character.to_lowercase()
        )),
        "ProductCategoryCode" => {
            Scalar::str(format!("{}-{audience_code}", facts.theme.to_uppercase()))
        }
        "WashingInstructions" => Scalar::str(if i % 2 == 0 {
            "Hand wash cold, do not bleach."
        } else {
            "Spot clean only."
        }),
        "Gender" => Scalar::str(facts.gender),
        "Audience" => Scalar::str(audience),
        "MainColour" => Scalar::str(facts.colour),
        "Barcode" => Scalar::str(gtin_with_check_digit(&format!("50{:010}", 12_345 + i))),
        "Photo" => Scalar::str(format!(
            "https://cdn.kiss.example.com/img/{}.jpg",
            facts.sku
        )),
        "Theme" => Scalar::str(facts.theme),
        "PackagedLength_in_cm" => Scalar::decimal(2_000 + (i % 30) * 100, 2),
        "PackagedWidth_in_cm" => Scalar::decimal(1_500 + (i % 20) * 50, 2),
        "PackagedHeight_in_cm" => Scalar::decimal(300 + (i % 10) * 25, 2),
        "PackagedWeight_in_g" => Scalar::decimal(15_000 + (i % 50) * 1_000, 2),
        "CartonLength_in_cm" => Scalar::decimal(6_000, 2),
        "CartonWidth_in_cm" => Scalar::decimal(5_000, 2),
        "CartonHeight_in_cm" => Scalar::decimal(4_000, 2),
        "CartonWeight_in_g" => Scalar::decimal(12 * (15_000 + (i % 50) * 1_000) + 30_000, 2),
        "CartonQty" => Scalar::int(12),
        "AmazonASIN" => Scalar::str(format!("B0{:08X}", 0x1000_0000_u64 + facts.index as u64)),
        "CountryOfOrigin" => Scalar::str(COUNTRIES[facts.index % COUNTRIES.len()]),
        "Status" => Scalar::str(STATUSES[facts.index % STATUSES.len()]),
        "StyleCode" => Scalar::str(format!("STY-{:05}", facts.index / 3)),
        "CartonBarcode" => Scalar::str(gtin_with_check_digit(&format!("150{:010}", 12_345 + i))),
        "HSCode" => Scalar::str(HS_CODES[facts.index % HS_CODES.len()]),
        "WhatsIncluded" => Scalar::str(format!(
            "{}, {}.",
            INCLUDED[facts.index % INCLUDED.len()],
            INCLUDED[(facts.index + 3) % INCLUDED.len()].to_lowercase()
        )),
        "ProductCompositionText" => Scalar::str(if i % 2 == 0 {
            "100% polyester outer."
        } else {
            "95% polyester, 5% elastane."
        }),
        _ => return None,
    })
}

fn price_scalar(facts: &ProductFacts, key: &str, top_level: bool) -> Option<Scalar<'static>> {
    Some(match key {
        "PriceListCode" => Scalar::str("EUR-WHOLESALE"),
        "PriceListName" => Scalar::str("EUR Wholesale 2026"),
        "CurrencyCode" => Scalar::str("EUR"),
        "SKU" if top_level => Scalar::str(facts.sku.clone()),
        "PriceExclVAT" => Scalar::decimal(facts.price_units, 4),
        "MOQ" => Scalar::int(facts.moq),
        "OrderMultiple" => Scalar::int(facts.order_multiple),
        _ => return None,
    })
}

fn stock_scalar(
    seed: u64,
    revision: u64,
    facts: &ProductFacts,
    key: &str,
) -> Option<Scalar<'static>> {
    let mut rng = rng_for(seed ^ revision, facts.index, PURPOSE_STOCK);
    let available: i64 = if rng.gen_bool(0.2) {
        0
    } else {
        rng.gen_range(1..2_500)
    };
    let eta_known = rng.gen_bool(0.7);
    let (month, day) = (rng.gen_range(1..=12u32), rng.gen_range(1..=28u32));
    Some(match key {
        "SKU" => Scalar::str(facts.sku.clone()),
        "StockLocation" => Scalar::str("UK01"),
        "AvailableQTY" => Scalar::int(available),
        "NextAvailableETA" if eta_known => Scalar::str(format!("2027-{month:02}-{day:02}")),
        "NextAvailableETA" => Scalar::null(),
        _ => return None,
    })
}

/// A value of the field's declared type for a field the generator does not know.
fn synthetic_scalar(field: &FieldSchema, index: usize, rng: &mut ChaCha8Rng) -> Scalar<'static> {
    match &field.field_type {
        FieldType::String => Scalar::str(format!("{}-{index}", field.wire_key)),
        FieldType::Decimal => Scalar::decimal(rng.gen_range(0..1_000_000), 2),
        FieldType::Integer => Scalar::int(rng.gen_range(0..10_000)),
        FieldType::Boolean => Scalar::bool(rng.gen_bool(0.5)),
        FieldType::Date => Scalar::str(format!(
            "2026-{:02}-{:02}",
            rng.gen_range(1..=12u32),
            rng.gen_range(1..=28u32)
        )),
        // An unknown type is untyped JSON to every client: a small object shows that off.
        FieldType::Other(type_name) => Scalar::Raw(Cow::Owned(format!(
            "{{\"type\":{},\"value\":{}}}",
            serde_json::Value::String(type_name.clone()),
            index
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(endpoint: Endpoint) -> SchemaDocument {
        let text = match endpoint {
            Endpoint::Products => kiss_schema::contract::PRODUCTS_SCHEMA,
            Endpoint::Stock => kiss_schema::contract::STOCK_SCHEMA,
            Endpoint::Prices => kiss_schema::contract::PRICES_SCHEMA,
        };
        SchemaDocument::from_json(text).unwrap()
    }

    fn record(c: &Catalogue, endpoint: Endpoint, i: usize) -> serde_json::Value {
        let mut out = Vec::new();
        c.write_record(endpoint, &schema(endpoint), i, &mut out);
        serde_json::from_slice(&out).unwrap()
    }

    fn record_at(c: &Catalogue, endpoint: Endpoint, i: usize, epoch: u64) -> serde_json::Value {
        let mut out = Vec::new();
        c.write_record_at(endpoint, &schema(endpoint), i, epoch, &[], &mut out);
        serde_json::from_slice(&out).unwrap()
    }

    /// The world moves with the epoch, the same way for the same seed: stock for many
    /// products, prices for some, a few products leave and a few launch; at epoch 0 the
    /// catalogue is what it always was.
    #[test]
    fn the_catalogue_moves_with_the_epoch_deterministically() {
        let c = Catalogue::new(1000, 9);
        let same = Catalogue::new(1000, 9);
        assert_eq!(c.slots(), 1010);
        let listed_at = |epoch| (0..c.slots()).filter(|&i| c.is_listed(i, epoch)).count();
        assert_eq!(listed_at(0), 1000);
        let later = 40;
        let changed = |endpoint, key: &str| {
            (0..1000)
                .filter(|&i| {
                    record_at(&c, endpoint, i, 0)[key] != record_at(&c, endpoint, i, later)[key]
                })
                .count()
        };
        let stock_moves = changed(Endpoint::Stock, "AvailableQTY");
        let price_moves = changed(Endpoint::Prices, "PriceExclVAT");
        assert!(stock_moves > 500, "{stock_moves}");
        assert!((30..200).contains(&price_moves), "{price_moves}");
        let (left, launched) = (
            (0..1000).filter(|&i| !c.is_listed(i, later)).count(),
            (1000..1010).filter(|&i| c.is_listed(i, later)).count(),
        );
        assert!(left > 0 && launched > 0, "{left} left, {launched} launched");
        for i in [0, 1, 17, 500] {
            assert_eq!(
                record_at(&c, Endpoint::Stock, i, 77),
                record_at(&same, Endpoint::Stock, i, 77)
            );
            // The nested price moves with the price row.
            assert_eq!(
                record_at(&c, Endpoint::Products, i, later)["ProductPrices"][0]["PriceExclVAT"],
                record_at(&c, Endpoint::Prices, i, later)["PriceExclVAT"]
            );
        }
        // The documented examples hold at epoch 0.
        assert_eq!(record_at(&c, Endpoint::Stock, 0, 0)["AvailableQTY"], 432);
    }

    #[test]
    fn set_fields_replace_or_add_values_as_given() {
        let c = Catalogue::new(10, 1);
        let overrides = vec![
            ("AvailableQTY".to_owned(), "0".to_owned()),
            ("BinLocation".to_owned(), "\"R1\"".to_owned()),
        ];
        let mut out = Vec::new();
        c.write_record_at(
            Endpoint::Stock,
            &schema(Endpoint::Stock),
            0,
            5,
            &overrides,
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"AvailableQTY\":0,"), "{text}");
        assert!(text.ends_with(",\"BinLocation\":\"R1\"}"), "{text}");
    }

    #[test]
    fn check_digits_are_valid_gtins() {
        // Published examples of a valid EAN-13 and GTIN-14.
        assert_eq!(gtin_with_check_digit("400638133393"), "4006381333931");
        assert_eq!(gtin_with_check_digit("1001234567890"), "10012345678902");
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let a = Catalogue::new(50, 7);
        let b = Catalogue::new(50, 7);
        let c = Catalogue::new(50, 8);
        assert_eq!(
            record(&a, Endpoint::Products, 17),
            record(&b, Endpoint::Products, 17)
        );
        assert_ne!(
            record(&a, Endpoint::Products, 17),
            record(&c, Endpoint::Products, 17)
        );
    }

    #[test]
    fn product_prices_agree_with_price_rows() {
        let c = Catalogue::new(100, 1);
        for i in 0..100 {
            let product = record(&c, Endpoint::Products, i);
            let price = record(&c, Endpoint::Prices, i);
            let stock = record(&c, Endpoint::Stock, i);
            assert_eq!(product["SKU"], price["SKU"]);
            assert_eq!(product["SKU"], stock["SKU"]);
            let nested = &product["ProductPrices"][0];
            for key in ["PriceExclVAT", "MOQ", "OrderMultiple", "CurrencyCode"] {
                assert_eq!(nested[key], price[key], "{key} of product {i}");
            }
            assert_eq!(
                price["MOQ"].as_i64().unwrap() % price["OrderMultiple"].as_i64().unwrap(),
                0
            );
        }
    }

    #[test]
    fn generated_prices_have_four_decimal_places() {
        let c = Catalogue::new(10, 3);
        let mut out = Vec::new();
        c.write_record(Endpoint::Prices, &schema(Endpoint::Prices), 5, &mut out);
        let text = String::from_utf8(out).unwrap();
        let price = text.split("\"PriceExclVAT\":").nth(1).unwrap();
        let number: String = price.chars().take_while(|c| *c != ',').collect();
        assert_eq!(number.split('.').nth(1).unwrap().len(), 4, "{text}");
    }

    #[test]
    fn unknown_schema_fields_get_synthetic_values_of_their_type() {
        let mut products = schema(Endpoint::Products);
        products.fields.retain(|f| f.wire_key != "Theme");
        products
            .fields
            .push(FieldSchema::new("ecoScore", FieldType::Integer, false));
        products
            .fields
            .push(FieldSchema::new("launchDate", FieldType::Date, false));
        products.fields.push(FieldSchema::new(
            "weirdThing",
            FieldType::Other("geo".into()),
            false,
        ));
        products.arrays[0]
            .fields
            .push(FieldSchema::new("altText", FieldType::String, false));
        let c = Catalogue::new(5, 1);
        for i in [0, 3] {
            let mut out = Vec::new();
            c.write_record(Endpoint::Products, &products, i, &mut out);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert!(v.get("Theme").is_none());
            assert!(v["EcoScore"].is_i64());
            assert_eq!(v["LaunchDate"].as_str().unwrap().len(), 10);
            assert_eq!(v["WeirdThing"]["type"], "geo");
            assert!(v["ProductImages"][0]["AltText"].is_string());
        }
    }
}
