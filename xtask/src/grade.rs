//! `cargo xtask grade DIR`: runs the e2e scenarios on a solution and writes its grading report;
//! `cargo xtask grade --samples`: checks that the grader diagnoses each flawed sample solution in
//! `fixtures/solutions/` exactly as its `expected-failures` file says. A sample holds only the files it
//! changes; it is laid over a copy of the reference solution (`fixtures/solution`) before grading.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::project_root;

#[derive(Debug, clap::Args)]
pub(crate) struct GradeArgs {
    /// The solution folder to grade.
    #[arg(required_unless_present = "samples")]
    solution: Option<PathBuf>,
    /// Check only the solution's files, without running the lab (the scenarios not tagged @live).
    #[arg(long = "static")]
    files_only: bool,
    /// Grade against a real Datadog organisation (DD_API_KEY, DD_APP_KEY, DD_SITE, DDLAB_EMAIL).
    #[arg(long)]
    datadog: bool,
    /// Where to write report.md, report.html and report.json (default target/grade/<solution name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Check the grader on every flawed sample in fixtures/solutions/ instead.
    #[arg(long, conflicts_with = "solution")]
    samples: bool,
}

pub(crate) fn run(args: &GradeArgs) -> anyhow::Result<()> {
    let root = project_root();
    if args.samples {
        return samples(&root);
    }
    let solution = args
        .solution
        .as_ref()
        .context("give the solution folder to grade")?;
    let solution = solution
        .canonicalize()
        .with_context(|| format!("the solution folder {} does not exist", solution.display()))?;
    let out = args.out.clone().unwrap_or_else(|| {
        let name = solution
            .file_name()
            .map_or("solution".into(), |n| n.to_string_lossy().into_owned());
        root.join("target/grade").join(name)
    });
    let mut extra = Vec::new();
    if args.files_only {
        extra.extend(["--tags".to_owned(), "not @live".to_owned()]);
    }
    if args.datadog {
        extra.push("--datadog".to_owned());
    }
    let passed = harness(&root, &solution, &out, &extra, false)?;
    println!(
        "The report is in {} (report.md, report.html, report.json).",
        out.display()
    );
    if !passed {
        bail!("the solution fails some exercise items; see the report");
    }
    Ok(())
}

/// Runs the e2e harness on `solution`, writing the report into `out`; true when every scenario passed.
/// A quiet run shows the harness's output only when it could not write a report.
fn harness(root: &Path, solution: &Path, out: &Path, extra: &[String], quiet: bool) -> anyhow::Result<bool> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .args(["test", "--quiet", "--test", "e2e", "--"])
        .arg("--solution")
        .arg(solution)
        .arg("--report")
        .arg(out)
        .args(extra)
        .current_dir(root);
    if !quiet {
        let status = command.status().context("cannot run the e2e harness")?;
        return Ok(status.success());
    }
    let output = command.output().context("cannot run the e2e harness")?;
    if !out.join("report.json").is_file() {
        print!("{}", String::from_utf8_lossy(&output.stdout));
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(output.status.success())
}

/// Grades every sample in fixtures/solutions/ on its files and compares the failing items with the
/// sample's `expected-failures` (one EX id per line; `#` starts a comment).
fn samples(root: &Path) -> anyhow::Result<()> {
    let dir = root.join("fixtures/solutions");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    let mut wrong = Vec::new();
    for sample in &entries {
        let name = sample
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let expected_file = sample.join("expected-failures");
        let text = std::fs::read_to_string(&expected_file)
            .with_context(|| format!("{} is missing", expected_file.display()))?;
        let expected: BTreeSet<String> = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default().trim())
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let work = root.join("target/grade/samples").join(&name);
        // A report left by an earlier run must not stand in for this one's.
        if work.exists() {
            std::fs::remove_dir_all(&work).with_context(|| format!("cannot clear {}", work.display()))?;
        }
        let solution = work.join("solution");
        overlay(&root.join("fixtures/solution"), &solution)?;
        overlay(sample, &solution)?;
        std::fs::remove_file(solution.join("expected-failures"))?;
        let out = work.join("report");
        harness(
            root,
            &solution,
            &out,
            &["--tags".to_owned(), "not @live".to_owned()],
            true,
        )?;
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("report.json"))
                .with_context(|| format!("the harness wrote no report for {name}"))?,
        )?;
        let failing: BTreeSet<String> = report["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["verdict"] == "fail")
            .filter_map(|i| i["id"].as_str().map(str::to_owned))
            .collect();
        if failing == expected {
            println!("sample {name}: fails exactly {}", join(&failing));
        } else {
            println!(
                "sample {name}: expected to fail {}, but fails {}",
                join(&expected),
                join(&failing)
            );
            wrong.push(name);
        }
    }
    if entries.is_empty() {
        bail!("no samples in {}", dir.display());
    }
    if !wrong.is_empty() {
        bail!("the grader misjudges {}", wrong.join(", "));
    }
    println!("{} samples, each diagnosed as expected", entries.len());
    Ok(())
}

/// Copies the files under `from` into `to`, replacing those already there (permissions kept, so the
/// app's launcher stays executable).
fn overlay(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            overlay(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {} to {}", entry.path().display(), target.display()))?;
        }
    }
    Ok(())
}

fn join(items: &BTreeSet<String>) -> String {
    if items.is_empty() {
        "nothing".to_owned()
    } else {
        items.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}
