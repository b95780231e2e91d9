//! In-process tests of the web UI.
