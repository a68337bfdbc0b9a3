//! Anthropic Messages: default answers of `/v1/messages` and `/v1/messages/count_tokens`, and
//! public builders of the message and its event stream.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::answer::{self, Head, Knobs, StreamSpec};
use crate::errors::anthropic_error;
use crate::script::json_response;
use crate::server::Shared;
use crate::sse::named_event;
use crate::usage::{COUNT_TOKENS, DEFAULT_MODEL, DEFAULT_TEXT, DEFAULT_USAGE, Usage, split_deltas};

/// `id` of every default message.
pub const MESSAGE_ID: &str = "msg_01FakeUpstream000000001";

/// The non-streaming message.
pub fn messages_json(model: &str, text: &str, usage: Usage) -> Value {
    json!({
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{ "type": "text", "text": text }],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": usage.anthropic_json(),
    })
}

/// The stream as raw events: `message_start` (input and cache counts, `output_tokens: 1`),
/// `content_block_start`, `ping`, one `content_block_delta` per word, `content_block_stop`,
/// `message_delta` (final `output_tokens`), `message_stop`.
pub fn messages_sse(model: &str, text: &str, usage: Usage) -> Vec<String> {
    messages_events(model, &split_deltas(text), usage)
}

pub(crate) fn messages_events(model: &str, deltas: &[String], usage: Usage) -> Vec<String> {
    let mut start_usage = usage.anthropic_json();
    start_usage["output_tokens"] = json!(1);
    let mut out = Vec::with_capacity(deltas.len() + 6);
    out.push(named_event(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": MESSAGE_ID, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage,
            },
        }),
    ));
    out.push(named_event(
        "content_block_start",
        &json!({ "type": "content_block_start", "index": 0,
                 "content_block": { "type": "text", "text": "" } }),
    ));
    out.push(named_event("ping", &json!({ "type": "ping" })));
    for d in deltas {
        out.push(named_event(
            "content_block_delta",
            &json!({ "type": "content_block_delta", "index": 0,
                     "delta": { "type": "text_delta", "text": d } }),
        ));
    }
    out.push(named_event(
        "content_block_stop",
        &json!({ "type": "content_block_stop", "index": 0 }),
    ));
    out.push(named_event(
        "message_delta",
        &json!({ "type": "message_delta",
                 "delta": { "stop_reason": "end_turn", "stop_sequence": null },
                 "usage": { "output_tokens": usage.output } }),
    ));
    out.push(named_event(
        "message_stop",
        &json!({ "type": "message_stop" }),
    ));
    out
}

/// An `error` event, e.g. `error_event("overloaded_error", "Overloaded")` as the first event.
pub fn error_event(error_type: &str, message: &str) -> String {
    named_event(
        "error",
        &json!({ "type": "error", "error": { "type": error_type, "message": message } }),
    )
}

/// `POST /v1/messages`.
pub(crate) async fn messages(
    State(shared): State<Arc<Shared>>,
    Extension(knobs): Extension<Knobs>,
    body: Bytes,
) -> Response {
    let head = match Head::parse(&body) {
        Ok(h) => h,
        Err(e) => return answer::bad_request(anthropic_error, &e),
    };
    let model = head.model_or(DEFAULT_MODEL);
    if !head.streaming() {
        return answer::cached_json(&shared, "messages", model, || {
            messages_json(model, DEFAULT_TEXT, DEFAULT_USAGE)
        });
    }
    let spec = StreamSpec {
        route: "messages",
        model,
        flag: false,
        content_type: "text/event-stream; charset=utf-8",
    };
    answer::stream(&shared, knobs, &spec, |d| {
        messages_events(model, d, DEFAULT_USAGE)
    })
}

/// `POST /v1/messages/count_tokens`.
pub(crate) async fn count_tokens(body: Bytes) -> Response {
    if let Err(e) = Head::parse(&body) {
        return answer::bad_request(anthropic_error, &e);
    }
    json_response(200, &json!({ "input_tokens": COUNT_TOKENS }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_has_the_protocol_order() {
        let names: Vec<String> = messages_sse("m", "a b", DEFAULT_USAGE)
            .iter()
            .filter_map(|e| e.lines().next()?.strip_prefix("event: ").map(str::to_owned))
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let start = &messages_sse("m", "a", DEFAULT_USAGE)[0];
        assert!(start.contains("\"cache_read_input_tokens\":32"), "{start}");
        assert!(start.contains("\"input_tokens\":80"), "{start}");
    }
}
