//! `cargo xtask up|down|status|logs|doctor|images`: the lab's stack on this machine (local processes),
//! in containers (docker) or in a VM (vagrant), a thin CLI over `ddlab-stack`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};
use ddlab_stack::docker::{self, DockerLab, images};
use ddlab_stack::local::{Datadog, Lab};
use ddlab_stack::ports::Ports;

use crate::project_root;

/// Where the stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Provider {
    /// Every component a process on this machine, under `.ddlab/`.
    Local,
    /// Two containers (backend, host) on a private network, from the images of `cargo xtask images`.
    Docker,
    /// The Ubuntu VM of the `Vagrantfile`, provisioned by `provision/provision.sh`.
    Vagrant,
}

/// Options shared by the stack commands.
#[derive(Debug, clap::Args)]
pub(crate) struct StackArgs {
    /// The solution to run (default: the reference answer in fixtures/solution).
    #[arg(long, env = "DDLAB_SOLUTION")]
    solution: Option<PathBuf>,
    /// Where the stack runs.
    #[arg(long, value_enum, default_value = "local", env = "DDLAB_PROVIDER")]
    provider: Provider,
    /// The docker provider's lab name: the prefix of its containers, network and volumes.
    #[arg(long, default_value = "ddlab", env = "DDLAB_DOCKER_NAME")]
    name: String,
}

fn solution(args: &StackArgs, root: &Path) -> anyhow::Result<PathBuf> {
    let solution = args
        .solution
        .clone()
        .unwrap_or_else(|| root.join("fixtures/solution"));
    if !solution.is_dir() {
        bail!("the solution folder {} does not exist", solution.display());
    }
    Ok(solution.canonicalize()?)
}

fn lab(args: &StackArgs, test_mode: bool) -> anyhow::Result<Lab> {
    let root = project_root();
    Ok(Lab {
        binaries: crate::target_dir(&root).join("debug"),
        state: root.join(".ddlab"),
        venvs: root.join(".ddlab"),
        solution: solution(args, &root)?,
        ports: Ports::from_env()?,
        project: root,
        test_mode,
    })
}

fn docker_lab(args: &StackArgs, test_mode: bool) -> anyhow::Result<DockerLab> {
    let root = project_root();
    Ok(DockerLab {
        name: args.name.clone(),
        solution: solution(args, &root)?,
        ports: Ports::from_env()?,
        test_mode,
        work: crate::target_dir(&root).join("docker"),
        project: root,
    })
}

/// A runtime for the docker provider's async calls.
fn block_on<T>(future: impl Future<Output = T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start an async runtime")?;
    Ok(runtime.block_on(future))
}

fn build_binaries(root: &Path) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("==> building the lab's binaries");
    let status = Command::new(&cargo)
        .args(["build", "--locked", "-p", "ddlab-backend", "-p", "ddlab-agent"])
        .current_dir(root)
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("building the lab's binaries failed");
    }
    Ok(())
}

pub(crate) fn up(args: &StackArgs, test_mode: bool, datadog: bool) -> anyhow::Result<()> {
    match args.provider {
        Provider::Local => up_local(args, test_mode, datadog),
        _ if datadog => bail!("--datadog runs with the local provider only (drop --provider)"),
        Provider::Docker => up_docker(args, test_mode),
        Provider::Vagrant => up_vagrant(args),
    }
}

/// Builds the binaries the VM runs, then `vagrant up --provision` with the solution and binaries the
/// `Vagrantfile` reads from the environment.
fn up_vagrant(args: &StackArgs) -> anyhow::Result<()> {
    let root = project_root();
    let solution = solution(args, &root)?;
    build_binaries(&root)?;
    let binaries = crate::target_dir(&root).join("debug");
    let Ok(inside) = binaries.strip_prefix(&root) else {
        bail!(
            "the VM sees only this checkout, but the binaries are in {} (CARGO_TARGET_DIR); unset it",
            binaries.display()
        );
    };
    let status = Command::new("vagrant")
        .args(["up", "--provision"])
        .env("DDLAB_SOLUTION", &solution)
        .env("DDLAB_BINARIES", inside)
        .current_dir(&root)
        .status();
    match status {
        Ok(status) if status.success() => {
            println!(
                "The VM is up: UI and API on http://127.0.0.1:{}",
                Ports::from_env()?.get("backend")
            );
            println!("  keys: vagrant ssh -c 'sudo cat /var/lib/ddlab/backend/keys.json'");
            Ok(())
        }
        Ok(status) => bail!("vagrant up failed ({status})"),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(VAGRANT_MISSING),
        Err(err) => Err(err).context("cannot run vagrant"),
    }
}

const VAGRANT_MISSING: &str = "vagrant is not installed on this machine; install Vagrant and a provider \
     (VirtualBox or libvirt), then run this again (see README.md, \"A VM with Vagrant\")";

fn up_local(args: &StackArgs, test_mode: bool, datadog: bool) -> anyhow::Result<()> {
    let lab = lab(args, test_mode)?;
    let datadog = if datadog { Some(Datadog::from_env()?) } else { None };
    build_binaries(&lab.project)?;
    match &datadog {
        Some(datadog) => lab.up_datadog(datadog, &mut |step| println!("==> {step}"))?,
        None => lab.up(&mut |step| println!("==> {step}"))?,
    }
    println!();
    println!("The lab is up. Solution: {}", lab.solution.display());
    println!();
    print!("{}", lab.ports);
    println!();
    match &datadog {
        Some(datadog) => {
            println!(
                "  Datadog      https://app.{} (DD_SITE={})",
                datadog.site, datadog.site
            );
            println!("  DD_API_KEY   from your environment (not shown, not written to any file)");
            println!("  relay        {} -> {}", lab.backend_url(), datadog.intake);
        }
        None => {
            println!("  UI and API   {}", lab.backend_url());
            if let Some((api, app)) = lab.keys() {
                println!("  DD_API_KEY   {api}");
                println!("  DD_APP_KEY   {app}");
            }
            println!("  mailbox      {}", lab.mail_dir().display());
        }
    }
    println!("  logs         {}", lab.state.join("logs").display());
    println!();
    println!("Try next:");
    println!("  curl http://127.0.0.1:{}/api/trace", lab.ports.get("app"));
    println!("  cargo xtask status");
    if datadog.is_some() {
        println!("  cargo test --test e2e -- --datadog   (needs DD_APP_KEY too)");
    } else {
        println!("  cargo test --test e2e");
    }
    Ok(())
}

fn up_docker(args: &StackArgs, test_mode: bool) -> anyhow::Result<()> {
    let lab = docker_lab(args, test_mode)?;
    let started = Instant::now();
    build_binaries(&lab.project)?;
    block_on(async {
        let docker = docker::connect().await?;
        build_images(&docker, &lab.project, false).await?;
        println!("==> starting the docker lab {:?}", lab.name);
        let keys = lab.up(&docker, &mut |step| println!("==> {step}")).await?;
        let mailbox = lab.volume_path(&docker, "backend").await;
        println!();
        println!(
            "The lab is up in containers ({:.0} s). Solution: {}",
            started.elapsed().as_secs_f64(),
            lab.solution.display()
        );
        println!();
        for name in ["backend", "app", "dogstatsd", "apm"] {
            let port = ddlab_stack::ports::PORTS
                .iter()
                .find(|p| p.name == name)
                .map_or("tcp", |p| if p.udp { "udp" } else { "tcp" });
            println!("{name:<10} 127.0.0.1:{}/{port}", lab.ports.get(name));
        }
        println!();
        println!("  UI and API   {}", lab.backend_url());
        println!("  DD_API_KEY   {}", keys.0);
        println!("  DD_APP_KEY   {}", keys.1);
        println!("  host         {} (the agent's hostname)", lab.host_name());
        if let Some(path) = mailbox {
            println!("  mailbox      {}", path.join("mail").display());
        }
        println!("  logs         cargo xtask logs --provider docker [backend|host]");
        println!();
        println!("Try next:");
        println!("  curl http://127.0.0.1:{}/api/trace", lab.ports.get("app"));
        println!("  cargo xtask status --provider docker");
        println!("  cargo xtask down --provider docker [--purge]");
        anyhow::Ok(())
    })?
}

pub(crate) fn down(args: &StackArgs, purge: bool) -> anyhow::Result<()> {
    match args.provider {
        Provider::Local => {
            let lab = lab(args, false)?;
            lab.down(purge, &mut |step| println!("==> {step}"))?;
        }
        Provider::Docker => {
            let lab = docker_lab(args, false)?;
            let started = Instant::now();
            block_on(async {
                let docker = docker::connect().await?;
                lab.down(&docker, purge, &mut |step| println!("==> {step}")).await
            })??;
            println!("==> down in {:.1} s", started.elapsed().as_secs_f64());
        }
        Provider::Vagrant => vagrant(if purge { &["destroy", "-f"] } else { &["halt"] })?,
    }
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
    match args.provider {
        Provider::Local => status_local(args),
        Provider::Docker => status_docker(args),
        Provider::Vagrant => vagrant(&["ssh", "-c", "sudo /opt/ddlab/provision/provision.sh health"]),
    }
}

fn status_local(args: &StackArgs) -> anyhow::Result<()> {
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

fn status_docker(args: &StackArgs) -> anyhow::Result<()> {
    let lab = docker_lab(args, false)?;
    let all = block_on(async {
        let docker = docker::connect().await?;
        lab.status(&docker).await
    })??;
    println!(
        "{:<10} {:<20} {:<10} {:<8} docker's health check",
        "component", "container", "state", "ready"
    );
    let mut bad = false;
    for status in &all {
        println!(
            "{:<10} {:<20} {:<10} {:<8} {}",
            status.component,
            status.container,
            match status.exit_code {
                Some(code) if status.state != "running" => format!("{} ({code})", status.state),
                _ => status.state.clone(),
            },
            if status.ready { "yes" } else { "NO" },
            status.health.as_deref().unwrap_or("-")
        );
        for line in &status.health_output {
            println!("           | {line}");
        }
        bad |= !status.ready;
    }
    if bad {
        bail!(
            "a container is not running or not healthy; see `cargo xtask logs --provider docker <component>`"
        );
    }
    Ok(())
}

pub(crate) fn logs(args: &StackArgs, component: Option<&str>, follow: bool) -> anyhow::Result<()> {
    match args.provider {
        Provider::Local => logs_local(args, component, follow),
        Provider::Docker => logs_docker(args, component, follow),
        Provider::Vagrant => vagrant(&[
            "ssh",
            "-c",
            if follow {
                "sudo journalctl -u ddlab -f"
            } else {
                "sudo journalctl -u ddlab -n 200"
            },
        ]),
    }
}

fn logs_local(args: &StackArgs, component: Option<&str>, follow: bool) -> anyhow::Result<()> {
    let lab = lab(args, false)?;
    let names: Vec<&str> = match component {
        Some(name) if ddlab_stack::local::COMPONENTS.contains(&name) => vec![name],
        Some(name) => bail!(
            "no component {name:?}; the components are {}",
            ddlab_stack::local::COMPONENTS.join(", ")
        ),
        None => ddlab_stack::local::COMPONENTS.to_vec(),
    };
    if follow {
        let files: Vec<PathBuf> = names.iter().map(|n| lab.files(n).log_file).collect();
        let status = Command::new("tail")
            .arg("-F")
            .args(&files)
            .status()
            .context("cannot run tail -F")?;
        if !status.success() {
            bail!("tail -F ended with {status}");
        }
        return Ok(());
    }
    for name in names {
        let files = lab.files(name);
        println!("==> {} <==", files.log_file.display());
        for line in ddlab_stack::process::log_tail(&files.log_file, 40) {
            println!("{line}");
        }
    }
    Ok(())
}

fn logs_docker(args: &StackArgs, component: Option<&str>, follow: bool) -> anyhow::Result<()> {
    let lab = docker_lab(args, false)?;
    let names: Vec<&str> = match component {
        Some(name) if docker::CONTAINERS.contains(&name) => vec![name],
        Some(name) => bail!(
            "no container {name:?} in the docker provider; they are {} (each one's log has every component's lines, prefixed)",
            docker::CONTAINERS.join(", ")
        ),
        None if follow => bail!("follow one container: cargo xtask logs --provider docker -f backend|host"),
        None => docker::CONTAINERS.to_vec(),
    };
    block_on(async {
        let docker = docker::connect().await?;
        for name in names {
            if follow {
                lab.follow_logs(&docker, name, 40, &mut |line| println!("{line}"))
                    .await?;
            } else {
                println!("==> {} <==", lab.container(name));
                for line in lab.logs(&docker, name, 40).await? {
                    println!("{line}");
                }
            }
        }
        anyhow::Ok(())
    })?
}

/// Runs `vagrant` in the checkout, where the `Vagrantfile` is.
fn vagrant(args: &[&str]) -> anyhow::Result<()> {
    let root = project_root();
    let status = match Command::new("vagrant").args(args).current_dir(&root).status() {
        Ok(status) => status,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(VAGRANT_MISSING),
        Err(err) => return Err(err).context("cannot run vagrant"),
    };
    if !status.success() {
        bail!("vagrant {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// `cargo xtask images`: builds the binaries, then the base, host and backend images.
pub(crate) fn images(offline: bool) -> anyhow::Result<()> {
    let root = project_root();
    let started = Instant::now();
    build_binaries(&root)?;
    block_on(async {
        let docker = docker::connect().await?;
        build_images(&docker, &root, offline).await
    })??;
    println!(
        "==> images ready in {:.1} s; run: cargo xtask up --provider docker",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn build_images(docker: &docker::Docker, root: &Path, offline: bool) -> anyhow::Result<()> {
    let build = images::ImageBuild {
        project: root.to_path_buf(),
        binaries: crate::target_dir(root).join("debug"),
        work: crate::target_dir(root).join("docker"),
        offline,
    };
    let (base, built) = images::build(docker, &build, &mut |step| println!("==> {step}")).await?;
    match base {
        images::BaseSource::Registry(name) => println!("==> base image: {name} from a registry"),
        images::BaseSource::Debootstrap { release, mirror } => println!(
            "==> base image: {}:{release}, debootstrapped offline from {mirror} (no registry reachable)",
            images::BASE_REPOSITORY
        ),
    }
    for image in built {
        println!(
            "==> {}: {} ({})",
            image.name,
            image
                .id
                .trim_start_matches("sha256:")
                .get(..12)
                .unwrap_or(&image.id),
            if image.cached { "cached" } else { "built" }
        );
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
    // The docker provider is optional: its state is reported, never counted as a problem.
    match block_on(docker::connect()) {
        Ok(Ok(_)) => println!("docker: the engine answers (cargo xtask images, then up --provider docker)"),
        Ok(Err(err)) => println!("docker: not usable ({err}); only needed for --provider docker"),
        Err(err) => println!("docker: {err}"),
    }
    if !Path::new("/usr/sbin/debootstrap").is_file() {
        println!(
            "docker: debootstrap is missing, needed by `cargo xtask images` without a registry; fix: apt-get install -y debootstrap"
        );
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
