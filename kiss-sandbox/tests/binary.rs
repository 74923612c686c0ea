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

/// The README's curl walkthrough, every line of it, run by bash as a reader would paste it
/// (with `$KISS` pointing at a running sandbox): each command's output is checked.
#[test]
fn readme_curl_commands_work_as_written() {
    let running = spawn(&[]);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("## Calling the sandbox with curl")
        .nth(1)
        .expect("the README has its curl section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section opens with a sh block");
    let lines: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines[0].starts_with("export KISS="),
        "the block starts by naming the sandbox: {}",
        lines[0]
    );
    // Run every line in one shell, so variables (`KISS`, `TOKEN`) carry over as in a terminal;
    // a marker after each line splits the output per command.
    let mut script = format!("set -eu\nexport KISS={}\n", running.base);
    for (i, line) in lines.iter().enumerate().skip(1) {
        script.push_str(line);
        script.push_str(&format!("\nprintf '\\n@@{i}@@\\n'\n"));
    }
    let output = Command::new("bash")
        .args(["-c", &script])
        .env("no_proxy", "*")
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut outputs = Vec::new();
    let mut rest = stdout.as_str();
    for (i, line) in lines.iter().enumerate().skip(1) {
        let marker = format!("\n@@{i}@@\n");
        let (before, after) = rest
            .split_once(&marker)
            .unwrap_or_else(|| panic!("line {i} ran: {line}"));
        outputs.push((*line, before.trim()));
        rest = after;
    }
    let mut checked = 0;
    for (line, out) in &outputs {
        if line.starts_with("TOKEN=") {
            assert_eq!(*out, "", "{line}");
        } else if line.ends_with("/health\"") {
            assert_eq!(*out, "Healthy", "{line}");
        } else if line.contains("/auth/token") {
            let token: serde_json::Value = serde_json::from_str(out).unwrap();
            assert_eq!(token["token_type"], "Bearer", "{line}");
        } else if line.ends_with("/api/version\"") {
            assert_eq!(*out, r#"{"apiVersion":"2026-04"}"#, "{line}");
        } else {
            // Data and schema requests: JSON only if `$TOKEN` holds a working token.
            let value: serde_json::Value =
                serde_json::from_str(out).unwrap_or_else(|e| panic!("{line}: {e}: {out:?}"));
            assert!(value.is_array() || value.is_object(), "{line}");
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        lines.len() - 1,
        "every line of the block was checked"
    );
    assert!(
        checked >= 8,
        "the walkthrough has all eight requests: {checked}"
    );
}

/// The how-to the binary prints on start pastes into a shell and works as printed.
#[test]
fn the_printed_curl_example_runs_as_printed() {
    let mut running = spawn(&["--products", "4"]);
    let stderr = running.child.stderr.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.starts_with("Control plane") {
            break;
        }
        lines.push(line);
    }
    let commands: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("export ") || l.starts_with("TOKEN=") || l.starts_with("curl "))
        .collect();
    assert_eq!(commands.len(), 3, "{lines:?}");
    let output = Command::new("bash")
        .args(["-c", &format!("set -eu\n{}", commands.join("\n"))])
        .env("no_proxy", "*")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let products: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(products.as_array().unwrap().len(), 4);
}
