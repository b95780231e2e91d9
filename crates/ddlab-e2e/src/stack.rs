//! Finding or starting what the live scenarios run against: the lab already running in the checkout's
//! state folder, a lab started for this run (and stopped after it), or a real Datadog organisation.

use std::path::{Path, PathBuf};
use std::process::Command;

use ddlab_solution::Solution;
use ddlab_stack::local::Lab;
use ddlab_stack::ports::Ports;
use reqwest::Method;

use crate::api::Api;
use crate::live::{AgentCli, LabAccess, Live, run_id};
use crate::mailbox::Mailbox;

/// The address notifications go to in the lab (`$EMAIL` in the payloads).
pub const LAB_EMAIL: &str = "candidate@ddlab.test";

/// The system under test and, when this run started a lab, the lab to stop afterwards.
#[derive(Debug)]
pub struct Target {
    pub live: Live,
    started: Option<Lab>,
}

impl Target {
    /// Stops the lab this run started (its data is kept, as `cargo xtask down` does).
    pub fn finish(self, progress: &mut dyn FnMut(&str)) {
        if let Some(lab) = self.started {
            if std::env::var_os("DDLAB_E2E_KEEP").is_some() {
                progress("leaving the lab up (DDLAB_E2E_KEEP is set); stop it with `cargo xtask down`");
                return;
            }
            if let Err(err) = lab.down(false, progress) {
                progress(&format!("stopping the lab failed: {err}"));
            }
        }
    }
}

/// The lab of this checkout: the one running in `.ddlab` (`cargo xtask up --test-mode`), or a fresh one
/// started now in test mode on `solution`, with its own state under `target/e2e/lab` (wiped first, so
/// no earlier run's data can make a scenario pass), sharing the checkout's virtualenvs.
pub async fn lab(
    project: &Path,
    solution: &Solution,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Target, String> {
    let solution_dir = solution
        .root
        .canonicalize()
        .unwrap_or_else(|_| solution.root.clone());
    let ports = Ports::from_env().map_err(|err| err.to_string())?;
    let shared = Lab {
        project: project.to_path_buf(),
        state: project.join(".ddlab"),
        venvs: project.join(".ddlab"),
        binaries: ddlab_stack::local::target_dir(project).join("debug"),
        solution: solution_dir.clone(),
        ports,
        test_mode: true,
    };
    let (lab, started) = if ddlab_stack::process::running(&shared.files("backend").pid_file).is_some() {
        if let Some(other) = shared.running_solution().filter(|s| *s != shared.solution) {
            return Err(format!(
                "the running lab runs the solution in {}, not {}: stop it with `cargo xtask down` and run again",
                other.display(),
                shared.solution.display()
            ));
        }
        progress(&format!(
            "using the lab that is already running in {} (stop it with `cargo xtask down` to let this run start its own)",
            shared.state.display()
        ));
        (shared, None)
    } else {
        let own = Lab {
            state: ddlab_stack::local::target_dir(project).join("e2e/lab"),
            ..shared
        };
        progress(&format!(
            "starting a lab in test mode for this run in {} (stopped at the end)",
            own.state.display()
        ));
        own.down(true, &mut |_| {})
            .map_err(|err| format!("cannot clear {}: {err}", own.state.display()))?;
        build_binaries(project)?;
        let up = own.clone();
        let mut lines = Vec::new();
        let (outcome, lines) = tokio::task::spawn_blocking(move || {
            let outcome = up.up(&mut |step| lines.push(step.to_owned()));
            (outcome, lines)
        })
        .await
        .map_err(|err| format!("the lab's start-up task failed: {err}"))?;
        for line in &lines {
            progress(line);
        }
        if let Err(err) = outcome {
            if let Err(stop) = own.down(false, &mut |_| {}) {
                progress(&format!("stopping the half-started lab failed: {stop}"));
            }
            return Err(format!("the lab did not come up: {err}"));
        }
        (own.clone(), Some(own))
    };
    let (api_key, app_key) = lab.keys().ok_or_else(|| {
        format!(
            "the backend has not written its keys in {}",
            lab.state.join("backend").display()
        )
    })?;
    let api = Api::new(&lab.backend_url(), &api_key, &app_key);
    let clock = api
        .send(Method::GET, "/ddlab/test/clock", &[], None, true)
        .await
        .map_err(|err| format!("the backend does not answer: {err}"))?;
    let test_clock = clock.status.is_success();
    if !test_clock {
        progress(
            "note: the running backend has no test clock (it was started without --test-mode); scenarios that move time will fail",
        );
    }
    let live = Live {
        api,
        host: hostname(solution),
        email: LAB_EMAIL.to_owned(),
        lab: Some(LabAccess {
            mailbox: Mailbox::new(&lab.mail_dir()),
            app_url: format!("http://127.0.0.1:{}", lab.ports.get("app")),
            dogstatsd: std::net::SocketAddr::from(([127, 0, 0, 1], lab.ports.get("dogstatsd"))),
            test_clock,
            python: lab.venv_dir().join("bin/python"),
            state: lab.state.clone(),
            agent: AgentCli {
                binary: lab.binaries.join("ddlab-agent"),
                root: lab.state.join("agent"),
                cmd_port: lab.ports.get("agent-ipc"),
            },
            mysql: std::net::SocketAddr::from(([127, 0, 0, 1], lab.ports.get("mysql"))),
        }),
        run: run_id(),
    };
    Ok(Target { live, started })
}

/// A real Datadog organisation, from `DD_API_KEY`, `DD_APP_KEY`, `DD_SITE` (or `DD_API_URL`) and the
/// address that receives notifications, `DDLAB_EMAIL`.
pub fn datadog(solution: &Solution) -> Result<Target, String> {
    let var =
        |name: &str| std::env::var(name).map_err(|_| format!("--datadog needs {name} in the environment"));
    let base = std::env::var("DD_API_URL").unwrap_or_else(|_| {
        format!(
            "https://api.{}",
            std::env::var("DD_SITE").unwrap_or_else(|_| "datadoghq.com".to_owned())
        )
    });
    Ok(Target {
        live: Live {
            api: Api::new(&base, &var("DD_API_KEY")?, &var("DD_APP_KEY")?),
            host: hostname(solution),
            email: var("DDLAB_EMAIL")?,
            lab: None,
            run: run_id(),
        },
        started: None,
    })
}

/// The hostname the solution's agent reports: `DD_HOSTNAME`, else `hostname:` in datadog.yaml, else the
/// machine's name, as the agent resolves it.
pub fn hostname(solution: &Solution) -> String {
    if let Ok(name) = std::env::var("DD_HOSTNAME") {
        return name;
    }
    match &solution.agent {
        Some(loaded) => ddlab_agent::metadata::resolve_hostname(&loaded.config),
        None => ddlab_agent::metadata::system_hostname().unwrap_or_else(|| "localhost".to_owned()),
    }
}

/// Builds the backend and agent binaries the lab starts (quick when they are up to date).
fn build_binaries(project: &Path) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .args(["build", "--locked", "-p", "ddlab-backend", "-p", "ddlab-agent"])
        .current_dir(project)
        .status()
        .map_err(|err| format!("cannot run {cargo} build: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("building the lab's binaries (cargo build -p ddlab-backend -p ddlab-agent) failed".to_owned())
    }
}

/// The checkout this crate is in.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}
