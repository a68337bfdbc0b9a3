//! Whole JSON answers: `observe_json` on every JSON fixture and on error bodies.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;
use crate::relay::protocol::observe_json;

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
fn only_a_stored_response_can_be_continued() {
    for (body, continuable) in [
        (
            r#"{"id":"resp_1","status":"completed","store":true}"#,
            Some("resp_1"),
        ),
        (r#"{"id":"resp_1","status":"completed"}"#, Some("resp_1")),
        (
            r#"{"id":"resp_1","status":"completed","store":false}"#,
            None,
        ),
    ] {
        let observed = observe_json(Protocol::Responses, body.as_bytes());
        assert_eq!(observed.response_id.as_deref(), Some("resp_1"), "{body}");
        assert_eq!(observed.continuable_response_id(), continuable, "{body}");
    }
    let unstored = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_2\",\"model\":\"gpt-5\",\"store\":false}}\n\n";
    let observed = super::observe_whole(Protocol::Responses, unstored);
    assert_eq!(observed.response_id.as_deref(), Some("resp_2"));
    assert_eq!(observed.continuable_response_id(), None);
}

#[test]
fn responses_json_incomplete_and_in_progress() {
    let incomplete = r#"{"status":"incomplete","model":"gpt-5","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":5,"output_tokens":16}}"#;
    let observed = observe_json(Protocol::Responses, incomplete.as_bytes());
    assert!(
        observed.completed,
        "stopped at the output limit: finished as the upstream meant"
    );
    assert_eq!(observed.error, None);
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

#[test]
fn a_null_usage_is_no_usage() {
    for (protocol, body) in [
        (Protocol::Chat, r#"{"model":"m","usage":null}"#),
        (
            Protocol::Responses,
            r#"{"status":"completed","usage":null}"#,
        ),
        (Protocol::Messages, r#"{"type":"message","usage":null}"#),
        (Protocol::Gemini, r#"{"usageMetadata":null}"#),
    ] {
        let observed = observe_json(protocol, body.as_bytes());
        assert_eq!(observed.raw_usage, None, "{protocol:?}");
        assert_eq!(observed.usage, None, "{protocol:?}");
        assert!(observed.completed, "{protocol:?}");
    }
}
