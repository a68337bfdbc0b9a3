//! Each stream fixture fed whole: every normalised field and the verbatim usage object.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;

#[test]
fn responses_stream() {
    let observed = observe_whole(Protocol::Responses, RESPONSES_SSE);
    assert_eq!(observed.usage, Some(usage(10240, 9984, 0, 321, 192)));
    assert_verbatim(
        observed.raw_usage.as_ref(),
        &json!({"input_tokens": 10240, "input_tokens_details": {"cached_tokens": 9984},
                "output_tokens": 321, "output_tokens_details": {"reasoning_tokens": 192},
                "total_tokens": 10561}),
    );
    assert_eq!(observed.upstream_model.as_deref(), Some("gpt-5-codex"));
    assert!(observed.completed);
    assert_eq!(observed.error, None);
}

#[test]
fn chat_stream() {
    let observed = observe_whole(Protocol::Chat, CHAT_SSE);
    assert_eq!(observed.usage, Some(usage(19, 0, 0, 1290, 1216)));
    assert_verbatim(
        observed.raw_usage.as_ref(),
        &json!({"prompt_tokens": 19, "completion_tokens": 1290, "total_tokens": 1309,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 1216, "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}),
    );
    assert_eq!(
        observed.upstream_model.as_deref(),
        Some("o4-mini-2025-04-16")
    );
    assert!(observed.completed);
    assert_eq!(observed.error, None);
}

#[test]
fn messages_stream_merges_start_and_delta_usage() {
    let observed = observe_whole(Protocol::Messages, MESSAGES_SSE);
    // whole prompt = 9 + 20 480 read + 512 written; output from `message_delta`
    assert_eq!(observed.usage, Some(usage(21001, 20480, 512, 187, 0)));
    assert_verbatim(
        observed.raw_usage.as_ref(),
        &json!({"input_tokens": 9, "cache_creation_input_tokens": 512,
                "cache_read_input_tokens": 20480,
                "cache_creation": {"ephemeral_5m_input_tokens": 512, "ephemeral_1h_input_tokens": 0},
                "output_tokens": 187, "service_tier": "standard"}),
    );
    assert_eq!(
        observed.upstream_model.as_deref(),
        Some("claude-sonnet-4-5-20250929")
    );
    assert!(observed.completed);
    assert_eq!(observed.error, None);
}

#[test]
fn gemini_stream_last_usage_wins() {
    let observed = observe_whole(Protocol::Gemini, GEMINI_SSE);
    assert_eq!(observed.usage, Some(usage(11, 0, 0, 157, 133)));
    assert_verbatim(
        observed.raw_usage.as_ref(),
        &json!({"promptTokenCount": 11, "candidatesTokenCount": 24, "totalTokenCount": 168,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
                "thoughtsTokenCount": 133}),
    );
    assert_eq!(observed.upstream_model.as_deref(), Some("gemini-2.5-flash"));
    assert!(observed.completed);
    assert_eq!(observed.error, None);
}

/// `streamGenerateContent` without `alt=sse`: one JSON array, read element by element.
#[test]
fn gemini_stream_array_json_takes_the_last_usage() {
    let mut observer = StreamObserver::json_array(Protocol::Gemini);
    observer.feed(GEMINI_ARRAY_JSON.as_bytes());
    let observed = observer.finish();
    assert_eq!(observed.usage, Some(usage(11, 0, 0, 157, 133)));
    assert_verbatim(
        observed.raw_usage.as_ref(),
        &parse(GEMINI_ARRAY_JSON)[2]["usageMetadata"],
    );
    assert_eq!(observed.upstream_model.as_deref(), Some("gemini-2.5-flash"));
    assert!(observed.completed);
}

/// A refused prompt: one chunk with `promptFeedback.blockReason`, no candidates, then the end.
#[test]
fn gemini_stream_of_a_blocked_prompt_is_complete() {
    let stream = "data: {\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},\
                  \"usageMetadata\":{\"promptTokenCount\":9,\"totalTokenCount\":9},\
                  \"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n";
    let observed = observe_whole(Protocol::Gemini, stream);
    assert!(observed.completed);
    assert_eq!(observed.error, None);
    assert_eq!(observed.usage, Some(usage(9, 0, 0, 0, 0)));
    let mut array = StreamObserver::json_array(Protocol::Gemini);
    let outcome = array.feed(
        b"[{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":9}}]",
    );
    assert!(outcome.completed);
}
