//! The `audit_events` table: who changed what in the console, for later review.

use rusqlite::params;

use super::{Conn, StoreError, now_ms};

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user.
    User(i64),
    /// The `REALMS_ADMIN_API_KEY`.
    AdminKey,
    /// Realms itself (bootstrap, background work).
    System,
}

/// One audit record to write.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    /// Who.
    pub actor: Actor,
    /// What, as `resource.verb` (e.g. `channel.create`).
    pub action: &'a str,
    /// The kind of object acted on (e.g. `channel`).
    pub target_kind: &'a str,
    /// Its id, if it has one.
    pub target_id: Option<i64>,
    /// Extra facts as JSON; never secrets.
    pub detail: serde_json::Value,
    /// The caller's address.
    pub ip: Option<&'a str>,
}

/// Writes one audit record.
pub fn insert(c: &Conn, event: &AuditEvent<'_>) -> Result<(), StoreError> {
    let (kind, id) = match event.actor {
        Actor::User(id) => ("user", Some(id)),
        Actor::AdminKey => ("admin_key", None),
        Actor::System => ("system", None),
    };
    c.execute(
        "INSERT INTO audit_events (time, actor_kind, actor_id, action, target_kind, target_id, detail, ip) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![now_ms(), kind, id, event.action, event.target_kind, event.target_id, event.detail.to_string(), event.ip],
    )?;
    Ok(())
}

/// Number of audit records with this action; for tests and the admin overview.
pub fn count_action(c: &Conn, action: &str) -> Result<i64, StoreError> {
    Ok(c.query_row(
        "SELECT COUNT(*) FROM audit_events WHERE action = ?1",
        [action],
        |r| r.get(0),
    )?)
}
