//! kiss-dynamic against real sandbox bodies: every endpoint decodes by its live schema and
//! encodes back to the very same bytes, including when the surface grows.

use kiss_dynamic::{Decoder, IssueKind, SchemaDocument};
use kiss_schema::{FieldSchema, FieldType};
use kiss_tests::{relaxed_sandbox as sandbox, served};

fn encode(records: &[kiss_dynamic::Record]) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        record.write_json(&mut out);
    }
    out.push(b']');
    out
}

#[tokio::test]
async fn every_endpoint_decodes_by_its_live_schema_and_round_trips_byte_for_byte() {
    let sandbox = sandbox(500).await;
    let schemas = [
        (
            "/products",
            SchemaDocument::from_slice(&served(&sandbox, "/products/schema").await).unwrap(),
        ),
        (
            "/stock",
            SchemaDocument::from_slice(&served(&sandbox, "/stock/schema").await).unwrap(),
        ),
        ("/prices", kiss_schema::Endpoint::Prices.default_schema()),
    ];
    for (path, schema) in schemas {
        let body = served(&sandbox, path).await;
        let decoder = Decoder::new(&schema);
        let records = decoder.decode_array(&body).unwrap();
        assert_eq!(records.len(), 500, "{path}");
        for record in &records {
            assert!(record.issues().is_empty(), "{path}: {:?}", record.issues());
            assert!(record.unknown_fields().next().is_none());
        }
        assert_eq!(encode(&records), body, "{path}: lossless");
        // The streaming decoder agrees, whatever the chunk size.
        for chunk_size in [1usize, 7, 4096] {
            let mut stream = decoder.stream();
            let mut streamed = Vec::new();
            for chunk in body.chunks(chunk_size) {
                streamed.extend(stream.feed(chunk).map(Result::unwrap));
            }
            stream.finish().unwrap();
            assert_eq!(streamed, records, "{path} in chunks of {chunk_size}");
        }
    }
    // Exact decimals survive: the documented price keeps its four places.
    let prices = served(&sandbox, "/prices").await;
    let records = Decoder::new(&kiss_schema::Endpoint::Prices.default_schema())
        .decode_array(&prices)
        .unwrap();
    assert_eq!(
        records[0]
            .get_decimal("PriceExclVAT")
            .unwrap()
            .unwrap()
            .to_string(),
        "19.9500"
    );
}

#[tokio::test]
async fn fields_added_without_a_profile_bump_are_kept_and_reported() {
    let sandbox = sandbox(50).await;
    let old_schema =
        SchemaDocument::from_slice(&served(&sandbox, "/products/schema").await).unwrap();
    let control = sandbox.control();
    let products = kiss_sandbox::Endpoint::Products;
    control
        .add_field(
            products,
            None,
            FieldSchema::new("eCOScore", FieldType::Decimal, false),
        )
        .unwrap();
    control
        .add_field(
            products,
            Some("productImages"),
            FieldSchema::new("altText", FieldType::String, false),
        )
        .unwrap();
    control
        .add_field(
            products,
            Some("productVideos"),
            FieldSchema::new("uRL", FieldType::String, false),
        )
        .unwrap();

    let body = served(&sandbox, "/products").await;
    let records = Decoder::new(&old_schema).decode_array(&body).unwrap();
    for record in &records {
        let unknown: Vec<&str> = record.unknown_fields().map(|(k, _)| k).collect();
        assert_eq!(unknown, ["ECOScore", "ProductVideos"]);
        assert!(record
            .issues()
            .iter()
            .any(|i| i.path.ends_with("].AltText") && i.kind == IssueKind::UnknownField));
    }
    // Still lossless: a forward-compatible client passes the new data on untouched. Re-encoded
    // records decode, by the live schema, to exactly what was served: every string, every
    // digit of every decimal (`1.50` stays `1.50`). Only the order of keys may differ, since
    // unknown fields are written after the schema's.
    let live = SchemaDocument::from_slice(&served(&sandbox, "/products/schema").await).unwrap();
    let live_decoder = Decoder::new(&live);
    let typed = live_decoder.decode_array(&body).unwrap();
    assert!(
        live_decoder.decode_array(&encode(&records)).unwrap() == typed,
        "re-encoded records differ from the served ones"
    );
    // With the live schema the new fields are typed and nothing is unknown.
    assert!(typed.iter().all(|r| r.issues().is_empty()));
    assert!(typed[3].get_decimal("ECOScore").unwrap().is_some());
}
