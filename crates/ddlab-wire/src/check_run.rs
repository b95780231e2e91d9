//! Service checks: `POST /api/v1/check_run` bodies decoded into [`CheckRun`]s, and the agent's encoder.
//!
//! The body is a JSON array (the Agent and the API clients); datadogpy sends one bare object, and
//! dogshell sends explicit `null`s for `message`, `tags` and `timestamp`. All of these are accepted.

use serde_json::{Map, Value};

use crate::WireError;
use crate::json::{self, Object};

/// One service check result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRun {
    pub check: String,
    pub host_name: String,
    pub status: CheckStatus,
    /// Epoch seconds; `None` means "now" to the receiver.
    pub timestamp: Option<i64>,
    pub message: Option<String>,
    pub tags: Vec<String>,
}

/// A service check status, with Datadog's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckStatus {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl CheckStatus {
    /// The wire code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn code(self) -> u8 {
        match self {
            CheckStatus::Ok => 0,
            CheckStatus::Warning => 1,
            CheckStatus::Critical => 2,
            CheckStatus::Unknown => 3,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(CheckStatus::Ok),
            1 => Some(CheckStatus::Warning),
            2 => Some(CheckStatus::Critical),
            3 => Some(CheckStatus::Unknown),
            _ => None,
        }
    }

    /// The name Datadog shows (`OK`, `WARNING`, `CRITICAL`, `UNKNOWN`).
    pub fn name(self) -> &'static str {
        match self {
            CheckStatus::Ok => "OK",
            CheckStatus::Warning => "WARNING",
            CheckStatus::Critical => "CRITICAL",
            CheckStatus::Unknown => "UNKNOWN",
        }
    }
}

/// Decodes a `POST /api/v1/check_run` body; one invalid check run refuses the whole body.
pub fn decode(body: &[u8]) -> Result<Vec<CheckRun>, WireError> {
    let value = json::parse(body)?;
    match &value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| from_object(Object::new(format!("[{index}]"), item, "a check run")?))
            .collect(),
        Value::Object(_) => Ok(vec![from_object(Object::new("", &value, "a check run")?)?]),
        _ => Err(WireError::invalid(
            "the body must be a JSON array of check runs, or one check run object",
        )),
    }
}

/// Encodes check runs as the Agent posts them: a JSON array.
pub fn encode(runs: &[CheckRun]) -> Vec<u8> {
    let runs = runs.iter().map(|run| {
        let mut object = Map::new();
        object.insert("check".into(), run.check.clone().into());
        object.insert("host_name".into(), run.host_name.clone().into());
        object.insert("status".into(), run.status.code().into());
        if let Some(timestamp) = run.timestamp {
            object.insert("timestamp".into(), timestamp.into());
        }
        object.insert("message".into(), run.message.clone().unwrap_or_default().into());
        object.insert("tags".into(), run.tags.clone().into());
        Value::Object(object)
    });
    Value::Array(runs.collect()).to_string().into_bytes()
}

/// Reads one check run object; also used for the `service_checks` of `/intake/` payloads.
pub(crate) fn from_object(object: Object<'_>) -> Result<CheckRun, WireError> {
    let check = object.required_string("check")?;
    let host_name = object.required_string("host_name")?;
    let status = match object.integer("status") {
        Ok(None) if !object.has("status") => return Err(object.missing("status")),
        Ok(Some(code)) => CheckStatus::from_code(code),
        Ok(None) | Err(_) => None,
    };
    let status = status.ok_or_else(|| {
        WireError::invalid(json::at(
            &object.path,
            r#""status" must be 0 (ok), 1 (warning), 2 (critical) or 3 (unknown)"#,
        ))
    })?;
    Ok(CheckRun {
        check,
        host_name,
        status,
        timestamp: object.timestamp("timestamp")?,
        message: object.non_empty_string("message")?,
        tags: object.strings("tags")?,
    })
}

#[cfg(test)]
mod tests;
