//! `POST /intake/` payloads: the Agent's host metadata (the Agent 5 "host" payload it still sends every
//! 30 minutes), and the events and service checks posted to the same route.
//!
//! The route carries several payload kinds, told apart by their keys (as Datadog's fakeintake does):
//! host metadata has `host-tags`, `systemStats` or `gohai`; event payloads have `events`; Agent 5 also
//! sent `service_checks`. Other keys (`agent_checks`, `resources`, `logs`, `install-method`, …) are
//! ignored, but every field that is read must have the right type.
//!
//! The host's IP comes from the `gohai` field, a JSON document *inside a string*: `network.ipaddress`
//! (and `ipaddressv6`, `macaddress`); the top-level `network` object only carries `network-id` and, on
//! cloud hosts, `public-ipv4`.
//!
//! The agent's side: [`encode_host_metadata`] writes the host payload and [`encode_events`] the events
//! payload, in the Agent 7 shapes; what they write decodes back to the same values.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::WireError;
use crate::check_run::{self, CheckRun};
use crate::events::{self, Event};
use crate::json::{self, Object};

/// Everything one `/intake/` body carried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Intake {
    /// Present when the body is a host metadata payload.
    pub host: Option<HostMetadata>,
    /// Events, in source order then list order; a missing `host` is the payload's `internalHostname`.
    pub events: Vec<Event>,
    pub service_checks: Vec<CheckRun>,
}

/// What the host map and the hosts API show about a host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostMetadata {
    /// `internalHostname`, or `meta.hostname` when that is missing.
    pub hostname: String,
    /// `meta.host_aliases` (cloud instance ids and the like).
    pub host_aliases: Vec<String>,
    pub socket_hostname: Option<String>,
    pub socket_fqdn: Option<String>,
    /// `host-tags`, by source: `system` holds the Agent's `tags` (and `env:`), then one entry per cloud
    /// provider (`google cloud platform`, …).
    pub host_tags: BTreeMap<String, Vec<String>>,
    /// gohai `network.ipaddress`.
    pub ip: Option<String>,
    /// gohai `network.ipaddressv6`.
    pub ipv6: Option<String>,
    /// gohai `network.macaddress`.
    pub mac_address: Option<String>,
    /// `network.public-ipv4`, on cloud hosts.
    pub public_ip: Option<String>,
    pub agent_version: Option<String>,
    /// `agent-flavor` (`agent`, `iot_agent`, …).
    pub agent_flavor: Option<String>,
    /// `os` (`linux`, `windows`, `darwin`).
    pub os: Option<String>,
    /// gohai `platform.os` (`GNU/Linux`).
    pub platform: Option<String>,
    /// gohai `platform.kernel_release`.
    pub kernel_release: Option<String>,
    /// `systemStats.cpuCores`.
    pub cpu_cores: Option<u32>,
    /// `python` (the embedded Python's version line).
    pub python_version: Option<String>,
    pub uuid: Option<String>,
    /// `meta.timezones`.
    pub timezones: Vec<String>,
}

/// Decodes an `/intake/` body.
pub fn decode(body: &[u8]) -> Result<Intake, WireError> {
    let value = json::parse(body)?;
    let root = Object::new("", &value, "the body")?;
    let internal_hostname = root.non_empty_string("internalHostname")?;
    let is_host = ["host-tags", "systemStats", "gohai"]
        .iter()
        .any(|key| root.has(key));
    let host = if is_host {
        Some(host_metadata(&root, internal_hostname.clone())?)
    } else {
        None
    };
    let mut events = events_by_source(&root)?;
    for event in &mut events {
        if event.host.is_none() {
            event.host.clone_from(&internal_hostname);
        }
    }
    Ok(Intake {
        host,
        events,
        service_checks: service_checks(&root)?,
    })
}

/// Encodes host metadata as the Agent's `/intake/` host payload: `apiKey`, `internalHostname`, `meta`,
/// `host-tags`, `systemStats`, and `gohai` as a JSON document inside a string (its values are strings,
/// as gohai writes them). Unset fields are written the way the Agent writes them: `""` or left out.
pub fn encode_host_metadata(api_key: &str, host: &HostMetadata) -> Vec<u8> {
    let text = |value: &Option<String>| Value::from(value.clone().unwrap_or_default());
    let mut network = Map::new();
    for (key, value) in [
        ("ipaddress", &host.ip),
        ("ipaddressv6", &host.ipv6),
        ("macaddress", &host.mac_address),
    ] {
        if let Some(value) = value {
            network.insert(key.to_owned(), value.clone().into());
        }
    }
    let mut platform = Map::new();
    platform.insert("hostname".to_owned(), host.hostname.clone().into());
    for (key, value) in [("os", &host.platform), ("kernel_release", &host.kernel_release)] {
        if let Some(value) = value {
            platform.insert(key.to_owned(), value.clone().into());
        }
    }
    if let Some(os) = &host.os {
        platform.insert("GOOS".to_owned(), os.clone().into());
    }
    let mut gohai = Map::new();
    gohai.insert("network".to_owned(), Value::Object(network));
    gohai.insert("platform".to_owned(), Value::Object(platform));
    if let Some(cores) = host.cpu_cores {
        gohai.insert("cpu".to_owned(), json!({ "cpu_cores": cores.to_string() }));
    }
    let mut system_stats = Map::new();
    if let Some(cores) = host.cpu_cores {
        system_stats.insert("cpuCores".to_owned(), cores.into());
    }
    if let Some(os) = &host.os {
        system_stats.insert("platform".to_owned(), os.clone().into());
    }
    let mut top_network = Map::new();
    top_network.insert("network-id".to_owned(), "".into());
    if let Some(public) = &host.public_ip {
        top_network.insert("public-ipv4".to_owned(), public.clone().into());
    }
    let payload = json!({
        "apiKey": api_key,
        "agentVersion": text(&host.agent_version),
        "uuid": text(&host.uuid),
        "internalHostname": host.hostname,
        "os": text(&host.os),
        "agent-flavor": text(&host.agent_flavor),
        "python": text(&host.python_version),
        "systemStats": system_stats,
        "meta": {
            "hostname": host.hostname,
            "socket-hostname": text(&host.socket_hostname),
            "socket-fqdn": text(&host.socket_fqdn),
            "timezones": host.timezones,
            "host_aliases": host.host_aliases,
        },
        "host-tags": host.host_tags,
        "network": top_network,
        "gohai": Value::Object(gohai).to_string(),
    });
    payload.to_string().into_bytes()
}

/// Encodes events as the Agent posts them to `/intake/`: filed by `source_type_name` (or `api`), with the
/// Agent's field names (`msg_title`, `msg_text`, `timestamp`); `internal_hostname` is the host of events
/// that name none.
pub fn encode_events(api_key: &str, internal_hostname: &str, events: &[Event]) -> Vec<u8> {
    let mut by_source: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for event in events {
        let source = event.source_type_name.clone().unwrap_or_else(|| "api".to_owned());
        let mut object = Map::new();
        object.insert("msg_title".to_owned(), event.title.clone().into());
        object.insert("msg_text".to_owned(), event.text.clone().into());
        object.insert("timestamp".to_owned(), event.date_happened.unwrap_or(0).into());
        object.insert("priority".to_owned(), event.priority.name().into());
        object.insert(
            "host".to_owned(),
            event
                .host
                .clone()
                .unwrap_or_else(|| internal_hostname.to_owned())
                .into(),
        );
        object.insert("tags".to_owned(), event.tags.clone().into());
        object.insert("alert_type".to_owned(), event.alert_type.name().into());
        object.insert(
            "aggregation_key".to_owned(),
            event.aggregation_key.clone().unwrap_or_default().into(),
        );
        object.insert(
            "source_type_name".to_owned(),
            event.source_type_name.clone().unwrap_or_default().into(),
        );
        object.insert(
            "event_type".to_owned(),
            event.event_type.clone().unwrap_or_default().into(),
        );
        by_source.entry(source).or_default().push(Value::Object(object));
    }
    json!({
        "apiKey": api_key,
        "internalHostname": internal_hostname,
        "events": by_source,
    })
    .to_string()
    .into_bytes()
}

fn host_metadata(root: &Object<'_>, internal_hostname: Option<String>) -> Result<HostMetadata, WireError> {
    let meta = root.child("meta")?;
    let hostname = match (internal_hostname, string(meta.as_ref(), "hostname")?) {
        (Some(name), _) | (None, Some(name)) => name,
        (None, None) => return Err(root.missing("internalHostname")),
    };
    let gohai_document = gohai(root)?;
    let gohai = gohai_document
        .as_ref()
        .map(|document| Object::new("gohai", document, "gohai"))
        .transpose()?;
    let gohai_network = gohai.as_ref().map(|g| g.child("network")).transpose()?.flatten();
    let gohai_platform = gohai.as_ref().map(|g| g.child("platform")).transpose()?.flatten();
    let strings = |key: &str| meta.as_ref().map_or(Ok(Vec::new()), |m| m.strings(key));
    Ok(HostMetadata {
        hostname,
        host_aliases: strings("host_aliases")?,
        socket_hostname: string(meta.as_ref(), "socket-hostname")?,
        socket_fqdn: string(meta.as_ref(), "socket-fqdn")?,
        host_tags: host_tags(root)?,
        ip: string(gohai_network.as_ref(), "ipaddress")?,
        ipv6: string(gohai_network.as_ref(), "ipaddressv6")?,
        mac_address: string(gohai_network.as_ref(), "macaddress")?,
        public_ip: string(root.child("network")?.as_ref(), "public-ipv4")?,
        agent_version: root.non_empty_string("agentVersion")?,
        agent_flavor: root.non_empty_string("agent-flavor")?,
        os: root.non_empty_string("os")?,
        platform: string(gohai_platform.as_ref(), "os")?,
        kernel_release: string(gohai_platform.as_ref(), "kernel_release")?,
        cpu_cores: cpu_cores(root)?,
        python_version: root.non_empty_string("python")?,
        uuid: root.non_empty_string("uuid")?,
        timezones: strings("timezones")?,
    })
}

/// A non-empty string field of an optional object.
fn string(object: Option<&Object<'_>>, key: &str) -> Result<Option<String>, WireError> {
    object.map_or(Ok(None), |o| o.non_empty_string(key))
}

fn cpu_cores(root: &Object<'_>) -> Result<Option<u32>, WireError> {
    let Some(stats) = root.child("systemStats")? else {
        return Ok(None);
    };
    stats
        .integer("cpuCores")?
        .map(|cores| {
            u32::try_from(cores).map_err(|_| {
                WireError::invalid(json::at(&stats.path, r#""cpuCores" must be a positive integer"#))
            })
        })
        .transpose()
}

/// The gohai document: the Agent sends it as a JSON string (`""` when gohai is disabled); an object is
/// accepted too.
fn gohai(root: &Object<'_>) -> Result<Option<Value>, WireError> {
    match root.get("gohai") {
        None => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => json::parse(text.as_bytes())
            .map(Some)
            .map_err(|err| WireError::invalid(format!("gohai: {err}"))),
        Some(object @ Value::Object(_)) => Ok(Some(object.clone())),
        Some(_) => Err(WireError::invalid(
            r#""gohai" must be a string holding a JSON document"#,
        )),
    }
}

fn host_tags(root: &Object<'_>) -> Result<BTreeMap<String, Vec<String>>, WireError> {
    let Some(tags) = root.child("host-tags")? else {
        return Ok(BTreeMap::new());
    };
    tags.map
        .keys()
        .map(|source| Ok((source.clone(), tags.strings(source)?)))
        .collect()
}

fn events_by_source(root: &Object<'_>) -> Result<Vec<Event>, WireError> {
    let Some(by_source) = root.child("events")? else {
        return Ok(Vec::new());
    };
    let mut events = Vec::new();
    for (source, list) in by_source.map {
        let items = match list {
            Value::Null => continue,
            Value::Array(items) => items,
            _ => {
                return Err(WireError::invalid(format!(
                    "events: {source:?} must be a list of events"
                )));
            }
        };
        for (index, item) in items.iter().enumerate() {
            let path = format!("events.{source}[{index}]");
            events.push(events::from_intake(Object::new(path, item, "an event")?, source)?);
        }
    }
    Ok(events)
}

fn service_checks(root: &Object<'_>) -> Result<Vec<CheckRun>, WireError> {
    match root.get("service_checks") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let path = format!("service_checks[{index}]");
                check_run::from_object(Object::new(path, item, "a check run")?)
            })
            .collect(),
        Some(_) => Err(WireError::invalid(
            r#""service_checks" must be a list of check runs"#,
        )),
    }
}

#[cfg(test)]
mod tests;
