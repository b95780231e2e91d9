//! `cargo xtask up|down|status|logs|doctor`: the lab's stack on this machine (the local provider), a thin
//! CLI over `ddlab-stack`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};
use ddlab_stack::local::Lab;
use ddlab_stack::ports::Ports;

use crate::project_root;

/// Options shared by the stack commands.
#[derive(Debug, clap::Args)]
pub(crate) struct StackArgs {
    /// The solution to run (default: the reference answer in fixtures/solution).
    #[arg(long, env = "DDLAB_SOLUTION")]
    solution: Option<PathBuf>,
    /// The provider; only `local` (processes on this machine) exists so far.
    #[arg(long, default_value = "local")]
    provider: String,
}

fn lab(args: &StackArgs, test_mode: bool) -> anyhow::Result<Lab> {
    if args.provider != "local" {
        bail!(
            "provider {:?} is not available yet: only `local` runs today (docker and vagrant are planned in the stack issue)",
            args.provider
        );
    }
    let root = project_root();
    let solution = args
        .solution
        .clone()
        .unwrap_or_else(|| root.join("fixtures/solution"));
    if !solution.is_dir() {
        bail!("the solution folder {} does not exist", solution.display());
    }
    Ok(Lab {
        binaries: crate::target_dir(&root).join("debug"),
        state: root.join(".ddlab"),
        venvs: root.join(".ddlab"),
        solution: solution.canonicalize()?,
        ports: Ports::from_env()?,
        project: root,
        test_mode,
    })
}

pub(crate) fn up(args: &StackArgs, test_mode: bool) -> anyhow::Result<()> {
    let lab = lab(args, test_mode)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("==> building the lab's binaries");
    let status = Command::new(&cargo)
        .args(["build", "--locked", "-p", "ddlab-backend", "-p", "ddlab-agent"])
        .current_dir(&lab.project)
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("building the lab's binaries failed");
    }
    lab.up(&mut |step| println!("==> {step}"))?;
    println!();
    println!("The lab is up. Solution: {}", lab.solution.display());
    println!();
    print!("{}", lab.ports);
    println!();
    println!("  UI and API   {}", lab.backend_url());
    if let Some((api, app)) = lab.keys() {
        println!("  DD_API_KEY   {api}");
        println!("  DD_APP_KEY   {app}");
    }
    println!("  mailbox      {}", lab.mail_dir().display());
    println!("  logs         {}", lab.state.join("logs").display());
    println!();
    println!("Try next:");
    println!("  curl http://127.0.0.1:{}/api/trace", lab.ports.get("app"));
    println!("  cargo xtask status");
    println!("  cargo test --test e2e");
    Ok(())
}

pub(crate) fn down(args: &StackArgs, purge: bool) -> anyhow::Result<()> {
    let lab = lab(args, false)?;
    lab.down(purge, &mut |step| println!("==> {step}"))?;
    println!(
        "The lab is down{}.",
        if purge {
            " and its data deleted"
        } else {
            " (data kept; --purge deletes it)"
        }
    );
    Ok(())
}

pub(crate) fn status(args: &StackArgs) -> anyhow::Result<()> {
    let lab = lab(args, false)?;
    println!("{:<10} {:<10} {:<8} log", "component", "state", "pid");
    let mut crashed = false;
    for component in lab.status() {
        let state = match (component.pid, component.crashed) {
            (Some(_), _) => "running",
            (None, true) => "CRASHED",
            (None, false) => "stopped",
        };
        println!(
            "{:<10} {:<10} {:<8} {}",
            component.name,
            state,
            component.pid.map_or("-".to_owned(), |p| p.to_string()),
            component.log.display()
        );
        if component.crashed {
            crashed = true;
            for line in &component.log_tail {
                println!("           | {line}");
            }
        }
    }
    println!();
    print!("{}", lab.ports);
    if crashed {
        bail!("a component stopped on its own; its last log lines are above");
    }
    Ok(())
}

pub(crate) fn logs(args: &StackArgs, component: Option<&str>) -> anyhow::Result<()> {
    let lab = lab(args, false)?;
    let names: Vec<&str> = match component {
        Some(name) if ddlab_stack::local::COMPONENTS.contains(&name) => vec![name],
        Some(name) => bail!(
            "no component {name:?}; the components are {}",
            ddlab_stack::local::COMPONENTS.join(", ")
        ),
        None => ddlab_stack::local::COMPONENTS.to_vec(),
    };
    for name in names {
        let files = lab.files(name);
        println!("==> {} <==", files.log_file.display());
        for line in ddlab_stack::process::log_tail(&files.log_file, 40) {
            println!("{line}");
        }
    }
    Ok(())
}

/// What this machine lacks to run the lab, with the command that fixes each.
pub(crate) fn doctor() -> anyhow::Result<()> {
    let mut problems = Vec::new();
    if ddlab_stack::mysql::Programs::find().is_err() {
        problems.push(("MariaDB server", "apt-get install -y mariadb-server"));
    }
    let venv_ok = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .status()
        .is_ok_and(|s| s.success());
    if !venv_ok {
        problems.push(("Python 3 with venv", "apt-get install -y python3 python3-venv"));
    }
    if let Err(err) = Ports::from_env().map_err(anyhow::Error::from).and_then(|p| {
        p.check_free(&["backend", "smtp", "app", "apm", "dogstatsd", "agent-ipc"])
            .map_err(Into::into)
    }) {
        println!("note: {err} (fine if the lab is already up)");
    }
    if problems.is_empty() {
        println!("doctor: this machine has everything the local provider needs");
        return Ok(());
    }
    for (what, fix) in &problems {
        println!("missing: {what}; fix: {fix}");
    }
    bail!("{} thing(s) missing, see above", problems.len())
}
