//! The kernel's count of datagrams it dropped on DogStatsD's UDP socket (a full receive buffer), read from
//! the `drops` column of `/proc/net/udp` and `/proc/net/udp6`, where the socket is found by its inode.
//!
//! Linux only; elsewhere (or without `/proc`) the count is unknown and `status` shows 0.

#[cfg(unix)]
use std::os::fd::AsRawFd as _;
#[cfg(unix)]
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;

/// The tables that list UDP sockets.
const TABLES: [&str; 2] = ["/proc/net/udp", "/proc/net/udp6"];

/// Where to find one socket's drop count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UdpDrops {
    inode: u64,
    tables: Vec<PathBuf>,
}

impl UdpDrops {
    /// The socket's entry, by the inode of its file descriptor; `None` without `/proc`.
    #[cfg(unix)]
    pub(super) fn of(socket: &tokio::net::UdpSocket) -> Option<UdpDrops> {
        let fd = socket.as_raw_fd();
        let inode = std::fs::metadata(format!("/proc/self/fd/{fd}")).ok()?.ino();
        Some(UdpDrops {
            inode,
            tables: TABLES.iter().map(PathBuf::from).collect(),
        })
    }

    #[cfg(not(unix))]
    pub(super) fn of(_: &tokio::net::UdpSocket) -> Option<UdpDrops> {
        None
    }

    /// The drops now; `None` when the socket is not listed.
    pub(super) fn read(&self) -> Option<u64> {
        self.entry().map(|(_, drops)| drops)
    }

    /// The bytes queued on the socket and its drops.
    pub(super) fn entry(&self) -> Option<(u64, u64)> {
        self.tables
            .iter()
            .filter_map(|table| std::fs::read_to_string(table).ok())
            .find_map(|text| entry_of(&text, self.inode))
    }
}

/// The receive queue (bytes) and `drops` of the socket with `inode` in a `/proc/net/udp` table: the 5th
/// column is `tx_queue:rx_queue` in hex, the 10th the inode, the 13th the drops.
fn entry_of(table: &str, inode: u64) -> Option<(u64, u64)> {
    table.lines().skip(1).find_map(|line| {
        let columns: Vec<&str> = line.split_whitespace().collect();
        if columns.get(9)?.parse::<u64>().ok()? != inode {
            return None;
        }
        let queued = u64::from_str_radix(columns.get(4)?.split_once(':')?.1, 16).ok()?;
        Some((queued, columns.get(12)?.parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sockets as Linux 6.x lists them (`/proc/net/udp`).
    const TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  371: 0100007F:1FBD 00000000:0000 07 00000000:00034100 00:00000000 00000000     0        0 4181529 2 000000003f1d1b6c 1375
  812: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 20718 2 00000000a9b0b1a2 0
";

    #[test]
    fn the_queue_and_drops_of_the_socket_with_the_inode() {
        assert_eq!(entry_of(TABLE, 4_181_529), Some((0x34100, 1375)));
        assert_eq!(entry_of(TABLE, 20_718), Some((0, 0)));
        assert_eq!(entry_of(TABLE, 1), None);
        assert_eq!(entry_of("", 4_181_529), None);
    }

    #[test]
    fn a_real_socket_is_found_with_no_drops() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("a socket");
            let drops = UdpDrops::of(&socket).expect("the socket's inode in /proc/self/fd");
            assert_eq!(drops.read(), Some(0));
        });
    }
}
