//! `cargo xtask fuzz`: builds the libFuzzer targets of `fuzz/` on stable Rust and runs each for a bounded
//! time, then reports executions, coverage and crashes; exits non-zero on any crash.
//!
//! ```text
//! seed (fixtures/, test literals, encoders) ─▶ target/fuzz/seeds/<t>
//! build (sanitizer-coverage flags, release + debug assertions) ─▶ target/fuzz/<host>/release/<t>
//! fuzz/corpus/<t>.txt (committed, one input per line) ─unpack─▶ target/fuzz/committed/<t>
//! run <t> -max_total_time=N  target/fuzz/corpus/<t>  seeds  committed  fuzz/regressions/<t>
//! --merge: minimise everything found and pack it into fuzz/corpus/<t>.txt (the curated corpus)
//! ```
//!
//! Nightly-only `-Zsanitizer` is not needed: libFuzzer only needs the coverage instrumentation LLVM adds
//! under `-Cpasses=sancov-module`, which stable rustc accepts. Without AddressSanitizer the targets
//! find panics (failed properties, overflows, debug assertions), aborts, hangs and memory blow-ups;
//! the crates forbid `unsafe`, so memory errors are not what there is to find.

mod packed;
mod seeds;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::project_root;

/// Every fuzz target (a `[[bin]]` of `fuzz/Cargo.toml`) and what it feeds.
pub(crate) const TARGETS: &[(&str, &str)] = &[
    ("query", "ddlab_query::parse, parse_formula"),
    ("monitor_query", "ddlab_monitor::query::MonitorQuery::parse"),
    (
        "monitor_template",
        "ddlab_monitor::template::Template::parse, render",
    ),
    ("series_v1_json", "ddlab_wire::series::decode_v1_json"),
    ("series_v2_json", "ddlab_wire::series::decode_v2_json"),
    ("series_v2_protobuf", "ddlab_wire::series::decode_v2_protobuf"),
    ("trace_v04", "ddlab_wire::trace::decode_v04"),
    ("trace_v05", "ddlab_wire::trace::decode_v05"),
    ("dogstatsd", "ddlab_wire::dogstatsd::parse"),
    (
        "agent_config",
        "AgentConfig::from_yaml, config::checks::read_check_file",
    ),
];

/// Seconds per target when neither `--seconds` nor `--smoke` is given.
const DEFAULT_SECONDS: u64 = 60;
/// Seconds per target of `--smoke`, the run CI makes.
const SMOKE_SECONDS: u64 = 10;
/// One input running longer than this is a hang, reported like a crash.
const INPUT_TIMEOUT_SECONDS: u64 = 10;
/// The committed corpus must stay small: it is read by `cargo test` and lives in the repository.
const CORPUS_BUDGET_BYTES: u64 = 1_000_000;

/// The coverage instrumentation libFuzzer needs, as cargo-fuzz passes it, without a sanitizer; and the
/// `fuzzing` cfg that crates test for.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
];

#[derive(Debug, clap::Args)]
pub(crate) struct FuzzArgs {
    /// Targets to run (default: all). `--list` shows them.
    targets: Vec<String>,
    /// How long each target runs, in seconds [default: 60, or 10 with --smoke].
    #[arg(long)]
    seconds: Option<u64>,
    /// CI's short run: 10 s per target.
    #[arg(long)]
    smoke: bool,
    /// After the runs, minimise the committed corpus `fuzz/corpus/<target>.txt` with everything found.
    #[arg(long)]
    merge: bool,
    /// Print the targets and what each feeds, and stop.
    #[arg(long)]
    list: bool,
    /// Write the seeds under target/fuzz/seeds/ and stop, without building anything.
    #[arg(long)]
    seeds_only: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// What one target's run did, from libFuzzer's output.
#[derive(Debug, Default)]
struct Run {
    target: String,
    seconds: u64,
    executions: u64,
    exec_per_sec: u64,
    /// Coverage once the corpus was loaded (`INITED`), and at the end: edges (`cov`) and features (`ft`).
    cov_start: u64,
    cov: u64,
    ft: u64,
    /// Inputs in the corpus at the end.
    corpus: u64,
    peak_rss_mb: u64,
    crash: Option<Crash>,
    log: PathBuf,
}

#[derive(Debug)]
struct Crash {
    /// `panic`, `timeout`, `out of memory` or `crash`.
    kind: &'static str,
    artifact: Option<PathBuf>,
    /// The panic message or libFuzzer's error line.
    summary: String,
}

pub(crate) fn run(args: &FuzzArgs) -> anyhow::Result<()> {
    if args.list {
        for (name, entry) in TARGETS {
            println!("{name:<20} {entry}");
        }
        return Ok(());
    }
    let targets = selected(&args.targets)?;
    let seconds = args.seconds.unwrap_or(if args.smoke {
        SMOKE_SECONDS
    } else {
        DEFAULT_SECONDS
    });
    let root = project_root();
    let work = crate::target_dir(&root).join("fuzz");

    let seeded = seeds::write_all(&root, &work.join("seeds"))?;
    eprintln!(
        "fuzz: {} seeds from fixtures/ and the tests' data in {}",
        seeded,
        work.join("seeds").display()
    );
    if args.seeds_only {
        return Ok(());
    }

    let started = Instant::now();
    let binaries = build(&root, &work, &targets)?;
    let build_seconds = started.elapsed().as_secs_f64();
    eprintln!("fuzz: built {} targets in {build_seconds:.0} s", targets.len());

    let started = Instant::now();
    let mut runs = Vec::new();
    for target in &targets {
        eprintln!("fuzz: running {target} for {seconds} s");
        let run = run_target(&root, &work, &binaries, target, seconds)?;
        if let Some(crash) = &run.crash {
            eprintln!("fuzz: {target}: {}: {}", crash.kind, crash.summary);
        }
        runs.push(run);
    }
    let run_seconds = started.elapsed().as_secs_f64();

    let crashed = runs.iter().any(|r| r.crash.is_some());
    if args.merge && !crashed {
        for target in &targets {
            merge(&root, &work, &binaries, target)?;
        }
    }
    let corpus_bytes = dir_size(&root.join("fuzz/corpus"));

    if args.json {
        println!("{}", report_json(&runs, build_seconds, run_seconds, corpus_bytes));
    } else {
        print!(
            "{}",
            report_table(&runs, build_seconds, run_seconds, corpus_bytes)
        );
    }
    if crashed {
        let mut help = String::new();
        for run in runs.iter().filter(|r| r.crash.is_some()) {
            let crash = run.crash.as_ref().map(|c| c.artifact.as_deref());
            if let Some(Some(artifact)) = crash {
                let _ = writeln!(
                    help,
                    "  {}: reproduce with {} {}; once fixed, keep it: cp {} fuzz/regressions/{}/",
                    run.target,
                    binaries.join(&run.target).display(),
                    artifact.display(),
                    artifact.display(),
                    run.target
                );
            }
            let _ = writeln!(help, "  {}: libFuzzer's log is {}", run.target, run.log.display());
        }
        bail!("the fuzzers found crashes:\n{help}");
    }
    if corpus_bytes > CORPUS_BUDGET_BYTES {
        bail!(
            "the committed corpus fuzz/corpus/ holds {corpus_bytes} bytes, over the {CORPUS_BUDGET_BYTES} budget: \
             rerun with --merge to minimise it"
        );
    }
    Ok(())
}

/// The targets named on the command line, in the table's order; all when none is named.
fn selected(names: &[String]) -> anyhow::Result<Vec<String>> {
    if names.is_empty() {
        return Ok(TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect());
    }
    for name in names {
        if !TARGETS.iter().any(|(known, _)| known == name) {
            let known: Vec<&str> = TARGETS.iter().map(|(known, _)| *known).collect();
            bail!(
                "unknown fuzz target {name:?}: the targets are {}",
                known.join(", ")
            );
        }
    }
    Ok(TARGETS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .filter(|name| names.contains(name))
        .collect())
}

/// Builds the targets with the coverage flags and returns the folder that holds the binaries.
///
/// `--target` keeps the flags off build scripts and proc macros, which run on the host uninstrumented.
fn build(root: &Path, work: &Path, targets: &[String]) -> anyhow::Result<PathBuf> {
    let host = host_triple()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "--manifest-path",
            "fuzz/Cargo.toml",
        ])
        .args(["--target", &host])
        .env("CARGO_TARGET_DIR", work)
        // The encoded form wins over RUSTFLAGS, and nothing else the caller set should reach these flags.
        .env("CARGO_ENCODED_RUSTFLAGS", RUSTFLAGS.join("\u{1f}"))
        .env_remove("RUSTFLAGS");
    for target in targets {
        command.args(["--bin", target]);
    }
    let status = command
        .status()
        .context("cannot run cargo to build the fuzz targets")?;
    if !status.success() {
        bail!(
            "building the fuzz targets failed (fuzz/Cargo.toml); libFuzzer needs a C++ compiler: \
             apt-get install build-essential"
        );
    }
    Ok(work.join(host).join("release"))
}

fn host_triple() -> anyhow::Result<String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("cannot run rustc -vV")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .context("rustc -vV printed no host triple")
}

/// Runs one target for `seconds` over its corpora and reads what libFuzzer printed.
fn run_target(root: &Path, work: &Path, binaries: &Path, target: &str, seconds: u64) -> anyhow::Result<Run> {
    let corpora = corpora(root, work, target)?;
    let artifacts = work.join("artifacts").join(target);
    std::fs::create_dir_all(&artifacts)?;
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs)?;
    let log = logs.join(format!("{target}.log"));
    let stderr = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let binary = binaries.join(target);
    // `timeout` bounds the process even if libFuzzer itself hangs; its own -max_total_time ends the run.
    let status = Command::new("timeout")
        .args(["--kill-after=10", &(seconds + 120).to_string()])
        .arg(&binary)
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .args(&corpora)
        .stdout(Stdio::null())
        .stderr(stderr)
        .status()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let text = std::fs::read_to_string(&log).with_context(|| format!("cannot read {}", log.display()))?;
    let mut run = parse_log(target, &text);
    run.seconds = seconds;
    run.log = log;
    if !status.success() && run.crash.is_none() {
        run.crash = Some(Crash {
            kind: "crash",
            artifact: None,
            summary: format!("{} exited with {status}", binary.display()),
        });
    }
    Ok(run)
}

/// libFuzzer's corpus folders for a target: the first (written to) is the working corpus under
/// `target/`; the others are read: the seeds, the committed corpus and the committed regressions.
fn corpora(root: &Path, work: &Path, target: &str) -> anyhow::Result<Vec<PathBuf>> {
    let dirs = vec![
        work.join("corpus").join(target),
        work.join("seeds").join(target),
        work.join("committed").join(target),
        root.join("fuzz/regressions").join(target),
    ];
    for dir in &dirs {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    packed::unpack(
        &committed_file(root, target),
        &work.join("committed").join(target),
    )?;
    Ok(dirs)
}

/// Reads executions, coverage and any crash from libFuzzer's stderr.
fn parse_log(target: &str, text: &str) -> Run {
    let mut run = Run {
        target: target.to_owned(),
        ..Run::default()
    };
    let field = |line: &str, name: &str| -> Option<u64> {
        let mut words = line.split_whitespace();
        words.find(|w| *w == name)?;
        let value = words.next()?;
        value.split('/').next()?.parse().ok()
    };
    for line in text.lines() {
        if line.starts_with('#') && line.contains(" cov: ") {
            let cov = field(line, "cov:").unwrap_or(run.cov);
            if line.contains("INITED") {
                run.cov_start = cov;
            }
            run.cov = cov;
            run.ft = field(line, "ft:").unwrap_or(run.ft);
            run.corpus = field(line, "corp:").unwrap_or(run.corpus);
        }
        if let Some(value) = line.strip_prefix("stat::number_of_executed_units: ") {
            run.executions = value.trim().parse().unwrap_or(0);
        }
        if let Some(value) = line.strip_prefix("stat::average_exec_per_sec: ") {
            run.exec_per_sec = value.trim().parse().unwrap_or(0);
        }
        if let Some(value) = line.strip_prefix("stat::peak_rss_mb: ") {
            run.peak_rss_mb = value.trim().parse().unwrap_or(0);
        }
    }
    let artifact = text.lines().find_map(|line| {
        let rest = line.split_once("Test unit written to ")?.1;
        Some(PathBuf::from(rest.trim()))
    });
    let kind = if text.contains("panicked at") {
        Some("panic")
    } else if text.contains("ERROR: libFuzzer: timeout") {
        Some("timeout")
    } else if text.contains("ERROR: libFuzzer: out-of-memory") {
        Some("out of memory")
    } else if text.contains("ERROR: libFuzzer:") {
        Some("crash")
    } else {
        None
    };
    if let Some(kind) = kind {
        let summary = panic_message(text)
            .or_else(|| {
                text.lines()
                    .find(|l| l.contains("ERROR: libFuzzer:"))
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        run.crash = Some(Crash {
            kind,
            artifact,
            summary,
        });
    }
    run
}

/// The panic's location and first lines of its message.
fn panic_message(text: &str) -> Option<String> {
    let mut lines = text.lines().skip_while(|l| !l.contains("panicked at"));
    let head = lines.next()?.trim().to_owned();
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).take(4).collect();
    Some(format!("{head} {}", message.join(" / ")))
}

/// Minimises the committed corpus of `target`: libFuzzer's merge keeps the fewest inputs that cover
/// every edge reached by the committed corpus, the working corpus and the seeds, and they replace
/// `fuzz/corpus/<target>.txt`. Edges, not features (`-use_counters=0`): hit-count buckets would keep
/// several times the inputs (2.9 MB instead of about 0.4 MB in all) for little more coverage; the working
/// corpus under `target/fuzz/corpus` keeps them between runs on one machine.
fn merge(root: &Path, work: &Path, binaries: &Path, target: &str) -> anyhow::Result<()> {
    let merged = work.join("merged").join(target);
    if merged.exists() {
        std::fs::remove_dir_all(&merged)?;
    }
    std::fs::create_dir_all(&merged)?;
    let committed = work.join("committed").join(target);
    let log = work.join("logs").join(format!("{target}.merge.log"));
    let stderr = std::fs::File::create(&log)?;
    let status = Command::new(binaries.join(target))
        .arg("-merge=1")
        .arg("-use_counters=0")
        .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
        .arg(&merged)
        .arg(&committed)
        .arg(work.join("corpus").join(target))
        .arg(work.join("seeds").join(target))
        .stdout(Stdio::null())
        .stderr(stderr)
        .status()
        .with_context(|| format!("cannot run the {target} merge"))?;
    if !status.success() {
        bail!("merging the {target} corpus failed; see {}", log.display());
    }
    let file = committed_file(root, target);
    let count = packed::pack(&merged, &file)?;
    let bytes = std::fs::metadata(&file).map_or(0, |m| m.len());
    eprintln!("fuzz: {target}: fuzz/corpus/{target}.txt now holds {count} inputs, {bytes} bytes");
    Ok(())
}

/// The committed corpus of a target: one file, one input per line ([`packed`]).
fn committed_file(root: &Path, target: &str) -> PathBuf {
    root.join("fuzz/corpus").join(format!("{target}.txt"))
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => stack.push(entry.path()),
                Ok(meta) => total += meta.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn report_table(runs: &[Run], build_seconds: f64, run_seconds: f64, corpus_bytes: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:>7} {:>12} {:>9} {:>13} {:>7} {:>7} {:>8}  result",
        "target", "seconds", "executions", "exec/s", "cov (seeds)", "ft", "corpus", "rss MB"
    );
    for run in runs {
        let result = match &run.crash {
            Some(crash) => {
                let summary: String = crash.summary.chars().take(160).collect();
                format!("{} ({summary}…)", crash.kind.to_uppercase())
            }
            None => "ok".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<20} {:>7} {:>12} {:>9} {:>13} {:>7} {:>7} {:>8}  {result}",
            run.target,
            run.seconds,
            run.executions,
            run.exec_per_sec,
            format!("{} ({})", run.cov, run.cov_start),
            run.ft,
            run.corpus,
            run.peak_rss_mb,
        );
    }
    let crashes = runs.iter().filter(|r| r.crash.is_some()).count();
    let _ = writeln!(
        out,
        "fuzz: {} targets, {crashes} crashed; build {build_seconds:.0} s, runs {run_seconds:.0} s; \
         committed corpus {corpus_bytes} bytes",
        runs.len()
    );
    out
}

fn report_json(runs: &[Run], build_seconds: f64, run_seconds: f64, corpus_bytes: u64) -> String {
    let targets: Vec<serde_json::Value> = runs
        .iter()
        .map(|run| {
            json!({
                "target": run.target,
                "seconds": run.seconds,
                "executions": run.executions,
                "exec_per_sec": run.exec_per_sec,
                "cov_seeds": run.cov_start,
                "cov": run.cov,
                "ft": run.ft,
                "corpus": run.corpus,
                "peak_rss_mb": run.peak_rss_mb,
                "crash": run.crash.as_ref().map(|c| json!({
                    "kind": c.kind,
                    "artifact": c.artifact.as_ref().map(|p| p.display().to_string()),
                    "summary": c.summary,
                })),
            })
        })
        .collect();
    json!({
        "build_seconds": build_seconds,
        "run_seconds": run_seconds,
        "committed_corpus_bytes": corpus_bytes,
        "targets": targets,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_stats_and_a_panic() {
        let log = "\
INFO: Seed: 1
#2\tINITED cov: 120 ft: 300 corp: 14/2Kb exec/s: 0 rss: 40Mb
#4096\tpulse  cov: 150 ft: 410 corp: 30/4Kb lim: 64 exec/s: 2048 rss: 42Mb
thread '<unnamed>' panicked at crates/ddlab-query/tests/properties/mod.rs:30:17:
\"1e999\" parses, but its canonical form \"inf\" does not
note: run with `RUST_BACKTRACE=1`
==1== ERROR: libFuzzer: deadly signal
artifact_prefix='target/fuzz/artifacts/query/'; Test unit written to target/fuzz/artifacts/query/crash-abc
stat::number_of_executed_units: 5000
stat::average_exec_per_sec:     2500
stat::peak_rss_mb:              44
";
        let run = parse_log("query", log);
        assert_eq!(
            (
                run.cov_start,
                run.cov,
                run.ft,
                run.corpus,
                run.executions,
                run.exec_per_sec
            ),
            (120, 150, 410, 30, 5000, 2500)
        );
        let crash = run.crash.expect("the panic is a crash");
        assert_eq!(crash.kind, "panic");
        assert_eq!(
            crash.artifact,
            Some(PathBuf::from("target/fuzz/artifacts/query/crash-abc"))
        );
        assert!(crash.summary.contains("\"1e999\" parses"), "{}", crash.summary);
    }

    #[test]
    fn a_clean_run_has_no_crash() {
        let log = "#10\tINITED cov: 5 ft: 6 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #99\tDONE   cov: 7 ft: 9 corp: 3/10b lim: 4 exec/s: 9 rss: 31Mb\n\
                   Done 99 runs in 11 second(s)\nstat::number_of_executed_units: 99\n";
        let run = parse_log("dogstatsd", log);
        assert_eq!((run.cov_start, run.cov, run.ft, run.executions), (5, 7, 9, 99));
        assert!(run.crash.is_none(), "{:?}", run.crash);
    }

    #[test]
    fn every_target_is_a_bin_of_the_fuzz_crate() {
        let manifest =
            std::fs::read_to_string(project_root().join("fuzz/Cargo.toml")).expect("fuzz/Cargo.toml exists");
        for (name, _) in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{name}\"\npath = \"fuzz_targets/{name}.rs\"")),
                "fuzz/Cargo.toml has no [[bin]] {name} at fuzz_targets/{name}.rs"
            );
        }
        assert_eq!(manifest.matches("[[bin]]").count(), TARGETS.len());
    }
}
