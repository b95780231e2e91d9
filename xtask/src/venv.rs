//! `cargo xtask venv`: creates or updates the lab's Python virtualenv in `.ddlab/venv`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ddlab_stack::venv;

/// The lab's virtualenv folder, inside the project's state folder.
pub(crate) fn dir(root: &Path) -> PathBuf {
    root.join(".ddlab").join("venv")
}

/// Ensures the virtualenv and returns its interpreter.
pub(crate) fn ensure(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = dir(root);
    let base = std::env::var("DDLAB_BASE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let built = venv::ensure(&dir, &base, &venv::lab_requirements(root))
        .with_context(|| format!("cannot prepare the lab's virtualenv in {}", dir.display()))?;
    if built.changed {
        eprintln!("venv: installed the pinned requirements into {}", dir.display());
    }
    Ok(built.python)
}

pub(crate) fn run() -> anyhow::Result<()> {
    let python = ensure(&crate::project_root())?;
    println!("{}", python.display());
    Ok(())
}
