//! `cargo xtask ci`: formatting, clippy with warnings denied, and every unit and in-process test.
//!
//! The e2e scenarios are not part of this task: they need a stack and run with `cargo test --test e2e`.

use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::project_root;

pub(crate) fn run() -> anyhow::Result<()> {
    let steps: [(&str, &[&str]); 5] = [
        ("formatting", &["fmt", "--all", "--check"]),
        // The fuzz crate has a lock file of its own (it is outside the workspace): a dependency added to a
        // crate it builds must reach that lock too, or `cargo xtask fuzz` fails on a clean clone.
        (
            "fuzz lock file",
            &[
                "metadata",
                "--locked",
                "--format-version",
                "1",
                "--manifest-path",
                "fuzz/Cargo.toml",
            ],
        ),
        (
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        ),
        // `--all-targets` skips test targets marked `test = false`, such as the e2e harness.
        (
            "clippy (e2e)",
            &[
                "clippy",
                "--locked",
                "--package",
                "ddlab-e2e",
                "--test",
                "e2e",
                "--",
                "-D",
                "warnings",
            ],
        ),
        ("tests", &["test", "--workspace", "--locked"]),
    ];
    for (name, args) in steps {
        println!("==> {name}: cargo {}", args.join(" "));
        // `cargo metadata` answers with the whole dependency graph: only its verdict matters here.
        let stdout = if args[0] == "metadata" {
            Stdio::null()
        } else {
            Stdio::inherit()
        };
        let status = Command::new(cargo())
            .args(args)
            .stdout(stdout)
            .current_dir(project_root())
            .status()
            .with_context(|| format!("cannot run cargo for {name}"))?;
        if !status.success() {
            bail!("{name} failed (cargo {})", args.join(" "));
        }
    }
    println!("==> ci: formatting, clippy and tests passed");
    Ok(())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}
