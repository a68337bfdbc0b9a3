//! The `sessions` table: console sign-ins, stored by the SHA-256 of the cookie value.

use rusqlite::{OptionalExtension, params};

use super::{Conn, StoreError, now_ms};

/// A live session as the auth layer needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRef {
    /// Session id.
    pub id: i64,
    /// Whose.
    pub user_id: i64,
    /// When it stops working (unix ms).
    pub expires_at: i64,
}

/// Stores a new session.
pub fn insert(
    c: &Conn,
    secret_hash: &[u8; 32],
    user_id: i64,
    expires_at: i64,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<i64, StoreError> {
    c.execute(
        "INSERT INTO sessions (secret_hash, user_id, created_at, expires_at, ip, user_agent) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            &secret_hash[..],
            user_id,
            now_ms(),
            expires_at,
            ip,
            user_agent
        ],
    )?;
    Ok(c.last_insert_rowid())
}

/// The unexpired session with this secret hash.
pub fn find_live(
    c: &Conn,
    secret_hash: &[u8; 32],
    now: i64,
) -> Result<Option<SessionRef>, StoreError> {
    Ok(c.query_row(
        "SELECT id, user_id, expires_at FROM sessions WHERE secret_hash = ?1 AND expires_at > ?2",
        params![&secret_hash[..], now],
        |r| {
            Ok(SessionRef {
                id: r.get(0)?,
                user_id: r.get(1)?,
                expires_at: r.get(2)?,
            })
        },
    )
    .optional()?)
}

/// Ends one session.
pub fn delete(c: &Conn, id: i64) -> Result<(), StoreError> {
    c.execute("DELETE FROM sessions WHERE id = ?1", [id])?;
    Ok(())
}

/// Ends every session of a user except `keep` (the one that changed the password, if any).
pub fn delete_for_user(c: &Conn, user_id: i64, keep: Option<i64>) -> Result<usize, StoreError> {
    Ok(c.execute(
        "DELETE FROM sessions WHERE user_id = ?1 AND id IS NOT ?2",
        params![user_id, keep],
    )?)
}

/// Drops expired sessions.
pub fn prune(c: &Conn, now: i64) -> Result<usize, StoreError> {
    Ok(c.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?)
}
