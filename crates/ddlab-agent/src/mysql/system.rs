//! The server process's CPU time, for `mysql.performance.user_time`, `kernel_time` and `cpu_time`.
//!
//! The integration finds the server's PID from its `pid_file` (or, failing that, by process name) and reads
//! the cumulative CPU times with psutil, which reads `/proc/<pid>/stat`. That only makes sense when the
//! server runs on this machine, so it is done only for `localhost`, `127.0.0.1`, `0.0.0.0` or a socket.

use std::path::Path;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`). It is part of the kernel's user-space ABI and
/// 100 on every architecture this lab runs on; psutil reads the same value from `sysconf(_SC_CLK_TCK)`.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Hosts the integration treats as "this machine".
const LOCAL_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "0.0.0.0"];

/// Cumulative CPU seconds of one process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CpuTimes {
    pub(crate) user: f64,
    pub(crate) system: f64,
}

/// Whether the check should look for the server process on this machine.
pub(crate) fn server_is_local(host: &str, uses_socket: bool) -> bool {
    uses_socket || LOCAL_HOSTS.contains(&host)
}

/// The PID written in the server's `pid_file`, if it can be read.
pub(crate) async fn pid_from_file(pid_file: &Path) -> Option<u32> {
    let text = tokio::fs::read_to_string(pid_file).await.ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// The first process whose name is one of `names`, scanning `/proc` as psutil's `process_iter` does.
pub(crate) async fn pid_by_name(names: &[&str]) -> Option<u32> {
    let mut entries = tokio::fs::read_dir("/proc").await.ok()?;
    let mut pids: Vec<u32> = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    for pid in pids {
        let Ok(comm) = tokio::fs::read_to_string(format!("/proc/{pid}/comm")).await else {
            continue;
        };
        if names.contains(&comm.trim_end_matches('\n')) {
            return Some(pid);
        }
    }
    None
}

/// Reads `/proc/<pid>/stat`.
pub(crate) async fn cpu_times(pid: u32) -> Result<CpuTimes, String> {
    let path = format!("/proc/{pid}/stat");
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|err| format!("cannot read {path}: {err}"))?;
    parse_stat(&text).ok_or_else(|| format!("cannot read the CPU times in {path}: {text:?}"))
}

/// `utime` and `stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may itself hold spaces or parentheses, so fields are counted after the last `)`.
fn parse_stat(text: &str) -> Option<CpuTimes> {
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(CpuTimes {
        user: user as f64 / CLOCK_TICKS_PER_SECOND,
        system: system as f64 / CLOCK_TICKS_PER_SECOND,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let stat = "7561 (mariadbd) S 1 7561 7561 0 -1 4194560 22842 0 0 0 5 10 0 0 20 0 13 0 29970 \
                    8797331300352 27471 18446744073709551615";
        assert_eq!(
            parse_stat(stat),
            Some(CpuTimes {
                user: 0.05,
                system: 0.1
            })
        );
        let odd_name = "42 (my (odd) d) R 1 42 42 0 -1 0 0 0 0 0 250 125 0 0";
        assert_eq!(
            parse_stat(odd_name),
            Some(CpuTimes {
                user: 2.5,
                system: 1.25
            })
        );
        assert_eq!(parse_stat("42 (short) R 1"), None);
    }

    #[test]
    fn local_means_loopback_names_or_a_socket() {
        assert!(server_is_local("127.0.0.1", false));
        assert!(server_is_local("localhost", false));
        assert!(server_is_local("db.example.com", true));
        assert!(!server_is_local("db.example.com", false));
        assert!(!server_is_local("::1", false));
    }

    #[tokio::test]
    async fn this_process_has_cpu_times() {
        let pid = std::process::id();
        let times = cpu_times(pid).await.unwrap();
        assert!(times.user >= 0.0 && times.system >= 0.0, "{times:?}");
        let err = cpu_times(u32::MAX).await.unwrap_err();
        assert!(err.starts_with("cannot read /proc/4294967295/stat: "), "{err}");
    }
}
