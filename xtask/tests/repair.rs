//! `cargo xtask regen` repairs a generated crate that does not compile: xtask must build
//! without kiss-generated, or the tool that fixes the crate would be stopped by it.
//!
//! This copies the workspace, breaks the copy's `generated/src/lib.rs`, and runs cargo on the
//! copy with its own target directory (so it never waits on the running build's lock). The
//! first run builds xtask's dependencies there (about a minute on two cores).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Copies the source tree (no `target/`, no `.git/`).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        // Build output, history and the fuzz crate (outside the workspace, and busy while a
        // fuzzer runs) are not needed to build.
        if name == "target" || name == ".git" || name == "fuzz" {
            continue;
        }
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            match std::fs::copy(entry.path(), to.join(&name)) {
                Ok(_) => {}
                // Something else removed it meanwhile (an editor's swap file, say).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("copying {}: {e}", entry.path().display()),
            }
        }
    }
}

fn cargo(tree: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO"))
        .args(args)
        .current_dir(tree)
        .env(
            "CARGO_TARGET_DIR",
            workspace().join("target/regen-repair/target"),
        )
        .env_remove("KISS_BASE_URL")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[test]
fn regen_repairs_a_generated_crate_that_does_not_compile() {
    // A fixed place under target/, so that a second run rebuilds only what changed.
    let tree = workspace().join("target/regen-repair/tree");
    let _ = std::fs::remove_dir_all(&tree);
    copy_tree(&workspace(), &tree);
    std::fs::write(
        tree.join("generated/src/lib.rs"),
        "this is not Rust { pub struct\n",
    )
    .unwrap();

    let broken = cargo(&tree, &["build", "--locked", "-p", "kiss-generated"]);
    assert!(!broken.status.success(), "the garbage must break the crate");

    let regen = cargo(&tree, &["xtask", "regen", "--from", "generated/schemas"]);
    assert!(regen.status.success(), "{}", text(&regen));
    assert!(
        text(&regen).contains("wrote 7 files (1 changed)"),
        "{}",
        text(&regen)
    );

    let repaired = cargo(&tree, &["build", "--locked", "-p", "kiss-generated"]);
    assert!(repaired.status.success(), "{}", text(&repaired));
    assert_eq!(
        std::fs::read_to_string(tree.join("generated/src/lib.rs")).unwrap(),
        std::fs::read_to_string(workspace().join("generated/src/lib.rs")).unwrap()
    );
    std::fs::remove_dir_all(&tree).unwrap();
}
