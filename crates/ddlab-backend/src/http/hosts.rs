//! Hosts and host tags: `GET /api/v1/hosts`, `/api/v1/hosts/totals`, `/api/v1/tags/hosts[/{host}]`.
//!
//! A host exists once anything names it (series, check runs, events, host metadata). It is "up" while it
//! keeps reporting; the default listing window is Datadog's: hosts seen in the last three hours.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ddlab_store::{Host, USER_TAGS};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{blocking, epoch_param};
use crate::AppState;

/// Hosts that reported within this window are listed by default.
const DEFAULT_WINDOW: i64 = 3 * 3600;
/// A host that reported within this window is `up`.
const UP_WINDOW: i64 = 15 * 60;
const MAX_COUNT: usize = 1000;

/// `GET /api/v1/hosts`.
pub(crate) async fn list_hosts(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let since = match params.get("from") {
        Some(_) => epoch_param(&params, "from")?,
        None => now - DEFAULT_WINDOW,
    };
    let count = match params.get("count") {
        None => 100,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_COUNT).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid 'count' {text:?}: it must be between 1 and {MAX_COUNT}"
                )));
            }
        },
    };
    let start = match params.get("start") {
        None => 0,
        Some(text) => text.trim().parse::<usize>().map_err(|_| {
            ApiError::BadRequest(format!(
                "Invalid 'start' {text:?}: it must be a non-negative integer"
            ))
        })?,
    };
    let descending = match params.get("sort_dir").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "Invalid 'sort_dir' {other:?}: expected \"asc\" or \"desc\""
            )));
        }
    };
    let with_meta = params.get("include_hosts_metadata").is_some_and(|v| v == "true");
    let filter = params.get("filter").cloned().unwrap_or_default();
    let mut hosts = blocking(&state, move |store| store.hosts(since)).await?;
    hosts.retain(|host| host_matches(host, &filter));
    match params.get("sort_field").map(String::as_str) {
        None | Some("" | "name" | "host_name") => {}
        Some("last_reported_time" | "apps" | "status" | "cpu" | "iowait" | "load") => {
            hosts.sort_by_key(|h| h.last_seen);
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!("Invalid 'sort_field' {other:?}")));
        }
    }
    if descending {
        hosts.reverse();
    }
    let total = hosts.len();
    let page: Vec<Value> = hosts
        .iter()
        .skip(start)
        .take(count)
        .map(|h| host_json(h, now, with_meta))
        .collect();
    Ok(Json(json!({
        "host_list": page,
        "total_returned": page.len(),
        "total_matching": total,
        "exact_total_matching": true,
    })))
}

/// `GET /api/v1/hosts/totals`.
pub(crate) async fn totals(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let since = match params.get("from") {
        Some(_) => epoch_param(&params, "from")?,
        None => now - DEFAULT_WINDOW,
    };
    let hosts = blocking(&state, move |store| store.hosts(since)).await?;
    let up = hosts.iter().filter(|h| now - h.last_seen <= UP_WINDOW).count();
    Ok(Json(json!({ "total_up": up, "total_active": hosts.len() })))
}

/// `GET /api/v1/search?q=hosts:web` or `q=metrics:app` or a bare term (both).
pub(crate) async fn search(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let q = params
        .get("q")
        .ok_or_else(|| ApiError::BadRequest("The 'q' parameter is required".to_owned()))?
        .trim()
        .to_owned();
    let (facet, term) = match q.split_once(':') {
        Some(("hosts", term)) => (Some("hosts"), term.to_owned()),
        Some(("metrics", term)) => (Some("metrics"), term.to_owned()),
        _ => (None, q.clone()),
    };
    let now = state.clock.now();
    let (hosts, metrics) = blocking(&state, move |store| {
        let hosts: Vec<String> = store
            .hosts(now - 24 * 3600)?
            .into_iter()
            .map(|h| h.name)
            .collect();
        let metrics = store.metric_names(now - 24 * 3600)?;
        Ok((hosts, metrics))
    })
    .await?;
    let matching = |names: Vec<String>| -> Vec<String> {
        names.into_iter().filter(|n| n.contains(term.as_str())).collect()
    };
    let mut results = serde_json::Map::new();
    if facet != Some("metrics") {
        results.insert("hosts".to_owned(), json!(matching(hosts)));
    }
    if facet != Some("hosts") {
        results.insert("metrics".to_owned(), json!(matching(metrics)));
    }
    Ok(Json(json!({ "results": results })))
}

/// `GET /api/v1/tags/hosts[?source=]`: every tag with the hosts that carry it.
pub(crate) async fn all_tags(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let source = params.get("source").map(|s| source_name(s));
    let hosts = blocking(&state, |store| store.hosts(0)).await?;
    let mut by_tag: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for host in &hosts {
        for (src, tags) in &host.tags_by_source {
            if source.as_ref().is_some_and(|wanted| wanted != src) {
                continue;
            }
            for tag in tags {
                let names = by_tag.entry(tag.clone()).or_default();
                if !names.contains(&host.name) {
                    names.push(host.name.clone());
                }
            }
        }
    }
    Ok(Json(json!({ "tags": by_tag })))
}

/// `GET /api/v1/tags/hosts/{host}[?source=]`.
pub(crate) async fn host_tags(
    State(state): State<AppState>,
    Path(host): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let name = host.clone();
    let found = blocking(&state, move |store| store.host(&name)).await?;
    let host = found.ok_or_else(|| ApiError::NotFound(format!("Host {host:?} not found")))?;
    let tags = match params.get("source") {
        Some(source) => host
            .tags_by_source
            .get(&source_name(source))
            .cloned()
            .unwrap_or_default(),
        None => host.tags(),
    };
    Ok(Json(json!({ "host": host.name, "tags": tags })))
}

/// `POST /api/v1/tags/hosts/{host}`: adds tags (201).
pub(crate) async fn add_host_tags(
    state: State<AppState>,
    host: Path<String>,
    params: Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    write_host_tags(state, host, params, body, true).await
}

/// `PUT /api/v1/tags/hosts/{host}`: replaces the source's tags (201).
pub(crate) async fn replace_host_tags(
    state: State<AppState>,
    host: Path<String>,
    params: Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    write_host_tags(state, host, params, body, false).await
}

/// `DELETE /api/v1/tags/hosts/{host}`: removes the source's tags (204).
pub(crate) async fn delete_host_tags(
    State(state): State<AppState>,
    Path(host): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let source = source_name(params.get("source").map_or("user", String::as_str));
    blocking(&state, move |store| store.delete_host_tags(&host, &source)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn write_host_tags(
    State(state): State<AppState>,
    Path(host): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
    append: bool,
) -> Result<Response, ApiError> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("Invalid JSON body: {err}")))?;
    let tags = value
        .get("tags")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::BadRequest("\"tags\" is required and must be a list of strings".to_owned()))?
        .iter()
        .enumerate()
        .map(|(i, tag)| {
            tag.as_str()
                .and_then(ddlab_wire::normalize::tag)
                .ok_or_else(|| ApiError::BadRequest(format!("\"tags\"[{i}] must be a non-empty tag string")))
        })
        .collect::<Result<Vec<String>, ApiError>>()?;
    // datadogpy also sends `source` in the body; the query parameter is the one Datadog reads.
    let source = source_name(params.get("source").map_or("user", String::as_str));
    let now = state.clock.now();
    let name = host.clone();
    let echoed = tags.clone();
    blocking(&state, move |store| {
        store.set_host_tags(&name, &source, &tags, append, now)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "host": host, "tags": echoed }))).into_response())
}

/// The source a tags API `source` parameter names: `user`/`users` is the "Users" source of the host map.
fn source_name(source: &str) -> String {
    match source.to_ascii_lowercase().as_str() {
        "user" | "users" => USER_TAGS.to_owned(),
        "datadog" | "agent" => ddlab_store::AGENT_TAGS.to_owned(),
        _ => source.to_owned(),
    }
}

fn host_matches(host: &Host, filter: &str) -> bool {
    let filter = filter.trim();
    if filter.is_empty() {
        return true;
    }
    if let Some(name) = filter.strip_prefix("host:") {
        return host.name == name;
    }
    host.name.contains(filter) || host.tags().iter().any(|t| t.contains(filter))
}

fn host_json(host: &Host, now: i64, with_meta: bool) -> Value {
    let mut tags_by_source = host.tags_by_source.clone();
    // Datadog always lists a host's own `host:` tag under the Datadog source.
    let own = tags_by_source
        .entry(ddlab_store::AGENT_TAGS.to_owned())
        .or_default();
    let host_tag = format!("host:{}", host.name);
    if !own.contains(&host_tag) {
        own.push(host_tag);
        own.sort();
    }
    // A host an agent sent metadata for runs the agent app, from the agent source.
    let agent: Vec<&str> = host.agent_version.iter().map(|_| "agent").collect();
    json!({
        "id": host_id(&host.name),
        "name": host.name,
        "host_name": host.name,
        "aliases": [host.name],
        "apps": agent,
        "sources": agent,
        "tags_by_source": tags_by_source,
        "up": now - host.last_seen <= UP_WINDOW,
        "last_reported_time": host.last_seen,
        "is_muted": false,
        "mute_timeout": null,
        "meta": if with_meta { meta_json(host) } else { json!({}) },
        "metrics": {},
        "aws_id": null,
    })
}

fn meta_json(host: &Host) -> Value {
    let mut meta = host.meta.as_object().cloned().unwrap_or_default();
    meta.insert("agent_version".to_owned(), json!(host.agent_version));
    meta.insert("platform".to_owned(), json!(host.platform));
    Value::Object(meta)
}

/// A stable numeric id from the host name (FNV-1a, kept positive and within JSON's safe integers).
fn host_id(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash & ((1 << 53) - 1)
}
