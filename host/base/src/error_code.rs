//! The codes every error is reported with, by the CLI (`{"error": {"code", ...}}` and
//! its exit code) and by the HTTP API (the same body, and its status). Each error enum
//! of the modules below says which code each of its cases has (`code()`), so that one
//! place owns each translation; the CLI and the API only map a code to an exit code
//! or an HTTP status.

use serde::Serialize;

/// What the caller does next with an error: one code per answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The command line or the request is wrong: a flag, an argument, the `--input` or
    /// request body. Fix the call.
    Usage,
    /// A file the call names is wrong: a workflow file, a plugin, a config. Fix the file.
    Invalid,
    /// No such run (thread), workflow or route.
    NotFound,
    /// The run exists but is in no state for this: the thread id is taken, the run is
    /// busy (leased by another process), finished, or waiting for something else.
    Conflict,
    /// The machine is in the way: the database cannot be opened or written (disk full,
    /// read-only), the plugins folder cannot be read, a toolchain is missing.
    Environment,
    /// The run failed (a node failed it). `run` and `resume` report this with the
    /// run's status, not with an error object.
    RunFailed,
    /// A bug, or something savepoint does not know how to classify.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order the documentation lists them.
    pub const ALL: [ErrorCode; 7] = [
        ErrorCode::Usage,
        ErrorCode::Invalid,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Environment,
        ErrorCode::RunFailed,
        ErrorCode::Internal,
    ];

    /// The code as JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Usage => "usage",
            ErrorCode::Invalid => "invalid",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Environment => "environment",
            ErrorCode::RunFailed => "run_failed",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the caller sees it, from the CLI (`--json`, and its exit code) and from
/// the HTTP API (the body, and its status): a code, a message that names the thing (the
/// thread, the workflow, the field), and details for a program (a JSON object: the
/// thread, the problems of a file). The CLI maps the code to an exit code
/// (`cli::error`), the API to an HTTP status (`api::error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Fault {
    pub code: ErrorCode,
    pub message: String,
    /// A JSON object, or `None` (shown as `null`).
    pub details: Option<serde_json::Value>,
}

impl Fault {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Fault {
        Fault {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The call is wrong: a flag, an argument, `--input`, the request body or query.
    pub fn usage(message: impl Into<String>) -> Fault {
        Fault::new(ErrorCode::Usage, message)
    }

    /// A file the call names is wrong (a workflow file, a config, a bundle).
    pub fn invalid(message: impl Into<String>) -> Fault {
        Fault::new(ErrorCode::Invalid, message)
    }

    /// No such run, workflow, route or database.
    pub fn not_found(message: impl Into<String>) -> Fault {
        Fault::new(ErrorCode::NotFound, message)
    }

    /// The run (or thread id) is in no state for this: taken, busy, finished.
    pub fn conflict(message: impl Into<String>) -> Fault {
        Fault::new(ErrorCode::Conflict, message)
    }

    /// The machine is in the way: a database (disk full, read-only), a folder, a
    /// toolchain; it may pass.
    pub fn environment(message: impl Into<String>) -> Fault {
        Fault::new(ErrorCode::Environment, message)
    }

    /// A bug; not the caller's fault.
    pub fn internal(message: impl Into<String>) -> Fault {
        Fault::new(ErrorCode::Internal, message)
    }

    /// The same error with `details` (a JSON object).
    pub fn with_details(mut self, details: serde_json::Value) -> Fault {
        self.details = Some(details);
        self
    }

    /// The JSON shape: `{"error": {"code", "message", "details"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": {
            "code": self.code,
            "message": self.message,
            "details": self.details,
        }})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_spells_each_code_as_as_str_does() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }
}
