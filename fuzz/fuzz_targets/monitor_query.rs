//! Fuzz target `monitor_query`: metric monitor queries (`MonitorQuery::parse`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ddlab_fuzz::monitor::monitor_query(data);
});
