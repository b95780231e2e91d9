//! A small Datadog API client for the scenarios: both keys in the headers, JSON in and out, and errors
//! that carry the method, path, status and body, so a failing step says what the server answered.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Where the API is and the keys it takes.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    api_key: String,
    app_key: String,
    http: reqwest::Client,
}

/// Why an API call did not give the answer a step needed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{method} {path}: {source}")]
    Transport {
        method: Method,
        path: String,
        source: reqwest::Error,
    },
    #[error("{method} {path} answered {status}: {body}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        body: String,
    },
    #[error("{method} {path} answered {status} with a body that is not JSON: {body}")]
    NotJson {
        method: Method,
        path: String,
        status: StatusCode,
        body: String,
    },
}

/// A response whatever its status: some steps expect a refusal.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Api {
    /// `base` is the API's root URL, e.g. `http://127.0.0.1:8480` or `https://api.datadoghq.eu`.
    pub fn new(base: &str, api_key: &str, app_key: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            app_key: app_key.to_owned(),
            http,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn app_key(&self) -> &str {
        &self.app_key
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        self.json(Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.json(Method::POST, path, &[], Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.json(Method::PUT, path, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ApiError> {
        self.json(Method::DELETE, path, &[], None).await
    }

    /// A call that must succeed (2xx) and answer JSON; an empty body reads as `null`.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let answer = self.send(method.clone(), path, query, body, true).await?;
        if !answer.status.is_success() {
            return Err(ApiError::Status {
                method,
                path: path.to_owned(),
                status: answer.status,
                body: answer.text(),
            });
        }
        if answer.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&answer.body).map_err(|_| ApiError::NotJson {
            method,
            path: path.to_owned(),
            status: answer.status,
            body: answer.text(),
        })
    }

    /// Any call, with or without the keys, whatever the status.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        with_keys: bool,
    ) -> Result<Answer, ApiError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self.http.request(method.clone(), &url).query(query);
        if with_keys {
            request = request
                .header("DD-API-KEY", &self.api_key)
                .header("DD-APPLICATION-KEY", &self.app_key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |source| ApiError::Transport {
            method: method.clone(),
            path: path.to_owned(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.map_err(transport)?.to_vec();
        Ok(Answer {
            status,
            body,
            content_type,
        })
    }
}
