//! `/api/admin/usage/events`: everyone's usage events, newest first, with the user route's
//! filters plus `user_id` and `channel_id`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::api::extract::{Admin, ApiQuery};
use crate::api::usage::{UsageQuery, events_json};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::usage;

/// The admin usage routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/usage/events", get(list))
}

/// The user route's query plus the two admin-only filters. Spelled out rather than
/// `#[serde(flatten)]`, which makes query strings lose their numbers.
#[derive(Debug, Deserialize)]
struct AdminUsageQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    model: Option<String>,
    token_id: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    user_id: Option<i64>,
    channel_id: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<AdminUsageQuery>,
) -> ApiResult<Json<Value>> {
    let (user_id, channel_id) = (query.user_id, query.channel_id);
    let (limit, cursor, mut filter) = UsageQuery {
        limit: query.limit,
        cursor: query.cursor,
        model: query.model,
        token_id: query.token_id,
        from: query.from,
        to: query.to,
    }
    .resolve()?;
    filter.user_id = user_id;
    filter.channel_id = channel_id;
    let page = state
        .store
        .read(move |c| usage::list(c, &filter, cursor, limit))
        .await?;
    Ok(Json(events_json(&page)))
}
