//! `/api/admin/channels/health` and `/api/admin/channels/{id}/test`: the relay's live cooldowns
//! for the console, and a tiny real request through one channel (latency, answer or error) so an
//! operator can check a key and a base URL without a client.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{MAX_UPSTREAM_MODEL_CHARS, check_model_id, or_not_found};
use crate::api::extract::{Admin, ApiJson, IdPath};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::relay::routing::health::Target;
use crate::relay::routing::table::ChannelKind;
use crate::relay::shaping::{ChannelSettings, secrets};
use crate::relay::upstream::{auth, guard, url};
use crate::state::AppState;
use crate::store::channels::{self, Channel};
use crate::store::credentials::{self, SealedCredential};
use crate::store::{channel_models, channels::Status};

/// Longest wait for a test answer; a test is a quick check, not a long generation.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes of an upstream answer read (and of an error shown).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Most characters of an upstream error body shown to the operator.
const MAX_ERROR_CHARS: usize = 600;
/// What the test asks; short, so the answer costs next to nothing.
const PROMPT: &str = "Reply with the single word OK.";

/// The channel operation routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/channels/health", get(health))
        .route("/channels/{id}/test", post(test))
}

/// Every cooldown the relay holds now. Credentials are reported with the channel that holds
/// them (from the routing table) so the console can show them on the right row.
async fn health(State(state): State<AppState>, _admin: Admin) -> Json<Value> {
    let now = Instant::now();
    let wall = chrono::Utc::now();
    let table = state.relay.table.load();
    let items: Vec<Value> = state
        .relay
        .health
        .active(now)
        .into_iter()
        .map(|(target, cooldown)| {
            let remaining = cooldown.until.saturating_duration_since(now);
            let until = wall + chrono::Duration::from_std(remaining).unwrap_or_default();
            let (kind, channel_id, model, credential_id) = match target {
                Target::Channel(id) => ("channel", Some(id), None, None),
                Target::ChannelModel(id, model) => ("channel_model", Some(id), Some(model), None),
                Target::Credential(cred) => {
                    let channel = table
                        .channels
                        .values()
                        .find(|c| c.credentials.iter().any(|k| k.id == cred))
                        .map(|c| c.id);
                    ("credential", channel, None, Some(cred))
                }
            };
            json!({
                "target": kind,
                "channel_id": channel_id,
                "model": model,
                "credential_id": credential_id,
                "until": until,
                "strikes": cooldown.strikes,
                "reason": cooldown.reason,
            })
        })
        .collect();
    Json(json!({ "items": items, "next_cursor": null }))
}

/// The test's body: `{}` or `{"model": "..."}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestBody {
    /// The upstream model name to ask; default: the first enabled binding's.
    #[serde(default)]
    model: Option<String>,
}

/// What one test needs from the database.
struct Subject {
    channel: Channel,
    credential: Option<SealedCredential>,
    model: Option<String>,
}

/// The request a test sends for a channel kind: path and JSON body.
fn test_request(kind: ChannelKind, model: &str) -> Option<(String, Value)> {
    let messages = json!([{ "role": "user", "content": PROMPT }]);
    match kind {
        ChannelKind::OpenAiCompatible => Some((
            "/v1/chat/completions".to_owned(),
            json!({ "model": model, "messages": messages, "max_tokens": 16, "stream": false }),
        )),
        ChannelKind::Anthropic => Some((
            "/v1/messages".to_owned(),
            json!({ "model": model, "messages": messages, "max_tokens": 16 }),
        )),
        ChannelKind::Gemini => Some((
            format!("/v1beta/models/{model}:generateContent"),
            json!({
                "contents": [{ "role": "user", "parts": [{ "text": PROMPT }] }],
                "generationConfig": { "maxOutputTokens": 16 },
            }),
        )),
        ChannelKind::CodexOauth => None,
    }
}

/// The answer's text in each vendor's shape, if it has one.
fn answer_text(kind: ChannelKind, body: &Value) -> Option<String> {
    let text = match kind {
        ChannelKind::OpenAiCompatible | ChannelKind::CodexOauth => {
            body.pointer("/choices/0/message/content")
        }
        ChannelKind::Anthropic => body.pointer("/content/0/text"),
        ChannelKind::Gemini => body.pointer("/candidates/0/content/parts/0/text"),
    };
    text.and_then(Value::as_str).map(str::to_owned)
}

/// The first `MAX_ERROR_CHARS` characters of `text`, with the secret blanked out should the
/// upstream echo it back.
fn summary(text: &str, secret: &str) -> String {
    let cleaned = if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "[redacted]")
    };
    cleaned.chars().take(MAX_ERROR_CHARS).collect()
}

/// A failed test: not an API error (the test itself ran), the upstream's answer.
fn failed(status: Option<u16>, latency_ms: u64, model: &str, error: String) -> Json<Value> {
    Json(json!({
        "ok": false,
        "status": status,
        "latency_ms": latency_ms,
        "model": model,
        "answer": null,
        "error": error,
    }))
}

async fn test(
    State(state): State<AppState>,
    _admin: Admin,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<TestBody>,
) -> ApiResult<Json<Value>> {
    let requested = body
        .model
        .map(|m| check_model_id("model", m.trim(), MAX_UPSTREAM_MODEL_CHARS))
        .transpose()?;
    let subject = state
        .store
        .read(move |c| {
            let channel = channels::get(c, id)?;
            let credential = credentials::list_sealed_for_channel(c, id)?
                .into_iter()
                .find(|k| k.status == Status::Enabled);
            let model = match requested {
                Some(model) => Some(model),
                None => channel_models::list_for_channel(c, id)?
                    .into_iter()
                    .find(|b| b.enabled)
                    .map(|b| b.upstream_model.unwrap_or(b.public_id)),
            };
            Ok(Subject {
                channel,
                credential,
                model,
            })
        })
        .await
        .map_err(or_not_found("channel"))?;
    let unprocessable = |message: &str| ApiError::new(ErrorCode::Unprocessable, message);
    let kind = ChannelKind::parse(subject.channel.kind.as_str())
        .ok_or_else(|| ApiError::internal("unknown channel kind"))?;
    let model = subject
        .model
        .ok_or_else(|| unprocessable("bind a model to this channel first, or name one to test"))?;
    let Some((path, payload)) = test_request(kind, &model) else {
        return Err(unprocessable(
            "`codex_oauth` channels are checked through their Codex accounts",
        ));
    };
    let sealed = subject
        .credential
        .ok_or_else(|| unprocessable("this channel has no enabled API key"))?;
    let secret = state
        .sealer
        .open_str(&sealed.sealed)
        .map_err(ApiError::internal)?;
    let mut stored = subject.channel.settings.clone();
    secrets::open(&mut stored, &state.sealer).map_err(ApiError::internal)?;
    let settings = ChannelSettings::load(&stored).map_err(ApiError::invalid)?;

    let target = url::join(&subject.channel.base_url, &path, None);
    let Ok(target) = target.parse::<reqwest::Url>() else {
        return Ok(failed(
            None,
            0,
            &model,
            "the channel's base URL is invalid".into(),
        ));
    };
    let guarded = !state.settings().allow_private_upstreams;
    if guarded && let Err(reason) = guard::check_literal_host(&target) {
        return Ok(failed(None, 0, &model, reason));
    }
    let client = match state
        .relay
        .upstreams
        .clients()
        .get(guarded, settings.proxy.as_deref())
    {
        Ok(client) => client,
        Err(err) => return Ok(failed(None, 0, &model, err.to_string())),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    auth::apply(kind, &secret, &settings, &mut headers);

    let started = Instant::now();
    let sent = tokio::time::timeout(
        TEST_TIMEOUT,
        client
            .post(target)
            .headers(headers)
            .body(payload.to_string())
            .send(),
    )
    .await;
    let elapsed = |since: Instant| u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
    let response = match sent {
        Err(_) => {
            return Ok(failed(
                None,
                elapsed(started),
                &model,
                "the upstream did not answer in time".into(),
            ));
        }
        Ok(Err(err)) => {
            return Ok(failed(
                None,
                elapsed(started),
                &model,
                summary(&err.to_string(), &secret),
            ));
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    let latency_ms = elapsed(started);
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ANSWER_BYTES)]).into_owned();
    if !status.is_success() {
        return Ok(failed(
            Some(status.as_u16()),
            latency_ms,
            &model,
            summary(&text, &secret),
        ));
    }
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let answer = answer_text(kind, &parsed).map(|a| summary(&a, &secret));
    Ok(Json(json!({
        "ok": true,
        "status": status.as_u16(),
        "latency_ms": latency_ms,
        "model": model,
        "answer": answer,
        "error": null,
    })))
}
