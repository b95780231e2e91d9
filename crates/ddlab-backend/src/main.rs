//! The `ddlab-backend` binary: parses flags, sets up logging, serves until Ctrl-C or SIGTERM.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ddlab_backend::{Config, Keys, NotificationConfig, Secret};

#[derive(Debug, Parser)]
#[command(
    name = "ddlab-backend",
    version,
    about = "A Datadog-API-compatible backend for the ddlab lab"
)]
struct Args {
    /// Folder for the database and the key file.
    #[arg(long, env = "DDLAB_STATE_DIR", default_value = ".ddlab/backend")]
    state_dir: PathBuf,
    /// Address to listen on. Keep it on loopback unless you mean to share the lab.
    #[arg(long, env = "DDLAB_BACKEND_LISTEN", default_value = "127.0.0.1:8480")]
    listen: SocketAddr,
    /// Enable the movable test clock and its admin routes under /ddlab/test/.
    #[arg(long)]
    test_mode: bool,
    /// Accept this API key instead of the generated one (needs --app-key too).
    #[arg(long, env = "DDLAB_API_KEY", requires = "app_key", hide_env_values = true)]
    api_key: Option<String>,
    /// Accept this application key instead of the generated one (needs --api-key too).
    #[arg(long, env = "DDLAB_APP_KEY", requires = "api_key", hide_env_values = true)]
    app_key: Option<String>,
    /// The URL users reach the backend at, for links in API answers (default http://<listen>).
    #[arg(long, env = "DDLAB_PUBLIC_URL")]
    public_url: Option<String>,
    /// SMTP server (host:port, plain SMTP) for @email notifications; without it e-mails are written as
    /// .eml files into <state-dir>/outbox/.
    #[arg(long, env = "DDLAB_SMTP")]
    smtp: Option<String>,
    /// The From address of notification e-mails (default "ddlab <alerts@ddlab.local>").
    #[arg(long, env = "DDLAB_MAIL_FROM")]
    mail_from: Option<String>,
    /// JSON file of @webhook-<name> endpoints: {"webhooks": [{"name": "ops", "url": "http://..."}]}.
    #[arg(long, env = "DDLAB_WEBHOOKS")]
    webhooks: Option<PathBuf>,
    /// Fill the state folder with a day of demo data (three hosts, my_metric, MySQL, APM, events, the
    /// reference monitor and downtimes) before serving; meant for a fresh --state-dir.
    #[arg(long)]
    demo: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // Colours only on a terminal: the lab writes this stream to logs/backend.log.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    let keys = match (args.api_key, args.app_key) {
        (Some(api), Some(app)) => Some(Keys {
            api_key: Secret::new(api),
            app_key: Secret::new(app),
        }),
        _ => match ddlab_backend::state_dir_keys(&args.state_dir) {
            Ok((keys, created)) => {
                let file = args.state_dir.join(ddlab_backend::KEYS_FILE);
                if created && std::io::stdout().is_terminal() {
                    // The one time the keys are shown: the lab is local and the user needs them to
                    // point an agent or a client at it. They stay readable in the key file.
                    println!(
                        "Generated a key pair for this lab (kept in {}):\n  DD_API_KEY={}\n  DD_APP_KEY={}",
                        file.display(),
                        keys.api_key.expose(),
                        keys.app_key.expose()
                    );
                } else if created {
                    // Output that is not a terminal ends up in a log file (the lab's logs/backend.log),
                    // which must never hold a key.
                    println!(
                        "Generated a key pair for this lab in {} (keys are printed only to a terminal)",
                        file.display()
                    );
                }
                Some(keys)
            }
            Err(err) => {
                eprintln!("error: {err:#}");
                return ExitCode::FAILURE;
            }
        },
    };
    let config = Config {
        state_dir: args.state_dir,
        listen: args.listen,
        test_mode: args.test_mode,
        keys,
        public_url: args.public_url,
        notifications: NotificationConfig {
            smtp: args.smtp,
            mail_from: args.mail_from,
            webhooks: args.webhooks,
        },
    };
    let served = if args.demo {
        ddlab_backend::serve_demo(config, shutdown_signal()).await
    } else {
        ddlab_backend::serve(config, shutdown_signal()).await
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("Shutting down.");
}
