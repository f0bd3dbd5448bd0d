//! Errors as HTTP responses: every failure, ours or the backend's, is a status and the
//! JSON body `{"error": {"code": "<code>", "message": "<what is wrong>", "details": <object
//! or null>}}`, the same shape and codes as the CLI's `--json` errors.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::shapes::{ErrorCodeName, ErrorFields, ErrorJson};

pub use savepoint_base::error_code::{ErrorCode, Fault};

/// Why a request failed: the [`Fault`] the CLI reports too, with a message that names
/// the thing (the thread, the workflow, the field) and no command-line flag. Its
/// [`ErrorCode`] says what the client does next (fix the request, look elsewhere, wait
/// for the run to change, retry later, or report a bug) and gives the status.
pub type ApiError = Fault;

/// The HTTP status of an error code: 400 usage and invalid, 404, 409, 503
/// environment (it may pass), 500.
pub fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Usage | ErrorCode::Invalid => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Environment => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::RunFailed | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
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
            status: status(error.code),
            code: error.code,
            message: error.message,
            details: error.details,
        }
    }
}

/// The one shape of every error response.
impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = ErrorJson {
            error: ErrorFields {
                code: ErrorCodeName(self.code),
                message: self.message,
                details: self.details,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
