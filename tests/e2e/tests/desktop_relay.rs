//! What the desktop tray calls on the running gateway: pausing the data plane (503 in each
//! protocol's shape, no upstream call, the console unaffected), the desktop owner's `sk_` token
//! (stable, working on `/v1`, replaced after a revoke in the console) and "requests today".
#![cfg(test)]

use e2e::relay::{CLAUDE, GEMINI, GPT, Setup, read_json, request_id};
use e2e::{Console, TestServer};
use fake_upstream::FakeUpstream;
use realms_core::config::Secret;
use realms_core::desktop;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy)]
enum Shape {
    OpenAi,
    Anthropic,
    Gemini,
}

/// One data-plane call made while paused.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    header: Option<(&'static str, &'static str)>,
    shape: Shape,
}

fn assert_paused_error(shape: Shape, body: &Value, case: &str) {
    let message = match shape {
        Shape::OpenAi => {
            assert_eq!(
                body["error"]["code"],
                json!("realms_paused"),
                "case {case}: {body}"
            );
            assert!(body["error"]["type"].is_string(), "case {case}: {body}");
            &body["error"]["message"]
        }
        Shape::Anthropic => {
            assert_eq!(body["type"], json!("error"), "case {case}: {body}");
            assert!(body["error"]["type"].is_string(), "case {case}: {body}");
            &body["error"]["message"]
        }
        Shape::Gemini => {
            assert_eq!(body["error"]["code"], json!(503), "case {case}: {body}");
            assert_eq!(
                body["error"]["status"],
                json!("UNAVAILABLE"),
                "case {case}: {body}"
            );
            &body["error"]["message"]
        }
    };
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("Realms is paused")),
        "case {case}: {body}"
    );
}

#[tokio::test]
async fn pause_refuses_every_protocol_without_calling_upstream_and_resume_relays_again() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    assert!(!desktop::relay_paused(&server.state));
    desktop::set_relay_paused(&server.state, true);
    assert!(desktop::relay_paused(&server.state));

    let chat = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]});
    let messages = json!({"model": CLAUDE, "max_tokens": 16,
                          "messages": [{"role": "user", "content": "hi"}]});
    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let post = |name, path: &str, body: Value, shape| Case {
        name,
        method: Method::POST,
        path: path.to_owned(),
        body: Some(body),
        header: None,
        shape,
    };
    let list = |name, path: &str, header, shape| Case {
        name,
        method: Method::GET,
        path: path.to_owned(),
        body: None,
        header,
        shape,
    };
    let cases = [
        post("chat", "/v1/chat/completions", chat.clone(), Shape::OpenAi),
        post(
            "responses stream",
            "/v1/responses",
            json!({"model": GPT, "input": "hi", "stream": true}),
            Shape::OpenAi,
        ),
        post("messages", "/v1/messages", messages, Shape::Anthropic),
        post(
            "gemini",
            &format!("/v1beta/models/{GEMINI}:generateContent"),
            gemini,
            Shape::Gemini,
        ),
        list(
            "anthropic model list",
            "/v1/models",
            Some(("anthropic-version", "2023-06-01")),
            Shape::Anthropic,
        ),
        list("gemini model list", "/v1beta/models", None, Shape::Gemini),
    ];
    for case in cases {
        let mut request = setup.request(case.method, &case.path);
        if let Some((name, value)) = case.header {
            request = request.header(name, value);
        }
        if let Some(body) = &case.body {
            request = request.json(body);
        }
        let (status, _, body) = read_json(request.send().await.expect("send")).await;
        assert_eq!(status, 503, "case {}: {body}", case.name);
        assert_paused_error(case.shape, &body, case.name);
    }
    // Paused refuses before anything else, a missing token included.
    let (status, _, body) = read_json(
        setup
            .anonymous(Method::POST, "/v1/chat/completions")
            .json(&chat)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(fake.requests().is_empty(), "no upstream call while paused");

    // The console keeps working.
    let (status, body) = setup.admin.call(Method::GET, "/settings", None).await;
    assert_eq!(status, 200, "{body}");

    desktop::set_relay_paused(&server.state, false);
    assert!(!desktop::relay_paused(&server.state));
    let response = setup.post("/v1/chat/completions", &chat).await;
    let id = request_id(&response);
    let (status, _, body) = read_json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.count("/v1/chat/completions"), 1);
    // Only the relayed call was recorded; the refused ones were not.
    setup.admin.usage_event(&id).await;
    assert_eq!(setup.admin.usage_events().await.len(), 1);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_desktop_token_is_stable_works_on_the_data_plane_and_is_replaced_after_a_revoke() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| {
        c.desktop_console_secret = Some(Secret::new("desktop-relay-console-secret"));
    })
    .await;
    let setup = Setup::new(&server, &fake.url()).await;
    // The desktop runs in self mode: no balance needed.
    setup.admin.settings(json!({"self_mode": true})).await;

    let token = desktop::ensure_desktop_token(&server.state)
        .await
        .expect("token");
    assert!(token.starts_with("sk_"), "an sk_ token");
    assert_eq!(
        desktop::ensure_desktop_token(&server.state)
            .await
            .expect("again"),
        token,
        "the same token on every call"
    );
    let chat = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]});
    let call = |key: String| {
        let request = setup
            .anonymous(Method::POST, "/v1/chat/completions")
            .bearer_auth(key)
            .json(&chat);
        async move { read_json(request.send().await.expect("send")).await }
    };
    let (status, _, body) = call(token.clone()).await;
    assert_eq!(status, 200, "{body}");

    // The local person sees it in the console as the owner's "Desktop" token, and revokes it.
    let mut console = Console::new(&server);
    console.desktop_sign_in().await;
    let (status, list) = console.call(Method::GET, "/api/tokens", None).await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["name"], json!(desktop::DESKTOP_TOKEN_NAME));
    let id = items[0]["id"].as_i64().expect("id");
    let (status, body) = console
        .call(
            Method::POST,
            &format!("/api/tokens/{id}/revoke"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(token.clone()).await;
    assert_eq!(status, 401, "a revoked token stops working: {body}");

    let replacement = desktop::ensure_desktop_token(&server.state)
        .await
        .expect("new token");
    assert_ne!(replacement, token, "a revoked token is replaced");
    let (status, _, body) = call(replacement.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        desktop::ensure_desktop_token(&server.state)
            .await
            .expect("again"),
        replacement
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn requests_today_counts_relayed_calls() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    assert_eq!(
        desktop::requests_today(&server.state).await.expect("count"),
        0
    );
    let chat = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]});
    for expected in 1..=2 {
        let response = setup.post("/v1/chat/completions", &chat).await;
        let id = request_id(&response);
        let (status, _, body) = read_json(response).await;
        assert_eq!(status, 200, "{body}");
        setup.admin.usage_event(&id).await;
        assert_eq!(
            desktop::requests_today(&server.state).await.expect("count"),
            expected
        );
    }
    server.stop().await.expect("clean stop");
}
