//! The engine conformance suite: every case runs against each engine, SQLite always and
//! PostgreSQL when `KISS_TEST_POSTGRES_URL` names a server (`.ci/run` sets it; without it
//! the PostgreSQL half is skipped with one line, and under CI that is a failure), through
//! the same API a `kiss sync` uses ([`Mirror`], [`Sync`]), and asserts that both engines
//! read back the same: the same changes (what `kiss changes` prints), the same rows (keys,
//! fingerprints, deletion marks), the same runs.
//!
//! A new engine, or a change to one, is proven here before anything else.

use std::io::Write;
use std::sync::Once;

use chrono::{DateTime, Utc};
use kiss_schema::{Endpoint, SchemaDocument};
use kiss_store::{
    Change, ChangeQuery, EndpointSync, Identity, Load, LoadStatus, Location, Locked, Mirror,
    OnSchemaChange, StoreError, Summary,
};

const URL_VAR: &str = "KISS_TEST_POSTGRES_URL";

/// The stock schema as the contract has it, and with one more field.
const STOCK: &str = r#"{"endpoint": "/stock", "apiVersion": "2026-04", "fields": [
    {"name": "sKU", "type": "string", "required": true},
    {"name": "stockLocation", "type": "string", "required": false},
    {"name": "availableQTY", "type": "integer", "required": false},
    {"name": "nextAvailableETA", "type": "date", "required": false}]}"#;
const STOCK_WITH_BIN: &str = r#"{"endpoint": "/stock", "apiVersion": "2026-05", "fields": [
    {"name": "sKU", "type": "string", "required": true},
    {"name": "stockLocation", "type": "string", "required": false},
    {"name": "availableQTY", "type": "integer", "required": false},
    {"name": "nextAvailableETA", "type": "date", "required": false},
    {"name": "bin", "type": "string", "required": false}]}"#;
const STOCK_DECIMAL_QTY: &str = r#"{"endpoint": "/stock", "apiVersion": "2026-06", "fields": [
    {"name": "sKU", "type": "string", "required": true},
    {"name": "stockLocation", "type": "string", "required": false},
    {"name": "availableQTY", "type": "decimal", "required": false},
    {"name": "nextAvailableETA", "type": "date", "required": false},
    {"name": "bin", "type": "string", "required": false}]}"#;

/// One engine's mirror for one case: a fresh SQLite file, or a fresh PostgreSQL schema.
struct Engine {
    name: &'static str,
    location: Location,
    /// Removed at the end (PostgreSQL: the schema, through this URL).
    cleanup: Cleanup,
}

enum Cleanup {
    /// Held for its drop, which removes the folder.
    Folder {
        _kept: tempfile::TempDir,
    },
    Schema {
        url: String,
        schema: String,
    },
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Cleanup::Schema { url, schema } = &self.cleanup {
            if let Ok(mut client) = postgres::Client::connect(url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// Says that the PostgreSQL half is skipped (once), or fails under CI.
fn skipping_postgres() {
    static SAID: Once = Once::new();
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{URL_VAR} is not set, but CI runs every test on both engines");
    }
    SAID.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "conformance: PostgreSQL skipped: set {URL_VAR}=postgres://postgres@127.0.0.1:5432/test"
        );
    });
}

/// The engines a case runs on, each with a mirror of its own named after the case.
fn engines(case: &str) -> Vec<Engine> {
    let folder = tempfile::tempdir().unwrap();
    let mut out = vec![Engine {
        name: "sqlite",
        location: Location::Sqlite(folder.path().join("mirror.db")),
        cleanup: Cleanup::Folder { _kept: folder },
    }];
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => {
            let schema = format!("kiss_conformance_{case}");
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            client
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
                ))
                .unwrap();
            let separator = if url.contains('?') { '&' } else { '?' };
            out.push(Engine {
                name: "postgres",
                location: Location::Postgres(format!(
                    "{url}{separator}options=-csearch_path%3D{schema}"
                )),
                cleanup: Cleanup::Schema { url, schema },
            });
        }
        _ => skipping_postgres(),
    }
    out
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// One run: `body` (a JSON array) under `schema`, started at `started`.
fn run(
    mirror: &mut Mirror,
    endpoint: Endpoint,
    schema: &str,
    body: &str,
    started: &str,
) -> Result<Summary, StoreError> {
    let schema = SchemaDocument::from_json(schema).unwrap();
    let mut sync = EndpointSync::begin(
        mirror.engine(),
        endpoint,
        &schema,
        OnSchemaChange::Evolve,
        at(started),
        Utc::now,
    )?;
    let mut stream = kiss_dynamic::RawStream::new(&schema);
    let mut failed = None;
    let fed = stream.feed(body.as_bytes(), |record| match sync.add(&record) {
        Ok(()) => Ok(()),
        Err(e) => {
            failed = Some(e);
            Err(())
        }
    });
    if let Some(e) = failed {
        sync.fail(&e.to_string());
        return Err(e);
    }
    assert!(
        fed.is_ok() && stream.finish().is_ok(),
        "a test body is whole"
    );
    sync.finish()
}

/// A row as the merge sees it: its key, its fingerprint, whether it is marked deleted.
type HeldState = (Vec<u8>, [u8; 16], bool);

/// A run without its times and holder: endpoint, profile, status, its counts (records,
/// inserted, updated, deleted, duplicates, skipped), and its error's first words.
type RunState = (String, String, LoadStatus, [u64; 6], Option<String>);

/// What a mirror reads back: its changes, its rows (key, fingerprint, deleted) by endpoint,
/// and its runs without their times and holder (those differ by nature).
#[derive(Debug, PartialEq)]
struct ReadBack {
    changes: Vec<Change>,
    /// The latest three of one endpoint's changes since the second run began (`kiss changes
    /// --endpoint stock --since … --limit 3`).
    latest: Vec<Change>,
    rows: Vec<(Endpoint, Vec<HeldState>)>,
    runs: Vec<RunState>,
}

fn read_back(mirror: &mut Mirror) -> ReadBack {
    let engine = mirror.engine();
    let changes = engine.changes(&ChangeQuery::default()).unwrap();
    let latest = engine
        .changes(&ChangeQuery {
            endpoint: Some(Endpoint::Stock),
            since: Some("2026-12-01T01:00:00.000Z".to_owned()),
            limit: Some(3),
        })
        .unwrap();
    let mut rows = Vec::new();
    for endpoint in Endpoint::ALL {
        let Ok(mut held) = engine.held(endpoint) else {
            continue;
        };
        held.sort_by(|a, b| a.key.cmp(&b.key));
        rows.push((
            endpoint,
            held.into_iter()
                .map(|r| (r.key.into_vec(), r.hash, r.deleted))
                .collect(),
        ));
    }
    let mut runs: Vec<_> = engine
        .loads(None, 1000)
        .unwrap()
        .into_iter()
        .map(|l: Load| {
            // The first words of an error: the rest may name the engine's own database.
            let error = l
                .error
                .map(|e| e.split_whitespace().take(4).collect::<Vec<_>>().join(" "));
            (
                l.endpoint,
                l.profile,
                l.status,
                [
                    l.records,
                    l.inserted,
                    l.updated,
                    l.deleted,
                    l.duplicates,
                    l.skipped,
                ],
                error,
            )
        })
        .collect();
    runs.reverse();
    ReadBack {
        changes,
        latest,
        rows,
        runs,
    }
}

/// Runs `case` on every engine and asserts that they all read back the same; returns the
/// first engine's read-back for the case's own assertions.
fn on_every_engine(name: &str, case: impl Fn(&mut Mirror)) -> ReadBack {
    let mut seen: Option<(&'static str, ReadBack)> = None;
    for engine in engines(name) {
        let mut mirror = Mirror::open(&engine.location).unwrap();
        case(&mut mirror);
        let back = read_back(&mut mirror);
        drop(mirror);
        match &seen {
            None => seen = Some((engine.name, back)),
            Some((first, expected)) => assert_eq!(
                &back, expected,
                "{name}: {} reads back otherwise than {first}",
                engine.name
            ),
        }
    }
    seen.map(|(_, back)| back).unwrap()
}

fn kinds(back: &ReadBack) -> Vec<(i64, String, &'static str, Option<String>)> {
    back.changes
        .iter()
        .map(|c| (c.load, c.key.clone(), c.change.name(), c.column.clone()))
        .collect()
}

#[test]
fn evolution_deletions_and_returns_read_back_alike() {
    let back = on_every_engine("evolution", |mirror| {
        let first = r#"[
            {"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 432, "NextAvailableETA": "2026-06-15"},
            {"SKU": "FANG001", "StockLocation": "UK01", "AvailableQTY": 0, "NextAvailableETA": null},
            {"SKU": "WOLF001", "StockLocation": "UK01", "AvailableQTY": 7}]"#;
        run(
            mirror,
            Endpoint::Stock,
            STOCK,
            first,
            "2026-12-01T00:00:00.000Z",
        )
        .unwrap();
        // A new field, a changed value, a vanished row, a new one.
        let second = r#"[
            {"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 0, "NextAvailableETA": "2026-06-15", "Bin": "A1"},
            {"SKU": "FANG001", "StockLocation": "UK01", "AvailableQTY": 0, "NextAvailableETA": null},
            {"SKU": "MUMM001", "StockLocation": "UK02", "AvailableQTY": 3}]"#;
        let summary = run(
            mirror,
            Endpoint::Stock,
            STOCK_WITH_BIN,
            second,
            "2026-12-01T01:00:00.000Z",
        )
        .unwrap();
        assert_eq!(
            summary.schema_changes.len(),
            1,
            "{:?}",
            summary.schema_changes
        );
        // The vanished row returns.
        let third = r#"[
            {"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 0, "NextAvailableETA": "2026-06-15", "Bin": "A1"},
            {"SKU": "FANG001", "StockLocation": "UK01", "AvailableQTY": 0, "NextAvailableETA": null},
            {"SKU": "MUMM001", "StockLocation": "UK02", "AvailableQTY": 3},
            {"SKU": "WOLF001", "StockLocation": "UK01", "AvailableQTY": 9}]"#;
        run(
            mirror,
            Endpoint::Stock,
            STOCK_WITH_BIN,
            third,
            "2026-12-01T02:00:00.000Z",
        )
        .unwrap();
    });
    let expected: Vec<(i64, String, &str, Option<String>)> = vec![
        (1, "DRAC001 / UK01".into(), "inserted", None),
        (1, "FANG001 / UK01".into(), "inserted", None),
        (1, "WOLF001 / UK01".into(), "inserted", None),
        (
            2,
            "DRAC001 / UK01".into(),
            "updated",
            Some("AvailableQTY".into()),
        ),
        (2, "DRAC001 / UK01".into(), "updated", Some("Bin".into())),
        (2, "WOLF001 / UK01".into(), "deleted", None),
        (2, "MUMM001 / UK02".into(), "inserted", None),
        (3, "WOLF001 / UK01".into(), "inserted", None),
    ];
    assert_eq!(kinds(&back), expected);
    let latest: Vec<_> = back
        .latest
        .iter()
        .map(|c| (c.load, c.key.as_str()))
        .collect();
    assert_eq!(
        latest,
        [
            (2, "WOLF001 / UK01"),
            (2, "MUMM001 / UK02"),
            (3, "WOLF001 / UK01")
        ]
    );
    let statuses: Vec<_> = back.runs.iter().map(|r| (r.2, r.3)).collect();
    assert_eq!(
        statuses,
        [
            (LoadStatus::Ok, [3, 3, 0, 0, 0, 0]),
            (LoadStatus::Ok, [3, 1, 1, 1, 0, 0]),
            (LoadStatus::Ok, [4, 1, 0, 0, 0, 0]),
        ]
    );
}

#[test]
fn a_changed_type_gets_a_column_of_its_own_alike() {
    let back = on_every_engine("type_change", |mirror| {
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 432}]"#;
        run(
            mirror,
            Endpoint::Stock,
            STOCK_WITH_BIN,
            body,
            "2026-12-01T00:00:00.000Z",
        )
        .unwrap();
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 431.5}]"#;
        let summary = run(
            mirror,
            Endpoint::Stock,
            STOCK_DECIMAL_QTY,
            body,
            "2026-12-01T01:00:00.000Z",
        )
        .unwrap();
        assert!(
            summary.schema_changes.iter().any(|c| c.is_type_change()),
            "{:?}",
            summary.schema_changes
        );
    });
    let updates: Vec<_> = back
        .changes
        .iter()
        .filter(|c| c.load == 2)
        .map(|c| (c.column.clone(), c.old.clone(), c.new.clone()))
        .collect();
    assert!(
        updates.contains(&(
            Some("AvailableQTY".into()),
            Some("432".into()),
            Some("431.5".into())
        )),
        "{updates:?}"
    );
}

#[test]
fn a_field_that_leaves_the_schema_keeps_its_last_values_in_history_alike() {
    let back = on_every_engine("removed_field", |mirror| {
        let body =
            r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1, "Bin": "A1"}]"#;
        run(
            mirror,
            Endpoint::Stock,
            STOCK_WITH_BIN,
            body,
            "2026-12-01T00:00:00.000Z",
        )
        .unwrap();
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1}]"#;
        run(
            mirror,
            Endpoint::Stock,
            STOCK,
            body,
            "2026-12-01T01:00:00.000Z",
        )
        .unwrap();
    });
    let moved: Vec<_> = back
        .changes
        .iter()
        .filter(|c| c.load == 2)
        .map(|c| (c.column.as_deref(), c.old.as_deref(), c.new.as_deref()))
        .collect();
    assert_eq!(moved, [(Some("Bin"), Some("A1"), None)]);
}

#[test]
fn a_repeated_key_is_counted_and_the_first_kept_alike() {
    let back = on_every_engine("duplicates", |mirror| {
        let body = r#"[
            {"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1},
            {"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 2},
            {"SKU": "DRAC001", "StockLocation": "UK02", "AvailableQTY": 3}]"#;
        let summary = run(
            mirror,
            Endpoint::Stock,
            STOCK,
            body,
            "2026-12-01T00:00:00.000Z",
        )
        .unwrap();
        assert_eq!(summary.duplicate_keys, ["DRAC001 / UK01"]);
    });
    assert_eq!(back.runs[0].3, [3, 2, 0, 0, 1, 0]);
}

#[test]
fn a_failed_run_is_recorded_and_leaves_the_rows_as_they_were_alike() {
    let back = on_every_engine("failed_run", |mirror| {
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1}]"#;
        run(
            mirror,
            Endpoint::Stock,
            STOCK,
            body,
            "2026-12-01T00:00:00.000Z",
        )
        .unwrap();
        let before = read_back(mirror);
        let schema = SchemaDocument::from_json(STOCK).unwrap();
        let mut sync = EndpointSync::begin(
            mirror.engine(),
            Endpoint::Stock,
            &schema,
            OnSchemaChange::Evolve,
            at("2026-12-01T01:00:00.000Z"),
            Utc::now,
        )
        .unwrap();
        let mut stream = kiss_dynamic::RawStream::new(&schema);
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 2},
                       {"SKU": "NEW001", "StockLocation": "UK01", "AvailableQTY": 5}]"#;
        stream
            .feed(body.as_bytes(), |record| sync.add(&record))
            .unwrap();
        // The body turned out to be cut short: the caller fails the run.
        sync.fail("the body was cut short");
        let after = read_back(mirror);
        assert_eq!(after.changes, before.changes);
        assert_eq!(after.rows, before.rows);
    });
    let last = back.runs.last().unwrap();
    assert_eq!(last.2, LoadStatus::Failed);
    assert_eq!(last.4.as_deref(), Some("the body was cut"));
}

#[test]
fn a_frozen_type_change_is_a_failed_run_and_leaves_the_tables_alike() {
    let back = on_every_engine("frozen", |mirror| {
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1}]"#;
        run(
            mirror,
            Endpoint::Stock,
            STOCK_WITH_BIN,
            body,
            "2026-12-01T00:00:00.000Z",
        )
        .unwrap();
        let schema = SchemaDocument::from_json(STOCK_DECIMAL_QTY).unwrap();
        let refused = EndpointSync::begin(
            mirror.engine(),
            Endpoint::Stock,
            &schema,
            OnSchemaChange::Freeze,
            at("2026-12-01T01:00:00.000Z"),
            Utc::now,
        )
        .err()
        .unwrap();
        assert!(matches!(refused, StoreError::Frozen { .. }), "{refused}");
    });
    let last = back.runs.last().unwrap();
    assert_eq!((last.1.as_str(), last.2), ("2026-06", LoadStatus::Failed));
    assert_eq!(back.changes.len(), 1, "only the first run's insertion");
}

#[test]
fn a_killed_run_stays_running_and_is_stale_once_its_lock_is_free_alike() {
    let back = on_every_engine("killed", |mirror| {
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1}]"#;
        run(
            mirror,
            Endpoint::Stock,
            STOCK,
            body,
            "2026-12-01T00:00:00.000Z",
        )
        .unwrap();
        let location = mirror.location().clone();
        // A second process takes the lock, begins a run, and dies: neither its run's end
        // nor its rollback is ever said (its connection simply goes).
        let mut dying = Mirror::open(&location).unwrap();
        let locked = tokio_block(dying.lock(
            "C1",
            Endpoint::Stock,
            false,
            std::future::pending::<()>(),
            |_| {},
        ));
        assert!(matches!(locked, Ok(Locked::Taken)), "{locked:?}");
        let schema = SchemaDocument::from_json(STOCK).unwrap();
        let sync = EndpointSync::begin(
            dying.engine(),
            Endpoint::Stock,
            &schema,
            OnSchemaChange::Evolve,
            at("2026-12-01T01:00:00.000Z"),
            Utc::now,
        )
        .unwrap();
        assert!(
            mirror.syncing("C1", Endpoint::Stock).unwrap().is_some(),
            "a live run"
        );
        std::mem::forget(sync);
        drop(dying);
        // The server ends a session whose client went away on its own time.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while mirror.syncing("C1", Endpoint::Stock).unwrap().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the dead run's lock stayed taken"
            );
            std::thread::yield_now();
        }
    });
    assert_eq!(back.runs.last().unwrap().2, LoadStatus::Running);
    assert_eq!(back.changes.len(), 1);
}

#[test]
fn a_mirror_holds_one_customer_alike() {
    on_every_engine("identity", |mirror| {
        let first = Identity {
            deployment: "https://api.example".into(),
            customer: "C1".into(),
        };
        mirror.claim(&first, "2026-12-01T00:00:00.000Z").unwrap();
        let other = Identity {
            customer: "C2".into(),
            ..first.clone()
        };
        let refused = mirror
            .claim(&other, "2026-12-01T00:00:00.000Z")
            .unwrap_err();
        assert!(
            matches!(refused, StoreError::OtherCustomer { .. }),
            "{refused}"
        );
        assert_eq!(mirror.identity().unwrap(), Some(first));
    });
}

#[test]
fn postgres_a_lost_connection_after_the_lock_fails_the_run_and_never_goes_on_unlocked() {
    let Some(engine) = engines("lost_lock")
        .into_iter()
        .find(|e| e.name == "postgres")
    else {
        return;
    };
    let Location::Postgres(url) = &engine.location else {
        unreachable!()
    };
    let mut mirror = Mirror::open(&engine.location).unwrap();
    let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1}]"#;
    run(
        &mut mirror,
        Endpoint::Stock,
        STOCK,
        body,
        "2026-12-01T00:00:00.000Z",
    )
    .unwrap();
    let before = read_back(&mut mirror);
    let locked = tokio_block(mirror.lock(
        "C1",
        Endpoint::Stock,
        false,
        std::future::pending::<()>(),
        |_| {},
    ));
    assert!(matches!(locked, Ok(Locked::Taken)), "{locked:?}");
    // An administrator (or a failover) ends the session that holds the lock.
    let Cleanup::Schema { url: plain, .. } = &engine.cleanup else {
        unreachable!()
    };
    let mut admin = postgres::Client::connect(plain, postgres::NoTls).unwrap();
    let ended: i64 = admin
        .query_one(
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE application_name LIKE 'kiss on % (pid {})'
                   AND query LIKE '%pg_try_advisory_lock%'",
                std::process::id()
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(ended, 1);
    let failed = run(
        &mut mirror,
        Endpoint::Stock,
        STOCK,
        body,
        "2026-12-01T01:00:00.000Z",
    )
    .err()
    .unwrap();
    assert!(matches!(failed, StoreError::LockLost { .. }), "{failed}");
    // Nothing ran unlocked: the rows are as they were.
    let mut reader = Mirror::open_existing(&Location::Postgres(url.clone())).unwrap();
    let after = read_back(&mut reader);
    assert_eq!(after.rows, before.rows);
    assert_eq!(after.changes, before.changes);
    // The next run takes the lock afresh and goes ahead.
    let locked = tokio_block(mirror.lock(
        "C1",
        Endpoint::Stock,
        false,
        std::future::pending::<()>(),
        |_| {},
    ));
    assert!(matches!(locked, Ok(Locked::Taken)), "{locked:?}");
    run(
        &mut mirror,
        Endpoint::Stock,
        STOCK,
        body,
        "2026-12-01T02:00:00.000Z",
    )
    .unwrap();
    mirror.unlock("C1", Endpoint::Stock).unwrap();
}

/// Runs a future to its end on a runtime of its own (the lock's wait is async).
fn tokio_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn a_schema_of_twelve_hundred_fields_is_recorded_and_read_back_alike() {
    // More columns than one statement records (a thousand). Most are absent (NULL): a
    // PostgreSQL row holds at most 8 KB of values that cannot be moved out of line, such as
    // a thousand BIGINTs.
    let mut fields: Vec<String> = vec![
        r#"{"name": "sKU", "type": "string", "required": true}"#.to_owned(),
        r#"{"name": "stockLocation", "type": "string", "required": false}"#.to_owned(),
    ];
    for i in 0..1200 {
        fields.push(format!(
            r#"{{"name": "f{i}", "type": "integer", "required": false}}"#
        ));
    }
    let schema = format!(
        r#"{{"endpoint": "/stock", "apiVersion": "2026-04", "fields": [{}]}}"#,
        fields.join(", ")
    );
    let first = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "F0": 0, "F1199": 1199}]"#;
    let second = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "F0": 0, "F1199": -1}]"#;
    let back = on_every_engine("wide", |mirror| {
        run(
            mirror,
            Endpoint::Stock,
            &schema,
            first,
            "2026-12-01T00:00:00.000Z",
        )
        .unwrap();
        run(
            mirror,
            Endpoint::Stock,
            &schema,
            second,
            "2026-12-01T01:00:00.000Z",
        )
        .unwrap();
        let mut transaction = mirror.engine().begin().unwrap();
        let stored = transaction.stored_columns(Endpoint::Stock).unwrap();
        assert_eq!(stored.len(), 1202);
        assert_eq!(stored.last().map(|c| c.wire_key.as_str()), Some("F1199"));
    });
    let moved: Vec<_> = back
        .changes
        .iter()
        .filter(|c| c.load == 2)
        .map(|c| (c.column.as_deref(), c.old.as_deref(), c.new.as_deref()))
        .collect();
    assert_eq!(moved, [(Some("F1199"), Some("1199"), Some("-1"))]);
}

#[test]
fn a_field_named_as_the_mirrors_own_in_any_case_is_refused_and_the_mirror_stays_usable_alike() {
    let back = on_every_engine("reserved", |mirror| {
        for name in ["_EXTRA", "_KISS_deleted", "_Parent_x"] {
            let schema = STOCK.replace(
                r#"{"name": "nextAvailableETA""#,
                &format!(r#"{{"name": "{name}", "type": "string"}}, {{"name": "nextAvailableETA""#),
            );
            let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1}]"#;
            let refused = run(
                mirror,
                Endpoint::Stock,
                &schema,
                body,
                "2026-12-01T00:00:00.000Z",
            )
            .err()
            .unwrap();
            let said = refused.to_string();
            assert!(
                said.contains("a column name the mirror uses"),
                "{name}: {said}"
            );
        }
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1}]"#;
        run(
            mirror,
            Endpoint::Stock,
            STOCK,
            body,
            "2026-12-01T01:00:00.000Z",
        )
        .unwrap();
    });
    let statuses: Vec<LoadStatus> = back.runs.iter().map(|r| r.2).collect();
    assert_eq!(
        statuses,
        [
            LoadStatus::Failed,
            LoadStatus::Failed,
            LoadStatus::Failed,
            LoadStatus::Ok
        ]
    );
    assert_eq!(back.changes.len(), 1);
}

#[test]
fn a_nested_array_named_history_or_versions_gets_a_table_of_its_own_alike() {
    let schema = STOCK.replace(
        r#"]}"#,
        r#"], "arrays": {
            "history": {"fields": [{"name": "at", "type": "date"}, {"name": "qty", "type": "integer"}]},
            "versions": {"fields": [{"name": "v", "type": "string"}]}}}"#,
    );
    let back = on_every_engine("own_names", |mirror| {
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1,
            "History": [{"At": "2026-01-01", "Qty": 5}], "Versions": [{"V": "a"}]}]"#;
        run(
            mirror,
            Endpoint::Stock,
            &schema,
            body,
            "2026-12-01T00:00:00.000Z",
        )
        .unwrap();
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 2,
            "History": [{"At": "2026-01-01", "Qty": 5}, {"At": "2026-02-01", "Qty": 2}],
            "Versions": [{"V": "b"}]}]"#;
        let summary = run(
            mirror,
            Endpoint::Stock,
            &schema,
            body,
            "2026-12-01T01:00:00.000Z",
        )
        .unwrap();
        assert_eq!(summary.load.updated, 1);
        let mut transaction = mirror.engine().begin().unwrap();
        let tables: std::collections::BTreeSet<String> = transaction
            .stored_columns(Endpoint::Stock)
            .unwrap()
            .into_iter()
            .map(|c| c.table)
            .collect();
        assert_eq!(
            tables.into_iter().collect::<Vec<_>>(),
            ["stock", "stock_history_array", "stock_versions_array"]
        );
    });
    let moved: Vec<_> = back
        .changes
        .iter()
        .filter(|c| c.load == 2)
        .map(|c| c.column.clone().unwrap_or_default())
        .collect();
    assert_eq!(moved, ["AvailableQTY", "History", "Versions"]);
}

#[test]
fn a_field_that_differs_from_another_only_by_case_gets_a_column_of_its_own_alike() {
    let twin = STOCK.replace(
        r#"{"name": "nextAvailableETA""#,
        r#"{"name": "availableqty", "type": "integer", "required": false}, {"name": "nextAvailableETA""#,
    );
    let back = on_every_engine("case_twins", |mirror| {
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1}]"#;
        run(
            mirror,
            Endpoint::Stock,
            STOCK,
            body,
            "2026-12-01T00:00:00.000Z",
        )
        .unwrap();
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1, "Availableqty": 7}]"#;
        run(
            mirror,
            Endpoint::Stock,
            &twin,
            body,
            "2026-12-01T01:00:00.000Z",
        )
        .unwrap();
        let body = r#"[{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 2, "Availableqty": 7}]"#;
        run(
            mirror,
            Endpoint::Stock,
            &twin,
            body,
            "2026-12-01T02:00:00.000Z",
        )
        .unwrap();
    });
    let moved: Vec<_> = back
        .changes
        .iter()
        .filter(|c| c.load > 1)
        .map(|c| {
            (
                c.load,
                c.column.as_deref(),
                c.old.as_deref(),
                c.new.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        moved,
        [
            (2, Some("Availableqty"), None, Some("7")),
            (3, Some("AvailableQTY"), Some("1"), Some("2"))
        ]
    );
}

#[test]
fn a_nested_array_that_does_not_match_its_schema_is_kept_as_it_came_alike() {
    let schema = STOCK.replace(
        r#"]}"#,
        r#"], "arrays": {"bins": {"fields": [{"name": "code", "type": "string"}]}}}"#,
    );
    let record = |bins: &str| {
        format!(
            r#"[{{"SKU": "DRAC001", "StockLocation": "UK01", "AvailableQTY": 1, "Bins": {bins}}}]"#
        )
    };
    let back = on_every_engine("unfit_array", |mirror| {
        for (run, bins) in [
            r#"[{"Code": "A1"}]"#,
            r#""A1 and A2""#,
            r#"[{"Code": "A1"}, 7]"#,
            r#"[{"Code": "A2"}]"#,
        ]
        .iter()
        .enumerate()
        {
            let at = format!("2026-12-01T0{run}:00:00.000Z");
            run_ok(mirror, &schema, &record(bins), &at);
        }
    });
    let moved: Vec<_> = back
        .changes
        .iter()
        .filter(|c| c.change.name() == "updated")
        .map(|c| {
            (
                c.load,
                c.column.clone().unwrap_or_default(),
                c.old.clone().unwrap_or_default(),
                c.new.clone().unwrap_or_default(),
            )
        })
        .collect();
    // Each value as it came, never dropped, one change each: the string, then the array with
    // a number in it, kept whole where unknown fields go; child rows only for an array of
    // objects.
    assert_eq!(
        moved,
        [
            (2, r#"[{"Code":"A1"}]"#, r#""A1 and A2""#),
            (3, r#""A1 and A2""#, r#"[{"Code":"A1"},7]"#),
            (4, r#"[{"Code":"A1"},7]"#, r#"[{"Code":"A2"}]"#),
        ]
        .map(|(load, old, new)| (load, "Bins".to_owned(), old.to_owned(), new.to_owned()))
    );
}

fn run_ok(mirror: &mut Mirror, schema: &str, body: &str, at: &str) {
    run(mirror, Endpoint::Stock, schema, body, at).unwrap();
}
