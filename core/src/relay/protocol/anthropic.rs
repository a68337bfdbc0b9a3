//! Anthropic Messages, whole and streamed. A stream is named events: `message_start` (model and
//! the prompt-side usage), `content_block_*`, `ping`, `message_delta` (final `output_tokens`, and
//! on newer API versions cumulative input and cache counts), `message_stop` (the proper end), and
//! `error`. The raw usage of a stream is `message_start.message.usage` with every non-null member
//! of `message_delta.usage` laid over it, so the record keeps one object with the final counts.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::observed::{ErrorMember, StreamError};
use super::sse::SseEvent;
use super::stream::{Effect, Progress, event_type};
use super::{Observed, Protocol, skim};
use crate::usage::RawUsage;

/// The members of a message (or an error body) that accounting reads.
#[derive(Debug, Deserialize)]
struct Message<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<ErrorMember<'a>>,
}

#[derive(Debug, Deserialize)]
struct MessageStart<'a> {
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
}

#[derive(Debug, Deserialize)]
struct MessageDelta<'a> {
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
struct ErrorEvent<'a> {
    #[serde(borrow, default)]
    error: Option<ErrorMember<'a>>,
}

/// Reads a whole Messages answer (or an Anthropic error body): from its ends when they
/// suffice ([`skim::answer`]), else the whole text.
pub(crate) fn observe_json(body: &[u8]) -> Observed {
    skim::answer(Protocol::Messages, body).unwrap_or_else(|| read_whole(body))
}

/// Reads `model`, `usage`, `type` and `error` by parsing the whole answer (skipping the rest).
fn read_whole(body: &[u8]) -> Observed {
    let mut observed = Observed::default();
    let Ok(message) = serde_json::from_slice::<Message<'_>>(body) else {
        return observed;
    };
    observed.note_model(message.model);
    observed.set_raw_usage(Protocol::Messages, message.usage);
    let is_error = message.kind.as_deref() == Some("error");
    match message.error {
        Some(error) => observed.error = Some(error.into_stream_error("error")),
        None if is_error => {
            observed.error = Some(StreamError {
                kind: "error".into(),
                message: String::new(),
            });
        }
        None => observed.completed = true,
    }
    observed
}

/// Handles one Messages stream event.
pub(crate) fn on_event(progress: &mut Progress, event: &SseEvent) -> Effect {
    let kind = event_type(event);
    let observed = &mut progress.observed;
    match &kind[..] {
        b"content_block_delta" => Effect {
            content: true,
            ..Effect::default()
        },
        b"message_start" => {
            if let Ok(MessageStart {
                message: Some(message),
            }) = serde_json::from_slice::<MessageStart<'_>>(event.data)
            {
                observed.note_model(message.model);
                merge_usage(&mut observed.raw_usage, message.usage);
            }
            Effect {
                preamble: true,
                ..Effect::default()
            }
        }
        b"ping" => Effect {
            preamble: true,
            ..Effect::default()
        },
        b"message_delta" => {
            if let Ok(delta) = serde_json::from_slice::<MessageDelta<'_>>(event.data) {
                merge_usage(&mut observed.raw_usage, delta.usage);
            }
            Effect::default()
        }
        b"message_stop" => {
            observed.completed = true;
            Effect {
                completed: true,
                ..Effect::default()
            }
        }
        b"error" => {
            let error = serde_json::from_slice::<ErrorEvent<'_>>(event.data)
                .ok()
                .and_then(|event| event.error)
                .map_or_else(
                    || StreamError {
                        kind: "error".into(),
                        message: String::new(),
                    },
                    |error| error.into_stream_error("error"),
                );
            observed.error = Some(error);
            Effect {
                error: true,
                ..Effect::default()
            }
        }
        _ => Effect::default(),
    }
}

/// Lays the non-null members of `update` over `raw` (keeping `raw`'s key order). Counts are
/// running totals, so a count never goes down: some compatible upstreams send `input_tokens: 0`
/// in `message_delta`, which would erase `message_start`'s prompt. The first usage is kept as it
/// arrived; a merged one is written anew (compact).
fn merge_usage(raw: &mut Option<RawUsage>, update: Option<&RawValue>) {
    let Some(update) = update else {
        return;
    };
    let object = |raw: &str| match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(members)) => Some(members),
        _ => None,
    };
    let merged = raw.as_ref().and_then(|base| {
        let mut base = object(base.text())?;
        for (key, value) in object(update.get())? {
            let lower = match (base.get(&key), &value) {
                (Some(Value::Number(kept)), Value::Number(new)) => new.as_f64() < kept.as_f64(),
                _ => false,
            };
            if !value.is_null() && !lower {
                base.insert(key, value);
            }
        }
        Some(RawUsage::from(&Value::Object(base)))
    });
    *raw = Some(merged.unwrap_or_else(|| RawUsage::new(update)));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn raw(value: &Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(value).expect("raw")
    }

    #[test]
    fn a_message_is_read_from_its_ends_as_the_whole_reading_would() {
        let message = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"the \"model\": \"y\""}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":2}}"#;
        let skimmed = skim::answer(Protocol::Messages, message).expect("the ends decide");
        assert_eq!(skimmed, read_whole(message));
        assert_eq!(skimmed.upstream_model.as_deref(), Some("claude-x"));
        assert_eq!(skimmed.usage.map(|u| u.input_tokens), Some(15));

        let error =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(skim::answer(Protocol::Messages, error), None);
        let observed = observe_json(error);
        assert_eq!(
            observed.error.map(|e| e.kind).as_deref(),
            Some("overloaded_error")
        );
        assert!(!observed.completed);
    }

    #[test]
    fn a_count_the_delta_gives_as_zero_keeps_its_running_total() {
        let start =
            json!({"input_tokens": 472, "cache_read_input_tokens": 100, "output_tokens": 1});
        let mut merged = Some(RawUsage::from(&start));
        let delta =
            raw(&json!({"input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 42}));
        merge_usage(&mut merged, Some(&delta));
        assert_eq!(
            merged.expect("merged").text(),
            r#"{"input_tokens":472,"cache_read_input_tokens":100,"output_tokens":42}"#
        );
    }

    #[test]
    fn merge_overlays_non_null_members_in_place() {
        let start = json!({"input_tokens": 5, "cache_read_input_tokens": 10, "output_tokens": 1});
        let mut merged = Some(RawUsage::from(&start));
        let delta = raw(&json!({"output_tokens": 42, "input_tokens": null, "x": 1}));
        merge_usage(&mut merged, Some(&delta));
        assert_eq!(
            merged.expect("merged").text(),
            r#"{"input_tokens":5,"cache_read_input_tokens":10,"output_tokens":42,"x":1}"#,
            "values overlaid, key order kept"
        );
    }

    #[test]
    fn merge_without_start_takes_the_delta_as_it_arrived() {
        let mut merged = None;
        let delta = RawValue::from_string(r#"{ "output_tokens": 3 }"#.to_owned()).expect("raw");
        merge_usage(&mut merged, Some(&delta));
        assert_eq!(
            merged.as_ref().map(RawUsage::text),
            Some(r#"{ "output_tokens": 3 }"#)
        );
        merge_usage(&mut merged, None);
        assert_eq!(
            merged.as_ref().map(RawUsage::text),
            Some(r#"{ "output_tokens": 3 }"#)
        );
        let not_an_object = raw(&json!(7));
        merge_usage(&mut merged, Some(&not_an_object));
        assert_eq!(merged.as_ref().map(RawUsage::text), Some("7"));
    }
}
