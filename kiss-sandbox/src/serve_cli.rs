//! Serving from the command line until Ctrl-C: shared by `kiss-sandbox` and `kiss sandbox`.

use std::process::ExitCode;

use crate::{Sandbox, SandboxArgs};

/// Starts a sandbox from command-line options, prints `<name> listening on <url>` as the first
/// line on stdout and a how-to on stderr, and serves until Ctrl-C. Exit code 2 for bad
/// options, 1 when the address cannot be bound.
pub async fn serve_until_ctrl_c(name: &str, args: SandboxArgs) -> ExitCode {
    let first_customer = args.customers.first().map(|c| c.code.clone());
    let config = match args.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    // Listen for Ctrl-C before announcing the URL: whoever reads the URL may interrupt at
    // once, and tokio's `ctrl_c()` would only start listening when first polled.
    #[cfg(unix)]
    let mut interrupt =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
            Ok(signal) => signal,
            Err(e) => {
                eprintln!("{name}: cannot listen for Ctrl-C: {e}");
                return ExitCode::FAILURE;
            }
        };
    let sandbox = match Sandbox::start(config).await {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The first stdout line is for scripts (and tests) that wait for the URL; the how-to goes
    // to stderr so it never mixes with anything a script reads.
    println!("{name} listening on {}", sandbox.base_url());
    let (code, key) = credentials_hint(first_customer);
    eprintln!(
        "\nTry it (Ctrl-C stops the sandbox):\n  \
         export KISS={base}\n  \
         TOKEN=$(curl -s -X POST \"$KISS/auth/token\" -d grant_type=client_credentials \
         -d client_id={code} -d client_secret={key} | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')\n  \
         curl -s -H \"Authorization: Bearer $TOKEN\" \"$KISS/products\"\n\
         Control plane for tests: {base}/_sandbox/ (counters, faults, profile, tokens/revoke, clock/advance)",
        base = sandbox.base_url(),
    );
    #[cfg(unix)]
    interrupt.recv().await;
    #[cfg(not(unix))]
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("{name}: cannot wait for Ctrl-C ({e}); stopping");
    }
    sandbox.shutdown().await;
    eprintln!("{name}: stopped");
    ExitCode::SUCCESS
}

/// The credentials to show in the how-to: the default customer's public sandbox key, or only
/// the code of a customer given on the command line (its key is the user's and is not echoed).
fn credentials_hint(first_customer: Option<String>) -> (String, String) {
    match first_customer {
        Some(code) => (code, "\"$KISS_API_KEY\"".to_owned()),
        None => (
            crate::DEFAULT_CUSTOMER_CODE.to_owned(),
            crate::DEFAULT_API_KEY.to_owned(),
        ),
    }
}
