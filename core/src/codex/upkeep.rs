//! The background upkeep of Codex accounts on `state.tasks`: every minute, refresh the tokens
//! that are due; every `codex_quota_poll_secs`, poll each routed account's quota from the Codex
//! backend's `wham/usage`. Also the one-account quota fetch used after a sign-in and on demand.

use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::{quota, tokens};
use crate::relay::routing::table::{ChannelKind, ChannelRoute, CredentialRoute};
use crate::relay::upstream::guard;
use crate::state::AppState;
use crate::store::codex_accounts;

/// How often due token refreshes are looked for.
const SCAN_EVERY: Duration = Duration::from_secs(60);

/// Starts the upkeep task; it ends on shutdown.
pub fn start(state: &AppState) {
    let task_state = state.clone();
    state.tasks.spawn(async move { run(task_state).await });
}

async fn run(state: AppState) {
    let poll_every = Duration::from_secs(state.config.codex_quota_poll_secs);
    let mut ticker = tokio::time::interval(SCAN_EVERY.min(poll_every));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut next_poll = Instant::now() + poll_every;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = state.shutdown.cancelled() => break,
        }
        let work = async {
            tokens::refresh_due(&state).await;
            if Instant::now() >= next_poll {
                poll_all(&state).await;
                next_poll = Instant::now() + poll_every;
            }
        };
        tokio::select! {
            () = work => {}
            () = state.shutdown.cancelled() => break,
        }
    }
}

/// Polls the quota of every account the routing table holds.
pub async fn poll_all(state: &AppState) {
    let table = state.relay.table.load_full();
    for channel in table.channels.values() {
        if channel.kind != ChannelKind::CodexOauth {
            continue;
        }
        for credential in &channel.credentials {
            if let Err(err) = fetch(state, channel, credential).await {
                tracing::debug!(account = credential.id, error = %err, "polling a Codex account's quota failed");
            }
        }
    }
}

/// Fetches and stores one account's quota, if the account is routed (enabled, channel enabled).
pub async fn fetch_one(state: &AppState, id: i64) -> Result<(), String> {
    let table = state.relay.table.load_full();
    let found = table.channels.values().find_map(|channel| {
        let credential = channel.credentials.iter().find(|c| c.id == id)?;
        Some((channel, credential))
    });
    let Some((channel, credential)) = found else {
        return Err("the account is not in use (disabled, or its channel is)".into());
    };
    fetch(state, channel, credential).await
}

/// Fetches one account's quota in the background.
pub fn spawn_quota_fetch(state: &AppState, id: i64) {
    let task_state = state.clone();
    state.tasks.spawn(async move {
        if let Err(err) = fetch_one(&task_state, id).await {
            tracing::debug!(account = id, error = %err, "fetching a Codex account's quota failed");
        }
    });
}

async fn fetch(
    state: &AppState,
    channel: &ChannelRoute,
    credential: &CredentialRoute,
) -> Result<(), String> {
    let Some(account_id) = credential.account_id.as_deref() else {
        return Err("not a Codex account".into());
    };
    let guarded = !state.settings().allow_private_upstreams;
    if guarded
        && let Some(url) = quota::usage_url(&channel.base_url)
        && let Ok(url) = url.parse::<reqwest::Url>()
    {
        guard::check_literal_host(&url)?;
    }
    let client = state
        .relay
        .upstreams
        .clients()
        .get(guarded, channel.settings.proxy.as_deref())
        .map_err(|e| e.to_string())?;
    let (quota, plan) = quota::fetch(
        &client,
        &channel.base_url,
        credential.secret.expose(),
        account_id,
    )
    .await?;
    let id = credential.id;
    state
        .store
        .write(move |tx| codex_accounts::set_quota(tx, id, &quota, plan.as_deref()))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
