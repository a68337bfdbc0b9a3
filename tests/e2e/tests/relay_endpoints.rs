//! Every data-plane endpoint, streamed and not, reaches the fake upstream over real sockets and
//! returns its answer; every way of presenting the token works; model lists come in each
//! client's own shape and only with the models the token may use.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use e2e::TestServer;
use e2e::relay::{CLAUDE, EMBED, GEMINI, GPT, Setup, read, read_json};
use fake_upstream::{COUNT_TOKENS, DEFAULT_TEXT, FakeUpstream};
use reqwest::Method;
use serde_json::{Value, json};

/// One endpoint call: where, what, and what proves the fake's answer came back.
struct Case {
    name: &'static str,
    path: String,
    body: Value,
    /// The path the fake must have received.
    upstream_path: String,
    /// A text the answer must contain.
    expect: &'static str,
    stream: bool,
}

fn cases() -> Vec<Case> {
    let chat = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]});
    let responses = json!({"model": GPT, "input": "hi"});
    let messages = json!({"model": CLAUDE, "max_tokens": 64,
                          "messages": [{"role": "user", "content": "hi"}]});
    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let with_stream = |body: &Value| {
        let mut body = body.clone();
        body["stream"] = json!(true);
        body
    };
    let g = |version: &str, action: &str| format!("/{version}/models/{GEMINI}:{action}");
    let case = |name, path: &str, body: Value, upstream: &str, expect, stream| Case {
        name,
        path: path.to_owned(),
        body,
        upstream_path: upstream.to_owned(),
        expect,
        stream,
    };
    vec![
        case(
            "chat",
            "/v1/chat/completions",
            chat.clone(),
            "/v1/chat/completions",
            "Hello from the fake upstream.",
            false,
        ),
        case(
            "chat stream",
            "/v1/chat/completions",
            with_stream(&chat),
            "/v1/chat/completions",
            "data: [DONE]",
            true,
        ),
        case(
            "responses",
            "/v1/responses",
            responses.clone(),
            "/v1/responses",
            "Hello from the fake upstream.",
            false,
        ),
        case(
            "responses stream",
            "/v1/responses",
            with_stream(&responses),
            "/v1/responses",
            "event: response.completed",
            true,
        ),
        case(
            "responses input_tokens",
            "/v1/responses/input_tokens",
            responses.clone(),
            "/v1/responses/input_tokens",
            "\"input_tokens\":120",
            false,
        ),
        case(
            "responses compact",
            "/v1/responses/compact",
            responses.clone(),
            "/v1/responses/compact",
            "\"object\"",
            false,
        ),
        case(
            "batchEmbedContents",
            &g("v1beta", "batchEmbedContents"),
            json!({"requests": [{"content": {"parts": [{"text": "a"}]}}, {"content": {"parts": [{"text": "b"}]}}]}),
            &g("v1beta", "batchEmbedContents"),
            "\"embeddings\"",
            false,
        ),
        case(
            "embeddings",
            "/v1/embeddings",
            json!({"model": EMBED, "input": "hi"}),
            "/v1/embeddings",
            "\"embedding\"",
            false,
        ),
        case(
            "messages",
            "/v1/messages",
            messages.clone(),
            "/v1/messages",
            "Hello from the fake upstream.",
            false,
        ),
        case(
            "messages stream",
            "/v1/messages",
            with_stream(&messages),
            "/v1/messages",
            "event: message_stop",
            true,
        ),
        case(
            "count_tokens",
            "/v1/messages/count_tokens",
            messages,
            "/v1/messages/count_tokens",
            "\"input_tokens\":120",
            false,
        ),
        case(
            "generateContent",
            &g("v1beta", "generateContent"),
            gemini.clone(),
            &g("v1beta", "generateContent"),
            "Hello from the fake upstream.",
            false,
        ),
        case(
            "streamGenerateContent",
            &format!("{}?alt=sse", g("v1beta", "streamGenerateContent")),
            gemini.clone(),
            &g("v1beta", "streamGenerateContent"),
            "\"finishReason\":\"STOP\"",
            true,
        ),
        case(
            "countTokens",
            &g("v1beta", "countTokens"),
            gemini.clone(),
            &g("v1beta", "countTokens"),
            "\"totalTokens\":120",
            false,
        ),
        case(
            "embedContent",
            &g("v1beta", "embedContent"),
            json!({"content": {"parts": [{"text": "hi"}]}}),
            &g("v1beta", "embedContent"),
            "\"values\"",
            false,
        ),
        case(
            "v1 generateContent",
            &g("v1", "generateContent"),
            gemini.clone(),
            &g("v1", "generateContent"),
            "Hello from the fake upstream.",
            false,
        ),
        case(
            "generateContent with the colon percent-encoded",
            &g("v1beta", "generateContent").replace(':', "%3A"),
            gemini,
            &g("v1beta", "generateContent"),
            "Hello from the fake upstream.",
            false,
        ),
    ]
}

#[tokio::test]
async fn every_endpoint_streamed_or_not_reaches_the_upstream_and_answers() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    assert_eq!(
        COUNT_TOKENS, 120,
        "the expectations above assume the fake's count"
    );

    for case in cases() {
        let before = fake.count(&case.upstream_path);
        let response = setup.post(&case.path, &case.body).await;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (status, _, body) = read(response).await;
        let text = String::from_utf8_lossy(&body);
        let name = case.name;
        assert_eq!(status, 200, "case {name}: {text}");
        assert!(text.contains(case.expect), "case {name}: {text}");
        assert_eq!(
            content_type.starts_with("text/event-stream"),
            case.stream,
            "case {name}: content type {content_type}"
        );
        assert_eq!(
            fake.count(&case.upstream_path),
            before + 1,
            "case {name}: one upstream call"
        );
    }
    assert!(
        DEFAULT_TEXT.contains("fake upstream"),
        "the expectations above quote the fake's text"
    );
}

#[tokio::test]
async fn every_way_of_presenting_the_token_works_and_the_key_param_stays_behind() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let gemini = json!({"contents": [{"parts": [{"text": "hi"}]}]});
    let chat = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]});
    let path = format!("/v1beta/models/{GEMINI}:streamGenerateContent");

    let by_header = |name: &'static str| {
        setup
            .anonymous(Method::POST, "/v1/chat/completions")
            .header(name, setup.token.clone())
            .json(&chat)
    };
    for (name, request) in [
        ("x-api-key", by_header("x-api-key")),
        ("x-goog-api-key", by_header("x-goog-api-key")),
        (
            "bearer",
            setup
                .request(Method::POST, "/v1/chat/completions")
                .json(&chat),
        ),
    ] {
        let (status, _, body) = read(request.send().await.expect("send")).await;
        assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
    }

    let response = setup
        .anonymous(Method::POST, &format!("{path}?alt=sse&key={}", setup.token))
        .json(&gemini)
        .send()
        .await
        .expect("send");
    let (status, _, body) = read(response).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let forwarded = fake
        .requests_to(&path)
        .pop()
        .expect("the fake got the call");
    assert_eq!(
        forwarded.query.as_deref(),
        Some("alt=sse"),
        "`key` is the client's Realms token and is not forwarded"
    );
    assert_eq!(
        forwarded.header("x-goog-api-key"),
        Some(e2e::relay::GEMINI_KEY),
        "the channel's key goes upstream instead"
    );

    for (name, request) in [
        (
            "none",
            setup.anonymous(Method::POST, "/v1/chat/completions"),
        ),
        (
            "wrong",
            setup
                .anonymous(Method::POST, "/v1/chat/completions")
                .bearer_auth("sk_wrong"),
        ),
    ] {
        let (status, _, body) = read_json(request.json(&chat).send().await.expect("send")).await;
        assert_eq!(status, 401, "{name}");
        assert_eq!(body["error"]["type"], "authentication_error", "{name}");
    }
    assert_eq!(
        fake.count("/v1/chat/completions"),
        3,
        "refused calls never go upstream"
    );
}

fn ids(list: &Value, field: &str, key: &str) -> Vec<String> {
    list[field]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|m| m[key].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn model_lists_answer_in_each_clients_shape_with_the_models_its_protocols_reach() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let get = |path: &str| setup.request(Method::GET, path);
    // GPT and EMBED are served by the OpenAI-compatible channel, CLAUDE by the Anthropic one,
    // GEMINI by the Gemini one: each client family lists what its own calls can reach.
    let openai_models: Vec<String> = {
        let mut models: Vec<String> = [GPT, EMBED].map(str::to_owned).to_vec();
        models.sort();
        models
    };

    let (status, _, openai) = read_json(get("/v1/models").send().await.expect("send")).await;
    assert_eq!(status, 200);
    assert_eq!(openai["object"], "list");
    assert_eq!(ids(&openai, "data", "id"), openai_models);
    assert_eq!(openai["data"][0]["object"], "model");

    let (_, _, anthropic) = read_json(
        get("/v1/models")
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(ids(&anthropic, "data", "id"), [CLAUDE]);
    assert_eq!(anthropic["has_more"], false);
    assert_eq!(anthropic["data"][0]["type"], "model");
    assert_eq!(anthropic["first_id"], CLAUDE);

    let (_, _, gemini) = read_json(
        setup
            .anonymous(Method::GET, "/v1/models")
            .header("x-goog-api-key", &setup.token)
            .send()
            .await
            .expect("send"),
    )
    .await;
    let names = [format!("models/{GEMINI}")];
    assert_eq!(ids(&gemini, "models", "name"), names);
    let (_, _, gemini) = read_json(
        setup
            .anonymous(Method::GET, &format!("/v1beta/models?key={}", setup.token))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(ids(&gemini, "models", "name"), names);
    let methods = &gemini["models"][0]["supportedGenerationMethods"];
    for action in ["generateContent", "streamGenerateContent", "embedContent"] {
        assert!(
            methods
                .as_array()
                .is_some_and(|m| m.contains(&json!(action))),
            "{action} in {methods}"
        );
    }

    let (_, _, compat) = read_json(get("/v1beta/openai/models").send().await.expect("send")).await;
    // Gemini's OpenAI-compatible list: the Gemini models, OpenAI-shaped
    assert_eq!(ids(&compat, "data", "id"), [GEMINI]);
    let (status, _, one) = read_json(
        get(&format!("/v1/models/{GPT}"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!((status, one["id"].as_str()), (200, Some(GPT)));
    let (status, _, one) = read_json(
        get(&format!("/v1beta/models/{GEMINI}"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], format!("models/{GEMINI}"));

    // A model another protocol serves is not found in this one's shape either.
    let (status, _, missing) = read_json(
        get(&format!("/v1/models/{CLAUDE}"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 404, "{missing}");
    let (status, _, one) = read_json(
        get(&format!("/v1/models/{CLAUDE}"))
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!((status, one["id"].as_str()), (200, Some(CLAUDE)));

    // A model whose only channel has no key to call with is not listed: it cannot be served.
    let keyless = json!({"type": "openai_compatible", "name": "keyless", "base_url": fake.url(),
                         "api_keys": []});
    setup
        .admin
        .ok(
            Method::POST,
            "/models",
            json!({"public_id": "keyless-model"}),
        )
        .await;
    setup
        .admin
        .channel(keyless, &[("keyless-model", None)])
        .await;
    let (_, _, openai) = read_json(get("/v1/models").send().await.expect("send")).await;
    assert_eq!(ids(&openai, "data", "id"), openai_models);

    // A token limited to one model sees only that model.
    let (_, limited) = setup
        .new_token(json!({"name": "limited", "models": [GPT]}))
        .await;
    let (_, _, list) = read_json(
        setup
            .anonymous(Method::GET, "/v1/models")
            .bearer_auth(&limited)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(ids(&list, "data", "id"), [GPT]);
    let (status, _, missing) = read_json(
        setup
            .anonymous(Method::GET, &format!("/v1/models/{EMBED}"))
            .bearer_auth(&limited)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 404, "{missing}");

    let (status, _, _) = read_json(
        setup
            .anonymous(Method::GET, "/v1/models")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        fake.requests().is_empty(),
        "lists are answered by Realms itself"
    );
}
