//! Fuzz target `monitor_template`: notification message templates (`Template::parse`, `render`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ddlab_fuzz::monitor::monitor_template(data);
});
