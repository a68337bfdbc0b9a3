//! The `user_groups` table and `user_group_channel_groups`: which channel groups a user may use.
//! Users point at their group from the `users` table; the groups themselves are defined here.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};
use serde::Serialize;

use super::row::time;
use super::{Conn, Page, StoreError, now_ms};

/// The `default` user group created by the first migration; new users join it and it can never
/// be deleted.
pub const DEFAULT_GROUP_ID: i64 = 1;

/// A user group with the channel groups it allows.
#[derive(Debug, Clone, Serialize)]
pub struct UserGroup {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Free text for the console.
    pub description: String,
    /// The channel groups its users may use, by id.
    pub channel_groups: Vec<i64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Fields of a new user group.
#[derive(Debug, Clone)]
pub struct NewUserGroup {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Allowed channel groups; the caller checked that they exist.
    pub channel_groups: Vec<i64>,
}

/// Changes to a user group; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserGroupPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// Replaces the allowed channel groups.
    pub channel_groups: Option<Vec<i64>>,
}

const COLUMNS: &str = "id, name, description, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<UserGroup> {
    Ok(UserGroup {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        channel_groups: Vec::new(),
        created_at: time(row.get(3)?),
        updated_at: time(row.get(4)?),
    })
}

/// The channel groups a user group allows, in id order.
pub fn allowed_channel_groups(c: &Conn, user_group_id: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT channel_group_id FROM user_group_channel_groups WHERE user_group_id = ?1 \
         ORDER BY channel_group_id",
    )?;
    let rows = stmt.query_map([user_group_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<i64>, _>>()?)
}

/// The user group with this id.
pub fn get(c: &Conn, id: i64) -> Result<UserGroup, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM user_groups WHERE id = ?1");
    let mut group = c.query_row(&sql, [id], from_row)?;
    group.channel_groups = allowed_channel_groups(c, id)?;
    Ok(group)
}

/// User groups by ascending id, after `cursor`.
pub fn list(c: &Conn, cursor: Option<i64>, limit: usize) -> Result<Page<UserGroup>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM user_groups WHERE id > ?1 ORDER BY id LIMIT ?2");
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt
        .query_map(params![cursor.unwrap_or(0), limit as i64 + 1], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    for group in &mut rows {
        group.channel_groups = allowed_channel_groups(c, group.id)?;
    }
    Ok(Page::from_overfetch(rows, limit, |g| g.id))
}

/// Inserts a user group with its allowed channel groups and returns it.
pub fn insert(c: &Conn, new: &NewUserGroup) -> Result<UserGroup, StoreError> {
    c.execute(
        "INSERT INTO user_groups (name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![new.name, new.description, now_ms()],
    )?;
    let id = c.last_insert_rowid();
    set_channel_groups(c, id, &new.channel_groups)?;
    get(c, id)
}

/// Applies a patch and returns the updated group.
pub fn update(c: &Conn, id: i64, patch: &UserGroupPatch) -> Result<UserGroup, StoreError> {
    let changed = c.execute(
        "UPDATE user_groups SET name = COALESCE(?2, name), description = COALESCE(?3, description), \
         updated_at = ?4 WHERE id = ?1",
        params![id, patch.name, patch.description, now_ms()],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    if let Some(groups) = &patch.channel_groups {
        set_channel_groups(c, id, groups)?;
    }
    get(c, id)
}

/// Replaces the channel groups a user group allows.
pub fn set_channel_groups(c: &Conn, id: i64, channel_groups: &[i64]) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM user_group_channel_groups WHERE user_group_id = ?1",
        [id],
    )?;
    let mut stmt = c.prepare_cached(
        "INSERT OR IGNORE INTO user_group_channel_groups (user_group_id, channel_group_id) \
         VALUES (?1, ?2)",
    )?;
    for group_id in channel_groups {
        stmt.execute(params![id, group_id])?;
    }
    Ok(())
}

/// Number of users in a group.
pub fn user_count(c: &Conn, id: i64) -> Result<i64, StoreError> {
    Ok(c.query_row(
        "SELECT COUNT(*) FROM users WHERE user_group_id = ?1",
        [id],
        |r| r.get(0),
    )?)
}

/// Deletes a user group. Users still pointing at it make the database refuse (`Conflict`).
pub fn delete(c: &Conn, id: i64) -> Result<(), StoreError> {
    if c.execute("DELETE FROM user_groups WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::users::{self, NewUser, Role};

    fn new_group(name: &str, channel_groups: Vec<i64>) -> NewUserGroup {
        NewUserGroup {
            name: name.into(),
            description: "d".into(),
            channel_groups,
        }
    }

    #[tokio::test]
    async fn default_group_allows_the_default_channel_group() {
        let store = Store::open_in_memory().expect("store");
        let group = store.read(|c| get(c, DEFAULT_GROUP_ID)).await.expect("get");
        assert_eq!(group.channel_groups, vec![1]);
    }

    #[tokio::test]
    async fn channel_groups_are_replaced_not_merged() {
        let store = Store::open_in_memory().expect("store");
        let group = store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO channel_groups (id, name, created_at, updated_at) VALUES (7, 'x', 0, 0)",
                    [],
                )?;
                let g = insert(tx, &new_group("team", vec![1, 7, 7]))?;
                update(
                    tx,
                    g.id,
                    &UserGroupPatch {
                        channel_groups: Some(vec![7]),
                        ..UserGroupPatch::default()
                    },
                )
            })
            .await
            .expect("write");
        assert_eq!(group.channel_groups, vec![7]);
        assert_eq!(group.description, "d");
    }

    #[tokio::test]
    async fn a_group_with_users_cannot_be_deleted() {
        let store = Store::open_in_memory().expect("store");
        let err = store
            .write(|tx| {
                let g = insert(tx, &new_group("' OR 1=1 --", vec![]))?;
                users::insert(
                    tx,
                    &NewUser {
                        username: "ann".into(),
                        email: "ann@example.test".into(),
                        password_hash: "h".into(),
                        role: Role::User,
                        user_group_id: Some(g.id),
                    },
                )?;
                assert_eq!(user_count(tx, g.id)?, 1);
                delete(tx, g.id)
            })
            .await
            .expect_err("refused");
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        let page = store.read(|c| list(c, None, 10)).await.expect("list");
        assert_eq!(page.items.len(), 1, "the failed write rolled back");
    }
}
