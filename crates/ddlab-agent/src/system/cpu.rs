//! The `cpu` check: CPU time percentages between two runs, from the first line of `/proc/stat`.
//!
//! As in the Agent's Go check, the first run only records the counters (and sends the core count), and
//! every later run sends the share of each kind of CPU time since the previous run, in percent:
//! `user` = user + nice (guest time is already inside user), `system` = system + irq + softirq,
//! `interrupt` = irq + softirq, `iowait`, `idle`, `stolen` = steal, `guest` = guest + guest_nice, each over
//! the total of user, nice, system, idle, iowait, irq, softirq and steal.

use std::path::Path;

use super::{Metrics, ReadError, cpu_count, parse_error, read};
use crate::check::SubmissionKind;

/// The counters of the previous run.
#[derive(Debug, Default, Clone)]
pub(super) struct State {
    previous: Option<Times>,
}

/// The aggregate `cpu` line of `/proc/stat`, in clock ticks.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct Times {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
    pub guest: f64,
    pub guest_nice: f64,
}

/// What one `/proc/stat` read gives.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Stat {
    pub times: Times,
    pub cores: usize,
    pub context_switches: Option<f64>,
}

pub(super) fn collect(root: &Path, state: &mut State, out: &mut Metrics) -> Result<(), ReadError> {
    let text = read(root, "stat")?;
    let stat = parse(&text)?;
    submit(state, &stat, out);
    Ok(())
}

/// Sends what a run with `stat` sends, and keeps `stat` for the next run.
pub(super) fn submit(state: &mut State, stat: &Stat, out: &mut Metrics) {
    out.gauge("system.cpu.num_cores", stat.cores as f64);
    if let Some(switches) = stat.context_switches {
        out.submit(
            SubmissionKind::MonotonicCount,
            "system.cpu.context_switches",
            switches,
            &[],
        );
    }
    if let Some(previous) = state.previous {
        let now = stat.times;
        let delta = |f: fn(&Times) -> f64| (f(&now) - f(&previous)).max(0.0);
        let total = delta(Times::total);
        // Counters that did not move (or went backwards after a suspend) give no meaningful shares.
        if total > 0.0 {
            let pct = |value: f64| value / total * 100.0;
            out.gauge("system.cpu.user", pct(delta(|t| t.user + t.nice)));
            out.gauge("system.cpu.system", pct(delta(|t| t.system + t.irq + t.softirq)));
            out.gauge("system.cpu.interrupt", pct(delta(|t| t.irq + t.softirq)));
            out.gauge("system.cpu.iowait", pct(delta(|t| t.iowait)));
            out.gauge("system.cpu.idle", pct(delta(|t| t.idle)));
            out.gauge("system.cpu.stolen", pct(delta(|t| t.steal)));
            out.gauge("system.cpu.guest", pct(delta(|t| t.guest + t.guest_nice)));
        }
    }
    state.previous = Some(stat.times);
}

impl Times {
    fn total(&self) -> f64 {
        self.user + self.nice + self.system + self.idle + self.iowait + self.irq + self.softirq + self.steal
    }
}

/// Parses `/proc/stat`: the aggregate `cpu` line, the per-CPU lines (counted) and `ctxt`.
pub(super) fn parse(text: &str) -> Result<Stat, ReadError> {
    let line = text
        .lines()
        .find(|line| line.split_whitespace().next() == Some("cpu"))
        .ok_or_else(|| parse_error("/proc/stat", "no aggregate cpu line"))?;
    let mut fields = Vec::new();
    for field in line.split_whitespace().skip(1) {
        let value: f64 = field
            .parse()
            .map_err(|_| parse_error("/proc/stat", format!("cpu line has a non-number {field:?}")))?;
        fields.push(value);
    }
    if fields.len() < 4 {
        return Err(parse_error(
            "/proc/stat",
            format!("cpu line has {} fields, expected at least 4", fields.len()),
        ));
    }
    let field = |i: usize| fields.get(i).copied().unwrap_or(0.0);
    let times = Times {
        user: field(0),
        nice: field(1),
        system: field(2),
        idle: field(3),
        iowait: field(4),
        irq: field(5),
        softirq: field(6),
        steal: field(7),
        guest: field(8),
        guest_nice: field(9),
    };
    let context_switches = text.lines().find_map(|line| {
        line.strip_prefix("ctxt ")
            .and_then(|n| n.trim().parse::<f64>().ok())
    });
    Ok(Stat {
        times,
        cores: cpu_count(text).max(1),
        context_switches,
    })
}
