//! Datadog's `ddapm-test-agent` as the APM cross-check and the trace benchmark start it: on a given
//! port, its OTLP ports moved to free ones (so two never collide), with a clean environment. Shared by
//! `tests/apm_ddtrace.rs` and `benches/agent.rs` (included there by path).

#![allow(dead_code)]

use std::ffi::OsStr;

use tokio::process::Command;

/// The test agent `script` (its virtualenv's `ddapm-test-agent`) serving the trace API on `port`,
/// logging at `log_level`; the caller chooses what happens to its output, and spawns it.
pub fn command(script: &OsStr, port: u16, log_level: &str) -> Command {
    let mut command = Command::new(script);
    command
        .arg(format!("--port={port}"))
        .arg(format!("--otlp-http-port={}", free_port()))
        .arg(format!("--otlp-grpc-port={}", free_port()))
        .arg(format!("--log-level={log_level}"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .kill_on_drop(true);
    command
}

/// A port nobody listens on now (the system's pick for a listener that is closed at once). Here so the
/// benchmark, which includes only this file, has it too; the tests' other helpers use this one.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
