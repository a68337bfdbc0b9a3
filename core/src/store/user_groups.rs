//! The `user_groups` table and `user_group_channel_groups`: which channel groups a user may use.

use super::{Conn, StoreError};

/// The channel groups a user group allows, in id order.
pub fn allowed_channel_groups(c: &Conn, user_group_id: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT channel_group_id FROM user_group_channel_groups WHERE user_group_id = ?1 \
         ORDER BY channel_group_id",
    )?;
    let rows = stmt.query_map([user_group_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<i64>, _>>()?)
}
