//! `/api/models` and `/api/channel-groups`: what the signed-in user may use. Models are the
//! enabled ones bound to an enabled channel in a channel group the user's group allows, with
//! their prices; groups are the ones a token may list in its group order.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::extract::SignedIn;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::callable;

/// The user catalogue routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/models", get(models))
        .route("/channel-groups", get(channel_groups))
}

async fn models(State(state): State<AppState>, signed_in: SignedIn) -> ApiResult<Json<Value>> {
    let user_id = signed_in.user.id;
    let items = state
        .store
        .read(move |c| callable::models_for_user(c, user_id))
        .await?;
    let items: Vec<Value> = items
        .iter()
        .map(|m| {
            json!({
                "id": m.public_id,
                "owned_by": m.owned_by,
                "description": m.description,
                "input_usd_per_1m": m.prices.input_usd_per_1m.normalize().to_string(),
                "cached_input_usd_per_1m": m.prices.cached_input_usd_per_1m.normalize().to_string(),
                "cache_write_usd_per_1m": m.prices.cache_write_usd_per_1m.normalize().to_string(),
                "output_usd_per_1m": m.prices.output_usd_per_1m.normalize().to_string(),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

async fn channel_groups(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> ApiResult<Json<Value>> {
    let user_id = signed_in.user.id;
    let groups = state
        .store
        .read(move |c| callable::token_groups(c, user_id))
        .await?;
    let items: Vec<Value> = groups
        .iter()
        .map(|g| {
            json!({
                "id": g.id,
                "name": g.name,
                "description": g.description,
                "parent_id": g.parent_id,
                "price_multiplier": g.price_multiplier.normalize().to_string(),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}
