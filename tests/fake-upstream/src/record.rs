//! The log of every request the fake received, kept per instance so parallel tests never see
//! each other's calls. Matching and answering live in `script.rs` and the protocol modules.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::{HeaderMap, Method, request};
use bytes::Bytes;
use serde_json::Value;

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: Method,
    /// Path without the query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Raw query string without `?`, if any.
    pub query: Option<String>,
    /// All request headers.
    pub headers: HeaderMap,
    /// The whole request body.
    pub body: Bytes,
}

impl RecordedRequest {
    pub(crate) fn from_parts(parts: &request::Parts, body: Bytes) -> Self {
        Self {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            body,
        }
    }

    /// A header's value (name case-insensitive); `None` if absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter's first value, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(self.query.as_deref()?, name)
    }

    /// The body parsed as JSON; `None` if it is not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The first value of `name` in a `a=1&b=2` string, percent-decoded.
pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Locks a mutex, ignoring poisoning: a test that panicked while holding it has already failed,
/// and the data (a log, a queue) stays usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Append-only request log with a switch (the benchmark binary turns it off to keep memory flat).
pub(crate) struct Recorder {
    enabled: AtomicBool,
    log: Mutex<Vec<RecordedRequest>>,
}

impl Recorder {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled: AtomicBool::new(enabled),
            log: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    pub(crate) fn push(&self, req: RecordedRequest) {
        lock(&self.log).push(req);
    }

    pub(crate) fn all(&self) -> Vec<RecordedRequest> {
        lock(&self.log).clone()
    }

    pub(crate) fn filtered(&self, path: &str) -> Vec<RecordedRequest> {
        lock(&self.log)
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub(crate) fn count(&self, path: &str) -> usize {
        lock(&self.log).iter().filter(|r| r.path == path).count()
    }

    pub(crate) fn last(&self) -> Option<RecordedRequest> {
        lock(&self.log).last().cloned()
    }

    pub(crate) fn clear(&self) {
        lock(&self.log).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            query_param("alt=sse&key=a%2Bb", "key").as_deref(),
            Some("a+b")
        );
        assert_eq!(query_param("alt=sse", "key"), None);
    }
}
