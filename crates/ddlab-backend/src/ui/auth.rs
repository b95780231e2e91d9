//! Who may see the UI. On loopback the UI is the local user's and needs no login. On any other address every
//! page needs the application key once: the login form checks it and sets a session cookie (`HttpOnly`,
//! `SameSite=Strict`) whose random id is kept in memory only, so a restart logs everyone out.
//!
//! Snapshot PNGs and public dashboard pages never need a login: their URLs hold unguessable tokens.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::{Ui, href, layout};
use crate::AppState;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "ddlab_session";
/// How long a login lasts.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Layer of the pages: lets the request through when no login is needed or its session is valid, and sends
/// it to the login form otherwise.
pub(crate) async fn session(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.ui.login_required || state.ui.has_session(request.headers()) {
        return next.run(request).await;
    }
    let wanted = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    Redirect::to(&href("/login", &[("next".to_owned(), wanted)])).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    app_key: String,
    #[serde(default)]
    next: String,
}

/// `GET /login`.
pub(crate) async fn login_form(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let next = safe_next(params.get("next").map_or("/", String::as_str));
    if !state.ui.login_required {
        return Redirect::to(next).into_response();
    }
    form(next, None, StatusCode::OK)
}

/// `POST /login` with `app_key` and `next`: a session cookie and the page asked for, or the form again.
pub(crate) async fn login(State(state): State<AppState>, Form(login): Form<LoginForm>) -> Response {
    let next = safe_next(&login.next);
    if !state.ui.login_required {
        return Redirect::to(next).into_response();
    }
    if !state.keys.app_key.matches(login.app_key.trim()) {
        tracing::warn!("A UI login was refused: wrong application key.");
        return form(
            next,
            Some("That is not this lab's application key."),
            StatusCode::UNAUTHORIZED,
        );
    }
    let Some(id) = state.ui.open_session() else {
        return form(
            next,
            Some("The backend could not draw a session id; try again."),
            StatusCode::INTERNAL_SERVER_ERROR,
        );
    };
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        LIFETIME.as_secs()
    );
    let mut response = Redirect::to(next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /logout`: forgets the session.
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        state.ui.close_session(&id);
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("ddlab_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

fn form(next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        div.login {
            h1 { "ddlab" }
            p.muted { "This lab listens beyond loopback, so its pages need its application key (" code { "DD_APP_KEY" } ", in the backend's " code { "keys.json" } ")." }
            @if let Some(error) = error { div.error-box { (error) } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                input type="password" name="app_key" placeholder="Application key" autocomplete="current-password" autofocus;
                button.primary type="submit" { "Log in" }
            }
        }
    };
    (status, layout::bare("Log in", body)).into_response()
}

/// Only paths of this site are followed after a login.
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then(|| value.to_owned())
        })
}

impl Ui {
    fn has_session(&self, headers: &HeaderMap) -> bool {
        let Some(id) = session_id(headers) else {
            return false;
        };
        let sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.get(&id).is_some_and(|expires| *expires > Instant::now())
    }

    /// A new session; `None` when the system has no randomness to give.
    fn open_session(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).ok()?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.retain(|_, expires| *expires > now);
        sessions.insert(id.clone(), now + LIFETIME);
        Some(id)
    }

    fn close_session(&self, id: &str) {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.remove(id);
    }
}
