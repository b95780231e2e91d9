//! Tidy: the project's style rules and fixture sanity, checked as ordinary tests (`cargo test -p xtask`).

use std::path::{Path, PathBuf};

use crate::{files_under, project_root};

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let offenders: Vec<String> = rust_files()
        .into_iter()
        .filter(|path| !read(path).trim_start().starts_with("//!"))
        .map(|path| relative(&path))
        .collect();
    assert!(
        offenders.is_empty(),
        "these files must start with a `//!` line saying what they are for:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn no_ignored_or_should_panic_tests() {
    // Spelled in pieces so this file does not match itself.
    let forbidden = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
    let mut offenders = Vec::new();
    for path in rust_files() {
        for (index, line) in read(&path).lines().enumerate() {
            if forbidden.iter().any(|f| line.contains(f)) {
                offenders.push(format!("{}:{}: {}", relative(&path), index + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "tests must be able to fail: fix the test or assert the error value instead:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_fixture_parses() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in files_under(&project_root().join("fixtures")) {
        let text = read(&path);
        let result = match extension(&path) {
            "json" => serde_json::from_str::<serde_json::Value>(&text)
                .map(drop)
                .map_err(|e| e.to_string()),
            "yaml" | "yml" => serde_saphyr::from_str::<serde_json::Value>(&text)
                .map(drop)
                .map_err(|e| e.to_string()),
            _ => continue,
        };
        checked += 1;
        if let Err(err) = result {
            problems.push(format!("{}: {err}", relative(&path)));
        }
    }
    assert!(
        problems.is_empty(),
        "fixtures that do not parse:\n{}",
        problems.join("\n")
    );
    assert!(
        checked >= 8,
        "expected the reference solution's YAML and JSON files, found {checked}"
    );
}

#[test]
fn no_api_keys_in_fixtures() {
    // Candidates committing real keys is a classic pitfall; our own fixtures must never do it.
    // The exception: a flawed sample whose expected failure is EX-2 carries a made-up key on purpose.
    let samples = project_root().join("fixtures/solutions");
    let deliberate = |path: &Path| {
        path.strip_prefix(&samples)
            .ok()
            .and_then(|rest| rest.components().next())
            .is_some_and(|sample| {
                let expected = samples.join(sample).join("expected-failures");
                std::fs::read_to_string(expected)
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.trim() == "EX-2")
            })
    };
    let mut offenders = Vec::new();
    for path in files_under(&project_root().join("fixtures")) {
        if deliberate(&path) {
            continue;
        }
        for (index, line) in read(&path).lines().enumerate() {
            if ddlab_solution::secrets::looks_like_a_key(line) {
                offenders.push(format!("{}:{}", relative(&path), index + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "a Datadog key seems to be committed at:\n{}",
        offenders.join("\n")
    );
}

fn rust_files() -> Vec<PathBuf> {
    let root = project_root();
    let files: Vec<PathBuf> = ["crates", "xtask", "fuzz"]
        .iter()
        .flat_map(|dir| files_under(&root.join(dir)))
        .filter(|path| extension(path) == "rs")
        .collect();
    assert!(!files.is_empty(), "no Rust files found under {}", root.display());
    files
}

fn extension(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or_default()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

fn relative(path: &Path) -> String {
    path.strip_prefix(project_root())
        .unwrap_or(path)
        .display()
        .to_string()
}
