//! Failover and health over real sockets: which failures try the next channel or credential,
//! which cool what down (honouring `retry-after`), which are relayed as they are; failover until
//! the first event and in-band errors after it; bounded attempts; sticky sessions.

use std::time::Duration;

use e2e::TestServer;
use e2e::relay::{
    ANTHROPIC_KEY, CLAUDE, GEMINI, GEMINI_KEY, GPT, OPENAI_KEY, Setup, read, read_json,
    same_decimal,
};
use fake_upstream::{
    DEFAULT_USAGE, FakeUpstream, Match, Script, SseScript, anthropic, gemini, named_event, openai,
    responses_sse,
};
use serde_json::json;

/// The bearer header a key is sent with.
fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// How many calls the fake got with this `authorization` (OpenAI kinds) or `x-api-key`.
fn calls_with(fake: &FakeUpstream, key: &str) -> usize {
    let bearer = bearer(key);
    fake.requests()
        .iter()
        .filter(|r| {
            r.header("authorization") == Some(bearer.as_str()) || r.header("x-api-key") == Some(key)
        })
        .count()
}

/// A user and token plus OpenAI-compatible channels at `upstream`, one per entry of
/// `channels` (`(name, priority, keys)`), each serving [`GPT`]; returns the channel ids.
async fn openai_channels(
    setup: &Setup,
    upstream: &str,
    channels: &[(&str, i32, &[&str])],
) -> Vec<i64> {
    setup
        .admin
        .settings(json!({"allow_private_upstreams": true}))
        .await;
    let mut ids = Vec::new();
    for (name, priority, keys) in channels {
        let body = json!({"type": "openai_compatible", "name": name, "base_url": upstream,
                          "api_keys": keys, "priority": priority});
        ids.push(setup.admin.channel(body, &[(GPT, None)]).await);
    }
    ids
}

/// Channel "a" (priority 10, `key-a`) and its backup "b" (priority 0, `key-b`), both serving
/// [`GPT`] at the fake; returns their ids.
async fn primary_and_backup(setup: &Setup, fake: &FakeUpstream) -> Vec<i64> {
    openai_channels(
        setup,
        &fake.url(),
        &[("a", 10, &["key-a"]), ("b", 0, &["key-b"])],
    )
    .await
}

fn chat() -> serde_json::Value {
    json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn server_errors_fail_over_to_the_next_channel_and_cool_the_failed_one() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    let ids = primary_and_backup(&setup, &fake).await;
    fake.push(
        Script::status(500, "{\"error\":{\"message\":\"down\"}}")
            .when(Match::any().header("authorization", bearer("key-a"))),
    );

    let (status, id, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        (calls_with(&fake, "key-a"), calls_with(&fake, "key-b")),
        (1, 1)
    );
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(
        event["channel_id"], ids[1],
        "the record names the channel that served"
    );
    assert!(same_decimal(&event["cost_usd"], "0.000576"));

    for _ in 0..2 {
        let (status, _, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        (calls_with(&fake, "key-a"), calls_with(&fake, "key-b")),
        (1, 3),
        "the failed channel cools down; its priority does not bring it back at once"
    );
}

#[tokio::test]
async fn an_error_whose_body_stalls_or_trickles_is_judged_by_its_status_within_the_idle_timeout() {
    // headers say 503, then the body never comes; or it comes an event every 0.7 s (each read
    // within the idle timeout, the whole body 40 s)
    let stalled = SseScript::new(vec!["data: {}".into()])
        .status(503)
        .stall_after(0, Duration::from_secs(60));
    let trickling = SseScript::new(vec!["data: {}".into(); 60])
        .status(503)
        .gap(Duration::from_millis(700));
    for (name, body) in [("stalled", stalled), ("trickling", trickling)] {
        let fake = FakeUpstream::start().await;
        let server = TestServer::start_tuned(|c| c.limits.idle_timeout_secs = 1).await;
        let setup = Setup::bare(&server).await;
        let ids = primary_and_backup(&setup, &fake).await;
        fake.push(Script::new(body).when(Match::any().header("authorization", bearer("key-a"))));

        let started = std::time::Instant::now();
        let (status, id, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
        assert_eq!(status, 200, "{name}: the next channel answered");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: the error body held the request for {:?}",
            started.elapsed()
        );
        assert_eq!(setup.admin.usage_event(&id).await["channel_id"], ids[1]);
    }
}

#[tokio::test]
async fn an_upstream_that_refuses_connections_fails_over() {
    let fake = FakeUpstream::start().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    let ids = openai_channels(&setup, &fake.url(), &[("b", 0, &["key-b"])]).await;
    let dead = json!({"type": "openai_compatible", "name": "dead", "base_url": format!("http://{closed}"),
                      "api_keys": ["key-dead"], "priority": 10});
    setup.admin.channel(dead, &[(GPT, None)]).await;

    let (status, id, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 200);
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(setup.admin.usage_event(&id).await["channel_id"], ids[0]);
}

#[tokio::test]
async fn rate_limits_and_auth_failures_move_to_another_credential() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    openai_channels(
        &setup,
        &fake.url(),
        &[
            ("a", 10, &["key-1", "key-2", "key-3"]),
            ("b", 0, &["key-b"]),
        ],
    )
    .await;

    // The first key asked is rate limited: the next key of the same channel answers.
    fake.push(Script::rate_limited(60));
    let (status, _, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 200);
    let log = fake.requests();
    let limited = log[0].header("authorization").expect("auth").to_owned();
    let second = log[1].header("authorization").expect("auth").to_owned();
    assert_ne!(limited, second, "another credential");
    assert!(
        second.starts_with("Bearer key-"),
        "of the same channel: {second}"
    );
    assert_eq!(calls_with(&fake, "key-b"), 0);

    // The next key asked answers 401: the remaining key is tried, and then used alone.
    fake.push(Script::status(401, "{\"error\":{\"message\":\"bad key\"}}"));
    for _ in 0..4 {
        let (status, _, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
        assert_eq!(status, 200);
    }
    let log = fake.requests();
    assert_eq!(log.len(), 2 + 4 + 1, "one extra call for the 401");
    let after: Vec<&str> = log[2..]
        .iter()
        .filter_map(|r| r.header("authorization"))
        .collect();
    let refused = after[0];
    assert!(
        refused != limited && after[1] != refused && after[1] != limited,
        "{after:?}"
    );
    assert!(
        after[1..].iter().all(|a| *a == after[1]),
        "the rate-limited and the refused key both cool down: {after:?}"
    );
    assert_eq!(
        calls_with(&fake, "key-b"),
        0,
        "the channel itself stays healthy"
    );
}

#[tokio::test]
async fn retry_after_is_honoured_and_all_cooling_answers_429_with_retry_after() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    openai_channels(&setup, &fake.url(), &[("only", 0, &["key-1"])]).await;
    fake.push(Script::rate_limited(1));

    let response = setup.post("/v1/chat/completions", &chat()).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let (_, _, body) = read_json(response).await;
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");

    let response = setup
        .post("/v1/responses", &json!({"model": GPT, "input": "again"}))
        .await;
    let retry_after = response.headers().get("retry-after").cloned();
    let (status, _, body) = read_json(response).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    assert_eq!(
        retry_after.as_ref().and_then(|v| v.to_str().ok()),
        Some("1"),
        "every candidate cooling: 429 with Retry-After"
    );
    assert_eq!(
        fake.requests().len(),
        1,
        "nothing is sent while the only key cools"
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 200, "usable again once `retry-after` has passed");
    assert_eq!(fake.requests().len(), 2);
}

/// A channel resting after a failure that is no rate limit (a 5xx here) is "unavailable" to the
/// next caller: 503 with `Retry-After`, not a 429 that makes SDKs back off as if their own
/// quota were spent.
#[tokio::test]
async fn all_cooling_after_failures_answers_503_not_429() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    openai_channels(&setup, &fake.url(), &[("only", 0, &["key-1"])]).await;
    fake.push(Script::status(500, "boom"));
    let (status, _, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 502);

    let response = setup.post("/v1/chat/completions", &chat()).await;
    let retry_after = response.headers().get("retry-after").cloned();
    let (status, _, body) = read_json(response).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "no_available_channel", "{body}");
    assert!(retry_after.is_some(), "when to try again");
    assert_eq!(fake.requests().len(), 1, "nothing sent while it rests");
}

#[tokio::test]
async fn a_rate_limit_without_retry_after_cools_for_the_wait_its_message_names() {
    // OpenAI's form: no `retry-after` header, the wait is in the message; in a stream's first
    // event or in a 429's body
    let limited = json!({"error": {"type": "requests", "code": "rate_limit_exceeded",
        "message": "Rate limit reached for gpt-4.1 on requests per min. Please try again in 900ms."}});
    let cases = [
        (
            "first event",
            Script::sse(vec![format!("data: {limited}\n\n")]),
        ),
        ("429 body", Script::json(429, limited.clone())),
    ];
    for (name, script) in cases {
        let fake = FakeUpstream::start().await;
        let server = TestServer::start().await;
        let setup = Setup::bare(&server).await;
        openai_channels(&setup, &fake.url(), &[("only", 0, &["key-1"])]).await;
        fake.push(script);
        let stream = json!({"model": GPT, "stream": true, "messages": []});

        let response = setup.post("/v1/chat/completions", &stream).await;
        assert_eq!(response.status(), 429, "{name}");
        assert_eq!(
            response.headers()["retry-after"],
            "1",
            "{name}: 900 ms rounded up"
        );
        let (status, _, _) = read(setup.post("/v1/chat/completions", &stream).await).await;
        assert_eq!(status, 429, "{name}: the key cools down");
        assert_eq!(
            fake.requests().len(),
            1,
            "{name}: nothing is sent while it cools"
        );

        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (status, _, _) = read(setup.post("/v1/chat/completions", &stream).await).await;
        assert_eq!(
            status, 200,
            "{name}: usable after the named wait, not the default cooldown"
        );
        assert_eq!(fake.requests().len(), 2, "{name}");
    }
}

#[tokio::test]
async fn client_faults_are_relayed_verbatim_without_failover() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    primary_and_backup(&setup, &fake).await;
    let error = json!({"error": {"message": "Unsupported parameter: 'temperature'", "type": "invalid_request_error", "param": "temperature", "code": "unsupported_parameter"}});
    fake.push(Script::json(400, error.clone()));

    let (status, id, body) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        serde_json::to_vec(&error).expect("json"),
        "the upstream's body, verbatim"
    );
    assert_eq!(fake.requests().len(), 1, "exactly one upstream call");
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["status_code"], 400);
    assert_eq!(event["error_class"], "upstream_rejected");
}

/// A channel without the endpoint (404 not about the model, or 405) sends the request on to the
/// next channel, and is not cooled: it still serves its other endpoints. A stored object's 404
/// stays the client's answer.
#[tokio::test]
async fn a_channel_without_the_endpoint_passes_the_request_on() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    let ids = primary_and_backup(&setup, &fake).await;
    for (status, body) in [
        (404, "{\"detail\":\"Not Found\"}"),
        (405, "Method Not Allowed"),
    ] {
        fake.push(
            Script::status(status, body)
                .when(Match::any().header("authorization", bearer("key-a"))),
        );
        let (answered, id, _) = read(
            setup
                .post("/v1/responses", &json!({"model": GPT, "input": "hi"}))
                .await,
        )
        .await;
        assert_eq!(answered, 200, "{status}: the backup answered");
        assert_eq!(setup.admin.usage_event(&id).await["channel_id"], ids[1]);
    }
    let (status, _, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        fake.last_request()
            .expect("request")
            .header("authorization"),
        Some(bearer("key-a").as_str()),
        "the primary was not cooled"
    );

    let id = setup.stored_response().await;
    fake.push(Script::json(
        404,
        json!({"error": {"message": "No response found", "type": "invalid_request_error"}}),
    ));
    let (status, _, body) = read(
        setup
            .request(reqwest::Method::GET, &format!("/v1/responses/{id}"))
            .send()
            .await
            .expect("fetch"),
    )
    .await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("No response found"));
}

/// `(name, path, body, the primary's failing script, a marker of the whole answer's end)`.
type InBandCase = (
    &'static str,
    String,
    serde_json::Value,
    Script,
    &'static str,
);

/// Runs each case against its backup channel (same order): the primary fails in band before
/// committing, the backup answers whole, and the client sees no trace of the failure.
async fn fails_over_to_backups(
    setup: &Setup,
    fake: &FakeUpstream,
    cases: impl IntoIterator<Item = InBandCase>,
    backups: Vec<i64>,
) {
    for ((name, path, body, script, end), backup) in cases.into_iter().zip(backups) {
        fake.clear_requests();
        fake.push(script);
        let (status, id, answer) = read(setup.post(&path, &body).await).await;
        let text = String::from_utf8_lossy(&answer);
        assert_eq!(status, 200, "case {name}");
        assert!(text.contains(end), "case {name}: a whole answer: {text}");
        assert!(
            !text.to_lowercase().contains("overloaded"),
            "case {name}: the failed attempt left no trace: {text}"
        );
        assert_eq!(
            fake.requests().len(),
            2,
            "case {name}: primary, then backup"
        );
        let event = setup.admin.usage_event(&id).await;
        assert_eq!(event["channel_id"], backup, "case {name}");
        assert_eq!(event["partial"], false, "case {name}");
    }
    assert_eq!(fake.pending_scripts(), 0);
}

#[tokio::test]
async fn an_error_as_the_first_event_fails_over_before_anything_reaches_the_client() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let mut backups = Vec::new();
    for (kind, model) in [
        ("openai_compatible", GPT),
        ("anthropic", CLAUDE),
        ("gemini", GEMINI),
    ] {
        let body = json!({"type": kind, "name": format!("{kind} backup"), "base_url": fake.url(),
                          "api_keys": ["backup-key"], "priority": -1});
        backups.push(setup.admin.channel(body, &[(model, None)]).await);
    }
    let gemini_path = format!("/v1beta/models/{GEMINI}:streamGenerateContent");
    let cases = [
        (
            "chat",
            "/v1/chat/completions".to_owned(),
            json!({"model": GPT, "stream": true, "messages": []}),
            Script::sse(vec![openai::chat_error_event("The server is overloaded")])
                .when(Match::any().header("authorization", bearer(OPENAI_KEY))),
            "data: [DONE]\n\n",
        ),
        (
            "messages",
            "/v1/messages".to_owned(),
            json!({"model": CLAUDE, "stream": true, "messages": []}),
            Script::sse(vec![anthropic::error_event(
                "overloaded_error",
                "Overloaded",
            )])
            .when(Match::any().header("x-api-key", ANTHROPIC_KEY)),
            "event: message_stop\n",
        ),
        (
            "gemini",
            format!("{gemini_path}?alt=sse"),
            json!({"contents": []}),
            Script::sse(vec![gemini::error_event(503, "The model is overloaded")])
                .when(Match::any().header("x-goog-api-key", GEMINI_KEY)),
            "\"finishReason\":\"STOP\"",
        ),
    ];
    fails_over_to_backups(&setup, &fake, cases, backups).await;
}

#[tokio::test]
async fn an_in_band_fault_of_the_request_itself_is_answered_400_without_failover_or_cooldown() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let backup = json!({"type": "anthropic", "name": "anthropic backup", "base_url": fake.url(),
                        "api_keys": ["backup-key"], "priority": -1});
    setup.admin.channel(backup, &[(CLAUDE, None)]).await;
    fake.push(Script::sse(vec![anthropic::error_event(
        "invalid_request_error",
        "prompt is too long: 250000 tokens > 200000 maximum",
    )]));

    let body = json!({"model": CLAUDE, "stream": true, "messages": []});
    let (status, _, answer) = read_json(setup.post("/v1/messages", &body).await).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["type"], "error", "Anthropic's shape: {answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("prompt is too long")),
        "the upstream's reason: {answer}"
    );
    assert_eq!(fake.requests().len(), 1, "no other channel was asked");

    let (status, _, _) = read(setup.post("/v1/messages", &body).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        calls_with(&fake, ANTHROPIC_KEY),
        2,
        "the channel was not cooled down for the client's fault"
    );
}

#[tokio::test]
async fn a_400_that_names_a_dead_key_moves_to_another_credential_and_cools_the_key() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    openai_channels(&setup, &fake.url(), &[("a", 0, &["key-1", "key-2"])]).await;
    fake.push(Script::status(
        400,
        r#"{"error":{"code":400,"message":"API key expired. Please renew the API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}"#,
    ));

    let (status, _, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 200, "the other key answered");
    let log = fake.requests();
    assert_eq!(log.len(), 2);
    let dead = log[0].header("authorization").expect("auth").to_owned();
    for _ in 0..3 {
        let (status, _, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
        assert_eq!(status, 200);
    }
    let dead_calls = fake
        .requests()
        .iter()
        .filter(|r| r.header("authorization") == Some(dead.as_str()))
        .count();
    assert_eq!(dead_calls, 1, "the dead key cools down");
}

#[tokio::test]
async fn a_stream_that_ends_or_breaks_before_its_first_event_fails_over() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    let ids = openai_channels(
        &setup,
        &fake.url(),
        &[
            ("a", 10, &["key-a"]),
            ("b", 5, &["key-b"]),
            ("c", 0, &["key-c"]),
        ],
    )
    .await;
    let stream = json!({"model": GPT, "stream": true, "messages": []});
    // The failed channel cools down, so each case fails on the next one in priority order.
    let cases = [
        ("ends", "key-a", SseScript::new(Vec::new()), "key-b", ids[1]),
        (
            "breaks",
            "key-b",
            SseScript::new(vec![openai::chat_error_event("x")]).cut_after(0),
            "key-c",
            ids[2],
        ),
    ];
    for (name, failing, script, serving, channel) in cases {
        fake.clear_requests();
        fake.push(Script::new(script).when(Match::any().header("authorization", bearer(failing))));
        let (status, id, answer) = read(setup.post("/v1/chat/completions", &stream).await).await;
        let text = String::from_utf8(answer).expect("utf-8");
        assert_eq!(status, 200, "case {name}: {text}");
        assert!(
            text.contains("data: [DONE]"),
            "case {name}: a whole answer: {text}"
        );
        assert_eq!(
            (calls_with(&fake, failing), calls_with(&fake, serving)),
            (1, 1),
            "case {name}: the failing channel, then the next"
        );
        let event = setup.admin.usage_event(&id).await;
        assert_eq!(event["channel_id"], channel, "case {name}");
    }
    assert_eq!(fake.pending_scripts(), 0);
}

#[tokio::test]
async fn a_cut_after_the_first_event_ends_in_band_in_the_clients_protocol_without_retry() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    // A second channel of each kind could serve, but after commit nothing is retried.
    for (kind, model) in [
        ("openai_compatible", GPT),
        ("anthropic", CLAUDE),
        ("gemini", GEMINI),
    ] {
        let body = json!({"type": kind, "name": format!("{kind} backup"), "base_url": fake.url(), "api_keys": ["backup-key"], "priority": -1});
        setup.admin.channel(body, &[(model, None)]).await;
    }
    let gemini_path = format!("/v1beta/models/{GEMINI}:streamGenerateContent");
    let cases = [
        (
            "responses",
            "/v1/responses".to_owned(),
            "/v1/responses".to_owned(),
            json!({"model": GPT, "stream": true}),
            responses_sse(GPT, "a b c", DEFAULT_USAGE),
            "event: error\ndata: {",
        ),
        (
            "messages",
            "/v1/messages".to_owned(),
            "/v1/messages".to_owned(),
            json!({"model": CLAUDE, "stream": true, "messages": []}),
            anthropic::messages_sse(CLAUDE, "a b c", DEFAULT_USAGE),
            "event: error\ndata: {\"type\":\"error\"",
        ),
        (
            "gemini",
            format!("{gemini_path}?alt=sse"),
            gemini_path.clone(),
            json!({"contents": []}),
            gemini::stream_sse(GEMINI, "a b c", DEFAULT_USAGE),
            "data: {\"error\":{\"code\":502",
        ),
    ];
    for (name, path, upstream_path, body, events, in_band) in cases {
        let sent: String = events[..2].concat();
        fake.push(Script::new(SseScript::new(events).cut_after(2)));
        let (status, id, answer) = read(setup.post(&path, &body).await).await;
        let text = String::from_utf8(answer).expect("utf-8");
        assert_eq!(status, 200, "case {name}: committed");
        assert!(
            text.starts_with(&sent),
            "case {name}: the events before the cut: {text}"
        );
        let tail = &text[sent.len()..];
        assert!(
            tail.starts_with(in_band),
            "case {name}: one in-band error event: {tail}"
        );
        assert!(
            tail.ends_with("\n\n") && tail.matches("data:").count() == 1,
            "case {name}: {tail}"
        );
        assert_eq!(
            fake.count(&upstream_path),
            1,
            "case {name}: no retry after commit"
        );
        let event = setup.admin.usage_event(&id).await;
        assert_eq!(event["partial"], true, "case {name}");
        assert_eq!(event["error_class"], "upstream_failed", "case {name}");
        fake.clear_requests();
    }
}

#[tokio::test]
async fn with_a_preamble_hold_an_error_right_after_the_preamble_still_fails_over() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| c.routing.preamble_hold_ms = 3_000).await;
    let setup = Setup::new(&server, &fake.url()).await;
    let mut backups = Vec::new();
    for (kind, model) in [("anthropic", CLAUDE), ("openai_compatible", GPT)] {
        let body = json!({"type": kind, "name": format!("{kind} backup"), "base_url": fake.url(),
                          "api_keys": ["backup-key"], "priority": -1});
        backups.push(setup.admin.channel(body, &[(model, None)]).await);
    }
    // Anthropic's overloaded error a moment after `message_start`; a Responses error a moment
    // after `response.created` and `response.in_progress` (in a read of their own).
    let message_start = anthropic::messages_sse(CLAUDE, "x", DEFAULT_USAGE)[0].clone();
    let created: Vec<String> = responses_sse(GPT, "x", DEFAULT_USAGE)[..2].to_vec();
    let server_error = named_event(
        "error",
        &json!({"type": "error", "code": "server_error", "message": "The server is overloaded"}),
    );
    let cases = [
        (
            "messages",
            "/v1/messages".to_owned(),
            json!({"model": CLAUDE, "stream": true, "messages": []}),
            Script::new(
                SseScript::new(vec![
                    message_start,
                    anthropic::error_event("overloaded_error", "Overloaded"),
                ])
                .stall_after(1, Duration::from_millis(300)),
            )
            .when(Match::any().header("x-api-key", ANTHROPIC_KEY)),
            "event: message_stop\n",
        ),
        (
            "responses",
            "/v1/responses".to_owned(),
            json!({"model": GPT, "stream": true}),
            Script::new(
                SseScript::new([created, vec![server_error]].concat())
                    .stall_after(2, Duration::from_millis(300)),
            )
            .when(Match::any().header("authorization", bearer(OPENAI_KEY))),
            "event: response.completed\n",
        ),
    ];
    fails_over_to_backups(&setup, &fake, cases, backups).await;
}

#[tokio::test]
async fn a_preamble_followed_by_silence_is_committed_once_the_hold_ends() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| c.routing.preamble_hold_ms = 300).await;
    let setup = Setup::new(&server, &fake.url()).await;
    // `message_start`, then two seconds before the first content
    let events = anthropic::messages_sse(CLAUDE, "a b", DEFAULT_USAGE);
    fake.push(Script::new(
        SseScript::new(events.clone()).stall_after(1, Duration::from_secs(2)),
    ));
    let started = std::time::Instant::now();
    let response = setup
        .post(
            "/v1/messages",
            &json!({"model": CLAUDE, "stream": true, "messages": []}),
        )
        .await;
    let committed_after = started.elapsed();
    assert!(
        committed_after < Duration::from_millis(1500),
        "the client had its answer's head after {committed_after:?}, not after the pause"
    );
    let (status, _, answer) = read(response).await;
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(answer).expect("utf-8"), events.concat());
    assert_eq!(fake.requests().len(), 1);

    // A hold reaching past the first-byte deadline ends there: the upstream did answer.
    let server = TestServer::start_tuned(|c| {
        c.routing.preamble_hold_ms = 3_000;
        c.limits.first_byte_timeout_secs = 1;
    })
    .await;
    let setup = Setup::new(&server, &fake.url()).await;
    fake.clear_requests();
    fake.push(Script::new(
        SseScript::new(events.clone()).stall_after(1, Duration::from_secs(2)),
    ));
    let (status, _, answer) = read(
        setup
            .post(
                "/v1/messages",
                &json!({"model": CLAUDE, "stream": true, "messages": []}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(answer).expect("utf-8"), events.concat());
    assert_eq!(fake.requests().len(), 1, "committed, not failed over");
}

#[tokio::test]
async fn a_slow_first_byte_fails_over_within_the_configured_timeout() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| c.limits.first_byte_timeout_secs = 1).await;
    let setup = Setup::bare(&server).await;
    primary_and_backup(&setup, &fake).await;
    let slow = Match::any().header("authorization", bearer("key-a"));
    fake.push(
        Script::default_answer()
            .when(slow.clone())
            .first_byte_delay(Duration::from_secs(3)),
    );

    let started = std::time::Instant::now();
    let (status, _, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        (calls_with(&fake, "key-a"), calls_with(&fake, "key-b")),
        (1, 1)
    );

    // Headers at once but no first event in time: the peek times out the same way.
    let fake2 = FakeUpstream::start().await;
    let server2 = TestServer::start_tuned(|c| c.limits.first_byte_timeout_secs = 1).await;
    let setup2 = Setup::bare(&server2).await;
    primary_and_backup(&setup2, &fake2).await;
    let events = responses_sse(GPT, "x", DEFAULT_USAGE);
    fake2.push(
        Script::new(SseScript::new(events).stall_after(0, Duration::from_secs(3))).when(slow),
    );
    let (status, _, answer) = read(
        setup2
            .post("/v1/responses", &json!({"model": GPT, "stream": true}))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&answer).contains("response.completed"));
    assert_eq!(
        (calls_with(&fake2, "key-a"), calls_with(&fake2, "key-b")),
        (1, 1)
    );
}

#[tokio::test]
async fn an_attempt_keeps_its_whole_first_byte_timeout_past_the_failover_budget() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| {
        c.routing.max_failover_secs = 1;
        c.limits.first_byte_timeout_secs = 30;
    })
    .await;
    let setup = Setup::bare(&server).await;
    openai_channels(&setup, &fake.url(), &[("a", 0, &["key-a"])]).await;
    // a long answer, not streamed: its headers come when it is done
    fake.push(Script::default_answer().first_byte_delay(Duration::from_secs(2)));

    let (status, _, body) = read_json(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_failed_request_records_the_model_it_sent_upstream() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    setup
        .admin
        .settings(json!({"allow_private_upstreams": true}))
        .await;
    let body = json!({"type": "openai_compatible", "name": "renamed", "base_url": fake.url(),
                      "api_keys": ["key-a"]});
    setup
        .admin
        .channel(body, &[(GPT, Some("gpt-upstream-name"))])
        .await;
    fake.set_default(Script::status(
        503,
        "{\"error\":{\"message\":\"overloaded\"}}",
    ));

    let (status, id, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 502);
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["model"], GPT);
    assert_eq!(event["forwarded_model"], "gpt-upstream-name");
    assert_eq!(event["model_mismatch"], false, "no model was reported");
}

#[tokio::test]
async fn an_upstream_answering_with_another_model_is_flagged() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    openai_channels(&setup, &fake.url(), &[("a", 0, &["key-a"])]).await;
    fake.push(Script::new(fake_upstream::Behaviour::Json {
        status: 200,
        body: openai::chat_json("gpt-something-else", "hi", DEFAULT_USAGE),
        headers: Vec::new(),
    }));
    let (status, id, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 200);
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["upstream_model"], "gpt-something-else");
    assert_eq!(event["model_mismatch"], true);
}

#[tokio::test]
async fn an_open_stream_counts_against_its_key_until_it_ends() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    openai_channels(&setup, &fake.url(), &[("a", 0, &["key-1", "key-2"])]).await;
    let events = openai::chat_sse(GPT, "a b c", Some(DEFAULT_USAGE));
    fake.push(Script::new(
        SseScript::new(events).stall_after(1, Duration::from_secs(5)),
    ));

    let stream = json!({"model": GPT, "stream": true, "messages": []});
    let mut open = setup.post("/v1/chat/completions", &stream).await;
    assert_eq!(open.status(), 200);
    assert!(open.chunk().await.expect("first event").is_some());
    let streaming = fake.requests()[0]
        .header("authorization")
        .expect("auth")
        .to_owned();
    for _ in 0..8 {
        let (status, _, _) = read(setup.post("/v1/chat/completions", &chat()).await).await;
        assert_eq!(status, 200);
    }
    let others: Vec<String> = fake.requests()[1..]
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert!(
        others.iter().all(|key| *key != streaming),
        "the least-loaded key takes the new requests while {streaming} streams: {others:?}"
    );
    drop(open);
}

/// One OpenAI-compatible channel with four keys, for turns that must find the key they began on.
async fn four_keys_on_one_channel(setup: &Setup, fake: &FakeUpstream) {
    openai_channels(
        setup,
        &fake.url(),
        &[("a", 0, &["key-1", "key-2", "key-3", "key-4"])],
    )
    .await;
}

/// The `authorization` the fake's first recorded request carried.
fn first_key(fake: &FakeUpstream) -> String {
    fake.requests()
        .first()
        .and_then(|r| r.header("authorization"))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_turn_naming_a_previous_response_goes_to_the_key_that_made_it() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    four_keys_on_one_channel(&setup, &fake).await;
    for stream in [false, true] {
        fake.clear_requests();
        let first = json!({"model": GPT, "input": "hi", "stream": stream});
        let (status, _, _) = read(setup.post("/v1/responses", &first).await).await;
        assert_eq!(status, 200);
        let maker = first_key(&fake);
        let next = json!({"model": GPT, "input": "and then?", "stream": stream,
                          "previous_response_id": fake_upstream::RESPONSE_ID,
                          "prompt_cache_key": format!("cache-{stream}")});
        for _ in 0..6 {
            let (status, _, _) = read(setup.post("/v1/responses", &next).await).await;
            assert_eq!(status, 200);
        }
        let keys: Vec<String> = fake.requests()[1..]
            .iter()
            .filter_map(|r| r.header("authorization").map(str::to_owned))
            .collect();
        assert!(
            keys.iter().all(|key| *key == maker),
            "stream {stream}: every turn goes to {maker}, which holds the response: {keys:?}"
        );
    }
}

#[tokio::test]
async fn after_a_restart_a_previous_response_still_goes_to_the_key_that_made_it() {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_with(e2e::config_for(dir.path())).await;
    let setup = Setup::bare(&server).await;
    four_keys_on_one_channel(&setup, &fake).await;
    let first = json!({"model": GPT, "input": "hi"});
    let (status, _, _) = read(setup.post("/v1/responses", &first).await).await;
    assert_eq!(status, 200);
    let maker = first_key(&fake);
    // a graceful stop writes the usage record, and with it where the response lives
    server.stop().await.expect("stops");

    let restarted = TestServer::start_with(e2e::config_for(dir.path())).await;
    fake.clear_requests();
    let client = reqwest::Client::new();
    for turn in 0..6 {
        // a new session key each turn: only the response id can say where to go
        let next = json!({"model": GPT, "input": "and then?",
                          "previous_response_id": fake_upstream::RESPONSE_ID,
                          "prompt_cache_key": format!("turn-{turn}")});
        let response = client
            .post(restarted.url("/v1/responses"))
            .bearer_auth(&setup.token)
            .json(&next)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
    }
    let keys: Vec<String> = fake
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(keys.len(), 6);
    assert!(
        keys.iter().all(|key| *key == maker),
        "every turn goes to {maker}, which holds the response: {keys:?}"
    );
}

#[tokio::test]
async fn attempts_are_bounded_by_the_configuration() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| c.routing.max_attempts = 2).await;
    let setup = Setup::bare(&server).await;
    openai_channels(
        &setup,
        &fake.url(),
        &[
            ("a", 3, &["key-a"]),
            ("b", 2, &["key-b"]),
            ("c", 1, &["key-c"]),
        ],
    )
    .await;
    fake.set_default(Script::status(
        503,
        "{\"error\":{\"message\":\"overloaded\"}}",
    ));

    let (status, id, body) = read_json(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["type"], "upstream_error");
    assert_eq!(fake.requests().len(), 2, "max_attempts = 2");
    assert_eq!(calls_with(&fake, "key-c"), 0);
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["status_code"], 502);
}

#[tokio::test]
async fn a_session_sticks_to_its_channel_and_credential_until_that_one_fails() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| c.routing.channel_cooldown_secs = 1).await;
    let setup = Setup::bare(&server).await;
    openai_channels(
        &setup,
        &fake.url(),
        &[
            ("a", 0, &["a-1", "a-2", "a-3"]),
            ("b", 0, &["b-1", "b-2", "b-3"]),
        ],
    )
    .await;
    let turn =
        |session: &str| json!({"model": GPT, "input": "next turn", "prompt_cache_key": session});
    let used = |fake: &FakeUpstream| -> Vec<String> {
        fake.requests()
            .iter()
            .filter_map(|r| r.header("authorization").map(str::to_owned))
            .collect()
    };

    for _ in 0..5 {
        let (status, _, _) = read(setup.post("/v1/responses", &turn("conversation-1")).await).await;
        assert_eq!(status, 200);
    }
    let first = used(&fake);
    assert!(
        first.iter().all(|a| *a == first[0]),
        "one channel and credential: {first:?}"
    );
    // Other sessions spread over the targets (rendezvous hashing), each sticking too.
    for n in 0..12 {
        let session = format!("conversation-other-{n}");
        for _ in 0..2 {
            read(setup.post("/v1/responses", &turn(&session)).await).await;
        }
    }
    let all = used(&fake);
    let others: Vec<&String> = all[5..].iter().collect();
    assert!(
        others.chunks(2).all(|pair| pair[0] == pair[1]),
        "each session sticks: {others:?}"
    );
    let distinct: std::collections::HashSet<&String> = others.iter().copied().collect();
    assert!(distinct.len() > 1, "sessions spread: {distinct:?}");

    // The sticky target fails: the session moves, and stays where it moved.
    fake.clear_requests();
    fake.push(
        Script::status(500, "{}").when(Match::any().header("authorization", first[0].clone())),
    );
    for _ in 0..4 {
        let (status, _, _) = read(setup.post("/v1/responses", &turn("conversation-1")).await).await;
        assert_eq!(status, 200);
    }
    let moved = used(&fake);
    assert_eq!(moved[0], first[0], "the failed attempt");
    assert_ne!(moved[1], first[0], "failed over");
    assert!(
        moved[1..].iter().all(|a| *a == moved[1]),
        "sticks to the new target: {moved:?}"
    );

    // Once the first target has recovered, the stored binding still keeps the session where it
    // moved (rendezvous alone would send it back), so the new target's prompt cache keeps hitting.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fake.clear_requests();
    for _ in 0..3 {
        let (status, _, _) = read(setup.post("/v1/responses", &turn("conversation-1")).await).await;
        assert_eq!(status, 200);
    }
    assert!(
        used(&fake).iter().all(|a| *a == moved[1]),
        "{:?}",
        used(&fake)
    );
}

#[tokio::test]
async fn an_answer_over_the_size_limit_fails_without_failover_or_cooldown() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| c.routing.max_response_bytes = 100).await;
    let setup = Setup::bare(&server).await;
    openai_channels(
        &setup,
        &fake.url(),
        &[("a", 2, &["key-a"]), ("b", 1, &["key-b"])],
    )
    .await;

    let (status, id, body) = read_json(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        fake.requests().len(),
        1,
        "the next channel would answer as much"
    );
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["status_code"], 502);
    let (_, health) = setup
        .admin
        .call(reqwest::Method::GET, "/channels/health", None)
        .await;
    assert_eq!(
        health["items"],
        json!([]),
        "Realms' own limit cools nothing"
    );
    // the next request goes to the first channel again
    let _ = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(calls_with(&fake, "key-a"), 2);
    assert_eq!(calls_with(&fake, "key-b"), 0);
}

#[tokio::test]
async fn a_channel_that_failed_as_a_whole_is_not_retried_with_its_other_keys() {
    let fake = FakeUpstream::start().await;
    // no cooldown to keep the failed channel out: the request itself must move on
    let server = TestServer::start_tuned(|c| c.routing.channel_cooldown_secs = 0).await;
    let setup = Setup::bare(&server).await;
    openai_channels(
        &setup,
        &fake.url(),
        &[
            ("a", 2, &["key-a1", "key-a2", "key-a3"]),
            ("b", 1, &["key-b"]),
        ],
    )
    .await;
    for key in ["key-a1", "key-a2", "key-a3"] {
        fake.push(
            Script::status(503, "{\"error\":{\"message\":\"down\"}}")
                .when(Match::any().header("authorization", bearer(key))),
        );
    }

    let (status, _, body) = read(setup.post("/v1/chat/completions", &chat()).await).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let a_calls: usize = ["key-a1", "key-a2", "key-a3"]
        .iter()
        .map(|key| calls_with(&fake, key))
        .sum();
    assert_eq!((a_calls, calls_with(&fake, "key-b")), (1, 1));
}

/// A turn that continues a stored response goes to the channel and key that hold it, even when
/// its session binding is long gone and a better channel is healthy again: no other upstream
/// account knows the response ("Previous response not found").
#[tokio::test]
async fn a_continuation_goes_where_its_response_is_kept() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|config| {
        config.routing.channel_cooldown_secs = 1;
        config.routing.sticky_ttl_secs = 1;
    })
    .await;
    let setup = Setup::bare(&server).await;
    primary_and_backup(&setup, &fake).await;
    fake.push(
        Script::status(500, "{\"error\":{\"message\":\"down\"}}")
            .when(Match::any().header("authorization", bearer("key-a"))),
    );
    let created = setup
        .post("/v1/responses", &json!({"model": GPT, "input": "hi"}))
        .await;
    let (status, request_id, body) = read_json(created).await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().expect("a response id").to_owned();
    let event = setup.admin.usage_event(&request_id).await;
    assert_eq!(calls_with(&fake, "key-b"), 1, "made on the backup: {event}");

    // the primary's cooldown and the session binding have both run out
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let next = json!({"model": GPT, "input": "and then?", "previous_response_id": id});
    let (status, _, _) = read(setup.post("/v1/responses", &next).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        fake.last_request()
            .expect("request")
            .header("authorization"),
        Some(bearer("key-b").as_str()),
        "continued where the response is kept"
    );
}
