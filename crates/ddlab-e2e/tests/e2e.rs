//! The e2e scenarios: `cargo test --test e2e [-- --solution DIR]` runs `features/` against a solution.
//!
//! The solution defaults to the reference answer in `fixtures/solution`; `--solution DIR` or the
//! `DDLAB_SOLUTION` environment variable grades another one. A JUnit report is written to
//! `target/e2e/junit.xml`, and the last line printed is `e2e: N passed, N failed`.

// The harness is a program: it reports on stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod steps;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};

use cucumber::{StatsWriter as _, World as _, WriterExt as _, cli, event, writer};
use ddlab_e2e::{Outcome, Summary};
use ddlab_solution::Solution;

use steps::Lab;

/// The solution under test, read once for every scenario.
static SOLUTION: OnceLock<Result<Arc<Solution>, String>> = OnceLock::new();

#[derive(Debug, cli::Args)]
struct Options {
    /// The solution folder to check (default: the reference solution in fixtures/solution).
    #[arg(long, env = "DDLAB_SOLUTION", value_name = "DIR")]
    solution: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = cli::Opts::<_, _, _, Options>::parsed();
    let root = project_root();
    let solution_dir = opts
        .custom
        .solution
        .clone()
        .unwrap_or_else(|| root.join("fixtures/solution"));
    println!("e2e: checking the solution in {}", solution_dir.display());
    SOLUTION.get_or_init(|| {
        Solution::load(&solution_dir)
            .map(Arc::new)
            .map_err(|err| format!("cannot read the solution: {err}"))
    });

    let report_dir = root.join("target/e2e");
    let junit = match std::fs::create_dir_all(&report_dir)
        .and_then(|()| std::fs::File::create(report_dir.join("junit.xml")))
    {
        Ok(file) => file,
        Err(err) => {
            eprintln!(
                "error: cannot write {}: {err}",
                report_dir.join("junit.xml").display()
            );
            return ExitCode::FAILURE;
        }
    };

    let summary = Arc::new(Mutex::new(Summary::default()));
    let recorder = Arc::clone(&summary);
    let writer = Lab::cucumber()
        .with_cli(opts)
        .with_writer(
            writer::Basic::stdout()
                .summarized()
                .tee::<Lab, _>(writer::JUnit::for_tee(junit, 0))
                .normalized(),
        )
        .fail_on_skipped()
        .after(move |feature, _rule, scenario, finished, _world| {
            let outcome = Outcome {
                feature: feature.name.clone(),
                scenario: scenario.name.clone(),
                tags: scenario.tags.iter().chain(&feature.tags).cloned().collect(),
                failure: failure(finished),
            };
            if let Ok(mut summary) = recorder.lock() {
                summary.outcomes.push(outcome);
            }
            Box::pin(async {})
        })
        .run(root.join("features"))
        .await;

    let summary = summary.lock().map(|s| s.clone()).unwrap_or_default();
    let broken = writer.parsing_errors() + writer.hook_errors();
    let failing = summary.failing_items();
    if !failing.is_empty() {
        println!("e2e: failing exercise items: {}", failing.join(", "));
    }
    if broken > 0 {
        println!("e2e: {broken} feature files or hooks could not run");
    }
    // The last line, which CI reads.
    println!("{summary}");
    if summary.failed() == 0 && broken == 0 && summary.passed() > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn failure(finished: &event::ScenarioFinished) -> Option<String> {
    match finished {
        event::ScenarioFinished::StepPassed => None,
        event::ScenarioFinished::StepSkipped => Some("a step has no definition".to_owned()),
        event::ScenarioFinished::StepFailed(_, _, err) => Some(err.to_string()),
        event::ScenarioFinished::BeforeHookFailed(_) => Some("a before hook failed".to_owned()),
    }
}

/// The solution this run checks, or why it could not be read.
pub(crate) fn solution() -> Result<Arc<Solution>, String> {
    SOLUTION
        .get()
        .cloned()
        .unwrap_or_else(|| Err("the harness did not read a solution".to_owned()))
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}
