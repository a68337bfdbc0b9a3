//! HTTP tests of `GET /api/usage/events` (the caller's own events) and

#![cfg(test)]
//! `GET /api/admin/usage/events` (everyone's, with more filters).

pub mod support;

use axum::http::StatusCode;
use chrono::{TimeZone, Utc};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use realms_core::store::usage::{self, UsageEvent};
use support::{TestApp, assert_error};

/// Seconds since the epoch of the first seeded event (2023-11-14T22:13:20Z).
const T0: i64 = 1_700_000_000;

fn event(user_id: i64, token_id: i64, channel_id: i64, model: &str, second: i64) -> UsageEvent {
    UsageEvent {
        id: 0,
        time: Utc.timestamp_opt(T0 + second, 0).single().expect("time"),
        request_id: format!("req-{user_id}-{second}"),
        user_id: Some(user_id),
        token_id: Some(token_id),
        model: model.into(),
        forwarded_model: Some(model.into()),
        upstream_model: Some(format!("{model}-2025-01-01")),
        channel_id: Some(channel_id),
        credential_id: Some(9),
        endpoint: "/v1/responses".into(),
        is_stream: true,
        status_code: 200,
        error_class: None,
        latency_ms: 900,
        first_token_latency_ms: Some(150),
        request_bytes: 321,
        response_bytes: 6543,
        input_tokens: 1200,
        cached_input_tokens: 1000,
        cache_write_tokens: 0,
        output_tokens: 80,
        reasoning_tokens: 64,
        cost_usd: "0.001234".parse().expect("decimal"),
        upstream_usage: Some(realms_core::usage::RawUsage::from(
            &json!({ "input_tokens": 1200, "output_tokens_details": { "reasoning_tokens": 64 } }),
        )),
        partial: false,
    }
}

async fn seed(app: &TestApp, events: Vec<UsageEvent>) {
    app.state
        .store
        .write(move |tx| usage::insert_batch(tx, &events))
        .await
        .expect("seed usage");
}

fn seconds(body: &Value) -> Vec<i64> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            let time = e["time"].as_str().expect("time is a string");
            chrono::DateTime::parse_from_rfc3339(time)
                .expect("RFC 3339")
                .timestamp()
                - T0
        })
        .collect()
}

#[tokio::test]
async fn users_see_only_their_own_events_newest_first_with_a_cursor() {
    let app = TestApp::new().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut events: Vec<UsageEvent> = (0..5)
        .map(|s| event(alice.user_id, 1, 1, "gpt-4o", s))
        .collect();
    events.push(event(bob.user_id, 2, 1, "gpt-4o", 10));
    seed(&app, events).await;

    let (status, first) = app.get_as(&alice, "/api/usage/events?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(seconds(&first), vec![4, 3]);
    let mut seen = seconds(&first);
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let (status, page) = app
            .get_as(&alice, &format!("/api/usage/events?limit=2&cursor={c}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(seconds(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(
        seen,
        vec![4, 3, 2, 1, 0],
        "every own event once, newest first"
    );

    let (_, bobs) = app.get_as(&bob, "/api/usage/events").await;
    assert_eq!(seconds(&bobs), vec![10]);
    assert_eq!(bobs["items"][0]["user_id"], bob.user_id);
    // A token or user filter cannot reach someone else's events.
    let (_, none) = app.get_as(&bob, "/api/usage/events?token_id=1").await;
    assert_eq!(none["items"], json!([]));
    let (_, ignored) = app
        .get_as(
            &bob,
            &format!("/api/usage/events?user_id={}", alice.user_id),
        )
        .await;
    assert!(
        ignored["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| e["user_id"] == bob.user_id),
        "{ignored}"
    );
}

#[tokio::test]
async fn event_json_has_every_field_with_the_right_types() {
    let app = TestApp::new().await;
    let alice = app.user("alice").await;
    seed(&app, vec![event(alice.user_id, 1, 3, "gpt-4o", 0)]).await;
    let (status, body) = app.get_as(&alice, "/api/usage/events").await;
    assert_eq!(status, StatusCode::OK);
    let e = &body["items"][0];
    assert!(e["id"].as_i64().is_some());
    assert_eq!(e["time"], "2023-11-14T22:13:20Z");
    assert_eq!(e["request_id"], format!("req-{}-0", alice.user_id));
    assert_eq!(e["token_id"], 1);
    assert_eq!(e["model"], "gpt-4o");
    assert_eq!(e["forwarded_model"], "gpt-4o");
    assert_eq!(e["upstream_model"], "gpt-4o-2025-01-01");
    assert_eq!(e["channel_id"], 3);
    assert_eq!(e["credential_id"], 9);
    assert_eq!(e["endpoint"], "/v1/responses");
    assert_eq!(e["is_stream"], true);
    assert_eq!(e["status_code"], 200);
    assert_eq!(e["error_class"], Value::Null);
    assert_eq!(e["latency_ms"], 900);
    assert_eq!(e["first_token_latency_ms"], 150);
    assert_eq!(e["request_bytes"], 321);
    assert_eq!(e["response_bytes"], 6543);
    assert_eq!(e["input_tokens"], 1200);
    assert_eq!(e["cached_input_tokens"], 1000);
    assert_eq!(e["cache_write_tokens"], 0);
    assert_eq!(e["output_tokens"], 80);
    assert_eq!(e["reasoning_tokens"], 64);
    assert_eq!(e["cost_usd"], "0.001234");
    assert_eq!(
        e["upstream_usage"],
        json!({ "input_tokens": 1200, "output_tokens_details": { "reasoning_tokens": 64 } })
    );
    assert_eq!(e["partial"], false);
}

#[tokio::test]
async fn filters_by_model_token_and_time() {
    let app = TestApp::new().await;
    let alice = app.user("alice").await;
    let u = alice.user_id;
    seed(
        &app,
        vec![
            event(u, 1, 1, "a", 0),
            event(u, 2, 1, "a", 60),
            event(u, 1, 1, "b", 120),
            event(u, 1, 1, "a", 180),
        ],
    )
    .await;
    let (_, by_model) = app.get_as(&alice, "/api/usage/events?model=a").await;
    assert_eq!(seconds(&by_model), vec![180, 60, 0]);
    let (_, by_token) = app.get_as(&alice, "/api/usage/events?token_id=2").await;
    assert_eq!(seconds(&by_token), vec![60]);
    let (_, window) = app
        .get_as(
            &alice,
            "/api/usage/events?from=2023-11-14T22:14:20Z&to=2023-11-14T22:16:20Z",
        )
        .await;
    assert_eq!(
        seconds(&window),
        vec![120, 60],
        "from inclusive, to exclusive"
    );
    let (_, injected) = app
        .get_as(&alice, "/api/usage/events?model=a%27%20OR%20%271%27%3D%271")
        .await;
    assert_eq!(injected["items"], json!([]));

    for bad in [
        "/api/usage/events?from=yesterday",
        "/api/usage/events?limit=0",
        "/api/usage/events?limit=501",
        "/api/usage/events?cursor=abc",
        "/api/usage/events?token_id=x",
        "/api/usage/events?from=2023-11-15T00:00:00Z&to=2023-11-14T00:00:00Z",
    ] {
        let (status, body) = app.get_as(&alice, bad).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn the_user_route_needs_a_session() {
    let app = TestApp::new().await;
    let request = axum::http::Request::builder()
        .uri("/api/usage/events")
        .body(axum::body::Body::empty())
        .expect("request");
    let (status, body) = app.send(request).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_signed_in");
}

#[tokio::test]
async fn admins_see_everyone_and_filter_by_user_and_channel() {
    let app = TestApp::new().await;
    seed(
        &app,
        vec![
            event(10, 1, 1, "a", 0),
            event(11, 2, 2, "a", 1),
            event(10, 1, 2, "b", 2),
        ],
    )
    .await;
    let (status, all) = app.admin("GET", "/api/admin/usage/events", None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(seconds(&all), vec![2, 1, 0]);
    assert_eq!(all["next_cursor"], Value::Null);
    let (_, user) = app
        .admin("GET", "/api/admin/usage/events?user_id=10", None)
        .await;
    assert_eq!(seconds(&user), vec![2, 0]);
    let (_, channel) = app
        .admin("GET", "/api/admin/usage/events?channel_id=2", None)
        .await;
    assert_eq!(seconds(&channel), vec![2, 1]);
    let (_, both) = app
        .admin(
            "GET",
            "/api/admin/usage/events?channel_id=2&user_id=10&model=b",
            None,
        )
        .await;
    assert_eq!(seconds(&both), vec![2]);
    let (_, paged) = app
        .admin("GET", "/api/admin/usage/events?limit=1", None)
        .await;
    let cursor = paged["next_cursor"].as_str().expect("more");
    let (_, next) = app
        .admin(
            "GET",
            &format!("/api/admin/usage/events?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(seconds(&next), vec![1]);
    let (status, body) = app
        .admin("GET", "/api/admin/usage/events?user_id=me", None)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    let alice = app.user("alice").await;
    let (status, body) = app.get_as(&alice, "/api/admin/usage/events").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
}
