//! `GET /api/admin/health`: live cooldowns as the console shows them.
#![cfg(test)]

pub mod support;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use realms_core::relay::routing::health::Target;
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn cooldowns_are_listed_with_their_scope_and_end() {
    let app = TestApp::new().await;
    let (status, body) = app.admin("GET", "/api/admin/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "items": [] }),
        "nothing cools down on a fresh start"
    );

    let now = Instant::now();
    let health = &app.state.relay.health;
    let minute = Duration::from_secs(60);
    health.cool_down(
        Target::Channel(3),
        minute,
        minute,
        true,
        "upstream_failed".into(),
        now,
    );
    health.cool_down(
        Target::ChannelModel(3, "gpt".into()),
        minute,
        minute,
        true,
        "404".into(),
        now,
    );
    let (status, body) = app.admin("GET", "/api/admin/health", None).await;
    assert_eq!(status, StatusCode::OK);
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let channel = items
        .iter()
        .find(|i| i["scope"] == json!("channel"))
        .expect("channel cooldown");
    assert_eq!(channel["channel_id"], json!(3));
    assert_eq!(channel["reason"], json!("upstream_failed"));
    assert!(
        channel["remaining_secs"]
            .as_u64()
            .is_some_and(|s| (58..=60).contains(&s))
    );
    assert!(channel["until"].as_str().is_some_and(|t| t.ends_with('Z')));
    let model = items
        .iter()
        .find(|i| i["scope"] == json!("channel_model"))
        .expect("model cooldown");
    assert_eq!(model["model"], json!("gpt"));
}

#[tokio::test]
async fn health_is_for_admins_only() {
    let app = TestApp::new().await;
    let user = app.user("viewer").await;
    let (status, _) = app.get_as(&user, "/api/admin/health").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
