//! The lab's Python virtualenv: created once, reinstalled only when its requirement files change.
//!
//! Requirement files are hash-pinned and installed with `--require-hashes`, so the environment is the same
//! on every machine or the install fails. A stamp file in the virtualenv records the exact requirement
//! texts it was built from; when they match, [`ensure`] does nothing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A requirements file and how to install it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    pub path: PathBuf,
    /// Install exactly the listed files, without resolving dependencies (the check host's packages
    /// would otherwise pull in every integration's dependencies).
    pub no_deps: bool,
}

/// The requirement files of the lab's own virtualenv, relative to the workspace root: the agent's check
/// host, then the official clients and the mail sink.
pub fn lab_requirements(root: &Path) -> Vec<Requirements> {
    vec![
        Requirements {
            path: root.join("crates/ddlab-agent/python/requirements.txt"),
            no_deps: true,
        },
        Requirements {
            path: root.join("crates/ddlab-stack/python/clients.txt"),
            no_deps: false,
        },
    ]
}

/// What [`ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venv {
    /// The virtualenv's interpreter.
    pub python: PathBuf,
    /// False when the virtualenv was already up to date.
    pub changed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum VenvError {
    #[error("cannot read the requirements file {}: {source}", path.display())]
    Requirements { path: PathBuf, source: std::io::Error },
    #[error(
        "cannot run `{command}`: {source} (is Python 3 with its venv module installed? On Debian: apt-get install -y python3-venv)"
    )]
    Spawn { command: String, source: std::io::Error },
    #[error("`{command}` failed ({status}):\n{output}")]
    Failed {
        command: String,
        status: String,
        output: String,
    },
    #[error("cannot write {}: {source}", path.display())]
    Stamp { path: PathBuf, source: std::io::Error },
}

/// The stamp file inside the virtualenv.
const STAMP: &str = "ddlab-requirements.stamp";

/// Makes `dir` a virtualenv holding exactly `requirements`, creating it with `base_python` if needed.
pub fn ensure(dir: &Path, base_python: &str, requirements: &[Requirements]) -> Result<Venv, VenvError> {
    let mut wanted = String::new();
    let mut installs = Vec::with_capacity(requirements.len());
    for req in requirements {
        let text = read_requirements(&req.path)?;
        wanted.push_str(&format!(
            "# {} no_deps={}\n{text}\n",
            req.path.display(),
            req.no_deps
        ));
        let mut args: Vec<OsString> = vec!["--require-hashes".into()];
        if req.no_deps {
            args.push("--no-deps".into());
        }
        args.extend(["-r".into(), req.path.clone().into_os_string()]);
        installs.push(args);
    }
    build(dir, base_python, wanted, installs)
}

/// Makes `dir` a virtualenv with a requirements file installed as pip resolves it (a candidate's app
/// requirements, pinned by version but not by hash). Reinstalls only when the file changes.
pub fn ensure_unhashed(dir: &Path, base_python: &str, requirements: &Path) -> Result<Venv, VenvError> {
    let wanted = read_requirements(requirements)?;
    let installs = vec![vec!["-r".into(), requirements.as_os_str().to_owned()]];
    build(dir, base_python, wanted, installs)
}

fn read_requirements(path: &Path) -> Result<String, VenvError> {
    std::fs::read_to_string(path).map_err(|source| VenvError::Requirements {
        path: path.to_owned(),
        source,
    })
}

/// Creates the virtualenv if needed and runs one `pip install` per argument list, unless the stamp says
/// it was already built from `wanted`; then records `wanted` in the stamp.
fn build(
    dir: &Path,
    base_python: &str,
    wanted: String,
    installs: Vec<Vec<OsString>>,
) -> Result<Venv, VenvError> {
    let python = dir.join("bin").join("python");
    let stamp = dir.join(STAMP);
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|have| have == wanted) {
        return Ok(Venv {
            python,
            changed: false,
        });
    }
    if !python.exists() {
        run(Command::new(base_python).arg("-m").arg("venv").arg(dir))?;
    }
    for args in installs {
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(args))?;
    }
    std::fs::write(&stamp, wanted).map_err(|source| VenvError::Stamp { path: stamp, source })?;
    Ok(Venv {
        python,
        changed: true,
    })
}

fn run(command: &mut Command) -> Result<(), VenvError> {
    let shown = format!("{command:?}").replace('"', "");
    let output = command.output().map_err(|source| VenvError::Spawn {
        command: shown.clone(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    // The end of pip's output says what went wrong.
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    Err(VenvError::Failed {
        command: shown,
        status: output.status.to_string(),
        output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_requirement_is_pinned_by_hash() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for req in lab_requirements(&root) {
            let text = std::fs::read_to_string(&req.path).unwrap();
            let entries: Vec<&str> = text
                .split('\n')
                .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#') && !l.starts_with(' '))
                .collect();
            assert!(!entries.is_empty(), "{} lists nothing", req.path.display());
            for entry in entries {
                assert!(
                    entry.contains("=="),
                    "{}: {entry:?} is not pinned",
                    req.path.display()
                );
                assert!(
                    entry.ends_with('\\'),
                    "{}: {entry:?} has no hash",
                    req.path.display()
                );
            }
        }
    }

    #[test]
    fn a_missing_requirements_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.txt");
        let err = ensure(
            &dir.path().join("venv"),
            "python3",
            &[Requirements {
                path: missing.clone(),
                no_deps: false,
            }],
        )
        .unwrap_err();
        assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
    }

    #[test]
    fn a_bad_interpreter_is_reported_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let reqs = dir.path().join("r.txt");
        std::fs::write(&reqs, "").unwrap();
        let err = ensure(
            &dir.path().join("venv"),
            "/nonexistent/python3",
            &[Requirements {
                path: reqs,
                no_deps: false,
            }],
        )
        .unwrap_err();
        assert!(err.to_string().contains("python3-venv"), "{err}");
    }
}
