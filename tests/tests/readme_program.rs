//! The README's library program, built as a user would: a scratch crate whose only dependency
//! is the `kiss` facade. Then it runs against a sandbox, configured through the environment as
//! the README says.
//!
//! The scratch crate is built with its own target directory (shared with xtask's repair test)
//! so it never waits on the running build's lock; the first run builds the dependencies.

use std::path::{Path, PathBuf};
use std::process::Command;

use kiss_sandbox::{Sandbox, SandboxConfig, DEFAULT_API_KEY, DEFAULT_CUSTOMER_CODE};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The first ```rust block of the README's "Use it as a library" section.
fn readme_program() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = readme
        .split("## Use it as a library")
        .nth(1)
        .expect("the README has a library section");
    section
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section shows a rust program")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_program_builds_with_only_the_facade_and_runs() {
    let program = readme_program();
    assert!(program.contains("fn main"), "{program}");
    let scratch = workspace().join("target/readme-program");
    std::fs::create_dir_all(scratch.join("src")).unwrap();
    let facade = workspace().join("kiss").canonicalize().unwrap();
    std::fs::write(
        scratch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"readme-program\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nkiss = {{ path = {:?} }}\n\n\
             # Not a member of the kiss-rs workspace it sits in.\n[workspace]\n",
            facade.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(scratch.join("src/main.rs"), &program).unwrap();
    // The workspace's lock file pins the same versions the workspace was tested with.
    std::fs::copy(workspace().join("Cargo.lock"), scratch.join("Cargo.lock")).unwrap();
    let target = workspace().join("target/regen-repair/target");
    let build = tokio::task::spawn_blocking({
        let (scratch, target) = (scratch.clone(), target.clone());
        move || {
            Command::new(env!("CARGO"))
                .args(["build", "--offline", "--quiet"])
                .current_dir(&scratch)
                .env("CARGO_TARGET_DIR", &target)
                .env_remove("RUSTFLAGS")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    // The manifest above names one dependency, the facade: that the program built against it
    // is the proof that it needs no other crate.

    let sandbox = Sandbox::start(SandboxConfig::relaxed(20)).await.unwrap();
    let binary = target.join("debug/readme-program");
    let base_url = sandbox.base_url();
    let run = tokio::task::spawn_blocking(move || {
        Command::new(binary)
            .env("KISS_BASE_URL", base_url)
            .env("KISS_CUSTOMER_CODE", DEFAULT_CUSTOMER_CODE)
            .env("KISS_API_KEY", DEFAULT_API_KEY)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(stdout.lines().count(), 20, "{stdout}");
    assert_eq!(
        stdout.lines().next(),
        Some(r#"DRAC001 Some("19.9500") Some(432)"#),
        "{stdout}"
    );
}
