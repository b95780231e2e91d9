//! `cargo xtask chaos [SCENARIO...] [--json]`: the fault suite. Real processes on loopback (the built
//! `ddlab-backend` and `ddlab-agent`, a private MariaDB from the OS binaries, the lab's virtualenv for
//! Python checks) are broken on purpose, one scenario at a time, and what survived is counted.
//!
//! | scenario | fault |
//! | --- | --- |
//! | `backend-kill` | `kill -9` of the backend during sustained intake, then a restart (three times) |
//! | `backend-outage` | the backend stopped for 60 s under two agents (default and tiny retry queue) |
//! | `mysql-stop` | the MySQL server stopped, then started again, under the MySQL check |
//! | `python-checks` | custom checks that raise, hang, spin with the GIL held and kill their interpreter |
//! | `dogstatsd-restart` | the agent restarted during a DogStatsD flood |
//!
//! Each scenario prints PASS or FAIL with its figures; the task fails if any scenario does. Every process
//! a scenario starts is killed when the scenario ends, failed or not; its files stay in
//! `target/chaos/<scenario>/` (logs, configurations, data) for a look after a failure.

mod backend_kill;
mod backend_outage;
mod dogstatsd_restart;
mod lab;
mod mysql_stop;
mod python_checks;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::{project_root, target_dir};

/// Every scenario, in the order `cargo xtask chaos` runs them.
const SCENARIOS: [&str; 5] = [
    "backend-kill",
    "backend-outage",
    "mysql-stop",
    "python-checks",
    "dogstatsd-restart",
];

/// What `cargo xtask chaos` is asked to do.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ChaosArgs {
    /// Scenarios to run (default: all): backend-kill, backend-outage, mysql-stop, python-checks,
    /// dogstatsd-restart.
    scenarios: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// How long backend-outage keeps the backend down, in seconds (at least 20, more than a flush interval).
    #[arg(long, default_value_t = 60)]
    outage_seconds: u64,
}

/// What the scenarios share: the workspace, the built binaries, the lab's virtualenv (made on first use).
#[derive(Debug)]
pub(crate) struct Lab {
    root: PathBuf,
    agent_binary: PathBuf,
    python: std::sync::OnceLock<PathBuf>,
}

impl Lab {
    /// A cleared folder for one scenario's files, under `target/chaos/`.
    fn scenario_dir(&self, scenario: &str) -> anyhow::Result<PathBuf> {
        let dir = target_dir(&self.root).join("chaos").join(scenario);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(dir)
    }

    /// The lab virtualenv's interpreter (`cargo xtask venv`), with `datadog-checks-base` installed.
    fn python(&self) -> anyhow::Result<PathBuf> {
        if let Some(python) = self.python.get() {
            return Ok(python.clone());
        }
        let python = tokio::task::block_in_place(|| crate::venv::ensure(&self.root))?;
        Ok(self.python.get_or_init(|| python).clone())
    }

    /// Copies the fault suite's check `name` (`fixtures/chaos/`) into an agent's `checks.d` and `conf.d`.
    fn install_check(&self, agent_root: &Path, name: &str) -> anyhow::Result<()> {
        let fixtures = self.root.join("fixtures/chaos");
        for (from, to) in [
            (
                fixtures.join(format!("checks.d/{name}.py")),
                agent_root.join(format!("checks.d/{name}.py")),
            ),
            (
                fixtures.join(format!("conf.d/{name}.yaml")),
                agent_root.join(format!("conf.d/{name}.yaml")),
            ),
        ] {
            std::fs::copy(&from, &to)
                .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        }
        Ok(())
    }
}

/// One scenario's result.
#[derive(Debug)]
struct Report {
    scenario: String,
    seconds: f64,
    outcome: lab::Outcome,
    /// Set when the scenario could not run to its end.
    error: Option<String>,
}

impl Report {
    fn passed(&self) -> bool {
        self.error.is_none() && self.outcome.failures.is_empty()
    }

    fn to_json(&self) -> Value {
        let figures: serde_json::Map<String, Value> = self
            .outcome
            .figures
            .iter()
            .map(|(name, value)| (key(name), value.clone()))
            .collect();
        json!({
            "scenario": self.scenario,
            "passed": self.passed(),
            "seconds": (self.seconds * 10.0).round() / 10.0,
            "figures": figures,
            "failures": self.outcome.failures,
            "error": self.error,
            "command": format!("cargo xtask chaos {}", self.scenario),
        })
    }

    fn to_text(&self) -> String {
        let mut text = String::new();
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(text, "{verdict} {} ({:.1} s)", self.scenario, self.seconds);
        for (name, value) in &self.outcome.figures {
            let shown = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(text, "    {name}: {shown}");
        }
        for failure in &self.outcome.failures {
            let _ = writeln!(text, "    FAILED: {failure}");
        }
        if let Some(error) = &self.error {
            let _ = writeln!(text, "    ERROR: {error}");
        }
        text
    }
}

/// A figure's name as a JSON key: `a: retry queue peak, bytes` is `a_retry_queue_peak_bytes`.
fn key(name: &str) -> String {
    let mut key = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c.to_ascii_lowercase());
        } else if !key.is_empty() && !key.ends_with('_') {
            key.push('_');
        }
    }
    key.trim_end_matches('_').to_owned()
}

pub(crate) fn run(args: &ChaosArgs) -> anyhow::Result<()> {
    let wanted: Vec<&str> = if args.scenarios.is_empty() {
        SCENARIOS.to_vec()
    } else {
        args.scenarios.iter().map(String::as_str).collect()
    };
    if let Some(unknown) = wanted.iter().find(|name| !SCENARIOS.contains(name)) {
        bail!(
            "no scenario named {unknown:?}; the scenarios are {}",
            SCENARIOS.join(", ")
        );
    }
    if args.outage_seconds < 20 {
        bail!(
            "--outage-seconds must be at least 20: a shorter outage may fall between two of the agents' \
             flushes (every 15 s) and test nothing"
        );
    }
    let root = project_root();
    crate::backend::build(&root, &["ddlab-backend", "ddlab-agent"])?;
    let lab = Lab {
        agent_binary: target_dir(&root).join("debug/ddlab-agent"),
        root,
        python: std::sync::OnceLock::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .context("cannot start the fault suite's runtime")?;
    let started = Instant::now();
    let mut reports = Vec::new();
    for scenario in wanted {
        if !args.json {
            eprintln!("chaos: running {scenario}");
        }
        let began = Instant::now();
        let mut outcome = lab::Outcome::default();
        // Ctrl-C drops the scenario, and with it every process it started: the agents and MariaDB run
        // in process groups of their own, which the terminal's signal does not reach.
        let (result, interrupted) = runtime.block_on(async {
            tokio::select! {
                result = run_scenario(&lab, scenario, args, &mut outcome) => (result, false),
                _ = tokio::signal::ctrl_c() => (Err(anyhow::anyhow!("interrupted: the scenario's processes were stopped")), true),
            }
        });
        let report = Report {
            scenario: scenario.to_owned(),
            seconds: began.elapsed().as_secs_f64(),
            outcome,
            error: result.err().map(|err| format!("{err:#}")),
        };
        if !args.json {
            print!("{}", report.to_text());
        }
        reports.push(report);
        if interrupted {
            break;
        }
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.scenario.as_str())
        .collect();
    if args.json {
        let all: Vec<Value> = reports.iter().map(Report::to_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "passed": failed.is_empty(),
                "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
                "scenarios": all,
            }))?
        );
    } else {
        println!(
            "\n{} of {} scenarios passed in {:.0} s",
            reports.len() - failed.len(),
            reports.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if !failed.is_empty() {
        bail!(
            "chaos scenarios failed: {} (their files are in {})",
            failed.join(", "),
            target_dir(&lab.root).join("chaos").display()
        );
    }
    Ok(())
}

async fn run_scenario(
    lab: &Lab,
    scenario: &str,
    args: &ChaosArgs,
    out: &mut lab::Outcome,
) -> anyhow::Result<()> {
    match scenario {
        "backend-kill" => backend_kill::run(lab, out).await,
        "backend-outage" => backend_outage::run(lab, out, Duration::from_secs(args.outage_seconds)).await,
        "mysql-stop" => mysql_stop::run(lab, out).await,
        "python-checks" => python_checks::run(lab, out).await,
        "dogstatsd-restart" => dogstatsd_restart::run(lab, out).await,
        other => bail!("no scenario named {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn figure_names_become_json_keys() {
        for (name, expected) in [
            ("a: retry queue peak, bytes", "a_retry_queue_peak_bytes"),
            ("stop to CRITICAL (agent), ms", "stop_to_critical_agent_ms"),
            (
                "sent while no agent listened (sent - read - kernel drops)",
                "sent_while_no_agent_listened_sent_read_kernel_drops",
            ),
            ("kills", "kills"),
        ] {
            assert_eq!(super::key(name), expected);
        }
    }
}
