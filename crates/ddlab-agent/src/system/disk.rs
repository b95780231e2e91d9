//! The `disk` check: usage and inodes of each mounted physical filesystem, with `statvfs`.

use std::path::Path;

use serde_json::{Map, Value};

use super::{Metrics, ReadError, read};
use crate::check::SubmissionKind;

/// The instance keys the check reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Options {
    /// `excluded_filesystems`: filesystem types to skip; default none.
    pub excluded_filesystems: Vec<String>,
    /// `excluded_mountpoints`: mount points to skip; default none.
    pub excluded_mountpoints: Vec<String>,
}

/// One line of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
}

/// What `statvfs` says about a filesystem, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Usage {
    pub total: f64,
    pub used: f64,
    /// Available to unprivileged users (`f_bavail`), as psutil reports `free`.
    pub free: f64,
    pub inodes_total: f64,
    pub inodes_free: f64,
}

impl Options {
    pub(super) fn from_instance(instance: &Map<String, Value>) -> Self {
        let list = |key: &str| match instance.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Options {
            excluded_filesystems: list("excluded_filesystems"),
            excluded_mountpoints: list("excluded_mountpoints"),
        }
    }
}

pub(super) fn collect(root: &Path, options: &Options, out: &mut Metrics) -> Result<(), ReadError> {
    let mounts = parse_mounts(&read(root, "mounts")?);
    let physical = physical_types(&read(root, "filesystems")?);
    for mount in select(&mounts, &physical, options) {
        match rustix::fs::statvfs(mount.mount_point.as_str()) {
            Ok(stat) => {
                let block = stat.f_frsize as f64;
                let usage = Usage {
                    total: stat.f_blocks as f64 * block,
                    used: stat.f_blocks.saturating_sub(stat.f_bfree) as f64 * block,
                    free: stat.f_bavail as f64 * block,
                    inodes_total: stat.f_files as f64,
                    inodes_free: stat.f_ffree as f64,
                };
                submit(mount, &usage, out);
            }
            Err(err) => out.warning(format!(
                "cannot read the usage of {} ({}): {err}",
                mount.mount_point, mount.device
            )),
        }
    }
    Ok(())
}

/// The mounts to report: physical filesystem types, not excluded, each device once; the root
/// filesystem when nothing else qualifies.
pub(super) fn select<'a>(mounts: &'a [Mount], physical: &[String], options: &Options) -> Vec<&'a Mount> {
    let wanted = |m: &Mount| {
        !options.excluded_filesystems.contains(&m.fs_type)
            && !options.excluded_mountpoints.contains(&m.mount_point)
    };
    let mut chosen: Vec<&Mount> = Vec::new();
    for mount in mounts {
        if physical.contains(&mount.fs_type)
            && wanted(mount)
            && !chosen.iter().any(|c| c.device == mount.device)
        {
            chosen.push(mount);
        }
    }
    if chosen.is_empty()
        && let Some(root) = mounts.iter().find(|m| m.mount_point == "/" && wanted(m))
    {
        chosen.push(root);
    }
    chosen
}

pub(super) fn submit(mount: &Mount, usage: &Usage, out: &mut Metrics) {
    let device_name = mount.device.rsplit('/').next().unwrap_or(&mount.device);
    let tags = [
        format!("device:{}", mount.device),
        format!("device_name:{device_name}"),
    ];
    let kb = |bytes: f64| bytes / 1024.0;
    let gauge = |out: &mut Metrics, name: &str, value: f64| {
        out.submit(SubmissionKind::Gauge, name, value, &tags);
    };
    gauge(out, "system.disk.total", kb(usage.total));
    gauge(out, "system.disk.used", kb(usage.used));
    gauge(out, "system.disk.free", kb(usage.free));
    // psutil's percent: used over what users can reach (used + available), reserved blocks left out.
    let reachable = usage.used + usage.free;
    if reachable > 0.0 {
        gauge(out, "system.disk.in_use", usage.used / reachable);
    }
    if usage.inodes_total > 0.0 {
        let used = usage.inodes_total - usage.inodes_free;
        gauge(out, "system.fs.inodes.total", usage.inodes_total);
        gauge(out, "system.fs.inodes.used", used);
        gauge(out, "system.fs.inodes.free", usage.inodes_free);
        gauge(out, "system.fs.inodes.in_use", used / usage.inodes_total);
    }
}

/// Parses `/proc/mounts`, undoing the kernel's octal escapes (`\040` is a space).
pub(super) fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            Some(Mount {
                device: unescape(fields.next()?),
                mount_point: unescape(fields.next()?),
                fs_type: fields.next()?.to_owned(),
            })
        })
        .collect()
}

/// The filesystem types `/proc/filesystems` lists without `nodev`: those backed by a device.
pub(super) fn physical_types(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.starts_with("nodev"))
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
