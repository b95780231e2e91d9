//! ddlab-backend: a Datadog-API-compatible server for the lab. The only crate that knows HTTP routes.
//!
//! The backend stores what the agent and the official clients send (`ddlab-store`), answers queries with
//! `ddlab-query`, and reads time from one [`Clock`] that test mode may move.

mod alerting;
mod apm;
mod clock;
pub mod demo;
mod http;
mod keys;
mod private;
pub mod source;
mod ui;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use ddlab_store::Store;

pub use alerting::Alerting;
pub use alerting::deliver::OUTBOX_DIR;
pub use clock::Clock;
pub use http::{ApiError, router};
pub use keys::{KEYS_FILE, Keys, Secret};
pub use ui::Ui;

/// Everything a running backend shares between requests.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub keys: Arc<Keys>,
    pub clock: Arc<Clock>,
    /// Test mode adds the admin routes that move the clock.
    pub test_mode: bool,
    /// The web UI's base URL, used in links the API answers with (event `url`, snapshot URLs).
    pub app_url: Arc<str>,
    /// Monitor evaluation and notification delivery.
    pub alerting: Arc<Alerting>,
    /// The web UI's sessions and snapshot folder.
    pub ui: Arc<Ui>,
}

/// How to run a backend.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the database and the key file live. Created if missing, with mode 0700.
    pub state_dir: PathBuf,
    /// Address to listen on; default `127.0.0.1:8480` (loopback only). On any other address the web UI
    /// asks for the application key.
    pub listen: SocketAddr,
    /// Start with the movable test clock and its admin routes.
    pub test_mode: bool,
    /// Use these keys instead of the state folder's key file.
    pub keys: Option<Keys>,
    /// The base URL links should use; default `http://<listen address>`.
    pub public_url: Option<String>,
    /// Where notifications go.
    pub notifications: NotificationConfig,
}

/// Where monitor and event notifications go.
#[derive(Debug, Clone, Default)]
pub struct NotificationConfig {
    /// The SMTP server for `@email` handles, `host:port` (plain SMTP, no TLS: the lab's mail sink); default
    /// none, and e-mails are written as `.eml` files into `<state_dir>/outbox/`.
    pub smtp: Option<String>,
    /// The From address of e-mails; default `ddlab <alerts@ddlab.local>`.
    pub mail_from: Option<String>,
    /// A JSON file of `@webhook-<name>` endpoints, `{"webhooks": [{"name", "url", "payload",
    /// "custom_headers", "encode_as"}]}` (Datadog's webhooks integration fields); default none.
    pub webhooks: Option<PathBuf>,
}

/// The database file inside the state folder.
pub const DATABASE_FILE: &str = "ddlab.db";

impl AppState {
    /// Opens the state folder: creates it (0700), opens the database, reads or creates the keys.
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        create_private_dir(&config.state_dir)?;
        let store = Store::open(&config.state_dir.join(DATABASE_FILE))?;
        let keys = match &config.keys {
            Some(keys) => keys.clone(),
            None => state_dir_keys(&config.state_dir)?.0,
        };
        let alerting = Alerting::new(&config.notifications, &config.state_dir)?;
        Ok(Self {
            ui: Arc::new(Ui::new(config.listen, &config.state_dir)),
            alerting: Arc::new(alerting),
            store: Arc::new(store),
            keys: Arc::new(keys),
            clock: Arc::new(Clock::default()),
            test_mode: config.test_mode,
            app_url: config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.listen))
                .trim_end_matches('/')
                .into(),
        })
    }
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_inner(config, shutdown, false).await
}

/// Seeds the [`demo`] data set into the state folder, then serves until `shutdown` resolves.
pub async fn serve_demo(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_inner(config, shutdown, true).await
}

async fn serve_inner(
    mut config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    demo: bool,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    // With port 0 the system picks one: links must name the real one.
    config.listen = listener.local_addr()?;
    let state = AppState::open(&config)?;
    if demo {
        let report = demo::seed(&state).await.context("seeding the demo data failed")?;
        tracing::info!(
            points = report.points,
            monitor = report.monitor_id,
            "Demo data seeded."
        );
    }
    tracing::info!(address = %listener.local_addr()?, test_mode = config.test_mode, "Backend listening.");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    alerting::spawn(&state, &stopped, &mut tasks);
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("server failed");
    // The loops stop after the server: the deliverer sends what the last requests recorded.
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    served
}

/// The key pair kept in `state_dir` (created with the folder on first use), and whether it was just created.
pub fn state_dir_keys(state_dir: &std::path::Path) -> anyhow::Result<(Keys, bool)> {
    create_private_dir(state_dir)?;
    Keys::load_or_create(state_dir)
}

fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the state folder {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {} to its owner", dir.display()))?;
    }
    Ok(())
}
