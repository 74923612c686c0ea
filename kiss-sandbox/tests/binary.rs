//! The `kiss-sandbox` binary: prints its URL, serves, stops cleanly on Ctrl-C; and the README's
//! curl commands work against it as written.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiss-sandbox"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("kiss-sandbox listening on ")
        .unwrap_or_else(|| panic!("first line names the URL: {line:?}"))
        .to_owned();
    Running { child, base }
}

fn curl(args: &[&str]) -> String {
    let output = Command::new("curl")
        .arg("--silent")
        .arg("--show-error")
        .arg("--noproxy")
        .arg("*")
        .args(args)
        .output()
        .expect("curl is installed (the README's examples use it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn serves_on_a_free_port_and_stops_on_ctrl_c() {
    let mut running = spawn(&["--products", "5", "--customer", "ACME02=second-key"]);
    assert!(running.base.starts_with("http://127.0.0.1:"));
    assert_eq!(curl(&[&format!("{}/health", running.base)]), "Healthy");
    let status = Command::new("kill")
        .args(["-INT", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.child.wait().unwrap();
    assert!(exit.success(), "a clean stop exits 0: {exit:?}");
}

#[test]
fn rejects_bad_options_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_kiss-sandbox"))
        .args(["--rate-limit", "sixty"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("PER_MIN,PER_HOUR"));
    let output = Command::new(env!("CARGO_BIN_EXE_kiss-sandbox"))
        .args(["--profile", "/nonexistent/profile"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("products.schema.json"));
}

/// The README's walkthrough, command for command (with the sandbox's URL as `$KISS`).
#[test]
fn readme_curl_commands_work_as_written() {
    let running = spawn(&[]);
    let kiss = &running.base;
    let token_json = curl(&[
        "-X",
        "POST",
        &format!("{kiss}/auth/token"),
        "-d",
        "grant_type=client_credentials",
        "-d",
        "client_id=ACME01",
        "-d",
        "client_secret=sandbox-key-ACME01-not-a-secret",
    ]);
    let token: serde_json::Value = serde_json::from_str(&token_json).unwrap();
    let token = token["access_token"].as_str().unwrap();
    assert_eq!(
        curl(&[&format!("{kiss}/api/version")]),
        r#"{"apiVersion":"2026-04"}"#
    );
    let auth = format!("Authorization: Bearer {token}");
    for path in [
        "/products",
        "/stock",
        "/prices",
        "/products/schema",
        "/stock/schema",
    ] {
        let body = curl(&["-H", &auth, &format!("{kiss}{path}")]);
        serde_json::from_str::<serde_json::Value>(&body).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    for line in [
        "curl -s -X POST \"$KISS/auth/token\" -d grant_type=client_credentials -d client_id=ACME01 -d client_secret=sandbox-key-ACME01-not-a-secret",
        "curl -s \"$KISS/api/version\"",
        "curl -s -H \"Authorization: Bearer $TOKEN\" \"$KISS/products\"",
    ] {
        assert!(readme.contains(line), "the README shows: {line}");
    }
}
