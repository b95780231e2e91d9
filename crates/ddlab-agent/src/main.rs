//! The `ddlab-agent` binary: the Datadog Agent's CLI (`run`, `status`, `check`, `configcheck`, `health`)
//! over the library.
//!
//! ```text
//! ddlab-agent [-c <config root>] run [--python <venv>/bin/python] [-p <pidfile>]
//! ddlab-agent [-c <config root>] status [--json] [--pretty-json]
//! ddlab-agent [-c <config root>] check <name> [--check-rate] [-t <times>] [--json] [--python <interpreter>]
//! ddlab-agent [-c <config root>] configcheck [--json]
//! ddlab-agent [-c <config root>] health [--json]
//! ddlab-agent version
//! ```

// The CLI's output is its purpose.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ddlab_agent::command::{CheckRequest, run_check};
use ddlab_agent::config::{AgentConfig, DEFAULT_CONFIG_ROOT};
use ddlab_agent::configcheck;
use ddlab_agent::ipc::IpcClient;
use ddlab_agent::python::DEFAULT_AGENT_VERSION;
use ddlab_agent::runtime::{Agent, AgentOptions};
use ddlab_agent::status;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The lab's Datadog Agent: reads datadog.yaml, conf.d and checks.d like the real one, and forwards to the
/// lab's backend.
#[derive(Debug, Parser)]
#[command(name = "ddlab-agent", version, about)]
struct Cli {
    /// The config root: datadog.yaml, conf.d/, checks.d/ (the Agent's layout).
    #[arg(short = 'c', long = "cfgpath", global = true, default_value = DEFAULT_CONFIG_ROOT)]
    cfgpath: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent until SIGTERM or Ctrl-C, then flush everything and stop.
    Run {
        /// The Python check host's interpreter (a virtualenv with crates/ddlab-agent/python/requirements.txt);
        /// wins over ddlab_python in datadog.yaml and DDLAB_PYTHON.
        #[arg(long)]
        python: Option<PathBuf>,
        /// Also write the process ID to this file.
        #[arg(short = 'p', long)]
        pidfile: Option<PathBuf>,
    },
    /// Show the running agent's status (over the IPC endpoint on cmd_port).
    Status {
        /// Print the status as JSON.
        #[arg(short = 'j', long)]
        json: bool,
        /// Print the status as indented JSON.
        #[arg(short = 'p', long)]
        pretty_json: bool,
    },
    /// Run one check once, locally, and print what it would send.
    Check {
        /// The check's name (conf.d/<name>.yaml or conf.d/<name>.d/, or a core check).
        name: String,
        /// Run twice, one second apart, so rates appear.
        #[arg(short = 'r', long)]
        check_rate: bool,
        /// How many times to run each instance.
        #[arg(short = 't', long = "check-times", default_value_t = 1)]
        times: u32,
        /// Print the result as JSON.
        #[arg(short = 'j', long)]
        json: bool,
        /// The Python check host's interpreter.
        #[arg(long)]
        python: Option<PathBuf>,
        /// Log level for the run (off, error, warn, info, debug).
        #[arg(short = 'l', long, default_value = "warn")]
        log_level: String,
    },
    /// Show the check configurations the running agent loaded, secrets masked.
    Configcheck {
        /// Print as JSON.
        #[arg(short = 'j', long)]
        json: bool,
    },
    /// Show the running agent's health; exits non-zero when unhealthy or unreachable.
    Health {
        /// Print as JSON.
        #[arg(short = 'j', long)]
        json: bool,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ddlab-agent: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("ddlab-agent: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(mut cli: Cli) -> anyhow::Result<ExitCode> {
    // Paths derived from the root (conf.d, checks.d, run/) are shown and passed on absolute.
    cli.cfgpath = std::path::absolute(&cli.cfgpath)
        .with_context(|| format!("cannot resolve the config root {}", cli.cfgpath.display()))?;
    match cli.command {
        Command::Run { python, pidfile } => run(cli.cfgpath, python, pidfile).await,
        Command::Status { json, pretty_json } => {
            init_logging("warn", None)?;
            let client = client(&cli.cfgpath)?;
            let status = client.status().await?;
            if pretty_json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else if json {
                println!("{}", serde_json::to_string(&status)?);
            } else {
                print!("{}", status::render(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            name,
            check_rate,
            times,
            json,
            python,
            log_level,
        } => {
            init_logging(&log_level, None)?;
            let mut config = load_config(&cli.cfgpath)?;
            if python.is_some() {
                config.python = python;
            }
            let report = run_check(
                &config,
                &CheckRequest {
                    name,
                    times,
                    check_rate,
                },
            )
            .await?;
            let hostname = ddlab_agent::metadata::resolve_hostname(&config);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report.to_json("", &hostname))?
                );
            } else {
                print!("{}", report.render(&hostname));
            }
            Ok(if report.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Configcheck { json } => {
            init_logging("warn", None)?;
            let check = client(&cli.cfgpath)?.config_check().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&check)?);
            } else {
                print!("{}", configcheck::render(&check));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Health { json } => {
            init_logging("warn", None)?;
            let health = match client(&cli.cfgpath) {
                Ok(client) => client.health().await.map_err(anyhow::Error::from),
                Err(err) => Err(err),
            };
            let health = match health {
                Ok(health) => health,
                Err(err) => {
                    println!("Agent health: FAIL");
                    eprintln!("ddlab-agent: {err:#}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&health)?);
            } else {
                print!("{}", health.render());
            }
            Ok(if health.is_healthy() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Version => {
            println!(
                "ddlab-agent {} (imitating Datadog Agent {DEFAULT_AGENT_VERSION})",
                env!("CARGO_PKG_VERSION")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run(
    cfgpath: PathBuf,
    python: Option<PathBuf>,
    pidfile: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let mut options = AgentOptions::new(&cfgpath);
    options.python = python;
    options.pidfile = pidfile;
    // The log settings come from datadog.yaml, so it is read once before logging starts; a bad file
    // is reported by the start below.
    let (level, file) = match options.load_config() {
        Ok(loaded) => (loaded.config.log_level, loaded.config.log_file),
        Err(_) => ("info".to_owned(), None),
    };
    init_logging(&level, file.as_deref())?;
    let agent = Agent::start(options)
        .await
        .with_context(|| format!("cannot start with the configuration in {}", cfgpath.display()))?;
    wait_for_signal().await?;
    // A clean stop exits 0 even when the intake was down: what was lost is logged at ERROR.
    agent.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            result = tokio::signal::ctrl_c() => {
                result.context("cannot listen for Ctrl-C")?;
                tracing::info!("interrupt received");
            }
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")?;
    }
    Ok(())
}

fn load_config(cfgpath: &std::path::Path) -> anyhow::Result<AgentConfig> {
    let loaded = AgentConfig::load(cfgpath, &|var| std::env::var(var).ok())?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded.config)
}

fn client(cfgpath: &std::path::Path) -> anyhow::Result<IpcClient> {
    Ok(IpcClient::for_config(&load_config(cfgpath)?)?)
}

/// Logs to stderr, and also to `file` when set. `RUST_LOG` wins over `level`.
fn init_logging(level: &str, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    // The Agent's names; anything else is reported and read as info.
    let level = match level {
        "trace" | "debug" | "info" | "warn" | "error" | "off" => level,
        "warning" => "warn",
        "critical" => "error",
        other => {
            eprintln!(
                "ddlab-agent: log_level {other:?} is not one of trace, debug, info, warn, error, critical, off; \
                 using info"
            );
            "info"
        }
    };
    let filter = |level: &str| EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(level));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter(level).context("log_level")?);
    let file_layer = match file {
        Some(path) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create the folder of log_file {}", path.display()))?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open log_file {}", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(Mutex::new(file))
                    .with_ansi(false)
                    .with_filter(filter(level).context("log_level")?),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init()
        .context("cannot set up logging")
}
