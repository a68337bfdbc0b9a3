//! Helpers shared by the table modules: time conversion, JSON and decimal columns, pages.

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;

use super::StoreError;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A stored millisecond timestamp as a UTC time.
pub fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// An optional stored timestamp.
pub fn opt_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(time)
}

/// A stored decimal (money, multiplier).
pub fn decimal(text: &str) -> Result<Decimal, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("decimal `{text}`")))
}

/// Converts a decode error inside a `from_row` into a rusqlite error so it can be returned there.
pub fn decode_err(column: usize, err: StoreError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(err))
}

/// One page of a list, newest or lowest id first as the query decides.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<i64>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched; the extra row only says there is more.
    pub fn from_overfetch(mut rows: Vec<T>, limit: usize, cursor_of: impl Fn(&T) -> i64) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(cursor_of)
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}
