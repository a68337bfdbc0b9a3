//! `GET /api/admin/health`: the relay's live cooldowns (channels, channel + model pairs and
//! credentials cooling down after upstream failures), for the channels page and the overview.

use std::time::Instant;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Value, json};

use crate::api::extract::Admin;
use crate::relay::routing::health::Target;
use crate::state::AppState;

/// The health route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/health", get(show))
}

async fn show(State(state): State<AppState>, _admin: Admin) -> Json<Value> {
    let now = Instant::now();
    let wall = Utc::now();
    let table = state.relay.table.load_full();
    let credential_channel = |id: i64| {
        table
            .channels
            .values()
            .find(|c| c.credentials.iter().any(|k| k.id == id))
            .map(|c| c.id)
    };
    let mut items: Vec<Value> = state
        .relay
        .health
        .active(now)
        .into_iter()
        .map(|(target, cooldown)| {
            let remaining = cooldown.until.saturating_duration_since(now);
            let until = wall + chrono::Duration::from_std(remaining).unwrap_or_default();
            let (scope, channel_id, credential_id, model) = match target {
                Target::Channel(id) => ("channel", Some(id), None, None),
                Target::ChannelModel(id, model) => ("channel_model", Some(id), None, Some(model)),
                Target::Credential(id) => ("credential", credential_channel(id), Some(id), None),
            };
            json!({
                "scope": scope,
                "channel_id": channel_id,
                "credential_id": credential_id,
                "model": model,
                "until": until,
                "remaining_secs": remaining.as_secs(),
                "strikes": cooldown.strikes,
                "reason": cooldown.reason,
            })
        })
        .collect();
    items.sort_by_key(|item| item["channel_id"].as_i64());
    Json(json!({ "items": items }))
}
