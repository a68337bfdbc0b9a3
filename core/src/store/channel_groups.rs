//! The `channel_groups` table and its membership table `channel_group_members`: named sets of
//! channels with a price multiplier, nested through `parent_id`. Which users may use a group is
//! decided in `user_groups`, not here.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use rust_decimal::Decimal;
use serde::Serialize;

use super::row::{decimal, decode_err, time};
use super::{Conn, Page, StoreError, now_ms};

/// The `default` group created by the first migration; every new channel joins it unless told
/// otherwise, and it can never be deleted.
pub const DEFAULT_GROUP_ID: i64 = 1;

/// A channel group.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelGroup {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Free text for the console.
    pub description: String,
    /// The enclosing group, if nested.
    pub parent_id: Option<i64>,
    /// Multiplies the price of every request this group serves.
    #[serde(with = "rust_decimal::serde::str")]
    pub price_multiplier: Decimal,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A group as another object names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupRef {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// Fields of a new channel group.
#[derive(Debug, Clone)]
pub struct NewChannelGroup {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The enclosing group.
    pub parent_id: Option<i64>,
    /// Price multiplier, greater than zero.
    pub price_multiplier: Decimal,
}

/// Changes to a group; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ChannelGroupPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// `Some(None)` makes the group top-level.
    pub parent_id: Option<Option<i64>>,
    /// New multiplier.
    pub price_multiplier: Option<Decimal>,
}

const COLUMNS: &str = "id, name, description, parent_id, price_multiplier, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<ChannelGroup> {
    Ok(ChannelGroup {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        parent_id: row.get(3)?,
        price_multiplier: decimal(row.get_ref(4)?.as_str()?).map_err(|e| decode_err(4, e))?,
        created_at: time(row.get(5)?),
        updated_at: time(row.get(6)?),
    })
}

/// The group with this id.
pub fn get(c: &Conn, id: i64) -> Result<ChannelGroup, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM channel_groups WHERE id = ?1");
    Ok(c.query_row(&sql, [id], from_row)?)
}

/// The group with this exact name.
pub fn find_by_name(c: &Conn, name: &str) -> Result<Option<ChannelGroup>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM channel_groups WHERE name = ?1");
    Ok(c.query_row(&sql, [name], from_row).optional()?)
}

/// Whether a group with this id exists.
pub fn exists(c: &Conn, id: i64) -> Result<bool, StoreError> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM channel_groups WHERE id = ?1)",
        [id],
        |r| r.get(0),
    )?)
}

/// Groups by ascending id, after `cursor`.
pub fn list(c: &Conn, cursor: Option<i64>, limit: usize) -> Result<Page<ChannelGroup>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM channel_groups WHERE id > ?1 ORDER BY id LIMIT ?2");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![cursor.unwrap_or(0), limit as i64 + 1], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(rows, limit, |g| g.id))
}

/// Inserts a group and returns it.
pub fn insert(c: &Conn, new: &NewChannelGroup) -> Result<ChannelGroup, StoreError> {
    c.execute(
        "INSERT INTO channel_groups (name, description, parent_id, price_multiplier, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![
            new.name,
            new.description,
            new.parent_id,
            new.price_multiplier.normalize().to_string(),
            now_ms()
        ],
    )?;
    get(c, c.last_insert_rowid())
}

/// Applies a patch and returns the updated group. The caller checks for cycles first
/// ([`would_cycle`]).
pub fn update(c: &Conn, id: i64, patch: &ChannelGroupPatch) -> Result<ChannelGroup, StoreError> {
    let (set_parent, parent) = match patch.parent_id {
        Some(parent) => (true, parent),
        None => (false, None),
    };
    let changed = c.execute(
        "UPDATE channel_groups SET name = COALESCE(?2, name), \
         description = COALESCE(?3, description), \
         parent_id = CASE WHEN ?4 THEN ?5 ELSE parent_id END, \
         price_multiplier = COALESCE(?6, price_multiplier), updated_at = ?7 WHERE id = ?1",
        params![
            id,
            patch.name,
            patch.description,
            set_parent,
            parent,
            patch.price_multiplier.map(|m| m.normalize().to_string()),
            now_ms()
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    get(c, id)
}

/// Whether making `parent_id` the parent of `id` would close a loop: true when `id` is
/// `parent_id` itself or one of its ancestors.
pub fn would_cycle(c: &Conn, id: i64, parent_id: i64) -> Result<bool, StoreError> {
    // `UNION` (not `UNION ALL`) stops the walk even if a loop were already stored.
    Ok(c.query_row(
        "WITH RECURSIVE up(id) AS (SELECT ?1 UNION SELECT g.parent_id FROM channel_groups g \
         JOIN up ON g.id = up.id WHERE g.parent_id IS NOT NULL) \
         SELECT EXISTS (SELECT 1 FROM up WHERE id = ?2)",
        params![parent_id, id],
        |r| r.get(0),
    )?)
}

/// Whether any group names this one as its parent.
pub fn has_children(c: &Conn, id: i64) -> Result<bool, StoreError> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM channel_groups WHERE parent_id = ?1)",
        [id],
        |r| r.get(0),
    )?)
}

/// Deletes a group; its memberships and the user groups' and tokens' references to it go with it.
pub fn delete(c: &Conn, id: i64) -> Result<(), StoreError> {
    if c.execute("DELETE FROM channel_groups WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The ids of the channels in a group, ascending.
pub fn member_ids(c: &Conn, group_id: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT channel_id FROM channel_group_members WHERE channel_group_id = ?1 ORDER BY channel_id",
    )?;
    let rows = stmt.query_map([group_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<i64>, _>>()?)
}

/// The groups a channel belongs to, by id.
pub fn groups_of_channel(c: &Conn, channel_id: i64) -> Result<Vec<GroupRef>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT g.id, g.name FROM channel_group_members m JOIN channel_groups g \
         ON g.id = m.channel_group_id WHERE m.channel_id = ?1 ORDER BY g.id",
    )?;
    let rows = stmt.query_map([channel_id], |r| {
        Ok(GroupRef {
            id: r.get(0)?,
            name: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Adds a channel to a group; returns false when it was already a member.
pub fn add_member(c: &Conn, group_id: i64, channel_id: i64) -> Result<bool, StoreError> {
    let added = c.execute(
        "INSERT OR IGNORE INTO channel_group_members (channel_group_id, channel_id) VALUES (?1, ?2)",
        params![group_id, channel_id],
    )?;
    Ok(added > 0)
}

/// Removes a channel from a group; `NotFound` when it was not a member.
pub fn remove_member(c: &Conn, group_id: i64, channel_id: i64) -> Result<(), StoreError> {
    let removed = c.execute(
        "DELETE FROM channel_group_members WHERE channel_group_id = ?1 AND channel_id = ?2",
        params![group_id, channel_id],
    )?;
    if removed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Replaces the groups a channel belongs to.
pub fn set_channel_groups(c: &Conn, channel_id: i64, group_ids: &[i64]) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM channel_group_members WHERE channel_id = ?1",
        [channel_id],
    )?;
    for group_id in group_ids {
        add_member(c, *group_id, channel_id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn new_group(name: &str, parent_id: Option<i64>) -> NewChannelGroup {
        NewChannelGroup {
            name: name.into(),
            description: String::new(),
            parent_id,
            price_multiplier: Decimal::ONE,
        }
    }

    #[tokio::test]
    async fn default_group_exists_and_names_are_unique() {
        let store = Store::open_in_memory().expect("store");
        let default = store
            .read(|c| get(c, DEFAULT_GROUP_ID))
            .await
            .expect("default");
        assert_eq!(default.name, "default");
        let err = store
            .write(|tx| insert(tx, &new_group("default", None)))
            .await
            .expect_err("duplicate");
        assert!(
            matches!(err, StoreError::Conflict(ref w) if w.contains("name")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn cycles_are_detected_through_ancestors() {
        let store = Store::open_in_memory().expect("store");
        let (a, b, c3) = store
            .write(|tx| {
                let a = insert(tx, &new_group("a", None))?;
                let b = insert(tx, &new_group("b", Some(a.id)))?;
                let c3 = insert(tx, &new_group("c", Some(b.id)))?;
                Ok((a.id, b.id, c3.id))
            })
            .await
            .expect("seed");
        let checks = store
            .read(move |c| {
                Ok((
                    would_cycle(c, a, c3)?,
                    would_cycle(c, a, a)?,
                    would_cycle(c, c3, a)?,
                    has_children(c, b)?,
                    has_children(c, c3)?,
                ))
            })
            .await
            .expect("checks");
        assert_eq!(checks, (true, true, false, true, false));
    }

    #[tokio::test]
    async fn update_can_clear_the_parent_and_keeps_other_fields() {
        let store = Store::open_in_memory().expect("store");
        let group = store
            .write(|tx| {
                let parent = insert(tx, &new_group("p", None))?;
                let child = insert(tx, &new_group("child", Some(parent.id)))?;
                update(
                    tx,
                    child.id,
                    &ChannelGroupPatch {
                        parent_id: Some(None),
                        price_multiplier: Some("1.50".parse().expect("decimal")),
                        ..ChannelGroupPatch::default()
                    },
                )
            })
            .await
            .expect("update");
        assert_eq!(group.parent_id, None);
        assert_eq!(group.name, "child");
        assert_eq!(group.price_multiplier.to_string(), "1.5");
    }

    #[tokio::test]
    async fn injection_shaped_name_is_stored_verbatim() {
        let store = Store::open_in_memory().expect("store");
        let name = "x'); DROP TABLE channel_groups; --";
        store
            .write(move |tx| insert(tx, &new_group(name, None)))
            .await
            .expect("insert");
        let found = store
            .read(move |c| find_by_name(c, name))
            .await
            .expect("find");
        assert_eq!(found.map(|g| g.name).as_deref(), Some(name));
        let page = store.read(|c| list(c, None, 10)).await.expect("list");
        assert_eq!(page.items.len(), 2);
    }
}
