//! The properties every fuzz target checks. Each module is the owning crate's own file, compiled here as
//! well, so the fuzzer and the crate's `tests/fuzz_inputs.rs` (which runs the committed corpus and every
//! regression input under plain `cargo test`) check exactly the same thing.
//!
//! A target calls one function with libFuzzer's bytes; a property that does not hold panics, which
//! libFuzzer reports as a crash and saves as an artifact.

#[path = "../../crates/ddlab-agent/tests/properties/mod.rs"]
pub mod agent;
#[path = "../../crates/ddlab-monitor/tests/properties/mod.rs"]
pub mod monitor;
#[path = "../../crates/ddlab-query/tests/properties/mod.rs"]
pub mod query;
#[path = "../../crates/ddlab-wire/tests/properties/mod.rs"]
pub mod wire;
