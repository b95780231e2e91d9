//! ddlab-stack: everything the lab needs around its own binaries, and their lifecycle.
//!
//! So far: the lab's Python virtualenv (`venv`), built from hash-pinned requirement files and reused
//! while they do not change. Providers (local processes, containers, a VM) build on it.

pub mod venv;
