//! The `unbilled_responses` table: Responses objects whose creating call reported no usage yet
//! (a `background` response answers `queued`), with what to bill them at once a fetch of the
//! object reports it, and what the creating call held against its user's balance until then.
//! Taking a row is what makes one fetch, and only one, pay.

use std::str::FromStr;

use rusqlite::{OptionalExtension, params};
use rust_decimal::Decimal;

use super::{Conn, StoreError, now_ms};

/// What a response still to be billed is billed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unbilled {
    /// The public model the client asked for (its prices apply).
    pub model: String,
    /// The channel group's price multiplier when the response was created.
    pub multiplier: Decimal,
}

/// What the creating call of a response still to be billed holds against a balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// Whose balance.
    pub user_id: i64,
    /// How much.
    pub amount: Decimal,
}

/// Notes a response to bill later and what its creating call holds until then; `false` when it
/// was noted already (that note, and its hold, stand).
pub fn insert(
    c: &Conn,
    response_id: &str,
    unbilled: &Unbilled,
    hold: Option<Hold>,
) -> Result<bool, StoreError> {
    let inserted = c
        .prepare_cached(
            "INSERT INTO unbilled_responses \
             (response_id, model, multiplier, created_at, user_id, held) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (response_id) DO NOTHING",
        )?
        .execute(params![
            response_id,
            unbilled.model,
            unbilled.multiplier.normalize().to_string(),
            now_ms(),
            hold.map(|h| h.user_id),
            hold.map_or(Decimal::ZERO, |h| h.amount)
                .normalize()
                .to_string(),
        ])?;
    Ok(inserted == 1)
}

/// What the response is to be billed at, if it still is.
pub fn get(c: &Conn, response_id: &str) -> Result<Option<Unbilled>, StoreError> {
    let row: Option<(String, String)> = c
        .query_row(
            "SELECT model, multiplier FROM unbilled_responses WHERE response_id = ?1",
            [response_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(model, multiplier)| {
        Ok(Unbilled {
            model,
            multiplier: decimal(&multiplier)?,
        })
    })
    .transpose()
}

/// Takes the response off the list: `Some` when it was on it (this caller bills it), with the
/// hold its creating call kept until now, if any.
pub fn take(c: &Conn, response_id: &str) -> Result<Option<Option<Hold>>, StoreError> {
    let row = c
        .prepare_cached(
            "DELETE FROM unbilled_responses WHERE response_id = ?1 RETURNING user_id, held",
        )?
        .query_row([response_id], held_columns)
        .optional()?;
    row.map(|(user_id, held)| hold_of(user_id, &held))
        .transpose()
}

/// Takes every response noted before `before_ms` (unix ms) off the list, unbilled for good;
/// returns the holds their creating calls kept.
pub fn expire(c: &Conn, before_ms: i64) -> Result<Vec<Hold>, StoreError> {
    holds_of(
        c,
        "DELETE FROM unbilled_responses WHERE created_at < ?1 RETURNING user_id, held",
        [before_ms],
    )
}

/// Every hold of a response still to be billed, to hold again after a restart.
pub fn holds(c: &Conn) -> Result<Vec<Hold>, StoreError> {
    holds_of(c, "SELECT user_id, held FROM unbilled_responses", [])
}

/// The `user_id, held` columns of a row.
fn held_columns(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Option<i64>, String)> {
    Ok((row.get(0)?, row.get(1)?))
}

/// The hold a row keeps: none without a user (rows noted before holds were) or an amount.
fn hold_of(user_id: Option<i64>, held: &str) -> Result<Option<Hold>, StoreError> {
    let amount = decimal(held)?;
    Ok(user_id
        .filter(|_| amount > Decimal::ZERO)
        .map(|user_id| Hold { user_id, amount }))
}

/// The holds of the rows `sql` (selecting or returning `user_id, held`) yields.
fn holds_of<P: rusqlite::Params>(c: &Conn, sql: &str, params: P) -> Result<Vec<Hold>, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(params, held_columns)?;
    let mut holds = Vec::new();
    for row in rows {
        let (user_id, held) = row?;
        holds.extend(hold_of(user_id, &held)?);
    }
    Ok(holds)
}

fn decimal(text: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(text).map_err(|e| StoreError::Internal(format!("unreadable amount: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn a_response_is_taken_once() {
        let store = Store::open_in_memory().expect("store");
        let unbilled = Unbilled {
            model: "gpt".into(),
            multiplier: Decimal::new(15, 1),
        };
        let noted = unbilled.clone();
        let hold = Hold {
            user_id: 7,
            amount: Decimal::new(25, 4),
        };
        let (inserted, noted_again, first, holds_before, again, second, holds_after) = store
            .write(move |tx| {
                let inserted = insert(tx, "resp_1", &noted, Some(hold))?;
                let noted_again = insert(tx, "resp_1", &noted, None)?;
                let first = get(tx, "resp_1")?;
                let holds_before = holds(tx)?;
                let again = take(tx, "resp_1")?;
                let second = take(tx, "resp_1")?;
                Ok((
                    inserted,
                    noted_again,
                    first,
                    holds_before,
                    again,
                    second,
                    holds(tx)?,
                ))
            })
            .await
            .expect("write");
        assert!(inserted && !noted_again, "noted once");
        assert_eq!(first, Some(unbilled));
        assert_eq!(holds_before, vec![hold], "the first note's hold stands");
        assert_eq!(
            again,
            Some(Some(hold)),
            "the first fetch takes it, and its hold"
        );
        assert_eq!(second, None, "no second one");
        assert!(holds_after.is_empty());
    }

    #[tokio::test]
    async fn a_note_without_a_hold_releases_nothing() {
        let store = Store::open_in_memory().expect("store");
        let unbilled = Unbilled {
            model: "gpt".into(),
            multiplier: Decimal::ONE,
        };
        let (held, taken) = store
            .write(move |tx| {
                insert(tx, "resp_2", &unbilled, None)?;
                Ok((holds(tx)?, take(tx, "resp_2")?))
            })
            .await
            .expect("write");
        assert!(held.is_empty());
        assert_eq!(taken, Some(None));
    }
}
