//! `cargo xtask regen` as CI and developers run it, on copies of generated/.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn generated() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../generated")
}

fn copy_of_generated(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiss-regen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["src", "schemas"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for entry in std::fs::read_dir(generated().join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(sub).join(entry.file_name())).unwrap();
        }
    }
    dir
}

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env_remove("KISS_BASE_URL")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[test]
fn check_passes_on_the_checked_in_crate_and_fails_when_stale() {
    let out = copy_of_generated("check");
    let ok = xtask(&["regen", "--check", "--out", out.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", text(&ok));
    std::fs::write(out.join("src/stock.rs"), "// edited by hand\n").unwrap();
    let stale = xtask(&["regen", "--check", "--out", out.to_str().unwrap()]);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    assert!(
        text(&stale).contains("stale: src/stock.rs"),
        "{}",
        text(&stale)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("src/stock.rs")).unwrap(),
        "// edited by hand\n"
    );
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn regen_from_saved_documents_rewrites_and_reports_the_diff() {
    let out = copy_of_generated("from");
    let saved = out.join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    let mut stock: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("schemas/stock.schema.json")).unwrap(),
    )
    .unwrap();
    stock["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "binLocation", "type": "string"}));
    std::fs::write(saved.join("stock.schema.json"), stock.to_string()).unwrap();
    std::fs::copy(
        out.join("schemas/products.schema.json"),
        saved.join("products.schema.json"),
    )
    .unwrap();
    let run = xtask(&[
        "regen",
        "--from",
        saved.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    let report = text(&run);
    assert!(report.contains("profile: 2026-04"), "{report}");
    assert!(report.contains("+ BinLocation: string"), "{report}");
    let code = std::fs::read_to_string(out.join("src/stock.rs")).unwrap();
    assert!(code.contains(r#"#[serde(rename = "BinLocation")]"#));
    assert!(
        code.contains("pub bin_location: ::core::option::Option<::kiss_dynamic::CompactString>,")
    );
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn regen_without_a_deployment_uses_the_sandbox_and_says_so() {
    let out = copy_of_generated("sandbox");
    let run = xtask(&["regen", "--out", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("in-process sandbox"), "{}", text(&run));
    assert!(
        !text(&run).contains("warning"),
        "the sandbox's data matches its schemas: {}",
        text(&run)
    );
    assert!(text(&run).contains("(0 changed)"), "{}", text(&run));
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn a_deployment_needs_its_credentials() {
    let run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["regen", "--base-url", "http://127.0.0.1:9"])
        .env_remove("KISS_CUSTOMER_CODE")
        .env_remove("KISS_API_KEY")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run).contains("KISS_CUSTOMER_CODE"), "{}", text(&run));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_against_a_live_deployment_reports_drift() {
    let sandbox = kiss_sandbox::Sandbox::start(kiss_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let out = copy_of_generated("live");
    let run = |out: PathBuf, base: String| {
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_xtask"))
                .args([
                    "regen",
                    "--check",
                    "--base-url",
                    &base,
                    "--out",
                    out.to_str().unwrap(),
                ])
                .env("KISS_CUSTOMER_CODE", kiss_sandbox::DEFAULT_CUSTOMER_CODE)
                .env("KISS_API_KEY", kiss_sandbox::DEFAULT_API_KEY)
                .output()
                .unwrap()
        })
    };
    let in_step = run(out.clone(), sandbox.base_url()).await.unwrap();
    assert!(in_step.status.success(), "{}", text(&in_step));
    assert!(
        text(&in_step).contains("deployment http://127.0.0.1"),
        "{}",
        text(&in_step)
    );

    let bin = kiss_schema::FieldSchema::new("binLocation", kiss_schema::FieldType::String, false);
    sandbox
        .control()
        .add_field(kiss_sandbox::Endpoint::Stock, None, bin)
        .unwrap();
    let drifted = run(out.clone(), sandbox.base_url()).await.unwrap();
    assert_eq!(drifted.status.code(), Some(1), "{}", text(&drifted));
    let report = text(&drifted);
    assert!(report.contains("+ BinLocation: string"), "{report}");
    assert!(
        report.contains("is stale: src/lib.rs, src/stock.rs, schemas/stock.schema.json"),
        "{report}"
    );
    std::fs::remove_dir_all(out).unwrap();
}
