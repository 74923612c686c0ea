//! `cargo xtask`: project tasks. `regen` lands with the kiss-codegen issue.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("cargo xtask: no tasks yet; `regen` arrives with the kiss-codegen issue");
    ExitCode::from(2)
}
