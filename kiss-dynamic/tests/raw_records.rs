//! Property tests of the pass-through ([`RawStream`]): for random schemas and records, cut
//! into random chunks and spaced with random whitespace, each record handed out is the input's
//! text byte for byte, its compact form is the input without the whitespace between tokens,
//! its issues are exactly the decoder's, and its CSV cells are the decoded record's.

mod generators;

use generators::{field_type, schema, schema_and_records};
use kiss_dynamic::{Decoder, RawStream, SchemaDocument, StreamError, TableLayout};
use proptest::prelude::*;

/// `text` (compact JSON) with whitespace after `{[,:` and before `}]` outside strings, as
/// `spaces` says (0: none).
fn spaced(text: &str, spaces: &[u8]) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let (mut in_string, mut escaped, mut n) = (false, false, 0usize);
    let mut space = |out: &mut String| {
        let pick = spaces.get(n % spaces.len().max(1)).copied().unwrap_or(0);
        n += 1;
        out.push_str(["", " ", "\n  ", "\t\r\n"][usize::from(pick % 4)]);
    };
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if matches!(c, '}' | ']') {
            space(&mut out);
        }
        out.push(c);
        match c {
            '"' => in_string = true,
            '{' | '[' | ',' | ':' => space(&mut out),
            _ => {}
        }
    }
    out
}

/// The same schema with other types and required flags, so that records made for `schema`
/// mismatch it field by field.
fn retyped(mut schema: SchemaDocument, types: &[(kiss_schema::FieldType, bool)]) -> SchemaDocument {
    let mut next = types.iter().cycle();
    let fields = schema
        .fields
        .iter_mut()
        .chain(schema.arrays.iter_mut().flat_map(|a| a.fields.iter_mut()));
    for field in fields {
        if let Some((ty, required)) = next.next() {
            field.field_type = ty.clone();
            field.required = *required;
        }
    }
    schema
}

/// Two records' members in one object: every key both have is repeated.
fn merged(a: &str, b: &str) -> String {
    match (a.len() > 2, b.len() > 2) {
        (true, true) => format!("{},{}", &a[..a.len() - 1], &b[1..]),
        (true, false) => a.to_owned(),
        _ => b.to_owned(),
    }
}

/// The same JSON value, or for non-JSON text the same text.
fn same_cell(raw: &str, decoded: &str) -> bool {
    if raw == decoded {
        return true;
    }
    match (
        serde_json::from_str::<serde_json::Value>(raw),
        serde_json::from_str::<serde_json::Value>(decoded),
    ) {
        (Ok(a), Ok(b)) => a == b && (raw.starts_with(['[', '{']) || raw.starts_with('"')),
        _ => false,
    }
}

struct Seen {
    json: String,
    compact: String,
    issues: Vec<kiss_dynamic::Issue>,
    cells: Vec<String>,
}

fn pass_through(
    schema: &SchemaDocument,
    bytes: &[u8],
    cuts: &[prop::sample::Index],
) -> Result<Vec<Seen>, StreamError> {
    let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    offsets.push(0);
    offsets.push(bytes.len());
    offsets.sort_unstable();
    let mut stream = RawStream::new(schema);
    let layout = TableLayout::new(stream.record_schema().clone());
    let mut seen = Vec::new();
    let mut scratch = Vec::new();
    for pair in offsets.windows(2) {
        stream
            .feed(&bytes[pair[0]..pair[1]], |record| {
                let mut compact = Vec::new();
                record.write_compact(&mut compact);
                let mut cells = Vec::new();
                layout.raw_cells(&record, &mut scratch, |cell| {
                    cells.push(String::from_utf8(cell.to_vec()).unwrap());
                    Ok::<(), StreamError>(())
                })?;
                seen.push(Seen {
                    json: record.json().to_owned(),
                    compact: String::from_utf8(compact).unwrap(),
                    issues: record.issues().to_vec(),
                    cells,
                });
                Ok(())
            })
            .map_err(|e| match e {
                kiss_dynamic::FeedError::Stream(e) | kiss_dynamic::FeedError::Stopped(e) => e,
            })?;
    }
    stream.finish()?;
    Ok(seen)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn raw_records_are_the_input_with_the_decoders_issues_and_cells(
        (own, records) in schema_and_records(),
        other in schema(),
        types in prop::collection::vec((field_type(), any::<bool>()), 1..8),
        against in 0u8..3,
        merge in any::<bool>(),
        spaces in prop::collection::vec(0u8..4, 0..32),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let records: Vec<String> = if merge {
            records.chunks(2).map(|pair| merged(&pair[0], pair.get(1).map_or("{}", |s| s))).collect()
        } else {
            records
        };
        let schema = match against {
            0 => own,
            1 => retyped(own, &types),
            _ => other,
        };
        let spaced_records: Vec<String> = records.iter().map(|r| spaced(r, &spaces)).collect();
        let text = format!("[{}]", spaced(&spaced_records.join(","), &[]));
        let decoded = Decoder::new(&schema).decode_array(text.as_bytes()).unwrap();
        let seen = pass_through(&schema, text.as_bytes(), &cuts).unwrap();
        prop_assert_eq!(seen.len(), records.len());
        let layout = TableLayout::new(Decoder::new(&schema).record_schema().clone());
        for (i, seen) in seen.iter().enumerate() {
            prop_assert_eq!(&seen.json, &spaced_records[i], "the exact text");
            prop_assert_eq!(&seen.compact, &records[i], "compact: the input without whitespace");
            prop_assert_eq!(&seen.issues, &decoded[i].issues().to_vec());
            let row = layout.row(&decoded[i]);
            prop_assert_eq!(seen.cells.len(), row.len());
            for (raw, cell) in seen.cells.iter().zip(&row) {
                prop_assert!(same_cell(raw, cell), "raw cell {:?} against decoded {:?}", raw, cell);
            }
        }
    }

    #[test]
    fn a_cut_short_or_broken_array_is_an_error_as_for_the_decoder(
        (schema, records) in schema_and_records(),
        cut in any::<prop::sample::Index>(),
        garbage in prop::sample::select(vec!["", "x", "}", "{", "\"", "[", "1"]),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let text = format!("[{}]", records.join(","));
        let cut = cut.index(text.len());
        let mut broken = text.as_bytes()[..cut].to_vec();
        broken.extend_from_slice(garbage.as_bytes());
        let decoded = {
            let mut stream = Decoder::new(&schema).stream();
            let ok = stream.feed(&broken).all(|r| r.is_ok());
            ok && stream.finish().is_ok()
        };
        let raw = pass_through(&schema, &broken, &cuts);
        prop_assert_eq!(raw.is_ok(), decoded);
        prop_assert!(raw.is_err(), "cut at {} of {}", cut, text.len());
    }
}

#[test]
fn records_cut_inside_a_utf8_character_or_with_bad_bytes() {
    let schema = SchemaDocument::from_json(kiss_schema::contract::STOCK_SCHEMA).unwrap();
    let text = "[{\"SKU\":\"Ä€\"},{\"SKU\":\"B\"}]".as_bytes();
    for cut in 0..=text.len() {
        let mut stream = RawStream::new(&schema);
        let mut skus = Vec::new();
        for piece in [&text[..cut], &text[cut..]] {
            stream
                .feed(piece, |r| {
                    skus.push(r.value("SKU").unwrap().as_str().unwrap().into_owned());
                    Ok::<(), ()>(())
                })
                .unwrap();
        }
        stream.finish().unwrap();
        assert_eq!(skus, ["Ä€", "B"], "cut at {cut}");
    }
    let mut bad = text.to_vec();
    bad[10] = 0xff;
    let err = RawStream::new(&schema)
        .feed(&bad, |_| Ok::<(), ()>(()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            kiss_dynamic::FeedError::Stream(StreamError::Record { index: 0, .. })
        ),
        "{err:?}"
    );
}

#[test]
fn a_record_longer_than_the_limit_is_refused_in_place_or_carried() {
    let schema = SchemaDocument::from_json(kiss_schema::contract::STOCK_SCHEMA).unwrap();
    let record = format!("{{\"SKU\":\"{}\"}}", "x".repeat(100));
    let text = format!("[{record},{record}]");
    for cut in [1, 50, text.len()] {
        let mut stream = RawStream::new(&schema).with_max_record_bytes(64);
        let first = stream.feed(&text.as_bytes()[..cut], |_| Ok::<(), ()>(()));
        let second = stream.feed(&text.as_bytes()[cut..], |_| Ok::<(), ()>(()));
        let refused = [first, second].into_iter().any(|r| {
            matches!(
                r,
                Err(kiss_dynamic::FeedError::Stream(
                    StreamError::RecordTooLarge { limit: 64, .. }
                ))
            )
        });
        assert!(refused, "cut at {cut}");
    }
}

#[test]
fn the_callback_can_stop_the_stream() {
    let schema = SchemaDocument::from_json(kiss_schema::contract::STOCK_SCHEMA).unwrap();
    let mut stream = RawStream::new(&schema);
    let mut calls = 0;
    let result = stream.feed(br#"[{"SKU":"A"},{"SKU":"B"}]"#, |_| {
        calls += 1;
        Err("disk full")
    });
    assert!(matches!(
        result,
        Err(kiss_dynamic::FeedError::Stopped("disk full"))
    ));
    assert_eq!(calls, 1);
    assert!(stream.finish().is_err(), "a stopped stream is not complete");
}
