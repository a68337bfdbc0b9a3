//! Shared set-up of the Codex OAuth tests: a Realms server (state kept, so background work can be
//! driven directly) against a fake upstream that is both the OAuth issuer and the Codex backend,
//! with one `codex_oauth` channel, a model bound to it and a user token.
// Test crates declare this module `pub mod codex_common;`: a helper one crate does not use is
// not dead code.
#![cfg(test)]

use std::time::Duration;

use e2e::{ADMIN_KEY, config_for};
use fake_upstream::FakeUpstream;
use realms_core::{AppState, Config};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The model bound to the Codex channel.
pub const MODEL: &str = "gpt-5-codex";

/// A running Realms with a Codex channel.
pub struct Env {
    /// The fake issuer and Codex backend.
    pub fake: FakeUpstream,
    /// Realms' state.
    pub state: AppState,
    /// `http://127.0.0.1:PORT` of Realms.
    pub base: String,
    /// The Codex channel's id.
    pub channel: i64,
    /// A user's `sk_` key for the data plane.
    pub key: String,
    /// A client that never follows redirects.
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Options of [`Env::start_with`].
#[derive(Default)]
pub struct Options {
    /// Whether the local callback listener is on.
    pub listener: bool,
    /// The callback port (0 = any free one).
    pub callback_port: u16,
}

impl Env {
    /// Realms with the listener off.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// Realms with these options.
    pub async fn start_with(options: Options) -> Self {
        let fake = FakeUpstream::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config: Config = config_for(dir.path());
        config.codex_oauth_issuer = fake.url();
        config.codex_oauth_callback_port = options.callback_port;
        config.codex_oauth_listener = Some(options.listener);
        // self mode: loopback upstreams allowed, no billing
        config.self_mode = Some(true);
        let state = realms_core::start(config).await.expect("start");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        let serving = state.clone();
        #[expect(clippy::disallowed_methods, reason = "the test owns the server task")]
        tokio::spawn(async move {
            realms_core::serve_state(serving, listener, async move { signal.cancelled().await })
                .await
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut env = Self {
            fake,
            state,
            base,
            channel: 0,
            key: String::new(),
            http,
            shutdown,
            _dir: dir,
        };
        let (status, channel) = env
            .admin(
                reqwest::Method::POST,
                "/api/admin/channels",
                json!({ "type": "codex_oauth", "name": "codex", "base_url": env.fake.codex_base_url() }),
            )
            .await;
        assert_eq!(status, 201, "{channel}");
        env.channel = channel["channel"]["id"].as_i64().expect("id");
        env.admin_ok(
            reqwest::Method::POST,
            "/api/admin/models",
            json!({ "public_id": MODEL }),
        )
        .await;
        let path = format!("/api/admin/channels/{}/models", env.channel);
        env.admin_ok(reqwest::Method::POST, &path, json!({ "public_id": MODEL }))
            .await;
        let user = env
            .admin_ok(
                reqwest::Method::POST,
                "/api/admin/users",
                json!({ "username": "coder", "email": "coder@example.test", "password": "a long password" }),
            )
            .await;
        let path = format!("/api/admin/users/{}/tokens", user["user"]["id"]);
        let token = env
            .admin_ok(reqwest::Method::POST, &path, json!({ "name": "t" }))
            .await;
        env.key = token["key"].as_str().expect("key").to_owned();
        env
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An admin call with the admin key; `Value::Null` body sends none.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(ADMIN_KEY);
        if !body.is_null() {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin call");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// An admin call that must succeed.
    pub async fn admin_ok(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let (status, value) = self.admin(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {value}");
        value
    }

    /// `/api/admin/channels/{channel}` + `rest`.
    pub fn channel_path(&self, rest: &str) -> String {
        format!("/api/admin/channels/{}{rest}", self.channel)
    }

    /// Starts a sign-in; returns the start answer.
    pub async fn start_sign_in(&self) -> Value {
        self.admin_ok(
            reqwest::Method::POST,
            &self.channel_path("/codex-oauth/start"),
            Value::Null,
        )
        .await
    }

    /// Opens the authorize URL like a browser would and returns where the issuer redirects.
    pub async fn authorize(&self, auth_url: &str) -> String {
        let resp = self.http.get(auth_url).send().await.expect("authorize");
        assert_eq!(resp.status().as_u16(), 302, "the issuer redirects back");
        resp.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned()
    }

    /// Completes a sign-in with what the admin pasted.
    pub async fn complete(&self, pasted: &str) -> (u16, Value) {
        self.admin(
            reqwest::Method::POST,
            &self.channel_path("/codex-oauth/complete"),
            json!({ "callback_url": pasted }),
        )
        .await
    }

    /// A whole paste sign-in; returns the account JSON.
    pub async fn sign_in(&self) -> Value {
        let started = self.start_sign_in().await;
        let location = self
            .authorize(started["auth_url"].as_str().expect("auth_url"))
            .await;
        let (status, body) = self.complete(&location).await;
        assert_eq!(status, 201, "{body}");
        body["account"].clone()
    }

    /// The channel's accounts.
    pub async fn accounts(&self) -> Vec<Value> {
        let list = self
            .admin_ok(
                reqwest::Method::GET,
                &self.channel_path("/codex-accounts"),
                Value::Null,
            )
            .await;
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// A data-plane call with the user's key.
    pub fn relay(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.key)
            .json(body)
    }

    /// Sends the plainest Responses call (`MODEL`, input "hi") through the relay.
    pub async fn ask(&self) -> reqwest::Response {
        self.relay("/v1/responses", &json!({ "model": MODEL, "input": "hi" }))
            .send()
            .await
            .expect("relay")
    }

    /// Polls `check` every 50 ms for up to 5 s.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..100 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

/// Whether any of `needles` occurs in `haystack`.
pub fn contains_any(haystack: &[u8], needles: &[&str]) -> Option<String> {
    needles
        .iter()
        .find(|n| !n.is_empty() && haystack.windows(n.len()).any(|w| w == n.as_bytes()))
        .map(|n| (*n).to_owned())
}
