//! Finding the client's Realms token: `Authorization: Bearer`, `x-api-key`, and for Gemini clients
//! `x-goog-api-key` and `?key=`. Every route accepts every form, because SDKs change how they
//! authenticate. The token is compared by its SHA-256 against the in-memory table
//! ([`authenticate`]), before the request's body is read.

use std::sync::Arc;

use axum::http::{HeaderMap, header};

use super::error::RelayError;
use super::routing::table::{RoutingTable, TokenRoute};
use crate::crypto::sha256;
use crate::store::now_ms;

/// The token a request presents in `headers` or `query`: its hash must name a usable token that
/// has not expired.
pub fn authenticate(
    table: &RoutingTable,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Arc<TokenRoute>, RelayError> {
    let presented = presented_token(headers, query).ok_or_else(|| {
        RelayError::Unauthenticated(
            "no API key was provided; send `Authorization: Bearer sk_...`".into(),
        )
    })?;
    let token = table
        .tokens
        .get(&sha256(presented.as_bytes()))
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

/// The token the client presented, if any.
pub fn presented_token<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    let from_bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
        });
    let from_header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let from_query = || {
        query?
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == "key")
            .map(|(_, value)| value)
    };
    from_bearer
        .or_else(|| from_header("x-api-key"))
        .or_else(|| from_header("x-goog-api-key"))
        .or_else(from_query)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn every_form_is_accepted() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer sk_a"),
        );
        assert_eq!(presented_token(&headers, None), Some("sk_a"));
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static("sk_b"));
        assert_eq!(presented_token(&headers, None), Some("sk_b"));
        let mut headers = HeaderMap::new();
        headers.insert("x-goog-api-key", HeaderValue::from_static("sk_c"));
        assert_eq!(presented_token(&headers, None), Some("sk_c"));
        assert_eq!(
            presented_token(&HeaderMap::new(), Some("alt=sse&key=sk_d")),
            Some("sk_d")
        );
        assert_eq!(presented_token(&HeaderMap::new(), Some("alt=sse")), None);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_token(&headers, None), None);
    }
}
