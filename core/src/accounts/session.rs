//! Console sessions: a random secret in the `realms_session` cookie, its SHA-256 in the database.

use axum::http::HeaderValue;

use crate::crypto::{CryptoError, random_secret, sha256};

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "realms_session";

/// A new session secret and its hash.
pub struct NewSessionSecret {
    /// Goes into the cookie.
    pub secret: String,
    /// Goes into the database.
    pub hash: [u8; 32],
}

/// Generates a session secret.
pub fn new_secret() -> Result<NewSessionSecret, CryptoError> {
    let secret = random_secret::<32>()?;
    Ok(NewSessionSecret {
        hash: sha256(secret.as_bytes()),
        secret,
    })
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(secret: &str, max_age_secs: u64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .ok()
}

/// The `Set-Cookie` value that ends a session.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("realms_session=; Path=/; Max-Age=0"))
}

/// The session secret from a `Cookie` header, if present.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_strict_and_http_only() {
        let value = set_cookie("abc", 60, true).expect("header");
        let text = value.to_str().expect("ascii");
        assert!(
            text.contains("HttpOnly")
                && text.contains("SameSite=Strict")
                && text.contains("Secure")
        );
        assert!(
            !set_cookie("abc", 60, false)
                .expect("h")
                .to_str()
                .expect("a")
                .contains("Secure")
        );
    }

    #[test]
    fn cookie_header_is_parsed() {
        assert_eq!(
            from_cookie_header("a=1; realms_session=xyz; b=2"),
            Some("xyz")
        );
        assert_eq!(from_cookie_header("realms_session="), None);
        assert_eq!(from_cookie_header("other=1"), None);
    }
}
