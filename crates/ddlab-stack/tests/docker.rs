//! The docker provider on this machine's Docker engine, from the images `cargo xtask images` built
//! offline: `up` twice (the second keeps both containers), the backend answers `/api/v1/validate` with its
//! generated key, the host's agent reports `system.cpu.user` for its host, `status` says healthy, and
//! `down --purge` leaves no container, network or volume.
//!
//! Runs only when the engine answers and both images exist; otherwise it prints why and passes, unless
//! `DDLAB_REQUIRE_DOCKER` is set, when it fails.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ddlab_stack::docker::{self, DockerLab, images};
use ddlab_stack::ports::Ports;

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Says why the test did not run; fails instead when the environment demands Docker.
fn not_run(reason: &str) {
    if std::env::var_os("DDLAB_REQUIRE_DOCKER").is_some() {
        panic!("DDLAB_REQUIRE_DOCKER is set, but the docker provider test cannot run: {reason}");
    }
    eprintln!("docker provider test NOT RUN: {reason}");
}

/// Free loopback ports for the published ones, so the test never meets a running lab.
fn free_ports() -> Ports {
    let mut chosen = HashMap::new();
    for (name, env) in [
        ("backend", "DDLAB_PORT_BACKEND"),
        ("app", "DDLAB_PORT_APP"),
        ("apm", "DDLAB_PORT_APM"),
    ] {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(chosen.insert(env, port).is_none(), "{name}");
    }
    let udp = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    chosen.insert("DDLAB_PORT_DOGSTATSD", udp);
    Ports::from_lookup(|env| chosen.get(env).map(u16::to_string)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_provider_comes_up_from_offline_images_and_goes_away() {
    let docker = match docker::connect().await {
        Ok(docker) => docker,
        Err(err) => return not_run(&err.to_string()),
    };
    for image in [images::HOST_IMAGE, images::BACKEND_IMAGE] {
        match images::image_label(&docker, image).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return not_run(&format!(
                    "the image {image} does not exist; build it with `cargo xtask images`"
                ));
            }
            Err(err) => return not_run(&err.to_string()),
        }
    }
    let project = project();
    let lab = DockerLab {
        name: format!("ddlab-it-{}", std::process::id()),
        solution: project.join("fixtures/solution"),
        ports: free_ports(),
        test_mode: false,
        work: ddlab_stack::local::target_dir(&project).join("docker"),
        project,
    };
    // On its own task, so a failed assertion inside still lets the lab be taken down here.
    let outcome = tokio::spawn({
        let (docker, lab) = (docker.clone(), lab.clone());
        async move { exercise(&docker, &lab).await }
    })
    .await;
    // Whatever happened, the lab goes away, and nothing of it may remain.
    lab.down(&docker, true, &mut |step| eprintln!("down: {step}"))
        .await
        .unwrap();
    let left = lab.labelled_containers(&docker).await.unwrap();
    assert!(left.is_empty(), "containers left after down: {left:?}");
    assert!(
        !lab.network_exists(&docker).await.unwrap(),
        "the network {} is left",
        lab.name
    );
    assert_eq!(
        lab.volume_path(&docker, "backend").await,
        None,
        "the backend volume is left after --purge"
    );
    assert_eq!(
        lab.volume_path(&docker, "host").await,
        None,
        "the host volume is left after --purge"
    );
    match outcome {
        Ok(result) => result.unwrap(),
        Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
    }
}

/// A grants script with a syntax error stops `up` at that step, naming the file and the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_grants_script_stops_up_and_names_the_line() {
    let docker = match docker::connect().await {
        Ok(docker) => docker,
        Err(err) => return not_run(&err.to_string()),
    };
    for image in [images::HOST_IMAGE, images::BACKEND_IMAGE] {
        if !matches!(images::image_label(&docker, image).await, Ok(Some(_))) {
            return not_run(&format!(
                "the image {image} does not exist; build it with `cargo xtask images`"
            ));
        }
    }
    let project = project();
    let dir = tempfile::tempdir().unwrap();
    let solution = dir.path().join("solution");
    let status = std::process::Command::new("cp")
        .arg("-R")
        .arg(project.join("fixtures/solution"))
        .arg(&solution)
        .status()
        .unwrap();
    assert!(status.success());
    let grants = solution.join("mysql/grants.sql");
    let mut text = std::fs::read_to_string(&grants).unwrap();
    let line = text.lines().count() + 1;
    text.push_str("GRANT NOTHING TO WHOM;\n");
    std::fs::write(&grants, text).unwrap();
    let lab = DockerLab {
        name: format!("ddlab-it-grants-{}", std::process::id()),
        solution,
        ports: free_ports(),
        test_mode: false,
        work: ddlab_stack::local::target_dir(&project).join("docker"),
        project,
    };
    let outcome = lab.up(&docker, &mut |_| {}).await;
    lab.down(&docker, true, &mut |_| {}).await.unwrap();
    assert!(lab.labelled_containers(&docker).await.unwrap().is_empty());
    let err = outcome
        .expect_err("up must fail on a broken grants script")
        .to_string();
    assert!(
        err.contains(&format!("at line {line}")),
        "the error does not name line {line}: {err}"
    );
    assert!(
        err.contains("applying /solution/mysql/grants.sql failed"),
        "{err}"
    );
    assert!(err.contains("exited, exit code 1"), "{err}");
}

async fn exercise(docker: &docker::Docker, lab: &DockerLab) -> Result<(), String> {
    let mut steps = Vec::new();
    let (api_key, app_key) = lab
        .up(docker, &mut |step| steps.push(step.to_owned()))
        .await
        .map_err(|err| format!("up failed: {err}"))?;
    eprintln!("{}", steps.join("\n"));

    // The second `up` keeps both containers.
    let mut again = Vec::new();
    let keys = lab
        .up(docker, &mut |step| again.push(step.to_owned()))
        .await
        .map_err(|err| format!("the second up failed: {err}"))?;
    assert_eq!(
        keys,
        (api_key.clone(), app_key.clone()),
        "the keys changed between ups"
    );
    for component in ["backend", "host"] {
        let kept = format!("{component}: already running ({})", lab.container(component));
        assert!(
            again.contains(&kept),
            "the second up did not keep {component}: {again:?}"
        );
    }

    let status = lab.status(docker).await.map_err(|err| err.to_string())?;
    let states: Vec<(&str, &str, bool)> = status
        .iter()
        .map(|s| (s.component, s.state.as_str(), s.ready))
        .collect();
    assert_eq!(states, [("backend", "running", true), ("host", "running", true)]);
    assert_eq!(status[0].health_output, ["mail: ok", "backend: ok"]);
    let host = status.iter().find(|s| s.component == "host").unwrap();
    assert_eq!(host.health_output, ["mysql: ok", "agent: ok", "app: ok"]);

    let client = reqwest::Client::new();
    let validate: serde_json::Value = client
        .get(format!("{}/api/v1/validate", lab.backend_url()))
        .header("DD-API-KEY", &api_key)
        .send()
        .await
        .map_err(|err| err.to_string())?
        .json()
        .await
        .map_err(|err| err.to_string())?;
    assert_eq!(validate, serde_json::json!({"valid": true}));
    let refused = client
        .get(format!("{}/api/v1/validate", lab.backend_url()))
        .header("DD-API-KEY", "0123456789abcdef0123456789abcdef")
        .send()
        .await
        .map_err(|err| err.to_string())?;
    assert_eq!(refused.status(), 403, "a wrong key must be refused");

    // The agent flushes every 15 s: poll the query API, bounded.
    let query = format!("avg:system.cpu.user{{host:{}}}", lab.host_name());
    let cpu = poll_series(docker, lab, (&api_key, &app_key), &query, || {}).await?;
    assert_eq!(cpu["scope"], format!("host:{}", lab.host_name()));
    let value = cpu["pointlist"][0][1].as_f64().unwrap_or(-1.0);
    assert!(
        (0.0..=100.0).contains(&value),
        "system.cpu.user is a percentage, got {value}"
    );

    // DogStatsD through the published UDP port reaches the agent in the host container.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = ("127.0.0.1", lab.ports.get("dogstatsd"));
    let gauge = poll_series(
        docker,
        lab,
        (&api_key, &app_key),
        "avg:ddlab.it.published{source:test}",
        || {
            socket
                .send_to(b"ddlab.it.published:42|g|#source:test", target)
                .unwrap();
        },
    )
    .await?;
    assert_eq!(gauge["pointlist"][0][1].as_f64(), Some(42.0), "{gauge}");
    Ok(())
}

/// Polls `/api/v1/query` for the last 10 minutes of `query` until it has a series with points (bounded:
/// 120 s), calling `each` before every attempt; returns the first series.
async fn poll_series(
    docker: &docker::Docker,
    lab: &DockerLab,
    (api_key, app_key): (&str, &str),
    query: &str,
    mut each: impl FnMut(),
) -> Result<serde_json::Value, String> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    // One attempt per tick of a 1 s interval, up to the deadline.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        each();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let params = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", query)
            .append_pair("from", &(now - 600).to_string())
            .append_pair("to", &now.to_string())
            .finish();
        let answer: serde_json::Value = client
            .get(format!("{}/api/v1/query?{params}", lab.backend_url()))
            .header("DD-API-KEY", api_key)
            .header("DD-APPLICATION-KEY", app_key)
            .send()
            .await
            .map_err(|err| err.to_string())?
            .json()
            .await
            .map_err(|err| err.to_string())?;
        if let Some(first) = answer["series"].as_array().and_then(|s| s.first())
            && first["pointlist"].as_array().is_some_and(|p| !p.is_empty())
        {
            return Ok(first.clone());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no {query} within 120 s; last answer {answer}; the host's log:\n{}",
                lab.logs(docker, "host", 40).await.unwrap_or_default().join("\n")
            ));
        }
    }
}
