//! The console API (`/api/*`): the route table only. Handlers live one file per resource and stay
//! thin: parse → call the domain or store → JSON.

pub mod admin;
pub mod auth;
pub mod catalog;
pub mod desktop;
pub mod extract;
pub mod me;
pub mod money;
pub mod site;
pub mod tokens;
pub mod usage;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Every `/api` route, with the API body limit; unknown paths get a JSON 404 and unknown methods
/// a JSON 405 (axum still adds the `Allow` header). In desktop mode the desktop routes exist and
/// every route, the fallbacks included, first checks the console secret.
pub fn routes(state: &AppState) -> Router<AppState> {
    let desktop_mode = state.config.desktop_console_secret.is_some();
    let mut router = Router::new();
    if desktop_mode {
        router = router.merge(desktop::routes());
    }
    let router = router
        .merge(auth::routes())
        .merge(me::routes())
        .merge(tokens::routes())
        .merge(usage::routes())
        .merge(site::routes())
        .merge(catalog::routes())
        .nest("/admin", admin::routes())
        // Applies to the routes registered above, so it stays after every `merge` and `nest`.
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not accept that method",
            )
        })
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such API route") })
        .layer(DefaultBodyLimit::max(
            state.config.limits.max_api_body_bytes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            time_limit,
        ));
    if desktop_mode {
        // Outermost, so a call without the secret costs no body read and no handler.
        router.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::desktop::console_secret::require,
        ))
    } else {
        router
    }
}

/// Ends a console API request that runs past `limits.api_timeout_secs` with a JSON 503, so a
/// stuck database or upstream (the channel test) never holds a browser tab forever.
async fn time_limit(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let limit = std::time::Duration::from_secs(state.config.limits.api_timeout_secs);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(ErrorCode::Timeout, "the request took too long; try again")
            .into_response(),
    }
}
