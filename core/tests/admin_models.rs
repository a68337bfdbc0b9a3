//! HTTP tests of `/api/admin/models` and the bindings under `/api/admin/channels/{id}/models`.

#![cfg(test)]

pub mod support;

use axum::http::StatusCode;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use support::{TestApp, assert_error};

async fn model(app: &TestApp, body: Value) -> Value {
    let (status, body) = app.admin("POST", "/api/admin/models", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["model"].clone()
}

async fn channel(app: &TestApp, name: &str) -> i64 {
    let (status, body) = app
        .admin(
            "POST",
            "/api/admin/channels",
            Some(json!({ "type": "openai_compatible", "name": name })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["channel"]["id"].as_i64().expect("id")
}

#[tokio::test]
async fn create_model_with_exact_prices() {
    let app = TestApp::new().await;
    let created = model(
        &app,
        json!({
            "public_id": "gpt-4o", "owned_by": "openai", "description": "fast\nand good",
            "input_usd_per_1m": "2.50", "output_usd_per_1m": 10, "cached_input_usd_per_1m": 0.1,
            "enabled": false,
        }),
    )
    .await;
    assert_eq!(created["public_id"], "gpt-4o");
    assert_eq!(created["owned_by"], "openai");
    assert_eq!(created["description"], "fast\nand good");
    assert_eq!(created["input_usd_per_1m"], "2.5");
    assert_eq!(created["output_usd_per_1m"], "10");
    assert_eq!(created["cached_input_usd_per_1m"], "0.1");
    assert_eq!(created["cache_write_usd_per_1m"], "0");
    assert_eq!(created["enabled"], false);
    assert_eq!(created["bindings"], json!([]));

    let defaults = model(&app, json!({ "public_id": "claude-sonnet-4" })).await;
    assert_eq!(defaults["owned_by"], "realms");
    assert_eq!(defaults["input_usd_per_1m"], "0");
    assert_eq!(defaults["enabled"], true);
    assert_eq!(app.audits("model.create").await, 2);
}

#[tokio::test]
async fn bad_model_input_is_refused() {
    let app = TestApp::new().await;
    model(&app, json!({ "public_id": "taken" })).await;
    let cases: &[(&str, Value, StatusCode, &str)] = &[
        (
            "negative price",
            json!({ "public_id": "m", "input_usd_per_1m": "-0.01" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "absurd price",
            json!({ "public_id": "m", "output_usd_per_1m": "99999999" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "price not a number",
            json!({ "public_id": "m", "input_usd_per_1m": "two" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "price a bool",
            json!({ "public_id": "m", "input_usd_per_1m": true }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "too many decimals",
            json!({ "public_id": "m", "input_usd_per_1m": "0.0000000000001" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "missing public_id",
            json!({ "owned_by": "x" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "public_id with space",
            json!({ "public_id": "gpt 4" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "public_id empty",
            json!({ "public_id": "" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "public_id too long",
            json!({ "public_id": "m".repeat(129) }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "description too long",
            json!({ "public_id": "m", "description": "d".repeat(2001) }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "enabled a string",
            json!({ "public_id": "m", "enabled": "yes" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "duplicate",
            json!({ "public_id": "taken" }),
            StatusCode::CONFLICT,
            "already_exists",
        ),
    ];
    for (name, body, want_status, want_code) in cases {
        let (status, answer) = app
            .admin("POST", "/api/admin/models", Some(body.clone()))
            .await;
        assert_eq!(status, *want_status, "case {name}: {answer}");
        assert_eq!(answer["error"]["code"], *want_code, "case {name}: {answer}");
    }
    let (status, body) = app.admin_raw("POST", "/api/admin/models", "not json").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
    assert_eq!(app.count("models").await, 1);
    // A 128-character id is the longest allowed.
    model(&app, json!({ "public_id": "m".repeat(128) })).await;
}

#[tokio::test]
async fn model_list_show_update_delete() {
    let app = TestApp::new().await;
    let id = model(&app, json!({ "public_id": "a", "input_usd_per_1m": "1" })).await["id"]
        .as_i64()
        .expect("id");
    model(&app, json!({ "public_id": "b" })).await;
    let (status, list) = app.admin("GET", "/api/admin/models", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["public_id"].as_str())
        .collect();
    assert_eq!(ids, vec!["a", "b"]);

    let (status, body) = app
        .admin(
            "PATCH",
            &format!("/api/admin/models/{id}"),
            Some(json!({ "output_usd_per_1m": "15.000", "enabled": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model"]["output_usd_per_1m"], "15");
    assert_eq!(body["model"]["input_usd_per_1m"], "1", "untouched");
    assert_eq!(body["model"]["enabled"], false);
    let (status, body) = app
        .admin(
            "PATCH",
            &format!("/api/admin/models/{id}"),
            Some(json!({ "public_id": "b" })),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "already_exists");
    let (status, body) = app
        .admin(
            "PATCH",
            &format!("/api/admin/models/{id}"),
            Some(json!({ "cache_write_usd_per_1m": -1 })),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");

    let (status, _) = app
        .admin("DELETE", &format!("/api/admin/models/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (method, body) in [("GET", None), ("DELETE", None), ("PATCH", Some(json!({})))] {
        let (status, answer) = app
            .admin(method, &format!("/api/admin/models/{id}"), body)
            .await;
        assert_error(status, &answer, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn bindings_attach_models_to_channels() {
    let app = TestApp::new().await;
    let ch = channel(&app, "openai").await;
    let other = channel(&app, "other").await;
    let model_id = model(&app, json!({ "public_id": "gpt-4o" })).await["id"]
        .as_i64()
        .expect("id");

    let (status, body) = app
        .admin(
            "POST",
            &format!("/api/admin/channels/{ch}/models"),
            Some(json!({ "public_id": "gpt-4o", "upstream_model": "gpt-4o-2024-08-06" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let binding = &body["binding"];
    assert_eq!(binding["channel_id"], ch);
    assert_eq!(binding["channel_name"], "openai");
    assert_eq!(binding["model_id"], model_id);
    assert_eq!(binding["public_id"], "gpt-4o");
    assert_eq!(binding["upstream_model"], "gpt-4o-2024-08-06");
    assert_eq!(binding["enabled"], true);
    let binding_id = binding["id"].as_i64().expect("id");

    let (status, body) = app
        .admin(
            "POST",
            &format!("/api/admin/channels/{ch}/models"),
            Some(json!({ "public_id": "gpt-4o" })),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "already_exists");
    let (status, body) = app
        .admin(
            "POST",
            &format!("/api/admin/channels/{ch}/models"),
            Some(json!({ "public_id": "nope" })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "model_not_found");
    let (status, body) = app
        .admin(
            "POST",
            "/api/admin/channels/999/models",
            Some(json!({ "public_id": "gpt-4o" })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .admin(
            "POST",
            &format!("/api/admin/channels/{ch}/models"),
            Some(json!({ "public_id": "gpt-4o", "upstream_model": "has space" })),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");

    // The model and the channel both show the binding.
    let (_, shown) = app
        .admin("GET", &format!("/api/admin/models/{model_id}"), None)
        .await;
    assert_eq!(
        shown["model"]["bindings"],
        json!([{ "id": binding_id, "channel_id": ch, "channel_name": "openai",
                 "upstream_model": "gpt-4o-2024-08-06", "enabled": true }])
    );
    let (_, shown) = app
        .admin("GET", &format!("/api/admin/channels/{ch}"), None)
        .await;
    assert_eq!(shown["channel"]["models"][0]["id"], binding_id);
    let (status, list) = app
        .admin("GET", &format!("/api/admin/channels/{ch}/models"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    let (status, body) = app
        .admin(
            "PATCH",
            &format!("/api/admin/channels/{ch}/models/{binding_id}"),
            Some(json!({ "upstream_model": null, "enabled": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["binding"]["upstream_model"], Value::Null);
    assert_eq!(body["binding"]["enabled"], false);

    let (status, body) = app
        .admin(
            "DELETE",
            &format!("/api/admin/channels/{other}/models/{binding_id}"),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _) = app
        .admin(
            "DELETE",
            &format!("/api/admin/channels/{ch}/models/{binding_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.count("channel_models").await, 0);
    assert_eq!(app.audits("binding.create").await, 1);
    assert_eq!(app.audits("binding.update").await, 1);
    assert_eq!(app.audits("binding.delete").await, 1);
}

#[tokio::test]
async fn deleting_a_model_removes_its_bindings() {
    let app = TestApp::new().await;
    let ch = channel(&app, "c").await;
    let id = model(&app, json!({ "public_id": "m" })).await["id"]
        .as_i64()
        .expect("id");
    let (status, _) = app
        .admin(
            "POST",
            &format!("/api/admin/channels/{ch}/models"),
            Some(json!({ "public_id": "m" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .admin("DELETE", &format!("/api/admin/models/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.count("channel_models").await, 0);
}
