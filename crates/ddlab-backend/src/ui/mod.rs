//! The web UI: server-rendered pages over the store, and the charts graph snapshots rasterise.

pub(crate) mod chart;
