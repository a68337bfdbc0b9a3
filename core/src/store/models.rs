//! The `models` table: the catalogue of public model ids clients may ask for, with their prices.
//! Which channels serve a model is `channel_models`' business.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use rust_decimal::Decimal;
use serde::Serialize;

use super::row::{decimal, decode_err, time};
use super::{Conn, Page, StoreError, now_ms};

/// Prices of a model in USD per one million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Prices {
    /// Prompt tokens not read from a cache.
    #[serde(with = "rust_decimal::serde::str")]
    pub input_usd_per_1m: Decimal,
    /// Output tokens, reasoning included.
    #[serde(with = "rust_decimal::serde::str")]
    pub output_usd_per_1m: Decimal,
    /// Prompt tokens read from a cache.
    #[serde(with = "rust_decimal::serde::str")]
    pub cached_input_usd_per_1m: Decimal,
    /// Prompt tokens written to a cache.
    #[serde(with = "rust_decimal::serde::str")]
    pub cache_write_usd_per_1m: Decimal,
}

/// A catalogue entry.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// Id.
    pub id: i64,
    /// What clients send as `model`; unique.
    pub public_id: String,
    /// Shown as `owned_by` in `/v1/models`.
    pub owned_by: String,
    /// Free text for the console.
    pub description: String,
    /// Prices.
    #[serde(flatten)]
    pub prices: Prices,
    /// Whether clients may use it.
    pub enabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Fields of a new model; the caller validated them.
#[derive(Debug, Clone)]
pub struct NewModel {
    /// Public id.
    pub public_id: String,
    /// Owner shown to clients.
    pub owned_by: String,
    /// Free text.
    pub description: String,
    /// Prices, each at least 0.
    pub prices: Prices,
    /// Enabled.
    pub enabled: bool,
}

/// Changes to a model; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ModelPatch {
    /// New public id.
    pub public_id: Option<String>,
    /// New owner.
    pub owned_by: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New input price.
    pub input_usd_per_1m: Option<Decimal>,
    /// New output price.
    pub output_usd_per_1m: Option<Decimal>,
    /// New cached-input price.
    pub cached_input_usd_per_1m: Option<Decimal>,
    /// New cache-write price.
    pub cache_write_usd_per_1m: Option<Decimal>,
    /// New enabled flag.
    pub enabled: Option<bool>,
}

const COLUMNS: &str = "id, public_id, owned_by, description, input_usd_per_1m, output_usd_per_1m, \
                       cached_input_usd_per_1m, cache_write_usd_per_1m, enabled, created_at, updated_at";

fn price(row: &Row<'_>, column: usize) -> rusqlite::Result<Decimal> {
    decimal(row.get_ref(column)?.as_str()?).map_err(|e| decode_err(column, e))
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Model> {
    Ok(Model {
        id: row.get(0)?,
        public_id: row.get(1)?,
        owned_by: row.get(2)?,
        description: row.get(3)?,
        prices: Prices {
            input_usd_per_1m: price(row, 4)?,
            output_usd_per_1m: price(row, 5)?,
            cached_input_usd_per_1m: price(row, 6)?,
            cache_write_usd_per_1m: price(row, 7)?,
        },
        enabled: row.get(8)?,
        created_at: time(row.get(9)?),
        updated_at: time(row.get(10)?),
    })
}

fn text(value: Decimal) -> String {
    value.normalize().to_string()
}

/// The model with this id.
pub fn get(c: &Conn, id: i64) -> Result<Model, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM models WHERE id = ?1");
    Ok(c.query_row(&sql, [id], from_row)?)
}

/// The model with this public id (exact, case-sensitive, as clients send it).
pub fn find_by_public_id(c: &Conn, public_id: &str) -> Result<Option<Model>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM models WHERE public_id = ?1");
    Ok(c.query_row(&sql, [public_id], from_row).optional()?)
}

/// Models by ascending id, after `cursor`.
pub fn list(c: &Conn, cursor: Option<i64>, limit: usize) -> Result<Page<Model>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM models WHERE id > ?1 ORDER BY id LIMIT ?2");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![cursor.unwrap_or(0), limit as i64 + 1], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(rows, limit, |m| m.id))
}

/// Inserts a model and returns it.
pub fn insert(c: &Conn, new: &NewModel) -> Result<Model, StoreError> {
    c.execute(
        "INSERT INTO models (public_id, owned_by, description, input_usd_per_1m, output_usd_per_1m, \
         cached_input_usd_per_1m, cache_write_usd_per_1m, enabled, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        params![
            new.public_id,
            new.owned_by,
            new.description,
            text(new.prices.input_usd_per_1m),
            text(new.prices.output_usd_per_1m),
            text(new.prices.cached_input_usd_per_1m),
            text(new.prices.cache_write_usd_per_1m),
            new.enabled,
            now_ms()
        ],
    )?;
    get(c, c.last_insert_rowid())
}

/// Applies a patch and returns the updated model.
pub fn update(c: &Conn, id: i64, patch: &ModelPatch) -> Result<Model, StoreError> {
    let changed = c.execute(
        "UPDATE models SET public_id = COALESCE(?2, public_id), owned_by = COALESCE(?3, owned_by), \
         description = COALESCE(?4, description), \
         input_usd_per_1m = COALESCE(?5, input_usd_per_1m), \
         output_usd_per_1m = COALESCE(?6, output_usd_per_1m), \
         cached_input_usd_per_1m = COALESCE(?7, cached_input_usd_per_1m), \
         cache_write_usd_per_1m = COALESCE(?8, cache_write_usd_per_1m), \
         enabled = COALESCE(?9, enabled), updated_at = ?10 WHERE id = ?1",
        params![
            id,
            patch.public_id,
            patch.owned_by,
            patch.description,
            patch.input_usd_per_1m.map(text),
            patch.output_usd_per_1m.map(text),
            patch.cached_input_usd_per_1m.map(text),
            patch.cache_write_usd_per_1m.map(text),
            patch.enabled,
            now_ms()
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    get(c, id)
}

/// Deletes a model and its bindings.
pub fn delete(c: &Conn, id: i64) -> Result<(), StoreError> {
    if c.execute("DELETE FROM models WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn new_model(public_id: &str) -> NewModel {
        NewModel {
            public_id: public_id.into(),
            owned_by: "openai".into(),
            description: String::new(),
            prices: Prices {
                input_usd_per_1m: "2.50".parse().expect("decimal"),
                output_usd_per_1m: "10".parse().expect("decimal"),
                cached_input_usd_per_1m: "1.25".parse().expect("decimal"),
                cache_write_usd_per_1m: Decimal::ZERO,
            },
            enabled: true,
        }
    }

    #[tokio::test]
    async fn prices_round_trip_exactly() {
        let store = Store::open_in_memory().expect("store");
        let model = store
            .write(|tx| insert(tx, &new_model("gpt-4o")))
            .await
            .expect("insert");
        assert_eq!(model.prices.input_usd_per_1m.to_string(), "2.5");
        assert_eq!(model.prices.cached_input_usd_per_1m.to_string(), "1.25");
        let id = model.id;
        let model = store
            .write(move |tx| {
                update(
                    tx,
                    id,
                    &ModelPatch {
                        output_usd_per_1m: Some("0.000001".parse().expect("decimal")),
                        enabled: Some(false),
                        ..ModelPatch::default()
                    },
                )
            })
            .await
            .expect("update");
        assert_eq!(model.prices.output_usd_per_1m.to_string(), "0.000001");
        assert_eq!(model.prices.input_usd_per_1m.to_string(), "2.5");
        assert!(!model.enabled);
    }

    #[tokio::test]
    async fn public_ids_are_unique_and_injection_is_inert() {
        let store = Store::open_in_memory().expect("store");
        store
            .write(|tx| insert(tx, &new_model("m1")))
            .await
            .expect("insert");
        let err = store
            .write(|tx| insert(tx, &new_model("m1")))
            .await
            .expect_err("dup");
        assert!(
            matches!(err, StoreError::Conflict(ref w) if w.contains("public_id")),
            "{err}"
        );
        let found = store
            .read(|c| find_by_public_id(c, "m1' OR 1=1 --"))
            .await
            .expect("query");
        assert!(found.is_none());
    }
}
