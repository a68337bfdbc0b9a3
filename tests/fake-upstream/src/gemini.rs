//! Gemini native API: `models/{model}:{action}` (generateContent, streamGenerateContent,
//! countTokens, embedContent, batchEmbedContents) and the model list, with public builders.
//! Streams use `\r\n\r\n` between events, as Google's servers do, and `data:` lines only.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::answer::{self, Head, Knobs, StreamSpec};
use crate::errors::gemini_error;
use crate::openai::embedding;
use crate::record::query_param;
use crate::script::json_response;
use crate::server::Shared;
use crate::usage::split_deltas;
use crate::usage::{COUNT_TOKENS, DEFAULT_TEXT, DEFAULT_USAGE, EMBEDDING_DIMENSIONS, Usage};

/// `responseId` of every default answer.
pub const RESPONSE_ID: &str = "fake-gemini-response-0001";

/// Models `GET /v1beta/models` lists (any other name is still answered).
pub const MODELS: &[&str] = &[
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-embedding-001",
    crate::usage::DEFAULT_MODEL,
];

fn chunk(model: &str, text: &str, last: Option<Usage>) -> Value {
    let mut candidate = json!({
        "content": { "parts": [{ "text": text }], "role": "model" },
        "index": 0,
    });
    let mut c = json!({ "candidates": [], "modelVersion": model, "responseId": RESPONSE_ID });
    if let Some(u) = last {
        candidate["finishReason"] = json!("STOP");
        c["usageMetadata"] = u.gemini_json();
    }
    c["candidates"] = json!([candidate]);
    c
}

/// The `generateContent` answer.
pub fn generate_json(model: &str, text: &str, usage: Usage) -> Value {
    chunk(model, text, Some(usage))
}

/// The stream's chunks: one per word; the last one carries `finishReason` and `usageMetadata`.
pub fn stream_chunks(model: &str, text: &str, usage: Usage) -> Vec<Value> {
    chunks(model, &split_deltas(text), usage)
}

fn chunks(model: &str, deltas: &[String], usage: Usage) -> Vec<Value> {
    let n = deltas.len().max(1);
    (0..n)
        .map(|i| {
            let text = deltas.get(i).map_or("", String::as_str);
            chunk(model, text, (i + 1 == n).then_some(usage))
        })
        .collect()
}

/// The `?alt=sse` stream as raw `data: {json}\r\n\r\n` events.
pub fn stream_sse(model: &str, text: &str, usage: Usage) -> Vec<String> {
    stream_chunks(model, text, usage)
        .iter()
        .map(sse_event)
        .collect()
}

fn sse_event(v: &Value) -> String {
    format!(
        "data: {}\r\n\r\n",
        serde_json::to_string(v).unwrap_or_default()
    )
}

/// The pieces of the JSON-array stream (no `alt=sse`): `[` + chunk, `,\r\n` + chunk…, `]`.
fn array_pieces(chunks: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let sep = if i == 0 { "[" } else { ",\r\n" };
            format!("{sep}{}", serde_json::to_string(c).unwrap_or_default())
        })
        .collect();
    out.push("]".to_owned());
    out
}

/// A stream chunk carrying an error, as Gemini sends when a stream fails.
pub fn error_event(code: u16, message: &str) -> String {
    sse_event(&gemini_error(code, message))
}

/// `POST /v1beta/models/{model}:{action}` (also under `/v1`).
pub(crate) async fn dispatch(
    State(shared): State<Arc<Shared>>,
    Extension(knobs): Extension<Knobs>,
    Path(model_action): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some((model, action)) = model_action.rsplit_once(':') else {
        return not_found(&model_action);
    };
    if let Err(e) = Head::parse(&body) {
        return answer::bad_request(gemini_error, &e);
    }
    match action {
        "generateContent" => answer::cached_json(&shared, "gemini", model, || {
            generate_json(model, DEFAULT_TEXT, DEFAULT_USAGE)
        }),
        "streamGenerateContent" => {
            let sse = query
                .as_deref()
                .and_then(|q| query_param(q, "alt"))
                .as_deref()
                == Some("sse");
            let spec = StreamSpec {
                route: "gemini-stream",
                model,
                flag: sse,
                content_type: if sse {
                    "text/event-stream"
                } else {
                    "application/json; charset=UTF-8"
                },
            };
            answer::stream(&shared, knobs, &spec, |d| {
                let c = chunks(model, d, DEFAULT_USAGE);
                if sse {
                    c.iter().map(sse_event).collect()
                } else {
                    array_pieces(&c)
                }
            })
        }
        "countTokens" => json_response(
            200,
            &json!({ "totalTokens": COUNT_TOKENS,
                     "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": COUNT_TOKENS }] }),
        ),
        "embedContent" => {
            let dims = dimensions(&json_or_null(&body));
            json_response(
                200,
                &json!({ "embedding": { "values": embedding(0, dims) } }),
            )
        }
        "batchEmbedContents" => {
            let body = json_or_null(&body);
            let requests = body["requests"].as_array().map_or(&[][..], Vec::as_slice);
            let embeddings: Vec<Value> = requests
                .iter()
                .enumerate()
                .map(|(i, r)| json!({ "values": embedding(i, dimensions(r)) }))
                .collect();
            json_response(200, &json!({ "embeddings": embeddings }))
        }
        _ => not_found(&model_action),
    }
}

/// The body as JSON (already checked to parse), or `null` when empty.
fn json_or_null(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

fn dimensions(request: &Value) -> usize {
    request["outputDimensionality"]
        .as_u64()
        .and_then(|d| usize::try_from(d).ok())
        .unwrap_or(EMBEDDING_DIMENSIONS)
        .min(4096)
}

fn not_found(what: &str) -> Response {
    let msg = format!("models/{what} is not found for API version v1beta");
    json_response(404, &gemini_error(404, &msg))
}

fn model_info(id: &str) -> Value {
    let methods = if id.contains("embedding") {
        json!(["embedContent", "batchEmbedContents", "countTokens"])
    } else {
        json!(["generateContent", "streamGenerateContent", "countTokens"])
    };
    json!({
        "name": format!("models/{id}"),
        "version": "001",
        "displayName": id,
        "description": "fake-upstream model",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": methods,
    })
}

/// `GET /v1beta/models`.
pub(crate) async fn models() -> Response {
    let models: Vec<Value> = MODELS.iter().map(|m| model_info(m)).collect();
    json_response(200, &json!({ "models": models }))
}

/// `GET /v1beta/models/{model}`.
pub(crate) async fn model(Path(id): Path<String>) -> Response {
    json_response(200, &model_info(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_chunk_has_usage() {
        let c = stream_chunks("g", DEFAULT_TEXT, DEFAULT_USAGE);
        assert_eq!(c.len(), 5);
        assert!(c[..4].iter().all(|x| x.get("usageMetadata").is_none()));
        assert_eq!(c[4]["usageMetadata"]["thoughtsTokenCount"], 16);
        assert_eq!(c[4]["candidates"][0]["finishReason"], "STOP");
    }

    #[test]
    fn array_pieces_form_a_json_array() {
        let c = stream_chunks("g", "a b", DEFAULT_USAGE);
        let joined = array_pieces(&c).concat();
        let v: Value = serde_json::from_str(&joined).expect("valid JSON array");
        assert_eq!(v.as_array().map(Vec::len), Some(2));
    }
}
