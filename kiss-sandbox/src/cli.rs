//! The sandbox on the command line (the `cli` feature): its options and serving until Ctrl-C,
//! shared by `kiss-sandbox` and `kiss sandbox`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::{
    Customer, Profile, RateLimit, Sandbox, SandboxConfig, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE,
};

/// The sandbox's command-line options, shared by `kiss-sandbox` and `kiss sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Number of products in the catalogue.
    #[arg(long, default_value_t = 300)]
    pub products: usize,
    /// Seed of the catalogue generator (same seed, same data).
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Profile directory with products.schema.json and stock.schema.json (and optionally
    /// prices.schema.json) to serve instead of the built-in 2026-04 surface.
    #[arg(long, value_name = "DIR")]
    pub profile: Option<PathBuf>,
    /// Accepted credentials, repeatable. Default: ACME01 with the documented sandbox key.
    #[arg(long = "customer", value_name = "CODE=KEY")]
    pub customers: Vec<Customer>,
    /// Credentials that authenticate but whose customer record is missing (404 on data).
    #[arg(long = "missing-customer", value_name = "CODE=KEY")]
    pub missing_customers: Vec<Customer>,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub token_ttl: u64,
    /// Rate limits per customer.
    #[arg(long, default_value = "60,1000", value_name = "PER_MIN,PER_HOUR")]
    pub rate_limit: RateLimit,
    /// Runs the sandbox's clock this many times faster than real time (rate windows, token
    /// lifetimes, catalogue changes), for simulated runs of scheduled syncs: with 60, an hour
    /// takes a minute. Give kiss the same scale (KISS_TIME_SCALE).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub time_scale: u32,
}

impl SandboxArgs {
    /// The configuration these options describe.
    pub fn into_config(self) -> Result<SandboxConfig, crate::ProfileError> {
        let profile = match &self.profile {
            Some(dir) => Profile::from_dir(dir)?,
            None => Profile::default(),
        };
        let mut customers = self.customers;
        if customers.is_empty() {
            customers.push(Customer::new(DEFAULT_CUSTOMER_CODE, DEFAULT_API_KEY));
        }
        customers.extend(self.missing_customers.into_iter().map(|mut c| {
            c.missing = true;
            c
        }));
        Ok(SandboxConfig {
            addr: self.addr,
            products: self.products,
            seed: self.seed,
            profile,
            customers,
            token_ttl: Duration::from_secs(self.token_ttl),
            rate_limit: self.rate_limit,
            body_timeout: SandboxConfig::default().body_timeout,
            time_scale: self.time_scale,
        })
    }
}

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
