//! Events: the `POST /api/v1/events` body with Datadog's validation, the events `/intake/` payloads
//! carry, and the `{"status":"ok","event":{...}}` answer.

use serde::Serialize;

use crate::WireError;
use crate::json::{self, Object};

/// The longest `text` accepted, in characters.
pub const MAX_TEXT: usize = 4000;
/// The longest `aggregation_key` accepted, in characters.
pub const MAX_AGGREGATION_KEY: usize = 100;
/// How far in the past `date_happened` may be (18 hours).
pub const MAX_AGE_SECONDS: i64 = 18 * 3600;
/// How far in the future `date_happened` may be (2 hours).
pub const MAX_AHEAD_SECONDS: i64 = 2 * 3600;

/// An event, from the API or from an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub title: String,
    /// Markdown when wrapped in `%%% \n … \n %%%`.
    pub text: String,
    /// Epoch seconds; `None` means "now" to the receiver.
    pub date_happened: Option<i64>,
    pub priority: Priority,
    pub host: Option<String>,
    pub tags: Vec<String>,
    pub alert_type: AlertType,
    pub aggregation_key: Option<String>,
    pub source_type_name: Option<String>,
    pub related_event_id: Option<i64>,
    pub device_name: Option<String>,
    /// Only agents send it (`event_type` of `/intake/` events).
    pub event_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    #[default]
    Normal,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AlertType {
    Error,
    Warning,
    #[default]
    Info,
    Success,
    UserUpdate,
    Recommendation,
    Snapshot,
}

/// The 202 answer to `POST /api/v1/events`, field for field as recorded from Datadog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventCreated {
    pub status: &'static str,
    pub event: CreatedEvent,
}

/// The event echoed in [`EventCreated`]. Datadog answers `priority: null` even when one was sent, and
/// `tags: null` when none were.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreatedEvent {
    pub id: i64,
    pub id_str: String,
    pub title: String,
    pub text: String,
    pub date_happened: i64,
    pub handle: Option<String>,
    pub priority: Option<&'static str>,
    pub related_event_id: Option<i64>,
    pub tags: Option<Vec<String>>,
    pub url: String,
}

impl Priority {
    pub fn name(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "normal" => Some(Priority::Normal),
            "low" => Some(Priority::Low),
            _ => None,
        }
    }
}

impl AlertType {
    pub const ALL: [AlertType; 7] = [
        AlertType::Error,
        AlertType::Warning,
        AlertType::Info,
        AlertType::Success,
        AlertType::UserUpdate,
        AlertType::Recommendation,
        AlertType::Snapshot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlertType::Error => "error",
            AlertType::Warning => "warning",
            AlertType::Info => "info",
            AlertType::Success => "success",
            AlertType::UserUpdate => "user_update",
            AlertType::Recommendation => "recommendation",
            AlertType::Snapshot => "snapshot",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        AlertType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Decodes and validates a `POST /api/v1/events` body. Whether `date_happened` is recent enough depends
/// on the clock: the caller checks it with [`check_date`].
pub fn decode(body: &[u8]) -> Result<Event, WireError> {
    let value = json::parse(body)?;
    let object = Object::new("", &value, "the body")?;
    let text = object.required_string("text")?;
    let event = Event {
        title: object.required_string("title")?,
        date_happened: object.strict_integer("date_happened")?,
        priority: priority(&object, "priority")?,
        host: object.non_empty_string("host")?,
        tags: object.strings("tags")?,
        alert_type: alert_type(&object, "alert_type")?,
        aggregation_key: object.non_empty_string("aggregation_key")?,
        source_type_name: object.non_empty_string("source_type_name")?,
        related_event_id: object.strict_integer("related_event_id")?,
        device_name: device_name(&object)?,
        event_type: None,
        text,
    };
    if event.text.chars().count() > MAX_TEXT {
        return Err(WireError::invalid(format!(
            r#""text" must be at most {MAX_TEXT} characters"#
        )));
    }
    if let Some(key) = &event.aggregation_key
        && key.chars().count() > MAX_AGGREGATION_KEY
    {
        return Err(WireError::invalid(format!(
            r#""aggregation_key" must be at most {MAX_AGGREGATION_KEY} characters"#
        )));
    }
    Ok(event)
}

/// Datadog's time window for new events: at most [`MAX_AGE_SECONDS`] old, [`MAX_AHEAD_SECONDS`] ahead.
pub fn check_date(date_happened: i64, now: i64) -> Result<(), WireError> {
    if date_happened < now.saturating_sub(MAX_AGE_SECONDS) {
        Err(WireError::invalid("Event too far in the past"))
    } else if date_happened > now.saturating_add(MAX_AHEAD_SECONDS) {
        Err(WireError::invalid("Event too far in the future"))
    } else {
        Ok(())
    }
}

/// The answer to a stored event. `app_url` is the web UI's base URL (Datadog's is
/// `https://app.datadoghq.com`); `date_happened` is the time stored, which is "now" when none was sent.
pub fn created(id: i64, event: &Event, date_happened: i64, app_url: &str) -> EventCreated {
    EventCreated {
        status: "ok",
        event: CreatedEvent {
            id,
            id_str: id.to_string(),
            title: event.title.clone(),
            text: event.text.clone(),
            date_happened,
            handle: None,
            priority: None,
            related_event_id: event.related_event_id,
            tags: (!event.tags.is_empty()).then(|| event.tags.clone()),
            url: format!("{}/event/event?id={id}", app_url.trim_end_matches('/')),
        },
    }
}

/// Reads one event of an `/intake/` payload's `events` map. The Agent names fields `msg_title`,
/// `msg_text` and `timestamp`, writes unset strings as `""`, and files events under their
/// `source_type_name` (or `api`), which fills a missing `source_type_name`.
pub(crate) fn from_intake(object: Object<'_>, source: &str) -> Result<Event, WireError> {
    let source_type_name = object
        .non_empty_string("source_type_name")?
        .or_else(|| (!source.is_empty() && source != "api").then(|| source.to_owned()));
    Ok(Event {
        title: object.string("msg_title")?.unwrap_or_default(),
        text: object.string("msg_text")?.unwrap_or_default(),
        date_happened: object.timestamp("timestamp")?.filter(|t| *t != 0),
        priority: priority(&object, "priority")?,
        host: object.non_empty_string("host")?,
        tags: object.strings("tags")?,
        alert_type: alert_type(&object, "alert_type")?,
        aggregation_key: object.non_empty_string("aggregation_key")?,
        source_type_name,
        related_event_id: None,
        device_name: None,
        event_type: object.non_empty_string("event_type")?,
    })
}

fn priority(object: &Object<'_>, key: &str) -> Result<Priority, WireError> {
    match object.non_empty_string(key)? {
        None => Ok(Priority::Normal),
        Some(name) => Priority::from_name(&name).ok_or_else(|| {
            WireError::invalid(json::at(&object.path, format!("{key:?} must be normal or low")))
        }),
    }
}

fn alert_type(object: &Object<'_>, key: &str) -> Result<AlertType, WireError> {
    match object.non_empty_string(key)? {
        None => Ok(AlertType::Info),
        Some(name) => AlertType::from_name(&name).ok_or_else(|| {
            let names: Vec<&str> = AlertType::ALL.iter().map(|t| t.name()).collect();
            WireError::invalid(json::at(
                &object.path,
                format!("{key:?} must be one of {}", names.join(", ")),
            ))
        }),
    }
}

/// `device_name` is a string in the OpenAPI spec and a list in some clients; a list gives its first name.
fn device_name(object: &Object<'_>) -> Result<Option<String>, WireError> {
    match object.get("device_name") {
        Some(serde_json::Value::Array(_)) => {
            Ok(object.strings("device_name")?.into_iter().find(|d| !d.is_empty()))
        }
        _ => object.non_empty_string("device_name"),
    }
}

#[cfg(test)]
mod tests;
