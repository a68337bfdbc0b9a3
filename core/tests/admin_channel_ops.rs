//! `POST /api/admin/channels/{id}/test` (a tiny real request through one channel, against a
//! small upstream served on 127.0.0.1 by the test) and `GET /api/admin/channels/health` (the
//! relay's live cooldowns).

#![cfg(test)]

pub mod support;

use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use realms_core::relay::routing::health::{CooldownCaps, Target};
use support::{TestApp, assert_error};

const GOOD_KEY: &str = "sk-upstream-good-0123456789";
const BAD_KEY: &str = "sk-upstream-bad-0123456789";

/// An OpenAI-style upstream: answers `OK` to the good key, 401 (echoing the key, as some vendors
/// do) to any other. Served until the app's task tracker is dropped with the test.
async fn upstream(app: &TestApp) -> String {
    async fn chat(headers: HeaderMap, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if auth != format!("Bearer {GOOD_KEY}") {
            let message = format!(
                "Incorrect API key provided: {}",
                auth.trim_start_matches("Bearer ")
            );
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": { "message": message } })),
            );
        }
        let model = body["model"].clone();
        (
            StatusCode::OK,
            Json(json!({
                "model": model,
                "choices": [{ "message": { "role": "assistant", "content": "OK" } }],
            })),
        )
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = axum::Router::new().route("/v1/chat/completions", post(chat));
    app.state.tasks.spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    format!("http://{addr}")
}

async fn channel(app: &TestApp, name: &str, url: &str, keys: Value) -> i64 {
    let (status, body) = app
        .admin(
            "POST",
            "/api/admin/channels",
            Some(json!({
                "type": "openai_compatible",
                "name": name,
                "base_url": url,
                "api_keys": keys,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["channel"]["id"].as_i64().expect("id")
}

async fn test_channel(app: &TestApp, id: i64, body: Value) -> (StatusCode, Value) {
    app.admin(
        "POST",
        &format!("/api/admin/channels/{id}/test"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_test_sends_a_real_request_and_reports_the_answer_or_the_error() {
    let app = TestApp::new().await;
    let url = upstream(&app).await;
    let (status, _) = app
        .admin(
            "POST",
            "/api/admin/models",
            Some(json!({ "public_id": "gpt-4o-mini" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let good = channel(&app, "good", &url, json!([GOOD_KEY])).await;

    let (status, body) = test_channel(&app, good, json!({})).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable",
    );
    let (status, _) = app
        .admin(
            "POST",
            &format!("/api/admin/channels/{good}/models"),
            Some(json!({ "public_id": "gpt-4o-mini", "upstream_model": "gpt-4o-mini-2024-07-18" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Private addresses are refused until the operator allows them, as for relayed calls.
    let (status, body) = test_channel(&app, good, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], json!(false), "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );

    let (status, _) = app
        .admin(
            "PATCH",
            "/api/admin/settings",
            Some(json!({ "allow_private_upstreams": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = test_channel(&app, good, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], json!(true), "{body}");
    assert_eq!(body["status"], json!(200));
    assert_eq!(body["answer"], json!("OK"));
    assert_eq!(
        body["model"],
        json!("gpt-4o-mini-2024-07-18"),
        "the binding's upstream name"
    );
    assert!(body["latency_ms"].as_u64().is_some(), "{body}");
    let (_, named) = test_channel(&app, good, json!({ "model": "other-model" })).await;
    assert_eq!(named["model"], json!("other-model"));

    let bad = channel(&app, "bad", &url, json!([BAD_KEY])).await;
    let (status, body) = test_channel(&app, bad, json!({ "model": "gpt-4o-mini" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], json!(false));
    assert_eq!(body["status"], json!(401));
    let error = body["error"].as_str().expect("error text");
    assert!(error.contains("Incorrect API key"), "{error}");
    assert!(
        !error.contains(BAD_KEY),
        "the echoed key is redacted: {error}"
    );

    let keyless = channel(&app, "keyless", &url, json!([])).await;
    let (status, body) = test_channel(&app, keyless, json!({ "model": "m" })).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable",
    );
    let (status, body) = test_channel(&app, 999, json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn health_lists_the_relays_cooldowns_and_is_for_admins_only() {
    let app = TestApp::new().await;
    let (status, body) = app.admin("GET", "/api/admin/channels/health", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"], json!([]));

    let id = channel(
        &app,
        "flaky",
        "https://upstream.example.test",
        json!(["sk-x-0001"]),
    )
    .await;
    app.state.relay.health.cool_down(
        Target::Channel(id),
        Duration::from_secs(60),
        CooldownCaps::of(&app.state.config.routing),
        false,
        "upstream answered 503".into(),
        Instant::now(),
    );
    let (_, body) = app.admin("GET", "/api/admin/channels/health", None).await;
    let item = &body["items"][0];
    assert_eq!(item["target"], json!("channel"));
    assert_eq!(item["channel_id"], json!(id));
    assert_eq!(item["reason"], json!("upstream answered 503"));
    let until = chrono::DateTime::parse_from_rfc3339(item["until"].as_str().expect("until"))
        .expect("RFC 3339");
    let left = until
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!((50..=61).contains(&left), "{left}");

    let alice = app.user("alice").await;
    let (status, body) = app.get_as(&alice, "/api/admin/channels/health").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
}
