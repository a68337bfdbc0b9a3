//! Recorded-shape fixtures (`tests/fixtures/{openai,anthropic,gemini}`) through the public API:
//! every normalised field, the verbatim usage object, and the stream properties the relay relies
//! on (any chunking gives the same result, CRLF, cuts, errors first, unknown things ignored).
//! This file holds the fixtures and helpers; the tests are grouped in the files below.

mod answers;
mod chunking;
mod faults;
mod streams;

use pretty_assertions::assert_eq;
use serde_json::Value;

use super::{FeedOutcome, Observed, Protocol, StreamObserver};
use crate::usage::{RawUsage, TokenUsage};

pub(super) const RESPONSES_JSON: &str =
    include_str!("../../../../../tests/fixtures/openai/responses.json");
pub(super) const RESPONSES_SSE: &str =
    include_str!("../../../../../tests/fixtures/openai/responses.sse");
pub(super) const CHAT_JSON: &str = include_str!("../../../../../tests/fixtures/openai/chat.json");
pub(super) const CHAT_SSE: &str = include_str!("../../../../../tests/fixtures/openai/chat.sse");
pub(super) const EMBEDDINGS_JSON: &str =
    include_str!("../../../../../tests/fixtures/openai/embeddings.json");
pub(super) const MESSAGES_JSON: &str =
    include_str!("../../../../../tests/fixtures/anthropic/messages.json");
pub(super) const MESSAGES_SSE: &str =
    include_str!("../../../../../tests/fixtures/anthropic/messages.sse");
pub(super) const GENERATE_JSON: &str =
    include_str!("../../../../../tests/fixtures/gemini/generate.json");
pub(super) const GEMINI_SSE: &str = include_str!("../../../../../tests/fixtures/gemini/stream.sse");
pub(super) const GEMINI_ARRAY_JSON: &str =
    include_str!("../../../../../tests/fixtures/gemini/stream_array.json");

/// The four stream fixtures with their protocol.
pub(super) const STREAMS: [(Protocol, &str); 4] = [
    (Protocol::Responses, RESPONSES_SSE),
    (Protocol::Chat, CHAT_SSE),
    (Protocol::Messages, MESSAGES_SSE),
    (Protocol::Gemini, GEMINI_SSE),
];

pub(super) fn usage(
    input: u64,
    cached: u64,
    write: u64,
    output: u64,
    reasoning: u64,
) -> TokenUsage {
    TokenUsage {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_tokens: write,
        output_tokens: output,
        reasoning_tokens: reasoning,
    }
}

pub(super) fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

/// Compares two JSON values including key order (both sides keep it with `preserve_order`).
pub(super) fn assert_verbatim(actual: Option<&RawUsage>, expected: &Value) {
    let actual: Value =
        serde_json::from_str(actual.expect("raw usage present").text()).expect("raw usage is JSON");
    assert_eq!(&actual, expected);
    assert_eq!(
        serde_json::to_string(&actual).expect("serialises"),
        serde_json::to_string(expected).expect("serialises"),
        "key order kept"
    );
}

/// Feeds `chunks` and returns the result with the outcome of every feed.
pub(super) fn observe<'a>(
    protocol: Protocol,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Observed, Vec<FeedOutcome>) {
    let mut observer = StreamObserver::new(protocol);
    let outcomes = chunks
        .into_iter()
        .map(|chunk| observer.feed(chunk))
        .collect();
    (observer.finish(), outcomes)
}

pub(super) fn observe_whole(protocol: Protocol, stream: &str) -> Observed {
    observe(protocol, [stream.as_bytes()]).0
}

/// The byte offsets at which each event of `stream` is complete, in order: the first byte of
/// its blank line (a `\n`, or the `\r` of a `\r\n`, which ends a blank line whatever follows).
pub(super) fn event_ends(stream: &str) -> Vec<usize> {
    let separator = if stream.contains("\r\n\r\n") {
        "\r\n\r\n"
    } else {
        "\n\n"
    };
    let blank_line_at = separator.len() / 2;
    stream
        .match_indices(separator)
        .map(|(at, _)| at + blank_line_at)
        .collect()
}
