//! Harness for the end-to-end tests: a real Realms server started in-process with
//! `realms_core::serve` on `127.0.0.1:0`, with its own temporary data directory, and an HTTP
//! client that keeps the console session. The tests themselves live in `tests/`.
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test harness: failing loudly with a message is its job"
)]

pub mod relay;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use realms_core::config::Secret;
use realms_core::{AppState, Config};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The admin API key every test server is configured with.
pub const ADMIN_KEY: &str = "e2e-admin-key-0123456789abcdef";

/// A running Realms server.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory (kept alive by `dir` or owned by the caller).
    pub data_dir: PathBuf,
    /// The desktop console secret when the server runs in desktop mode; the harness's console
    /// and admin clients send it on every `/api` call.
    pub console_secret: Option<String>,
    /// The server's state, for what the desktop shell calls directly (`realms_core::desktop`).
    pub state: AppState,
    shutdown: CancellationToken,
    join: JoinHandle<Result<(), realms_core::StartError>>,
    _dir: Option<tempfile::TempDir>,
}

/// A configuration for an end-to-end server over `data_dir`.
pub fn config_for(data_dir: &Path) -> Config {
    let mut config = Config::test_default();
    config.data_dir = Some(data_dir.to_path_buf());
    config.admin_api_key = Some(Secret::new(ADMIN_KEY));
    config.log = "warn".into();
    config
}

impl TestServer {
    /// Starts a server over a fresh temporary data directory.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config_for(dir.path());
        let mut server = Self::start_with(config).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server over a fresh temporary data directory with a configuration `tune`d
    /// (small timeouts, routing limits) from the end-to-end defaults.
    pub async fn start_tuned(tune: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = config_for(dir.path());
        tune(&mut config);
        let mut server = Self::start_with(config).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server with a given configuration (its `data_dir` must be set).
    pub async fn start_with(config: Config) -> Self {
        let data_dir = config.data_dir.clone().unwrap_or_default();
        let console_secret = config
            .desktop_console_secret
            .as_ref()
            .map(|s| s.expose().to_owned());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        // `start` then `serve_state` is what `realms_core::serve` does; split, so tests can keep
        // the state the way the desktop shell does.
        let state = realms_core::start(config).await.expect("realms starts");
        let served = state.clone();
        #[expect(
            clippy::disallowed_methods,
            reason = "the harness owns the server task"
        )]
        let join = tokio::spawn(async move {
            realms_core::serve_state(served, listener, async move { signal.cancelled().await })
                .await
        });
        let server = Self {
            addr,
            data_dir,
            console_secret,
            state,
            shutdown,
            join,
            _dir: None,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(resp) = client.get(self.url("/healthz")).send().await
                && resp.status().is_success()
            {
                return;
            }
            if self.join.is_finished() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("realms did not become ready on {}", self.addr);
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Calls `/api/admin/*` with the admin key; panics unless it succeeds; returns the JSON body.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = reqwest::Client::new()
            .request(method, self.url(path))
            .bearer_auth(ADMIN_KEY);
        if let Some(secret) = &self.console_secret {
            request = request.header(realms_core::desktop::CONSOLE_SECRET_HEADER, secret);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("admin {path}: {e}"));
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "admin {path}: {status} {value}");
        value
    }

    /// The admin's view of usage events, newest first.
    pub async fn usage_events(&self) -> Vec<Value> {
        let body = self
            .admin(reqwest::Method::GET, "/api/admin/usage/events", None)
            .await;
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Waits (briefly) until the recorder has written `count` usage events; returns them.
    pub async fn wait_for_usage(&self, count: usize) -> Vec<Value> {
        for _ in 0..250 {
            let events = self.usage_events().await;
            if events.len() >= count {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("fewer than {count} usage events were recorded");
    }

    /// Stops the server gracefully and returns what `serve` returned.
    pub async fn stop(self) -> Result<(), realms_core::StartError> {
        self.shutdown.cancel();
        self.join.await.expect("server task")
    }
}

/// A console client: keeps the session cookie and sends `Realms-User`.
pub struct Console {
    client: reqwest::Client,
    base: String,
    console_secret: Option<String>,
    cookie: Option<String>,
    user_id: Option<i64>,
}

impl Console {
    /// A client for a server, not signed in.
    pub fn new(server: &TestServer) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: server.url(""),
            console_secret: server.console_secret.clone(),
            cookie: None,
            user_id: None,
        }
    }

    /// Registers a user and keeps the session; returns the user JSON.
    pub async fn register(&mut self, username: &str, password: &str) -> Value {
        let body = json!({ "username": username, "email": format!("{username}@example.test"), "password": password });
        self.sign_in("/api/auth/register", body).await
    }

    /// Signs in and keeps the session; returns the user JSON.
    pub async fn login(&mut self, login: &str, password: &str) -> Value {
        self.sign_in(
            "/api/auth/login",
            json!({ "login": login, "password": password }),
        )
        .await
    }

    /// Desktop mode: signs in as the desktop owner without a password; returns the user JSON.
    pub async fn desktop_sign_in(&mut self) -> Value {
        self.sign_in("/api/desktop/session", json!({})).await
    }

    async fn sign_in(&mut self, path: &str, body: Value) -> Value {
        let mut req = self.client.post(format!("{}{path}", self.base));
        if let Some(secret) = &self.console_secret {
            req = req.header(realms_core::desktop::CONSOLE_SECRET_HEADER, secret);
        }
        let resp = req.json(&body).send().await.expect("sign in");
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or_default();
        assert!(status.is_success(), "sign in failed: {status} {value}");
        self.cookie = cookie;
        self.user_id = value["user"]["id"].as_i64();
        value["user"].clone()
    }

    /// Sends a request with the session and CSRF header; returns status and JSON (or Null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(secret) = &self.console_secret {
            req = req.header(realms_core::desktop::CONSOLE_SECRET_HEADER, secret);
        }
        if let Some(cookie) = &self.cookie {
            req = req.header("cookie", cookie);
        }
        if let Some(id) = self.user_id {
            req = req.header("realms-user", id.to_string());
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {path}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}
