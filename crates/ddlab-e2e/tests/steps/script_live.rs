//! The solution's own API script, run against the lab as the candidate would run it.

use std::time::Duration;

use cucumber::{then, when};
use tokio::process::Command;

use super::Lab;

/// How long a creation script may take.
const SCRIPT_LIMIT: Duration = Duration::from_secs(120);

/// The outcome of the script: its exit status and output.
#[derive(Debug, Clone)]
pub(crate) struct ScriptRun {
    pub script: String,
    pub success: bool,
    pub output: String,
}

#[when("the solution's API script runs against the lab")]
async fn run_script(lab: &mut Lab) {
    let solution = lab.solution();
    let script = ["api/apply.py", "api/create.py", "api/main.py"]
        .iter()
        .map(|p| solution.root.join(p))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("the solution has no API script (api/apply.py): EX-12 asks for the script that creates the Timeboard"));
    let live = lab.live().clone();
    let python = live.lab("the lab's Python").python.clone();
    let mut command = Command::new(&python);
    command
        .arg(&script)
        .current_dir(script.parent().unwrap_or(&solution.root))
        .env("DD_API_KEY", live.api.api_key())
        .env("DD_APP_KEY", live.api.app_key())
        .env("DATADOG_API_KEY", live.api.api_key())
        .env("DATADOG_APP_KEY", live.api.app_key())
        .env("DD_API_URL", live.api.base())
        .env("DATADOG_HOST", live.api.base())
        .env("DD_HOST", live.api.base())
        .env("EMAIL", &live.email)
        .env("HOST", &live.host)
        .kill_on_drop(true);
    let output = tokio::time::timeout(SCRIPT_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{} ran for more than {} s",
                script.display(),
                SCRIPT_LIMIT.as_secs()
            )
        })
        .unwrap_or_else(|err| panic!("cannot run {} {}: {err}", python.display(), script.display()));
    lab.script = Some(ScriptRun {
        script: solution.relative(&script).display().to_string(),
        success: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    });
}

#[then("the script succeeds")]
async fn succeeds(lab: &mut Lab) {
    let run = lab
        .script
        .clone()
        .unwrap_or_else(|| panic!("no script ran in an earlier step"));
    assert!(run.success, "{} failed:\n{}", run.script, run.output);
}
