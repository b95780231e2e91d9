//! The IPC endpoint `status`, `health` and `configcheck` read, like the Agent's on `cmd_port`: HTTP on
//! `127.0.0.1:<cmd_port>` (5001 by default), every request carrying the token the running agent wrote
//! to `auth_token_file_path` (mode 0600) as `Authorization: Bearer <token>`.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /agent/status` | [`AgentStatus`] |
//! | `GET /agent/health` | [`Health`] |
//! | `GET /agent/config-check` | [`ConfigCheck`] |
//!
//! The Agent serves this over HTTPS with a self-signed certificate; the lab's is plain HTTP, bound to
//! loopback only. With `cmd_port: 0` the system picks the port, and the agent writes it to
//! `<run_path>/cmd_port` for the CLI.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::AgentConfig;
use crate::configcheck::ConfigCheck;
use crate::status::{AgentStatus, Health};

/// The file, inside `run_path`, that holds the IPC port when `cmd_port` is 0.
pub const CMD_PORT_FILE: &str = "cmd_port";

/// What the endpoint serves; the runtime implements it.
pub trait IpcSource: Send + Sync + 'static {
    fn status(&self) -> AgentStatus;
    fn health(&self) -> Health;
    fn config_check(&self) -> ConfigCheck;
}

/// The IPC token: 32 random bytes as hex. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// The running endpoint.
#[derive(Debug)]
pub struct IpcServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Why the CLI could not ask the running agent.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error(
        "cannot read the IPC token {}: {source}; is `ddlab-agent run` running with this configuration (-c)?",
        path.display()
    )]
    Token { path: PathBuf, source: std::io::Error },
    #[error(
        "cannot reach the agent at {addr} (cmd_port): {reason}; is `ddlab-agent run` running with this \
         configuration (-c)?"
    )]
    Unreachable { addr: String, reason: String },
    #[error("the agent at {addr} refused the token in {}: restart the agent or check auth_token_file_path", path.display())]
    Refused { addr: String, path: PathBuf },
    #[error("the agent at {addr} answered {status} to {route}")]
    Status {
        addr: String,
        route: &'static str,
        status: u16,
    },
    #[error("the agent's answer to {route} could not be read: {reason}")]
    Answer { route: &'static str, reason: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot listen for IPC on {addr} (cmd_port): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot make an IPC token: {0}")]
    Random(String),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("********")
    }
}

impl Token {
    /// A new random token.
    pub fn generate() -> Result<Token, IpcError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|err| IpcError::Random(err.to_string()))?;
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// Writes the token to `path`, readable and writable by its owner only.
    pub fn write(&self, path: &Path) -> Result<(), IpcError> {
        write_private(path, self.0.as_bytes()).map_err(|source| IpcError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads the token the running agent wrote.
    pub fn read(path: &Path) -> Result<Token, IpcError> {
        std::fs::read_to_string(path)
            .map(|text| Token(text.trim().to_owned()))
            .map_err(|source| IpcError::Token {
                path: path.to_owned(),
                source,
            })
    }

    fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
    }
}

/// Writes `bytes` to `path` with mode 0600 (also when the file existed with wider permissions).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)
    }
    #[cfg(not(unix))]
    {
        options.open(path)?.write_all(bytes)
    }
}

/// Binds `127.0.0.1:<port>`; separate from serving so a busy port fails the start before anything runs.
pub async fn bind(port: u16) -> Result<tokio::net::TcpListener, IpcError> {
    let addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| IpcError::Bind { addr, source })
}

impl IpcServer {
    /// Serves `source` on `listener`, for requests carrying `token`.
    pub fn serve(
        listener: tokio::net::TcpListener,
        token: Token,
        source: Arc<dyn IpcSource>,
    ) -> Result<IpcServer, IpcError> {
        let addr = listener.local_addr().map_err(|source| IpcError::Bind {
            addr: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            source,
        })?;
        let state = ServerState {
            token: Arc::new(token),
            source,
        };
        let app = Router::new()
            .route("/agent/status", get(status))
            .route("/agent/health", get(health))
            .route("/agent/config-check", get(config_check))
            .route_layer(axum::middleware::from_fn_with_state(state.clone(), authorize))
            .with_state(state);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "the IPC endpoint failed");
            }
        });
        tracing::info!(%addr, "IPC endpoint listening");
        Ok(IpcServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

#[derive(Clone)]
struct ServerState {
    token: Arc<Token>,
    source: Arc<dyn IpcSource>,
}

async fn authorize(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if state.token.matches(token.trim()) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "errors": ["a valid IPC token is required"] })),
        )
            .into_response(),
    }
}

async fn status(State(state): State<ServerState>) -> Json<AgentStatus> {
    Json(state.source.status())
}

async fn health(State(state): State<ServerState>) -> Json<Health> {
    Json(state.source.health())
}

async fn config_check(State(state): State<ServerState>) -> Json<ConfigCheck> {
    Json(state.source.config_check())
}

/// The CLI's side: asks the agent configured by `config` (its `cmd_port` and token file).
#[derive(Debug)]
pub struct IpcClient {
    base: String,
    addr: String,
    token: Token,
    token_path: PathBuf,
    client: reqwest::Client,
}

impl IpcClient {
    /// A client for the agent configured by `config`.
    pub fn for_config(config: &AgentConfig) -> Result<IpcClient, IpcError> {
        let port = if config.cmd_port == 0 {
            let path = config.run_path.join(CMD_PORT_FILE);
            let text = std::fs::read_to_string(&path).map_err(|source| IpcError::Token {
                path: path.clone(),
                source,
            })?;
            text.trim().parse().map_err(|_| IpcError::Answer {
                route: "cmd_port file",
                reason: format!("{} does not hold a port", path.display()),
            })?
        } else {
            config.cmd_port
        };
        let token = Token::read(&config.auth_token_file_path)?;
        IpcClient::new(
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
            token,
            config.auth_token_file_path.clone(),
        )
    }

    /// A client for the endpoint at `addr`.
    pub fn new(addr: SocketAddr, token: Token, token_path: PathBuf) -> Result<IpcClient, IpcError> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|err| IpcError::Unreachable {
                addr: addr.to_string(),
                reason: err.to_string(),
            })?;
        Ok(IpcClient {
            base: format!("http://{addr}"),
            addr: addr.to_string(),
            token,
            token_path,
            client,
        })
    }

    pub async fn status(&self) -> Result<AgentStatus, IpcError> {
        self.get("/agent/status").await
    }

    pub async fn health(&self) -> Result<Health, IpcError> {
        self.get("/agent/health").await
    }

    pub async fn config_check(&self) -> Result<ConfigCheck, IpcError> {
        self.get("/agent/config-check").await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, route: &'static str) -> Result<T, IpcError> {
        let response = self
            .client
            .get(format!("{}{route}", self.base))
            .bearer_auth(&self.token.0)
            .send()
            .await
            .map_err(|err| IpcError::Unreachable {
                addr: self.addr.clone(),
                reason: chain(&err),
            })?;
        match response.status().as_u16() {
            200 => response.json().await.map_err(|err| IpcError::Answer {
                route,
                reason: chain(&err),
            }),
            401 => Err(IpcError::Refused {
                addr: self.addr.clone(),
                path: self.token_path.clone(),
            }),
            status => Err(IpcError::Status {
                addr: self.addr.clone(),
                route,
                status,
            }),
        }
    }
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Health;

    struct Fixed;

    impl IpcSource for Fixed {
        fn status(&self) -> AgentStatus {
            crate::status::tests::sample()
        }
        fn health(&self) -> Health {
            Health {
                healthy: vec!["aggregator".into()],
                unhealthy: vec!["forwarder: API key invalid".into()],
            }
        }
        fn config_check(&self) -> ConfigCheck {
            ConfigCheck::default()
        }
    }

    #[tokio::test]
    async fn answers_only_with_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth_token");
        let token = Token::generate().unwrap();
        token.write(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let server = IpcServer::serve(bind(0).await.unwrap(), token, Arc::new(Fixed)).unwrap();
        let client = IpcClient::new(server.addr(), Token::read(&path).unwrap(), path.clone()).unwrap();
        assert_eq!(client.status().await.unwrap(), crate::status::tests::sample());
        assert_eq!(
            client.health().await.unwrap().unhealthy,
            ["forwarder: API key invalid"]
        );

        let wrong = IpcClient::new(server.addr(), Token::generate().unwrap(), path.clone()).unwrap();
        let err = wrong.status().await.unwrap_err();
        assert!(matches!(err, IpcError::Refused { .. }), "{err}");
        let addr = server.addr();
        server.shutdown().await;

        let err = client.status().await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach the agent at {addr} (cmd_port)")),
            "{err}"
        );
    }

    #[test]
    fn a_missing_token_file_says_what_to_check() {
        let err = Token::read(Path::new("/nonexistent/auth_token")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read the IPC token /nonexistent/auth_token: "),
            "{err}"
        );
        assert_eq!(format!("{:?}", Token("secret".into())), "********");
    }
}
