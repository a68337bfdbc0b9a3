//! Chat Completions streams: unnamed events of `chat.completion.chunk` JSON ending with
//! `data: [DONE]`. Usage arrives in a last chunk (`choices: []`) when
//! `stream_options.include_usage` is on, which the relay forces; every other chunk says
//! `"usage": null` or nothing. Errors from compatible servers arrive as `{"error": {...}}`.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::relay::protocol::observed::{ErrorMember, NonEmpty};
use crate::relay::protocol::scan::{CHOICES, ERROR, USAGE, has_empty_array, has_object};
use crate::relay::protocol::sse::SseEvent;
use crate::relay::protocol::stream::{Effect, Progress};
use crate::usage::RawUsage;

/// Whole events of a Chat stream without its usage-only chunk (`"choices": []` with a `usage`
/// object), which Realms asked the upstream for on behalf of a client that did not ask for
/// usage: such a client does not expect a chunk without choices (code reading `choices[0]` of
/// every chunk fails on it). Other events, and their bytes, are kept as they came.
pub(crate) fn without_usage_chunk(events: bytes::Bytes) -> bytes::Bytes {
    if !has_object(&events, &USAGE) {
        return events;
    }
    let mut kept: Vec<(usize, usize)> = Vec::new();
    let mut dropped = false;
    let (mut start, mut line_start, mut at) = (0, 0, 0);
    while let Some(offset) = memchr::memchr2(b'\n', b'\r', &events[at..]) {
        let end = at + offset;
        let next = if events[end] == b'\r' && events.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
        if end == line_start {
            // a blank line: the event from `start` ends here
            let event = &events[start..next];
            if has_object(event, &USAGE) && has_empty_array(event, &CHOICES) {
                dropped = true;
            } else {
                kept.push((start, next));
            }
            start = next;
        }
        line_start = next;
        at = next;
    }
    if !dropped {
        return events;
    }
    kept.push((start, events.len()));
    let mut out = bytes::BytesMut::with_capacity(events.len());
    for (from, to) in kept {
        out.extend_from_slice(&events[from..to]);
    }
    out.freeze()
}

/// The end-of-stream sentinel's data.
const DONE: &[u8] = b"[DONE]";

#[derive(Debug, Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<ErrorMember<'a>>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
}

/// The delta members that count as content. `reasoning_content` (DeepSeek, Qwen) and
/// `reasoning` / `reasoning_details` (OpenRouter, vLLM) are the compatible servers' reasoning.
#[derive(Debug, Deserialize)]
struct Delta {
    #[serde(default)]
    content: NonEmpty,
    #[serde(default)]
    refusal: NonEmpty,
    #[serde(default)]
    tool_calls: NonEmpty,
    #[serde(default)]
    function_call: NonEmpty,
    #[serde(default)]
    reasoning_content: NonEmpty,
    #[serde(default)]
    reasoning: NonEmpty,
    #[serde(default)]
    reasoning_details: NonEmpty,
}

impl Delta {
    fn has_content(&self) -> bool {
        [
            self.content,
            self.refusal,
            self.tool_calls,
            self.function_call,
            self.reasoning_content,
            self.reasoning,
            self.reasoning_details,
        ]
        .iter()
        .any(|member| member.0)
    }
}

/// Handles one Chat stream event.
pub(crate) fn on_event(progress: &mut Progress, event: &SseEvent) -> Effect {
    let data = event.data.trim_ascii();
    if data == DONE {
        progress.observed.completed = true;
        return Effect {
            completed: true,
            ..Effect::default()
        };
    }
    // Until the first content every chunk is read (there are one or two, and they carry the
    // model); after it only chunks that carry a usage or error object are.
    let worth_parsing =
        !progress.content_seen || has_object(data, &USAGE) || has_object(data, &ERROR);
    if !worth_parsing {
        return Effect::default();
    }
    let Ok(chunk) = serde_json::from_slice::<Chunk<'_>>(data) else {
        return Effect::default();
    };
    let observed = &mut progress.observed;
    observed.note_model(chunk.model);
    if let Some(usage) = chunk.usage {
        observed.raw_usage = Some(RawUsage::new(usage));
    }
    let mut effect = Effect::default();
    if let Some(error) = chunk.error {
        observed.error = Some(error.into_stream_error("error"));
        effect.error = true;
    }
    effect.content = chunk
        .choices
        .iter()
        .flatten()
        .filter_map(|choice| choice.delta.as_ref())
        .any(Delta::has_content);
    effect
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn the_usage_only_chunk_is_left_out_and_the_rest_kept_byte_for_byte() {
        let content =
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n";
        let usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n";
        let done = "data: [DONE]\n\n";
        let whole = Bytes::from(format!("{content}{usage}{done}"));
        assert_eq!(without_usage_chunk(whole), format!("{content}{done}"));
        let crlf = Bytes::from(format!("{content}{usage}{done}").replace('\n', "\r\n"));
        assert_eq!(
            without_usage_chunk(crlf),
            format!("{content}{done}").replace('\n', "\r\n")
        );
        // usage on a chunk with choices (some servers send it so) stays
        let with_choices = Bytes::from(
            "data: {\"choices\":[{\"index\":0,\"delta\":{}}],\"usage\":{\"prompt_tokens\":3}}\n\n",
        );
        assert_eq!(without_usage_chunk(with_choices.clone()), with_choices);
        // an unfinished event at the end goes as it is
        let cut = Bytes::from(format!("{content}data: {{\"choices\":[],\"usage\":{{"));
        assert_eq!(without_usage_chunk(cut.clone()), cut);
    }
}
