//! Who may call `/api/admin/*`: the admin API key (as `Authorization: Bearer` or `x-api-key`) and
//! root sessions with the CSRF header; never a user session, an `sk_` token or a wrong key. The
//! admin key is refused everywhere outside `/api/admin/*`.

pub mod common;

use axum::http::StatusCode;
use common::{ADMIN_KEY, PASSWORD, Req, TestApp, test_config};
use pretty_assertions::assert_eq;
use serde_json::json;

#[tokio::test]
async fn the_admin_key_works_as_bearer_and_x_api_key() {
    let app = TestApp::new().await;
    app.send(Req::get("/api/admin/users").admin_key())
        .await
        .assert_status(StatusCode::OK);
    app.send(Req::get("/api/admin/users").header("x-api-key", ADMIN_KEY))
        .await
        .assert_status(StatusCode::OK);
    app.send(Req::get("/api/admin/settings").header("x-api-key", ADMIN_KEY))
        .await
        .assert_status(StatusCode::OK);
    for (name, req) in [
        (
            "wrong bearer",
            Req::get("/api/admin/users")
                .header("authorization", "Bearer test-admin-key-wrong-0000"),
        ),
        (
            "wrong x-api-key",
            Req::get("/api/admin/users").header("x-api-key", "test-admin-key-012345678"),
        ),
        (
            "key as basic auth",
            Req::get("/api/admin/users").header("authorization", &format!("Basic {ADMIN_KEY}")),
        ),
        ("nothing", Req::get("/api/admin/users")),
    ] {
        let resp = app.send(req).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "case {name}");
        resp.assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    }
}

#[tokio::test]
async fn a_users_sk_token_is_not_an_admin_key() {
    let app = TestApp::new().await;
    let root = app.register("root1").await;
    let key = app
        .send(
            Req::post("/api/tokens")
                .session(&root)
                .json(json!({ "name": "t" })),
        )
        .await
        .json()["key"]
        .as_str()
        .expect("key")
        .to_owned();
    app.send(Req::get("/api/admin/users").header("authorization", &format!("Bearer {key}")))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
}

#[tokio::test]
async fn without_a_configured_key_no_bearer_is_admin() {
    let mut config = test_config();
    config.admin_api_key = None;
    let app = TestApp::with_config(config).await;
    app.send(Req::get("/api/admin/users").admin_key())
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
}

#[tokio::test]
async fn the_admin_key_is_refused_outside_admin_routes() {
    let app = TestApp::new().await;
    for path in ["/api/me", "/api/tokens"] {
        let bearer = app.send(Req::get(path).admin_key()).await;
        assert_eq!(bearer.status, StatusCode::UNAUTHORIZED, "path {path}");
        bearer.assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
        let header = app
            .send(Req::get(path).header("x-api-key", ADMIN_KEY))
            .await;
        assert_eq!(header.status, StatusCode::UNAUTHORIZED, "path {path}");
        header.assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    }
    app.send(
        Req::post("/api/tokens")
            .admin_key()
            .json(json!({ "name": "x" })),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tokens WHERE id > ?1", 0)
            .await,
        0
    );
}

#[tokio::test]
async fn only_root_sessions_reach_admin_routes() {
    let app = TestApp::new().await;
    let root = app.register("root1").await;
    let user = app.register("alice").await;
    for path in ["/api/admin/users", "/api/admin/settings"] {
        let resp = app.send(Req::get(path).session(&user)).await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "path {path}");
        resp.assert_error(StatusCode::FORBIDDEN, "forbidden");
        app.send(Req::get(path).session(&root))
            .await
            .assert_status(StatusCode::OK);
        let resp = app.send(Req::get(path).cookie(&root)).await;
        resp.assert_error(StatusCode::FORBIDDEN, "csrf_header_mismatch");
    }
    app.send(
        Req::post("/api/admin/users")
            .session(&user)
            .json(json!({ "username": "evil", "email": "e@example.test", "password": PASSWORD, "role": "root" })),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.send(
        Req::patch(&format!("/api/admin/users/{}", user.user_id))
            .session(&user)
            .json(json!({ "role": "root" })),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let me = app.send(Req::get("/api/me").session(&user)).await.json();
    assert_eq!(me["role"], json!("user"));
}
