//! `/api/admin/usage/events` and `/api/admin/usage/summary`: everyone's usage events, newest
//! first, and their aggregates, with the user routes' filters plus `user_id` and `channel_id`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::api::extract::{Admin, ApiQuery};
use crate::api::usage::{SummaryQuery, UsageQuery, events_json, summary_json};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{usage, usage_stats};

/// The admin usage routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/usage/events", get(list))
        .route("/usage/summary", get(summary))
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
    status: Option<String>,
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
        status: query.status,
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

/// The summary query plus the two admin-only filters.
#[derive(Debug, Deserialize)]
struct AdminSummaryQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    model: Option<String>,
    token_id: Option<i64>,
    status: Option<String>,
    user_id: Option<i64>,
    channel_id: Option<i64>,
}

async fn summary(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<AdminSummaryQuery>,
) -> ApiResult<Json<Value>> {
    let mut filter = SummaryQuery {
        from: query.from,
        to: query.to,
        model: query.model,
        token_id: query.token_id,
        status: query.status,
    }
    .resolve()?;
    filter.user_id = query.user_id;
    filter.channel_id = query.channel_id;
    let f = filter.clone();
    let summary = state
        .store
        .read(move |c| usage_stats::summarize(c, &f))
        .await?;
    Ok(Json(summary_json(
        &filter,
        &summary,
        &["model", "token", "user", "channel"],
    )))
}
