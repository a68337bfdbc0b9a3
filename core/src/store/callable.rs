//! What one user may call: the channel groups their user group allows (with nested groups
//! expanded, as the routing table does) and the enabled models bound to an enabled channel in
//! one of those groups. Read-only queries for the console's user pages.

use rusqlite::params;

use super::channel_groups::{self, ChannelGroup};
use super::models::{self, Model};
use super::{Conn, StoreError, user_groups, users};

/// The channel groups a user may route through: the ones their user group allows and every
/// group nested under those. The recursive CTE stops on loops because `UNION` drops repeats.
const ALLOWED_GROUPS: &str = "WITH RECURSIVE allowed(id) AS ( \
        SELECT ugc.channel_group_id FROM user_group_channel_groups ugc \
        JOIN users u ON u.user_group_id = ugc.user_group_id WHERE u.id = ?1 \
        UNION SELECT g.id FROM channel_groups g JOIN allowed a ON g.parent_id = a.id)";

/// The ids of the channel groups `user_id` may use (directly allowed or nested), ascending.
pub fn allowed_group_ids(c: &Conn, user_id: i64) -> Result<Vec<i64>, StoreError> {
    let sql = format!("{ALLOWED_GROUPS} SELECT id FROM allowed ORDER BY id");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![user_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<i64>, _>>()?)
}

/// The channel groups a token of `user_id` may list in its group order: the ones the user's
/// group allows directly (nested groups come along through their parent), ascending by id.
pub fn token_groups(c: &Conn, user_id: i64) -> Result<Vec<ChannelGroup>, StoreError> {
    let user = users::get(c, user_id)?;
    user_groups::allowed_channel_groups(c, user.user_group_id)?
        .into_iter()
        .map(|id| channel_groups::get(c, id))
        .collect()
}

/// The enabled models `user_id` can call: bound (binding enabled) to at least one enabled
/// channel that belongs to a group the user may use. Sorted by public id.
pub fn models_for_user(c: &Conn, user_id: i64) -> Result<Vec<Model>, StoreError> {
    let sql = format!(
        "{ALLOWED_GROUPS} SELECT DISTINCT m.id, m.public_id FROM models m \
         JOIN channel_models cm ON cm.model_id = m.id AND cm.enabled = 1 \
         JOIN channels ch ON ch.id = cm.channel_id AND ch.status = 'enabled' \
         JOIN channel_group_members mem ON mem.channel_id = ch.id \
         JOIN allowed a ON a.id = mem.channel_group_id \
         WHERE m.enabled = 1 ORDER BY m.public_id"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let ids = stmt
        .query_map(params![user_id], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    ids.into_iter().map(|id| models::get(c, id)).collect()
}
