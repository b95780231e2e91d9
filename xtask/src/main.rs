//! `cargo xtask`: the project's automation, one file per task.
//!
//! Tasks run cargo and the lab's own binaries; they never need anything the README does not install.

// A command-line tool talks to its user on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod backend;
mod bench;
mod chaos;
mod ci;
mod compat;
mod fuzz;
mod grade;
mod load;
mod rust_literals;
mod screenshots;
mod stack;
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
    /// Bring up the exercise stack (MySQL, mail sink, backend, agent, the traced app, traffic).
    Up {
        #[command(flatten)]
        stack: stack::StackArgs,
        /// Start the backend with its movable test clock.
        #[arg(long)]
        test_mode: bool,
        /// No local backend: the agent sends to the real Datadog site of DD_SITE with DD_API_KEY, from
        /// the environment (local provider).
        #[arg(long)]
        datadog: bool,
    },
    /// Stop the stack; data is kept unless --purge.
    Down {
        #[command(flatten)]
        stack: stack::StackArgs,
        #[arg(long)]
        purge: bool,
    },
    /// Each component's state, pid and log; a crashed one with its last log lines.
    Status {
        #[command(flatten)]
        stack: stack::StackArgs,
    },
    /// The last lines of a component's log (or of all); with -f, follow it.
    Logs {
        #[command(flatten)]
        stack: stack::StackArgs,
        component: Option<String>,
        #[arg(short, long)]
        follow: bool,
    },
    /// Build the docker provider's images (offline with debootstrap when no registry is reachable).
    Images {
        /// Build the base with debootstrap even when a registry answers.
        #[arg(long)]
        offline: bool,
    },
    /// What this machine is missing to run the lab, and the command that fixes it.
    Doctor,
    /// Create or update the lab's Python virtualenv (.ddlab/venv) and print its interpreter.
    Venv,
    /// Check the backend with Datadog's official clients (datadogpy, dog, datadog-api-client).
    Compat,
    /// Run every benchmark beside its anchor; writes docs/benchmarks.md and docs/benchmarks.json.
    Bench,
    /// Grade a solution: run the scenarios on it and write a report of every exercise item.
    Grade(grade::GradeArgs),
    /// The fault suite: kill, stop and flood the real backend, agent, MySQL and Python checks, and count
    /// what survived; fails if anything was lost silently or not reported.
    Chaos(chaos::ChaosArgs),
    /// Concurrent clients against a real backend (intake, queries, API, UI pages); fails on any error.
    Load(load::LoadArgs),
    /// Fuzz the parsers and decoders with libFuzzer for a bounded time each; fails on any crash.
    Fuzz(fuzz::FuzzArgs),
    /// Capture every page of the web UI, on a backend seeded with demo data, into docs/img/ (headless Chromium).
    Screenshots,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Ci => ci::run(),
        Task::Venv => venv::run(),
        Task::Compat => compat::run(),
        Task::Bench => bench::run(),
        Task::Grade(args) => grade::run(&args),
        Task::Screenshots => screenshots::run(),
        Task::Load(args) => load::run(&args),
        Task::Fuzz(args) => fuzz::run(&args),
        Task::Chaos(args) => chaos::run(&args),
        Task::Up {
            stack,
            test_mode,
            datadog,
        } => stack::up(&stack, test_mode, datadog),
        Task::Down { stack, purge } => stack::down(&stack, purge),
        Task::Status { stack } => stack::status(&stack),
        Task::Logs {
            stack,
            component,
            follow,
        } => stack::logs(&stack, component.as_deref(), follow),
        Task::Images { offline } => stack::images(offline),
        Task::Doctor => stack::doctor(),
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

/// Where cargo puts build outputs: `CARGO_TARGET_DIR` if set, else `target/` in the workspace.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    ddlab_stack::local::target_dir(root)
}

/// Every file below `dir`, sorted, leaving out `target` folders and hidden files and folders (`.git`,
/// editors' files): what the repository holds, as tidy checks it and the fuzz seeds read it.
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
