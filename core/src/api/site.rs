//! `GET /api/site`: what the console needs before anyone signs in: whether this is a fresh
//! install (the next registrant becomes root), whether registration is open, the public URL.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::build_info;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::users;

/// The public site route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/site", get(site))
}

/// Public on purpose: the sign-in and register pages read it. It tells no more than trying to
/// register would (whether the site is fresh or open), and never a secret.
async fn site(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let fresh = state.store.read(|c| Ok(users::count(c)? == 0)).await?;
    let settings = state.settings();
    Ok(Json(json!({
        "first_run": fresh,
        "registration_open": fresh || settings.allow_open_registration,
        "site_base_url": settings.site_base_url,
        "self_mode": settings.self_mode,
        "version": build_info::VERSION,
    })))
}
