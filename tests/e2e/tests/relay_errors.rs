//! Requests Realms refuses itself, each in the shape of the protocol that was called and with
//! no upstream call; and the upstream address guard and redirect policy.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use std::time::Duration;

use e2e::relay::{CLAUDE, GEMINI, GPT, Setup, read, read_json};
use e2e::{Console, TestServer};
use fake_upstream::{Behaviour, FakeUpstream, Script};
use reqwest::Method;
use serde_json::{Value, json};

/// (case, method, path, body, token other than the default, status, shape)
type Case<'a> = (
    &'a str,
    Method,
    String,
    Vec<u8>,
    Option<&'a str>,
    u16,
    Shape,
);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    OpenAi,
    Anthropic,
    Gemini,
}

/// Asserts `body` is an error in `shape` for `status`.
fn assert_shape(shape: Shape, status: u16, body: &Value, case: &str) {
    match shape {
        Shape::OpenAi => {
            let error = &body["error"];
            assert!(error["message"].is_string(), "case {case}: {body}");
            assert!(error["type"].is_string(), "case {case}: {body}");
            assert!(
                error.get("code").is_some() && error.get("param").is_some(),
                "case {case}: {body}"
            );
        }
        Shape::Anthropic => {
            assert_eq!(body["type"], "error", "case {case}: {body}");
            assert!(
                body["error"]["type"].is_string() && body["error"]["message"].is_string(),
                "case {case}: {body}"
            );
        }
        Shape::Gemini => {
            assert_eq!(body["error"]["code"], status, "case {case}: {body}");
            assert!(
                body["error"]["status"].is_string() && body["error"]["message"].is_string(),
                "case {case}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn bad_requests_get_each_protocols_error_and_never_reach_the_upstream() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| c.limits.max_body_bytes = 4096).await;
    let setup = Setup::new(&server, &fake.url()).await;
    let (_, claude_only) = setup
        .new_token(json!({"name": "claude only", "models": [CLAUDE]}))
        .await;
    let gemini = |model: &str| format!("/v1beta/models/{model}:generateContent");
    let huge = format!("{{\"model\":\"{GPT}\",\"input\":\"{}\"}}", "x".repeat(5000));
    let invalid_utf8 = b"{\"model\":\"\xff\xfe\"}".to_vec();

    let cases: Vec<Case<'_>> = vec![
        (
            "openai not json",
            Method::POST,
            "/v1/chat/completions".into(),
            b"model=gpt-5".to_vec(),
            None,
            400,
            Shape::OpenAi,
        ),
        (
            "anthropic not json",
            Method::POST,
            "/v1/messages".into(),
            b"{\"model\":".to_vec(),
            None,
            400,
            Shape::Anthropic,
        ),
        (
            "gemini not json",
            Method::POST,
            gemini(GEMINI),
            b"[1,2".to_vec(),
            None,
            400,
            Shape::Gemini,
        ),
        (
            "openai invalid utf-8",
            Method::POST,
            "/v1/responses".into(),
            invalid_utf8.clone(),
            None,
            400,
            Shape::OpenAi,
        ),
        (
            "anthropic invalid utf-8",
            Method::POST,
            "/v1/messages".into(),
            invalid_utf8.clone(),
            None,
            400,
            Shape::Anthropic,
        ),
        (
            "gemini invalid utf-8",
            Method::POST,
            gemini(GEMINI),
            invalid_utf8,
            None,
            400,
            Shape::Gemini,
        ),
        (
            "openai missing model",
            Method::POST,
            "/v1/chat/completions".into(),
            b"{\"messages\":[]}".to_vec(),
            None,
            400,
            Shape::OpenAi,
        ),
        (
            "anthropic missing model",
            Method::POST,
            "/v1/messages".into(),
            b"{\"max_tokens\":1}".to_vec(),
            None,
            400,
            Shape::Anthropic,
        ),
        (
            "openai unknown model",
            Method::POST,
            "/v1/embeddings".into(),
            b"{\"model\":\"nope\"}".to_vec(),
            None,
            404,
            Shape::OpenAi,
        ),
        (
            "anthropic unknown model",
            Method::POST,
            "/v1/messages".into(),
            b"{\"model\":\"nope\"}".to_vec(),
            None,
            404,
            Shape::Anthropic,
        ),
        (
            "gemini unknown model",
            Method::POST,
            gemini("nope"),
            b"{}".to_vec(),
            None,
            404,
            Shape::Gemini,
        ),
        (
            "gemini model with dot segments",
            Method::POST,
            "/v1beta/models/%2E%2E%2F%2E%2E%2Fx:generateContent".into(),
            b"{}".to_vec(),
            None,
            400,
            Shape::Gemini,
        ),
        (
            "gemini model with dot segments, without a valid token",
            Method::POST,
            "/v1beta/models/%2E%2E%2F%2E%2E%2Fx:generateContent".into(),
            b"{}".to_vec(),
            Some("sk_not_a_token"),
            401,
            Shape::Gemini,
        ),
        (
            "gemini model with a query in it",
            Method::POST,
            "/v1beta/models/veo-3:predictLongRunning%3FquotaUser=:generateContent".into(),
            b"{}".to_vec(),
            None,
            400,
            Shape::Gemini,
        ),
        (
            "openai not allowed",
            Method::POST,
            "/v1/responses".into(),
            format!("{{\"model\":\"{GPT}\"}}").into_bytes(),
            Some(&claude_only),
            403,
            Shape::OpenAi,
        ),
        (
            "gemini not allowed",
            Method::POST,
            gemini(GEMINI),
            b"{}".to_vec(),
            Some(&claude_only),
            403,
            Shape::Gemini,
        ),
        (
            "openai too large",
            Method::POST,
            "/v1/responses".into(),
            huge.clone().into_bytes(),
            None,
            413,
            Shape::OpenAi,
        ),
        (
            "anthropic too large",
            Method::POST,
            "/v1/messages".into(),
            huge.clone().into_bytes(),
            None,
            413,
            Shape::Anthropic,
        ),
        (
            "gemini too large",
            Method::POST,
            gemini(GEMINI),
            huge.into_bytes(),
            None,
            413,
            Shape::Gemini,
        ),
        (
            "openai wrong method",
            Method::GET,
            "/v1/chat/completions".into(),
            Vec::new(),
            None,
            405,
            Shape::OpenAi,
        ),
        (
            "anthropic wrong method",
            Method::DELETE,
            "/v1/messages".into(),
            Vec::new(),
            None,
            405,
            Shape::Anthropic,
        ),
        (
            "gemini wrong method",
            Method::PUT,
            gemini(GEMINI),
            Vec::new(),
            None,
            405,
            Shape::Gemini,
        ),
        (
            "openai unknown path",
            Method::POST,
            "/v1/completions/legacy".into(),
            b"{}".to_vec(),
            None,
            404,
            Shape::OpenAi,
        ),
        (
            "anthropic unknown path",
            Method::POST,
            "/v1/messages/batches".into(),
            b"{}".to_vec(),
            None,
            404,
            Shape::Anthropic,
        ),
        (
            "gemini unknown path",
            Method::POST,
            "/v1beta/tunedModels".into(),
            b"{}".to_vec(),
            None,
            404,
            Shape::Gemini,
        ),
        (
            "a post outside the API (base URL without /v1)",
            Method::POST,
            "/chat/completions".into(),
            format!("{{\"model\":\"{GPT}\"}}").into_bytes(),
            None,
            404,
            Shape::OpenAi,
        ),
        (
            "google's openai-compatible path",
            Method::POST,
            "/v1beta/openai/chat/completions".into(),
            format!("{{\"model\":\"{GPT}\"}}").into_bytes(),
            None,
            404,
            Shape::OpenAi,
        ),
        (
            "gemini unknown action",
            Method::POST,
            format!("/v1beta/models/{GEMINI}:explode"),
            b"{}".to_vec(),
            None,
            404,
            Shape::Gemini,
        ),
    ];
    for (case, method, path, body, token, status, shape) in cases {
        let response = setup
            .anonymous(method, &path)
            .bearer_auth(token.unwrap_or(&setup.token))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        let (got, _, value) = read_json(response).await;
        assert_eq!(got, status, "case {case}: {value}");
        assert_shape(shape, status, &value, case);
    }
    assert!(fake.requests().is_empty(), "no bad request went upstream");
}

#[tokio::test]
async fn expired_and_revoked_tokens_are_refused_at_once() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let body = json!({"model": CLAUDE, "max_tokens": 1, "messages": []});
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (_, expiring) = setup
        .new_token(json!({"name": "expiring", "expires_at": soon.to_rfc3339()}))
        .await;
    let call = |token: &str| {
        setup
            .anonymous(Method::POST, "/v1/messages")
            .header("x-api-key", token)
            .json(&body)
            .send()
    };
    assert_eq!(
        call(&expiring).await.expect("send").status(),
        200,
        "valid until it expires"
    );
    let left = (soon - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(100)).await;
    let (status, _, error) = read_json(call(&expiring).await.expect("send")).await;
    assert_eq!(status, 401);
    assert_shape(Shape::Anthropic, 401, &error, "expired");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{error}"
    );

    assert_eq!(call(&setup.token).await.expect("send").status(), 200);
    let mut console = Console::new(&server);
    console.login("alice", "alice password").await;
    let (status, revoked) = console
        .call(
            Method::POST,
            &format!("/api/tokens/{}/revoke", setup.token_id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    let (status, _, error) = read_json(call(&setup.token).await.expect("send")).await;
    assert_eq!(status, 401, "revocation takes effect immediately");
    assert_shape(Shape::Anthropic, 401, &error, "revoked");
    assert_eq!(fake.count("/v1/messages"), 2);
}

#[tokio::test]
async fn private_upstreams_are_refused_unless_allowed() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::bare(&server).await;
    let (_, settings) = setup.admin.call(Method::GET, "/settings", None).await;
    assert_eq!(
        settings["settings"]["allow_private_upstreams"], false,
        "the server default"
    );
    let port = fake.addr().port();
    setup
        .admin
        .channel(json!({"type": "openai_compatible", "name": "literal", "base_url": fake.url(), "api_keys": ["k1"]}), &[(GPT, None)])
        .await;
    setup
        .admin
        .channel(json!({"type": "anthropic", "name": "by name", "base_url": format!("http://localhost:{port}"), "api_keys": ["k2"]}), &[(CLAUDE, None)])
        .await;
    let chat = json!({"model": GPT, "messages": []});
    let messages = json!({"model": CLAUDE, "max_tokens": 1, "messages": []});

    let (status, _, body) = read_json(setup.post("/v1/chat/completions", &chat).await).await;
    assert_eq!(status, 502, "{body}");
    assert_shape(Shape::OpenAi, 502, &body, "literal loopback");
    assert!(
        body.to_string().contains("allow_private_upstreams"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "the address stays in the log: {body}"
    );
    let (status, _, body) = read_json(setup.post("/v1/messages", &messages).await).await;
    assert_eq!(status, 502, "{body}");
    assert_shape(Shape::Anthropic, 502, &body, "loopback by name");
    assert!(
        !body.to_string().contains("localhost"),
        "the host stays in the log: {body}"
    );
    assert!(fake.requests().is_empty(), "no connection was made");

    setup
        .admin
        .settings(json!({"allow_private_upstreams": true}))
        .await;
    let (status, _, body) = read(setup.post("/v1/chat/completions", &chat).await).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = read(setup.post("/v1/messages", &messages).await).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    fake.push(Script::new(Behaviour::Json {
        status: 302,
        body: json!({"moved": true}),
        headers: vec![("location".into(), fake.url_for("/v1/embeddings"))],
    }));
    let response = setup
        .post(&format!("/v1beta/models/{GEMINI}:countTokens"), &json!({}))
        .await;
    let location = response.headers().get("location").cloned();
    let (status, _, body) = read_json(response).await;
    assert_eq!(status, 502, "a redirect is the upstream's failure: {body}");
    assert_shape(Shape::Gemini, 502, &body, "redirect");
    assert_eq!(
        location, None,
        "the upstream's redirect target is not passed on"
    );
    assert_eq!(fake.requests().len(), 1, "the redirect was not followed");
    assert_eq!(fake.count("/v1/embeddings"), 0);
}

/// A Chat stream must report its usage, so Realms adds `stream_options.include_usage`; a body
/// Realms cannot read to do that (a lone UTF-16 surrogate in a message, which routing skips
/// over) is refused, not forwarded without it and billed as nothing.
#[tokio::test]
async fn a_body_that_cannot_be_shaped_is_refused_before_the_upstream() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let body = format!(
        r#"{{"model":"{GPT}","stream":true,"messages":[{{"role":"user","content":"hi \ud800"}}]}}"#
    );
    let response = setup
        .request(Method::POST, "/v1/chat/completions")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    let (status, _, answer) = read_json(response).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["type"], "invalid_request_error", "{answer}");
    assert_eq!(
        fake.count("/v1/chat/completions"),
        0,
        "never forwarded unshaped"
    );
}

/// A body announced larger than the limit is refused from its `Content-Length`, before any of
/// it is read: the client gets the 413 instead of a `100 Continue` and an upload to nowhere.
#[tokio::test]
async fn an_announced_oversized_body_is_refused_before_it_is_sent() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let mut socket = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: realms\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000000000\r\n\
         Expect: 100-continue\r\n\r\n",
        setup.token
    );
    socket.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .expect("an answer without the body")
        .expect("read");
    let text = String::from_utf8_lossy(&answer[..read]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("request_too_large"), "{text}");
    assert!(fake.requests().is_empty());
}

/// One answer read from a raw keep-alive connection: its head (lowercased) and its body
/// (`Content-Length` framed, as every error answer is). `None` when the server closed first.
async fn answer_on(socket: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().expect("a length"));
            if bytes.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&bytes[end + 4..end + 4 + length]);
                return Some((head, body.into_owned()));
            }
        }
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut chunk))
            .await
            .expect("an answer or a close within 5 s")
            .expect("read");
        if read == 0 {
            return None;
        }
        bytes.extend_from_slice(&chunk[..read]);
    }
}

/// A request refused before its body is read (a bad token, a bad model name in a Gemini path,
/// a path that does not exist, a paused data plane) closes its keep-alive connection, since
/// the unread body would be taken for the next request; the answer says `Connection: close`,
/// so a client does not write its next call into a closed connection. A refusal of a request
/// without a body, and answers after the body was read, keep the connection open.
#[tokio::test]
async fn a_refusal_before_the_body_is_read_says_the_connection_closes() {
    use tokio::io::AsyncWriteExt;
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let body = json!({"model": GPT, "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let call = |method: &str, path: &str, token: &str, body: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: realms\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let connect = || async {
        tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect")
    };
    // an answer given after the body was read keeps the connection: the first call on each
    let kept = call(
        "POST",
        "/v1/chat/completions",
        &setup.token,
        &json!({"model": "no-such-model"}).to_string(),
    );
    let bad_name = format!("/v1beta/models/{GEMINI}%20x:generateContent");
    let refusals = [
        (
            call("POST", "/v1/chat/completions", "sk_wrong", &body),
            "401",
            true,
        ),
        (call("POST", &bad_name, &setup.token, &body), "400", true),
        (
            call("POST", "/v1/no-such-route", &setup.token, &body),
            "404",
            true,
        ),
        (call("POST", "/v1/models", &setup.token, &body), "405", true),
        (
            call("GET", "/v1/responses/resp_1", "sk_wrong", ""),
            "401",
            false,
        ),
        (
            call("GET", "/v1/no-such-route", &setup.token, ""),
            "404",
            false,
        ),
    ];
    for (request, status, closes) in refusals {
        let mut socket = connect().await;
        socket.write_all(kept.as_bytes()).await.expect("write");
        let (head, _) = answer_on(&mut socket).await.expect("an answer");
        assert!(head.starts_with("http/1.1 404"), "{head}");
        assert!(!head.contains("connection: close"), "{head}");
        socket.write_all(request.as_bytes()).await.expect("write");
        let (head, answer) = answer_on(&mut socket).await.expect("an answer");
        assert!(head.starts_with(&format!("http/1.1 {status}")), "{head}");
        assert!(answer.contains("\"error\""), "{answer}");
        assert_eq!(
            head.contains("connection: close"),
            closes,
            "{request}: {head}"
        );
        if closes {
            assert!(
                answer_on(&mut socket).await.is_none(),
                "{status}: still open"
            );
        } else {
            socket.write_all(kept.as_bytes()).await.expect("write");
            let (head, _) = answer_on(&mut socket).await.expect("the connection kept");
            assert!(head.starts_with("http/1.1 404"), "{head}");
        }
    }
    realms_core::desktop::set_relay_paused(&server.state, true);
    let mut socket = connect().await;
    let paused = call("POST", "/v1/chat/completions", &setup.token, &body);
    socket.write_all(paused.as_bytes()).await.expect("write");
    let (head, _) = answer_on(&mut socket).await.expect("an answer");
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(head.contains("connection: close"), "paused: {head}");
    assert!(fake.requests().is_empty());
}

/// Realms reads the model from the body and does not inflate it: a compressed body gets a 415
/// saying so (not "not valid UTF-8"), in the protocol's shape.
#[tokio::test]
async fn a_compressed_body_is_refused_with_its_reason() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    for (path, encoding, shape) in [
        ("/v1/chat/completions", "gzip", Shape::OpenAi),
        ("/v1/messages", "zstd", Shape::Anthropic),
    ] {
        let response = setup
            .request(Method::POST, path)
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(vec![0x1f, 0x8b, 0x08, 0x00])
            .send()
            .await
            .expect("send");
        let (status, _, body) = read_json(response).await;
        assert_eq!(status, 415, "{path}: {body}");
        assert_shape(shape, 415, &body, path);
        assert!(body.to_string().contains(encoding), "{body}");
    }
    let identity = setup
        .request(Method::POST, "/v1/chat/completions")
        .header("content-encoding", "identity")
        .json(&json!({"model": GPT, "messages": []}))
        .send()
        .await
        .expect("send");
    assert_eq!(identity.status(), 200, "identity is no encoding");
    assert_eq!(fake.requests().len(), 1);
}
