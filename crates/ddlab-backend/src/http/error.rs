//! `ApiError`: every failure an endpoint answers, turned into Datadog's `{"errors": ["..."]}` body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A failed request. Internal causes are logged once and answered with a generic message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::BadRequest(m) | ApiError::NotFound(m) | ApiError::PayloadTooLarge(m) => m.clone(),
            ApiError::Forbidden(m) => (*m).to_owned(),
            ApiError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "Request failed inside the backend.");
                "Internal Server Error".to_owned()
            }
        };
        (self.status(), Json(serde_json::json!({ "errors": [message] }))).into_response()
    }
}

impl From<ddlab_store::StoreError> for ApiError {
    fn from(err: ddlab_store::StoreError) -> Self {
        ApiError::Internal(err.into())
    }
}
