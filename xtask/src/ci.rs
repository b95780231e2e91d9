//! `cargo xtask ci`: formatting, clippy with warnings denied, and every unit and in-process test.
//!
//! The e2e scenarios are not part of this task: they need a stack and run with `cargo test --test e2e`.

use std::process::Command;

use anyhow::{Context, bail};

use crate::project_root;

pub(crate) fn run() -> anyhow::Result<()> {
    let steps: [(&str, &[&str]); 4] = [
        ("formatting", &["fmt", "--all", "--check"]),
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
        let status = Command::new(cargo())
            .args(args)
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
