//! Calls about stored Responses objects go only to their creator's channel, and only for them.
#![cfg(test)]

use e2e::{ADMIN_KEY, TestServer};
use fake_upstream::FakeUpstream;
use serde_json::{Value, json};

async fn admin(server: &TestServer, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .request(
            if body.is_null() {
                reqwest::Method::GET
            } else {
                reqwest::Method::POST
            },
            server.url(path),
        )
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .expect("admin call");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.expect("json")
}

async fn patch_settings(server: &TestServer, body: Value) {
    let resp = reqwest::Client::new()
        .patch(server.url("/api/admin/settings"))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .expect("settings");
    assert!(resp.status().is_success());
}

/// One `openai_compatible` channel to `fake` serving `gpt-4o`, and a user with a token for each
/// name; returns the tokens.
async fn seed(server: &TestServer, fake: &FakeUpstream, names: &[&str]) -> Vec<String> {
    patch_settings(
        server,
        json!({ "allow_private_upstreams": true, "feature_disable_billing": true }),
    )
    .await;
    let channel = admin(
        server,
        "/api/admin/channels",
        json!({ "type": "openai_compatible", "name": "fake", "base_url": fake.url(), "api_keys": ["sk-up"] }),
    )
    .await;
    admin(
        server,
        "/api/admin/models",
        json!({ "public_id": "gpt-4o" }),
    )
    .await;
    admin(
        server,
        &format!("/api/admin/channels/{}/models", channel["channel"]["id"]),
        json!({ "public_id": "gpt-4o" }),
    )
    .await;
    let mut keys = Vec::new();
    for name in names {
        let user = admin(
            server,
            "/api/admin/users",
            json!({ "username": name, "email": format!("{name}@example.test"), "password": "a long password" }),
        )
        .await;
        let token = admin(
            server,
            &format!("/api/admin/users/{}/tokens", user["user"]["id"]),
            json!({ "name": "t" }),
        )
        .await;
        keys.push(token["key"].as_str().expect("key").to_owned());
    }
    keys
}

/// Creates a stored response as the holder of `key`; returns its id.
async fn create_response(server: &TestServer, key: &str) -> String {
    let created: Value = reqwest::Client::new()
        .post(server.url("/v1/responses"))
        .bearer_auth(key)
        .json(&json!({ "model": "gpt-4o", "input": "hi" }))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    created["id"].as_str().expect("response id").to_owned()
}

/// The recorder writes a batch only after this long (or 10k records): every call below comes
/// before the creating request's `response_owners` row exists.
const SLOW_RECORDER_MS: u64 = 30_000;

fn slow_recorder(config: &mut realms_core::config::Config) {
    config.usage.batch_max_delay_ms = SLOW_RECORDER_MS;
    config.usage.batch_min_rows = 10_000;
}

#[tokio::test]
async fn only_the_creator_reaches_a_stored_response_on_its_channel() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(slow_recorder).await;
    let keys = seed(&server, &fake, &["owner", "stranger"]).await;
    let client = reqwest::Client::new();
    let id = create_response(&server, &keys[0]).await;

    // At once, long before the recorder writes the owner's row.
    let resp = client
        .get(server.url(&format!("/v1/responses/{id}")))
        .bearer_auth(&keys[0])
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 200, "the creator reads its response at once");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["id"], json!(id));
    assert_eq!(
        fake.count(&format!("/v1/responses/{id}")),
        1,
        "forwarded to the channel that holds it"
    );
    assert_eq!(
        fake.last_request()
            .expect("request")
            .header("authorization"),
        Some("Bearer sk-up")
    );

    let before = fake.requests().len();
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/responses/{id}")),
        (reqwest::Method::DELETE, format!("/v1/responses/{id}")),
        (reqwest::Method::POST, format!("/v1/responses/{id}/cancel")),
        (
            reqwest::Method::GET,
            format!("/v1/responses/{id}/input_items"),
        ),
    ] {
        let resp = client
            .request(method, server.url(&path))
            .bearer_auth(&keys[1])
            .send()
            .await
            .expect("call");
        assert_eq!(
            resp.status(),
            404,
            "{path}: another user's response does not exist for them"
        );
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["error"]["type"], json!("not_found_error"));
    }
    assert_eq!(
        fake.requests().len(),
        before,
        "nothing was forwarded for the stranger"
    );

    let resp = client
        .get(server.url(&format!("/v1/responses/{id}/input_items")))
        .bearer_auth(&keys[0])
        .send()
        .await
        .expect("items");
    assert_eq!(resp.status(), 200);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_response_still_streaming_can_be_read_and_cancelled_by_its_creator() {
    use futures_util::StreamExt;

    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(slow_recorder).await;
    let keys = seed(&server, &fake, &["owner"]).await;
    let key = &keys[0];
    let client = reqwest::Client::new();
    // 20 deltas 250 ms apart: the stream is open for five seconds.
    let stream = client
        .post(server.url("/v1/responses?events=20&pace_ms=250"))
        .bearer_auth(key)
        .json(&json!({ "model": "gpt-4o", "input": "hi", "stream": true, "background": true }))
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let mut body = stream.bytes_stream();
    let mut seen = String::new();
    let id = loop {
        let chunk = body.next().await.expect("an event").expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(start) = seen.find("\"id\":\"resp_") {
            let rest = &seen[start + 6..];
            if let Some(end) = rest.find('"') {
                break rest[..end].to_owned();
            }
        }
    };

    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/responses/{id}")),
        (reqwest::Method::POST, format!("/v1/responses/{id}/cancel")),
    ] {
        let resp = client
            .request(method, server.url(&path))
            .bearer_auth(key)
            .send()
            .await
            .expect("call");
        assert_eq!(resp.status(), 200, "{path} while the stream runs");
        let answer: Value = resp.json().await.expect("json");
        assert_eq!(answer["id"], json!(id));
    }
    assert_eq!(fake.count(&format!("/v1/responses/{id}/cancel")), 1);
    assert!(
        server.usage_events().await.is_empty(),
        "the creating stream's record is not written yet"
    );
    drop(body);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn only_the_creator_continues_a_stored_response() {
    // the owner as noted in memory (the row not written yet), then as read from its row
    for slow in [true, false] {
        let fake = FakeUpstream::start().await;
        let server = if slow {
            TestServer::start_tuned(slow_recorder).await
        } else {
            TestServer::start().await
        };
        let keys = seed(&server, &fake, &["owner", "stranger"]).await;
        let client = reqwest::Client::new();
        let post = |key: &str, path: &str, body: Value| {
            client
                .post(server.url(path))
                .bearer_auth(key)
                .json(&body)
                .send()
        };
        let id = create_response(&server, &keys[0]).await;
        if !slow {
            server.wait_for_usage(1).await;
        }

        let before = fake.requests().len();
        let next_turn =
            json!({ "model": "gpt-4o", "input": "and then?", "previous_response_id": id });
        for path in ["/v1/responses", "/v1/responses/input_tokens"] {
            let resp = post(&keys[1], path, next_turn.clone()).await.expect("call");
            refused_as_invalid(resp, &format!("{path} (slow recorder: {slow})")).await;
        }
        assert_eq!(
            fake.requests().len(),
            before,
            "nothing forwarded for the stranger"
        );

        let resp = post(&keys[0], "/v1/responses", next_turn)
            .await
            .expect("call");
        assert_eq!(
            resp.status(),
            200,
            "the creator continues (slow recorder: {slow})"
        );
        server.stop().await.expect("clean stop");
    }
}

/// `model` is optional for `POST /v1/responses/input_tokens`: a count that continues a response
/// goes where that response lives, its body as sent; another user's response is refused, and a
/// count naming neither a model nor a response still gets the protocol's 400.
#[tokio::test]
async fn a_count_without_a_model_goes_where_the_response_it_continues_lives() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let keys = seed(&server, &fake, &["owner", "stranger"]).await;
    let id = create_response(&server, &keys[0]).await;
    server.wait_for_usage(1).await;
    let count = |key: &str, body: Value| {
        reqwest::Client::new()
            .post(server.url("/v1/responses/input_tokens"))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let continuing = json!({ "input": "and then?", "previous_response_id": id });

    let resp = count(&keys[0], continuing.clone()).await.expect("count");
    let status = resp.status();
    let answer: Value = resp.json().await.expect("json");
    assert_eq!(status, 200, "{answer}");
    assert!(answer["input_tokens"].as_u64().is_some(), "{answer}");
    let forwarded = fake.requests_to("/v1/responses/input_tokens");
    assert_eq!(forwarded.len(), 1);
    let sent: Value = serde_json::from_slice(&forwarded[0].body).expect("json body");
    assert_eq!(sent, continuing, "the body goes as the client sent it");

    for (key, body) in [
        (&keys[1], continuing.clone()),
        (&keys[0], json!({ "input": "no model, nothing continued" })),
    ] {
        let resp = count(key, body.clone()).await.expect("count");
        refused_as_invalid(resp, &body.to_string()).await;
    }
    assert_eq!(
        fake.count("/v1/responses/input_tokens"),
        1,
        "nothing else forwarded"
    );
    server.stop().await.expect("clean stop");
}

/// Asserts `resp` is OpenAI's 400 `invalid_request_error`; `context` names the call.
async fn refused_as_invalid(resp: reqwest::Response, context: &str) {
    assert_eq!(resp.status(), 400, "{context}");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body["error"]["type"],
        json!("invalid_request_error"),
        "{context}: {body}"
    );
}
