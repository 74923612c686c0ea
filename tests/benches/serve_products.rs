//! How fast the sandbox serves `/products` with 50k products, and how much heap it holds
//! while doing it.
//!
//! The client is a bare TCP reader whose one buffer is allocated before the heap window opens,
//! so the heap figures are the sandbox's (plus the client's socket, a few hundred bytes).
//! Run: `cargo bench -p kiss-tests --bench serve_products`.

use std::sync::atomic::{AtomicUsize, Ordering};

use divan::counter::BytesCount;
use divan::Bencher;
use kiss_sandbox::{Sandbox, SandboxConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[global_allocator]
static ALLOC: kiss_tests::PeakAlloc = kiss_tests::PeakAlloc;

const PRODUCTS: usize = 50_000;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    sandbox: Sandbox,
    token: String,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let sandbox = runtime.block_on(async {
        Sandbox::start(SandboxConfig::relaxed(PRODUCTS))
            .await
            .expect("sandbox starts")
    });
    let base = sandbox.addr();
    let token = runtime.block_on(async {
        let body = "grant_type=client_credentials&client_id=ACME01&client_secret=sandbox-key-ACME01-not-a-secret";
        let request = format!(
            "POST /auth/token HTTP/1.1\r\nHost: {base}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut buffer = vec![0u8; 16 * 1024];
        let response = String::from_utf8(raw_request(base, &request, true, &mut buffer).await)
            .expect("utf-8");
        let json = response.split("\r\n\r\n").nth(1).expect("a body");
        let value: serde_json::Value = serde_json::from_str(json).expect("token json");
        value["access_token"].as_str().expect("token").to_owned()
    });
    Fixture {
        runtime,
        sandbox,
        token,
    }
}

/// Sends `request` and reads to EOF; returns the bytes when `keep`, else only counts them.
async fn raw_request(
    addr: std::net::SocketAddr,
    request: &str,
    keep: bool,
    buffer: &mut [u8],
) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut kept = Vec::new();
    let mut total = 0usize;
    loop {
        let n = stream.read(buffer).await.expect("read");
        if n == 0 {
            break;
        }
        total += n;
        if keep {
            kept.extend_from_slice(&buffer[..n]);
        }
    }
    if keep {
        kept
    } else {
        total.to_le_bytes().to_vec()
    }
}

async fn fetch_products(fixture: &Fixture, buffer: &mut [u8]) -> usize {
    let request = format!(
        "GET /products HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        fixture.sandbox.addr(),
        fixture.token
    );
    let counted = raw_request(fixture.sandbox.addr(), &request, false, buffer).await;
    usize::from_le_bytes(counted.try_into().expect("a usize"))
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn serve_50k_products(bencher: Bencher) {
    let fixture = fixture();
    // The reading client's one buffer, allocated before the heap window opens.
    let mut buffer = vec![0u8; 256 * 1024];
    let body_bytes = fixture
        .runtime
        .block_on(fetch_products(&fixture, &mut buffer));
    let baseline = kiss_tests::live_bytes();
    kiss_tests::reset_peak();
    bencher
        .counter(BytesCount::new(body_bytes))
        .bench_local(|| {
            fixture
                .runtime
                .block_on(fetch_products(&fixture, &mut buffer))
        });
    BODY.store(body_bytes, Ordering::Relaxed);
    BASELINE.store(baseline, Ordering::Relaxed);
}

static BODY: AtomicUsize = AtomicUsize::new(0);
static BASELINE: AtomicUsize = AtomicUsize::new(0);

fn main() {
    divan::main();
    let (body, baseline, peak) = (
        BODY.load(Ordering::Relaxed),
        BASELINE.load(Ordering::Relaxed),
        kiss_tests::peak_bytes(),
    );
    if body > 0 {
        println!(
            "\nserve_50k_products: body {:.1} MB per response; heap {:.2} MB idle, peak {:.2} MB \
             while serving (+{:.2} MB)",
            body as f64 / 1e6,
            baseline as f64 / 1e6,
            peak as f64 / 1e6,
            peak.saturating_sub(baseline) as f64 / 1e6
        );
    }
}
