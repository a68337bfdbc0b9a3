//! OpenAI Responses API: the default answers of `/v1/responses` and its satellite routes, and
//! public builders of those bodies so tests can script variants (other usage, other text).
//! The Codex backend reuses the stream; Chat Completions lives in `openai.rs`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::answer::{self, Head, Knobs, StreamSpec};
use crate::errors::openai_error;
use crate::script::json_response;
use crate::server::Shared;
use crate::sse::named_event;
use crate::usage::split_deltas;
use crate::usage::{COUNT_TOKENS, DEFAULT_MODEL, DEFAULT_TEXT, DEFAULT_USAGE, FAKE_CREATED, Usage};

/// `id` of every default response object.
pub const RESPONSE_ID: &str = "resp_fake000000000000000001";
/// `id` of the assistant message inside every default response.
pub const MESSAGE_ID: &str = "msg_fake000000000000000001";

/// A response object; `usage` is `null` while in progress, as in the real stream.
fn response_object(model: &str, status: &str, output: Value, usage: Option<Usage>) -> Value {
    json!({
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": FAKE_CREATED,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": { "effort": "medium", "summary": null },
        "service_tier": "default",
        "store": true,
        "temperature": 1.0,
        "text": { "format": { "type": "text" }, "verbosity": "medium" },
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage.map(|u| u.responses_json()),
        "user": null,
        "metadata": {},
    })
}

fn text_part(text: &str) -> Value {
    json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] })
}

fn message_item(text: Option<&str>) -> Value {
    match text {
        Some(t) => json!({
            "id": MESSAGE_ID, "type": "message", "status": "completed", "role": "assistant",
            "content": [text_part(t)],
        }),
        None => json!({
            "id": MESSAGE_ID, "type": "message", "status": "in_progress", "role": "assistant",
            "content": [],
        }),
    }
}

/// The non-streaming answer: a completed response with one assistant message.
pub fn responses_json(model: &str, text: &str, usage: Usage) -> Value {
    response_object(
        model,
        "completed",
        json!([message_item(Some(text))]),
        Some(usage),
    )
}

/// The streaming answer as raw events, the text sent one word per `response.output_text.delta`.
pub fn responses_sse(model: &str, text: &str, usage: Usage) -> Vec<String> {
    responses_events(model, &split_deltas(text), usage)
}

/// The stream events for these deltas, `sequence_number` counting from 0.
pub(crate) fn responses_events(model: &str, deltas: &[String], usage: Usage) -> Vec<String> {
    let text = deltas.concat();
    let mut seq = 0u64;
    let mut out = Vec::with_capacity(deltas.len() + 8);
    let mut push = |name: &str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(seq);
        seq += 1;
        out.push(named_event(name, &data));
    };
    let running = response_object(model, "in_progress", json!([]), None);
    push("response.created", json!({ "response": running }));
    push("response.in_progress", json!({ "response": running }));
    push(
        "response.output_item.added",
        json!({ "output_index": 0, "item": message_item(None) }),
    );
    let at = json!({ "item_id": MESSAGE_ID, "output_index": 0, "content_index": 0 });
    let with = |extra: Value| {
        let mut v = at.clone();
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v
    };
    push(
        "response.content_part.added",
        with(json!({ "part": text_part("") })),
    );
    for d in deltas {
        push(
            "response.output_text.delta",
            with(json!({ "delta": d, "logprobs": [] })),
        );
    }
    push(
        "response.output_text.done",
        with(json!({ "text": text, "logprobs": [] })),
    );
    push(
        "response.content_part.done",
        with(json!({ "part": text_part(&text) })),
    );
    push(
        "response.output_item.done",
        json!({ "output_index": 0, "item": message_item(Some(&text)) }),
    );
    push(
        "response.completed",
        json!({ "response": responses_json(model, &text, usage) }),
    );
    out
}

/// An `error` event (what the API sends when a stream fails), numbered 0 so it can be first.
pub fn responses_error_event(code: &str, message: &str) -> String {
    named_event(
        "error",
        &json!({ "type": "error", "code": code, "message": message, "param": null,
                  "sequence_number": 0 }),
    )
}

/// A `response.failed` event carrying a failed response with this error, numbered 0.
pub fn responses_failed_event(model: &str, code: &str, message: &str) -> String {
    let mut response = response_object(model, "failed", json!([]), None);
    response["error"] = json!({ "code": code, "message": message });
    named_event(
        "response.failed",
        &json!({ "type": "response.failed", "sequence_number": 0, "response": response }),
    )
}

/// `POST /v1/responses`.
pub(crate) async fn create(
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
        return answer::cached_json(&shared, "responses", model, || {
            responses_json(model, DEFAULT_TEXT, DEFAULT_USAGE)
        });
    }
    let spec = StreamSpec {
        route: "responses",
        model,
        flag: false,
        content_type: "text/event-stream; charset=utf-8",
    };
    answer::stream(&shared, knobs, &spec, |d| {
        responses_events(model, d, DEFAULT_USAGE)
    })
}

/// `GET /v1/responses/{id}`: the default response under the asked id.
pub(crate) async fn get(Path(id): Path<String>) -> Response {
    let mut r = responses_json(DEFAULT_MODEL, DEFAULT_TEXT, DEFAULT_USAGE);
    r["id"] = json!(id);
    json_response(200, &r)
}

/// `DELETE /v1/responses/{id}`.
pub(crate) async fn delete(Path(id): Path<String>) -> Response {
    json_response(
        200,
        &json!({ "id": id, "object": "response", "deleted": true }),
    )
}

/// `POST /v1/responses/{id}/cancel`: the response, now cancelled.
pub(crate) async fn cancel(Path(id): Path<String>) -> Response {
    let mut r = response_object(DEFAULT_MODEL, "cancelled", json!([]), None);
    r["id"] = json!(id);
    r["background"] = json!(true);
    json_response(200, &r)
}

/// `GET /v1/responses/{id}/input_items`: one user message.
pub(crate) async fn input_items(Path(id): Path<String>) -> Response {
    let item_id = format!("msg_in_{}", id.trim_start_matches("resp_"));
    json_response(
        200,
        &json!({
            "object": "list",
            "data": [{
                "id": item_id, "type": "message", "role": "user", "status": "completed",
                "content": [{ "type": "input_text", "text": "Hello" }],
            }],
            "first_id": item_id,
            "last_id": item_id,
            "has_more": false,
        }),
    )
}

/// `POST /v1/responses/input_tokens`.
pub(crate) async fn input_tokens() -> Response {
    json_response(
        200,
        &json!({ "object": "response.input_tokens", "input_tokens": COUNT_TOKENS }),
    )
}

/// `POST /v1/responses/compact`: a compaction item standing for the whole conversation.
pub(crate) async fn compact(body: Bytes) -> Response {
    if let Err(e) = Head::parse(&body) {
        return answer::bad_request(openai_error, &e);
    }
    json_response(
        200,
        &json!({
            "id": "resp_fake_compact000000000001",
            "object": "response.compaction",
            "created_at": FAKE_CREATED,
            "output": [{
                "id": "cmp_fake000000000000000001",
                "type": "compaction",
                "encrypted_content": "ZmFrZS1jb21wYWN0ZWQtY29udGV4dA",
            }],
            "usage": DEFAULT_USAGE.responses_json(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(event: &str) -> Value {
        let line = event
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("event has data");
        serde_json::from_str(line).expect("data is JSON")
    }

    #[test]
    fn stream_is_numbered_and_ends_completed() {
        let events = responses_sse("m", DEFAULT_TEXT, DEFAULT_USAGE);
        assert_eq!(events.len(), 8 + 5);
        for (i, e) in events.iter().enumerate() {
            let name = e.lines().next().and_then(|l| l.strip_prefix("event: "));
            let d = data(e);
            assert_eq!(d["sequence_number"], json!(i), "event {i}");
            assert_eq!(name, d["type"].as_str(), "event {i}");
        }
        let last = data(events.last().expect("has events"));
        assert_eq!(last["type"], "response.completed");
        assert_eq!(
            last["response"]["usage"]["input_tokens_details"]["cached_tokens"],
            32
        );
        assert_eq!(
            last["response"]["output"][0]["content"][0]["text"],
            DEFAULT_TEXT
        );
    }
}
