//! `/api/tokens`: a user's own `sk_` tokens. The key is shown at creation, on reveal and on rotate
//! only, never stored in plain text; tokens of other users are invisible (404); lists paginate.

pub mod common;

use axum::http::StatusCode;
use common::{Req, Session, TestApp};
use pretty_assertions::assert_eq;
use realms_core::crypto::sha256;
use serde_json::{Value, json};

/// Creates a token named `name` for `session`; returns the creation answer.
async fn create(app: &TestApp, session: &Session, body: Value) -> Value {
    let resp = app
        .send(Req::post("/api/tokens").session(session).json(body))
        .await;
    resp.assert_status(StatusCode::CREATED);
    resp.json()
}

fn key_of(created: &Value) -> String {
    created["key"].as_str().unwrap_or_default().to_owned()
}

fn id_of(created: &Value) -> i64 {
    created["id"].as_i64().unwrap_or_default()
}

async fn hash_count(app: &TestApp, key: &str) -> i64 {
    let hash = sha256(key.as_bytes()).to_vec();
    app.count("SELECT COUNT(*) FROM tokens WHERE key_hash = ?1", hash)
        .await
}

#[tokio::test]
async fn create_answers_the_key_once_and_lists_show_only_a_hint() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let created = create(&app, &alice, json!({ "name": "laptop" })).await;
    let key = key_of(&created);
    assert!(key.starts_with("sk_"), "{created}");
    let secret = &key[3..];
    assert_eq!(secret.len(), 43, "32 random bytes as base64url: {key}");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{key}"
    );
    assert_eq!(created["name"], json!("laptop"));
    assert_eq!(created["status"], json!("active"));
    assert_eq!(created["channel_groups"], json!([1]), "the default group");

    let resp = app.send(Req::get("/api/tokens").session(&alice)).await;
    resp.assert_status(StatusCode::OK);
    let list = resp.json();
    assert_eq!(list["next_cursor"], Value::Null);
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    let item = &items[0];
    for field in [
        "id",
        "name",
        "hint",
        "status",
        "created_at",
        "last_used_at",
        "expires_at",
    ] {
        assert!(item.get(field).is_some(), "`{field}` missing: {item}");
    }
    assert!(item.get("key").is_none(), "{item}");
    let hint = item["hint"].as_str().expect("hint");
    assert!(hint.ends_with(&key[key.len() - 4..]), "{hint}");
    assert!(hint.len() < 12, "{hint}");
    assert!(!String::from_utf8_lossy(&resp.body).contains(secret));

    let shown = app
        .send(Req::get(&format!("/api/tokens/{}", id_of(&created))).session(&alice))
        .await;
    shown.assert_status(StatusCode::OK);
    assert!(shown.json().get("key").is_none());
}

#[tokio::test]
async fn the_key_is_stored_only_as_a_hash_and_a_sealed_copy() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let created = create(&app, &alice, json!({ "name": "ci" })).await;
    let key = key_of(&created);
    // The scan does find what is stored in plain text.
    assert!(
        app.places_holding("alice@example.test")
            .await
            .contains(&"users.email".to_owned())
    );
    assert_eq!(app.places_holding(&key).await, Vec::<String>::new());
    assert_eq!(app.places_holding(&key[3..]).await, Vec::<String>::new());
    assert_eq!(hash_count(&app, &key).await, 1);
}

#[tokio::test]
async fn reveal_returns_the_same_key() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let created = create(&app, &alice, json!({ "name": "ci" })).await;
    let resp = app
        .send(Req::post(&format!("/api/tokens/{}/reveal", id_of(&created))).session(&alice))
        .await;
    resp.assert_status(StatusCode::OK);
    assert_eq!(resp.json()["key"], created["key"]);
}

#[tokio::test]
async fn rotate_replaces_the_key_and_forgets_the_old_hash() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let created = create(&app, &alice, json!({ "name": "ci" })).await;
    let (id, old) = (id_of(&created), key_of(&created));
    let resp = app
        .send(Req::post(&format!("/api/tokens/{id}/rotate")).session(&alice))
        .await;
    resp.assert_status(StatusCode::OK);
    let rotated = resp.json();
    assert_eq!(rotated["id"], json!(id));
    let new = key_of(&rotated);
    assert!(new.starts_with("sk_") && new.len() == 46, "{rotated}");
    assert_ne!(new, old);
    assert_eq!(
        hash_count(&app, &old).await,
        0,
        "the old key no longer matches"
    );
    assert_eq!(hash_count(&app, &new).await, 1);
    assert!(app.places_holding(&new).await.is_empty());

    let revealed = app
        .send(Req::post(&format!("/api/tokens/{id}/reveal")).session(&alice))
        .await;
    assert_eq!(revealed.json()["key"], json!(new));
    let shown = app
        .send(Req::get(&format!("/api/tokens/{id}")).session(&alice))
        .await
        .json();
    assert!(
        shown["hint"]
            .as_str()
            .is_some_and(|h| h.ends_with(&new[new.len() - 4..])),
        "{shown}"
    );
}

#[tokio::test]
async fn a_revoked_token_cannot_be_revealed_or_rotated() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let id = id_of(&create(&app, &alice, json!({ "name": "ci" })).await);
    let resp = app
        .send(Req::post(&format!("/api/tokens/{id}/revoke")).session(&alice))
        .await;
    resp.assert_status(StatusCode::OK);
    let token = &resp.json()["token"];
    assert_eq!(token["id"], json!(id));
    assert_eq!(token["status"], json!("revoked"));
    assert!(token["revoked_at"].is_string(), "{token}");
    assert!(token.get("key").is_none());

    app.send(Req::post(&format!("/api/tokens/{id}/reveal")).session(&alice))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    app.send(Req::post(&format!("/api/tokens/{id}/rotate")).session(&alice))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    // Revoking again is harmless and keeps the first time.
    let again = app
        .send(Req::post(&format!("/api/tokens/{id}/revoke")).session(&alice))
        .await;
    again.assert_status(StatusCode::OK);
    assert_eq!(again.json()["token"]["revoked_at"], token["revoked_at"]);
}

#[tokio::test]
async fn delete_removes_the_token() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let id = id_of(&create(&app, &alice, json!({ "name": "ci" })).await);
    app.send(Req::delete(&format!("/api/tokens/{id}")).session(&alice))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.send(Req::get(&format!("/api/tokens/{id}")).session(&alice))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Req::delete(&format!("/api/tokens/{id}")).session(&alice))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tokens WHERE id = ?1", id)
            .await,
        0
    );
}

#[tokio::test]
async fn another_users_token_is_not_found_and_untouched() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let mallory = app.register("mallory").await;
    let created = create(&app, &alice, json!({ "name": "ci" })).await;
    let id = id_of(&created);
    let attempts = [
        ("show", Req::get(&format!("/api/tokens/{id}"))),
        ("reveal", Req::post(&format!("/api/tokens/{id}/reveal"))),
        ("rotate", Req::post(&format!("/api/tokens/{id}/rotate"))),
        ("revoke", Req::post(&format!("/api/tokens/{id}/revoke"))),
        ("delete", Req::delete(&format!("/api/tokens/{id}"))),
        (
            "patch",
            Req::patch(&format!("/api/tokens/{id}")).json(json!({ "name": "mine" })),
        ),
    ];
    for (name, req) in attempts {
        let resp = app.send(req.session(&mallory)).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "case {name}");
        resp.assert_error(StatusCode::NOT_FOUND, "not_found");
        assert!(
            !String::from_utf8_lossy(&resp.body).contains(&key_of(&created)[3..]),
            "case {name}"
        );
    }
    let listed = app
        .send(Req::get("/api/tokens").session(&mallory))
        .await
        .json();
    assert_eq!(listed["items"], json!([]));

    let revealed = app
        .send(Req::post(&format!("/api/tokens/{id}/reveal")).session(&alice))
        .await;
    revealed.assert_status(StatusCode::OK);
    assert_eq!(revealed.json()["key"], created["key"], "still the same key");
    let shown = app
        .send(Req::get(&format!("/api/tokens/{id}")).session(&alice))
        .await
        .json();
    assert_eq!(shown["name"], json!("ci"));
    assert_eq!(shown["status"], json!("active"));
}

#[tokio::test]
async fn expiry_must_be_a_future_rfc3339_time() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    app.send(Req::post("/api/tokens").session(&alice).json(json!({
        "name": "old",
        "expires_at": "2001-01-01T00:00:00Z",
    })))
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    let message = app
        .send(Req::post("/api/tokens").session(&alice).json(json!({
            "name": "bad",
            "expires_at": "next tuesday",
        })))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    assert!(message.contains("`expires_at`"), "{message}");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM tokens WHERE user_id = ?1",
            alice.user_id
        )
        .await,
        0
    );
    let created = create(
        &app,
        &alice,
        json!({ "name": "later", "expires_at": "2999-01-02T03:04:05Z" }),
    )
    .await;
    assert_eq!(created["expires_at"], json!("2999-01-02T03:04:05Z"));
}

#[tokio::test]
async fn the_model_allow_list_is_stored_trimmed_and_deduplicated() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let created = create(
        &app,
        &alice,
        json!({ "name": "ci", "models": ["gpt-4o", " claude-sonnet ", "gpt-4o"] }),
    )
    .await;
    let id = id_of(&created);
    assert_eq!(created["models"], json!(["gpt-4o", "claude-sonnet"]));
    let shown = app
        .send(Req::get(&format!("/api/tokens/{id}")).session(&alice))
        .await
        .json();
    assert_eq!(shown["models"], json!(["gpt-4o", "claude-sonnet"]));
    let stored: String = app
        .state
        .store
        .read(move |c| {
            Ok(
                c.query_row("SELECT models FROM tokens WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .expect("stored models");
    assert_eq!(stored, r#"["gpt-4o","claude-sonnet"]"#);

    // No list means any model; a PATCH with `null` clears the list, absent keeps it.
    let patched = app
        .send(
            Req::patch(&format!("/api/tokens/{id}"))
                .session(&alice)
                .json(json!({
                    "name": "renamed",
                })),
        )
        .await
        .json();
    assert_eq!(patched["models"], json!(["gpt-4o", "claude-sonnet"]));
    assert_eq!(patched["name"], json!("renamed"));
    let cleared = app
        .send(
            Req::patch(&format!("/api/tokens/{id}"))
                .session(&alice)
                .json(json!({
                    "models": null,
                })),
        )
        .await
        .json();
    assert_eq!(cleared["models"], Value::Null);

    app.send(Req::post("/api/tokens").session(&alice).json(json!({
        "name": "bad", "models": ["ok", ""],
    })))
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    let message = app
        .send(Req::post("/api/tokens").session(&alice).json(json!({
            "name": "bad", "models": ["ok", 7],
        })))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    assert!(message.contains("models[1]"), "{message}");
}

#[tokio::test]
async fn channel_groups_must_be_allowed_for_the_user() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    // A second channel group that the default user group does not allow.
    app.state
        .store
        .write(|tx| {
            tx.execute(
                "INSERT INTO channel_groups (id, name, created_at, updated_at) \
                 VALUES (2, 'premium', 0, 0)",
                [],
            )?;
            Ok(())
        })
        .await
        .expect("group");
    for groups in [json!([2]), json!([1, 2]), json!([999])] {
        app.send(Req::post("/api/tokens").session(&alice).json(json!({
            "name": "ci", "channel_groups": groups,
        })))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable");
    }
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM tokens WHERE user_id = ?1",
            alice.user_id
        )
        .await,
        0
    );
    let created = create(&app, &alice, json!({ "name": "ci", "channel_groups": [1] })).await;
    assert_eq!(created["channel_groups"], json!([1]));
}

#[tokio::test]
async fn names_are_required_and_bounded() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    for (name, value) in [
        ("empty", json!("")),
        ("blank", json!("   ")),
        ("too long", json!("n".repeat(129))),
        ("control character", json!("a\u{7}b")),
    ] {
        let resp = app
            .send(
                Req::post("/api/tokens")
                    .session(&alice)
                    .json(json!({ "name": value })),
            )
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "case {name}");
        resp.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let created = create(&app, &alice, json!({ "name": "  spaced  " })).await;
    assert_eq!(created["name"], json!("spaced"));
}

#[tokio::test]
async fn lists_paginate_with_a_cursor() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    create(&app, &bob, json!({ "name": "bobs" })).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(id_of(
            &create(&app, &alice, json!({ "name": format!("t{i}") })).await,
        ));
    }
    let first = app
        .send(Req::get("/api/tokens?limit=2").session(&alice))
        .await
        .json();
    let page: Vec<i64> = first["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect();
    assert_eq!(page, ids[..2]);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next cursor")
        .to_owned();
    let second = app
        .send(Req::get(&format!("/api/tokens?limit=2&cursor={cursor}")).session(&alice))
        .await
        .json();
    let page: Vec<i64> = second["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect();
    assert_eq!(page, ids[2..]);
    assert_eq!(second["next_cursor"], Value::Null);

    let all = app
        .send(Req::get("/api/tokens?limit=500").session(&alice))
        .await;
    all.assert_status(StatusCode::OK);
    assert_eq!(all.json()["items"].as_array().map(Vec::len), Some(3));

    for query in [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=many",
        "cursor=abc",
    ] {
        let resp = app
            .send(Req::get(&format!("/api/tokens?{query}")).session(&alice))
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "query {query}");
        resp.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn a_malformed_id_in_the_path_is_a_400_envelope() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    app.send(Req::get("/api/tokens/abc").session(&alice))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    app.send(Req::post("/api/tokens/1.5/reveal").session(&alice))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn token_routes_need_a_signed_in_user() {
    let app = TestApp::new().await;
    app.send(Req::get("/api/tokens"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    app.send(Req::post("/api/tokens").json(json!({ "name": "x" })))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
}

/// The channel groups the routing table gives the token with `key`.
fn routed_groups(app: &TestApp, key: &str) -> Option<Vec<i64>> {
    let table = app.state.relay.table.load();
    table
        .tokens
        .get(&sha256(key.as_bytes()))
        .map(|token| token.groups.clone())
}

/// A new channel group `name`, allowed (beside `default`) to the default user group; its id.
async fn allowed_new_group(app: &TestApp, name: &str) -> i64 {
    let resp = app
        .send(
            Req::post("/api/admin/channel-groups")
                .admin_key()
                .json(json!({ "name": name })),
        )
        .await;
    resp.assert_status(StatusCode::CREATED);
    let id = resp.json()["channel_group"]["id"]
        .as_i64()
        .unwrap_or_default();
    app.send(
        Req::patch("/api/admin/user-groups/1")
            .admin_key()
            .json(json!({ "channel_groups": [1, id] })),
    )
    .await
    .assert_status(StatusCode::OK);
    id
}

#[tokio::test]
async fn deleting_a_tokens_only_channel_group_does_not_widen_it_to_the_user_groups_others() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let cheap = allowed_new_group(&app, "cheap").await;
    let only_cheap = key_of(
        &create(
            &app,
            &alice,
            json!({ "name": "t", "channel_groups": [cheap] }),
        )
        .await,
    );
    let both = key_of(
        &create(
            &app,
            &alice,
            json!({ "name": "u", "channel_groups": [cheap, 1] }),
        )
        .await,
    );
    assert_eq!(routed_groups(&app, &only_cheap), Some(vec![cheap]));

    app.send(Req::delete(&format!("/api/admin/channel-groups/{cheap}")).admin_key())
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert_eq!(
        routed_groups(&app, &only_cheap),
        Some(vec![]),
        "limited to `cheap`, the token must not route through `default` now"
    );
    assert_eq!(routed_groups(&app, &both), Some(vec![1]));

    // emptying a token's own list on purpose makes it follow its user group again
    let id = app
        .count("SELECT id FROM tokens WHERE name = ?1", "t".to_owned())
        .await;
    app.send(
        Req::patch(&format!("/api/tokens/{id}"))
            .session(&alice)
            .json(json!({ "channel_groups": [] })),
    )
    .await
    .assert_status(StatusCode::OK);
    assert_eq!(routed_groups(&app, &only_cheap), Some(vec![1]));
}

#[tokio::test]
async fn a_token_made_without_groups_follows_its_user_groups_groups() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let created = create(&app, &alice, json!({ "name": "plain" })).await;
    let key = key_of(&created);
    assert_eq!(created["channel_groups"], json!([1]), "the user group's");
    assert_eq!(routed_groups(&app, &key), Some(vec![1]));

    // the user group gains a channel group: the token routes through it too
    let cheap = allowed_new_group(&app, "cheap").await;
    assert_eq!(routed_groups(&app, &key), Some(vec![1, cheap]));
    let resp = app.send(Req::get("/api/tokens").session(&alice)).await;
    resp.assert_status(StatusCode::OK);
    assert_eq!(resp.json()["items"][0]["channel_groups"], json!([1, cheap]));
}
