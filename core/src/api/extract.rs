//! Extractors of the console API: JSON bodies with our error envelope, the signed-in user (cookie
//! plus the `Realms-User` CSRF header), the admin caller (root session or admin key), the client
//! address, and list pagination.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use ipnet::IpNet;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::accounts::session;
use crate::crypto::{constant_time_eq, sha256};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::users::{self, Role, User, UserStatus};
use crate::store::{now_ms, sessions};

/// Name of the CSRF header every cookie-authenticated call must carry.
pub const CSRF_HEADER: &str = "realms-user";
/// Default and largest page size of list routes.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size a caller may ask for.
pub const MAX_LIMIT: usize = 500;

/// A JSON body parsed with the path of any failing field in the error.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
            } else {
                ApiError::new(ErrorCode::InvalidJson, "the request body could not be read")
            }
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let message = if path == "." || path.is_empty() {
                format!("invalid JSON body: {inner}")
            } else {
                format!("invalid JSON at `{path}`: {inner}")
            };
            ApiError::new(ErrorCode::InvalidJson, message)
        })?;
        de.end()
            .map_err(|_| ApiError::new(ErrorCode::InvalidJson, "trailing data after JSON"))?;
        Ok(Self(value))
    }
}

/// A signed-in console user with a valid session and matching `Realms-User` header.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user.
    pub user: User,
    /// The session id (to keep it when the password changes).
    pub session_id: i64,
}

impl SignedIn {
    /// The audit actor for this user.
    pub fn actor(&self) -> Actor {
        Actor::User(self.user.id)
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secret = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(session::from_cookie_header)
            .ok_or_else(ApiError::not_signed_in)?;
        let hash = sha256(secret.as_bytes());
        let now = now_ms();
        let found = state
            .store
            .read(move |c| {
                let Some(session) = sessions::find_live(c, &hash, now)? else {
                    return Ok(None);
                };
                Ok(Some((session.id, users::get(c, session.user_id)?)))
            })
            .await?;
        let Some((session_id, user)) = found else {
            return Err(ApiError::new(
                ErrorCode::NotSignedIn,
                "the session has expired; sign in again",
            ));
        };
        let csrf = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if csrf != Some(user.id.to_string().as_str()) {
            return Err(ApiError::new(
                ErrorCode::CsrfHeaderMismatch,
                "the `Realms-User` header is missing or does not match the session",
            ));
        }
        if user.status == UserStatus::Disabled {
            return Err(ApiError::new(
                ErrorCode::AccountDisabled,
                "this account is disabled",
            ));
        }
        Ok(Self { user, session_id })
    }
}

/// A caller allowed on `/api/admin/*`: a root user's session or the admin API key.
#[derive(Debug, Clone)]
pub enum Admin {
    /// A signed-in root user.
    Root(SignedIn),
    /// `REALMS_ADMIN_API_KEY`.
    ApiKey,
}

impl Admin {
    /// The audit actor.
    pub fn actor(&self) -> Actor {
        match self {
            Self::Root(signed_in) => signed_in.actor(),
            Self::ApiKey => Actor::AdminKey,
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(presented) = presented_key(&parts.headers) {
            let Some(key) = &state.config.admin_api_key else {
                return Err(ApiError::new(
                    ErrorCode::NotSignedIn,
                    "admin API key is not enabled",
                ));
            };
            if constant_time_eq(
                &sha256(presented.as_bytes()),
                &sha256(key.expose().as_bytes()),
            ) {
                return Ok(Self::ApiKey);
            }
            return Err(ApiError::new(
                ErrorCode::NotSignedIn,
                "invalid admin API key",
            ));
        }
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if signed_in.user.role != Role::Root {
            return Err(ApiError::forbidden("administrators only"));
        }
        Ok(Self::Root(signed_in))
    }
}

/// The key in `Authorization: Bearer` or `x-api-key`, if any.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    {
        return Some(bearer.trim().to_owned());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
}

/// The client's address and whether it reached us over HTTPS, believing forwarding headers only
/// from trusted proxies.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The client IP as text (`unknown` when the server was called without a socket, in tests).
    pub ip: String,
    /// Whether the client's connection was HTTPS.
    pub https: bool,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let settings = state.settings();
        let trusted = settings.trust_proxy_headers
            && peer.is_some_and(|ip| {
                settings
                    .trusted_proxy_cidrs
                    .iter()
                    .any(|net| net.contains(&ip))
            });
        let forwarded_ip = trusted
            .then(|| forwarded_client(&parts.headers, &settings.trusted_proxy_cidrs))
            .flatten();
        let forwarded_https = trusted
            && parts
                .headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https"));
        let https = forwarded_https
            || parts.uri.scheme_str() == Some("https")
            || settings.site_base_url.starts_with("https://");
        let ip = forwarded_ip
            .or(peer)
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        Ok(Self { ip, https })
    }
}

/// The client address in `X-Forwarded-For`: the rightmost hop that is not a trusted proxy. Only
/// the entries our own proxies appended can be believed; the leftmost one is whatever the client
/// chose to send. `None` when the header is absent or a hop is not an IP address (then the peer,
/// our proxy, is used: safe, if coarse).
fn forwarded_client(headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let mut farthest = None;
    // Every header line, in order: a proxy may add its own line instead of appending.
    let values: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<_>>()?;
    for hop in values.iter().flat_map(|v| v.split(',')).rev() {
        let ip = hop.trim().parse::<IpAddr>().ok()?;
        if !trusted.iter().any(|net| net.contains(&ip)) {
            return Some(ip);
        }
        farthest = Some(ip);
    }
    farthest
}

/// `?limit=&cursor=` of list routes.
#[derive(Debug, Clone, Deserialize)]
pub struct Pagination {
    /// Page size, default 50, at most 500.
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Pagination {
    /// The page size and the decoded cursor, or a 400 for a malformed one.
    pub fn resolve(&self) -> Result<(usize, Option<i64>), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::invalid(format!(
                "`limit` must be between 1 and {MAX_LIMIT}"
            )));
        }
        let cursor = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .map_err(|_| ApiError::invalid("`cursor` is malformed"))?,
            ),
        };
        Ok((limit, cursor))
    }
}

/// Query-string extraction with our error envelope.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e| ApiError::invalid(format!("invalid query string: {}", e.body_text())))
    }
}

/// Checks a required, trimmed, bounded name; returns it trimmed.
pub fn check_name(field: &str, value: &str, max_chars: usize) -> Result<String, ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::invalid(format!("`{field}` must not be empty")));
    }
    if trimmed.chars().count() > max_chars {
        return Err(ApiError::invalid(format!(
            "`{field}` must be at most {max_chars} characters"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "`{field}` must not contain control characters"
        )));
    }
    Ok(trimmed.to_owned())
}

/// A path id parsed with our error envelope (`/api/tokens/abc` → 400, not axum's plain text).
pub struct IdPath(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| Self(id))
            .map_err(|_| ApiError::invalid("the id in the path must be an integer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        name: &'static str,
        lines: &'static [&'static str],
        expected: Option<&'static str>,
    }

    const CASES: &[Case] = &[
        Case {
            name: "absent",
            lines: &[],
            expected: None,
        },
        Case {
            name: "one client",
            lines: &["203.0.113.9"],
            expected: Some("203.0.113.9"),
        },
        Case {
            name: "spoofed leftmost entry",
            lines: &["198.51.100.1, 203.0.113.9"],
            expected: Some("203.0.113.9"),
        },
        Case {
            name: "trusted hops skipped",
            lines: &["198.51.100.1, 203.0.113.9, 10.0.0.2"],
            expected: Some("203.0.113.9"),
        },
        Case {
            name: "only trusted hops",
            lines: &["10.0.0.3, 10.0.0.2"],
            expected: Some("10.0.0.3"),
        },
        Case {
            name: "a hop that is not an address",
            lines: &["198.51.100.1, unknown"],
            expected: None,
        },
        Case {
            name: "one line per proxy",
            lines: &["198.51.100.1", "203.0.113.9", "10.0.0.2"],
            expected: Some("203.0.113.9"),
        },
    ];

    #[test]
    fn forwarded_client_is_the_rightmost_untrusted_hop() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/24".parse().expect("cidr")];
        for case in CASES {
            let mut headers = HeaderMap::new();
            for line in case.lines {
                headers.append("x-forwarded-for", line.parse().expect("header value"));
            }
            let expected = case.expected.map(|ip| ip.parse::<IpAddr>().expect("ip"));
            assert_eq!(
                forwarded_client(&headers, &trusted),
                expected,
                "case {}",
                case.name
            );
        }
    }
}
