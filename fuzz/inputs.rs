//! Feeds the fuzzer's committed inputs to a fuzz target's properties under plain `cargo test`. One file,
//! included with `#[path]` by the `tests/fuzz_inputs.rs` of every crate that owns a fuzz target.

use std::path::{Path, PathBuf};

use expect_test::Expect;

/// Runs every committed input of `target` through `property` (which panics when a property fails) and
/// compares the regressions' outcomes, one line per file, with `regressions`.
pub(crate) fn check(target: &str, property: fn(&[u8]) -> String, regressions: Expect) {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let corpus = lines(&fuzz.join("corpus").join(format!("{target}.txt")));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}.txt is empty: run `cargo xtask fuzz {target} --merge` to fill it"
    );
    for (name, bytes) in &corpus {
        // A failed property panics inside, with what went wrong; this names the input it was.
        let held = std::panic::catch_unwind(|| property(bytes));
        assert!(
            held.is_ok(),
            "fuzz/corpus/{target}.txt:{name} breaks a property of the {target} fuzz target (the panic above says which)"
        );
    }
    let outcomes: Vec<String> = files(&fuzz.join("regressions").join(target))
        .iter()
        .map(|(name, bytes)| format!("{name}: {}\n", property(bytes)))
        .collect();
    regressions.assert_eq(&outcomes.concat());
}

/// The inputs of a packed corpus file, each with its line number; the format is `cargo xtask fuzz`'s
/// (`xtask/src/fuzz/packed.rs`).
fn lines(file: &Path) -> Vec<(String, Vec<u8>)> {
    let text =
        std::fs::read_to_string(file).unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()));
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            let mut input = Vec::with_capacity(line.len());
            let mut rest = line.as_bytes();
            while let Some((&byte, tail)) = rest.split_first() {
                rest = tail;
                if byte != b'\\' {
                    input.push(byte);
                } else if let Some(tail) = rest.strip_prefix(b"\\") {
                    input.push(b'\\');
                    rest = tail;
                } else {
                    let hex = rest
                        .strip_prefix(b"x")
                        .and_then(|tail| tail.get(..2))
                        .and_then(|hex| std::str::from_utf8(hex).ok())
                        .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                    let Some(byte) = hex else {
                        panic!("{}:{}: a malformed \\ escape", file.display(), index + 1);
                    };
                    input.push(byte);
                    rest = &rest[3..];
                }
            }
            ((index + 1).to_string(), input)
        })
        .collect()
}

/// The files of a folder, sorted by name; none when the folder does not exist.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .flatten()
        .filter(|entry| entry.path().is_file())
        .map(|entry| {
            let bytes = std::fs::read(entry.path())
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", entry.path().display()));
            (entry.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    files.sort();
    files
}
