//! Refreshing Codex account tokens: before they expire (the upkeep task), when an admin asks, or
//! when the Codex backend refused the access token. One refresh per account at a time (a lock
//! per account; the second caller finds the work done); a rotated refresh token replaces the
//! stored one; a refresh token the issuer refuses for good disables the account; other failures
//! back off. Every change rebuilds the routing table, which holds the current access token.

use std::time::Duration;

use serde_json::json;

use super::accounts::{access_hint, expiry};
use super::{CodexError, oauth};
use crate::relay::routing::health::Target;
use crate::state::AppState;
use crate::store::audit::{self, Actor, AuditEvent};
use crate::store::channels::Status;
use crate::store::codex_accounts::{self, Refreshed};
use crate::store::{StoreError, now_ms};

/// Tokens are refreshed this long before they expire.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Tokens of unknown expiry are refreshed when this old (the Codex CLI's own period).
const STALE_AFTER: Duration = Duration::from_secs(8 * 24 * 3600);
/// First wait after a failed refresh; doubles per failure in a row.
const BACKOFF_BASE: Duration = Duration::from_secs(30);
/// Longest wait between refresh attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(30 * 60);
/// After a rejected access token, a refresh younger than this is trusted (no refresh storm).
const RECENT: Duration = Duration::from_secs(60);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Why a refresh is attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The upkeep task: only if the account is enabled and its token is due.
    Due,
    /// The Codex backend refused the access token: unless it was refreshed a moment ago.
    Rejected,
    /// An admin asked: always.
    Forced,
}

/// What a refresh attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// New tokens are stored.
    Refreshed,
    /// Nothing to do (not due, disabled, or just refreshed by someone else).
    Skipped,
}

/// The wait before the next attempt after `failures` failures in a row (before this one).
fn backoff(failures: i64) -> Duration {
    let shift = u32::try_from(failures.clamp(0, 16)).unwrap_or(16);
    BACKOFF_BASE.saturating_mul(1u32 << shift).min(BACKOFF_MAX)
}

/// Refreshes one account's tokens; see the module docs.
pub async fn refresh_account(
    state: &AppState,
    id: i64,
    trigger: Trigger,
) -> Result<Outcome, CodexError> {
    let lock = state.codex.account_lock(id);
    let _single_flight = lock.lock().await;
    let account = state
        .store
        .read(move |c| codex_accounts::sealed(c, id))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => CodexError::AccountNotFound,
            other => other.into(),
        })?;
    let now = now_ms();
    let skip = match trigger {
        Trigger::Forced => false,
        Trigger::Rejected => {
            account.status != Status::Enabled
                || account
                    .last_refresh_at
                    .is_some_and(|at| at > now - ms(RECENT))
        }
        Trigger::Due => {
            account.status != Status::Enabled
                || match account.expires_at {
                    Some(expires) => expires > now + ms(REFRESH_MARGIN),
                    None => account
                        .last_refresh_at
                        .is_some_and(|at| at > now - ms(STALE_AFTER)),
                }
        }
    };
    if skip {
        return Ok(Outcome::Skipped);
    }
    let refresh_token = state.sealer.open_str(&account.refresh_sealed)?;
    let result = oauth::refresh(
        state.codex.http()?,
        &state.config.codex_oauth_issuer,
        &refresh_token,
    )
    .await;
    let tokens = match result {
        Ok(tokens) => tokens,
        Err(err) => {
            let permanent = err.is_permanent();
            let message = if permanent {
                format!("{err}; the account is disabled until it signs in again")
            } else {
                format!("refreshing the tokens failed: {err}")
            };
            let next = (!permanent).then(|| now + ms(backoff(account.refresh_failures)));
            let stored = message.clone();
            state
                .store
                .write(move |tx| {
                    codex_accounts::record_refresh_failure(tx, id, &stored, next, permanent)?;
                    if permanent {
                        audit::insert(
                            tx,
                            &AuditEvent {
                                actor: Actor::System,
                                action: "codex_account.disable",
                                target_kind: "codex_account",
                                target_id: Some(id),
                                detail: json!({ "reason": "refresh_token_refused" }),
                                ip: None,
                            },
                        )?;
                    }
                    Ok(())
                })
                .await?;
            tracing::warn!(account = id, error = %err, permanent, "refreshing a Codex account failed");
            if permanent {
                state.routing_changed().await;
            }
            return Err(CodexError::Unprocessable(message));
        }
    };
    let sealer = &state.sealer;
    let access = tokens.access_token.expose();
    let id_claims = tokens
        .id_token
        .as_ref()
        .and_then(|t| oauth::claims(t.expose()).ok())
        .unwrap_or_default();
    let refreshed = Refreshed {
        access: Some((sealer.seal_str(access)?, access_hint(access))),
        refresh_sealed: tokens
            .refresh_token
            .as_ref()
            .map(|t| sealer.seal_str(t.expose()))
            .transpose()?,
        id_token_sealed: tokens
            .id_token
            .as_ref()
            .map(|t| sealer.seal_str(t.expose()))
            .transpose()?,
        expires_at: expiry(tokens.expires_in, access, now),
        email: id_claims.email,
        plan: id_claims.plan,
    };
    state
        .store
        .write(move |tx| codex_accounts::record_refresh(tx, id, &refreshed))
        .await?;
    state.routing_changed().await;
    // A cooldown for a refused token is moot now; one for a usage limit still holds.
    state
        .relay
        .health
        .lift(&Target::Credential(id), |c| c.reason != "rate_limited");
    tracing::debug!(account = id, "refreshed a Codex account's tokens");
    Ok(Outcome::Refreshed)
}

/// Refreshes every account whose tokens are due; returns how many were refreshed.
pub async fn refresh_due(state: &AppState) -> usize {
    let now = now_ms();
    let due = state
        .store
        .read(move |c| {
            codex_accounts::due_for_refresh(c, now, now + ms(REFRESH_MARGIN), now - ms(STALE_AFTER))
        })
        .await;
    let ids = match due {
        Ok(ids) => ids,
        Err(err) => {
            tracing::warn!(error = %err, "listing Codex accounts to refresh failed");
            return 0;
        }
    };
    let mut refreshed = 0;
    for id in ids {
        if let Ok(Outcome::Refreshed) = refresh_account(state, id, Trigger::Due).await {
            refreshed += 1;
        }
    }
    refreshed
}

/// Starts a background refresh after the Codex backend refused an account's access token.
pub fn refresh_rejected(state: &AppState, id: i64) {
    let state_for_task = state.clone();
    state.tasks.spawn(async move {
        if let Err(err) = refresh_account(&state_for_task, id, Trigger::Rejected).await {
            tracing::debug!(account = id, error = %err, "refresh after a refused access token failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(0), Duration::from_secs(30));
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(5), Duration::from_secs(960));
        assert_eq!(backoff(6), BACKOFF_MAX);
        assert_eq!(backoff(100), BACKOFF_MAX);
        assert_eq!(backoff(-3), Duration::from_secs(30));
    }
}
