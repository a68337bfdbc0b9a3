//! OpenAI Chat Completions, embeddings and model list: default answers and public builders.
//! The Responses API lives in `responses.rs`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::answer::{self, Head, Knobs, StreamSpec};
use crate::errors::openai_error;
use crate::script::json_response;
use crate::server::Shared;
use crate::sse::{DONE, data_event};
use crate::usage::{
    DEFAULT_MODEL, DEFAULT_TEXT, DEFAULT_USAGE, EMBEDDING_DIMENSIONS, FAKE_CREATED, Usage,
    split_deltas,
};

/// `id` of every default chat completion.
pub const CHAT_ID: &str = "chatcmpl-fake0000000000000001";

/// Models `GET /v1/models` lists (any other name is still answered by every route).
pub const MODELS: &[&str] = &[
    "gpt-5",
    "gpt-5-mini",
    "gpt-4o-mini",
    "text-embedding-3-small",
    DEFAULT_MODEL,
];

/// The non-streaming chat completion.
pub fn chat_json(model: &str, text: &str, usage: Usage) -> Value {
    json!({
        "id": CHAT_ID,
        "object": "chat.completion",
        "created": FAKE_CREATED,
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": text, "refusal": null, "annotations": [] },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage.chat_json(),
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    })
}

/// The streaming chat completion as raw `data:` events ending with `data: [DONE]`. With
/// `usage` (what `stream_options.include_usage` asks for), every chunk carries `"usage": null`
/// and a last chunk with `choices: []` carries the counts.
pub fn chat_sse(model: &str, text: &str, usage: Option<Usage>) -> Vec<String> {
    chat_events(model, &split_deltas(text), usage)
}

pub(crate) fn chat_events(model: &str, deltas: &[String], usage: Option<Usage>) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": CHAT_ID,
            "object": "chat.completion.chunk",
            "created": FAKE_CREATED,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        });
        if usage.is_some() {
            c["usage"] = Value::Null;
        }
        data_event(&c)
    };
    let mut out = Vec::with_capacity(deltas.len() + 4);
    out.push(chunk(
        json!({ "role": "assistant", "content": "", "refusal": null }),
        Value::Null,
    ));
    for d in deltas {
        out.push(chunk(json!({ "content": d }), Value::Null));
    }
    out.push(chunk(json!({}), json!("stop")));
    if let Some(u) = usage {
        out.push(data_event(&json!({
            "id": CHAT_ID,
            "object": "chat.completion.chunk",
            "created": FAKE_CREATED,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
            "choices": [],
            "usage": u.chat_json(),
        })));
    }
    out.push(DONE.to_owned());
    out
}

/// An error chunk as OpenAI-compatible servers send one inside a chat stream.
pub fn chat_error_event(message: &str) -> String {
    data_event(&openai_error(500, message))
}

/// The deterministic embedding of input `index`: value `j` is `(index + 1) * (j + 1) / 1000`.
pub fn embedding(index: usize, dims: usize) -> Vec<f32> {
    (0..dims)
        .map(|j| ((index + 1) * (j + 1)) as f32 / 1000.0)
        .collect()
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat(
    State(shared): State<Arc<Shared>>,
    Extension(knobs): Extension<Knobs>,
    body: Bytes,
) -> Response {
    let head = match Head::parse(&body) {
        Ok(h) => h,
        Err(e) => return answer::bad_request(openai_error, &e),
    };
    let model = head.model_or(DEFAULT_MODEL);
    if !head.streaming() {
        return answer::cached_json(&shared, "chat", model, || {
            chat_json(model, DEFAULT_TEXT, DEFAULT_USAGE)
        });
    }
    let usage = head.include_usage().then_some(DEFAULT_USAGE);
    let spec = StreamSpec {
        route: "chat",
        model,
        flag: usage.is_some(),
        content_type: "text/event-stream; charset=utf-8",
    };
    answer::stream(&shared, knobs, &spec, |d| chat_events(model, d, usage))
}

#[derive(Deserialize)]
struct EmbeddingsRequest {
    model: Option<String>,
    #[serde(default)]
    input: Value,
    encoding_format: Option<String>,
    dimensions: Option<usize>,
}

/// `POST /v1/embeddings`: one vector per input; base64 when asked (the official SDKs ask).
pub(crate) async fn embeddings(body: Bytes) -> Response {
    let req: EmbeddingsRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return answer::bad_request(openai_error, &format!("invalid JSON body: {e}")),
    };
    let inputs = match &req.input {
        Value::Array(a) if a.first().is_some_and(Value::is_number) => 1,
        Value::Array(a) => a.len(),
        Value::Null => 0,
        _ => 1,
    };
    let dims = req.dimensions.unwrap_or(EMBEDDING_DIMENSIONS).min(4096);
    let base64 = req.encoding_format.as_deref() == Some("base64");
    let data: Vec<Value> = (0..inputs)
        .map(|i| {
            let v = embedding(i, dims);
            let encoded = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({ "object": "embedding", "index": i, "embedding": encoded })
        })
        .collect();
    let tokens = DEFAULT_USAGE.input;
    json_response(
        200,
        &json!({
            "object": "list",
            "data": data,
            "model": req.model.as_deref().unwrap_or("text-embedding-3-small"),
            "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
        }),
    )
}

fn openai_model(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": FAKE_CREATED, "owned_by": "fake-upstream" })
}

fn anthropic_model(id: &str) -> Value {
    json!({ "type": "model", "id": id, "display_name": id, "created_at": "2025-06-15T00:00:00Z" })
}

/// `GET /v1/models`: OpenAI's list, or Anthropic's when the caller sends `anthropic-version`.
pub(crate) async fn models(headers: HeaderMap) -> Response {
    if headers.contains_key("anthropic-version") {
        let data: Vec<Value> = MODELS.iter().map(|m| anthropic_model(m)).collect();
        return json_response(
            200,
            &json!({ "data": data, "has_more": false, "first_id": MODELS.first(),
                     "last_id": MODELS.last() }),
        );
    }
    let data: Vec<Value> = MODELS.iter().map(|m| openai_model(m)).collect();
    json_response(200, &json!({ "object": "list", "data": data }))
}

/// `GET /v1/models/{id}`: any id exists.
pub(crate) async fn model(Path(id): Path<String>, headers: HeaderMap) -> Response {
    if headers.contains_key("anthropic-version") {
        return json_response(200, &anthropic_model(&id));
    }
    json_response(200, &openai_model(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_chunk_precedes_done() {
        let events = chat_sse("m", "a b", Some(DEFAULT_USAGE));
        assert_eq!(events.last().map(String::as_str), Some(DONE));
        let usage_chunk = &events[events.len() - 2];
        let v: Value = serde_json::from_str(
            usage_chunk
                .strip_prefix("data: ")
                .expect("data line")
                .trim(),
        )
        .expect("json");
        assert_eq!(v["choices"], json!([]));
        assert_eq!(
            v["usage"]["completion_tokens_details"]["reasoning_tokens"],
            16
        );
        assert!(
            !chat_sse("m", "a", None)
                .iter()
                .any(|e| e.contains("\"usage\""))
        );
    }

    #[test]
    fn embeddings_are_deterministic() {
        assert_eq!(embedding(1, 3), vec![0.002, 0.004, 0.006]);
    }
}
