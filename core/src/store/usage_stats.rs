//! Aggregates over `usage_events` for the console's dashboards: totals, an hourly series and
//! breakdowns by model, token, user and channel. Money is summed exactly in Rust, because the
//! column holds decimal text and SQLite's `SUM` would go through floating point.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::Row;
use rusqlite::types::Value as SqlValue;
use rust_decimal::Decimal;
use serde::Serialize;

use super::row::{decimal, decode_err, time};
use super::{Conn, StoreError};

/// Milliseconds in one hour, the width of a series bucket.
const HOUR_MS: i64 = 3_600_000;

/// Which events to aggregate; every `Some` narrows them. `from` and `to` are required so a
/// summary always scans a bounded range.
#[derive(Debug, Clone)]
pub struct StatsFilter {
    /// Only this user's events.
    pub user_id: Option<i64>,
    /// Only this token's events.
    pub token_id: Option<i64>,
    /// Only events served by this channel.
    pub channel_id: Option<i64>,
    /// Only events for this requested model.
    pub model: Option<String>,
    /// Events at or after this time.
    pub from: DateTime<Utc>,
    /// Events before this time.
    pub to: DateTime<Utc>,
    /// `Some(true)`: only failed requests; `Some(false)`: only successful ones.
    pub errors: Option<bool>,
}

/// Sums over a set of events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Requests.
    pub requests: u64,
    /// Requests that ended with an error (status 400 or above, or an error class).
    pub errors: u64,
    /// Prompt tokens, cached and cache-written parts included.
    pub input_tokens: u64,
    /// Prompt tokens read from a cache.
    pub cached_input_tokens: u64,
    /// Prompt tokens written to a cache.
    pub cache_write_tokens: u64,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// The reasoning part of the output.
    pub reasoning_tokens: u64,
    /// Cost in USD.
    #[serde(with = "rust_decimal::serde::str")]
    pub cost_usd: Decimal,
    /// Sum of latencies, for the average.
    #[serde(skip)]
    latency_ms_sum: u64,
    /// Sum of times to first token over the events that have one.
    #[serde(skip)]
    first_token_ms_sum: u64,
    /// How many events have a time to first token.
    #[serde(skip)]
    first_token_count: u64,
}

impl Totals {
    fn add(&mut self, e: &StatRow) {
        self.requests += 1;
        if e.error {
            self.errors += 1;
        }
        self.input_tokens += e.input_tokens;
        self.cached_input_tokens += e.cached_input_tokens;
        self.cache_write_tokens += e.cache_write_tokens;
        self.output_tokens += e.output_tokens;
        self.reasoning_tokens += e.reasoning_tokens;
        self.cost_usd += e.cost_usd;
        self.latency_ms_sum += e.latency_ms;
        if let Some(ttft) = e.first_token_latency_ms {
            self.first_token_ms_sum += ttft;
            self.first_token_count += 1;
        }
    }

    /// Average latency in milliseconds, `None` without events.
    pub fn avg_latency_ms(&self) -> Option<u64> {
        self.latency_ms_sum.checked_div(self.requests)
    }

    /// Average time to first token in milliseconds, `None` when no event has one.
    pub fn avg_first_token_latency_ms(&self) -> Option<u64> {
        self.first_token_ms_sum.checked_div(self.first_token_count)
    }
}

/// One hour of the series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourBucket {
    /// Start of the hour (UTC).
    pub start: DateTime<Utc>,
    /// Sums over that hour.
    pub totals: Totals,
}

/// Sums for one key of a breakdown (a model name, or a token, user or channel id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share<K> {
    /// The key; `None` for events without one (a deleted token, an unrouted request).
    pub key: K,
    /// Sums for that key.
    pub totals: Totals,
}

/// Everything a dashboard shows for one filter.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Sums over every matching event.
    pub totals: Totals,
    /// Hours that had events, oldest first (hours without events are left out).
    pub series: Vec<HourBucket>,
    /// By requested model, most expensive (then busiest) first.
    pub by_model: Vec<Share<String>>,
    /// By token.
    pub by_token: Vec<Share<Option<i64>>>,
    /// By user.
    pub by_user: Vec<Share<Option<i64>>>,
    /// By channel.
    pub by_channel: Vec<Share<Option<i64>>>,
}

/// The columns one aggregation needs from an event.
struct StatRow {
    time_ms: i64,
    user_id: Option<i64>,
    token_id: Option<i64>,
    channel_id: Option<i64>,
    model: String,
    error: bool,
    latency_ms: u64,
    first_token_latency_ms: Option<u64>,
    input_tokens: u64,
    cached_input_tokens: u64,
    cache_write_tokens: u64,
    output_tokens: u64,
    reasoning_tokens: u64,
    cost_usd: Decimal,
}

const COLUMNS: &str = "time, user_id, token_id, channel_id, model, status_code, error_class, \
    latency_ms, first_token_latency_ms, input_tokens, cached_input_tokens, cache_write_tokens, \
    output_tokens, reasoning_tokens, cost_usd";

/// A stored count; a negative one (written by something else) counts as zero here, because a
/// dashboard should still render when one row is odd.
fn count(row: &Row<'_>, column: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(column)?).unwrap_or(0))
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<StatRow> {
    let status: i64 = row.get(5)?;
    let error_class: Option<String> = row.get(6)?;
    let ttft: Option<i64> = row.get(8)?;
    Ok(StatRow {
        time_ms: row.get(0)?,
        user_id: row.get(1)?,
        token_id: row.get(2)?,
        channel_id: row.get(3)?,
        model: row.get(4)?,
        error: status >= 400 || error_class.is_some(),
        latency_ms: count(row, 7)?,
        first_token_latency_ms: ttft.and_then(|v| u64::try_from(v).ok()),
        input_tokens: count(row, 9)?,
        cached_input_tokens: count(row, 10)?,
        cache_write_tokens: count(row, 11)?,
        output_tokens: count(row, 12)?,
        reasoning_tokens: count(row, 13)?,
        cost_usd: decimal(row.get_ref(14)?.as_str()?).map_err(|e| decode_err(14, e))?,
    })
}

/// Turns a breakdown map into a list, most expensive first, then busiest, then by key.
fn ranked<K: Ord + Clone>(map: HashMap<K, Totals>) -> Vec<Share<K>> {
    let mut list: Vec<Share<K>> = map
        .into_iter()
        .map(|(key, totals)| Share { key, totals })
        .collect();
    list.sort_by(|a, b| {
        b.totals
            .cost_usd
            .cmp(&a.totals.cost_usd)
            .then(b.totals.requests.cmp(&a.totals.requests))
            .then(a.key.cmp(&b.key))
    });
    list
}

/// Aggregates the events matching `filter`.
pub fn summarize(c: &Conn, filter: &StatsFilter) -> Result<Summary, StoreError> {
    // Only fixed clause texts are joined; every value is a numbered parameter.
    let mut clauses: Vec<&str> = vec!["time >= ?", "time < ?"];
    let mut values: Vec<SqlValue> = vec![
        filter.from.timestamp_millis().into(),
        filter.to.timestamp_millis().into(),
    ];
    if let Some(id) = filter.user_id {
        clauses.push("user_id = ?");
        values.push(id.into());
    }
    if let Some(id) = filter.token_id {
        clauses.push("token_id = ?");
        values.push(id.into());
    }
    if let Some(id) = filter.channel_id {
        clauses.push("channel_id = ?");
        values.push(id.into());
    }
    if let Some(model) = &filter.model {
        clauses.push("model = ?");
        values.push(model.clone().into());
    }
    match filter.errors {
        Some(true) => clauses.push("(status_code >= 400 OR error_class IS NOT NULL)"),
        Some(false) => clauses.push("(status_code < 400 AND error_class IS NULL)"),
        None => {}
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM usage_events WHERE {} ORDER BY time",
        clauses.join(" AND ")
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;

    let mut totals = Totals::default();
    let mut series: Vec<HourBucket> = Vec::new();
    let mut by_model: HashMap<String, Totals> = HashMap::new();
    let mut by_token: HashMap<Option<i64>, Totals> = HashMap::new();
    let mut by_user: HashMap<Option<i64>, Totals> = HashMap::new();
    let mut by_channel: HashMap<Option<i64>, Totals> = HashMap::new();
    while let Some(row) = rows.next()? {
        let e = from_row(row)?;
        totals.add(&e);
        let hour = time(e.time_ms.div_euclid(HOUR_MS) * HOUR_MS);
        match series.last_mut() {
            Some(bucket) if bucket.start == hour => bucket.totals.add(&e),
            _ => {
                let mut bucket = HourBucket {
                    start: hour,
                    totals: Totals::default(),
                };
                bucket.totals.add(&e);
                series.push(bucket);
            }
        }
        by_model.entry(e.model.clone()).or_default().add(&e);
        by_token.entry(e.token_id).or_default().add(&e);
        by_user.entry(e.user_id).or_default().add(&e);
        by_channel.entry(e.channel_id).or_default().add(&e);
    }
    Ok(Summary {
        totals,
        series,
        by_model: ranked(by_model),
        by_token: ranked(by_token),
        by_user: ranked(by_user),
        by_channel: ranked(by_channel),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::Store;
    use crate::store::usage::{self, UsageEvent};

    fn event(second: i64, user: i64, model: &str, status: u16, cost: &str) -> UsageEvent {
        UsageEvent {
            id: 0,
            time: Utc.timestamp_opt(second, 0).single().expect("time"),
            request_id: format!("r{second}"),
            user_id: Some(user),
            token_id: Some(user * 10),
            model: model.into(),
            forwarded_model: None,
            upstream_model: None,
            channel_id: Some(7),
            credential_id: None,
            endpoint: "/v1/chat/completions".into(),
            is_stream: false,
            status_code: status,
            error_class: None,
            latency_ms: 100 * u64::from(status / 100),
            first_token_latency_ms: (status == 200).then_some(40),
            request_bytes: 0,
            response_bytes: 0,
            input_tokens: 1000,
            cached_input_tokens: 600,
            cache_write_tokens: 0,
            output_tokens: 50,
            reasoning_tokens: 20,
            cost_usd: cost.parse().expect("decimal"),
            upstream_usage: None,
            partial: false,
        }
    }

    #[tokio::test]
    async fn sums_exactly_buckets_by_hour_and_ranks_breakdowns() {
        let store = Store::open_in_memory().expect("store");
        let events = vec![
            event(3_600, 1, "a", 200, "0.1"),
            event(3_700, 1, "b", 200, "0.2"),
            event(7_300, 2, "a", 502, "0"),
            event(90_000, 1, "a", 200, "5"),
        ];
        store
            .write(move |tx| usage::insert_batch(tx, &events))
            .await
            .expect("seed");
        let filter = StatsFilter {
            user_id: None,
            token_id: None,
            channel_id: None,
            model: None,
            errors: None,
            from: Utc.timestamp_opt(0, 0).single().expect("from"),
            to: Utc.timestamp_opt(86_400, 0).single().expect("to"),
        };
        let s = store
            .read(move |c| summarize(c, &filter))
            .await
            .expect("summary");
        assert_eq!(s.totals.requests, 3, "the event after `to` is left out");
        assert_eq!(s.totals.errors, 1);
        assert_eq!(s.totals.cost_usd.to_string(), "0.3", "0.1 + 0.2 exactly");
        assert_eq!(s.totals.cached_input_tokens, 1800);
        assert_eq!(
            s.totals.avg_latency_ms(),
            Some(300),
            "(200 + 200 + 500) / 3"
        );
        assert_eq!(s.totals.avg_first_token_latency_ms(), Some(40));
        let hours: Vec<(i64, u64)> = s
            .series
            .iter()
            .map(|b| (b.start.timestamp(), b.totals.requests))
            .collect();
        assert_eq!(hours, vec![(3_600, 2), (7_200, 1)]);
        let models: Vec<(&str, u64)> = s
            .by_model
            .iter()
            .map(|m| (m.key.as_str(), m.totals.requests))
            .collect();
        assert_eq!(models, vec![("b", 1), ("a", 2)], "the dearer model first");
        let users: Vec<Option<i64>> = s.by_user.iter().map(|u| u.key).collect();
        assert_eq!(users, vec![Some(1), Some(2)]);
        assert_eq!(s.by_token[0].key, Some(10));
    }
}
