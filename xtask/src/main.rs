//! `cargo xtask`: project tasks. A thin front end: the generation itself is kiss-codegen's.
//!
//! `cargo xtask regen` fetches the schema documents (or reads saved ones), rewrites
//! `generated/`, and reports the profile and what changed; `--check` changes nothing and
//! fails when the checked-in code is stale.

mod fetch;
mod regen;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "kiss-rs project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Regenerate kiss-generated from the API's schema documents.
    ///
    /// Examples:
    ///   cargo xtask regen                      # in-process sandbox (no credentials needed)
    ///   cargo xtask regen --from saved/        # saved documents
    ///   KISS_BASE_URL=<https://…> KISS_CUSTOMER_CODE=ACME01 KISS_API_KEY=… cargo xtask regen
    ///   cargo xtask regen --check              # CI: is generated/ in step with generated/schemas?
    Regen(regen::RegenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.task {
        Task::Regen(args) => match regen::run(args) {
            Ok(outcome) => outcome,
            Err(e) => {
                eprintln!("cargo xtask regen: {e}");
                ExitCode::from(2)
            }
        },
    }
}
