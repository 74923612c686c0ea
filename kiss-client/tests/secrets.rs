//! Secrets stay out of logs, `Debug` and errors. In a test binary of its own: tracing's
//! per-callsite interest is process-wide, and other tests running beside a thread-local
//! subscriber would hide events from it.

use std::sync::{Arc, Mutex};

mod common;

use common::{client, sandbox_with, RELAXED, UNPACED};
use kiss_client::Client;
use kiss_sandbox::{Fault, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE};

/// Collects everything written through tracing.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn neither_logs_nor_debug_nor_errors_carry_the_key_or_a_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let sandbox = sandbox_with(3, RELAXED).await;
    let (client, _) = client(&sandbox, UNPACED);
    client.stock().await.unwrap();
    sandbox.control().revoke_tokens();
    sandbox
        .control()
        .queue_fault("/stock", Fault::Status { status: 503 }, 1)
        .unwrap();
    client.stock().await.unwrap();
    let token = kiss_tests::token(&sandbox).await;
    let wrong = Client::builder()
        .base_url(sandbox.base_url())
        .customer_code(DEFAULT_CUSTOMER_CODE)
        .api_key("super-secret-wrong-key")
        .build()
        .unwrap();
    let err = wrong.stock().await.unwrap_err();
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("response"),
        "tracing captured something: {logs}"
    );
    let debug = format!("{client:?} {wrong:?} {err:?} {err}");
    for text in [&logs, &debug] {
        assert!(!text.contains(DEFAULT_API_KEY));
        assert!(!text.contains("super-secret-wrong-key"));
        // JWTs from this sandbox share their header; none may appear.
        assert!(
            !text.contains(token.split('.').next().unwrap()),
            "a token leaked"
        );
    }
}
