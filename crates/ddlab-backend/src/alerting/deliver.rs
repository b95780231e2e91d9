//! Delivering recorded notifications: `@email` over SMTP (or as `.eml` files in `<state>/outbox/` when no
//! SMTP server is configured), `@webhook-<name>` as an HTTP POST of the configured payload, other handles
//! recorded only. A failed attempt is retried with exponential backoff and every attempt is recorded on the
//! notification; delivery never runs inside an evaluation pass, so a slow server cannot delay one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use ddlab_monitor::mentions::Channel;
use ddlab_store::Notification;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use serde_json::Value;

/// Attempts before a notification is given up as `failed`.
pub(crate) const MAX_ATTEMPTS: i64 = 5;
/// The wait after the first failed attempt; it doubles with each further failure.
pub(crate) const FIRST_RETRY_SECONDS: i64 = 30;
/// How long one SMTP session or webhook request may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The outbox folder inside the state folder.
pub const OUTBOX_DIR: &str = "outbox";

/// Where notifications go. Built from [`crate::NotificationConfig`].
#[derive(Debug)]
pub(crate) struct Delivery {
    smtp: Option<(String, u16)>,
    mail_from: Mailbox,
    outbox: PathBuf,
    webhooks: BTreeMap<String, Webhook>,
    webhooks_file: Option<PathBuf>,
    http: reqwest::Client,
}

/// One configured webhook, in the shape of Datadog's webhooks integration.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Webhook {
    pub(crate) name: String,
    pub(crate) url: String,
    /// The body template: a JSON document (object or string) with `$VARIABLES`; Datadog's default if absent.
    #[serde(default)]
    pub(crate) payload: Option<Value>,
    /// Extra headers: an object, or a JSON string of one (as Datadog's API takes it).
    #[serde(default)]
    pub(crate) custom_headers: Option<Value>,
    /// `json` (default) or `form`.
    #[serde(default)]
    pub(crate) encode_as: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WebhooksFile {
    webhooks: Vec<Webhook>,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Sent(String),
    /// Recorded only: no channel in the lab.
    Recorded(String),
    /// Worth retrying.
    Failed(String),
    /// Retrying cannot help (no such webhook, bad address).
    Refused(String),
}

impl Delivery {
    pub(crate) fn new(config: &crate::NotificationConfig, state_dir: &Path) -> anyhow::Result<Delivery> {
        let smtp = match config.smtp.as_deref() {
            None | Some("") => None,
            Some(address) => {
                let (host, port) = address
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_owned(), p.parse::<u16>().ok()?)))
                    .with_context(|| format!("--smtp {address:?} must be host:port, e.g. 127.0.0.1:2525"))?;
                Some((host, port))
            }
        };
        let mail_from: Mailbox = config
            .mail_from
            .as_deref()
            .unwrap_or("ddlab <alerts@ddlab.local>")
            .parse()
            .with_context(|| format!("--mail-from {:?} is not an e-mail address", config.mail_from))?;
        let webhooks = match &config.webhooks {
            None => BTreeMap::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the webhooks file {}", path.display()))?;
                let file: WebhooksFile = serde_json::from_str(&text).with_context(|| {
                    format!(
                        "{}: expected {{\"webhooks\": [{{\"name\": \"ops\", \"url\": \"http://...\"}}]}}",
                        path.display()
                    )
                })?;
                file.webhooks.into_iter().map(|w| (w.name.clone(), w)).collect()
            }
        };
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .build()
            .context("cannot build the webhook HTTP client")?;
        Ok(Delivery {
            smtp,
            mail_from,
            outbox: state_dir.join(OUTBOX_DIR),
            webhooks,
            webhooks_file: config.webhooks.clone(),
            http,
        })
    }

    /// Delivers one notification at `now` (the backend clock, used for the e-mail's Date).
    pub(crate) async fn attempt(&self, notification: &Notification, now: i64) -> Outcome {
        let handle = &notification.notification.handle;
        match Channel::of(handle) {
            Channel::Email(address) => self.email(notification, &address, now).await,
            Channel::Webhook(name) => match self.webhooks.get(&name) {
                Some(webhook) => self.webhook(webhook, notification).await,
                None => Outcome::Refused(match &self.webhooks_file {
                    Some(file) => format!("no webhook named {name:?} in {}", file.display()),
                    None => format!("no webhook named {name:?}: start the backend with --webhooks FILE"),
                }),
            },
            Channel::Other(handle) => Outcome::Recorded(format!(
                "@{handle} names an integration the lab does not have: recorded only"
            )),
        }
    }

    async fn email(&self, notification: &Notification, address: &str, now: i64) -> Outcome {
        let to: Mailbox = match address.parse() {
            Ok(to) => to,
            Err(err) => return Outcome::Refused(format!("{address:?} is not an e-mail address: {err}")),
        };
        let date = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0));
        let message = Message::builder()
            .from(self.mail_from.clone())
            .to(to)
            .subject(notification.notification.subject.clone())
            .message_id(Some(format!(
                "<notification-{}.{now}@ddlab.local>",
                notification.id
            )))
            .date(date)
            .header(ContentType::TEXT_PLAIN)
            .body(notification.notification.body.clone());
        let message = match message {
            Ok(message) => message,
            Err(err) => return Outcome::Refused(format!("cannot build the e-mail: {err}")),
        };
        match &self.smtp {
            Some((host, port)) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                    .port(*port)
                    .timeout(Some(SEND_TIMEOUT))
                    .build();
                match transport.send(message).await {
                    Ok(_) => Outcome::Sent(format!("smtp {host}:{port}")),
                    Err(err) => Outcome::Failed(format!("smtp {host}:{port}: {err}")),
                }
            }
            None => match write_eml(&self.outbox, notification.id, &message.formatted()).await {
                Ok(path) => Outcome::Sent(format!("written to {}", path.display())),
                Err(err) => Outcome::Failed(format!("{err:#}")),
            },
        }
    }

    async fn webhook(&self, webhook: &Webhook, notification: &Notification) -> Outcome {
        let variables = variables_of(notification);
        let form = webhook.encode_as.as_deref() == Some("form");
        let payload = webhook.payload.clone().unwrap_or_else(default_payload);
        let body = render_payload(&payload, &variables);
        let (content_type, bytes) = if form {
            ("application/x-www-form-urlencoded", form_encode(&body))
        } else {
            ("application/json", body.to_string())
        };
        let mut request = self
            .http
            .post(&webhook.url)
            .header("content-type", content_type)
            .body(bytes);
        for (name, value) in custom_headers(webhook.custom_headers.as_ref()) {
            request = request.header(name, substitute(&value, &variables));
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Outcome::Sent(format!(
                "webhook {}: HTTP {}",
                webhook.name,
                response.status().as_u16()
            )),
            Ok(response) => Outcome::Failed(format!(
                "webhook {}: HTTP {} from {}",
                webhook.name,
                response.status().as_u16(),
                webhook.url
            )),
            Err(err) => Outcome::Failed(format!("webhook {}: {err}", webhook.name)),
        }
    }
}

/// How long to wait before the next attempt after `attempts` failed ones.
pub(crate) fn backoff(attempts: i64) -> i64 {
    FIRST_RETRY_SECONDS.saturating_mul(1 << (attempts - 1).clamp(0, 20))
}

async fn write_eml(outbox: &Path, id: i64, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let outbox = outbox.to_owned();
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || {
        crate::private::create_dir_all(&outbox)
            .with_context(|| format!("cannot create the outbox {}", outbox.display()))?;
        let path = outbox.join(format!("{id:08}.eml"));
        crate::private::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    })
    .await
    .context("the outbox task failed")?
}

/// The `$VARIABLES` of a notification: those recorded with it, or what its subject and body give.
fn variables_of(notification: &Notification) -> BTreeMap<String, String> {
    let mut variables: BTreeMap<String, String> = notification
        .variables
        .as_ref()
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect()
        })
        .unwrap_or_default();
    let n = &notification.notification;
    variables
        .entry("EVENT_TITLE".to_owned())
        .or_insert_with(|| n.subject.clone());
    variables
        .entry("EVENT_MSG".to_owned())
        .or_insert_with(|| n.body.clone());
    variables
        .entry("DATE".to_owned())
        .or_insert_with(|| (notification.created_at * 1000).to_string());
    variables
        .entry("ID".to_owned())
        .or_insert_with(|| notification.id.to_string());
    variables
        .entry("EVENT_TYPE".to_owned())
        .or_insert_with(|| n.origin.clone());
    variables
}

/// Datadog's default webhook payload.
fn default_payload() -> Value {
    serde_json::json!({
        "body": "$EVENT_MSG",
        "last_updated": "$LAST_UPDATED",
        "event_type": "$EVENT_TYPE",
        "title": "$EVENT_TITLE",
        "date": "$DATE",
        "org": {"id": "$ORG_ID", "name": "$ORG_NAME"},
        "id": "$ID"
    })
}

/// Substitutes `$VARIABLES` in every string of a JSON payload (so values are escaped by JSON itself). A
/// string payload that is itself JSON is parsed first; any other string is substituted as text.
pub(crate) fn render_payload(payload: &Value, variables: &BTreeMap<String, String>) -> Value {
    match payload {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(parsed @ (Value::Object(_) | Value::Array(_))) => render_payload(&parsed, variables),
            _ => Value::String(substitute(text, variables)),
        },
        Value::Array(items) => Value::Array(items.iter().map(|i| render_payload(i, variables)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_payload(v, variables)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `$NAME` (upper-case letters, digits, `_`) replaced by its value; the longest known name wins, unknown
/// names are left as written.
pub(crate) fn substitute(text: &str, variables: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        let name = (1..=len)
            .rev()
            .map(|l| &after[..l])
            .find(|candidate| variables.contains_key(*candidate));
        match name {
            Some(name) => {
                out.push_str(&variables[name]);
                rest = &after[name.len()..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn custom_headers(headers: Option<&Value>) -> Vec<(String, String)> {
    let object = match headers {
        Some(Value::Object(map)) => map.clone(),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            _ => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    object
        .into_iter()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect()
}

/// A JSON object as `application/x-www-form-urlencoded`.
fn form_encode(body: &Value) -> String {
    let encode = |text: &str| {
        let mut out = String::new();
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(char::from(byte))
                }
                b' ' => out.push('+'),
                other => out.push_str(&format!("%{other:02X}")),
            }
        }
        out
    };
    match body {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let value = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                format!("{}={}", encode(k), encode(&value))
            })
            .collect::<Vec<_>>()
            .join("&"),
        other => encode(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [
            ("ALERT_ID", "12"),
            ("ALERT", "x"),
            ("EVENT_TITLE", "[Triggered] \"quoted\""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn payload_variables_are_substituted_inside_json_strings() {
        let payload = json!({"id": "$ALERT_ID", "title": "$EVENT_TITLE", "keep": "$UNKNOWN and $$", "n": 3});
        assert_eq!(
            render_payload(&payload, &vars()),
            json!({"id": "12", "title": "[Triggered] \"quoted\"", "keep": "$UNKNOWN and $$", "n": 3})
        );
        let as_string = json!("{\"a\": \"$ALERT_ID-$ALERT\"}");
        assert_eq!(render_payload(&as_string, &vars()), json!({"a": "12-x"}));
        assert_eq!(substitute("id=$ALERT_IDX", &vars()), "id=12X");
        assert_eq!(form_encode(&json!({"a b": "c&d"})), "a+b=c%26d");
        assert_eq!(
            custom_headers(Some(&json!("{\"X-Token\": \"t\"}"))),
            [("X-Token".to_owned(), "t".to_owned())]
        );
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!((backoff(1), backoff(2), backoff(4)), (30, 60, 240));
    }
}
