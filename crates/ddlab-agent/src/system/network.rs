//! The `network` check: per-interface counters from `/proc/net/dev`, submitted as rates.

use std::path::Path;

use serde_json::{Map, Value};

use super::{Metrics, ReadError, parse_error, read};
use crate::check::SubmissionKind;

/// The instance keys the check reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Options {
    /// `excluded_interfaces`; default `[lo]`.
    pub excluded_interfaces: Vec<String>,
}

/// One interface's counters.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Interface {
    pub name: String,
    pub rx_bytes: f64,
    pub rx_packets: f64,
    pub rx_errors: f64,
    pub rx_drop: f64,
    pub tx_bytes: f64,
    pub tx_packets: f64,
    pub tx_errors: f64,
    pub tx_drop: f64,
}

impl Options {
    pub(super) fn from_instance(instance: &Map<String, Value>) -> Self {
        let excluded_interfaces = match instance.get("excluded_interfaces") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => vec!["lo".to_owned()],
        };
        Options { excluded_interfaces }
    }
}

pub(super) fn collect(root: &Path, options: &Options, out: &mut Metrics) -> Result<(), ReadError> {
    let text = read(root, "net/dev")?;
    submit(&parse(&text)?, options, out);
    Ok(())
}

pub(super) fn submit(interfaces: &[Interface], options: &Options, out: &mut Metrics) {
    for interface in interfaces {
        if options.excluded_interfaces.contains(&interface.name) {
            continue;
        }
        let tags = [format!("device:{}", interface.name)];
        for (name, value) in [
            ("system.net.bytes_rcvd", interface.rx_bytes),
            ("system.net.bytes_sent", interface.tx_bytes),
            ("system.net.packets_in.count", interface.rx_packets),
            ("system.net.packets_out.count", interface.tx_packets),
            ("system.net.packets_in.error", interface.rx_errors),
            ("system.net.packets_out.error", interface.tx_errors),
            ("system.net.packets_in.drop", interface.rx_drop),
            ("system.net.packets_out.drop", interface.tx_drop),
        ] {
            out.submit(SubmissionKind::Rate, name, value, &tags);
        }
    }
}

/// Parses `/proc/net/dev`: two header lines, then `name: rx(8 fields) tx(8 fields)`.
pub(super) fn parse(text: &str) -> Result<Vec<Interface>, ReadError> {
    let mut interfaces = Vec::new();
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let values: Vec<f64> = counters
            .split_whitespace()
            .map(|v| v.parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| parse_error("/proc/net/dev", format!("bad counters for {}", name.trim())))?;
        if values.len() < 16 {
            return Err(parse_error(
                "/proc/net/dev",
                format!("{} has {} counters, expected 16", name.trim(), values.len()),
            ));
        }
        interfaces.push(Interface {
            name: name.trim().to_owned(),
            rx_bytes: values[0],
            rx_packets: values[1],
            rx_errors: values[2],
            rx_drop: values[3],
            tx_bytes: values[8],
            tx_packets: values[9],
            tx_errors: values[10],
            tx_drop: values[11],
        });
    }
    Ok(interfaces)
}
