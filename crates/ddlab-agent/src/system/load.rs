//! The `load` check: `/proc/loadavg`, raw and divided by the number of CPUs.

use std::path::Path;

use super::{Metrics, ReadError, cpu_count, parse_error, read};

pub(super) fn collect(root: &Path, out: &mut Metrics) -> Result<(), ReadError> {
    let loadavg = read(root, "loadavg")?;
    let stat = read(root, "stat")?;
    let loads = parse(&loadavg)?;
    submit(loads, cpu_count(&stat).max(1), out);
    Ok(())
}

pub(super) fn submit(loads: [f64; 3], cores: usize, out: &mut Metrics) {
    for (suffix, value) in ["1", "5", "15"].iter().zip(loads) {
        out.gauge(&format!("system.load.{suffix}"), value);
        out.gauge(&format!("system.load.norm.{suffix}"), value / cores as f64);
    }
}

/// The three averages at the start of `/proc/loadavg`.
pub(super) fn parse(text: &str) -> Result<[f64; 3], ReadError> {
    let mut loads = [0.0; 3];
    let mut fields = text.split_whitespace();
    for load in &mut loads {
        let field = fields
            .next()
            .ok_or_else(|| parse_error("/proc/loadavg", "fewer than three load averages"))?;
        *load = field
            .parse()
            .map_err(|_| parse_error("/proc/loadavg", format!("{field:?} is not a number")))?;
    }
    Ok(loads)
}
