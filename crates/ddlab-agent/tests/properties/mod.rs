//! What the fuzzer checks of the agent's YAML configuration loader, on any text: shared by the
//! `agent_config` fuzz target (`fuzz/src/lib.rs` compiles this file) and `tests/fuzz_inputs.rs`, which runs
//! every committed input.
//!
//! A property that does not hold panics with the input and what went wrong; otherwise the function
//! returns a one-line summary of the outcome, which the regression test compares with its snapshot.

use std::path::Path;

use ddlab_agent::config::{AgentConfig, ConfigError, Problem, Severity, checks};

/// The config root the text is read as if it were found in.
const ROOT: &str = "/etc/datadog-agent";

/// The same text as `datadog.yaml` and as a check's `conf.d` file: each loads, or fails with a problem
/// located in that file; every warning is located in it too.
pub fn agent_config(bytes: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return "not UTF-8".to_owned();
    };
    let root = Path::new(ROOT);
    let main = root.join("datadog.yaml");
    // YAML breaks lines at `\r\n`, `\n` and a lone `\r`, and so do the problems' line numbers.
    let lines = text.replace("\r\n", "\n").replace('\r', "\n").lines().count() as u64;
    let main_outcome = match AgentConfig::from_yaml(root, &main, text, &|_| None) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                check_problem(text, &main, lines, warning, Severity::Warning);
            }
            assert!(
                loaded.config.check_runners >= 1 || text.contains("check_runners"),
                "{text:?}: check_runners is 0 though the text never sets it"
            );
            format!("ok, {} warnings", loaded.warnings.len())
        }
        Err(ConfigError::Invalid(problem)) => {
            check_problem(text, &main, lines, &problem, Severity::Error);
            format!("error {problem}")
        }
        Err(other) => panic!("{text:?}: reading text with no environment failed with {other}"),
    };
    let check_file = root.join("conf.d/my_check.yaml");
    let mut problems = Vec::new();
    let check = checks::read_check_file("my_check", &check_file, text, &mut problems);
    for problem in &problems {
        let severity = problem.severity;
        check_problem(text, &check_file, lines, problem, severity);
    }
    let check_outcome = match check {
        Some(config) => {
            assert!(
                config.name == "my_check" && config.source == check_file && !config.instances.is_empty(),
                "{text:?}: a loaded check must keep its name and file and have an instance: {config:?}"
            );
            assert!(
                config.instances.iter().all(|i| !i.interval.is_zero()),
                "{text:?}: an instance runs every 0 s: {config:?}"
            );
            format!("{} instances", config.instances.len())
        }
        None => {
            assert!(
                problems.iter().any(|p| p.severity == Severity::Error),
                "{text:?}: the check file was not loaded, and no error says why: {problems:?}"
            );
            "not loaded".to_owned()
        }
    };
    format!(
        "datadog.yaml {main_outcome}; conf.d {check_outcome}, {} problems",
        problems.len()
    )
}

/// A problem names the file it is about and, when it has a line, a line of that file.
fn check_problem(text: &str, path: &Path, lines: u64, problem: &Problem, severity: Severity) {
    assert!(
        problem.path == path && problem.severity == severity,
        "{text:?}: {problem:?} should be a {severity:?} about {}",
        path.display()
    );
    if let Some(line) = problem.line {
        assert!(
            (1..=lines + 1).contains(&line),
            "{text:?}: {problem:?} names line {line} of a text of {lines} lines"
        );
    }
    assert!(
        !problem.message.is_empty(),
        "{text:?}: {problem:?} has no message"
    );
}
