//! After a run, looking for the lab's secrets where nobody should find them: the API and application
//! keys, the MySQL monitoring password and the agent's IPC token must appear in no log file of the lab,
//! no e-mail it sent, no output of `ddlab-agent status`, `configcheck`, `health` or `check`, no error body
//! of the API and no page of the web UI.
//!
//! A leak is reported by where it is (file and line, command, or request) and which secret it is, never
//! with the secret itself, so the report cannot leak it again.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::live::{LabAccess, Live};

/// A value that must not show up, with the name a report gives it. `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    pub name: String,
    value: String,
}

impl Secret {
    pub fn new(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}: ********)", self.name)
    }
}

/// Where a secret was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// A file, a command line or a request.
    pub place: String,
    /// 1-based line of `place`'s text.
    pub line: usize,
    /// The secret's name, e.g. `API key`.
    pub secret: String,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: the {} is in plain text",
            self.place, self.line, self.secret
        )
    }
}

/// What a sweep looked at and what it found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    pub files: usize,
    pub lines: usize,
    pub commands: usize,
    pub answers: usize,
    pub pages: usize,
    pub leaks: Vec<Leak>,
    /// What could not be looked at, and why: a sweep that saw nothing must not pass.
    pub problems: Vec<String>,
}

impl Sweep {
    /// One line for the run's output: what was checked.
    pub fn checked(&self) -> String {
        format!(
            "{} files ({} lines), {} command outputs, {} API error answers, {} UI pages and API reads",
            self.files, self.lines, self.commands, self.answers, self.pages
        )
    }

    /// `None` when nothing leaked and everything could be read; otherwise why the check fails.
    pub fn failure(&self) -> Option<String> {
        if self.leaks.is_empty() && self.problems.is_empty() {
            return None;
        }
        let mut lines: Vec<String> = self.leaks.iter().take(30).map(ToString::to_string).collect();
        if self.leaks.len() > 30 {
            lines.push(format!("... and {} more", self.leaks.len() - 30));
        }
        lines.extend(self.problems.iter().map(|p| format!("could not check: {p}")));
        Some(lines.join("\n"))
    }

    fn text(&mut self, place: &str, text: &str, secrets: &[Secret]) {
        self.leaks.extend(find(place, text, secrets));
    }
}

/// Every line of `text` that holds one of `secrets`.
pub fn find(place: &str, text: &str, secrets: &[Secret]) -> Vec<Leak> {
    let mut leaks = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for secret in secrets.iter().filter(|s| !s.value.is_empty()) {
            if line.contains(&secret.value) {
                leaks.push(Leak {
                    place: place.to_owned(),
                    line: index + 1,
                    secret: secret.name.clone(),
                });
            }
        }
    }
    leaks
}

/// Reads every file under `dir` (recursively) into `sweep`.
pub fn scan_files(dir: &Path, secrets: &[Secret], sweep: &mut Sweep) {
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) => {
                sweep.problems.push(format!("{}: {err}", dir.display()));
                continue;
            }
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    sweep.files += 1;
                    sweep.lines += text.lines().count();
                    sweep.text(&path.display().to_string(), &text, secrets);
                }
                Err(err) => sweep.problems.push(format!("{}: {err}", path.display())),
            }
        }
    }
}

/// The passwords of the solution's `mysql` check instances (`password`, or the old `pass`).
pub fn mysql_passwords(solution: &ddlab_solution::Solution) -> Vec<String> {
    solution
        .check_config("mysql")
        .map(|config| {
            config
                .instances
                .iter()
                .filter_map(|i| i.raw.get("password").or_else(|| i.raw.get("pass")))
                .filter_map(|v| v.as_str())
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The lab's secrets: the keys the harness uses, the MySQL passwords of the solution's `mysql` instances,
/// and the running agent's IPC token.
pub fn lab_secrets(live: &Live, lab: &LabAccess, mysql_passwords: &[String]) -> Vec<Secret> {
    let mut secrets = vec![
        Secret::new("API key", live.api.api_key()),
        Secret::new("application key", live.api.app_key()),
    ];
    for password in mysql_passwords {
        secrets.push(Secret::new(
            "MySQL password of the solution's mysql check",
            password,
        ));
    }
    if let Ok(token) = std::fs::read_to_string(lab.agent.root.join("run/auth_token")) {
        secrets.push(Secret::new("agent's IPC token", token.trim()));
    }
    secrets
}

/// Looks everywhere the lab writes or answers: its logs and mail, the agent's CLI, the API's error answers
/// and the UI's pages.
pub async fn sweep(live: &Live, lab: &LabAccess, secrets: &[Secret]) -> Sweep {
    let mut sweep = Sweep::default();
    scan_files(&lab.state.join("logs"), secrets, &mut sweep);
    match lab.mailbox.messages() {
        Ok(messages) => {
            for mail in messages {
                sweep.files += 1;
                let text = mail.text();
                sweep.lines += text.lines().count();
                sweep.text(&mail.file.display().to_string(), &text, secrets);
            }
        }
        Err(err) => sweep.problems.push(err),
    }
    agent_outputs(live, lab, secrets, &mut sweep).await;
    error_answers(live, secrets, &mut sweep).await;
    pages(live, secrets, &mut sweep).await;
    if sweep.files == 0 {
        sweep
            .problems
            .push(format!("no log file under {}", lab.state.join("logs").display()));
    }
    sweep
}

/// The agent's CLI as its user runs it: `status`, `configcheck`, `health`, `check mysql`.
async fn agent_outputs(live: &Live, lab: &LabAccess, secrets: &[Secret], sweep: &mut Sweep) {
    let commands: &[&[&str]] = &[
        &["status"],
        &["status", "--json"],
        &["configcheck"],
        &["configcheck", "--json"],
        &["health"],
        &["check", "mysql"],
        &["check", "mysql", "--json"],
    ];
    for args in commands {
        let line = format!(
            "{} -c {} {}",
            lab.agent.binary.display(),
            lab.agent.root.display(),
            args.join(" ")
        );
        let mut command = tokio::process::Command::new(&lab.agent.binary);
        command
            .arg("-c")
            .arg(&lab.agent.root)
            .args(*args)
            // As the lab's agent runs: its IPC port, and the API key in the environment.
            .env("DD_CMD_PORT", lab.agent.cmd_port.to_string())
            .env("DD_API_KEY", live.api.api_key())
            .kill_on_drop(true);
        match tokio::time::timeout(Duration::from_secs(120), command.output()).await {
            Ok(Ok(output)) => {
                sweep.commands += 1;
                let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&output.stderr));
                if text.trim().is_empty() {
                    sweep.problems.push(format!("{line} printed nothing"));
                }
                sweep.text(&line, &text, secrets);
            }
            Ok(Err(err)) => sweep.problems.push(format!("{line}: {err}")),
            Err(_) => sweep.problems.push(format!("{line} did not finish within 120 s")),
        }
    }
}

/// Requests that fail, each with both keys in the headers and in the query string, so an answer that
/// echoes its request shows it.
async fn error_answers(live: &Live, secrets: &[Secret], sweep: &mut Sweep) {
    let keys = [
        ("api_key", live.api.api_key()),
        ("application_key", live.api.app_key()),
    ];
    let api_only = [("api_key", live.api.api_key())];
    let wrong = [("api_key", "0123456789abcdef0123456789abcdef")];
    // Method, path, query string, body, and whether the keys also go in the headers.
    type Call<'a> = (Method, &'a str, &'a [(&'a str, &'a str)], Option<Value>, bool);
    let calls: Vec<Call<'_>> = vec![
        (Method::GET, "/api/v1/query", &keys, None, true),
        (Method::GET, "/api/v1/query?query=avg:{", &keys, None, true),
        (
            Method::POST,
            "/api/v1/dashboard",
            &keys,
            Some(json!({"title": 1})),
            true,
        ),
        (
            Method::POST,
            "/api/v1/monitor",
            &keys,
            Some(json!({"type": "metric alert", "query": "not a query"})),
            true,
        ),
        (Method::GET, "/api/v1/monitor/0", &keys, None, true),
        (Method::GET, "/api/v1/no-such-route", &keys, None, true),
        (
            Method::POST,
            "/api/v1/series",
            &keys,
            Some(json!({"series": "x"})),
            true,
        ),
        (
            Method::POST,
            "/ddlab/test/clock",
            &keys,
            Some(json!({"bogus": 1})),
            true,
        ),
        (
            Method::GET,
            "/api/v1/graph/snapshot?metric_query=avg:{",
            &keys,
            None,
            true,
        ),
        (Method::GET, "/api/v1/monitor", &api_only, None, false),
        (Method::GET, "/api/v1/validate", &wrong, None, false),
        (Method::GET, "/api/v1/validate", &[], None, false),
    ];
    for (method, path, query, body, with_keys) in calls {
        let place = format!("{method} {path} (error answer)");
        match live.api.send(method, path, query, body.as_ref(), with_keys).await {
            Ok(answer) => {
                sweep.answers += 1;
                if answer.status.is_success() {
                    sweep
                        .problems
                        .push(format!("{place} answered {}, not an error", answer.status));
                }
                sweep.text(&place, &answer.text(), secrets);
            }
            Err(err) => sweep.problems.push(err.to_string()),
        }
    }
}

/// Every page of the UI (each dashboard and monitor too), and the API reads that show what the lab
/// received: the intake log, hosts and notifications.
async fn pages(live: &Live, secrets: &[Secret], sweep: &mut Sweep) {
    let mut paths: Vec<String> = [
        "/",
        "/infrastructure/map",
        "/metric/explorer",
        "/metric/explorer?q=avg:system.load.1%7B*%7D",
        "/dashboard/lists",
        "/event/stream",
        "/monitors/manage",
        "/monitors/downtimes",
        "/lab/notifications",
        "/lab/intake",
        "/lab/intake?route=/intake/",
        "/apm/services",
        "/login",
        "/ddlab/intake?limit=500",
        "/ddlab/notifications",
        "/api/v1/hosts",
        "/api/v1/dashboard",
        "/api/v1/monitor",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    if let Ok(boards) = live.api.get("/api/v1/dashboard", &[]).await {
        for board in boards["dashboards"].as_array().into_iter().flatten() {
            if let Some(id) = board["id"].as_str() {
                paths.push(format!("/dashboard/{id}"));
            }
        }
    }
    if let Ok(monitors) = live.api.get("/api/v1/monitor", &[]).await {
        for monitor in monitors.as_array().into_iter().flatten() {
            if let Some(id) = monitor["id"].as_i64() {
                paths.push(format!("/monitors/{id}"));
            }
        }
    }
    if let Ok(services) = live.api.get("/ddlab/apm/services", &[]).await {
        for service in services["services"].as_array().into_iter().flatten() {
            if let Some(name) = service["service"].as_str() {
                paths.push(format!("/apm/services/{name}"));
            }
        }
    }
    for path in paths {
        match live.api.send(Method::GET, &path, &[], None, true).await {
            Ok(answer) => {
                sweep.pages += 1;
                if !(answer.status.is_success() || answer.status.is_redirection()) {
                    sweep
                        .problems
                        .push(format!("GET {path} answered {}", answer.status));
                }
                sweep.text(&format!("GET {path}"), &answer.text(), secrets);
            }
            Err(err) => sweep.problems.push(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Vec<Secret> {
        vec![
            Secret::new("API key", "0123456789abcdef0123456789abcdef"),
            Secret::new("MySQL password", "datadog-lab"),
            Secret::new("empty", ""),
        ]
    }

    #[test]
    fn finds_each_secret_by_line_and_never_shows_it() {
        let text = "started\nkey=0123456789abcdef0123456789abcdef\n\nmysql://datadog:datadog-lab@127.0.0.1\n";
        let leaks = find("logs/agent.log", text, &secrets());
        let shown: Vec<String> = leaks.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "logs/agent.log:2: the API key is in plain text",
                "logs/agent.log:4: the MySQL password is in plain text",
            ]
        );
        let sweep = Sweep {
            leaks,
            ..Sweep::default()
        };
        let failure = sweep.failure().unwrap();
        assert!(
            !failure.contains("0123456789abcdef") && !failure.contains("datadog-lab"),
            "{failure}"
        );
        assert_eq!(
            format!("{:?}", secrets()[0]),
            "Secret(API key: ********)",
            "Debug hides the value"
        );
    }

    #[test]
    fn a_clean_sweep_passes_and_one_that_saw_nothing_fails() {
        assert_eq!(find("x", "password: ********\n", &secrets()), Vec::new());
        assert_eq!(Sweep::default().failure(), None);
        let blind = Sweep {
            problems: vec!["no log file under /lab/logs".to_owned()],
            ..Sweep::default()
        };
        assert_eq!(
            blind.failure().as_deref(),
            Some("could not check: no log file under /lab/logs")
        );
    }

    #[test]
    fn scans_every_file_below_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("nested")).unwrap();
        std::fs::write(dir.path().join("a.log"), "fine\nfine\n").unwrap();
        std::fs::write(dir.path().join("nested/b.log"), "x\npass datadog-lab\n").unwrap();
        let mut sweep = Sweep::default();
        scan_files(dir.path(), &secrets(), &mut sweep);
        assert_eq!((sweep.files, sweep.lines), (2, 4));
        assert_eq!(
            sweep.leaks,
            [Leak {
                place: dir.path().join("nested/b.log").display().to_string(),
                line: 2,
                secret: "MySQL password".to_owned(),
            }]
        );
    }
}
