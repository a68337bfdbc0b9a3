//! The `channel_models` table: bindings that let a channel serve a catalogue model, optionally
//! under another upstream name. Rows are read joined with the channel's and model's names.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};
use serde::Serialize;

use super::row::time;
use super::{Conn, StoreError, now_ms};

/// A binding of a model to a channel.
#[derive(Debug, Clone, Serialize)]
pub struct Binding {
    /// Id.
    pub id: i64,
    /// The channel.
    pub channel_id: i64,
    /// The channel's name.
    pub channel_name: String,
    /// The model.
    pub model_id: i64,
    /// The model's public id.
    pub public_id: String,
    /// The name sent upstream instead of `public_id`, if different.
    pub upstream_model: Option<String>,
    /// Whether this channel serves the model now.
    pub enabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Changes to a binding; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct BindingPatch {
    /// `Some(None)` sends the public id upstream again.
    pub upstream_model: Option<Option<String>>,
    /// New enabled flag.
    pub enabled: Option<bool>,
}

const SELECT: &str = "SELECT b.id, b.channel_id, ch.name, b.model_id, m.public_id, \
                      b.upstream_model, b.enabled, b.created_at FROM channel_models b \
                      JOIN channels ch ON ch.id = b.channel_id JOIN models m ON m.id = b.model_id";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Binding> {
    Ok(Binding {
        id: row.get(0)?,
        channel_id: row.get(1)?,
        channel_name: row.get(2)?,
        model_id: row.get(3)?,
        public_id: row.get(4)?,
        upstream_model: row.get(5)?,
        enabled: row.get(6)?,
        created_at: time(row.get(7)?),
    })
}

/// Binds a model to a channel; `Conflict` when it is already bound there.
pub fn insert(
    c: &Conn,
    channel_id: i64,
    model_id: i64,
    upstream_model: Option<&str>,
) -> Result<Binding, StoreError> {
    c.execute(
        "INSERT INTO channel_models (channel_id, model_id, upstream_model, created_at) \
         VALUES (?1, ?2, ?3, ?4)",
        params![channel_id, model_id, upstream_model, now_ms()],
    )?;
    get(c, channel_id, c.last_insert_rowid())
}

/// The binding `id` of channel `channel_id`; `NotFound` if it belongs to another channel.
pub fn get(c: &Conn, channel_id: i64, id: i64) -> Result<Binding, StoreError> {
    let sql = format!("{SELECT} WHERE b.id = ?1 AND b.channel_id = ?2");
    Ok(c.query_row(&sql, [id, channel_id], from_row)?)
}

/// A channel's bindings by id.
pub fn list_for_channel(c: &Conn, channel_id: i64) -> Result<Vec<Binding>, StoreError> {
    let sql = format!("{SELECT} WHERE b.channel_id = ?1 ORDER BY b.id");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map([channel_id], from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A model's bindings by id.
pub fn list_for_model(c: &Conn, model_id: i64) -> Result<Vec<Binding>, StoreError> {
    let sql = format!("{SELECT} WHERE b.model_id = ?1 ORDER BY b.id");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map([model_id], from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Applies a patch to a channel's binding and returns it.
pub fn update(
    c: &Conn,
    channel_id: i64,
    id: i64,
    patch: &BindingPatch,
) -> Result<Binding, StoreError> {
    let (set_upstream, upstream) = match &patch.upstream_model {
        Some(value) => (true, value.as_deref()),
        None => (false, None),
    };
    let changed = c.execute(
        "UPDATE channel_models SET upstream_model = CASE WHEN ?3 THEN ?4 ELSE upstream_model END, \
         enabled = COALESCE(?5, enabled) WHERE id = ?1 AND channel_id = ?2",
        params![id, channel_id, set_upstream, upstream, patch.enabled],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    get(c, channel_id, id)
}

/// Deletes a channel's binding.
pub fn delete(c: &Conn, channel_id: i64, id: i64) -> Result<(), StoreError> {
    let removed = c.execute(
        "DELETE FROM channel_models WHERE id = ?1 AND channel_id = ?2",
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
    use crate::store::Store;
    use crate::store::channels::{self, ChannelKind, NewChannel, Status};
    use crate::store::models::{self, NewModel, Prices};

    fn seed(c: &Conn, channel: &str, model: &str) -> Result<(i64, i64), StoreError> {
        let ch = channels::insert(
            c,
            &NewChannel {
                kind: ChannelKind::Gemini,
                name: channel.into(),
                base_url: "https://generativelanguage.googleapis.com".into(),
                status: Status::Enabled,
                priority: 0,
                weight: 1,
                promoted: false,
                settings: serde_json::json!({}),
            },
        )?;
        let m = models::insert(
            c,
            &NewModel {
                public_id: model.into(),
                owned_by: "google".into(),
                description: String::new(),
                prices: Prices::default(),
                enabled: true,
            },
        )?;
        Ok((ch.id, m.id))
    }

    #[tokio::test]
    async fn bind_rename_list_and_refuse_duplicates() {
        let store = Store::open_in_memory().expect("store");
        let (ch, m, binding) = store
            .write(|tx| {
                let (ch, m) = seed(tx, "g", "gemini-pro")?;
                let b = insert(tx, ch, m, Some("models/gemini-1.5-pro"))?;
                Ok((ch, m, b))
            })
            .await
            .expect("seed");
        assert_eq!(binding.channel_name, "g");
        assert_eq!(binding.public_id, "gemini-pro");
        let err = store
            .write(move |tx| insert(tx, ch, m, None))
            .await
            .expect_err("duplicate");
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        let id = binding.id;
        let updated = store
            .write(move |tx| {
                update(
                    tx,
                    ch,
                    id,
                    &BindingPatch {
                        upstream_model: Some(None),
                        enabled: Some(false),
                    },
                )
            })
            .await
            .expect("update");
        assert_eq!(updated.upstream_model, None);
        assert!(!updated.enabled);
        let by_model = store
            .read(move |c| list_for_model(c, m))
            .await
            .expect("list");
        assert_eq!(by_model.len(), 1);
    }

    #[tokio::test]
    async fn another_channels_binding_is_not_found() {
        let store = Store::open_in_memory().expect("store");
        let err = store
            .write(|tx| {
                let (a, m) = seed(tx, "a", "m")?;
                let (b, _) = seed(tx, "b", "'; DROP TABLE models; --")?;
                let binding = insert(tx, a, m, None)?;
                assert!(list_for_channel(tx, b)?.is_empty());
                delete(tx, b, binding.id)
            })
            .await
            .expect_err("not found");
        assert!(matches!(err, StoreError::NotFound));
    }
}
