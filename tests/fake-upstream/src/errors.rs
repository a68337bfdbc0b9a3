//! Error bodies in each protocol's own shape, and the choice of shape from a request path.
//! Only JSON values here; turning them into responses is `script.rs`'s job.

use serde_json::{Value, json};

/// OpenAI's `{"error":{"message","type","param","code"}}` for a status.
pub fn openai_error(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        401 => ("invalid_request_error", "invalid_api_key"),
        403 => (
            "invalid_request_error",
            "unsupported_country_region_territory",
        ),
        404 => ("invalid_request_error", "model_not_found"),
        429 => ("requests", "rate_limit_exceeded"),
        400..=499 => ("invalid_request_error", "invalid_request"),
        _ => ("server_error", "server_error"),
    };
    json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
}

/// Anthropic's `{"type":"error","error":{"type","message"}}` for a status.
pub fn anthropic_error(status: u16, message: &str) -> Value {
    let kind = match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    };
    json!({ "type": "error", "error": { "type": kind, "message": message } })
}

/// Gemini's `{"error":{"code","message","status"}}` for a status.
pub fn gemini_error(status: u16, message: &str) -> Value {
    let kind = match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        400..=499 => "INVALID_ARGUMENT",
        _ => "INTERNAL",
    };
    json!({ "error": { "code": status, "message": message, "status": kind } })
}

/// OAuth 2's `{"error","error_description"}`.
pub fn oauth_error(error: &str, description: &str) -> Value {
    json!({ "error": error, "error_description": description })
}

/// The error body a real upstream would send for a request to `path`: Anthropic shape for
/// `/messages` routes, Gemini shape for `/v1beta/...` and `models/{m}:{action}` routes, OAuth
/// shape under `/oauth/`, OpenAI shape otherwise.
pub fn body_for(path: &str, status: u16, message: &str) -> Value {
    if path.starts_with("/oauth/") {
        let error = if status == 429 {
            "temporarily_unavailable"
        } else {
            "invalid_request"
        };
        oauth_error(error, message)
    } else if path.ends_with("/messages") || path.contains("/messages/") {
        anthropic_error(status, message)
    } else if (path.starts_with("/v1beta/") && !path.starts_with("/v1beta/openai/"))
        || (path.contains("/models/") && path.contains(':'))
    {
        gemini_error(status, message)
    } else {
        openai_error(status, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_follows_the_path() {
        let a = body_for("/v1/messages", 429, "m");
        assert_eq!(a["error"]["type"], "rate_limit_error");
        let g = body_for("/v1beta/models/g:generateContent", 429, "m");
        assert_eq!(g["error"]["status"], "RESOURCE_EXHAUSTED");
        let g1 = body_for("/v1/models/g:generateContent", 503, "m");
        assert_eq!(g1["error"]["code"], 503);
        let o = body_for("/v1/chat/completions", 429, "m");
        assert_eq!(o["error"]["code"], "rate_limit_exceeded");
        let c = body_for("/v1beta/openai/chat/completions", 500, "m");
        assert_eq!(c["error"]["type"], "server_error");
    }
}
