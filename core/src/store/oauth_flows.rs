//! The `oauth_flows` table: pending Codex OAuth sign-ins, found by the SHA-256 of their `state`,
//! bound to the admin who started them and to one channel, with the PKCE verifier sealed by the
//! caller. A flow is used once: claiming it deletes it.

use rusqlite::{OptionalExtension, params};

use super::audit::Actor;
use super::{Conn, StoreError, now_ms};

/// A pending sign-in.
#[derive(Debug, Clone)]
pub struct Flow {
    /// SHA-256 of the `state` sent to the issuer.
    pub state_hash: [u8; 32],
    /// The channel the account will join.
    pub channel_id: i64,
    /// Who started it (a user or the admin key; never `System`).
    pub actor: Actor,
    /// The PKCE verifier, sealed.
    pub verifier_sealed: Vec<u8>,
    /// The redirect URI sent to the issuer; the token exchange must repeat it.
    pub redirect_uri: String,
    /// Expiry, unix ms.
    pub expires_at: i64,
}

/// Why a flow could not be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// No such state (never issued, already used, or cleaned up).
    Unknown,
    /// The flow expired; it has been removed.
    Expired,
    /// Another admin started it; it stays pending for them.
    OtherActor,
    /// It was started for another channel; it stays pending.
    OtherChannel,
}

fn actor_columns(actor: Actor) -> (&'static str, Option<i64>) {
    match actor {
        Actor::User(id) => ("user", Some(id)),
        // `System` never starts a flow; stored as the admin key if it ever did.
        Actor::AdminKey | Actor::System => ("admin_key", None),
    }
}

/// Stores a new flow (and drops expired ones, which nobody can use any more).
pub fn insert(c: &Conn, flow: &Flow) -> Result<(), StoreError> {
    let now = now_ms();
    c.execute("DELETE FROM oauth_flows WHERE expires_at <= ?1", [now])?;
    let (kind, id) = actor_columns(flow.actor);
    c.execute(
        "INSERT INTO oauth_flows (state_hash, channel_id, actor_kind, actor_id, verifier_sealed, \
         redirect_uri, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            &flow.state_hash[..],
            flow.channel_id,
            kind,
            id,
            flow.verifier_sealed,
            flow.redirect_uri,
            now,
            flow.expires_at
        ],
    )?;
    Ok(())
}

/// Takes the flow with this state hash for `actor` on `channel_id` (both `None` for the local
/// callback listener, which acts for whoever started the flow): deletes it and returns it, or
/// says why not. An expired flow is deleted; one of another admin or channel is left alone.
pub fn claim(
    c: &Conn,
    state_hash: &[u8; 32],
    actor: Option<Actor>,
    channel_id: Option<i64>,
    now: i64,
) -> Result<Result<Flow, ClaimRefusal>, StoreError> {
    let found = c
        .query_row(
            "SELECT channel_id, actor_kind, actor_id, verifier_sealed, redirect_uri, expires_at \
             FROM oauth_flows WHERE state_hash = ?1",
            [&state_hash[..]],
            |r| {
                let kind: String = r.get(1)?;
                let id: Option<i64> = r.get(2)?;
                let actor = match (kind.as_str(), id) {
                    ("user", Some(id)) => Actor::User(id),
                    _ => Actor::AdminKey,
                };
                Ok(Flow {
                    state_hash: *state_hash,
                    channel_id: r.get(0)?,
                    actor,
                    verifier_sealed: r.get(3)?,
                    redirect_uri: r.get(4)?,
                    expires_at: r.get(5)?,
                })
            },
        )
        .optional()?;
    let Some(flow) = found else {
        return Ok(Err(ClaimRefusal::Unknown));
    };
    if flow.expires_at <= now {
        delete(c, state_hash)?;
        return Ok(Err(ClaimRefusal::Expired));
    }
    if actor.is_some_and(|a| a != flow.actor) {
        return Ok(Err(ClaimRefusal::OtherActor));
    }
    if channel_id.is_some_and(|id| id != flow.channel_id) {
        return Ok(Err(ClaimRefusal::OtherChannel));
    }
    delete(c, state_hash)?;
    Ok(Ok(flow))
}

/// Removes a flow.
pub fn delete(c: &Conn, state_hash: &[u8; 32]) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM oauth_flows WHERE state_hash = ?1",
        [&state_hash[..]],
    )?;
    Ok(())
}

/// Number of flows not yet expired; the local listener stays up while there are any.
pub fn count_pending(c: &Conn, now: i64) -> Result<i64, StoreError> {
    Ok(c.query_row(
        "SELECT COUNT(*) FROM oauth_flows WHERE expires_at > ?1",
        [now],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn flow(hash: u8, actor: Actor, expires_at: i64) -> Flow {
        Flow {
            state_hash: [hash; 32],
            channel_id: 1,
            actor,
            verifier_sealed: vec![7],
            redirect_uri: "http://localhost:1455/auth/callback".into(),
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_flow_is_claimed_once_by_its_own_admin_before_it_expires() {
        let store = Store::open_in_memory().expect("store");
        let now = now_ms();
        store
            .write(move |tx| {
                tx.execute_batch(
                    "INSERT INTO channels (id, name, kind, base_url, created_at, updated_at) \
                     VALUES (1, 'c', 'codex_oauth', 'http://x.test', 0, 0), \
                            (2, 'd', 'codex_oauth', 'http://x.test', 0, 0)",
                )?;
                insert(tx, &flow(1, Actor::User(5), now + 60_000))?;
                insert(tx, &flow(2, Actor::AdminKey, now + 60_000))?;
                insert(tx, &flow(3, Actor::User(5), now - 1))
            })
            .await
            .expect("seed");
        let claim_as = |hash: u8, actor: Option<Actor>, channel: Option<i64>| {
            let store = store.clone();
            async move {
                store
                    .write(move |tx| claim(tx, &[hash; 32], actor, channel, now))
                    .await
                    .expect("claim")
            }
        };
        assert_eq!(
            claim_as(1, Some(Actor::User(6)), Some(1)).await.err(),
            Some(ClaimRefusal::OtherActor)
        );
        assert_eq!(
            claim_as(1, Some(Actor::User(5)), Some(2)).await.err(),
            Some(ClaimRefusal::OtherChannel)
        );
        let claimed = claim_as(1, Some(Actor::User(5)), Some(1))
            .await
            .expect("own flow");
        assert_eq!((claimed.channel_id, claimed.verifier_sealed), (1, vec![7]));
        assert_eq!(
            claim_as(1, Some(Actor::User(5)), Some(1)).await.err(),
            Some(ClaimRefusal::Unknown),
            "used once"
        );
        assert_eq!(
            claim_as(3, Some(Actor::User(5)), Some(1)).await.err(),
            Some(ClaimRefusal::Expired)
        );
        assert!(
            claim_as(2, None, None).await.is_ok(),
            "the listener claims any"
        );
        let pending = store
            .read(move |c| count_pending(c, now))
            .await
            .expect("count");
        assert_eq!(pending, 0);
    }
}
