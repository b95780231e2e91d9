//! `cargo xtask`: the project's automation, one file per task.
//!
//! Tasks run cargo and the lab's own binaries; they never need anything the README does not install.

// A command-line tool talks to its user on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod ci;
mod compat;
#[cfg(test)]
mod tidy;
mod venv;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "ddlab's project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Everything CI checks about the code: formatting, clippy with warnings denied, every test.
    Ci,
    /// Bring up the exercise stack (MySQL, agent, backend, the traced app).
    Up,
    /// Create or update the lab's Python virtualenv (.ddlab/venv) and print its interpreter.
    Venv,
    /// Check the backend with Datadog's official clients (datadogpy, dog, datadog-api-client).
    Compat,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Ci => ci::run(),
        Task::Venv => venv::run(),
        Task::Compat => compat::run(),
        Task::Up => Err(anyhow::anyhow!(
            "the stack is not built yet: `cargo xtask up` arrives with the stack issue; \
             nothing was started"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root, found from this crate's manifest so tasks work from any directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
