//! The server as an operator runs it: a real socket, a real data directory, restarts, graceful
//! shutdown, and secrets that never reach the disk in plain text.

use e2e::{Console, TestServer, config_for};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn healthz_reports_version_and_database() {
    let server = TestServer::start().await;
    let resp = reqwest::get(server.url("/healthz")).await.expect("healthz");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["ok"], true);
    assert_eq!(body["db_ok"], true);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        body["build_date"].as_str().is_some_and(|d| d.len() == 10),
        "{body}"
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_with(config_for(dir.path())).await;
    let mut console = Console::new(&server);
    let user = console.register("keeper", "a long password").await;
    assert_eq!(user["role"], "root");
    let (status, token) = console
        .call(Method::POST, "/api/tokens", Some(json!({"name": "ci"})))
        .await;
    assert_eq!(status, 201, "{token}");
    server.stop().await.expect("clean stop");

    let server = TestServer::start_with(config_for(dir.path())).await;
    let mut console = Console::new(&server);
    console.login("keeper", "a long password").await;
    let (status, list) = console.call(Method::GET, "/api/tokens", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["name"], "ci");
    let (status, revealed) = console
        .call(
            Method::POST,
            &format!("/api/tokens/{}/reveal", token["id"]),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        revealed["key"], token["key"],
        "the sealed key opens after a restart"
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn secrets_are_not_on_disk_in_plain_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_with(config_for(dir.path())).await;
    let mut console = Console::new(&server);
    console.register("owner", "a long password").await;
    let (_, token) = console
        .call(Method::POST, "/api/tokens", Some(json!({"name": "t"})))
        .await;
    let key = token["key"].as_str().expect("key").to_owned();
    server.stop().await.expect("clean stop");

    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("read");
            if bytes.windows(key.len()).any(|w| w == key.as_bytes()) {
                found.push(path);
            }
        }
    }
    assert!(
        found.is_empty(),
        "token key found in plain text in {found:?}"
    );
}
