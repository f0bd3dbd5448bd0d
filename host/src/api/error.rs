//! Errors as HTTP responses: every failure, ours or the backend's, is a status and the
//! JSON body `{"error": {"code": "<code>", "message": "<what is wrong>", "details": <object
//! or null>}}`, the same shape and codes as the CLI's `--json` errors.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub use crate::error_code::ErrorCode;

/// Why a request failed: a [`ErrorCode`] (what the client does next: fix the request,
/// look elsewhere, wait for the run to change, retry later, or report a bug), a message
/// sent as is, so it names the thing (the thread, the workflow, the field) and no
/// command-line flag, and details for a program (the thread, the problems of a file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// A JSON object, or `None` (sent as `null`).
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// 400: the request itself is wrong (a field, the body, the query).
    pub fn usage(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Usage, message)
    }

    /// 400: a file the request names is wrong (a workflow file).
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Invalid, message)
    }

    /// 404: no such run, workflow or route.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// 409: the run exists but is in no state for this (a thread id already taken, a
    /// completed run resumed).
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Conflict, message)
    }

    /// 503: the server cannot do it now but will when a condition passes (its disk is
    /// full); the client retries later.
    pub fn environment(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Environment, message)
    }

    /// 500: the server failed; not the client's fault.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Internal, message)
    }

    /// The same error with `details` (a JSON object).
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::Usage | ErrorCode::Invalid => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Environment => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::RunFailed | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        HttpError::from(self).into_response()
    }
}

/// Any error response, also with the statuses a backend never returns (401, 405, 413,
/// 415, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HttpError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
}

impl HttpError {
    /// An error whose code follows from its status: 404 not found, 409 conflict, 503
    /// environment, any other 5xx internal, any other 4xx (a malformed, unauthorized,
    /// too large or too slow request) usage.
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> HttpError {
        let code = match status {
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::CONFLICT => ErrorCode::Conflict,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Environment,
            status if status.is_server_error() => ErrorCode::Internal,
            _ => ErrorCode::Usage,
        };
        HttpError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }
}

impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> HttpError {
        HttpError {
            status: error.status(),
            code: error.code,
            message: error.message,
            details: error.details,
        }
    }
}

/// The one shape of every error response.
impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = json!({ "error": {
            "code": self.code,
            "message": self.message,
            "details": self.details,
        }});
        (self.status, Json(body)).into_response()
    }
}
