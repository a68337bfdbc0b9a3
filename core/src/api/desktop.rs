//! `/api/desktop/*`: routes that exist only in desktop mode (the router adds them only when
//! `desktop_console_secret` is set; otherwise the path is a 404 like any unknown route). The
//! console-secret check in front of every `/api` route guards them like the rest.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use super::auth::start_session;
use super::extract::ClientInfo;
use super::me::user_json;
use crate::desktop::{self, DesktopError};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The desktop routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/desktop/session", post(session))
}

impl From<DesktopError> for ApiError {
    fn from(err: DesktopError) -> Self {
        match err {
            DesktopError::Store(store) => store.into(),
            other @ DesktopError::Crypto(_) => Self::internal(other),
        }
    }
}

/// Signs the local person in as the desktop owner, without a password: the same session cookie
/// and `{user}` answer as `POST /api/auth/login`.
async fn session(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let owner = desktop::ensure_owner(&state).await?;
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect());
    let cookie = start_session(&state, &owner, &client, agent).await?;
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "user": user_json(&owner, &state) })),
    )
        .into_response())
}
