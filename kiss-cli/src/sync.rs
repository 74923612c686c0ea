//! `kiss sync`, `kiss changes`, `kiss status`: a live mirror of the API in a database, kept by
//! kiss-store.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use kiss_client::{Client, Endpoint};
use kiss_store::{
    ChangeQuery, Claim, Engine, LoadStatus, OnSchemaChange, PostgresEngine, Schedule, SqliteEngine,
    StoreError, Summary, Sync,
};

use crate::export::{Interrupt, Issues};
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

/// A mirror's kind and place.
enum Mirror {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    fn mirror(&self) -> Result<Mirror, Failure> {
        if self.db.starts_with("postgres://") || self.db.starts_with("postgresql://") {
            return Ok(Mirror::Postgres(self.db.clone()));
        }
        let text = self.db.strip_prefix("sqlite:").unwrap_or(&self.db);
        if text.is_empty() {
            return Err(Failure::new(
                exit::USAGE,
                "--db needs a file path or a postgres:// URL",
            ));
        }
        Ok(Mirror::Sqlite(PathBuf::from(text)))
    }

    fn open(&self) -> Result<Box<dyn Engine>, Failure> {
        match self.mirror()? {
            Mirror::Sqlite(path) => match SqliteEngine::open(&path) {
                Ok(engine) => Ok(Box::new(engine)),
                Err(e) => Err(Failure::new(
                    exit::FAILURE,
                    format!("cannot open the mirror {}: {e}", path.display()),
                )),
            },
            Mirror::Postgres(url) => match PostgresEngine::open(&url) {
                Ok(engine) => Ok(Box::new(engine)),
                Err(e) => Err(Failure::new(
                    exit::FAILURE,
                    format!("cannot open the mirror: {e}"),
                )),
            },
        }
    }

    /// Opens an existing mirror for reading, creating nothing; a clear error when there is
    /// none.
    fn open_existing(&self) -> Result<Box<dyn Engine>, Failure> {
        let path = match self.mirror()? {
            Mirror::Postgres(url) => {
                return match PostgresEngine::open_existing(&url) {
                    Ok(engine) => Ok(Box::new(engine)),
                    Err(e) => Err(Failure::new(exit::FAILURE, e.to_string())),
                }
            }
            Mirror::Sqlite(path) => path,
        };
        if !path.exists() {
            return Err(Failure::new(
                exit::FAILURE,
                format!(
                    "there is no mirror at {} yet: run `kiss sync --db {}` first",
                    path.display(),
                    path.display()
                ),
            ));
        }
        self.open()
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
    #[arg(long, value_name = "SCHEDULE", value_parser = parse_every)]
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
}

#[derive(Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    database: Database,
}

/// A schedule: per endpoint, how often.
#[derive(Clone, Debug)]
pub(crate) struct Every(Vec<(Endpoint, Duration)>);

/// `products=6h,stock=15m`: each endpoint's interval, within the Datafeed App's bounds.
fn parse_every(text: &str) -> Result<Every, String> {
    let mut out: Vec<(Endpoint, Duration)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, span) = part.split_once('=').ok_or_else(|| {
            format!("{part:?} is not ENDPOINT=INTERVAL (such as products=6h,stock=15m)")
        })?;
        let endpoint = Endpoint::ALL
            .into_iter()
            .find(|e| e.name() == name.trim())
            .ok_or_else(|| format!("{name:?} is not an endpoint (products, stock, prices)"))?;
        let every = parse_span(span.trim())?;
        let minimum = match endpoint {
            Endpoint::Stock => 10,
            Endpoint::Products | Endpoint::Prices => 60,
        };
        let minutes = every.as_secs() / 60;
        if every.as_secs() < minimum * 60 || minutes > 1440 {
            return Err(format!(
                "{name} every {span} is out of bounds: {name} may sync every {minimum} to 1,440 \
                 minutes (the Datafeed App's bounds)"
            ));
        }
        if out.iter().any(|(e, _)| *e == endpoint) {
            return Err(format!("{name} is scheduled twice"));
        }
        out.push((endpoint, every));
    }
    if out.is_empty() {
        return Err("no endpoint scheduled (such as products=6h,stock=15m)".into());
    }
    Ok(Every(out))
}

/// `90s`, `15m`, `6h`, `2d`.
fn parse_span(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a span such as 90s, 15m, 6h or 2d"))?;
    let seconds = match unit {
        "s" => Some(n),
        "m" | "min" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(|| format!("{text:?} is not a span such as 90s, 15m, 6h or 2d"))?;
    Ok(Duration::from_secs(seconds))
}

fn store_failure(e: StoreError) -> Failure {
    let code = match e {
        StoreError::Frozen { .. } => exit::DRIFT,
        _ => exit::FAILURE,
    };
    Failure::new(code, e.to_string())
}

/// The one process syncing a mirror: an exclusive lock on `<db>.kiss-lock`, released when the
/// process ends however it ends. The file holds the holder's process id, for the message.
struct SyncLock {
    _file: File,
}

impl SyncLock {
    /// Takes the lock: `Ok(None)` when another process holds it and `no_wait` is set.
    async fn take(db: &Path, no_wait: bool, quiet: bool) -> Result<Option<SyncLock>, Failure> {
        let mut name = db.as_os_str().to_owned();
        name.push(".kiss-lock");
        let path = PathBuf::from(name);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                Failure::new(
                    exit::FAILURE,
                    format!("cannot open the lock file {}: {e}", path.display()),
                )
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    format!("another kiss (pid {holder})")
                };
                if no_wait {
                    eprintln!(
                        "kiss: {who} is syncing {}; not waiting (--no-wait)",
                        db.display()
                    );
                    return Ok(None);
                }
                if !quiet {
                    eprintln!(
                        "kiss: {who} is syncing {}; waiting for it to finish (--no-wait to exit \
                         instead)",
                        db.display()
                    );
                }
                file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                    .await
                    .map_err(|e| Failure::new(exit::FAILURE, format!("cannot wait: {e}")))?
                    .map_err(|e| {
                        Failure::new(
                            exit::FAILURE,
                            format!("cannot lock {}: {e}", path.display()),
                        )
                    })?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Failure::new(
                    exit::FAILURE,
                    format!("cannot lock {}: {e}", path.display()),
                ))
            }
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(Some(SyncLock { _file: file }))
    }
}

/// One endpoint's live schema and response, asked for (the body still arriving).
type Fetched = Result<(kiss_schema::SchemaDocument, kiss_client::RawRecords), kiss_client::Error>;

/// Syncs one endpoint: fetches its live schema and records, merges them in one transaction.
async fn sync_endpoint(
    client: &Client,
    engine: &mut dyn Engine,
    endpoint: Endpoint,
    on_schema_change: OnSchemaChange,
    quiet: bool,
) -> Result<(Summary, Issues), Failure> {
    let started = crate::time::now();
    let fetched = client.raw_records(endpoint).await;
    merge(
        engine,
        endpoint,
        fetched,
        started,
        on_schema_change,
        quiet,
        Turn::default(),
    )
    .await
}

/// When a merge that runs beside others may begin: after the one before it has begun (so
/// that runs are numbered in endpoint order, as one after another would be), telling the
/// next when it has.
#[derive(Default)]
struct Turn {
    after: Option<tokio::sync::oneshot::Receiver<()>>,
    then: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Merges one endpoint's response, as it arrives, in one transaction, beginning in `turn`.
async fn merge(
    engine: &mut dyn Engine,
    endpoint: Endpoint,
    fetched: Fetched,
    started: DateTime<Utc>,
    on_schema_change: OnSchemaChange,
    quiet: bool,
    turn: Turn,
) -> Result<(Summary, Issues), Failure> {
    if let Some(after) = turn.after {
        // A merge before it that failed to begin lets it go too.
        let _ = after.await;
    }
    let begun = fetched
        .map_err(Failure::from)
        .and_then(|(schema, records)| {
            Sync::begin(engine, endpoint, &schema, on_schema_change, started)
                .map(|sync| (sync, records))
                .map_err(store_failure)
        });
    if let Some(then) = turn.then {
        let _ = then.send(());
    }
    let (mut sync, mut records) = begun?;
    let mut issues = Issues::default();
    loop {
        let more = records
            .next_chunk(|record| {
                if !record.issues().is_empty() {
                    issues.add(record.issues());
                }
                sync.add(&record).map_err(store_failure)
            })
            .await?;
        if !more {
            break;
        }
        // Ctrl-C, raced against this future, is noticed between pieces of the body.
        tokio::task::yield_now().await;
    }
    let summary = sync.finish(crate::time::now()).map_err(store_failure)?;
    if !quiet {
        for change in &summary.schema_changes {
            eprintln!("kiss: {}: {change}", endpoint.name());
        }
    }
    Ok((summary, issues))
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
            summary.duplicate_keys.join(", "),
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
        eprintln!("kiss: {}: {line}", load.endpoint);
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

/// The quota's send log in a PostgreSQL mirror, for the client: every process of one
/// customer that syncs into the mirror, on any machine, paces its requests through it.
#[derive(Debug)]
struct MirrorQuota {
    log: kiss_store::postgres::QuotaLog,
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

/// For `kiss sync` into PostgreSQL, the mirror's quota log (`None`: this machine's file).
pub(crate) fn shared_quota(
    args: &SyncArgs,
) -> Result<Option<std::sync::Arc<dyn kiss_client::SharedQuota>>, Failure> {
    let Mirror::Postgres(url) = args.database.mirror()? else {
        return Ok(None);
    };
    let Some(customer) = args.connection.customer_code.clone() else {
        // The embedded sandbox's requests are its own.
        return Ok(None);
    };
    let log = kiss_store::postgres::QuotaLog::new(&url)
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    Ok(Some(std::sync::Arc::new(MirrorQuota { log, customer })))
}

/// How often a process waiting for another's lock on an endpoint asks again (polling keeps
/// the wait interruptible by Ctrl-C and SIGTERM).
const LOCK_POLL: Duration = Duration::from_millis(500);

/// Takes the mirror's lock on `customer`'s `endpoint` (PostgreSQL's advisory lock; a SQLite
/// mirror is locked whole by [`SyncLock`]), waiting for the process that holds it unless
/// `no_wait`: `Ok(false)` when it is held and `no_wait` is set, `Err` when interrupted.
async fn claim(
    engine: &mut dyn Engine,
    customer: &str,
    endpoint: Endpoint,
    no_wait: bool,
    quiet: bool,
    interrupt: &mut Interrupt,
) -> Result<bool, Failure> {
    let mut told = false;
    loop {
        let holder = match engine.try_lock(customer, endpoint).map_err(store_failure)? {
            Claim::Taken => return Ok(true),
            Claim::HeldBy(holder) => holder,
        };
        let what = format!(
            "{holder} is syncing {} of customer {customer} into {}",
            endpoint.name(),
            engine.describe()
        );
        if no_wait {
            eprintln!("kiss: {what}; not waiting (--no-wait)");
            return Ok(false);
        }
        if !told && !quiet {
            eprintln!("kiss: {what}; waiting for it to finish (--no-wait to exit instead)");
            told = true;
        }
        tokio::select! {
            () = tokio::time::sleep(LOCK_POLL) => {}
            (name, code) = interrupt.wait() => return Err(Failure::new(
                code,
                format!("interrupted by {name} while waiting for {holder}; nothing was synced"),
            )),
        }
    }
}

/// `kiss sync`: once, or on a schedule with `--every`.
pub(crate) async fn run(client: &Client, args: SyncArgs, quiet: bool) -> Result<(), Failure> {
    let mut interrupt = Interrupt::listen()?;
    let _file_lock = match args.database.mirror()? {
        Mirror::Sqlite(path) => match SyncLock::take(&path, args.no_wait, quiet).await? {
            Some(lock) => Some(lock),
            None => return Ok(()),
        },
        Mirror::Postgres(_) => None,
    };
    let mut engine = args.database.open()?;
    let engine = engine.as_mut();
    let on_change = match args.on_schema_change {
        SchemaChangeContract::Evolve => OnSchemaChange::Evolve,
        SchemaChangeContract::Freeze => OnSchemaChange::Freeze,
    };
    let customer = client.customer_code().to_owned();
    let Some(every) = args.every else {
        // Only the endpoints whose locks this process holds are asked for.
        let mut endpoints = Vec::new();
        for endpoint in endpoints_of(&args.endpoints) {
            if claim(
                engine,
                &customer,
                endpoint,
                args.no_wait,
                quiet,
                &mut interrupt,
            )
            .await?
            {
                endpoints.push(endpoint);
            }
        }
        // Every endpoint is asked for at once: while one is merged, the others' bodies are
        // already on their way (the server fills the connections' buffers), so a sync of
        // three endpoints waits for the network about as long as one.
        let started = crate::time::now();
        if let Mirror::Postgres(url) = args.database.mirror()? {
            let fetching = endpoints.iter().map(|e| client.raw_records(*e)).collect();
            let outcomes = merge_side_by_side(
                &url,
                endpoints.clone(),
                fetching,
                started,
                on_change,
                quiet,
                &mut interrupt,
            )
            .await?;
            let mut failed = None;
            for (endpoint, outcome) in outcomes {
                match outcome {
                    Ok((summary, issues, seconds)) => report(&summary, &issues, seconds, quiet),
                    Err(f) => {
                        let failure = Failure::new(
                            f.code,
                            format!(
                                "{}: {} (the mirror is as it was)",
                                endpoint.name(),
                                f.message
                            ),
                        );
                        if failed.is_some() {
                            eprintln!("kiss: {}", failure.message);
                        } else {
                            failed = Some(failure);
                        }
                    }
                }
                if let Err(e) = engine.unlock(&customer, endpoint) {
                    eprintln!("kiss: cannot release the lock on {}: {e}", endpoint.name());
                }
            }
            return failed.map_or(Ok(()), Err);
        }
        let fetches = tokio::select! {
            fetches = futures_util::future::join_all(endpoints.iter().map(|e| client.raw_records(*e))) => fetches,
            (name, code) = interrupt.wait() => return Err(Failure::new(
                code,
                format!("interrupted by {name} before any data arrived; the mirror is as it was"),
            )),
        };
        for (endpoint, fetched) in endpoints.into_iter().zip(fetches) {
            let clock = std::time::Instant::now();
            let outcome = tokio::select! {
                outcome = merge(engine, endpoint, fetched, started, on_change, quiet, Turn::default()) => outcome,
                (name, code) = interrupt.wait() => Err(Failure::new(
                    code,
                    format!(
                        "interrupted by {name}: the {} sync was rolled back; the mirror is as it was",
                        endpoint.name()
                    ),
                )),
            };
            let (summary, issues) = outcome.map_err(|f| {
                Failure::new(
                    f.code,
                    format!(
                        "{}: {} (the mirror is as it was)",
                        endpoint.name(),
                        f.message
                    ),
                )
            })?;
            report(&summary, &issues, clock.elapsed().as_secs_f64(), quiet);
            if let Err(e) = engine.unlock(&customer, endpoint) {
                eprintln!("kiss: cannot release the lock on {}: {e}", endpoint.name());
            }
        }
        return Ok(());
    };
    scheduled(
        client, engine, &customer, every, on_change, interrupt, quiet,
    )
    .await
}

/// How much of a response's body [`merge_side_by_side`] hands to its merge's thread at a
/// time, and how many such pieces wait for it at most (about three-quarters of a MiB an
/// endpoint).
const READ_AHEAD_PIECE: usize = 256 << 10;
const READ_AHEAD_PIECES: usize = 2;

/// One endpoint's merge, as [`merge_side_by_side`] reports it: its summary, the records'
/// issues and how long it took.
type Merged = Result<(Summary, Issues, f64), Failure>;

/// Merges each endpoint's response into a PostgreSQL mirror on a connection (and thread) of
/// its own, all at once: each is its own transaction anyway, and while one endpoint's rows
/// are indexed and committed by the server the others' are being read and copied (SQLite has
/// one writer at a time, so its endpoints are merged one after another). The connections are
/// opened while `fetching` (each endpoint's request, in `endpoints`' order) waits for the
/// server, and each merge begins as soon as its response does. Ctrl-C or SIGTERM rolls
/// every one of them back.
async fn merge_side_by_side(
    url: &str,
    endpoints: Vec<Endpoint>,
    fetching: Vec<impl std::future::Future<Output = Fetched>>,
    started: DateTime<Utc>,
    on_change: OnSchemaChange,
    quiet: bool,
    interrupt: &mut Interrupt,
) -> Result<Vec<(Endpoint, Merged)>, Failure> {
    let (cancel, cancelled) = tokio::sync::watch::channel(false);
    let mut running = Vec::new();
    let mut responses = Vec::new();
    let mut previous: Option<tokio::sync::oneshot::Receiver<()>> = None;
    for endpoint in endpoints {
        let url = url.to_owned();
        let mut cancelled = cancelled.clone();
        let (then, next) = tokio::sync::oneshot::channel();
        let turn = Turn {
            after: previous.replace(next),
            then: Some(then),
        };
        let (respond, response) = tokio::sync::oneshot::channel::<Fetched>();
        responses.push(Some(respond));
        // The response's body is still read by this runtime's connections, ahead of the
        // merge, which takes it in pieces on its own thread.
        let merged = tokio::task::spawn_blocking(move || -> Merged {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::new(exit::FAILURE, format!("cannot start a merge: {e}")))?;
            runtime.block_on(async move {
                let clock = std::time::Instant::now();
                let mut engine = PostgresEngine::open(&url).map_err(store_failure)?;
                let stopped = || Failure::new(exit::FAILURE, "cancelled");
                let fetched = tokio::select! {
                    fetched = response => fetched.map_err(|_| stopped())?,
                    _ = cancelled.changed() => return Err(stopped()),
                };
                tokio::select! {
                    outcome = merge(&mut engine, endpoint, fetched, started, on_change, quiet, turn) => {
                        let (summary, issues) = outcome?;
                        Ok((summary, issues, clock.elapsed().as_secs_f64()))
                    }
                    _ = cancelled.changed() => Err(stopped()),
                }
            })
        });
        running.push((endpoint, merged));
    }
    // Each response goes to its merge as it comes.
    let mut arriving: futures_util::stream::FuturesUnordered<_> = fetching
        .into_iter()
        .enumerate()
        .map(|(i, fetch)| async move { (i, fetch.await) })
        .collect();
    loop {
        tokio::select! {
            arrived = futures_util::StreamExt::next(&mut arriving) => match arrived {
                Some((i, fetched)) => {
                    if let Some(respond) = responses.get_mut(i).and_then(Option::take) {
                        let fetched = fetched.map(|(schema, records)| {
                            (schema, records.read_ahead(READ_AHEAD_PIECE, READ_AHEAD_PIECES))
                        });
                        let _ = respond.send(fetched);
                    }
                }
                None => break,
            },
            (name, code) = interrupt.wait() => {
                let _ = cancel.send(true);
                drop(responses);
                let _ = futures_util::future::join_all(running.into_iter().map(|(_, m)| m)).await;
                return Err(Failure::new(
                    code,
                    format!(
                        "interrupted by {name} while the data was asked for: the syncs begun \
                         were rolled back; the mirror is as it was"
                    ),
                ));
            }
        }
    }
    let (endpoints, merges): (Vec<Endpoint>, Vec<_>) = running.into_iter().unzip();
    let all = futures_util::future::join_all(merges);
    tokio::pin!(all);
    let joined = tokio::select! {
        joined = &mut all => joined,
        (name, code) = interrupt.wait() => {
            let _ = cancel.send(true);
            let _ = all.await;
            return Err(Failure::new(
                code,
                format!("interrupted by {name}: the syncs in progress were rolled back; the mirror is as it was"),
            ));
        }
    };
    Ok(endpoints
        .into_iter()
        .zip(joined)
        .map(|(endpoint, joined)| {
            let merged = joined.unwrap_or_else(|e| {
                Err(Failure::new(
                    exit::FAILURE,
                    format!("the merge stopped: {e}"),
                ))
            });
            (endpoint, merged)
        })
        .collect())
}

/// A random fraction in [0, 1) from the standard library's per-process random keys.
fn random_fraction() -> f64 {
    use std::hash::BuildHasher;
    let bits =
        std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// When the mirror says `endpoint` runs next on the same interval, if another process (or an
/// earlier run of this one) has already done the run now due.
fn recorded_next(
    engine: &mut dyn Engine,
    endpoint: Endpoint,
    interval: Duration,
) -> Option<DateTime<Utc>> {
    let schedule = engine
        .schedules()
        .ok()?
        .into_iter()
        .find(|s| s.endpoint == endpoint.name() && s.every_secs == interval.as_secs())?;
    let next = DateTime::parse_from_rfc3339(&schedule.next).ok()?;
    Some(next.with_timezone(&Utc)).filter(|next| *next > crate::time::now())
}

/// `kiss sync --every`: each endpoint on its own interval (plus up to 5% of it at random, so
/// that many mirrors started together drift apart), until SIGTERM or Ctrl-C, which end the
/// current sync by rolling it back and exit 0. A failed run is recorded in `_kiss_loads` and
/// retried at its next time. Requests stay inside both quota windows: the client paces them.
///
/// The schedule lives in the mirror (`_kiss_schedule`): a run is done under the endpoint's
/// lock only if the mirror does not already say a later time, so several processes syncing
/// one customer into one mirror do every scheduled run once between them, and a restarted
/// process carries on where the schedule stands.
async fn scheduled(
    client: &Client,
    engine: &mut dyn Engine,
    customer: &str,
    every: Every,
    on_change: OnSchemaChange,
    mut interrupt: Interrupt,
    quiet: bool,
) -> Result<(), Failure> {
    let now = crate::time::now();
    let mut next: Vec<(Endpoint, Duration, DateTime<Utc>)> = every
        .0
        .iter()
        .map(|(e, d)| (*e, *d, recorded_next(engine, *e, *d).unwrap_or(now)))
        .collect();
    loop {
        let Some(index) = (0..next.len()).min_by_key(|&i| next[i].2) else {
            return Ok(());
        };
        let (endpoint, interval, due) = next[index];
        let wait = (due - crate::time::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            () = crate::time::sleep(wait) => {}
            (name, _) = interrupt.wait() => {
                if !quiet {
                    eprintln!("kiss: {name}: stopping (no sync was running)");
                }
                return Ok(());
            }
        }
        match claim(engine, customer, endpoint, false, quiet, &mut interrupt).await {
            Ok(_) => {}
            Err(failure) if is_interruption(&failure) => {
                if !quiet {
                    eprintln!("kiss: {}; stopping", failure.message);
                }
                return Ok(());
            }
            Err(failure) => {
                eprintln!(
                    "kiss: {}: {} (retrying at the next run)",
                    endpoint.name(),
                    failure.message
                );
                next[index].2 = crate::time::now()
                    + chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
                continue;
            }
        }
        if let Some(later) = recorded_next(engine, endpoint, interval) {
            // Another process did this run while this one waited.
            next[index].2 = later;
            if let Err(e) = engine.unlock(customer, endpoint) {
                eprintln!("kiss: cannot release the lock on {}: {e}", endpoint.name());
            }
            continue;
        }
        let started = crate::time::now();
        let clock = std::time::Instant::now();
        let outcome = tokio::select! {
            outcome = sync_endpoint(client, engine, endpoint, on_change, quiet) => Some(outcome),
            (name, _) = interrupt.wait() => {
                if !quiet {
                    eprintln!(
                        "kiss: {name}: stopping; the {} sync in progress was rolled back",
                        endpoint.name()
                    );
                }
                None
            }
        };
        let Some(outcome) = outcome else {
            return Ok(());
        };
        match outcome {
            Ok((summary, issues)) => {
                report(&summary, &issues, clock.elapsed().as_secs_f64(), quiet)
            }
            Err(failure) => {
                eprintln!(
                    "kiss: {}: {} (the mirror is as it was; retrying at the next run)",
                    endpoint.name(),
                    failure.message
                );
                if let Err(e) =
                    kiss_store::record_failure(engine, endpoint, "", started, &failure.message)
                {
                    eprintln!("kiss: cannot record the failure: {e}");
                }
            }
        }
        let jitter = interval.mul_f64(0.05 * random_fraction());
        let due = started
            + chrono::Duration::from_std(interval + jitter).unwrap_or(chrono::Duration::MAX);
        next[index].2 = due;
        let schedule = Schedule {
            endpoint: endpoint.name().to_owned(),
            every_secs: interval.as_secs(),
            next: kiss_store::timestamp(due),
        };
        let recorded = engine
            .begin()
            .and_then(|()| engine.set_schedule(&schedule))
            .and_then(|()| engine.commit());
        if let Err(e) = recorded {
            let _ = engine.rollback();
            eprintln!("kiss: cannot record the schedule: {e}");
        }
        if let Err(e) = engine.unlock(customer, endpoint) {
            eprintln!("kiss: cannot release the lock on {}: {e}", endpoint.name());
        }
    }
}

/// Whether a failure is Ctrl-C or SIGTERM.
fn is_interruption(failure: &Failure) -> bool {
    [exit::INTERRUPTED, exit::TERMINATED, exit::HANGUP].contains(&failure.code)
}

/// `--since`: a date, a time, or a span back from now.
fn since(text: &str) -> Result<String, Failure> {
    if let Ok(span) = parse_span(text) {
        let at =
            crate::time::now() - chrono::Duration::from_std(span).unwrap_or(chrono::Duration::MAX);
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
    let mut engine = args.database.open_existing()?;
    let engine = engine.as_mut();
    let query = ChangeQuery {
        endpoint: args.endpoint,
        since: args.since.as_deref().map(since).transpose()?,
        limit: args.limit,
    };
    let changes = engine.changes(&query).map_err(store_failure)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.format {
        ChangesFormat::Table => changes.iter().try_for_each(|c| {
            let moved = match (&c.column, c.change) {
                (Some(column), _) => format!(
                    "  {column} {} → {}",
                    c.old.as_deref().unwrap_or("∅"),
                    c.new.as_deref().unwrap_or("∅")
                ),
                (None, _) => String::new(),
            };
            writeln!(
                out,
                "{}  {:<8}  {:<8}  {}{moved}",
                c.at,
                c.endpoint,
                c.change.name(),
                c.key
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
                .try_for_each(|row| csv.write_record(&row))
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
    let mut engine = args.database.open_existing()?;
    let engine = engine.as_mut();
    let schedules = engine.schedules().map_err(store_failure)?;
    let mut report = Vec::new();
    for endpoint in Endpoint::ALL {
        let last = engine
            .loads(Some(endpoint), 1)
            .map_err(store_failure)?
            .into_iter()
            .next();
        let schedule = schedules.iter().find(|s| s.endpoint == endpoint.name());
        report.push((endpoint, last, schedule.cloned()));
    }
    if json {
        let value: Vec<serde_json::Value> = report
            .iter()
            .map(|(endpoint, last, schedule)| {
                serde_json::json!({
                    "endpoint": endpoint.name(),
                    "last": last,
                    "schedule": schedule,
                })
            })
            .collect();
        crate::print_json(&serde_json::Value::Array(value));
        return Ok(());
    }
    for (endpoint, last, schedule) in report {
        let last = match last {
            None => "never synced".to_owned(),
            Some(load) => {
                let outcome = match load.status {
                    LoadStatus::Ok => format!(
                        "ok: {} records, {} inserted, {} updated, {} deleted",
                        load.records, load.inserted, load.updated, load.deleted
                    ),
                    LoadStatus::Running => "running".to_owned(),
                    LoadStatus::Failed => {
                        format!("failed: {}", load.error.as_deref().unwrap_or("(no reason)"))
                    }
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
    fn schedules_within_the_datafeed_apps_bounds() {
        let every = parse_every("products=6h,stock=15m,prices=1440m").unwrap();
        assert_eq!(every.0.len(), 3);
        assert_eq!(every.0[1], (Endpoint::Stock, Duration::from_secs(900)));
        let too_often = parse_every("stock=5m").unwrap_err();
        assert!(
            too_often.contains("every 10 to 1,440 minutes"),
            "{too_often}"
        );
        let products = parse_every("products=30m").unwrap_err();
        assert!(products.contains("every 60 to 1,440 minutes"), "{products}");
        assert!(parse_every("stock=2d").is_err());
        assert!(parse_every("stock=15m,stock=20m").is_err());
        assert!(parse_every("orders=1h").is_err());
        assert!(parse_every("stock=15x").is_err());
    }
}
