//! The `channels` table: one upstream each (a kind, a `base_url`, settings). Its credentials,
//! model bindings and group memberships live in their own table modules.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::row::{decode_err, time};
use super::{Conn, Page, StoreError, now_ms};

/// What an upstream speaks and how Realms authenticates to it. Serialized as the API's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// OpenAI or any server speaking its API, with API keys.
    OpenaiCompatible,
    /// Anthropic Messages, with API keys.
    Anthropic,
    /// Google Gemini, with API keys.
    Gemini,
    /// The ChatGPT Codex backend, with OAuth accounts.
    CodexOauth,
}

impl ChannelKind {
    /// The stored and API text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenaiCompatible => "openai_compatible",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::CodexOauth => "codex_oauth",
        }
    }

    /// Parses the stored text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "openai_compatible" => Some(Self::OpenaiCompatible),
            "anthropic" => Some(Self::Anthropic),
            "gemini" => Some(Self::Gemini),
            "codex_oauth" => Some(Self::CodexOauth),
            _ => None,
        }
    }

    /// The vendor's documented root, used when a channel is created without a `base_url`.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Self::OpenaiCompatible => "https://api.openai.com",
            Self::Anthropic => "https://api.anthropic.com",
            Self::Gemini => "https://generativelanguage.googleapis.com",
            Self::CodexOauth => "https://chatgpt.com/backend-api/codex",
        }
    }
}

/// Whether a channel or credential takes traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Takes traffic.
    Enabled,
    /// Kept, but never selected.
    Disabled,
}

impl Status {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }

    /// Parses the stored text; anything unknown counts as disabled, the safe side.
    pub fn parse(text: &str) -> Self {
        if text == "enabled" {
            Self::Enabled
        } else {
            Self::Disabled
        }
    }
}

/// A channel row.
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    /// Id.
    pub id: i64,
    /// Kind (`type` in the API).
    pub kind: ChannelKind,
    /// Unique name.
    pub name: String,
    /// The upstream's root, without a trailing `/`.
    pub base_url: String,
    /// Enabled or disabled.
    pub status: Status,
    /// Higher goes first.
    pub priority: i64,
    /// Share of traffic among channels of equal priority.
    pub weight: i64,
    /// Promoted channels go before all others.
    pub promoted: bool,
    /// Request shaping and other per-channel settings, a JSON object.
    pub settings: serde_json::Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Fields of a new channel; the caller validated them.
#[derive(Debug, Clone)]
pub struct NewChannel {
    /// Kind.
    pub kind: ChannelKind,
    /// Unique name.
    pub name: String,
    /// Normalised root URL.
    pub base_url: String,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority: i64,
    /// Weight, at least 0.
    pub weight: i64,
    /// Promoted.
    pub promoted: bool,
    /// A JSON object.
    pub settings: serde_json::Value,
}

/// Changes to a channel; `None` leaves a field as it is. The kind never changes.
#[derive(Debug, Clone, Default)]
pub struct ChannelPatch {
    /// New name.
    pub name: Option<String>,
    /// New root URL.
    pub base_url: Option<String>,
    /// New status.
    pub status: Option<Status>,
    /// New priority.
    pub priority: Option<i64>,
    /// New weight.
    pub weight: Option<i64>,
    /// New promoted flag.
    pub promoted: Option<bool>,
    /// Replaces the settings object.
    pub settings: Option<serde_json::Value>,
}

const COLUMNS: &str = "id, kind, name, base_url, status, priority, weight, promoted, settings, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Channel> {
    let kind_text = row.get_ref(1)?.as_str()?;
    let kind = ChannelKind::parse(kind_text).ok_or_else(|| {
        decode_err(
            1,
            StoreError::Corrupt(format!("channel kind `{kind_text}`")),
        )
    })?;
    let settings = serde_json::from_str(row.get_ref(8)?.as_str()?)
        .map_err(|e| decode_err(8, StoreError::Corrupt(format!("channel settings: {e}"))))?;
    Ok(Channel {
        id: row.get(0)?,
        kind,
        name: row.get(2)?,
        base_url: row.get(3)?,
        status: Status::parse(row.get_ref(4)?.as_str()?),
        priority: row.get(5)?,
        weight: row.get(6)?,
        promoted: row.get(7)?,
        settings,
        created_at: time(row.get(9)?),
        updated_at: time(row.get(10)?),
    })
}

/// The channel with this id.
pub fn get(c: &Conn, id: i64) -> Result<Channel, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE id = ?1");
    Ok(c.query_row(&sql, [id], from_row)?)
}

/// The channel with this exact name.
pub fn find_by_name(c: &Conn, name: &str) -> Result<Option<Channel>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE name = ?1");
    Ok(c.query_row(&sql, [name], from_row).optional()?)
}

/// Whether a channel with this id exists.
pub fn exists(c: &Conn, id: i64) -> Result<bool, StoreError> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM channels WHERE id = ?1)",
        [id],
        |r| r.get(0),
    )?)
}

/// Channels by ascending id, after `cursor`.
pub fn list(c: &Conn, cursor: Option<i64>, limit: usize) -> Result<Page<Channel>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE id > ?1 ORDER BY id LIMIT ?2");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![cursor.unwrap_or(0), limit as i64 + 1], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(rows, limit, |ch| ch.id))
}

/// Inserts a channel and returns it.
pub fn insert(c: &Conn, new: &NewChannel) -> Result<Channel, StoreError> {
    c.execute(
        "INSERT INTO channels (kind, name, base_url, status, priority, weight, promoted, settings, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        params![
            new.kind.as_str(),
            new.name,
            new.base_url,
            new.status.as_str(),
            new.priority,
            new.weight,
            new.promoted,
            new.settings.to_string(),
            now_ms()
        ],
    )?;
    get(c, c.last_insert_rowid())
}

/// Applies a patch and returns the updated channel.
pub fn update(c: &Conn, id: i64, patch: &ChannelPatch) -> Result<Channel, StoreError> {
    let changed = c.execute(
        "UPDATE channels SET name = COALESCE(?2, name), base_url = COALESCE(?3, base_url), \
         status = COALESCE(?4, status), priority = COALESCE(?5, priority), \
         weight = COALESCE(?6, weight), promoted = COALESCE(?7, promoted), \
         settings = COALESCE(?8, settings), updated_at = ?9 WHERE id = ?1",
        params![
            id,
            patch.name,
            patch.base_url,
            patch.status.map(Status::as_str),
            patch.priority,
            patch.weight,
            patch.promoted,
            patch.settings.as_ref().map(serde_json::Value::to_string),
            now_ms()
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    get(c, id)
}

/// Rewrites every channel's settings that `rewrite` changes (it returns whether it did); the
/// number of channels rewritten. `updated_at` is left alone: nothing an admin set changed.
pub fn rewrite_settings(
    c: &Conn,
    mut rewrite: impl FnMut(&mut serde_json::Value) -> bool,
) -> Result<usize, StoreError> {
    let rows: Vec<(i64, String)> = {
        let mut stmt = c.prepare("SELECT id, settings FROM channels ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut rewritten = 0;
    for (id, text) in rows {
        let Ok(mut settings) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if rewrite(&mut settings) {
            c.execute(
                "UPDATE channels SET settings = ?2 WHERE id = ?1",
                params![id, settings.to_string()],
            )?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// Deletes a channel with its credentials, bindings and memberships.
pub fn delete(c: &Conn, id: i64) -> Result<(), StoreError> {
    if c.execute("DELETE FROM channels WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use serde_json::json;

    fn new_channel(name: &str) -> NewChannel {
        NewChannel {
            kind: ChannelKind::OpenaiCompatible,
            name: name.into(),
            base_url: "https://api.example.test".into(),
            status: Status::Enabled,
            priority: 0,
            weight: 1,
            promoted: false,
            settings: json!({}),
        }
    }

    #[tokio::test]
    async fn insert_get_update_delete_round_trip() {
        let store = Store::open_in_memory().expect("store");
        let channel = store
            .write(|tx| {
                let mut new = new_channel("main");
                new.settings = json!({ "system_prompt": "be brief" });
                insert(tx, &new)
            })
            .await
            .expect("insert");
        assert_eq!(channel.kind, ChannelKind::OpenaiCompatible);
        assert_eq!(channel.settings["system_prompt"], "be brief");
        let id = channel.id;
        let updated = store
            .write(move |tx| {
                update(
                    tx,
                    id,
                    &ChannelPatch {
                        weight: Some(5),
                        promoted: Some(true),
                        ..ChannelPatch::default()
                    },
                )
            })
            .await
            .expect("update");
        assert_eq!((updated.weight, updated.promoted), (5, true));
        assert_eq!(updated.name, "main", "untouched fields stay");
        store.write(move |tx| delete(tx, id)).await.expect("delete");
        let err = store.read(move |c| get(c, id)).await.expect_err("gone");
        assert!(matches!(err, StoreError::NotFound));
    }

    #[tokio::test]
    async fn negative_weight_is_refused_by_the_schema() {
        let store = Store::open_in_memory().expect("store");
        let err = store
            .write(|tx| {
                let mut new = new_channel("w");
                new.weight = -1;
                insert(tx, &new)
            })
            .await
            .expect_err("refused");
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    }

    #[tokio::test]
    async fn injection_shaped_name_is_just_a_string() {
        let store = Store::open_in_memory().expect("store");
        let name = "a' OR '1'='1";
        store
            .write(move |tx| insert(tx, &new_channel(name)))
            .await
            .expect("insert");
        let found = store
            .read(|c| find_by_name(c, "' OR '1'='1"))
            .await
            .expect("query");
        assert!(found.is_none());
        let found = store
            .read(move |c| find_by_name(c, name))
            .await
            .expect("query");
        assert_eq!(found.map(|ch| ch.name).as_deref(), Some(name));
    }
}
