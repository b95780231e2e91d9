//! The lab's private MariaDB (or MySQL) server: initialised in the state folder, listening on loopback only,
//! with the solution's grants script applied as root over the server's own socket.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{self, RunFiles};

/// The programs a server needs, found on `PATH` (and the `sbin` folders, where Debian puts `mariadbd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programs {
    pub server: PathBuf,
    pub install_db: PathBuf,
    pub client: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum MysqlError {
    #[error("no MySQL/MariaDB server found ({missing}); install it: apt-get install -y mariadb-server")]
    NotInstalled { missing: String },
    #[error("initialising the data folder {} failed:\n{output}", dir.display())]
    Init { dir: PathBuf, output: String },
    #[error(transparent)]
    Process(#[from] process::ProcessError),
    #[error("the server did not accept connections within {seconds} s; its log {} ends with:\n{tail}", log.display())]
    NotReady {
        seconds: u64,
        log: PathBuf,
        tail: String,
    },
    #[error("{what} failed:\n{output}")]
    Sql { what: String, output: String },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
}

impl Programs {
    pub fn find() -> Result<Self, MysqlError> {
        let server = find(&["mariadbd", "mysqld"]);
        let install_db = find(&["mariadb-install-db", "mysql_install_db"]);
        let client = find(&["mariadb", "mysql"]);
        match (server, install_db, client) {
            (Some(server), Some(install_db), Some(client)) => Ok(Self {
                server,
                install_db,
                client,
            }),
            (server, install_db, client) => {
                let missing: Vec<&str> = [
                    (server.is_none(), "mariadbd"),
                    (install_db.is_none(), "mariadb-install-db"),
                    (client.is_none(), "mariadb"),
                ]
                .into_iter()
                .filter_map(|(gone, name)| gone.then_some(name))
                .collect();
                Err(MysqlError::NotInstalled {
                    missing: missing.join(", "),
                })
            }
        }
    }
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A server's folder layout inside the state folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub dir: PathBuf,
    pub port: u16,
}

impl Server {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    /// Creates the data folder on first use.
    pub fn init(&self, programs: &Programs) -> Result<bool, MysqlError> {
        if self.data_dir().join("mysql").is_dir() {
            return Ok(false);
        }
        std::fs::create_dir_all(self.data_dir()).map_err(|source| MysqlError::Read {
            path: self.data_dir(),
            source,
        })?;
        let output = Command::new(&programs.install_db)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .args(user_args())
            .output()
            .map_err(|source| {
                MysqlError::Process(process::ProcessError::Spawn {
                    program: programs.install_db.display().to_string(),
                    source,
                })
            })?;
        if !output.status.success() {
            return Err(MysqlError::Init {
                dir: self.data_dir(),
                output: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(true)
    }

    /// Starts the server detached and waits until it accepts connections on its socket.
    pub fn start(&self, programs: &Programs, files: &RunFiles) -> Result<(), MysqlError> {
        let tmp = self.dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|source| MysqlError::Read {
            path: tmp.clone(),
            source,
        })?;
        let mut command = Command::new(&programs.server);
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--pid-file={}", self.dir.join("mysqld.pid").display()))
            // Binary logging gives mysql.binlog.disk_use; performance_schema gives the query-time metrics.
            .arg(format!("--log-bin={}", self.dir.join("binlog").display()))
            .arg("--performance-schema=ON")
            .args(user_args());
        process::spawn(&mut command, files)?;
        let socket = self.socket();
        let ready = process::wait_until(Duration::from_secs(60), || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        if !ready {
            return Err(MysqlError::NotReady {
                seconds: 60,
                log: files.log_file.clone(),
                tail: process::log_tail(&files.log_file, 20).join("\n"),
            });
        }
        Ok(())
    }

    /// Runs SQL as root over the socket.
    pub fn root_sql(&self, programs: &Programs, what: &str, sql: &str) -> Result<String, MysqlError> {
        use std::io::Write as _;
        let mut child = Command::new(&programs.client)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .arg("--user=root")
            .arg("--batch")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| {
                MysqlError::Process(process::ProcessError::Spawn {
                    program: programs.client.display().to_string(),
                    source,
                })
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(sql.as_bytes());
        }
        let output = child.wait_with_output().map_err(|source| MysqlError::Read {
            path: programs.client.clone(),
            source,
        })?;
        if !output.status.success() {
            return Err(MysqlError::Sql {
                what: what.to_owned(),
                output: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Applies a grants script file.
    pub fn apply_file(&self, programs: &Programs, path: &Path) -> Result<(), MysqlError> {
        let sql = std::fs::read_to_string(path).map_err(|source| MysqlError::Read {
            path: path.to_owned(),
            source,
        })?;
        // MariaDB quotes the statement near a syntax error, and a grants script's statements carry the
        // monitoring user's password: it never reaches the error (and so the terminal and the logs).
        self.root_sql(programs, &format!("applying {}", path.display()), &sql)
            .map(drop)
            .map_err(|err| match err {
                MysqlError::Sql { what, output } => MysqlError::Sql {
                    what,
                    output: redact_passwords(&sql, &output),
                },
                other => other,
            })
    }
}

/// `text` with every password literal of `sql` (`IDENTIFIED BY '…'`, `PASSWORD('…')`) replaced by
/// `********`.
fn redact_passwords(sql: &str, text: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    let mut secrets: Vec<&str> = Vec::new();
    for marker in ["identified by", "password("] {
        let mut from = 0;
        while let Some(found) = lower[from..].find(marker) {
            let start = from + found + marker.len();
            from = start;
            let rest = sql[start..].trim_start();
            let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                continue;
            };
            if let Some(end) = rest[1..].find(quote) {
                secrets.push(&rest[1..=end]);
            }
        }
    }
    let mut redacted = text.to_owned();
    for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
        redacted = redacted.replace(secret, "********");
    }
    redacted
}

/// The sample schema the traffic generator writes to, so the server's metrics move. The same file is
/// applied by `provision/provision.sh` in the container image and the VM.
pub const SAMPLE_SCHEMA: &str = include_str!("../sql/sample_schema.sql");

/// As root, a server refuses to start unless told which user to run as.
fn user_args() -> Vec<String> {
    if nix::unistd::Uid::effective().is_root() {
        vec!["--user=root".to_owned()]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_literals_never_reach_an_error() {
        let sql = "CREATE USER 'datadog'@'localhost' IDENTIFIED BY 's3cret';\nSET PASSWORD FOR x = PASSWORD(\"other\");";
        let output = "ERROR 1064 near 'IDENTIFIED BY 's3cret'' and PASSWORD(\"other\") at line 1";
        assert_eq!(
            redact_passwords(sql, output),
            "ERROR 1064 near 'IDENTIFIED BY '********'' and PASSWORD(\"********\") at line 1"
        );
    }
}
