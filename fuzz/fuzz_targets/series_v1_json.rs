//! Fuzz target `series_v1_json`: `/api/v1/series` JSON (`ddlab_wire::series::decode_v1_json`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ddlab_fuzz::wire::series_v1_json(data);
});
