//! The `usage_events` table: one row per data-plane request, written in batches by the usage
//! recorder and read newest first by the console. Extracting usage and pricing it happen elsewhere.

use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Row, params_from_iter};
use rust_decimal::Decimal;
use serde::Serialize;

use super::row::{decimal, decode_err, time};
use super::{Conn, Page, StoreError};
use crate::usage::RawUsage;

/// What one data-plane request used and cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageEvent {
    /// Id; assigned by the database, ignored by [`insert_batch`].
    pub id: i64,
    /// When the request arrived.
    pub time: DateTime<Utc>,
    /// The `X-Request-Id` of the request.
    pub request_id: String,
    /// The token's owner.
    pub user_id: Option<i64>,
    /// The token used.
    pub token_id: Option<i64>,
    /// The model the client asked for.
    pub model: String,
    /// The model name sent upstream (after bindings renamed it).
    pub forwarded_model: Option<String>,
    /// The model the upstream said it used.
    pub upstream_model: Option<String>,
    /// The channel that served it.
    pub channel_id: Option<i64>,
    /// The channel credential that served it.
    pub credential_id: Option<i64>,
    /// The inbound route, e.g. `/v1/responses`.
    pub endpoint: String,
    /// Whether the client asked for a stream.
    pub is_stream: bool,
    /// The HTTP status answered to the client.
    pub status_code: u16,
    /// A short class of failure (`upstream_timeout`, `client_closed`, …), if any.
    pub error_class: Option<String>,
    /// From receiving the request to the end of the answer.
    pub latency_ms: u64,
    /// From receiving the request to sending the first content event.
    pub first_token_latency_ms: Option<u64>,
    /// Size of the client's request body.
    pub request_bytes: u64,
    /// Size of the answer sent to the client.
    pub response_bytes: u64,
    /// The whole prompt, cached and cache-written parts included.
    pub input_tokens: u64,
    /// Prompt tokens read from a cache.
    pub cached_input_tokens: u64,
    /// Prompt tokens written to a cache.
    pub cache_write_tokens: u64,
    /// All output, reasoning included.
    pub output_tokens: u64,
    /// The reasoning part of the output.
    pub reasoning_tokens: u64,
    /// What the request cost, in USD.
    #[serde(with = "rust_decimal::serde::str")]
    pub cost_usd: Decimal,
    /// The upstream's own usage object, verbatim.
    pub upstream_usage: Option<RawUsage>,
    /// Whether the request ended early (client gone, stream cut) and the counts are what was seen.
    pub partial: bool,
}

impl UsageEvent {
    /// Whether the upstream says it answered with another model than the one sent to it. A dated
    /// or numbered snapshot of the model sent (`gpt-4o` answered by `gpt-4o-2024-08-06`,
    /// `gemini-1.5-pro` by `gemini-1.5-pro-002`) is the same model, `gpt-4o-mini` is not; case
    /// does not count; without both names there is nothing to compare.
    pub fn model_mismatch(&self) -> bool {
        let (Some(sent), Some(reported)) = (&self.forwarded_model, &self.upstream_model) else {
            return false;
        };
        let (sent, reported) = (sent.to_ascii_lowercase(), reported.to_ascii_lowercase());
        let snapshot = reported
            .strip_prefix(sent.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|version| {
                !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            });
        sent != reported && !snapshot
    }
}

/// Which events to list; every `Some` narrows the result.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    /// Only this user's events.
    pub user_id: Option<i64>,
    /// Only this token's events.
    pub token_id: Option<i64>,
    /// Only events served by this channel.
    pub channel_id: Option<i64>,
    /// Only events for this requested model.
    pub model: Option<String>,
    /// Events at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events before this time.
    pub to: Option<DateTime<Utc>>,
    /// `Some(true)`: only failed requests (status 400 or above, or an error class);
    /// `Some(false)`: only successful ones.
    pub errors: Option<bool>,
}

const COLUMNS: &str = "id, time, request_id, user_id, token_id, model, forwarded_model, \
    upstream_model, channel_id, credential_id, endpoint, is_stream, status_code, error_class, \
    latency_ms, first_token_latency_ms, request_bytes, response_bytes, input_tokens, \
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_usd, \
    upstream_usage, partial";

/// The columns an insert writes (all but `id`), in the order [`bind_event`] binds them.
const INSERT_COLUMNS: &str = "time, request_id, user_id, token_id, model, forwarded_model, \
    upstream_model, channel_id, credential_id, endpoint, is_stream, status_code, error_class, \
    latency_ms, first_token_latency_ms, request_bytes, response_bytes, input_tokens, \
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_usd, \
    upstream_usage, partial";

/// Values bound per row.
const VALUES_PER_ROW: usize = 25;

/// Rows one multi-row `INSERT` writes. A statement's fixed work (opening the table and index
/// cursors, finding the last rowid, halting) is then shared by this many rows: about an eighth of
/// a row's cost in the recorder's batches.
const ROWS_PER_INSERT: usize = 16;

/// `INSERT OR FAIL INTO usage_events (...) VALUES (?, ...), ... ` for `rows` rows. `OR FAIL`
/// rather than the default `ABORT`: a statement that may abort part way through several rows
/// inside a transaction makes SQLite copy every page it touches to a statement journal first,
/// to undo just that statement. The recorder never keeps half a batch (any error rolls the
/// whole transaction back), so that copy would be work for nothing.
fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; VALUES_PER_ROW].join(", "));
    format!(
        "INSERT OR FAIL INTO usage_events ({INSERT_COLUMNS}) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// The statement text for one row and for [`ROWS_PER_INSERT`] rows, made once.
static INSERT_ONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| insert_sql(1));
static INSERT_MANY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| insert_sql(ROWS_PER_INSERT));

/// A count as stored: SQLite integers are signed, and no real count comes near `i64::MAX`.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored count; a negative one means the row was written by something else and is refused.
fn count(row: &Row<'_>, column: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    u64::try_from(value).map_err(|_| {
        decode_err(
            column,
            StoreError::Corrupt(format!("negative count {value}")),
        )
    })
}

/// A stored count that may be absent.
fn opt_count(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<u64>> {
    match row.get_ref(column)?.as_i64_or_null()? {
        None => Ok(None),
        Some(_) => count(row, column).map(Some),
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<UsageEvent> {
    let upstream_usage = match row.get_ref(24)?.as_str_or_null()? {
        None => None,
        Some(text) => Some(
            RawUsage::from_text(text.to_owned())
                .map_err(|e| decode_err(24, StoreError::Corrupt(format!("upstream usage: {e}"))))?,
        ),
    };
    Ok(UsageEvent {
        id: row.get(0)?,
        time: time(row.get(1)?),
        request_id: row.get(2)?,
        user_id: row.get(3)?,
        token_id: row.get(4)?,
        model: row.get(5)?,
        forwarded_model: row.get(6)?,
        upstream_model: row.get(7)?,
        channel_id: row.get(8)?,
        credential_id: row.get(9)?,
        endpoint: row.get(10)?,
        is_stream: row.get(11)?,
        status_code: row.get(12)?,
        error_class: row.get(13)?,
        latency_ms: count(row, 14)?,
        first_token_latency_ms: opt_count(row, 15)?,
        request_bytes: count(row, 16)?,
        response_bytes: count(row, 17)?,
        input_tokens: count(row, 18)?,
        cached_input_tokens: count(row, 19)?,
        cache_write_tokens: count(row, 20)?,
        output_tokens: count(row, 21)?,
        reasoning_tokens: count(row, 22)?,
        cost_usd: decimal(row.get_ref(23)?.as_str()?).map_err(|e| decode_err(23, e))?,
        upstream_usage,
        partial: row.get(25)?,
    })
}

/// Inserts events (their `id` is ignored), [`ROWS_PER_INSERT`] rows per statement while enough
/// are left. Only inside the caller's transaction: a statement refused part way keeps the rows
/// before the refused one (`OR FAIL`), which only the transaction's rollback takes out again.
///
/// # Errors
/// [`StoreError::Internal`] when `c` is not in a transaction (nothing is written), else the
/// database's error.
pub fn insert_batch<'a>(
    c: &Conn,
    events: impl IntoIterator<Item = &'a UsageEvent>,
) -> Result<(), StoreError> {
    if c.is_autocommit() {
        return Err(StoreError::Internal(
            "usage rows are inserted only inside a transaction".into(),
        ));
    }
    let events: Vec<&UsageEvent> = events.into_iter().collect();
    let mut groups = events.chunks_exact(ROWS_PER_INSERT);
    if groups.len() > 0 {
        let mut stmt = c.prepare_cached(&INSERT_MANY)?;
        for group in &mut groups {
            for (row, event) in group.iter().enumerate() {
                bind_event(&mut stmt, row * VALUES_PER_ROW, event)?;
            }
            stmt.raw_execute()?;
        }
    }
    let rest = groups.remainder();
    if !rest.is_empty() {
        let mut stmt = c.prepare_cached(&INSERT_ONE)?;
        for event in rest {
            bind_event(&mut stmt, 0, event)?;
            stmt.raw_execute()?;
        }
    }
    Ok(())
}

/// Binds one event's values to parameters `after + 1 ..= after + VALUES_PER_ROW`.
fn bind_event(
    stmt: &mut rusqlite::Statement<'_>,
    after: usize,
    e: &UsageEvent,
) -> rusqlite::Result<()> {
    let values: [&dyn rusqlite::ToSql; VALUES_PER_ROW] = [
        &e.time.timestamp_millis(),
        &e.request_id,
        &e.user_id,
        &e.token_id,
        &e.model,
        &e.forwarded_model,
        &e.upstream_model,
        &e.channel_id,
        &e.credential_id,
        &e.endpoint,
        &e.is_stream,
        &e.status_code,
        &e.error_class,
        &int(e.latency_ms),
        &e.first_token_latency_ms.map(int),
        &int(e.request_bytes),
        &int(e.response_bytes),
        &int(e.input_tokens),
        &int(e.cached_input_tokens),
        &int(e.cache_write_tokens),
        &int(e.output_tokens),
        &int(e.reasoning_tokens),
        &e.cost_usd.normalize().to_string(),
        &e.upstream_usage.as_ref().map(RawUsage::text),
        &e.partial,
    ];
    for (offset, value) in values.into_iter().enumerate() {
        stmt.raw_bind_parameter(after + offset + 1, value)?;
    }
    Ok(())
}

/// How many events were recorded at or after `since` (unix ms); uses `usage_events_time`.
pub fn count_since(c: &Conn, since: i64) -> Result<u64, StoreError> {
    let count: i64 = c.query_row(
        "SELECT COUNT(*) FROM usage_events WHERE time >= ?1",
        [since],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Events matching `filter`, newest first, with ids below `cursor`.
pub fn list(
    c: &Conn,
    filter: &UsageFilter,
    cursor: Option<i64>,
    limit: usize,
) -> Result<Page<UsageEvent>, StoreError> {
    // Only fixed clause texts are joined here; every value is a numbered parameter. Leaving out
    // the unused filters (rather than `?n IS NULL OR …`) lets SQLite use `usage_events_user`.
    let mut clauses: Vec<&str> = Vec::new();
    let mut values: Vec<SqlValue> = Vec::new();
    let mut add = |clause: &'static str, value: SqlValue| {
        clauses.push(clause);
        values.push(value);
    };
    if let Some(id) = filter.user_id {
        add("user_id = ?", id.into());
    }
    if let Some(id) = filter.token_id {
        add("token_id = ?", id.into());
    }
    if let Some(id) = filter.channel_id {
        add("channel_id = ?", id.into());
    }
    if let Some(model) = &filter.model {
        add("model = ?", model.clone().into());
    }
    if let Some(from) = filter.from {
        add("time >= ?", from.timestamp_millis().into());
    }
    if let Some(to) = filter.to {
        add("time < ?", to.timestamp_millis().into());
    }
    if let Some(cursor) = cursor {
        add("id < ?", cursor.into());
    }
    // No value to bind, so these go after the last `add` (which borrows `clauses`).
    match filter.errors {
        Some(true) => clauses.push("(status_code >= 400 OR error_class IS NOT NULL)"),
        Some(false) => clauses.push("(status_code < 400 AND error_class IS NULL)"),
        None => {}
    }
    values.push((limit as i64 + 1).into());
    let condition = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!("SELECT {COLUMNS} FROM usage_events {condition} ORDER BY id DESC LIMIT ?");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(values), from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(rows, limit, |e| e.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn a_model_mismatch_is_another_model_not_a_dated_snapshot() {
        let reported = |sent: Option<&str>, upstream: Option<&str>| UsageEvent {
            forwarded_model: sent.map(str::to_owned),
            upstream_model: upstream.map(str::to_owned),
            ..UsageEvent::default()
        };
        for (sent, upstream, mismatch) in [
            (Some("gpt-4o"), Some("gpt-4o"), false),
            (Some("gpt-4o"), Some("gpt-4o-2024-08-06"), false),
            (
                Some("claude-sonnet-4-5"),
                Some("claude-sonnet-4-5-20250929"),
                false,
            ),
            (Some("GPT-4o"), Some("gpt-4o"), false),
            (Some("gemini-1.5-pro"), Some("gemini-1.5-pro-002"), false),
            (Some("gpt-4o"), Some("gpt-4o-mini"), true),
            (Some("gpt-5"), Some("gpt-4o"), true),
            (Some("gpt-4o"), Some("gpt-4"), true),
            (Some("gpt-4o"), Some("gpt-4oo"), true),
            (Some("gpt-4o"), None, false),
            (None, Some("gpt-4o"), false),
        ] {
            assert_eq!(
                reported(sent, upstream).model_mismatch(),
                mismatch,
                "{sent:?} answered by {upstream:?}"
            );
        }
    }

    fn event(user_id: i64, model: &str, second: i64) -> UsageEvent {
        UsageEvent {
            id: 0,
            time: Utc
                .timestamp_opt(1_700_000_000 + second, 0)
                .single()
                .expect("time"),
            request_id: format!("req-{user_id}-{second}"),
            user_id: Some(user_id),
            token_id: Some(user_id * 10),
            model: model.into(),
            forwarded_model: Some(format!("{model}-upstream")),
            upstream_model: Some(format!("{model}-2025")),
            channel_id: Some(3),
            credential_id: Some(4),
            endpoint: "/v1/chat/completions".into(),
            is_stream: true,
            status_code: 200,
            error_class: None,
            latency_ms: 1234,
            first_token_latency_ms: Some(120),
            request_bytes: 512,
            response_bytes: 4096,
            input_tokens: 1000,
            cached_input_tokens: 200,
            cache_write_tokens: 50,
            output_tokens: 300,
            reasoning_tokens: 100,
            cost_usd: "0.012345".parse().expect("decimal"),
            upstream_usage: Some(RawUsage::from(
                &json!({ "prompt_tokens": 1000, "nested": { "a": [1, 2] } }),
            )),
            partial: false,
        }
    }

    /// A new in-memory store holding `batch`.
    async fn store_with(batch: Vec<UsageEvent>) -> Store {
        let store = Store::open_in_memory().expect("store");
        store
            .write(move |tx| insert_batch(tx, &batch))
            .await
            .expect("insert");
        store
    }

    /// Inserts `batch` into a new store and reads every row back, oldest first, ids zeroed.
    async fn round_trip(batch: Vec<UsageEvent>) -> Vec<UsageEvent> {
        let store = store_with(batch).await;
        let page = store
            .read(|c| list(c, &UsageFilter::default(), None, 500))
            .await
            .expect("list");
        page.items
            .into_iter()
            .rev()
            .map(|mut e| {
                assert!(e.id > 0);
                e.id = 0;
                e
            })
            .collect()
    }

    #[tokio::test]
    async fn every_field_round_trips() {
        let mut original = event(1, "gpt-4o", 0);
        original.error_class = Some("client_closed".into());
        original.partial = true;
        original.first_token_latency_ms = None;
        let stored = round_trip(vec![original.clone()]).await;
        pretty_assertions::assert_eq!(stored, vec![original]);
    }

    /// A row refused in the middle of a batch (here by a trigger) leaves none of the batch:
    /// `OR FAIL` keeps the rows before it in the transaction, and its rollback takes them out;
    /// the rows written before the batch stay.
    #[tokio::test]
    async fn a_batch_refused_part_way_leaves_none_of_its_rows() {
        let store = store_with(vec![event(1, "kept", 0)]).await;
        // a refusal only the database can make: the third row of the second statement
        store
            .write(|tx| {
                tx.execute_batch(
                    "CREATE TRIGGER refuse BEFORE INSERT ON usage_events \
                     WHEN NEW.request_id = 'refused' BEGIN SELECT RAISE(FAIL, 'refused'); END",
                )?;
                Ok(())
            })
            .await
            .expect("trigger");
        let batch: Vec<UsageEvent> = (0..2 * ROWS_PER_INSERT + 3)
            .map(|i| {
                let mut e = event(2, "lost", i64::try_from(i).expect("small"));
                if i == ROWS_PER_INSERT + 2 {
                    e.request_id = "refused".into();
                }
                e
            })
            .collect();
        let refused = store.write(move |tx| insert_batch(tx, &batch)).await;
        assert!(refused.is_err(), "{refused:?}");
        let page = store
            .read(|c| list(c, &UsageFilter::default(), None, 500))
            .await
            .expect("list");
        let models: Vec<&str> = page.items.iter().map(|e| e.model.as_str()).collect();
        assert_eq!(models, ["kept"]);
    }

    #[tokio::test]
    async fn rows_are_never_inserted_outside_a_transaction() {
        let store = Store::open_in_memory().expect("store");
        let batch = vec![event(1, "a", 0)];
        // a read runs on a connection in autocommit mode
        let refused = store.read(move |c| insert_batch(c, &batch)).await;
        assert!(
            matches!(refused, Err(StoreError::Internal(_))),
            "{refused:?}"
        );
        let page = store
            .read(|c| list(c, &UsageFilter::default(), None, 10))
            .await
            .expect("list");
        assert!(page.items.is_empty());
    }

    #[tokio::test]
    async fn batches_of_any_size_store_every_row_once_and_in_order() {
        for size in [
            1,
            ROWS_PER_INSERT - 1,
            ROWS_PER_INSERT,
            ROWS_PER_INSERT + 1,
            3 * ROWS_PER_INSERT + 5,
        ] {
            let batch: Vec<UsageEvent> = (0..size)
                .map(|i| {
                    let i = i64::try_from(i).expect("small");
                    let mut e = event(1 + i % 3, &format!("model-{i}"), i);
                    e.request_id = format!("req-{i}");
                    e.output_tokens = u64::try_from(i).expect("small");
                    e.upstream_usage = (i % 2 == 0).then(|| RawUsage::from(&json!({ "n": i })));
                    e
                })
                .collect();
            let stored = round_trip(batch.clone()).await;
            assert_eq!(stored.len(), size, "batch of {size}");
            pretty_assertions::assert_eq!(stored, batch, "batch of {size}");
        }
    }

    #[tokio::test]
    async fn count_since_counts_from_the_bound_on() {
        let batch: Vec<UsageEvent> = (0..4).map(|i| event(1, "a", i)).collect();
        let store = store_with(batch).await;
        let at = |second: i64| (1_700_000_000 + second) * 1000;
        for (since, expected) in [(at(-1), 4), (at(0), 4), (at(2), 2), (at(4), 0)] {
            let count = store
                .read(move |c| count_since(c, since))
                .await
                .expect("count");
            assert_eq!(count, expected, "since {since}");
        }
    }

    #[tokio::test]
    async fn filters_narrow_and_the_cursor_walks_newest_first() {
        let mut batch: Vec<UsageEvent> = (0..5).map(|i| event(1, "a", i)).collect();
        batch.push(event(2, "a", 10));
        batch.push(event(1, "b", 20));
        let store = store_with(batch).await;
        let filter = UsageFilter {
            user_id: Some(1),
            model: Some("a".into()),
            ..UsageFilter::default()
        };
        let f = filter.clone();
        let first = store
            .read(move |c| list(c, &f, None, 3))
            .await
            .expect("page 1");
        let seconds: Vec<i64> = first
            .items
            .iter()
            .map(|e| e.time.timestamp() - 1_700_000_000)
            .collect();
        assert_eq!(seconds, vec![4, 3, 2]);
        let cursor = first.next_cursor;
        assert!(cursor.is_some());
        let second = store
            .read(move |c| list(c, &filter, cursor, 3))
            .await
            .expect("page 2");
        assert_eq!(second.items.len(), 2);
        assert!(second.next_cursor.is_none());
        let window = UsageFilter {
            from: Some(Utc.timestamp_opt(1_700_000_002, 0).single().expect("t")),
            to: Some(Utc.timestamp_opt(1_700_000_010, 0).single().expect("t")),
            ..UsageFilter::default()
        };
        let page = store
            .read(move |c| list(c, &window, None, 50))
            .await
            .expect("window");
        assert_eq!(page.items.len(), 3, "from is inclusive, to exclusive");
    }

    #[tokio::test]
    async fn injection_shaped_model_filter_matches_nothing() {
        let batch = vec![event(1, "a", 0)];
        let store = store_with(batch).await;
        let filter = UsageFilter {
            model: Some("a' OR '1'='1".into()),
            ..UsageFilter::default()
        };
        let page = store
            .read(move |c| list(c, &filter, None, 50))
            .await
            .expect("list");
        assert!(page.items.is_empty());
    }
}
