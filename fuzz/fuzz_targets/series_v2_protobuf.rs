//! Fuzz target `series_v2_protobuf`: `/api/v2/series` protobuf (`ddlab_wire::series::decode_v2_protobuf`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ddlab_fuzz::wire::series_v2_protobuf(data);
});
