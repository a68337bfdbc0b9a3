//! Finding the client's Realms token: `Authorization: Bearer`, `x-api-key`, and for Gemini clients
//! `x-goog-api-key` and `?key=`. Every route accepts every form, because SDKs change how they
//! authenticate. The token is compared by its SHA-256 against the in-memory table
//! ([`authenticate`]), before the request's body is read.

use std::iter;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, header};

use super::error::RelayError;
use super::routing::table::{RoutingTable, TokenRoute};
use crate::crypto::sha256;
use crate::store::now_ms;

/// The token a request presents in `headers` or `query`: its hash must name a usable token that
/// has not expired. A client may send more than one credential (Claude Code with both an
/// `ANTHROPIC_AUTH_TOKEN` and an `ANTHROPIC_API_KEY` sends a `Bearer` and an `x-api-key`): the
/// first that names a Realms token decides.
pub fn authenticate(
    table: &RoutingTable,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Arc<TokenRoute>, RelayError> {
    let mut presented = presented_tokens(headers, query).peekable();
    if presented.peek().is_none() {
        return Err(RelayError::Unauthenticated(
            "no API key was provided; send `Authorization: Bearer sk_...`".into(),
        ));
    }
    let token = presented
        .find_map(|candidate| table.tokens.get(&sha256(candidate.as_bytes())))
        .ok_or_else(|| {
            RelayError::Unauthenticated("the API key is invalid or has been revoked".into())
        })?;
    if token.expires_at.is_some_and(|at| at <= now_ms()) {
        return Err(RelayError::Unauthenticated(
            "the API key has expired".into(),
        ));
    }
    Ok(Arc::clone(token))
}

/// Anthropic's key header.
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// Gemini's key header.
static X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");

/// The credentials the client presented, in the order they are tried: `Authorization: Bearer`,
/// `x-api-key`, `x-goog-api-key`, `?key=`; empty ones are skipped. Each form is looked for only
/// when the ones before it named no token (most clients send one, the first).
pub fn presented_tokens<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> impl Iterator<Item = &'a str> {
    let from_header = move |name: &HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let from_bearer = move || {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, rest) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
    };
    let from_query = move || {
        query?
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == "key")
            .map(|(_, value)| value)
    };
    iter::once_with(from_bearer)
        .chain(iter::once_with(move || from_header(&X_API_KEY)))
        .chain(iter::once_with(move || from_header(&X_GOOG_API_KEY)))
        .chain(iter::once_with(from_query))
        .flatten()
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn presented(headers: &HeaderMap, query: Option<&str>) -> Vec<String> {
        presented_tokens(headers, query)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_form_is_accepted() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer sk_a"),
        );
        assert_eq!(presented(&headers, None), ["sk_a"]);
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static("sk_b"));
        assert_eq!(presented(&headers, None), ["sk_b"]);
        let mut headers = HeaderMap::new();
        headers.insert("x-goog-api-key", HeaderValue::from_static("sk_c"));
        assert_eq!(presented(&headers, None), ["sk_c"]);
        assert_eq!(
            presented(&HeaderMap::new(), Some("alt=sse&key=sk_d")),
            ["sk_d"]
        );
        assert!(presented(&HeaderMap::new(), Some("alt=sse")).is_empty());
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(presented(&headers, None).is_empty());
    }

    #[test]
    fn several_credentials_are_tried_in_order_and_empty_ones_skipped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer sk-ant-oat-other"),
        );
        headers.insert("x-api-key", HeaderValue::from_static(""));
        headers.insert("x-goog-api-key", HeaderValue::from_static("sk_mine"));
        assert_eq!(
            presented(&headers, Some("key=sk_q")),
            ["sk-ant-oat-other", "sk_mine", "sk_q"]
        );
        let mut table = RoutingTable::default();
        let token = Arc::new(TokenRoute {
            token_id: 7,
            user_id: 1,
            expires_at: None,
            models: None,
            groups: Vec::new(),
        });
        table.tokens.insert(sha256(b"sk_mine"), Arc::clone(&token));
        let found = authenticate(&table, &headers, None).expect("the second credential");
        assert_eq!(found.token_id, 7);
        let mut stranger = HeaderMap::new();
        stranger.insert("x-api-key", HeaderValue::from_static("sk_unknown"));
        assert!(authenticate(&table, &stranger, None).is_err());
    }
}
