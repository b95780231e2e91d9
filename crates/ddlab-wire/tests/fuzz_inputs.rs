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
fn series_v1_json() {
    check(
        "series_v1_json",
        properties::series_v1_json,
        expect![[r#"
        float-one-ulp-off.json: ok 1 series, 1 points
    "#]],
    );
}

#[test]
fn series_v2_json() {
    check("series_v2_json", properties::series_v2_json, expect![[""]]);
}

#[test]
fn series_v2_protobuf() {
    check(
        "series_v2_protobuf",
        properties::series_v2_protobuf,
        expect![[r#"
            device-tag-listed-first.pb: ok 1 series, 0 points
        "#]],
    );
}

#[test]
fn trace_v04() {
    check("trace_v04", properties::trace_v04, expect![[""]]);
}

#[test]
fn trace_v05() {
    check("trace_v05", properties::trace_v05, expect![[""]]);
}

#[test]
fn dogstatsd() {
    check("dogstatsd", properties::dogstatsd, expect![[""]]);
}
