//! HTTP tests of `/api/admin/channels` and `/api/admin/channels/{id}/credentials`.

#![cfg(test)]

pub mod support;

use axum::http::StatusCode;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use support::{TestApp, assert_error};

const KEY_A: &str = "sk-proj-aaaaaaaaaaaaaaaaaaaa1111";
const KEY_B: &str = "sk-proj-bbbbbbbbbbbbbbbbbbbb2222";

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, body) = app.admin("POST", "/api/admin/channels", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["channel"].clone()
}

#[tokio::test]
async fn create_answers_the_whole_channel_with_defaults() {
    let app = TestApp::new().await;
    let channel = create(
        &app,
        json!({ "type": "anthropic", "name": "claude", "api_keys": [KEY_A, KEY_B] }),
    )
    .await;
    assert!(channel["id"].as_i64().is_some());
    assert_eq!(channel["type"], "anthropic");
    assert_eq!(channel["name"], "claude");
    assert_eq!(channel["base_url"], "https://api.anthropic.com");
    assert_eq!(channel["status"], "enabled");
    assert_eq!(channel["priority"], 0);
    assert_eq!(channel["weight"], 1);
    assert_eq!(channel["promoted"], false);
    assert_eq!(channel["settings"], json!({}));
    assert_eq!(channel["groups"], json!([{ "id": 1, "name": "default" }]));
    assert_eq!(channel["models"], json!([]));
    assert!(
        channel["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let credentials = channel["credentials"].as_array().expect("credentials");
    assert_eq!(credentials.len(), 2);
    assert_eq!(credentials[0]["hint"], "sk...1111");
    assert_eq!(credentials[1]["hint"], "sk...2222");
    assert_eq!(credentials[0]["status"], "enabled");
    let text = channel.to_string();
    assert!(!text.contains(KEY_A) && !text.contains(KEY_B), "{text}");
    assert_eq!(app.audits("channel.create").await, 1);
}

#[tokio::test]
async fn default_base_url_per_type_and_explicit_fields() {
    let app = TestApp::new().await;
    for (kind, url) in [
        ("openai_compatible", "https://api.openai.com"),
        ("gemini", "https://generativelanguage.googleapis.com"),
        ("codex_oauth", "https://chatgpt.com/backend-api/codex"),
    ] {
        let channel = create(&app, json!({ "type": kind, "name": kind })).await;
        assert_eq!(channel["base_url"], url, "case {kind}");
    }
    let (status, group) = app
        .admin(
            "POST",
            "/api/admin/channel-groups",
            Some(json!({ "name": "vip" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let vip = group["channel_group"]["id"].as_i64().expect("id");
    let channel = create(
        &app,
        json!({
            "type": "openai_compatible", "name": "local", "base_url": "http://127.0.0.1:8000/v1/",
            "priority": -5, "weight": 7, "promoted": true, "status": "disabled",
            "groups": ["vip", 1], "settings": { "system_prompt": { "mode": "set", "text": "hi" } },
        }),
    )
    .await;
    assert_eq!(channel["base_url"], "http://127.0.0.1:8000/v1");
    assert_eq!(
        (
            &channel["priority"],
            &channel["weight"],
            &channel["promoted"],
            &channel["status"]
        ),
        (&json!(-5), &json!(7), &json!(true), &json!("disabled"))
    );
    assert_eq!(
        channel["groups"],
        json!([{ "id": 1, "name": "default" }, { "id": vip, "name": "vip" }])
    );
    assert_eq!(channel["settings"]["system_prompt"]["text"], "hi");
}

#[tokio::test]
async fn list_show_update_delete() {
    let app = TestApp::new().await;
    let a = create(&app, json!({ "type": "gemini", "name": "a" })).await;
    create(&app, json!({ "type": "gemini", "name": "b" })).await;
    let id = a["id"].as_i64().expect("id");

    let (status, list) = app.admin("GET", "/api/admin/channels?limit=1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let cursor = list["next_cursor"].as_str().expect("more").to_owned();
    let (_, rest) = app
        .admin("GET", &format!("/api/admin/channels?cursor={cursor}"), None)
        .await;
    assert_eq!(rest["items"][0]["name"], "b");
    assert_eq!(rest["next_cursor"], Value::Null);

    let (status, shown) = app
        .admin("GET", &format!("/api/admin/channels/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["channel"]["name"], "a");

    let (status, updated) = app
        .admin(
            "PATCH",
            &format!("/api/admin/channels/{id}"),
            Some(json!({ "name": "a2", "weight": 3, "groups": [], "type": "gemini" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["channel"]["name"], "a2");
    assert_eq!(updated["channel"]["weight"], 3);
    assert_eq!(updated["channel"]["groups"], json!([]));
    assert_eq!(updated["channel"]["base_url"], a["base_url"], "untouched");

    let (status, body) = app
        .admin(
            "PATCH",
            &format!("/api/admin/channels/{id}"),
            Some(json!({ "type": "anthropic" })),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable",
    );

    let (status, body) = app
        .admin("DELETE", &format!("/api/admin/channels/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = app
        .admin("GET", &format!("/api/admin/channels/{id}"), None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.audits("channel.update").await, 1);
    assert_eq!(app.audits("channel.delete").await, 1);
}

#[tokio::test]
async fn bad_input_is_refused_with_the_right_status() {
    let app = TestApp::new().await;
    create(&app, json!({ "type": "gemini", "name": "taken" })).await;
    let long_name = "n".repeat(129);
    let cases: &[(&str, Value, StatusCode, &str)] = &[
        (
            "unknown type",
            json!({ "type": "azure", "name": "x" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "missing name",
            json!({ "type": "gemini" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "name is a number",
            json!({ "type": "gemini", "name": 5 }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "weight negative",
            json!({ "type": "gemini", "name": "x", "weight": -1 }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "unknown field",
            json!({ "type": "gemini", "name": "x", "colour": 1 }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "empty name",
            json!({ "type": "gemini", "name": "  " }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "long name",
            json!({ "type": "gemini", "name": long_name }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no scheme",
            json!({ "type": "gemini", "name": "x", "base_url": "example.com" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "ftp",
            json!({ "type": "gemini", "name": "x", "base_url": "ftp://example.com" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "userinfo",
            json!({ "type": "gemini", "name": "x", "base_url": "https://u:p@example.com" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "query",
            json!({ "type": "gemini", "name": "x", "base_url": "https://example.com/?k=1" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "settings array",
            json!({ "type": "gemini", "name": "x", "settings": [1] }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "settings huge",
            json!({ "type": "gemini", "name": "x", "settings": { "organization": "x".repeat(70_000) } }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "group object",
            json!({ "type": "gemini", "name": "x", "groups": [{}] }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "unknown group",
            json!({ "type": "gemini", "name": "x", "groups": ["nope"] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "unknown group id",
            json!({ "type": "gemini", "name": "x", "groups": [99] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "codex with keys",
            json!({ "type": "codex_oauth", "name": "x", "api_keys": [KEY_A] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "duplicate name",
            json!({ "type": "gemini", "name": "taken" }),
            StatusCode::CONFLICT,
            "already_exists",
        ),
    ];
    for (name, body, want_status, want_code) in cases {
        let (status, answer) = app
            .admin("POST", "/api/admin/channels", Some(body.clone()))
            .await;
        assert_eq!(status, *want_status, "case {name}: {answer}");
        assert_eq!(answer["error"]["code"], *want_code, "case {name}: {answer}");
    }
    let (status, body) = app
        .admin_raw("POST", "/api/admin/channels", "{\"type\": ")
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
    let (status, body) = app.admin("GET", "/api/admin/channels/abc", None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    for method in ["GET", "DELETE"] {
        let (status, body) = app.admin(method, "/api/admin/channels/999", None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, body) = app
        .admin(
            "PATCH",
            "/api/admin/channels/999",
            Some(json!({ "weight": 2 })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.count("channels").await,
        1,
        "only the first channel exists"
    );
}

#[tokio::test]
async fn a_bad_second_key_writes_nothing() {
    let app = TestApp::new().await;
    for keys in [
        json!([KEY_A, ""]),
        json!([KEY_A, "sk-has space"]),
        json!([KEY_A, 7]),
    ] {
        let (status, body) = app
            .admin(
                "POST",
                "/api/admin/channels",
                Some(json!({ "type": "openai_compatible", "name": "half", "api_keys": keys })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(!body.to_string().contains(KEY_A), "{body}");
    }
    let (status, body) = app
        .admin(
            "POST",
            "/api/admin/channels",
            Some(json!({ "type": "openai_compatible", "name": "half", "api_keys": [KEY_A], "groups": ["missing"] })),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable",
    );
    assert_eq!(app.count("channels").await, 0);
    assert_eq!(app.count("credentials").await, 0);
    assert_eq!(app.count("channel_group_members").await, 0);
    assert_eq!(app.audits("channel.create").await, 0);
}

#[tokio::test]
async fn secrets_are_sealed_at_rest() {
    let app = TestApp::new().await;
    let channel = create(
        &app,
        json!({ "type": "openai_compatible", "name": "s", "api_keys": [KEY_A] }),
    )
    .await;
    let id = channel["id"].as_i64().expect("id");
    let (status, body) = app
        .admin(
            "POST",
            &format!("/api/admin/channels/{id}/credentials"),
            Some(json!({ "api_key": KEY_B, "name": "second" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sealed = app.sealed_secrets().await;
    assert_eq!(sealed.len(), 2);
    for (blob, key) in sealed.iter().zip([KEY_A, KEY_B]) {
        assert!(
            !blob.windows(key.len()).any(|w| w == key.as_bytes()),
            "plaintext key found in the database"
        );
        assert!(
            !blob
                .windows(8)
                .any(|w| w == &key.as_bytes()[key.len() - 8..]),
            "a tail of the key found in the database"
        );
        assert_eq!(app.state.sealer.open_str(blob).expect("opens"), key);
    }
}

#[tokio::test]
async fn credentials_routes() {
    let app = TestApp::new().await;
    let a = create(&app, json!({ "type": "anthropic", "name": "a" })).await["id"]
        .as_i64()
        .expect("id");
    let b = create(&app, json!({ "type": "anthropic", "name": "b" })).await["id"]
        .as_i64()
        .expect("id");
    let (status, body) = app
        .admin(
            "POST",
            &format!("/api/admin/channels/{a}/credentials"),
            Some(json!({ "api_key": format!("  {KEY_A}\n"), "name": "main" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let credential = &body["credential"];
    assert_eq!(credential["name"], "main");
    assert_eq!(credential["hint"], "sk...1111");
    assert_eq!(credential["status"], "enabled");
    assert!(credential.get("api_key").is_none() && !body.to_string().contains(KEY_A));
    let cred = credential["id"].as_i64().expect("id");

    let (status, list) = app
        .admin("GET", &format!("/api/admin/channels/{a}/credentials"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    let (status, body) = app
        .admin(
            "PATCH",
            &format!("/api/admin/channels/{a}/credentials/{cred}"),
            Some(json!({ "status": "disabled" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["credential"]["status"], "disabled");
    assert_eq!(body["credential"]["name"], "main");

    // Another channel's credential is missing from this one's point of view.
    for (method, body) in [("PATCH", Some(json!({ "name": "x" }))), ("DELETE", None)] {
        let (status, answer) = app
            .admin(
                method,
                &format!("/api/admin/channels/{b}/credentials/{cred}"),
                body,
            )
            .await;
        assert_error(status, &answer, StatusCode::NOT_FOUND, "not_found");
    }
    let cases: &[(&str, Value, StatusCode, &str)] = &[
        (
            "missing key",
            json!({ "name": "x" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "empty key",
            json!({ "api_key": "" }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "key too long",
            json!({ "api_key": "k".repeat(5000) }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "key is a number",
            json!({ "api_key": 12 }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ];
    for (name, body, want_status, want_code) in cases {
        let (status, answer) = app
            .admin(
                "POST",
                &format!("/api/admin/channels/{a}/credentials"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, *want_status, "case {name}: {answer}");
        assert_eq!(answer["error"]["code"], *want_code, "case {name}: {answer}");
    }
    let (status, body) = app
        .admin(
            "POST",
            "/api/admin/channels/999/credentials",
            Some(json!({ "api_key": KEY_B })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let codex = create(&app, json!({ "type": "codex_oauth", "name": "c" })).await["id"]
        .as_i64()
        .expect("id");
    let (status, body) = app
        .admin(
            "POST",
            &format!("/api/admin/channels/{codex}/credentials"),
            Some(json!({ "api_key": KEY_B })),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable",
    );

    let (status, _) = app
        .admin(
            "DELETE",
            &format!("/api/admin/channels/{a}/credentials/{cred}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.count("credentials").await, 0);
    assert_eq!(app.audits("credential.create").await, 1);
    assert_eq!(app.audits("credential.update").await, 1);
    assert_eq!(app.audits("credential.delete").await, 1);
}

#[tokio::test]
async fn admin_routes_need_the_admin_key() {
    let app = TestApp::new().await;
    let request = axum::http::Request::builder()
        .uri("/api/admin/channels")
        .header("authorization", "Bearer wrong-key-0123456789")
        .body(axum::body::Body::empty())
        .expect("request");
    let (status, body) = app.send(request).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "not_signed_in");
    let session = app.user("plain").await;
    let (status, body) = app.get_as(&session, "/api/admin/channels").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
}

/// A 400 `invalid_request` whose message says `text`.
fn assert_refused_saying(status: StatusCode, body: &Value, text: &str) {
    assert_error(status, body, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(text)),
        "{body}"
    );
}

/// The channel's settings as stored, with their sealed secrets opened; the stored text must not
/// hold `plain_secrets`.
async fn stored_settings(app: &TestApp, id: i64, plain_secrets: &[&str]) -> Value {
    let mut stored = app
        .state
        .store
        .read(move |c| Ok(realms_core::store::channels::get(c, id)?.settings))
        .await
        .expect("stored settings");
    let text = stored.to_string();
    for secret in plain_secrets {
        assert!(!text.contains(secret), "{secret} is sealed at rest: {text}");
    }
    realms_core::relay::shaping::secrets::open(&mut stored, &app.state.sealer).expect("opens");
    stored
}

#[tokio::test]
async fn settings_secrets_are_masked_in_answers_and_kept_when_the_mask_comes_back() {
    const PROXY: &str = "http://relay:pr0xy-pass@proxy.example:3128/";
    const AZURE_KEY: &str = "azure-0123456789abcdef0123";
    let app = TestApp::new().await;
    let settings = json!({
        "proxy": PROXY,
        "headers": { "api-key": AZURE_KEY, "anthropic-beta": "tools-2024" },
    });
    let channel = create(
        &app,
        json!({ "type": "openai_compatible", "name": "azure", "settings": settings }),
    )
    .await;
    let id = channel["id"].as_i64().expect("id");
    let path = format!("/api/admin/channels/{id}");
    let patch_settings =
        |settings: Value| app.admin("PATCH", &path, Some(json!({ "settings": settings })));
    let shown = json!({
        "proxy": "http://relay:****@proxy.example:3128/",
        "headers": { "api-key": "…0123", "anthropic-beta": "tools-2024" },
    });
    assert_eq!(channel["settings"], shown);
    assert_eq!(
        channel["settings_secrets"],
        json!(["/proxy", "/headers/api-key"])
    );
    let (_, list) = app.admin("GET", "/api/admin/channels", None).await;
    let text = list.to_string();
    assert!(
        !text.contains("pr0xy-pass") && !text.contains(AZURE_KEY),
        "{text}"
    );
    let secrets = ["pr0xy-pass", AZURE_KEY];
    assert_eq!(stored_settings(&app, id, &secrets).await, settings);

    // the console saves what it was shown, with one other change: the secrets stay
    let mut edited = shown.clone();
    edited["organization"] = json!("org-7");
    let (status, body) = patch_settings(edited).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["channel"]["settings"]["organization"], "org-7");
    let mut kept = settings.clone();
    kept["organization"] = json!("org-7");
    assert_eq!(stored_settings(&app, id, &secrets).await, kept);

    // a hint where nothing is stored is refused, not sent upstream as a header value
    let (status, body) = patch_settings(json!({ "headers": { "x-api-key": "…0123" } })).await;
    assert_refused_saying(status, &body, "masked value");
    assert_eq!(stored_settings(&app, id, &secrets).await, kept);

    // a proxy mask is kept under a new user name, the stored proxy having a password; where
    // nothing is stored behind it (a new channel) it is refused too
    let (status, body) =
        patch_settings(json!({ "proxy": "http://other:****@proxy.example:3128/" })).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the stored proxy has a password: {body}"
    );
    let (status, body) = app
        .admin(
            "POST",
            "/api/admin/channels",
            Some(json!({ "type": "openai_compatible", "name": "masked-new",
                         "settings": { "proxy": "http://me:****@proxy.example:3128/" } })),
        )
        .await;
    assert_refused_saying(status, &body, "masked credential");

    // new values replace the secrets
    let replaced = json!({
        "proxy": "socks5://relay:new-pass@proxy.example:1080",
        "headers": { "api-key": "a-brand-new-key" },
    });
    let (status, body) = patch_settings(replaced.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        stored_settings(&app, id, &["new-pass", "a-brand-new-key"]).await,
        replaced
    );
}
