//! Any bytes given to the pass-through (`RawStream`) in chunks: never a panic; it accepts
//! exactly what the decoder's stream accepts, each record's text is the input's slice, and
//! its issues are the decoder's.
#![no_main]

use kiss_dynamic::{Decoder, RawStream, SchemaDocument};
use libfuzzer_sys::fuzz_target;

const PRODUCTS_SCHEMA: &str = kiss_schema::contract::PRODUCTS_SCHEMA;

fuzz_target!(|data: &[u8]| {
    let schema = SchemaDocument::from_json(PRODUCTS_SCHEMA).expect("the built-in schema parses");
    let decoder = Decoder::new(&schema);
    // The first byte picks a chunk size, for both streams.
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut decoded = Vec::new();
    let mut stream = decoder.stream();
    let mut decoder_failed = false;
    for piece in data.chunks(chunk) {
        for record in stream.feed(piece) {
            match record {
                Ok(record) => decoded.push(record),
                Err(_) => decoder_failed = true,
            }
        }
    }
    let decoder_ok = !decoder_failed && stream.finish().is_ok();
    let mut raw = RawStream::new(&schema);
    let mut seen = Vec::new();
    let mut raw_ok = true;
    for piece in data.chunks(chunk) {
        let fed = raw.feed(piece, |record| {
            seen.push((record.json().to_owned(), record.issues().to_vec()));
            Ok::<(), ()>(())
        });
        if fed.is_err() {
            raw_ok = false;
            break;
        }
    }
    let raw_ok = raw_ok && raw.finish().is_ok();
    assert_eq!(raw_ok, decoder_ok, "the two streams disagree on whether the body is valid");
    if raw_ok {
        assert_eq!(seen.len(), decoded.len());
        for ((text, issues), record) in seen.iter().zip(&decoded) {
            assert_eq!(issues.as_slice(), record.issues());
            let again = decoder.decode_record(text.as_bytes()).expect("the text decodes");
            assert_eq!(&again, record);
        }
    }
});
