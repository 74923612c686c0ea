//! The quota's send log in the mirror, shared by every process of one customer that syncs
//! into it, on any machine: `_kiss_quota`, one row per request sent or reserved in the last
//! hour, read and extended under a transaction-scoped advisory lock, in the server's clock
//! (so that the machines' own clocks need not agree).
//!
//! Async (`tokio-postgres`), on a connection of its own: a reservation is made while a sync's
//! transaction is open on the engine's connection, and must commit on its own at once.

use std::collections::VecDeque;
use std::time::Duration;

use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::describe_url;
use crate::error::StoreError;

/// The send log of a PostgreSQL mirror's customers.
pub struct QuotaLog {
    config: Config,
    tls: MakeRustlsConnect,
    described: String,
    client: tokio::sync::Mutex<Option<Client>>,
}

impl std::fmt::Debug for QuotaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuotaLog")
            .field("database", &self.described)
            .finish_non_exhaustive()
    }
}

/// Longer than the longest window (an hour) and its margin: older sends no longer count.
const KEPT_MILLIS: i64 = 3_700_000;

impl QuotaLog {
    /// The log in the mirror at `url`; connects when first used.
    pub fn new(url: &str) -> Result<QuotaLog, StoreError> {
        let (mut config, tls) = super::tls::parse(url)?;
        if config.get_application_name().is_none() {
            config.application_name(format!("kiss quota (pid {})", std::process::id()));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let described = describe_url(&config);
        Ok(QuotaLog {
            config,
            tls,
            described,
            client: tokio::sync::Mutex::new(None),
        })
    }

    fn fail(&self, e: tokio_postgres::Error) -> StoreError {
        StoreError::postgres(&self.described, e)
    }

    async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(|e| StoreError::postgres_connect(&self.described, e))?;
        tokio::spawn(connection);
        client
            .batch_execute(
                "SET client_min_messages = warning;
                 BEGIN;
                 SELECT pg_advisory_xact_lock(7740402600779137026);
                 CREATE TABLE IF NOT EXISTS \"_kiss_quota\" (
                    \"customer\" TEXT NOT NULL, \"sent\" BIGINT NOT NULL);
                 CREATE INDEX IF NOT EXISTS \"_kiss_quota_customer\"
                    ON \"_kiss_quota\" (\"customer\", \"sent\");
                 COMMIT;",
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(client)
    }

    /// Reserves `customer`'s next send slot: `slot` is given the log's send times (sorted,
    /// milliseconds since the Unix epoch) and the server's now, and returns the slot it took
    /// (recording it in the times it was given); the answer is how long to wait for it.
    pub async fn reserve(
        &self,
        customer: &str,
        slot: impl FnOnce(&mut VecDeque<u64>, u64) -> u64,
    ) -> Result<Duration, StoreError> {
        let mut held = self.client.lock().await;
        if held.as_ref().is_none_or(Client::is_closed) {
            *held = Some(self.connect().await?);
        }
        let Some(client) = held.as_mut() else {
            return Err(StoreError::Stopped);
        };
        let described = self.described.clone();
        let fail = |e| StoreError::postgres(&described, e);
        let transaction = client.transaction().await.map_err(fail)?;
        let key = i64::from_ne_bytes(
            xxhash_rust::xxh3::xxh3_64(format!("kiss quota\0{customer}").as_bytes()).to_ne_bytes(),
        );
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&key])
            .await
            .map_err(fail)?;
        let now: i64 = transaction
            .query_one(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                &[],
            )
            .await
            .map_err(fail)?
            .try_get(0)
            .map_err(fail)?;
        transaction
            .execute(
                "DELETE FROM \"_kiss_quota\" WHERE \"customer\" = $1 AND \"sent\" < $2",
                &[&customer, &now.saturating_sub(KEPT_MILLIS)],
            )
            .await
            .map_err(fail)?;
        let mut sent: VecDeque<u64> = transaction
            .query(
                "SELECT \"sent\" FROM \"_kiss_quota\" WHERE \"customer\" = $1 ORDER BY \"sent\"",
                &[&customer],
            )
            .await
            .map_err(fail)?
            .iter()
            .filter_map(|row| row.try_get::<_, i64>(0).ok())
            .filter_map(|sent| u64::try_from(sent).ok())
            .collect();
        let now = u64::try_from(now).unwrap_or(0);
        let at = slot(&mut sent, now);
        transaction
            .execute(
                "INSERT INTO \"_kiss_quota\" (\"customer\", \"sent\") VALUES ($1, $2)",
                &[&customer, &i64::try_from(at).unwrap_or(i64::MAX)],
            )
            .await
            .map_err(fail)?;
        transaction.commit().await.map_err(fail)?;
        Ok(Duration::from_millis(at.saturating_sub(now)))
    }
}
