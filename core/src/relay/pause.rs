//! Pausing the data plane (the desktop tray's Pause/Resume). While paused, every `/v1/*` and
//! `/v1beta/*` call is answered 503 in the caller's own error shape before authentication,
//! routing or any upstream call, and nothing is recorded; the console API keeps working. The
//! switch is one atomic flag in [`super::state::RelayState`]: the check costs one load per call.

use std::sync::atomic::Ordering;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::dialect::Dialect;
use super::error::RelayError;
use super::http::dialect_of_path;
use super::models::list_dialect;
use crate::state::AppState;

/// Pauses (`true`) or resumes (`false`) the data plane. Calls already in flight finish.
pub fn set_paused(state: &AppState, paused: bool) {
    let was = state.relay.paused.swap(paused, Ordering::SeqCst);
    if was != paused {
        tracing::info!(
            paused,
            "data plane {}",
            if paused { "paused" } else { "resumed" }
        );
    }
}

/// Whether the data plane is paused.
pub fn is_paused(state: &AppState) -> bool {
    state.relay.paused.load(Ordering::SeqCst)
}

/// Middleware on the data-plane routes: a 503 `realms_paused` while paused, else the route.
pub async fn refuse_while_paused(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !is_paused(&state) {
        return next.run(request).await;
    }
    RelayError::Paused.into_response_for(dialect_of(&request))
}

/// The caller's dialect: by path, and for the shared model-list paths by its headers.
fn dialect_of(request: &Request) -> Dialect {
    let path = request.uri().path();
    let by_path = dialect_of_path(path);
    if by_path == Dialect::OpenAi && (path == "/v1/models" || path.starts_with("/v1/models/")) {
        return list_dialect(request.headers(), request.uri().query());
    }
    by_path
}
