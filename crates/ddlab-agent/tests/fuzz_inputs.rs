//! The fuzzer's committed inputs as plain tests: every input of `fuzz/corpus/<target>.txt` (one per line,
//! `\xHH` for bytes that are not printable ASCII) and every file of `fuzz/regressions/<target>` goes through the properties the fuzz target checks (`tests/properties`,
//! the same file the fuzz crate compiles), so a crash found once stays fixed without running the fuzzer.
//! Each regression's outcome is pinned below; `UPDATE_EXPECT=1 cargo test` rewrites the pins.

mod properties;

#[path = "../../../fuzz/inputs.rs"]
mod inputs;

use expect_test::expect;
use inputs::check;

#[test]
fn agent_config() {
    check(
        "agent_config",
        properties::agent_config,
        expect![[r#"
        durations-past-a-duration.yaml: datadog.yaml ok, 2 warnings; conf.d 1 instances, 2 problems
        lone-carriage-returns.yaml: datadog.yaml error /etc/datadog-agent/datadog.yaml:60:1: simple key expected ':' at line 60, column 1; conf.d not loaded, 1 problems
    "#]],
    );
}
