//! `/api/admin/*`: root-only routes (a root session or the admin API key). One file per resource.

mod settings;
mod users;

use axum::Router;

use crate::state::AppState;

/// The admin routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(settings::routes())
        .merge(users::routes())
}
