//! The `login_failures` table: failed sign-ins by account and by IP, counted in a sliding window.
//! Kept in the database so several instances sharing it throttle together.

use rusqlite::params;

use super::{Conn, StoreError};

/// Records one failed login at `now_ms`.
pub fn insert(c: &Conn, login: &str, ip: &str, now_ms: i64) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO login_failures (time, login, ip) VALUES (?1, ?2, ?3)",
        params![now_ms, login.to_lowercase(), ip],
    )?;
    Ok(())
}

/// How many failures a window holds and when the oldest of them happened (unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCount {
    /// Failures in the window.
    pub count: u32,
    /// Time of the oldest one.
    pub oldest: Option<i64>,
}

/// Failures since `since_ms` for this login and for this IP.
pub fn recent(
    c: &Conn,
    login: &str,
    ip: &str,
    since_ms: i64,
) -> Result<(FailureCount, FailureCount), StoreError> {
    let by_login = c.query_row(
        "SELECT COUNT(*), MIN(time) FROM login_failures WHERE login = ?1 AND time >= ?2",
        params![login.to_lowercase(), since_ms],
        |r| {
            Ok(FailureCount {
                count: r.get(0)?,
                oldest: r.get(1)?,
            })
        },
    )?;
    let by_ip = c.query_row(
        "SELECT COUNT(*), MIN(time) FROM login_failures WHERE ip = ?1 AND time >= ?2",
        params![ip, since_ms],
        |r| {
            Ok(FailureCount {
                count: r.get(0)?,
                oldest: r.get(1)?,
            })
        },
    )?;
    Ok((by_login, by_ip))
}

/// Forgets the failures of a login after it signed in successfully.
pub fn clear_login(c: &Conn, login: &str) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM login_failures WHERE login = ?1",
        [login.to_lowercase()],
    )?;
    Ok(())
}

/// Drops rows older than `before_ms`; called on each failure so the table stays small.
pub fn prune(c: &Conn, before_ms: i64) -> Result<(), StoreError> {
    c.execute("DELETE FROM login_failures WHERE time < ?1", [before_ms])?;
    Ok(())
}
