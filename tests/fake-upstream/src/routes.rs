//! The route table and the interceptor every request passes first: it buffers and records the
//! request, lets a matching script answer, applies the knobs, and otherwise hands the request to
//! the built-in handler of its route. Handlers live in the protocol modules.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::answer::Knobs;
use crate::record::RecordedRequest;
use crate::script::json_response;
use crate::server::Shared;
use crate::{anthropic, codex, errors, gemini, oauth, openai, responses};

/// Largest request body the fake reads (generous: tests send big prompts on purpose).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Prefix of the fake's own inspection routes, which are neither recorded nor scriptable.
const CONTROL_PREFIX: &str = "/__fake/";

/// All routes: OpenAI-style routes with and without `/v1` (and under `/v1beta/openai`, Gemini's
/// OpenAI-compatible base), Anthropic with and without `/v1`, Gemini under `/v1beta` and `/v1`,
/// the Codex backend, the OAuth issuer and the control routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut r = Router::new();
    for p in ["", "/v1", "/v1beta/openai"] {
        r = r
            .route(&format!("{p}/responses"), post(responses::create))
            .route(
                &format!("{p}/responses/input_tokens"),
                post(responses::input_tokens),
            )
            .route(&format!("{p}/responses/compact"), post(responses::compact))
            .route(
                &format!("{p}/responses/{{id}}"),
                get(responses::get).delete(responses::delete),
            )
            .route(
                &format!("{p}/responses/{{id}}/cancel"),
                post(responses::cancel),
            )
            .route(
                &format!("{p}/responses/{{id}}/input_items"),
                get(responses::input_items),
            )
            .route(&format!("{p}/chat/completions"), post(openai::chat))
            .route(&format!("{p}/embeddings"), post(openai::embeddings))
            .route(&format!("{p}/models"), get(openai::models));
    }
    for p in ["", "/v1"] {
        r = r
            .route(&format!("{p}/messages"), post(anthropic::messages))
            .route(
                &format!("{p}/messages/count_tokens"),
                post(anthropic::count_tokens),
            );
    }
    r.route("/models/{id}", get(openai::model))
        .route("/v1beta/openai/models/{id}", get(openai::model))
        // One route per path: GET is OpenAI's model lookup, POST Gemini's `{model}:{action}`.
        .route("/v1/models/{id}", get(openai::model).post(gemini::dispatch))
        .route("/v1beta/models", get(gemini::models))
        .route(
            "/v1beta/models/{id}",
            get(gemini::model).post(gemini::dispatch),
        )
        .route("/backend-api/codex/responses", post(codex::responses))
        .route("/backend-api/wham/usage", get(codex::usage))
        .route("/oauth/authorize", get(oauth::authorize))
        .route("/oauth/token", post(oauth::token))
        .route(
            "/__fake/requests",
            get(control_requests).delete(control_clear),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), intercept))
        .with_state(shared)
}

async fn intercept(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with(CONTROL_PREFIX) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        let msg = "request body unreadable or over 64 MiB";
        return json_response(413, &errors::body_for(&path, 413, msg));
    };
    let record = shared.recorder.enabled();
    let script = if record || !shared.scripts.is_empty() {
        let recorded = RecordedRequest::from_parts(&parts, bytes.clone());
        let script = shared.scripts.take(&recorded);
        if record {
            shared.recorder.push(recorded);
        }
        script
    } else {
        None
    };
    tracing::debug!(method = %parts.method, %path, scripted = script.is_some(), "request");
    if let Some(script) = script {
        if !pause(&shared, script.first_byte_delay).await {
            return shutting_down(&path);
        }
        if let Some(resp) = script.behaviour.respond(&path, shared.cancel.clone()) {
            return resp;
        }
    }
    let knobs = Knobs::parse(parts.uri.query(), &parts.headers);
    if let Some(ms) = knobs.first_byte_ms
        && !pause(&shared, Duration::from_millis(ms)).await
    {
        return shutting_down(&path);
    }
    if let Some(status) = knobs.status {
        let msg = "status forced by the fake-upstream `status` knob";
        return json_response(status, &errors::body_for(&path, status, msg));
    }
    parts.extensions.insert(knobs);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Sleeps unless the server shuts down first; `false` if it did.
async fn pause(shared: &Shared, d: Duration) -> bool {
    if d.is_zero() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = shared.cancel.cancelled() => false,
    }
}

fn shutting_down(path: &str) -> Response {
    json_response(
        503,
        &errors::body_for(path, 503, "fake-upstream is shutting down"),
    )
}

async fn not_found(req: Request) -> Response {
    let path = req.uri().path();
    let msg = format!("fake-upstream has no route for {} {path}", req.method());
    json_response(404, &errors::body_for(path, 404, &msg))
}

/// `GET /__fake/requests`: the recorded requests, for tools that run the binary.
async fn control_requests(State(shared): State<Arc<Shared>>) -> Response {
    let list: Vec<Value> = shared
        .recorder
        .all()
        .iter()
        .map(|r| {
            let headers: serde_json::Map<String, Value> = r
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), json!(String::from_utf8_lossy(v.as_bytes()))))
                .collect();
            json!({
                "method": r.method.as_str(), "path": r.path, "query": r.query,
                "headers": headers, "body": r.body_text(),
            })
        })
        .collect();
    json_response(200, &json!({ "requests": list }))
}

/// `DELETE /__fake/requests`: forgets the recorded requests.
async fn control_clear(State(shared): State<Arc<Shared>>) -> Response {
    shared.recorder.clear();
    json_response(200, &json!({ "cleared": true }))
}
