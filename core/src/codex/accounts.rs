//! Adding Codex accounts: starting an OAuth sign-in (PKCE, a stored flow bound to the admin and
//! channel, the optional local listener), completing it from a pasted callback or the listener,
//! and importing tokens by hand. An account is written in one transaction with its audit record,
//! only after every check passed, so a refused sign-in leaves nothing behind.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::oauth::{self, Callback, Claims, TokenResponse};
use super::{CodexError, listener, upkeep};
use crate::crypto::{random_secret, sha256};
use crate::state::AppState;
use crate::store::audit::{self, Actor, AuditEvent};
use crate::store::channels::{self, ChannelKind};
use crate::store::codex_accounts::{self, Account, NewAccount};
use crate::store::oauth_flows::{self, ClaimRefusal, Flow};
use crate::store::{StoreError, now_ms};

/// How long a started sign-in may be completed, in milliseconds.
pub const FLOW_TTL_MS: i64 = 30 * 60 * 1000;
/// Longest token accepted on import; real ones are a few KB.
const MAX_TOKEN_CHARS: usize = 16 * 1024;
/// Longest account id or email accepted on import.
const MAX_FIELD_CHARS: usize = 320;

/// Whether the local callback listener serves this sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerStatus {
    /// Switched off (`codex_oauth_listener`): paste the callback URL.
    Off,
    /// Listening on `127.0.0.1:port`; the browser's redirect completes the sign-in.
    Listening(u16),
    /// Could not listen (the port is taken); paste the callback URL.
    Unavailable(String),
}

/// A started sign-in.
#[derive(Debug, Clone)]
pub struct Started {
    /// The URL the admin opens.
    pub auth_url: String,
    /// The `state` of this sign-in.
    pub state: String,
    /// Until when it may be completed.
    pub expires_at: DateTime<Utc>,
    /// Where the issuer sends the browser back.
    pub redirect_uri: String,
    /// Whether Realms catches that redirect itself.
    pub listener: ListenerStatus,
}

/// An account added or signed in again.
#[derive(Debug, Clone)]
pub struct Added {
    /// The account.
    pub account: Account,
    /// `false` when the channel already had this ChatGPT account and its tokens were replaced.
    pub created: bool,
}

/// Tokens pasted by an admin.
#[derive(Clone, Default)]
pub struct Import {
    /// Access token.
    pub access_token: String,
    /// Refresh token.
    pub refresh_token: String,
    /// Id token, if known.
    pub id_token: Option<String>,
    /// The ChatGPT account id, when no token says it.
    pub account_id: Option<String>,
    /// Email, when no token says it.
    pub email: Option<String>,
    /// Expiry of the access token, when its claims do not say.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Checks that `channel_id` is a `codex_oauth` channel.
pub async fn ensure_codex_channel(state: &AppState, channel_id: i64) -> Result<(), CodexError> {
    let channel = state
        .store
        .read(move |c| channels::get(c, channel_id))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => CodexError::ChannelNotFound,
            other => other.into(),
        })?;
    if channel.kind != ChannelKind::CodexOauth {
        return Err(CodexError::NotCodexChannel(channel_id));
    }
    Ok(())
}

/// Starts a sign-in for `actor` into `channel_id`.
pub async fn start(state: &AppState, channel_id: i64, actor: Actor) -> Result<Started, CodexError> {
    ensure_codex_channel(state, channel_id).await?;
    let pkce = oauth::Pkce::generate()?;
    let flow_state = random_secret::<32>()?;
    let listener = if state.settings().codex_oauth_listener {
        listener::ensure(state).await
    } else {
        ListenerStatus::Off
    };
    let port = match listener {
        ListenerStatus::Listening(port) => port,
        _ => state.config.codex_oauth_callback_port,
    };
    let redirect_uri = oauth::redirect_uri(port);
    let expires_at = now_ms() + FLOW_TTL_MS;
    let flow = Flow {
        state_hash: sha256(flow_state.as_bytes()),
        channel_id,
        actor,
        verifier_sealed: state.sealer.seal_str(&pkce.verifier)?,
        redirect_uri: redirect_uri.clone(),
        expires_at,
    };
    state
        .store
        .write(move |tx| {
            oauth_flows::insert(tx, &flow)?;
            audit::insert(
                tx,
                &event(actor, "codex_oauth.start", channel_id, json!({})),
            )
        })
        .await?;
    Ok(Started {
        auth_url: oauth::authorize_url(
            &state.config.codex_oauth_issuer,
            &redirect_uri,
            &pkce.challenge,
            &flow_state,
        ),
        state: flow_state,
        expires_at: DateTime::from_timestamp_millis(expires_at).unwrap_or_default(),
        redirect_uri,
        listener,
    })
}

/// Completes a sign-in from what the admin pasted.
pub async fn complete(
    state: &AppState,
    channel_id: i64,
    actor: Actor,
    pasted: &str,
) -> Result<Added, CodexError> {
    ensure_codex_channel(state, channel_id).await?;
    let callback = oauth::parse_callback(pasted).map_err(|e| CodexError::Invalid(e.to_string()))?;
    let result = finish(state, &callback, Some(actor), Some(channel_id)).await;
    listener::release_if_idle(state).await;
    result
}

/// Completes a sign-in from the browser's redirect to the local listener, for whoever started it.
pub async fn complete_from_listener(
    state: &AppState,
    callback: &Callback,
) -> Result<Added, CodexError> {
    finish(state, callback, None, None).await
}

fn refusal_error(refusal: ClaimRefusal) -> CodexError {
    CodexError::Invalid(
        match refusal {
            ClaimRefusal::Unknown => {
                "the sign-in `state` is unknown or was already used; start the sign-in again"
            }
            ClaimRefusal::Expired => "the sign-in has expired; start it again",
            ClaimRefusal::OtherActor => {
                "this sign-in was started by another administrator; start your own"
            }
            ClaimRefusal::OtherChannel => "this sign-in was started for another channel",
        }
        .to_owned(),
    )
}

async fn finish(
    state: &AppState,
    callback: &Callback,
    actor: Option<Actor>,
    channel_id: Option<i64>,
) -> Result<Added, CodexError> {
    let hash = sha256(callback.state.as_bytes());
    let now = now_ms();
    let flow = state
        .store
        .write(move |tx| oauth_flows::claim(tx, &hash, actor, channel_id, now))
        .await?
        .map_err(refusal_error)?;
    let verifier = state.sealer.open_str(&flow.verifier_sealed)?;
    let tokens = oauth::exchange_code(
        state.codex.http()?,
        &state.config.codex_oauth_issuer,
        &callback.code,
        &verifier,
        &flow.redirect_uri,
    )
    .await
    .map_err(|e| CodexError::Unprocessable(e.to_string()))?;
    let incoming = from_code_grant(&tokens, now)?;
    save(state, flow.channel_id, flow.actor, incoming, "oauth").await
}

/// An account's facts and tokens, checked and ready to seal.
struct Incoming {
    account_id: String,
    email: String,
    plan: String,
    access: String,
    refresh: String,
    id_token: Option<String>,
    expires_at: Option<i64>,
    fresh: bool,
}

fn unprocessable(message: &str) -> CodexError {
    CodexError::Unprocessable(message.to_owned())
}

/// The account a code grant signed in: its id, email and plan come from the `id_token`.
fn from_code_grant(tokens: &TokenResponse, now: i64) -> Result<Incoming, CodexError> {
    let id_token = tokens
        .id_token
        .as_ref()
        .ok_or_else(|| unprocessable("the OAuth issuer returned no `id_token`"))?;
    let claims = oauth::claims(id_token.expose())
        .map_err(|e| CodexError::Unprocessable(format!("the `id_token` {e}")))?;
    let account_id = claims.account_id.clone().ok_or_else(|| {
        unprocessable("the `id_token` names no ChatGPT account (`chatgpt_account_id`)")
    })?;
    let refresh = tokens.refresh_token.as_ref().ok_or_else(|| {
        unprocessable("the OAuth issuer returned no `refresh_token` (`offline_access` not granted)")
    })?;
    let access = tokens.access_token.expose().to_owned();
    let expires_at = expiry(tokens.expires_in, &access, now);
    Ok(Incoming {
        account_id,
        email: claims.email.unwrap_or_default(),
        plan: claims.plan.unwrap_or_default(),
        access,
        refresh: refresh.expose().to_owned(),
        id_token: Some(id_token.expose().to_owned()),
        expires_at,
        fresh: true,
    })
}

/// When an access token expires: `expires_in` from now, else its own `exp` claim.
pub(super) fn expiry(expires_in: Option<u64>, access: &str, now: i64) -> Option<i64> {
    expires_in
        .and_then(|secs| i64::try_from(secs).ok())
        .map(|secs| now.saturating_add(secs.saturating_mul(1000)))
        .or_else(|| {
            oauth::claims(access)
                .ok()
                .and_then(|c| c.expires_at)
                .map(|s| s.saturating_mul(1000))
        })
}

/// A hint of an access token for the credentials list; never more than its last 4 characters.
pub(super) fn access_hint(token: &str) -> String {
    let tail: String = token
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("at...{tail}")
}

fn check_token(field: &str, value: &str) -> Result<String, CodexError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(CodexError::Invalid(format!("`{field}` must not be empty")));
    }
    if value.chars().count() > MAX_TOKEN_CHARS {
        return Err(CodexError::Invalid(format!(
            "`{field}` must be at most {MAX_TOKEN_CHARS} characters"
        )));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CodexError::Invalid(format!(
            "`{field}` must not contain spaces or control characters"
        )));
    }
    Ok(value.to_owned())
}

fn check_field(field: &str, value: Option<&str>) -> Result<Option<String>, CodexError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_FIELD_CHARS || value.chars().any(char::is_control) {
        return Err(CodexError::Invalid(format!(
            "`{field}` must be at most {MAX_FIELD_CHARS} characters without control characters"
        )));
    }
    Ok(Some(value.to_owned()))
}

/// Adds (or signs in again) an account from tokens pasted by an admin. The account id, email
/// and plan come from the `id_token` when given, else from the body, else from the access
/// token's claims; a body value that contradicts the `id_token` is refused.
pub async fn import(
    state: &AppState,
    channel_id: i64,
    actor: Actor,
    input: Import,
) -> Result<Added, CodexError> {
    let access = check_token("access_token", &input.access_token)?;
    let refresh = check_token("refresh_token", &input.refresh_token)?;
    let id_token = input
        .id_token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| check_token("id_token", t))
        .transpose()?;
    let given_account = check_field("account_id", input.account_id.as_deref())?;
    let given_email = check_field("email", input.email.as_deref())?;
    let id_claims = match &id_token {
        Some(token) => oauth::claims(token)
            .map_err(|e| CodexError::Unprocessable(format!("the `id_token` {e}")))?,
        None => Claims::default(),
    };
    let access_claims = oauth::claims(&access).unwrap_or_default();
    if let (Some(given), Some(claimed)) = (&given_account, &id_claims.account_id)
        && given != claimed
    {
        return Err(unprocessable(
            "`account_id` does not match the account named in the `id_token`",
        ));
    }
    let account_id = id_claims
        .account_id
        .clone()
        .or(given_account)
        .or(access_claims.account_id.clone())
        .ok_or_else(|| {
            unprocessable(
                "the ChatGPT account id is unknown: give `account_id` or an `id_token` that names it",
            )
        })?;
    let now = now_ms();
    let expires_at = input
        .expires_at
        .map(|t| t.timestamp_millis())
        .or_else(|| expiry(None, &access, now));
    let incoming = Incoming {
        account_id,
        email: id_claims
            .email
            .or(given_email)
            .or(access_claims.email)
            .unwrap_or_default(),
        plan: id_claims.plan.or(access_claims.plan).unwrap_or_default(),
        access,
        refresh,
        id_token,
        expires_at,
        fresh: false,
    };
    ensure_codex_channel(state, channel_id).await?;
    save(state, channel_id, actor, incoming, "import").await
}

/// Seals the tokens and writes the account (new, or the channel's existing one for this ChatGPT
/// account) with its audit record; then routing is rebuilt and the quota fetched in background.
async fn save(
    state: &AppState,
    channel_id: i64,
    actor: Actor,
    incoming: Incoming,
    via: &'static str,
) -> Result<Added, CodexError> {
    let sealer = &state.sealer;
    let new = NewAccount {
        channel_id,
        account_id: incoming.account_id,
        email: incoming.email,
        plan: incoming.plan,
        access_sealed: sealer.seal_str(&incoming.access)?,
        access_hint: access_hint(&incoming.access),
        refresh_sealed: sealer.seal_str(&incoming.refresh)?,
        id_token_sealed: incoming
            .id_token
            .as_deref()
            .map(|t| sealer.seal_str(t))
            .transpose()?,
        expires_at: incoming.expires_at,
        fresh: incoming.fresh,
    };
    let written = state
        .store
        .write(move |tx| {
            let channel = match channels::get(tx, channel_id) {
                Ok(channel) => channel,
                Err(StoreError::NotFound) => return Ok(Err(CodexError::ChannelNotFound)),
                Err(other) => return Err(other),
            };
            if channel.kind != ChannelKind::CodexOauth {
                return Ok(Err(CodexError::NotCodexChannel(channel_id)));
            }
            let (account, created) =
                match codex_accounts::find_by_account_id(tx, channel_id, &new.account_id)? {
                    Some(existing) => (
                        codex_accounts::replace_tokens(tx, existing.id, &new)?,
                        false,
                    ),
                    None => (codex_accounts::insert(tx, &new)?, true),
                };
            let action = if created {
                "codex_account.create"
            } else {
                "codex_account.relogin"
            };
            audit::insert(
                tx,
                &AuditEvent {
                    actor,
                    action,
                    target_kind: "codex_account",
                    target_id: Some(account.id),
                    detail: json!({
                        "channel_id": channel_id,
                        "account_id": account.account_id,
                        "email": account.email,
                        "via": via,
                    }),
                    ip: None,
                },
            )?;
            Ok(Ok(Added { account, created }))
        })
        .await??;
    state.routing_changed().await;
    upkeep::spawn_quota_fetch(state, written.account.id);
    Ok(written)
}

/// An audit record about a channel's Codex sign-ins.
fn event(
    actor: Actor,
    action: &'static str,
    channel_id: i64,
    detail: serde_json::Value,
) -> AuditEvent<'static> {
    AuditEvent {
        actor,
        action,
        target_kind: "channel",
        target_id: Some(channel_id),
        detail,
        ip: None,
    }
}
