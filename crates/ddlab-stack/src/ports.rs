//! The stack's one port table: every port the lab listens on, each overridable by an environment variable.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

/// A component port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    /// What listens there, as `status` shows it.
    pub name: &'static str,
    /// The environment variable that overrides it.
    pub env: &'static str,
    pub default: u16,
    pub udp: bool,
}

/// Every port of the stack, in the order `up` reports them.
pub const PORTS: &[Port] = &[
    Port {
        name: "backend",
        env: "DDLAB_PORT_BACKEND",
        default: 8480,
        udp: false,
    },
    Port {
        name: "mysql",
        env: "DDLAB_PORT_MYSQL",
        default: 3306,
        udp: false,
    },
    Port {
        name: "smtp",
        env: "DDLAB_PORT_SMTP",
        default: 2525,
        udp: false,
    },
    Port {
        name: "dogstatsd",
        env: "DDLAB_PORT_DOGSTATSD",
        default: 8125,
        udp: true,
    },
    Port {
        name: "apm",
        env: "DDLAB_PORT_APM",
        default: 8126,
        udp: false,
    },
    Port {
        name: "agent-ipc",
        env: "DDLAB_PORT_AGENT_IPC",
        default: 5001,
        udp: false,
    },
    Port {
        name: "app",
        env: "DDLAB_PORT_APP",
        default: 5050,
        udp: false,
    },
];

/// The ports in effect: defaults with environment overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports(Vec<(Port, u16)>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    #[error("{env}={value:?} is not a port number (1-65535)")]
    Invalid { env: &'static str, value: String },
    #[error(
        "port {port} ({proto}) for {name} is busy{holder}; stop what holds it or set {env} to another port"
    )]
    Busy {
        name: &'static str,
        env: &'static str,
        port: u16,
        proto: &'static str,
        holder: String,
    },
}

impl Ports {
    /// Reads overrides from the environment.
    pub fn from_env() -> Result<Self, PortError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, PortError> {
        let mut ports = Vec::with_capacity(PORTS.len());
        for port in PORTS {
            let value = match lookup(port.env) {
                None => port.default,
                Some(text) => {
                    text.trim()
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or(PortError::Invalid {
                            env: port.env,
                            value: text,
                        })?
                }
            };
            ports.push((*port, value));
        }
        Ok(Self(ports))
    }

    /// The port of a component; panics on a name not in [`PORTS`] (a programming error).
    pub fn get(&self, name: &str) -> u16 {
        self.0
            .iter()
            .find(|(p, _)| p.name == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| unreachable!("no port named {name}"))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Port, u16)> {
        self.0.iter().map(|(p, v)| (p, *v))
    }

    /// Checks that `names` are free on loopback; a busy one is reported with what holds it, when known.
    pub fn check_free(&self, names: &[&str]) -> Result<(), PortError> {
        for (port, value) in self.iter().filter(|(p, _)| names.contains(&p.name)) {
            let address = SocketAddrV4::new(Ipv4Addr::LOCALHOST, value);
            let free = if port.udp {
                UdpSocket::bind(address).is_ok()
            } else {
                TcpListener::bind(address).is_ok()
            };
            if !free {
                return Err(PortError::Busy {
                    name: port.name,
                    env: port.env,
                    port: value,
                    proto: if port.udp { "udp" } else { "tcp" },
                    holder: holder(value, port.udp)
                        .map(|h| format!(", held by {h}"))
                        .unwrap_or_default(),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (port, value) in self.iter() {
            writeln!(
                f,
                "{:<10} {value}/{}",
                port.name,
                if port.udp { "udp" } else { "tcp" }
            )?;
        }
        Ok(())
    }
}

/// Which process listens on a port, from `/proc/net/*` and the processes' open sockets (Linux).
pub fn holder(port: u16, udp: bool) -> Option<String> {
    let tables: &[&str] = if udp {
        &["/proc/net/udp", "/proc/net/udp6"]
    } else {
        &["/proc/net/tcp", "/proc/net/tcp6"]
    };
    let mut inodes = Vec::new();
    for table in tables {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let listening = udp || *state == "0A";
            let matches = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                .is_some_and(|p| p == port);
            if listening && matches {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| target.to_str() == Some(i))
            {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                return Some(format!("{} (pid {pid})", comm.trim()));
            }
        }
    }
    Some("another process".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_bad_values() {
        let ports =
            Ports::from_lookup(|name| (name == "DDLAB_PORT_MYSQL").then(|| "13306".to_owned())).unwrap();
        assert_eq!(ports.get("mysql"), 13306);
        assert_eq!(ports.get("backend"), 8480);
        let err =
            Ports::from_lookup(|name| (name == "DDLAB_PORT_APP").then(|| "http".to_owned())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DDLAB_PORT_APP=\"http\" is not a port number (1-65535)"
        );
    }

    #[test]
    fn a_busy_port_names_its_holder() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ports =
            Ports::from_lookup(|name| (name == "DDLAB_PORT_BACKEND").then(|| port.to_string())).unwrap();
        let err = ports.check_free(&["backend"]).unwrap_err().to_string();
        assert!(
            err.contains(&format!("port {port} (tcp) for backend is busy")),
            "{err}"
        );
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        assert!(err.contains("DDLAB_PORT_BACKEND"), "{err}");
        // Not asserted: that the port is free again once dropped. It is an ephemeral port, and another
        // process on the machine may be handed it at once (seen in CI beside a benchmark run).
        drop(listener);
    }
}
