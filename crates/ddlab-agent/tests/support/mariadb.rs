//! A private MariaDB server for tests: installed in a temporary folder, listening on a free loopback
//! port, killed when dropped. Shared by the test crates that need one (each uses a part of it).
//!
//! Needs the `mariadb-server` package. Without it, starting fails naming the package, unless
//! `DDLAB_SKIP_MYSQL=1` is set, in which case [`Server::start`] says so and returns `None`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// How long a fresh server may take to accept connections on a busy machine.
pub const READY_DEADLINE: Duration = Duration::from_secs(60);

/// A private MariaDB server; killed when dropped.
pub struct Server {
    // Declared first so it is dropped (killed) before its folder is removed.
    _child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Server {
    /// Starts a server, or returns `None` when MariaDB is missing and `DDLAB_SKIP_MYSQL=1` says to skip.
    pub async fn start() -> Option<Server> {
        let Some(mariadbd) = find_program(&["mariadbd", "mysqld"]) else {
            if std::env::var("DDLAB_SKIP_MYSQL").as_deref() == Ok("1") {
                skipped();
                return None;
            }
            panic!(
                "mariadbd not found on PATH or in /usr/sbin: install the mariadb-server package \
                 (apt-get install -y mariadb-server), or set DDLAB_SKIP_MYSQL=1 to skip the MySQL tests"
            );
        };
        let install = find_program(&["mariadb-install-db", "mysql_install_db"])
            .expect("mariadb-install-db not found: install the mariadb-server package");
        let dir = tempfile::tempdir().expect("temporary folder");
        let data = dir.path().join("data");
        // A private tmpdir: the server's temporary tables otherwise go to the shared /tmp, where a
        // concurrent server's bootstrap was seen to collide with them.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).expect("server tmpdir");
        let tmpdir = format!("--tmpdir={}", tmp.display());
        let user = running_as_root().then_some("--user=root");
        let output = Command::new(&install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(user)
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(&tmpdir)
            .output()
            .await
            .expect("run mariadb-install-db");
        assert!(
            output.status.success(),
            "mariadb-install-db failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let port = free_port();
        let socket = dir.path().join("sock");
        let error_log = dir.path().join("err.log");
        let mut child = Command::new(&mariadbd)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .args(user)
            .arg(&tmpdir)
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--log-error={}", error_log.display()))
            .arg(format!("--log-bin={}", dir.path().join("binlog").display()))
            .args(["--performance-schema=ON", "--innodb-buffer-pool-size=32M"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start mariadbd");
        super::poll::until(
            READY_DEADLINE,
            || {
                format!(
                    "mariadbd to accept connections; its log:\n{}",
                    std::fs::read_to_string(&error_log).unwrap_or_default()
                )
            },
            async || {
                if let Some(status) = child.try_wait().expect("poll mariadbd") {
                    panic!(
                        "mariadbd exited with {status} before accepting connections; its log:\n{}",
                        std::fs::read_to_string(&error_log).unwrap_or_default()
                    );
                }
                tokio::net::UnixStream::connect(&socket).await.ok().map(drop)
            },
        )
        .await;
        Some(Server {
            _child: child,
            dir,
            port,
        })
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// Runs SQL as root with the `mariadb` client, as a candidate runs their grants script.
    pub async fn root_sql(&self, sql: &str) {
        let client =
            find_program(&["mariadb", "mysql"]).expect("the mariadb client (package mariadb-client)");
        let mut child = Command::new(client)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["--user=root", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the mariadb client");
        let mut stdin = child.stdin.take().expect("client stdin");
        stdin.write_all(sql.as_bytes()).await.expect("send SQL");
        drop(stdin);
        let output = child.wait_with_output().await.expect("run the mariadb client");
        assert!(
            output.status.success(),
            "SQL failed: {}\n{sql}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[allow(clippy::print_stderr)]
pub fn skipped() {
    eprintln!("DDLAB_SKIP_MYSQL=1 and mariadbd is not installed: MySQL test skipped");
}

pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

pub use super::test_agent::free_port;
