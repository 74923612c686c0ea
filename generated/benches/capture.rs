//! Decoding a 50k-product catalogue into the generated structs (which keep unknown fields
//! without `#[serde(flatten)]`), against plain serde-derive structs that drop unknown fields
//! and against the same structs capturing them with `#[serde(flatten)]`. The generated structs
//! have one decoding engine with two entry points: serde (`generated_with_capture` rows) and
//! bytes (`generated_fast_path` rows: `kiss_dynamic::model::decode_all`, what the client uses).
//! Peak heap of the same decodes: the `capture_heap` benchmark.
//! Run: `cargo bench -p kiss-generated --bench capture`.

mod shapes;

use divan::counter::BytesCount;
use divan::Bencher;
use shapes::*;

fn main() {
    divan::main();
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn generated_with_capture(bencher: Bencher) {
    let body = catalogue();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| serde_json::from_slice::<Vec<kiss_generated::Product>>(body).expect("decodes"));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn plain_derive_no_capture(bencher: Bencher) {
    let body = catalogue();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| serde_json::from_slice::<Vec<plain::Product>>(body).expect("decodes"));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn flatten_capture(bencher: Bencher) {
    let body = catalogue();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| serde_json::from_slice::<Vec<flattened::Product>>(body).expect("decodes"));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn each_record_generated_with_capture(bencher: Bencher) {
    let body = catalogue();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| each_record::<kiss_generated::Product>(body));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn each_record_plain_derive_no_capture(bencher: Bencher) {
    let body = catalogue();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| each_record::<plain::Product>(body));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn each_record_flatten_capture(bencher: Bencher) {
    let body = catalogue();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| each_record::<flattened::Product>(body));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn grown_each_record_generated_with_capture(bencher: Bencher) {
    let body = grown_catalogue();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| each_record::<kiss_generated::Product>(body));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn grown_each_record_plain_derive_no_capture(bencher: Bencher) {
    let body = grown_catalogue();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| each_record::<plain::Product>(body));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn grown_each_record_flatten_capture(bencher: Bencher) {
    let body = grown_catalogue();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| each_record::<flattened::Product>(body));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn generated_fast_path(bencher: Bencher) {
    let body = catalogue();
    bencher.counter(BytesCount::new(body.len())).bench(|| {
        kiss_dynamic::model::decode_all::<kiss_generated::Product>(body).expect("decodes")
    });
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn each_record_generated_fast_path(bencher: Bencher) {
    let body = catalogue();
    bencher.counter(BytesCount::new(body.len())).bench(|| {
        kiss_dynamic::model::decode_each::<kiss_generated::Product>(body, |p| {
            divan::black_box(p);
        })
        .expect("decodes")
    });
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn grown_each_record_generated_fast_path(bencher: Bencher) {
    let body = grown_catalogue();
    bencher.counter(BytesCount::new(body.len())).bench(|| {
        kiss_dynamic::model::decode_each::<kiss_generated::Product>(body, |p| {
            divan::black_box(p);
        })
        .expect("decodes")
    });
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn streamed_in_64k_chunks_generated_fast_path(bencher: Bencher) {
    let body = catalogue();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| each_record_fast(body));
}
