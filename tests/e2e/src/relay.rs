//! Relay set-up for end-to-end tests, done through the real admin API: a user with a balance and
//! an `sk_` token, the four catalogue models with known prices, and channels (one per kind, or
//! whatever a test adds) pointing at a fake upstream. Also the admin client that reads usage
//! records back (polling, since the recorder writes in batches) and small helpers for streams.

use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::{ADMIN_KEY, TestServer};

/// OpenAI chat/responses model (bound to the OpenAI-compatible channel).
pub const GPT: &str = "gpt-5";
/// OpenAI embeddings model.
pub const EMBED: &str = "text-embedding-3-small";
/// Anthropic model.
pub const CLAUDE: &str = "claude-sonnet-4-5";
/// Gemini model.
pub const GEMINI: &str = "gemini-2.5-flash";
/// Every model [`Setup`] puts in the catalogue.
pub const MODELS: [&str; 4] = [GPT, EMBED, CLAUDE, GEMINI];

/// Prices of every model, USD per 1M tokens: input, output, cached input, cache write.
pub const PRICES: [&str; 4] = ["2", "8", "0.5", "2.5"];

/// Upstream key of the OpenAI-compatible channel [`Setup::new`] creates.
pub const OPENAI_KEY: &str = "sk-upstream-openai-0001";
/// Upstream key of the Anthropic channel.
pub const ANTHROPIC_KEY: &str = "sk-ant-upstream-0001";
/// Upstream key of the Gemini channel.
pub const GEMINI_KEY: &str = "AIza-upstream-gemini-0001";

/// How long usage records are waited for.
const USAGE_WAIT: Duration = Duration::from_secs(5);

/// A client of `/api/admin/*` with the admin API key.
#[derive(Clone)]
pub struct AdminApi {
    client: reqwest::Client,
    base: String,
    console_secret: Option<String>,
}

impl AdminApi {
    /// An admin client for a server.
    pub fn new(server: &TestServer) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: server.url("/api/admin"),
            console_secret: server.console_secret.clone(),
        }
    }

    /// Calls `/api/admin{path}`; returns status and JSON (or `Null`).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_KEY);
        if let Some(secret) = &self.console_secret {
            req = req.header(realms_core::desktop::CONSOLE_SECRET_HEADER, secret);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("admin call {path}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Calls and insists on success; returns the JSON.
    pub async fn ok(&self, method: Method, path: &str, body: Value) -> Value {
        let body = (method != Method::GET).then_some(body);
        let (status, value) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "admin {path} answered {status}: {value}"
        );
        value
    }

    /// Changes runtime settings.
    pub async fn settings(&self, patch: Value) {
        self.ok(Method::PATCH, "/settings", patch).await;
    }

    /// Creates a channel from a full body (`type`, `name`, `base_url`, `api_keys`, ...) and binds
    /// the given models (`(public_id, upstream_model)`); returns the channel id.
    pub async fn channel(&self, body: Value, models: &[(&str, Option<&str>)]) -> i64 {
        let created = self.ok(Method::POST, "/channels", body).await;
        let id = created["channel"]["id"].as_i64().expect("channel id");
        for (public_id, upstream) in models {
            self.ok(
                Method::POST,
                &format!("/channels/{id}/models"),
                json!({ "public_id": public_id, "upstream_model": upstream }),
            )
            .await;
        }
        id
    }

    /// The credential ids of a channel, in creation order.
    pub async fn credentials(&self, channel_id: i64) -> Vec<i64> {
        let shown = self
            .ok(Method::GET, &format!("/channels/{channel_id}"), Value::Null)
            .await;
        shown["channel"]["credentials"]
            .as_array()
            .expect("credentials")
            .iter()
            .filter_map(|c| c["id"].as_i64())
            .collect()
    }

    /// Every usage event, newest first (up to 500).
    pub async fn usage_events(&self) -> Vec<Value> {
        let list = self
            .ok(Method::GET, "/usage/events?limit=500", Value::Null)
            .await;
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// The usage event of a request, waiting for the recorder to write it; there must be
    /// exactly one (failover attempts, streams and drop guards never record twice).
    pub async fn usage_event(&self, request_id: &str) -> Value {
        let started = Instant::now();
        loop {
            let mut found: Vec<Value> = self
                .usage_events()
                .await
                .into_iter()
                .filter(|e| e["request_id"] == request_id)
                .collect();
            if let Some(event) = found.pop() {
                assert!(found.is_empty(), "request {request_id} was recorded twice");
                return event;
            }
            assert!(
                started.elapsed() < USAGE_WAIT,
                "no usage event for request {request_id}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts no usage event exists for `absent` once the event of the later request `present`
    /// was written (the recorder writes in order, so waiting for `present` is enough).
    pub async fn assert_no_usage_event(&self, absent: &str, present: &str) {
        self.usage_event(present).await;
        let events = self.usage_events().await;
        assert!(
            !events.iter().any(|e| e["request_id"] == absent),
            "request {absent} must not be recorded"
        );
    }
}

/// A user, a token and the catalogue on a running server, plus the client that calls the relay.
pub struct Setup {
    /// The admin client.
    pub admin: AdminApi,
    /// The user's id.
    pub user_id: i64,
    /// The token's id.
    pub token_id: i64,
    /// The `sk_` token.
    pub token: String,
    /// Catalogue model ids by public id, in [`MODELS`] order.
    pub model_ids: Vec<i64>,
    /// OpenAI-compatible channel (0 when not created).
    pub openai: i64,
    /// Anthropic channel (0 when not created).
    pub anthropic: i64,
    /// Gemini channel (0 when not created).
    pub gemini: i64,
    client: reqwest::Client,
    base: String,
}

impl Setup {
    /// Allows private upstreams (the fake is on loopback), adds the models, a user with a
    /// balance and a token, and one channel per kind at `upstream` serving its models.
    pub async fn new(server: &TestServer, upstream: &str) -> Self {
        let mut setup = Self::bare(server).await;
        setup
            .admin
            .settings(json!({"allow_private_upstreams": true}))
            .await;
        setup.openai = setup
            .admin
            .channel(
                json!({"type": "openai_compatible", "name": "openai", "base_url": upstream,
                       "api_keys": [OPENAI_KEY]}),
                &[(GPT, None), (EMBED, None)],
            )
            .await;
        setup.anthropic = setup
            .admin
            .channel(
                json!({"type": "anthropic", "name": "anthropic", "base_url": upstream,
                       "api_keys": [ANTHROPIC_KEY]}),
                &[(CLAUDE, None)],
            )
            .await;
        setup.gemini = setup
            .admin
            .channel(
                json!({"type": "gemini", "name": "gemini", "base_url": upstream,
                       "api_keys": [GEMINI_KEY]}),
                &[(GEMINI, None)],
            )
            .await;
        setup
    }

    /// The models, the user and the token only: no channels, settings untouched.
    pub async fn bare(server: &TestServer) -> Self {
        let admin = AdminApi::new(server);
        let [input, output, cached, cache_write] = PRICES;
        let mut model_ids = Vec::new();
        for model in MODELS {
            let created = admin
                .ok(
                    Method::POST,
                    "/models",
                    json!({"public_id": model, "input_usd_per_1m": input,
                           "output_usd_per_1m": output, "cached_input_usd_per_1m": cached,
                           "cache_write_usd_per_1m": cache_write}),
                )
                .await;
            model_ids.push(created["model"]["id"].as_i64().expect("model id"));
        }
        let user = admin
            .ok(
                Method::POST,
                "/users",
                json!({"username": "alice", "email": "alice@example.test",
                       "password": "alice password"}),
            )
            .await;
        let user_id = user["user"]["id"].as_i64().expect("user id");
        admin
            .ok(
                Method::POST,
                &format!("/users/{user_id}/balance"),
                json!({"amount_usd": "100"}),
            )
            .await;
        let mut setup = Self {
            admin,
            user_id,
            token_id: 0,
            token: String::new(),
            model_ids,
            openai: 0,
            anthropic: 0,
            gemini: 0,
            client: reqwest::Client::new(),
            base: server.url(""),
        };
        let (id, key) = setup.new_token(json!({"name": "e2e"})).await;
        setup.token_id = id;
        setup.token = key;
        setup
    }

    /// Creates another token for the user (`{name, models?, expires_at?}`); returns id and key.
    pub async fn new_token(&self, body: Value) -> (i64, String) {
        let created = self
            .admin
            .ok(
                Method::POST,
                &format!("/users/{}/tokens", self.user_id),
                body,
            )
            .await;
        (
            created["id"].as_i64().expect("token id"),
            created["key"].as_str().expect("token key").to_owned(),
        )
    }

    /// The catalogue id of a model.
    pub fn model_id(&self, public_id: &str) -> i64 {
        let index = MODELS
            .iter()
            .position(|m| *m == public_id)
            .expect("a Setup model");
        self.model_ids[index]
    }

    /// The same user, token and channels on `server`, started again over the same data.
    pub fn moved_to(&mut self, server: &TestServer) {
        self.admin = AdminApi::new(server);
        self.base = server.url("");
    }

    /// A request to the relay without credentials.
    pub fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// A request to the relay with `Authorization: Bearer <token>`.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.anonymous(method, path).bearer_auth(&self.token)
    }

    /// `POST path` with the token and a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// Creates a stored Responses object through the relay and waits until its owner's row is
    /// written; returns its id.
    pub async fn stored_response(&self) -> String {
        let created = self
            .post(
                "/v1/responses",
                &serde_json::json!({"model": GPT, "input": "hi"}),
            )
            .await;
        let create_id = request_id(&created);
        let (status, _, body) = read_json(created).await;
        assert_eq!(status, 200, "{body}");
        self.admin.usage_event(&create_id).await;
        body["id"].as_str().expect("a response id").to_owned()
    }
}

/// The `X-Request-Id` of an answer (every answer has one).
pub fn request_id(response: &Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every answer carries X-Request-Id")
        .to_owned()
}

/// Reads a whole answer: status, request id, body bytes.
pub async fn read(response: Response) -> (u16, String, Vec<u8>) {
    let status = response.status().as_u16();
    let id = request_id(&response);
    let body = response.bytes().await.expect("body").to_vec();
    (status, id, body)
}

/// Reads a whole answer as JSON: status, request id, body.
pub async fn read_json(response: Response) -> (u16, String, Value) {
    let (status, id, body) = read(response).await;
    let value = serde_json::from_slice(&body).unwrap_or_else(|_| {
        panic!(
            "answer {status} is not JSON: {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, id, value)
}

/// Reads the body chunk by chunk until `needle` has arrived (or the body ends); returns the
/// bytes so far.
pub async fn read_until(response: &mut Response, needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while !out.windows(needle.len()).any(|w| w == needle) {
        match response.chunk().await.expect("stream chunk") {
            Some(chunk) => out.extend_from_slice(&chunk),
            None => break,
        }
    }
    out
}

/// Compares a decimal string with an expected value, ignoring trailing zeros.
pub fn same_decimal(got: &Value, want: &str) -> bool {
    fn trim(text: &str) -> &str {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.')
        } else {
            text
        }
    }
    got.as_str().is_some_and(|g| trim(g) == trim(want))
}
