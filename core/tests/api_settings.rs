//! `/api/admin/settings`: every key of `API.md` is shown; a change is checked whole (an unknown key
//! or a bad value refuses the entire body and changes nothing); keys fixed by the environment are
//! locked and reported as overridden; changes persist in the database.

pub mod common;

use axum::http::StatusCode;
use common::{PASSWORD, Req, TestApp, test_config};
use pretty_assertions::assert_eq;
use realms_core::AppState;
use serde_json::{Value, json};

async fn settings(app: &TestApp) -> Value {
    let resp = app.send(Req::get("/api/admin/settings").admin_key()).await;
    resp.assert_status(StatusCode::OK);
    resp.json()
}

#[tokio::test]
async fn every_documented_key_is_shown_with_its_default() {
    let app = TestApp::new().await;
    let body = settings(&app).await;
    let shown = &body["settings"];
    for key in [
        "self_mode",
        "site_base_url",
        "allow_open_registration",
        "feature_disable_billing",
        "feature_disable_models",
        "allow_private_upstreams",
    ] {
        assert!(shown.get(key).is_some(), "`{key}` missing: {shown}");
    }
    assert_eq!(shown["self_mode"], json!(false));
    assert_eq!(shown["site_base_url"], json!(""));
    assert_eq!(shown["allow_open_registration"], json!(true));
    assert_eq!(shown["feature_disable_billing"], json!(false));
    assert_eq!(shown["feature_disable_models"], json!(false));
    assert_eq!(shown["allow_private_upstreams"], json!(false));
    assert_eq!(body["overridden"], json!([]));
}

#[tokio::test]
async fn a_valid_change_is_applied_normalised_and_persisted() {
    let app = TestApp::new().await;
    let resp = app
        .send(Req::patch("/api/admin/settings").admin_key().json(json!({
            "site_base_url": " https://relay.example.test/ ",
            "feature_disable_models": true,
            "trusted_proxy_cidrs": ["10.0.0.0/8", "192.0.2.1"],
        })))
        .await;
    resp.assert_status(StatusCode::OK);
    let shown = &resp.json()["settings"];
    assert_eq!(shown["site_base_url"], json!("https://relay.example.test"));
    assert_eq!(shown["feature_disable_models"], json!(true));
    assert_eq!(
        shown["trusted_proxy_cidrs"],
        json!(["10.0.0.0/8", "192.0.2.1/32"])
    );
    assert_eq!(settings(&app).await["settings"], *shown);

    // A state rebuilt over the same database sees the same values.
    let rebuilt = AppState::new(
        test_config(),
        app.state.store.clone(),
        app.state.sealer.clone(),
    )
    .await
    .expect("state");
    let again = rebuilt.settings();
    assert_eq!(again.site_base_url, "https://relay.example.test");
    assert!(again.feature_disable_models);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'settings.update' AND id > ?1",
            0,
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_unknown_key_refuses_the_whole_change() {
    let app = TestApp::new().await;
    let before = settings(&app).await;
    let message = app
        .send(Req::patch("/api/admin/settings").admin_key().json(json!({
            "allow_open_registration": false,
            "feature_disable_models": true,
            "no_such_setting": 1,
        })))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_setting");
    assert!(message.contains("no_such_setting"), "{message}");
    assert_eq!(settings(&app).await, before, "nothing changed");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM settings WHERE substr(key, 1, 1) <> ?1",
            "_"
        )
        .await,
        0,
        "nothing was stored"
    );
    // Internal rows are not settings either.
    app.send(Req::patch("/api/admin/settings").admin_key().json(json!({
        "_crypto_canary": "00",
    })))
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_setting");
    // And the registration switch really did not change.
    app.register("root1").await;
    app.register("alice").await;
}

#[tokio::test]
async fn a_value_of_the_wrong_type_refuses_the_whole_change() {
    let app = TestApp::new().await;
    let before = settings(&app).await;
    let cases = [
        (
            "string for a bool",
            json!({ "feature_disable_models": true, "self_mode": "yes" }),
        ),
        ("number for a bool", json!({ "allow_open_registration": 0 })),
        (
            "null for a bool",
            json!({ "feature_disable_billing": null }),
        ),
        ("ftp url", json!({ "site_base_url": "ftp://example.test" })),
        ("number for a url", json!({ "site_base_url": 5 })),
        (
            "bad cidr",
            json!({ "trusted_proxy_cidrs": ["10.0.0.0/33"] }),
        ),
        (
            "cidrs not a list",
            json!({ "trusted_proxy_cidrs": "10.0.0.0/8" }),
        ),
    ];
    for (name, patch) in cases {
        let resp = app
            .send(Req::patch("/api/admin/settings").admin_key().json(patch))
            .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "case {name}");
        resp.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_setting");
    }
    assert_eq!(settings(&app).await, before, "nothing changed");
    app.send(Req::patch("/api/admin/settings").admin_key().raw("[]"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
}

#[tokio::test]
async fn a_key_fixed_by_the_environment_is_locked() {
    let mut config = test_config();
    config.self_mode = Some(true);
    let app = TestApp::with_config(config).await;
    let body = settings(&app).await;
    assert_eq!(body["settings"]["self_mode"], json!(true));
    assert_eq!(body["overridden"], json!(["self_mode"]));

    let message = app
        .send(Req::patch("/api/admin/settings").admin_key().json(json!({
            "self_mode": false,
            "feature_disable_models": true,
        })))
        .await
        .assert_error(StatusCode::CONFLICT, "setting_overridden");
    assert!(message.contains("self_mode"), "{message}");
    let after = settings(&app).await;
    assert_eq!(after, body, "nothing changed");

    // Other keys still change.
    let resp = app
        .send(Req::patch("/api/admin/settings").admin_key().json(json!({
            "feature_disable_models": true,
        })))
        .await;
    resp.assert_status(StatusCode::OK);
    assert_eq!(
        resp.json()["settings"]["feature_disable_models"],
        json!(true)
    );
    assert_eq!(resp.json()["overridden"], json!(["self_mode"]));
}

#[tokio::test]
async fn private_upstreams_follow_self_mode_until_set() {
    let app = TestApp::new().await;
    app.set_settings(json!({ "self_mode": true })).await;
    let shown = settings(&app).await["settings"].clone();
    assert_eq!(shown["allow_private_upstreams"], json!(true));
    assert_eq!(
        shown["feature_disable_billing"],
        json!(true),
        "self mode means free mode"
    );
    app.set_settings(json!({ "allow_private_upstreams": false }))
        .await;
    let shown = settings(&app).await["settings"].clone();
    assert_eq!(shown["allow_private_upstreams"], json!(false));
}

#[tokio::test]
async fn an_https_site_base_url_makes_the_cookie_secure() {
    let app = TestApp::new().await;
    app.register("alice").await;
    app.set_settings(json!({ "site_base_url": "https://relay.example.test" }))
        .await;
    let resp = app.send(Req::login("alice", PASSWORD)).await;
    resp.assert_status(StatusCode::OK);
    let cookie = resp.set_cookie();
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
}

#[tokio::test]
async fn settings_need_an_admin() {
    let app = TestApp::new().await;
    app.register("root1").await;
    let alice = app.register("alice").await;
    app.send(Req::get("/api/admin/settings"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    app.send(
        Req::patch("/api/admin/settings")
            .session(&alice)
            .json(json!({ "allow_open_registration": false })),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        settings(&app).await["settings"]["allow_open_registration"],
        json!(true)
    );
}
