//! `kiss sync`, `kiss changes`, `kiss status`: a live mirror of the API in a database, kept by
//! kiss-store.

use std::io::Write;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use kiss_client::{Client, Endpoint};
use kiss_store::run::{Fetched, Halt, Pending, Piece};
use kiss_store::schedule::span;
use kiss_store::{
    ChangeQuery, Every, Failed, Identity, LoadStatus, Location, Mirror, Observer, OnSchemaChange,
    Plan, Records, Source, StoreError, Summary,
};

use crate::export::{Interrupt, Issues};
use crate::terminal::escaped;
use crate::{exit, Failure};

/// Where the mirror is: a SQLite file, or a PostgreSQL database.
#[derive(Args, Clone)]
pub(crate) struct Database {
    /// The mirror: a SQLite file (created when missing) or `sqlite:PATH`, or a PostgreSQL
    /// database, `postgres://user@host:port/database` (TLS as libpq's `sslmode` says:
    /// prefer by default, or disable, require, verify-ca, verify-full; `sslrootcert=PATH`).
    #[arg(
        long = "db",
        env = "KISS_DATABASE_URL",
        // A URL may hold a password: `--help` must not show it.
        hide_env_values = true,
        value_name = "PATH|URL",
        default_value = "kiss.db"
    )]
    db: String,
}

impl Database {
    fn location(&self) -> Result<Location, Failure> {
        Location::parse(&self.db).map_err(|e| Failure::new(exit::USAGE, e.to_string()))
    }

    /// Opens the mirror for syncing, making it where there is none.
    fn open(&self) -> Result<Mirror, Failure> {
        Mirror::open(&self.location()?).map_err(|e| match e {
            // A --db that names the wrong thing is the command line's mistake.
            e @ StoreError::NotAMirror { .. } => Failure::new(exit::USAGE, e.to_string()),
            e => Failure::new(
                exit::FAILURE,
                format!("cannot open the mirror {}: {e}", self.described()),
            ),
        })
    }

    /// Opens an existing mirror for reading, creating nothing; a clear error when there is
    /// none.
    fn open_existing(&self) -> Result<Mirror, Failure> {
        Mirror::open_existing(&self.location()?).map_err(|e| match e {
            e @ StoreError::NotAMirror { .. } => Failure::new(exit::USAGE, e.to_string()),
            e => Failure::new(exit::FAILURE, e.to_string()),
        })
    }

    /// The mirror for messages (a URL without its password).
    fn described(&self) -> String {
        self.location()
            .map(|location| location.describe())
            .unwrap_or_else(|_| self.db.clone())
    }
}

#[derive(Clone, Copy, Default, ValueEnum)]
enum SchemaChangeContract {
    /// A field whose type changed gets a new column for the new type (`<key>__<type>`).
    #[default]
    Evolve,
    /// A field whose type changed fails the sync (exit 5), the mirror untouched.
    Freeze,
}

#[derive(Args)]
pub(crate) struct SyncArgs {
    #[command(flatten)]
    database: Database,
    /// Sync only this endpoint (repeatable); all three by default.
    #[arg(long = "endpoint", value_parser = crate::endpoint_arg(), value_name = "ENDPOINT")]
    endpoints: Vec<Endpoint>,
    /// What a changed field type does.
    #[arg(long, value_enum, default_value_t)]
    on_schema_change: SchemaChangeContract,
    /// Keep syncing on a schedule until SIGTERM or Ctrl-C, such as
    /// `products=6h,stock=15m,prices=6h` (products and prices every 60 min to 24 h, stock
    /// every 10 min to 24 h, as Kiss's Datafeed App allows; units s, m, h).
    #[arg(long, value_name = "SCHEDULE")]
    every: Option<Every>,
    /// When another kiss sync is using the mirror, exit at once (0) instead of waiting.
    #[arg(long)]
    no_wait: bool,
    /// Last, so that the sync's own options come first in its help.
    #[command(flatten)]
    pub(crate) connection: crate::Connection,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
enum ChangesFormat {
    /// One line per change, for people.
    #[default]
    Table,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated, with a header row.
    Csv,
}

#[derive(Args)]
pub(crate) struct ChangesArgs {
    #[command(flatten)]
    database: Database,
    /// Only this endpoint's changes.
    #[arg(long, value_parser = crate::endpoint_arg())]
    endpoint: Option<Endpoint>,
    /// Only changes since TIME: a date (2026-11-25), a time (2026-11-25T08:00:00Z), or a
    /// span back from now (90m, 6h, 2d).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    format: ChangesFormat,
    /// At most N changes (the latest).
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// With --format csv: a cell that a spreadsheet would run as a formula gets a leading '
    /// (see `kiss export --csv-safe`).
    #[arg(long)]
    csv_safe: bool,
}

#[derive(Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    database: Database,
}

fn store_failure(e: StoreError) -> Failure {
    let code = match e {
        StoreError::Frozen { .. } => exit::DRIFT,
        _ => exit::FAILURE,
    };
    Failure::new(code, e.to_string())
}

/// The API, as the mirror's source of records.
struct Api<'a>(&'a Client);

/// One endpoint's response, its body still arriving.
struct Response(kiss_client::RawRecords);

/// Why a piece of a response's records stopped: reading it, or storing a record.
enum PieceFailure {
    Read(kiss_client::Error),
    Stored(StoreError),
}

impl From<kiss_client::Error> for PieceFailure {
    fn from(e: kiss_client::Error) -> PieceFailure {
        PieceFailure::Read(e)
    }
}

impl Records for Response {
    type Error = kiss_client::Error;

    fn next_piece<'a>(
        &'a mut self,
        each: &'a mut dyn FnMut(kiss_dynamic::RawRecord<'_>) -> Result<(), StoreError>,
    ) -> Pending<'a, Result<bool, Piece<kiss_client::Error>>> {
        Box::pin(async move {
            self.0
                .next_chunk(|record| each(record).map_err(PieceFailure::Stored))
                .await
                .map_err(|e| match e {
                    PieceFailure::Read(e) => Piece::Read(e),
                    PieceFailure::Stored(e) => Piece::Stored(e),
                })
        })
    }
}

impl Source for Api<'_> {
    type Records = Response;

    fn fetch(&self, endpoint: Endpoint) -> Pending<'_, Fetched<Response>> {
        Box::pin(async move {
            let (schema, records) = self.0.raw_records(endpoint).await?;
            Ok((schema, Response(records)))
        })
    }

    /// The body is read ahead on this runtime, whose connections the client's pool hands
    /// out, and given to the merge's thread in pieces: polled across threads directly, every
    /// network read woke one thread from the other.
    fn hand_over(&self, records: Response) -> Response {
        Response(records.0.read_ahead(READ_AHEAD_PIECE, READ_AHEAD_PIECES))
    }
}

/// What a sync says on stderr as it happens, and the records' issues per endpoint, for the
/// summary.
struct Reporter {
    quiet: bool,
    /// The mirror and customer, for the messages.
    mirror: String,
    customer: String,
    issues: std::sync::Mutex<Vec<(Endpoint, Issues)>>,
}

impl Reporter {
    fn holding(&self, endpoint: Endpoint, holder: &str) -> String {
        format!(
            "{} is syncing {} of customer {} into {}",
            escaped(holder),
            endpoint.name(),
            self.customer,
            self.mirror
        )
    }

    /// The issues of `endpoint`'s records since it was last asked.
    fn issues(&self, endpoint: Endpoint) -> Issues {
        let Ok(mut all) = self.issues.lock() else {
            return Issues::default();
        };
        match all.iter().position(|(e, _)| *e == endpoint) {
            Some(at) => all.swap_remove(at).1,
            None => Issues::default(),
        }
    }
}

impl Observer for Reporter {
    fn waiting(&self, endpoint: Endpoint, holder: &str) {
        if !self.quiet {
            eprintln!(
                "kiss: {}; waiting for it to finish (--no-wait to exit instead)",
                self.holding(endpoint, holder)
            );
        }
    }

    fn not_waiting(&self, endpoint: Endpoint, holder: &str) {
        eprintln!(
            "kiss: {}; not waiting (--no-wait)",
            self.holding(endpoint, holder)
        );
    }

    fn record(&self, endpoint: Endpoint, record: &kiss_dynamic::RawRecord<'_>) {
        if record.issues().is_empty() {
            return;
        }
        if let Ok(mut all) = self.issues.lock() {
            match all.iter_mut().find(|(e, _)| *e == endpoint) {
                Some((_, issues)) => issues.add(record.issues()),
                None => {
                    let mut issues = Issues::default();
                    issues.add(record.issues());
                    all.push((endpoint, issues));
                }
            }
        }
    }

    fn bookkeeping_failed(&self, endpoint: Endpoint, what: &str, error: &StoreError) {
        eprintln!(
            "kiss: {}: cannot {what}: {}",
            endpoint.name(),
            escaped(&error.to_string())
        );
    }

    fn schema_changed(&self, endpoint: Endpoint, changes: &[kiss_store::SchemaChange]) {
        if !self.quiet {
            for change in changes {
                eprintln!(
                    "kiss: {}: {}",
                    endpoint.name(),
                    escaped(&change.to_string())
                );
            }
        }
    }
}

fn report(summary: &Summary, issues: &Issues, seconds: f64, quiet: bool) {
    if quiet {
        return;
    }
    let load = &summary.load;
    eprintln!(
        "kiss: {}: {} records: {} inserted, {} updated, {} deleted ({:.1} s)",
        load.endpoint, load.records, load.inserted, load.updated, load.deleted, seconds
    );
    if load.duplicates > 0 {
        eprintln!(
            "kiss: {}: {} records repeated a natural key already seen in the response (the \
             first was kept): {}{}",
            load.endpoint,
            load.duplicates,
            escaped(&summary.duplicate_keys.join(", ")),
            if load.duplicates > summary.duplicate_keys.len() as u64 {
                ", …"
            } else {
                ""
            }
        );
    }
    if load.skipped > 0 {
        eprintln!(
            "kiss: {}: {} records had no natural key and were not stored",
            load.endpoint, load.skipped
        );
    }
    if let Some(line) = issues.summary("stored as they came") {
        eprintln!("kiss: {}: {}", load.endpoint, escaped(&line));
    }
}

fn endpoints_of(chosen: &[Endpoint]) -> Vec<Endpoint> {
    if chosen.is_empty() {
        Endpoint::ALL.to_vec()
    } else {
        let mut out: Vec<Endpoint> = Vec::new();
        for &e in chosen {
            if !out.contains(&e) {
                out.push(e);
            }
        }
        out
    }
}

/// The quota's send log a mirror keeps, for the client: every process of one customer that
/// syncs into the mirror, on any machine, paces its requests through it.
#[derive(Debug)]
struct MirrorQuota {
    log: kiss_store::QuotaLog,
    customer: String,
}

impl kiss_client::SharedQuota for MirrorQuota {
    fn reserve(&self, quota: kiss_client::Quota) -> kiss_client::Reservation<'_> {
        Box::pin(async move {
            let scaled = crate::time::scaled();
            let wait = self
                .log
                .reserve(&self.customer, |sent, now| {
                    let Some(clock) = scaled else {
                        return kiss_client::reserve_slot(sent, now, quota);
                    };
                    // The log keeps the server's real times; the windows are simulated ones.
                    let mut simulated: std::collections::VecDeque<u64> =
                        sent.iter().map(|&t| clock.simulated_millis(t)).collect();
                    let at = kiss_client::reserve_slot(
                        &mut simulated,
                        clock.simulated_millis(now),
                        quota,
                    );
                    clock.real_millis(at)
                })
                .await
                .map_err(|e| e.to_string())?;
            // The client sleeps on its own clock, simulated or not.
            Ok(scaled.map_or(wait, |clock| wait.saturating_mul(clock.scale())))
        })
    }
}

/// For `kiss sync`, the mirror's quota log, where it keeps one (`None`: this machine's
/// file).
pub(crate) fn shared_quota(
    args: &SyncArgs,
) -> Result<Option<std::sync::Arc<dyn kiss_client::SharedQuota>>, Failure> {
    let Some(customer) = args.connection.customer_code.clone() else {
        // The embedded sandbox's requests are its own.
        return Ok(None);
    };
    let log = args
        .database
        .location()?
        .quota_log()
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    Ok(log.map(|log| {
        std::sync::Arc::new(MirrorQuota { log, customer })
            as std::sync::Arc<dyn kiss_client::SharedQuota>
    }))
}

/// Records in the mirror whose data it holds, or refuses (exit 2) when it holds another's.
fn claim_identity(mirror: &mut Mirror, deployment: &str, customer: &str) -> Result<(), Failure> {
    let identity = Identity {
        deployment: deployment.to_owned(),
        customer: customer.to_owned(),
    };
    mirror
        .claim(&identity, &kiss_store::timestamp(crate::time::now()))
        .map_err(|e| match e {
            e @ StoreError::OtherCustomer { .. } => Failure::new(exit::USAGE, e.to_string()),
            e => store_failure(e),
        })
}

/// An endpoint's sync that failed, as the command reports it: the client's failures keep
/// their exit codes (credentials, rate limits), the mirror's theirs (a frozen schema).
fn failed(endpoint: Endpoint, failure: Failed<kiss_client::Error>) -> Failure {
    let failure = match failure {
        Failed::Fetch(e) => Failure::from(e),
        Failed::Store(e) => store_failure(e),
    };
    Failure::new(
        failure.code,
        format!(
            "{}: {} (its sync was rolled back: {} in the mirror is as it was)",
            endpoint.name(),
            failure.message,
            endpoint.name()
        ),
    )
}

/// `kiss sync`: once, or on a schedule with `--every`.
pub(crate) async fn run(
    client: &Client,
    deployment: &str,
    args: SyncArgs,
    quiet: bool,
) -> Result<(), Failure> {
    let mut interrupt = Interrupt::listen()?;
    let mut mirror = args.database.open()?;
    let customer = client.customer_code().to_owned();
    claim_identity(&mut mirror, deployment, &customer)?;
    let plan = Plan {
        customer: customer.clone(),
        on_schema_change: match args.on_schema_change {
            SchemaChangeContract::Evolve => OnSchemaChange::Evolve,
            SchemaChangeContract::Freeze => OnSchemaChange::Freeze,
        },
        wait: !args.no_wait,
        clock: crate::time::now,
        sleep: |duration| Box::pin(crate::time::sleep(duration)),
    };
    let reporter = std::sync::Arc::new(Reporter {
        quiet,
        mirror: mirror.describe(),
        customer,
        issues: std::sync::Mutex::default(),
    });
    if let Some(every) = args.every {
        return scheduled(client, mirror, plan, every, reporter, interrupt).await;
    }
    let endpoints = endpoints_of(&args.endpoints);
    let synced = mirror
        .sync(
            &Api(client),
            &endpoints,
            &plan,
            reporter.clone(),
            interrupt.wait(),
        )
        .await
        .map_err(store_failure)?;
    let outcomes = match synced {
        Ok(outcomes) => outcomes,
        Err(stopped) => {
            let (name, code) = stopped.by;
            let message = match stopped.waiting_for {
                Some(endpoint) => format!(
                    "interrupted by {name} while waiting for the lock on {}; nothing was synced",
                    endpoint.name()
                ),
                None if stopped.merged.is_empty() => format!(
                    "interrupted by {name}: the syncs in progress were rolled back; the mirror \
                     is as it was"
                ),
                None => format!(
                    "interrupted by {name}: the syncs in progress were rolled back; {} was \
                     merged before it",
                    stopped
                        .merged
                        .iter()
                        .map(|e| e.name())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            };
            return Err(Failure::new(code, message));
        }
    };
    // Every endpoint that arrived was merged; each failure is said by endpoint, and the
    // first one's code is the exit code.
    let mut first_failure: Option<Failure> = None;
    for (endpoint, outcome) in outcomes {
        match outcome {
            Ok(merged) => report(
                &merged.summary,
                &reporter.issues(endpoint),
                merged.seconds,
                quiet,
            ),
            Err(failure) => {
                let failure = failed(endpoint, failure);
                if first_failure.is_some() {
                    eprintln!("kiss: {}", escaped(&failure.message));
                } else {
                    first_failure = Some(failure);
                }
            }
        }
    }
    first_failure.map_or(Ok(()), Err)
}

/// How much of a response's body a PostgreSQL merge's thread takes at a time, and how many
/// such pieces wait for it at most (about three-quarters of a MiB an endpoint).
const READ_AHEAD_PIECE: usize = 256 << 10;
const READ_AHEAD_PIECES: usize = 2;

/// `kiss sync --every`: each endpoint on its own interval (see `Mirror::schedule`) until
/// SIGTERM or Ctrl-C, which end the run in progress by rolling it back and exit 0.
async fn scheduled(
    client: &Client,
    mirror: Mirror,
    plan: Plan,
    every: Every,
    reporter: std::sync::Arc<Reporter>,
    mut interrupt: Interrupt,
) -> Result<(), Failure> {
    let quiet = reporter.quiet;
    let ((name, _), halted) = mirror
        .schedule(
            &Api(client),
            &plan,
            &every,
            reporter.as_ref(),
            interrupt.wait(),
            |endpoint, outcome| match outcome {
                Ok(merged) => report(
                    &merged.summary,
                    &reporter.issues(endpoint),
                    merged.seconds,
                    quiet,
                ),
                // Recorded in the mirror's runs.
                Err(failure) => eprintln!(
                    "kiss: {}; retrying at the next run",
                    escaped(&failed(endpoint, failure).message)
                ),
            },
        )
        .await;
    if !quiet {
        match halted {
            Halt::Idle => eprintln!("kiss: {name}: stopping (no sync was running)"),
            Halt::Waiting(endpoint) => eprintln!(
                "kiss: interrupted by {name} while waiting for the lock on {}; stopping",
                endpoint.name()
            ),
            Halt::Running(endpoint) => eprintln!(
                "kiss: {name}: stopping; the {} sync in progress was rolled back",
                endpoint.name()
            ),
        }
    }
    Ok(())
}

/// `--since`: a date, a time, or a span back from now.
fn since(text: &str) -> Result<String, Failure> {
    if let Ok(span) = span(text) {
        // A span reaching back before the calendar's start is a mistake, not a panic.
        let at = chrono::Duration::from_std(span)
            .ok()
            .and_then(|span| crate::time::now().checked_sub_signed(span))
            .ok_or_else(|| {
                Failure::new(
                    exit::USAGE,
                    format!("--since {text:?} reaches back further than any date kiss can hold"),
                )
            })?;
        return Ok(kiss_store::timestamp(at));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(kiss_store::timestamp(at.with_timezone(&Utc)));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.format("%Y-%m-%d").to_string());
    }
    Err(Failure::new(
        exit::USAGE,
        format!(
            "--since {text:?} is not a date (2026-11-25), a time (2026-11-25T08:00:00Z) or a \
             span back from now (90m, 6h, 2d)"
        ),
    ))
}

/// `kiss changes`.
pub(crate) fn changes(args: ChangesArgs) -> Result<(), Failure> {
    if args.csv_safe && args.format != ChangesFormat::Csv {
        return Err(Failure::new(
            exit::USAGE,
            "--csv-safe is for --format csv (the other formats are not opened as spreadsheets)",
        ));
    }
    let mut mirror = args.database.open_existing()?;
    let engine = mirror.engine();
    let query = ChangeQuery {
        endpoint: args.endpoint,
        since: args.since.as_deref().map(since).transpose()?,
        limit: args.limit,
    };
    let changes = engine.changes(&query).map_err(store_failure)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.format {
        ChangesFormat::Table => changes.iter().try_for_each(|c| {
            // Keys, names and values are the server's: escaped, so that none can move the
            // cursor or forge a line.
            let moved = match (&c.column, c.change) {
                (Some(column), _) => format!(
                    "  {} {} → {}",
                    escaped(column),
                    escaped(c.old.as_deref().unwrap_or("∅")),
                    escaped(c.new.as_deref().unwrap_or("∅"))
                ),
                (None, _) => String::new(),
            };
            writeln!(
                out,
                "{}  {:<8}  {:<8}  {}{moved}",
                c.at,
                c.endpoint,
                c.change.name(),
                escaped(&c.key)
            )
        }),
        ChangesFormat::Json => serde_json::to_writer_pretty(&mut out, &changes)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out)),
        ChangesFormat::Ndjson => changes.iter().try_for_each(|c| {
            serde_json::to_writer(&mut out, c)
                .map_err(std::io::Error::other)
                .and_then(|()| writeln!(out))
        }),
        ChangesFormat::Csv => {
            let mut csv = csv::Writer::from_writer(&mut out);
            let rows = std::iter::once(
                [
                    "load", "at", "endpoint", "key", "change", "column", "old", "new",
                ]
                .map(String::from),
            )
            .chain(changes.iter().map(|c| {
                [
                    c.load.to_string(),
                    c.at.clone(),
                    c.endpoint.clone(),
                    c.key.clone(),
                    c.change.name().to_owned(),
                    c.column.clone().unwrap_or_default(),
                    c.old.clone().unwrap_or_default(),
                    c.new.clone().unwrap_or_default(),
                ]
            }));
            rows.into_iter()
                .try_for_each(|row| {
                    if args.csv_safe {
                        csv.write_record(
                            row.iter()
                                .map(|cell| crate::output::spreadsheet_safe(cell.as_bytes())),
                        )
                    } else {
                        csv.write_record(&row)
                    }
                })
                .and_then(|()| csv.flush().map_err(csv::Error::from))
                .map_err(std::io::Error::other)
        }
    };
    written.and_then(|()| out.flush()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // `kiss changes | head`: the reader has what it wanted.
            Failure::new(exit::BROKEN_PIPE, "")
        } else {
            Failure::new(exit::FAILURE, format!("cannot write the changes: {e}"))
        }
    })
}

/// `kiss status`.
pub(crate) fn status(args: StatusArgs, json: bool) -> Result<(), Failure> {
    let mut mirror = args.database.open_existing()?;
    let schedules = mirror.engine().schedules().map_err(store_failure)?;
    let customer = mirror
        .identity()
        .map_err(store_failure)?
        .map(|identity| identity.customer)
        .unwrap_or_default();
    let mut report = Vec::new();
    for endpoint in Endpoint::ALL {
        let last = mirror
            .engine()
            .loads(Some(endpoint), 1)
            .map_err(store_failure)?
            .into_iter()
            .next();
        // A run recorded as running whose lock nobody holds died before it could say so.
        let stale = match &last {
            Some(load) if load.status == LoadStatus::Running => mirror
                .syncing(&customer, endpoint)
                .map_err(store_failure)?
                .is_none(),
            _ => false,
        };
        let schedule = schedules.iter().find(|s| s.endpoint == endpoint.name());
        report.push((endpoint, last, stale, schedule.cloned()));
    }
    if json {
        let value: Vec<serde_json::Value> = report
            .iter()
            .map(|(endpoint, last, stale, schedule)| {
                serde_json::json!({
                    "endpoint": endpoint.name(),
                    "last": last,
                    "stale": stale,
                    "schedule": schedule,
                })
            })
            .collect();
        crate::print_json(&serde_json::Value::Array(value));
        return Ok(());
    }
    for (endpoint, last, stale, schedule) in report {
        let last = match last {
            None => "never synced".to_owned(),
            Some(load) => {
                let by = load
                    .holder
                    .as_deref()
                    .map(|h| format!(" on {}", escaped(h)))
                    .unwrap_or_default();
                let outcome = match load.status {
                    LoadStatus::Ok => format!(
                        "ok: {} records, {} inserted, {} updated, {} deleted",
                        load.records, load.inserted, load.updated, load.deleted
                    ),
                    LoadStatus::Running if stale => format!(
                        "stale: recorded as running{by}, but that process is gone; it ended \
                         without committing anything"
                    ),
                    LoadStatus::Running => format!("running{by}"),
                    LoadStatus::Failed => format!(
                        "failed: {}",
                        escaped(load.error.as_deref().unwrap_or("(no reason)"))
                    ),
                };
                format!("last {} ({outcome})", load.started)
            }
        };
        let next = match schedule {
            Some(s) => format!("next {} (every {})", s.next, span_text(s.every_secs)),
            None => "not scheduled".to_owned(),
        };
        println!("{:<8}  {last}; {next}", endpoint.name());
    }
    Ok(())
}

fn span_text(seconds: u64) -> String {
    match seconds {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_a_span_past_the_calendars_start_is_a_usage_error_not_a_panic() {
        let failure = since("100000000d").unwrap_err();
        assert_eq!(failure.code, exit::USAGE);
        assert!(
            failure.message.contains("reaches back further"),
            "{}",
            failure.message
        );
        assert!(since("2d").is_ok());
        assert_eq!(since("nonsense").unwrap_err().code, exit::USAGE);
    }
}
