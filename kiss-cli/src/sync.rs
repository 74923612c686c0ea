//! `kiss sync`, `kiss changes`, `kiss status`: a live mirror of the API in a database, kept by
//! kiss-store.

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use kiss_client::{Client, Endpoint};
use kiss_store::schedule::{jitter_fraction, next_due, record_next, recorded_next, span};
use kiss_store::{
    ChangeQuery, Engine, Every, Identity, LoadStatus, Location, Locked, Mirror, OnSchemaChange,
    StoreError, Summary, Sync,
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
        Mirror::open(&self.location()?).map_err(|e| {
            Failure::new(
                exit::FAILURE,
                format!("cannot open the mirror {}: {e}", self.described()),
            )
        })
    }

    /// Opens an existing mirror for reading, creating nothing; a clear error when there is
    /// none.
    fn open_existing(&self) -> Result<Mirror, Failure> {
        let location = self.location()?;
        Mirror::open_existing(&location).map_err(|e| match (e, &location) {
            (StoreError::NoMirror { .. }, Location::Sqlite(path)) => Failure::new(
                exit::FAILURE,
                format!(
                    "there is no mirror at {} yet: run `kiss sync --db {}` first",
                    path.display(),
                    path.display()
                ),
            ),
            (e, _) => Failure::new(exit::FAILURE, e.to_string()),
        })
    }

    /// The mirror for messages: a SQLite path as given; a URL never (it may hold a
    /// password), the engine says it without one.
    fn described(&self) -> String {
        match Location::parse(&self.db) {
            Ok(Location::Sqlite(path)) => path.display().to_string(),
            _ => "in PostgreSQL".to_owned(),
        }
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
/// Every failure is recorded in the mirror's runs: one before the sync could begin (the
/// response never came) as a failed run started at `started`; one after it, by the sync.
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
    let begun = match fetched {
        Ok((schema, records)) => Sync::begin(
            engine,
            endpoint,
            &schema,
            on_schema_change,
            started,
            crate::time::now,
        )
        .map(|sync| (sync, records))
        .map_err(store_failure),
        Err(e) => {
            let failure = Failure::from(e);
            record_failure(engine, endpoint, started, &failure.message);
            Err(failure)
        }
    };
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
            .await;
        match more {
            Ok(true) => {}
            Ok(false) => break,
            Err(failure) => {
                sync.fail(&failure.message);
                return Err(failure);
            }
        }
        // Ctrl-C, raced against this future, is noticed between pieces of the body.
        tokio::task::yield_now().await;
    }
    let summary = sync.finish().map_err(store_failure)?;
    if !quiet {
        for change in &summary.schema_changes {
            eprintln!("kiss: {}: {change}", endpoint.name());
        }
    }
    Ok((summary, issues))
}

/// Records a run that failed before its sync began; a mirror that cannot record it is said
/// so, and the failure itself still reaches the caller.
fn record_failure(
    engine: &mut dyn Engine,
    endpoint: Endpoint,
    started: DateTime<Utc>,
    error: &str,
) {
    if let Err(e) =
        kiss_store::record_failure(engine, endpoint, "", started, crate::time::now(), error)
    {
        eprintln!(
            "kiss: {}: cannot record the failure in the mirror: {e}",
            endpoint.name()
        );
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
    let Location::Postgres(url) = args.database.location()? else {
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

/// Takes the mirror's lock on `customer`'s `endpoint`, waiting for the process that holds it
/// unless `no_wait`: `Ok(false)` when it is held and `no_wait` is set, `Err` when Ctrl-C or
/// SIGTERM ends the wait.
async fn claim(
    mirror: &mut Mirror,
    customer: &str,
    endpoint: Endpoint,
    no_wait: bool,
    quiet: bool,
    interrupt: &mut Interrupt,
) -> Result<bool, Failure> {
    let described = mirror.describe();
    let what = |holder: &str| {
        format!(
            "{} is syncing {} of customer {customer} into {described}",
            crate::terminal::escaped(holder),
            endpoint.name(),
        )
    };
    let locked = mirror
        .lock(customer, endpoint, !no_wait, interrupt.wait(), |holder| {
            if !quiet {
                eprintln!(
                    "kiss: {}; waiting for it to finish (--no-wait to exit instead)",
                    what(holder)
                );
            }
        })
        .await
        .map_err(store_failure)?;
    match locked {
        Locked::Taken => Ok(true),
        Locked::Busy(holder) => {
            eprintln!("kiss: {}; not waiting (--no-wait)", what(&holder));
            Ok(false)
        }
        Locked::Stopped((name, code)) => Err(Failure::new(
            code,
            format!(
                "interrupted by {name} while waiting for the lock on {}; nothing was synced",
                endpoint.name()
            ),
        )),
    }
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
    let on_change = match args.on_schema_change {
        SchemaChangeContract::Evolve => OnSchemaChange::Evolve,
        SchemaChangeContract::Freeze => OnSchemaChange::Freeze,
    };
    if let Some(every) = args.every {
        return scheduled(
            client,
            &mut mirror,
            &customer,
            every,
            on_change,
            interrupt,
            quiet,
        )
        .await;
    }
    let endpoints = endpoints_of(&args.endpoints);
    let started = crate::time::now();
    let outcomes = if let Location::Postgres(url) = mirror.location().clone() {
        // Each endpoint's merge has a connection of its own, which takes its lock: this one
        // has done its part (the mirror's identity), and is not held through the sync.
        drop(mirror);
        let merging = SideBySide {
            url,
            customer: customer.clone(),
            no_wait: args.no_wait,
            on_change,
            quiet,
            started,
        };
        merging.run(client, endpoints, &mut interrupt).await?
    } else {
        one_after_another(
            client,
            &mut mirror,
            &customer,
            endpoints,
            (args.no_wait, on_change, quiet, started),
            &mut interrupt,
        )
        .await?
    };
    // Every endpoint that arrived was merged; each failure is said by endpoint, and the
    // first one's code is the exit code.
    let mut failed: Option<Failure> = None;
    for (endpoint, outcome) in outcomes {
        match outcome {
            Ok((summary, issues, seconds)) => report(&summary, &issues, seconds, quiet),
            Err(f) => {
                let failure = Failure::new(
                    f.code,
                    format!(
                        "{}: {} (its sync was rolled back: {} in the mirror is as it was)",
                        endpoint.name(),
                        f.message,
                        endpoint.name()
                    ),
                );
                if failed.is_some() {
                    eprintln!("kiss: {}", failure.message);
                } else {
                    failed = Some(failure);
                }
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

/// A one-off sync into SQLite: every endpoint is asked for at once (while one is merged, the
/// others' bodies are already on their way), then merged one after another under the
/// mirror's lock, which is released at the end.
async fn one_after_another(
    client: &Client,
    mirror: &mut Mirror,
    customer: &str,
    endpoints: Vec<Endpoint>,
    (no_wait, on_change, quiet, started): (bool, OnSchemaChange, bool, DateTime<Utc>),
    interrupt: &mut Interrupt,
) -> Result<Vec<(Endpoint, Merged)>, Failure> {
    let mut locked = Vec::new();
    for endpoint in endpoints {
        if claim(mirror, customer, endpoint, no_wait, quiet, interrupt).await? {
            locked.push(endpoint);
        }
    }
    let fetches = tokio::select! {
        fetches = futures_util::future::join_all(locked.iter().map(|e| client.raw_records(*e))) => fetches,
        (name, code) = interrupt.wait() => return Err(Failure::new(
            code,
            format!("interrupted by {name} before any data arrived; the mirror is as it was"),
        )),
    };
    let mut outcomes = Vec::new();
    for (endpoint, fetched) in locked.iter().copied().zip(fetches) {
        let clock = std::time::Instant::now();
        let outcome = tokio::select! {
            outcome = merge(mirror.engine(), endpoint, fetched, started, on_change, quiet, Turn::default()) => outcome,
            (name, code) = interrupt.wait() => {
                let merged: Vec<&str> = outcomes.iter().filter(|(_, o): &&(Endpoint, Merged)| o.is_ok()).map(|(e, _)| e.name()).collect();
                let kept = if merged.is_empty() {
                    "the mirror is as it was".to_owned()
                } else {
                    format!("{} was merged before it", merged.join(" and "))
                };
                return Err(Failure::new(
                    code,
                    format!(
                        "interrupted by {name}: the {} sync was rolled back; {kept}",
                        endpoint.name()
                    ),
                ));
            }
        };
        outcomes.push((
            endpoint,
            outcome.map(|(summary, issues)| (summary, issues, clock.elapsed().as_secs_f64())),
        ));
    }
    for endpoint in locked {
        if let Err(e) = mirror.unlock(customer, endpoint) {
            eprintln!("kiss: cannot release the lock on {}: {e}", endpoint.name());
        }
    }
    Ok(outcomes)
}

/// How much of a response's body [`SideBySide`] hands to its merge's thread at a time, and
/// how many such pieces wait for it at most (about three-quarters of a MiB an endpoint).
const READ_AHEAD_PIECE: usize = 256 << 10;
const READ_AHEAD_PIECES: usize = 2;

/// One endpoint's merge, as it is reported: its summary, the records' issues and how long
/// it took.
type Merged = Result<(Summary, Issues, f64), Failure>;

/// A one-off sync into PostgreSQL, each endpoint merged on a connection (and thread) of its
/// own, all at once: each is its own transaction anyway, and while one endpoint's rows are
/// indexed and committed by the server the others' are being read and copied (SQLite has
/// one writer at a time, so its endpoints are merged one after another).
///
/// Each merge's connection takes its endpoint's lock, so that the lock and the transaction
/// live and die together (a lost connection fails the run; see `StoreError::LockLost`); an
/// endpoint is asked for as soon as its lock is taken, and merged as soon as its response
/// begins. Ctrl-C or SIGTERM rolls every one of them back.
struct SideBySide {
    url: String,
    customer: String,
    no_wait: bool,
    on_change: OnSchemaChange,
    quiet: bool,
    started: DateTime<Utc>,
}

impl SideBySide {
    async fn run(
        self,
        client: &Client,
        endpoints: Vec<Endpoint>,
        interrupt: &mut Interrupt,
    ) -> Result<Vec<(Endpoint, Merged)>, Failure> {
        let (cancel, cancelled) = tokio::sync::watch::channel(false);
        let mut running = Vec::new();
        let mut asking = Vec::new();
        let mut responses = Vec::new();
        let mut previous: Option<tokio::sync::oneshot::Receiver<()>> = None;
        for endpoint in endpoints.iter().copied() {
            let (then, next) = tokio::sync::oneshot::channel();
            let turn = Turn {
                after: previous.replace(next),
                then: Some(then),
            };
            let (respond, response) = tokio::sync::oneshot::channel::<Fetched>();
            let (locked, lock_taken) = tokio::sync::oneshot::channel::<bool>();
            responses.push(Some(respond));
            asking.push(lock_taken);
            running.push(self.spawn(endpoint, cancelled.clone(), locked, response, turn));
        }
        // Each endpoint is asked for once its lock is taken, and its response goes to its
        // merge as it comes.
        let mut arriving: futures_util::stream::FuturesUnordered<_> = asking
            .into_iter()
            .zip(endpoints.iter().copied())
            .enumerate()
            .map(|(i, (lock_taken, endpoint))| async move {
                match lock_taken.await {
                    Ok(true) => (i, Some(client.raw_records(endpoint).await)),
                    _ => (i, None),
                }
            })
            .collect();
        loop {
            tokio::select! {
                arrived = futures_util::StreamExt::next(&mut arriving) => match arrived {
                    Some((i, Some(fetched))) => {
                        if let Some(respond) = responses.get_mut(i).and_then(Option::take) {
                            let fetched = fetched.map(|(schema, records)| {
                                (schema, records.read_ahead(READ_AHEAD_PIECE, READ_AHEAD_PIECES))
                            });
                            let _ = respond.send(fetched);
                        }
                    }
                    Some((_, None)) => {}
                    None => break,
                },
                (name, code) = interrupt.wait() => {
                    let _ = cancel.send(true);
                    drop(responses);
                    let _ = futures_util::future::join_all(running).await;
                    return Err(Failure::new(
                        code,
                        format!(
                            "interrupted by {name} while the data was asked for: the syncs \
                             begun were rolled back; the mirror is as it was"
                        ),
                    ));
                }
            }
        }
        let all = futures_util::future::join_all(running);
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
        let mut out = Vec::new();
        for (endpoint, joined) in endpoints.into_iter().zip(joined) {
            match joined {
                Ok(Some(merged)) => out.push((endpoint, merged)),
                // Another process holds it, and --no-wait said not to wait (said already).
                Ok(None) => {}
                Err(e) => out.push((
                    endpoint,
                    Err(Failure::new(
                        exit::FAILURE,
                        format!("the merge stopped: {e}"),
                    )),
                )),
            }
        }
        Ok(out)
    }

    /// One endpoint's merge, on a thread and runtime of its own: opens its connection, takes
    /// the endpoint's lock there (saying so through `locked`), and merges the response once
    /// it comes. `None`: the lock was held and not waited for.
    fn spawn(
        &self,
        endpoint: Endpoint,
        mut cancelled: tokio::sync::watch::Receiver<bool>,
        locked: tokio::sync::oneshot::Sender<bool>,
        response: tokio::sync::oneshot::Receiver<Fetched>,
        turn: Turn,
    ) -> tokio::task::JoinHandle<Option<Merged>> {
        let url = self.url.clone();
        let customer = self.customer.clone();
        let (no_wait, on_change, quiet, started) =
            (self.no_wait, self.on_change, self.quiet, self.started);
        tokio::task::spawn_blocking(move || -> Option<Merged> {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    return Some(Err(Failure::new(
                        exit::FAILURE,
                        format!("cannot start a merge: {e}"),
                    )))
                }
            };
            runtime.block_on(async move {
                let clock = std::time::Instant::now();
                let stopped = || Failure::new(exit::FAILURE, "cancelled");
                let mut mirror = match Mirror::open(&Location::Postgres(url)) {
                    Ok(mirror) => mirror,
                    Err(e) => return Some(Err(store_failure(e))),
                };
                let described = mirror.describe();
                let what = |holder: &str| {
                    format!(
                        "{} is syncing {} of customer {customer} into {described}",
                        crate::terminal::escaped(holder),
                        endpoint.name(),
                    )
                };
                let lock = mirror
                    .lock(&customer, endpoint, !no_wait, cancelled.changed(), |holder| {
                        if !quiet {
                            eprintln!(
                                "kiss: {}; waiting for it to finish (--no-wait to exit instead)",
                                what(holder)
                            );
                        }
                    })
                    .await;
                match lock {
                    Ok(Locked::Taken) => {}
                    Ok(Locked::Busy(holder)) => {
                        eprintln!("kiss: {}; not waiting (--no-wait)", what(&holder));
                        return None;
                    }
                    Ok(Locked::Stopped(_)) => return Some(Err(stopped())),
                    Err(e) => return Some(Err(store_failure(e))),
                }
                let _ = locked.send(true);
                let fetched = tokio::select! {
                    fetched = response => fetched.map_err(|_| stopped()),
                    _ = cancelled.changed() => Err(stopped()),
                };
                let merged = match fetched {
                    Err(e) => Err(e),
                    Ok(fetched) => tokio::select! {
                        outcome = merge(mirror.engine(), endpoint, fetched, started, on_change, quiet, turn) => {
                            outcome.map(|(summary, issues)| (summary, issues, clock.elapsed().as_secs_f64()))
                        }
                        _ = cancelled.changed() => Err(stopped()),
                    },
                };
                if let Err(e) = mirror.unlock(&customer, endpoint) {
                    eprintln!("kiss: cannot release the lock on {}: {e}", endpoint.name());
                }
                Some(merged)
            })
        })
    }
}

/// `kiss sync --every`: each endpoint on its own interval (plus up to 5% of it at random, so
/// that many mirrors started together drift apart), until SIGTERM or Ctrl-C, which end the
/// current sync by rolling it back and exit 0. A failed run is recorded in `_kiss_loads` and
/// retried at its next time. Requests stay inside both quota windows: the client paces them.
///
/// The schedule lives in the mirror (`_kiss_schedule`): a run is done under the endpoint's
/// lock only if the mirror does not already say a later time, so several processes syncing
/// one customer into one mirror do every scheduled run once between them, and a restarted
/// process carries on where the schedule stands. The lock is held only while a run is in
/// progress: between runs, a one-off `kiss sync` of the same mirror goes ahead.
async fn scheduled(
    client: &Client,
    mirror: &mut Mirror,
    customer: &str,
    every: Every,
    on_change: OnSchemaChange,
    mut interrupt: Interrupt,
    quiet: bool,
) -> Result<(), Failure> {
    let now = crate::time::now();
    let mut next: Vec<(Endpoint, Duration, DateTime<Utc>)> = every
        .intervals()
        .iter()
        .map(|&(e, d)| {
            (
                e,
                d,
                recorded_next(mirror.engine(), e, d, now).unwrap_or(now),
            )
        })
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
        match claim(mirror, customer, endpoint, false, quiet, &mut interrupt).await {
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
                next[index].2 = next_due(crate::time::now(), interval, 0.0);
                continue;
            }
        }
        if let Some(later) = recorded_next(mirror.engine(), endpoint, interval, crate::time::now())
        {
            // Another process did this run while this one waited.
            next[index].2 = later;
            if let Err(e) = mirror.unlock(customer, endpoint) {
                eprintln!("kiss: cannot release the lock on {}: {e}", endpoint.name());
            }
            continue;
        }
        let started = crate::time::now();
        let clock = std::time::Instant::now();
        let outcome = tokio::select! {
            outcome = sync_endpoint(client, mirror.engine(), endpoint, on_change, quiet) => Some(outcome),
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
            // Recorded in the mirror's runs by the merge.
            Err(failure) => eprintln!(
                "kiss: {}: {} (the mirror is as it was; retrying at the next run)",
                endpoint.name(),
                failure.message
            ),
        }
        let due = next_due(started, interval, jitter_fraction());
        next[index].2 = due;
        if let Err(e) = record_next(mirror.engine(), endpoint, interval, due) {
            eprintln!("kiss: cannot record the schedule: {e}");
        }
        if let Err(e) = mirror.unlock(customer, endpoint) {
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
