//! The desktop token: the desktop owner's `sk_` token the tray copies and the client set-up
//! writes into Codex CLI, Claude Code and Gemini CLI. It is an ordinary token (hashed for lookup,
//! listed and revocable in the console), named [`DESKTOP_TOKEN_NAME`]; an internal settings row
//! remembers which one it is, and its sealed copy in `tokens.key_sealed` (sealed with the master
//! key, as for every token's reveal) lets later calls return the same plaintext.

use serde_json::json;

use super::{DesktopError, ensure_owner};
use crate::accounts::keys;
use crate::state::AppState;
use crate::store::audit::{self, Actor, AuditEvent};
use crate::store::tokens::{self, NewToken, Token, TokenStatus};
use crate::store::{Conn, StoreError, now_ms, settings};

/// The name the desktop token gets in the console's token list.
pub const DESKTOP_TOKEN_NAME: &str = "Desktop";
/// Internal settings row holding the desktop token's id (decimal text).
const DESKTOP_TOKEN_KEY: &str = "_desktop_token_id";

/// The plaintext `sk_` token of the desktop owner. Created on the first call (with the owner
/// account, if that does not exist yet); later calls return the same token. When it was revoked,
/// deleted, expired or rotated in the console, the current state wins: a rotated token's new key
/// is returned, a revoked, deleted or expired one is replaced by a new token.
pub async fn ensure_desktop_token(state: &AppState) -> Result<String, DesktopError> {
    let owner = ensure_owner(state).await?;
    // Generated up front because sealing needs the sealer, not the database; unused (and
    // dropped) when the stored token is still good.
    let fresh = keys::generate(&state.sealer)?;
    let owner_id = owner.id;
    let (sealed, created) = state
        .store
        .write(move |tx| {
            if let Some(token) = stored_token(tx)?
                && usable(&token, owner_id, now_ms())
            {
                return Ok((tokens::sealed_key(tx, token.id)?, false));
            }
            let token = tokens::insert(
                tx,
                &NewToken {
                    user_id: owner_id,
                    name: DESKTOP_TOKEN_NAME.into(),
                    key_hash: fresh.hash,
                    key_sealed: fresh.sealed.clone(),
                    hint: fresh.hint,
                    models: None,
                    // Empty: the owner's user group decides, now and after later changes.
                    channel_groups: Vec::new(),
                    expires_at: None,
                },
            )?;
            settings::put_internal(tx, DESKTOP_TOKEN_KEY, token.id.to_string().as_bytes())?;
            audit::insert(
                tx,
                &AuditEvent {
                    actor: Actor::System,
                    action: "token.create",
                    target_kind: "token",
                    target_id: Some(token.id),
                    detail: json!({ "user_id": owner_id, "desktop": true }),
                    ip: None,
                },
            )?;
            Ok((fresh.sealed, true))
        })
        .await?;
    if created {
        tracing::info!("created the desktop token");
        state.routing_changed().await;
    }
    Ok(state.sealer.open_str(&sealed)?)
}

/// The token the settings row names, if the row and the token both still exist.
fn stored_token(c: &Conn) -> Result<Option<Token>, StoreError> {
    let Some(raw) = settings::get_internal(c, DESKTOP_TOKEN_KEY)? else {
        return Ok(None);
    };
    let Some(id) = std::str::from_utf8(&raw)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
    else {
        return Ok(None);
    };
    match tokens::get(c, id) {
        Ok(token) => Ok(Some(token)),
        Err(StoreError::NotFound) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Whether the remembered token still works for the current owner.
fn usable(token: &Token, owner_id: i64, now: i64) -> bool {
    token.user_id == owner_id
        && token.status == TokenStatus::Active
        && token
            .expires_at
            .is_none_or(|at| at.timestamp_millis() > now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::crypto::sha256;

    #[tokio::test]
    async fn the_token_is_created_once_kept_sealed_and_replaced_when_revoked() {
        let state = AppState::for_tests(Config::test_default()).await;
        let first = ensure_desktop_token(&state).await.expect("token");
        assert!(first.starts_with(keys::KEY_PREFIX), "an sk_ token");
        assert_eq!(
            ensure_desktop_token(&state).await.expect("again"),
            first,
            "the same token on later calls"
        );
        let hash = sha256(first.as_bytes());
        let stored = state
            .store
            .read(move |c| tokens::find_by_hash(c, &hash))
            .await
            .expect("lookup")
            .expect("the token is stored by its hash");
        assert_eq!(stored.name, DESKTOP_TOKEN_NAME);
        let id = stored.id;
        state
            .store
            .write(move |tx| tokens::revoke(tx, id).map(drop))
            .await
            .expect("revoke");
        let second = ensure_desktop_token(&state).await.expect("replacement");
        assert_ne!(second, first, "a revoked token is replaced");
        let hash = sha256(second.as_bytes());
        let replaced = state
            .store
            .read(move |c| tokens::find_by_hash(c, &hash))
            .await
            .expect("lookup")
            .expect("stored");
        state
            .store
            .write(move |tx| tokens::delete(tx, replaced.id))
            .await
            .expect("delete");
        let third = ensure_desktop_token(&state).await.expect("after delete");
        assert!(
            third != second && third != first,
            "a deleted token is replaced"
        );
    }

    #[test]
    fn expired_or_foreign_tokens_are_not_usable() {
        let now = now_ms();
        let token = Token {
            id: 1,
            user_id: 7,
            name: DESKTOP_TOKEN_NAME.into(),
            hint: "sk...abcd".into(),
            status: TokenStatus::Active,
            models: None,
            channel_groups: Vec::new(),
            created_at: chrono::Utc::now(),
            last_used_at: None,
            expires_at: None,
            revoked_at: None,
        };
        assert!(usable(&token, 7, now));
        assert!(!usable(&token, 8, now), "another owner's token");
        let expired = Token {
            expires_at: chrono::DateTime::from_timestamp_millis(now - 1),
            ..token.clone()
        };
        assert!(!usable(&expired, 7, now));
        let revoked = Token {
            status: TokenStatus::Revoked,
            ..token
        };
        assert!(!usable(&revoked, 7, now));
    }
}
