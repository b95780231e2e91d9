//! Core check tests: each parser on captured `/proc` text, the submissions it makes, and one live run of
//! every check on this machine's `/proc`.

use expect_test::{Expect, expect};

use super::*;

/// The submissions, one per line: `kind name value [tags]`.
fn shown(out: &Metrics) -> String {
    out.metrics
        .iter()
        .map(|m| {
            let tags = if m.tags.is_empty() {
                String::new()
            } else {
                format!(" {:?}", m.tags)
            };
            format!("{:?} {} {}{tags}\n", m.kind, m.name, round(m.value))
        })
        .collect()
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn check(out: &Metrics, expect: Expect) {
    expect.assert_eq(&shown(out));
}

const STAT_1: &str = "cpu  100 10 50 800 20 5 5 10 0 0\n\
cpu0 50 5 25 400 10 3 2 5 0 0\n\
cpu1 50 5 25 400 10 2 3 5 0 0\n\
intr 12345 0 0\n\
ctxt 1000\n\
btime 1700000000\n";

const STAT_2: &str = "cpu  160 20 70 1000 30 7 8 15 20 0\n\
cpu0 80 10 35 500 15 4 4 7 10 0\n\
cpu1 80 10 35 500 15 3 4 8 10 0\n\
ctxt 1600\n";

#[test]
fn cpu_sends_shares_from_the_second_run() {
    let mut state = cpu::State::default();
    let mut first = Metrics::default();
    cpu::submit(&mut state, &cpu::parse(STAT_1).unwrap(), &mut first);
    check(
        &first,
        expect![[r#"
            Gauge system.cpu.num_cores 2
            MonotonicCount system.cpu.context_switches 1000
        "#]],
    );
    let mut second = Metrics::default();
    cpu::submit(&mut state, &cpu::parse(STAT_2).unwrap(), &mut second);
    // Total delta: user 60 + nice 10 + system 20 + idle 200 + iowait 10 + irq 2 + softirq 3 + steal 5 = 310.
    check(
        &second,
        expect![[r#"
            Gauge system.cpu.num_cores 2
            MonotonicCount system.cpu.context_switches 1600
            Gauge system.cpu.user 22.581
            Gauge system.cpu.system 8.065
            Gauge system.cpu.interrupt 1.613
            Gauge system.cpu.iowait 3.226
            Gauge system.cpu.idle 64.516
            Gauge system.cpu.stolen 1.613
            Gauge system.cpu.guest 6.452
        "#]],
    );
}

#[test]
fn cpu_refuses_a_stat_without_the_cpu_line() {
    let err = cpu::parse("intr 1\nctxt 2\n").unwrap_err();
    assert_eq!(err.to_string(), "/proc/stat: no aggregate cpu line");
}

#[test]
fn load_is_normalised_by_cpus() {
    let mut out = Metrics::default();
    load::submit(
        load::parse("0.50 1.00 2.00 1/200 12345\n").unwrap(),
        cpu_count(STAT_1),
        &mut out,
    );
    check(
        &out,
        expect![[r#"
            Gauge system.load.1 0.5
            Gauge system.load.norm.1 0.25
            Gauge system.load.5 1
            Gauge system.load.norm.5 0.5
            Gauge system.load.15 2
            Gauge system.load.norm.15 1
        "#]],
    );
    assert_eq!(
        load::parse("0.5 x").unwrap_err().to_string(),
        "/proc/loadavg: \"x\" is not a number"
    );
}

#[test]
fn memory_in_megabytes_and_fractions() {
    let meminfo = "MemTotal:        4096000 kB\n\
MemFree:         1024000 kB\n\
MemAvailable:    2048000 kB\n\
Buffers:          102400 kB\n\
Cached:           512000 kB\n\
SwapCached:            0 kB\n\
Shmem:             10240 kB\n\
Slab:              51200 kB\n\
PageTables:         2048 kB\n\
CommitLimit:     2048000 kB\n\
Committed_AS:    3072000 kB\n\
SwapTotal:       1024000 kB\n\
SwapFree:         768000 kB\n";
    let mut out = Metrics::default();
    memory::submit(&memory::parse(meminfo), &mut out).unwrap();
    check(
        &out,
        expect![[r#"
            Gauge system.mem.total 4000
            Gauge system.mem.free 1000
            Gauge system.mem.used 3000
            Gauge system.mem.usable 2000
            Gauge system.mem.pct_usable 0.5
            Gauge system.mem.cached 500
            Gauge system.mem.buffered 100
            Gauge system.mem.shared 10
            Gauge system.mem.slab 50
            Gauge system.mem.page_tables 2
            Gauge system.mem.commit_limit 2000
            Gauge system.mem.committed_as 3000
            Gauge system.swap.total 1000
            Gauge system.swap.free 750
            Gauge system.swap.used 250
            Gauge system.swap.cached 0
            Gauge system.swap.pct_free 0.75
        "#]],
    );
    let mut out = Metrics::default();
    let err = memory::submit(&memory::parse("MemFree: 1 kB\n"), &mut out).unwrap_err();
    assert_eq!(err.to_string(), "/proc/meminfo: no MemTotal line");
}

#[test]
fn network_rates_per_interface_without_loopback() {
    let dev = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:  500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0\n  \
eth0: 1000      10    1    2    0     0          0         0     2000      20    3    4    0     0       0          0\n";
    let interfaces = network::parse(dev).unwrap();
    assert_eq!(interfaces.len(), 2);
    let mut out = Metrics::default();
    network::submit(
        &interfaces,
        &network::Options::from_instance(&serde_json::Map::new()),
        &mut out,
    );
    check(
        &out,
        expect![[r#"
            Rate system.net.bytes_rcvd 1000 ["device:eth0"]
            Rate system.net.bytes_sent 2000 ["device:eth0"]
            Rate system.net.packets_in.count 10 ["device:eth0"]
            Rate system.net.packets_out.count 20 ["device:eth0"]
            Rate system.net.packets_in.error 1 ["device:eth0"]
            Rate system.net.packets_out.error 3 ["device:eth0"]
            Rate system.net.packets_in.drop 2 ["device:eth0"]
            Rate system.net.packets_out.drop 4 ["device:eth0"]
        "#]],
    );
}

#[test]
fn disk_selects_physical_mounts_once_per_device() {
    let mounts = disk::parse_mounts(
        "proc /proc proc rw 0 0\n\
         /dev/vda / ext4 rw 0 0\n\
         tmpfs /dev/shm tmpfs rw 0 0\n\
         /dev/vda /var/lib/docker ext4 rw 0 0\n\
         /dev/vdb /mnt/my\\040data xfs rw 0 0\n",
    );
    assert_eq!(mounts[4].mount_point, "/mnt/my data");
    let physical = disk::physical_types("nodev\tproc\nnodev\ttmpfs\n\text4\n\txfs\n");
    assert_eq!(physical, ["ext4", "xfs"]);
    let chosen: Vec<&str> = disk::select(&mounts, &physical, &disk::Options::default())
        .iter()
        .map(|m| m.mount_point.as_str())
        .collect();
    assert_eq!(chosen, ["/", "/mnt/my data"]);
    let options = disk::Options {
        excluded_filesystems: vec!["xfs".into()],
        excluded_mountpoints: vec![],
    };
    assert_eq!(disk::select(&mounts, &physical, &options).len(), 1);

    // A container on overlayfs: no physical filesystem, so the root is reported anyway.
    let overlay = disk::parse_mounts("overlay / overlay rw 0 0\nproc /proc proc rw 0 0\n");
    let chosen = disk::select(&overlay, &physical, &disk::Options::default());
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0].device, "overlay");
}

#[test]
fn disk_in_kilobytes_and_fractions() {
    let mount = disk::Mount {
        device: "/dev/vda1".into(),
        mount_point: "/".into(),
        fs_type: "ext4".into(),
    };
    let usage = disk::Usage {
        total: 10_240_000.0,
        used: 4_096_000.0,
        free: 4_096_000.0,
        inodes_total: 1000.0,
        inodes_free: 750.0,
    };
    let mut out = Metrics::default();
    disk::submit(&mount, &usage, &mut out);
    check(
        &out,
        expect![[r#"
            Gauge system.disk.total 10000 ["device:/dev/vda1", "device_name:vda1"]
            Gauge system.disk.used 4000 ["device:/dev/vda1", "device_name:vda1"]
            Gauge system.disk.free 4000 ["device:/dev/vda1", "device_name:vda1"]
            Gauge system.disk.in_use 0.5 ["device:/dev/vda1", "device_name:vda1"]
            Gauge system.fs.inodes.total 1000 ["device:/dev/vda1", "device_name:vda1"]
            Gauge system.fs.inodes.used 250 ["device:/dev/vda1", "device_name:vda1"]
            Gauge system.fs.inodes.free 750 ["device:/dev/vda1", "device_name:vda1"]
            Gauge system.fs.inodes.in_use 0.25 ["device:/dev/vda1", "device_name:vda1"]
        "#]],
    );
}

#[test]
fn uptime_is_the_first_field() {
    assert_eq!(uptime::parse("12345.67 2345.00\n").unwrap(), 12345.67);
}

/// Every check once on this machine: Linux has `/proc`, so each must succeed with its key metrics.
#[test]
fn every_check_runs_on_this_machine() {
    let instance = crate::config::checks::default_instance("cpu");
    for (name, expected) in [
        ("cpu", "system.cpu.num_cores"),
        ("load", "system.load.norm.1"),
        ("memory", "system.mem.pct_usable"),
        ("disk", "system.disk.in_use"),
        ("uptime", "system.uptime"),
    ] {
        let mut check = SystemCheck::new(name, &instance).unwrap();
        assert_eq!(check.name(), name);
        let out = check.collect();
        assert_eq!(out.error, None, "{name}");
        assert!(
            out.metrics.iter().any(|m| m.name == expected),
            "{name}: no {expected} in {:?}",
            out.metrics
        );
    }
    let mut cpu = SystemCheck::new("cpu", &instance).unwrap();
    cpu.collect();
    let second = cpu.collect();
    let idle = second.metrics.iter().find(|m| m.name == "system.cpu.idle");
    // Two reads in a row may see no tick at all; when they do, shares are percentages.
    if let Some(idle) = idle {
        assert!((0.0..=100.0).contains(&idle.value), "{idle:?}");
    } else {
        assert_eq!(second.metrics.len(), 2, "{:?}", second.metrics);
    }
    let mut network = SystemCheck::new("network", &instance).unwrap();
    let out = network.collect();
    assert_eq!(out.error, None);
    assert!(
        out.metrics.iter().all(|m| m.tags != ["device:lo"]),
        "{:?}",
        out.metrics
    );
    assert!(SystemCheck::new("mysql", &instance).is_none());
}
