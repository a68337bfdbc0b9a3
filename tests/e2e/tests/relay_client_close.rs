//! A client that hangs up before a stream's end leaves a partial record. (Hanging up right
//! after the proper end is a normal finish: see the unit tests in `core/src/relay/stream.rs`
//! and the Codex CLI test in `tests/clients`, which closes as soon as it reads
//! `response.completed`.)
#![cfg(test)]

use std::time::Duration;

use e2e::TestServer;
use fake_upstream::{Behaviour, DEFAULT_USAGE, FakeUpstream, Script, SseScript, responses_sse};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;

async fn setup(fake: &FakeUpstream) -> (TestServer, String) {
    let server = TestServer::start().await;
    let settings = json!({ "allow_private_upstreams": true, "feature_disable_billing": true });
    server
        .admin(Method::PATCH, "/api/admin/settings", Some(settings))
        .await;
    let channel = json!({ "type": "openai_compatible", "name": "fake", "base_url": fake.url(), "api_keys": ["sk-up"] });
    let channel = server
        .admin(Method::POST, "/api/admin/channels", Some(channel))
        .await;
    server
        .admin(
            Method::POST,
            "/api/admin/models",
            Some(json!({ "public_id": "gpt-4o" })),
        )
        .await;
    let binding = format!("/api/admin/channels/{}/models", channel["channel"]["id"]);
    server
        .admin(
            Method::POST,
            &binding,
            Some(json!({ "public_id": "gpt-4o" })),
        )
        .await;
    let user = json!({ "username": "codex", "email": "codex@example.test", "password": "a long password" });
    let user = server
        .admin(Method::POST, "/api/admin/users", Some(user))
        .await;
    let token = format!("/api/admin/users/{}/tokens", user["user"]["id"]);
    let token = server
        .admin(Method::POST, &token, Some(json!({ "name": "t" })))
        .await;
    (server, token["key"].as_str().expect("key").to_owned())
}

/// Streams `/v1/responses` and hangs up once the body contains `stop_at`.
async fn read_until(server: &TestServer, key: &str, stop_at: &str) {
    let response = reqwest::Client::new()
        .post(server.url("/v1/responses"))
        .bearer_auth(key)
        .json(&json!({ "model": "gpt-4o", "stream": true, "input": "hi" }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    while let Some(chunk) = body.next().await {
        seen.extend_from_slice(&chunk.expect("chunk"));
        if String::from_utf8_lossy(&seen).contains(stop_at) {
            return;
        }
    }
    panic!("the stream ended before `{stop_at}`");
}

#[tokio::test]
async fn hanging_up_before_the_end_is_partial() {
    let fake = FakeUpstream::start().await;
    let events = responses_sse("gpt-4o", "hello there friend", DEFAULT_USAGE);
    let stalled = SseScript::new(events).stall_after(3, Duration::from_secs(30));
    fake.push(Script::new(Behaviour::Sse(stalled)));
    let (server, key) = setup(&fake).await;

    read_until(&server, &key, "response.created").await;
    let events = server.wait_for_usage(1).await;
    let event = &events[0];
    assert_eq!(event["status_code"], json!(499), "{event}");
    assert_eq!(event["partial"], json!(true));
    assert_eq!(event["error_class"], json!("client_closed"));
    server.stop().await.expect("clean stop");
}

/// A client that gives up on a call about a stored Responses object while the upstream is slow
/// leaves a `client_closed` record, as any other data-plane request does.
#[tokio::test]
async fn a_stored_response_call_abandoned_by_the_client_is_recorded() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = e2e::relay::Setup::new(&server, &fake.url()).await;
    let id = setup.stored_response().await;
    fake.push(
        Script::default_answer()
            .first_byte_delay(std::time::Duration::from_secs(2))
            .on_path(format!("/v1/responses/{id}")),
    );
    let gave_up = setup
        .request(Method::GET, &format!("/v1/responses/{id}"))
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gave up");
    let mut records = Vec::new();
    for _ in 0..50 {
        records = setup
            .admin
            .usage_events()
            .await
            .into_iter()
            .filter(|e| e["endpoint"] == "/v1/responses/{id}")
            .collect();
        if !records.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(records.len(), 1, "one record for the abandoned call");
    assert_eq!(records[0]["error_class"], "client_closed", "{}", records[0]);
    assert_eq!(records[0]["status_code"], 499);
}
