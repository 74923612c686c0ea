//! What can go wrong in the mirror, with what a person can do about it.

use thiserror::Error;

/// A failed store operation.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database said no.
    #[error("the database failed: {source}")]
    Sqlite {
        /// What SQLite said.
        #[from]
        source: rusqlite::Error,
    },
    /// Another process holds the database.
    #[error(
        "{path} is busy: another process has been writing to it for longer than {waited_secs} s; \
         try again when it is done"
    )]
    Busy {
        /// The database.
        path: String,
        /// How long this process waited.
        waited_secs: u64,
    },
    /// The live schema cannot be mirrored as it is.
    #[error("the live schema of {endpoint} cannot be mirrored: {reason}")]
    Schema {
        /// The endpoint's name.
        endpoint: &'static str,
        /// Why, and what would fix it.
        reason: String,
    },
    /// A field's type changed and the contract is `freeze`.
    #[error(
        "the live schema of {endpoint} changed a field's type ({changes}); with \
         --on-schema-change freeze nothing was written: rerun with --on-schema-change evolve \
         to add a column for the new type"
    )]
    Frozen {
        /// The endpoint's name.
        endpoint: &'static str,
        /// The changes, as text.
        changes: String,
    },
    /// A record could not be decoded for its row.
    #[error("record {index} of {endpoint} cannot be stored: {detail}")]
    Record {
        /// The endpoint's name.
        endpoint: &'static str,
        /// Position in the response.
        index: u64,
        /// What was wrong.
        detail: String,
    },
    /// PostgreSQL said no, or the connection to it failed.
    #[error("{message}")]
    Postgres {
        /// What happened and what a person can do, the server's words included.
        message: String,
        /// What the driver said.
        #[source]
        source: postgres::Error,
    },
    /// A database URL that cannot be used.
    #[error(
        "the database URL cannot be used: {reason} (expected postgres://user@host:port/database)"
    )]
    Url {
        /// Why.
        reason: String,
    },
    /// Rows could not be sent to PostgreSQL (`COPY`).
    #[error("cannot send rows to PostgreSQL: {source}; nothing of the running sync was committed")]
    Copy {
        /// What the connection said.
        source: std::io::Error,
    },
    /// The engine's database thread could not be started.
    #[error("cannot start the database thread: {source}")]
    Thread {
        /// What the system said.
        source: std::io::Error,
    },
    /// The engine's database thread stopped while it was needed (it panicked): a bug in
    /// kiss. The running sync was not committed.
    #[error(
        "the database thread stopped unexpectedly; nothing more was written: please report this"
    )]
    Stopped,
    /// The connection that held a sync's lock was lost: the server released the lock with
    /// it, so the run stopped rather than go on unlocked.
    #[error(
        "{database}: the connection holding the sync's lock was lost, so the lock is gone and \
         another syncer may have taken it; nothing of the running sync was committed: run it \
         again once the server is reachable"
    )]
    LockLost {
        /// The database, without its password.
        database: String,
    },
    /// The SQLite mirror's lock file could not be made or locked.
    #[error("cannot lock the mirror through {path}: {source}; is its folder writable?")]
    LockFile {
        /// The lock file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A sync for one customer (or deployment) into a mirror that holds another's data.
    #[error(
        "{mirror} holds the data of {held}, not of {asked}: one mirror holds one customer's \
         data, so nothing was written; use another --db (a file, or a PostgreSQL schema through \
         the URL's options=-csearch_path=...) for {asked}"
    )]
    OtherCustomer {
        /// The mirror, for the message.
        mirror: String,
        /// Whose data it holds (`customer C1 of https://…`).
        held: String,
        /// Whose data the sync was for.
        asked: String,
    },
    /// `--db` names something that is not a kiss mirror (nor a new file): refused before
    /// anything was written.
    #[error(
        "{path} is not a kiss mirror: {why}; nothing was changed: point --db at a new file, or \
         at a mirror kiss made"
    )]
    NotAMirror {
        /// The path as given.
        path: String,
        /// What it is instead.
        why: String,
    },
    /// A merge on a thread of its own stopped before it could say how it ended (it
    /// panicked): a bug in kiss. Its transaction was not committed.
    #[error("the merge stopped unexpectedly ({detail}); nothing of it was committed: please report this")]
    MergeStopped {
        /// What the thread's end said.
        detail: String,
    },
    /// The sync was stopped (Ctrl-C, SIGTERM) before this endpoint's merge ended; it was
    /// rolled back.
    #[error("stopped before it ended; nothing of it was kept")]
    Cancelled,
    /// A command that reads a mirror found none where it was pointed.
    #[error("there is no mirror in {database} yet (no _kiss_loads there): run `kiss sync` into it first")]
    NoMirror {
        /// The database, without its password.
        database: String,
    },
    /// The database holds something this version does not understand.
    #[error(
        "the mirror's bookkeeping is not as expected ({detail}): was it written by another tool?"
    )]
    Corrupt {
        /// What was found.
        detail: String,
    },
}

impl StoreError {
    /// A failure to connect to PostgreSQL at `database` (described without its password).
    pub fn postgres_connect(database: &str, source: postgres::Error) -> StoreError {
        let said = match source.as_db_error() {
            Some(db) => db.message().to_owned(),
            None => {
                // The driver's words and their causes (a TLS failure says why only there).
                let mut said = source.to_string();
                let mut cause = std::error::Error::source(&source);
                while let Some(e) = cause {
                    said.push_str(": ");
                    said.push_str(&e.to_string());
                    cause = e.source();
                }
                said
            }
        };
        let what_to_do = if said.contains("certificate") || said.contains("Certificate") {
            "the server's certificate did not pass the URL's sslmode: name the roots that \
             signed it with sslrootcert=PATH, or use sslmode=verify-ca when its name differs \
             from the URL's host"
        } else {
            "is the server running and does the URL name it (user, host, port, database)?"
        };
        StoreError::Postgres {
            message: format!("cannot connect to {database}: {said}; {what_to_do}"),
            source,
        }
    }

    /// A PostgreSQL failure at `database` (described without its password), worded by what
    /// it means for the mirror.
    pub fn postgres(database: &str, source: postgres::Error) -> StoreError {
        use postgres::error::SqlState;
        let said = match source.as_db_error() {
            Some(db) => {
                let mut text = db.message().to_owned();
                if let Some(detail) = db.detail() {
                    text.push_str(&format!(" ({detail})"));
                }
                text
            }
            None => source.to_string(),
        };
        let code = source.code();
        let message = if code == Some(&SqlState::LOCK_NOT_AVAILABLE) {
            format!(
                "{database}: timed out waiting for a lock on the mirror's tables: another \
                 session holds them (see pg_stat_activity; lock_timeout bounds the wait); \
                 nothing was written, try again when it is done"
            )
        } else if is_lost(&source) {
            format!(
                "{database}: the connection to PostgreSQL was lost or refused ({said}); \
                 nothing of the running sync was committed: run it again once the server is \
                 reachable"
            )
        } else {
            format!("{database}: PostgreSQL failed: {said}")
        };
        StoreError::Postgres { message, source }
    }
}

/// Whether `e` means the PostgreSQL session is gone (the server ended it or went away),
/// rather than that a statement failed.
pub(crate) fn is_lost(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.is_closed()
        || (e.as_db_error().is_none() && e.code().is_none())
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
        ]
        .iter()
        .any(|c| e.code() == Some(c))
}
