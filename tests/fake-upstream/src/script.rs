//! Scripts: what a test wants the fake to do for its next matching requests. `Match` says which
//! requests, `Behaviour` what to answer, `Script` ties them with a delay and a repeat count.
//! The queue of one-shot scripts and the per-route defaults live in `ScriptBook`.

use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::errors;
use crate::record::{RecordedRequest, lock};
use crate::sse::{self, Pacing};

/// Which requests a script applies to. Every condition set must hold; an empty `Match`
/// (`Match::any()`) matches every request.
#[derive(Clone, Debug, Default)]
pub struct Match {
    method: Option<Method>,
    path: Option<String>,
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    body: Vec<(String, Value)>,
}

impl Match {
    /// Matches every request.
    pub fn any() -> Self {
        Self::default()
    }

    /// Matches requests to exactly this path (no query), e.g. `/v1/chat/completions`.
    pub fn path(path: impl Into<String>) -> Self {
        Self::any().and_path(path)
    }

    /// Adds an exact path condition.
    pub fn and_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Adds a method condition.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Adds a header condition: the header (name case-insensitive) has exactly this value,
    /// e.g. `.header("authorization", "Bearer k1")`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a query condition: the parameter's first value equals `value`.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Adds a JSON body condition: `field` is a top-level key (`"model"`) or a JSON pointer
    /// (`"/stream_options/include_usage"`), and its value equals `value`.
    pub fn body_field(mut self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.body.push((field.into(), value.into()));
        self
    }

    fn matches(&self, req: &RecordedRequest, json: &mut Option<Option<Value>>) -> bool {
        if self.method.as_ref().is_some_and(|m| *m != req.method)
            || self.path.as_ref().is_some_and(|p| *p != req.path)
        {
            return false;
        }
        if !self
            .headers
            .iter()
            .all(|(k, v)| req.header(k) == Some(v.as_str()))
        {
            return false;
        }
        if !self
            .query
            .iter()
            .all(|(k, v)| req.query_param(k).as_deref() == Some(v.as_str()))
        {
            return false;
        }
        if self.body.is_empty() {
            return true;
        }
        // Parsed at most once per request, and only when some script looks at the body.
        let Some(body) = json.get_or_insert_with(|| req.json()) else {
            return false;
        };
        self.body.iter().all(|(field, want)| {
            let got = if field.starts_with('/') {
                body.pointer(field)
            } else {
                body.get(field)
            };
            got == Some(want)
        })
    }
}

/// A stream the script sends event by event.
#[derive(Clone, Debug)]
pub struct SseScript {
    /// Raw event texts (`"event: x\ndata: {...}\n\n"`), sent one per frame in order; a missing
    /// trailing blank line is added.
    pub events: Vec<String>,
    /// Pause before every event but the first (a paced stream).
    pub gap: Duration,
    /// `(n, d)`: pause `d` once `n` events have been sent; `n = 0` delays the first event after
    /// the headers went out.
    pub stall: Option<(usize, Duration)>,
    /// Drop the connection after this many events, without the rest or the stream's end.
    pub cut_after: Option<usize>,
    /// HTTP status of the stream (200 unless set).
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

impl SseScript {
    /// A 200 stream of these events, sent back to back.
    pub fn new(events: Vec<String>) -> Self {
        Self {
            events,
            gap: Duration::ZERO,
            stall: None,
            cut_after: None,
            status: 200,
            headers: Vec::new(),
        }
    }

    /// Sets the pause before every event but the first.
    pub fn gap(mut self, gap: Duration) -> Self {
        self.gap = gap;
        self
    }

    /// Pauses `duration` once `after_events` events have been sent.
    pub fn stall_after(mut self, after_events: usize, duration: Duration) -> Self {
        self.stall = Some((after_events, duration));
        self
    }

    /// Drops the connection after `events` events.
    pub fn cut_after(mut self, events: usize) -> Self {
        self.cut_after = Some(events);
        self
    }

    /// Sets the HTTP status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What the fake answers.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// A JSON answer with a status and extra headers.
    Json {
        /// HTTP status.
        status: u16,
        /// The JSON body.
        body: Value,
        /// Extra response headers.
        headers: Vec<(String, String)>,
    },
    /// A bare status with a body (sent as JSON if it parses as JSON, else as text): also the
    /// "status before any stream" fault when the request asked for a stream.
    Status(u16, String),
    /// 429 with `retry-after` and the error body of the protocol the path belongs to.
    RateLimited {
        /// Value of the `retry-after` header, in seconds.
        retry_after_secs: u64,
    },
    /// Any bytes with a status and content type (malformed JSON, a Gemini JSON-array stream…).
    Raw {
        /// HTTP status.
        status: u16,
        /// `content-type` header.
        content_type: String,
        /// The body, sent in one piece.
        body: Bytes,
    },
    /// An event stream, possibly paced, stalled or cut.
    Sse(SseScript),
    /// The built-in answer of the route, as if no script matched (useful with a delay, or to
    /// let exactly one request through before the next script).
    Default,
}

impl From<SseScript> for Behaviour {
    fn from(s: SseScript) -> Self {
        Self::Sse(s)
    }
}

/// A behaviour for the requests a matcher selects.
#[derive(Clone, Debug)]
pub struct Script {
    /// Which requests this script answers.
    pub matcher: Match,
    /// What it answers.
    pub behaviour: Behaviour,
    /// Delay before the response headers (the "slow first byte" fault).
    pub first_byte_delay: Duration,
    /// How many matching requests a queued script answers before it is used up (default 1);
    /// ignored for defaults, which never run out.
    pub times: usize,
}

impl Script {
    /// A script answering any request with `behaviour`, once.
    pub fn new(behaviour: impl Into<Behaviour>) -> Self {
        Self {
            matcher: Match::any(),
            behaviour: behaviour.into(),
            first_byte_delay: Duration::ZERO,
            times: 1,
        }
    }

    /// Answers JSON with this status.
    pub fn json(status: u16, body: Value) -> Self {
        Self::new(Behaviour::Json {
            status,
            body,
            headers: Vec::new(),
        })
    }

    /// Answers a bare status with this body.
    pub fn status(code: u16, body: impl Into<String>) -> Self {
        Self::new(Behaviour::Status(code, body.into()))
    }

    /// Answers 429 with `retry-after: {retry_after_secs}`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(Behaviour::RateLimited { retry_after_secs })
    }

    /// Answers these raw events as a stream, back to back.
    pub fn sse(events: Vec<String>) -> Self {
        Self::new(SseScript::new(events))
    }

    /// Answers with the route's built-in answer.
    pub fn default_answer() -> Self {
        Self::new(Behaviour::Default)
    }

    /// Replaces the matcher.
    pub fn when(mut self, matcher: Match) -> Self {
        self.matcher = matcher;
        self
    }

    /// Restricts the script to one path (keeps the other conditions).
    pub fn on_path(mut self, path: impl Into<String>) -> Self {
        self.matcher = self.matcher.and_path(path);
        self
    }

    /// Waits this long before sending the response headers.
    pub fn first_byte_delay(mut self, delay: Duration) -> Self {
        self.first_byte_delay = delay;
        self
    }

    /// Lets a queued script answer `n` matching requests.
    pub fn times(mut self, n: usize) -> Self {
        self.times = n.max(1);
        self
    }
}

/// One-shot scripts (in push order) and per-route defaults (latest first) of one fake.
#[derive(Default)]
pub(crate) struct ScriptBook {
    queue: Mutex<Vec<Script>>,
    defaults: Mutex<Vec<Script>>,
}

impl ScriptBook {
    pub(crate) fn push(&self, script: Script) {
        lock(&self.queue).push(script);
    }

    pub(crate) fn set_default(&self, script: Script) {
        lock(&self.defaults).push(script);
    }

    /// No script at all: the fast path skips matching.
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.queue).is_empty() && lock(&self.defaults).is_empty()
    }

    pub(crate) fn pending(&self) -> usize {
        lock(&self.queue).iter().map(|s| s.times).sum()
    }

    pub(crate) fn clear(&self) {
        lock(&self.queue).clear();
        lock(&self.defaults).clear();
    }

    /// The script that answers `req`: the first queued one that matches (used up by this call),
    /// else the most recently set matching default.
    pub(crate) fn take(&self, req: &RecordedRequest) -> Option<Script> {
        let mut json = None;
        {
            let mut queue = lock(&self.queue);
            if let Some(i) = queue.iter().position(|s| s.matcher.matches(req, &mut json)) {
                let script = queue.get_mut(i)?;
                if script.times > 1 {
                    script.times -= 1;
                    return Some(script.clone());
                }
                return Some(queue.remove(i));
            }
        }
        lock(&self.defaults)
            .iter()
            .rev()
            .find(|s| s.matcher.matches(req, &mut json))
            .cloned()
    }
}

impl Behaviour {
    /// The response for this behaviour; `None` for [`Behaviour::Default`].
    pub(crate) fn respond(self, path: &str, cancel: CancellationToken) -> Option<Response> {
        let resp = match self {
            Self::Json {
                status,
                body,
                headers,
            } => with_headers(json_response(status, &body), &headers),
            Self::Status(code, body) => {
                let ct = if serde_json::from_str::<Value>(&body).is_ok() {
                    "application/json"
                } else {
                    "text/plain; charset=utf-8"
                };
                raw_response(code, ct, Bytes::from(body))
            }
            Self::RateLimited { retry_after_secs } => {
                let body = errors::body_for(path, 429, "rate limited by fake-upstream");
                with_headers(
                    json_response(429, &body),
                    &[("retry-after".to_owned(), retry_after_secs.to_string())],
                )
            }
            Self::Raw {
                status,
                content_type,
                body,
            } => raw_response(status, &content_type, body),
            Self::Sse(s) => {
                let pacing = Pacing {
                    gap: s.gap,
                    stall: s.stall,
                    cut_after: s.cut_after,
                };
                let events = s.events.into_iter().map(sse::terminate).collect();
                let resp = sse_response(s.status, sse::body(events, pacing, cancel));
                with_headers(resp, &s.headers)
            }
            Self::Default => return None,
        };
        Some(resp)
    }
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON response with this status.
pub(crate) fn json_response(status: u16, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    raw_response(status, "application/json", Bytes::from(bytes))
}

/// Bytes with a status and content type.
pub(crate) fn raw_response(status: u16, content_type: &str, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status_code(status);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// An event-stream response around a body.
pub(crate) fn sse_response(status: u16, body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status_code(status);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Adds headers; invalid names or values are skipped (a test typo should not crash the fake).
pub(crate) fn with_headers(mut resp: Response, headers: &[(String, String)]) -> Response {
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn req(path: &str, auth: &str, body: &str) -> RecordedRequest {
        let (parts, ()) = Request::post(path)
            .header("authorization", auth)
            .body(())
            .expect("request builds")
            .into_parts();
        RecordedRequest::from_parts(&parts, Bytes::from(body.to_owned()))
    }

    #[test]
    fn matchers_check_every_condition() {
        let m = Match::path("/v1/x")
            .header("Authorization", "Bearer k1")
            .body_field("model", "m1")
            .body_field("/stream_options/include_usage", true);
        let body = r#"{"model":"m1","stream_options":{"include_usage":true}}"#;
        let mut j = None;
        assert!(m.matches(&req("/v1/x", "Bearer k1", body), &mut j));
        assert!(!m.matches(&req("/v1/x", "Bearer k2", body), &mut None));
        assert!(!m.matches(&req("/v1/y", "Bearer k1", body), &mut None));
        assert!(!m.matches(&req("/v1/x", "Bearer k1", r#"{"model":"m2"}"#), &mut None));
        assert!(!m.matches(&req("/v1/x", "Bearer k1", "not json"), &mut None));
    }

    #[test]
    fn queue_is_consumed_in_order_and_defaults_stay() {
        let book = ScriptBook::default();
        book.set_default(Script::status(500, "d"));
        book.push(Script::status(401, "a").on_path("/a"));
        book.push(Script::status(402, "b").times(2));
        let code = |s: Option<Script>| match s.map(|s| s.behaviour) {
            Some(Behaviour::Status(c, _)) => c,
            _ => 0,
        };
        assert_eq!(code(book.take(&req("/b", "", ""))), 402);
        assert_eq!(code(book.take(&req("/a", "", ""))), 401);
        assert_eq!(code(book.take(&req("/a", "", ""))), 402);
        assert_eq!(book.pending(), 0);
        assert_eq!(code(book.take(&req("/a", "", ""))), 500);
        assert_eq!(code(book.take(&req("/a", "", ""))), 500);
    }
}
