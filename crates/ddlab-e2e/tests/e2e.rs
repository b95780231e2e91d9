//! The e2e scenarios: `cargo test --test e2e [-- --solution DIR]` runs `features/` against a solution.
//!
//! The solution defaults to the reference answer in `fixtures/solution`; `--solution DIR` or the
//! `DDLAB_SOLUTION` environment variable grades another one. Scenarios tagged `@live` run against the
//! lab: the one already running in `.ddlab` (`cargo xtask up --test-mode`), or one this run starts in
//! test mode and stops at the end. With `--datadog` they run against a real Datadog organisation
//! instead, and the scenarios that need the lab's test clock or mailbox are left out (and listed).
//! `--tags 'not @live'` checks the solution's files alone, without a lab. A JUnit report is written to
//! `target/e2e/junit.xml`, and the last line printed is `e2e: N passed, N failed`.

// The harness is a program: it reports on stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod steps;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};

use cucumber::{StatsWriter as _, World as _, WriterExt as _, cli, event, gherkin, writer};
use ddlab_e2e::live::{Live, wall_clock};
use ddlab_e2e::report::Report;
use ddlab_e2e::secrets;
use ddlab_e2e::stack::{self, Target};
use ddlab_e2e::{Outcome, Summary};
use ddlab_solution::Solution;
use tokio::sync::OnceCell;

use steps::Lab;

/// The solution under test, read once for every scenario.
static SOLUTION: OnceLock<Result<Arc<Solution>, String>> = OnceLock::new();
/// Against a real Datadog organisation rather than the lab.
static DATADOG: OnceLock<bool> = OnceLock::new();
/// The system the live scenarios talk to, found or started by the first one that needs it.
static TARGET: OnceCell<Result<Arc<Live>, String>> = OnceCell::const_new();
/// The lab this run started, stopped at the end.
static STARTED: Mutex<Option<Target>> = Mutex::new(None);
/// How long finding or starting the lab took.
static LAB_START: Mutex<Option<f64>> = Mutex::new(None);

/// Tags of scenarios that need what only the lab has.
const LAB_ONLY: &[&str] = &["test-clock", "mailbox", "scripts", "mysql"];

#[derive(Debug, cli::Args)]
struct Options {
    /// The solution folder to check (default: the reference solution in fixtures/solution).
    #[arg(long, env = "DDLAB_SOLUTION", value_name = "DIR")]
    solution: Option<PathBuf>,
    /// Where to write the grading report (report.json, report.md, report.html); default target/e2e.
    #[arg(long, env = "DDLAB_E2E_REPORT", value_name = "DIR")]
    report: Option<PathBuf>,
    /// Run the live scenarios against a real Datadog organisation (DD_API_KEY, DD_APP_KEY, DD_SITE,
    /// DDLAB_EMAIL) instead of the lab.
    #[arg(long)]
    datadog: bool,
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
    let datadog = opts.custom.datadog;
    DATADOG.get_or_init(|| datadog);
    SOLUTION.get_or_init(|| {
        Solution::load(&solution_dir)
            .map(Arc::new)
            .map_err(|err| format!("cannot read the solution: {err}"))
    });

    let started_at = std::time::Instant::now();
    let report_dir = opts
        .custom
        .report
        .clone()
        .unwrap_or_else(|| root.join("target/e2e"));
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
        .after(move |feature, rule, scenario, finished, world| {
            let seconds = world.as_ref().map_or(0.0, |w| w.born.elapsed().as_secs_f64());
            let reset = world.and_then(|w| w.clock_moved.then(|| w.reached().cloned()).flatten());
            let outcome = Outcome {
                feature: feature.name.clone(),
                scenario: scenario.name.clone(),
                tags: scenario
                    .tags
                    .iter()
                    .chain(rule.map(|r| r.tags.iter()).into_iter().flatten())
                    .chain(&feature.tags)
                    .cloned()
                    .collect(),
                steps: scenario
                    .steps
                    .iter()
                    .map(|step| format!("{}{}", step.keyword, step.value))
                    .collect(),
                seconds,
                failure: failure(finished),
            };
            if let Ok(mut summary) = recorder.lock() {
                summary.outcomes.push(outcome);
            }
            Box::pin(async move {
                // A scenario that moved the lab's clock puts it back, so the next one starts at the
                // real time.
                if let Some(live) = reset
                    && let Err(err) = live.set_clock(wall_clock()).await
                {
                    eprintln!("e2e: cannot put the lab's clock back: {err}");
                }
            })
        })
        .filter_run(root.join("features"), move |feature, rule, scenario| {
            !(datadog && needs_the_lab(feature, rule, scenario))
        })
        .await;
    if datadog {
        println!(
            "e2e: --datadog leaves out the scenarios tagged {} (they need the lab's test clock, mailbox, Python or MySQL server)",
            LAB_ONLY
                .iter()
                .map(|t| format!("@{t}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // The lab is still up: its logs, agent and pages are checked for secrets after every scenario ran.
    if !datadog
        && let Some(outcome) = secrets_outcome().await
        && let Ok(mut summary) = summary.lock()
    {
        summary.outcomes.push(outcome);
    }
    let started = STARTED.lock().ok().and_then(|mut s| s.take());
    if let Some(target) = started {
        target.finish(&mut |line| println!("e2e: {line}"));
    }

    let summary = summary.lock().map(|s| s.clone()).unwrap_or_default();
    let mut report = Report::new(
        &solution_dir.display().to_string(),
        &summary,
        started_at.elapsed().as_secs_f64(),
    );
    report.lab_start_seconds = LAB_START.lock().ok().and_then(|s| *s);
    println!();
    print!("{}", report.to_text());
    match report.write(&report_dir) {
        Ok(()) => println!(
            "e2e: grading report in {} (report.md, report.html, report.json)",
            report_dir.display()
        ),
        Err(err) => eprintln!("e2e: cannot write the report in {}: {err}", report_dir.display()),
    }
    let broken = writer.parsing_errors() + writer.hook_errors();
    let failing = summary.failing_items();
    if !failing.is_empty() {
        println!("e2e: failing exercise items: {}", failing.join(", "));
    }
    if broken > 0 {
        println!("e2e: {broken} feature files or hooks could not run");
    }
    println!("{}", report.timings());
    // The last line, which CI reads.
    println!("{summary}");
    if summary.failed() == 0 && broken == 0 && summary.passed() > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn needs_the_lab(
    feature: &gherkin::Feature,
    rule: Option<&gherkin::Rule>,
    scenario: &gherkin::Scenario,
) -> bool {
    feature
        .tags
        .iter()
        .chain(rule.map(|r| r.tags.iter()).into_iter().flatten())
        .chain(&scenario.tags)
        .any(|tag| LAB_ONLY.contains(&tag.as_str()))
}

/// The system under test for the live scenarios: found or started once, then shared.
pub(crate) async fn live() -> Result<Arc<Live>, String> {
    TARGET
        .get_or_init(|| async {
            let solution = solution()?;
            let began = std::time::Instant::now();
            let target = if DATADOG.get().copied().unwrap_or(false) {
                stack::datadog(&solution)?
            } else {
                let mut say = |line: &str| println!("e2e: {line}");
                stack::lab(&project_root(), &solution, &mut say).await?
            };
            let live = Arc::new(target.live.clone());
            if live.lab.as_ref().is_some_and(|lab| lab.test_clock) {
                // A lab left with its clock moved (an interrupted run) starts at the real time.
                live.set_clock(wall_clock()).await?;
            }
            if let Ok(mut started) = STARTED.lock() {
                *started = Some(target);
            }
            if let Ok(mut start) = LAB_START.lock() {
                *start = Some(began.elapsed().as_secs_f64());
            }
            Ok(live)
        })
        .await
        .clone()
}

/// The secrets sweep (`ddlab_e2e::secrets`) over the lab this run reached, as one more outcome; `None`
/// when no scenario reached the lab.
async fn secrets_outcome() -> Option<Outcome> {
    let live = TARGET.get()?.as_ref().ok()?.clone();
    let lab = live.lab.as_ref()?;
    let began = std::time::Instant::now();
    let passwords = solution()
        .map(|s| secrets::mysql_passwords(&s))
        .unwrap_or_default();
    let secrets = secrets::lab_secrets(&live, lab, &passwords);
    let names: Vec<&str> = secrets.iter().map(|s| s.name.as_str()).collect();
    let sweep = secrets::sweep(&live, lab, &secrets).await;
    let failure = sweep.failure();
    let seconds = began.elapsed().as_secs_f64();
    match &failure {
        None => println!(
            "e2e: secrets: none of [{}] in {} ({seconds:.1} s)",
            names.join(", "),
            sweep.checked()
        ),
        Some(why) => println!("e2e: secrets: FAILED after checking {}:\n{why}", sweep.checked()),
    }
    Some(Outcome {
        feature: "Security".to_owned(),
        scenario: "No secret of the lab in its logs, mail, agent output, API errors or UI pages".to_owned(),
        tags: vec!["live".to_owned(), "security".to_owned()],
        steps: vec![format!(
            "Then none of [{}] is in {}",
            names.join(", "),
            sweep.checked()
        )],
        seconds,
        failure,
    })
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
