//! Errors of the console API (`/api/*`): one table of stable codes, each with its HTTP status, and
//! the `{"error":{"code","message"}}` envelope. Relay errors take each protocol's own shape and live
//! with the relay.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// Every stable error code of the console API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The body is not JSON or does not have the expected shape.
    InvalidJson,
    /// A field has a value that is not allowed (too long, bad format, out of range).
    InvalidRequest,
    /// No session and no admin key.
    NotSignedIn,
    /// Wrong login or password.
    InvalidCredentials,
    /// Desktop mode: the call lacks the per-launch console secret the desktop window sends.
    ConsoleSecretRequired,
    /// Cookie-authenticated request without a matching `Realms-User` header.
    CsrfHeaderMismatch,
    /// Signed in, but not allowed to do this.
    Forbidden,
    /// The account is disabled.
    AccountDisabled,
    /// Registration is closed on this site.
    RegistrationClosed,
    /// The path or the object does not exist.
    NotFound,
    /// The path exists but does not take this HTTP method.
    MethodNotAllowed,
    /// The model named is not in the catalogue.
    ModelNotFound,
    /// A unique name, email or binding already exists.
    AlreadyExists,
    /// The object is in a state that forbids this (e.g. revealing a revoked token).
    Conflict,
    /// The body is larger than allowed.
    PayloadTooLarge,
    /// A setting key that does not exist.
    UnknownSetting,
    /// A setting value of the wrong type or out of range.
    InvalidSetting,
    /// The setting is fixed by the environment and cannot be changed here.
    SettingOverridden,
    /// The value is well-formed but semantically wrong (e.g. a group cycle).
    Unprocessable,
    /// Too many failed logins.
    TooManyAttempts,
    /// The request took longer than `limits.api_timeout_secs`.
    Timeout,
    /// Something failed on our side.
    Internal,
}

impl ErrorCode {
    /// The snake_case code sent to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidRequest => "invalid_request",
            Self::NotSignedIn => "not_signed_in",
            Self::InvalidCredentials => "invalid_credentials",
            Self::ConsoleSecretRequired => "console_secret_required",
            Self::CsrfHeaderMismatch => "csrf_header_mismatch",
            Self::Forbidden => "forbidden",
            Self::AccountDisabled => "account_disabled",
            Self::RegistrationClosed => "registration_closed",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::ModelNotFound => "model_not_found",
            Self::AlreadyExists => "already_exists",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnknownSetting => "unknown_setting",
            Self::InvalidSetting => "invalid_setting",
            Self::SettingOverridden => "setting_overridden",
            Self::Unprocessable => "unprocessable",
            Self::TooManyAttempts => "too_many_attempts",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidJson | Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::NotSignedIn | Self::InvalidCredentials | Self::ConsoleSecretRequired => {
                StatusCode::UNAUTHORIZED
            }
            Self::CsrfHeaderMismatch
            | Self::Forbidden
            | Self::AccountDisabled
            | Self::RegistrationClosed => StatusCode::FORBIDDEN,
            Self::NotFound | Self::ModelNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::AlreadyExists | Self::Conflict | Self::SettingOverridden => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnknownSetting | Self::InvalidSetting | Self::Unprocessable => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answered by the console API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// A human sentence, lower-case, no trailing period; never internals or secrets.
    pub message: String,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// 404 `not_found` naming what is missing.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 500 `internal`; the cause is logged here, once, and never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// 401 `not_signed_in`.
    pub fn not_signed_in() -> Self {
        Self::new(ErrorCode::NotSignedIn, "sign in first")
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::new(ErrorCode::NotFound, "not found"),
            StoreError::Conflict(what) => conflict_message(&what),
            other => Self::internal(other),
        }
    }
}

/// Turns a constraint name such as `users.email` into a sentence a person understands.
fn conflict_message(what: &str) -> ApiError {
    if what.contains("FOREIGN KEY") {
        return ApiError::new(ErrorCode::Conflict, "it is still in use by other objects");
    }
    let field = what.split(", ").next().unwrap_or(what);
    let field = field.rsplit('.').next().unwrap_or(field);
    let field = if field.is_empty() || field.contains(' ') {
        "value"
    } else {
        field
    };
    ApiError::new(
        ErrorCode::AlreadyExists,
        format!("that {} is already taken", field.replace('_', " ")),
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code.as_str(), "message": self.message } });
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Result of a console API handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violation_names_the_field() {
        let err = ApiError::from(StoreError::Conflict("users.email".into()));
        assert_eq!(err.code, ErrorCode::AlreadyExists);
        assert_eq!(err.message, "that email is already taken");
    }

    #[test]
    fn internal_errors_say_nothing_more() {
        let err = ApiError::from(StoreError::Internal("secret path /var/x".into()));
        assert_eq!(err.code.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.message, "internal error");
    }
}
