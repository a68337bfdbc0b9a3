//! Each built-in route answers in its protocol's shape, echoes the model and reports usage.

use fake_upstream::{COUNT_TOKENS, DEFAULT_TEXT, DEFAULT_USAGE, DONE, FakeUpstream};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::common::{client, events};

async fn post_json(fake: &FakeUpstream, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(fake.url_for(path))
        .json(&body)
        .send()
        .await
        .expect("request succeeds")
}

async fn json_of(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("JSON body")
}

#[tokio::test]
async fn responses_json_and_stream() {
    let fake = FakeUpstream::start().await;
    let r = json_of(
        post_json(
            &fake,
            "/v1/responses",
            json!({"model": "gpt-x", "input": "hi"}),
        )
        .await,
    )
    .await;
    assert_eq!(r["object"], "response");
    assert_eq!(r["model"], "gpt-x");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["output"][0]["content"][0]["text"], DEFAULT_TEXT);
    assert_eq!(r["usage"]["input_tokens"], DEFAULT_USAGE.input);
    assert_eq!(
        r["usage"]["input_tokens_details"]["cached_tokens"],
        DEFAULT_USAGE.cached
    );
    assert_eq!(
        r["usage"]["output_tokens_details"]["reasoning_tokens"],
        DEFAULT_USAGE.reasoning
    );
    assert_eq!(r["usage"]["total_tokens"], DEFAULT_USAGE.total());

    let resp = post_json(
        &fake,
        "/v1/responses",
        json!({"model": "gpt-s", "stream": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    assert!(
        resp.headers().get("content-length").is_none(),
        "streams are chunked like real upstreams"
    );
    let evs = events(&resp.text().await.expect("body"));
    let names: Vec<&str> = evs.iter().filter_map(|e| e.name.as_deref()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e.json()["sequence_number"], json!(i), "event {i}");
    }
    let done = evs.last().expect("events").json();
    assert_eq!(done["response"]["model"], "gpt-s");
    assert_eq!(
        done["response"]["usage"]["output_tokens"],
        DEFAULT_USAGE.output
    );
    let text: String = evs
        .iter()
        .filter(|e| e.name.as_deref() == Some("response.output_text.delta"))
        .map(|e| e.json()["delta"].as_str().expect("delta").to_owned())
        .collect();
    assert_eq!(text, DEFAULT_TEXT);
}

#[tokio::test]
async fn responses_satellite_routes() {
    let fake = FakeUpstream::start().await;
    let c = client();
    let get = json_of(
        c.get(fake.url_for("/v1/responses/resp_1"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(get["id"], "resp_1");
    let del = json_of(
        c.delete(fake.url_for("/v1/responses/resp_1"))
            .send()
            .await
            .expect("del"),
    )
    .await;
    assert_eq!(del["deleted"], true);
    let cancel = json_of(
        c.post(fake.url_for("/v1/responses/resp_1/cancel"))
            .send()
            .await
            .expect("cancel"),
    )
    .await;
    assert_eq!(cancel["status"], "cancelled");
    let items = json_of(
        c.get(fake.url_for("/v1/responses/resp_1/input_items"))
            .send()
            .await
            .expect("items"),
    )
    .await;
    assert_eq!(items["object"], "list");
    assert_eq!(items["data"][0]["role"], "user");
    let count =
        json_of(post_json(&fake, "/v1/responses/input_tokens", json!({"input": "x"})).await).await;
    assert_eq!(count["input_tokens"], COUNT_TOKENS);
    let compact =
        json_of(post_json(&fake, "/v1/responses/compact", json!({"input": []})).await).await;
    assert_eq!(compact["output"][0]["type"], "compaction");
    assert_eq!(fake.count("/v1/responses/resp_1"), 2);
}

#[tokio::test]
async fn chat_json_and_streams_with_and_without_usage() {
    let fake = FakeUpstream::start().await;
    let r = json_of(
        post_json(
            &fake,
            "/v1/chat/completions",
            json!({"model": "c1", "messages": []}),
        )
        .await,
    )
    .await;
    assert_eq!(r["object"], "chat.completion");
    assert_eq!(r["model"], "c1");
    assert_eq!(r["choices"][0]["message"]["content"], DEFAULT_TEXT);
    assert_eq!(
        r["usage"]["prompt_tokens_details"]["cached_tokens"],
        DEFAULT_USAGE.cached
    );
    assert_eq!(
        r["usage"]["completion_tokens_details"]["reasoning_tokens"],
        DEFAULT_USAGE.reasoning
    );

    let body = json!({"model": "c2", "stream": true, "stream_options": {"include_usage": true}});
    let text = post_json(&fake, "/v1/chat/completions", body)
        .await
        .text()
        .await
        .expect("body");
    assert!(text.ends_with(DONE), "{text}");
    assert!(!text.contains("event:"), "chat streams have no event names");
    let evs = events(&text);
    let usage = evs[evs.len() - 2].json();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], DEFAULT_USAGE.input);
    assert_eq!(usage["usage"]["completion_tokens"], DEFAULT_USAGE.output);
    assert_eq!(usage["usage"]["total_tokens"], DEFAULT_USAGE.total());
    assert_eq!(evs[0].json()["model"], "c2");

    let plain = post_json(
        &fake,
        "/chat/completions",
        json!({"model": "c3", "stream": true}),
    )
    .await
    .text()
    .await
    .expect("body");
    assert!(plain.ends_with(DONE));
    assert!(
        !plain.contains("\"usage\""),
        "no usage unless asked: {plain}"
    );
    assert_eq!(
        fake.count("/chat/completions"),
        1,
        "the path without /v1 is served and recorded as such"
    );
}

#[tokio::test]
async fn embeddings_and_models() {
    let fake = FakeUpstream::start().await;
    let r = json_of(
        post_json(
            &fake,
            "/v1/embeddings",
            json!({"model": "e", "input": ["a", "b"]}),
        )
        .await,
    )
    .await;
    assert_eq!(r["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(r["data"][1]["embedding"].as_array().map(Vec::len), Some(8));
    assert_eq!(r["usage"]["prompt_tokens"], DEFAULT_USAGE.input);
    let b = json_of(
        post_json(
            &fake,
            "/v1/embeddings",
            json!({"input": "a", "encoding_format": "base64", "dimensions": 4}),
        )
        .await,
    )
    .await;
    let encoded = b["data"][0]["embedding"].as_str().expect("base64 string");
    assert_eq!(encoded.len(), 24, "4 f32 = 16 bytes = 24 base64 chars");

    let m = json_of(
        client()
            .get(fake.url_for("/v1/models"))
            .send()
            .await
            .expect("models"),
    )
    .await;
    assert_eq!(m["object"], "list");
    assert!(m["data"].as_array().is_some_and(|d| !d.is_empty()));
    let a = json_of(
        client()
            .get(fake.url_for("/v1/models"))
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .expect("models"),
    )
    .await;
    assert_eq!(a["data"][0]["type"], "model");
    assert_eq!(a["has_more"], false);
}

#[tokio::test]
async fn anthropic_json_stream_and_count() {
    let fake = FakeUpstream::start().await;
    let r = json_of(
        post_json(
            &fake,
            "/v1/messages",
            json!({"model": "claude-x", "max_tokens": 5}),
        )
        .await,
    )
    .await;
    assert_eq!(r["type"], "message");
    assert_eq!(r["model"], "claude-x");
    assert_eq!(r["usage"]["input_tokens"], DEFAULT_USAGE.anthropic_input());
    assert_eq!(r["usage"]["cache_read_input_tokens"], DEFAULT_USAGE.cached);
    assert_eq!(
        r["usage"]["cache_creation_input_tokens"],
        DEFAULT_USAGE.cache_creation
    );

    let text = post_json(
        &fake,
        "/v1/messages",
        json!({"model": "claude-s", "stream": true}),
    )
    .await
    .text()
    .await
    .expect("body");
    let evs = events(&text);
    let names: Vec<&str> = evs.iter().filter_map(|e| e.name.as_deref()).collect();
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "content_block_delta")
            .count(),
        5
    );
    let start = evs[0].json();
    assert_eq!(start["message"]["model"], "claude-s");
    assert_eq!(
        start["message"]["usage"]["cache_read_input_tokens"],
        DEFAULT_USAGE.cached
    );
    assert_eq!(
        evs[evs.len() - 2].json()["usage"]["output_tokens"],
        DEFAULT_USAGE.output
    );

    let c = json_of(
        post_json(
            &fake,
            "/v1/messages/count_tokens",
            json!({"model": "m", "messages": []}),
        )
        .await,
    )
    .await;
    assert_eq!(c["input_tokens"], COUNT_TOKENS);
}

#[tokio::test]
async fn gemini_routes() {
    let fake = FakeUpstream::start().await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let g = json_of(
        post_json(
            &fake,
            "/v1beta/models/gemini-2.5-flash:generateContent",
            body.clone(),
        )
        .await,
    )
    .await;
    assert_eq!(g["modelVersion"], "gemini-2.5-flash");
    assert_eq!(
        g["candidates"][0]["content"]["parts"][0]["text"],
        DEFAULT_TEXT
    );
    assert_eq!(
        g["usageMetadata"]["cachedContentTokenCount"],
        DEFAULT_USAGE.cached
    );

    let sse = post_json(
        &fake,
        "/v1beta/models/g1:streamGenerateContent?alt=sse",
        body.clone(),
    )
    .await;
    assert!(
        sse.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    let text = sse.text().await.expect("body");
    assert!(
        !text.contains("event:"),
        "Gemini streams carry data lines only"
    );
    assert!(
        text.lines()
            .all(|l| l.is_empty() || l == "\r" || l.starts_with("data: ")),
        "{text}"
    );
    let evs = events(&text);
    let last = evs.last().expect("chunks").json();
    assert_eq!(
        last["usageMetadata"]["promptTokenCount"],
        DEFAULT_USAGE.input
    );
    assert_eq!(
        last["usageMetadata"]["candidatesTokenCount"],
        DEFAULT_USAGE.gemini_candidates()
    );
    assert_eq!(
        last["usageMetadata"]["thoughtsTokenCount"],
        DEFAULT_USAGE.reasoning
    );
    assert_eq!(
        last["usageMetadata"]["totalTokenCount"],
        DEFAULT_USAGE.total()
    );
    assert!(evs[0].json().get("usageMetadata").is_none());

    let arr = json_of(
        post_json(
            &fake,
            "/v1beta/models/g2:streamGenerateContent",
            body.clone(),
        )
        .await,
    )
    .await;
    let chunks = arr.as_array().expect("JSON array");
    assert_eq!(chunks.len(), 5);
    assert!(chunks[4]["usageMetadata"].is_object());

    let c = json_of(post_json(&fake, "/v1beta/models/g:countTokens", body.clone()).await).await;
    assert_eq!(c["totalTokens"], COUNT_TOKENS);
    let e = json_of(
        post_json(
            &fake,
            "/v1beta/models/e:embedContent",
            json!({"content": {"parts": [{"text": "a"}]}}),
        )
        .await,
    )
    .await;
    assert_eq!(e["embedding"]["values"].as_array().map(Vec::len), Some(8));
    let b = json_of(
        post_json(
            &fake,
            "/v1beta/models/e:batchEmbedContents",
            json!({"requests": [{}, {}, {}]}),
        )
        .await,
    )
    .await;
    assert_eq!(b["embeddings"].as_array().map(Vec::len), Some(3));
    let l = json_of(
        client()
            .get(fake.url_for("/v1beta/models"))
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert!(
        l["models"][0]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("models/"))
    );
    let v1 = json_of(post_json(&fake, "/v1/models/g:generateContent", body.clone()).await).await;
    assert_eq!(v1["modelVersion"], "g", "Gemini is also served under /v1");

    let bad = post_json(&fake, "/v1beta/models/g:nope", body).await;
    assert_eq!(bad.status(), 404);
    let err: Value = bad.json().await.expect("json");
    assert_eq!(err["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn codex_backend_streams_with_quota_headers() {
    let fake = FakeUpstream::start().await;
    let resp = client()
        .post(format!("{}/responses", fake.codex_base_url()))
        .header("authorization", "Bearer at")
        .header("chatgpt-account-id", "acct-1")
        .header("session_id", "sess-1")
        .header("OpenAI-Beta", "responses=experimental")
        .header("originator", "codex_cli_rs")
        .json(&json!({"model": "gpt-5-codex", "stream": false, "store": false}))
        .send()
        .await
        .expect("codex");
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["x-codex-primary-used-percent"], "25");
    assert_eq!(h["x-codex-primary-window-minutes"], "300");
    assert_eq!(h["x-codex-secondary-reset-after-seconds"], "259200");
    let evs = events(&resp.text().await.expect("body"));
    assert_eq!(
        evs.last().and_then(|e| e.name.as_deref()),
        Some("response.completed")
    );
    let rec = fake.last_request().expect("recorded");
    assert_eq!(rec.path, "/backend-api/codex/responses");
    assert_eq!(rec.header("chatgpt-account-id"), Some("acct-1"));
    assert_eq!(rec.header("session_id"), Some("sess-1"));
    assert_eq!(rec.header("openai-beta"), Some("responses=experimental"));
    assert_eq!(rec.header("originator"), Some("codex_cli_rs"));

    fake.set_codex_quota(fake_upstream::CodexQuota {
        primary_used_percent: 100.0,
        ..Default::default()
    });
    let u = client()
        .get(fake.url_for("/backend-api/wham/usage"))
        .send()
        .await
        .expect("usage");
    assert_eq!(u.headers()["x-codex-primary-used-percent"], "100");
    let u: Value = u.json().await.expect("json");
    assert_eq!(u["rate_limit"]["limit_reached"], true);
    assert_eq!(
        u["rate_limit"]["secondary_window"]["limit_window_seconds"],
        604_800
    );
}

#[tokio::test]
async fn unknown_routes_and_bad_json_get_protocol_errors() {
    let fake = FakeUpstream::start().await;
    let nf = client()
        .get(fake.url_for("/v1/nothing"))
        .send()
        .await
        .expect("send");
    assert_eq!(nf.status(), 404);
    let v: Value = nf.json().await.expect("json");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/v1/nothing"))
    );
    let bad = client()
        .post(fake.url_for("/v1/messages"))
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400);
    let v: Value = bad.json().await.expect("json");
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(
        fake.count("/v1/nothing"),
        1,
        "unrouted requests are recorded too"
    );
}
