//! A `kiss sync` over a mirror: which endpoints, under whose locks, one after another or side
//! by side, and every failure recorded. The records come from a [`Source`] (the API, through
//! kiss-client, in the CLI): this crate never fetches, it only asks for an endpoint's data
//! and merges it as it arrives.
//!
//! The concurrency is the engine's to choose: SQLite has one writer, so its endpoints are
//! merged one after another on the mirror's own connection (every endpoint asked for at once,
//! so the others' bodies are on their way while one merges); PostgreSQL merges each endpoint
//! on a connection, thread and runtime of its own, all at once, because each endpoint is its
//! own transaction anyway and while the server indexes and commits one the others are read
//! and copied. Each merge's connection takes its endpoint's lock, so that lock and transaction
//! live and die together.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kiss_dynamic::{RawRecord, SchemaDocument};
use kiss_schema::Endpoint;

use crate::engine::{Clock, Engine};
use crate::error::StoreError;
use crate::layout::{OnSchemaChange, SchemaChange};
use crate::mirror::{Location, Locked, Mirror};
use crate::sync::{record_failure, EndpointSync, Summary};

/// A future as the traits below hand them out.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// An endpoint's records as they arrive.
pub trait Records: Send + 'static {
    /// What can go wrong reading them (a cut body, a stalled connection).
    type Error: std::fmt::Display + Send + 'static;

    /// Gives the records of the next piece of the body to `each`, in order; `Ok(false)` once
    /// the body has ended. A failure of `each` stops the piece and is handed back.
    fn next_piece<'a>(
        &'a mut self,
        each: &'a mut dyn FnMut(RawRecord<'_>) -> Result<(), StoreError>,
    ) -> Pending<'a, Result<bool, Piece<Self::Error>>>;
}

/// Why a piece of records stopped.
#[derive(Debug)]
pub enum Piece<E> {
    /// Reading them failed.
    Read(E),
    /// Storing one failed.
    Stored(StoreError),
}

/// Where an endpoint's data comes from.
pub trait Source {
    /// Its responses.
    type Records: Records;

    /// Asks for `endpoint`'s live schema and records (the body still arriving).
    fn fetch(&self, endpoint: Endpoint) -> Pending<'_, Fetched<Self::Records>>;

    /// A response about to be merged on another thread and runtime: whatever keeps reading
    /// it on this one (a connection belongs to the runtime that opened it). As it is, by
    /// default.
    fn hand_over(&self, records: Self::Records) -> Self::Records {
        records
    }
}

/// What a sync tells whoever runs it, as it happens. Every method does nothing by default.
pub trait Observer: std::marker::Sync + Send {
    /// Another process holds `endpoint`'s lock (`holder`), and this sync waits for it.
    fn waiting(&self, endpoint: Endpoint, holder: &str) {
        let _ = (endpoint, holder);
    }
    /// Another process holds `endpoint`'s lock (`holder`), and this sync does not wait.
    fn not_waiting(&self, endpoint: Endpoint, holder: &str) {
        let _ = (endpoint, holder);
    }
    /// A record arrived (its issues, if it does not match the schema, are on it).
    fn record(&self, endpoint: Endpoint, record: &RawRecord<'_>) {
        let _ = (endpoint, record);
    }
    /// The tables changed as the live schema did.
    fn schema_changed(&self, endpoint: Endpoint, changes: &[SchemaChange]) {
        let _ = (endpoint, changes);
    }
    /// Bookkeeping around a scheduled run failed (`what`: "record the next run", "release
    /// the lock"); the schedule goes on.
    fn bookkeeping_failed(&self, endpoint: Endpoint, what: &str, error: &StoreError) {
        let _ = (endpoint, what, error);
    }
}

/// How to sync.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The customer whose data the mirror holds (the locks are per customer endpoint).
    pub customer: String,
    /// What a changed field type does.
    pub on_schema_change: OnSchemaChange,
    /// Whether to wait for another process's lock (or skip the endpoint).
    pub wait: bool,
    /// The clock runs are recorded and scheduled by.
    pub clock: Clock,
    /// How a schedule waits on that clock.
    pub sleep: Sleep,
}

/// One endpoint's sync that did not end well.
#[derive(Debug)]
pub enum Failed<E> {
    /// Its data did not arrive whole.
    Fetch(E),
    /// The mirror refused or failed.
    Store(StoreError),
}

impl<E: std::fmt::Display> std::fmt::Display for Failed<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Fetch(e) => e.fmt(f),
            Failed::Store(e) => e.fmt(f),
        }
    }
}

/// One endpoint's sync that ended well: what it did, and how long it took.
#[derive(Debug)]
pub struct Merged {
    /// What it did.
    pub summary: Summary,
    /// Its wall time, in seconds.
    pub seconds: f64,
}

/// A sync that `stop` ended: what stopped it, and the endpoints merged before it did (the
/// one in progress was rolled back).
#[derive(Debug)]
pub struct Stopped<T> {
    /// What `stop` gave.
    pub by: T,
    /// The endpoints merged (and committed) before.
    pub merged: Vec<Endpoint>,
    /// The endpoint whose lock the sync was waiting for, if it was (nothing was synced).
    pub waiting_for: Option<Endpoint>,
}

/// Where a schedule was when `stop` ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Halt {
    /// Between runs.
    Idle,
    /// Waiting for this endpoint's lock.
    Waiting(Endpoint),
    /// Running this endpoint's sync, which was rolled back.
    Running(Endpoint),
}

/// How a scheduler waits: `sleep(duration)` of the process's time (simulated or real, as
/// [`Plan::clock`] tells it).
pub type Sleep = fn(std::time::Duration) -> Pending<'static, ()>;

/// Each endpoint's outcome, in the order asked for; an endpoint whose lock was held and not
/// waited for has none.
pub type Outcomes<E> = Vec<(Endpoint, Result<Merged, Failed<E>>)>;

/// How much of a response's body a PostgreSQL merge's thread takes at a time, and how many
/// such pieces wait for it at most (about three-quarters of a MiB an endpoint); see
/// [`Source::hand_over`].
pub const READ_AHEAD_PIECE: usize = 256 << 10;
/// See [`READ_AHEAD_PIECE`].
pub const READ_AHEAD_PIECES: usize = 2;

/// When a merge that runs beside others may begin: after the one before it has begun (so
/// that runs are numbered in endpoint order, as one after another would be), telling the
/// next when it has.
#[derive(Default)]
struct Turn {
    after: Option<tokio::sync::oneshot::Receiver<()>>,
    then: Option<tokio::sync::oneshot::Sender<()>>,
}

/// An endpoint's response: its live schema and its records (or why they did not come).
pub type Fetched<R> = Result<(SchemaDocument, R), <R as Records>::Error>;

/// Merges one endpoint's response, as it arrives, in one transaction, beginning in `turn`.
/// Every failure is recorded in the mirror's runs: one before the sync could begin (the
/// response never came) as a failed run started at `started`; one after it, by the sync.
async fn merge<R: Records>(
    engine: &mut dyn Engine,
    endpoint: Endpoint,
    fetched: Fetched<R>,
    started: DateTime<Utc>,
    plan: &Plan,
    observer: &dyn Observer,
    turn: Turn,
) -> Result<Summary, Failed<R::Error>> {
    if let Some(after) = turn.after {
        // A merge before it that failed to begin lets it go too.
        let _ = after.await;
    }
    let begun = match fetched {
        Ok((schema, records)) => EndpointSync::begin(
            engine,
            endpoint,
            &schema,
            plan.on_schema_change,
            started,
            plan.clock,
        )
        .map(|sync| (sync, records))
        .map_err(Failed::Store),
        Err(e) => {
            // Best effort: the failure itself reaches the caller either way.
            let _ = record_failure(
                engine,
                endpoint,
                "",
                started,
                (plan.clock)(),
                &e.to_string(),
            );
            Err(Failed::Fetch(e))
        }
    };
    if let Some(then) = turn.then {
        let _ = then.send(());
    }
    let (mut sync, mut records) = begun?;
    loop {
        let mut each = |record: RawRecord<'_>| {
            observer.record(endpoint, &record);
            sync.add(&record)
        };
        let more = records.next_piece(&mut each).await;
        match more {
            Ok(true) => {}
            Ok(false) => break,
            Err(Piece::Read(e)) => {
                sync.fail(&e.to_string());
                return Err(Failed::Fetch(e));
            }
            Err(Piece::Stored(e)) => {
                sync.fail(&e.to_string());
                return Err(Failed::Store(e));
            }
        }
        // A stop raced against this future is noticed between pieces of the body.
        tokio::task::yield_now().await;
    }
    let summary = sync.finish().map_err(Failed::Store)?;
    observer.schema_changed(endpoint, &summary.schema_changes);
    Ok(summary)
}

impl Mirror {
    /// Takes `endpoint`'s lock as `plan` says, telling `observer`: `Ok(true)` when taken,
    /// `Ok(false)` when held and not waited for, `Err` with `stop`'s output when it ended
    /// the wait.
    async fn lock_for<T>(
        &mut self,
        endpoint: Endpoint,
        plan: &Plan,
        observer: &dyn Observer,
        stop: &mut Pin<&mut impl Future<Output = T>>,
    ) -> Result<Result<bool, T>, StoreError> {
        let locked = self
            .lock(
                &plan.customer,
                endpoint,
                plan.wait,
                stop.as_mut(),
                |holder| observer.waiting(endpoint, holder),
            )
            .await?;
        Ok(match locked {
            Locked::Taken => Ok(true),
            Locked::Busy(holder) => {
                observer.not_waiting(endpoint, &holder);
                Ok(false)
            }
            Locked::Stopped(by) => Err(by),
        })
    }

    /// Syncs `endpoints` once, each under its lock, as the engine does best (see the
    /// module's doc): every endpoint that arrives is merged, and each has its outcome. `stop`
    /// (Ctrl-C, SIGTERM) ends it at once, rolling back what is in progress. The mirror is
    /// closed at the end (PostgreSQL: at once, since each merge has a connection of its own).
    pub async fn sync<S: Source, T>(
        mut self,
        source: &S,
        endpoints: &[Endpoint],
        plan: &Plan,
        observer: Arc<dyn Observer>,
        stop: impl Future<Output = T>,
    ) -> Result<Result<Outcomes<<S::Records as Records>::Error>, Stopped<T>>, StoreError> {
        let mut stop = std::pin::pin!(stop);
        if let Location::Postgres(url) = self.location().clone() {
            drop(self);
            return Ok(side_by_side(source, &url, endpoints, plan, observer, stop).await);
        }
        let started = (plan.clock)();
        let mut locked = Vec::new();
        for &endpoint in endpoints {
            match self
                .lock_for(endpoint, plan, observer.as_ref(), &mut stop)
                .await?
            {
                Ok(true) => locked.push(endpoint),
                Ok(false) => {}
                Err(by) => {
                    self.unlock_all(plan, &locked);
                    return Ok(Err(Stopped {
                        by,
                        merged: Vec::new(),
                        waiting_for: Some(endpoint),
                    }));
                }
            }
        }
        // Every endpoint is asked for at once: while one is merged, the others' bodies are
        // already on their way (the server fills the connections' buffers).
        let fetching = futures_util::future::join_all(locked.iter().map(|e| source.fetch(*e)));
        let fetches = tokio::select! {
            fetches = fetching => fetches,
            by = stop.as_mut() => {
                self.unlock_all(plan, &locked);
                return Ok(Err(Stopped { by, merged: Vec::new(), waiting_for: None }));
            }
        };
        let mut outcomes = Vec::new();
        for (&endpoint, fetched) in locked.iter().zip(fetches) {
            let clock = std::time::Instant::now();
            let merging = merge(
                self.engine(),
                endpoint,
                fetched,
                started,
                plan,
                observer.as_ref(),
                Turn::default(),
            );
            let outcome = tokio::select! {
                outcome = merging => outcome,
                by = stop.as_mut() => {
                    let merged = outcomes
                        .iter()
                        .filter(|(_, o): &&(Endpoint, Result<Merged, _>)| o.is_ok())
                        .map(|(e, _)| *e)
                        .collect();
                    self.unlock_all(plan, &locked);
                    return Ok(Err(Stopped { by, merged, waiting_for: None }));
                }
            };
            let seconds = clock.elapsed().as_secs_f64();
            outcomes.push((endpoint, outcome.map(|summary| Merged { summary, seconds })));
        }
        self.unlock_all(plan, &locked);
        Ok(Ok(outcomes))
    }

    /// Syncs one endpoint whose lock the caller holds (a scheduled run), on the mirror's own
    /// connection.
    pub async fn sync_locked<S: Source>(
        &mut self,
        source: &S,
        endpoint: Endpoint,
        plan: &Plan,
        observer: &dyn Observer,
    ) -> Result<Merged, Failed<<S::Records as Records>::Error>> {
        let started = (plan.clock)();
        let clock = std::time::Instant::now();
        let fetched = source.fetch(endpoint).await;
        let summary = merge(
            self.engine(),
            endpoint,
            fetched,
            started,
            plan,
            observer,
            Turn::default(),
        )
        .await?;
        Ok(Merged {
            summary,
            seconds: clock.elapsed().as_secs_f64(),
        })
    }

    /// Releases the locks of `endpoints`; a failure to is only said (the lock ends with the
    /// connection or the process anyway).
    fn unlock_all(&mut self, plan: &Plan, endpoints: &[Endpoint]) {
        for &endpoint in endpoints {
            let _ = self.unlock(&plan.customer, endpoint);
        }
    }
}

impl Mirror {
    /// Syncs each endpoint of `every` on its own interval until `stop` ends it, telling
    /// `ended` how each run ended (a failed one is recorded in the mirror's runs and tried
    /// again at its next time); returns what `stop` gave and where the schedule was.
    ///
    /// The schedule lives in the mirror (`_kiss_schedule`): a run is done under the
    /// endpoint's lock only if the mirror does not already say a later time, so several
    /// processes syncing one customer into one mirror do every scheduled run once between
    /// them, and a restarted process carries on where the schedule stands. The lock is held
    /// only while a run is in progress, so a one-off sync of the same mirror goes ahead
    /// between runs. Each run is put off by its interval plus up to 5 % of it, never past
    /// the Datafeed App's longest interval.
    pub async fn schedule<S: Source, T>(
        mut self,
        source: &S,
        plan: &Plan,
        every: &crate::schedule::Every,
        observer: &dyn Observer,
        stop: impl Future<Output = T>,
        mut ended: impl FnMut(Endpoint, Result<Merged, Failed<<S::Records as Records>::Error>>),
    ) -> (T, Halt) {
        use crate::schedule::{jitter_fraction, next_due, record_next, recorded_next};
        let mut stop = std::pin::pin!(stop);
        let now = (plan.clock)();
        let mut next: Vec<(Endpoint, std::time::Duration, DateTime<Utc>)> = every
            .intervals()
            .iter()
            .map(|&(e, d)| (e, d, recorded_next(self.engine(), e, d, now).unwrap_or(now)))
            .collect();
        loop {
            let Some(index) = (0..next.len()).min_by_key(|&i| next[i].2) else {
                return (stop.await, Halt::Idle);
            };
            let (endpoint, interval, due) = next[index];
            let wait = (due - (plan.clock)())
                .to_std()
                .unwrap_or(std::time::Duration::ZERO);
            tokio::select! {
                () = (plan.sleep)(wait) => {}
                by = stop.as_mut() => return (by, Halt::Idle),
            }
            match self.lock_for(endpoint, plan, observer, &mut stop).await {
                Ok(Ok(_)) => {}
                Ok(Err(by)) => return (by, Halt::Waiting(endpoint)),
                Err(e) => {
                    ended(endpoint, Err(Failed::Store(e)));
                    next[index].2 = next_due((plan.clock)(), interval, 0.0);
                    continue;
                }
            }
            if let Some(later) = recorded_next(self.engine(), endpoint, interval, (plan.clock)()) {
                // Another process did this run while this one waited.
                next[index].2 = later;
                if let Err(e) = self.unlock(&plan.customer, endpoint) {
                    observer.bookkeeping_failed(endpoint, "release the lock", &e);
                }
                continue;
            }
            let started = (plan.clock)();
            let outcome = tokio::select! {
                outcome = self.sync_locked(source, endpoint, plan, observer) => outcome,
                by = stop.as_mut() => return (by, Halt::Running(endpoint)),
            };
            ended(endpoint, outcome);
            let due = next_due(started, interval, jitter_fraction());
            next[index].2 = due;
            if let Err(e) = record_next(self.engine(), endpoint, interval, due) {
                observer.bookkeeping_failed(endpoint, "record the next run", &e);
            }
            if let Err(e) = self.unlock(&plan.customer, endpoint) {
                observer.bookkeeping_failed(endpoint, "release the lock", &e);
            }
        }
    }
}

/// A merge on a thread of its own: `None` when its lock was held and not waited for.
type Running<E> = tokio::task::JoinHandle<Option<Result<Merged, Failed<E>>>>;

/// A one-off sync into PostgreSQL: each endpoint merged on a connection, thread and runtime of
/// its own, all at once. Its connection takes the endpoint's lock; the endpoint is asked for
/// as soon as it has, and merged as soon as its response begins.
async fn side_by_side<S: Source, T>(
    source: &S,
    url: &str,
    endpoints: &[Endpoint],
    plan: &Plan,
    observer: Arc<dyn Observer>,
    mut stop: Pin<&mut impl Future<Output = T>>,
) -> Result<Outcomes<<S::Records as Records>::Error>, Stopped<T>> {
    let started = (plan.clock)();
    let (cancel, cancelled) = tokio::sync::watch::channel(false);
    let mut running: Vec<Running<<S::Records as Records>::Error>> = Vec::new();
    let mut asking = Vec::new();
    let mut responses = Vec::new();
    let mut previous: Option<tokio::sync::oneshot::Receiver<()>> = None;
    for &endpoint in endpoints {
        let (then, next) = tokio::sync::oneshot::channel();
        let turn = Turn {
            after: previous.replace(next),
            then: Some(then),
        };
        let (respond, response) = tokio::sync::oneshot::channel::<Fetched<S::Records>>();
        let (locked, lock_taken) = tokio::sync::oneshot::channel::<bool>();
        responses.push(Some(respond));
        asking.push(lock_taken);
        running.push(spawn_merge::<S::Records>(
            url.to_owned(),
            endpoint,
            (plan.clone(), started),
            observer.clone(),
            (cancelled.clone(), locked, response, turn),
        ));
    }
    // Each endpoint is asked for once its lock is taken, and its response goes to its merge
    // as it comes.
    let mut arriving: futures_util::stream::FuturesUnordered<_> = asking
        .into_iter()
        .zip(endpoints.iter().copied())
        .enumerate()
        .map(|(i, (lock_taken, endpoint))| async move {
            match lock_taken.await {
                Ok(true) => (i, Some(source.fetch(endpoint).await)),
                _ => (i, None),
            }
        })
        .collect();
    loop {
        tokio::select! {
            arrived = futures_util::StreamExt::next(&mut arriving) => match arrived {
                Some((i, Some(fetched))) => {
                    if let Some(respond) = responses.get_mut(i).and_then(Option::take) {
                        let fetched = fetched.map(|(schema, records)| (schema, source.hand_over(records)));
                        let _ = respond.send(fetched);
                    }
                }
                Some((_, None)) => {}
                None => break,
            },
            by = stop.as_mut() => {
                let _ = cancel.send(true);
                drop(responses);
                let _ = futures_util::future::join_all(running).await;
                return Err(Stopped { by, merged: Vec::new(), waiting_for: None });
            }
        }
    }
    let all = futures_util::future::join_all(running);
    tokio::pin!(all);
    let joined = tokio::select! {
        joined = &mut all => joined,
        by = stop.as_mut() => {
            let _ = cancel.send(true);
            let finished = all.await;
            // Those that committed before the stop reached them stay.
            let merged = endpoints
                .iter()
                .zip(&finished)
                .filter(|(_, j)| matches!(j, Ok(Some(Ok(_)))))
                .map(|(e, _)| *e)
                .collect();
            return Err(Stopped { by, merged, waiting_for: None });
        }
    };
    let mut out = Vec::new();
    for (&endpoint, joined) in endpoints.iter().zip(joined) {
        match joined {
            Ok(Some(merged)) => out.push((endpoint, merged)),
            Ok(None) => {}
            Err(e) => out.push((
                endpoint,
                Err(Failed::Store(StoreError::MergeStopped {
                    detail: e.to_string(),
                })),
            )),
        }
    }
    Ok(out)
}

/// What a merge on a thread of its own waits for and tells: the stop, its lock taken, its
/// response, its turn.
type Waits<R> = (
    tokio::sync::watch::Receiver<bool>,
    tokio::sync::oneshot::Sender<bool>,
    tokio::sync::oneshot::Receiver<Fetched<R>>,
    Turn,
);

/// One endpoint's merge, on a thread and runtime of its own: opens its connection, takes the
/// endpoint's lock there (saying so through `locked`), and merges the response once it comes.
fn spawn_merge<R: Records>(
    url: String,
    endpoint: Endpoint,
    (plan, started): (Plan, DateTime<Utc>),
    observer: Arc<dyn Observer>,
    (mut cancelled, locked, response, turn): Waits<R>,
) -> Running<R::Error> {
    tokio::task::spawn_blocking(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(source) => return Some(Err(Failed::Store(StoreError::Thread { source }))),
        };
        runtime.block_on(async move {
            let clock = std::time::Instant::now();
            let mut mirror = match Mirror::open(&Location::Postgres(url)) {
                Ok(mirror) => mirror,
                Err(e) => return Some(Err(Failed::Store(e))),
            };
            let stopping = async {
                let _ = cancelled.changed().await;
            };
            let mut stopping = std::pin::pin!(stopping);
            match mirror
                .lock_for(endpoint, &plan, observer.as_ref(), &mut stopping)
                .await
            {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => return None,
                Ok(Err(())) => return Some(Err(Failed::Store(StoreError::Cancelled))),
                Err(e) => return Some(Err(Failed::Store(e))),
            }
            let _ = locked.send(true);
            let merged = tokio::select! {
                fetched = response => match fetched {
                    Err(_) => Err(Failed::Store(StoreError::Cancelled)),
                    Ok(fetched) => {
                        let merging = merge(mirror.engine(), endpoint, fetched, started, &plan, observer.as_ref(), turn);
                        tokio::select! {
                            outcome = merging => outcome.map(|summary| Merged {
                                summary,
                                seconds: clock.elapsed().as_secs_f64(),
                            }),
                            () = &mut stopping => Err(Failed::Store(StoreError::Cancelled)),
                        }
                    }
                },
                () = &mut stopping => Err(Failed::Store(StoreError::Cancelled)),
            };
            let _ = mirror.unlock(&plan.customer, endpoint);
            Some(merged)
        })
    })
}
