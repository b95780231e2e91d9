//! The docker provider: the lab as two containers on a private network, driven through the Docker Engine
//! API (bollard).
//!
//! ```text
//! network <name>
//!   <name>-backend   ddlab/backend: ddlab-backend + mail sink     volume <name>-backend-data
//!                    published: backend/UI on 127.0.0.1
//!   <name>-host      ddlab/host: MariaDB + agent + app + traffic  volume <name>-host-data
//!                    the solution mounted read-only at /solution
//!                    published: app, DogStatsD, APM on 127.0.0.1
//! ```
//!
//! Both images run `provision/provision.sh run` and report their components through its `health`
//! command, which is the containers' health check. Every object carries the label `org.ddlab.lab=<name>`,
//! so `down` finds them all; the volumes outlive `down` unless it purges. `up` is idempotent: a running
//! container whose image and settings are unchanged is left alone, anything else is replaced.

pub mod images;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthStatusEnum, HostConfig, NetworkCreateRequest,
    NetworkingConfig, PortBinding, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions, RemoveVolumeOptions,
    StopContainerOptions,
};
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};

use crate::ports::{PORTS, PortError, Ports};

/// The label every object of a lab carries, with the lab's name as its value.
pub const LAB_LABEL: &str = "org.ddlab.lab";
/// The label naming the component a container runs (`backend`, `host`).
pub const COMPONENT_LABEL: &str = "org.ddlab.component";
/// The label holding the hash of a container's image and settings, so an unchanged one is kept.
const SPEC_LABEL: &str = "org.ddlab.spec";

/// The containers of a lab, in start order.
pub const CONTAINERS: &[&str] = &["backend", "host"];

/// Where the images keep their state (a volume per container).
const DATA: &str = "/var/lib/ddlab";

/// The provisioning script in both images; `health` checks every component of the container.
const HEALTH_COMMAND: &str = "/opt/ddlab/provision/provision.sh";

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach the Docker engine ({source}); start it (systemctl start docker) or set DOCKER_HOST"
    )]
    Unreachable { source: bollard::errors::Error },
    #[error("{action}: {source}")]
    Api {
        action: String,
        source: bollard::errors::Error,
    },
    #[error("building {image} failed: {message}\nthe build's last lines:\n{tail}")]
    Build {
        image: String,
        message: String,
        tail: String,
    },
    #[error("`{command}` failed ({status}):\n{output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },
    #[error("cannot read or write {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Missing(String),
    #[error(transparent)]
    Ports(#[from] PortError),
    #[error("{container} did not become healthy within {seconds} s ({state}); {detail}")]
    NotHealthy {
        container: String,
        state: String,
        seconds: u64,
        detail: String,
    },
}

/// Connects to the local Docker engine (`DOCKER_HOST` or its Unix socket) at the API version it speaks.
pub async fn connect() -> Result<Docker, DockerError> {
    let docker =
        Docker::connect_with_local_defaults().map_err(|source| DockerError::Unreachable { source })?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|source| DockerError::Unreachable { source })?;
    docker
        .ping()
        .await
        .map_err(|source| DockerError::Unreachable { source })?;
    Ok(docker)
}

/// A lab run by the docker provider.
#[derive(Debug, Clone)]
pub struct DockerLab {
    /// The prefix of every object the lab creates and the value of its `org.ddlab.lab` label
    /// (default `ddlab`); two labs with different names do not touch each other.
    pub name: String,
    /// The ddlab checkout (the reference app requirements the host image was built with).
    pub project: PathBuf,
    /// The solution, mounted read-only into the host container.
    pub solution: PathBuf,
    /// The published ports: the backend/UI, the app, DogStatsD and APM, on 127.0.0.1.
    pub ports: Ports,
    /// Start the backend with its movable test clock.
    pub test_mode: bool,
    /// Scratch space for the wheels of a solution whose app requirements differ from the image's
    /// (`target/docker`).
    pub work: PathBuf,
}

/// What `status` says about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    /// `backend` or `host`.
    pub component: &'static str,
    pub container: String,
    /// Docker's state (`running`, `exited`, …), or `missing`.
    pub state: String,
    /// Docker's verdict from its periodic health check (`healthy`, `starting`, `unhealthy`), which lags
    /// by up to its interval.
    pub health: Option<String>,
    /// Whether the health command passes now (run by `status` itself in a running container).
    pub ready: bool,
    /// What the health command printed, one line per component (`mysql: ok`, `agent: FAILED`): now, in a
    /// running container; Docker's last check otherwise.
    pub health_output: Vec<String>,
    pub exit_code: Option<i64>,
}

impl DockerLab {
    pub fn container(&self, component: &str) -> String {
        format!("{}-{component}", self.name)
    }

    fn volume(&self, component: &str) -> String {
        format!("{}-{component}-data", self.name)
    }

    /// The host container's hostname, which the agent reports as its host.
    pub fn host_name(&self) -> String {
        self.container("host")
    }

    pub fn backend_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.get("backend"))
    }

    fn labels(&self, component: &str, spec: &str) -> HashMap<String, String> {
        HashMap::from([
            (LAB_LABEL.to_owned(), self.name.clone()),
            (COMPONENT_LABEL.to_owned(), component.to_owned()),
            (SPEC_LABEL.to_owned(), spec.to_owned()),
        ])
    }

    /// Brings the lab up: network, volumes, the backend, then the host with the backend's API key; waits
    /// for both health checks. Returns the backend's API and application keys.
    pub async fn up(
        &self,
        docker: &Docker,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(String, String), DockerError> {
        if !self.solution.is_dir() {
            return Err(DockerError::Missing(format!(
                "the solution folder {} does not exist",
                self.solution.display()
            )));
        }
        for image in [images::BACKEND_IMAGE, images::HOST_IMAGE] {
            if images::image_label(docker, image).await?.is_none() {
                return Err(DockerError::Missing(format!(
                    "the image {image} does not exist; build it with: cargo xtask images"
                )));
            }
        }
        self.ensure_network(docker, progress).await?;
        for component in CONTAINERS {
            let volume = self.volume(component);
            docker
                .create_volume(VolumeCreateRequest {
                    name: Some(volume.clone()),
                    labels: Some(HashMap::from([(LAB_LABEL.to_owned(), self.name.clone())])),
                    ..Default::default()
                })
                .await
                .map_err(|source| DockerError::Api {
                    action: format!("creating the volume {volume}"),
                    source,
                })?;
        }

        let backend = self.backend_body(docker).await?;
        self.ensure_container(docker, "backend", backend, &["backend"], progress)
            .await?;
        self.wait_healthy(docker, "backend", Duration::from_secs(180), progress)
            .await?;
        let keys = self.keys(docker).await?.ok_or_else(|| {
            DockerError::Missing(format!(
                "the backend has not written {DATA}/backend/keys.json in {}",
                self.container("backend")
            ))
        })?;
        progress(&format!(
            "backend: {} (UI and API), data in the volume {}",
            self.backend_url(),
            self.volume("backend")
        ));

        let host = self.host_body(docker, &keys.0, progress).await?;
        self.ensure_container(docker, "host", host, &["app", "dogstatsd", "apm"], progress)
            .await?;
        self.wait_healthy(docker, "host", Duration::from_secs(600), progress)
            .await?;
        progress(&format!(
            "host: {} (MariaDB, agent, app, traffic), data in the volume {}",
            self.host_name(),
            self.volume("host")
        ));
        Ok(keys)
    }

    async fn ensure_network(
        &self,
        docker: &Docker,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), DockerError> {
        match docker.inspect_network(&self.name, None).await {
            Ok(_) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                docker
                    .create_network(NetworkCreateRequest {
                        name: self.name.clone(),
                        driver: Some("bridge".to_owned()),
                        labels: Some(HashMap::from([(LAB_LABEL.to_owned(), self.name.clone())])),
                        ..Default::default()
                    })
                    .await
                    .map_err(|source| DockerError::Api {
                        action: format!("creating the network {}", self.name),
                        source,
                    })?;
                progress(&format!("network: created {}", self.name));
                Ok(())
            }
            Err(source) => Err(DockerError::Api {
                action: format!("inspecting the network {}", self.name),
                source,
            }),
        }
    }

    async fn backend_body(&self, docker: &Docker) -> Result<ContainerCreateBody, DockerError> {
        let mut env = vec![
            "DDLAB_ROLE=backend".to_owned(),
            format!("DDLAB_PUBLIC_URL={}", self.backend_url()),
        ];
        if self.test_mode {
            env.push("DDLAB_TEST_MODE=1".to_owned());
        }
        let image = image_id(docker, images::BACKEND_IMAGE).await?;
        Ok(ContainerCreateBody {
            image: Some(image),
            hostname: Some(self.container("backend")),
            env: Some(env),
            host_config: Some(HostConfig {
                binds: Some(vec![format!("{}:{DATA}", self.volume("backend"))]),
                port_bindings: Some(self.port_bindings(&["backend"])),
                init: Some(true),
                network_mode: Some(self.name.clone()),
                ..Default::default()
            }),
            networking_config: Some(self.endpoint(&["backend"])),
            ..Default::default()
        })
    }

    async fn host_body(
        &self,
        docker: &Docker,
        api_key: &str,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ContainerCreateBody, DockerError> {
        let backend_port = default_port("backend");
        let mut env = vec![
            "DDLAB_ROLE=host".to_owned(),
            "DDLAB_SOLUTION=/solution".to_owned(),
            format!("DDLAB_BACKEND_URL=http://backend:{backend_port}"),
            format!("DD_API_KEY={api_key}"),
        ];
        let mut binds = vec![
            format!("{}:/solution:ro", self.solution.display()),
            format!("{}:{DATA}", self.volume("host")),
        ];
        let requirements = self.solution.join("app/requirements.txt");
        let reference = self.project.join("fixtures/solution/app/requirements.txt");
        if requirements.is_file() && std::fs::read(&requirements).ok() != std::fs::read(&reference).ok() {
            progress(&format!(
                "host: the solution's {} differs from the image's; downloading its wheels",
                requirements.display()
            ));
            let wheels = images::solution_wheels(&self.work, &requirements).await?;
            binds.push(format!("{}:/opt/ddlab/wheels-solution:ro", wheels.display()));
            env.push("DDLAB_WHEELS=/opt/ddlab/wheels-solution".to_owned());
        }
        let image = image_id(docker, images::HOST_IMAGE).await?;
        Ok(ContainerCreateBody {
            image: Some(image),
            hostname: Some(self.host_name()),
            env: Some(env),
            host_config: Some(HostConfig {
                binds: Some(binds),
                port_bindings: Some(self.port_bindings(&["app", "dogstatsd", "apm"])),
                init: Some(true),
                network_mode: Some(self.name.clone()),
                ..Default::default()
            }),
            networking_config: Some(self.endpoint(&[])),
            ..Default::default()
        })
    }

    /// The container side of each named port is its default; the host side is the port table's, on
    /// 127.0.0.1 only.
    fn port_bindings(&self, names: &[&str]) -> HashMap<String, Option<Vec<PortBinding>>> {
        names
            .iter()
            .map(|name| {
                let port = PORTS
                    .iter()
                    .find(|p| p.name == *name)
                    .unwrap_or_else(|| unreachable!("no port named {name}"));
                let proto = if port.udp { "udp" } else { "tcp" };
                (
                    format!("{}/{proto}", port.default),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".to_owned()),
                        host_port: Some(self.ports.get(name).to_string()),
                    }]),
                )
            })
            .collect()
    }

    fn endpoint(&self, aliases: &[&str]) -> NetworkingConfig {
        NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                self.name.clone(),
                EndpointSettings {
                    aliases: Some(aliases.iter().map(|a| (*a).to_owned()).collect()),
                    ..Default::default()
                },
            )])),
        }
    }

    /// Keeps a running container made from the same image and settings; replaces anything else.
    async fn ensure_container(
        &self,
        docker: &Docker,
        component: &'static str,
        mut body: ContainerCreateBody,
        published: &[&str],
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), DockerError> {
        let name = self.container(component);
        // Through `Value`, whose maps are sorted, so the same settings always hash the same.
        let spec = {
            let canonical = serde_json::to_value(&body)
                .and_then(|value| serde_json::to_vec(&value))
                .unwrap_or_default();
            let digest = Sha256::digest(&canonical);
            digest.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        match docker.inspect_container(&name, None).await {
            Ok(existing) => {
                let same = existing
                    .config
                    .as_ref()
                    .and_then(|c| c.labels.as_ref())
                    .and_then(|l| l.get(SPEC_LABEL))
                    .is_some_and(|s| *s == spec);
                let running = existing.state.as_ref().and_then(|s| s.running).unwrap_or(false);
                if same && running {
                    progress(&format!("{component}: already running ({name})"));
                    return Ok(());
                }
                progress(&format!(
                    "{component}: replacing {name} ({})",
                    if same {
                        "it had stopped"
                    } else {
                        "its image or settings changed"
                    }
                ));
                remove_container(docker, &name).await?;
            }
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(source) => {
                return Err(DockerError::Api {
                    action: format!("inspecting the container {name}"),
                    source,
                });
            }
        }
        self.ports.check_free(published)?;
        body.labels = Some(self.labels(component, &spec));
        docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|source| DockerError::Api {
                action: format!("creating the container {name}"),
                source,
            })?;
        docker
            .start_container(&name, None)
            .await
            .map_err(|source| DockerError::Api {
                action: format!("starting the container {name}"),
                source,
            })?;
        progress(&format!("{component}: started {name}"));
        Ok(())
    }

    /// Runs the container's health command (`provision.sh health`) itself every half second until it
    /// passes, the container stops, Docker's own check says unhealthy, or `limit` passes. (Docker's check
    /// runs every 10 s; waiting for its verdict would add that much to every `up`.)
    async fn wait_healthy(
        &self,
        docker: &Docker,
        component: &'static str,
        limit: Duration,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), DockerError> {
        let name = self.container(component);
        let deadline = Instant::now() + limit;
        let mut last_output = Vec::new();
        loop {
            let status = self.container_status(docker, component).await?;
            let stopped = status.state != "running";
            if status.ready {
                progress(&format!(
                    "{component}: healthy ({})",
                    status.health_output.join(", ")
                ));
                return Ok(());
            }
            if !status.health_output.is_empty() {
                last_output = status.health_output.clone();
            }
            if stopped || status.health.as_deref() == Some("unhealthy") || Instant::now() >= deadline {
                let tail = self.logs(docker, component, 30).await.unwrap_or_default();
                return Err(DockerError::NotHealthy {
                    container: name,
                    state: match status.exit_code {
                        Some(code) if stopped => format!("{}, exit code {code}", status.state),
                        _ => format!("{}, health {}", status.state, status.health.unwrap_or_default()),
                    },
                    seconds: limit.as_secs(),
                    detail: format!(
                        "its health check said: {}\nits log ends with:\n{}",
                        if last_output.is_empty() {
                            "nothing yet".to_owned()
                        } else {
                            last_output.join(", ")
                        },
                        tail.join("\n")
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The backend's generated API and application keys, read from its state in the container.
    pub async fn keys(&self, docker: &Docker) -> Result<Option<(String, String)>, DockerError> {
        let name = self.container("backend");
        let text = match exec_output(docker, &name, &["cat", &format!("{DATA}/backend/keys.json")]).await {
            Ok(text) => text,
            Err(DockerError::Api {
                source: bollard::errors::Error::DockerResponseServerError { status_code, .. },
                ..
            }) if status_code == 404 || status_code == 409 => return Ok(None),
            Err(err) => return Err(err),
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Ok(None);
        };
        Ok(value["api_key"]
            .as_str()
            .zip(value["app_key"].as_str())
            .map(|(api, app)| (api.to_owned(), app.to_owned())))
    }

    /// Stops and removes the lab's containers and network; with `purge`, its volumes too.
    pub async fn down(
        &self,
        docker: &Docker,
        purge: bool,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), DockerError> {
        let names: Vec<String> = self.labelled_containers(docker).await?;
        // Both at once: each container's entrypoint stops its own components in order.
        let removals = names.iter().map(|name| remove_container(docker, name));
        for (name, removed) in names.iter().zip(futures_util::future::join_all(removals).await) {
            removed?;
            progress(&format!("removed the container {name}"));
        }
        match docker.remove_network(&self.name).await {
            Ok(()) => progress(&format!("removed the network {}", self.name)),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(source) => {
                return Err(DockerError::Api {
                    action: format!("removing the network {}", self.name),
                    source,
                });
            }
        }
        if purge {
            for component in CONTAINERS {
                let volume = self.volume(component);
                match docker.remove_volume(&volume, None::<RemoveVolumeOptions>).await {
                    Ok(()) => progress(&format!("removed the volume {volume}")),
                    Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
                    Err(source) => {
                        return Err(DockerError::Api {
                            action: format!("removing the volume {volume}"),
                            source,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The names of every container (running or not) labelled as this lab's.
    pub async fn labelled_containers(&self, docker: &Docker) -> Result<Vec<String>, DockerError> {
        let containers = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([(
                    "label".to_owned(),
                    vec![format!("{LAB_LABEL}={}", self.name)],
                )])),
                ..Default::default()
            }))
            .await
            .map_err(|source| DockerError::Api {
                action: "listing containers".to_owned(),
                source,
            })?;
        Ok(containers
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .map(|n| n.trim_start_matches('/').to_owned())
            .collect())
    }

    /// Whether the lab's network exists.
    pub async fn network_exists(&self, docker: &Docker) -> Result<bool, DockerError> {
        match docker.inspect_network(&self.name, None).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(source) => Err(DockerError::Api {
                action: format!("inspecting the network {}", self.name),
                source,
            }),
        }
    }

    /// Each container's state and health, with what its last health check printed.
    pub async fn status(&self, docker: &Docker) -> Result<Vec<ContainerStatus>, DockerError> {
        let mut all = Vec::new();
        for component in CONTAINERS {
            all.push(self.container_status(docker, component).await?);
        }
        Ok(all)
    }

    async fn container_status(
        &self,
        docker: &Docker,
        component: &'static str,
    ) -> Result<ContainerStatus, DockerError> {
        let name = self.container(component);
        let inspect = match docker.inspect_container(&name, None).await {
            Ok(inspect) => inspect,
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                return Ok(ContainerStatus {
                    component,
                    container: name,
                    state: "missing".to_owned(),
                    health: None,
                    ready: false,
                    health_output: Vec::new(),
                    exit_code: None,
                });
            }
            Err(source) => {
                return Err(DockerError::Api {
                    action: format!("inspecting the container {name}"),
                    source,
                });
            }
        };
        let state = inspect.state.unwrap_or_default();
        let health = state.health.clone().unwrap_or_default();
        let lines = |text: &str| -> Vec<String> {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let live = if state.running == Some(true) {
            exec(docker, &name, &[HEALTH_COMMAND, "health"]).await.ok()
        } else {
            None
        };
        let ready = live.as_ref().is_some_and(|(code, _)| *code == 0);
        let health_output = match &live {
            Some((_, text)) => lines(text),
            None => health
                .log
                .as_ref()
                .and_then(|log| log.last())
                .and_then(|last| last.output.as_deref())
                .map(lines)
                .unwrap_or_default(),
        };
        Ok(ContainerStatus {
            component,
            container: name,
            state: state
                .status
                .map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
            health: health
                .status
                .filter(|s| !matches!(s, HealthStatusEnum::EMPTY | HealthStatusEnum::NONE))
                .map(|s| s.to_string()),
            ready,
            health_output,
            exit_code: state.exit_code.filter(|_| state.running != Some(true)),
        })
    }

    /// The last `tail` lines of a container's log (both streams).
    pub async fn logs(
        &self,
        docker: &Docker,
        component: &str,
        tail: usize,
    ) -> Result<Vec<String>, DockerError> {
        let name = self.container(component);
        let mut stream = docker.logs(
            &name,
            Some(LogsOptions {
                stdout: true,
                stderr: true,
                tail: tail.to_string(),
                ..Default::default()
            }),
        );
        let mut text = String::new();
        while let Some(item) = stream.next().await {
            let output = item.map_err(|source| DockerError::Api {
                action: format!("reading the log of {name}"),
                source,
            })?;
            text.push_str(&output.to_string());
        }
        Ok(text.lines().map(str::to_owned).collect())
    }

    /// Follows a container's log, handing each line to `line` until the container stops.
    pub async fn follow_logs(
        &self,
        docker: &Docker,
        component: &str,
        tail: usize,
        line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), DockerError> {
        let name = self.container(component);
        let mut stream = docker.logs(
            &name,
            Some(LogsOptions {
                stdout: true,
                stderr: true,
                follow: true,
                tail: tail.to_string(),
                ..Default::default()
            }),
        );
        while let Some(item) = stream.next().await {
            let output = item.map_err(|source| DockerError::Api {
                action: format!("reading the log of {name}"),
                source,
            })?;
            for text in output.to_string().lines() {
                line(text);
            }
        }
        Ok(())
    }

    /// The path of a volume's data on this machine (readable as root), e.g. the backend's mail folder.
    pub async fn volume_path(&self, docker: &Docker, component: &str) -> Option<PathBuf> {
        docker
            .inspect_volume(&self.volume(component))
            .await
            .ok()
            .map(|v| PathBuf::from(v.mountpoint))
    }
}

/// The container side of a port: its default in the port table.
fn default_port(name: &str) -> u16 {
    PORTS
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.default)
        .unwrap_or_else(|| unreachable!("no port named {name}"))
}

async fn image_id(docker: &Docker, name: &str) -> Result<String, DockerError> {
    images::image_label(docker, name)
        .await?
        .map(|(id, _)| id)
        .ok_or_else(|| {
            DockerError::Missing(format!(
                "the image {name} does not exist; build it with: cargo xtask images"
            ))
        })
}

/// Stops a container (its entrypoint stops every component in order) and removes it.
async fn remove_container(docker: &Docker, name: &str) -> Result<(), DockerError> {
    match docker
        .stop_container(
            name,
            Some(StopContainerOptions {
                t: Some(30),
                ..Default::default()
            }),
        )
        .await
    {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304 | 404,
            ..
        }) => {}
        Err(source) => {
            return Err(DockerError::Api {
                action: format!("stopping the container {name}"),
                source,
            });
        }
    }
    match docker
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
        Err(source) => Err(DockerError::Api {
            action: format!("removing the container {name}"),
            source,
        }),
    }
}

/// Runs a command in a running container and returns what it printed on stdout.
async fn exec_output(docker: &Docker, container: &str, cmd: &[&str]) -> Result<String, DockerError> {
    exec(docker, container, cmd).await.map(|(_, text)| text)
}

/// Runs a command in a running container: its exit code and what it printed on stdout.
async fn exec(docker: &Docker, container: &str, cmd: &[&str]) -> Result<(i64, String), DockerError> {
    let api = |source| DockerError::Api {
        action: format!("running {} in {container}", cmd.join(" ")),
        source,
    };
    let exec = docker
        .create_exec(
            container,
            bollard::models::ExecConfig {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
                ..Default::default()
            },
        )
        .await
        .map_err(api)?;
    let mut text = String::new();
    if let bollard::exec::StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&exec.id, None).await.map_err(api)?
    {
        while let Some(item) = output.next().await {
            if let bollard::container::LogOutput::StdOut { message } = item.map_err(api)? {
                text.push_str(&String::from_utf8_lossy(&message));
            }
        }
    }
    let code = docker
        .inspect_exec(&exec.id)
        .await
        .map_err(api)?
        .exit_code
        .unwrap_or(-1);
    Ok((code, text))
}
