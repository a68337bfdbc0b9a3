//! Committed streams over real sockets: keepalives in each protocol's own form while the
//! upstream is idle, the idle timeout ending a stream in-band with a partial record, a graceful
//! shutdown that ends open streams and still writes their usage, and Gemini's JSON-array stream
//! (no `alt=sse`) forwarded element by element.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use std::time::{Duration, Instant};

use e2e::relay::{CLAUDE, GEMINI, GPT, Setup, read, read_until};
use e2e::{TestServer, config_for};
use fake_upstream::{DEFAULT_USAGE, FakeUpstream, Script, SseScript, anthropic, gemini};
use realms_core::store::{Store, usage};
use serde_json::json;

const OPENAI_KEEPALIVE: &str = ": keepalive\n\n";
const ANTHROPIC_KEEPALIVE: &str = "event: ping\ndata: {\"type\": \"ping\"}\n\n";

/// Streams `events` (stalled 2.5 s after the first) from `upstream_path` to the client through
/// `path`; returns what the client got.
async fn stalled(
    setup: &Setup,
    fake: &FakeUpstream,
    (path, upstream_path): (&str, &str),
    body: serde_json::Value,
    events: Vec<String>,
) -> String {
    let script = SseScript::new(events).stall_after(1, Duration::from_millis(2500));
    fake.push(Script::new(script).on_path(upstream_path));
    let (status, _, bytes) = read(setup.post(path, &body).await).await;
    assert_eq!(status, 200, "{path}");
    String::from_utf8(bytes).expect("utf-8")
}

#[tokio::test]
async fn idle_streams_get_keepalives_in_each_protocols_own_form() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| c.routing.keepalive_secs = 1).await;
    let setup = Setup::new(&server, &fake.url()).await;
    let responses = fake_upstream::responses_sse(GPT, "a b", DEFAULT_USAGE);
    let messages = anthropic::messages_sse(CLAUDE, "a b", DEFAULT_USAGE);
    let chunks = gemini::stream_sse(GEMINI, "a b", DEFAULT_USAGE);
    let gemini_path = format!("/v1beta/models/{GEMINI}:streamGenerateContent");
    let gemini_sse = format!("{gemini_path}?alt=sse");

    let (openai, claude, google) = tokio::join!(
        stalled(
            &setup,
            &fake,
            ("/v1/responses", "/v1/responses"),
            json!({"model": GPT, "stream": true}),
            responses.clone(),
        ),
        stalled(
            &setup,
            &fake,
            ("/v1/messages", "/v1/messages"),
            json!({"model": CLAUDE, "stream": true, "messages": []}),
            messages.clone(),
        ),
        stalled(
            &setup,
            &fake,
            (&gemini_sse, &gemini_path),
            json!({"contents": []}),
            chunks.clone(),
        ),
    );

    let keepalives = openai.matches(OPENAI_KEEPALIVE).count();
    assert!(
        (1..=3).contains(&keepalives),
        "about one a second: {openai}"
    );
    assert_eq!(
        openai.replace(OPENAI_KEEPALIVE, ""),
        responses.concat(),
        "keepalives only between events"
    );
    assert!(openai.starts_with(&responses[0]));

    let pings = claude.matches(ANTHROPIC_KEEPALIVE).count();
    assert!((1..=3).contains(&pings), "{claude}");
    assert_eq!(claude.replace(ANTHROPIC_KEEPALIVE, ""), messages.concat());
    assert!(!claude.contains(OPENAI_KEEPALIVE));

    assert_eq!(
        google,
        chunks.concat(),
        "Gemini clients accept only `data:` lines: nothing is added"
    );
}

#[tokio::test]
async fn the_idle_timeout_ends_a_stream_in_band_with_a_partial_record() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| c.limits.idle_timeout_secs = 1).await;
    let setup = Setup::new(&server, &fake.url()).await;
    let events = anthropic::messages_sse(CLAUDE, "a b c", DEFAULT_USAGE);
    let sent = events[..3].concat();
    fake.push(Script::new(
        SseScript::new(events).stall_after(3, Duration::from_secs(4)),
    ));

    let started = Instant::now();
    let body = json!({"model": CLAUDE, "stream": true, "messages": []});
    let (status, id, bytes) = read(setup.post("/v1/messages", &body).await).await;
    let elapsed = started.elapsed();
    let text = String::from_utf8(bytes).expect("utf-8");
    assert_eq!(status, 200);
    assert!(
        elapsed < Duration::from_millis(2500),
        "ended by the idle timeout, not the upstream: {elapsed:?}"
    );
    let tail = text
        .strip_prefix(&sent)
        .expect("the events before the stall");
    assert!(
        tail.starts_with(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\""
        ),
        "an in-band Anthropic error: {tail}"
    );
    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["partial"], true);
    assert_eq!(event["error_class"], "upstream_timeout");
    assert_eq!(
        event["input_tokens"], 120,
        "usage seen before the stall is kept"
    );
}

/// A server on `dir` whose shutdown waits one second for open streams.
async fn start_with_short_grace(dir: &std::path::Path) -> TestServer {
    let mut config = config_for(dir);
    config.limits.shutdown_grace_secs = 1;
    TestServer::start_with(config).await
}

/// The usage rows a stopped server on `dir` left in its database.
async fn rows_written(dir: &std::path::Path) -> Vec<usage::UsageEvent> {
    let (store, _) = Store::open(&dir.join("realms.db"))
        .await
        .expect("open the database");
    store
        .read(|c| usage::list(c, &usage::UsageFilter::default(), None, 100))
        .await
        .expect("usage rows")
        .items
}

#[tokio::test]
async fn a_graceful_shutdown_ends_open_streams_and_records_their_usage() {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_with_short_grace(dir.path()).await;
    let setup = Setup::new(&server, &fake.url()).await;
    let events = anthropic::messages_sse(CLAUDE, &"word ".repeat(40), DEFAULT_USAGE);
    fake.push(Script::new(
        SseScript::new(events).gap(Duration::from_millis(200)),
    ));
    let body = json!({"model": CLAUDE, "stream": true, "messages": []});
    let mut response = setup.post("/v1/messages", &body).await;
    let id = e2e::relay::request_id(&response);
    read_until(&mut response, b"content_block_delta").await;

    let started = Instant::now();
    let rest = async {
        let mut rest = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            rest.extend_from_slice(&chunk);
        }
        rest
    };
    let (stopped, rest) = tokio::join!(server.stop(), rest);
    stopped.expect("clean stop");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the grace period bounds the stop"
    );
    let rest = String::from_utf8(rest).expect("utf-8");
    assert!(
        rest.contains("event: error\ndata: "),
        "the stream was ended in-band: {rest}"
    );

    let rows = rows_written(dir.path()).await;
    let row = rows
        .iter()
        .find(|e| e.request_id == id)
        .expect("the stream's usage row was written before the process ended");
    assert!(row.partial);
    assert_eq!(row.input_tokens, 120);
    assert_eq!(row.channel_id, Some(setup.anthropic));
}

/// Opens a long Chat stream from a client with a tiny receive buffer that reads the status line
/// and nothing more: every buffer on the way fills up and Realms' writes wait.
async fn unread_stream(server: &TestServer, setup: &Setup) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("small buffer");
    let mut client = socket.connect(server.addr).await.expect("connect");
    let body = json!({"model": GPT, "stream": true, "messages": []}).to_string();
    let head = format!(
        "POST /v1/chat/completions?events=100000 HTTP/1.1\r\nHost: realms\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        setup.token,
        body.len()
    );
    client.write_all(head.as_bytes()).await.expect("write");
    let mut start = [0; 12];
    client
        .read_exact(&mut start)
        .await
        .expect("the answer starts");
    assert_eq!(&start, b"HTTP/1.1 200");
    client
}

/// A client that stops reading is closed once its answer has waited
/// `limits.client_write_timeout_secs` for it, and the request is recorded as ended by the
/// client, its upstream call ended: it does not hold them until the server stops.
#[tokio::test]
async fn a_client_that_stops_reading_is_closed_after_the_write_timeout() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| c.limits.client_write_timeout_secs = 1).await;
    let setup = Setup::new(&server, &fake.url()).await;
    let client = unread_stream(&server, &setup).await;
    let events = server.wait_for_usage(1).await;
    assert_eq!(events[0]["error_class"], "client_closed", "{}", events[0]);
    assert_eq!(events[0]["partial"], true);
    drop(client);
}

/// A client that stops reading leaves its answer unpolled (the connection's buffers are full),
/// so the stream cannot end itself: the shutdown closes such connections once its grace is
/// over, and their records are still written.
#[tokio::test]
async fn a_shutdown_closes_a_stream_whose_client_stopped_reading() {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_with_short_grace(dir.path()).await;
    let setup = Setup::new(&server, &fake.url()).await;
    let client = unread_stream(&server, &setup).await;
    // the client reads no more; every buffer on the way fills up
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("the stop does not wait for the client")
        .expect("clean stop");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "stopped after {:?}",
        started.elapsed()
    );
    drop(client);

    let rows = rows_written(dir.path()).await;
    let row = rows
        .iter()
        .find(|e| e.endpoint == "/v1/chat/completions" && e.is_stream)
        .expect("the stream's record was written");
    assert!(row.partial);
    assert_eq!(row.channel_id, Some(setup.openai));
}

#[tokio::test]
async fn a_shutdown_does_not_wait_past_its_grace_for_an_upstream_that_has_not_answered() {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_with_short_grace(dir.path()).await;
    let setup = Setup::new(&server, &fake.url()).await;
    fake.push(Script::default_answer().first_byte_delay(Duration::from_secs(8)));

    let started = Instant::now();
    let body = json!({"model": GPT, "messages": []});
    let call = setup.post("/v1/chat/completions", &body);
    let stop = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.stop().await
    };
    let (response, stopped) = tokio::join!(call, stop);
    stopped.expect("clean stop");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stopped after {:?}, not when the upstream answered",
        started.elapsed()
    );
    let (status, id, body) = e2e::relay::read_json(response).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["type"], "upstream_error");

    let rows = rows_written(dir.path()).await;
    let row = rows
        .iter()
        .find(|e| e.request_id == id)
        .expect("the request was recorded before the process ended");
    assert_eq!(row.status_code, 503);
    assert_eq!(row.channel_id, Some(setup.openai));
}

#[tokio::test]
async fn a_gemini_stream_without_sse_reaches_the_client_element_by_element() {
    const PACE: Duration = Duration::from_millis(400);
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let body = json!({"contents": [{"parts": [{"text": "hi"}]}]});
    let path = format!(
        "/v1beta/models/{GEMINI}:streamGenerateContent?events=3&pace_ms={}",
        PACE.as_millis()
    );
    let started = Instant::now();
    let mut response = setup.post(&path, &body).await;
    assert_eq!(response.status(), 200);
    let id = e2e::relay::request_id(&response);
    let mut got = read_until(&mut response, b"\"role\"").await;
    let first_at = started.elapsed();
    while let Some(chunk) = response.chunk().await.expect("stream chunk") {
        got.extend_from_slice(&chunk);
    }
    let end_at = started.elapsed();
    assert!(
        end_at - first_at >= PACE * 3 / 2,
        "the first element arrived at {first_at:?}, the end at {end_at:?}: not held back"
    );
    let elements: Vec<serde_json::Value> =
        serde_json::from_slice(&got).expect("the client got the upstream's JSON array");
    assert!(elements.len() >= 3, "{elements:?}");
    assert!(
        elements
            .last()
            .is_some_and(|e| e["usageMetadata"].is_object())
    );

    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["is_stream"], true);
    assert_eq!(event["partial"], false, "{event}");
    assert_eq!(event["input_tokens"], DEFAULT_USAGE.input);
    assert_eq!(event["output_tokens"], DEFAULT_USAGE.output);
}

#[tokio::test]
async fn a_cut_gemini_array_stream_ends_without_sse_bytes_and_is_recorded_partial() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let body = json!({"contents": [{"parts": [{"text": "hi"}]}]});
    let path = format!("/v1beta/models/{GEMINI}:streamGenerateContent?events=3&cut_after=1");
    let response = setup.post(&path, &body).await;
    let id = e2e::relay::request_id(&response);
    let (status, _, got) = read(response).await;
    assert_eq!(status, 200);
    let got = String::from_utf8(got).expect("utf-8");
    assert!(got.starts_with("[{"), "{got}");
    assert!(
        !got.contains("data:"),
        "no SSE error event inside the JSON array: {got}"
    );

    let event = setup.admin.usage_event(&id).await;
    assert_eq!(event["partial"], true, "{event}");
    assert_eq!(event["error_class"], "upstream_failed", "{event}");
}

/// A Responses stream whose content is followed by `end` and then the upstream's close: what
/// the client got, and the usage record.
async fn responses_stream_ending_with(end: &str) -> (String, String, serde_json::Value) {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start().await;
    let setup = Setup::new(&server, &fake.url()).await;
    let mut events = fake_upstream::responses_sse(GPT, "a b c", DEFAULT_USAGE);
    events.pop(); // `response.completed`
    events.push(end.to_owned());
    let upstream = events.concat();
    fake.push(Script::new(SseScript::new(events)).on_path("/v1/responses"));
    let body = json!({"model": GPT, "stream": true, "input": "hi"});
    let (status, id, bytes) = read(setup.post("/v1/responses", &body).await).await;
    assert_eq!(status, 200);
    let event = setup.admin.usage_event(&id).await;
    (upstream, String::from_utf8(bytes).expect("utf-8"), event)
}

#[tokio::test]
async fn a_responses_stream_stopped_at_its_output_limit_ends_as_the_upstream_ended_it() {
    let incomplete = format!(
        "event: response.incomplete\ndata: {}\n\n",
        json!({"type": "response.incomplete", "response": {
            "id": "resp_limit", "object": "response", "status": "incomplete", "model": GPT,
            "incomplete_details": {"reason": "max_output_tokens"},
            "usage": {"input_tokens": 120, "output_tokens": 48}}})
    );
    let (upstream, client, event) = responses_stream_ending_with(&incomplete).await;
    assert_eq!(
        client, upstream,
        "nothing added after `response.incomplete`"
    );
    assert_eq!(event["partial"], false);
    assert_eq!(event["error_class"], serde_json::Value::Null);
    assert_eq!(event["output_tokens"], 48);
}

#[tokio::test]
async fn a_responses_stream_the_upstream_failed_in_band_gets_no_second_error() {
    let failed = format!(
        "event: response.failed\ndata: {}\n\n",
        json!({"type": "response.failed", "response": {
            "id": "resp_failed", "object": "response", "status": "failed", "model": GPT,
            "error": {"code": "server_error", "message": "the model crashed"},
            "usage": {"input_tokens": 120, "output_tokens": 3}}})
    );
    let (upstream, client, event) = responses_stream_ending_with(&failed).await;
    assert_eq!(
        client, upstream,
        "the client already has the upstream's error"
    );
    assert_eq!(event["partial"], true);
    assert_eq!(event["error_class"], "upstream_error");
    assert_eq!(event["output_tokens"], 3);
}

#[tokio::test]
async fn what_comes_before_the_first_event_is_held_no_larger_than_a_whole_answer() {
    let fake = FakeUpstream::start().await;
    let server = TestServer::start_tuned(|c| c.routing.max_response_bytes = 1000).await;
    let setup = Setup::new(&server, &fake.url()).await;
    // comments are no event: without a bound they would pile up until the first-byte deadline
    let comment = format!(": {}\n\n", "x".repeat(600));
    let script =
        SseScript::new(vec![comment.clone(), comment]).stall_after(2, Duration::from_secs(30));
    fake.push(Script::new(script).on_path("/v1/responses"));
    let started = Instant::now();
    let body = json!({"model": GPT, "stream": true, "input": "hi"});
    let (status, id, bytes) = read(setup.post("/v1/responses", &body).await).await;
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&bytes));
    assert!(
        String::from_utf8_lossy(&bytes).contains("larger than 1000 bytes"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not held until a deadline"
    );
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(setup.admin.usage_event(&id).await["status_code"], 502);
}
