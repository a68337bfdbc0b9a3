//! Recorded-shape fixtures (`tests/fixtures/{openai,anthropic,gemini}`) through the public API:
//! every normalised field, the verbatim usage object, and the stream properties the relay relies
//! on (any chunking gives the same result, CRLF, cuts, errors first, unknown things ignored).

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::{FeedOutcome, Observed, Protocol, StreamError, StreamObserver, observe_json};
use crate::usage::TokenUsage;

const RESPONSES_JSON: &str = include_str!("../../../../tests/fixtures/openai/responses.json");
const RESPONSES_SSE: &str = include_str!("../../../../tests/fixtures/openai/responses.sse");
const CHAT_JSON: &str = include_str!("../../../../tests/fixtures/openai/chat.json");
const CHAT_SSE: &str = include_str!("../../../../tests/fixtures/openai/chat.sse");
const EMBEDDINGS_JSON: &str = include_str!("../../../../tests/fixtures/openai/embeddings.json");
const MESSAGES_JSON: &str = include_str!("../../../../tests/fixtures/anthropic/messages.json");
const MESSAGES_SSE: &str = include_str!("../../../../tests/fixtures/anthropic/messages.sse");
const GENERATE_JSON: &str = include_str!("../../../../tests/fixtures/gemini/generate.json");
const GEMINI_SSE: &str = include_str!("../../../../tests/fixtures/gemini/stream.sse");
const GEMINI_ARRAY_JSON: &str = include_str!("../../../../tests/fixtures/gemini/stream_array.json");

/// The four stream fixtures with their protocol.
const STREAMS: [(Protocol, &str); 4] = [
    (Protocol::Responses, RESPONSES_SSE),
    (Protocol::Chat, CHAT_SSE),
    (Protocol::Messages, MESSAGES_SSE),
    (Protocol::Gemini, GEMINI_SSE),
];

fn usage(input: u64, cached: u64, write: u64, output: u64, reasoning: u64) -> TokenUsage {
    TokenUsage {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_tokens: write,
        output_tokens: output,
        reasoning_tokens: reasoning,
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

/// Compares two JSON values including key order (both sides keep it with `preserve_order`).
fn assert_verbatim(actual: Option<&Value>, expected: &Value) {
    let actual = actual.expect("raw usage present");
    assert_eq!(actual, expected);
    assert_eq!(
        serde_json::to_string(actual).expect("serialises"),
        serde_json::to_string(expected).expect("serialises"),
        "key order kept"
    );
}

/// Feeds `chunks` and returns the result with the outcome of every feed.
fn observe<'a>(
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

fn observe_whole(protocol: Protocol, stream: &str) -> Observed {
    observe(protocol, [stream.as_bytes()]).0
}

// ---------------------------------------------------------------- whole JSON answers

#[test]
fn responses_json() {
    let observed = observe_json(Protocol::Responses, RESPONSES_JSON.as_bytes());
    assert_eq!(observed.usage, Some(usage(2380, 2048, 0, 415, 256)));
    assert_verbatim(observed.raw_usage.as_ref(), &parse(RESPONSES_JSON)["usage"]);
    assert_eq!(observed.upstream_model.as_deref(), Some("gpt-5-2025-08-07"));
    assert!(observed.completed);
    assert_eq!(observed.error, None);
}

#[test]
fn chat_json() {
    let observed = observe_json(Protocol::Chat, CHAT_JSON.as_bytes());
    assert_eq!(observed.usage, Some(usage(1117, 1024, 0, 46, 0)));
    assert_verbatim(observed.raw_usage.as_ref(), &parse(CHAT_JSON)["usage"]);
    assert_eq!(
        observed.upstream_model.as_deref(),
        Some("gpt-4o-2024-08-06")
    );
    assert!(observed.completed);
    assert_eq!(observed.error, None);
}

#[test]
fn embeddings_json() {
    let observed = observe_json(Protocol::Embeddings, EMBEDDINGS_JSON.as_bytes());
    assert_eq!(observed.usage, Some(usage(8, 0, 0, 0, 0)));
    assert_verbatim(
        observed.raw_usage.as_ref(),
        &json!({"prompt_tokens": 8, "total_tokens": 8}),
    );
    assert_eq!(
        observed.upstream_model.as_deref(),
        Some("text-embedding-3-small")
    );
    assert!(observed.completed);
}

#[test]
fn messages_json() {
    let observed = observe_json(Protocol::Messages, MESSAGES_JSON.as_bytes());
    // whole prompt = 12 + 24 000 read + 1 800 written
    assert_eq!(observed.usage, Some(usage(25812, 24000, 1800, 503, 0)));
    assert_verbatim(observed.raw_usage.as_ref(), &parse(MESSAGES_JSON)["usage"]);
    assert_eq!(
        observed.upstream_model.as_deref(),
        Some("claude-sonnet-4-5-20250929")
    );
    assert!(observed.completed);
    assert_eq!(observed.error, None);
}

#[test]
fn gemini_generate_json() {
    let observed = observe_json(Protocol::Gemini, GENERATE_JSON.as_bytes());
    // output = 56 candidates + 200 thoughts
    assert_eq!(observed.usage, Some(usage(1234, 1024, 0, 256, 200)));
    assert_verbatim(
        observed.raw_usage.as_ref(),
        &parse(GENERATE_JSON)["usageMetadata"],
    );
    assert_eq!(observed.upstream_model.as_deref(), Some("gemini-2.5-pro"));
    assert!(observed.completed);
}

#[test]
fn gemini_stream_array_json_takes_the_last_usage() {
    let observed = observe_json(Protocol::Gemini, GEMINI_ARRAY_JSON.as_bytes());
    assert_eq!(observed.usage, Some(usage(11, 0, 0, 157, 133)));
    assert_verbatim(
        observed.raw_usage.as_ref(),
        &parse(GEMINI_ARRAY_JSON)[2]["usageMetadata"],
    );
    assert_eq!(observed.upstream_model.as_deref(), Some("gemini-2.5-flash"));
    assert!(observed.completed);
}

#[test]
fn error_bodies_are_errors_not_completions() {
    let cases = [
        (
            Protocol::Chat,
            r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
            "rate_limit_exceeded",
        ),
        (
            Protocol::Responses,
            r#"{"id":"resp_1","object":"response","status":"failed","model":"gpt-5","error":{"code":"server_error","message":"boom"},"usage":null}"#,
            "server_error",
        ),
        (
            Protocol::Messages,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#,
            "overloaded_error",
        ),
        (
            Protocol::Gemini,
            r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#,
            "RESOURCE_EXHAUSTED",
        ),
    ];
    for (protocol, body, kind) in cases {
        let observed = observe_json(protocol, body.as_bytes());
        assert!(!observed.completed, "{protocol}");
        assert_eq!(
            observed.error.map(|e| e.kind).as_deref(),
            Some(kind),
            "{protocol}"
        );
        assert_eq!(observed.usage, None, "{protocol}");
    }
}

#[test]
fn responses_json_incomplete_and_in_progress() {
    let incomplete = r#"{"status":"incomplete","model":"gpt-5","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":5,"output_tokens":16}}"#;
    let observed = observe_json(Protocol::Responses, incomplete.as_bytes());
    assert!(!observed.completed);
    assert_eq!(
        observed.error,
        Some(StreamError {
            kind: "response_incomplete".into(),
            message: "max_output_tokens".into()
        })
    );
    assert_eq!(observed.usage, Some(usage(5, 0, 0, 16, 0)));

    let background = r#"{"id":"resp_1","status":"queued","model":"gpt-5","usage":null}"#;
    let observed = observe_json(Protocol::Responses, background.as_bytes());
    assert!(!observed.completed);
    assert_eq!(observed.error, None);
}

#[test]
fn non_json_answers_observe_nothing() {
    for protocol in Protocol::ALL {
        for body in [
            &b""[..],
            b"<html>502 Bad Gateway</html>",
            b"{\"model\":\"cut",
            b"\xff",
        ] {
            assert_eq!(
                observe_json(protocol, body),
                Observed::default(),
                "{protocol}"
            );
        }
    }
}

// ---------------------------------------------------------------- streams, whole

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

// ---------------------------------------------------------------- streams, chunking

/// The byte offsets at which each event of `stream` is complete (the last byte of its blank
/// line), in order.
fn event_ends(stream: &str) -> Vec<usize> {
    let separator = if stream.contains("\r\n\r\n") {
        "\r\n\r\n"
    } else {
        "\n\n"
    };
    stream
        .match_indices(separator)
        .map(|(at, _)| at + separator.len() - 1)
        .collect()
}

/// Index (among the stream's events) of the first content event of each fixture.
fn first_content_event(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Responses => 4, // the first `response.reasoning_summary_text.delta`
        Protocol::Chat => 1,      // chunk 0 is the role with `content: ""`
        Protocol::Messages => 3,  // after message_start, content_block_start, ping
        Protocol::Gemini => 0,
        Protocol::Embeddings => unreachable!(),
    }
}

#[test]
fn byte_by_byte_matches_whole_and_flags_fire_on_the_right_byte() {
    for (protocol, stream) in STREAMS {
        let whole = observe_whole(protocol, stream);
        let (observed, outcomes) = observe(protocol, stream.as_bytes().chunks(1));
        assert_eq!(observed, whole, "{protocol}");

        let fired = |flag: fn(&FeedOutcome) -> bool| -> Vec<usize> {
            outcomes
                .iter()
                .enumerate()
                .filter(|(_, o)| flag(o))
                .map(|(at, _)| at)
                .collect()
        };
        let ends = event_ends(stream);
        assert_eq!(
            fired(|o| o.first_event),
            vec![ends[0]],
            "{protocol} first event"
        );
        assert_eq!(
            fired(|o| o.first_content),
            vec![ends[first_content_event(protocol)]],
            "{protocol} first content"
        );
        assert_eq!(fired(|o| o.error), Vec::<usize>::new(), "{protocol}");
        assert!(
            fired(|o| o.completed).contains(ends.last().expect("events")),
            "{protocol}"
        );
    }
}

/// A small deterministic generator so the random splits are reproducible without a crate.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

#[test]
fn random_splits_match_whole() {
    let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
    for (protocol, stream) in STREAMS {
        let whole = observe_whole(protocol, stream);
        let bytes = stream.as_bytes();
        let first_content_at = event_ends(stream)[first_content_event(protocol)];
        for round in 0..200 {
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let len = 1 + random.below(if round % 2 == 0 { 7 } else { 300 });
                let end = (at + len).min(bytes.len());
                chunks.push(at..end);
                at = end;
            }
            let (observed, outcomes) = observe(protocol, chunks.iter().map(|r| &bytes[r.clone()]));
            assert_eq!(observed, whole, "{protocol} round {round}");
            let fired: Vec<_> = chunks
                .iter()
                .zip(&outcomes)
                .filter(|(_, outcome)| outcome.first_content)
                .map(|(range, _)| range.clone())
                .collect();
            assert_eq!(fired.len(), 1, "{protocol} round {round}");
            assert!(
                fired[0].contains(&first_content_at),
                "{protocol} round {round}"
            );
        }
    }
}

#[test]
fn every_split_point_of_two_chunks_matches_whole() {
    for (protocol, stream) in STREAMS {
        let whole = observe_whole(protocol, stream);
        let bytes = stream.as_bytes();
        for at in 0..=bytes.len() {
            let (head, tail) = bytes.split_at(at);
            assert_eq!(
                observe(protocol, [head, tail]).0,
                whole,
                "{protocol} split at {at}"
            );
        }
    }
}

#[test]
fn crlf_and_cr_line_endings_observe_the_same() {
    for (protocol, stream) in STREAMS {
        let whole = observe_whole(protocol, stream);
        let lf = stream.replace("\r\n", "\n");
        for converted in [lf.replace('\n', "\r\n"), lf.replace('\n', "\r"), lf.clone()] {
            assert_eq!(observe_whole(protocol, &converted), whole, "{protocol}");
            let bytes = converted.as_bytes();
            assert_eq!(
                observe(protocol, bytes.chunks(1)).0,
                whole,
                "{protocol} byte by byte"
            );
        }
    }
}

// ---------------------------------------------------------------- cuts, errors, unknowns

#[test]
fn a_cut_stream_is_not_completed_and_keeps_what_it_saw() {
    for (protocol, stream) in STREAMS {
        let ends = event_ends(stream);
        // cut just before the last event, and in the middle of the last event's JSON
        let before_last = ends[ends.len() - 2] + 1;
        let mid_last = before_last + (stream.len() - before_last) / 2;
        for cut in [before_last, mid_last] {
            let observed = observe_whole(protocol, &stream[..cut]);
            assert!(!observed.completed, "{protocol} cut at {cut}");
            assert_eq!(observed.error, None, "{protocol}");
            let (model, expected_usage) = match protocol {
                // usage only arrives with `response.completed`; the model came with `created`
                Protocol::Responses => ("gpt-5-codex", None),
                // the usage chunk is the one before `[DONE]`: it survives either cut
                Protocol::Chat => ("o4-mini-2025-04-16", Some(usage(19, 0, 0, 1290, 1216))),
                // `message_delta` is before `message_stop`: the final output is known
                Protocol::Messages => (
                    "claude-sonnet-4-5-20250929",
                    Some(usage(21001, 20480, 512, 187, 0)),
                ),
                // the second chunk's usage: no candidates counted yet, thoughts 133
                Protocol::Gemini => ("gemini-2.5-flash", Some(usage(11, 0, 0, 133, 133))),
                Protocol::Embeddings => unreachable!(),
            };
            assert_eq!(
                observed.upstream_model.as_deref(),
                Some(model),
                "{protocol}"
            );
            assert_eq!(observed.usage, expected_usage, "{protocol} cut at {cut}");
        }
    }
}

#[test]
fn anthropic_cut_after_message_start_keeps_prompt_usage() {
    let cut = &MESSAGES_SSE[..event_ends(MESSAGES_SSE)[0] + 1];
    let observed = observe_whole(Protocol::Messages, cut);
    assert!(!observed.completed);
    // prompt-side counts are final at `message_start`; output is the provisional 1
    assert_eq!(observed.usage, Some(usage(21001, 20480, 512, 1, 0)));
}

#[test]
fn an_error_as_first_event_is_reported_for_each_protocol() {
    let cases = [
        (
            Protocol::Responses,
            "event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"Rate limit reached for gpt-5\",\"param\":null,\"sequence_number\":0}\n\n",
            "rate_limit_exceeded",
            "Rate limit reached for gpt-5",
        ),
        (
            Protocol::Responses,
            "event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"status\":\"failed\",\"model\":\"gpt-5-codex\",\"error\":{\"code\":\"server_error\",\"message\":\"An error occurred\"},\"usage\":null}}\n\n",
            "server_error",
            "An error occurred",
        ),
        (
            Protocol::Chat,
            "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\ndata: [DONE]\n\n",
            "server_error",
            "The server had an error",
        ),
        (
            Protocol::Messages,
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
            "overloaded_error",
            "Overloaded",
        ),
        (
            Protocol::Gemini,
            "data: {\"error\": {\"code\": 503,\"message\": \"The model is overloaded.\",\"status\": \"UNAVAILABLE\"}}\r\n\r\n",
            "UNAVAILABLE",
            "The model is overloaded.",
        ),
    ];
    for (protocol, stream, kind, message) in cases {
        let mut observer = StreamObserver::new(protocol);
        let outcome = observer.feed(stream.as_bytes());
        assert!(
            outcome.first_event && outcome.error,
            "{protocol}: {outcome:?}"
        );
        assert!(!outcome.first_content, "{protocol}");
        let observed = observer.finish();
        assert_eq!(
            observed.error,
            Some(StreamError {
                kind: kind.into(),
                message: message.into()
            }),
            "{protocol}"
        );
        assert_eq!(observed.usage, None, "{protocol}");
        // an error is never a proper end, except that Chat's `[DONE]` still arrived after it
        assert_eq!(observed.completed, protocol == Protocol::Chat, "{protocol}");
    }
}

#[test]
fn responses_incomplete_keeps_usage_and_reports_why() {
    let stream = "event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{\"status\":\"incomplete\",\"model\":\"gpt-5\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"usage\":{\"input_tokens\":3,\"output_tokens\":64}}}\n\n";
    let observed = observe_whole(Protocol::Responses, stream);
    assert!(!observed.completed);
    assert_eq!(observed.usage, Some(usage(3, 0, 0, 64, 0)));
    assert_eq!(
        observed.error,
        Some(StreamError {
            kind: "response_incomplete".into(),
            message: "max_output_tokens".into()
        })
    );
}

#[test]
fn unknown_events_and_fields_are_ignored() {
    let extra = [
        (
            Protocol::Responses,
            "event: response.some_future_event\ndata: {\"type\":\"response.some_future_event\",\"usage\":{\"input_tokens\":999999},\"x\":[1]}\n\n: a comment\n\n",
        ),
        (
            Protocol::Chat,
            ": OPENROUTER PROCESSING\n\ndata: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"new_field\":{\"a\":1}},\"future\":true}],\"usage\":null,\"brand_new\":[]}\n\n",
        ),
        (
            Protocol::Messages,
            "event: some_new_event\ndata: {\"type\":\"some_new_event\",\"usage\":{\"output_tokens\":5}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n",
        ),
        (
            Protocol::Gemini,
            ": comment\r\n\r\ndata: {\"candidates\": [{\"content\": {\"parts\": [],\"role\": \"model\"},\"index\": 0}],\"newThing\": {\"x\": 1},\"modelVersion\": \"gemini-2.5-flash\"}\r\n\r\n",
        ),
    ];
    for (protocol, prefix) in extra {
        let stream = STREAMS
            .iter()
            .find(|(p, _)| *p == protocol)
            .expect("fixture")
            .1;
        let with_extra = format!("{prefix}{stream}");
        assert_eq!(
            observe_whole(protocol, &with_extra),
            observe_whole(protocol, stream),
            "{protocol}"
        );
        // and the unknown prefix is not taken for content
        let (_, outcomes) = observe(protocol, [prefix.as_bytes()]);
        assert!(!outcomes[0].first_content, "{protocol}");
    }
}

#[test]
fn responses_stream_without_event_names_uses_the_data_type() {
    let unnamed: String = RESPONSES_SSE
        .split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let data = block
                .lines()
                .find(|line| line.starts_with("data: "))
                .expect("data line");
            format!("{data}\n\n")
        })
        .collect();
    assert_eq!(
        observe_whole(Protocol::Responses, &unnamed),
        observe_whole(Protocol::Responses, RESPONSES_SSE)
    );
}

#[test]
fn embeddings_streams_observe_nothing() {
    let observed = observe_whole(Protocol::Embeddings, CHAT_SSE);
    assert_eq!(observed, Observed::default());
}
