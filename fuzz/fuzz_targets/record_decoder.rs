//! Any bytes given to the record decoder, whole or in chunks: never a panic; whatever decodes
//! encodes to JSON that decodes to the same records; chunking changes nothing.
#![no_main]

use kiss_dynamic::{Decoder, SchemaDocument};
use libfuzzer_sys::fuzz_target;

const PRODUCTS_SCHEMA: &str = kiss_schema::contract::PRODUCTS_SCHEMA;

fuzz_target!(|data: &[u8]| {
    let schema = SchemaDocument::from_json(PRODUCTS_SCHEMA).expect("the built-in schema parses");
    let decoder = Decoder::new(&schema);
    let whole = decoder.decode_array(data);
    if let Ok(records) = &whole {
        for record in records {
            let text = record.to_json();
            let again = decoder.decode_record(text.as_bytes()).expect("encoded records decode");
            assert_eq!(&again, record);
        }
    }
    let _ = decoder.decode_record(data);
    // The first byte picks a chunk size; the stream must agree with the whole decode.
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut stream = decoder.stream();
    let mut streamed = Vec::new();
    let mut failed = false;
    for piece in data.chunks(chunk) {
        for record in stream.feed(piece) {
            match record {
                Ok(record) => streamed.push(record),
                Err(_) => failed = true,
            }
        }
    }
    let finished = stream.finish().is_ok() && !failed;
    if let Ok(records) = whole {
        assert!(finished, "the stream refuses what the whole decode accepts");
        assert_eq!(streamed, records);
    }
});
