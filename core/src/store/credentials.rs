//! The `credentials` table: a channel's API keys, sealed with the master key. Sealing and opening
//! happen outside the store (with the `Sealer`); rows here carry only ciphertext and a hint.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};
use serde::Serialize;

use super::channels::Status;
use super::row::time;
use super::{Conn, StoreError, now_ms};

/// A credential as listed: never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct Credential {
    /// Id.
    pub id: i64,
    /// The channel it belongs to.
    pub channel_id: i64,
    /// A label chosen by the admin (may be empty).
    pub name: String,
    /// `sk...abcd`.
    pub hint: String,
    /// Enabled or disabled.
    pub status: Status,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A credential's sealed secret, for the relay to open with the `Sealer`.
#[derive(Debug, Clone)]
pub struct SealedCredential {
    /// Id.
    pub id: i64,
    /// Enabled or disabled.
    pub status: Status,
    /// The secret sealed with the master key.
    pub sealed: Vec<u8>,
}

/// Fields of a new credential; the caller sealed the secret.
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// The channel.
    pub channel_id: i64,
    /// Label.
    pub name: String,
    /// The secret sealed with the master key.
    pub secret_sealed: Vec<u8>,
    /// `sk...abcd`.
    pub hint: String,
}

/// Changes to a credential; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CredentialPatch {
    /// New label.
    pub name: Option<String>,
    /// New status.
    pub status: Option<Status>,
}

const COLUMNS: &str = "id, channel_id, name, hint, status, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Credential> {
    Ok(Credential {
        id: row.get(0)?,
        channel_id: row.get(1)?,
        name: row.get(2)?,
        hint: row.get(3)?,
        status: Status::parse(row.get_ref(4)?.as_str()?),
        created_at: time(row.get(5)?),
        updated_at: time(row.get(6)?),
    })
}

/// Inserts a credential and returns it.
pub fn insert(c: &Conn, new: &NewCredential) -> Result<Credential, StoreError> {
    let mut stmt = c.prepare_cached(
        "INSERT INTO credentials (channel_id, name, secret_sealed, hint, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?;
    stmt.execute(params![
        new.channel_id,
        new.name,
        new.secret_sealed,
        new.hint,
        now_ms()
    ])?;
    get(c, new.channel_id, c.last_insert_rowid())
}

/// The credential `id` of channel `channel_id`; `NotFound` if it belongs to another channel.
pub fn get(c: &Conn, channel_id: i64, id: i64) -> Result<Credential, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM credentials WHERE id = ?1 AND channel_id = ?2");
    Ok(c.query_row(&sql, [id, channel_id], from_row)?)
}

/// A channel's credentials by id.
pub fn list_for_channel(c: &Conn, channel_id: i64) -> Result<Vec<Credential>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM credentials WHERE channel_id = ?1 ORDER BY id");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map([channel_id], from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A channel's sealed secrets by id, for the relay; open each with `Sealer::open_str`.
pub fn list_sealed_for_channel(
    c: &Conn,
    channel_id: i64,
) -> Result<Vec<SealedCredential>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, status, secret_sealed FROM credentials WHERE channel_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([channel_id], |r| {
        Ok(SealedCredential {
            id: r.get(0)?,
            status: Status::parse(r.get_ref(1)?.as_str()?),
            sealed: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Applies a patch to a channel's credential and returns it.
pub fn update(
    c: &Conn,
    channel_id: i64,
    id: i64,
    patch: &CredentialPatch,
) -> Result<Credential, StoreError> {
    let changed = c.execute(
        "UPDATE credentials SET name = COALESCE(?3, name), status = COALESCE(?4, status), \
         updated_at = ?5 WHERE id = ?1 AND channel_id = ?2",
        params![
            id,
            channel_id,
            patch.name,
            patch.status.map(Status::as_str),
            now_ms()
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    get(c, channel_id, id)
}

/// Deletes a channel's credential.
pub fn delete(c: &Conn, channel_id: i64, id: i64) -> Result<(), StoreError> {
    let removed = c.execute(
        "DELETE FROM credentials WHERE id = ?1 AND channel_id = ?2",
        [id, channel_id],
    )?;
    if removed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Sealer;
    use crate::store::Store;
    use crate::store::channels::{self, ChannelKind, NewChannel};

    fn channel(c: &Conn, name: &str) -> Result<i64, StoreError> {
        let ch = channels::insert(
            c,
            &NewChannel {
                kind: ChannelKind::Anthropic,
                name: name.into(),
                base_url: "https://api.anthropic.com".into(),
                status: Status::Enabled,
                priority: 0,
                weight: 1,
                promoted: false,
                settings: serde_json::json!({}),
            },
        )?;
        Ok(ch.id)
    }

    #[tokio::test]
    async fn sealed_secrets_open_with_the_sealer_and_stay_per_channel() {
        let store = Store::open_in_memory().expect("store");
        let sealer = Sealer::random().expect("key");
        let sealed = sealer.seal_str("sk-ant-secret-1234").expect("seal");
        let (a, b, cred) = store
            .write(move |tx| {
                let a = channel(tx, "a")?;
                let b = channel(tx, "b")?;
                let cred = insert(
                    tx,
                    &NewCredential {
                        channel_id: a,
                        name: "'; DELETE FROM credentials; --".into(),
                        secret_sealed: sealed,
                        hint: "sk...1234".into(),
                    },
                )?;
                Ok((a, b, cred.id))
            })
            .await
            .expect("seed");
        let secrets = store
            .read(move |c| list_sealed_for_channel(c, a))
            .await
            .expect("sealed");
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].status, Status::Enabled);
        assert_eq!(
            sealer.open_str(&secrets[0].sealed).expect("open"),
            "sk-ant-secret-1234"
        );
        let other = store
            .read(move |c| get(c, b, cred))
            .await
            .expect_err("other");
        assert!(matches!(other, StoreError::NotFound));
        let other = store
            .write(move |tx| delete(tx, b, cred))
            .await
            .expect_err("other channel");
        assert!(matches!(other, StoreError::NotFound));
        let listed = store
            .read(move |c| list_for_channel(c, a))
            .await
            .expect("list");
        assert_eq!(listed[0].name, "'; DELETE FROM credentials; --");
    }

    #[tokio::test]
    async fn update_changes_only_what_is_given() {
        let store = Store::open_in_memory().expect("store");
        let cred = store
            .write(|tx| {
                let a = channel(tx, "a")?;
                let cred = insert(
                    tx,
                    &NewCredential {
                        channel_id: a,
                        name: "first".into(),
                        secret_sealed: vec![1, 2, 3],
                        hint: "sk...0000".into(),
                    },
                )?;
                update(
                    tx,
                    a,
                    cred.id,
                    &CredentialPatch {
                        status: Some(Status::Disabled),
                        ..CredentialPatch::default()
                    },
                )
            })
            .await
            .expect("update");
        assert_eq!(cred.status, Status::Disabled);
        assert_eq!(cred.name, "first");
    }
}
