//! The data-plane routes (`/v1/*`, `/v1beta/*`): each handler names its protocol and route and
//! hands the request to the pipeline. Unknown paths and wrong methods answer in the shape of the
//! protocol the path belongs to.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};

use super::dialect::Dialect;
use super::error::RelayError;
use super::inbound::Inbound;
use super::models;
use super::pipeline;
use super::protocol::Protocol;
use crate::state::AppState;

/// The relay routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/responses",
            post(|s, r| relay(s, r, Protocol::Responses, "/v1/responses")).fallback(wrong_method),
        )
        .route(
            "/v1/responses/input_tokens",
            post(|s, r| relay(s, r, Protocol::Responses, "/v1/responses/input_tokens"))
                .fallback(wrong_method),
        )
        .route(
            "/v1/responses/compact",
            post(|s, r| relay(s, r, Protocol::Responses, "/v1/responses/compact"))
                .fallback(wrong_method),
        )
        .route(
            "/v1/chat/completions",
            post(|s, r| relay(s, r, Protocol::Chat, "/v1/chat/completions")).fallback(wrong_method),
        )
        .route(
            "/v1/embeddings",
            post(|s, r| relay(s, r, Protocol::Embeddings, "/v1/embeddings")).fallback(wrong_method),
        )
        .route(
            "/v1/messages",
            post(|s, r| relay(s, r, Protocol::Messages, "/v1/messages")).fallback(wrong_method),
        )
        .route(
            "/v1/messages/count_tokens",
            post(|s, r| relay(s, r, Protocol::Messages, "/v1/messages/count_tokens"))
                .fallback(wrong_method),
        )
        .route("/v1/models", get(models::list).fallback(wrong_method))
        .route(
            "/v1/models/{model}",
            get(models::show).post(gemini).fallback(wrong_method),
        )
        .route(
            "/v1beta/models",
            get(models::list_gemini).fallback(wrong_method),
        )
        .route(
            "/v1beta/models/{model}",
            get(models::show_gemini).post(gemini).fallback(wrong_method),
        )
        .route(
            "/v1beta/openai/models",
            get(models::list_openai).fallback(wrong_method),
        )
        .route("/v1", axum::routing::any(not_found))
        .route("/v1/{*rest}", axum::routing::any(not_found))
        .route("/v1beta/{*rest}", axum::routing::any(not_found))
}

/// Reads the body (bounded) and runs the pipeline.
async fn relay(
    State(state): State<AppState>,
    request: Request,
    protocol: Protocol,
    endpoint: &'static str,
) -> Response {
    let dialect = super::inbound::dialect_of(protocol);
    let (parts, body) = request.into_parts();
    let limit = state.config.limits.max_body_bytes;
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(_) => return RelayError::TooLarge(limit).into_response_for(dialect),
    };
    let gemini = (protocol == Protocol::Gemini)
        .then(|| gemini_target(parts.uri.path()))
        .flatten();
    let request_id = parts
        .headers
        .get(&crate::request_id::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let inbound = Inbound {
        protocol,
        endpoint,
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        gemini,
        request_id,
    };
    pipeline::handle(state, inbound).await
}

/// `(model, action)` from `.../models/{model}:{action}`.
fn gemini_target(path: &str) -> Option<(String, String)> {
    let last = path.rsplit_once("/models/")?.1;
    let (model, action) = last.rsplit_once(':')?;
    (!model.is_empty() && !action.is_empty()).then(|| (model.to_owned(), action.to_owned()))
}

/// `POST .../models/{model}:{action}` — Gemini's native API on `/v1beta` and `/v1`.
async fn gemini(state: State<AppState>, Path(model): Path<String>, request: Request) -> Response {
    let Some((_, action)) = model.rsplit_once(':') else {
        return RelayError::NotFound("use `models/{model}:{action}`".into())
            .into_response_for(Dialect::Gemini);
    };
    let endpoint = match action {
        "generateContent" => "/v1beta/models/{model}:generateContent",
        "streamGenerateContent" => "/v1beta/models/{model}:streamGenerateContent",
        "countTokens" => "/v1beta/models/{model}:countTokens",
        "embedContent" => "/v1beta/models/{model}:embedContent",
        "batchEmbedContents" => "/v1beta/models/{model}:batchEmbedContents",
        _ => {
            return RelayError::NotFound(format!("unknown action `{action}`"))
                .into_response_for(Dialect::Gemini);
        }
    };
    relay(state, request, Protocol::Gemini, endpoint).await
}

/// The dialect of a data-plane path, for answers that come before the pipeline.
fn dialect_of_path(path: &str) -> Dialect {
    if path.starts_with("/v1beta")
        || path.contains(":generateContent")
        || path.contains(":streamGenerateContent")
    {
        Dialect::Gemini
    } else if path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    }
}

/// Unknown data-plane paths, in the dialect of the path.
async fn not_found(method: Method, request: Request<Body>) -> Response {
    let path = request.uri().path();
    RelayError::NotFound(format!("no route for `{method} {path}`"))
        .into_response_for(dialect_of_path(path))
}

/// A known path called with the wrong method: 405 in the dialect of the path.
async fn wrong_method(method: Method, request: Request<Body>) -> Response {
    let path = request.uri().path();
    let mut response = RelayError::BadRequest(format!("`{method}` is not allowed on `{path}`"))
        .into_response_for(dialect_of_path(path));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_targets_parse() {
        assert_eq!(
            gemini_target("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
            Some(("gemini-2.5-flash".into(), "streamGenerateContent".into()))
        );
        assert_eq!(
            gemini_target("/v1/models/m:generateContent"),
            Some(("m".into(), "generateContent".into()))
        );
        assert_eq!(gemini_target("/v1beta/models/no-action"), None);
    }
}
