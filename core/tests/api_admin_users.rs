//! `/api/admin/users`: CRUD, self-protection, password resets and disabling that end sessions,
//! tokens issued for a user, and exact balance adjustments.

pub mod common;

use axum::http::StatusCode;
use common::{PASSWORD, Req, TestApp};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// Creates a user with the admin key; returns `{user}`.
async fn create_user(app: &TestApp, body: Value) -> Value {
    let resp = app
        .send(Req::post("/api/admin/users").admin_key().json(body))
        .await;
    resp.assert_status(StatusCode::CREATED);
    resp.json()["user"].clone()
}

fn user_body(name: &str) -> Value {
    json!({ "username": name, "email": format!("{name}@example.test"), "password": PASSWORD })
}

#[tokio::test]
async fn users_can_be_created_listed_shown_edited_and_deleted() {
    let app = TestApp::new().await;
    let mut body = user_body("carol");
    body["role"] = json!("root");
    let carol = create_user(&app, body).await;
    assert_eq!(carol["username"], json!("carol"));
    assert_eq!(carol["role"], json!("root"));
    assert_eq!(carol["status"], json!("active"));
    assert!(carol.get("password_hash").is_none());
    let dave = create_user(&app, user_body("dave")).await;
    assert_eq!(dave["role"], json!("user"), "the default role");
    let dave_id = dave["id"].as_i64().expect("id");

    // The new accounts can sign in.
    app.login("carol", PASSWORD).await;
    app.login("dave@example.test", PASSWORD).await;

    let list = app
        .send(Req::get("/api/admin/users").admin_key())
        .await
        .json();
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, ["carol", "dave"]);
    assert_eq!(list["next_cursor"], Value::Null);
    let page = app
        .send(Req::get("/api/admin/users?limit=1").admin_key())
        .await
        .json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert!(page["next_cursor"].is_string(), "{page}");

    let shown = app
        .send(Req::get(&format!("/api/admin/users/{dave_id}")).admin_key())
        .await;
    shown.assert_status(StatusCode::OK);
    assert_eq!(shown.json()["user"]["email"], json!("dave@example.test"));

    let patched = app
        .send(
            Req::patch(&format!("/api/admin/users/{dave_id}"))
                .admin_key()
                .json(json!({ "role": "root", "email": "dave2@example.test" })),
        )
        .await;
    patched.assert_status(StatusCode::OK);
    let user = &patched.json()["user"];
    assert_eq!(user["role"], json!("root"));
    assert_eq!(user["email"], json!("dave2@example.test"));
    assert_eq!(user["username"], json!("dave"), "absent fields stay");

    let dave_session = app.login("dave", PASSWORD).await;
    app.send(Req::delete(&format!("/api/admin/users/{dave_id}")).admin_key())
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.send(Req::get(&format!("/api/admin/users/{dave_id}")).admin_key())
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.send(Req::get("/api/me").session(&dave_session))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'user.create' AND actor_kind = 'admin_key' AND target_id = ?1",
            dave_id,
        )
        .await,
        1,
        "the creation is audited with the admin key as actor"
    );
}

#[tokio::test]
async fn creation_is_validated_and_unique() {
    let app = TestApp::new().await;
    create_user(&app, user_body("carol")).await;
    app.send(Req::post("/api/admin/users").admin_key().json(json!({
        "username": "CAROL", "email": "other@example.test", "password": PASSWORD,
    })))
    .await
    .assert_error(StatusCode::CONFLICT, "already_exists");
    for (name, body) in [
        (
            "bad username",
            json!({ "username": "a b", "email": "x@example.test", "password": PASSWORD }),
        ),
        (
            "bad email",
            json!({ "username": "xavier", "email": "x", "password": PASSWORD }),
        ),
        (
            "short password",
            json!({ "username": "xavier", "email": "x@example.test", "password": "short" }),
        ),
    ] {
        let resp = app
            .send(Req::post("/api/admin/users").admin_key().json(body))
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "case {name}");
        resp.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let message = app
        .send(Req::post("/api/admin/users").admin_key().json(json!({
            "username": "xavier", "email": "x@example.test", "password": PASSWORD, "role": "god",
        })))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    assert!(message.contains("`role`"), "{message}");
    app.send(Req::post("/api/admin/users").admin_key().json(json!({
        "username": "xavier", "email": "x@example.test", "password": PASSWORD, "user_group_id": 999,
    })))
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable");
}

#[tokio::test]
async fn unknown_user_ids_are_404_everywhere() {
    let app = TestApp::new().await;
    let cases = [
        ("show", Req::get("/api/admin/users/999")),
        (
            "patch",
            Req::patch("/api/admin/users/999").json(json!({ "status": "disabled" })),
        ),
        ("delete", Req::delete("/api/admin/users/999")),
        (
            "reset password",
            Req::post("/api/admin/users/999/password").json(json!({ "password": PASSWORD })),
        ),
        ("list tokens", Req::get("/api/admin/users/999/tokens")),
        (
            "create token",
            Req::post("/api/admin/users/999/tokens").json(json!({ "name": "t" })),
        ),
        (
            "balance",
            Req::post("/api/admin/users/999/balance").json(json!({ "amount_usd": "1" })),
        ),
    ];
    for (name, req) in cases {
        let resp = app.send(req.admin_key()).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "case {name}");
        resp.assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tokens WHERE id > ?1", 0)
            .await,
        0
    );
}

#[tokio::test]
async fn a_root_cannot_demote_disable_or_delete_themselves() {
    let app = TestApp::new().await;
    let root = app.register("root1").await;
    let path = format!("/api/admin/users/{}", root.user_id);
    for (name, req) in [
        ("demote", Req::patch(&path).json(json!({ "role": "user" }))),
        (
            "disable",
            Req::patch(&path).json(json!({ "status": "disabled" })),
        ),
        ("delete", Req::delete(&path)),
    ] {
        let resp = app.send(req.session(&root)).await;
        assert_eq!(resp.status, StatusCode::CONFLICT, "case {name}");
        resp.assert_error(StatusCode::CONFLICT, "conflict");
    }
    let me = app.send(Req::get("/api/me").session(&root)).await;
    me.assert_status(StatusCode::OK);
    assert_eq!(me.json()["role"], json!("root"));
    assert_eq!(me.json()["status"], json!("active"));
}

#[tokio::test]
async fn a_password_reset_ends_every_session_of_the_user() {
    let app = TestApp::new().await;
    let root = app.register("root1").await;
    let alice = app.register("alice").await;
    let alice2 = app.login("alice", PASSWORD).await;
    app.send(
        Req::post(&format!("/api/admin/users/{}/password", alice.user_id))
            .session(&root)
            .json(json!({ "password": "reset by the admin" })),
    )
    .await
    .assert_status(StatusCode::NO_CONTENT);
    for session in [&alice, &alice2] {
        app.send(Req::get("/api/me").session(session))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    }
    app.send(Req::get("/api/me").session(&root))
        .await
        .assert_status(StatusCode::OK);
    app.send(Req::login("alice", PASSWORD))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.login("alice", "reset by the admin").await;

    app.send(
        Req::post(&format!("/api/admin/users/{}/password", alice.user_id))
            .admin_key()
            .json(json!({ "password": "short" })),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_refuses_their_login() {
    let app = TestApp::new().await;
    app.register("root1").await;
    let alice = app.register("alice").await;
    let path = format!("/api/admin/users/{}", alice.user_id);
    let resp = app
        .send(
            Req::patch(&path)
                .admin_key()
                .json(json!({ "status": "disabled" })),
        )
        .await;
    resp.assert_status(StatusCode::OK);
    assert_eq!(resp.json()["user"]["status"], json!("disabled"));
    app.send(Req::get("/api/me").session(&alice))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    let refused = app.send(Req::login("alice", PASSWORD)).await;
    refused.assert_error(StatusCode::FORBIDDEN, "account_disabled");
    assert!(refused.header("set-cookie").is_none());
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM sessions WHERE user_id = ?1",
            alice.user_id
        )
        .await,
        0
    );
    // A wrong password still says only that the credentials are wrong.
    app.send(Req::login("alice", "wrong password"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");

    app.send(
        Req::patch(&path)
            .admin_key()
            .json(json!({ "status": "active" })),
    )
    .await
    .assert_status(StatusCode::OK);
    app.login("alice", PASSWORD).await;
}

#[tokio::test]
async fn an_admin_creates_a_token_for_a_user() {
    let app = TestApp::new().await;
    app.register("root1").await;
    let alice = app.register("alice").await;
    let resp = app
        .send(
            Req::post(&format!("/api/admin/users/{}/tokens", alice.user_id))
                .admin_key()
                .json(json!({ "name": "issued" })),
        )
        .await;
    resp.assert_status(StatusCode::CREATED);
    let created = resp.json();
    let key = created["key"].as_str().expect("key");
    assert!(key.starts_with("sk_") && key.len() == 46, "{created}");
    assert_eq!(created["name"], json!("issued"));
    let id = created["id"].as_i64().expect("id");
    assert_eq!(
        app.count("SELECT user_id FROM tokens WHERE id = ?1", id)
            .await,
        alice.user_id
    );

    let mine = app
        .send(Req::get("/api/tokens").session(&alice))
        .await
        .json();
    assert_eq!(mine["items"][0]["id"], json!(id));
    let revealed = app
        .send(Req::post(&format!("/api/tokens/{id}/reveal")).session(&alice))
        .await
        .json();
    assert_eq!(revealed["key"], json!(key));
    let listed = app
        .send(Req::get(&format!("/api/admin/users/{}/tokens", alice.user_id)).admin_key())
        .await
        .json();
    assert_eq!(listed["items"][0]["id"], json!(id));
    assert!(listed["items"][0].get("key").is_none());
}

#[tokio::test]
async fn balance_adjustments_are_exact_and_never_go_negative() {
    let app = TestApp::new().await;
    app.register("root1").await;
    let alice = app.register("alice").await;
    let path = format!("/api/admin/users/{}/balance", alice.user_id);
    let resp = app
        .send(
            Req::post(&path)
                .admin_key()
                .json(json!({ "amount_usd": "2.50", "note": "welcome" })),
        )
        .await;
    resp.assert_status(StatusCode::OK);
    assert_eq!(resp.json(), json!({ "balance_usd": "2.5" }));

    app.send(
        Req::post(&path)
            .admin_key()
            .json(json!({ "amount_usd": "-3" })),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable");
    let me = app.send(Req::get("/api/me").session(&alice)).await.json();
    assert_eq!(me["balance_usd"], json!("2.5"), "nothing changed");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'user.adjust_balance' AND target_id = ?1",
            alice.user_id,
        )
        .await,
        1,
        "the refused adjustment left no audit record"
    );

    for (name, amount) in [
        ("letters", json!("abc")),
        ("boolean", json!(true)),
        ("too many decimals", json!("0.0000000000001")),
    ] {
        let resp = app
            .send(
                Req::post(&path)
                    .admin_key()
                    .json(json!({ "amount_usd": amount })),
            )
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "case {name}");
        let message = resp.assert_error(StatusCode::BAD_REQUEST, "invalid_json");
        assert!(message.contains("amount_usd"), "case {name}: {message}");
    }

    let resp = app
        .send(
            Req::post(&path)
                .admin_key()
                .json(json!({ "amount_usd": "-0.000001" })),
        )
        .await;
    assert_eq!(resp.json(), json!({ "balance_usd": "2.499999" }));
    let resp = app
        .send(
            Req::post(&path)
                .admin_key()
                .json(json!({ "amount_usd": "-2.499999" })),
        )
        .await;
    assert_eq!(
        resp.json(),
        json!({ "balance_usd": "0" }),
        "exactly zero is allowed"
    );
}

#[tokio::test]
async fn the_last_active_root_cannot_be_demoted_disabled_or_deleted() {
    let app = TestApp::new().await;
    let mut body = user_body("onlyroot");
    body["role"] = json!("root");
    let root = create_user(&app, body).await;
    let path = format!("/api/admin/users/{}", root["id"]);
    for change in [json!({ "role": "user" }), json!({ "status": "disabled" })] {
        app.send(Req::patch(&path).admin_key().json(change))
            .await
            .assert_error(StatusCode::CONFLICT, "conflict");
    }
    app.send(Req::delete(&path).admin_key())
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    let resp = app.send(Req::get(&path).admin_key()).await;
    resp.assert_status(StatusCode::OK);
    assert_eq!(
        resp.json()["user"]["role"],
        json!("root"),
        "nothing changed"
    );

    // With a second root, the first may step down.
    let mut body = user_body("secondroot");
    body["role"] = json!("root");
    create_user(&app, body).await;
    app.send(
        Req::patch(&path)
            .admin_key()
            .json(json!({ "role": "user" })),
    )
    .await
    .assert_status(StatusCode::OK);
}
