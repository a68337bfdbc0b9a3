//! The `settings` table: console-editable runtime settings as JSON values by key, plus a few
//! internal rows (keys starting with `_`) such as the master-key canary.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};

use super::{Conn, StoreError, now_ms};

/// Key of the row that proves which master key sealed this database's secrets.
pub const CRYPTO_CANARY_KEY: &str = "_crypto_canary";

/// Every public setting row (keys not starting with `_`), parsed.
pub fn list(c: &Conn) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
    let mut stmt =
        c.prepare("SELECT key, value FROM settings WHERE key NOT LIKE '\\_%' ESCAPE '\\'")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (key, text) = row?;
        let value = serde_json::from_str(&text)
            .map_err(|_| StoreError::Corrupt(format!("setting `{key}`")))?;
        out.insert(key, value);
    }
    Ok(out)
}

/// Stores a setting's JSON value.
pub fn put(c: &Conn, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![key, value.to_string(), now_ms()],
    )?;
    Ok(())
}

/// Reads an internal row's raw bytes (hex-encoded in the `value` column).
pub fn get_internal(c: &Conn, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let text: Option<String> = c
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?;
    text.map(|t| hex::decode(t).map_err(|_| StoreError::Corrupt(key.to_owned())))
        .transpose()
}

/// Writes an internal row's raw bytes.
pub fn put_internal(c: &Conn, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![key, hex::encode(bytes), now_ms()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn internal_rows_are_not_listed() {
        let store = Store::open_in_memory().expect("store");
        store
            .write(|tx| {
                put(tx, "self_mode", &serde_json::json!(true))?;
                put_internal(tx, CRYPTO_CANARY_KEY, b"\x01\x02")
            })
            .await
            .expect("write");
        let all = store.read(list).await.expect("list");
        assert_eq!(all.len(), 1);
        assert_eq!(all["self_mode"], serde_json::json!(true));
        let raw = store
            .read(|c| get_internal(c, CRYPTO_CANARY_KEY))
            .await
            .expect("raw");
        assert_eq!(raw.as_deref(), Some(&b"\x01\x02"[..]));
    }
}
