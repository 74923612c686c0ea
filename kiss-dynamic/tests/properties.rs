//! Property tests over random schemas and records: lossless round trips and any chunking.

mod generators;

use generators::schema_and_records;
use kiss_dynamic::{Decoder, IssueKind};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn decoding_then_encoding_gives_back_the_same_text((schema, records) in schema_and_records()) {
        let decoder = Decoder::new(&schema);
        for text in &records {
            let record = decoder.decode_record(text.as_bytes()).unwrap();
            prop_assert_eq!(&record.to_json(), text);
            // Serde's path (for other serializers' sake) agrees with the direct writer.
            prop_assert_eq!(&serde_json::to_string(&record).unwrap(), text);
            let mismatches = record
                .issues()
                .iter()
                .filter(|i| matches!(i.kind, IssueKind::TypeMismatch { .. }))
                .count();
            prop_assert_eq!(mismatches, 0, "{:?}", record.issues());
            // The schema's own spelling decodes to the same values.
            let again = decoder.decode_record(record.to_json().as_bytes()).unwrap();
            prop_assert_eq!(again, record);
        }
    }

    #[test]
    fn any_chunking_of_an_array_gives_the_same_records(
        (schema, records) in schema_and_records(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let text = format!("[{}]", records.join(","));
        let decoder = Decoder::new(&schema);
        let whole = decoder.decode_array(text.as_bytes()).unwrap();
        let bytes = text.as_bytes();
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        offsets.push(0);
        offsets.push(bytes.len());
        offsets.sort_unstable();
        let mut stream = decoder.stream();
        let mut streamed = Vec::new();
        for pair in offsets.windows(2) {
            for record in stream.feed(&bytes[pair[0]..pair[1]]) {
                streamed.push(record.unwrap());
            }
        }
        stream.finish().unwrap();
        prop_assert_eq!(&streamed, &whole);
        // The serde entry point decodes the same records.
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let seeded = serde::de::DeserializeSeed::deserialize(decoder.array_seed(), &mut deserializer).unwrap();
        prop_assert_eq!(seeded, whole);
    }

    #[test]
    fn a_cut_short_array_is_an_error_never_a_shorter_list(
        (schema, records) in schema_and_records(),
        cut in any::<prop::sample::Index>(),
    ) {
        let text = format!("[{}]", records.join(","));
        let bytes = text.as_bytes();
        let cut = cut.index(bytes.len());
        let mut stream = Decoder::new(&schema).stream();
        let decoded = stream.feed(&bytes[..cut]).filter(Result::is_ok).count();
        prop_assert!(stream.finish().is_err(), "cut at {} of {}", cut, bytes.len());
        prop_assert!(decoded <= records.len());
    }
}
