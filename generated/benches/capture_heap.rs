//! Peak heap of decoding the whole 50k-product catalogue (71.5 MB) into a `Vec` of each shape
//! of `capture`, measured by a counting allocator, one decode per shape, the result kept until
//! measured. (A separate binary, so the timed `capture` runs without the counting allocator.)
//! Run: `cargo bench -p kiss-generated --bench capture_heap`.

mod shapes;

use shapes::*;

#[global_allocator]
static ALLOC: kiss_tests::PeakAlloc = kiss_tests::PeakAlloc;

/// Peak heap above what was live before `decode` ran, in MB, with the result still alive.
fn peak_mb<T>(decode: impl FnOnce() -> T) -> f64 {
    let baseline = kiss_tests::live_bytes();
    kiss_tests::reset_peak();
    let kept = decode();
    let peak = kiss_tests::peak_bytes().saturating_sub(baseline);
    drop(kept);
    peak as f64 / 1e6
}

fn main() {
    let body = catalogue();
    println!(
        "capture_heap: catalogue of {PRODUCTS} products, {:.1} MB",
        body.len() as f64 / 1e6
    );
    let rows: [(&str, f64); 4] = [
        (
            "generated, from bytes (decode_all)",
            peak_mb(|| kiss_dynamic::model::decode_all::<kiss_generated::Product>(body)),
        ),
        (
            "generated, through serde",
            peak_mb(|| serde_json::from_slice::<Vec<kiss_generated::Product>>(body)),
        ),
        (
            "plain derive (no capture)",
            peak_mb(|| serde_json::from_slice::<Vec<plain::Product>>(body)),
        ),
        (
            "flatten (capture)",
            peak_mb(|| serde_json::from_slice::<Vec<flattened::Product>>(body)),
        ),
    ];
    for (shape, mb) in rows {
        println!("  {shape:<40} peak heap {mb:>7.1} MB");
    }
}
