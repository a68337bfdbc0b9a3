//! What the relay does differently for a `codex_oauth` channel: the client's `/v1/responses`
//! path becomes `{base_url}/responses`, the body always asks for `store: false` and a stream,
//! quota headers of every answer are noted (off the hot path), and a client that did not ask for
//! a stream gets one JSON answer collected from the stream: the final `response` object. Also the
//! clear refusal of other protocols when only Codex channels could serve. Headers are set in
//! `upstream::auth::codex`; accounts and tokens live in `crate::codex`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

use super::attempt::{Failure, answer_too_large, first_event_error, next_required_read};
use super::error::RelayError;
use super::protocol::sse::SseDecoder;
use super::protocol::{Protocol, StreamObserver, observe_json};
use super::record::Draft;
use super::routing::select::Request;
use super::routing::table::{ChannelKind, RoutingTable};
use super::upstream::headers;
use super::upstream::transport::UpstreamResponse;
use crate::codex::quota;
use crate::state::AppState;
use crate::store::now_ms;

/// The upstream path of a Codex request: the client's leading `/v1` is dropped, so
/// `/v1/responses` goes to `{base_url}/responses` (the base is `…/backend-api/codex`).
pub fn upstream_path(path: &str) -> String {
    match path.strip_prefix("/v1/") {
        Some(rest) => format!("/{rest}"),
        None => path.to_owned(),
    }
}

/// The body as the Codex backend requires it: `store: false` and `stream: true`, whatever the
/// client sent. A body that is not a JSON object goes as it is (the upstream judges it).
pub fn shape_body(body: Bytes) -> Bytes {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    if map.get("store") == Some(&Value::Bool(false))
        && map.get("stream") == Some(&Value::Bool(true))
    {
        return body;
    }
    map.insert("store".into(), Value::Bool(false));
    map.insert("stream".into(), Value::Bool(true));
    serde_json::to_vec(&map).map_or(body, Bytes::from)
}

/// Notes the quota headers of a Codex answer for the account; never waits.
pub fn note_quota(state: &AppState, credential_id: i64, headers: &HeaderMap) {
    if let Some(quota) = quota::from_headers(headers, now_ms()) {
        state.codex.quota.note(credential_id, quota);
    }
}

/// The explicit wait, in seconds, of a Codex usage-limit answer (see
/// [`quota::usage_limit_wait`]).
pub fn usage_limit_wait(status: u16, headers: &HeaderMap, body: &[u8]) -> Option<u64> {
    quota::usage_limit_wait(status, headers, body, now_ms())
}

/// When no channel serves the request and the model is bound (for this token) only to Codex
/// channels, which speak Responses only: a 400 that says so, instead of a vague "no channel".
pub fn protocol_mismatch(table: &RoutingTable, request: &Request<'_>) -> Option<RelayError> {
    if request.protocol == Protocol::Responses {
        return None;
    }
    let model = table.models.get(request.model);
    let mut codex = false;
    for group in &request.token.groups {
        let Some(group) = table.groups.get(group) else {
            continue;
        };
        for channel_id in &group.channels {
            let Some(channel) = table.channels.get(channel_id) else {
                continue;
            };
            let bound = match model {
                Some(model) => {
                    model.bindings.contains_key(channel_id)
                        || (request.passthrough && model.bindings.is_empty())
                }
                None => request.passthrough,
            };
            if !bound {
                continue;
            }
            if channel.kind != ChannelKind::CodexOauth {
                return None;
            }
            codex = true;
        }
    }
    codex.then(|| {
        RelayError::BadRequest(format!(
            "the model `{}` is served here only by Codex (ChatGPT account) channels, which speak \
             the Responses API only; call `POST /v1/responses` instead of the {} API",
            request.model, request.protocol
        ))
    })
}

/// An event of a Codex stream that [`collect`] acts on.
enum Terminal {
    /// `response.completed` or `response.incomplete`: the answer.
    Answer(Value),
    /// `response.failed` or `error`.
    Failed,
    /// `response.output_item.done`: one finished output item and its place in the output.
    ItemDone(u64, Value),
}

fn terminal(name: &[u8], data: &[u8]) -> Option<Terminal> {
    let owned;
    let name = if name.is_empty() {
        // no `event:` line: the type is inside the data
        let value: Value = serde_json::from_slice(data).ok()?;
        owned = value.get("type")?.as_str()?.as_bytes().to_vec();
        &owned[..]
    } else {
        name
    };
    match name {
        b"response.completed" | b"response.incomplete" => {
            let mut value: Value = serde_json::from_slice(data).ok()?;
            Some(Terminal::Answer(value.get_mut("response")?.take()))
        }
        b"response.failed" | b"error" => Some(Terminal::Failed),
        b"response.output_item.done" => {
            let mut value: Value = serde_json::from_slice(data).ok()?;
            let index = value.get("output_index")?.as_u64()?;
            Some(Terminal::ItemDone(index, value.get_mut("item")?.take()))
        }
        _ => None,
    }
}

/// Fills an answer's empty `output` with the items the stream finished. The ChatGPT backend
/// (which stores nothing) often ends with `"output": []`, the items having come only as
/// `response.output_item.done` events: without them a client that asked for one JSON answer
/// would get no text.
fn fill_output(answer: &mut Value, items: BTreeMap<u64, Value>) {
    let empty = answer
        .get("output")
        .is_none_or(|output| output.as_array().is_none_or(Vec::is_empty));
    if empty
        && !items.is_empty()
        && let Some(object) = answer.as_object_mut()
    {
        object.insert(
            "output".to_owned(),
            Value::Array(items.into_values().collect()),
        );
    }
}

/// Reads a whole Codex stream for a client that asked for no stream and answers it with the
/// final `response` object as JSON. Failures before that (an error event, a cut, a timeout) go
/// back to the pipeline, which may fail over: nothing has reached the client yet.
pub async fn collect(
    state: &AppState,
    response: UpstreamResponse,
    mut draft: Draft,
    first_byte_deadline: tokio::time::Instant,
) -> Result<Response, Failure> {
    let mut client_headers = headers::to_client(&response.headers);
    let limit = state.config.routing.max_response_bytes;
    let idle = Duration::from_secs(state.config.limits.idle_timeout_secs);
    let mut upstream = response.body;
    let mut decoder = SseDecoder::new();
    let mut observer = StreamObserver::new(Protocol::Responses);
    let mut read = 0usize;
    let mut items = BTreeMap::new();
    let mut answer = 'read: loop {
        let wait = if read == 0 {
            first_byte_deadline
        } else {
            tokio::time::Instant::now() + idle
        };
        let chunk = next_required_read(
            state,
            &mut upstream,
            wait,
            "the upstream stopped sending its answer",
            "the upstream stream ended before `response.completed`",
        )
        .await?;
        read += chunk.len();
        if read > limit {
            return Err(answer_too_large(limit));
        }
        let outcome = observer.feed(&chunk);
        if outcome.first_content && draft.first_token_ms.is_none() {
            draft.first_token_ms = Some(draft.elapsed_ms());
        }
        decoder.push(&chunk);
        while let Some(event) = decoder.next_event() {
            match terminal(event.event, event.data) {
                Some(Terminal::Answer(answer)) => break 'read answer,
                Some(Terminal::Failed) => return Err(first_event_error(state, observer)),
                Some(Terminal::ItemDone(index, item)) => {
                    items.insert(index, item);
                }
                None => {}
            }
        }
    };
    fill_output(&mut answer, items);
    let body = Bytes::from(serde_json::to_vec(&answer).unwrap_or_default());
    draft.observed = observe_json(Protocol::Responses, &body);
    draft.status_code = 200;
    draft.response_bytes = body.len() as u64;
    if draft.first_token_ms.is_none() {
        draft.first_token_ms = Some(draft.elapsed_ms());
    }
    draft.submit(&state.relay.usage);
    client_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    client_headers.remove(header::CACHE_CONTROL);
    let mut out = Response::new(Body::from(body));
    *out.headers_mut() = client_headers;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_lose_the_client_version() {
        assert_eq!(upstream_path("/v1/responses"), "/responses");
        assert_eq!(upstream_path("/v1/responses/compact"), "/responses/compact");
        assert_eq!(upstream_path("/responses"), "/responses");
    }

    #[test]
    fn bodies_always_stream_and_never_store() {
        let shaped = shape_body(Bytes::from_static(
            br#"{"model":"gpt-5","store":true,"input":"hi"}"#,
        ));
        let value: Value = serde_json::from_slice(&shaped).expect("json");
        assert_eq!(value["store"], false);
        assert_eq!(value["stream"], true);
        assert_eq!(value["input"], "hi");
        let keys: Vec<_> = value.as_object().expect("object").keys().cloned().collect();
        assert_eq!(keys, ["model", "store", "input", "stream"], "order kept");
        let untouched = Bytes::from_static(br#"{"store":false,"stream":true}"#);
        assert_eq!(shape_body(untouched.clone()), untouched);
        assert_eq!(
            shape_body(Bytes::from_static(b"[1]")),
            Bytes::from_static(b"[1]")
        );
    }

    #[test]
    fn an_empty_output_is_filled_from_the_finished_items_in_order() {
        let items = BTreeMap::from([(1, json!({"id": "b"})), (0, json!({"id": "a"}))]);
        let mut empty = json!({"id": "resp_1", "output": []});
        fill_output(&mut empty, items.clone());
        assert_eq!(empty["output"], json!([{"id": "a"}, {"id": "b"}]));
        let mut missing = json!({"id": "resp_1"});
        fill_output(&mut missing, items.clone());
        assert_eq!(missing["output"][1]["id"], "b");
        let mut full = json!({"output": [{"id": "kept"}]});
        fill_output(&mut full, items);
        assert_eq!(
            full["output"],
            json!([{"id": "kept"}]),
            "the answer's own output wins"
        );
    }

    #[test]
    fn terminal_events_are_found_with_or_without_names() {
        let completed =
            br#"{"type":"response.completed","response":{"id":"resp_1","status":"completed"}}"#;
        assert!(matches!(
            terminal(b"response.completed", completed),
            Some(Terminal::Answer(v)) if v["id"] == "resp_1"
        ));
        assert!(matches!(
            terminal(b"", completed),
            Some(Terminal::Answer(_))
        ));
        assert!(matches!(
            terminal(b"response.failed", b"{}"),
            Some(Terminal::Failed)
        ));
        assert!(terminal(b"response.output_text.delta", b"{}").is_none());
        assert!(matches!(
            terminal(
                b"response.output_item.done",
                br#"{"output_index":1,"item":{"id":"msg_1"}}"#
            ),
            Some(Terminal::ItemDone(1, item)) if item["id"] == "msg_1"
        ));
        assert!(terminal(b"", b"not json").is_none());
    }
}
