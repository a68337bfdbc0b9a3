//! What the pipeline knows about a client request before routing: its protocol, route, method,
//! path, query, headers, body, the token it authenticated with, and (for Gemini) the model and
//! action from the URL. Built by the HTTP handlers, which authenticate before reading the body
//! (bounded by `limits.max_body_bytes`).

use std::sync::Arc;

use axum::http::{HeaderMap, Method};
use bytes::Bytes;

use super::dialect::Dialect;
use super::protocol::Protocol;
use super::routing::table::TokenRoute;

/// A client request on the data plane.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The API the client speaks.
    pub protocol: Protocol,
    /// The route template for records (`/v1/responses`).
    pub endpoint: &'static str,
    /// HTTP method.
    pub method: Method,
    /// The path as the client sent it; forwarded upstream (joined to the channel base).
    pub path: String,
    /// The query string as the client sent it.
    pub query: Option<String>,
    /// The client's headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// Gemini: `(model, action)` from `/models/{model}:{action}`.
    pub gemini: Option<(String, String)>,
    /// Our request id.
    pub request_id: String,
    /// The token the request authenticated with.
    pub token: Arc<TokenRoute>,
}

impl Inbound {
    /// The error and stream dialect of the client.
    pub fn dialect(&self) -> Dialect {
        dialect_of(self.protocol)
    }

    /// Whether a Gemini call streams (its action says so, not its body).
    pub fn gemini_stream(&self) -> bool {
        self.gemini
            .as_ref()
            .is_some_and(|(_, action)| action == "streamGenerateContent")
    }

    /// Whether the call generates an answer: every call but embeddings and token counts
    /// (Gemini's `countTokens` and embeddings, OpenAI's `input_tokens` and embeddings,
    /// Anthropic's `count_tokens`), whose bodies take no generation settings or options.
    pub fn generates(&self) -> bool {
        match &self.gemini {
            Some((_, action)) => {
                matches!(action.as_str(), "generateContent" | "streamGenerateContent")
            }
            None => !matches!(
                self.endpoint,
                "/v1/embeddings" | "/v1/responses/input_tokens" | "/v1/messages/count_tokens"
            ),
        }
    }

    /// The upstream path: the client's, unless Gemini's model in it is renamed or was sent
    /// percent-encoded (`%3A` for the colon), when it is written out plainly.
    pub fn upstream_path(&self, upstream_model: &str) -> String {
        match &self.gemini {
            Some((model, action))
                if model != upstream_model || !self.path_ends_with(model, action) =>
            {
                let prefix = self.path.split("/models/").next().unwrap_or("/v1beta");
                format!("{prefix}/models/{upstream_model}:{action}")
            }
            _ => self.path.clone(),
        }
    }

    /// Whether the client's path ends with `{model}:{action}` as written (not encoded).
    fn path_ends_with(&self, model: &str, action: &str) -> bool {
        self.path
            .strip_suffix(action)
            .and_then(|rest| rest.strip_suffix(':'))
            .is_some_and(|rest| rest.ends_with(model))
    }
}

/// The dialect a protocol's clients understand.
pub fn dialect_of(protocol: Protocol) -> Dialect {
    match protocol {
        Protocol::Responses | Protocol::Chat | Protocol::Embeddings => Dialect::OpenAi,
        Protocol::Messages => Dialect::Anthropic,
        Protocol::Gemini => Dialect::Gemini,
    }
}
