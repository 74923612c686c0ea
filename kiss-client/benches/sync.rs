//! The client against an in-process sandbox on loopback:
//! - streaming ~500 MB of `/products` (typed records, each dropped as it comes): time to the
//!   first record (from building a new client, so the token exchange is included) and the
//!   process's peak RSS;
//! - a full sync (token, products, stock, prices; 50k products) against `curl` fetching the
//!   same bodies, and the number of token requests it made.
//!
//! Run: `cargo bench -p kiss-client --bench sync`.

use std::process::Command;
use std::time::Instant;

use divan::Bencher;
use futures_util::StreamExt;
use kiss_client::{Client, Quota};
use kiss_sandbox::{Sandbox, SandboxConfig, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE};

fn main() {
    divan::main();
    if let Some(peak) = peak_rss_mb() {
        println!("\nprocess peak RSS (VmHWM) over all benchmarks: {peak:.1} MB");
    }
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn sandbox(runtime: &tokio::runtime::Runtime, products: usize) -> Sandbox {
    runtime.block_on(async {
        Sandbox::start(SandboxConfig::relaxed(products))
            .await
            .expect("sandbox")
    })
}

fn client(sandbox: &Sandbox) -> Client {
    Client::builder()
        .base_url(sandbox.base_url())
        .customer_code(DEFAULT_CUSTOMER_CODE)
        .api_key(DEFAULT_API_KEY)
        .quota(Quota {
            per_minute: 100_000,
            per_hour: 100_000,
        })
        .build()
        .expect("client")
}

/// About 500 MB of products (the catalogue averages ~1.43 kB a product).
const STREAM_PRODUCTS: usize = 350_000;

#[divan::bench(sample_count = 3, sample_size = 1)]
fn stream_500_mb_of_products(bencher: Bencher) {
    let runtime = runtime();
    let sandbox = sandbox(&runtime, STREAM_PRODUCTS);
    bencher.bench_local(|| {
        runtime.block_on(async {
            // The clock starts before the client exists: the first record's time includes
            // building the client and exchanging the credentials for a token.
            let started = Instant::now();
            let client = client(&sandbox);
            let mut products = client.products_stream().await.expect("stream");
            let mut first = None;
            let mut count = 0usize;
            while let Some(product) = products.next().await {
                let product = product.expect("record");
                if first.is_none() {
                    first = Some(started.elapsed());
                }
                divan::black_box(product);
                count += 1;
            }
            assert_eq!(count, STREAM_PRODUCTS);
            eprintln!(
                "stream: first record after {:?}, {count} records in {:?}, peak RSS so far {:.1} MB",
                first.unwrap_or_default(),
                started.elapsed(),
                peak_rss_mb().unwrap_or(0.0)
            );
        })
    });
}

const SYNC_PRODUCTS: usize = 50_000;

#[divan::bench(sample_count = 5, sample_size = 1)]
fn full_sync_with_the_client(bencher: Bencher) {
    let runtime = runtime();
    let sandbox = sandbox(&runtime, SYNC_PRODUCTS);
    bencher.bench_local(|| {
        runtime.block_on(async {
            let client = client(&sandbox);
            let before = sandbox.control().request_count("/auth/token");
            let products = client.products().await.expect("products");
            let stock = client.stock().await.expect("stock");
            let prices = client.prices().await.expect("prices");
            assert_eq!(sandbox.control().request_count("/auth/token") - before, 1);
            (products.len(), stock.len(), prices.len())
        })
    });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn full_sync_with_curl(bencher: Bencher) {
    let runtime = runtime();
    let sandbox = sandbox(&runtime, SYNC_PRODUCTS);
    let base = sandbox.base_url();
    let dir = std::env::temp_dir().join(format!("kiss-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    bencher.bench_local(|| {
        let token = Command::new("curl")
            .args([
                "-s",
                "--noproxy",
                "*",
                "-X",
                "POST",
                &format!("{base}/auth/token"),
            ])
            .args([
                "-d",
                "grant_type=client_credentials",
                "-d",
                &format!("client_id={DEFAULT_CUSTOMER_CODE}"),
            ])
            .args(["-d", &format!("client_secret={DEFAULT_API_KEY}")])
            .output()
            .expect("curl is installed");
        let token: serde_json::Value = serde_json::from_slice(&token.stdout).expect("token json");
        let auth = format!(
            "Authorization: Bearer {}",
            token["access_token"].as_str().expect("token")
        );
        let mut curl = Command::new("curl");
        curl.args(["-s", "--noproxy", "*", "-H", &auth]);
        for path in ["products", "stock", "prices"] {
            curl.arg(format!("{base}/{path}"))
                .arg("-o")
                .arg(dir.join(path));
        }
        assert!(curl.status().expect("curl").success());
    });
    let _ = std::fs::remove_dir_all(dir);
}
