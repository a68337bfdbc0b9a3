//! Desktop mode of the console API over a real socket: every `/api` call needs the per-launch
//! console secret, `POST /api/desktop/session` signs the local person in without a password, and
//! the rest (health, console files, data plane) is unaffected. Without a secret none of it applies.
#![cfg(test)]

use e2e::TestServer;
use realms_core::config::Secret;
use realms_core::desktop::CONSOLE_SECRET_HEADER;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

const SECRET: &str = "per-launch-console-secret-for-e2e";

async fn desktop_server() -> TestServer {
    TestServer::start_tuned(|c| c.desktop_console_secret = Some(Secret::new(SECRET))).await
}

fn request(server: &TestServer, method: Method, path: &str) -> RequestBuilder {
    reqwest::Client::new().request(method, server.url(path))
}

async fn send(builder: RequestBuilder) -> (u16, Option<String>, Value) {
    let response: Response = builder.send().await.expect("request");
    let status = response.status().as_u16();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "no CORS header, ever"
    );
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    (status, cookie, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn api_calls_without_the_console_secret_are_refused() {
    let server = desktop_server().await;
    let cases: [(&str, Method, &str, Option<&str>); 7] = [
        ("site, no secret", Method::GET, "/api/site", None),
        (
            "site, wrong secret",
            Method::GET,
            "/api/site",
            Some("guess"),
        ),
        ("me, no secret", Method::GET, "/api/me", None),
        (
            "desktop session, no secret",
            Method::POST,
            "/api/desktop/session",
            None,
        ),
        ("login, no secret", Method::POST, "/api/auth/login", None),
        (
            "unknown route, no secret",
            Method::GET,
            "/api/nothing/here",
            None,
        ),
        (
            "admin key, no secret",
            Method::GET,
            "/api/admin/settings",
            None,
        ),
    ];
    for (case, method, path, secret) in cases {
        let mut builder = request(&server, method, path)
            .bearer_auth(e2e::ADMIN_KEY)
            .header("origin", "http://evil.example")
            .json(&json!({"login": "root", "password": "x"}));
        if let Some(secret) = secret {
            builder = builder.header(CONSOLE_SECRET_HEADER, secret);
        }
        let (status, cookie, body) = send(builder).await;
        assert_eq!(status, 401, "case {case}: {body}");
        assert_eq!(
            body["error"]["code"],
            json!("console_secret_required"),
            "case {case}"
        );
        assert!(body["error"]["message"].is_string(), "case {case}");
        assert!(cookie.is_none(), "case {case}: no session handed out");
    }

    // With the secret the same calls behave as usual.
    let (status, _, body) =
        send(request(&server, Method::GET, "/api/site").header(CONSOLE_SECRET_HEADER, SECRET))
            .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = send(
        request(&server, Method::GET, "/api/admin/settings")
            .bearer_auth(e2e::ADMIN_KEY)
            .header(CONSOLE_SECRET_HEADER, SECRET),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) =
        send(request(&server, Method::GET, "/api/me").header(CONSOLE_SECRET_HEADER, SECRET)).await;
    assert_eq!(status, 401, "the secret is not a session: {body}");
    assert_eq!(body["error"]["code"], json!("not_signed_in"));
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn health_console_files_and_the_data_plane_need_no_console_secret() {
    let server = desktop_server().await;
    let (status, _, body) = send(request(&server, Method::GET, "/healthz")).await;
    assert_eq!(status, 200, "{body}");
    let response = request(&server, Method::GET, "/dashboard")
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("html");
    assert!(
        page.contains("<html") || page.contains("<!doctype"),
        "{page}"
    );
    // The data plane answers in its own terms: a missing `sk_` token, not a missing secret.
    let (status, _, body) = send(request(&server, Method::GET, "/v1/models")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], json!("invalid_api_key"), "{body}");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_desktop_session_signs_the_local_person_in_without_a_password() {
    let server = desktop_server().await;
    let (status, cookie, body) = send(
        request(&server, Method::POST, "/api/desktop/session")
            .header(CONSOLE_SECRET_HEADER, SECRET)
            .header("user-agent", "Realms desktop"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.expect("a session cookie");
    assert!(cookie.starts_with("realms_session="), "{cookie}");
    let user = &body["user"];
    assert_eq!(user["role"], json!("root"), "{body}");
    let id = user["id"].as_i64().expect("user id");

    let me = |with_secret: bool| {
        let mut builder = request(&server, Method::GET, "/api/me")
            .header("cookie", &cookie)
            .header("realms-user", id.to_string());
        if with_secret {
            builder = builder.header(CONSOLE_SECRET_HEADER, SECRET);
        }
        send(builder)
    };
    let (status, _, body) = me(true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["role"], json!("root"));
    // A stolen cookie alone is not enough: the secret is checked on every call.
    let (status, _, body) = me(false).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], json!("console_secret_required"));

    // Signing in again reuses the same owner account.
    let (status, _, again) = send(
        request(&server, Method::POST, "/api/desktop/session")
            .header(CONSOLE_SECRET_HEADER, SECRET),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["user"]["id"], json!(id));
    let users = server.admin(Method::GET, "/api/admin/users", None).await;
    assert_eq!(
        users["items"].as_array().map(Vec::len),
        Some(1),
        "one owner: {users}"
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_existing_root_is_the_desktop_owner() {
    let server = desktop_server().await;
    let mut console = e2e::Console::new(&server);
    let registered = console.register("alice", "alice password").await;
    assert_eq!(
        registered["role"],
        json!("root"),
        "the first account is root"
    );
    let (status, _, body) = send(
        request(&server, Method::POST, "/api/desktop/session")
            .header(CONSOLE_SECRET_HEADER, SECRET),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], registered["id"]);
    assert_eq!(body["user"]["username"], json!("alice"));
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn without_desktop_mode_there_is_no_desktop_session_and_no_secret_check() {
    let server = TestServer::start().await;
    let (status, cookie, body) = send(request(&server, Method::POST, "/api/desktop/session")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], json!("not_found"));
    assert!(cookie.is_none());
    // Even a caller who sends some secret gets no password-less session.
    let (status, _, _) = send(
        request(&server, Method::POST, "/api/desktop/session")
            .header(CONSOLE_SECRET_HEADER, SECRET),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, body) = send(request(&server, Method::GET, "/api/site")).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await.expect("clean stop");
}
