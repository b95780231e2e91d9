//! What the agent says about its host: the hostname it reports under, and the host metadata payload
//! (`/intake/`, at start and every 30 minutes) that carries the host tags and the host's IP.
//!
//! - hostname: `hostname` (or `DD_HOSTNAME`), else the system's (`/proc/sys/kernel/hostname`), else
//!   `localhost`;
//! - host tags: `tags` + `extra_tags` + `env:<env>` under `host-tags.system` (the Agent does not put them
//!   on each series; the backend joins them by hostname);
//! - gohai `network.ipaddress`: the IPv4 address the kernel would send from to reach a public address,
//!   i.e. that of the interface of the default route (no packet is sent); `macaddress` that interface's;
//! - `os` `linux`, gohai `platform.os` `GNU/Linux`, `kernel_release`, `cpuCores`, the agent version, the
//!   Python host's version, and a host UUID from `/etc/machine-id`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ddlab_wire::intake::{self, HostMetadata};

use crate::config::AgentConfig;
use crate::forwarder::{Endpoint, Transaction};
use crate::serializer::SerializerOptions;

/// How often host metadata is sent after the first time (the Agent's default, 30 minutes).
pub const HOST_METADATA_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1800);

/// The hostname the agent reports under.
pub fn resolve_hostname(config: &AgentConfig) -> String {
    config
        .hostname
        .clone()
        .or_else(system_hostname)
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The kernel's hostname.
pub fn system_hostname() -> Option<String> {
    read_trimmed("/proc/sys/kernel/hostname")
}

/// What the host metadata says, gathered from the system (blocking reads of `/proc`, `/sys` and
/// `/etc`: call it from the blocking pool).
pub fn host_metadata(
    config: &AgentConfig,
    hostname: &str,
    agent_version: &str,
    python_version: Option<String>,
    ip: Option<IpAddr>,
) -> HostMetadata {
    let interface = default_route_interface();
    let mac_address = interface
        .as_deref()
        .and_then(|name| read_trimmed(&format!("/sys/class/net/{name}/address")))
        .filter(|mac| mac != "00:00:00:00:00:00");
    let system = system_hostname();
    HostMetadata {
        hostname: hostname.to_owned(),
        host_aliases: Vec::new(),
        socket_hostname: system.clone(),
        socket_fqdn: system,
        host_tags: BTreeMap::from([("system".to_owned(), config.host_tags())]),
        ip: ip.map(|ip| ip.to_string()),
        ipv6: None,
        mac_address,
        public_ip: None,
        agent_version: Some(agent_version.to_owned()),
        agent_flavor: Some("agent".to_owned()),
        os: Some("linux".to_owned()),
        platform: Some("GNU/Linux".to_owned()),
        kernel_release: read_trimmed("/proc/sys/kernel/osrelease"),
        cpu_cores: std::fs::read_to_string("/proc/stat")
            .ok()
            .map(|stat| {
                stat.lines()
                    .filter(|l| {
                        l.strip_prefix("cpu")
                            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
                    })
                    .count()
            })
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0),
        python_version,
        uuid: read_trimmed("/etc/machine-id").and_then(|id| uuid_from_machine_id(&id)),
        timezones: Vec::new(),
    }
}

/// The host metadata payload, compressed like every other payload.
pub fn transaction(host: &HostMetadata, options: &SerializerOptions) -> Option<Transaction> {
    options.transaction(
        Endpoint::Intake,
        &intake::encode_host_metadata(&options.api_key, host),
    )
}

/// The IPv4 address of the interface the default route uses: the local address of a UDP socket
/// "connected" to a public address, which makes the kernel pick a route and a source address without
/// sending anything. `None` without a default route.
pub async fn primary_ip() -> Option<IpAddr> {
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
        .await
        .ok()?;
    // TEST-NET-1 (RFC 5737): routed like any public address, never answered.
    socket
        .connect(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 9))
        .await
        .ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// The interface of the default route, from `/proc/net/route`.
fn default_route_interface() -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    default_interface(&table)
}

fn default_interface(table: &str) -> Option<String> {
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace();
        let interface = fields.next()?;
        let destination = fields.next()?;
        (destination == "00000000").then(|| interface.to_owned())
    })
}

/// `/etc/machine-id` (32 hex digits) written as a UUID.
fn uuid_from_machine_id(id: &str) -> Option<String> {
    let id = id.trim();
    if id.len() != 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}-{}-{}",
        &id[0..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..32]
    ))
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_route_names_the_primary_interface() {
        let table = "Iface\tDestination\tGateway \tFlags\n\
                     docker0\t000011AC\t00000000\t0001\n\
                     eth0\t00000000\t010200C0\t0003\n";
        assert_eq!(default_interface(table).as_deref(), Some("eth0"));
        assert_eq!(default_interface("Iface\tDestination\n"), None);
    }

    #[test]
    fn machine_ids_become_uuids() {
        assert_eq!(
            uuid_from_machine_id("3d1219c7c4c5404aaa1f6d2a48adfda4\n").as_deref(),
            Some("3d1219c7-c4c5-404a-aa1f-6d2a48adfda4")
        );
        assert_eq!(uuid_from_machine_id("short"), None);
    }

    #[test]
    fn host_metadata_carries_the_host_tags_and_the_ip() {
        let loaded = AgentConfig::from_yaml(
            std::path::Path::new("/etc/dd"),
            std::path::Path::new("/etc/dd/datadog.yaml"),
            "tags: [role:database]\nenv: lab\nhostname: lab-host\n",
            &|_| None,
        )
        .unwrap();
        let hostname = resolve_hostname(&loaded.config);
        assert_eq!(hostname, "lab-host");
        let ip = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 15)));
        let host = host_metadata(&loaded.config, &hostname, "7.71.0", Some("3.11.2".into()), ip);
        assert_eq!(host.host_tags["system"], ["role:database", "env:lab"]);
        assert_eq!(host.ip.as_deref(), Some("10.0.2.15"));
        assert_eq!(host.os.as_deref(), Some("linux"));
        assert!(host.cpu_cores.is_some_and(|n| n >= 1));
        let options = SerializerOptions {
            use_v2_series: true,
            compressor: crate::config::Compressor::Zstd,
            api_key: "k".into(),
            hostname: hostname.clone(),
        };
        let transaction = transaction(&host, &options).unwrap();
        let body =
            ddlab_wire::compression::decompress(transaction.encoding, &transaction.body, usize::MAX).unwrap();
        assert_eq!(intake::decode(&body).unwrap().host, Some(host));
    }
}
