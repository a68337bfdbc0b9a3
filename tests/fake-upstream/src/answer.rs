//! Shared machinery of the built-in answers: the load-generator knobs, the cache of pre-rendered
//! bodies (the benchmark's fast path), and turning rendered events into a burst or paced stream.
//! What the events contain is each protocol module's business.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::script::{json_response, raw_response, sse_response};
use crate::server::Shared;
use crate::sse::{self, Pacing};
use crate::usage::{DEFAULT_TEXT, bench_deltas, split_deltas};

/// Upper bound of the `events` knob, so a typo cannot make the fake render gigabytes.
const MAX_EVENTS: usize = 100_000;

/// Bodies kept pre-rendered; beyond this, answers are rendered per request (a load generator
/// cycling through thousands of model names must not grow the fake without bound).
const CACHE_LIMIT: usize = 512;

/// Load-generator and manual-testing switches for the built-in answers, from the query
/// (`?events=20&pace_ms=10`) or from `x-fake-*` headers (`x-fake-events: 20`), the query winning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Knobs {
    /// Number of text deltas in a stream (`events`, `x-fake-events`).
    pub events: Option<usize>,
    /// Pause between events in ms (`pace_ms`, `x-fake-pace-ms`).
    pub pace_ms: Option<u64>,
    /// Drop the connection after this many events (`cut_after`, `x-fake-cut-after`).
    pub cut_after: Option<usize>,
    /// Delay before the response headers in ms (`first_byte_ms`, `x-fake-first-byte-ms`).
    pub first_byte_ms: Option<u64>,
    /// Answer this status with a protocol-shaped error instead (`status`, `x-fake-status`).
    pub status: Option<u16>,
}

impl Knobs {
    pub(crate) fn parse(query: Option<&str>, headers: &HeaderMap) -> Self {
        let get = |q: &str, h: &str| {
            query
                .and_then(|s| crate::record::query_param(s, q))
                .or_else(|| {
                    headers
                        .get(h)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                })
        };
        Self {
            events: get("events", "x-fake-events")
                .and_then(|v| v.parse().ok())
                .map(|n: usize| n.min(MAX_EVENTS)),
            pace_ms: get("pace_ms", "x-fake-pace-ms").and_then(|v| v.parse().ok()),
            cut_after: get("cut_after", "x-fake-cut-after").and_then(|v| v.parse().ok()),
            first_byte_ms: get("first_byte_ms", "x-fake-first-byte-ms")
                .and_then(|v| v.parse().ok()),
            status: get("status", "x-fake-status").and_then(|v| v.parse().ok()),
        }
    }

    /// The deltas a default stream sends: the default text's words, or `events` of them.
    pub(crate) fn deltas(&self) -> Vec<String> {
        match self.events {
            Some(n) => bench_deltas(n),
            None => split_deltas(DEFAULT_TEXT),
        }
    }
}

/// What a cached body depends on besides the route.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub route: &'static str,
    pub model: String,
    pub events: Option<usize>,
    pub flag: bool,
    /// A streamed body and a JSON body of the same route and model are different bodies.
    pub streamed: bool,
}

/// Pre-rendered bodies by route, model and knobs.
#[derive(Default)]
pub(crate) struct BodyCache(RwLock<HashMap<CacheKey, Bytes>>);

impl BodyCache {
    fn get_or_render(&self, key: CacheKey, render: impl FnOnce() -> Bytes) -> Bytes {
        if let Some(b) = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return b.clone();
        }
        let bytes = render();
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() < CACHE_LIMIT {
            map.insert(key, bytes.clone());
        }
        bytes
    }
}

/// The request fields the built-in answers look at; everything else is ignored, as a tolerant
/// upstream would (and parsing stays cheap).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Head {
    pub model: Option<String>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
}

/// Chat's `stream_options`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamOptions {
    pub include_usage: Option<bool>,
}

impl Head {
    /// Parses the fields; an empty body counts as `{}`. `Err` carries the serde message.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
    }

    pub(crate) fn model_or<'a>(&'a self, fallback: &'a str) -> &'a str {
        self.model.as_deref().unwrap_or(fallback)
    }

    pub(crate) fn streaming(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    pub(crate) fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

/// A built-in JSON answer, rendered once per route and model.
pub(crate) fn cached_json(
    shared: &Shared,
    route: &'static str,
    model: &str,
    render: impl FnOnce() -> Value,
) -> Response {
    let key = CacheKey {
        route,
        model: model.to_owned(),
        events: None,
        flag: false,
        streamed: false,
    };
    let bytes = shared.cache.get_or_render(key, || {
        Bytes::from(serde_json::to_vec(&render()).unwrap_or_default())
    });
    raw_response(200, "application/json", bytes)
}

/// How a built-in stream is framed.
pub(crate) struct StreamSpec<'a> {
    pub route: &'static str,
    pub model: &'a str,
    pub flag: bool,
    pub content_type: &'static str,
}

/// A built-in stream. Without pacing knobs the whole body is pre-rendered and sent as one chunk
/// (cheap for the benchmark); with `pace_ms` or `cut_after` each event is its own frame.
pub(crate) fn stream(
    shared: &Shared,
    knobs: Knobs,
    spec: &StreamSpec<'_>,
    render: impl FnOnce(&[String]) -> Vec<String>,
) -> Response {
    let paced = knobs.pace_ms.is_some() || knobs.cut_after.is_some();
    let mut resp = if paced {
        let events = render(&knobs.deltas())
            .into_iter()
            .map(sse::terminate)
            .collect();
        let pacing = Pacing {
            gap: Duration::from_millis(knobs.pace_ms.unwrap_or(0)),
            stall: None,
            cut_after: knobs.cut_after,
        };
        sse_response(200, sse::body(events, pacing, shared.cancel.clone()))
    } else {
        let key = CacheKey {
            route: spec.route,
            model: spec.model.to_owned(),
            events: knobs.events,
            flag: spec.flag,
            streamed: true,
        };
        let bytes = shared
            .cache
            .get_or_render(key, || Bytes::from(render(&knobs.deltas()).concat()));
        // One frame, but streamed (chunked, no `content-length`) as real upstreams stream.
        let once = futures_util::stream::once(std::future::ready(Ok::<_, std::io::Error>(bytes)));
        sse_response(200, Body::from_stream(once))
    };
    if let Ok(ct) = spec.content_type.parse() {
        resp.headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, ct);
    }
    resp
}

/// A 400 in the shape `error` builds, for a body that is not JSON.
pub(crate) fn bad_request(error: fn(u16, &str) -> Value, message: &str) -> Response {
    json_response(400, &error(400, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_come_from_query_then_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-fake-events", "7".parse().expect("header value"));
        h.insert("x-fake-pace-ms", "9".parse().expect("header value"));
        let k = Knobs::parse(Some("events=20&cut_after=3"), &h);
        assert_eq!(k.events, Some(20));
        assert_eq!(k.pace_ms, Some(9));
        assert_eq!(k.cut_after, Some(3));
        assert_eq!(k.status, None);
        assert_eq!(Knobs::parse(None, &HeaderMap::new()), Knobs::default());
    }

    #[test]
    fn head_reads_only_what_it_needs() {
        let h = Head::parse(
            br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"x":[1]}"#,
        )
        .expect("parses");
        assert_eq!(h.model_or("d"), "m");
        assert!(h.streaming() && h.include_usage());
        assert!(!Head::parse(b"").expect("empty is {}").streaming());
        assert!(Head::parse(b"{nope").is_err());
    }
}
