//! Pass-through fidelity: what the client sends reaches the upstream untouched (body bytes,
//! unknown fields and roles, query string, vendor headers) except the client's own credentials
//! and cookies; the channel's key goes in the header its kind expects; what the upstream streams
//! reaches the client byte for byte and as it is sent.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use std::time::{Duration, Instant};

use e2e::TestServer;
use e2e::relay::{
    ANTHROPIC_KEY, CLAUDE, GEMINI, GEMINI_KEY, GPT, OPENAI_KEY, Setup, read, request_id,
};
use fake_upstream::{DEFAULT_USAGE, FakeUpstream, Script, SseScript, anthropic, gemini, openai};
use reqwest::Method;

#[tokio::test]
async fn bodies_queries_and_vendor_headers_pass_and_client_credentials_stay_behind() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;

    // Odd spacing, unknown fields and an unknown role: forwarded as they are.
    let messages = format!(
        "{{ \"model\" : \"{CLAUDE}\", \"max_tokens\":64, \"future_field\": {{\"x\": [1,2]}},\n \
         \"messages\": [{{\"role\": \"critic\", \"content\": \"hi\"}}] }}"
    );
    let response = setup
        .anonymous(Method::POST, "/v1/messages?beta=true")
        .header("x-api-key", &setup.token)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "prompt-caching-2024-07-31,future-beta")
        .header("cookie", "realms_session=secret-cookie")
        .header("x-stainless-lang", "python")
        .header("content-type", "application/json")
        .body(messages.clone())
        .send()
        .await
        .expect("send");
    let (status, _, body) = read(response).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let got = fake.requests_to("/v1/messages").pop().expect("forwarded");
    assert_eq!(
        got.body_text(),
        messages,
        "the body is forwarded byte for byte"
    );
    assert_eq!(got.query.as_deref(), Some("beta=true"));
    assert_eq!(
        got.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31,future-beta")
    );
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(got.header("x-stainless-lang"), Some("python"));
    assert_eq!(
        got.header("x-api-key"),
        Some(ANTHROPIC_KEY),
        "the channel's key"
    );
    assert_eq!(got.header("cookie"), None, "cookies stay behind");
    assert_eq!(got.header("authorization"), None);

    // Anthropic clients that name no version get the default one.
    let response = setup
        .post(
            "/v1/messages",
            &serde_json::json!({"model": CLAUDE, "max_tokens": 8, "messages": []}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let got = fake.requests_to("/v1/messages").pop().expect("forwarded");
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        got.header("authorization"),
        None,
        "no Realms token upstream"
    );

    let responses = format!(
        "{{\"model\":\"{GPT}\",\"input\":[{{\"role\":\"oracle\",\"content\":\"hi\"}}],\
         \"text\":{{\"verbosity\":\"low\"}},\"tomorrow\":true}}"
    );
    let response = setup
        .request(Method::POST, "/v1/responses")
        .header("OpenAI-Beta", "responses=experimental")
        .header("session_id", "sess-123")
        .header("content-type", "application/json")
        .body(responses.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let got = fake.requests_to("/v1/responses").pop().expect("forwarded");
    assert_eq!(got.body_text(), responses);
    assert_eq!(got.header("openai-beta"), Some("responses=experimental"));
    assert_eq!(got.header("session_id"), Some("sess-123"));
    assert_eq!(
        got.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str()),
        "the channel's key replaces the client's token"
    );

    let chat = format!(
        "{{\"model\": \"{GPT}\", \"messages\": [{{\"role\": \"developer\", \"content\": \"x\"}}, \
         {{\"role\": \"narrator\", \"content\": \"y\"}}], \"modalities\": [\"text\"]}}"
    );
    let response = setup
        .request(Method::POST, "/v1/chat/completions")
        .header("content-type", "application/json")
        .body(chat.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let got = fake
        .requests_to("/v1/chat/completions")
        .pop()
        .expect("forwarded");
    assert_eq!(got.body_text(), chat);

    let gemini_body = "{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}],\"newThing\":1}";
    let path = format!("/v1beta/models/{GEMINI}:generateContent");
    let response = setup
        .anonymous(Method::POST, &path)
        .header("x-goog-api-key", &setup.token)
        .header("x-goog-api-client", "genai-py/1.0")
        .header("content-type", "application/json")
        .body(gemini_body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let got = fake.requests_to(&path).pop().expect("forwarded");
    assert_eq!(got.body_text(), gemini_body);
    assert_eq!(got.header("x-goog-api-key"), Some(GEMINI_KEY));
    assert_eq!(got.header("x-goog-api-client"), Some("genai-py/1.0"));
}

/// Streams the fake's `events` to the client through `path` and returns what the client got.
async fn relay_stream(setup: &Setup, path: &str, body: serde_json::Value) -> (String, String) {
    let response = setup.post(path, &body).await;
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    assert_eq!(
        headers
            .get("x-accel-buffering")
            .and_then(|v| v.to_str().ok()),
        Some("no"),
        "{path}"
    );
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream")),
        "{path}"
    );
    let id = request_id(&response);
    let (_, _, bytes) = read(response).await;
    (String::from_utf8(bytes).expect("utf-8 stream"), id)
}

#[tokio::test]
async fn streams_reach_the_client_byte_for_byte() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let stream = serde_json::json!({"stream": true, "stream_options": {"include_usage": true}});
    let with = |model: &str| {
        let mut body = stream.clone();
        body["model"] = model.into();
        body
    };
    let mut chat = openai::chat_sse(GPT, "one two", Some(DEFAULT_USAGE));
    chat.insert(1, ": upstream comment\n\n".to_owned());
    let cases = [
        ("chat", "/v1/chat/completions".to_owned(), with(GPT), chat),
        (
            "responses",
            "/v1/responses".to_owned(),
            with(GPT),
            fake_upstream::responses_sse(GPT, "one two", DEFAULT_USAGE),
        ),
        (
            "messages",
            "/v1/messages".to_owned(),
            with(CLAUDE),
            anthropic::messages_sse(CLAUDE, "one two", DEFAULT_USAGE),
        ),
        (
            "gemini",
            format!("/v1beta/models/{GEMINI}:streamGenerateContent?alt=sse"),
            serde_json::json!({"contents": []}),
            gemini::stream_sse(GEMINI, "one two", DEFAULT_USAGE),
        ),
    ];
    for (name, path, body, events) in cases {
        fake.push(Script::sse(events.clone()));
        let (got, _) = relay_stream(&setup, &path, body).await;
        assert_eq!(
            got,
            events.concat(),
            "case {name}: the upstream's bytes, unchanged"
        );
    }
    assert_eq!(fake.pending_scripts(), 0);

    // A JSON answer too, byte for byte, with the upstream's own headers minus its request id.
    let answer = serde_json::json!({"id": "x", "choices": [], "extra": {"kept": true}});
    fake.push(Script::new(fake_upstream::Behaviour::Json {
        status: 200,
        body: answer.clone(),
        headers: vec![
            ("x-request-id".into(), "req_upstream_1".into()),
            ("x-ratelimit-remaining-requests".into(), "99".into()),
            ("openai-organization".into(), "org-secret".into()),
        ],
    }));
    let response = setup
        .post(
            "/v1/chat/completions",
            &serde_json::json!({"model": GPT, "messages": []}),
        )
        .await;
    let headers = response.headers().clone();
    let id = request_id(&response);
    assert_ne!(id, "req_upstream_1", "Realms' own request id");
    assert_eq!(headers["x-upstream-request-id"], "req_upstream_1");
    assert_eq!(headers["x-ratelimit-remaining-requests"], "99");
    assert!(!headers.contains_key("openai-organization"));
    let (_, _, bytes) = read(response).await;
    assert_eq!(bytes, serde_json::to_vec(&answer).expect("json"));
}

#[tokio::test]
async fn each_event_reaches_the_client_before_the_next_is_sent() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let gap = Duration::from_millis(600);
    let all = fake_upstream::responses_sse(GPT, "a b", DEFAULT_USAGE);
    // created, one text delta, completed: a short stream with the protocol's proper end
    let events = vec![all[0].clone(), all[4].clone(), all[all.len() - 1].clone()];
    assert!(events[1].contains("output_text.delta") && events[2].contains("response.completed"));
    let count = events.len();
    let first = events[0].clone();
    fake.push(Script::new(SseScript::new(events.clone()).gap(gap)));

    let started = Instant::now();
    let mut response = setup
        .post(
            "/v1/responses",
            &serde_json::json!({"model": GPT, "stream": true}),
        )
        .await;
    let mut got = Vec::new();
    let mut first_at = None;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        got.extend_from_slice(&chunk);
        if first_at.is_none() && got.len() >= first.len() {
            first_at = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let first_at = first_at.expect("a first event");
    assert_eq!(String::from_utf8(got).expect("utf-8"), events.concat());
    assert!(
        first_at < gap,
        "the first event arrived after {first_at:?}, not before the second was sent"
    );
    let all_gaps = gap * u32::try_from(count - 1).expect("small");
    assert!(
        total >= all_gaps,
        "the stream lasted {total:?}, shorter than the upstream's pacing"
    );
}
