//! `kiss-sandbox`: serve the Kiss Customer API emulator until Ctrl-C.

use std::process::ExitCode;

use clap::Parser;
use kiss_sandbox::{Sandbox, SandboxArgs};

/// A faithful local emulator of the Kiss Customer API, for tests and experiments.
///
/// Example:
///   kiss-sandbox --addr 127.0.0.1:8080 --products 1000 --customer ACME02=secret
///
/// Then: curl -s -X POST http://127.0.0.1:8080/auth/token \
///   -d grant_type=client_credentials -d client_id=ACME02 -d client_secret=secret
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    sandbox: SandboxArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let first_customer = cli.sandbox.customers.first().map(|c| c.code.clone());
    let config = match cli.sandbox.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("kiss-sandbox: {e}");
            return ExitCode::from(2);
        }
    };
    let sandbox = match Sandbox::start(config).await {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("kiss-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The first stdout line is for scripts (and tests) that wait for the URL; the how-to goes
    // to stderr so it never mixes with anything a script reads.
    println!("kiss-sandbox listening on {}", sandbox.base_url());
    let customer = credentials_hint(first_customer);
    eprintln!(
        "\nTry it (Ctrl-C stops the sandbox):\n  \
         export KISS={base}\n  \
         TOKEN=$(curl -s -X POST \"$KISS/auth/token\" -d grant_type=client_credentials \
         -d client_id={code} -d client_secret={key} | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')\n  \
         curl -s -H \"Authorization: Bearer $TOKEN\" \"$KISS/products\"\n\
         Control plane for tests: {base}/_sandbox/ (counters, faults, profile, tokens/revoke, clock/advance)",
        base = sandbox.base_url(),
        code = customer.0,
        key = customer.1,
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("kiss-sandbox: cannot wait for Ctrl-C ({e}); stopping");
    }
    sandbox.shutdown().await;
    eprintln!("kiss-sandbox: stopped");
    ExitCode::SUCCESS
}

/// The credentials to show in the how-to: the default customer's public sandbox key, or only
/// the code of a customer given on the command line (its key is the user's and is not echoed).
fn credentials_hint(first_customer: Option<String>) -> (String, String) {
    match first_customer {
        Some(code) => (code, "\"$KISS_API_KEY\"".to_owned()),
        None => (
            kiss_sandbox::DEFAULT_CUSTOMER_CODE.to_owned(),
            kiss_sandbox::DEFAULT_API_KEY.to_owned(),
        ),
    }
}
