//! Gemini native answers: `generateContent` (one JSON object), `streamGenerateContent` without
//! `alt=sse` (one JSON array of such objects) and with it (unnamed SSE events, one object each).
//! Any chunk may carry `usageMetadata`; the last one holds the final counts. The stream has no
//! terminator: it is complete once a candidate carries a `finishReason`, or once
//! `promptFeedback.blockReason` says the prompt was refused (that chunk has no candidates). Errors come as
//! `{"error": {code, message, status}}`.
//!
//! Streams report usage in every chunk, so it is not parsed per chunk: the observer copies the
//! newest chunk that has it into a reused buffer and parses that one at the end.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::observed::{ErrorMember, NonEmpty};
use super::scan::{ERROR, FINISH_REASON, USAGE_METADATA, has_non_null, has_object};
use super::sse::SseEvent;
use super::stream::{Effect, Progress};
use super::{Observed, Protocol};
use crate::usage::RawUsage;

/// The members of a `GenerateContentResponse` (or an error body) that accounting reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chunk<'a> {
    #[serde(default)]
    candidates: Option<Vec<Candidate<'a>>>,
    #[serde(borrow, default)]
    usage_metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    model_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error: Option<ErrorMember<'a>>,
    #[serde(borrow, default)]
    prompt_feedback: Option<PromptFeedback<'a>>,
}

/// Why a prompt was refused: a blocked prompt gets one chunk with this and no candidates, and
/// that is the whole (complete) answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback<'a> {
    #[serde(borrow, default)]
    block_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate<'a> {
    #[serde(default)]
    content: Option<Content>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct Content {
    /// Text, function call and thought parts all count as content.
    #[serde(default)]
    parts: NonEmpty,
}

impl Chunk<'_> {
    fn has_content(&self) -> bool {
        self.candidates.iter().flatten().any(|candidate| {
            candidate
                .content
                .as_ref()
                .is_some_and(|content| content.parts.0)
        })
    }

    fn has_finish_reason(&self) -> bool {
        self.candidates
            .iter()
            .flatten()
            .any(|candidate| candidate.finish_reason.is_some())
    }
}

/// Applies one chunk to `observed`; returns what it did.
fn apply(observed: &mut Observed, chunk: Chunk<'_>) -> Effect {
    let mut effect = Effect {
        content: chunk.has_content(),
        ..Effect::default()
    };
    let blocked = chunk
        .prompt_feedback
        .as_ref()
        .is_some_and(|feedback| feedback.block_reason.is_some());
    if chunk.has_finish_reason() || blocked {
        observed.completed = true;
        effect.completed = true;
    }
    observed.note_model(chunk.model_version);
    if let Some(usage) = chunk.usage_metadata {
        observed.raw_usage = Some(RawUsage::new(usage));
    }
    if let Some(error) = chunk.error {
        observed.error = Some(error.into_stream_error("error"));
        effect.error = true;
    }
    effect
}

/// Reads a whole Gemini answer (`generateContent`, `countTokens`, `embedContent`). The JSON
/// array `streamGenerateContent` answers without `alt=sse` is read as a stream instead
/// ([`super::StreamObserver::json_array`]).
pub(crate) fn observe_json(body: &[u8]) -> Observed {
    let mut observed = Observed::default();
    let Ok(chunk) = serde_json::from_slice::<Chunk<'_>>(body) else {
        return observed;
    };
    apply(&mut observed, chunk);
    // a whole JSON answer is complete unless it reports an error; `finishReason` is not
    // required here (`countTokens`, `embedContent` and blocked prompts have none)
    observed.completed = observed.error.is_none();
    observed.count_usage(Protocol::Gemini);
    observed
}

/// The per-stream state: the newest chunk with `usageMetadata` not parsed yet (empty: none).
#[derive(Debug, Default)]
pub(crate) struct GeminiStream {
    unparsed_usage: Vec<u8>,
}

impl GeminiStream {
    /// Handles one Gemini stream event.
    pub(crate) fn on_event(&mut self, progress: &mut Progress, event: &SseEvent) -> Effect {
        let data = event.data;
        let worth_parsing = !progress.content_seen
            || has_non_null(data, &FINISH_REASON)
            || has_object(data, &ERROR);
        if !worth_parsing {
            if has_object(data, &USAGE_METADATA) {
                self.unparsed_usage.clear();
                self.unparsed_usage.extend_from_slice(data);
            }
            return Effect::default();
        }
        let Ok(chunk) = serde_json::from_slice::<Chunk<'_>>(data) else {
            return Effect::default();
        };
        if chunk.usage_metadata.is_some() {
            // this chunk is newer than any kept one
            self.unparsed_usage.clear();
        }
        apply(&mut progress.observed, chunk)
    }

    /// Parses the kept chunk, if any, at the end of the stream.
    pub(crate) fn finish(&mut self, progress: &mut Progress) {
        if self.unparsed_usage.is_empty() {
            return;
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct UsageOnly<'a> {
            #[serde(borrow, default)]
            usage_metadata: Option<&'a RawValue>,
        }
        if let Ok(UsageOnly {
            usage_metadata: Some(usage),
        }) = serde_json::from_slice(&self.unparsed_usage)
        {
            progress.observed.raw_usage = Some(RawUsage::new(usage));
        }
    }
}
