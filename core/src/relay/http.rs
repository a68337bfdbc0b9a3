//! The data-plane routes (`/v1/*`, `/v1beta/*`): each handler names its protocol and route and
//! hands the request to the pipeline. Unknown paths and wrong methods answer in the shape of the
//! protocol the path belongs to.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};

use super::dialect::{Dialect, ErrorKind};
use super::error::RelayError;
use super::inbound::Inbound;
use super::models;
use super::pipeline;
use super::protocol::Protocol;
use super::routing::table::TokenRoute;
use crate::state::AppState;

/// The relay's fixed `POST` routes: path (also the endpoint recorded) and protocol. The router
/// serves them, and [`fixed_post`] finds them before the router does (see [`Dispatch`]).
const FIXED_POSTS: [(&str, Protocol); 7] = [
    ("/v1/responses", Protocol::Responses),
    ("/v1/responses/input_tokens", Protocol::Responses),
    ("/v1/responses/compact", Protocol::Responses),
    ("/v1/chat/completions", Protocol::Chat),
    ("/v1/embeddings", Protocol::Embeddings),
    ("/v1/messages", Protocol::Messages),
    ("/v1/messages/count_tokens", Protocol::Messages),
];

/// The fixed relay route a request calls, if it is a `POST` to one of [`FIXED_POSTS`].
fn fixed_post(method: &Method, path: &str) -> Option<(&'static str, Protocol)> {
    if method != Method::POST {
        return None;
    }
    FIXED_POSTS
        .iter()
        .find(|(fixed, _)| *fixed == path)
        .copied()
}

/// The relay routes.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for (path, protocol) in FIXED_POSTS {
        router = router.route(
            path,
            post(move |s, r| relay(s, r, protocol, path, None)).fallback(wrong_method),
        );
    }
    router
        .route("/v1/models", get(models::list).fallback(wrong_method))
        .route(
            "/v1/models/{*model}",
            get(|s, m, h, q, r| show_model(s, m, h, q, r, models::show))
                .post(gemini)
                .fallback(wrong_method),
        )
        .route(
            "/v1beta/models",
            get(models::list_gemini).fallback(wrong_method),
        )
        .route(
            "/v1beta/models/{model}",
            get(|s, m, h, q, r| show_model(s, m, h, q, r, models::show_gemini))
                .post(gemini)
                .fallback(wrong_method),
        )
        .route(
            "/v1beta/openai/models",
            get(models::list_openai).fallback(wrong_method),
        )
        .route(
            "/v1/responses/{id}",
            get(|s, p, r| stored(s, p, r, "/v1/responses/{id}"))
                .delete(|s, p, r| stored(s, p, r, "/v1/responses/{id}"))
                .fallback(wrong_method),
        )
        .route(
            "/v1/responses/{id}/cancel",
            post(|s, p, r| stored(s, p, r, "/v1/responses/{id}/cancel")).fallback(wrong_method),
        )
        .route(
            "/v1/responses/{id}/input_items",
            get(|s, p, r| stored(s, p, r, "/v1/responses/{id}/input_items")).fallback(wrong_method),
        )
        .route("/v1", axum::routing::any(not_found))
        .route("/v1beta", axum::routing::any(not_found))
        .route("/v1/{*rest}", axum::routing::any(not_found))
        .route("/v1beta/{*rest}", axum::routing::any(not_found))
}

/// A call about a stored Responses object.
async fn stored(
    state: State<AppState>,
    id: Result<Path<String>, PathRejection>,
    request: Request,
    endpoint: &'static str,
) -> Response {
    let id = match path_text(id) {
        Ok(id) => id,
        Err(error) => return refused_path(error, &request),
    };
    match inbound(&state, request, Protocol::Responses, endpoint, None).await {
        Ok(inbound) => pipeline::handle_stored(state.0, inbound, id).await,
        Err(refusal) => refusal,
    }
}

/// Reads the body (bounded) and runs the pipeline. `gemini` is a Gemini call's `(model, action)`
/// from its decoded path.
async fn relay(
    state: State<AppState>,
    request: Request,
    protocol: Protocol,
    endpoint: &'static str,
    gemini: Option<(String, String)>,
) -> Response {
    match inbound(&state, request, protocol, endpoint, gemini).await {
        Ok(inbound) => pipeline::handle(state.0, inbound).await,
        Err(refusal) => refusal,
    }
}

/// Whether the request comes with a body: a `Content-Length` other than 0, or chunked.
fn announces_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// `response`, the answer to a request whose body is left unread (or not read to its end),
/// with `Connection: close` when the request has a body (`headers`). hyper closes such a
/// connection after the answer unless the whole body happened to be buffered already, since
/// the unread rest would be taken for the next request; saying so keeps a keep-alive client from
/// writing its next call into a connection that is gone (a broken pipe or a reset, not an
/// answer).
pub(crate) fn closing_if_body(headers: &HeaderMap, mut response: Response) -> Response {
    if announces_body(headers) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// `response`, closing the connection when `request` came with a body, left unread.
fn closing_if_unread(request: &Request, response: Response) -> Response {
    closing_if_body(request.headers(), response)
}

/// The innermost service of the application: a `POST` to one of the relay's fixed routes goes
/// straight to the relay, everything else to the router. Every relay call skips the router's
/// path matching and its boxed per-route service (about 4% of the serving threads'
/// instructions per request in `bench/`); the answers are the same either way.
#[derive(Clone)]
pub struct Dispatch {
    router: Router,
    state: AppState,
}

impl Dispatch {
    /// Dispatches between the relay (over `state`) and `router`.
    pub fn new(router: Router, state: AppState) -> Self {
        Self { router, state }
    }
}

impl tower::Service<Request> for Dispatch {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<
        futures_util::future::BoxFuture<'static, Result<Response, Self::Error>>,
        <Router as tower::Service<Request>>::Future,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // the router is always ready, and so is the relay
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures_util::future::Either;
        match fixed_post(request.method(), request.uri().path()) {
            Some((endpoint, protocol)) => {
                let state = State(self.state.clone());
                Either::Left(Box::pin(async move {
                    Ok(relay(state, request, protocol, endpoint, None).await)
                }))
            }
            None => Either::Right(tower::Service::call(&mut self.router, request)),
        }
    }
}

/// Why a request body could not be read: over the size limit, or broken off by the client.
fn unreadable_body(err: &axum::Error, limit: usize) -> RelayError {
    let over_limit = std::error::Error::source(err)
        .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
    if over_limit {
        RelayError::TooLarge(limit)
    } else {
        RelayError::BadRequest("the request body could not be read".into())
    }
}

/// Refuses a body from its headers alone, before any of it is read (so before hyper sends a
/// `100 Continue`): one announced larger than `limit`, or a compressed one.
fn refuse_unreadable_body(headers: &axum::http::HeaderMap, limit: usize) -> Result<(), RelayError> {
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(RelayError::TooLarge(limit));
    }
    let encoding = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
    match encoding {
        Some(encoding) if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") => {
            Err(RelayError::EncodedBody(encoding))
        }
        _ => Ok(()),
    }
}

/// The client request as the pipeline sees it, its body read up to `limits.max_body_bytes`; or
/// the refusal, in the protocol's shape (closing the connection when the body was left unread).
async fn inbound(
    State(state): &State<AppState>,
    request: Request,
    protocol: Protocol,
    endpoint: &'static str,
    gemini: Option<(String, String)>,
) -> Result<Inbound, Response> {
    let (parts, body) = request.into_parts();
    let (token, body) = match authenticated_body(state, &parts, body, gemini.as_ref()).await {
        Ok(read) => read,
        Err(error) => {
            let refusal = error.into_response_for(super::inbound::dialect_of(protocol));
            return Err(closing_if_body(&parts.headers, refusal));
        }
    };
    let request_id = parts
        .headers
        .get(&crate::request_id::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok(Inbound {
        protocol,
        endpoint,
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        gemini,
        request_id,
        token,
    })
}

/// The token the request authenticates with, then its body. Authentication comes first: a
/// caller without a valid token never makes Realms buffer a body.
async fn authenticated_body(
    state: &AppState,
    parts: &Parts,
    body: Body,
    gemini: Option<&(String, String)>,
) -> Result<(Arc<TokenRoute>, Bytes), RelayError> {
    let token =
        super::auth::authenticate(&state.relay.table.load(), &parts.headers, parts.uri.query())?;
    if let Some((model, _)) = gemini
        && !is_gemini_model_name(model)
    {
        return Err(RelayError::BadRequest(format!(
            "`{model}` is not a model name: use letters, digits, `-`, `_`, `.` and `~`"
        )));
    }
    let limits = &state.config.limits;
    let limit = limits.max_body_bytes;
    refuse_unreadable_body(&parts.headers, limit)?;
    let deadline = Duration::from_secs(limits.client_body_timeout_secs);
    match super::deadline::within(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(body)) => Ok((token, body)),
        Ok(Err(err)) => Err(unreadable_body(&err, limit)),
        Err(_) => Err(RelayError::BodyTimeout(limits.client_body_timeout_secs)),
    }
}

/// `(model, action)` from the decoded `{model}:{action}` of `.../models/{model}:{action}` (a
/// client may send the colon as `%3A`).
fn gemini_target(model_and_action: &str) -> Option<(String, String)> {
    let (model, action) = model_and_action.rsplit_once(':')?;
    (!model.is_empty() && !action.is_empty()).then(|| (model.to_owned(), action.to_owned()))
}

/// Whether a Gemini model from the URL can be put back into an upstream URL as one path
/// segment: only URL-unreserved characters (RFC 3986 §2.3) and no dot segment. Decoded from
/// the client's path, `../x` or `m:predict?quotaUser=` would otherwise reach another path or
/// another method of the upstream API with the channel's key.
fn is_gemini_model_name(model: &str) -> bool {
    !matches!(model, "" | "." | "..")
        && model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// Gemini's native actions (`models/{model}:{action}`) and the endpoint each is recorded as.
const GEMINI_ACTIONS: [(&str, &str); 5] = [
    ("generateContent", "/v1beta/models/{model}:generateContent"),
    (
        "streamGenerateContent",
        "/v1beta/models/{model}:streamGenerateContent",
    ),
    ("countTokens", "/v1beta/models/{model}:countTokens"),
    ("embedContent", "/v1beta/models/{model}:embedContent"),
    (
        "batchEmbedContents",
        "/v1beta/models/{model}:batchEmbedContents",
    ),
];

/// The recorded endpoint of `{model}:{action}` when the action is one of Gemini's. Other model
/// ids may hold a `:` too (OpenAI's fine-tunes `ft:gpt-4o-mini:org::id`, `llama3:8b`).
fn gemini_action(model_and_action: &str) -> Option<&'static str> {
    let (model, action) = model_and_action.rsplit_once(':')?;
    if model.is_empty() {
        return None;
    }
    GEMINI_ACTIONS
        .iter()
        .find(|(known, _)| *known == action)
        .map(|(_, endpoint)| *endpoint)
}

/// A path parameter as text, or a 400 when it is not valid percent-encoded UTF-8 (answered in
/// the path's protocol by [`refused_path`]; axum would answer in plain text).
fn path_text(path: Result<Path<String>, PathRejection>) -> Result<String, RelayError> {
    path.map(|Path(text)| text).map_err(|rejection| {
        RelayError::BadRequest(format!("the path is not valid: {}", rejection.body_text()))
    })
}

/// [`path_text`]'s refusal in the dialect of the request's path.
fn refused_path(error: RelayError, request: &Request<Body>) -> Response {
    closing_if_unread(
        request,
        error.into_response_for(dialect_of_path(request.uri().path())),
    )
}

/// `POST .../models/{model}:{action}` — Gemini's native API on `/v1beta` and `/v1`. Under `/v1`
/// a POST without a Gemini action is a POST to OpenAI's model entry: 405 there.
async fn gemini(
    state: State<AppState>,
    model: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let model = match path_text(model) {
        Ok(model) => model,
        Err(error) => return refused_path(error, &request),
    };
    if let Some(endpoint) = gemini_action(&model) {
        let target = gemini_target(&model);
        return relay(state, request, Protocol::Gemini, endpoint, target).await;
    }
    if !request.uri().path().starts_with("/v1beta/") {
        return wrong_method(request.method().clone(), request).await;
    }
    let error = match model.rsplit_once(':') {
        Some((_, action)) => RelayError::NotFound(format!("unknown action `{action}`")),
        None => RelayError::NotFound("use `models/{model}:{action}`".into()),
    };
    closing_if_unread(&request, error.into_response_for(Dialect::Gemini))
}

/// `GET .../models/{model}`: the model's entry, answered by `show`; a Gemini action
/// (`{model}:{action}`) is called with POST only, so a GET of one is a 405, not an unknown model.
async fn show_model<F, Fut>(
    state: State<AppState>,
    model: Result<Path<String>, PathRejection>,
    headers: axum::http::HeaderMap,
    query: axum::extract::RawQuery,
    request: Request<Body>,
    show: F,
) -> Response
where
    F: FnOnce(State<AppState>, Path<String>, axum::http::HeaderMap, axum::extract::RawQuery) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let model = match path_text(model) {
        Ok(model) => model,
        Err(error) => return refused_path(error, &request),
    };
    if gemini_action(&model).is_some() {
        return wrong_method(request.method().clone(), request).await;
    }
    show(state, Path(model), headers, query).await
}

/// The dialect of a data-plane path, for answers that come before the pipeline: Gemini for
/// `/v1beta/...` and for `.../models/{model}:{action}` with one of Gemini's actions (its native
/// API on `/v1`).
pub(crate) fn dialect_of_path(path: &str) -> Dialect {
    // a Gemini action follows a colon: most paths have none, and skip the search
    let gemini_call = path.contains(':')
        && path
            .rsplit_once("/models/")
            .is_some_and(|(_, model)| gemini_action(model).is_some());
    if path.starts_with("/v1beta/openai/") {
        // Google's OpenAI-compatible API: its clients are OpenAI SDKs
        Dialect::OpenAi
    } else if path.starts_with("/v1beta") || gemini_call {
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
    let response = RelayError::NotFound(format!("no route for `{method} {path}`"))
        .into_response_for(dialect_of_path(path));
    closing_if_unread(&request, response)
}

/// A known path called with the wrong method: 405 in the dialect of the path (Gemini's body
/// repeats the status, so the body is built for the status rather than patched afterwards). A
/// WebSocket handshake (Codex CLI tries one on `/v1/responses` first) gets 426 instead: Codex
/// falls back to HTTP at once on 426, but retries a 405 five times with backoff before it does.
async fn wrong_method(method: Method, request: Request<Body>) -> Response {
    let path = request.uri().path();
    let websocket = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let (status, message) = if websocket {
        (
            StatusCode::UPGRADE_REQUIRED,
            format!("WebSocket is not supported on `{path}`; use HTTP with `stream: true`"),
        )
    } else {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            format!("`{method}` is not allowed on `{path}`"),
        )
    };
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
    closing_if_unread(&request, response)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn gemini_targets_parse() {
        assert_eq!(
            gemini_target("gemini-2.5-flash:streamGenerateContent"),
            Some(("gemini-2.5-flash".into(), "streamGenerateContent".into()))
        );
        assert_eq!(
            gemini_target("m:generateContent"),
            Some(("m".into(), "generateContent".into()))
        );
        assert_eq!(gemini_target("no-action"), None);
    }

    #[test]
    fn gemini_model_names_are_one_plain_path_segment() {
        for good in ["gemini-2.5-flash", "text-embedding-004", "m_1.5~x"] {
            assert!(is_gemini_model_name(good), "{good}");
        }
        for bad in [
            "..",
            ".",
            "../../x",
            "a/b",
            "m:predict?quotaUser=",
            "m#f",
            "m%2E",
            "a b",
            "",
        ] {
            assert!(!is_gemini_model_name(bad), "{bad}");
        }
    }

    /// Every relay call moves its future through the service layers and into a box, copying
    /// all of it; the states only some requests reach (connecting, errors, streams, Codex) are
    /// boxed so that a whole JSON answer does not pay for them (`bench/README.md`, "Future
    /// sizes"; this future was 6,088 bytes before, 1,832 after).
    #[tokio::test]
    async fn the_relay_future_stays_small() {
        let state = AppState::for_tests(crate::config::Config::test_default()).await;
        let request = Request::new(axum::body::Body::empty());
        let future = relay(
            State(state),
            request,
            Protocol::Chat,
            "/v1/chat/completions",
            None,
        );
        let size = std::mem::size_of_val(&future);
        assert!(size <= 3 * 1024, "the relay future is {size} bytes");
    }

    /// `request` through the whole application: its status and JSON body.
    async fn call_app(request: Request) -> (StatusCode, serde_json::Value) {
        call_app_with(crate::config::Config::test_default(), request).await
    }

    /// The token [`call_app_with`] accepts.
    const TOKEN: &str = "sk_test_relay_http";

    /// `request` through the whole application under `config`, with [`TOKEN`] valid.
    async fn call_app_with(
        config: crate::config::Config,
        request: Request,
    ) -> (StatusCode, serde_json::Value) {
        use tower::ServiceExt;
        let state = AppState::for_tests(config).await;
        let mut table = crate::relay::routing::table::RoutingTable::default();
        let token = crate::relay::routing::table::TokenRoute {
            token_id: 1,
            user_id: 1,
            expires_at: None,
            models: None,
            groups: Vec::new(),
        };
        table
            .tokens
            .insert(crate::crypto::sha256(TOKEN.as_bytes()), Arc::new(token));
        state.relay.table.store(Arc::new(table));
        let response = crate::app(state).oneshot(request).await.expect("response");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, serde_json::from_slice(&body).expect("JSON error"))
    }

    async fn get_responses(upgrade: Option<&str>) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder().method(Method::GET).uri("/v1/responses");
        if let Some(u) = upgrade {
            req = req
                .header("connection", "Upgrade")
                .header("upgrade", u)
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        call_app(req.body(Body::empty()).expect("request")).await
    }

    #[tokio::test]
    async fn a_websocket_handshake_on_responses_gets_426_so_codex_falls_back_to_http() {
        let (status, body) = get_responses(Some("websocket")).await;
        assert_eq!(status, StatusCode::UPGRADE_REQUIRED);
        assert_eq!(body["error"]["type"], "invalid_request_error");
        let (status, _) = get_responses(Some("WebSocket")).await;
        assert_eq!(status, StatusCode::UPGRADE_REQUIRED);
        let (status, body) = get_responses(None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(body["error"]["message"].is_string());
    }

    #[test]
    fn only_a_post_to_a_fixed_path_is_dispatched_before_the_router() {
        assert_eq!(
            fixed_post(&Method::POST, "/v1/chat/completions"),
            Some(("/v1/chat/completions", Protocol::Chat))
        );
        assert_eq!(
            fixed_post(&Method::POST, "/v1/messages/count_tokens"),
            Some(("/v1/messages/count_tokens", Protocol::Messages))
        );
        assert_eq!(fixed_post(&Method::GET, "/v1/chat/completions"), None);
        assert_eq!(fixed_post(&Method::POST, "/v1/chat/completions/"), None);
        assert_eq!(fixed_post(&Method::POST, "/v1/responses/abc/cancel"), None);
        assert_eq!(
            fixed_post(&Method::POST, "/v1beta/models/g:generateContent"),
            None
        );
    }

    /// `method path` with a JSON body through the whole application, without credentials.
    async fn call_path(method: Method, path: &str) -> (StatusCode, serde_json::Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"model":"m"}"#))
            .expect("request");
        call_app(request).await
    }

    #[tokio::test]
    async fn every_fixed_route_reaches_the_relay_and_keeps_its_wrong_method_answer() {
        for (path, protocol) in FIXED_POSTS {
            // the relay answers: no key → 401 in the protocol's own error shape
            let (status, body) = call_path(Method::POST, path).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            let kind = &body["error"]["type"];
            match protocol {
                Protocol::Messages => assert_eq!(body["type"], "error", "{path}: {body}"),
                _ => assert!(kind.is_string(), "{path}: {body}"),
            }
            // the router still holds the path: another method is 405, not 404
            let (status, _) = call_path(Method::PUT, path).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        }
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

    /// A body that sends its first bytes and then nothing more: the client went quiet.
    fn trickle() -> Body {
        use futures_util::StreamExt;
        let first = futures_util::stream::once(async {
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"model\":"))
        });
        Body::from_stream(first.chain(futures_util::stream::pending()))
    }

    #[tokio::test]
    async fn a_body_that_stops_arriving_gets_408_in_the_protocols_shape() {
        let mut config = crate::config::Config::test_default();
        config.limits.client_body_timeout_secs = 1;
        let request = Request::builder()
            .method(Method::POST)
            .uri("/v1/messages")
            .header("x-api-key", TOKEN)
            .body(trickle())
            .expect("request");
        let started = std::time::Instant::now();
        let (status, body) = call_app_with(config, request).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert!(started.elapsed() >= Duration::from_millis(900));
        assert_eq!(body["type"], "error", "Anthropic's error shape: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("1 seconds"))
        );
    }

    #[tokio::test]
    async fn a_caller_without_a_valid_token_is_refused_before_its_body_is_read() {
        for key in [None, Some("sk_not_a_token")] {
            let mut request = Request::builder()
                .method(Method::POST)
                .uri("/v1/chat/completions");
            if let Some(key) = key {
                request = request.header("authorization", format!("Bearer {key}"));
            }
            let request = request.body(trickle()).expect("request");
            // the body never ends: only an answer that does not wait for it can come back
            let (status, body) = tokio::time::timeout(Duration::from_secs(5), call_app(request))
                .await
                .expect("answered without the body");
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
            assert_eq!(body["error"]["code"], "invalid_api_key");
        }
    }

    #[tokio::test]
    async fn a_body_broken_off_is_a_bad_request_not_an_oversized_one() {
        let broken = futures_util::stream::iter([
            Ok(bytes::Bytes::from_static(b"{\"model\":")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let request = Request::builder()
            .method(Method::POST)
            .uri("/v1/chat/completions")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::from_stream(broken))
            .expect("request");
        let (status, body) = call_app(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }

    #[tokio::test]
    async fn a_gemini_action_with_the_wrong_method_is_a_gemini_405() {
        for (method, uri) in [
            (Method::GET, "/v1beta/models/gem-x:generateContent"),
            (Method::PUT, "/v1/models/gem-x:countTokens"),
            (Method::GET, "/v1/models/gem-x:batchEmbedContents"),
            (Method::DELETE, "/v1beta/models/gem-x:embedContent"),
        ] {
            let request = Request::builder()
                .method(method.clone())
                .uri(uri)
                .header("x-goog-api-key", TOKEN)
                .body(Body::empty())
                .expect("request");
            let (status, body) = call_app(request).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
            assert_eq!(body["error"]["code"], 405, "Gemini's shape: {body}");
            assert!(body["error"]["status"].is_string(), "{body}");
        }
    }

    /// `method uri` with the valid token as a Bearer key, no body.
    async fn call_with_token(method: Method, uri: &str) -> (StatusCode, serde_json::Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .expect("request");
        call_app(request).await
    }

    #[tokio::test]
    async fn model_ids_with_a_colon_are_openai_model_entries_unless_a_gemini_action_ends_them() {
        for id in ["ft:gpt-4o-mini-2024-07-18:acme::abc123", "llama3:8b"] {
            let (status, body) = call_with_token(Method::GET, &format!("/v1/models/{id}")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {body}");
            assert_eq!(body["error"]["code"], "model_not_found", "{id}: {body}");
            assert_eq!(
                dialect_of_path(&format!("/v1/models/{id}")),
                Dialect::OpenAi
            );
        }
        // a POST to OpenAI's model entry is a wrong method there, in OpenAI's shape
        let (status, body) = call_with_token(Method::POST, "/v1/models/gpt-4o").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        let (status, body) = call_with_token(Method::POST, "/v1/models/llama3:8b").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
        assert!(body["error"]["type"].is_string(), "{body}");
        // under /v1beta an unknown action stays Gemini's 404
        let (status, body) = call_with_token(Method::POST, "/v1beta/models/gem-x:explode").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], 404, "{body}");
    }

    #[tokio::test]
    async fn model_ids_with_a_slash_reach_the_model_entry() {
        // OpenRouter's `openai/gpt-4o`, vLLM's `Qwen/Qwen2.5-72B-Instruct`: the SDKs put the id in
        // the path as it is
        let (status, body) = call_with_token(Method::GET, "/v1/models/Qwen/Qwen2.5-72B").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], "model_not_found", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Qwen/Qwen2.5-72B")),
            "{body}"
        );
    }

    #[tokio::test]
    async fn the_bare_api_roots_are_unknown_paths_in_their_protocol() {
        let (status, body) = call_with_token(Method::GET, "/v1beta").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], 404, "Gemini's shape: {body}");
        let (status, body) = call_with_token(Method::POST, "/v1").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(body["error"]["type"].is_string(), "OpenAI's shape: {body}");
    }

    #[tokio::test]
    async fn a_path_that_is_not_valid_utf8_gets_a_400_in_the_paths_protocol() {
        for (method, uri, gemini) in [
            (Method::GET, "/v1/models/%FF", false),
            (Method::GET, "/v1/responses/%FF", false),
            (Method::POST, "/v1/responses/%FF/cancel", false),
            (Method::GET, "/v1beta/models/%FF", true),
            (Method::POST, "/v1beta/models/%FF:generateContent", true),
        ] {
            let (status, body) = call_with_token(method.clone(), uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}: {body}");
            if gemini {
                assert_eq!(body["error"]["code"], 400, "{uri}: {body}");
            } else {
                assert_eq!(
                    body["error"]["type"], "invalid_request_error",
                    "{uri}: {body}"
                );
            }
        }
    }

    #[test]
    fn gemini_actions_on_v1_are_gemini_paths() {
        for path in [
            "/v1/models/gem-x:embedContent",
            "/v1/models/gem-x:countTokens",
            "/v1/models/tuned:batchEmbedContents",
            "/v1beta/anything",
        ] {
            assert_eq!(dialect_of_path(path), Dialect::Gemini, "{path}");
        }
        assert_eq!(dialect_of_path("/v1/models/gpt-4o"), Dialect::OpenAi);
        assert_eq!(dialect_of_path("/v1/messages"), Dialect::Anthropic);
        assert_eq!(dialect_of_path("/v1/chat/completions"), Dialect::OpenAi);
    }
}
