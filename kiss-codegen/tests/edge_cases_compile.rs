//! The edge-case schema's generated module, compiled as part of this test and used: odd names
//! must give code that builds and decodes its data. Its nested arrays are named so that their
//! element structs are called `String`, `Option`, `Result`, `Vec`, `Box`, `Default`, `Some`,
//! `Reader`, `CompactString`, `Decimal`, `NaiveDate`, `RawJson`, `Key`, `Model`, `FieldSource`,
//! `Deserializer`, `Serialize`, `S` and `D`, and its fields `source`, `key`, `next`, `index`:
//! every name the generated code could otherwise trip over.

#[allow(dead_code)]
#[rustfmt::skip]
#[path = "edge/odd_things.rs"]
mod odd_things;

use odd_things::OddThing;

#[test]
fn odd_names_decode_to_their_fields_and_round_trip() {
    let text = r#"{"SKU":"A","Type":"t","Self":3,"Crate":true,"3dModel":"m","Größe":"1.50","Price-€":2.50,"Say \"hi\"":"h","ImageID":"I1","ImageId":"I2","UnknownFields":"u","Geo":{"lat":1.0},"X":"2026-01-02","Option":"o","Result":7,"Source":"s","Key":"k","Next":8,"Index":9,"Deserializer":"d","Slot_sku":"z","EmptyArray":[],"Strings":[{"Value":"v"}],"OddThings":[{"Map":"m","Key":1}],"Readers":[{"Value":1.10}],"CompactStrings":null,"Options":[{"Value":true}],"Results":[{"Value":-1}],"Decimals":[{"Value":0.000}],"NaiveDates":[{"Value":"2026-02-28"}],"RawJsons":[{"Value":[1,{"a":null}]}],"Keys":[],"Boxes":[{"Value":"b"}],"Vecs":[{"Value":"v"}],"Defaults":[{"Value":"d"}],"Somes":[{"Value":"s"}],"Models":[{"Value":"m"}],"FieldSources":[{"Value":"f"}],"Deserializers":[{"Value":"d"}],"Serialize":[{"Value":"s"}],"S":[{"Value":"s"}],"D":[{"Value":"d"}],"Extra":1.250}"#;
    let thing: Result<OddThing, _> = serde_json::from_str(text);
    // "Größe" is declared decimal but holds a string: typed structs refuse it.
    assert!(thing.is_err());
    let text = text.replace(r#""Größe":"1.50""#, r#""Größe":1.50"#);
    let thing: OddThing = serde_json::from_str(&text).unwrap();
    assert_eq!(thing.type_.as_deref(), Some("t"));
    assert_eq!(thing.self_, Some(3));
    assert_eq!(thing.crate_, Some(true));
    assert_eq!(thing.f_3d_model.as_deref(), Some("m"));
    assert_eq!(thing.größe.as_ref().unwrap().to_string(), "1.50");
    assert_eq!(thing.price.as_ref().unwrap().to_string(), "2.50");
    assert_eq!(thing.say_hi.as_deref(), Some("h"));
    assert_eq!(thing.image_id.as_deref(), Some("I1"));
    assert_eq!(thing.image_id_2.as_deref(), Some("I2"));
    assert_eq!(thing.unknown_fields_2.as_deref(), Some("u"));
    assert_eq!(thing.geo.as_ref().unwrap().get(), r#"{"lat":1.0}"#);
    assert_eq!(thing.x.to_string(), "2026-01-02");
    assert_eq!(thing.strings[0].value.as_deref(), Some("v"));
    assert_eq!(thing.odd_things[0].key, Some(1));
    assert_eq!(thing.option.as_deref(), Some("o"));
    assert_eq!(
        (thing.result, thing.next, thing.index),
        (Some(7), Some(8), Some(9))
    );
    assert_eq!(thing.source.as_deref(), Some("s"));
    assert_eq!(thing.key.as_deref(), Some("k"));
    assert_eq!(thing.slot_sku.as_deref(), Some("z"));
    assert_eq!(thing.readers[0].value.as_ref().unwrap().to_string(), "1.10");
    assert_eq!(thing.decimals[0].value.to_string(), "0.000");
    assert_eq!(
        thing.naive_dates[0].value.unwrap().to_string(),
        "2026-02-28"
    );
    assert_eq!(
        thing.raw_jsons[0].value.as_ref().unwrap().get(),
        r#"[1,{"a":null}]"#
    );
    assert!(thing.compact_strings.is_empty() && thing.keys.is_empty());
    assert_eq!(thing.s[0].value.as_deref(), Some("s"));
    assert_eq!(thing.d[0].value.as_deref(), Some("d"));
    assert_eq!(thing.unknown_fields.get_raw("Extra"), Some("1.250"));
    assert_eq!(
        thing.unknown_fields.get("Extra"),
        Some(kiss_dynamic::Value::Decimal("1.250".parse().unwrap()))
    );
    // Read from bytes, the same struct comes out, and the same wrong type is refused.
    let from_bytes: OddThing = kiss_dynamic::model::decode_one(text.as_bytes()).unwrap();
    assert!(from_bytes == thing);
    let wrong = text.replace(r#""Größe":1.50"#, r#""Größe":"1.50""#);
    assert!(kiss_dynamic::model::decode_one::<OddThing>(wrong.as_bytes()).is_err());
    // Written back, every value is the input's (a null array is written as `[]`).
    let back = serde_json::to_string(&thing).unwrap();
    assert_eq!(
        back,
        text.replace(r#""CompactStrings":null"#, r#""CompactStrings":[]"#)
    );
}
