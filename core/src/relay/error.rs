//! Errors of the data plane. Each knows its HTTP status, its kind and whose fault it is; the
//! response takes the shape of the dialect the client called in. Upstream 4xx bodies that are the
//! client's fault are relayed as the upstream sent them; anything else is summarised without
//! upstream keys, URLs or internals.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

use super::dialect::{Dialect, ErrorKind};

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The client's request.
    Downstream,
    /// The upstream.
    Upstream,
    /// Realms itself.
    Internal,
}

/// An error answered on the data plane.
#[derive(Debug, Clone)]
pub enum RelayError {
    /// The request is malformed (not JSON, missing model, ...).
    BadRequest(String),
    /// No token, or a wrong, expired or revoked one.
    Unauthenticated(String),
    /// The token may not use this model or feature.
    Forbidden(String),
    /// The model is not in the catalogue or is disabled.
    ModelNotFound(String),
    /// No such route or object.
    NotFound(String),
    /// The body is larger than `limits.max_body_bytes`.
    TooLarge(usize),
    /// The body did not arrive within `limits.client_body_timeout_secs` (the value).
    BodyTimeout(u64),
    /// The body is compressed (`Content-Encoding` other than `identity`; the value): Realms
    /// reads the model from it and does not inflate bodies.
    EncodedBody(String),
    /// The user's balance or quota does not cover the request.
    InsufficientQuota(String),
    /// An upstream refused the request for a reason that is the client's (a 4xx other than
    /// auth/rate errors); relayed with the upstream's own body.
    UpstreamRejected {
        /// The upstream status.
        status: u16,
        /// The upstream body, verbatim.
        body: Bytes,
        /// The upstream content type.
        content_type: Option<HeaderValue>,
    },
    /// Every candidate failed; the last failure summarised.
    UpstreamFailed {
        /// Status to answer (502 unless a mapped status applies).
        status: u16,
        /// A summary safe to show.
        summary: String,
    },
    /// The upstream did not answer in time.
    UpstreamTimeout(String),
    /// Every candidate is rate limited; seconds until the earliest frees up.
    RateLimited(Option<u64>),
    /// Every candidate is resting after failures that are not rate limits (errors, timeouts,
    /// refused keys); seconds until the earliest is tried again.
    Cooling(u64),
    /// No channel can serve this model for this token right now.
    NoRoute(String),
    /// Our fault; details are logged, not sent.
    Internal(String),
    /// The data plane is paused (the desktop tray's Pause): nothing is relayed until it resumes.
    Paused,
}

impl RelayError {
    /// The class of [`Self::RateLimited`]; a cooldown with this reason is a rate limit.
    pub const RATE_LIMITED: &'static str = "rate_limited";

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        let code = match self {
            Self::BadRequest(_) => 400,
            Self::Unauthenticated(_) => 401,
            Self::Forbidden(_) => 403,
            Self::ModelNotFound(_) | Self::NotFound(_) => 404,
            Self::TooLarge(_) => 413,
            Self::BodyTimeout(_) => 408,
            Self::EncodedBody(_) => 415,
            Self::InsufficientQuota(_) => 402,
            Self::UpstreamRejected { status, .. } | Self::UpstreamFailed { status, .. } => *status,
            Self::UpstreamTimeout(_) => 504,
            Self::RateLimited(_) => 429,
            Self::NoRoute(_) | Self::Cooling(_) | Self::Paused => 503,
            Self::Internal(_) => 500,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
    }

    /// The kind, for the dialect's type names.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BadRequest(_) | Self::BodyTimeout(_) | Self::EncodedBody(_) => {
                ErrorKind::InvalidRequest
            }
            Self::Unauthenticated(_) => ErrorKind::Authentication,
            Self::Forbidden(_) => ErrorKind::Permission,
            Self::ModelNotFound(_) | Self::NotFound(_) => ErrorKind::NotFound,
            Self::TooLarge(_) => ErrorKind::TooLarge,
            Self::InsufficientQuota(_) => ErrorKind::Billing,
            Self::UpstreamRejected { status, .. } => match status {
                404 => ErrorKind::NotFound,
                413 => ErrorKind::TooLarge,
                _ => ErrorKind::InvalidRequest,
            },
            Self::UpstreamFailed { .. } => ErrorKind::Unavailable,
            Self::UpstreamTimeout(_) => ErrorKind::Timeout,
            Self::RateLimited(_) => ErrorKind::RateLimit,
            Self::NoRoute(_) | Self::Cooling(_) | Self::Paused => ErrorKind::Unavailable,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Whose fault it is.
    pub fn source(&self) -> ErrorSource {
        match self {
            Self::BadRequest(_)
            | Self::Unauthenticated(_)
            | Self::Forbidden(_)
            | Self::ModelNotFound(_)
            | Self::NotFound(_)
            | Self::TooLarge(_)
            | Self::BodyTimeout(_)
            | Self::EncodedBody(_)
            | Self::InsufficientQuota(_)
            | Self::UpstreamRejected { .. } => ErrorSource::Downstream,
            Self::UpstreamFailed { .. }
            | Self::UpstreamTimeout(_)
            | Self::RateLimited(_)
            | Self::Cooling(_) => ErrorSource::Upstream,
            Self::NoRoute(_) | Self::Internal(_) | Self::Paused => ErrorSource::Internal,
        }
    }

    /// A short, stable name for the usage record's `error_class`.
    pub fn class(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::ModelNotFound(_) => "model_not_found",
            Self::NotFound(_) => "not_found",
            Self::TooLarge(_) => "too_large",
            Self::BodyTimeout(_) => "body_timeout",
            Self::EncodedBody(_) => "encoded_body",
            Self::InsufficientQuota(_) => "insufficient_quota",
            Self::UpstreamRejected { .. } => "upstream_rejected",
            Self::UpstreamFailed { .. } => "upstream_failed",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::RateLimited(_) => Self::RATE_LIMITED,
            Self::Cooling(_) => "cooling",
            Self::NoRoute(_) => "no_route",
            Self::Internal(_) => "internal",
            Self::Paused => "paused",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::BadRequest(m)
            | Self::Unauthenticated(m)
            | Self::Forbidden(m)
            | Self::ModelNotFound(m)
            | Self::NotFound(m)
            | Self::InsufficientQuota(m)
            | Self::UpstreamTimeout(m)
            | Self::NoRoute(m) => m.clone(),
            Self::TooLarge(limit) => format!("the request body is larger than {limit} bytes"),
            Self::BodyTimeout(secs) => {
                format!("the request body did not arrive within {secs} seconds")
            }
            Self::EncodedBody(encoding) => format!(
                "the request body is compressed (`Content-Encoding: {encoding}`); send it uncompressed"
            ),
            Self::UpstreamRejected { status, .. } => {
                format!("the upstream refused the request ({status})")
            }
            Self::UpstreamFailed { summary, .. } => summary.clone(),
            Self::RateLimited(_) => {
                "every upstream for this model is rate limited; retry later".into()
            }
            Self::Cooling(secs) => format!(
                "every upstream for this model failed recently and is resting; retry in {secs} s"
            ),
            Self::Internal(_) => "internal error".into(),
            Self::Paused => "Realms is paused: resume it to relay requests again".into(),
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            Self::Unauthenticated(_) => Some("invalid_api_key"),
            Self::ModelNotFound(_) => Some("model_not_found"),
            Self::TooLarge(_) => Some("request_too_large"),
            Self::BodyTimeout(_) => Some("request_timeout"),
            Self::EncodedBody(_) => Some("unsupported_content_encoding"),
            Self::InsufficientQuota(_) => Some("insufficient_quota"),
            Self::RateLimited(_) => Some("rate_limit_exceeded"),
            Self::NoRoute(_) | Self::Cooling(_) => Some("no_available_channel"),
            Self::Paused => Some("realms_paused"),
            _ => None,
        }
    }

    /// The response in the client's dialect, with `Retry-After` where it applies.
    pub fn into_response_for(self, dialect: Dialect) -> Response {
        let status = self.status();
        let retry_after = match &self {
            Self::RateLimited(secs) => *secs,
            Self::Cooling(secs) => Some(*secs),
            _ => None,
        };
        if let Self::Internal(detail) = &self {
            tracing::error!(error = %detail, "relay internal error");
        }
        let (body, content_type) = match self {
            Self::UpstreamRejected {
                body, content_type, ..
            } if !body.is_empty() => (
                body,
                content_type.unwrap_or(HeaderValue::from_static("application/json")),
            ),
            ref other => (
                dialect.error_body(
                    other.kind(),
                    status.as_u16(),
                    &other.message(),
                    other.code(),
                ),
                HeaderValue::from_static("application/json"),
            ),
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
        if let Some(secs) = retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }

    /// The in-band SSE error event that ends a stream already committed to the client.
    pub fn stream_event_for(&self, dialect: Dialect) -> Bytes {
        dialect.stream_error_event(self.kind(), self.status().as_u16(), &self.message())
    }

    /// The error as the dialect's JSON error object, for the last element of a streamed JSON
    /// array (Gemini without `alt=sse` ends a failed stream with `,{"error": {...}}]`).
    pub fn array_element_for(&self, dialect: Dialect) -> Bytes {
        dialect.error_body(self.kind(), self.status().as_u16(), &self.message(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_faults_relay_the_upstream_body_and_others_are_summarised() {
        let rejected = RelayError::UpstreamRejected {
            status: 400,
            body: Bytes::from_static(b"{\"error\":{\"message\":\"bad field\"}}"),
            content_type: None,
        };
        assert_eq!(rejected.source(), ErrorSource::Downstream);
        let response = rejected.into_response_for(Dialect::OpenAi);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);

        let internal = RelayError::Internal("db path /secret".into());
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.message().contains("secret"));
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let response = RelayError::RateLimited(Some(7)).into_response_for(Dialect::Anthropic);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }
}
