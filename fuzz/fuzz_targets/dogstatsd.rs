//! Fuzz target `dogstatsd`: DogStatsD datagrams (`ddlab_wire::dogstatsd::parse`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ddlab_fuzz::wire::dogstatsd(data);
});
