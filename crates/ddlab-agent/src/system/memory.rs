//! The `memory` check: `/proc/meminfo` in the Agent's units (MB, and fractions for the percentages).

use std::collections::BTreeMap;
use std::path::Path;

use super::{Metrics, ReadError, parse_error, read};

pub(super) fn collect(root: &Path, out: &mut Metrics) -> Result<(), ReadError> {
    let text = read(root, "meminfo")?;
    submit(&parse(&text), out)
}

/// Sends the memory and swap gauges from `meminfo` (values in kB, as the file gives them).
pub(super) fn submit(meminfo: &BTreeMap<String, f64>, out: &mut Metrics) -> Result<(), ReadError> {
    let kb = |key: &str| meminfo.get(key).copied();
    let mb = |value: f64| value / 1024.0;
    let total = kb("MemTotal").ok_or_else(|| parse_error("/proc/meminfo", "no MemTotal line"))?;
    let free = kb("MemFree").ok_or_else(|| parse_error("/proc/meminfo", "no MemFree line"))?;
    // Kernels before 3.14 have no MemAvailable; the usual estimate is free + buffers + cached.
    let available = kb("MemAvailable")
        .unwrap_or_else(|| free + kb("Buffers").unwrap_or(0.0) + kb("Cached").unwrap_or(0.0));
    out.gauge("system.mem.total", mb(total));
    out.gauge("system.mem.free", mb(free));
    out.gauge("system.mem.used", mb(total - free));
    out.gauge("system.mem.usable", mb(available));
    if total > 0.0 {
        out.gauge("system.mem.pct_usable", available / total);
    }
    for (key, name) in [
        ("Cached", "system.mem.cached"),
        ("Buffers", "system.mem.buffered"),
        ("Shmem", "system.mem.shared"),
        ("Slab", "system.mem.slab"),
        ("PageTables", "system.mem.page_tables"),
        ("CommitLimit", "system.mem.commit_limit"),
        ("Committed_AS", "system.mem.committed_as"),
    ] {
        if let Some(value) = kb(key) {
            out.gauge(name, mb(value));
        }
    }
    if let (Some(swap_total), Some(swap_free)) = (kb("SwapTotal"), kb("SwapFree")) {
        out.gauge("system.swap.total", mb(swap_total));
        out.gauge("system.swap.free", mb(swap_free));
        out.gauge("system.swap.used", mb(swap_total - swap_free));
        if let Some(cached) = kb("SwapCached") {
            out.gauge("system.swap.cached", mb(cached));
        }
        if swap_total > 0.0 {
            out.gauge("system.swap.pct_free", swap_free / swap_total);
        }
    }
    Ok(())
}

/// `Key:   value kB` lines into kB values by key.
pub(super) fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            let value = rest.split_whitespace().next()?.parse().ok()?;
            Some((key.trim().to_owned(), value))
        })
        .collect()
}
