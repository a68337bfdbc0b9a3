//! Shared helpers of the admin HTTP tests: an app over in-memory SQLite with the admin API key
//! set, JSON requests through `oneshot`, signing in as a plain user, and direct database reads.

#![cfg(test)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use realms_core::config::Secret;
use realms_core::{AppState, Config};

/// The admin API key the test app accepts.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// The app under test and its state (for direct database reads).
pub struct TestApp {
    /// Shared with the router.
    pub state: AppState,
    router: realms_core::App,
}

/// A signed-in plain user: the cookie and the `Realms-User` header value.
pub struct Session {
    /// The user's id.
    pub user_id: i64,
    cookie: String,
}

impl TestApp {
    /// A fresh app with its own in-memory database.
    pub async fn new() -> Self {
        let mut config = Config::test_default();
        config.admin_api_key = Some(Secret::new(ADMIN_KEY));
        let state = AppState::for_tests(config).await;
        let router = realms_core::app(state.clone());
        Self { state, router }
    }

    /// Sends a request and returns the status and the JSON body (`Null` when empty).
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        (status, body)
    }

    /// A request with the admin API key and an optional JSON body.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"));
        let request = match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.expect("request")).await
    }

    /// A request with the admin API key and a raw body, for malformed JSON.
    pub async fn admin_raw(&self, method: &str, path: &str, body: &str) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .expect("request");
        self.send(request).await
    }

    /// Creates a plain user through the admin API and signs in as them.
    pub async fn user(&self, username: &str) -> Session {
        let password = "a long enough password";
        let (status, body) = self
            .admin(
                "POST",
                "/api/admin/users",
                Some(json!({
                    "username": username,
                    "email": format!("{username}@example.test"),
                    "password": password,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let user_id = body["user"]["id"].as_i64().expect("user id");
        let request = Request::builder()
            .method("POST")
            .uri("/api/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({ "login": username, "password": password }).to_string(),
            ))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("login answers");
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("session cookie")
            .to_owned();
        Session { user_id, cookie }
    }

    /// A GET as a signed-in user.
    pub async fn get_as(&self, session: &Session, path: &str) -> (StatusCode, Value) {
        let request = Request::builder()
            .uri(path)
            .header(header::COOKIE, &session.cookie)
            .header("realms-user", session.user_id.to_string())
            .body(Body::empty())
            .expect("request");
        self.send(request).await
    }

    /// `SELECT COUNT(*) FROM <table>`; the table name is a test literal.
    pub async fn count(&self, table: &'static str) -> i64 {
        self.state
            .store
            .read(move |c| {
                let sql = format!("SELECT COUNT(*) FROM {table}");
                Ok(c.query_row(&sql, [], |r| r.get(0))?)
            })
            .await
            .expect("count")
    }

    /// Number of audit records with this action.
    pub async fn audits(&self, action: &'static str) -> i64 {
        self.state
            .store
            .read(move |c| realms_core::store::audit::count_action(c, action))
            .await
            .expect("audit count")
    }

    /// Every stored `credentials.secret_sealed` value.
    pub async fn sealed_secrets(&self) -> Vec<Vec<u8>> {
        self.state
            .store
            .read(|c| {
                let mut stmt = c.prepare("SELECT secret_sealed FROM credentials ORDER BY id")?;
                let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .expect("sealed secrets")
    }
}

/// Asserts an error answer's status and code.
pub fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
}
