//! A console API request that runs past `limits.api_timeout_secs` ends with a JSON 503.
#![cfg(test)]

use std::time::Duration;

use e2e::TestServer;
use fake_upstream::{FakeUpstream, Script};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_slow_channel_test_is_cut_at_the_api_time_limit() {
    let fake = FakeUpstream::start().await;
    fake.push(Script::default_answer().first_byte_delay(Duration::from_secs(5)));
    let server = TestServer::start_tuned(|config| config.limits.api_timeout_secs = 1).await;
    server
        .admin(
            Method::PATCH,
            "/api/admin/settings",
            Some(json!({ "allow_private_upstreams": true })),
        )
        .await;
    let channel = json!({ "type": "openai_compatible", "name": "slow", "base_url": fake.url(), "api_keys": ["sk-up"] });
    let channel = server
        .admin(Method::POST, "/api/admin/channels", Some(channel))
        .await;
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .post(server.url(&format!(
            "/api/admin/channels/{}/test",
            channel["channel"]["id"]
        )))
        .bearer_auth(e2e::ADMIN_KEY)
        .json(&json!({ "model": "gpt-4o" }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], json!("timeout"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "cut at the limit, not at the upstream's pace"
    );
    server.stop().await.expect("clean stop");
}
