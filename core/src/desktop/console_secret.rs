//! The per-launch console secret of desktop mode: how the shell makes one, and the middleware
//! that lets an `/api/*` call through only when it carries it. Other local programs (and web
//! pages on other origins, which could reach `127.0.0.1`) never learn it, so they cannot use the
//! console API even though the local person is signed in without a password. Nothing else here.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{CONSOLE_SECRET_HEADER, DesktopError};
use crate::config::Secret;
use crate::crypto::{constant_time_eq, random_secret, sha256};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// A fresh console secret: 32 random bytes, base64url. The shell makes one at every launch,
/// puts it in [`crate::Config::desktop_console_secret`] and hands it only to its webview.
pub fn new_console_secret() -> Result<Secret, DesktopError> {
    Ok(Secret::new(random_secret::<32>()?))
}

/// Whether `presented` is the expected secret. Both sides are hashed first, so the comparison
/// is constant-time over equal lengths whatever was presented.
pub fn is_console_secret(expected: &Secret, presented: &[u8]) -> bool {
    constant_time_eq(&sha256(expected.expose().as_bytes()), &sha256(presented))
}

/// Middleware on `/api/*` in desktop mode: a call without the right [`CONSOLE_SECRET_HEADER`]
/// gets 401 `console_secret_required` and never reaches a handler. Outside desktop mode it
/// passes everything through (the router only adds it in desktop mode anyway).
pub async fn require(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = &state.config.desktop_console_secret else {
        return next.run(request).await;
    };
    let presented = request.headers().get(CONSOLE_SECRET_HEADER);
    if presented.is_some_and(|value| is_console_secret(expected, value.as_bytes())) {
        return next.run(request).await;
    }
    tracing::debug!(
        path = request.uri().path(),
        "console call without the desktop console secret"
    );
    ApiError::new(
        ErrorCode::ConsoleSecretRequired,
        "this console API is only open to the Realms desktop window",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_matches() {
        let secret = new_console_secret().expect("secret");
        assert!(secret.expose().len() >= 43, "32 random bytes");
        assert!(is_console_secret(&secret, secret.expose().as_bytes()));
        assert!(!is_console_secret(&secret, b""));
        assert!(!is_console_secret(&secret, b"guess"));
        let other = new_console_secret().expect("other");
        assert_ne!(secret.expose(), other.expose());
        assert!(!is_console_secret(&secret, other.expose().as_bytes()));
    }
}
