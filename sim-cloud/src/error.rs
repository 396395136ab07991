//! The error type of every domain function and its HTTP mapping.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use smartcontrol_cloud_api::ApiError;

/// A refused or failed operation: HTTP status, machine code and message.
///
/// Domain functions return it; the HTTP layer turns it into an
/// [`ApiError`] body with the same status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct SimError {
    /// HTTP status code.
    pub status: u16,
    /// Machine-readable code (`ApiError::error`).
    pub code: String,
    /// For people.
    pub message: String,
}

/// Result of a domain function.
pub type SimResult<T> = Result<T, SimError>;

impl SimError {
    /// Builds an error from its parts.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        SimError {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }
    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }
    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }
    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }
    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }
    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "conflict", message)
    }
    /// 409 `job_locked`: the provider may change a job only while PENDING.
    pub fn job_locked(message: impl Into<String>) -> Self {
        Self::new(409, "job_locked", message)
    }
    /// 422 `idempotency_key_reused`: a key sent again with another action.
    pub fn idempotency_key_reused(message: impl Into<String>) -> Self {
        Self::new(422, "idempotency_key_reused", message)
    }
    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, "unsupported_media_type", message)
    }
    /// 413 `too_many_items`.
    pub fn too_many_items(message: impl Into<String>) -> Self {
        Self::new(413, "too_many_items", message)
    }
    /// 500 `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }
    /// The wire body of this error.
    pub fn to_api_error(&self) -> ApiError {
        ApiError {
            error: self.code.clone(),
            message: self.message.clone(),
        }
    }
}

impl From<rusqlite::Error> for SimError {
    fn from(e: rusqlite::Error) -> Self {
        tracing::error!(error = %e, "database error");
        SimError::internal(format!("database error: {e}"))
    }
}

impl From<serde_json::Error> for SimError {
    fn from(e: serde_json::Error) -> Self {
        SimError::internal(format!("json error: {e}"))
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.to_api_error())).into_response()
    }
}
