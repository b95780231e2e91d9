//! The lab's real backend (`ddlab-backend`), in-process on a free loopback port with a temporary state
//! folder and fixed keys, and the public-API reads the tests make against it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use ddlab_backend::{AppState, Config, Keys, Secret};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const API_KEY: &str = "0123456789abcdef0123456789abcdef";
pub const APP_KEY: &str = "0123456789abcdef0123456789abcdef01234567";

pub struct Backend {
    pub addr: SocketAddr,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    // Last: the database goes after the server.
    _dir: tempfile::TempDir,
}

impl Backend {
    pub async fn start() -> Backend {
        let dir = tempfile::tempdir().expect("a state folder");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let state = AppState::open(&Config {
            state_dir: dir.path().join("state"),
            listen: addr,
            test_mode: false,
            keys: Some(Keys {
                api_key: Secret::new(API_KEY),
                app_key: Secret::new(APP_KEY),
            }),
            public_url: None,
            notifications: Default::default(),
        })
        .expect("the backend's state");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, ddlab_backend::router(state))
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("the backend serves");
        });
        Backend {
            addr,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A GET of the public API with both keys; the JSON answer, whatever the status.
    pub async fn get(&self, path_and_query: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path_and_query}", self.url()))
            .header("DD-API-KEY", API_KEY)
            .header("DD-APPLICATION-KEY", APP_KEY)
            .send()
            .await
            .expect("the backend answers");
        response.json().await.expect("a JSON answer")
    }

    /// The series `/api/v1/query` returns for `query` over the last ten minutes.
    pub async fn query(&self, query: &str) -> Vec<Value> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect();
        let answer = self
            .get(&format!(
                "/api/v1/query?from={}&to={}&query={encoded}",
                now - 600,
                now + 60
            ))
            .await;
        answer["series"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `query` until it returns a series, for at most `deadline`.
    pub async fn wait_for_series(&self, query: &str, deadline: Duration) -> Vec<Value> {
        super::poll::until(
            deadline,
            || format!("a series for {query}"),
            async || Some(self.query(query).await).filter(|series| !series.is_empty()),
        )
        .await
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
