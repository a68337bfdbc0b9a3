//! The `tokens` table and `token_channel_groups`: users' `sk_` API tokens, stored as a SHA-256
//! hash (for lookup) and a sealed copy (for an explicit reveal), never in plain text.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::row::{opt_time, time};
use super::{Conn, Page, StoreError, now_ms};

/// Whether a token still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    /// Usable until it expires.
    Active,
    /// Revoked for good.
    Revoked,
}

/// A token as listed (no secret).
#[derive(Debug, Clone, Serialize)]
pub struct Token {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name given by the owner.
    pub name: String,
    /// `sk_...abcd`.
    pub hint: String,
    /// Active or revoked.
    pub status: TokenStatus,
    /// The models this token may call; `None` means any the user may use.
    pub models: Option<Vec<String>>,
    /// Channel groups in failover order; empty means the user group's groups.
    pub channel_groups: Vec<i64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used on the data plane.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Fields of a new token; the caller has already hashed and sealed the key.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// SHA-256 of the key.
    pub key_hash: [u8; 32],
    /// The key sealed with the master key.
    pub key_sealed: Vec<u8>,
    /// `sk_...abcd`.
    pub hint: String,
    /// Allowed models.
    pub models: Option<Vec<String>>,
    /// Channel groups in order.
    pub channel_groups: Vec<i64>,
    /// Expiry (unix ms).
    pub expires_at: Option<i64>,
}

const COLUMNS: &str =
    "id, user_id, name, hint, status, models, created_at, last_used_at, expires_at, revoked_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Token> {
    let models: Option<String> = row.get(5)?;
    let models = models.and_then(|text| serde_json::from_str(&text).ok());
    Ok(Token {
        id: row.get(0)?,
        user_id: row.get(1)?,
        name: row.get(2)?,
        hint: row.get(3)?,
        status: if row.get_ref(4)?.as_str()? == "revoked" {
            TokenStatus::Revoked
        } else {
            TokenStatus::Active
        },
        models,
        channel_groups: Vec::new(),
        created_at: time(row.get(6)?),
        last_used_at: opt_time(row.get(7)?),
        expires_at: opt_time(row.get(8)?),
        revoked_at: opt_time(row.get(9)?),
    })
}

/// Fills in the token's channel groups: its own list, or (when it has none of its own) its
/// user group's, which it follows.
fn with_groups(c: &Conn, mut token: Token) -> Result<Token, StoreError> {
    let own: bool = c
        .prepare_cached("SELECT own_channel_groups FROM tokens WHERE id = ?1")?
        .query_row([token.id], |r| r.get(0))?;
    let mut stmt = if own {
        c.prepare_cached(
            "SELECT channel_group_id FROM token_channel_groups WHERE token_id = ?1 \
             ORDER BY position",
        )?
    } else {
        c.prepare_cached(
            "SELECT g.channel_group_id FROM tokens t JOIN users u ON u.id = t.user_id \
             JOIN user_group_channel_groups g ON g.user_group_id = u.user_group_id \
             WHERE t.id = ?1 ORDER BY g.channel_group_id",
        )?
    };
    token.channel_groups = stmt
        .query_map([token.id], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(token)
}

/// Gives a token its own list of channel groups; an empty list means it follows its user
/// group's again.
fn set_groups(c: &Conn, token_id: i64, groups: &[i64]) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM token_channel_groups WHERE token_id = ?1",
        [token_id],
    )?;
    c.execute(
        "UPDATE tokens SET own_channel_groups = ?2 WHERE id = ?1",
        params![token_id, !groups.is_empty()],
    )?;
    for (position, group) in groups.iter().enumerate() {
        c.execute(
            "INSERT INTO token_channel_groups (token_id, channel_group_id, position) VALUES (?1, ?2, ?3)",
            params![token_id, group, position as i64],
        )?;
    }
    Ok(())
}

/// Inserts a token and returns it.
pub fn insert(c: &Conn, new: &NewToken) -> Result<Token, StoreError> {
    let models = new
        .models
        .as_ref()
        .map(|m| serde_json::Value::from(m.clone()).to_string());
    c.execute(
        "INSERT INTO tokens (user_id, name, key_hash, key_sealed, hint, models, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![new.user_id, new.name, &new.key_hash[..], new.key_sealed, new.hint, models, now_ms(), new.expires_at],
    )?;
    let id = c.last_insert_rowid();
    set_groups(c, id, &new.channel_groups)?;
    get(c, id)
}

/// The token with this id.
pub fn get(c: &Conn, id: i64) -> Result<Token, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1");
    with_groups(c, c.query_row(&sql, [id], from_row)?)
}

/// The token with this id if `user_id` owns it; another user's token is "not found".
pub fn get_owned(c: &Conn, id: i64, user_id: i64) -> Result<Token, StoreError> {
    let token = get(c, id)?;
    if token.user_id != user_id {
        return Err(StoreError::NotFound);
    }
    Ok(token)
}

/// The token whose key hashes to `key_hash`.
pub fn find_by_hash(c: &Conn, key_hash: &[u8; 32]) -> Result<Option<Token>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tokens WHERE key_hash = ?1");
    c.query_row(&sql, [&key_hash[..]], from_row)
        .optional()?
        .map(|t| with_groups(c, t))
        .transpose()
}

/// A user's tokens by ascending id, after `cursor`.
pub fn list_for_user(
    c: &Conn,
    user_id: i64,
    cursor: Option<i64>,
    limit: usize,
) -> Result<Page<Token>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM tokens WHERE user_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt
        .query_map(
            params![user_id, cursor.unwrap_or(0), limit as i64 + 1],
            from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let rows = rows
        .into_iter()
        .map(|t| with_groups(c, t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(rows, limit, |t| t.id))
}

/// The sealed key of a token, for reveal.
pub fn sealed_key(c: &Conn, id: i64) -> Result<Vec<u8>, StoreError> {
    Ok(
        c.query_row("SELECT key_sealed FROM tokens WHERE id = ?1", [id], |r| {
            r.get(0)
        })?,
    )
}

/// Replaces the key of a token (rotate).
pub fn replace_key(
    c: &Conn,
    id: i64,
    key_hash: &[u8; 32],
    key_sealed: &[u8],
    hint: &str,
) -> Result<(), StoreError> {
    let changed = c.execute(
        "UPDATE tokens SET key_hash = ?2, key_sealed = ?3, hint = ?4 WHERE id = ?1",
        params![id, &key_hash[..], key_sealed, hint],
    )?;
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Changes a token's name, model allow-list, expiry and group order.
pub fn update(
    c: &Conn,
    id: i64,
    name: Option<&str>,
    models: Option<Option<Vec<String>>>,
    expires_at: Option<Option<i64>>,
    channel_groups: Option<&[i64]>,
) -> Result<Token, StoreError> {
    let current = get(c, id)?;
    let name = name.unwrap_or(&current.name);
    let models = models.unwrap_or(current.models);
    let models = models.map(|m| serde_json::Value::from(m).to_string());
    let expires_at = expires_at.unwrap_or(current.expires_at.map(|t| t.timestamp_millis()));
    c.execute(
        "UPDATE tokens SET name = ?2, models = ?3, expires_at = ?4 WHERE id = ?1",
        params![id, name, models, expires_at],
    )?;
    if let Some(groups) = channel_groups {
        set_groups(c, id, groups)?;
    }
    get(c, id)
}

/// Revokes a token; revoking twice is harmless.
pub fn revoke(c: &Conn, id: i64) -> Result<Token, StoreError> {
    c.execute(
        "UPDATE tokens SET status = 'revoked', revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
        params![id, now_ms()],
    )?;
    get(c, id)
}

/// Marks a token as used now.
pub fn touch(c: &Conn, id: i64, at: i64) -> Result<(), StoreError> {
    // cached: the usage recorder runs this in every batch
    c.prepare_cached("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1")?
        .execute(params![id, at])?;
    Ok(())
}

/// Deletes a token.
pub fn delete(c: &Conn, id: i64) -> Result<(), StoreError> {
    if c.execute("DELETE FROM tokens WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
