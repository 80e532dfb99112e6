//! Errors as the API answers them: a status and `{"error", "message"}`. Bad input is always a
//! 4xx naming what was wrong; 500 is reserved for the hub failing itself (a damaged store).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::dto::ErrorBody;

/// Why a request was not answered as asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No (valid) session or certificate.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but no role that may do this.
    #[error("{0}")]
    Forbidden(String),
    /// The request itself is wrong: which parameter and why.
    #[error("{0}")]
    BadRequest(String),
    /// What the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. an alarm already acknowledged).
    #[error("{0}")]
    Conflict(String),
    /// The hub cannot do it right now (e.g. the edge for the point is not connected).
    #[error("{0}")]
    Unavailable(String),
    /// Too many failed logins: the name or address is locked out for `retry_after_s` more.
    #[error("{message}")]
    LockedOut { message: String, retry_after_s: u64 },
    /// Too many logins at once: none could be checked in time; try again in `retry_after_s`.
    #[error("{message}")]
    Busy { message: String, retry_after_s: u64 },
    /// The hub failed (store damage, a task that died): logged, never caused by input.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status and the stable code of the body.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::LockedOut { .. } => (StatusCode::TOO_MANY_REQUESTS, "locked_out"),
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // A busy refusal is the hub protecting itself, not failing.
        if status.is_server_error() && !matches!(self, ApiError::Busy { .. }) {
            tracing::error!(error = %self, "request failed inside the hub");
        }
        let retry_after = match &self {
            ApiError::LockedOut { retry_after_s, .. } | ApiError::Busy { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        };
        let mut response = (status, Json(ErrorBody { error: code.to_owned(), message: self.to_string() })).into_response();
        if let Some(s) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(s));
        }
        response
    }
}
