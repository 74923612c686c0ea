//! Deep, mixed nesting in every place a record can hold it (unknown fields, known nested
//! arrays, untyped values, generated structs): an error or a value, never a stack overflow,
//! however the bytes choose the shape. Each input byte picks the next level: an object, an
//! array, an array of records, or a string with escapes; the depth reaches tens of thousands.
#![no_main]

use kiss_dynamic::{Decoder, SchemaDocument, Value};
use libfuzzer_sys::fuzz_target;

const PRODUCTS_SCHEMA: &str = kiss_schema::contract::PRODUCTS_SCHEMA;

/// Builds nested JSON from the input: 16 levels per byte at most, every level closed.
fn nest(data: &[u8]) -> String {
    let (mut open, mut close) = (String::new(), Vec::new());
    for byte in data.iter().take(4096) {
        for _ in 0..(1 + usize::from(byte >> 4)) {
            match byte & 0b11 {
                0 => {
                    open.push_str(r#"{"a":"#);
                    close.push("}");
                }
                1 => {
                    open.push('[');
                    close.push("]");
                }
                2 => {
                    open.push_str(r#"[{"k":"#);
                    close.push("}]");
                }
                _ => {
                    open.push_str(r#"{"s\"":"\u00e9","n":"#);
                    close.push("}");
                }
            }
        }
    }
    open.push('1');
    while let Some(c) = close.pop() {
        open.push_str(c);
    }
    open
}

fuzz_target!(|data: &[u8]| {
    let value = nest(data);
    let schema = SchemaDocument::from_json(PRODUCTS_SCHEMA).expect("the built-in schema parses");
    let decoder = Decoder::new(&schema);
    for record in [
        format!(r#"{{"SKU":"A","Zzz":{value}}}"#),
        format!(r#"{{"SKU":"A","ProductImages":[{{"ImageID":{value}}}]}}"#),
        format!(r#"{{"SKU":"A","ProductImages":{value}}}"#),
    ] {
        let _ = decoder.decode_record(record.as_bytes());
        let array = format!("[{record}]");
        let mut stream = decoder.stream();
        for result in stream.feed(array.as_bytes()) {
            let _ = result;
        }
        let _ = kiss_dynamic::model::decode_one::<kiss_generated::Product>(record.as_bytes());
        let _ = serde_json::from_str::<kiss_generated::Product>(&record);
    }
    let _ = Value::from_json(&value);
});
