//! Fuzz target `series_v2_json`: `/api/v2/series` JSON (`ddlab_wire::series::decode_v2_json`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ddlab_fuzz::wire::series_v2_json(data);
});
