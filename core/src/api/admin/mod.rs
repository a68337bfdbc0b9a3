//! `/api/admin/*`: root-only routes (a root session or the admin API key). One file per resource.

mod bindings;
mod channel_groups;
mod channel_ops;
mod channels;
mod codex;
mod credentials;
mod input;
mod models;
mod settings;
mod usage;
mod user_groups;
mod users;

use axum::Router;

use crate::state::AppState;

/// The admin routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(settings::routes())
        .merge(users::routes())
        .merge(channels::routes())
        .merge(channel_ops::routes())
        .merge(credentials::routes())
        .merge(codex::routes())
        .merge(models::routes())
        .merge(bindings::routes())
        .merge(channel_groups::routes())
        .merge(user_groups::routes())
        .merge(usage::routes())
}

/// The one hook after every write that changes channels, credentials, models, bindings or
/// groups: the relay's routing table is rebuilt and swapped.
pub async fn catalog_changed(state: &AppState) {
    state.routing_changed().await;
}
