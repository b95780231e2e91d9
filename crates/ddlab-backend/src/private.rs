//! Folders and files of the state folder, created readable by their owner only (0700 and 0600).
//!
//! The state folder holds the keys, the database, the notifications sent and the graph snapshots; the
//! folder itself is 0700, and what is created inside it is private too, so copying or moving part of it
//! out (a backup, a support bundle) never widens who may read it.

use std::io::Write as _;
use std::path::Path;

/// Creates `dir` and its missing parents with mode 0700.
pub(crate) fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes `bytes` to `path`, created with mode 0600 if missing (an existing file keeps its mode).
pub(crate) fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)
}
