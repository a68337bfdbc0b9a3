//! Which headers cross Realms in each direction. Client headers are forwarded unchanged (vendor
//! headers such as `anthropic-beta`, `OpenAI-Beta` and session headers included) except hop-by-hop
//! headers, cookies, forwarding headers and the client's own credentials. Upstream headers come
//! back except hop-by-hop ones, cookies and those that identify the upstream account.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// Client headers never forwarded upstream.
const DROP_TO_UPSTREAM: &[&str] = &[
    // hop-by-hop (RFC 9110 §7.6.1) and framing, which the client library redoes
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    // Realms reads usage from the answer, so it asks for an uncompressed one
    "accept-encoding",
    // the client's credentials for Realms, and our own CSRF header
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "cookie",
    "realms-user",
    // the account the client's own SDK names (`OPENAI_ORG_ID`, `OPENAI_PROJECT_ID`): upstream,
    // only the channel's account counts; a foreign one makes OpenAI refuse the channel's key
    // (401), which would cool every key it was tried with
    "openai-organization",
    "openai-project",
    // where the client is; the upstream need not know
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Upstream headers never sent back to the client.
const DROP_TO_CLIENT: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "set-cookie",
    "alt-svc",
    "strict-transport-security",
    // these name the upstream account Realms uses
    "openai-organization",
    "openai-project",
    "anthropic-organization-id",
    // Realms sets its own request id; the upstream's is kept under another name
    "x-request-id",
];

/// The client's headers as they go upstream (before the channel's auth and overrides are added).
pub fn to_upstream(client: &HeaderMap) -> HeaderMap {
    forwarded(client, DROP_TO_UPSTREAM)
}

/// The upstream's headers as they go back to the client.
pub fn to_client(upstream: &HeaderMap) -> HeaderMap {
    let mut out = forwarded(upstream, DROP_TO_CLIENT);
    if let Some(id) = upstream.get("x-request-id") {
        out.insert(HeaderName::from_static("x-upstream-request-id"), id.clone());
    }
    out
}

/// `from` without the headers in `drop` and without those its `Connection` header names: a
/// sender marks its own hop-by-hop headers that way (RFC 9110 §7.6.1).
fn forwarded(from: &HeaderMap, drop: &[&str]) -> HeaderMap {
    let nominated: Vec<&str> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    let mut out = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        let name_text = name.as_str();
        let hop_by_hop = drop.contains(&name_text)
            || nominated.iter().any(|n| n.eq_ignore_ascii_case(name_text));
        if !hop_by_hop {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Sets a header only when the client did not send it (e.g. `anthropic-version`).
pub fn insert_if_absent(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    if !headers.contains_key(&name) {
        headers.insert(name, value);
    }
}

/// `Authorization: Bearer <secret>`, marked sensitive so it never appears in debug output.
pub fn bearer(secret: &str) -> Option<HeaderValue> {
    // built by hand rather than with `format!`: this runs on every request
    let mut text = Vec::with_capacity("Bearer ".len() + secret.len());
    text.extend_from_slice(b"Bearer ");
    text.extend_from_slice(secret.as_bytes());
    let mut value = HeaderValue::from_maybe_shared(bytes::Bytes::from(text)).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// A secret header value, marked sensitive.
pub fn sensitive(secret: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(secret).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Whether a response is an event stream.
pub fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_and_hop_headers_stay_behind() {
        let mut client = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer sk_realms"),
            ("x-api-key", "sk_realms"),
            ("openai-organization", "org-client"),
            ("openai-project", "proj_client"),
            ("cookie", "realms_session=x"),
            ("connection", "keep-alive"),
            ("anthropic-beta", "prompt-caching-2024-07-31"),
            ("openai-beta", "responses=experimental"),
            ("session_id", "abc"),
            ("x-stainless-lang", "python"),
        ] {
            client.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let out = to_upstream(&client);
        for gone in [
            "authorization",
            "x-api-key",
            "cookie",
            "connection",
            "openai-organization",
            "openai-project",
        ] {
            assert!(!out.contains_key(gone), "{gone} must not be forwarded");
        }
        for kept in [
            "anthropic-beta",
            "openai-beta",
            "session_id",
            "x-stainless-lang",
        ] {
            assert!(out.contains_key(kept), "{kept} must be forwarded");
        }
    }

    #[test]
    fn headers_the_connection_header_names_are_hop_by_hop_both_ways() {
        let mut headers = HeaderMap::new();
        headers.append("connection", HeaderValue::from_static("keep-alive, X-Hop"));
        headers.append("connection", HeaderValue::from_static("x-other"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        headers.insert("x-other", HeaderValue::from_static("2"));
        headers.insert("x-kept", HeaderValue::from_static("3"));
        for out in [to_upstream(&headers), to_client(&headers)] {
            assert!(
                !out.contains_key("x-hop") && !out.contains_key("x-other"),
                "{out:?}"
            );
            assert!(!out.contains_key("connection"));
            assert_eq!(out["x-kept"], "3");
        }
    }

    #[test]
    fn upstream_identity_stays_behind() {
        let mut upstream = HeaderMap::new();
        upstream.insert(
            "openai-organization",
            HeaderValue::from_static("org-secret"),
        );
        upstream.insert("set-cookie", HeaderValue::from_static("__cf=1"));
        upstream.insert("x-request-id", HeaderValue::from_static("req_1"));
        upstream.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("99"),
        );
        let out = to_client(&upstream);
        assert!(!out.contains_key("openai-organization") && !out.contains_key("set-cookie"));
        assert_eq!(out["x-upstream-request-id"], "req_1");
        assert!(!out.contains_key("x-request-id"));
        assert!(out.contains_key("x-ratelimit-remaining-requests"));
    }
}
