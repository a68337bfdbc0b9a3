//! Cross-cutting rules of `/api/*`: unknown paths and methods answer the JSON error envelope, and
//! every response carries `X-Request-Id`.

pub mod common;

use axum::http::{Method, StatusCode};
use common::{Req, TestApp};
use serde_json::json;

#[tokio::test]
async fn unknown_api_paths_are_json_404s() {
    let app = TestApp::new().await;
    let session = app.register("root1").await;
    for (name, req) in [
        ("get", Req::get("/api/nope")),
        ("post", Req::post("/api/nope/deeper").json(json!({}))),
        ("admin", Req::get("/api/admin/nope").admin_key()),
        (
            "signed in",
            Req::get("/api/tokens/1/nope").session(&session),
        ),
        ("prefix only", Req::get("/api")),
        ("prefix with slash", Req::get("/api/")),
    ] {
        let resp = app.send(req).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "case {name}");
        resp.assert_error(StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let app = TestApp::new().await;
    for (name, req) in [
        ("put on a list", Req::new(Method::PUT, "/api/tokens")),
        ("get on login", Req::get("/api/auth/login")),
        ("delete on me", Req::delete("/api/me")),
        (
            "put on admin settings",
            Req::new(Method::PUT, "/api/admin/settings").admin_key(),
        ),
    ] {
        let resp = app.send(req).await;
        assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED, "case {name}");
        resp.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert!(
            resp.header("allow").is_some(),
            "case {name}: an Allow header"
        );
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::new().await;
    let session = app.register("alice").await;
    let cases = [
        ("ok", Req::get("/api/me").session(&session), StatusCode::OK),
        (
            "created",
            Req::post("/api/tokens")
                .session(&session)
                .json(json!({ "name": "t" })),
            StatusCode::CREATED,
        ),
        (
            "no content",
            Req::post("/api/auth/logout").session(&session),
            StatusCode::NO_CONTENT,
        ),
        (
            "unauthorised",
            Req::get("/api/me"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "bad json",
            Req::post("/api/auth/login").raw("{"),
            StatusCode::BAD_REQUEST,
        ),
        ("not found", Req::get("/api/nope"), StatusCode::NOT_FOUND),
        ("health", Req::get("/healthz"), StatusCode::OK),
    ];
    let mut seen = Vec::new();
    for (name, req, status) in cases {
        let resp = app.send(req).await;
        assert_eq!(resp.status, status, "case {name}");
        let id = resp
            .header("x-request-id")
            .unwrap_or_else(|| panic!("case {name}: no x-request-id"))
            .to_owned();
        assert!(id.len() >= 16, "case {name}: {id}");
        assert!(!seen.contains(&id), "case {name}: ids are unique");
        seen.push(id);
    }
    // A caller's own id is kept, so logs on both sides line up.
    let resp = app
        .send(Req::get("/api/me").header("x-request-id", "client-id-42"))
        .await;
    assert_eq!(resp.header("x-request-id"), Some("client-id-42"));
}

/// A writer that keeps what the log subscriber wrote.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("the log buffer is poisoned"))?;
        buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn request_logs_name_the_path_but_never_the_query_where_gemini_clients_put_their_key() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let app = TestApp::new().await;
    let resp = app
        .send(Req::get("/api/nope?key=sk_secret_in_the_query"))
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let logs = String::from_utf8(captured.0.lock().expect("log buffer").clone()).expect("utf-8");
    assert!(logs.contains("/api/nope"), "the request is logged: {logs}");
    assert!(
        !logs.contains("sk_secret_in_the_query"),
        "the query string was logged: {logs}"
    );
}
