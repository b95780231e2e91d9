//! Steps about the Agent's own configuration: host tags, and keys that must not be committed.

use std::path::Path;

use cucumber::then;

use super::Lab;

#[then(expr = "the Agent configuration has at least {int} host tag(s)")]
fn host_tags(lab: &mut Lab, at_least: usize) {
    let agent = lab
        .solution()
        .agent
        .as_ref()
        .unwrap_or_else(|| panic!("the solution has no datadog.yaml"));
    let tags = agent.config.host_tags();
    assert!(
        tags.len() >= at_least,
        "datadog.yaml gives {} host tags ({tags:?}); add them under `tags:` as a YAML list, e.g.\n  tags:\n    - env:dev",
        tags.len()
    );
}

#[then("the Agent configuration reads without warnings")]
fn no_warnings(lab: &mut Lab) {
    let agent = lab
        .solution()
        .agent
        .as_ref()
        .unwrap_or_else(|| panic!("the solution has no datadog.yaml"));
    let warnings: Vec<String> = agent.warnings.iter().map(ToString::to_string).collect();
    assert!(warnings.is_empty(), "datadog.yaml:\n{}", warnings.join("\n"));
}

#[then("no file of the solution contains a Datadog API or application key")]
fn no_keys(lab: &mut Lab) {
    let solution = lab.solution();
    let mut found = Vec::new();
    scan(&solution.root, &mut |path, text| {
        for (index, line) in text.lines().enumerate() {
            if ddlab_solution::secrets::looks_like_a_key(line) {
                found.push(format!("{}:{}", solution.relative(path).display(), index + 1));
            }
        }
    });
    assert!(
        found.is_empty(),
        "a Datadog key seems committed at {}: read keys from the environment (DD_API_KEY, DD_APP_KEY) and \
         revoke the committed ones",
        found.join(", ")
    );
}

fn scan(dir: &Path, visit: &mut dyn FnMut(&Path, &str)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            scan(&path, visit);
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            visit(&path, &text);
        }
    }
}
