//! Per-channel request shaping end to end: binding renames (body and Gemini path), system
//! prompts, field policies, header overrides, status mapping and the raw passthrough switch, as
//! the fake upstream received them and as the usage record reports them.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use e2e::TestServer;
use e2e::relay::{CLAUDE, GEMINI, GPT, Setup, read};
use fake_upstream::{FakeUpstream, Script};
use reqwest::Method;
use serde_json::{Value, json};

const GPT_UPSTREAM: &str = "gpt-5-2025-08-07";
const CLAUDE_UPSTREAM: &str = "claude-sonnet-4-5-20250929";
const GEMINI_UPSTREAM: &str = "gemini-2.5-flash-preview-09-2025";

/// A user, a token and one channel per kind at `upstream`, each renaming its model.
async fn renaming_setup(server: &TestServer, upstream: &str) -> Setup {
    let mut setup = Setup::bare(server).await;
    setup
        .admin
        .settings(json!({"allow_private_upstreams": true}))
        .await;
    let channel = |kind: &str, key: &str| json!({"type": kind, "name": kind, "base_url": upstream, "api_keys": [key]});
    setup.openai = setup
        .admin
        .channel(
            channel("openai_compatible", "k-openai"),
            &[(GPT, Some(GPT_UPSTREAM))],
        )
        .await;
    setup.anthropic = setup
        .admin
        .channel(
            channel("anthropic", "k-anthropic"),
            &[(CLAUDE, Some(CLAUDE_UPSTREAM))],
        )
        .await;
    setup.gemini = setup
        .admin
        .channel(
            channel("gemini", "k-gemini"),
            &[(GEMINI, Some(GEMINI_UPSTREAM))],
        )
        .await;
    setup
}

/// The JSON body the fake last received on `path`.
fn last_body(fake: &FakeUpstream, path: &str) -> Value {
    fake.requests_to(path)
        .pop()
        .expect("forwarded")
        .json()
        .expect("a JSON body")
}

#[tokio::test]
async fn binding_renames_reach_the_upstream_and_the_record() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = renaming_setup(&server, &fake.url()).await;

    let chat = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}], "seed": 7});
    let (status, id, _) = read(setup.post("/v1/chat/completions", &chat).await).await;
    assert_eq!(status, 200);
    let mut expected = chat.clone();
    expected["model"] = json!(GPT_UPSTREAM);
    assert_eq!(
        last_body(&fake, "/v1/chat/completions"),
        expected,
        "only the model changes"
    );
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(
        (
            &event["model"],
            &event["forwarded_model"],
            &event["upstream_model"]
        ),
        (&json!(GPT), &json!(GPT_UPSTREAM), &json!(GPT_UPSTREAM))
    );

    let messages = json!({"model": CLAUDE, "stream": true, "max_tokens": 3, "messages": []});
    let (status, id, _) = read(setup.post("/v1/messages", &messages).await).await;
    assert_eq!(status, 200);
    assert_eq!(last_body(&fake, "/v1/messages")["model"], CLAUDE_UPSTREAM);
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["forwarded_model"], CLAUDE_UPSTREAM);

    let path = format!("/v1beta/models/{GEMINI}:streamGenerateContent?alt=sse");
    let (status, id, _) = read(setup.post(&path, &json!({"contents": []})).await).await;
    assert_eq!(status, 200);
    let upstream_path = format!("/v1beta/models/{GEMINI_UPSTREAM}:streamGenerateContent");
    let got = fake
        .requests_to(&upstream_path)
        .pop()
        .expect("the renamed path");
    assert_eq!(got.query.as_deref(), Some("alt=sse"));
    assert_eq!(
        got.body_text(),
        "{\"contents\":[]}",
        "the body is untouched"
    );
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["model"], GEMINI);
    assert_eq!(event["forwarded_model"], GEMINI_UPSTREAM);

    // The google-genai SDK's embed_content names the model in every request of the batch too;
    // Gemini wants it to match the URL's.
    let path = format!("/v1beta/models/{GEMINI}:batchEmbedContents");
    let batch = json!({"requests": [{"model": format!("models/{GEMINI}"), "content": {"parts": [{"text": "a"}]}}]});
    let (status, _, _) = read(setup.post(&path, &batch).await).await;
    assert_eq!(status, 200);
    let got = last_body(
        &fake,
        &format!("/v1beta/models/{GEMINI_UPSTREAM}:batchEmbedContents"),
    );
    assert_eq!(
        got["requests"][0]["model"],
        format!("models/{GEMINI_UPSTREAM}")
    );
}

#[tokio::test]
async fn channel_settings_shape_requests_end_to_end() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = renaming_setup(&server, &fake.url()).await;
    let set = |channel: i64, settings: Value| {
        let admin = setup.admin.clone();
        async move {
            admin
                .ok(
                    Method::PATCH,
                    &format!("/channels/{channel}"),
                    json!({"settings": settings}),
                )
                .await;
        }
    };

    // System prompt, prepended in each protocol's own place.
    set(
        setup.openai,
        json!({"system_prompt": {"mode": "prepend", "text": "Be brief."}}),
    )
    .await;
    set(
        setup.anthropic,
        json!({"system_prompt": {"mode": "prepend", "text": "Be brief."}}),
    )
    .await;
    let chat = json!({"model": GPT, "messages": [{"role": "system", "content": "You are Realms."},
                                                 {"role": "user", "content": "hi"}]});
    read(setup.post("/v1/chat/completions", &chat).await).await;
    let sent = last_body(&fake, "/v1/chat/completions");
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Be brief."},
               {"role": "system", "content": "You are Realms."},
               {"role": "user", "content": "hi"}])
    );
    read(
        setup
            .post(
                "/v1/responses",
                &json!({"model": GPT, "instructions": "Use tools.", "input": "x"}),
            )
            .await,
    )
    .await;
    assert_eq!(
        last_body(&fake, "/v1/responses")["instructions"],
        "Be brief.\n\nUse tools."
    );
    read(
        setup
            .post(
                "/v1/messages",
                &json!({"model": CLAUDE, "system": "Be kind.", "messages": []}),
            )
            .await,
    )
    .await;
    assert_eq!(
        last_body(&fake, "/v1/messages")["system"],
        "Be brief.\n\nBe kind."
    );

    // `store` policy.
    set(
        setup.openai,
        json!({"store": {"action": "set", "value": false}}),
    )
    .await;
    let responses = json!({"model": GPT, "store": true, "input": "x", "metadata": {"k": "v"}});
    read(setup.post("/v1/responses", &responses).await).await;
    let sent = last_body(&fake, "/v1/responses");
    assert_eq!(sent["store"], false);
    assert_eq!(sent["metadata"], json!({"k": "v"}));
    assert_eq!(
        sent.get("instructions"),
        None,
        "the previous settings no longer apply"
    );

    // Header overrides: set and remove, never the credential.
    set(
        setup.openai,
        json!({"headers": {
            "x-extra": "on", "user-agent": null, "authorization": null,
            // a credential header: sealed at rest, opened for the routing table
            "api-key": "tenant-key-0123456789abcdef",
        }}),
    )
    .await;
    let response = setup
        .request(Method::POST, "/v1/responses")
        .header("user-agent", "OpenAI/Python 2.0")
        .json(&responses)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let got = fake.requests_to("/v1/responses").pop().expect("forwarded");
    assert_eq!(got.header("x-extra"), Some("on"));
    assert_eq!(got.header("api-key"), Some("tenant-key-0123456789abcdef"));
    assert_eq!(got.header("user-agent"), None);
    assert_eq!(got.header("authorization"), Some("Bearer k-openai"));
    assert_eq!(
        got.json().expect("json")["store"],
        true,
        "store is back to passthrough"
    );

    // Status mapping: the upstream's 400 reaches the client as 422, body unchanged.
    set(setup.openai, json!({"status_map": {"400": 422}})).await;
    let error = json!({"error": {"message": "bad", "type": "invalid_request_error", "param": null, "code": null}});
    fake.push(Script::json(400, error.clone()));
    let (status, _, body) = read(setup.post("/v1/responses", &responses).await).await;
    assert_eq!(status, 422);
    assert_eq!(body, serde_json::to_vec(&error).expect("json"));

    // Raw passthrough: the client's bytes, with no rename and no forced usage.
    set(
        setup.openai,
        json!({"raw_passthrough": true, "system_prompt": {"mode": "set", "text": "ignored"}}),
    )
    .await;
    let raw = format!("{{\"model\": \"{GPT}\", \"stream\": true, \"messages\": []}}");
    let response = setup
        .request(Method::POST, "/v1/chat/completions")
        .header("content-type", "application/json")
        .body(raw.clone())
        .send()
        .await
        .expect("send");
    let (status, id, _) = read(response).await;
    assert_eq!(status, 200);
    let got = fake
        .requests_to("/v1/chat/completions")
        .pop()
        .expect("forwarded");
    assert_eq!(got.body_text(), raw, "byte for byte");
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(
        event["forwarded_model"], GPT,
        "the record names the model actually sent"
    );

    // A mapped 429 reaches the client as the mapped status, not as a rate limit. (Last: the
    // channel's only key is cooling down after it.)
    set(setup.openai, json!({"status_map": {"429": 503}})).await;
    fake.push(Script::json(
        429,
        json!({"error": {"message": "slow down", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
    ));
    let (status, _, _) = read(setup.post("/v1/responses", &responses).await).await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn reasoning_suffixes_become_thinking_budgets_on_gemini_generation_calls_only() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let mut setup = Setup::bare(&server).await;
    setup
        .admin
        .settings(json!({"allow_private_upstreams": true}))
        .await;
    let body = json!({"type": "gemini", "name": "gemini", "base_url": fake.url(),
                      "api_keys": ["k-gemini"], "settings": {"reasoning_suffixes": true}});
    setup.gemini = setup
        .admin
        .channel(body, &[(GEMINI, Some("gemini-2.5-flash-high"))])
        .await;
    let call = |action: &str, body: Value| {
        setup
            .request(Method::POST, &format!("/v1beta/models/{GEMINI}:{action}"))
            .json(&body)
            .send()
    };
    let contents = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});

    let (status, _, _) = read(
        call("generateContent", contents.clone())
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200);
    let upstream = "/v1beta/models/gemini-2.5-flash:generateContent";
    assert_eq!(
        last_body(&fake, upstream)["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 4096})
    );

    let (status, _, _) = read(call("countTokens", contents).await.expect("send")).await;
    assert_eq!(status, 200);
    let counted = last_body(&fake, "/v1beta/models/gemini-2.5-flash:countTokens");
    assert_eq!(
        counted.get("generationConfig"),
        None,
        "countTokens takes no generation settings: {counted}"
    );
}

/// A call about a stored Responses object names no model: the channel's shaping is for new
/// requests, so a cancel's body reaches the upstream as the client sent it.
#[tokio::test]
async fn calls_about_a_stored_response_are_not_shaped_as_new_requests() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let id = setup.stored_response().await;
    setup
        .admin
        .ok(
            Method::PATCH,
            &format!("/channels/{}", setup.openai),
            json!({"settings": {"system_prompt": {"mode": "set", "text": "Be brief."},
                                "store": {"action": "set", "value": false}}}),
        )
        .await;

    let cancel = format!("/v1/responses/{id}/cancel");
    let response = setup
        .request(Method::POST, &cancel)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("cancel");
    let cancel_id = e2e::relay::request_id(&response);
    let (status, _, _) = read(response).await;
    assert_eq!(status, 200);
    assert_eq!(
        last_body(&fake, &cancel),
        json!({}),
        "sent as the client sent it"
    );
    let record = setup.admin.usage_event(&cancel_id).await;
    assert_eq!(record["forwarded_model"], Value::Null, "{record}");
    assert_ne!(record["model_mismatch"], json!(true), "{record}");
}
