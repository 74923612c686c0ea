//! `kiss sync --db postgres://…` against the real server: exact `NUMERIC`s, typed columns, a
//! re-sync that writes nothing, fields added mid-life, the schema contract, the same
//! `kiss changes` as SQLite's after the same syncs, faults (a truncated body, a 5xx, the
//! connection ended by the server, Ctrl-C, a lock timeout, the server restarted) that leave
//! the mirror as it was, a lost connection made again for the next run, the quota shared
//! through the mirror, one syncer per customer's endpoint, and scheduled runs done once
//! between two processes, in real and in simulated time.
//!
//! They need a PostgreSQL server: its URL in `KISS_TEST_POSTGRES_URL` (`.ci/run` sets it and
//! fails when the server is unreachable). Without it they are skipped, with one line saying so.
//! Each test mirrors into a schema of its own, dropped when it passes. The restart test also
//! needs the command that restarts the server, in `KISS_TEST_POSTGRES_RESTART` (`.ci/run`
//! sets it where `pg_ctlcluster` can); it runs alone, while no other test uses the server.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::time::Duration;

use kiss_sandbox::{Endpoint, Fault, Sandbox, DEFAULT_API_KEY, EPOCH_SECS};
use kiss_schema::{FieldSchema, FieldType};
use kiss_tests::{relaxed_sandbox as sandbox, tempdir, wait_for};

const URL_VAR: &str = "KISS_TEST_POSTGRES_URL";

/// The server's URL, or `None`: then the tests are skipped, and the first to find out says
/// so on the terminal (past the test harness's capture), once.
fn server() -> Option<String> {
    static SAID: Once = Once::new();
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            SAID.call_once(|| {
                skipping(&format!(
                    "skipping the PostgreSQL tests: set {URL_VAR}=postgres://postgres@127.0.0.1:5432/test to run them"
                ));
            });
            None
        }
    }
}

/// Says on the terminal (past the test harness's capture) that a test, or part of one, is
/// skipped and why; under CI (`CI` set, as `.ci/run` runs) a skip is a failure instead,
/// since CI runs every test.
fn skipping(what: &str) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{what}, but CI runs every test");
    }
    let _ = writeln!(std::io::stderr(), "{what}");
}

/// Held by every test while it uses the server: shared, except by the test that restarts it.
static SERVER_IN_USE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A test's hold on the server.
#[allow(dead_code)] // Held for its drop.
enum InUse {
    Shared(tokio::sync::RwLockReadGuard<'static, ()>),
    Alone(tokio::sync::RwLockWriteGuard<'static, ()>),
}

/// A schema of the test's own on the server: the mirror's URL (its `search_path`) and a
/// client to look inside.
struct Mirror {
    url: String,
    schema: String,
    client: tokio_postgres::Client,
    _in_use: InUse,
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {URL_VAR}: {e}"));
    tokio::spawn(connection);
    client
}

impl Mirror {
    async fn new(name: &str) -> Option<Mirror> {
        let server = server()?;
        let in_use = InUse::Shared(SERVER_IN_USE.read().await);
        Mirror::made(server, name, in_use).await
    }

    /// A mirror for a test that needs the server to itself (it restarts it).
    async fn alone(name: &str) -> Option<Mirror> {
        let server = server()?;
        let in_use = InUse::Alone(SERVER_IN_USE.write().await);
        Mirror::made(server, name, in_use).await
    }

    async fn made(server: String, name: &str, in_use: InUse) -> Option<Mirror> {
        let schema = format!("kiss_test_{name}");
        let client = connect(&server).await;
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .await
            .unwrap();
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-c%20search_path%3D{schema}");
        client
            .batch_execute(&format!("SET search_path = {schema}"))
            .await
            .unwrap();
        Some(Mirror {
            url,
            schema,
            client,
            _in_use: in_use,
        })
    }

    /// How many runs of `endpoint` ended ok (none before the first sync made `_kiss_loads`).
    async fn ok_loads(&self, endpoint: &str) -> i64 {
        self.client
            .query_one(
                "SELECT count(*) FROM _kiss_loads WHERE endpoint = $1 AND status = 'ok'",
                &[&endpoint],
            )
            .await
            .map(|row| row.get::<_, i64>(0))
            .unwrap_or(0)
    }

    /// A new client, for when the server has ended the old one's session (waiting, up to a
    /// minute, for a server that is starting).
    async fn reconnect(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await {
                Ok((client, connection)) => {
                    tokio::spawn(connection);
                    self.client = client;
                    return;
                }
                Err(e) => assert!(
                    std::time::Instant::now() < deadline,
                    "the server did not come back: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn strings(&self, sql: &str) -> Vec<String> {
        self.client
            .query(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|row| row.get::<_, Option<String>>(0).unwrap_or_default())
            .collect()
    }

    async fn count(&self, sql: &str) -> i64 {
        self.client.query_one(sql, &[]).await.unwrap().get(0)
    }

    /// Every row of every table of the mirror, as text, by table (the quota's send log
    /// aside: it records requests, in transactions of its own).
    async fn contents(&self) -> BTreeMap<String, Vec<String>> {
        let tables = self
            .strings(&format!(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = '{}'
                 AND tablename <> '_kiss_quota' ORDER BY 1",
                self.schema
            ))
            .await;
        let mut out = BTreeMap::new();
        for table in tables {
            let mut rows = self
                .strings(&format!("SELECT t::text FROM \"{table}\" t"))
                .await;
            rows.sort();
            out.insert(table, rows);
        }
        out
    }

    /// Every table but the runs', whose rows are compared apart: what a failed or stopped
    /// run must leave as it was.
    async fn data(&self) -> BTreeMap<String, Vec<String>> {
        let mut all = self.contents().await;
        all.remove("_kiss_loads");
        all
    }

    /// The latest run of `endpoint`: its status and error.
    async fn last_run(&self, endpoint: &str) -> (String, Option<String>) {
        let row = self
            .client
            .query_one(
                &format!(
                    "SELECT status, error FROM {}._kiss_loads WHERE endpoint = $1
                     ORDER BY id DESC LIMIT 1",
                    self.schema
                ),
                &[&endpoint],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }

    async fn drop(self) {
        self.client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await
            .unwrap();
    }
}

fn against(sandbox: &Sandbox, state: &Path) -> Command {
    let mut command = speaking_to(sandbox, state);
    command.arg("--quiet");
    command
}

/// `kiss` against the sandbox, saying what it does on stderr.
fn speaking_to(sandbox: &Sandbox, state: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiss"));
    command
        .env("KISS_BASE_URL", sandbox.base_url())
        .env("KISS_CUSTOMER_CODE", "ACME01")
        .env("KISS_API_KEY", DEFAULT_API_KEY)
        .env("XDG_STATE_HOME", state)
        .env_remove("KISS_DATABASE_URL");
    command
}

async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

async fn sync(sandbox: &Sandbox, db: &str, args: &[&str]) -> Output {
    let state = tempdir("sync-pg-state");
    let mut command = against(sandbox, &state);
    command.args(["sync", "--db", db]).args(args);
    let out = run(command).await;
    let _ = std::fs::remove_dir_all(state);
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `kiss sync --endpoint E` of `db` whose response trickles in at `bytes_per_sec`, started
/// and left running.
fn slow_sync(
    sandbox: &Sandbox,
    state: &Path,
    db: &str,
    endpoint: Endpoint,
    bytes_per_sec: u64,
) -> std::process::Child {
    let path = format!("/{}", endpoint.name());
    sandbox
        .control()
        .queue_fault(&path, Fault::SlowBody { bytes_per_sec }, 1)
        .unwrap();
    let mut command = against(sandbox, state);
    command
        .args(["sync", "--db", db, "--endpoint", endpoint.name()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command.spawn().unwrap()
}

/// `kiss sync --every <every>` into `db`, its state in `state`, its stderr kept.
fn scheduled_sync(sandbox: &Sandbox, state: &Path, db: &str, every: &str) -> Command {
    let mut command = against(sandbox, state);
    command
        .args(["sync", "--db", db, "--every", every])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Stops scheduled processes as a service manager would (SIGTERM, all at once), and asserts
/// that each exits 0.
async fn terminate(children: Vec<std::process::Child>) {
    for child in &children {
        assert!(Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
    }
    for child in children {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
}

/// A sandbox of 300 products mirrored once, its clock then moved on so that the next sync
/// has changes to write.
async fn synced_then_moved(mirror: &Mirror) -> Sandbox {
    let sandbox = sandbox(300).await;
    assert!(sync(&sandbox, &mirror.url, &[]).await.status.success());
    sandbox
        .control()
        .advance_clock(Duration::from_secs(12 * EPOCH_SECS));
    sandbox
}

/// A sync that lost its connection: exit 1, saying so and that nothing was committed.
fn assert_lost_and_rolled_back(out: &Output) {
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("connection to PostgreSQL was lost"), "{said}");
    assert!(said.contains("in the mirror is as it was"), "{said}");
}

/// The `application_name` pattern of a kiss process's sessions.
fn sessions_of(child: &std::process::Child) -> String {
    format!("kiss on % (pid {})", child.id())
}

impl Mirror {
    /// Waits until `child`'s run is recorded as running (committed on its own) and one of
    /// its sessions has then written in its open transaction (the sync's); then runs `then`
    /// against those sessions and returns what it counted. Fails after 30 s.
    async fn once_writing(&self, child: &std::process::Child, then: &str) -> i64 {
        let name = sessions_of(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let holder = format!("%(pid {})", child.id());
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "no session of {name} began writing within 30 s"
            );
            let has_runs = self
                .count(&format!(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = '{}'
                       AND tablename = '_kiss_loads'",
                    self.schema
                ))
                .await
                > 0;
            let running = has_runs
                && self
                    .count(&format!(
                        "SELECT count(*) FROM {}._kiss_loads WHERE status = 'running'
                           AND holder LIKE '{holder}'",
                        self.schema
                    ))
                    .await
                    > 0;
            if running {
                let counted = self
                    .count(&format!(
                        "SELECT count({then}) FROM pg_stat_activity
                         WHERE application_name LIKE '{name}' AND state = 'idle in transaction'
                           AND backend_xid IS NOT NULL"
                    ))
                    .await;
                if counted > 0 {
                    return counted;
                }
            }
            tokio::task::yield_now().await;
        }
    }
}

fn kiss_reading(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiss"))
        .env_remove("KISS_DATABASE_URL")
        .args(args)
        .args(["--db", db])
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_mirrors_exactly_in_typed_columns_and_a_resync_writes_only_its_loads() {
    let Some(mirror) = Mirror::new("first_sync").await else {
        return;
    };
    // Reading a mirror that is not there creates nothing in the user's database.
    let status = kiss_reading(&mirror.url, &["status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(
        text(&status.stderr).contains("there is no mirror in postgres://"),
        "{}",
        text(&status.stderr)
    );
    let tables = mirror
        .count(&format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = '{}'",
            mirror.schema
        ))
        .await;
    assert_eq!(tables, 0, "kiss status made tables");
    let sandbox = sandbox(200).await;
    // Decimals of every shape the binary NUMERIC form has to get right: groups of four digits
    // on both sides of the point, zeros before and after, a sign, a long fraction.
    let decimals = [
        ("PackagedLength_in_cm", "0.0001"),
        ("PackagedWidth_in_cm", "100000000"),
        ("PackagedHeight_in_cm", "-12345.678901234"),
        ("CartonLength_in_cm", "0"),
        ("CartonWidth_in_cm", "98765432109876543210.5"),
        ("CartonHeight_in_cm", "7.00"),
    ];
    for (field, value) in decimals {
        sandbox
            .control()
            .set_field(Endpoint::Products, "DRAC001", field, value)
            .unwrap();
    }
    sandbox
        .control()
        .set_field(
            Endpoint::Stock,
            "DRAC001",
            "NextAvailableETA",
            r#""1999-12-31""#,
        )
        .unwrap();
    let out = sync(&sandbox, &mirror.url, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // NUMERIC, given back with the scale the API wrote.
    let price = mirror
        .strings("SELECT \"PriceExclVAT\"::text FROM prices WHERE \"SKU\" = 'DRAC001'")
        .await;
    assert_eq!(price, ["19.9500"]);
    for (field, value) in decimals {
        let stored = mirror
            .strings(&format!(
                "SELECT \"{field}\"::text FROM products WHERE \"SKU\" = 'DRAC001'"
            ))
            .await;
        assert_eq!(stored, [value], "{field}");
    }
    let eta = mirror
        .strings("SELECT \"NextAvailableETA\"::text FROM stock WHERE \"SKU\" = 'DRAC001'")
        .await;
    assert_eq!(eta, ["1999-12-31"]);
    let types: BTreeMap<String, String> = mirror
        .client
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = $1 AND table_name IN ('prices', 'products', 'stock')",
            &[&mirror.schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(types["PriceExclVAT"], "numeric");
    assert_eq!(types["AvailableQTY"], "bigint");
    assert_eq!(types["SKU"], "text");
    assert_eq!(types["_extra"], "jsonb");
    assert_eq!(types["PackagedLength_in_cm"], "numeric");
    assert_eq!(types["NextAvailableETA"], "date");
    // The run's bookkeeping columns, added once the first sync's rows were in: last, with
    // their constraints, no default left behind, and the run's values in every row.
    for table in ["products", "stock", "prices"] {
        let columns: Vec<(String, String, Option<String>)> = mirror
            .client
            .query(
                "SELECT column_name::text, is_nullable::text, column_default::text
                 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2
                 ORDER BY ordinal_position DESC LIMIT 5",
                &[&mirror.schema, &table],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let expected = [
            ("_kiss_load", "NO"),
            ("_kiss_deleted", "YES"),
            ("_kiss_change", "NO"),
            ("_kiss_changed", "NO"),
            ("_kiss_first_seen", "NO"),
        ];
        let found: Vec<(&str, &str, Option<&str>)> = columns
            .iter()
            .map(|(n, null, d)| (n.as_str(), null.as_str(), d.as_deref()))
            .collect();
        let wanted: Vec<(&str, &str, Option<&str>)> =
            expected.iter().map(|(n, null)| (*n, *null, None)).collect();
        assert_eq!(found, wanted, "{table}");
        let off_run = mirror
            .count(&format!(
                "SELECT count(*) FROM {table} t WHERE t.\"_kiss_change\" <> 'inserted'
                    OR t.\"_kiss_changed\" <> t.\"_kiss_first_seen\"
                    OR t.\"_kiss_deleted\" IS NOT NULL
                    OR t.\"_kiss_load\" <> (SELECT \"id\" FROM \"_kiss_loads\"
                        WHERE \"endpoint\" = '{table}')
                    OR t.\"_kiss_first_seen\" <> (SELECT \"started\" FROM \"_kiss_loads\"
                        WHERE \"endpoint\" = '{table}')"
            ))
            .await;
        assert_eq!(off_run, 0, "{table}: rows without their first run's values");
    }
    let images = mirror
        .count("SELECT count(*) FROM product_images WHERE \"_parent_SKU\" = 'DRAC001'")
        .await;
    assert_eq!(images, 2);
    let before = mirror.contents().await;
    let out = sync(&sandbox, &mirror.url, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = mirror.contents().await;
    for (table, rows) in &after {
        if table == "_kiss_loads" {
            assert_eq!(rows.len(), before[table].len() + 3, "one load per endpoint");
        } else {
            assert_eq!(
                rows, &before[table],
                "{table} was written by a sync of unchanged data"
            );
        }
    }
    let status = kiss_reading(&mirror.url, &["status"]);
    assert!(
        text(&status.stdout).contains("200 records, 0 inserted, 0 updated, 0 deleted"),
        "{}",
        text(&status.stdout)
    );
    mirror.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_fields_become_columns_in_the_syncs_transaction_and_freeze_leaves_all_untouched() {
    let Some(mirror) = Mirror::new("evolution").await else {
        return;
    };
    let sandbox = sandbox(40).await;
    assert!(sync(&sandbox, &mirror.url, &[]).await.status.success());
    let control = sandbox.control();
    control
        .add_field(
            Endpoint::Products,
            None,
            FieldSchema::new("ecoScore", FieldType::Integer, false),
        )
        .unwrap();
    control
        .add_field(
            Endpoint::Products,
            Some("productTags"),
            FieldSchema::new("tag", FieldType::String, false),
        )
        .unwrap();
    // A failed sync (the body cut short) leaves no half-added column: the DDL is in its
    // transaction.
    control
        .queue_fault(
            "/products",
            Fault::TruncatedBody {
                after_bytes: Some(20_000),
            },
            10,
        )
        .unwrap();
    let out = sync(&sandbox, &mirror.url, &["--endpoint", "products"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let columns = mirror
        .count(&format!(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = '{}'
             AND column_name = 'EcoScore'",
            mirror.schema
        ))
        .await;
    assert_eq!(columns, 0, "a rolled-back sync added a column");
    control.clear_faults();
    let out = sync(&sandbox, &mirror.url, &["--endpoint", "products"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let filled = mirror
        .count("SELECT count(*) FROM products WHERE \"EcoScore\" IS NOT NULL")
        .await;
    assert_eq!(
        filled, 40,
        "every product filled with the new field's value"
    );
    assert!(mirror.count("SELECT count(*) FROM product_tags").await > 0);
    // A changed type: freeze fails with exit 5 and writes nothing; evolve adds a column.
    let mut schema = control.profile().schema(Endpoint::Stock).document.clone();
    for field in &mut schema.fields {
        if field.wire_key == "AvailableQTY" {
            field.field_type = FieldType::Decimal;
        }
    }
    control
        .set_schema(Endpoint::Stock, schema.to_pretty_json())
        .unwrap();
    let before = mirror.data().await;
    let out = sync(
        &sandbox,
        &mirror.url,
        &["--endpoint", "stock", "--on-schema-change", "freeze"],
    )
    .await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert_eq!(mirror.data().await, before);
    let (status, error) = mirror.last_run("stock").await;
    assert_eq!(status, "failed");
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("--on-schema-change freeze")),
        "{error:?}"
    );
    let out = sync(&sandbox, &mirror.url, &["--endpoint", "stock"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let filled = mirror
        .count("SELECT count(*) FROM stock WHERE \"AvailableQTY__decimal\" IS NOT NULL")
        .await;
    assert_eq!(filled, 40);
    mirror.drop().await;
}

/// `kiss changes --format ndjson`, each change without its time (the two mirrors' syncs ran
/// moments apart), in order.
fn changes_of(db: &str) -> Vec<serde_json::Value> {
    let out = kiss_reading(db, &["changes", "--format", "ndjson"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|line| {
            let mut change: serde_json::Value = serde_json::from_str(line).unwrap();
            change.as_object_mut().unwrap().remove("at");
            change
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_same_syncs_postgres_and_sqlite_report_the_same_changes() {
    let Some(mirror) = Mirror::new("same_changes").await else {
        return;
    };
    let sandbox = sandbox(300).await;
    let dir = tempdir("sync-pg-sqlite");
    let sqlite = dir.join("kiss.db");
    let sqlite = sqlite.to_str().unwrap();
    let both = |args: &'static [&'static str]| {
        let (sandbox, url) = (&sandbox, mirror.url.clone());
        async move {
            for db in [sqlite, url.as_str()] {
                let out = sync(sandbox, db, args).await;
                assert!(out.status.success(), "{db}: {}", text(&out.stderr));
            }
        }
    };
    both(&[]).await;
    // Stock and prices move, products leave and arrive; one record gains an unknown field,
    // another a value its decimal column cannot hold, and a JSON value in another order.
    sandbox
        .control()
        .advance_clock(Duration::from_secs(36 * EPOCH_SECS));
    let control = sandbox.control();
    control
        .set_field(
            Endpoint::Stock,
            "DRAC001",
            "binLocation",
            r#"{"aisle":4,"bay":"B"}"#,
        )
        .unwrap();
    control
        .set_field(
            Endpoint::Prices,
            "FANG001",
            "PriceExclVAT",
            r#""on request""#,
        )
        .unwrap();
    // And what a hostile server might send: a NUL in a string and in an unknown field (which
    // no PostgreSQL text or JSONB holds), a decimal of a thousand digits and one in exponent
    // form, deeply nested JSON.
    let hostile = [
        ("Name", r#""Dra\u0000cula""#.to_owned()),
        ("binNote", r#"{"note":"a\u0000b"}"#.to_owned()),
        ("PackagedLength_in_cm", format!("1{}.5", "0".repeat(1000))),
        ("PackagedWidth_in_cm", "2.5e3".to_owned()),
        ("deepNote", format!("{}1{}", "[".repeat(60), "]".repeat(60))),
    ];
    for (field, value) in &hostile {
        control
            .set_field(Endpoint::Products, "DRAC001", field, value)
            .unwrap();
    }
    both(&[]).await;
    control
        .set_field(
            Endpoint::Stock,
            "DRAC001",
            "binLocation",
            r#"{"bay":"C","aisle":4}"#,
        )
        .unwrap();
    control
        .set_field(Endpoint::Prices, "FANG001", "PriceExclVAT", "2.4500")
        .unwrap();
    control
        .set_field(Endpoint::Products, "DRAC001", "Name", r#""Dracula""#)
        .unwrap();
    sandbox
        .control()
        .advance_clock(Duration::from_secs(6 * EPOCH_SECS));
    both(&[]).await;
    let (from_sqlite, from_postgres) = (changes_of(sqlite), changes_of(&mirror.url));
    assert!(from_sqlite.len() > 700, "{}", from_sqlite.len());
    for kind in ["inserted", "updated", "deleted"] {
        assert!(
            from_sqlite.iter().any(|c| c["change"] == kind),
            "no {kind} change to compare"
        );
    }
    assert!(from_sqlite.iter().any(|c| c["new"] == "on request"));
    assert_eq!(from_postgres.len(), from_sqlite.len());
    for (p, s) in from_postgres.iter().zip(&from_sqlite) {
        assert_eq!(p, s);
    }
    // The hostile values were stored and read back: only what the server changed moved.
    let drac: Vec<String> = from_postgres
        .iter()
        .filter(|c| {
            c["key"] == "DRAC001" && c["endpoint"] == "products" && c["change"] == "updated"
        })
        .map(|c| format!("{} {} → {}", c["column"], c["old"], c["new"]))
        .collect();
    assert!(
        drac.iter()
            .any(|c| c == "\"Name\" \"Dra\u{FFFD}cula\" → \"Dracula\""),
        "{drac:?}"
    );
    assert_eq!(
        drac.iter()
            .filter(|c| c.starts_with("\"PackagedLength_in_cm\""))
            .count(),
        1,
        "the thousand-digit decimal moved once, when it was set: {drac:?}"
    );
    // The value that did not fit its NUMERIC column was kept aside and read back whole.
    assert!(from_postgres
        .iter()
        .any(|c| c["old"] == "on request" && c["new"] == "2.4500"));
    std::fs::remove_dir_all(dir).unwrap();
    mirror.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_leave_the_mirror_as_it_was_and_the_next_run_succeeds() {
    let Some(mirror) = Mirror::new("faults").await else {
        return;
    };
    let sandbox = synced_then_moved(&mirror).await;
    let before = mirror.data().await;
    // A body cut short, and a 5xx.
    for fault in [
        Fault::TruncatedBody {
            after_bytes: Some(150_000),
        },
        Fault::Status { status: 503 },
    ] {
        sandbox
            .control()
            .queue_fault("/products", fault, 10)
            .unwrap();
        let out = sync(&sandbox, &mirror.url, &["--endpoint", "products"]).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("products in the mirror is as it was"));
        assert_eq!(mirror.data().await, before);
        assert_eq!(mirror.last_run("products").await.0, "failed");
        sandbox.control().clear_faults();
    }
    // The server ends the session mid-sync (an administrator's pg_terminate_backend, or a
    // restart): the one whose transaction has written (the run's record, at least).
    let state = tempdir("sync-pg-state");
    let child = slow_sync(&sandbox, &state, &mirror.url, Endpoint::Products, 100_000);
    let ended = mirror
        .once_writing(&child, "pg_terminate_backend(pid)")
        .await;
    assert_eq!(ended, 1);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_lost_and_rolled_back(&out);
    assert_eq!(mirror.data().await, before);
    // Its run could not record its end: it stays `running`, and `kiss status` tells it from
    // a live one by its advisory lock, which went with the session.
    assert_eq!(mirror.last_run("products").await.0, "running");
    let status = Command::new(env!("CARGO_BIN_EXE_kiss"))
        .args(["status", "--db", &mirror.url])
        .output()
        .unwrap();
    let said = text(&status.stdout);
    assert!(
        said.contains("products  last") && said.contains("(stale: "),
        "{said}"
    );
    // Ctrl-C mid-stream.
    let child = slow_sync(&sandbox, &state, &mirror.url, Endpoint::Products, 100_000);
    mirror.once_writing(&child, "*").await;
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{said}");
    assert!(said.contains("rolled back"), "{said}");
    assert_eq!(mirror.data().await, before);
    // Another session holds the table past the lock timeout.
    let holder = connect(&mirror.url).await;
    holder
        .batch_execute("BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let impatient = format!("{}%20-c%20lock_timeout%3D300ms", mirror.url);
    let out = sync(&sandbox, &impatient, &["--endpoint", "products"]).await;
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("timed out waiting for a lock"), "{said}");
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(mirror.data().await, before);
    let out = sync(&sandbox, &mirror.url, &["--endpoint", "products"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_ne!(mirror.data().await, before, "and the next run succeeds");
    let _ = std::fs::remove_dir_all(state);
    mirror.drop().await;
}

impl Mirror {
    /// The schema's tables, by name.
    async fn tables(&self) -> Vec<String> {
        self.strings(&format!(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = '{}' ORDER BY 1",
            self.schema
        ))
        .await
    }

    /// The tables a first sync fills on its loading connection, by the names they have until
    /// its transaction renames them into place.
    async fn loading_tables(&self) -> Vec<String> {
        let mut tables = self.tables().await;
        tables.retain(|t| t.starts_with("_kiss_loading_"));
        tables
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_fills_its_child_tables_aside_and_a_failed_one_leaves_none_behind() {
    let Some(mirror) = Mirror::new("first_sync_aside").await else {
        return;
    };
    let sandbox = sandbox(300).await;
    // The mirror's bookkeeping is made, products not yet synced: the session ended below is
    // the products sync's, not the one making the bookkeeping.
    let out = sync(&sandbox, &mirror.url, &["--endpoint", "stock"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // What a first sync killed between its two commits would leave.
    let stale = "_kiss_loading_products_999_1";
    mirror
        .client
        .batch_execute(&format!("CREATE TABLE {stale} (x int)"))
        .await
        .unwrap();
    // The server ends the sessions mid-sync: the loading connection's too, when it is open.
    let state = tempdir("sync-pg-state");
    let child = slow_sync(&sandbox, &state, &mirror.url, Endpoint::Products, 100_000);
    let ended = mirror
        .once_writing(&child, "pg_terminate_backend(pid)")
        .await;
    assert!(ended >= 1);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_lost_and_rolled_back(&out);
    assert_eq!(mirror.loading_tables().await, [stale]);
    assert!(!mirror.tables().await.contains(&"products".to_owned()));
    // The loading connection has committed, then renaming its tables into place fails (an
    // event trigger refuses it): the tables it committed are dropped.
    mirror
        .client
        .batch_execute(&format!(
            "CREATE FUNCTION {schema}.refuse_renames() RETURNS event_trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF current_schema() = '{schema}' THEN
                     RAISE EXCEPTION 'no renames in this schema';
                 END IF;
             END $$;
             CREATE EVENT TRIGGER {schema}_refuse_renames ON ddl_command_start
                 WHEN TAG IN ('ALTER INDEX') EXECUTE FUNCTION {schema}.refuse_renames();",
            schema = mirror.schema
        ))
        .await
        .unwrap();
    let out = sync(&sandbox, &mirror.url, &["--endpoint", "products"]).await;
    mirror
        .client
        .batch_execute(&format!(
            "DROP EVENT TRIGGER {schema}_refuse_renames; DROP FUNCTION {schema}.refuse_renames()",
            schema = mirror.schema
        ))
        .await
        .unwrap();
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("no renames in this schema"), "{said}");
    assert!(said.contains("in the mirror is as it was"), "{said}");
    assert_eq!(mirror.loading_tables().await, [stale]);
    assert!(!mirror.tables().await.contains(&"product_images".to_owned()));
    // The next first sync drops what was left and puts every child table in place, indexed.
    let out = sync(&sandbox, &mirror.url, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(mirror.loading_tables().await.is_empty());
    let images = mirror.count("SELECT count(*) FROM product_images").await;
    assert!(images >= 300, "{images} images");
    let index = mirror
        .strings(&format!(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = '{}'
             AND tablename = 'product_images'",
            mirror.schema
        ))
        .await;
    assert_eq!(index, ["product_images_parent"]);
    let _ = std::fs::remove_dir_all(state);
    mirror.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_syncer_per_customer_endpoint_the_second_waits_or_says_who_holds_it() {
    let Some(mirror) = Mirror::new("lock").await else {
        return;
    };
    let sandbox = sandbox(300).await;
    let state = tempdir("sync-pg-state");
    let first = slow_sync(&sandbox, &state, &mirror.url, Endpoint::Stock, 8_000);
    let pid = first.id();
    // The slow body is on its way: the first holds the lock.
    assert!(wait_for(|| sandbox.control().request_count("/stock") >= 1));
    let out = sync(&sandbox, &mirror.url, &["--endpoint", "stock", "--no-wait"]).await;
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains(&format!("(pid {pid})"))
            && said.contains("is syncing stock of customer ACME01"),
        "{said}"
    );
    assert_eq!(
        sandbox.control().request_count("/stock"),
        1,
        "the second process polled an endpoint the first was syncing"
    );
    // Another endpoint is free.
    let out = sync(
        &sandbox,
        &mirror.url,
        &["--endpoint", "prices", "--no-wait"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mirror.count("SELECT count(*) FROM prices").await, 300);
    // Without --no-wait the second says that it waits, and waits: it is still waiting once it
    // has said so, and syncs after the first.
    let mut second = speaking_to(&sandbox, &state);
    second
        .args(["sync", "--db", &mirror.url, "--endpoint", "stock"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut second = second.spawn().unwrap();
    let said = kiss_tests::Said::watch(&mut second);
    assert!(
        said.says("waiting for it to finish"),
        "the second never said it waits: {}",
        said.now()
    );
    assert!(
        said.now().contains(&format!("(pid {pid})")),
        "{}",
        said.now()
    );
    assert_eq!(
        sandbox.control().request_count("/stock"),
        1,
        "the waiting process asked for stock while the first synced it"
    );
    let first = tokio::task::spawn_blocking(move || first.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = tokio::task::spawn_blocking(move || second.wait().unwrap())
        .await
        .unwrap();
    let said = said.all();
    assert!(second.success(), "{said}");
    let loads = mirror
        .count("SELECT count(*) FROM _kiss_loads WHERE endpoint = 'stock' AND status = 'ok'")
        .await;
    assert_eq!(loads, 2);
    let _ = std::fs::remove_dir_all(state);
    mirror.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scheduled_processes_do_each_run_once_between_them() {
    let Some(mirror) = Mirror::new("schedule").await else {
        return;
    };
    let sandbox = sandbox(50).await;
    let state = tempdir("sync-pg-state");
    let spawn = || {
        scheduled_sync(&sandbox, &state, &mirror.url, "stock=10m,prices=1h")
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let scheduled = || {
        let url = mirror.url.clone();
        async move {
            let client = connect(&url).await;
            client
                .query_one("SELECT count(*) FROM _kiss_schedule", &[])
                .await
                .map(|r| r.get::<_, i64>(0))
                .unwrap_or(0)
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while scheduled().await < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first runs never finished"
        );
        tokio::task::yield_now().await;
    }
    terminate(vec![a, b]).await;
    let loads = mirror
        .strings("SELECT endpoint FROM _kiss_loads ORDER BY endpoint")
        .await;
    assert_eq!(loads, ["prices", "stock"], "each due run done once");
    let counters = sandbox.control().counters();
    for path in ["/stock", "/prices"] {
        assert_eq!(
            counters.get(path).copied().unwrap_or(0),
            1,
            "{path} asked for once: {counters:?}"
        );
    }
    let _ = std::fs::remove_dir_all(state);
    mirror.drop().await;
}

/// A simulated hour: the sandbox's clock and both processes' run 720 times as fast (an hour
/// in five seconds), with both rate windows low; judged by the sandbox's counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scheduled_processes_for_a_simulated_hour_keep_both_windows_and_run_each_slot_once() {
    const SCALE: u32 = 720;
    let Some(mirror) = Mirror::new("simulated_hour").await else {
        return;
    };
    let sandbox = Sandbox::start(kiss_sandbox::SandboxConfig {
        products: 30,
        rate_limit: kiss_sandbox::RateLimit {
            per_minute: 4,
            per_hour: 20,
        },
        time_scale: SCALE,
        ..kiss_sandbox::SandboxConfig::default()
    })
    .await
    .unwrap();
    let epoch = chrono::Utc::now().to_rfc3339();
    let states = [tempdir("sync-pg-sim-a"), tempdir("sync-pg-sim-b")];
    let children: Vec<_> = states
        .iter()
        .map(|state| {
            let every = "stock=10m,products=60m,prices=60m";
            scheduled_sync(&sandbox, state, &mirror.url, every)
                .env("KISS_TIME_SCALE", SCALE.to_string())
                .env("KISS_TIME_EPOCH", &epoch)
                // One under each of the server's limits. At 720×, a millisecond by which a
                // busy machine delays a reserved send is 0.7 s of simulated time, past the
                // pacer's 250 ms margin for clock distance, so a request sent that late could
                // meet a 429 that a real hour never would (seen once in a `.ci/run`). The
                // quota shared through the mirror is the next test's subject.
                .env("KISS_QUOTA", "3,19")
                .spawn()
                .unwrap()
        })
        .collect();
    // Until the hour's six stock runs are recorded (at 0, 10, … 50 minutes).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while mirror.ok_loads("stock").await < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "six stock runs never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    terminate(children).await;
    assert_eq!(
        sandbox.control().rate_limited_count(),
        0,
        "a request met a 429"
    );
    let counters = sandbox.control().counters();
    for (endpoint, every_minutes) in [("stock", 10), ("products", 60), ("prices", 60)] {
        // The load records' times are simulated ones.
        let started = mirror
            .strings(&format!(
                "SELECT started FROM _kiss_loads WHERE endpoint = '{endpoint}' AND status = 'ok'
                 ORDER BY started"
            ))
            .await;
        assert_eq!(
            counters.get(&format!("/{endpoint}")).copied().unwrap_or(0),
            u64::try_from(started.len()).unwrap(),
            "{endpoint}: one request for records per recorded run: {counters:?}"
        );
        let times: Vec<chrono::DateTime<chrono::Utc>> = started
            .iter()
            .map(|t| t.parse().unwrap_or_else(|e| panic!("{t}: {e}")))
            .collect();
        for pair in times.windows(2) {
            assert!(
                pair[1] - pair[0] >= chrono::TimeDelta::minutes(every_minutes),
                "{endpoint} ran twice in one slot: {started:?}"
            );
        }
    }
    for state in states {
        let _ = std::fs::remove_dir_all(state);
    }
    mirror.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_on_any_machine_share_the_quota_through_the_mirror() {
    let Some(mirror) = Mirror::new("quota").await else {
        return;
    };
    // Two logs over one mirror, as two processes (on two machines) would have.
    let quota = kiss_client::Quota {
        per_minute: 3,
        per_hour: 100,
    };
    let a = kiss_store::postgres::QuotaLog::new(&mirror.url).unwrap();
    let b = kiss_store::postgres::QuotaLog::new(&mirror.url).unwrap();
    let slot = |sent: &mut std::collections::VecDeque<u64>, now| {
        kiss_client::reserve_slot(sent, now, quota)
    };
    let mut waits = Vec::new();
    for log in [&a, &b, &a, &b] {
        waits.push(log.reserve("ACME01", slot).await.unwrap());
    }
    assert_eq!(waits[..3], [Duration::ZERO; 3]);
    assert!(
        waits[3] > Duration::from_secs(59),
        "the fourth send waits for the minute: {:?}",
        waits[3]
    );
    // Another customer's quota is its own.
    assert_eq!(a.reserve("OTHER01", slot).await.unwrap(), Duration::ZERO);
    // A sync reserves every request it sends in the mirror's log.
    let sandbox = sandbox(20).await;
    let out = sync(&sandbox, &mirror.url, &["--endpoint", "stock"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sent: u64 = sandbox.control().counters().values().sum();
    let logged = mirror
        .count("SELECT count(*) FROM _kiss_quota WHERE customer = 'ACME01'")
        .await;
    assert_eq!(logged, 4 + i64::try_from(sent).unwrap());
    assert_eq!(sandbox.control().rate_limited_count(), 0);
    mirror.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_whose_connection_was_lost_connects_again_for_the_next_run() {
    use kiss_store::Engine;
    let Some(mirror) = Mirror::new("reconnect").await else {
        return;
    };
    let url = format!("{}&application_name=kiss-reconnect-test", mirror.url);
    let engine = tokio::task::spawn_blocking(move || {
        let mut engine = kiss_store::PostgresEngine::open(&url).unwrap();
        engine.start_transaction().unwrap();
        engine
    })
    .await
    .unwrap();
    // The server ends the session, as when it restarts.
    let ended = mirror
        .count(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'kiss-reconnect-test'",
        )
        .await;
    assert_eq!(ended, 1);
    let outcome = tokio::task::spawn_blocking(move || {
        let mut engine = engine;
        // The run in progress fails, saying so; rolling it back (as its failed commit did)
        // needs no server.
        let failed = engine
            .started_transaction()
            .commit()
            .unwrap_err()
            .to_string();
        // The next run connects again.
        engine.begin().unwrap().commit().unwrap();
        let loads = engine.loads(None, 10).unwrap();
        (failed, loads.len())
    })
    .await
    .unwrap();
    assert!(
        outcome.0.contains("connection to PostgreSQL was lost"),
        "{}",
        outcome.0
    );
    assert_eq!(outcome.1, 0);
    mirror.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_as_libpq_means_it_encrypted_by_default_and_checked_as_the_url_asks() {
    let Some(mirror) = Mirror::new("tls").await else {
        return;
    };
    if mirror.strings("SHOW ssl").await != ["on"] {
        skipping("not testing TLS: the PostgreSQL server has ssl off");
        return mirror.drop().await;
    }
    let sandbox = sandbox(20).await;
    // The default (sslmode=prefer, as libpq's) and require: encrypted sessions.
    let state = tempdir("sync-pg-tls");
    for url in [
        mirror.url.clone(),
        format!("{}&sslmode=require", mirror.url),
    ] {
        let child = slow_sync(&sandbox, &state, &url, Endpoint::Products, 20_000);
        mirror.once_writing(&child, "*").await;
        let plain = mirror
            .count(&format!(
                "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                 WHERE a.application_name LIKE '{}' AND NOT s.ssl",
                sessions_of(&child)
            ))
            .await;
        assert_eq!(plain, 0, "{url}: a session without TLS");
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    // verify-full without roots to trust: the Mozilla roots sign no test server's certificate.
    let strict = format!("{}&sslmode=verify-full", mirror.url);
    let out = sync(&sandbox, &strict, &["--endpoint", "stock"]).await;
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("certificate did not pass"), "{said}");
    assert!(said.contains("sslrootcert=PATH"), "{said}");
    // With Debian's snakeoil certificate (its own root, issued to localhost): verify-ca
    // passes for 127.0.0.1, verify-full only for localhost.
    let cert = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    if mirror.strings("SHOW ssl_cert_file").await == [cert] && Path::new(cert).exists() {
        let with_root = |mode: &str, url: &str| format!("{url}&sslmode={mode}&sslrootcert={cert}");
        let out = sync(
            &sandbox,
            &with_root("verify-ca", &mirror.url),
            &["--endpoint", "stock"],
        )
        .await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = sync(
            &sandbox,
            &with_root("verify-full", &mirror.url),
            &["--endpoint", "stock"],
        )
        .await;
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("not valid for name"),
            "{}",
            text(&out.stderr)
        );
        let localhost = mirror.url.replacen("127.0.0.1", "localhost", 1);
        let out = sync(
            &sandbox,
            &with_root("verify-full", &localhost),
            &["--endpoint", "stock"],
        )
        .await;
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let _ = std::fs::remove_dir_all(state);
    mirror.drop().await;
}

/// `KISS_TEST_POSTGRES_RESTART`: the command that restarts the server (run by `sh -c`).
fn restart_command() -> Option<String> {
    match std::env::var("KISS_TEST_POSTGRES_RESTART") {
        Ok(command) if !command.is_empty() => Some(command),
        _ => {
            if std::env::var(URL_VAR).is_ok_and(|url| !url.is_empty()) {
                skipping(
                    "not restarting the PostgreSQL server: set KISS_TEST_POSTGRES_RESTART \
                     to the command that does (such as pg_ctlcluster 15 main restart)",
                );
            }
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_sync_leaves_the_mirror_as_it_was_and_scheduled_runs_carry_on() {
    let Some(restart) = restart_command() else {
        return;
    };
    let Some(mut mirror) = Mirror::alone("restart").await else {
        return;
    };
    let sandbox = synced_then_moved(&mirror).await;
    let products_tables = |contents: BTreeMap<String, Vec<String>>| {
        contents
            .into_iter()
            .filter(|(table, _)| table.starts_with("product"))
            .collect::<BTreeMap<_, _>>()
    };
    let before = products_tables(mirror.contents().await);
    // A scheduled process, its stock every ten simulated minutes (a real second).
    let scheduled_state = tempdir("sync-pg-restart-every");
    let scheduled = scheduled_sync(&sandbox, &scheduled_state, &mirror.url, "stock=10m")
        .env("KISS_TIME_SCALE", "600")
        .spawn()
        .unwrap();
    // The server restarts while a sync of products has written in its transaction.
    let state = tempdir("sync-pg-restart");
    let child = slow_sync(&sandbox, &state, &mirror.url, Endpoint::Products, 100_000);
    mirror.once_writing(&child, "*").await;
    let restarted = tokio::task::spawn_blocking(move || {
        Command::new("sh").args(["-c", &restart]).status().unwrap()
    })
    .await
    .unwrap();
    assert!(restarted.success(), "the restart command failed");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_lost_and_rolled_back(&out);
    mirror.reconnect().await;
    assert_eq!(products_tables(mirror.contents().await), before);
    // The scheduled process carries on by itself.
    let after_restart = mirror.ok_loads("stock").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while mirror.ok_loads("stock").await < after_restart + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduled process did not sync again after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    terminate(vec![scheduled]).await;
    // And the next run of products succeeds.
    let out = sync(&sandbox, &mirror.url, &["--endpoint", "products"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_ne!(products_tables(mirror.contents().await), before);
    for dir in [state, scheduled_state] {
        let _ = std::fs::remove_dir_all(dir);
    }
    mirror.drop().await;
}
