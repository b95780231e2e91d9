//! The Python files of the check host, compiled into the binary and written out at start.
//!
//! Embedding them means an installed `ddlab-agent` needs nothing beside it: the host writes these
//! files to its runtime folder and puts that folder first on `PYTHONPATH`. The sources live in
//! `crates/ddlab-agent/python/`.

use std::io;
use std::path::{Path, PathBuf};

/// The program the interpreter runs.
pub(crate) const HOST_SCRIPT: &str = "ddlab_check_host.py";

/// Every file, by its path relative to the modules folder.
const FILES: &[(&str, &str)] = &[
    ("aggregator.py", include_str!("../../python/aggregator.py")),
    ("datadog_agent.py", include_str!("../../python/datadog_agent.py")),
    ("ddlab_runtime.py", include_str!("../../python/ddlab_runtime.py")),
    (
        "ddlab_obfuscate.py",
        include_str!("../../python/ddlab_obfuscate.py"),
    ),
    (HOST_SCRIPT, include_str!("../../python/ddlab_check_host.py")),
    (
        "checks/__init__.py",
        include_str!("../../python/checks/__init__.py"),
    ),
];

/// Writes the modules into `dir`, replacing older copies. Each file is written beside its final
/// name and renamed, so a host starting at the same time never reads half a file.
pub(crate) async fn write(dir: &Path) -> io::Result<()> {
    for (relative, text) in FILES {
        let path = dir.join(relative);
        let folder = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.to_path_buf());
        tokio::fs::create_dir_all(&folder).await?;
        let temporary = temporary_name(&path);
        tokio::fs::write(&temporary, text).await?;
        tokio::fs::rename(&temporary, &path).await?;
    }
    Ok(())
}

fn temporary_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp-{}", std::process::id()));
    PathBuf::from(name)
}
