//! The routes the web console reads besides the fixed API: `GET /api/site` (public),
//! `GET /api/models` and `GET /api/channel-groups` (what a user may use) and the usage
//! summaries `GET /api/usage/summary` and `GET /api/admin/usage/summary`.

#![cfg(test)]

pub mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use realms_core::store::usage::{self, UsageEvent};
use support::{TestApp, assert_error};

async fn public_get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .uri(path)
        .body(Body::empty())
        .expect("request");
    app.send(request).await
}

/// Creates a catalogue model through the admin API; returns its numeric id.
async fn model(app: &TestApp, public_id: &str, enabled: bool) -> i64 {
    let (status, body) = app
        .admin(
            "POST",
            "/api/admin/models",
            Some(json!({
                "public_id": public_id,
                "input_usd_per_1m": "2.5",
                "output_usd_per_1m": "10",
                "cached_input_usd_per_1m": "1.25",
                "enabled": enabled,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["model"]["id"].as_i64().expect("model id")
}

/// Creates a channel in `groups`; returns its id.
async fn channel(app: &TestApp, name: &str, groups: Value, status: &str) -> i64 {
    let (code, body) = app
        .admin(
            "POST",
            "/api/admin/channels",
            Some(json!({
                "type": "openai_compatible",
                "name": name,
                "base_url": "https://upstream.example.test",
                "api_keys": ["sk-test-0000000000000000"],
                "groups": groups,
                "status": status,
            })),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    body["channel"]["id"].as_i64().expect("channel id")
}

async fn bind(app: &TestApp, channel_id: i64, public_id: &str) {
    let (status, body) = app
        .admin(
            "POST",
            &format!("/api/admin/channels/{channel_id}/models"),
            Some(json!({ "public_id": public_id })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn site_tells_a_fresh_install_from_a_used_one_without_signing_in() {
    let app = TestApp::new().await;
    let (status, fresh) = public_get(&app, "/api/site").await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    assert_eq!(fresh["first_run"], json!(true));
    assert_eq!(fresh["registration_open"], json!(true));
    assert_eq!(fresh["site_base_url"], json!(""));

    app.user("alice").await;
    let (status, _) = app
        .admin(
            "PATCH",
            "/api/admin/settings",
            Some(json!({
                "allow_open_registration": false,
                "site_base_url": "https://relay.example.test",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, used) = public_get(&app, "/api/site").await;
    assert_eq!(used["first_run"], json!(false));
    assert_eq!(used["registration_open"], json!(false));
    assert_eq!(used["site_base_url"], json!("https://relay.example.test"));
}

#[tokio::test]
async fn models_lists_only_what_the_users_groups_can_reach() {
    let app = TestApp::new().await;
    let alice = app.user("alice").await;
    model(&app, "gpt-4o", true).await;
    model(&app, "off-model", false).await;
    model(&app, "unbound", true).await;
    model(&app, "on-disabled-channel", true).await;
    model(&app, "in-other-group", true).await;
    model(&app, "in-nested-group", true).await;

    let open = channel(&app, "open", json!(["default"]), "enabled").await;
    bind(&app, open, "gpt-4o").await;
    bind(&app, open, "off-model").await;
    let closed = channel(&app, "closed", json!(["default"]), "disabled").await;
    bind(&app, closed, "on-disabled-channel").await;

    let (status, other) = app
        .admin(
            "POST",
            "/api/admin/channel-groups",
            Some(json!({ "name": "vip" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let vip = channel(&app, "vip-channel", json!(["vip"]), "enabled").await;
    bind(&app, vip, "in-other-group").await;
    let (status, nested) = app
        .admin(
            "POST",
            "/api/admin/channel-groups",
            Some(json!({ "name": "nested", "parent_id": 1 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{nested}");
    let inner = channel(&app, "nested-channel", json!(["nested"]), "enabled").await;
    bind(&app, inner, "in-nested-group").await;

    let (status, body) = app.get_as(&alice, "/api/models").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), vec!["gpt-4o", "in-nested-group"]);
    let first = &body["items"][0];
    assert_eq!(first["input_usd_per_1m"], json!("2.5"));
    assert_eq!(first["cached_input_usd_per_1m"], json!("1.25"));
    assert_eq!(first["output_usd_per_1m"], json!("10"));
    assert_eq!(first["owned_by"], json!("realms"));

    // The token group order may name the directly allowed groups only.
    let (status, groups) = app.get_as(&alice, "/api/channel-groups").await;
    assert_eq!(status, StatusCode::OK, "{groups}");
    assert_eq!(groups["items"][0]["name"], json!("default"));
    assert_eq!(groups["items"].as_array().map(Vec::len), Some(1));

    let (status, body) = public_get(&app, "/api/models").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_signed_in");
}

fn event(user_id: i64, second: i64, model: &str, status: u16, cost: &str) -> UsageEvent {
    UsageEvent {
        id: 0,
        time: Utc.timestamp_opt(second, 0).single().expect("time"),
        request_id: format!("req-{user_id}-{second}"),
        user_id: Some(user_id),
        token_id: Some(user_id * 100),
        model: model.into(),
        forwarded_model: None,
        upstream_model: None,
        channel_id: Some(3),
        credential_id: None,
        endpoint: "/v1/responses".into(),
        is_stream: true,
        status_code: status,
        error_class: (status >= 400).then(|| "upstream_5xx".to_owned()),
        latency_ms: 1000,
        first_token_latency_ms: Some(200),
        request_bytes: 0,
        response_bytes: 0,
        input_tokens: 100,
        cached_input_tokens: 40,
        cache_write_tokens: 0,
        output_tokens: 10,
        reasoning_tokens: 4,
        cost_usd: cost.parse().expect("decimal"),
        upstream_usage: None,
        partial: false,
    }
}

#[tokio::test]
async fn usage_summary_sums_the_callers_own_events_by_hour_model_and_token() {
    let app = TestApp::new().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (a, b) = (alice.user_id, bob.user_id);
    let events = vec![
        event(a, 3_600, "gpt-4o", 200, "0.000001"),
        event(a, 3_650, "o3", 200, "0.3"),
        event(a, 7_300, "gpt-4o", 502, "0"),
        event(b, 3_600, "gpt-4o", 200, "9"),
    ];
    app.state
        .store
        .write(move |tx| usage::insert_batch(tx, &events))
        .await
        .expect("seed");
    let range = "from=1970-01-01T00:00:00Z&to=1970-01-02T00:00:00Z";

    let (status, s) = app
        .get_as(&alice, &format!("/api/usage/summary?{range}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["totals"]["requests"], json!(3));
    assert_eq!(s["totals"]["errors"], json!(1));
    assert_eq!(s["totals"]["cost_usd"], json!("0.300001"));
    assert_eq!(s["totals"]["cached_input_tokens"], json!(120));
    assert_eq!(s["totals"]["reasoning_tokens"], json!(12));
    assert_eq!(s["totals"]["avg_first_token_latency_ms"], json!(200));
    let series: Vec<(&str, i64)> = s["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|h| {
            (
                h["time"].as_str().unwrap_or_default(),
                h["requests"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        series,
        vec![("1970-01-01T01:00:00Z", 2), ("1970-01-01T02:00:00Z", 1)]
    );
    assert_eq!(s["by_model"][0]["key"], json!("o3"), "dearest first");
    assert_eq!(s["by_token"][0]["key"], json!(a * 100));
    assert!(s.get("by_user").is_none(), "users never see others");

    let (_, filtered) = app
        .get_as(&alice, &format!("/api/usage/summary?{range}&model=gpt-4o"))
        .await;
    assert_eq!(filtered["totals"]["requests"], json!(2));
    let (_, failed) = app
        .get_as(&alice, &format!("/api/usage/summary?{range}&status=error"))
        .await;
    assert_eq!(failed["totals"]["requests"], json!(1));
    assert_eq!(failed["totals"]["errors"], json!(1));

    let (status, all) = app
        .admin("GET", &format!("/api/admin/usage/summary?{range}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["totals"]["requests"], json!(4));
    assert_eq!(all["by_user"][0]["key"], json!(b), "bob spent the most");
    assert_eq!(all["by_channel"][0]["key"], json!(3));
    let (_, only_alice) = app
        .admin(
            "GET",
            &format!("/api/admin/usage/summary?{range}&user_id={a}"),
            None,
        )
        .await;
    assert_eq!(only_alice["totals"]["requests"], json!(3));

    let (status, body) = app.get_as(&alice, "/api/admin/usage/summary").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app
        .get_as(
            &alice,
            "/api/usage/summary?from=2024-01-01T00:00:00Z&to=2024-06-01T00:00:00Z",
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    let (status, body) = app
        .get_as(
            &alice,
            "/api/usage/summary?from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z",
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn usage_events_filter_by_outcome() {
    let app = TestApp::new().await;
    let alice = app.user("alice").await;
    let a = alice.user_id;
    let events = vec![
        event(a, 10, "gpt-4o", 200, "0.1"),
        event(a, 20, "gpt-4o", 429, "0"),
        event(a, 30, "gpt-4o", 200, "0.1"),
    ];
    app.state
        .store
        .write(move |tx| usage::insert_batch(tx, &events))
        .await
        .expect("seed");
    let statuses = |body: &Value| -> Vec<i64> {
        body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|e| e["status_code"].as_i64())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (_, errors) = app.get_as(&alice, "/api/usage/events?status=error").await;
    assert_eq!(statuses(&errors), vec![429]);
    let (_, ok) = app.get_as(&alice, "/api/usage/events?status=ok").await;
    assert_eq!(statuses(&ok), vec![200, 200]);
    let (_, admin) = app
        .admin("GET", "/api/admin/usage/events?status=error", None)
        .await;
    assert_eq!(statuses(&admin), vec![429]);
    let (status, body) = app.get_as(&alice, "/api/usage/events?status=maybe").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
}
