//! `kiss`: pull Kiss data into files, check the generated models against the API, and run the
//! sandbox, from a shell. A front end over kiss-client, kiss-dynamic and kiss-sandbox.

mod export;
mod output;
mod sync;
mod terminal;
mod time;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use kiss_client::{Client, Endpoint, Error};
#[cfg(feature = "sandbox")]
use kiss_sandbox::{Sandbox, SandboxArgs, SandboxConfig, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE};
use kiss_schema::SchemaDocument;

/// Exit codes, distinct per kind of failure so scripts and cron jobs can tell them apart.
mod exit {
    /// Something else failed (network, server, bad data).
    pub const FAILURE: u8 = 1;
    /// The command line or configuration is wrong (clap uses 2 as well).
    pub const USAGE: u8 = 2;
    /// The credentials were refused, or the customer record is missing.
    pub const AUTH: u8 = 3;
    /// The API's rate limit was hit and not waited out.
    pub const RATE_LIMITED: u8 = 4;
    /// The API no longer matches the generated models.
    pub const DRIFT: u8 = 5;
    /// Interrupted by Ctrl-C (SIGINT).
    pub const INTERRUPTED: u8 = 130;
    /// Ended by SIGHUP (the terminal went away).
    pub const HANGUP: u8 = 129;
    /// Ended by SIGTERM (`kill`, systemd stopping the unit).
    pub const TERMINATED: u8 = 143;
    /// The reader of stdout went away (as a process killed by SIGPIPE reports it).
    pub const BROKEN_PIPE: u8 = 141;
}

/// `kiss --version`: this build, and the API profile its models were generated from.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} (API profile {})",
        env!("CARGO_PKG_VERSION"),
        kiss_generated::API_PROFILE
    )
});

/// Pull your Kiss Customer API data into files and check your integration against the API.
///
/// Credentials come from KISS_BASE_URL, KISS_CUSTOMER_CODE and KISS_API_KEY (or the flags).
/// With none of them set (or with --sandbox), every command runs against an embedded sandbox
/// with sample data, and says so on stderr even with --quiet: try it without an account. Some
/// but not all of them set is a usage error.
///
/// Exit codes: 0 ok, 1 failure, 2 usage, 3 credentials refused, 4 rate limited, 5 drift,
/// 129 SIGHUP, 130 interrupted (Ctrl-C), 141 stdout closed, 143 SIGTERM.
///
/// Logs go to stderr: waits of 5 s or more (quota, 429, retries) and retries by default,
/// more with -v or -vv; RUST_LOG (such as RUST_LOG=kiss_client=debug) overrides.
#[derive(Parser)]
#[command(name = "kiss", version = VERSION.as_str())]
struct Cli {
    /// No progress bar and no notices on stderr (errors still print).
    #[arg(long, short, global = true, help_heading = "Output")]
    quiet: bool,
    /// Print machine-readable JSON (version, health, schema show, schema diff, check; see the
    /// README for the shapes). Export has --format instead.
    #[arg(long, global = true, help_heading = "Output")]
    json: bool,
    /// More log lines on stderr: -v for each request, -vv for everything the client does.
    #[arg(long, short, global = true, action = clap::ArgAction::Count, help_heading = "Output")]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Where the data comes from: flattened into each command that talks to the API (not into
/// `kiss sandbox`, which serves rather than connects).
#[derive(Args, Default)]
#[command(next_help_heading = "Connection")]
pub(crate) struct Connection {
    /// Use an embedded sandbox with sample data (also KISS_SANDBOX=1). Without it, a run with
    /// none of the three settings below uses the sandbox too, and says so.
    #[arg(
        long,
        env = "KISS_SANDBOX",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    sandbox: bool,
    /// The API's base URL.
    #[arg(long, env = "KISS_BASE_URL", value_name = "URL")]
    base_url: Option<String>,
    /// Your Customer Code.
    #[arg(long, env = "KISS_CUSTOMER_CODE", value_name = "CODE")]
    pub(crate) customer_code: Option<String>,
    /// Your API Key (prefer the environment variable: flags show up in process lists).
    #[arg(long, env = "KISS_API_KEY", hide_env_values = true, value_name = "KEY")]
    api_key: Option<String>,
    /// Your account's rate limits, if not the documented 60 per minute and 1,000 per hour.
    #[arg(
        long,
        env = "KISS_QUOTA",
        value_name = "PER_MIN,PER_HOUR",
        value_parser = parse_quota
    )]
    quota: Option<kiss_client::Quota>,
    /// Pace this process alone. By default every kiss of the same customer on this machine
    /// shares the quota through a small file in the state directory
    /// ($XDG_STATE_HOME/kiss, or ~/.local/state/kiss), and every `kiss sync` into one
    /// PostgreSQL mirror, on any machine, through the mirror's `_kiss_quota` table.
    #[arg(long)]
    no_shared_quota: bool,
    /// For simulated runs against a sandbox on this machine whose clock runs N times as fast
    /// (kiss-sandbox --time-scale N): schedules, pacing and token lifetimes on the same
    /// time. Refused for any other API.
    #[arg(long, env = "KISS_TIME_SCALE", value_name = "N", hide = true,
          value_parser = clap::value_parser!(u32).range(2..=i64::from(kiss_client::MAX_TIME_SCALE)))]
    time_scale: Option<u32>,
    /// The moment (RFC 3339, not in the future) simulated time runs from; processes that
    /// must agree on the time need the same one. Default: when this process started.
    #[arg(long, env = "KISS_TIME_EPOCH", value_name = "TIME", hide = true,
          value_parser = parse_epoch, requires = "time_scale")]
    time_epoch: Option<std::time::SystemTime>,
}

fn parse_epoch(text: &str) -> Result<std::time::SystemTime, String> {
    let at = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))?;
    if at > chrono::Utc::now() {
        return Err(format!("{text} is in the future"));
    }
    Ok(at.with_timezone(&chrono::Utc).into())
}

fn parse_quota(text: &str) -> Result<kiss_client::Quota, String> {
    let (minute, hour) = text
        .split_once(',')
        .ok_or_else(|| format!("{text:?} is not PER_MIN,PER_HOUR (such as 60,1000)"))?;
    let number = |n: &str| {
        n.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{n:?} is not a positive whole number"))
    };
    Ok(kiss_client::Quota {
        per_minute: number(minute)?,
        per_hour: number(hour)?,
    })
}

/// The file through which the processes of one customer of one deployment share its quota:
/// named by a hash of the two, so that nothing of the URL or the customer (whatever they
/// hold) reaches a file name.
fn shared_quota_file(base_url: &str, customer_code: &str) -> std::path::PathBuf {
    use sha2::Digest;
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    let mut hash = sha2::Sha256::new();
    hash.update(deployment_of(base_url).as_bytes());
    hash.update([0]);
    hash.update(customer_code.as_bytes());
    let digest = hash.finalize();
    state
        .join("kiss")
        .join(format!("quota-{}", hex::encode(&digest[..12])))
}

#[derive(Subcommand)]
enum Command {
    /// Stream one endpoint's records into a file (or stdout).
    ///
    /// JSON and NDJSON keep every field and every digit; CSV columns follow the live schema
    /// (wire keys as headers, nested arrays as one JSON cell each), then `_extra`, the fields
    /// the schema does not know as one JSON object. The file appears only when the export is
    /// complete; a failure or a signal leaves the old file as it was.
    ///
    /// Example:
    ///   kiss export products --format csv --out products.csv
    Export(export::ExportArgs),
    /// Mirror the endpoints into a SQLite file or a PostgreSQL database: tables from the live
    /// schema, merged by natural key, history and changes kept.
    ///
    /// One table per endpoint and per nested array, columns named exactly as the wire keys
    /// (decimals exact: text in SQLite, NUMERIC in PostgreSQL), unknown fields in `_extra`;
    /// only what changed is written, rows that vanish are marked deleted, every version is
    /// kept in `<table>_history`. Each endpoint's sync is one transaction: a failure or a
    /// signal leaves the mirror as it was. Into PostgreSQL, syncers on several machines take
    /// turns per endpoint and share the quota through the mirror.
    ///
    /// Examples:
    ///   kiss sync
    ///   kiss sync --db shop.db --endpoint stock
    ///   kiss sync --every products=6h,stock=15m,prices=6h
    ///   kiss sync --db postgres://kiss@db.internal/shop --every stock=15m
    Sync(sync::SyncArgs),
    /// List what syncs changed: rows inserted, updated (each column old → new), deleted.
    ///
    /// Example:
    ///   kiss changes --endpoint stock --since 6h
    Changes(sync::ChangesArgs),
    /// Show each endpoint's last sync (when, outcome, counts) and its next scheduled one.
    ///
    /// Example:
    ///   kiss status --db shop.db
    Status(sync::StatusArgs),
    /// Print the API profile (`/api/version`).
    ///
    /// Example:
    ///   kiss version
    Version(Connected),
    /// Print whether the API is healthy (`/health`); exit 1 when it is not.
    ///
    /// Example:
    ///   kiss health
    Health(Connected),
    /// Inspect the live schema documents.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Compare the live profile and schemas with the ones kiss-generated was built from:
    /// exit 0 in step, 5 with the differences when not. For cron and CI.
    ///
    /// Example:
    ///   kiss check || echo "the API changed: update kiss"
    Check(Connected),
    /// Print a completion script for a shell.
    ///
    /// Example:
    ///   kiss completions bash > ~/.local/share/bash-completion/completions/kiss
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff).
    ///
    /// Example:
    ///   kiss man > ~/.local/share/man/man1/kiss.1
    Man,
    /// Serve the sandbox (the same options as `kiss-sandbox`) until Ctrl-C.
    ///
    /// Example:
    ///   kiss sandbox --addr 127.0.0.1:8080 --products 1000
    #[cfg(feature = "sandbox")]
    Sandbox(SandboxArgs),
}

/// The arguments of a command that needs nothing but a connection.
#[derive(Args)]
struct Connected {
    #[command(flatten)]
    connection: Connection,
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// A table of one endpoint's fields: schema name, wire key, type, required.
    ///
    /// Example:
    ///   kiss schema show products
    Show {
        /// The endpoint (the API serves no schema for /prices: this shows the one kiss uses
        /// for it).
        #[arg(value_parser = endpoint_arg())]
        endpoint: Endpoint,
        #[command(flatten)]
        connection: Connection,
    },
    /// The live schemas against the ones kiss-generated was built from.
    ///
    /// Example:
    ///   kiss schema diff
    Diff(Connected),
}

/// An endpoint on the command line: `products`, `stock` or `prices`, parsed into the one
/// [`Endpoint`] type every crate shares (clap lists the names in `--help` and completions).
pub(crate) fn endpoint_arg() -> impl clap::builder::TypedValueParser<Value = Endpoint> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(Endpoint::ALL.map(|e| PossibleValue::new(e.name())))
        .try_map(|name| name.parse::<Endpoint>())
}

/// A failure, with the exit code that says what kind.
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        let code = match &error {
            Error::InvalidClient | Error::InvalidToken | Error::CustomerNotFound => exit::AUTH,
            Error::RateLimited { .. } => exit::RATE_LIMITED,
            Error::Config(_) | Error::InsecureUrl { .. } => exit::USAGE,
            _ => exit::FAILURE,
        };
        Failure::new(code, in_cli_terms(&error))
    }
}

/// The client's message in the terms of this command line (no settings kiss has no flag for),
/// on one line with its causes, so that "error sending request" says why (connection refused,
/// no such host, a certificate problem).
fn in_cli_terms(error: &Error) -> String {
    match error {
        Error::RateLimited {
            window,
            retry_after,
            ..
        } => {
            let mut text = error.to_string();
            if let Some(cut) = text.find("; wait, or raise") {
                text.truncate(cut);
            }
            format!(
                "{text}; try again later (the {window} window; the server asked for {}s)",
                retry_after.as_secs()
            )
        }
        Error::InsecureUrl { url } => format!(
            "refusing {url}: the API Key and tokens would travel unencrypted; use an https:// \
             URL (plain http is accepted only for loopback addresses)"
        ),
        _ => error.report_joined(": "),
    }
}

/// A deployment as a mirror records it: its base URL without credentials (`user:password@`)
/// or a trailing `/`.
fn deployment_of(base_url: &str) -> String {
    let (scheme, rest) = base_url.split_once("://").unwrap_or(("", base_url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let url = if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    };
    url.trim_end_matches('/').to_owned()
}

/// The client, and the embedded sandbox it talks to when no deployment was given.
struct Session {
    client: Client,
    #[cfg(feature = "sandbox")]
    _sandbox: Option<Sandbox>,
}

impl Session {
    /// Whether the client talks to the embedded sandbox.
    fn is_sandbox(&self) -> bool {
        #[cfg(feature = "sandbox")]
        return self._sandbox.is_some();
        #[cfg(not(feature = "sandbox"))]
        return false;
    }
}

#[cfg(feature = "sandbox")]
async fn embedded_sandbox() -> Result<Session, Failure> {
    {
        let sandbox = Sandbox::start(SandboxConfig::default())
            .await
            .map_err(|e| {
                Failure::new(
                    exit::FAILURE,
                    format!("cannot start the embedded sandbox: {e}"),
                )
            })?;
        // Never hidden, not even by --quiet: output from sample data must not pass for yours.
        eprintln!(
            "kiss: using an embedded sandbox at {} (sample data, not your account; set \
             KISS_BASE_URL, KISS_CUSTOMER_CODE and KISS_API_KEY for your deployment)",
            sandbox.base_url()
        );
        let client = Client::builder()
            .base_url(sandbox.base_url())
            .customer_code(DEFAULT_CUSTOMER_CODE)
            .api_key(DEFAULT_API_KEY)
            .build()?;
        Ok(Session {
            client,
            _sandbox: Some(sandbox),
        })
    }
}

/// `shared`: where the quota's send log is shared instead of this machine's file (a
/// PostgreSQL mirror's, for `kiss sync`).
async fn connect(
    connection: Connection,
    shared: Option<std::sync::Arc<dyn kiss_client::SharedQuota>>,
) -> Result<Session, Failure> {
    let given = [
        ("KISS_BASE_URL (--base-url)", connection.base_url.is_some()),
        (
            "KISS_CUSTOMER_CODE (--customer-code)",
            connection.customer_code.is_some(),
        ),
        ("KISS_API_KEY (--api-key)", connection.api_key.is_some()),
    ];
    let any_given = given.iter().any(|(_, set)| *set);
    if connection.sandbox && any_given {
        return Err(Failure::new(
            exit::USAGE,
            "--sandbox (or KISS_SANDBOX) asks for the embedded sandbox, but credentials are set \
             too; unset one or the other",
        ));
    }
    if any_given && given.iter().any(|(_, set)| !*set) {
        // Half a configuration is a mistake (a CI job that lost a secret), never a reason to
        // fall back to sample data.
        let missing: Vec<&str> = given
            .iter()
            .filter(|(_, set)| !*set)
            .map(|(name, _)| *name)
            .collect();
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "incomplete credentials: {} not set (all three are needed for your deployment; \
                 none, or --sandbox, for the embedded sandbox)",
                missing.join(" and ")
            ),
        ));
    }
    if connection.time_scale.is_some() && connection.base_url.is_none() {
        return Err(Failure::new(
            exit::USAGE,
            "KISS_TIME_SCALE is for a sandbox started with the same --time-scale; give its URL \
             (KISS_BASE_URL) and credentials",
        ));
    }
    let Some(base_url) = connection.base_url else {
        #[cfg(feature = "sandbox")]
        return embedded_sandbox().await;
        #[cfg(not(feature = "sandbox"))]
        {
            return Err(Failure::new(
                exit::USAGE,
                "KISS_BASE_URL is not set (this kiss was built without the embedded sandbox, \
                 so it needs your deployment's URL and credentials)",
            ));
        }
    };
    let missing = |what: &str| {
        Failure::new(
            exit::USAGE,
            format!("KISS_BASE_URL is set, so {what} is needed too (or unset it to use the embedded sandbox)"),
        )
    };
    let customer_code = connection
        .customer_code
        .ok_or_else(|| missing("KISS_CUSTOMER_CODE"))?;
    let mut builder = Client::builder();
    if !connection.no_shared_quota {
        builder = match shared {
            Some(shared) => builder.shared_quota(shared),
            None => builder.shared_quota_file(shared_quota_file(&base_url, &customer_code)),
        };
    }
    if let Some(quota) = connection.quota {
        builder = builder.quota(quota);
    }
    if let Some(scale) = connection.time_scale {
        let epoch = connection
            .time_epoch
            .unwrap_or_else(std::time::SystemTime::now);
        let clock = kiss_client::ScaledClock::new(scale, epoch).ok_or_else(|| {
            Failure::new(
                exit::USAGE,
                "KISS_TIME_EPOCH is in the future or too far back",
            )
        })?;
        time::scale(clock);
        builder = builder.time_scale(clock);
    }
    let client = builder
        .base_url(base_url)
        .customer_code(customer_code)
        .api_key(connection.api_key.ok_or_else(|| missing("KISS_API_KEY"))?)
        .build()?;
    Ok(Session {
        client,
        #[cfg(feature = "sandbox")]
        _sandbox: None,
    })
}

/// Logs to stderr through `tracing`: what the client reports (waits, retries) reaches the
/// person or the cron log. The API Key and tokens are never in it (the client logs neither).
fn init_logging(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "warn,kiss_client=debug",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colours only on a terminal: a cron log or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.quiet, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kiss: cannot start: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "kiss", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            return match clap_mangen::Man::new(command).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("kiss: cannot write the manual page: {e}");
                    ExitCode::from(exit::FAILURE)
                }
            };
        }
        _ => {}
    }
    #[cfg(feature = "sandbox")]
    if let Command::Sandbox(args) = cli.command {
        return runtime.block_on(kiss_sandbox::serve_until_ctrl_c("kiss", args));
    }
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if !failure.message.is_empty() {
                // A failure's message may quote the server (a key, a field's name, an error
                // body): on one line, with its control characters escaped.
                eprintln!("kiss: {}", terminal::escaped(&failure.message));
            }
            ExitCode::from(failure.code)
        }
    }
}

async fn run(mut cli: Cli) -> Result<u8, Failure> {
    // The mirror's own commands read a database, not the API.
    let command = match cli.command {
        Command::Changes(args) => return sync::changes(args).map(|()| 0),
        Command::Status(args) => return sync::status(args, cli.json).map(|()| 0),
        command => command,
    };
    cli.command = command;
    let shared = match &cli.command {
        Command::Sync(args) => sync::shared_quota(args)?,
        _ => None,
    };
    let connection = match &mut cli.command {
        Command::Export(args) => std::mem::take(&mut args.connection),
        Command::Sync(args) => std::mem::take(&mut args.connection),
        Command::Version(args)
        | Command::Health(args)
        | Command::Check(args)
        | Command::Schema(SchemaCommand::Diff(args)) => std::mem::take(&mut args.connection),
        Command::Schema(SchemaCommand::Show { connection, .. }) => std::mem::take(connection),
        _ => Connection::default(),
    };
    let deployment = connection.base_url.as_deref().map(deployment_of);
    let session = connect(connection, shared).await?;
    let client = &session.client;
    match cli.command {
        Command::Export(args) => export::run(client, args, cli.quiet).await.map(|()| 0),
        Command::Sync(args) => {
            // The embedded sandbox's address changes from run to run: its mirror is known by
            // name.
            let deployment = deployment.unwrap_or_else(|| "the embedded sandbox".to_owned());
            sync::run(client, &deployment, args, cli.quiet)
                .await
                .map(|()| 0)
        }
        Command::Version(_) => {
            let profile = client.api_version().await?;
            if cli.json {
                print_json(&serde_json::json!({
                    "apiVersion": profile,
                    "sandbox": session.is_sandbox(),
                }));
            } else {
                println!("{profile}");
            }
            Ok(0)
        }
        Command::Health(_) => {
            let healthy = client.health().await?;
            if cli.json {
                print_json(&serde_json::json!({
                    "healthy": healthy,
                    "sandbox": session.is_sandbox(),
                }));
            } else {
                println!("{}", if healthy { "Healthy" } else { "Unhealthy" });
            }
            Ok(if healthy { 0 } else { exit::FAILURE })
        }
        Command::Schema(SchemaCommand::Show { endpoint, .. }) => {
            let schema = client.schema(endpoint).await?;
            if cli.json {
                // The API's own document format, as `/…/schema` serves it.
                print!("{}", schema.to_pretty_json());
            } else {
                print!("{}", schema_table(&schema));
            }
            if endpoint.schema_path().is_none() {
                eprintln!(
                    "kiss: the API serves no schema for {}; this is the one kiss reads it by",
                    schema.endpoint
                );
            }
            Ok(0)
        }
        Command::Schema(SchemaCommand::Diff(_)) => {
            let check = client.check_surface().await?;
            if cli.json {
                print_json(&surface_json(&check, session.is_sandbox()));
            } else {
                for diff in check.diffs {
                    print!("{diff}");
                }
            }
            Ok(0)
        }
        Command::Check(_) => {
            let check = client.check_surface().await?;
            if cli.json {
                print_json(&surface_json(&check, session.is_sandbox()));
                return Ok(if check.is_in_step() { 0 } else { exit::DRIFT });
            }
            // Say which API was checked: a green check of sample data proves nothing about
            // the deployment.
            let checked = if session.is_sandbox() {
                "the embedded sandbox (sample data, not your deployment)"
            } else {
                "the API"
            };
            if check.is_in_step() {
                println!(
                    "in step: {checked} serves profile {} with the schemas this kiss was built for",
                    check.live_profile
                );
                Ok(0)
            } else {
                print!("{check}");
                eprintln!(
                    "kiss: {checked} has drifted from the models this kiss was built with: \
                     update kiss (or, in a kiss-rs checkout, run `cargo xtask regen`)"
                );
                Ok(exit::DRIFT)
            }
        }
        #[cfg(feature = "sandbox")]
        Command::Sandbox(_) => unreachable!("served before connecting"),
        Command::Completions { .. } | Command::Man => unreachable!("printed before connecting"),
        Command::Changes(_) | Command::Status(_) => unreachable!("read before connecting"),
    }
}

/// One JSON document on stdout, pretty-printed, ending with a newline.
fn print_json(value: &serde_json::Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("kiss: cannot print JSON: {e}"),
    }
}

/// `check --json` and `schema diff --json`: `{"inStep", "liveProfile", "generatedProfile",
/// "sandbox", "diffs": [{"endpoint", "old_profile", "new_profile", "fields": {"changes":
/// [...]}, "arrays": [...]}]}`, each change tagged by `"change"` (`added`, `removed`,
/// `type_changed`, `required_changed`).
fn surface_json(check: &kiss_client::SurfaceCheck, sandbox: bool) -> serde_json::Value {
    serde_json::json!({
        "inStep": check.is_in_step(),
        "liveProfile": check.live_profile,
        "generatedProfile": check.generated_profile,
        "sandbox": sandbox,
        "diffs": check.diffs,
    })
}

/// Schema name, wire key, type, required: one row per field, nested fields as `array[].field`.
fn schema_table(schema: &SchemaDocument) -> String {
    let mut rows = vec![[
        "SCHEMA NAME".to_owned(),
        "WIRE KEY".to_owned(),
        "TYPE".to_owned(),
        "REQUIRED".to_owned(),
    ]];
    let yes_no = |required: bool| if required { "yes" } else { "no" }.to_owned();
    for field in &schema.fields {
        rows.push([
            field.name.clone(),
            field.wire_key.clone(),
            field.field_type.to_string(),
            yes_no(field.required),
        ]);
    }
    for array in &schema.arrays {
        rows.push([
            format!("{}[]", array.name),
            format!("{}[]", array.wire_key),
            "array".to_owned(),
            "no".to_owned(),
        ]);
        for field in &array.fields {
            rows.push([
                format!("{}[].{}", array.name, field.name),
                format!("{}[].{}", array.wire_key, field.wire_key),
                field.field_type.to_string(),
                yes_no(field.required),
            ]);
        }
    }
    // Names and types come from the server: nothing in them may drive the terminal.
    for row in &mut rows {
        for cell in row.iter_mut() {
            if cell.chars().any(char::is_control) {
                *cell = cell.chars().filter(|c| !c.is_control()).collect();
            }
        }
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("{} (profile {})\n", schema.endpoint, schema.api_version);
    for row in rows {
        // Padded by hand: `format!`'s width is limited to u16, and names come from the server.
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| {
                let pad = width.saturating_sub(cell.chars().count());
                format!("{cell}{}", " ".repeat(pad))
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Where an export goes: stdout, or a file that appears only when complete.
pub(crate) fn target_dir(out: &std::path::Path) -> PathBuf {
    match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}
