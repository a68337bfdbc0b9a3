//! The `unbilled_responses` table: Responses objects whose creating call reported no usage yet
//! (a `background` response answers `queued`), with what to bill them at once a fetch of the
//! object reports it. Taking a row is what makes one fetch, and only one, pay.

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

/// Notes a response to bill later; a second note of the same response changes nothing.
pub fn insert(c: &Conn, response_id: &str, unbilled: &Unbilled) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO unbilled_responses (response_id, model, multiplier, created_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (response_id) DO NOTHING",
    )?
    .execute(params![
        response_id,
        unbilled.model,
        unbilled.multiplier.normalize().to_string(),
        now_ms()
    ])?;
    Ok(())
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
        let multiplier = Decimal::from_str(&multiplier)
            .map_err(|e| StoreError::Internal(format!("unreadable multiplier: {e}")))?;
        Ok(Unbilled { model, multiplier })
    })
    .transpose()
}

/// Takes the response off the list; `true` when it was on it (this caller bills it).
pub fn take(c: &Conn, response_id: &str) -> Result<bool, StoreError> {
    let taken = c
        .prepare_cached("DELETE FROM unbilled_responses WHERE response_id = ?1")?
        .execute([response_id])?;
    Ok(taken == 1)
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
        let (first, again, second) = store
            .write(move |tx| {
                insert(tx, "resp_1", &noted)?;
                let first = get(tx, "resp_1")?;
                let again = take(tx, "resp_1")?;
                Ok((first, again, take(tx, "resp_1")?))
            })
            .await
            .expect("write");
        assert_eq!(first, Some(unbilled));
        assert!(again, "the first fetch takes it");
        assert!(!second, "no second one");
    }
}
