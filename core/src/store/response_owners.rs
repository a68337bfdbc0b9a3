//! The `response_owners` table: who created each Responses object and which channel and
//! credential hold it, so follow-up calls are checked and routed.

use rusqlite::{OptionalExtension, params};

use super::{Conn, StoreError, now_ms};

/// Where a Responses object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseOwner {
    /// The user who created it.
    pub user_id: i64,
    /// The channel that served it.
    pub channel_id: i64,
    /// The credential that served it.
    pub credential_id: i64,
}

/// Records (or re-records) an owner.
pub fn insert(c: &Conn, response_id: &str, owner: &ResponseOwner) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO response_owners (response_id, user_id, channel_id, credential_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (response_id) DO NOTHING",
    )?
    .execute(params![
        response_id,
        owner.user_id,
        owner.channel_id,
        owner.credential_id,
        now_ms()
    ])?;
    Ok(())
}

/// The owner of a response id.
pub fn get(c: &Conn, response_id: &str) -> Result<Option<ResponseOwner>, StoreError> {
    Ok(c.query_row(
        "SELECT user_id, channel_id, credential_id FROM response_owners WHERE response_id = ?1",
        [response_id],
        |r| {
            Ok(ResponseOwner {
                user_id: r.get(0)?,
                channel_id: r.get(1)?,
                credential_id: r.get(2)?,
            })
        },
    )
    .optional()?)
}

/// The owners recorded at or after `since` (unix ms), newest first, at most `limit`: with the
/// time each was recorded.
pub fn recent(
    c: &Conn,
    since: i64,
    limit: usize,
) -> Result<Vec<(String, ResponseOwner, i64)>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT response_id, user_id, channel_id, credential_id, created_at FROM response_owners \
         WHERE created_at >= ?1 ORDER BY created_at DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![since, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| {
            Ok((
                r.get(0)?,
                ResponseOwner {
                    user_id: r.get(1)?,
                    channel_id: r.get(2)?,
                    credential_id: r.get(3)?,
                },
                r.get(4)?,
            ))
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn owners_round_trip_and_first_write_wins() {
        let store = Store::open_in_memory().expect("store");
        let owner = ResponseOwner {
            user_id: 1,
            channel_id: 2,
            credential_id: 3,
        };
        store
            .write(move |tx| {
                insert(tx, "resp_1", &owner)?;
                insert(
                    tx,
                    "resp_1",
                    &ResponseOwner {
                        user_id: 9,
                        channel_id: 9,
                        credential_id: 9,
                    },
                )
            })
            .await
            .expect("insert");
        assert_eq!(
            store.read(|c| get(c, "resp_1")).await.expect("get"),
            Some(owner)
        );
        assert_eq!(
            store.read(|c| get(c, "' OR 1=1 --")).await.expect("get"),
            None
        );
    }
}
