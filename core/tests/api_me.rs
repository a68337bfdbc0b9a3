//! `/api/me`: the signed-in user's fields and feature switches, and changing one's own password
//! (other sessions end, the current one stays) and email.

pub mod common;

use axum::http::StatusCode;
use common::{PASSWORD, Req, TestApp, test_config};
use pretty_assertions::assert_eq;
use serde_json::json;

#[tokio::test]
async fn me_shows_the_user_features_and_balance_in_full_mode() {
    let app = TestApp::new().await;
    let session = app.register("alice").await;
    let resp = app.send(Req::get("/api/me").session(&session)).await;
    resp.assert_status(StatusCode::OK);
    let me = resp.json();
    assert_eq!(me["id"], json!(session.user_id));
    assert_eq!(me["username"], json!("alice"));
    assert_eq!(me["email"], json!("alice@example.test"));
    assert_eq!(me["role"], json!("root"));
    assert_eq!(me["status"], json!("active"));
    assert_eq!(me["balance_usd"], json!("0"));
    assert!(me.get("password_hash").is_none(), "{me}");
    assert_eq!(
        me["features"],
        json!({ "self_mode": false, "billing": true, "models": true, "registration": true })
    );
    assert!(
        me["created_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{me}"
    );
}

#[tokio::test]
async fn self_mode_hides_the_balance_and_reports_the_switches() {
    let app = TestApp::new().await;
    let session = app.register("alice").await;
    app.set_settings(json!({ "self_mode": true, "feature_disable_models": true }))
        .await;
    let me = app.send(Req::get("/api/me").session(&session)).await.json();
    assert!(me.get("balance_usd").is_none(), "{me}");
    assert_eq!(me["features"]["self_mode"], json!(true));
    assert_eq!(me["features"]["billing"], json!(false));
    assert_eq!(me["features"]["models"], json!(false));

    // Self mode forced by the environment has the same effect.
    let mut config = test_config();
    config.self_mode = Some(true);
    let forced = TestApp::with_config(config).await;
    let session = forced.register("bob").await;
    let me = forced
        .send(Req::get("/api/me").session(&session))
        .await
        .json();
    assert!(me.get("balance_usd").is_none(), "{me}");
    assert_eq!(me["features"]["self_mode"], json!(true));
}

#[tokio::test]
async fn billing_switched_off_hides_the_balance_in_full_mode() {
    let app = TestApp::new().await;
    let session = app.register("alice").await;
    app.set_settings(json!({ "feature_disable_billing": true }))
        .await;
    let me = app.send(Req::get("/api/me").session(&session)).await.json();
    assert!(me.get("balance_usd").is_none(), "{me}");
    assert_eq!(me["features"]["billing"], json!(false));
    assert_eq!(me["features"]["self_mode"], json!(false));
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions_but_keeps_this_one() {
    let app = TestApp::new().await;
    let current = app.register("alice").await;
    let other = app.login("alice", PASSWORD).await;
    let bob = app.register("bob").await;
    let resp = app
        .send(Req::post("/api/me/password").session(&current).json(json!({
            "current_password": PASSWORD,
            "new_password": "a brand new password",
        })))
        .await;
    resp.assert_status(StatusCode::NO_CONTENT);

    app.send(Req::get("/api/me").session(&current))
        .await
        .assert_status(StatusCode::OK);
    app.send(Req::get("/api/me").session(&other))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    app.send(Req::get("/api/me").session(&bob))
        .await
        .assert_status(StatusCode::OK);

    app.send(Req::login("alice", PASSWORD))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.login("alice", "a brand new password").await;
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing() {
    let app = TestApp::new().await;
    let current = app.register("alice").await;
    let other = app.login("alice", PASSWORD).await;
    app.send(Req::post("/api/me/password").session(&current).json(json!({
        "current_password": "not my password",
        "new_password": "a brand new password",
    })))
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.send(Req::get("/api/me").session(&other))
        .await
        .assert_status(StatusCode::OK);
    app.login("alice", PASSWORD).await;

    // A new password that breaks the rules is refused before anything else.
    app.send(Req::post("/api/me/password").session(&current).json(json!({
        "current_password": PASSWORD,
        "new_password": "short",
    })))
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    app.login("alice", PASSWORD).await;
}

#[tokio::test]
async fn the_password_change_needs_the_csrf_header() {
    let app = TestApp::new().await;
    let current = app.register("alice").await;
    app.send(Req::post("/api/me/password").cookie(&current).json(json!({
        "current_password": PASSWORD,
        "new_password": "a brand new password",
    })))
    .await
    .assert_error(StatusCode::FORBIDDEN, "csrf_header_mismatch");
    app.login("alice", PASSWORD).await;
}

#[tokio::test]
async fn changing_the_email_needs_the_password_and_a_free_address() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    app.register("bob").await;
    app.send(Req::patch("/api/me").session(&alice).json(json!({
        "email": "new@example.test",
        "current_password": "wrong password",
    })))
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.send(Req::patch("/api/me").session(&alice).json(json!({
        "email": "BOB@example.test",
        "current_password": PASSWORD,
    })))
    .await
    .assert_error(StatusCode::CONFLICT, "already_exists");
    app.send(Req::patch("/api/me").session(&alice).json(json!({
        "email": "not an email",
        "current_password": PASSWORD,
    })))
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");

    let resp = app
        .send(Req::patch("/api/me").session(&alice).json(json!({
            "email": "new@example.test",
            "current_password": PASSWORD,
        })))
        .await;
    resp.assert_status(StatusCode::OK);
    assert_eq!(resp.json()["user"]["email"], json!("new@example.test"));
    app.login("new@example.test", PASSWORD).await;
}
