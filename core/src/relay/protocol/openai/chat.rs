//! Chat Completions streams: unnamed events of `chat.completion.chunk` JSON ending with
//! `data: [DONE]`. Usage arrives in a last chunk (`choices: []`) when
//! `stream_options.include_usage` is on, which the relay forces; every other chunk says
//! `"usage": null` or nothing. Errors from compatible servers arrive as `{"error": {...}}`.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::relay::protocol::observed::{ErrorMember, NonEmpty};
use crate::relay::protocol::scan::{ERROR, USAGE, has_object};
use crate::relay::protocol::sse::SseEvent;
use crate::relay::protocol::stream::{Effect, Progress};
use crate::usage::RawUsage;

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
