//! The three error and stream "dialects" clients speak: OpenAI (Responses, Chat Completions,
//! Embeddings, model lists), Anthropic (Messages) and Gemini. Each has its own error body, its own
//! in-band stream error event and its own keepalive.

use bytes::Bytes;
use serde_json::json;

/// Which family of client an answer is shaped for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// OpenAI-style: `{"error":{"message","type","code","param"}}`.
    OpenAi,
    /// Anthropic: `{"type":"error","error":{"type","message"}}`.
    Anthropic,
    /// Gemini: `{"error":{"code","message","status"}}`.
    Gemini,
}

/// What kind of error, independent of the dialect; each dialect names it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed or unacceptable request (400).
    InvalidRequest,
    /// Missing or wrong credentials (401).
    Authentication,
    /// Authenticated but not allowed (403).
    Permission,
    /// No such model, path or object (404).
    NotFound,
    /// Body too large (413).
    TooLarge,
    /// Rate or quota limited (429).
    RateLimit,
    /// Balance or quota exhausted (402 in OpenAI's sense of billing).
    Billing,
    /// The upstream did not answer in time (504).
    Timeout,
    /// No upstream could serve it or every one failed (502/503).
    Unavailable,
    /// Our fault (500).
    Internal,
}

impl Dialect {
    /// The JSON error body for this dialect.
    pub fn error_body(
        self,
        kind: ErrorKind,
        status: u16,
        message: &str,
        code: Option<&str>,
    ) -> Bytes {
        let value = match self {
            Self::OpenAi => json!({
                "error": { "message": message, "type": openai_type(kind), "code": code, "param": null }
            }),
            Self::Anthropic => json!({
                "type": "error",
                "error": { "type": anthropic_type(kind), "message": message }
            }),
            Self::Gemini => json!({
                "error": { "code": status, "message": message, "status": gemini_status(kind) }
            }),
        };
        Bytes::from(value.to_string())
    }

    /// One SSE event carrying an error in the middle of a stream, in this dialect's own form.
    pub fn stream_error_event(self, kind: ErrorKind, status: u16, message: &str) -> Bytes {
        let text = match self {
            Self::OpenAi => format!(
                "event: error\ndata: {}\n\n",
                json!({
                    "type": "error",
                    "error": { "message": message, "type": openai_type(kind), "code": null, "param": null },
                    "message": message,
                    "code": openai_type(kind),
                })
            ),
            Self::Anthropic => format!(
                "event: error\ndata: {}\n\n",
                json!({ "type": "error", "error": { "type": anthropic_type(kind), "message": message } })
            ),
            Self::Gemini => format!(
                "data: {}\n\n",
                json!({ "error": { "code": status, "message": message, "status": gemini_status(kind) } })
            ),
        };
        Bytes::from(text)
    }

    /// The bytes sent while a stream is idle, or `None` where the dialect's clients reject any
    /// extra line (Gemini's SDK accepts only `data:` lines).
    pub fn keepalive(self) -> Option<&'static [u8]> {
        match self {
            Self::OpenAi => Some(b": keepalive\n\n"),
            Self::Anthropic => Some(b"event: ping\ndata: {\"type\": \"ping\"}\n\n"),
            Self::Gemini => None,
        }
    }
}

fn openai_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::TooLarge => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Billing => "insufficient_quota",
        ErrorKind::Timeout | ErrorKind::Unavailable => "upstream_error",
        ErrorKind::Internal => "server_error",
    }
}

fn anthropic_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::TooLarge => "request_too_large",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        // Anthropic's own type for a 402 (an account out of credit)
        ErrorKind::Billing => "billing_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Timeout | ErrorKind::Unavailable => "overloaded_error",
        ErrorKind::Internal => "api_error",
    }
}

fn gemini_status(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::TooLarge => "INVALID_ARGUMENT",
        ErrorKind::Authentication => "UNAUTHENTICATED",
        ErrorKind::Permission => "PERMISSION_DENIED",
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::RateLimit | ErrorKind::Billing => "RESOURCE_EXHAUSTED",
        ErrorKind::Timeout => "DEADLINE_EXCEEDED",
        ErrorKind::Unavailable => "UNAVAILABLE",
        ErrorKind::Internal => "INTERNAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &Bytes) -> serde_json::Value {
        serde_json::from_slice(bytes).expect("json")
    }

    #[test]
    fn each_dialect_has_its_own_error_shape() {
        let openai = parse(&Dialect::OpenAi.error_body(
            ErrorKind::Authentication,
            401,
            "bad key",
            Some("invalid_api_key"),
        ));
        assert_eq!(openai["error"]["type"], "authentication_error");
        assert_eq!(openai["error"]["code"], "invalid_api_key");
        assert!(openai["error"].get("param").is_some());
        let anthropic =
            parse(&Dialect::Anthropic.error_body(ErrorKind::NotFound, 404, "no model", None));
        assert_eq!(anthropic["type"], "error");
        assert_eq!(anthropic["error"]["type"], "not_found_error");
        let unpaid = parse(&Dialect::Anthropic.error_body(ErrorKind::Billing, 402, "top up", None));
        assert_eq!(unpaid["error"]["type"], "billing_error");
        let gemini =
            parse(&Dialect::Gemini.error_body(ErrorKind::InvalidRequest, 400, "bad", None));
        assert_eq!(gemini["error"]["code"], 400);
        assert_eq!(gemini["error"]["status"], "INVALID_ARGUMENT");
    }

    #[test]
    fn stream_errors_and_keepalives_follow_the_dialect() {
        let gemini =
            Dialect::Gemini.stream_error_event(ErrorKind::Unavailable, 502, "upstream failed");
        assert!(
            gemini.starts_with(b"data: {"),
            "Gemini clients accept only data lines"
        );
        let anthropic = Dialect::Anthropic.stream_error_event(ErrorKind::Unavailable, 502, "x");
        assert!(anthropic.starts_with(b"event: error\ndata: "));
        assert!(Dialect::Gemini.keepalive().is_none());
        assert_eq!(Dialect::OpenAi.keepalive(), Some(&b": keepalive\n\n"[..]));
    }
}
