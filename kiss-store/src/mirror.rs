//! A mirror as the commands drive it: where it is (a SQLite file or a PostgreSQL database),
//! its engine, whose data it holds, and one lock per customer endpoint for both engines.
//!
//! The lock is what lets one process at a time, on any machine, sync an endpoint: in
//! PostgreSQL the endpoint's advisory lock, held by the session that runs the sync (a lost
//! connection fails the run: see [`StoreError::LockLost`]); in SQLite an exclusive lock on
//! `<file>.kiss-lock` beside the database (SQLite has one writer at a time, so the file is
//! locked whole), taken for a run and released after it, so that a scheduler between runs
//! holds nothing. Waiting for either is polled, so a wait ends the moment the caller's `stop`
//! future does (Ctrl-C, SIGTERM).

use std::fs::File;
use std::future::Future;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kiss_schema::Endpoint;

use crate::engine::{holder, Claim, Engine, Identity};
use crate::error::StoreError;
use crate::postgres::PostgresEngine;
use crate::sqlite::SqliteEngine;

/// How often a process waiting for another's lock asks again.
const LOCK_POLL: Duration = Duration::from_millis(200);

/// Where a mirror is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by URL (which may hold a password: never shown).
    Postgres(String),
}

impl Location {
    /// A SQLite path (`kiss.db`, `sqlite:kiss.db`) or a `postgres://` (`postgresql://`) URL.
    ///
    /// ```
    /// use kiss_store::Location;
    /// assert!(matches!(Location::parse("kiss.db"), Ok(Location::Sqlite(_))));
    /// assert!(matches!(Location::parse("postgres://u@h/db"), Ok(Location::Postgres(_))));
    /// assert!(Location::parse("sqlite:").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Location, StoreError> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Location::Postgres(text.to_owned()));
        }
        let path = text.strip_prefix("sqlite:").unwrap_or(text);
        if path.is_empty() {
            return Err(StoreError::Url {
                reason: "--db needs a file path or a postgres:// URL".to_owned(),
            });
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }
}

impl Location {
    /// The quota's send log a mirror here keeps for every process of a customer that syncs
    /// into it, on any machine (PostgreSQL's `_kiss_quota`); `None` where the mirror keeps
    /// none (a SQLite file is one machine's: its processes share a file of the client's).
    pub fn quota_log(&self) -> Result<Option<crate::postgres::QuotaLog>, StoreError> {
        match self {
            Location::Sqlite(_) => Ok(None),
            Location::Postgres(url) => crate::postgres::QuotaLog::new(url).map(Some),
        }
    }

    /// Where it is, for messages: a path as given, a URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => match crate::postgres::tls::parse(url) {
                Ok((config, _)) => crate::postgres::describe_url(&config),
                Err(_) => "the PostgreSQL database of --db".to_owned(),
            },
        }
    }
}

/// Whether a lock was had.
#[derive(Debug)]
pub enum Locked<S> {
    /// Taken: this process's until [`Mirror::unlock`].
    Taken,
    /// Another process holds it (who, as far as can be told), and the caller chose not to
    /// wait.
    Busy(String),
    /// The caller's `stop` future ended the wait first, with this.
    Stopped(S),
}

/// A mirror opened for a command.
pub struct Mirror {
    location: Location,
    engine: Box<dyn Engine + Send>,
    /// SQLite: the lock file while this process holds it, and for which endpoints.
    file_lock: Option<File>,
    locked: Vec<Endpoint>,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("at", &self.engine.describe())
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

impl Mirror {
    /// Opens the mirror at `location` for syncing, making it (and its bookkeeping) where
    /// there is none.
    pub fn open(location: &Location) -> Result<Mirror, StoreError> {
        let engine: Box<dyn Engine + Send> = match location {
            Location::Sqlite(path) => Box::new(SqliteEngine::open(path)?),
            Location::Postgres(url) => Box::new(PostgresEngine::open(url)?),
        };
        Ok(Mirror::with(location, engine))
    }

    /// Opens an existing mirror for reading, making nothing: [`StoreError::NoMirror`] when
    /// there is none at `location`.
    pub fn open_existing(location: &Location) -> Result<Mirror, StoreError> {
        let engine: Box<dyn Engine + Send> = match location {
            Location::Sqlite(path) => {
                if !path.exists() {
                    return Err(StoreError::NoMirror {
                        database: location.describe(),
                    });
                }
                Box::new(SqliteEngine::open(path)?)
            }
            Location::Postgres(url) => Box::new(PostgresEngine::open_existing(url)?),
        };
        Ok(Mirror::with(location, engine))
    }

    fn with(location: &Location, engine: Box<dyn Engine + Send>) -> Mirror {
        Mirror {
            location: location.clone(),
            engine,
            file_lock: None,
            locked: Vec::new(),
        }
    }

    /// Where it is, for messages (a path, or a URL without its password).
    pub fn describe(&self) -> String {
        self.engine.describe()
    }

    /// Where it is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Its engine.
    pub fn engine(&mut self) -> &mut (dyn Engine + Send) {
        self.engine.as_mut()
    }

    /// Records that the mirror holds `identity`'s data (as of `now`, RFC 3339) unless it
    /// holds another's: then [`StoreError::OtherCustomer`], nothing written.
    pub fn claim(&mut self, identity: &Identity, now: &str) -> Result<(), StoreError> {
        let held = match self.engine.identity()? {
            Some(held) => held,
            None => self.engine.claim_identity(identity, now)?,
        };
        if held == *identity {
            return Ok(());
        }
        Err(StoreError::OtherCustomer {
            mirror: self.describe(),
            held: held.to_string(),
            asked: identity.to_string(),
        })
    }

    /// Whose data the mirror holds (`None` before its first sync).
    pub fn identity(&mut self) -> Result<Option<Identity>, StoreError> {
        self.engine.identity()
    }

    /// Takes the lock on `customer`'s `endpoint`. When another process holds it: with
    /// `wait`, calls `waiting` once with who holds it and waits until it is free or `stop`
    /// ends; without, returns [`Locked::Busy`].
    pub async fn lock<S: Future>(
        &mut self,
        customer: &str,
        endpoint: Endpoint,
        wait: bool,
        stop: S,
        waiting: impl FnOnce(&str),
    ) -> Result<Locked<S::Output>, StoreError> {
        let mut waiting = Some(waiting);
        let mut stop = std::pin::pin!(stop);
        loop {
            let holder = match self.try_lock(customer, endpoint)? {
                Claim::Taken => return Ok(Locked::Taken),
                Claim::HeldBy(holder) => holder,
            };
            if !wait {
                return Ok(Locked::Busy(holder));
            }
            if let Some(tell) = waiting.take() {
                tell(&holder);
            }
            tokio::select! {
                () = tokio::time::sleep(LOCK_POLL) => {}
                stopped = &mut stop => return Ok(Locked::Stopped(stopped)),
            }
        }
    }

    fn try_lock(&mut self, customer: &str, endpoint: Endpoint) -> Result<Claim, StoreError> {
        let Location::Sqlite(path) = &self.location else {
            return self.engine.try_lock(customer, endpoint);
        };
        if self.file_lock.is_none() {
            match lock_file(path)? {
                FileLock::Taken(file) => self.file_lock = Some(file),
                FileLock::HeldBy(holder) => return Ok(Claim::HeldBy(holder)),
            }
        }
        if !self.locked.contains(&endpoint) {
            self.locked.push(endpoint);
        }
        Ok(Claim::Taken)
    }

    /// Releases the lock [`Mirror::lock`] took (SQLite's file once no endpoint holds it).
    pub fn unlock(&mut self, customer: &str, endpoint: Endpoint) -> Result<(), StoreError> {
        if !matches!(self.location, Location::Sqlite(_)) {
            return self.engine.unlock(customer, endpoint);
        }
        self.locked.retain(|e| *e != endpoint);
        if self.locked.is_empty() {
            if let Some(file) = self.file_lock.take() {
                // Who held it is no longer true; the lock itself ends with the handle.
                let _ = file.set_len(0);
            }
        }
        Ok(())
    }

    /// Who is syncing `customer`'s `endpoint` right now, if anyone: a run recorded as
    /// `running` whose holder is gone died before it could record its end.
    pub fn syncing(
        &mut self,
        customer: &str,
        endpoint: Endpoint,
    ) -> Result<Option<String>, StoreError> {
        let Location::Sqlite(path) = &self.location else {
            return self.engine.lock_holder(customer, endpoint);
        };
        if self.locked.contains(&endpoint) {
            return Ok(Some(holder()));
        }
        file_lock_holder(path)
    }
}

/// `<db>.kiss-lock`.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".kiss-lock");
    PathBuf::from(name)
}

enum FileLock {
    Taken(File),
    HeldBy(String),
}

/// Takes the SQLite mirror's lock file without waiting; it holds its holder's name.
fn lock_file(db: &Path) -> Result<FileLock, StoreError> {
    let path = lock_path(db);
    let failed = |source: std::io::Error| StoreError::LockFile {
        path: path.display().to_string(),
        source,
    };
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Ok(FileLock::HeldBy(read_holder(&mut file)));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
    }
    // Best effort: the name is only for messages.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "another kiss on {}", holder());
    let _ = file.flush();
    Ok(FileLock::Taken(file))
}

/// Who holds the SQLite mirror's lock file, asked without taking it from anyone: a shared
/// lock is refused while a syncer holds it exclusively.
fn file_lock_holder(db: &Path) -> Result<Option<String>, StoreError> {
    let path = lock_path(db);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::LockFile {
                path: path.display().to_string(),
                source,
            })
        }
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(None),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Some(read_holder(&mut file))),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::LockFile {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The holder's name in a lock file (at most a line of it).
fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.take(256).read_to_string(&mut text);
    let text: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if text.trim().is_empty() {
        "another process".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_mirror_on_the_same_file_waits_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::Sqlite(dir.path().join("m.db"));
        let mut first = Mirror::open(&location).unwrap();
        let mut second = Mirror::open(&location).unwrap();
        let taken = first
            .lock(
                "C1",
                Endpoint::Stock,
                false,
                std::future::pending::<()>(),
                |_| {},
            )
            .await
            .unwrap();
        assert!(matches!(taken, Locked::Taken));
        let busy = second
            .lock(
                "C1",
                Endpoint::Stock,
                false,
                std::future::pending::<()>(),
                |_| {},
            )
            .await
            .unwrap();
        let Locked::Busy(holder) = busy else {
            panic!("{busy:?}")
        };
        assert!(
            holder.contains(&format!("pid {}", std::process::id())),
            "{holder}"
        );
        assert_eq!(
            second.syncing("C1", Endpoint::Stock).unwrap().as_deref(),
            Some(holder.as_str())
        );
        let mut told = None;
        let stopped = second
            .lock("C1", Endpoint::Stock, true, async { 130 }, |h| {
                told = Some(h.to_owned())
            })
            .await
            .unwrap();
        assert!(matches!(stopped, Locked::Stopped(130)), "{stopped:?}");
        assert_eq!(told.as_deref(), Some(holder.as_str()));
        first.unlock("C1", Endpoint::Stock).unwrap();
        assert_eq!(second.syncing("C1", Endpoint::Stock).unwrap(), None);
        let taken = second
            .lock(
                "C1",
                Endpoint::Stock,
                false,
                std::future::pending::<()>(),
                |_| {},
            )
            .await
            .unwrap();
        assert!(matches!(taken, Locked::Taken));
    }

    #[test]
    fn a_mirror_refuses_a_second_customer() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::Sqlite(dir.path().join("m.db"));
        let mut mirror = Mirror::open(&location).unwrap();
        let first = Identity {
            deployment: "https://api.example".to_owned(),
            customer: "C1".to_owned(),
        };
        mirror.claim(&first, "2026-12-08T00:00:00.000Z").unwrap();
        mirror.claim(&first, "2026-12-09T00:00:00.000Z").unwrap();
        let second = Identity {
            customer: "C2".to_owned(),
            ..first.clone()
        };
        let refused = mirror
            .claim(&second, "2026-12-09T00:00:00.000Z")
            .unwrap_err();
        let StoreError::OtherCustomer { held, asked, .. } = &refused else {
            panic!("{refused}")
        };
        assert_eq!((held, asked), (&first.to_string(), &second.to_string()));
        let message = refused.to_string();
        assert!(
            message.contains("customer C1") && message.contains("customer C2"),
            "{message}"
        );
    }
}
