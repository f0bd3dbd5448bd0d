//! Errors as HTTP responses: every failure, ours or the backend's, is a status and a
//! JSON body `{"error": "<what is wrong>"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why a request failed, grouped by what the client does next: fix the request, look
/// elsewhere, wait for the run to change, or report a bug. The message is sent as is,
/// so it names the thing (the thread, the workflow, the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is wrong (a field, the body, the query).
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such run, workflow or route.
    #[error("{0}")]
    NotFound(String),
    /// 409: the run exists but is in no state for this (a thread id already taken, a
    /// completed run resumed).
    #[error("{0}")]
    Conflict(String),
    /// 503: the server cannot do it now but will when a condition passes (its disk is
    /// full); the client retries later.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the server failed (the store, a plugin host); not the client's fault.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        HttpError::from(self).into_response()
    }
}

/// Any error response, also with the statuses a backend never returns (405, 413, 415).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HttpError {
    pub status: StatusCode,
    pub message: String,
}

impl HttpError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
        }
    }
}

impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> HttpError {
        HttpError::new(error.status(), error.to_string())
    }
}

/// The one shape of every error response.
impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
