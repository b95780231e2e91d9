//! End to end: the exercise's monitor (fixtures/solution/api/monitor.json) goes OK → Warn → Alert → No Data →
//! recovered on the test clock, and the right e-mails arrive at a real SMTP server on loopback.
//!
//! The backend runs in-process (its router, a temp-folder store); the agent's part is played by posting
//! host metadata and series; the mail sink is a small RFC 5321 server written below, over TCP.

// Helpers of this test target are test code too: a failing unwrap is a failing test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ddlab_backend::{AppState, Config, Keys, NotificationConfig, Secret, router};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

const API: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "0123456789abcdef0123456789abcdef01234567";
/// Wednesday 2030-01-02 12:00 UTC: no downtime of the exercise is near.
const T0: i64 = 1_893_585_600;
/// How long a test waits for a message the backend has already sent.
const MAIL_DEADLINE: Duration = Duration::from_secs(10);

/// A message the sink received.
#[derive(Debug)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

impl Mail {
    fn subject(&self) -> &str {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
    }

    /// The body after the headers, decoded when it is quoted-printable.
    fn body(&self) -> String {
        let (headers, body) = self.data.split_once("\r\n\r\n").unwrap_or((&self.data, ""));
        let quoted = headers
            .lines()
            .any(|l| l.eq_ignore_ascii_case("Content-Transfer-Encoding: quoted-printable"));
        if quoted {
            quoted_printable(body)
        } else {
            body.to_owned()
        }
    }
}

/// RFC 2045 quoted-printable: `=` at a line end joins lines, `=XX` is a byte.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A minimal SMTP server: EHLO/HELO, MAIL, RCPT, DATA (with dot-unstuffing), RSET, NOOP, QUIT.
struct Sink {
    port: u16,
    received: mpsc::UnboundedReceiver<Mail>,
    _tasks: JoinSet<()>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, received) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut sessions = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                sessions.spawn(session(stream, tx.clone()));
            }
        });
        Sink {
            port,
            received,
            _tasks: tasks,
        }
    }

    /// The next message; the backend has already handed it over when this is called.
    async fn next(&mut self) -> Mail {
        tokio::time::timeout(MAIL_DEADLINE, self.received.recv())
            .await
            .expect("no e-mail arrived")
            .expect("the sink stopped")
    }

    fn assert_empty(&mut self) {
        if let Ok(mail) = self.received.try_recv() {
            panic!("unexpected e-mail: {}", mail.subject());
        }
    }
}

async fn session(stream: tokio::net::TcpStream, tx: mpsc::UnboundedSender<Mail>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let reply = async |write: &mut tokio::net::tcp::OwnedWriteHalf, text: &str| {
        write.write_all(text.as_bytes()).await.is_ok()
    };
    if !reply(&mut write, "220 ddlab-test-sink ESMTP\r\n").await {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") {
            "250-ddlab-test-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".to_owned()
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            "250 OK\r\n".to_owned()
        } else if upper.starts_with("RSET") {
            from.clear();
            to.clear();
            "250 OK\r\n".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&line["MAIL FROM:".len()..]);
            "250 OK\r\n".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&line["RCPT TO:".len()..]));
            "250 OK\r\n".to_owned()
        } else if upper == "DATA" {
            if !reply(&mut write, "354 End data with <CR><LF>.<CR><LF>\r\n").await {
                return;
            }
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push_str("\r\n");
            }
            let _ = tx.send(Mail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            "250 OK: queued\r\n".to_owned()
        } else if upper.starts_with("QUIT") {
            let _ = reply(&mut write, "221 Bye\r\n").await;
            return;
        } else {
            "502 Command not implemented\r\n".to_owned()
        };
        if !reply(&mut write, &answer).await {
            return;
        }
    }
}

fn address(text: &str) -> String {
    let text = text.trim();
    let inner = text
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or(text, |(address, _)| address);
    inner.to_owned()
}

struct Lab {
    _dir: tempfile::TempDir,
    state: AppState,
}

impl Lab {
    fn new(smtp_port: u16) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_dir: dir.path().join("state"),
            listen: "127.0.0.1:0".parse().unwrap(),
            test_mode: true,
            keys: Some(Keys {
                api_key: Secret::new(API),
                app_key: Secret::new(APP),
            }),
            public_url: Some("http://lab.test".to_owned()),
            notifications: NotificationConfig {
                smtp: Some(format!("127.0.0.1:{smtp_port}")),
                mail_from: Some("ddlab <alerts@ddlab.test>".to_owned()),
                webhooks: None,
            },
        };
        let state = AppState::open(&config).unwrap();
        Lab { _dir: dir, state }
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("DD-API-KEY", API)
            .header("DD-APPLICATION-KEY", APP)
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, value)
    }

    async fn ok(&self, method: &str, uri: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, uri, body).await;
        assert!(status.is_success(), "{method} {uri}: {status} {value}");
        value
    }

    async fn set_clock(&self, now: i64) {
        self.ok("POST", "/ddlab/test/clock", Some(json!({ "now": now })))
            .await;
    }

    /// my_metric from the lab host, one point every 45 s in `[from, to)`.
    async fn post_metric(&self, from: i64, to: i64, value: f64) {
        let points: Vec<Value> = (from..to).step_by(45).map(|t| json!([t, value])).collect();
        let body =
            json!({"series": [{"metric": "my_metric", "points": points, "host": "lab", "type": "gauge"}]});
        self.ok("POST", "/api/v1/series", Some(body)).await;
    }

    async fn evaluate(&self) -> Value {
        self.ok("POST", "/ddlab/test/monitors/evaluate", None).await
    }
}

/// The reference solution's monitor with its placeholders filled.
fn exercise_monitor() -> Value {
    let text = include_str!("../../../fixtures/solution/api/monitor.json")
        .replace("$HOST", "lab")
        .replace("$EMAIL", "candidate@example.com");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exercise_monitor_emails_each_state_over_smtp() {
    let mut sink = Sink::start().await;
    let lab = Lab::new(sink.port);
    lab.set_clock(T0 - 600).await;
    // The agent's host metadata: the host's IP for {{host.ip}}.
    let metadata = json!({
        "internalHostname": "lab",
        "meta": {"hostname": "lab"},
        "host-tags": {"system": ["env:lab"]},
        "gohai": json!({"network": {"ipaddress": "10.0.2.15"}}).to_string(),
    });
    lab.ok("POST", "/intake/", Some(metadata)).await;

    let created = lab.ok("POST", "/api/v1/monitor", Some(exercise_monitor())).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["type"], "query alert");
    assert_eq!(created["overall_state"], "No Data");
    assert_eq!(
        created["options"]["thresholds"],
        json!({"critical": 800.0, "warning": 500.0})
    );

    // OK: five minutes around 100. The first evaluation with data notifies nobody.
    lab.post_metric(T0 - 300, T0, 100.0).await;
    lab.set_clock(T0).await;
    let report = lab.evaluate().await;
    assert_eq!(report["evaluation"]["transitions"], 0, "{report}");
    let monitor = lab
        .ok("GET", &format!("/api/v1/monitor/{id}?group_states=all"), None)
        .await;
    assert_eq!(monitor["overall_state"], "OK");
    assert_eq!(monitor["state"]["groups"]["*"]["status"], "OK");
    sink.assert_empty();

    // Warn: five minutes at 600.
    lab.post_metric(T0, T0 + 300, 600.0).await;
    lab.set_clock(T0 + 300).await;
    let report = lab.evaluate().await;
    assert_eq!(report["delivery"]["sent"], 1, "{report}");
    let mail = sink.next().await;
    assert_eq!(mail.from, "alerts@ddlab.test");
    assert_eq!(mail.to, ["candidate@example.com"]);
    assert!(mail.data.contains("Message-ID: <notification-"), "{}", mail.data);
    assert!(
        mail.data.contains("Date: Wed, 02 Jan 2030 12:05:00 +0000"),
        "{}",
        mail.data
    );
    assert_eq!(mail.subject(), "[Warn] my_metric is high on lab");
    assert!(
        mail.body().starts_with(
            "WARNING: my_metric averaged 600 over the last 5 minutes, above the warning threshold of 500."
        ),
        "{}",
        mail.body()
    );
    assert!(!mail.body().contains("ALERT:"), "{}", mail.body());
    sink.assert_empty();

    // Alert: five minutes at 900; the value and the host's IP are in the message.
    lab.post_metric(T0 + 300, T0 + 600, 900.0).await;
    lab.set_clock(T0 + 600).await;
    lab.evaluate().await;
    let mail = sink.next().await;
    assert_eq!(mail.subject(), "[Triggered] my_metric is high on lab");
    assert!(
        mail.body().starts_with(
            "ALERT: my_metric averaged 900 over the last 5 minutes on lab (IP 10.0.2.15), above the alert threshold of 800."
        ),
        "{}",
        mail.body()
    );
    assert!(
        mail.body().contains("Notify: @candidate@example.com"),
        "{}",
        mail.body()
    );
    sink.assert_empty();

    // The data stops at T0 + 585. Five minutes later nothing changes; at ten, No Data.
    lab.set_clock(T0 + 900).await;
    let report = lab.evaluate().await;
    assert_eq!(report["evaluation"]["transitions"], 0, "{report}");
    sink.assert_empty();
    lab.set_clock(T0 + 1185).await;
    lab.evaluate().await;
    let mail = sink.next().await;
    assert_eq!(mail.subject(), "[No Data] my_metric is high on lab");
    assert!(
        mail.body()
            .starts_with("NO DATA: my_metric has not reported for 10 minutes."),
        "{}",
        mail.body()
    );
    sink.assert_empty();

    // Data again, low: recovered.
    lab.post_metric(T0 + 1200, T0 + 1500, 100.0).await;
    lab.set_clock(T0 + 1500).await;
    lab.evaluate().await;
    let mail = sink.next().await;
    assert_eq!(mail.subject(), "[Recovered] my_metric is high on lab");
    assert!(
        mail.body()
            .starts_with("RECOVERED: my_metric is back below its thresholds (100)."),
        "{}",
        mail.body()
    );
    sink.assert_empty();

    // Each transition is an event with Datadog's title, and the state history has all four.
    let events = lab
        .ok(
            "GET",
            &format!("/api/v1/events?start={}&end={}", T0 - 600, T0 + 1600),
            None,
        )
        .await;
    let titles: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        [
            "[Recovered] my_metric is high on lab",
            "[No Data] my_metric is high on lab",
            "[Triggered] my_metric is high on lab",
            "[Warn] my_metric is high on lab",
        ]
    );
    let monitor = lab.ok("GET", &format!("/api/v1/monitor/{id}"), None).await;
    assert_eq!(monitor["overall_state"], "OK");
}
