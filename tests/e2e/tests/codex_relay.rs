//! Serving `/v1/responses` from Codex accounts, seen from the fake Codex backend: the headers and
//! body rules, one JSON answer collected for a non-streaming client, the stream passed through
//! for a streaming one, quota headers stored, a usage limit failing over to the next account and
//! cooling the first until its reset, a refused access token refreshed, and chat clients told
//! clearly why they cannot be served.
#![cfg(test)]

pub mod codex_common;

use codex_common::{Env, MODEL};
use fake_upstream::codex::usage_limit_body;
use fake_upstream::{CodexQuota, DEFAULT_USAGE, OAuthAccount, Script, SseScript};
use reqwest::Method;
use serde_json::{Value, json};

const CODEX_PATH: &str = "/backend-api/codex/responses";

/// The last request relayed to the Codex responses path (background quota polls and token
/// refreshes reach the same fake, in their own time).
fn last_relayed(env: &Env) -> fake_upstream::RecordedRequest {
    env.fake
        .requests_to(CODEX_PATH)
        .pop()
        .expect("a relayed request")
}

#[tokio::test]
async fn a_non_streaming_client_gets_one_json_answer_and_the_backend_gets_codex_rules() {
    let env = Env::start().await;
    env.sign_in().await;
    let resp = env
        .relay(
            "/v1/responses",
            &json!({ "model": MODEL, "input": "hi", "store": true, "prompt_cache_key": "sess-42" }),
        )
        .header("originator", "codex_exec")
        .send()
        .await
        .expect("relay");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("application/json")
    );
    let answer: Value = resp.json().await.expect("json");
    assert_eq!(answer["object"], "response", "{answer}");
    assert_eq!(answer["status"], "completed");
    assert_eq!(answer["usage"]["input_tokens"], DEFAULT_USAGE.input);

    let sent = env.fake.requests_to(CODEX_PATH);
    assert_eq!(
        sent.len(),
        1,
        "`/v1/responses` maps to `{{base}}/responses`"
    );
    let sent = &sent[0];
    let account = OAuthAccount::default();
    assert_eq!(
        sent.header("chatgpt-account-id"),
        Some(account.account_id.as_str())
    );
    assert!(
        sent.header("authorization")
            .is_some_and(|v| v.starts_with("Bearer ey"))
    );
    assert_eq!(sent.header("openai-beta"), Some("responses=experimental"));
    assert_eq!(sent.header("originator"), Some("codex_exec"));
    assert_eq!(sent.header("session_id"), Some("sess-42"));
    let body = sent.json().expect("json body");
    assert_eq!(
        (body["store"].clone(), body["stream"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["prompt_cache_key"], "sess-42");

    let events = usage_events(&env, 1).await;
    let event = &events[0];
    assert_eq!(event["input_tokens"], DEFAULT_USAGE.input);
    assert_eq!(event["cached_input_tokens"], DEFAULT_USAGE.cached);
    assert_eq!(event["output_tokens"], DEFAULT_USAGE.output);
    assert_eq!(event["is_stream"], false);
    assert_eq!(event["status_code"], 200);
}

/// The ChatGPT backend often ends a stream with `"output": []`, its items sent only as
/// `response.output_item.done` events: the collected answer carries them.
#[tokio::test]
async fn a_collected_answer_keeps_the_items_the_stream_finished() {
    let env = Env::start().await;
    env.sign_in().await;
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let message = json!({"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
                         "content": [{"type": "output_text", "text": "hi there", "annotations": []}]});
    let response = |status: &str| {
        json!({"id": "resp_c1", "object": "response", "status": status, "model": MODEL,
               "output": [], "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}})
    };
    env.fake.push(
        Script::new(SseScript::new(vec![
            event(
                "response.created",
                json!({"type": "response.created", "response": response("in_progress")}),
            ),
            event(
                "response.output_item.done",
                json!({"type": "response.output_item.done", "output_index": 0, "item": message}),
            ),
            event(
                "response.completed",
                json!({"type": "response.completed", "response": response("completed")}),
            ),
        ]))
        .on_path(CODEX_PATH),
    );
    let resp = env.ask().await;
    assert_eq!(resp.status().as_u16(), 200);
    let answer: Value = resp.json().await.expect("json");
    assert_eq!(
        answer["output"][0]["content"][0]["text"], "hi there",
        "{answer}"
    );
    assert_eq!(answer["usage"]["input_tokens"], 3);
}

async fn usage_events(env: &Env, want: usize) -> Vec<Value> {
    let mut items = Vec::new();
    for _ in 0..100 {
        let list = env
            .admin_ok(Method::GET, "/api/admin/usage/events", Value::Null)
            .await;
        items = list["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= want {
            return items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("expected {want} usage events, got {items:?}");
}

#[tokio::test]
async fn a_streaming_client_gets_the_stream_and_no_originator_means_codex_cli() {
    let env = Env::start().await;
    env.sign_in().await;
    let resp = env
        .relay(
            "/v1/responses",
            &json!({ "model": MODEL, "input": "hi", "stream": true }),
        )
        .send()
        .await
        .expect("relay");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/event-stream")
    );
    let text = resp.text().await.expect("stream");
    assert!(text.contains("event: response.completed"), "{text}");
    // the last call to the responses path: a background quota poll may reach the fake later
    let sent = last_relayed(&env);
    assert_eq!(sent.header("originator"), Some("codex_cli_rs"));
    assert_eq!(
        sent.header("session_id"),
        None,
        "no prompt_cache_key, no session"
    );
    let events = usage_events(&env, 1).await;
    assert_eq!(events[0]["is_stream"], true);
    assert_eq!(events[0]["input_tokens"], DEFAULT_USAGE.input);
}

#[tokio::test]
async fn quota_headers_of_answers_are_stored_per_account() {
    let env = Env::start().await;
    let id = env.sign_in().await["id"].clone();
    env.eventually("the sign-in's quota fetch", || async {
        env.accounts().await[0]["quota"]["primary"]["used_percent"] == 25.0
    })
    .await;
    env.fake.set_codex_quota(CodexQuota {
        primary_used_percent: 42.5,
        primary_reset_after_seconds: 120,
        secondary_used_percent: 7.0,
        ..CodexQuota::default()
    });
    let resp = env
        .relay(
            "/v1/responses",
            &json!({ "model": MODEL, "input": "hi", "stream": true }),
        )
        .send()
        .await
        .expect("relay");
    assert_eq!(resp.status().as_u16(), 200);
    resp.text().await.expect("drain");
    env.eventually("the header quota", || async {
        let accounts = env.accounts().await;
        let quota = &accounts[0]["quota"];
        accounts[0]["id"] == id
            && quota["primary"]["used_percent"] == 42.5
            && quota["secondary"]["used_percent"] == 7.0
    })
    .await;
    let accounts = env.accounts().await;
    let reset = accounts[0]["quota"]["primary"]["reset_at"]
        .as_str()
        .expect("reset");
    let reset = chrono_like_secs(reset);
    let now = realms_core::store::now_ms() / 1000;
    assert!(
        (reset - now - 120).abs() < 30,
        "reset in about two minutes: {reset} vs {now}"
    );
    assert_eq!(
        env.fake.count("/backend-api/wham/usage"),
        1,
        "no extra poll"
    );
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2030-01-01T00:00:00.123Z`).
fn chrono_like_secs(text: &str) -> i64 {
    let (date, time) = text.split_once('T').expect("T");
    let mut d = date.split('-').map(|p| p.parse::<i64>().expect("date"));
    let (y, m, day) = (
        d.next().expect("y"),
        d.next().expect("m"),
        d.next().expect("d"),
    );
    let mut t = time.trim_end_matches('Z').split(':');
    let (h, min) = (
        t.next().expect("h").parse::<i64>().expect("h"),
        t.next().expect("m").parse::<i64>().expect("m"),
    );
    let s = t
        .next()
        .expect("s")
        .split('.')
        .next()
        .expect("s")
        .parse::<i64>()
        .expect("s");
    // days from civil (Howard Hinnant)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h * 3600 + min * 60 + s
}

#[tokio::test]
async fn a_usage_limit_fails_over_to_the_next_account_and_cools_the_first_until_its_reset() {
    let env = Env::start().await;
    env.sign_in().await;
    env.fake.set_oauth_account(OAuthAccount {
        account_id: "acct-second".into(),
        email: "second@example.com".into(),
        ..OAuthAccount::default()
    });
    env.sign_in().await;
    env.fake
        .push(Script::json(429, usage_limit_body("plus", 1800)).on_path(CODEX_PATH));
    let resp = env.ask().await;
    assert_eq!(resp.status().as_u16(), 200, "the second account answered");
    let sent = env.fake.requests_to(CODEX_PATH);
    assert_eq!(sent.len(), 2);
    let limited = sent[0].header("chatgpt-account-id").expect("id").to_owned();
    let served = sent[1].header("chatgpt-account-id").expect("id").to_owned();
    assert_ne!(limited, served, "failover moved to the other account");

    let accounts = env.accounts().await;
    let cooling = accounts
        .iter()
        .find(|a| a["account_id"] == limited.as_str())
        .expect("limited account");
    let until = chrono_like_secs(cooling["cooldown_until"].as_str().expect("cooling"));
    let now = realms_core::store::now_ms() / 1000;
    assert!(
        (until - now - 1800).abs() < 60,
        "cools until the reset: {until} vs {now}"
    );
    let other = accounts
        .iter()
        .find(|a| a["account_id"] == served.as_str())
        .expect("other");
    assert!(other["cooldown_until"].is_null());

    for _ in 0..3 {
        let resp = env
            .relay(
                "/v1/responses",
                &json!({ "model": MODEL, "input": "again" }),
            )
            .send()
            .await
            .expect("relay");
        assert_eq!(resp.status().as_u16(), 200);
        let last = last_relayed(&env);
        assert_eq!(last.header("chatgpt-account-id"), Some(served.as_str()));
    }
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_at_once() {
    let env = Env::start().await;
    let id = env.sign_in().await["id"].as_i64().expect("id");
    // signed in long ago: a refused token is worth a refresh (a fresh one is not retried)
    env.state
        .store
        .write(move |tx| {
            Ok(tx.execute(
                "UPDATE codex_accounts SET last_refresh_at = 1 WHERE id = ?1",
                [id],
            )?)
        })
        .await
        .expect("age");
    let before = env.fake.count("/oauth/token");
    env.fake.push(
        Script::json(
            401,
            json!({ "error": { "message": "token expired", "code": "token_expired" } }),
        )
        .on_path(CODEX_PATH),
    );
    let resp = env.ask().await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    env.eventually("the refresh after a 401", || async {
        env.fake.count("/oauth/token") == before + 1
            && env.accounts().await[0]["cooldown_until"].is_null()
    })
    .await;
    let resp = env
        .relay(
            "/v1/responses",
            &json!({ "model": MODEL, "input": "again" }),
        )
        .send()
        .await
        .expect("relay");
    assert_eq!(
        resp.status().as_u16(),
        200,
        "the renewed account serves at once"
    );
}

#[tokio::test]
async fn chat_clients_of_a_codex_only_model_get_a_clear_400() {
    let env = Env::start().await;
    env.sign_in().await;
    let resp = env
        .relay(
            "/v1/chat/completions",
            &json!({ "model": MODEL, "messages": [{ "role": "user", "content": "hi" }] }),
        )
        .send()
        .await
        .expect("relay");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("Codex") && message.contains("/v1/responses"),
        "{message}"
    );
    assert_eq!(env.fake.count(CODEX_PATH), 0);
}
