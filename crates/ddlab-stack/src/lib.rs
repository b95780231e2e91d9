//! ddlab-stack: everything the lab needs around its own binaries, and their lifecycle.
//!
//! - `ports`: the one port table, each port overridable, busy ports reported with their holder;
//! - `process`: detached processes with pid files and logs;
//! - `venv`: the lab's Python virtualenv from hash-pinned requirements;
//! - `mysql`: the private MariaDB/MySQL server;
//! - `local`: the local provider, which brings the whole stack up as processes on this machine;
//! - `docker`: the docker provider (containers on a private network) and the offline image build.

pub mod docker;
pub mod local;
pub mod mysql;
pub mod ports;
pub mod process;
pub mod venv;
