//! The edge-case schema's generated module, compiled as part of this test and used: odd names
//! must give code that builds and decodes its data.

#[allow(dead_code)]
#[rustfmt::skip]
#[path = "edge/odd_things.rs"]
mod odd_things;

use odd_things::OddThing;

#[test]
fn odd_names_decode_to_their_fields_and_round_trip() {
    let text = r#"{"SKU":"A","Type":"t","Self":3,"Crate":true,"3dModel":"m","Größe":"1.50","Price-€":2.50,"Say \"hi\"":"h","ImageID":"I1","ImageId":"I2","UnknownFields":"u","Geo":{"lat":1.0},"X":"2026-01-02","EmptyArray":[],"Strings":[{"Value":"v"}],"OddThings":[{"Map":"m","Key":1}],"Extra":1.250}"#;
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
    assert_eq!(thing.unknown_fields.get_raw("Extra"), Some("1.250"));
    assert_eq!(
        thing.unknown_fields.get("Extra"),
        Some(kiss_dynamic::Value::Decimal("1.250".parse().unwrap()))
    );
    // The fast path reads the same struct, and refuses the same wrong type.
    let fast: OddThing = kiss_dynamic::fast::decode_one(text.as_bytes()).unwrap();
    assert!(fast == thing);
    let wrong = text.replace(r#""Größe":1.50"#, r#""Größe":"1.50""#);
    assert!(kiss_dynamic::fast::decode_one::<OddThing>(wrong.as_bytes()).is_err());
    let back = serde_json::to_string(&thing).unwrap();
    assert_eq!(back, text);
}
