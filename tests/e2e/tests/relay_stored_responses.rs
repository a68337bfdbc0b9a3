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

#[tokio::test]
async fn only_the_creator_reaches_a_stored_response_on_its_channel() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    patch_settings(
        &server,
        json!({ "allow_private_upstreams": true, "feature_disable_billing": true }),
    )
    .await;
    let channel = admin(
        &server,
        "/api/admin/channels",
        json!({ "type": "openai_compatible", "name": "fake", "base_url": fake.url(), "api_keys": ["sk-up"] }),
    )
    .await;
    admin(
        &server,
        "/api/admin/models",
        json!({ "public_id": "gpt-4o" }),
    )
    .await;
    admin(
        &server,
        &format!("/api/admin/channels/{}/models", channel["channel"]["id"]),
        json!({ "public_id": "gpt-4o" }),
    )
    .await;
    let mut keys = Vec::new();
    for name in ["owner", "stranger"] {
        let user = admin(
            &server,
            "/api/admin/users",
            json!({ "username": name, "email": format!("{name}@example.test"), "password": "a long password" }),
        )
        .await;
        let token = admin(
            &server,
            &format!("/api/admin/users/{}/tokens", user["user"]["id"]),
            json!({ "name": "t" }),
        )
        .await;
        keys.push(token["key"].as_str().expect("key").to_owned());
    }
    let client = reqwest::Client::new();
    let created: Value = client
        .post(server.url("/v1/responses"))
        .bearer_auth(&keys[0])
        .json(&json!({ "model": "gpt-4o", "input": "hi" }))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("response id").to_owned();

    // The owner record is written by the recorder; poll until the owner can read it.
    let mut status = 0;
    for _ in 0..100 {
        let resp = client
            .get(server.url(&format!("/v1/responses/{id}")))
            .bearer_auth(&keys[0])
            .send()
            .await
            .expect("get");
        status = resp.status().as_u16();
        if status == 200 {
            let body: Value = resp.json().await.expect("json");
            assert_eq!(body["id"], json!(id));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200, "the creator reads its response");
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
