//! Fuzz target `query`: the classic query language (`ddlab_query::parse`, `parse_formula`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ddlab_fuzz::query::query(data);
});
