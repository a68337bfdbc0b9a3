//! `/api/usage/events` and `/api/usage/summary`: the signed-in user's own usage events, newest
//! first, and their aggregates for the dashboard. The admin view of everyone's is
//! `admin/usage.rs`; recording events is the relay's job.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiQuery, Pagination, SignedIn};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::Page;
use crate::store::usage::{self, UsageEvent, UsageFilter};
use crate::store::usage_stats::{self, StatsFilter, Summary, Totals};

/// The user's usage routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/usage/events", get(list))
        .route("/usage/summary", get(summary))
}

/// Longest range one summary may cover; it scans every event in the range.
pub const MAX_SUMMARY_DAYS: i64 = 93;

/// `?from&to&model&token_id` of the summary route; the range defaults to the last 24 hours.
#[derive(Debug, Deserialize)]
pub struct SummaryQuery {
    /// At or after this time (RFC 3339); default `to` minus 24 hours.
    pub from: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
    /// Only this requested model.
    pub model: Option<String>,
    /// Only this token.
    pub token_id: Option<i64>,
    /// `ok` for successful requests only, `error` for failed ones only.
    pub status: Option<String>,
}

/// The `status` filter: `ok` → `Some(false)`, `error` → `Some(true)`, absent → `None`.
fn errors_filter(status: Option<&str>) -> ApiResult<Option<bool>> {
    match status {
        None | Some("") => Ok(None),
        Some("ok") => Ok(Some(false)),
        Some("error") => Ok(Some(true)),
        Some(_) => Err(ApiError::invalid("`status` must be `ok` or `error`")),
    }
}

impl SummaryQuery {
    /// The filter (without a user or channel), or a 400 for a reversed or too long range.
    pub fn resolve(self) -> ApiResult<StatsFilter> {
        let to = self.to.unwrap_or_else(Utc::now);
        let from = self.from.unwrap_or(to - Duration::hours(24));
        if from > to {
            return Err(ApiError::invalid("`from` must not be after `to`"));
        }
        if to - from > Duration::days(MAX_SUMMARY_DAYS) {
            return Err(ApiError::invalid(format!(
                "a summary covers at most {MAX_SUMMARY_DAYS} days"
            )));
        }
        Ok(StatsFilter {
            errors: errors_filter(self.status.as_deref())?,
            user_id: None,
            token_id: self.token_id,
            channel_id: None,
            model: self.model.filter(|m| !m.is_empty()),
            from,
            to,
        })
    }
}

/// Sums with the averages spelled out.
fn totals_json(t: &Totals) -> Value {
    let mut value = json!(t);
    value["avg_latency_ms"] = json!(t.avg_latency_ms());
    value["avg_first_token_latency_ms"] = json!(t.avg_first_token_latency_ms());
    value
}

/// The summary answer: range, totals, hourly series and the breakdowns `keys` names (`model`,
/// `token`, `user`, `channel`); each breakdown item is its totals plus `key`.
pub fn summary_json(filter: &StatsFilter, s: &Summary, keys: &[&str]) -> Value {
    let series: Vec<Value> = s
        .series
        .iter()
        .map(|b| {
            let mut v = totals_json(&b.totals);
            v["time"] = json!(b.start);
            v
        })
        .collect();
    let mut out = json!({
        "from": filter.from,
        "to": filter.to,
        "bucket": "hour",
        "totals": totals_json(&s.totals),
        "series": series,
    });
    for key in keys {
        let items: Vec<Value> = match *key {
            "model" => share_json(&s.by_model),
            "token" => share_json(&s.by_token),
            "user" => share_json(&s.by_user),
            "channel" => share_json(&s.by_channel),
            _ => continue,
        };
        out[format!("by_{key}")] = json!(items);
    }
    out
}

fn share_json<K: serde::Serialize>(list: &[usage_stats::Share<K>]) -> Vec<Value> {
    list.iter()
        .map(|share| {
            let mut v = totals_json(&share.totals);
            v["key"] = json!(share.key);
            v
        })
        .collect()
}

async fn summary(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ApiQuery(query): ApiQuery<SummaryQuery>,
) -> ApiResult<Json<Value>> {
    let mut filter = query.resolve()?;
    // Whatever else was asked, only the caller's own events.
    filter.user_id = Some(signed_in.user.id);
    let f = filter.clone();
    let summary = state
        .store
        .read(move |c| usage_stats::summarize(c, &f))
        .await?;
    Ok(Json(summary_json(&filter, &summary, &["model", "token"])))
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
    /// `ok` for successful requests only, `error` for failed ones only.
    pub status: Option<String>,
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
        let errors = errors_filter(self.status.as_deref())?;
        let filter = UsageFilter {
            errors,
            token_id: self.token_id,
            model: self.model.filter(|m| !m.is_empty()),
            from: self.from,
            to: self.to,
            ..UsageFilter::default()
        };
        Ok((limit, cursor, filter))
    }
}

/// The `{items, next_cursor}` answer; every event field as the API documents it, and
/// `model_mismatch` (the upstream reported another model than the one sent).
pub fn events_json(page: &Page<UsageEvent>) -> Value {
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|event| {
            let mut item = json!(event);
            item["model_mismatch"] = json!(event.model_mismatch());
            item
        })
        .collect();
    json!({
        "items": items,
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
