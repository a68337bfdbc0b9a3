//! `/api/usage/events`: the signed-in user's own usage events, newest first. The admin view of
//! everyone's events is `admin/usage.rs`; recording events is the relay's job.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiQuery, Pagination, SignedIn};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::Page;
use crate::store::usage::{self, UsageEvent, UsageFilter};

/// The user's usage routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/usage/events", get(list))
}

/// `?limit&cursor&model&token_id&from&to` of the user route.
#[derive(Debug, Deserialize)]
pub struct UsageQuery {
    /// Page size, default 50, at most 500.
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only this requested model.
    pub model: Option<String>,
    /// Only this token.
    pub token_id: Option<i64>,
    /// At or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

impl UsageQuery {
    /// The page size, cursor and filter (without a user), or a 400.
    pub fn resolve(self) -> ApiResult<(usize, Option<i64>, UsageFilter)> {
        let (limit, cursor) = Pagination {
            limit: self.limit,
            cursor: self.cursor,
        }
        .resolve()?;
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(ApiError::invalid("`from` must not be after `to`"));
        }
        let filter = UsageFilter {
            token_id: self.token_id,
            model: self.model.filter(|m| !m.is_empty()),
            from: self.from,
            to: self.to,
            ..UsageFilter::default()
        };
        Ok((limit, cursor, filter))
    }
}

/// The `{items, next_cursor}` answer; every event field as the API documents it.
pub fn events_json(page: &Page<UsageEvent>) -> Value {
    json!({
        "items": page.items,
        "next_cursor": page.next_cursor.map(|c| c.to_string()),
    })
}

async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Json<Value>> {
    let (limit, cursor, mut filter) = query.resolve()?;
    // Whatever else was asked, only the caller's own events.
    filter.user_id = Some(signed_in.user.id);
    let page = state
        .store
        .read(move |c| usage::list(c, &filter, cursor, limit))
        .await?;
    Ok(Json(events_json(&page)))
}
