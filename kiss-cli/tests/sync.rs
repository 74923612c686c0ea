//! `kiss sync`, `kiss changes` and `kiss status` against sandboxes: exact decimals, re-syncs
//! that write nothing, fields added mid-life, vanished rows, changes that match the sandbox's
//! moving data, failures and signals that leave the file byte for byte, the schema contract,
//! one syncer per file, and the schedule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kiss_sandbox::{Endpoint, Fault, Sandbox, DEFAULT_API_KEY, EPOCH_SECS};
use kiss_schema::{FieldSchema, FieldType};
use kiss_tests::{relaxed_sandbox as sandbox, served, tempdir, wait_for};
use rusqlite::Connection;

fn against(sandbox: &Sandbox, db: &Path) -> Command {
    let mut command = speaking_to(sandbox, db);
    command.arg("--quiet");
    command
}

/// `kiss` against the sandbox, saying what it does on stderr.
fn speaking_to(sandbox: &Sandbox, db: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiss"));
    command
        .env("KISS_BASE_URL", sandbox.base_url())
        .env("KISS_CUSTOMER_CODE", "ACME01")
        .env("KISS_API_KEY", DEFAULT_API_KEY)
        .env("XDG_STATE_HOME", db.parent().unwrap())
        .env_remove("KISS_DATABASE_URL");
    command
}

async fn sync(sandbox: &Sandbox, db: &Path, args: &[&str]) -> Output {
    let mut command = against(sandbox, db);
    command
        .args(["sync", "--db", db.to_str().unwrap()])
        .args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn kiss_reading(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiss"))
        .env_remove("KISS_DATABASE_URL")
        .args(args)
        .args(["--db", db.to_str().unwrap()])
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every row of every table, as text, by table: what "the database" holds.
fn contents(db: &Path) -> BTreeMap<String, Vec<String>> {
    let connection = Connection::open(db).unwrap();
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|table| {
            let mut statement = connection
                .prepare(&format!("SELECT * FROM \"{table}\""))
                .unwrap();
            let columns = statement.column_count();
            let mut rows: Vec<String> = statement
                .query_map([], |row| {
                    Ok((0..columns)
                        .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            rows.sort();
            (table, rows)
        })
        .collect()
}

fn query<T: rusqlite::types::FromSql>(db: &Path, sql: &str) -> Vec<T> {
    let connection = Connection::open(db).unwrap();
    let mut statement = connection.prepare(sql).unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// SKU → AvailableQTY as the sandbox serves `/stock` now.
async fn served_stock(sandbox: &Sandbox) -> BTreeMap<String, Option<i64>> {
    let body = served(sandbox, "/stock").await;
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
    rows.iter()
        .map(|r| {
            (
                r["SKU"].as_str().unwrap().to_owned(),
                r["AvailableQTY"].as_i64(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_mirrors_exactly_and_a_resync_of_unchanged_data_writes_only_its_loads() {
    let sandbox = sandbox(200).await;
    let dir = tempdir("sync-test");
    let db = dir.join("kiss.db");
    let out = sync(&sandbox, &db, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Exact decimals, as the API wrote them, stored as text.
    let prices: Vec<(String, String)> = {
        let connection = Connection::open(&db).unwrap();
        let mut statement = connection
            .prepare("SELECT \"PriceExclVAT\", typeof(\"PriceExclVAT\") FROM prices WHERE \"SKU\" = 'DRAC001'")
            .unwrap();
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(prices, [("19.9500".to_owned(), "text".to_owned())]);
    if let Ok(sqlite3) = Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT \"PriceExclVAT\" FROM prices WHERE \"SKU\" = 'DRAC001'")
        .output()
    {
        assert_eq!(text(&sqlite3.stdout).trim(), "19.9500");
    } else {
        println!("(no sqlite3 on this machine: read back through the SQLite library only)");
    }
    // Wire keys as column names, children keyed by parent and position.
    let images: Vec<i64> = query(
        &db,
        "SELECT count(*) FROM product_images WHERE \"_parent_SKU\" = 'DRAC001'",
    );
    assert_eq!(images, [2]);
    let columns: Vec<String> = query(&db, "SELECT name FROM pragma_table_info('products')");
    assert!(
        columns.contains(&"PackagedLength_in_cm".to_owned())
            && columns.contains(&"HSCode".to_owned())
    );
    let before = contents(&db);
    let out = sync(&sandbox, &db, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = contents(&db);
    for (table, rows) in &after {
        if table == "_kiss_loads" {
            assert_eq!(
                rows.len(),
                before[table].len() + 3,
                "one load record per endpoint"
            );
        } else {
            assert_eq!(
                rows, &before[table],
                "{table} was written by a sync of unchanged data"
            );
        }
    }
    let loads = kiss_reading(&db, &["status"]);
    assert!(
        text(&loads.stdout).contains("200 records, 0 inserted, 0 updated, 0 deleted"),
        "{}",
        text(&loads.stdout)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_and_arrays_added_mid_life_become_columns_and_tables_on_the_next_sync() {
    let sandbox = sandbox(50).await;
    let dir = tempdir("sync-test");
    let db = dir.join("kiss.db");
    assert!(sync(&sandbox, &db, &["--endpoint", "products"])
        .await
        .status
        .success());
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
    let mut command = against(&sandbox, &db);
    command
        .args([
            "sync",
            "--db",
            db.to_str().unwrap(),
            "--endpoint",
            "products",
        ])
        .env_remove("KISS_QUIET");
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| a != "--quiet")
        .collect();
    let mut loud = Command::new(env!("CARGO_BIN_EXE_kiss"));
    loud.envs(command.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .args(args);
    let out = tokio::task::spawn_blocking(move || loud.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(
        said.contains("new column products.\"EcoScore\" (integer)"),
        "{said}"
    );
    assert!(said.contains("new table product_tags"), "{said}");
    let filled: Vec<i64> = query(
        &db,
        "SELECT count(*) FROM products WHERE \"EcoScore\" IS NOT NULL",
    );
    assert_eq!(
        filled,
        [50],
        "every product updated with the new field's value"
    );
    let recorded: Vec<String> = query(
        &db,
        "SELECT description FROM _kiss_schema_changes WHERE change = 'new column'",
    );
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let tags: Vec<i64> = query(&db, "SELECT count(*) FROM product_tags");
    assert!(tags[0] > 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_clock_advance_vanished_rows_are_deleted_and_changes_match_the_sandbox() {
    let sandbox = sandbox(400).await;
    let dir = tempdir("sync-test");
    let db = dir.join("kiss.db");
    let stock_before = served_stock(&sandbox).await;
    assert!(sync(&sandbox, &db, &[]).await.status.success());
    // Six hours on: stock moves, some prices move, seasonal products leave, new ones launch.
    sandbox
        .control()
        .advance_clock(Duration::from_secs(36 * EPOCH_SECS));
    let stock_after = served_stock(&sandbox).await;
    let out = sync(&sandbox, &db, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The rows not deleted are exactly what the sandbox serves now; the rest are marked.
    let present: BTreeSet<String> = query::<String>(
        &db,
        "SELECT \"SKU\" FROM stock WHERE \"_kiss_deleted\" IS NULL",
    )
    .into_iter()
    .collect();
    let deleted: BTreeSet<String> = query::<String>(
        &db,
        "SELECT \"SKU\" FROM stock WHERE \"_kiss_deleted\" IS NOT NULL",
    )
    .into_iter()
    .collect();
    assert_eq!(present, stock_after.keys().cloned().collect());
    let vanished: BTreeSet<String> = stock_before
        .keys()
        .filter(|sku| !stock_after.contains_key(*sku))
        .cloned()
        .collect();
    assert!(
        !vanished.is_empty(),
        "the sandbox should retire a seasonal product in six hours"
    );
    assert_eq!(deleted, vanished);
    // `kiss changes` lists the stock that moved, old → new, exactly as served.
    let out = kiss_reading(&db, &["changes", "--endpoint", "stock", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let changes: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let moved: BTreeMap<String, (Option<i64>, Option<i64>)> = changes
        .iter()
        .filter(|c| c["change"] == "updated" && c["column"] == "AvailableQTY")
        .map(|c| {
            let sku = c["key"]
                .as_str()
                .unwrap()
                .split(" / ")
                .next()
                .unwrap()
                .to_owned();
            let number = |v: &serde_json::Value| v.as_str().map(|s| s.parse::<i64>().unwrap());
            (sku, (number(&c["old"]), number(&c["new"])))
        })
        .collect();
    let expected: BTreeMap<String, (Option<i64>, Option<i64>)> = stock_after
        .iter()
        .filter_map(|(sku, now)| {
            let then = stock_before.get(sku)?;
            (then != now).then(|| (sku.clone(), (*then, *now)))
        })
        .collect();
    assert!(
        expected.len() > 50,
        "the sandbox moves stock: {}",
        expected.len()
    );
    assert_eq!(moved, expected);
    let launched = stock_after
        .keys()
        .filter(|sku| !stock_before.contains_key(*sku))
        .count();
    let inserted = changes.iter().filter(|c| c["change"] == "inserted").count();
    assert_eq!(
        inserted,
        400 + launched,
        "first sync's rows, then the launched products"
    );
    // The table format reads as the issue promised: `DRAC001 / UK01  AvailableQTY 432 → …`.
    let table = text(&kiss_reading(&db, &["changes", "--endpoint", "stock"]).stdout);
    if let Some((_, (Some(old), Some(new)))) = moved.get_key_value("DRAC001") {
        assert!(
            table.contains(&format!("DRAC001 / UK01  AvailableQTY {old} → {new}")),
            "{table}"
        );
    }
    // History: for a row that moved, the old version closed when the new one opened.
    let sku = moved.keys().next().unwrap();
    let versions: Vec<(Option<String>, Option<String>)> = {
        let connection = Connection::open(&db).unwrap();
        let mut statement = connection
            .prepare("SELECT \"_kiss_valid_from\", \"_kiss_valid_to\" FROM stock_versions WHERE \"SKU\" = ?1 ORDER BY \"_kiss_valid_from\"")
            .unwrap();
        statement
            .query_map([sku], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(
        versions[0].1, versions[1].0,
        "valid-to of the old is valid-from of the new"
    );
    assert_eq!(versions[1].1, None, "the new version is open");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Every table but the runs', whose rows are compared apart: what a failed or stopped run
/// must leave as it was.
fn data(db: &Path) -> BTreeMap<String, Vec<String>> {
    let mut all = contents(db);
    all.remove("_kiss_loads");
    all
}

/// The latest run of `endpoint`: its status and error.
fn last_run(db: &Path, endpoint: &str) -> (String, Option<String>) {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT status, error FROM _kiss_loads WHERE endpoint = ?1 ORDER BY id DESC LIMIT 1",
            [endpoint],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_body_or_a_5xx_leaves_the_data_as_it_was_and_records_the_failed_run() {
    let sandbox = sandbox(300).await;
    let dir = tempdir("sync-test");
    let db = dir.join("kiss.db");
    assert!(sync(&sandbox, &db, &[]).await.status.success());
    // With the data moved on, a successful sync would write.
    sandbox
        .control()
        .advance_clock(Duration::from_secs(12 * EPOCH_SECS));
    let before = data(&db);
    for (fault, reason) in [
        (
            Fault::TruncatedBody {
                after_bytes: Some(150_000),
            },
            "the body was cut short",
        ),
        (Fault::Status { status: 503 }, "503"),
    ] {
        sandbox
            .control()
            .queue_fault("/products", fault, 10)
            .unwrap();
        let out = sync(&sandbox, &db, &["--endpoint", "products"]).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("products in the mirror is as it was"),
            "{}",
            text(&out.stderr)
        );
        assert!(data(&db) == before, "the data changed");
        let (status, error) = last_run(&db, "products");
        assert_eq!(status, "failed");
        assert!(
            error.as_deref().is_some_and(|e| e.contains(reason)),
            "{error:?}"
        );
        sandbox.control().clear_faults();
    }
    assert!(sync(&sandbox, &db, &["--endpoint", "products"])
        .await
        .status
        .success());
    assert!(data(&db) != before, "and the next run succeeds");
    assert_eq!(last_run(&db, "products").0, "ok");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_mid_stream_rolls_back_and_a_second_sync_waits_or_leaves() {
    let sandbox = sandbox(300).await;
    let dir = tempdir("sync-test");
    let db = dir.join("kiss.db");
    assert!(sync(&sandbox, &db, &[]).await.status.success());
    sandbox
        .control()
        .advance_clock(Duration::from_secs(12 * EPOCH_SECS));
    let before = data(&db);
    sandbox
        .control()
        .queue_fault(
            "/products",
            Fault::SlowBody {
                bytes_per_sec: 20_000,
            },
            1,
        )
        .unwrap();
    let mut command = against(&sandbox, &db);
    command
        .args([
            "sync",
            "--db",
            db.to_str().unwrap(),
            "--endpoint",
            "products",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    // The lock file names the syncing process once it holds the mirror.
    let lock = dir.join("kiss.db.kiss-lock");
    let pid = child.id().to_string();
    let holder = format!("(pid {pid})");
    assert!(wait_for(
        || std::fs::read_to_string(&lock).is_ok_and(|t| t.ends_with(&holder))
    ));
    // The body is slow: wait until the sync is writing it (SQLite's rollback journal exists
    // once the transaction has changed a page), not merely asked for it.
    let journal = dir.join("kiss.db-journal");
    assert!(wait_for(|| sandbox.control().request_count("/products")
        >= 2
        && journal.exists()));
    let out = sync(&sandbox, &db, &["--endpoint", "stock", "--no-wait"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains(&format!("{holder} is syncing stock")),
        "{}",
        text(&out.stderr)
    );
    // While it runs, another process sees the run as running, by whom.
    let status = text(&kiss_reading(&db, &["status"]).stdout);
    assert!(
        status.contains("running on ") && status.contains(&holder),
        "{status}"
    );
    // Without --no-wait, a second sync says it waits, and goes on waiting.
    let mut waiting = speaking_to(&sandbox, &db);
    waiting
        .args(["sync", "--db", db.to_str().unwrap(), "--endpoint", "stock"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut waiting = waiting.spawn().unwrap();
    let said = kiss_tests::Said::watch(&mut waiting);
    assert!(
        said.says("waiting for it to finish"),
        "the second sync never said it waits: {}",
        said.now()
    );
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("rolled back"),
        "{}",
        text(&out.stderr)
    );
    // The waiting sync goes ahead once the first has gone, and said that it waited.
    let waited = tokio::task::spawn_blocking(move || waiting.wait().unwrap())
        .await
        .unwrap();
    let said = said.all();
    assert_eq!(waited.code(), Some(0), "{said}");
    assert!(
        said.contains(&format!("{holder} is syncing stock"))
            && said.contains("kiss: stock: ")
            && said.contains(" updated, "),
        "{said}"
    );
    let mut after = data(&db);
    let mut expected = before;
    // Only stock moved (the clock advanced), by the sync that waited.
    for table in ["stock", "stock_history", "_kiss_changes"] {
        after.remove(table);
        expected.remove(table);
    }
    assert!(
        after == expected,
        "the stopped products sync left something"
    );
    let (status, error) = last_run(&db, "products");
    assert_eq!(status, "failed");
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("stopped before it finished")),
        "{error:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_type_fails_under_freeze_and_gets_its_own_column_under_evolve() {
    let sandbox = sandbox(30).await;
    let dir = tempdir("sync-test");
    let db = dir.join("kiss.db");
    assert!(sync(&sandbox, &db, &["--endpoint", "stock"])
        .await
        .status
        .success());
    let mut schema = sandbox
        .control()
        .profile()
        .schema(Endpoint::Stock)
        .document
        .clone();
    for field in &mut schema.fields {
        if field.wire_key == "AvailableQTY" {
            field.field_type = FieldType::Decimal;
        }
    }
    sandbox
        .control()
        .set_schema(Endpoint::Stock, schema.to_pretty_json())
        .unwrap();
    let before = data(&db);
    let out = sync(
        &sandbox,
        &db,
        &["--endpoint", "stock", "--on-schema-change", "freeze"],
    )
    .await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("changed type from integer to decimal"),
        "{}",
        text(&out.stderr)
    );
    assert!(data(&db) == before, "the tables changed under freeze");
    let (status, error) = last_run(&db, "stock");
    assert_eq!(status, "failed");
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("--on-schema-change freeze")),
        "{error:?}"
    );
    let out = sync(&sandbox, &db, &["--endpoint", "stock"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let filled: Vec<i64> = query(
        &db,
        "SELECT count(*) FROM stock WHERE \"AvailableQTY__decimal\" IS NOT NULL",
    );
    assert_eq!(filled, [30]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runs_on_schedule_until_sigterm_and_status_shows_the_next_run() {
    // Simulated time: the sandbox's clock and kiss's run 600 times as fast (ten minutes in
    // one second), so that several scheduled runs happen within the test.
    const SCALE: u32 = 600;
    let sandbox = Sandbox::start(kiss_sandbox::SandboxConfig {
        products: 20,
        time_scale: SCALE,
        ..kiss_sandbox::SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempdir("sync-test");
    let db = dir.join("kiss.db");
    let mut command = against(&sandbox, &db);
    command
        .env("KISS_TIME_SCALE", SCALE.to_string())
        .env("KISS_TIME_EPOCH", chrono::Utc::now().to_rfc3339())
        .args(["sync", "--db", db.to_str().unwrap(), "--every", "stock=10m"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let runs = || -> Vec<String> {
        Connection::open(&db)
            .and_then(|c| {
                c.prepare(
                    "SELECT started FROM _kiss_loads WHERE endpoint = 'stock' AND status = 'ok'
                     ORDER BY id",
                )?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        wait_for(|| db.exists() && runs().len() >= 3),
        "three scheduled runs never finished: {:?}",
        runs()
    );
    // Each run begins one interval (plus at most 5 % of it) after the one before, on the
    // simulated clock the runs are recorded by.
    let started: Vec<chrono::DateTime<chrono::Utc>> =
        runs().iter().map(|t| t.parse().unwrap()).collect();
    for pair in started.windows(2) {
        let apart = pair[1] - pair[0];
        assert!(
            apart >= chrono::TimeDelta::minutes(10) && apart <= chrono::TimeDelta::seconds(660),
            "runs {apart} apart: {started:?}"
        );
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status = kiss_reading(&db, &["status"]);
    let said = text(&status.stdout);
    assert!(said.contains("stock     last"), "{said}");
    assert!(said.contains("(every 10m)"), "{said}");
    assert!(said.contains("products  never synced"), "{said}");
    let out = Command::new(env!("CARGO_BIN_EXE_kiss"))
        .args(["sync", "--every", "stock=5m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("every 10 to 1,440 minutes"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_off_sync_goes_ahead_between_the_runs_of_a_scheduled_one() {
    let sandbox = sandbox(20).await;
    let dir = tempdir("sync-test");
    let db = dir.join("kiss.db");
    let mut command = against(&sandbox, &db);
    command
        .args(["sync", "--db", db.to_str().unwrap(), "--every", "stock=10m"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let scheduler = command.spawn().unwrap();
    let first_run_done = || {
        Connection::open(&db)
            .and_then(|c| {
                c.query_row("SELECT count(*) FROM _kiss_schedule", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .is_ok_and(|n| n == 1)
    };
    assert!(
        wait_for(first_run_done),
        "the first scheduled run never finished"
    );
    // The scheduler now sleeps until its next run, ten minutes away: it holds no lock.
    let mut one_off = against(&sandbox, &db);
    one_off
        .args(["sync", "--db", db.to_str().unwrap(), "--endpoint", "stock"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let one_off = std::sync::Mutex::new(one_off.spawn().unwrap());
    let finished = wait_for(|| one_off.lock().unwrap().try_wait().unwrap().is_some());
    let mut one_off = one_off.into_inner().unwrap();
    if !finished {
        let _ = one_off.kill();
    }
    let out = one_off.wait_with_output().unwrap();
    assert!(
        finished,
        "the one-off sync waited for the scheduler between its runs"
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let runs: Vec<String> = query(
        &db,
        "SELECT status FROM _kiss_loads WHERE endpoint = 'stock' ORDER BY id",
    );
    assert_eq!(runs, ["ok", "ok"]);
    terminate_all(vec![scheduler]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Sends SIGTERM to each and asserts that each exits 0.
fn terminate_all(children: Vec<std::process::Child>) {
    for child in children {
        assert!(Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_sync_waiting_for_the_lock_at_once_with_143() {
    let sandbox = sandbox(300).await;
    let dir = tempdir("sync-test");
    let db = dir.join("kiss.db");
    assert!(sync(&sandbox, &db, &[]).await.status.success());
    sandbox
        .control()
        .queue_fault(
            "/products",
            Fault::SlowBody {
                bytes_per_sec: 20_000,
            },
            1,
        )
        .unwrap();
    let mut holding = against(&sandbox, &db);
    holding
        .args([
            "sync",
            "--db",
            db.to_str().unwrap(),
            "--endpoint",
            "products",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let holding = holding.spawn().unwrap();
    let lock = dir.join("kiss.db.kiss-lock");
    let holder = format!("(pid {})", holding.id());
    assert!(wait_for(
        || std::fs::read_to_string(&lock).is_ok_and(|t| t.ends_with(&holder))
    ));
    let mut waiting = speaking_to(&sandbox, &db);
    waiting
        .args(["sync", "--db", db.to_str().unwrap(), "--endpoint", "stock"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut waiting = waiting.spawn().unwrap();
    let said = kiss_tests::Said::watch(&mut waiting);
    assert!(said.says("waiting for it to finish"), "{}", said.now());
    assert!(Command::new("kill")
        .args(["-TERM", &waiting.id().to_string()])
        .status()
        .unwrap()
        .success());
    // It ends while the holder still holds the lock: the wait itself answered SIGTERM.
    let waiting = std::sync::Mutex::new(waiting);
    assert!(
        wait_for(|| waiting.lock().unwrap().try_wait().unwrap().is_some()),
        "the waiting sync ignored SIGTERM"
    );
    let status = waiting.into_inner().unwrap().wait().unwrap();
    let said = said.all();
    assert_eq!(status.code(), Some(143), "{said}");
    assert!(
        said.contains("interrupted by SIGTERM while waiting for the lock on stock"),
        "{said}"
    );
    let mut holding = holding;
    let _ = holding.kill();
    let _ = holding.wait();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_of_one_customer_refuses_another_naming_both_and_left_untouched() {
    let sandbox = sandbox(20).await;
    let dir = tempdir("sync-test");
    // A newcomer's first sync fills the file from the embedded sandbox…
    let db = dir.join("kiss.db");
    let out = Command::new(env!("CARGO_BIN_EXE_kiss"))
        .env_remove("KISS_BASE_URL")
        .env_remove("KISS_CUSTOMER_CODE")
        .env_remove("KISS_API_KEY")
        .env_remove("KISS_DATABASE_URL")
        .env("XDG_STATE_HOME", &dir)
        .args([
            "--quiet",
            "sync",
            "--db",
            db.to_str().unwrap(),
            "--endpoint",
            "stock",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = contents(&db);
    // …and the same command with real credentials does not merge them into it.
    let out = sync(&sandbox, &db, &["--endpoint", "stock"]).await;
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("customer ACME01 of the embedded sandbox")
            && said.contains(&format!(
                "customer ACME01 of {}",
                sandbox.base_url().trim_end_matches('/')
            )),
        "{said}"
    );
    assert!(
        contents(&db) == before,
        "the refused sync wrote to the mirror"
    );
    // A second customer of the same deployment, likewise.
    let other = dir.join("other.db");
    assert!(sync(&sandbox, &other, &["--endpoint", "stock"])
        .await
        .status
        .success());
    let before = contents(&other);
    let mut command = against(&sandbox, &other);
    command.env("KISS_CUSTOMER_CODE", "BETA02").args([
        "sync",
        "--db",
        other.to_str().unwrap(),
        "--endpoint",
        "stock",
    ]);
    let out = command.output().unwrap();
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("customer ACME01") && said.contains("customer BETA02"),
        "{said}"
    );
    assert!(
        contents(&other) == before,
        "the refused sync wrote to the mirror"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_text_reaches_the_terminal_escaped_in_syncs_messages_and_changes() {
    // A key with an escape sequence that would clear the screen, and a newline that would
    // forge a line of kiss's own; repeated, so that the duplicate message names it.
    let body = r#"[
        {"SKU": "A\u001b[2J", "StockLocation": "UK01\nkiss: forged", "AvailableQTY": 1},
        {"SKU": "A\u001b[2J", "StockLocation": "UK01\nkiss: forged", "AvailableQTY": 2}]"#;
    let base = kiss_tests::hostile::api("/stock", kiss_schema::contract::STOCK_SCHEMA, body).await;
    let dir = tempdir("sync-test");
    let db = dir.join("kiss.db");
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiss"));
    command
        .env("KISS_BASE_URL", &base)
        .env("KISS_CUSTOMER_CODE", "ACME01")
        .env("KISS_API_KEY", DEFAULT_API_KEY)
        .env("XDG_STATE_HOME", &dir)
        .env_remove("KISS_DATABASE_URL")
        .args(["sync", "--db", db.to_str().unwrap(), "--endpoint", "stock"]);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("repeated a natural key"), "{said}");
    assert!(!said.contains('\u{1b}'), "{said:?}");
    assert!(said.contains("A\\u{1b}[2J"), "{said:?}");
    assert!(
        !said.lines().any(|l| l.starts_with("kiss: forged")),
        "{said:?}"
    );
    let changes = kiss_reading(&db, &["changes"]);
    let shown = text(&changes.stdout);
    assert!(changes.status.success(), "{}", text(&changes.stderr));
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    assert!(
        shown.contains("A\\u{1b}[2J / UK01\\nkiss: forged"),
        "{shown:?}"
    );
    assert_eq!(shown.lines().count(), 1, "{shown:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_db_that_is_not_a_kiss_mirror_is_refused_untouched_with_nothing_left_beside_it() {
    let sandbox = sandbox(20).await;
    let dir = tempdir("sync-test");
    // Another application's database: WAL mode, a `products` table of its own.
    let app = dir.join("app.db");
    {
        let connection = Connection::open(&app).unwrap();
        connection
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        connection
            .execute_batch(
                "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT);
                 INSERT INTO products (name) VALUES ('theirs');
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .unwrap();
    }
    let text_file = dir.join("notes.txt");
    std::fs::write(&text_file, "not a database at all\n").unwrap();
    let folder = dir.join("a-folder");
    std::fs::create_dir(&folder).unwrap();
    for (db, why) in [
        (&app, "it holds tables of its own (products)"),
        (&text_file, "it is not a SQLite database"),
        (&folder, "it is a folder"),
    ] {
        let listing = |dir: &Path| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let before_files = listing(&dir);
        let before_bytes = std::fs::read(db).ok();
        let out = sync(&sandbox, db, &["--endpoint", "stock"]).await;
        let said = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(
            said.contains("is not a kiss mirror") && said.contains(why),
            "{said}"
        );
        assert_eq!(
            std::fs::read(db).ok(),
            before_bytes,
            "{} changed",
            db.display()
        );
        assert_eq!(listing(&dir), before_files, "something was left beside it");
        assert_eq!(
            sandbox.control().request_count("/stock"),
            0,
            "data was asked for"
        );
    }
    let mode: String = Connection::open(&app)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal", "the application's journal mode was changed");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_endpoint_fails_the_sync_but_every_other_is_merged_and_said() {
    let sandbox = sandbox(30).await;
    let dir = tempdir("sync-test");
    let db = dir.join("kiss.db");
    // Every attempt at /stock fails.
    sandbox
        .control()
        .queue_fault("/stock", Fault::Status { status: 500 }, 100)
        .unwrap();
    let mut command = speaking_to(&sandbox, &db);
    command.args(["sync", "--db", db.to_str().unwrap()]);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("kiss: products: 30 records: 30 inserted"),
        "{said}"
    );
    assert!(said.contains("kiss: prices: "), "{said}");
    assert!(
        said.contains("stock: ") && said.contains("stock in the mirror is as it was"),
        "{said}"
    );
    // Not the old, untrue "(the mirror is as it was)" for the whole sync.
    assert!(!said.contains("(the mirror is as it was)"), "{said}");
    let runs: Vec<String> = query(
        &db,
        "SELECT endpoint || ' ' || status FROM _kiss_loads ORDER BY endpoint",
    );
    assert_eq!(runs, ["prices ok", "products ok", "stock failed"]);
    std::fs::remove_dir_all(dir).unwrap();
}
