//! Streams that go wrong or surprise: cuts, an error as the first event, unknown events and
//! fields, missing event names.

use pretty_assertions::assert_eq;

use super::*;
use crate::relay::protocol::StreamError;

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
            // a compatible server's numeric code: still an error, named by its type
            Protocol::Responses,
            "event: error\ndata: {\"type\":\"error\",\"code\":429,\"message\":\"slow down\"}\n\n",
            "error",
            "slow down",
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
fn responses_incomplete_is_a_proper_end_with_its_usage() {
    let stream = "event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{\"status\":\"incomplete\",\"model\":\"gpt-5\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"usage\":{\"input_tokens\":3,\"output_tokens\":64}}}\n\n";
    let observed = observe_whole(Protocol::Responses, stream);
    assert!(
        observed.completed,
        "the output limit ends a response properly"
    );
    assert_eq!(observed.usage, Some(usage(3, 0, 0, 64, 0)));
    assert_eq!(observed.error, None);
}

#[test]
fn responses_failed_reports_its_error() {
    let stream = "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",\"model\":\"gpt-5\",\"error\":{\"code\":\"server_error\",\"message\":\"boom\"},\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n";
    let observed = observe_whole(Protocol::Responses, stream);
    assert!(!observed.completed);
    assert_eq!(observed.usage, Some(usage(3, 0, 0, 1, 0)));
    assert_eq!(
        observed.error,
        Some(StreamError {
            kind: "server_error".into(),
            message: "boom".into()
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
