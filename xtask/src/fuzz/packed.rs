//! The committed corpus as one text file per target, `fuzz/corpus/<target>.txt`, instead of thousands
//! of small files: one input per line, printable ASCII as is, `\\` for a backslash and `\xHH` for every
//! other byte (newlines included). Lines are sorted, so a merge's diff shows what changed.
//!
//! libFuzzer reads folders, so `cargo xtask fuzz` unpacks each file under `target/fuzz/committed/` before
//! a run, and `--merge` packs the minimised folder back. Each crate's `tests/fuzz_inputs.rs` reads the same
//! format.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

/// One input as one line, without the newline.
pub(crate) fn escape(input: &[u8]) -> String {
    let mut line = String::with_capacity(input.len());
    for byte in input {
        match byte {
            b'\\' => line.push_str("\\\\"),
            0x20..=0x7e => line.push(char::from(*byte)),
            other => {
                let _ = write!(line, "\\x{other:02x}");
            }
        }
    }
    line
}

/// The input a line holds; `None` for a malformed escape.
pub(crate) fn unescape(line: &str) -> Option<Vec<u8>> {
    let bytes = line.as_bytes();
    let mut input = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            input.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1)? {
            b'\\' => {
                input.push(b'\\');
                i += 2;
            }
            b'x' => {
                let hex = std::str::from_utf8(bytes.get(i + 2..i + 4)?).ok()?;
                input.push(u8::from_str_radix(hex, 16).ok()?);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(input)
}

/// Writes the files of `dir` as `file`, one sorted line each.
pub(crate) fn pack(dir: &Path, file: &Path) -> anyhow::Result<usize> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let input = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        lines.push(escape(&input));
    }
    lines.sort();
    lines.dedup();
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
    Ok(lines.len())
}

/// Writes each line of `file` into `dir` (emptied first) as a file of its own; a missing file is an
/// empty corpus.
pub(crate) fn unpack(file: &Path, dir: &Path) -> anyhow::Result<usize> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", file.display())),
    };
    let mut count = 0;
    for (index, line) in text.lines().enumerate() {
        let input = unescape(line)
            .with_context(|| format!("{}:{}: a malformed \\ escape", file.display(), index + 1))?;
        std::fs::write(dir.join(format!("{index:05}")), input)?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_survives_a_line() {
        let input: Vec<u8> = (0..=255).chain(*b"\\x41\\\n").collect();
        let line = escape(&input);
        assert!(!line.contains('\n') && line.is_ascii(), "{line}");
        assert_eq!(unescape(&line), Some(input));
        assert_eq!(escape(b"avg:m{host:a} > 1\n"), "avg:m{host:a} > 1\\x0a");
        assert_eq!(unescape("bad \\q escape"), None);
        assert_eq!(unescape("cut \\x4"), None);
    }
}
