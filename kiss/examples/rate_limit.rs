//! Keeps working through a `429`: the client waits as the server's `Retry-After` asks and goes
//! on, logging the wait; a client told not to wait gets a typed error that says until when.
//!
//! Against the sandbox, the example makes it answer one request with a `429` (a real
//! deployment does so when the account's quota is spent). Run:
//! `cargo run -p kiss --example rate_limit`.

mod common;

use std::time::Duration;

use kiss::RetryPolicy;
use kiss_sandbox::Fault;

#[kiss::tokio::main(crate = "kiss::tokio")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The client logs its waits through `tracing`; a subscriber makes them visible.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let connection = common::connect().await?;
    let rate_limit_next = || {
        if let Some(sandbox) = connection.sandbox() {
            let fault = Fault::RateLimited {
                retry_after_secs: 1,
            };
            sandbox
                .queue_fault("/stock", fault, 1)
                .map_err(|e| e.to_string())?;
            eprintln!("(the sandbox will answer the next /stock with 429, Retry-After: 1)");
        }
        Ok::<(), String>(())
    };

    // 1. The default policy waits out the 429 and carries on.
    rate_limit_next()?;
    let started = std::time::Instant::now();
    let stock = connection.client.stock().await?;
    println!(
        "got {} stock rows in {:.1} s, the wait for the quota included",
        stock.len(),
        started.elapsed().as_secs_f64()
    );

    // 2. A policy that never waits: the error says which window tripped and when it resets.
    rate_limit_next()?;
    let impatient = connection
        .builder()?
        .retry_policy(RetryPolicy {
            max_rate_limit_waits: 0,
            ..RetryPolicy::default()
        })
        .build()?;
    match impatient.stock().await {
        Ok(rows) => println!("no 429 this time: {} rows", rows.len()),
        Err(kiss::Error::RateLimited {
            window,
            retry_after,
            reset,
            ..
        }) => println!(
            "rate limited on the {window} window: retry in {:?} (resets at {})",
            retry_after.max(Duration::from_secs(1)),
            reset.map_or_else(|| "an unknown time".to_owned(), |t| t.to_rfc3339())
        ),
        Err(other) => return Err(other.into()),
    }
    Ok(())
}
