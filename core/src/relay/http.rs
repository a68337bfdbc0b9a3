//! The data-plane routes (`/v1/*`, `/v1beta/*`): each handler names its protocol and route and
//! hands the request to the pipeline. Unknown paths and wrong methods answer in the shape of the
//! protocol the path belongs to.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};

use super::dialect::{Dialect, ErrorKind};
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

/// A known path called with the wrong method: 405 in the dialect of the path (Gemini's body
/// repeats the status, so the body is built for 405 rather than patched afterwards).
async fn wrong_method(method: Method, request: Request<Body>) -> Response {
    let path = request.uri().path();
    let status = StatusCode::METHOD_NOT_ALLOWED;
    let message = format!("`{method}` is not allowed on `{path}`");
    let body = dialect_of_path(path).error_body(
        ErrorKind::InvalidRequest,
        status.as_u16(),
        &message,
        None,
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
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

    #[tokio::test]
    async fn a_wrong_method_answers_405_in_the_body_too() {
        let request = Request::builder()
            .method(Method::PUT)
            .uri("/v1beta/models/g:generateContent")
            .body(Body::empty())
            .expect("request");
        let response = wrong_method(Method::PUT, request).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error"]["code"], 405, "{body}");
    }
}
