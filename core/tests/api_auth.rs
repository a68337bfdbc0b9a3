//! `/api/auth/*`: registration (roles, bootstrap, closed sites, validation, body limits), login by
//! username or email, the session cookie's attributes, logout, the CSRF header and session expiry.

pub mod common;

use axum::http::StatusCode;
use common::{PASSWORD, Req, TestApp, test_config};
use pretty_assertions::assert_eq;
use realms_core::config::Secret;
use serde_json::{Value, json};

fn register_body(username: &str, email: &str, password: &str) -> Value {
    json!({ "username": username, "email": email, "password": password })
}

#[tokio::test]
async fn first_user_becomes_root_and_the_second_a_user() {
    let app = TestApp::new().await;
    let first = app
        .send(Req::post("/api/auth/register").json(register_body(
            "alice",
            "alice@example.test",
            PASSWORD,
        )))
        .await;
    first.assert_status(StatusCode::CREATED);
    let user = &first.json()["user"];
    assert_eq!(user["username"], json!("alice"));
    assert_eq!(user["email"], json!("alice@example.test"));
    assert_eq!(user["role"], json!("root"));
    assert_eq!(user["status"], json!("active"));
    assert!(user.get("password_hash").is_none(), "{user}");
    assert!(first.set_cookie().starts_with("realms_session="));

    let second = app
        .send(Req::post("/api/auth/register").json(register_body(
            "bob",
            "bob@example.test",
            PASSWORD,
        )))
        .await;
    second.assert_status(StatusCode::CREATED);
    assert_eq!(second.json()["user"]["role"], json!("user"));

    // The session that registration started works right away.
    let session = second.session();
    let me = app.send(Req::get("/api/me").session(&session)).await;
    me.assert_status(StatusCode::OK);
    assert_eq!(me.json()["username"], json!("bob"));
}

#[tokio::test]
async fn closed_registration_refuses_everyone_after_the_root() {
    let app = TestApp::new().await;
    app.register("root1").await;
    app.set_settings(json!({ "allow_open_registration": false }))
        .await;
    app.send(Req::post("/api/auth/register").json(register_body(
        "late",
        "late@example.test",
        PASSWORD,
    )))
    .await
    .assert_error(StatusCode::FORBIDDEN, "registration_closed");
    let users = app
        .count("SELECT COUNT(*) FROM users WHERE id > ?1", 0)
        .await;
    assert_eq!(users, 1, "nothing was created");

    app.set_settings(json!({ "allow_open_registration": true }))
        .await;
    app.register("late").await;
}

#[tokio::test]
async fn root_password_bootstraps_the_root_and_the_first_registrant_is_a_user() {
    let mut config = test_config();
    config.root_password = Some(Secret::new("bootstrap-password-1"));
    config.root_username = "boss".into();
    let app = TestApp::with_config(config).await;

    let resp = app.send(Req::login("boss", "bootstrap-password-1")).await;
    resp.assert_status(StatusCode::OK);
    assert_eq!(resp.json()["user"]["role"], json!("root"));

    let first = app
        .send(Req::post("/api/auth/register").json(register_body(
            "alice",
            "alice@example.test",
            PASSWORD,
        )))
        .await;
    first.assert_status(StatusCode::CREATED);
    assert_eq!(first.json()["user"]["role"], json!("user"));
}

#[tokio::test]
async fn duplicate_username_or_email_conflicts_case_insensitively() {
    let app = TestApp::new().await;
    app.register("alice").await;
    for (name, body) in [
        (
            "same username, other case",
            register_body("ALICE", "other@example.test", PASSWORD),
        ),
        (
            "same email, other case",
            register_body("other", "Alice@EXAMPLE.test", PASSWORD),
        ),
    ] {
        let resp = app.send(Req::post("/api/auth/register").json(body)).await;
        assert_eq!(resp.status, StatusCode::CONFLICT, "case {name}");
        resp.assert_error(StatusCode::CONFLICT, "already_exists");
    }
}

#[tokio::test]
async fn invalid_fields_are_refused_with_invalid_request() {
    let app = TestApp::new().await;
    let long_email = format!("{}@example.test", "a".repeat(250));
    let cases = [
        (
            "username too short",
            register_body("ab", "a@example.test", PASSWORD),
        ),
        (
            "username with a space",
            register_body("al ice", "a@example.test", PASSWORD),
        ),
        (
            "username too long",
            register_body(&"a".repeat(33), "a@example.test", PASSWORD),
        ),
        (
            "email without at",
            register_body("alice", "alice.example.test", PASSWORD),
        ),
        (
            "email without domain dot",
            register_body("alice", "alice@localhost", PASSWORD),
        ),
        (
            "email too long",
            register_body("alice", &long_email, PASSWORD),
        ),
        (
            "password too short",
            register_body("alice", "a@example.test", "short"),
        ),
        (
            "password too long",
            register_body("alice", "a@example.test", &"p".repeat(257)),
        ),
    ];
    for (name, body) in cases {
        let resp = app.send(Req::post("/api/auth/register").json(body)).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "case {name}");
        let message = resp.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(!message.contains(PASSWORD), "case {name}: {message}");
    }
    let users = app
        .count("SELECT COUNT(*) FROM users WHERE id > ?1", 0)
        .await;
    assert_eq!(users, 0);
}

#[tokio::test]
async fn malformed_bodies_are_invalid_json_naming_the_field() {
    let app = TestApp::new().await;
    let cases: [(&str, &str, &str); 6] = [
        ("not JSON", "{\"username\": ", "invalid JSON"),
        (
            "username is a number",
            r#"{"username": 5, "email": "a@example.test", "password": "long enough"}"#,
            "`username`",
        ),
        (
            "password is null",
            r#"{"username": "alice", "email": "a@example.test", "password": null}"#,
            "`password`",
        ),
        (
            "email missing",
            r#"{"username": "alice", "password": "long enough"}"#,
            "`email`",
        ),
        (
            "unknown field",
            r#"{"username": "alice", "email": "a@example.test", "password": "long enough", "role": "root"}"#,
            "`role`",
        ),
        ("array instead of object", "[1, 2]", "invalid JSON"),
    ];
    for (name, body, needle) in cases {
        let resp = app.send(Req::post("/api/auth/register").raw(body)).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "case {name}");
        let message = resp.assert_error(StatusCode::BAD_REQUEST, "invalid_json");
        assert!(message.contains(needle), "case {name}: {message}");
    }
    let resp = app
        .send(Req::post("/api/auth/login").raw(r#"{"login": ["x"], "password": "y"}"#))
        .await;
    let message = resp.assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    assert!(message.contains("`login`"), "{message}");
}

#[tokio::test]
async fn bodies_over_the_api_limit_are_413() {
    let mut config = test_config();
    config.limits.max_api_body_bytes = 1024;
    let app = TestApp::with_config(config).await;
    let padding = "x".repeat(2048);
    let body = json!({
        "username": "alice",
        "email": "alice@example.test",
        "password": padding,
    });
    let resp = app.send(Req::post("/api/auth/register").json(body)).await;
    resp.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(resp.header("x-request-id").is_some());
    // Under the limit, the same route works.
    app.register("alice").await;
}

#[tokio::test]
async fn login_works_by_username_and_by_email_in_any_case() {
    let app = TestApp::new().await;
    let registered = app.register("alice").await;
    for login in ["alice", "ALICE", "alice@example.test", "Alice@Example.Test"] {
        let resp = app.send(Req::login(login, PASSWORD)).await;
        assert_eq!(resp.status, StatusCode::OK, "login {login}");
        let session = resp.session();
        assert_eq!(session.user_id, registered.user_id, "login {login}");
        assert_ne!(
            session.cookie, registered.cookie,
            "each login is a new session"
        );
        app.send(Req::get("/api/me").session(&session))
            .await
            .assert_status(StatusCode::OK);
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let wrong = app
        .send(Req::login("alice", "not the password"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let unknown = app
        .send(Req::login("nobody", PASSWORD))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(
        wrong, unknown,
        "the answer must not reveal which accounts exist"
    );
    let resp = app.send(Req::login("", PASSWORD)).await;
    resp.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert!(resp.header("set-cookie").is_none());
}

#[tokio::test]
async fn session_cookie_is_http_only_strict_and_not_secure_over_plain_http() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let resp = app.send(Req::login("alice", PASSWORD)).await;
    resp.assert_status(StatusCode::OK);
    let cookie = resp.set_cookie();
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attrs.contains(&"HttpOnly"), "{cookie}");
    assert!(attrs.contains(&"SameSite=Strict"), "{cookie}");
    assert!(attrs.contains(&"Path=/"), "{cookie}");
    assert!(!attrs.contains(&"Secure"), "{cookie}");
    // The secret is long and random, not the user id or name.
    let secret = attrs[0].trim_start_matches("realms_session=");
    assert!(secret.len() >= 43, "{cookie}");
}

#[tokio::test]
async fn cookie_is_secure_when_a_trusted_proxy_says_https() {
    let app = TestApp::new().await;
    app.register("alice").await;
    app.set_settings(json!({
        "trust_proxy_headers": true,
        "trusted_proxy_cidrs": ["10.0.0.0/8"],
    }))
    .await;
    let trusted = app
        .send(
            Req::login("alice", PASSWORD)
                .peer("10.1.2.3:5000")
                .header("x-forwarded-proto", "https"),
        )
        .await;
    trusted.assert_status(StatusCode::OK);
    let cookie = trusted.set_cookie();
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");

    // The same header from a peer outside the trusted ranges is not believed.
    let untrusted = app
        .send(
            Req::login("alice", PASSWORD)
                .peer("192.0.2.7:5000")
                .header("x-forwarded-proto", "https"),
        )
        .await;
    untrusted.assert_status(StatusCode::OK);
    let cookie = untrusted.set_cookie();
    assert!(!cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");

    // Nor from a trusted address when proxy headers are switched off.
    app.set_settings(json!({ "trust_proxy_headers": false }))
        .await;
    let off = app
        .send(
            Req::login("alice", PASSWORD)
                .peer("10.1.2.3:5000")
                .header("x-forwarded-proto", "https"),
        )
        .await;
    let cookie = off.set_cookie();
    assert!(!cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::new().await;
    let session = app.register("alice").await;
    let resp = app
        .send(Req::post("/api/auth/logout").session(&session))
        .await;
    resp.assert_status(StatusCode::NO_CONTENT);
    let cleared = resp.set_cookie();
    assert!(cleared.starts_with("realms_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    app.send(Req::get("/api/me").session(&session))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    app.send(Req::post("/api/auth/logout").session(&session))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
}

#[tokio::test]
async fn cookie_requests_need_the_matching_realms_user_header() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.send(Req::get("/api/me").cookie(&alice))
        .await
        .assert_error(StatusCode::FORBIDDEN, "csrf_header_mismatch");
    app.send(
        Req::get("/api/me")
            .cookie(&alice)
            .header("realms-user", &bob.user_id.to_string()),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "csrf_header_mismatch");
    app.send(
        Req::post("/api/tokens")
            .cookie(&alice)
            .header("realms-user", "")
            .json(json!({ "name": "x" })),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "csrf_header_mismatch");
    let tokens = app
        .count(
            "SELECT COUNT(*) FROM tokens WHERE user_id = ?1",
            alice.user_id,
        )
        .await;
    assert_eq!(tokens, 0, "a refused request changes nothing");
    app.send(Req::get("/api/me").session(&alice))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn missing_or_unknown_sessions_are_not_signed_in() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    app.send(Req::get("/api/me"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    app.send(Req::get("/api/me").header("realms-user", &alice.user_id.to_string()))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    let forged = common::Session {
        user_id: alice.user_id,
        cookie: "realms_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    };
    app.send(Req::get("/api/me").session(&forged))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
}

#[tokio::test]
async fn an_expired_session_is_not_signed_in() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let other = app.login("alice", PASSWORD).await;
    let user_id = alice.user_id;
    // Expire the newest session only; the TTL cannot be set below an hour, so write the past.
    app.state
        .store
        .write(move |tx| {
            tx.execute(
                "UPDATE sessions SET expires_at = ?1 WHERE id = \
                 (SELECT MAX(id) FROM sessions WHERE user_id = ?2)",
                rusqlite::params![realms_core::store::now_ms() - 1_000, user_id],
            )?;
            Ok(())
        })
        .await
        .expect("expire");
    app.send(Req::get("/api/me").session(&other))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    app.send(Req::get("/api/me").session(&alice))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn losing_the_root_does_not_hand_root_to_the_next_registrant() {
    let app = TestApp::new().await;
    let root = app.register("root1").await;
    app.register("alice").await;
    // The API refuses to remove the last root, so the root is lost outside it (a hand-edited
    // database): registration must still not promote a stranger.
    app.send(Req::delete(&format!("/api/admin/users/{}", root.user_id)).admin_key())
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    let id = root.user_id;
    app.state
        .store
        .write(move |tx| Ok(tx.execute("DELETE FROM users WHERE id = ?1", [id])?))
        .await
        .expect("delete by hand");
    let resp = app
        .send(Req::post("/api/auth/register").json(register_body(
            "mallory",
            "mallory@example.test",
            PASSWORD,
        )))
        .await;
    resp.assert_status(StatusCode::CREATED);
    assert_eq!(resp.json()["user"]["role"], json!("user"));
}
