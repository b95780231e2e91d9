//! The `uptime` check: seconds since boot, from `/proc/uptime`.

use std::path::Path;

use super::{Metrics, ReadError, parse_error, read};

pub(super) fn collect(root: &Path, out: &mut Metrics) -> Result<(), ReadError> {
    let text = read(root, "uptime")?;
    out.gauge("system.uptime", parse(&text)?);
    Ok(())
}

pub(super) fn parse(text: &str) -> Result<f64, ReadError> {
    let field = text
        .split_whitespace()
        .next()
        .ok_or_else(|| parse_error("/proc/uptime", "empty"))?;
    field
        .parse()
        .map_err(|_| parse_error("/proc/uptime", format!("{field:?} is not a number")))
}
