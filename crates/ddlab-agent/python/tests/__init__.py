"""Unit tests of ddlab-agent's Python modules; run by `cargo test -p ddlab-agent` with the plain python3."""
