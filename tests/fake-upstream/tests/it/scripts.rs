//! Scripts, faults, knobs and recording, observed from a real HTTP client.

use std::time::{Duration, Instant};

use fake_upstream::{
    DEFAULT_USAGE, DONE, FakeUpstream, Match, Script, SseScript, anthropic, data_event, openai,
    responses,
};
use serde_json::{Value, json};

use crate::common::{client, events};

const CHAT: &str = "/v1/chat/completions";

async fn chat(fake: &FakeUpstream, key: &str, body: Value) -> reqwest::Response {
    client()
        .post(fake.url_for(CHAT))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("request succeeds")
}

/// Reads a body chunk by chunk, noting when each arrived; `Err` if the connection broke.
async fn timed_chunks(mut resp: reqwest::Response) -> (Vec<(Instant, String)>, bool) {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => out.push((Instant::now(), String::from_utf8_lossy(&c).into_owned())),
            Ok(None) => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

#[tokio::test]
async fn scripts_are_consumed_in_order_then_defaults_answer() {
    let fake = FakeUpstream::start().await;
    fake.push(Script::status(500, "first"));
    fake.push(Script::json(201, json!({"n": 2})));
    assert_eq!(fake.pending_scripts(), 2);
    assert_eq!(chat(&fake, "k", json!({})).await.status(), 500);
    let second = chat(&fake, "k", json!({})).await;
    assert_eq!(second.status(), 201);
    assert_eq!(second.json::<Value>().await.expect("json")["n"], 2);
    let third: Value = chat(&fake, "k", json!({"model": "m"}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        third["object"], "chat.completion",
        "built-in answer once the queue is empty"
    );
    assert_eq!(fake.pending_scripts(), 0);
    assert_eq!(fake.count(CHAT), 3);

    fake.set_default(Script::status(503, "down").on_path(CHAT));
    fake.push(Script::default_answer().on_path(CHAT));
    assert_eq!(
        chat(&fake, "k", json!({})).await.status(),
        200,
        "queued script before default"
    );
    assert_eq!(chat(&fake, "k", json!({})).await.status(), 503);
    assert_eq!(
        chat(&fake, "k", json!({})).await.status(),
        503,
        "defaults do not run out"
    );
    fake.clear_scripts();
    assert_eq!(chat(&fake, "k", json!({})).await.status(), 200);
}

#[tokio::test]
async fn matchers_select_by_path_header_and_body() {
    let fake = FakeUpstream::start().await;
    fake.push(
        Script::status(401, "bad key").when(Match::path(CHAT).header("authorization", "Bearer k1")),
    );
    fake.push(Script::status(404, "no model").when(Match::any().body_field("model", "gone")));
    fake.push(Script::status(418, "other path").on_path("/v1/responses"));
    // k2 and another model do not match the first two; the third waits for its path.
    assert_eq!(chat(&fake, "k2", json!({"model": "m"})).await.status(), 200);
    assert_eq!(
        chat(&fake, "k2", json!({"model": "gone"})).await.status(),
        404
    );
    assert_eq!(chat(&fake, "k1", json!({"model": "m"})).await.status(), 401);
    assert_eq!(fake.pending_scripts(), 1);
    let r = client()
        .post(fake.url_for("/v1/responses"))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 418);
    assert_eq!(fake.pending_scripts(), 0);
    let keys: Vec<Option<String>> = fake
        .requests_to(CHAT)
        .iter()
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        keys,
        [
            Some("Bearer k2".into()),
            Some("Bearer k2".into()),
            Some("Bearer k1".into())
        ]
    );
}

#[tokio::test]
async fn rate_limit_carries_retry_after_in_the_protocol_shape() {
    let fake = FakeUpstream::start().await;
    fake.push(Script::rate_limited(7).times(2));
    let r = chat(&fake, "k", json!({})).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    let a = client()
        .post(fake.url_for("/v1/messages"))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(a.status(), 429);
    assert_eq!(a.headers()["retry-after"], "7");
    let v: Value = a.json().await.expect("json");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(fake.pending_scripts(), 0);
}

#[tokio::test]
async fn sse_arrives_incrementally_with_a_gap() {
    let fake = FakeUpstream::start().await;
    let gap = Duration::from_millis(250);
    let events = vec![
        data_event(&json!({"i": 0})),
        data_event(&json!({"i": 1})),
        data_event(&json!({"i": 2})),
        DONE.to_owned(),
    ];
    fake.push(Script::new(SseScript::new(events).gap(gap)));
    let sent = Instant::now();
    let resp = chat(&fake, "k", json!({"stream": true})).await;
    assert!(sent.elapsed() < gap, "headers come at once");
    let (chunks, complete) = timed_chunks(resp).await;
    assert!(complete);
    assert_eq!(chunks.len(), 4, "one frame per event: {chunks:?}");
    assert!(chunks[0].1.contains("\"i\":0"));
    let (first, last) = (chunks[0].0, chunks[3].0);
    assert!(
        first.duration_since(sent) < gap,
        "first event is not held back"
    );
    assert!(
        last.duration_since(first) >= gap * 3 - Duration::from_millis(15),
        "{:?}",
        last - first
    );
    assert!(chunks[3].1.contains("[DONE]"));
}

#[tokio::test]
async fn cut_mid_stream_ends_without_done() {
    let fake = FakeUpstream::start().await;
    let events = openai::chat_sse("m", "one two three four", Some(DEFAULT_USAGE));
    fake.push(Script::new(SseScript::new(events).cut_after(3)));
    let (chunks, complete) = timed_chunks(chat(&fake, "k", json!({"stream": true})).await).await;
    assert!(!complete, "the connection breaks instead of ending cleanly");
    let body: String = chunks.into_iter().map(|c| c.1).collect();
    assert_eq!(events_count(&body), 3, "{body}");
    assert!(!body.contains("[DONE]"));

    // The built-in stream obeys the same fault as a knob.
    let r = client()
        .post(fake.url_for("/v1/chat/completions?cut_after=2"))
        .json(&json!({"stream": true}))
        .send()
        .await
        .expect("send");
    let (chunks, complete) = timed_chunks(r).await;
    assert!(!complete);
    assert_eq!(
        events_count(&chunks.into_iter().map(|c| c.1).collect::<String>()),
        2
    );
}

fn events_count(body: &str) -> usize {
    events(body).len()
}

#[tokio::test]
async fn slow_first_byte_stall_and_error_first() {
    let fake = FakeUpstream::start().await;
    let delay = Duration::from_millis(300);
    fake.push(Script::json(200, json!({})).first_byte_delay(delay));
    let t = Instant::now();
    assert_eq!(chat(&fake, "k", json!({})).await.status(), 200);
    assert!(t.elapsed() >= delay, "headers waited {:?}", t.elapsed());

    let stream = anthropic::messages_sse("m", "a b c", DEFAULT_USAGE);
    fake.push(Script::new(SseScript::new(stream).stall_after(2, delay)));
    let t = Instant::now();
    let resp = client()
        .post(fake.url_for("/v1/messages"))
        .json(&json!({"stream": true}))
        .send()
        .await
        .expect("send");
    assert!(t.elapsed() < delay, "headers are not stalled");
    let (chunks, complete) = timed_chunks(resp).await;
    assert!(complete);
    let stall = chunks[2].0.duration_since(chunks[1].0);
    assert!(
        stall >= delay - Duration::from_millis(10),
        "stall after two events: {stall:?}"
    );

    fake.push(Script::sse(vec![anthropic::error_event(
        "overloaded_error",
        "Overloaded",
    )]));
    let text = client()
        .post(fake.url_for("/v1/messages"))
        .json(&json!({"stream": true}))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let evs = events(&text);
    assert_eq!(evs[0].name.as_deref(), Some("error"));
    assert_eq!(evs[0].json()["error"]["type"], "overloaded_error");

    fake.push(Script::status(503, r#"{"error":{"message":"busy"}}"#));
    let r = client()
        .post(fake.url_for("/v1/responses"))
        .json(&json!({"stream": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503, "a status before any stream");
    assert_eq!(r.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn scripted_builders_carry_custom_usage() {
    let fake = FakeUpstream::start().await;
    let usage = fake_upstream::Usage {
        input: 1000,
        cached: 900,
        cache_creation: 0,
        output: 10,
        reasoning: 4,
    };
    fake.push(Script::sse(responses::responses_sse("gpt-x", "ok", usage)));
    let text = client()
        .post(fake.url_for("/v1/responses"))
        .json(&json!({"stream": true}))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let done = events(&text).pop().expect("events").json();
    assert_eq!(
        done["response"]["usage"]["input_tokens_details"]["cached_tokens"],
        900
    );
    assert_eq!(done["response"]["usage"]["total_tokens"], 1010);
}

#[tokio::test]
async fn knobs_shape_the_built_in_streams() {
    let fake = FakeUpstream::start().await;
    let text = client()
        .post(fake.url_for("/v1/responses?events=20"))
        .json(&json!({"stream": true}))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let deltas = events(&text)
        .iter()
        .filter(|e| e.name.as_deref() == Some("response.output_text.delta"))
        .count();
    assert_eq!(deltas, 20);

    let t = Instant::now();
    let r = client()
        .post(fake.url_for("/v1/chat/completions"))
        .header("x-fake-pace-ms", "30")
        .header("x-fake-events", "4")
        .json(&json!({"stream": true}))
        .send()
        .await
        .expect("send");
    let (chunks, complete) = timed_chunks(r).await;
    assert!(complete);
    assert_eq!(
        chunks.len(),
        7,
        "role + 4 deltas + finish + [DONE], one frame each"
    );
    assert!(t.elapsed() >= Duration::from_millis(6 * 30));

    let t = Instant::now();
    let r = client()
        .post(fake.url_for("/v1/messages?first_byte_ms=200"))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(200));

    let r = client()
        .post(fake.url_for("/v1beta/models/g:generateContent?status=503"))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn recording_keeps_method_path_query_headers_and_body() {
    let fake = FakeUpstream::start().await;
    assert!(fake.last_request().is_none());
    client()
        .post(fake.url_for("/v1beta/models/g:streamGenerateContent?alt=sse&key=abc"))
        .header("x-goog-api-key", "gk")
        .body(r#"{"contents":[]}"#)
        .send()
        .await
        .expect("send");
    chat(&fake, "k", json!({"model": "m1"})).await;
    chat(&fake, "k", json!({"model": "m2"})).await;
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(fake.count(CHAT), 2);
    assert_eq!(fake.count("/v1beta/models/g:streamGenerateContent"), 1);
    let g = &fake.requests()[0];
    assert_eq!(g.method, "POST");
    assert_eq!(g.query.as_deref(), Some("alt=sse&key=abc"));
    assert_eq!(g.query_param("key").as_deref(), Some("abc"));
    assert_eq!(g.header("x-goog-api-key"), Some("gk"));
    assert_eq!(g.body_text(), r#"{"contents":[]}"#);
    assert_eq!(
        fake.last_request()
            .and_then(|r| r.json())
            .map(|j| j["model"].clone()),
        Some(json!("m2"))
    );
    fake.clear_requests();
    assert_eq!(fake.count(CHAT), 0);
    fake.set_recording(false);
    chat(&fake, "k", json!({})).await;
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn instances_are_isolated_and_drop_closes_the_port() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    a.push(Script::status(500, "a only"));
    assert_eq!(chat(&b, "k", json!({})).await.status(), 200);
    assert_eq!(chat(&a, "k", json!({})).await.status(), 500);
    assert_eq!((a.count(CHAT), b.count(CHAT)), (1, 1));

    let url = b.url_for(CHAT);
    b.shutdown().await;
    let err = reqwest::Client::new()
        .post(&url)
        .json(&json!({}))
        .send()
        .await;
    assert!(err.is_err(), "port closed after shutdown");
    let url = a.url_for(CHAT);
    drop(a);
    // the accept loop ends on its own task once it sees the cancellation: wait for it, bounded
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while reqwest::Client::new().post(&url).send().await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "port still open 5 s after drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn shutdown_cuts_a_stalled_stream() {
    let fake = FakeUpstream::start().await;
    fake.push(Script::new(
        SseScript::new(vec![DONE.to_owned(), DONE.to_owned()])
            .stall_after(1, Duration::from_secs(60)),
    ));
    let resp = chat(&fake, "k", json!({"stream": true})).await;
    let t = Instant::now();
    fake.shutdown().await;
    let (_, complete) = timed_chunks(resp).await;
    assert!(!complete);
    assert!(t.elapsed() < Duration::from_secs(5));
}
