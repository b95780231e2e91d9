//! The lab's container images, built with or without a registry.
//!
//! The base is `debian:<release>` when a registry answers; otherwise a minimal root file system
//! debootstrapped from this machine's apt mirror and imported as `ddlab/base:<release>`. On top of it,
//! `docker/host/Dockerfile` and `docker/backend/Dockerfile` run `provision/provision.sh install`, which
//! installs OS packages from the mirror at build time. The Rust binaries come from this machine's cargo
//! build and the Python wheels from this machine's pip, copied into each build context, so no image needs
//! a Rust toolchain or a Python package index.
//!
//! Every image carries a label with the SHA-256 of what it was built from (the base image's id and every
//! file of its context); a build whose label already matches is skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptions, CreateImageOptions, RemoveImageOptions};
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};

use super::DockerError;

/// The image of the exercise's host (MariaDB, agent, app).
pub const HOST_IMAGE: &str = "ddlab/host:latest";
/// The image of the backend and its mail sink.
pub const BACKEND_IMAGE: &str = "ddlab/backend:latest";
/// The repository of the debootstrapped base image; its tag is the release.
pub const BASE_REPOSITORY: &str = "ddlab/base";
/// The label holding the content hash an image was built from.
pub const HASH_LABEL: &str = "org.ddlab.content-hash";

/// What `cargo xtask images` builds from.
#[derive(Debug, Clone)]
pub struct ImageBuild {
    /// The ddlab checkout: `docker/`, `provision/`, the requirement files.
    pub project: PathBuf,
    /// Where `ddlab-agent` and `ddlab-backend` were built.
    pub binaries: PathBuf,
    /// Scratch space: the root file system while it is imported, the wheel caches (`target/docker`).
    pub work: PathBuf,
    /// Skip the registry probe and build the base with debootstrap even if a registry answers.
    pub offline: bool,
}

/// Where the base image came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSource {
    /// `debian:<release>`, pulled from a registry.
    Registry(String),
    /// A root file system debootstrapped from the apt mirror and imported.
    Debootstrap { release: String, mirror: String },
}

/// One image `build` made or found up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub name: String,
    pub id: String,
    pub hash: String,
    /// Already built from the same content: nothing was done.
    pub cached: bool,
}

/// Builds the base image if needed, then the host and backend images, skipping each one whose content
/// hash has not changed.
pub async fn build(
    docker: &Docker,
    build: &ImageBuild,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(BaseSource, Vec<BuiltImage>), DockerError> {
    let release = os_release_codename()?;
    let (source, base) = base_image(docker, build, &release, progress).await?;
    let base_id = image_label(docker, &base)
        .await?
        .map(|(id, _)| id)
        .ok_or_else(|| DockerError::Missing(format!("the base image {base} vanished")))?;
    let python = image_python(&release)?;
    let mut built = Vec::new();
    for spec in [host_spec(build), backend_spec(build)] {
        let wheels = wheelhouse(build, &spec, &python, progress).await?;
        let mut context = Context::default();
        context.add_file("Dockerfile", &build.project.join(spec.dockerfile), 0o644)?;
        for (inside, mode) in spec.files {
            context.add_file(inside, &build.project.join(inside), *mode)?;
        }
        for binary in spec.binaries {
            let path = build.binaries.join(binary);
            if !path.is_file() {
                return Err(DockerError::Missing(format!(
                    "{} is not built; run: cargo build -p {binary}",
                    path.display()
                )));
            }
            context.add_file(&format!("bin/{binary}"), &path, 0o755)?;
        }
        context.add_dir("wheels", &wheels)?;
        let hash = context.hash(&base_id);
        let previous = image_label(docker, spec.name).await?;
        if let Some((id, Some(have))) = &previous
            && *have == hash
        {
            let id = id.clone();
            progress(&format!("{}: up to date ({})", spec.name, short(&hash)));
            built.push(BuiltImage {
                name: spec.name.to_owned(),
                id,
                hash,
                cached: true,
            });
            continue;
        }
        progress(&format!(
            "{}: building FROM {base} ({} MiB context)",
            spec.name,
            context.size() / (1024 * 1024)
        ));
        build_image(docker, spec.name, context.tar()?, &base, &hash, progress).await?;
        let id = image_label(docker, spec.name)
            .await?
            .map(|(id, _)| id)
            .ok_or_else(|| DockerError::Missing(format!("{} was built but is not listed", spec.name)))?;
        progress(&format!("{}: built {}", spec.name, short(&id)));
        if let Some((old, _)) = previous
            && old != id
        {
            // The image it replaces, unless a container still uses it (Docker refuses, and it stays).
            if docker
                .remove_image(&old, None::<RemoveImageOptions>, None)
                .await
                .is_ok()
            {
                progress(&format!(
                    "{}: removed the previous image {}",
                    spec.name,
                    short(&old)
                ));
            }
        }
        built.push(BuiltImage {
            name: spec.name.to_owned(),
            id,
            hash,
            cached: false,
        });
    }
    Ok((source, built))
}

/// The id of an image and its content-hash label, or `None` when the image does not exist.
pub async fn image_label(
    docker: &Docker,
    name: &str,
) -> Result<Option<(String, Option<String>)>, DockerError> {
    match docker.inspect_image(name).await {
        Ok(image) => {
            let label = image
                .config
                .and_then(|c| c.labels)
                .and_then(|mut labels| labels.remove(HASH_LABEL));
            Ok(Some((image.id.unwrap_or_default(), label)))
        }
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
        Err(source) => Err(DockerError::Api {
            action: format!("inspecting the image {name}"),
            source,
        }),
    }
}

/// What goes into one image.
#[derive(Debug)]
struct ImageSpec {
    name: &'static str,
    dockerfile: &'static str,
    /// Files of the checkout copied to the same path in the context, with their mode.
    files: &'static [(&'static str, u32)],
    binaries: &'static [&'static str],
    /// Requirement files whose wheels the image installs: (file, hash-pinned without dependencies).
    requirements: Vec<(PathBuf, Pinning)>,
}

/// How a requirements file is pinned, which decides how pip downloads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pinning {
    /// Every file by hash, dependencies listed: `--require-hashes`.
    Hashes,
    /// Every file by hash, installed without dependency resolution: `--require-hashes --no-deps`.
    HashesNoDeps,
    /// By version only (a solution's app requirements): pip resolves the dependencies.
    Versions,
}

const PROVISION: (&str, u32) = ("provision/provision.sh", 0o755);
const SAMPLE_SCHEMA: (&str, u32) = ("crates/ddlab-stack/sql/sample_schema.sql", 0o644);
const AGENT_REQUIREMENTS: &str = "crates/ddlab-agent/python/requirements.txt";
const CLIENTS: &str = "crates/ddlab-stack/python/clients.txt";
const REFERENCE_APP_REQUIREMENTS: &str = "fixtures/solution/app/requirements.txt";

fn host_spec(build: &ImageBuild) -> ImageSpec {
    ImageSpec {
        name: HOST_IMAGE,
        dockerfile: "docker/host/Dockerfile",
        files: &[
            PROVISION,
            SAMPLE_SCHEMA,
            (AGENT_REQUIREMENTS, 0o644),
            ("crates/ddlab-stack/python/traffic.py", 0o644),
            (REFERENCE_APP_REQUIREMENTS, 0o644),
        ],
        binaries: &["ddlab-agent"],
        requirements: vec![
            (build.project.join(AGENT_REQUIREMENTS), Pinning::HashesNoDeps),
            (build.project.join(REFERENCE_APP_REQUIREMENTS), Pinning::Versions),
        ],
    }
}

fn backend_spec(build: &ImageBuild) -> ImageSpec {
    ImageSpec {
        name: BACKEND_IMAGE,
        dockerfile: "docker/backend/Dockerfile",
        files: &[PROVISION, SAMPLE_SCHEMA, (CLIENTS, 0o644)],
        binaries: &["ddlab-backend"],
        requirements: vec![(build.project.join(CLIENTS), Pinning::Hashes)],
    }
}

/// The base image: `debian:<release>` if a registry answers (and `offline` is not set), else
/// `ddlab/base:<release>` from debootstrap, built only when missing or made from another mirror.
async fn base_image(
    docker: &Docker,
    build: &ImageBuild,
    release: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(BaseSource, String), DockerError> {
    if !build.offline {
        let official = format!("debian:{release}");
        progress(&format!("base: trying to pull {official} from a registry"));
        match pull(docker, "debian", release).await {
            Ok(()) => {
                progress(&format!("base: {official} (a registry answered)"));
                return Ok((BaseSource::Registry(official.clone()), official));
            }
            Err(why) => progress(&format!(
                "base: no registry reachable ({why}); building the base offline with debootstrap"
            )),
        }
    }
    let mirror = apt_mirror(release)?;
    let name = format!("{BASE_REPOSITORY}:{release}");
    let recipe = format!("debootstrap --variant=minbase --components=main {release} {mirror}");
    let hash = hex(&Sha256::digest(recipe.as_bytes()));
    let source = BaseSource::Debootstrap {
        release: release.to_owned(),
        mirror: mirror.clone(),
    };
    if let Some((_, Some(have))) = image_label(docker, &name).await?
        && have == hash
    {
        progress(&format!("base: {name} up to date ({recipe})"));
        return Ok((source, name));
    }
    if !nix::unistd::Uid::effective().is_root() {
        return Err(DockerError::Missing(
            "debootstrap needs root to build the base image; run `cargo xtask images` as root (sudo -E)"
                .to_owned(),
        ));
    }
    let debootstrap = [
        "/usr/sbin/debootstrap",
        "/sbin/debootstrap",
        "/usr/bin/debootstrap",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .ok_or_else(|| {
        DockerError::Missing("debootstrap is not installed; run: apt-get install -y debootstrap".to_owned())
    })?;
    let rootfs = build.work.join(format!("rootfs-{release}"));
    remove_dir(&rootfs)?;
    std::fs::create_dir_all(&build.work).map_err(|source| DockerError::Io {
        path: build.work.clone(),
        source,
    })?;
    progress(&format!(
        "base: {recipe} into {} (a few minutes)",
        rootfs.display()
    ));
    let mut command = Command::new(debootstrap);
    command
        .args(["--variant=minbase", "--components=main", release])
        .arg(&rootfs)
        .arg(&mirror);
    run_blocking(command, "debootstrap").await?;
    progress("base: importing the root file system");
    let mut tar = Command::new("tar");
    tar.args(["--numeric-owner", "-C"]).arg(&rootfs).args(["-c", "."]);
    let archive = run_blocking(tar, "tar").await?;
    let options = CreateImageOptions {
        from_src: Some("-".to_owned()),
        repo: Some(BASE_REPOSITORY.to_owned()),
        tag: Some(release.to_owned()),
        changes: vec![
            format!("LABEL {HASH_LABEL}={hash}"),
            "ENV LANG=C.UTF-8".to_owned(),
            "CMD [\"/bin/bash\"]".to_owned(),
        ],
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(options), Some(bollard::body_full(archive.into())), None);
    while let Some(item) = stream.next().await {
        item.map_err(|source| DockerError::Api {
            action: format!("importing {} as {name}", rootfs.display()),
            source,
        })?;
    }
    remove_dir(&rootfs)?;
    progress(&format!("base: imported {name}"));
    Ok((source, name))
}

/// Pulls an image, bounded in time: a registry that does not answer within a minute counts as absent.
async fn pull(docker: &Docker, image: &str, tag: &str) -> Result<(), String> {
    let options = CreateImageOptions {
        from_image: Some(image.to_owned()),
        tag: Some(tag.to_owned()),
        ..Default::default()
    };
    let pulled = tokio::time::timeout(Duration::from_secs(60), async {
        let mut stream = docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            item.map_err(|err| err.to_string())?;
        }
        Ok::<(), String>(())
    })
    .await;
    match pulled {
        Ok(result) => result,
        Err(_) => Err("the pull did not finish within 60 s".to_owned()),
    }
}

async fn build_image(
    docker: &Docker,
    name: &str,
    context: Vec<u8>,
    base: &str,
    hash: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), DockerError> {
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_owned(),
        t: Some(name.to_owned()),
        rm: true,
        forcerm: true,
        buildargs: Some(HashMap::from([("BASE".to_owned(), base.to_owned())])),
        labels: Some(HashMap::from([(HASH_LABEL.to_owned(), hash.to_owned())])),
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut tail: Vec<String> = Vec::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|source| match source {
            bollard::errors::Error::DockerStreamError { error } => DockerError::Build {
                image: name.to_owned(),
                message: error,
                tail: tail.join("\n"),
            },
            source => DockerError::Api {
                action: format!("building {name}"),
                source,
            },
        })?;
        if let Some(detail) = info.error_detail {
            return Err(DockerError::Build {
                image: name.to_owned(),
                message: detail.message.unwrap_or_default(),
                tail: tail.join("\n"),
            });
        }
        for line in info.stream.iter().flat_map(|s| s.lines()) {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            if line.starts_with("Step ") || line.starts_with("provision:") {
                progress(&format!("{name}: {line}"));
            }
            tail.push(line.to_owned());
            if tail.len() > 30 {
                tail.remove(0);
            }
        }
    }
    Ok(())
}

/// Downloads the wheels an image installs into `work/wheels/<image>`, once per set of requirement texts,
/// for the image's Python (the release's `python3`) and this machine's architecture.
async fn wheelhouse(
    build: &ImageBuild,
    spec: &ImageSpec,
    python: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<PathBuf, DockerError> {
    let dir = build.work.join("wheels").join(spec.name.replace(['/', ':'], "-"));
    let mut wanted = format!("python {python}\n");
    for (path, pinning) in &spec.requirements {
        let text = std::fs::read_to_string(path).map_err(|source| DockerError::Io {
            path: path.clone(),
            source,
        })?;
        wanted.push_str(&format!("# {} {pinning:?}\n{text}\n", path.display()));
    }
    let stamp = dir.join(".ddlab-wheels.stamp");
    if std::fs::read_to_string(&stamp).is_ok_and(|have| have == wanted) {
        progress(&format!("{}: wheels up to date in {}", spec.name, dir.display()));
        return Ok(dir);
    }
    remove_dir(&dir)?;
    std::fs::create_dir_all(&dir).map_err(|source| DockerError::Io {
        path: dir.clone(),
        source,
    })?;
    progress(&format!(
        "{}: downloading wheels for CPython {python} into {}",
        spec.name,
        dir.display()
    ));
    for (path, pinning) in &spec.requirements {
        run_blocking(pip_download(&dir, path, *pinning, python), "pip download").await?;
    }
    std::fs::write(&stamp, wanted).map_err(|source| DockerError::Io { path: stamp, source })?;
    Ok(dir)
}

/// Downloads the wheels of a solution's app requirements for the host image's Python, into
/// `work/wheels/solution-<hash>`; reused while the file's text is the same.
pub async fn solution_wheels(work: &Path, requirements: &Path) -> Result<PathBuf, DockerError> {
    let text = std::fs::read(requirements).map_err(|source| DockerError::Io {
        path: requirements.to_owned(),
        source,
    })?;
    let python = image_python(&os_release_codename()?)?;
    let mut hasher = Sha256::new();
    hasher.update(python.as_bytes());
    hasher.update(&text);
    let dir = work
        .join("wheels")
        .join(format!("solution-{}", short(&hex(&hasher.finalize()))));
    let stamp = dir.join(".ddlab-wheels.stamp");
    if stamp.is_file() {
        return Ok(dir);
    }
    remove_dir(&dir)?;
    std::fs::create_dir_all(&dir).map_err(|source| DockerError::Io {
        path: dir.clone(),
        source,
    })?;
    run_blocking(
        pip_download(&dir, requirements, Pinning::Versions, &python),
        "pip download",
    )
    .await?;
    std::fs::write(&stamp, &text).map_err(|source| DockerError::Io { path: stamp, source })?;
    Ok(dir)
}

fn pip_download(dir: &Path, requirements: &Path, pinning: Pinning, python: &str) -> Command {
    let mut command = Command::new("python3");
    command
        .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check"])
        .arg("--dest")
        .arg(dir)
        .args([
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            python,
        ]);
    let abi = format!("cp{}", python.replace('.', ""));
    for abi in [abi.as_str(), "abi3", "none"] {
        command.args(["--abi", abi]);
    }
    for platform in platforms(std::env::consts::ARCH, glibc_minor()) {
        command.arg("--platform").arg(platform);
    }
    match pinning {
        Pinning::Hashes => {
            command.arg("--require-hashes");
        }
        Pinning::HashesNoDeps => {
            command.args(["--require-hashes", "--no-deps"]);
        }
        Pinning::Versions => {}
    }
    command.arg("-r").arg(requirements);
    command
}

/// The wheel platform tags an image of this machine's release accepts: every manylinux tag up to the
/// release's glibc, their legacy aliases, and pure-Python wheels.
fn platforms(arch: &str, glibc_minor: u32) -> Vec<String> {
    let mut tags: Vec<String> = (5..=glibc_minor)
        .rev()
        .map(|minor| format!("manylinux_2_{minor}_{arch}"))
        .collect();
    for (alias, minor) in [("manylinux2014", 17), ("manylinux2010", 12), ("manylinux1", 5)] {
        if glibc_minor >= minor {
            tags.push(format!("{alias}_{arch}"));
        }
    }
    tags.push("any".to_owned());
    tags
}

/// This machine's glibc minor version (the images share its release, hence its glibc).
fn glibc_minor() -> u32 {
    Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.trim()
                .rsplit_once('.')
                .and_then(|(_, minor)| minor.parse().ok())
        })
        .unwrap_or(17)
}

/// The `major.minor` of the release's `python3` package, from this machine's apt (the images share its
/// release and mirror).
fn image_python(release: &str) -> Result<String, DockerError> {
    let output = Command::new("apt-cache")
        .args(["show", "--no-all-versions", "python3"])
        .output()
        .map_err(|source| DockerError::Io {
            path: PathBuf::from("apt-cache"),
            source,
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    python_version(&text).ok_or_else(|| {
        DockerError::Missing(format!(
            "apt-cache knows no python3 package for {release}; run: apt-get update"
        ))
    })
}

/// `3.11` from the `Version: 3.11.2-1+b1` line of `apt-cache show python3`.
fn python_version(apt_show: &str) -> Option<String> {
    let version = apt_show
        .lines()
        .find_map(|line| line.strip_prefix("Version:"))?
        .trim();
    let mut parts = version.split(['.', '-', '+']);
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some(format!("{major}.{minor}"))
}

/// `VERSION_CODENAME` of this machine's `/etc/os-release`: the images use the same release.
fn os_release_codename() -> Result<String, DockerError> {
    let path = Path::new("/etc/os-release");
    let text = std::fs::read_to_string(path).map_err(|source| DockerError::Io {
        path: path.to_owned(),
        source,
    })?;
    text.lines()
        .find_map(|line| line.strip_prefix("VERSION_CODENAME="))
        .map(|value| value.trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| DockerError::Missing("/etc/os-release has no VERSION_CODENAME".to_owned()))
}

/// The HTTP mirror this machine's apt uses for `release` (one-line `.list` and deb822 `.sources` files).
fn apt_mirror(release: &str) -> Result<String, DockerError> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let found = if file.extension().is_some_and(|e| e == "sources") {
            mirror_from_deb822(&text, release)
        } else {
            mirror_from_list(&text, release)
        };
        if let Some(mirror) = found {
            return Ok(mirror);
        }
    }
    Err(DockerError::Missing(format!(
        "no apt source for {release} main found in /etc/apt/sources.list or /etc/apt/sources.list.d"
    )))
}

/// The first `deb URI release main` line of a one-line sources file.
fn mirror_from_list(text: &str, release: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let mut words = line.split_whitespace().filter(|w| !w.starts_with('['));
        if words.next()? != "deb" {
            return None;
        }
        let uri = words.next()?;
        let suite = words.next()?;
        let main = words.any(|w| w == "main");
        (suite == release && main && uri.starts_with("http")).then(|| uri.to_owned())
    })
}

/// The first URI of a deb822 stanza that lists `release` among its suites and `main` among its components.
fn mirror_from_deb822(text: &str, release: &str) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let types = field("Types")?;
        let uri = field("URIs")?.split_whitespace().next()?;
        let suites = field("Suites")?;
        let components = field("Components")?;
        (types.split_whitespace().any(|t| t == "deb")
            && suites.split_whitespace().any(|s| s == release)
            && components.split_whitespace().any(|c| c == "main")
            && uri.starts_with("http"))
        .then(|| uri.to_owned())
    })
}

/// Runs a command off the async runtime; its stdout on success, its output's tail in the error otherwise.
async fn run_blocking(mut command: Command, what: &str) -> Result<Vec<u8>, DockerError> {
    let shown = format!("{command:?}").replace('"', "");
    let what = what.to_owned();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|err| DockerError::Missing(format!("{what} did not finish: {err}")))?
        .map_err(|source| DockerError::Io {
            path: PathBuf::from(&what),
            source,
        })?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    Err(DockerError::Command {
        command: shown,
        status: output.status.to_string(),
        output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

fn remove_dir(dir: &Path) -> Result<(), DockerError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|source| DockerError::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    Ok(())
}

/// A build context: files with their path inside the context and mode, sent as a tar archive.
#[derive(Debug, Default)]
struct Context {
    entries: Vec<(String, u32, Vec<u8>)>,
}

impl Context {
    fn add_file(&mut self, inside: &str, path: &Path, mode: u32) -> Result<(), DockerError> {
        let bytes = std::fs::read(path).map_err(|source| DockerError::Io {
            path: path.to_owned(),
            source,
        })?;
        self.entries.push((inside.to_owned(), mode, bytes));
        Ok(())
    }

    /// Adds every regular file directly inside `dir` (the wheelhouse), except dot files.
    fn add_dir(&mut self, inside: &str, dir: &Path) -> Result<(), DockerError> {
        let io = |source| DockerError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        names.sort();
        for path in names {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            self.add_file(&format!("{inside}/{name}"), &path, 0o644)?;
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.entries.iter().map(|(_, _, bytes)| bytes.len()).sum()
    }

    /// The SHA-256 of the base image's id and every entry (path, mode, bytes) in path order.
    fn hash(&self, base_id: &str) -> String {
        let mut entries: Vec<&(String, u32, Vec<u8>)> = self.entries.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut hasher = Sha256::new();
        hasher.update(base_id.as_bytes());
        for (path, mode, bytes) in entries {
            hasher.update(format!("\0{path}\0{mode:o}\0{}\0", bytes.len()).as_bytes());
            hasher.update(bytes);
        }
        hex(&hasher.finalize())
    }

    /// The context as a tar archive, with fixed owners and times so the same files give the same bytes.
    fn tar(&self) -> Result<Vec<u8>, DockerError> {
        let mut builder = tar::Builder::new(Vec::with_capacity(self.size() + self.entries.len() * 1024));
        for (path, mode, bytes) in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(*mode);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, path, bytes.as_slice())
                .map_err(|source| DockerError::Io {
                    path: PathBuf::from(path),
                    source,
                })?;
        }
        builder.into_inner().map_err(|source| DockerError::Io {
            path: PathBuf::from("build context"),
            source,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first 12 characters of a hash or image id, as `docker images` shows them.
fn short(hash: &str) -> &str {
    let hash = hash.strip_prefix("sha256:").unwrap_or(hash);
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_from_both_source_formats() {
        let list = "# comment\ndeb-src http://deb.debian.org/debian bookworm main\n\
                    deb [arch=amd64] http://deb.debian.org/debian bookworm main contrib\n";
        assert_eq!(
            mirror_from_list(list, "bookworm").as_deref(),
            Some("http://deb.debian.org/debian")
        );
        assert_eq!(mirror_from_list(list, "trixie"), None);
        let deb822 = "Types: deb\nURIs: http://security.debian.org/debian-security\nSuites: bookworm-security\n\
                      Components: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian\n\
                      Suites: bookworm bookworm-updates\nComponents: main\nSigned-By: /k.gpg\n";
        assert_eq!(
            mirror_from_deb822(deb822, "bookworm").as_deref(),
            Some("http://deb.debian.org/debian")
        );
        assert_eq!(
            mirror_from_deb822(
                "Types: deb\nURIs: cdrom:x\nSuites: bookworm\nComponents: main\n",
                "bookworm"
            ),
            None
        );
    }

    #[test]
    fn python_version_from_apt() {
        assert_eq!(
            python_version("Package: python3\nVersion: 3.11.2-1+b1\n").as_deref(),
            Some("3.11")
        );
        assert_eq!(python_version("Package: python3\n"), None);
    }

    #[test]
    fn platform_tags_stop_at_the_glibc() {
        let tags = platforms("x86_64", 17);
        assert_eq!(tags.first().map(String::as_str), Some("manylinux_2_17_x86_64"));
        assert!(tags.contains(&"manylinux2014_x86_64".to_owned()));
        assert!(tags.contains(&"manylinux_2_5_x86_64".to_owned()));
        assert!(!tags.iter().any(|t| t.starts_with("manylinux_2_18")));
        assert_eq!(tags.last().map(String::as_str), Some("any"));
    }

    #[test]
    fn the_content_hash_follows_every_byte_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        std::fs::write(&file, "one").unwrap();
        let hash_of = |mode: u32, base: &str| {
            let mut context = Context::default();
            context.add_file("x/a", &file, mode).unwrap();
            context.hash(base)
        };
        let first = hash_of(0o644, "sha256:1");
        assert_eq!(first, hash_of(0o644, "sha256:1"));
        assert_ne!(first, hash_of(0o755, "sha256:1"));
        assert_ne!(first, hash_of(0o644, "sha256:2"));
        std::fs::write(&file, "two").unwrap();
        assert_ne!(first, hash_of(0o644, "sha256:1"));
    }

    #[test]
    fn the_context_archive_holds_each_file_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.sh");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let mut context = Context::default();
        context.add_file("provision/provision.sh", &file, 0o755).unwrap();
        let bytes = context.tar().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                    e.header().size().unwrap(),
                )
            })
            .collect();
        assert_eq!(entries, [("provision/provision.sh".to_owned(), 0o755, 10)]);
    }
}
