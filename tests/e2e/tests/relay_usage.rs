//! Usage records: one per request with every field of API.md's usage event, tokens normalised per
//! protocol, the upstream's usage verbatim and the cost exact; also for a client that goes away,
//! an upstream error and requests Realms refuses; never for unauthenticated calls.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use e2e::relay::{CLAUDE, EMBED, GEMINI, GPT, Setup, read, read_json, read_until, same_decimal};
use e2e::{TestServer, config_for};
use fake_upstream::{DEFAULT_USAGE, FakeUpstream, Script, SseScript, anthropic, responses_sse};
use reqwest::Method;
use serde_json::{Value, json};

/// Every field API.md names for a usage event.
const FIELDS: &[&str] = &[
    "id",
    "time",
    "request_id",
    "user_id",
    "token_id",
    "model",
    "forwarded_model",
    "upstream_model",
    "channel_id",
    "endpoint",
    "is_stream",
    "status_code",
    "error_class",
    "latency_ms",
    "first_token_latency_ms",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "upstream_usage",
];

/// A successful call and what its record must say.
struct Case {
    name: &'static str,
    path: String,
    body: Value,
    model: &'static str,
    stream: bool,
    endpoint: &'static str,
    /// input, cached, cache write, output, reasoning
    tokens: [u64; 5],
    upstream_usage: Value,
    cost: &'static str,
}

fn cases() -> Vec<Case> {
    let u = DEFAULT_USAGE;
    // Prices (per 1M): input 2, output 8, cached 0.5, cache write 2.5.
    // OpenAI/Gemini: (120 - 32) × 2 + 32 × 0.5 + 48 × 8 = 576 → 0.000576
    // Anthropic: (120 - 32 - 8) × 2 + 32 × 0.5 + 8 × 2.5 + 48 × 8 = 580 → 0.00058
    let openai = [120, 32, 0, 48, 16];
    let chat = |stream: bool| json!({"model": GPT, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    let responses = |stream: bool| json!({"model": GPT, "stream": stream, "input": "hi"});
    let messages =
        |stream: bool| json!({"model": CLAUDE, "stream": stream, "max_tokens": 9, "messages": []});
    let gemini = json!({"contents": [{"parts": [{"text": "hi"}]}]});
    let g = |action: &str| format!("/v1beta/models/{GEMINI}:{action}");
    let case =
        |name, path: String, body, model, stream, endpoint, tokens, upstream_usage, cost| Case {
            name,
            path,
            body,
            model,
            stream,
            endpoint,
            tokens,
            upstream_usage,
            cost,
        };
    vec![
        case(
            "chat",
            "/v1/chat/completions".into(),
            chat(false),
            GPT,
            false,
            "/v1/chat/completions",
            openai,
            u.chat_json(),
            "0.000576",
        ),
        case(
            "chat stream",
            "/v1/chat/completions".into(),
            chat(true),
            GPT,
            true,
            "/v1/chat/completions",
            openai,
            u.chat_json(),
            "0.000576",
        ),
        case(
            "responses",
            "/v1/responses".into(),
            responses(false),
            GPT,
            false,
            "/v1/responses",
            openai,
            u.responses_json(),
            "0.000576",
        ),
        case(
            "responses stream",
            "/v1/responses".into(),
            responses(true),
            GPT,
            true,
            "/v1/responses",
            openai,
            u.responses_json(),
            "0.000576",
        ),
        case(
            "messages",
            "/v1/messages".into(),
            messages(false),
            CLAUDE,
            false,
            "/v1/messages",
            [120, 32, 8, 48, 0],
            u.anthropic_json(),
            "0.00058",
        ),
        case(
            "messages stream",
            "/v1/messages".into(),
            messages(true),
            CLAUDE,
            true,
            "/v1/messages",
            [120, 32, 8, 48, 0],
            u.anthropic_json(),
            "0.00058",
        ),
        case(
            "gemini",
            g("generateContent"),
            gemini.clone(),
            GEMINI,
            false,
            "/v1beta/models/{model}:generateContent",
            [120, 32, 0, 48, 16],
            u.gemini_json(),
            "0.000576",
        ),
        case(
            "gemini stream",
            format!("{}?alt=sse", g("streamGenerateContent")),
            gemini,
            GEMINI,
            true,
            "/v1beta/models/{model}:streamGenerateContent",
            [120, 32, 0, 48, 16],
            u.gemini_json(),
            "0.000576",
        ),
        // Without `alt=sse` Gemini streams one JSON array; its last chunk has the counts.
        case(
            "gemini array stream",
            g("streamGenerateContent"),
            json!({"contents": []}),
            GEMINI,
            true,
            "/v1beta/models/{model}:streamGenerateContent",
            [120, 32, 0, 48, 16],
            u.gemini_json(),
            "0.000576",
        ),
        // 120 × 2 = 240 → 0.00024
        case(
            "embeddings",
            "/v1/embeddings".into(),
            json!({"model": EMBED, "input": "hi"}),
            EMBED,
            false,
            "/v1/embeddings",
            [120, 0, 0, 0, 0],
            json!({"prompt_tokens": 120, "total_tokens": 120}),
            "0.00024",
        ),
    ]
}

/// A decimal USD string with at most six places, in millionths.
fn micro_usd(text: &str) -> i64 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole: i64 = whole.parse().expect("whole dollars");
    let fraction: i64 = format!("{fraction:0<6}")
        .parse()
        .expect("six places at most");
    whole * 1_000_000 + fraction
}

#[tokio::test]
async fn every_protocol_is_recorded_with_every_field_normalised_and_priced() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let mut charged_micro_usd = 0;
    for case in cases() {
        let name = case.name;
        let (status, id, body) = read(setup.post(&case.path, &case.body).await).await;
        assert_eq!(
            status,
            200,
            "case {name}: {}",
            String::from_utf8_lossy(&body)
        );
        let event = setup.admin.usage_event(&id).await;
        for field in FIELDS {
            assert!(
                event.get(*field).is_some(),
                "case {name}: `{field}` missing in {event}"
            );
        }
        let channel = match case.model {
            CLAUDE => setup.anthropic,
            GEMINI => setup.gemini,
            _ => setup.openai,
        };
        assert_eq!(event["user_id"], setup.user_id, "case {name}");
        assert_eq!(event["token_id"], setup.token_id, "case {name}");
        assert_eq!(event["model"], case.model, "case {name}");
        assert_eq!(event["forwarded_model"], case.model, "case {name}");
        assert_eq!(
            event["upstream_model"], case.model,
            "case {name}: the fake echoes it"
        );
        assert_eq!(event["channel_id"], channel, "case {name}");
        assert_eq!(event["endpoint"], case.endpoint, "case {name}");
        assert_eq!(event["is_stream"], case.stream, "case {name}");
        assert_eq!(event["status_code"], 200, "case {name}");
        assert_eq!(event["error_class"], Value::Null, "case {name}");
        assert_eq!(event["partial"], false, "case {name}");
        let tokens = [
            "input_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "output_tokens",
            "reasoning_tokens",
        ]
        .map(|f| event[f].as_u64().expect("an integer"));
        assert_eq!(tokens, case.tokens, "case {name}: normalised tokens");
        assert_eq!(
            event["upstream_usage"], case.upstream_usage,
            "case {name}: verbatim"
        );
        assert!(
            same_decimal(&event["cost_usd"], case.cost),
            "case {name}: cost {}",
            event["cost_usd"]
        );
        charged_micro_usd += micro_usd(case.cost);
        let latency = event["latency_ms"].as_u64().expect("latency");
        let first = event["first_token_latency_ms"]
            .as_u64()
            .expect("first token latency");
        assert!(first <= latency, "case {name}: {first} > {latency}");
        assert!(event["request_bytes"].as_u64() > Some(0), "case {name}");
        assert_eq!(
            event["response_bytes"].as_u64(),
            Some(body.len() as u64),
            "case {name}"
        );
    }

    // Each cost was charged to the user's balance, exactly.
    let left = 100_000_000 - charged_micro_usd;
    let balance = balance(&setup).await;
    let want = format!("{}.{:06}", left / 1_000_000, left % 1_000_000);
    assert!(
        same_decimal(&json!(balance), &want),
        "balance {balance} after charges of {charged_micro_usd} µUSD"
    );
}

/// The test user's balance as the admin API shows it.
async fn balance(setup: &Setup) -> String {
    let user = setup
        .admin
        .ok(
            Method::GET,
            &format!("/users/{}", setup.user_id),
            Value::Null,
        )
        .await;
    user["user"]["balance_usd"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn chat_streams_are_asked_for_usage_and_recorded() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let body = json!({"model": GPT, "stream": true, "messages": [{"role": "user", "content": "hi"}],
                      "stream_options": {"include_obfuscation": false}});
    let (status, id, answer) = read(setup.post("/v1/chat/completions", &body).await).await;
    assert_eq!(status, 200);
    let sent = fake
        .requests_to("/v1/chat/completions")
        .pop()
        .expect("forwarded");
    let sent = sent.json().expect("json");
    assert_eq!(sent["stream_options"]["include_usage"], true, "forced on");
    assert_eq!(
        sent["stream_options"]["include_obfuscation"], false,
        "the client's option kept"
    );
    assert_eq!(sent["messages"], body["messages"]);
    // the usage chunk was asked for on the client's behalf: the client does not get it
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(!answer.contains("\"prompt_tokens\""), "{answer}");
    assert!(!answer.contains("\"choices\":[]"), "{answer}");
    assert!(answer.contains("\"finish_reason\":\"stop\""), "{answer}");
    assert!(answer.ends_with("data: [DONE]\n\n"), "{answer}");
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["input_tokens"], 120);
    assert_eq!(event["output_tokens"], 48);

    // a client that asks for usage gets its chunk
    let mut asked = body.clone();
    asked["stream_options"]["include_usage"] = json!(true);
    let (status, _, answer) = read(setup.post("/v1/chat/completions", &asked).await).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&answer).contains("\"prompt_tokens\":120"));
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_is_recorded_as_partial() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let events = anthropic::messages_sse(CLAUDE, "one two three four five six", DEFAULT_USAGE);
    let script = SseScript::new(events).gap(std::time::Duration::from_millis(200));
    fake.push(Script::new(script));
    let mut response = setup
        .post(
            "/v1/messages",
            &json!({"model": CLAUDE, "stream": true, "max_tokens": 9, "messages": []}),
        )
        .await;
    let id = e2e::relay::request_id(&response);
    let seen = read_until(&mut response, b"content_block_delta").await;
    assert!(!seen.is_empty());
    drop(response);

    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["partial"], true, "{event}");
    assert_eq!(event["error_class"], "client_closed");
    assert_eq!(event["is_stream"], true);
    assert_eq!(event["channel_id"], setup.anthropic);
    assert_eq!(
        event["input_tokens"], 120,
        "what `message_start` reported is kept"
    );
    assert_eq!(event["cache_write_tokens"], 8);
    assert!(event["first_token_latency_ms"].as_u64().is_some());
}

#[tokio::test]
async fn upstream_errors_and_refusals_are_recorded_but_anonymous_calls_are_not() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let chat = |model: &str| json!({"model": model, "messages": []});

    fake.push(Script::status(
        500,
        "{\"error\":{\"message\":\"boom at 10.0.0.7\"}}",
    ));
    let (status, id, body) = read_json(setup.post("/v1/chat/completions", &chat(GPT)).await).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        !body.to_string().contains("10.0.0.7"),
        "upstream internals are summarised: {body}"
    );
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["status_code"], 502);
    assert_eq!(event["error_class"], "upstream_failed");
    assert_eq!(event["channel_id"], setup.openai);
    assert!(same_decimal(&event["cost_usd"], "0"));

    let (status, id, _) = read_json(
        setup
            .post("/v1/chat/completions", &chat("no-such-model"))
            .await,
    )
    .await;
    assert_eq!(status, 404);
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(
        (event["status_code"].as_u64(), event["error_class"].as_str()),
        (Some(404), Some("model_not_found"))
    );
    assert_eq!(event["model"], "no-such-model");
    assert_eq!(event["user_id"], setup.user_id);

    let (_, limited) = setup
        .new_token(json!({"name": "claude only", "models": [CLAUDE]}))
        .await;
    let response = setup
        .anonymous(Method::POST, "/v1/chat/completions")
        .bearer_auth(&limited)
        .json(&chat(GPT))
        .send()
        .await
        .expect("send");
    let (status, id, body) = read_json(response).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["type"], "permission_error");
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(
        (event["status_code"].as_u64(), event["error_class"].as_str()),
        (Some(403), Some("forbidden"))
    );

    setup
        .admin
        .ok(
            Method::PATCH,
            &format!("/models/{}", setup.model_id(GPT)),
            json!({"enabled": false}),
        )
        .await;
    let (status, id, body) = read_json(setup.post("/v1/chat/completions", &chat(GPT)).await).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("disabled")),
        "{body}"
    );
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["error_class"], "model_not_found");

    let response = setup
        .anonymous(Method::POST, "/v1/messages")
        .header("x-api-key", "sk_not_a_token")
        .json(&chat(CLAUDE))
        .send()
        .await
        .expect("send");
    let (status, anonymous, _) = read_json(response).await;
    assert_eq!(status, 401);
    let (status, later, _) = read_json(
        setup
            .post(
                "/v1/messages",
                &json!({"model": CLAUDE, "max_tokens": 1, "messages": []}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200);
    setup.admin.assert_no_usage_event(&anonymous, &later).await;
    assert_eq!(
        fake.count("/v1/chat/completions"),
        1,
        "only the first call went upstream"
    );
}

#[tokio::test]
async fn a_client_that_gives_up_before_the_first_byte_is_recorded_too() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    fake.push(Script::default_answer().first_byte_delay(std::time::Duration::from_secs(2)));
    let id = "client-gave-up-0001";
    let result = setup
        .request(Method::POST, "/v1/chat/completions")
        .header("x-request-id", id)
        .timeout(std::time::Duration::from_millis(300))
        .json(&json!({"model": GPT, "messages": []}))
        .send()
        .await;
    assert!(result.is_err(), "the client timed out");

    let event = setup.admin.usage_event(id).await;
    assert_eq!(event["status_code"], 499, "{event}");
    assert_eq!(event["error_class"], "client_closed");
    assert_eq!(
        event["channel_id"], setup.openai,
        "the attempt in flight is named"
    );
    assert_eq!(event["user_id"], setup.user_id);
}

/// A `background` response answers `queued`, without usage: it is billed when a fetch first
/// reports the usage, at the model's prices, and only once however often it is fetched.
#[tokio::test]
async fn a_background_response_is_billed_once_when_a_fetch_reports_its_usage() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    // what the same usage costs when the creating call reports it
    let (_, plain_id, _) = read(
        setup
            .post("/v1/responses", &json!({"model": GPT, "input": "hi"}))
            .await,
    )
    .await;
    let price = setup.admin.usage_event(&plain_id).await["cost_usd"].clone();
    assert!(!same_decimal(&price, "0"), "{price}");
    let before = balance(&setup).await;

    create_background(&setup, &fake, "resp_bg1").await;

    let mut costs = Vec::new();
    for _ in 0..2 {
        let event = fetch_response(&setup, "resp_bg1").await;
        if costs.is_empty() {
            assert!(event["input_tokens"].as_u64() > Some(0), "{event}");
            assert_eq!(
                event["model"], GPT,
                "the paying fetch names the model: {event}"
            );
        } else {
            assert_eq!(
                (&event["input_tokens"], &event["output_tokens"]),
                (&json!(0), &json!(0)),
                "a later fetch used no tokens: {event}"
            );
        }
        costs.push(event["cost_usd"].clone());
    }
    assert!(
        same_decimal(&costs[0], price.as_str().unwrap_or_default()),
        "{costs:?}"
    );
    assert!(same_decimal(&costs[1], "0"), "billed once: {costs:?}");
    let after = balance(&setup).await;
    assert_eq!(
        micro_usd(&before) - micro_usd(&after),
        micro_usd(price.as_str().unwrap_or_default()),
        "the balance paid the response once: {before} -> {after}"
    );
}

/// A `background` response is billed when a fetch reports its usage, so until then its creation
/// holds what it was estimated at: other calls beyond the balance are refused meanwhile, after a
/// restart too, and the fetch that bills it releases the hold.
#[tokio::test]
async fn a_background_response_holds_its_estimate_until_a_fetch_bills_it() {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_with(config_for(dir.path())).await;
    let mut setup = Setup::new(&server, &fake.url()).await;
    leave_little_balance(&setup).await;
    create_background(&setup, &fake, "resp_bg2").await;

    let chat = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, body) = read_json(setup.post("/v1/chat/completions", &chat).await).await;
    assert_eq!(
        status, 402,
        "the unbilled response holds the balance: {body}"
    );
    server.stop().await.expect("clean stop");

    let server = TestServer::start_with(config_for(dir.path())).await;
    setup.moved_to(&server);
    let (status, _, body) = read_json(setup.post("/v1/chat/completions", &chat).await).await;
    assert_eq!(status, 402, "held again after a restart: {body}");
    assert_eq!(
        fake.count("/v1/chat/completions"),
        0,
        "refused calls never went upstream"
    );

    let cost = fetch_response(&setup, "resp_bg2").await["cost_usd"].clone();
    assert!(
        micro_usd(cost.as_str().unwrap_or_default()) >= 400,
        "the response costs at least the balance, so the balance is charged to zero: {cost}"
    );
    assert!(same_decimal(&json!(balance(&setup).await), "0"));
    // a top-up of exactly what was held admits the next call, which the hold would refuse
    add_balance(&setup, "0.0004").await;
    let (status, _, body) = read_json(setup.post("/v1/chat/completions", &chat).await).await;
    assert_eq!(
        status, 200,
        "the fetch that billed the response released its hold: {body}"
    );
    server.stop().await.expect("clean stop");
}

/// Deleting a response still to be billed retrieves it first, as a call of its own that bills
/// it: once deleted, no fetch could report its usage. A response billed already is just deleted.
#[tokio::test]
async fn deleting_a_background_response_bills_it_first() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    create_background(&setup, &fake, "resp_bg3").await;
    let before = balance(&setup).await;

    let (delete_id, billing) = delete_billed(&setup, &fake, "resp_bg3").await;
    assert_eq!(billing["model"], GPT, "{billing}");
    assert!(billing["input_tokens"].as_u64() > Some(0), "{billing}");
    let cost = billing["cost_usd"].as_str().unwrap_or_default().to_owned();
    assert!(micro_usd(&cost) > 0, "{billing}");
    let deleted = setup.admin.usage_event(&delete_id).await;
    assert!(same_decimal(&deleted["cost_usd"], "0"), "{deleted}");
    let after = balance(&setup).await;
    assert_eq!(
        micro_usd(&before) - micro_usd(&after),
        micro_usd(&cost),
        "the response was paid once: {before} -> {after}"
    );

    let again = setup
        .request(Method::DELETE, "/v1/responses/resp_bg3")
        .send()
        .await
        .expect("delete");
    let (status, _, _) = read(again).await;
    assert_eq!(status, 200);
    assert_eq!(
        fake.count("/v1/responses/resp_bg3"),
        3,
        "billed already: deleted without a retrieve"
    );
}

/// A background response that ends without usage (cancelled before it ran) or is deleted before
/// it finished can never be billed: what its creation held is released, so the balance it held
/// serves other calls again.
#[tokio::test]
async fn a_background_response_that_can_never_be_billed_releases_its_hold() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    leave_little_balance(&setup).await;
    let chat = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]});
    let unfinished = |id: &str, status: &str| {
        Script::json(
            200,
            json!({"id": id, "object": "response", "status": status, "model": GPT,
                   "output": [], "usage": null}),
        )
    };

    create_background(&setup, &fake, "resp_bg4").await;
    let (status, _, body) = read_json(setup.post("/v1/chat/completions", &chat).await).await;
    assert_eq!(status, 402, "held: {body}");
    fake.push(unfinished("resp_bg4", "cancelled").on_path("/v1/responses/resp_bg4/cancel"));
    let cancel = setup
        .post("/v1/responses/resp_bg4/cancel", &json!({}))
        .await;
    let (status, cancel_id, _) = read(cancel).await;
    assert_eq!(status, 200);
    let event = setup.admin.usage_event(&cancel_id).await;
    assert!(same_decimal(&event["cost_usd"], "0"), "{event}");
    let (status, chat_id, body) = read_json(setup.post("/v1/chat/completions", &chat).await).await;
    assert_eq!(status, 200, "the cancelled response holds nothing: {body}");
    // the chat call is charged (down to zero) before the balance is topped up again
    setup.admin.usage_event(&chat_id).await;
    add_balance(&setup, "0.0004").await;

    create_background(&setup, &fake, "resp_bg5").await;
    let (status, _, body) = read_json(setup.post("/v1/chat/completions", &chat).await).await;
    assert_eq!(status, 402, "held: {body}");
    // the retrieve before the delete finds it still running
    fake.push(unfinished("resp_bg5", "in_progress").on_path("/v1/responses/resp_bg5"));
    let deleted = setup
        .request(Method::DELETE, "/v1/responses/resp_bg5")
        .send()
        .await
        .expect("delete");
    let (status, delete_id, _) = read(deleted).await;
    assert_eq!(status, 200);
    setup.admin.usage_event(&delete_id).await;
    let (status, _, body) = read_json(setup.post("/v1/chat/completions", &chat).await).await;
    assert_eq!(status, 200, "the deleted response holds nothing: {body}");
}

/// Retrieving or cancelling a response answers with the response object and the usage of its
/// creation: those tokens were recorded (and paid) by the creating call, not again per fetch.
#[tokio::test]
async fn fetching_a_stored_response_records_no_tokens_again() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let id = setup.stored_response().await;
    let cancel = format!("/v1/responses/{id}/cancel");
    // a response cancelled after it finished reports its usage too
    fake.push(
        Script::json(
            200,
            json!({"id": id, "object": "response", "status": "completed", "model": GPT,
                   "output": [], "usage": {"input_tokens": 10, "output_tokens": 5,
                   "total_tokens": 15}}),
        )
        .on_path(&cancel),
    );
    for (method, path) in [
        (Method::GET, format!("/v1/responses/{id}")),
        (Method::POST, cancel.clone()),
    ] {
        let (status, fetch_id, body) =
            read(setup.request(method, &path).send().await.expect("fetch")).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            String::from_utf8_lossy(&body).contains("\"input_tokens\""),
            "the answer repeats the creation's usage"
        );
        let event = setup.admin.usage_event(&fetch_id).await;
        assert_eq!(
            (&event["input_tokens"], &event["output_tokens"]),
            (&json!(0), &json!(0)),
            "{path}: {event}"
        );
        assert!(same_decimal(&event["cost_usd"], "0"), "{event}");
        assert_eq!(event["upstream_usage"], Value::Null, "{event}");
    }
}

/// A fetch that comes before the creating call's record is written (here the recorder waits
/// 1.5 s to fill a batch) still bills the background response: what it is billed at is kept in
/// memory until its row is written.
#[tokio::test]
async fn a_fetch_before_the_creation_is_written_still_bills_a_background_response() {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_with(slow_recorder(dir.path())).await;
    let setup = Setup::new(&server, &fake.url()).await;
    start_background(&setup, &fake, "resp_early").await;

    let event = fetch_response(&setup, "resp_early").await;
    assert!(
        !same_decimal(&event["cost_usd"], "0"),
        "the early fetch billed the response: {event}"
    );
    assert_eq!(event["model"], GPT, "{event}");
}

/// A delete right after a background creation, before the creation's record is written,
/// still retrieves the response first and bills it, as a later delete does.
#[tokio::test]
async fn a_delete_before_the_creation_is_written_still_bills_a_background_response() {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_with(slow_recorder(dir.path())).await;
    let setup = Setup::new(&server, &fake.url()).await;
    start_background(&setup, &fake, "resp_gone").await;

    let (_, billing) = delete_billed(&setup, &fake, "resp_gone").await;
    assert!(
        !same_decimal(&billing["cost_usd"], "0"),
        "the retrieve before the delete billed the response: {billing}"
    );
}

/// Deletes the stored response `id`, which Realms first retrieves (to bill it) and then deletes
/// upstream: the delete's request id and its `-billing` usage record.
async fn delete_billed(setup: &Setup, fake: &FakeUpstream, id: &str) -> (String, Value) {
    let path = format!("/v1/responses/{id}");
    let answer = setup
        .request(Method::DELETE, &path)
        .send()
        .await
        .expect("delete");
    let (status, delete_id, _) = read(answer).await;
    assert_eq!(status, 200);
    assert_eq!(fake.count(&path), 2, "retrieved, then deleted");
    let billing = setup
        .admin
        .usage_event(&format!("{delete_id}-billing"))
        .await;
    (delete_id, billing)
}

/// A configuration whose recorder holds records 1.5 s to fill a batch, so calls made right
/// after a creation come before its record is written.
fn slow_recorder(data_dir: &std::path::Path) -> realms_core::config::Config {
    let mut config = config_for(data_dir);
    config.usage.batch_min_rows = config.usage.max_batch;
    config.usage.batch_max_delay_ms = 1_500;
    config
}

/// A stored response whose stream ended before its usage (here the upstream cut it; a client's
/// stop button ends it the same way) is billed for what was seen, at once: only a `background`
/// call's response is billed by a later fetch, and nothing fetches this one, so its estimate
/// must not stay held.
#[tokio::test]
async fn a_stored_stream_cut_before_its_usage_does_not_keep_its_estimate_held() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    leave_little_balance(&setup).await;
    let events = responses_sse(GPT, "one two three four", DEFAULT_USAGE);
    fake.push(Script::new(SseScript::new(events).cut_after(3)).on_path("/v1/responses"));
    let create = json!({"model": GPT, "input": "hi", "stream": true});
    let (status, id, _) = read(setup.post("/v1/responses", &create).await).await;
    assert_eq!(status, 200);
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["partial"], true, "{event}");

    let chat = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, body) = read_json(setup.post("/v1/chat/completions", &chat).await).await;
    assert_eq!(
        status, 200,
        "the cut stream's estimate is no longer held: {body}"
    );
}

/// Creates the `background` response `id` (the fake answers it `queued`, without usage) and
/// waits for the creating call's record, which costs nothing yet.
async fn create_background(setup: &Setup, fake: &FakeUpstream, id: &str) {
    let create_id = start_background(setup, fake, id).await;
    let created = setup.admin.usage_event(&create_id).await;
    assert!(same_decimal(&created["cost_usd"], "0"), "{created}");
}

/// Retrieves the stored response `id` through the relay (the fake answers it finished, with its
/// usage) and returns the fetch's usage event.
async fn fetch_response(setup: &Setup, id: &str) -> Value {
    let fetched = setup
        .request(Method::GET, &format!("/v1/responses/{id}"))
        .send()
        .await
        .expect("fetch");
    let (status, fetch_id, _) = read(fetched).await;
    assert_eq!(status, 200);
    setup.admin.usage_event(&fetch_id).await
}

/// Creates the `background` response `id` as [`create_background`] does, without waiting for
/// its record; returns the creating request's id.
async fn start_background(setup: &Setup, fake: &FakeUpstream, id: &str) -> String {
    fake.push(
        Script::json(
            200,
            json!({"id": id, "object": "response", "status": "queued", "background": true,
                   "model": GPT, "output": [], "usage": null}),
        )
        .on_path("/v1/responses"),
    );
    let create = json!({"model": GPT, "input": "hi", "background": true});
    let (status, create_id, _) = read(setup.post("/v1/responses", &create).await).await;
    assert_eq!(status, 200);
    create_id
}

/// `POST path` through the relay, which the fake answers only after `first_byte_ms`.
async fn post_answered_late(
    setup: &Setup,
    path: &str,
    body: &Value,
    first_byte_ms: u64,
) -> (u16, String, Value) {
    let response = setup
        .request(Method::POST, path)
        .header("x-fake-first-byte-ms", first_byte_ms.to_string())
        .json(body)
        .send()
        .await
        .expect("send");
    read_json(response).await
}

/// Leaves the test user 0.0004 USD of the 100 it starts with: less than one chat call's cost
/// (0.000576), and all that a generating call's estimate (4096 output tokens) holds.
async fn leave_little_balance(setup: &Setup) {
    add_balance(setup, "-99.9996").await;
}

/// Adds `amount_usd` (may be negative) to the test user's balance.
async fn add_balance(setup: &Setup, amount_usd: &str) {
    setup
        .admin
        .ok(
            Method::POST,
            &format!("/users/{}/balance", setup.user_id),
            json!({"amount_usd": amount_usd}),
        )
        .await;
}

#[tokio::test]
async fn calls_started_at_once_cannot_spend_a_balance_twice() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    leave_little_balance(&setup).await;
    let body = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]});
    let call = || post_answered_late(&setup, "/v1/chat/completions", &body, 600);
    let answers = tokio::join!(call(), call(), call(), call());
    let answers = [answers.0, answers.1, answers.2, answers.3];
    let served: Vec<_> = answers
        .iter()
        .filter(|(status, _, _)| *status == 200)
        .collect();
    assert_eq!(
        served.len(),
        1,
        "one call holds the whole balance: {answers:?}"
    );
    for (status, _, body) in answers.iter().filter(|(status, _, _)| *status != 200) {
        assert_eq!(*status, 402, "{body}");
        assert_eq!(body["error"]["code"], "insufficient_quota", "{body}");
    }
    assert_eq!(
        fake.count("/v1/chat/completions"),
        1,
        "refused calls never went upstream"
    );

    // the served call is charged (down to zero) and its hold released: a top-up of exactly
    // the held amount admits the next call, which a hold left behind would still refuse
    let (_, served_id, _) = served[0];
    let event = setup.admin.usage_event(served_id).await;
    assert_eq!(event["status_code"], 200);
    assert!(same_decimal(&json!(balance(&setup).await), "0"));
    add_balance(&setup, "0.0004").await;
    let (status, _, body) = read_json(setup.post("/v1/chat/completions", &body).await).await;
    assert_eq!(status, 200, "{body}");
}

/// A call that names its output cap holds what that cap could cost, not the default estimate:
/// with 1 USD left, calls that may each write 200,000 tokens (1.6 USD) are admitted one at a
/// time, where the default estimate (4,096 tokens, 0.033 USD) would let some thirty run at once.
#[tokio::test]
async fn a_call_holds_what_its_output_cap_could_cost() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    add_balance(&setup, "-99").await;
    let body = json!({"model": GPT, "max_completion_tokens": 200_000,
                      "messages": [{"role": "user", "content": "hi"}]});
    let call = || post_answered_late(&setup, "/v1/chat/completions", &body, 600);
    let answers = tokio::join!(call(), call(), call());
    let statuses = [answers.0.0, answers.1.0, answers.2.0];
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        1,
        "the first call holds the whole balance: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|status| **status == 402).count(),
        2,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_finished_call_holds_only_its_cost_until_it_is_charged() {
    let fake = FakeUpstream::start().await;
    // the recorder writes late: a call's hold must not outlive its call as the whole estimate
    let server = TestServer::start_tuned(|config| {
        config.usage.batch_max_delay_ms = 3_000;
    })
    .await;
    let setup = Setup::new(&server, &fake.url()).await;
    // 0.002 USD: each call costs 0.000576 but is estimated far above (4096 output tokens)
    add_balance(&setup, "-99.998").await;
    let body = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]});
    for n in 0..3 {
        let (status, _, answer) = read_json(setup.post("/v1/chat/completions", &body).await).await;
        assert_eq!(
            status, 200,
            "call {n}, before any charge is written: {answer}"
        );
    }
    // 0.002 - 3 × 0.000576 = 0.000272 is left unheld: a fourth call is admitted, a fifth is not
    let (status, _, answer) = read_json(setup.post("/v1/chat/completions", &body).await).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _, answer) = read_json(setup.post("/v1/chat/completions", &body).await).await;
    assert_eq!(status, 402, "{answer}");
    assert!(
        setup.admin.usage_events().await.len() < 5,
        "the calls were decided before their charges were written"
    );
}

#[tokio::test]
async fn a_call_that_generates_nothing_holds_no_output() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    leave_little_balance(&setup).await;
    let count_body = json!({"model": CLAUDE, "messages": [{"role": "user", "content": "hi"}]});
    let count = post_answered_late(&setup, "/v1/messages/count_tokens", &count_body, 800);
    let chat = async {
        // while the count waits for its answer
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let body = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]});
        read_json(setup.post("/v1/chat/completions", &body).await).await
    };
    let ((count_status, _, count_body), (chat_status, _, chat_body)) = tokio::join!(count, chat);
    assert_eq!(count_status, 200, "{count_body}");
    assert_eq!(
        chat_status, 200,
        "the count in flight held only its prompt's cost: {chat_body}"
    );
}
