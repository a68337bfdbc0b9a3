//! Shared helpers of the console API tests (`api_*.rs`): a [`TestApp`] that calls
//! `realms_core::app` with `tower::ServiceExt::oneshot` (no socket), a request builder that signs
//! in with the session cookie plus `Realms-User` or with the admin key, and response assertions.
//! Only helpers live here; every test states its own expectations.

// `cfg(test)` so the `allow-*-in-tests` settings of `clippy.toml` cover these helpers too. Test
// crates declare this module `pub mod common;`: a helper one crate does not use is not dead code.
#![cfg(test)]

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use realms_core::config::Secret;
use realms_core::{AppState, Config};
use rusqlite::types::ValueRef;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The admin API key every [`test_config`] carries.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";
/// A password that passes the strength rules.
pub const PASSWORD: &str = "correct horse battery";

/// Defaults for tests: fast password hashing and the admin key.
pub fn test_config() -> Config {
    let mut config = Config::test_default();
    config.admin_api_key = Some(Secret::new(ADMIN_KEY));
    config
}

/// The application over a fresh in-memory database.
pub struct TestApp {
    /// The state, for direct database access in assertions.
    pub state: AppState,
    router: realms_core::App,
}

/// A signed-in console user: the cookie pair to send back and the id for `Realms-User`.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user id.
    pub user_id: i64,
    /// `realms_session=<secret>`.
    pub cookie: String,
}

impl TestApp {
    /// An app over [`test_config`].
    pub async fn new() -> Self {
        Self::with_config(test_config()).await
    }

    /// An app over `config`.
    pub async fn with_config(config: Config) -> Self {
        Self::from_state(AppState::for_tests(config).await)
    }

    /// An app over `realms_core::start(config)`: a real data directory, key file and database.
    pub async fn start(config: Config) -> Self {
        Self::from_state(realms_core::start(config).await.expect("start"))
    }

    /// An app over a state built elsewhere.
    pub fn from_state(state: AppState) -> Self {
        let router = realms_core::app(state.clone());
        Self { state, router }
    }

    /// Sends one request through the whole router.
    pub async fn send(&self, req: Req) -> Resp {
        let mut builder = Request::builder().method(req.method).uri(&req.path);
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut request = builder.body(Body::from(req.body)).expect("request builds");
        if let Some(peer) = req.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body reads");
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Registers a user (`<name>@example.test`, [`PASSWORD`]) and returns its session.
    pub async fn register(&self, username: &str) -> Session {
        let resp = self
            .send(Req::post("/api/auth/register").json(json!({
                "username": username,
                "email": format!("{username}@example.test"),
                "password": PASSWORD,
            })))
            .await;
        resp.assert_status(StatusCode::CREATED);
        resp.session()
    }

    /// Signs in with a login (username or email) and password; panics unless it is 200.
    pub async fn login(&self, login: &str, password: &str) -> Session {
        let resp = self.send(Req::login(login, password)).await;
        resp.assert_status(StatusCode::OK);
        resp.session()
    }

    /// Changes settings with the admin key; panics unless it is 200.
    pub async fn set_settings(&self, patch: Value) {
        self.send(Req::patch("/api/admin/settings").admin_key().json(patch))
            .await
            .assert_status(StatusCode::OK);
    }

    /// Runs one SQL query with one parameter returning a single integer (for assertions on
    /// stored state).
    pub async fn count<P>(&self, sql: &'static str, param: P) -> i64
    where
        P: rusqlite::ToSql + Send + 'static,
    {
        self.state
            .store
            .read(move |c| Ok(c.query_row(sql, [param], |r| r.get(0))?))
            .await
            .expect("query runs")
    }

    /// Every place in the database (`table.column`) whose text or bytes contain `needle`: the
    /// check that a secret is not stored in plain text anywhere.
    pub async fn places_holding(&self, needle: &str) -> Vec<String> {
        let needle = needle.as_bytes().to_vec();
        self.state
            .store
            .read(move |c| {
                let mut stmt = c.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
                let tables = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut found = Vec::new();
                for table in tables {
                    // Table names come from `sqlite_master`, not from input.
                    let mut stmt = c.prepare(&format!("SELECT * FROM \"{table}\""))?;
                    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
                    let mut rows = stmt.query([])?;
                    while let Some(row) = rows.next()? {
                        for (i, column) in columns.iter().enumerate() {
                            let bytes = match row.get_ref(i)? {
                                ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
                                other => format!("{other:?}").into_bytes(),
                            };
                            if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                                found.push(format!("{table}.{column}"));
                            }
                        }
                    }
                }
                Ok(found)
            })
            .await
            .expect("scan runs")
    }
}

/// A request to send with [`TestApp::send`].
#[derive(Debug, Clone)]
pub struct Req {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    peer: Option<SocketAddr>,
}

impl Req {
    /// A request without body or credentials.
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            peer: None,
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(path: &str) -> Self {
        Self::new(Method::POST, path)
    }

    /// `PATCH path`.
    pub fn patch(path: &str) -> Self {
        Self::new(Method::PATCH, path)
    }

    /// `DELETE path`.
    pub fn delete(path: &str) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// `POST /api/auth/login` with this login and password.
    pub fn login(login: &str, password: &str) -> Self {
        Self::post("/api/auth/login").json(json!({ "login": login, "password": password }))
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A JSON body.
    pub fn json(self, value: Value) -> Self {
        self.raw(value.to_string().into_bytes())
    }

    /// A body of raw bytes sent as JSON (for malformed bodies).
    pub fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self.header("content-type", "application/json")
    }

    /// The session cookie and the matching `Realms-User` header.
    pub fn session(self, session: &Session) -> Self {
        let id = session.user_id.to_string();
        self.cookie(session).header("realms-user", &id)
    }

    /// The session cookie only (no CSRF header).
    pub fn cookie(self, session: &Session) -> Self {
        let cookie = session.cookie.clone();
        self.header("cookie", &cookie)
    }

    /// `Authorization: Bearer <admin key>`.
    pub fn admin_key(self) -> Self {
        self.header("authorization", &format!("Bearer {ADMIN_KEY}"))
    }

    /// The socket address the request seems to come from (`ConnectInfo`).
    pub fn peer(mut self, addr: &str) -> Self {
        self.peer = Some(addr.parse().expect("socket address"));
        self
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl Resp {
    /// The body as JSON; panics with the body text when it is not.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, expected: StatusCode) -> &Self {
        assert_eq!(
            self.status,
            expected,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// Asserts the status and the stable `error.code` of the envelope, and that a message is
    /// present; returns the message.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) -> String {
        self.assert_status(status);
        let body = self.json();
        assert_eq!(body["error"]["code"], json!(code), "body: {body}");
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error without message: {body}"));
        assert!(!message.is_empty(), "empty message: {body}");
        message.to_owned()
    }

    /// A header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Set-Cookie` header; panics when absent.
    #[track_caller]
    pub fn set_cookie(&self) -> &str {
        self.header(header::SET_COOKIE.as_str())
            .expect("a Set-Cookie header")
    }

    /// The session this response started: its cookie and the user id of `{user}`.
    #[track_caller]
    pub fn session(&self) -> Session {
        let set_cookie = self.set_cookie();
        let pair = set_cookie
            .split(';')
            .next()
            .expect("cookie pair")
            .trim()
            .to_owned();
        assert!(pair.starts_with("realms_session="), "{set_cookie}");
        let user_id = self.json()["user"]["id"]
            .as_i64()
            .expect("`user.id` is an integer");
        Session {
            user_id,
            cookie: pair,
        }
    }
}
