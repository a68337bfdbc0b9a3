//! The `codex_accounts` table: ChatGPT accounts of `codex_oauth` channels, their sealed tokens,
//! refresh bookkeeping and last known quota. Each account owns the `credentials` row with the same
//! id (its routing identity, status and sealed access token), so the functions here write both
//! rows together. Sealing and opening happen outside the store; rows carry only ciphertext.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::channels::Status;
use super::row::{opt_time, time};
use super::{Conn, StoreError, now_ms};

/// One quota window as last reported (the 5-hour "primary" or the weekly "secondary").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaWindow {
    /// Percent of the window used, 0..=100 (may exceed 100 briefly upstream).
    pub used_percent: f64,
    /// When the window resets, unix ms.
    pub reset_at: Option<i64>,
    /// Length of the window in minutes.
    pub window_minutes: Option<i64>,
}

/// The last known quota of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quota {
    /// The short window.
    pub primary: Option<QuotaWindow>,
    /// The long window.
    pub secondary: Option<QuotaWindow>,
}

/// An account as listed: never a token.
#[derive(Debug, Clone)]
pub struct Account {
    /// Id (also the id of its `credentials` row).
    pub id: i64,
    /// The channel.
    pub channel_id: i64,
    /// The ChatGPT account id (`chatgpt_account_id`), sent as `chatgpt-account-id`.
    pub account_id: String,
    /// The email of the signed-in user.
    pub email: String,
    /// The ChatGPT plan (`plus`, `pro`, ...).
    pub plan: String,
    /// Enabled or disabled (by an admin, or after `invalid_grant`).
    pub status: Status,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the tokens were last refreshed.
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// Refresh failures in a row (0 after a success).
    pub refresh_failures: i64,
    /// Backoff: no automatic refresh before this time.
    pub next_refresh_at: Option<DateTime<Utc>>,
    /// The last refresh or quota problem, as a sentence safe to show.
    pub last_error: Option<String>,
    /// Last known quota.
    pub quota: Quota,
    /// When the quota was last reported.
    pub quota_updated_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The sealed tokens and what a refresh needs to know about an account.
#[derive(Debug, Clone)]
pub struct SealedAccount {
    /// Id.
    pub id: i64,
    /// The channel.
    pub channel_id: i64,
    /// The ChatGPT account id.
    pub account_id: String,
    /// Enabled or disabled.
    pub status: Status,
    /// The access token, sealed.
    pub access_sealed: Vec<u8>,
    /// The refresh token, sealed.
    pub refresh_sealed: Vec<u8>,
    /// Expiry of the access token, unix ms.
    pub expires_at: Option<i64>,
    /// Last refresh, unix ms.
    pub last_refresh_at: Option<i64>,
    /// Refresh failures in a row.
    pub refresh_failures: i64,
}

/// Tokens (sealed by the caller) and facts of an account being added or signed in again.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The channel.
    pub channel_id: i64,
    /// The ChatGPT account id.
    pub account_id: String,
    /// Email.
    pub email: String,
    /// Plan.
    pub plan: String,
    /// The access token, sealed.
    pub access_sealed: Vec<u8>,
    /// A hint of the access token for the credentials list.
    pub access_hint: String,
    /// The refresh token, sealed.
    pub refresh_sealed: Vec<u8>,
    /// The id token, sealed, if there is one.
    pub id_token_sealed: Option<Vec<u8>>,
    /// Expiry of the access token, unix ms.
    pub expires_at: Option<i64>,
    /// Whether the tokens were just issued (an OAuth sign-in), i.e. count as a refresh.
    pub fresh: bool,
}

/// The result of a successful refresh; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct Refreshed {
    /// The new access token, sealed, and its hint.
    pub access: Option<(Vec<u8>, String)>,
    /// The rotated refresh token, sealed.
    pub refresh_sealed: Option<Vec<u8>>,
    /// The new id token, sealed.
    pub id_token_sealed: Option<Vec<u8>>,
    /// New expiry, unix ms.
    pub expires_at: Option<i64>,
    /// Email from the new id token.
    pub email: Option<String>,
    /// Plan from the new id token.
    pub plan: Option<String>,
}

const COLUMNS: &str = "a.id, a.channel_id, a.account_id, a.email, a.plan, c.status, a.expires_at, \
     a.last_refresh_at, a.refresh_failures, a.next_refresh_at, a.last_error, \
     a.primary_used_percent, a.primary_reset_at, a.primary_window_minutes, \
     a.secondary_used_percent, a.secondary_reset_at, a.secondary_window_minutes, \
     a.quota_updated_at, a.created_at, a.updated_at";

fn window(row: &Row<'_>, first: usize) -> rusqlite::Result<Option<QuotaWindow>> {
    let used: Option<f64> = row.get(first)?;
    Ok(used.map(|used_percent| QuotaWindow {
        used_percent,
        reset_at: row.get(first + 1).ok().flatten(),
        window_minutes: row.get(first + 2).ok().flatten(),
    }))
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get(0)?,
        channel_id: row.get(1)?,
        account_id: row.get(2)?,
        email: row.get(3)?,
        plan: row.get(4)?,
        status: Status::parse(row.get_ref(5)?.as_str()?),
        expires_at: opt_time(row.get(6)?),
        last_refresh_at: opt_time(row.get(7)?),
        refresh_failures: row.get(8)?,
        next_refresh_at: opt_time(row.get(9)?),
        last_error: row.get(10)?,
        quota: Quota {
            primary: window(row, 11)?,
            secondary: window(row, 14)?,
        },
        quota_updated_at: opt_time(row.get(17)?),
        created_at: time(row.get(18)?),
        updated_at: time(row.get(19)?),
    })
}

/// Adds an account and its credentials row; returns it. `Conflict` when the channel already
/// has this ChatGPT account (use [`replace_tokens`] then).
pub fn insert(c: &Conn, new: &NewAccount) -> Result<Account, StoreError> {
    let now = now_ms();
    c.execute(
        "INSERT INTO credentials (channel_id, name, secret_sealed, hint, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![
            new.channel_id,
            new.email,
            new.access_sealed,
            new.access_hint,
            now
        ],
    )?;
    let id = c.last_insert_rowid();
    c.execute(
        "INSERT INTO codex_accounts (id, channel_id, account_id, email, plan, refresh_sealed, \
         id_token_sealed, expires_at, last_refresh_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            id,
            new.channel_id,
            new.account_id,
            new.email,
            new.plan,
            new.refresh_sealed,
            new.id_token_sealed,
            new.expires_at,
            new.fresh.then_some(now),
            now
        ],
    )?;
    get(c, new.channel_id, id)
}

/// Signs an existing account in again: new tokens, enabled, errors and backoff cleared.
pub fn replace_tokens(c: &Conn, id: i64, new: &NewAccount) -> Result<Account, StoreError> {
    let now = now_ms();
    let changed = c.execute(
        "UPDATE credentials SET name = ?2, secret_sealed = ?3, hint = ?4, status = 'enabled', \
         updated_at = ?5 WHERE id = ?1 AND channel_id = ?6",
        params![
            id,
            new.email,
            new.access_sealed,
            new.access_hint,
            now,
            new.channel_id
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    c.execute(
        "UPDATE codex_accounts SET email = ?2, plan = ?3, refresh_sealed = ?4, id_token_sealed = ?5, \
         expires_at = ?6, last_refresh_at = COALESCE(?7, last_refresh_at), refresh_failures = 0, \
         next_refresh_at = NULL, last_error = NULL, updated_at = ?8 WHERE id = ?1",
        params![
            id,
            new.email,
            new.plan,
            new.refresh_sealed,
            new.id_token_sealed,
            new.expires_at,
            new.fresh.then_some(now),
            now
        ],
    )?;
    get(c, new.channel_id, id)
}

/// The account `id` of channel `channel_id`; `NotFound` if it belongs to another channel.
pub fn get(c: &Conn, channel_id: i64, id: i64) -> Result<Account, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM codex_accounts a JOIN credentials c ON c.id = a.id \
         WHERE a.id = ?1 AND a.channel_id = ?2"
    );
    Ok(c.query_row(&sql, [id, channel_id], from_row)?)
}

/// The channel's account for a ChatGPT account id, if any.
pub fn find_by_account_id(
    c: &Conn,
    channel_id: i64,
    account_id: &str,
) -> Result<Option<Account>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM codex_accounts a JOIN credentials c ON c.id = a.id \
         WHERE a.channel_id = ?1 AND a.account_id = ?2"
    );
    Ok(c.query_row(&sql, params![channel_id, account_id], from_row)
        .optional()?)
}

/// A channel's accounts by id.
pub fn list_for_channel(c: &Conn, channel_id: i64) -> Result<Vec<Account>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM codex_accounts a JOIN credentials c ON c.id = a.id \
         WHERE a.channel_id = ?1 ORDER BY a.id"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map([channel_id], from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// An account's sealed tokens, whatever its channel.
pub fn sealed(c: &Conn, id: i64) -> Result<SealedAccount, StoreError> {
    Ok(c.query_row(
        "SELECT a.id, a.channel_id, a.account_id, c.status, c.secret_sealed, a.refresh_sealed, \
         a.expires_at, a.last_refresh_at, a.refresh_failures \
         FROM codex_accounts a JOIN credentials c ON c.id = a.id WHERE a.id = ?1",
        [id],
        |r| {
            Ok(SealedAccount {
                id: r.get(0)?,
                channel_id: r.get(1)?,
                account_id: r.get(2)?,
                status: Status::parse(r.get_ref(3)?.as_str()?),
                access_sealed: r.get(4)?,
                refresh_sealed: r.get(5)?,
                expires_at: r.get(6)?,
                last_refresh_at: r.get(7)?,
                refresh_failures: r.get(8)?,
            })
        },
    )?)
}

/// Enabled accounts of enabled channels whose access token expires before `before` (or whose
/// expiry is unknown and whose tokens are older than `stale_before`), and whose backoff is over
/// at `now`; by id.
pub fn due_for_refresh(
    c: &Conn,
    now: i64,
    before: i64,
    stale_before: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT a.id FROM codex_accounts a JOIN credentials c ON c.id = a.id \
         JOIN channels ch ON ch.id = a.channel_id \
         WHERE c.status = 'enabled' AND ch.status = 'enabled' \
         AND (a.next_refresh_at IS NULL OR a.next_refresh_at <= ?1) \
         AND ((a.expires_at IS NOT NULL AND a.expires_at <= ?2) \
           OR (a.expires_at IS NULL AND COALESCE(a.last_refresh_at, a.created_at) <= ?3)) \
         ORDER BY a.id",
    )?;
    let rows = stmt.query_map(params![now, before, stale_before], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Stores a successful refresh: new tokens, failures and backoff cleared.
pub fn record_refresh(c: &Conn, id: i64, refreshed: &Refreshed) -> Result<(), StoreError> {
    let now = now_ms();
    if let Some((sealed, hint)) = &refreshed.access {
        c.execute(
            "UPDATE credentials SET secret_sealed = ?2, hint = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, sealed, hint, now],
        )?;
    }
    let changed = c.execute(
        "UPDATE codex_accounts SET refresh_sealed = COALESCE(?2, refresh_sealed), \
         id_token_sealed = COALESCE(?3, id_token_sealed), expires_at = COALESCE(?4, expires_at), \
         email = COALESCE(?5, email), plan = COALESCE(?6, plan), last_refresh_at = ?7, \
         refresh_failures = 0, next_refresh_at = NULL, last_error = NULL, updated_at = ?7 \
         WHERE id = ?1",
        params![
            id,
            refreshed.refresh_sealed,
            refreshed.id_token_sealed,
            refreshed.expires_at,
            refreshed.email,
            refreshed.plan,
            now
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Stores a failed refresh: the error, one more failure, the backoff, and (for a refused
/// refresh token) the account disabled.
pub fn record_refresh_failure(
    c: &Conn,
    id: i64,
    error: &str,
    next_refresh_at: Option<i64>,
    disable: bool,
) -> Result<(), StoreError> {
    let now = now_ms();
    let changed = c.execute(
        "UPDATE codex_accounts SET refresh_failures = refresh_failures + 1, last_error = ?2, \
         next_refresh_at = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, error, next_refresh_at, now],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    if disable {
        c.execute(
            "UPDATE credentials SET status = 'disabled', updated_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
    }
    Ok(())
}

/// Notes a problem that is not a refresh failure (a quota fetch), as a sentence safe to show.
pub fn set_last_error(c: &Conn, id: i64, error: Option<&str>) -> Result<(), StoreError> {
    c.execute(
        "UPDATE codex_accounts SET last_error = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, error, now_ms()],
    )?;
    Ok(())
}

/// Stores a quota report; a window not in the report keeps its last known value. Returns
/// whether the account still exists.
pub fn set_quota(c: &Conn, id: i64, quota: &Quota, plan: Option<&str>) -> Result<bool, StoreError> {
    let part = |w: Option<QuotaWindow>| {
        (
            w.map(|w| w.used_percent),
            w.and_then(|w| w.reset_at),
            w.and_then(|w| w.window_minutes),
        )
    };
    let (p_used, p_reset, p_minutes) = part(quota.primary);
    let (s_used, s_reset, s_minutes) = part(quota.secondary);
    let changed = c.execute(
        "UPDATE codex_accounts SET \
         primary_used_percent = COALESCE(?2, primary_used_percent), \
         primary_reset_at = CASE WHEN ?2 IS NULL THEN primary_reset_at ELSE ?3 END, \
         primary_window_minutes = COALESCE(?4, primary_window_minutes), \
         secondary_used_percent = COALESCE(?5, secondary_used_percent), \
         secondary_reset_at = CASE WHEN ?5 IS NULL THEN secondary_reset_at ELSE ?6 END, \
         secondary_window_minutes = COALESCE(?7, secondary_window_minutes), \
         plan = COALESCE(?8, plan), quota_updated_at = ?9 WHERE id = ?1",
        params![
            id,
            p_used,
            p_reset,
            p_minutes,
            s_used,
            s_reset,
            s_minutes,
            plan.filter(|p| !p.is_empty()),
            now_ms()
        ],
    )?;
    Ok(changed > 0)
}

#[cfg(test)]
mod tests;
