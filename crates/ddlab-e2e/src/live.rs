//! What the live scenarios talk to: a running lab (or a real Datadog organisation), reached only over
//! public protocols — the Datadog API, the app's HTTP port, DogStatsD, MySQL and the mail sink's folder —
//! and, for the secrets sweep after the run, the lab's logs and the agent's command line, as its user
//! would read them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::api::{Api, ApiError};
use crate::mailbox::Mailbox;

/// The system under test, shared by every live scenario of a run.
#[derive(Debug, Clone)]
pub struct Live {
    pub api: Api,
    /// The hostname the agent reports under.
    pub host: String,
    /// The address notifications go to (`@<email>` in the payloads).
    pub email: String,
    /// What only the lab has; `None` against a real Datadog organisation.
    pub lab: Option<LabAccess>,
    /// Unique to this run: added to the names of what scenarios create, so runs never read each other's
    /// objects or e-mails.
    pub run: String,
}

/// The lab-only parts: the mail sink, the app and DogStatsD ports, and the test clock.
#[derive(Debug, Clone)]
pub struct LabAccess {
    pub mailbox: Mailbox,
    pub app_url: String,
    pub dogstatsd: SocketAddr,
    /// Whether the backend runs with its movable test clock (`--test-mode`).
    pub test_clock: bool,
    /// The lab's Python (with the official Datadog clients), for the solution's scripts.
    pub python: PathBuf,
    /// The lab's state folder, whose `logs/` the secrets sweep reads after the run.
    pub state: PathBuf,
    /// The agent's command line, as its user runs `status` and `configcheck`.
    pub agent: AgentCli,
    /// The lab's MySQL server (TCP, loopback).
    pub mysql: SocketAddr,
}

/// How to run the lab agent's CLI: `<binary> -c <root> status` with `DD_CMD_PORT=<cmd_port>`.
#[derive(Debug, Clone)]
pub struct AgentCli {
    pub binary: PathBuf,
    /// The agent's config root (the solution's files, staged).
    pub root: PathBuf,
    pub cmd_port: u16,
}

impl Live {
    /// The lab-only parts, or a step failure that says why the scenario needs the lab.
    pub fn lab(&self, needs: &str) -> &LabAccess {
        self.lab
            .as_ref()
            .unwrap_or_else(|| panic!("{needs} exists only in the lab, not in a Datadog organisation"))
    }

    /// The backend's clock, seconds since the epoch (the test clock when the lab runs one).
    pub async fn now(&self) -> Result<i64, ApiError> {
        if self.lab.as_ref().is_some_and(|l| l.test_clock) {
            let clock = self.api.get("/ddlab/test/clock", &[]).await?;
            if let Some(now) = clock["now"].as_i64() {
                return Ok(now);
            }
        }
        Ok(wall_clock())
    }

    /// Sets the test clock (lab in test mode only).
    pub async fn set_clock(&self, now: i64) -> Result<(), String> {
        self.needs_clock()?;
        self.api
            .post("/ddlab/test/clock", &json!({ "now": now }))
            .await
            .map(drop)
            .map_err(|err| err.to_string())
    }

    /// Runs one monitor evaluation pass and one delivery pass now, at the test clock's time.
    pub async fn evaluate_monitors(&self) -> Result<Value, String> {
        self.needs_clock()?;
        self.api
            .post("/ddlab/test/monitors/evaluate", &json!({}))
            .await
            .map_err(|err| err.to_string())
    }

    fn needs_clock(&self) -> Result<(), String> {
        match &self.lab {
            Some(lab) if lab.test_clock => Ok(()),
            Some(_) => Err(
                "this scenario moves the backend's clock, but the running lab was started without \
                 --test-mode: run `cargo xtask down`, then `cargo xtask up --test-mode` (or let the e2e run \
                 start its own lab)"
                    .to_owned(),
            ),
            None => Err(
                "this scenario moves the backend's clock, which a Datadog organisation does not have"
                    .to_owned(),
            ),
        }
    }
}

/// Seconds since the epoch on this machine.
pub fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A run id: the start time and process id, short enough for names and tags.
pub fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    format!("{:x}{:x}", nanos % 0xff_ffff, std::process::id() % 0xfff)
}
