//! HTTP tests of `/api/admin/channel-groups` (nesting, multipliers, membership) and

#![cfg(test)]
//! `/api/admin/user-groups`.

pub mod support;

use axum::http::StatusCode;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use support::{TestApp, assert_error};

async fn group(app: &TestApp, body: Value) -> i64 {
    let (status, body) = app
        .admin("POST", "/api/admin/channel-groups", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["channel_group"]["id"].as_i64().expect("id")
}

#[tokio::test]
async fn channel_group_create_and_fields() {
    let app = TestApp::new().await;
    let (status, body) = app
        .admin(
            "POST",
            "/api/admin/channel-groups",
            Some(json!({ "name": "premium", "description": "fast ones", "price_multiplier": "1.50" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created = &body["channel_group"];
    assert_eq!(created["name"], "premium");
    assert_eq!(created["description"], "fast ones");
    assert_eq!(created["price_multiplier"], "1.5");
    assert_eq!(created["parent_id"], Value::Null);
    assert_eq!(created["channel_ids"], json!([]));
    let child = group(
        &app,
        json!({ "name": "premium-eu", "parent_id": created["id"] }),
    )
    .await;
    let (_, shown) = app
        .admin("GET", &format!("/api/admin/channel-groups/{child}"), None)
        .await;
    assert_eq!(shown["channel_group"]["parent_id"], created["id"]);
    assert_eq!(
        shown["channel_group"]["price_multiplier"], "1",
        "default multiplier"
    );
    let (status, list) = app.admin("GET", "/api/admin/channel-groups", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(3),
        "default + 2"
    );
    assert_eq!(app.audits("channel_group.create").await, 2);
}

#[tokio::test]
async fn bad_channel_group_input() {
    let app = TestApp::new().await;
    let cases: &[(&str, Value, StatusCode, &str)] = &[
        (
            "zero multiplier",
            json!({ "name": "g", "price_multiplier": "0" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "negative multiplier",
            json!({ "name": "g", "price_multiplier": -1 }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "multiplier text",
            json!({ "name": "g", "price_multiplier": "lots" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "missing name",
            json!({ "description": "x" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "long name",
            json!({ "name": "g".repeat(129) }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "unknown parent",
            json!({ "name": "g", "parent_id": 99 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "parent a string",
            json!({ "name": "g", "parent_id": "1" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "duplicate",
            json!({ "name": "default" }),
            StatusCode::CONFLICT,
            "already_exists",
        ),
    ];
    for (name, body, want_status, want_code) in cases {
        let (status, answer) = app
            .admin("POST", "/api/admin/channel-groups", Some(body.clone()))
            .await;
        assert_eq!(status, *want_status, "case {name}: {answer}");
        assert_eq!(answer["error"]["code"], *want_code, "case {name}: {answer}");
    }
    assert_eq!(app.count("channel_groups").await, 1);
    for method in ["GET", "DELETE"] {
        let (status, body) = app
            .admin(method, "/api/admin/channel-groups/99", None)
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn nesting_refuses_cycles_and_deletion_respects_children() {
    let app = TestApp::new().await;
    let a = group(&app, json!({ "name": "a" })).await;
    let b = group(&app, json!({ "name": "b", "parent_id": a })).await;
    let c = group(&app, json!({ "name": "c", "parent_id": b })).await;
    for (id, parent) in [(a, c), (a, a), (b, c)] {
        let (status, body) = app
            .admin(
                "PATCH",
                &format!("/api/admin/channel-groups/{id}"),
                Some(json!({ "parent_id": parent })),
            )
            .await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        );
    }
    // Moving `c` to the top and then under `a` directly is fine.
    let (status, body) = app
        .admin(
            "PATCH",
            &format!("/api/admin/channel-groups/{c}"),
            Some(json!({ "parent_id": null })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["channel_group"]["parent_id"], Value::Null);
    assert_eq!(body["channel_group"]["name"], "c", "untouched");

    let (status, body) = app
        .admin("DELETE", &format!("/api/admin/channel-groups/{a}"), None)
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (status, body) = app
        .admin("DELETE", "/api/admin/channel-groups/1", None)
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    for id in [b, a] {
        let (status, body) = app
            .admin("DELETE", &format!("/api/admin/channel-groups/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    assert_eq!(app.count("channel_groups").await, 2, "default and c");
}

#[tokio::test]
async fn membership_adds_and_removes_channels() {
    let app = TestApp::new().await;
    let g = group(&app, json!({ "name": "team" })).await;
    let (_, body) = app
        .admin(
            "POST",
            "/api/admin/channels",
            Some(json!({ "type": "gemini", "name": "gem" })),
        )
        .await;
    let ch = body["channel"]["id"].as_i64().expect("id");
    let path = format!("/api/admin/channel-groups/{g}/channels/{ch}");
    for _ in 0..2 {
        let (status, body) = app.admin("POST", &path, None).await;
        assert_eq!(
            status,
            StatusCode::NO_CONTENT,
            "adding twice is harmless: {body}"
        );
    }
    let (_, shown) = app
        .admin("GET", &format!("/api/admin/channels/{ch}"), None)
        .await;
    assert_eq!(
        shown["channel"]["groups"],
        json!([{ "id": 1, "name": "default" }, { "id": g, "name": "team" }])
    );
    let (_, shown) = app
        .admin("GET", &format!("/api/admin/channel-groups/{g}"), None)
        .await;
    assert_eq!(shown["channel_group"]["channel_ids"], json!([ch]));
    let (status, _) = app.admin("DELETE", &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.admin("DELETE", &path, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .admin(
            "POST",
            &format!("/api/admin/channel-groups/{g}/channels/999"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .admin(
            "POST",
            &format!("/api/admin/channel-groups/999/channels/{ch}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.audits("channel_group.add_channel").await, 1);
    assert_eq!(app.audits("channel_group.remove_channel").await, 1);
}

#[tokio::test]
async fn user_groups_choose_channel_groups() {
    let app = TestApp::new().await;
    let g = group(&app, json!({ "name": "vip" })).await;
    let (status, body) = app
        .admin(
            "POST",
            "/api/admin/user-groups",
            Some(json!({ "name": "staff", "description": "us", "channel_groups": [g, 1, g] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created = &body["user_group"];
    assert_eq!(created["name"], "staff");
    assert_eq!(created["channel_groups"], json!([1, g]));
    let id = created["id"].as_i64().expect("id");

    let (status, body) = app
        .admin(
            "PATCH",
            &format!("/api/admin/user-groups/{id}"),
            Some(json!({ "channel_groups": [g] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_group"]["channel_groups"], json!([g]));
    assert_eq!(body["user_group"]["description"], "us");

    let cases: &[(&str, Value, StatusCode, &str)] = &[
        (
            "unknown channel group",
            json!({ "name": "x", "channel_groups": [99] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "missing channel_groups",
            json!({ "name": "x" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "ids as strings",
            json!({ "name": "x", "channel_groups": ["vip"] }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "duplicate name",
            json!({ "name": "staff", "channel_groups": [] }),
            StatusCode::CONFLICT,
            "already_exists",
        ),
    ];
    for (name, body, want_status, want_code) in cases {
        let (status, answer) = app
            .admin("POST", "/api/admin/user-groups", Some(body.clone()))
            .await;
        assert_eq!(status, *want_status, "case {name}: {answer}");
        assert_eq!(answer["error"]["code"], *want_code, "case {name}: {answer}");
    }
    let (status, list) = app.admin("GET", "/api/admin/user-groups", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn user_group_deletion_rules() {
    let app = TestApp::new().await;
    let (status, body) = app.admin("DELETE", "/api/admin/user-groups/1", None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (_, body) = app
        .admin(
            "POST",
            "/api/admin/user-groups",
            Some(json!({ "name": "busy", "channel_groups": [1] })),
        )
        .await;
    let busy = body["user_group"]["id"].as_i64().expect("id");
    let (status, body) = app
        .admin(
            "POST",
            "/api/admin/users",
            Some(json!({ "username": "member", "email": "m@example.test",
                         "password": "long enough pw", "user_group_id": busy })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .admin("DELETE", &format!("/api/admin/user-groups/{busy}"), None)
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (_, body) = app
        .admin(
            "POST",
            "/api/admin/user-groups",
            Some(json!({ "name": "empty", "channel_groups": [] })),
        )
        .await;
    let empty = body["user_group"]["id"].as_i64().expect("id");
    let (status, _) = app
        .admin("DELETE", &format!("/api/admin/user-groups/{empty}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .admin("GET", &format!("/api/admin/user-groups/{empty}"), None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.audits("user_group.delete").await, 1);
}
