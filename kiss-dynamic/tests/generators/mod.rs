//! Random schemas and records that match them, shared by the property tests.

use kiss_schema::{wire_key, ArraySchema, FieldSchema, FieldType, SchemaDocument};
use proptest::prelude::*;

pub fn field_type() -> impl Strategy<Value = FieldType> {
    prop_oneof![
        Just(FieldType::String),
        Just(FieldType::Decimal),
        Just(FieldType::Integer),
        Just(FieldType::Boolean),
        Just(FieldType::Date),
        "[a-z]{3,6}".prop_map(|t| FieldType::parse(&format!("x-{t}"))),
    ]
}

/// Schema names whose wire keys start with A–W: unknown fields below start with Z.
pub fn fields(max: usize) -> impl Strategy<Value = Vec<FieldSchema>> {
    prop::collection::vec(
        ("[a-w][a-zA-Z0-9_]{0,7}", field_type(), any::<bool>()),
        0..max,
    )
    .prop_map(|raw| {
        let mut seen = std::collections::HashSet::new();
        raw.into_iter()
            .filter(|(name, _, _)| seen.insert(wire_key(name)))
            .map(|(name, ty, required)| FieldSchema::new(name, ty, required))
            .collect()
    })
}

pub fn schema() -> impl Strategy<Value = SchemaDocument> {
    (
        fields(8),
        prop::collection::vec(("[a-w][a-zA-Z]{0,6}s", fields(4)), 0..3),
    )
        .prop_map(|(fields, arrays)| {
            let mut taken: std::collections::HashSet<String> =
                fields.iter().map(|f| f.wire_key.clone()).collect();
            let arrays = arrays
                .into_iter()
                .filter(|(name, _)| taken.insert(wire_key(name)))
                .map(|(name, fields)| ArraySchema {
                    wire_key: wire_key(&name),
                    name,
                    fields,
                })
                .collect();
            SchemaDocument {
                endpoint: "/things".into(),
                api_version: "2030-01".into(),
                description: None,
                fields,
                arrays,
            }
        })
}

pub fn json_string() -> impl Strategy<Value = String> {
    "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap())
}

pub fn decimal_text() -> impl Strategy<Value = String> {
    "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,8})?([eE][+-]?[0-9]{1,2})?"
}

/// JSON text of a value of `ty`, in canonical compact form.
pub fn value_of(ty: &FieldType) -> BoxedStrategy<String> {
    match ty {
        FieldType::String => json_string().boxed(),
        FieldType::Decimal => decimal_text().boxed(),
        FieldType::Integer => any::<i64>().prop_map(|n| n.to_string()).boxed(),
        FieldType::Boolean => any::<bool>().prop_map(|b| b.to_string()).boxed(),
        FieldType::Date => (1i32..9999, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| format!("\"{y:04}-{m:02}-{d:02}\""))
            .boxed(),
        FieldType::Other(_) => untyped().boxed(),
    }
}

pub fn untyped() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        json_string(),
        decimal_text(),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("null".to_owned()),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("Z[a-z]{0,4}", inner), 0..4).prop_map(|v| {
                let mut seen = std::collections::HashSet::new();
                let entries: Vec<String> = v
                    .into_iter()
                    .filter(|(k, _)| seen.insert(k.clone()))
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", entries.join(","))
            }),
        ]
    })
}

/// A record of `fields`: each field absent, null or a value, then unknown fields.
pub fn object(fields: Vec<FieldSchema>, arrays: Vec<ArraySchema>) -> BoxedStrategy<String> {
    let known: Vec<BoxedStrategy<Option<String>>> = fields
        .iter()
        .map(|f| {
            let key = f.wire_key.clone();
            prop_oneof![
                1 => Just(None),
                1 => Just(Some(format!("{}:null", serde_json::to_string(&key).unwrap()))),
                4 => value_of(&f.field_type)
                    .prop_map(move |v| Some(format!("{}:{v}", serde_json::to_string(&key).unwrap()))),
            ]
            .boxed()
        })
        .collect();
    let nested: Vec<BoxedStrategy<Option<String>>> = arrays
        .iter()
        .map(|a| {
            let key = a.wire_key.clone();
            let element = object(a.fields.clone(), Vec::new());
            prop_oneof![
                1 => Just(None),
                4 => prop::collection::vec(element, 0..3).prop_map(move |elements| {
                    Some(format!("{}:[{}]", serde_json::to_string(&key).unwrap(), elements.join(",")))
                }),
            ]
            .boxed()
        })
        .collect();
    let unknown = prop::collection::vec(("Z[a-zA-Z0-9]{0,6}", untyped()), 0..3).prop_map(|v| {
        let mut seen = std::collections::HashSet::new();
        v.into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .map(|(k, v)| Some(format!("\"{k}\":{v}")))
            .collect::<Vec<_>>()
    });
    (known, nested, unknown)
        .prop_map(|(known, nested, unknown)| {
            let parts: Vec<String> = known
                .into_iter()
                .chain(nested)
                .chain(unknown)
                .flatten()
                .collect();
            format!("{{{}}}", parts.join(","))
        })
        .boxed()
}

pub fn schema_and_records() -> impl Strategy<Value = (SchemaDocument, Vec<String>)> {
    schema().prop_flat_map(|schema| {
        let record = object(schema.fields.clone(), schema.arrays.clone());
        (Just(schema), prop::collection::vec(record, 0..6))
    })
}
