//! Fuzz target `trace_v04`: `/v0.4/traces` msgpack (`ddlab_wire::trace::decode_v04`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ddlab_fuzz::wire::trace_v04(data);
});
