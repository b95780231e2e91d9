//! Fuzz target `trace_v05`: `/v0.5/traces` msgpack with its string table (`ddlab_wire::trace::decode_v05`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ddlab_fuzz::wire::trace_v05(data);
});
