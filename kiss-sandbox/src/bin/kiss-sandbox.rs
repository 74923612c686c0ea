//! `kiss-sandbox`: serve the Kiss Customer API emulator until Ctrl-C.

use std::process::ExitCode;

use clap::Parser;
use kiss_sandbox::SandboxArgs;

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
    kiss_sandbox::serve_until_ctrl_c("kiss-sandbox", cli.sandbox).await
}
