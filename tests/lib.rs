//! The test helpers that several crates' tests and benchmarks share, in one place: a relaxed
//! sandbox, a token and the bytes served (through a plain HTTP client, to see exactly what
//! was served, without kiss-client in between), and a counting allocator for memory figures.
//! The end-to-end tests across crates live in `tests/tests/`, the cross-crate benchmarks in
//! `tests/benches/`.
//!
//! It depends on the sandbox, never the other way round: the sandbox's own tests use its
//! control plane ([`kiss_sandbox::SandboxControl`]) for tokens and schema changes.

pub mod hostile;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use kiss_sandbox::{Sandbox, SandboxConfig, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE};

/// A sandbox of `products` products whose rate limits a test never trips by accident.
pub async fn relaxed_sandbox(products: usize) -> Sandbox {
    Sandbox::start(SandboxConfig::relaxed(products))
        .await
        .expect("the sandbox starts on loopback")
}

/// A token for the default customer, from the token endpoint.
pub async fn token(sandbox: &Sandbox) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/auth/token", sandbox.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CUSTOMER_CODE),
            ("client_secret", DEFAULT_API_KEY),
        ])
        .send()
        .await
        .expect("the token endpoint answers");
    let body: serde_json::Value = response.json().await.expect("token JSON");
    body["access_token"]
        .as_str()
        .expect("an access_token")
        .to_owned()
}

/// The bytes the sandbox serves at `path` (such as `/products`) for the default customer.
pub async fn served(sandbox: &Sandbox, path: &str) -> Vec<u8> {
    let token = token(sandbox).await;
    let response = reqwest::Client::new()
        .get(format!("{}{path}", sandbox.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("the sandbox answers");
    assert_eq!(response.status(), 200, "{path}");
    response.bytes().await.expect("a whole body").to_vec()
}

/// A global allocator that counts live heap bytes and their peak, for benchmarks that report
/// memory. Hand-written (a dozen lines) because the figure needed is the peak over a window
/// the benchmark chooses ([`reset_peak`], then [`peak_bytes`]), which allocator-stats crates
/// do not offer.
///
/// ```text
/// #[global_allocator]
/// static ALLOC: kiss_tests::PeakAlloc = kiss_tests::PeakAlloc;
/// ```
pub struct PeakAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are only
// bookkeeping.
#[allow(unsafe_code)] // a global allocator cannot be written without it
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// Heap bytes live now (with [`PeakAlloc`] installed).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The most heap bytes live at once since the last [`reset_peak`].
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Starts a new peak window at the current live bytes.
pub fn reset_peak() {
    PEAK.store(live_bytes(), Ordering::Relaxed);
}

/// A new, empty directory under the system's temporary directory, unique to this process and
/// moment; `what` says whose it is in its name.
pub fn tempdir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kiss-{what}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Polls a condition for up to 30 s: a bounded wait on something observable, not a sleep
/// standing in for it. Whether the condition came true.
pub fn wait_for(condition: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

/// What a child process says on stderr, read as it comes (its `stderr` must be piped): a
/// test can wait for a line while the process goes on.
pub struct Said {
    text: std::sync::Arc<std::sync::Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Said {
    /// Starts reading `child`'s stderr.
    pub fn watch(child: &mut std::process::Child) -> Said {
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("the child's stderr is piped");
        let reader = std::thread::spawn({
            let text = text.clone();
            move || {
                use std::io::Read;
                let mut buffer = [0u8; 512];
                while let Ok(n) = stderr.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut text) = text.lock() {
                        text.push_str(&String::from_utf8_lossy(&buffer[..n]));
                    }
                }
            }
        });
        Said { text, reader }
    }

    /// What it has said so far.
    pub fn now(&self) -> String {
        self.text.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Whether it says `words` within 30 s (see [`wait_for`]).
    pub fn says(&self, words: &str) -> bool {
        wait_for(|| self.now().contains(words))
    }

    /// Everything it said, once its stderr has closed (the process has ended).
    pub fn all(self) -> String {
        let Said { text, reader } = self;
        let _ = reader.join();
        text.lock().map(|t| t.clone()).unwrap_or_default()
    }
}
