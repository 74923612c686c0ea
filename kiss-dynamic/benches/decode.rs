//! Schema-typed decoding of a 50k-product catalogue against `serde_json::Value`: throughput and
//! peak heap; and the streaming decoder's peak heap. The catalogue comes from an in-process
//! sandbox on loopback. Run: `cargo bench -p kiss-dynamic --bench decode`.

use std::sync::OnceLock;

use divan::counter::BytesCount;
use divan::Bencher;
use kiss_dynamic::{Decoder, SchemaDocument};

#[global_allocator]
static ALLOC: kiss_tests::PeakAlloc = kiss_tests::PeakAlloc;

const PRODUCTS: usize = 50_000;

struct Catalogue {
    body: Vec<u8>,
    schema: SchemaDocument,
}

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        runtime.block_on(async {
            let sandbox = kiss_tests::relaxed_sandbox(PRODUCTS).await;
            let get = |path: &'static str| kiss_tests::served(&sandbox, path);
            let schema =
                SchemaDocument::from_slice(&get("/products/schema").await).expect("schema");
            let body = get("/products").await;
            sandbox.shutdown().await;
            Catalogue { body, schema }
        })
    })
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn typed_decode(bencher: Bencher) {
    let catalogue = catalogue();
    let decoder = Decoder::new(&catalogue.schema);
    bencher
        .counter(BytesCount::new(catalogue.body.len()))
        .bench(|| decoder.decode_array(&catalogue.body).expect("decodes"));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn serde_json_value(bencher: Bencher) {
    let catalogue = catalogue();
    bencher
        .counter(BytesCount::new(catalogue.body.len()))
        .bench(|| serde_json::from_slice::<serde_json::Value>(&catalogue.body).expect("parses"));
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn streaming_decode_64k_chunks(bencher: Bencher) {
    let catalogue = catalogue();
    let decoder = Decoder::new(&catalogue.schema);
    bencher
        .counter(BytesCount::new(catalogue.body.len()))
        .bench(|| stream_all(&decoder, &catalogue.body));
}

/// The pass-through: every record checked against the schema and compacted into one buffer
/// (what `kiss export --format ndjson` does before writing).
#[divan::bench(sample_count = 20, sample_size = 1)]
fn raw_pass_through_64k_chunks(bencher: Bencher) {
    let catalogue = catalogue();
    let mut out = Vec::with_capacity(catalogue.body.len());
    bencher
        .counter(BytesCount::new(catalogue.body.len()))
        .bench_local(|| {
            out.clear();
            let mut stream = kiss_dynamic::RawStream::new(&catalogue.schema);
            for chunk in catalogue.body.chunks(64 * 1024) {
                stream
                    .feed(chunk, |record| {
                        record.write_compact(&mut out);
                        out.push(b'\n');
                        Ok::<(), ()>(())
                    })
                    .expect("checks");
            }
            stream.finish().expect("complete");
            out.len()
        });
}

fn stream_all(decoder: &Decoder, body: &[u8]) -> u64 {
    let mut stream = decoder.stream();
    let mut count = 0;
    for chunk in body.chunks(64 * 1024) {
        for record in stream.feed(chunk) {
            divan::black_box(record.expect("decodes"));
            count += 1;
        }
    }
    stream.finish().expect("complete");
    count
}

/// Peak heap above the baseline while `work` runs and its result is alive.
fn peak_of<T>(work: impl FnOnce() -> T) -> usize {
    let baseline = kiss_tests::live_bytes();
    kiss_tests::reset_peak();
    let kept = work();
    let peak = kiss_tests::peak_bytes();
    drop(kept);
    peak - baseline
}

fn main() {
    divan::main();
    let catalogue = catalogue();
    let decoder = Decoder::new(&catalogue.schema);
    let typed = peak_of(|| decoder.decode_array(&catalogue.body).expect("decodes"));
    let value =
        peak_of(|| serde_json::from_slice::<serde_json::Value>(&catalogue.body).expect("parses"));
    let streaming = peak_of(|| stream_all(&decoder, &catalogue.body));
    let mb = |bytes: usize| bytes as f64 / 1e6;
    println!(
        "\npeak heap decoding {} products ({:.1} MB of JSON), results kept:\n  \
         typed decode      {:>8.1} MB\n  serde_json::Value {:>8.1} MB  (typed/Value = {:.2})\n  \
         streaming (64 KiB chunks, records dropped as they come) {:.3} MB",
        PRODUCTS,
        mb(catalogue.body.len()),
        mb(typed),
        mb(value),
        typed as f64 / value as f64,
        mb(streaming),
    );
}
