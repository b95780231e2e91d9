//! The Agent's core system checks, read natively from `/proc` (Linux): enough for a host to look alive
//! on the host map, with the real Agent's metric names, units and submission types.
//!
//! | check | metrics (type) | source |
//! | --- | --- | --- |
//! | `cpu` | `system.cpu.user`, `.system`, `.iowait`, `.idle`, `.stolen`, `.guest`, `.interrupt` (gauge, % of all CPU time since the previous run; nothing on the first run, as in the Agent), `system.cpu.num_cores` (gauge), `system.cpu.context_switches` (monotonic_count) | `/proc/stat` |
//! | `load` | `system.load.1`, `.5`, `.15` (gauge); `system.load.norm.1`, `.5`, `.15` (gauge, divided by the number of CPUs) | `/proc/loadavg` |
//! | `memory` | `system.mem.total`, `.free`, `.used` (total − free), `.usable` (MemAvailable), `.cached`, `.buffered`, `.shared`, `.slab`, `.page_tables`, `.commit_limit`, `.committed_as` (gauge, MB); `system.mem.pct_usable` (gauge, fraction); `system.swap.total`, `.free`, `.used`, `.cached` (gauge, MB), `system.swap.pct_free` (gauge, fraction) | `/proc/meminfo` |
//! | `disk` | per filesystem, tagged `device:<device>` and `device_name:<basename>`: `system.disk.total`, `.used`, `.free` (gauge, kB), `system.disk.in_use` (gauge, fraction), `system.fs.inodes.total`, `.used`, `.free` (gauge), `system.fs.inodes.in_use` (gauge, fraction) | `/proc/mounts`, `/proc/filesystems`, `statvfs` |
//! | `network` | per interface except `lo`, tagged `device:<interface>`: `system.net.bytes_rcvd`, `.bytes_sent`, `system.net.packets_in.count`, `.packets_out.count`, `.packets_in.error`, `.packets_out.error`, `.packets_in.drop`, `.packets_out.drop` (rate: raw counters the aggregator turns into per-second rates, so they appear from the second run) | `/proc/net/dev` |
//! | `uptime` | `system.uptime` (gauge, seconds) | `/proc/uptime` |
//!
//! Units follow the Agent: memory in MB (`kB / 1024`), disk sizes in kB, fractions for `pct_usable`,
//! `in_use` and `pct_free`.
//!
//! The disk check reads the mounts of physical filesystem types (those `/proc/filesystems` does not mark
//! `nodev`), as psutil's `disk_partitions(all=False)` does for the Agent's disk check; a device mounted
//! twice is reported once (first mount), and when no physical filesystem is mounted (a container on
//! overlayfs) the root filesystem is reported whatever its type, so the host still has disk metrics.
//!
//! Each check runs once without configuration (the Agent ships `conf.d/<check>.d/conf.yaml.default`); a
//! `conf.d/<check>.d/*.yaml` replaces that default instance. The instance keys read are
//! `excluded_interfaces` (network, default `[lo]`) and `excluded_filesystems`, `excluded_mountpoints`
//! (disk); `tags` and `service` are added to every metric by the collector, as the Agent does for its
//! Go checks.
//!
//! Reading happens on the blocking pool: every function here does small, fast file reads.

mod cpu;
mod disk;
mod load;
mod memory;
mod network;
mod uptime;

use std::fmt;
use std::path::PathBuf;

use crate::check::{CheckError, CheckOutput, MetricSubmission, SubmissionKind};
use crate::config::Instance;

/// The core checks this module implements, by their Agent names.
pub const NAMES: [&str; 6] = ["cpu", "load", "memory", "disk", "network", "uptime"];

/// One configured core check instance and what it keeps between runs.
#[derive(Debug)]
pub struct SystemCheck {
    kind: Kind,
    /// Where `/proc` is; only tests change it.
    proc_root: PathBuf,
    cpu: cpu::State,
    network: network::Options,
    disk: disk::Options,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cpu,
    Load,
    Memory,
    Disk,
    Network,
    Uptime,
}

/// A reading that failed: which file, and why.
#[derive(Debug)]
pub(crate) struct ReadError {
    what: String,
    reason: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.reason)
    }
}

impl SystemCheck {
    /// The core check `name` for `instance`, or `None` when `name` is not a core check.
    pub fn new(name: &str, instance: &Instance) -> Option<Self> {
        let kind = match name {
            "cpu" => Kind::Cpu,
            "load" => Kind::Load,
            "memory" => Kind::Memory,
            "disk" => Kind::Disk,
            "network" => Kind::Network,
            "uptime" => Kind::Uptime,
            _ => return None,
        };
        Some(SystemCheck {
            kind,
            proc_root: PathBuf::from("/proc"),
            cpu: cpu::State::default(),
            network: network::Options::from_instance(&instance.raw),
            disk: disk::Options::from_instance(&instance.raw),
        })
    }

    /// Whether `name` is one of the core checks.
    pub fn is_core_check(name: &str) -> bool {
        NAMES.contains(&name)
    }

    /// One run. Blocking (file reads): call it from the blocking pool.
    pub fn collect(&mut self) -> CheckOutput {
        let mut out = Metrics::default();
        let result = match self.kind {
            Kind::Cpu => cpu::collect(&self.proc_root, &mut self.cpu, &mut out),
            Kind::Load => load::collect(&self.proc_root, &mut out),
            Kind::Memory => memory::collect(&self.proc_root, &mut out),
            Kind::Disk => disk::collect(&self.proc_root, &self.disk, &mut out),
            Kind::Network => network::collect(&self.proc_root, &self.network, &mut out),
            Kind::Uptime => uptime::collect(&self.proc_root, &mut out),
        };
        let mut output = CheckOutput {
            metrics: out.metrics,
            warnings: out.warnings,
            ..CheckOutput::default()
        };
        if let Err(err) = result {
            output.error = Some(CheckError {
                message: err.to_string(),
                traceback: format!("{} check: {err}", self.name()),
            });
        }
        output
    }

    /// The Agent's name of this check.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Cpu => "cpu",
            Kind::Load => "load",
            Kind::Memory => "memory",
            Kind::Disk => "disk",
            Kind::Network => "network",
            Kind::Uptime => "uptime",
        }
    }
}

/// What a run submits, built with the check API's vocabulary.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    metrics: Vec<MetricSubmission>,
    warnings: Vec<String>,
}

impl Metrics {
    fn submit(&mut self, kind: SubmissionKind, name: &str, value: f64, tags: &[String]) {
        self.metrics.push(MetricSubmission {
            kind,
            name: name.to_owned(),
            value,
            tags: tags.to_vec(),
            hostname: None,
            flush_first_value: false,
        });
    }

    fn gauge(&mut self, name: &str, value: f64) {
        self.submit(SubmissionKind::Gauge, name, value, &[]);
    }

    fn warning(&mut self, message: String) {
        self.warnings.push(message);
    }
}

/// Reads a file under the proc root.
fn read(root: &std::path::Path, relative: &str) -> Result<String, ReadError> {
    let path = root.join(relative);
    std::fs::read_to_string(&path).map_err(|err| ReadError {
        what: path.display().to_string(),
        reason: err.to_string(),
    })
}

fn parse_error(what: &str, reason: impl Into<String>) -> ReadError {
    ReadError {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

/// The number of CPUs `/proc/stat` lists (`cpu0`, `cpu1`, …).
fn cpu_count(stat: &str) -> usize {
    stat.lines()
        .filter(|line| {
            line.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count()
}

#[cfg(test)]
mod tests;
