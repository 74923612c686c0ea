//! `ClientBuilder::from_env` reads the three variables and leaves every other setting to the
//! caller. (A test binary of its own: it sets environment variables, which no other test of
//! this process reads.)

use kiss_client::{ClientBuilder, Error, RetryPolicy};
use kiss_sandbox::{Sandbox, SandboxConfig, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE};

#[tokio::test]
async fn from_env_reads_the_variables_and_the_rest_stays_adjustable() {
    std::env::remove_var("KISS_BASE_URL");
    let missing = ClientBuilder::from_env().unwrap_err();
    assert!(
        matches!(&missing, Error::Config(m) if m.contains("KISS_BASE_URL")),
        "{missing}"
    );
    // Returned from `main`, the error reads as its message.
    assert_eq!(format!("{missing:?}"), missing.to_string());

    let sandbox = Sandbox::start(SandboxConfig::relaxed(4)).await.unwrap();
    std::env::set_var("KISS_BASE_URL", sandbox.base_url());
    std::env::set_var("KISS_CUSTOMER_CODE", DEFAULT_CUSTOMER_CODE);
    std::env::set_var("KISS_API_KEY", DEFAULT_API_KEY);
    let client = ClientBuilder::from_env()
        .unwrap()
        .retry_policy(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    assert_eq!(client.stock().await.unwrap().len(), 4);
    // The retry policy set after from_env is the one in force: one attempt, no retry.
    sandbox
        .control()
        .queue_fault("/stock", kiss_sandbox::Fault::Status { status: 503 }, 1)
        .unwrap();
    let err = client.stock().await.unwrap_err();
    assert!(matches!(err, Error::Server { attempts: 1, .. }), "{err}");
    assert!(!format!("{client:?}").contains(DEFAULT_API_KEY));
}
