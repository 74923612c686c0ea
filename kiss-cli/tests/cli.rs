//! The built `kiss` binary against sandboxes: every command, every format, drift, bad
//! credentials, rate limiting and an interrupted export.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use kiss_sandbox::{Fault, Sandbox, DEFAULT_API_KEY};
use kiss_tests::{relaxed_sandbox as sandbox, served, tempdir, wait_for};

fn kiss() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiss"));
    command
        .env_remove("KISS_BASE_URL")
        .env_remove("KISS_CUSTOMER_CODE")
        .env_remove("KISS_API_KEY");
    command
}

fn against(sandbox: &Sandbox) -> Command {
    let mut command = kiss();
    command
        .env("KISS_BASE_URL", sandbox.base_url())
        .env("KISS_CUSTOMER_CODE", "ACME01")
        .env("KISS_API_KEY", DEFAULT_API_KEY);
    command
}

/// Runs a command to completion off the async runtime (the sandbox lives on it).
async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_ndjson_exports_are_the_served_bytes() {
    let sandbox = sandbox(120).await;
    let dir = tempdir("cli-test");
    for endpoint in ["products", "stock", "prices"] {
        let body = served(&sandbox, &format!("/{endpoint}")).await;
        let file = dir.join(format!("{endpoint}.json"));
        let mut command = against(&sandbox);
        command.args([
            "export",
            endpoint,
            "--format",
            "json",
            "--out",
            file.to_str().unwrap(),
        ]);
        let out = output(command).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(out.stdout.is_empty(), "data only in the file");
        assert!(
            stderr(&out).contains(&format!("wrote 120 records of /{endpoint}")),
            "{}",
            stderr(&out)
        );
        let json = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            json.replace('\n', "").into_bytes(),
            body,
            "{endpoint}: the served records, byte for byte"
        );
        let mut command = against(&sandbox);
        command.args(["export", endpoint, "--format", "ndjson", "--quiet"]);
        let out = output(command).await;
        let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        assert_eq!(lines.len(), 120);
        assert_eq!(
            format!("[{}]", lines.join(",")).into_bytes(),
            body,
            "{endpoint} as NDJSON"
        );
    }
    let prices = std::fs::read_to_string(dir.join("prices.json")).unwrap();
    assert!(
        prices.contains(r#""PriceExclVAT":19.9500"#),
        "decimals digit for digit"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_columns_follow_the_live_schema_and_pick_up_new_fields() {
    let sandbox = sandbox(40).await;
    let mut command = against(&sandbox);
    command.args(["export", "prices", "--format", "csv", "--quiet"]);
    let out = output(command).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "--quiet: nothing on stderr");
    let csv = stdout(&out);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "PriceListCode,PriceListName,CurrencyCode,SKU,PriceExclVAT,MOQ,OrderMultiple,_extra"
    );
    assert_eq!(
        lines.next().unwrap(),
        "EUR-WHOLESALE,EUR Wholesale 2026,EUR,DRAC001,19.9500,12,12,",
        "nothing unknown: an empty last cell"
    );
    assert_eq!(csv.lines().count(), 41);

    let eco_score =
        kiss_schema::FieldSchema::new("eCOScore", kiss_schema::FieldType::Decimal, false);
    sandbox
        .control()
        .add_field(kiss_sandbox::Endpoint::Products, None, eco_score)
        .unwrap();
    let mut command = against(&sandbox);
    command.args(["export", "products", "--format", "csv"]);
    let out = output(command).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let header = stdout(&out).lines().next().unwrap().to_owned();
    let columns: Vec<&str> = header.split(',').collect();
    assert_eq!(columns.len(), 29 + 1 + 5 + 1);
    assert_eq!(columns.last(), Some(&"_extra"));
    assert_eq!(
        columns[29], "ECOScore",
        "a new field shows up without a new release"
    );
    // Nested arrays come after the scalar fields, one JSON cell each (in the order of the
    // served document, which serde_json re-sorted when this test edited it).
    let mut arrays = columns[30..35].to_vec();
    arrays.sort_unstable();
    assert_eq!(
        arrays,
        [
            "ProductAccessories",
            "ProductComposition",
            "ProductImages",
            "ProductPrices",
            "ProductSubstitutions"
        ]
    );
    let first_row = stdout(&out).lines().nth(1).unwrap().to_owned();
    assert!(
        first_row.contains(r#"""ImageID"":""IMG001"""#),
        "{first_row}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_health_schema_and_check_follow_the_sandbox() {
    let sandbox = sandbox(5).await;
    let run = |args: &'static [&'static str]| {
        let mut command = against(&sandbox);
        command.args(args);
        output(command)
    };
    let out = run(&["version"]).await;
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("2026-04\n", Some(0))
    );
    let out = run(&["health"]).await;
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("Healthy\n", Some(0))
    );
    let out = run(&["schema", "show", "products"]).await;
    let table = stdout(&out);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["hSCode", "HSCode", "string", "no"]),
        "{table}"
    );
    assert!(table.contains("productImages[].imageID"), "{table}");
    let out = run(&["schema", "diff"]).await;
    assert!(
        stdout(&out).contains("no field changes"),
        "{}",
        stdout(&out)
    );
    let out = run(&["check"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let mut stock: serde_json::Value =
        serde_json::from_slice(&sandbox.control().profile().stock.body).unwrap();
    stock["apiVersion"] = serde_json::json!("2026-10");
    stock["fields"].as_array_mut().unwrap().pop();
    let mut products: serde_json::Value =
        serde_json::from_slice(&sandbox.control().profile().products.body).unwrap();
    products["apiVersion"] = serde_json::json!("2026-10");
    let control = sandbox.control();
    control
        .set_schema(kiss_sandbox::Endpoint::Stock, stock.to_string())
        .unwrap();
    control
        .set_schema(kiss_sandbox::Endpoint::Products, products.to_string())
        .unwrap();
    let out = run(&["check"]).await;
    assert_eq!(out.status.code(), Some(5), "drift has its own exit code");
    assert!(
        stdout(&out).contains("profile: live 2026-10, generated 2026-04"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("- NextAvailableETA: date"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("cargo xtask regen"),
        "{}",
        stderr(&out)
    );
    sandbox
        .control()
        .queue_fault("/health", Fault::Status { status: 503 }, 4)
        .unwrap();
    let out = run(&["health"]).await;
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("Unhealthy\n", Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_one_line_with_their_own_exit_codes() {
    let sandbox = sandbox(5).await;
    let mut command = against(&sandbox);
    command
        .env("KISS_API_KEY", "wrong")
        .args(["export", "stock"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("KISS_API_KEY"), "says what to check");
    assert!(!stderr(&out).contains("wrong"), "the key is never printed");
    assert!(out.stdout.is_empty());

    sandbox
        .control()
        .queue_fault(
            "/stock/schema",
            Fault::RateLimited {
                retry_after_secs: 7_200,
            },
            1,
        )
        .unwrap();
    let mut command = against(&sandbox);
    command.args(["export", "stock"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("rate limited"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    // A server error that is not retried (501): exit 1, one line that says what happened.
    sandbox
        .control()
        .queue_fault("/stock", Fault::Status { status: 501 }, 1)
        .unwrap();
    let mut command = against(&sandbox);
    command.args(["export", "stock"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("501"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    sandbox.control().clear_faults();

    // Credentials that work but whose customer record is missing: exit 3, one line.
    let mut config = kiss_sandbox::SandboxConfig::relaxed(3);
    let mut ghost = kiss_sandbox::Customer::new("GHOST01", "ghost-key");
    ghost.missing = true;
    config.customers = vec![ghost];
    let missing = Sandbox::start(config).await.unwrap();
    let mut command = against(&missing);
    command
        .env("KISS_CUSTOMER_CODE", "GHOST01")
        .env("KISS_API_KEY", "ghost-key")
        .args(["export", "stock"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Customer not found"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    let out = output({
        let mut command = kiss();
        command.args(["export", "orders"]);
        command
    })
    .await;
    assert_eq!(out.status.code(), Some(2), "usage errors: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_export_leaves_no_file_under_the_target_name() {
    let sandbox = sandbox(300).await;
    // About 20 s of body at this rate: long enough to interrupt.
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
    let dir = tempdir("cli-test");
    let target = dir.join("products.csv");
    let mut command = against(&sandbox);
    command
        .args([
            "export",
            "products",
            "--format",
            "csv",
            "--out",
            target.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Ctrl-C, `kill` and a closed terminal all end it the same way, each with its own code.
    for (signal, code) in [("-INT", 130), ("-TERM", 143), ("-HUP", 129)] {
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
        let child = command.spawn().unwrap();
        // Wait (bounded) for the export to have started writing: its temporary file appears.
        let started = wait_for(|| temporary_files(&dir) > 0);
        assert!(started, "the export never started");
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{signal}: {}", stderr(&out));
        assert!(stderr(&out).contains("interrupted by"), "{}", stderr(&out));
        assert!(!target.exists(), "nothing under the target name");
        assert_eq!(
            temporary_files(&dir),
            0,
            "{signal}: and no temporary file left behind"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_writes_through_symlinks_keeps_modes_and_refuses_what_is_not_a_file() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = sandbox(5).await;
    let dir = tempdir("cli-test");
    let export_to = |path: &Path| {
        let mut command = against(&sandbox);
        command
            .args(["export", "stock", "--format", "csv", "--quiet", "--out"])
            .arg(path);
        command
    };
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;

    // A symlink is written through: the link stays a link, its target gets the export.
    let real = dir.join("real.csv");
    std::fs::write(
        &real, "old
",
    )
    .unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.join("link.csv");
    std::os::unix::fs::symlink("real.csv", &link).unwrap();
    let out = output(export_to(&link)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&real).unwrap().starts_with("SKU,"));
    assert_eq!(mode(&real), 0o640, "an existing file keeps its mode");

    // A new file gets 0666 less the umask, as `>` would give it.
    let fresh = dir.join("fresh.csv");
    let mut command = Command::new("bash");
    command
        .args(["-c", "umask 027; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_kiss"))
        .args(["export", "stock", "--format", "csv", "--quiet", "--out"])
        .arg(&fresh)
        .env("KISS_BASE_URL", sandbox.base_url())
        .env("KISS_CUSTOMER_CODE", "ACME01")
        .env("KISS_API_KEY", DEFAULT_API_KEY);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(mode(&fresh), 0o640, "0666 less the umask 027");

    // A named pipe is refused, not replaced.
    let fifo = dir.join("pipe.csv");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let out = output(export_to(&fifo)).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("named pipe"), "{}", stderr(&out));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(temporary_files(&dir), 0);
    // So is a device (as root, renaming over /dev/null would replace it for everyone).
    let out = output(export_to(Path::new("/dev/null"))).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("a device"), "{}", stderr(&out));
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());

    // A temporary file left by a run that was killed outright is cleaned up; one of a
    // running process is not.
    let stale = dir.join(".kiss-export-4000000000-abc123");
    let live = dir.join(format!(".kiss-export-{}-def456", std::process::id()));
    std::fs::write(&stale, "half").unwrap();
    std::fs::write(&live, "busy").unwrap();
    let out = output(export_to(&real)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stale.exists(), "a dead run's temporary file is removed");
    assert!(live.exists(), "a live run's temporary file is left alone");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_credentials_the_embedded_sandbox_is_used_and_said_so() {
    let out = output({
        let mut command = kiss();
        command.args(["export", "stock", "--format", "ndjson"]);
        command
    })
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("embedded sandbox"),
        "{}",
        stderr(&out)
    );
    let first: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["SKU"], "DRAC001");
    assert_eq!(stdout(&out).lines().count(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_data_is_never_used_silently() {
    let run = |env: &'static [(&'static str, &'static str)], args: &'static [&'static str]| {
        let mut command = kiss();
        command.envs(env.iter().copied()).args(args);
        output(command)
    };
    // Half a configuration is a usage error naming what is missing, never the sandbox.
    let out = run(
        &[("KISS_CUSTOMER_CODE", "ACME01"), ("KISS_API_KEY", "secret")],
        &["export", "stock"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("KISS_BASE_URL"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("sandbox at"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let out = run(
        &[("KISS_BASE_URL", "https://api.example.invalid")],
        &["check"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("KISS_CUSTOMER_CODE") && stderr(&out).contains("KISS_API_KEY"),
        "{}",
        stderr(&out)
    );
    // --quiet does not hide that the data is sample data.
    let out = run(&[], &["export", "stock", "--quiet"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("sample data"), "{}", stderr(&out));
    // Asked for explicitly (flag or environment), and refused beside credentials.
    let out = run(&[("KISS_SANDBOX", "1")], &["version"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("embedded sandbox"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &[("KISS_BASE_URL", "https://api.example.invalid")],
        &["version", "--sandbox"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("credentials are set too"),
        "{}",
        stderr(&out)
    );
    let out = run(&[], &["version", "--sandbox"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A check of the sandbox says so.
    let out = run(&[], &["check"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("embedded sandbox"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn every_command_has_help_with_an_example() {
    for args in [
        &["export", "--help"][..],
        &["version", "--help"],
        &["health", "--help"],
        &["schema", "show", "--help"],
        &["schema", "diff", "--help"],
        &["check", "--help"],
        &["sandbox", "--help"],
    ] {
        let out = kiss().args(args).output().unwrap();
        assert!(out.status.success());
        assert!(
            stdout(&out).contains("Example"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
    let out = kiss().arg("--help").output().unwrap();
    assert!(stdout(&out).contains("Exit codes"));
    // The sandbox serves; it connects to nothing, so its help offers no connection flags.
    let out = kiss().args(["sandbox", "--help"]).output().unwrap();
    assert!(!stdout(&out).contains("--base-url"), "{}", stdout(&out));
    // A command's own options come before the connection group.
    let help = stdout(&kiss().args(["export", "--help"]).output().unwrap());
    let (own, connection) = (
        help.find("--format").unwrap(),
        help.find("--base-url").unwrap(),
    );
    assert!(own < connection, "{help}");
}

fn temporary_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".kiss-export-")
        })
        .count()
}

#[test]
fn kiss_sandbox_serves_until_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let mut child = kiss()
        .args(["sandbox", "--products", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("kiss listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    let health = Command::new("curl")
        .args(["-s", "--noproxy", "*", &format!("{base}/health")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&health.stdout), "Healthy");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    assert!(child.wait().unwrap().success(), "a clean stop exits 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_show_survives_huge_and_hostile_names() {
    let sandbox = sandbox(3).await;
    let huge = "n".repeat(65_536);
    let hostile = "evil\u{1b}[2Jname";
    let control = sandbox.control();
    for name in [huge.as_str(), hostile] {
        let field = kiss_schema::FieldSchema::new(name, kiss_schema::FieldType::String, false);
        control
            .add_field(kiss_sandbox::Endpoint::Stock, None, field)
            .unwrap();
    }
    let mut command = against(&sandbox);
    command.args(["schema", "show", "stock"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(shown.contains(&huge[1..]), "the long name is shown whole");
    assert!(
        shown.contains("Evil[2Jname"),
        "{}",
        &shown[shown.len().saturating_sub(300)..]
    );
    assert!(!shown.contains('\u{1b}'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_version_fetch_no_token() {
    let sandbox = sandbox(3).await;
    for args in [["health"], ["version"]] {
        let mut command = against(&sandbox);
        command.args(args);
        let out = output(command).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert_eq!(sandbox.control().request_count("/auth/token"), 0);
    assert_eq!(sandbox.control().request_count("/health"), 1);
    assert_eq!(sandbox.control().request_count("/api/version"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pretty_printed_unknown_values_stay_on_one_line_in_ndjson_and_csv() {
    use kiss_tests::hostile::api;
    let body = "[{\"SKU\":\"A\",\"Extra\":{\n  \"w\": 1.250,\n  \"t\": [ 1, 2 ]\n}},\n {\"SKU\":\"B\",\"Extra\":null}]";
    let base = api("/products", kiss_schema::contract::PRODUCTS_SCHEMA, body).await;
    let dir = tempdir("cli-test");
    let ndjson = dir.join("products.ndjson");
    let mut command = kiss();
    command
        .env("KISS_BASE_URL", &base)
        .env("KISS_CUSTOMER_CODE", "ACME01")
        .env("KISS_API_KEY", "k")
        .args(["export", "products", "--format", "ndjson", "--out"])
        .arg(&ndjson);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&ndjson).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "one line per record: {text}");
    assert!(
        lines[0].contains(r#""Extra":{"w":1.250,"t":[1,2]}"#),
        "{text}"
    );

    let csv = dir.join("products.csv");
    let mut command = kiss();
    command
        .env("KISS_BASE_URL", &base)
        .env("KISS_CUSTOMER_CODE", "ACME01")
        .env("KISS_API_KEY", "k")
        .args(["export", "products", "--format", "csv", "--out"])
        .arg(&csv);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        text.lines().count(),
        3,
        "a header and one line per record: {text}"
    );
    assert!(text.contains(r#"{""w"":1.250,""t"":[1,2]}"#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_unknown_key_on_every_record_costs_one_cell_not_a_column() {
    use kiss_tests::hostile::api;
    let records: Vec<String> = (0..2_000)
        .map(|i| format!(r#"{{"SKU":"S{i}","AvailableQTY":{i},"Only{i}":{i}.50}}"#))
        .collect();
    let body = format!("[{}]", records.join(","));
    let base = api("/stock", kiss_schema::contract::STOCK_SCHEMA, body).await;
    let mut command = kiss();
    command
        .env("KISS_BASE_URL", &base)
        .env("KISS_CUSTOMER_CODE", "ACME01")
        .env("KISS_API_KEY", "k")
        .args(["export", "stock", "--format", "csv", "--quiet"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let csv = stdout(&out);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("SKU,StockLocation,AvailableQTY,NextAvailableETA,_extra")
    );
    assert_eq!(lines.next(), Some(r#"S0,,0,,"{""Only0"":0.50}""#));
    assert_eq!(csv.lines().count(), 2_001);
    assert!(
        csv.len() < 200_000,
        "linear in the input: {} bytes",
        csv.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_off_the_schema_are_summed_up_and_strict_refuses_them() {
    use kiss_tests::hostile::api;
    let body = r#"[{"SKU":null,"AvailableQTY":1},{"SKU":"B","AvailableQTY":"abc"},{"SKU":"C","AvailableQTY":2}]"#;
    let base = api("/stock", kiss_schema::contract::STOCK_SCHEMA, body).await;
    let dir = tempdir("cli-test");
    let target = dir.join("stock.ndjson");
    let export = |strict: bool| {
        let mut command = kiss();
        command
            .env("KISS_BASE_URL", &base)
            .env("KISS_CUSTOMER_CODE", "ACME01")
            .env("KISS_API_KEY", "k")
            .args(["export", "stock", "--format", "ndjson", "--out"])
            .arg(&target);
        if strict {
            command.arg("--strict");
        }
        command
    };
    let out = output(export(false)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("2 issues in 2 records"), "{said}");
    assert!(said.contains("SKU: required field is null"), "{said}");
    assert!(
        said.contains("AvailableQTY: expected integer, found string"),
        "{said}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap().lines().count(), 3);

    std::fs::remove_file(&target).unwrap();
    let out = output(export(true)).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("--strict"), "{}", stderr(&out));
    assert!(!target.exists(), "nothing written");
    assert_eq!(temporary_files(&dir), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_429_is_waited_out_and_announced_on_stderr_with_when_it_ends() {
    let sandbox = sandbox(3).await;
    let limited = Fault::RateLimited {
        retry_after_secs: 1,
    };
    sandbox
        .control()
        .queue_fault("/stock/schema", limited.clone(), 1)
        .unwrap();
    let mut command = against(&sandbox);
    command.args(["export", "stock", "--format", "ndjson"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("rate limited; waiting"), "{said}");
    assert!(
        said.contains("until=") && said.contains("window=1m"),
        "{said}"
    );
    assert!(!said.contains(DEFAULT_API_KEY));

    // -q keeps stderr for errors.
    sandbox
        .control()
        .queue_fault("/stock/schema", limited, 1)
        .unwrap();
    let mut command = against(&sandbox);
    command.args(["export", "stock", "--format", "ndjson", "-q"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pacer_waits_for_the_quota_before_the_server_refuses_and_says_until_when() {
    // A quota of one request a minute: the export's second request must wait for the next
    // minute. On simulated time (600 times as fast) that minute takes a tenth of a second.
    // The server allows one more than the quota: at 600×, the few milliseconds between its
    // clock's start and kiss's are most of a simulated second.
    const SCALE: u32 = 600;
    let sandbox = Sandbox::start(kiss_sandbox::SandboxConfig {
        products: 3,
        time_scale: SCALE,
        rate_limit: kiss_sandbox::RateLimit {
            per_minute: 2,
            per_hour: 1000,
        },
        ..kiss_sandbox::SandboxConfig::default()
    })
    .await
    .unwrap();
    let mut command = against(&sandbox);
    command
        .env("KISS_TIME_SCALE", SCALE.to_string())
        .env("KISS_QUOTA", "1,1000")
        .args(["export", "stock", "--format", "ndjson", "--no-shared-quota"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stderr(&out);
    // The pacer's own words (a server's 429 says "rate limited"), with when the wait ends.
    assert!(said.contains("waiting for the quota"), "{said}");
    assert!(said.contains("until="), "{said}");
    assert!(!said.contains("rate limited"), "{said}");
    assert_eq!(stdout(&out).lines().count(), 3);
    assert_eq!(sandbox.control().rate_limited_count(), 0, "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_with_credentials_is_refused_without_repeating_or_sending_them() {
    let sandbox = sandbox(3).await;
    let with_password = sandbox
        .base_url()
        .replacen("http://", "http://alice:s3cret-pw@", 1);
    let dir = tempdir("cli-test");
    let mut command = kiss();
    command
        .env("KISS_BASE_URL", &with_password)
        .env("KISS_CUSTOMER_CODE", "ACME01")
        .env("KISS_API_KEY", DEFAULT_API_KEY)
        .env("XDG_STATE_HOME", &dir)
        .args(["export", "stock", "--format", "ndjson"]);
    let out = output(command).await;
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("holds credentials"), "{said}");
    assert!(
        !said.contains("s3cret") && !said.contains("alice"),
        "{said}"
    );
    assert_eq!(
        sandbox.control().request_count("/auth/token"),
        0,
        "a request was sent"
    );
    assert!(!dir.join("kiss").exists(), "a quota file was made");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_quota_file_is_named_by_a_hash_and_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = sandbox(3).await;
    let dir = tempdir("cli-test");
    let mut command = against(&sandbox);
    command
        .env("XDG_STATE_HOME", &dir)
        .args(["export", "stock", "--format", "ndjson"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let files: Vec<_> = std::fs::read_dir(dir.join("kiss"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("quota-"), "{name}");
    assert!(
        !name.contains("ACME01") && !name.contains("127.0.0.1"),
        "{name}"
    );
    let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conventional_outputs_stdout_dash_pipes_json_and_version() {
    let sandbox = sandbox(20).await;
    // `--out -` is stdout, not a file named "-".
    let dir = tempdir("cli-test");
    let mut command = against(&sandbox);
    command
        .current_dir(&dir)
        .args(["export", "stock", "--format", "ndjson", "--out", "-"]);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 20);
    assert!(!dir.join("-").exists());

    // CSV into a closed pipe ends quietly with 141, like JSON and NDJSON. (A catalogue far
    // larger than a pipe's buffer, so the reader is gone before kiss is done.)
    let big = kiss_tests::relaxed_sandbox(3_000).await;
    for format in ["csv", "json", "ndjson"] {
        let script = format!(
            "\"$0\" export products --format {format} --quiet | head -c 10 > /dev/null; \
             echo \"${{PIPESTATUS[0]}}\""
        );
        let mut command = Command::new("bash");
        command
            .args(["-c", &script])
            .arg(env!("CARGO_BIN_EXE_kiss"))
            .env("KISS_BASE_URL", big.base_url())
            .env("KISS_CUSTOMER_CODE", "ACME01")
            .env("KISS_API_KEY", DEFAULT_API_KEY);
        let out = output(command).await;
        assert_eq!(stdout(&out).trim(), "141", "{format}: {}", stderr(&out));
        assert!(!stderr(&out).contains("Broken pipe"), "{}", stderr(&out));
    }

    // --json: each command's output parses, with the documented keys.
    let json = |args: &'static [&'static str]| {
        let mut command = against(&sandbox);
        command.arg("--json").args(args);
        output(command)
    };
    let parsed = |out: &Output| -> serde_json::Value {
        serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
    };
    let version = parsed(&json(&["version"]).await);
    assert_eq!(version["apiVersion"], "2026-04");
    assert_eq!(version["sandbox"], false);
    assert_eq!(parsed(&json(&["health"]).await)["healthy"], true);
    let check = parsed(&json(&["check"]).await);
    assert_eq!(check["inStep"], true);
    assert_eq!(check["diffs"].as_array().unwrap().len(), 2);
    let diff = parsed(&json(&["schema", "diff"]).await);
    assert_eq!(diff["liveProfile"], "2026-04");
    let schema = parsed(&json(&["schema", "show", "prices"]).await);
    assert_eq!(schema["endpoint"], "/prices");
    let out = output({
        let mut command = against(&sandbox);
        command.args(["schema", "show", "prices"]);
        command
    })
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("PriceExclVAT"), "{}", stdout(&out));

    // The version names the API profile the models were generated from.
    let out = output({
        let mut command = kiss();
        command.arg("--version");
        command
    })
    .await;
    assert!(
        stdout(&out).contains("API profile 2026-04"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_man_page_and_an_unreachable_host_speak_plainly() {
    let out = output({
        let mut command = kiss();
        command.args(["completions", "bash"]);
        command
    })
    .await;
    assert_eq!(out.status.code(), Some(0));
    let script = std::env::temp_dir().join(format!("kiss-completion-{}.bash", std::process::id()));
    std::fs::write(&script, &out.stdout).unwrap();
    let checked = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(checked.success(), "bash accepts the completion script");
    std::fs::remove_file(&script).unwrap();
    for shell in ["zsh", "fish", "powershell"] {
        let out = output({
            let mut command = kiss();
            command.args(["completions", shell]);
            command
        })
        .await;
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }
    let out = output({
        let mut command = kiss();
        command.arg("man");
        command
    })
    .await;
    assert!(stdout(&out).starts_with(".ie") && stdout(&out).contains(".SH NAME"));

    // Nothing listens on this port: the message says so, not just "error sending request".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = output({
        let mut command = kiss();
        command
            .env("KISS_BASE_URL", format!("http://127.0.0.1:{port}"))
            .env("KISS_CUSTOMER_CODE", "ACME01")
            .env("KISS_API_KEY", "k")
            .arg("version");
        command
    })
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    let errors: Vec<&str> = said.lines().filter(|l| l.starts_with("kiss:")).collect();
    assert_eq!(
        errors.len(),
        1,
        "one error line (the retries are logged above it): {said}"
    );
    assert!(
        errors[0].to_lowercase().contains("connection refused"),
        "{said}"
    );
}

/// Two `kiss` processes of one customer, started together, share the account's quota through
/// the state directory: the sandbox (4 requests a minute here) never has to refuse one. Each
/// export makes three requests, so the pair needs six: the last two wait for the next
/// minute (this test takes about a minute of real time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_of_one_customer_share_the_quota() {
    let sandbox = kiss_sandbox::Sandbox::start(kiss_sandbox::SandboxConfig {
        rate_limit: kiss_sandbox::RateLimit {
            per_minute: 4,
            per_hour: 1_000,
        },
        ..kiss_sandbox::SandboxConfig::relaxed(5)
    })
    .await
    .unwrap();
    let state = tempdir("cli-test");
    let spawn = || {
        let mut command = against(&sandbox);
        command
            .env("XDG_STATE_HOME", &state)
            .args(["export", "stock", "--format", "ndjson", "--quota", "4,1000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.spawn().unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let finish = |child: std::process::Child| {
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
    };
    let (first, second) = (finish(first).await.unwrap(), finish(second).await.unwrap());
    for out in [&first, &second] {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        assert_eq!(stdout(out).lines().count(), 5);
    }
    let control = sandbox.control();
    assert_eq!(
        control.rate_limited_count(),
        0,
        "the sandbox refused requests: {:?}",
        control.counters()
    );
    assert_eq!(control.request_count("/auth/token"), 2);
    assert_eq!(control.request_count("/stock"), 2);
    let files: Vec<_> = std::fs::read_dir(state.join("kiss")).unwrap().collect();
    assert_eq!(files.len(), 1, "one quota file for the customer");
    std::fs::remove_dir_all(state).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_keeps_exact_values_and_csv_safe_neutralises_formulas_for_spreadsheets() {
    let body =
        r#"[{"SKU": "=HYPERLINK(\"http://evil\")", "StockLocation": "-1+2", "AvailableQTY": -1}]"#;
    let base = kiss_tests::hostile::api("/stock", kiss_schema::contract::STOCK_SCHEMA, body).await;
    let export = |safe: bool| {
        let mut command = kiss();
        command
            .env("KISS_BASE_URL", &base)
            .env("KISS_CUSTOMER_CODE", "ACME01")
            .env("KISS_API_KEY", DEFAULT_API_KEY)
            .args(["export", "stock", "--format", "csv", "--no-shared-quota"]);
        if safe {
            command.arg("--csv-safe");
        }
        command
    };
    let exact = output(export(false)).await;
    assert_eq!(exact.status.code(), Some(0), "{}", stderr(&exact));
    let row = stdout(&exact).lines().nth(1).unwrap_or_default().to_owned();
    assert_eq!(row, r#""=HYPERLINK(""http://evil"")",-1+2,-1,,"#);
    let safe = output(export(true)).await;
    assert_eq!(safe.status.code(), Some(0), "{}", stderr(&safe));
    let row = stdout(&safe).lines().nth(1).unwrap_or_default().to_owned();
    assert_eq!(row, r#""'=HYPERLINK(""http://evil"")",'-1+2,-1,,"#);
    // Not for the formats no spreadsheet opens.
    let mut command = kiss();
    command
        .env("KISS_BASE_URL", &base)
        .env("KISS_CUSTOMER_CODE", "ACME01")
        .env("KISS_API_KEY", DEFAULT_API_KEY)
        .args([
            "export",
            "stock",
            "--format",
            "json",
            "--csv-safe",
            "--no-shared-quota",
        ]);
    let refused = output(command).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("--csv-safe is for --format csv"),
        "{}",
        stderr(&refused)
    );
}
