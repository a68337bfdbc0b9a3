//! `/api/admin/channels/{id}/codex-oauth/*` and `/api/admin/channels/{id}/codex-accounts`: signing
//! ChatGPT accounts into a `codex_oauth` channel (start, complete by pasted callback), importing
//! tokens, listing accounts with their quota, refreshing, disabling and deleting them. Tokens go in
//! and are never shown again. The work is in `crate::codex`; these handlers parse and answer.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog_changed;
use super::input::{IdPair, audit_event, or_not_found};
use crate::api::extract::{Admin, ApiJson, IdPath};
use crate::codex::accounts::{self, Import, ListenerStatus};
use crate::codex::tokens::{self, Trigger};
use crate::codex::{CodexError, upkeep};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::relay::routing::health::Target;
use crate::state::AppState;
use crate::store::audit;
use crate::store::channels::Status;
use crate::store::codex_accounts::{self, Account, QuotaWindow};
use crate::store::credentials::{self, CredentialPatch};

/// The Codex routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/channels/{id}/codex-oauth/start", post(start))
        .route("/channels/{id}/codex-oauth/complete", post(complete))
        .route("/channels/{id}/codex-accounts", get(list).post(import))
        .route(
            "/channels/{id}/codex-accounts/{account_id}",
            get(show).patch(update).delete(delete),
        )
        .route(
            "/channels/{id}/codex-accounts/{account_id}/refresh",
            post(refresh),
        )
}

impl From<CodexError> for ApiError {
    fn from(err: CodexError) -> Self {
        match err {
            CodexError::ChannelNotFound => ApiError::not_found("channel"),
            CodexError::AccountNotFound => ApiError::not_found("codex account"),
            CodexError::NotCodexChannel(_) => {
                ApiError::new(ErrorCode::Unprocessable, err.to_string())
            }
            CodexError::Invalid(message) => ApiError::invalid(message),
            CodexError::Unprocessable(message) => ApiError::new(ErrorCode::Unprocessable, message),
            CodexError::Store(err) => err.into(),
            CodexError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

fn ms_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(DateTime::from_timestamp_millis)
}

fn window_json(window: Option<QuotaWindow>) -> Value {
    window.map_or(Value::Null, |w| {
        json!({
            "used_percent": w.used_percent,
            "reset_at": ms_time(w.reset_at),
            "window_minutes": w.window_minutes,
        })
    })
}

/// An account as the API shows it: facts, status, quota and cooldown, never a token.
fn account_json(state: &AppState, account: &Account) -> Value {
    let now = Instant::now();
    let cooldown_until = state
        .relay
        .health
        .blocked_until(&Target::Credential(account.id), now)
        .and_then(|until| chrono::Duration::from_std(until - now).ok())
        .map(|wait| Utc::now() + wait);
    json!({
        "id": account.id,
        "channel_id": account.channel_id,
        "account_id": account.account_id,
        "email": account.email,
        "plan": account.plan,
        "status": account.status,
        "expires_at": account.expires_at,
        "last_refresh_at": account.last_refresh_at,
        "refresh_failures": account.refresh_failures,
        "next_refresh_at": account.next_refresh_at,
        "last_error": account.last_error,
        "quota": {
            "primary": window_json(account.quota.primary),
            "secondary": window_json(account.quota.secondary),
            "updated_at": account.quota_updated_at,
        },
        "cooldown_until": cooldown_until,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
    })
}

async fn start(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(channel_id): IdPath,
) -> ApiResult<Json<Value>> {
    let started = accounts::start(&state, channel_id, admin.actor()).await?;
    let listener = match &started.listener {
        ListenerStatus::Off => json!({ "status": "off", "port": null, "message": null }),
        ListenerStatus::Listening(port) => {
            json!({ "status": "listening", "port": port, "message": null })
        }
        ListenerStatus::Unavailable(message) => {
            json!({ "status": "unavailable", "port": null, "message": message })
        }
    };
    Ok(Json(json!({
        "auth_url": started.auth_url,
        "state": started.state,
        "expires_at": started.expires_at,
        "redirect_uri": started.redirect_uri,
        "listener": listener,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    callback_url: String,
}

async fn complete(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(channel_id): IdPath,
    ApiJson(body): ApiJson<CompleteBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let added = accounts::complete(&state, channel_id, admin.actor(), &body.callback_url).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "account": account_json(&state, &added.account), "created": added.created })),
    ))
}

async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    IdPath(channel_id): IdPath,
) -> ApiResult<Json<Value>> {
    accounts::ensure_codex_channel(&state, channel_id).await?;
    let items = state
        .store
        .read(move |c| codex_accounts::list_for_channel(c, channel_id))
        .await?;
    Ok(Json(json!({
        "items": items.iter().map(|a| account_json(&state, a)).collect::<Vec<_>>(),
        "next_cursor": null,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    access_token: String,
    refresh_token: String,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

async fn import(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(channel_id): IdPath,
    ApiJson(body): ApiJson<ImportBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input = Import {
        access_token: body.access_token,
        refresh_token: body.refresh_token,
        id_token: body.id_token,
        account_id: body.account_id,
        email: body.email,
        expires_at: body.expires_at,
    };
    let added = accounts::import(&state, channel_id, admin.actor(), input).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "account": account_json(&state, &added.account), "created": added.created })),
    ))
}

/// The account of this channel, or the right 404/422.
async fn find(state: &AppState, channel_id: i64, id: i64) -> ApiResult<Account> {
    accounts::ensure_codex_channel(state, channel_id).await?;
    state
        .store
        .read(move |c| codex_accounts::get(c, channel_id, id))
        .await
        .map_err(or_not_found("codex account"))
}

async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    IdPair(channel_id, id): IdPair,
) -> ApiResult<Json<Value>> {
    let account = find(&state, channel_id, id).await?;
    Ok(Json(json!({ "account": account_json(&state, &account) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    status: Option<Status>,
}

async fn update(
    State(state): State<AppState>,
    admin: Admin,
    IdPair(channel_id, id): IdPair,
    ApiJson(body): ApiJson<UpdateBody>,
) -> ApiResult<Json<Value>> {
    find(&state, channel_id, id).await?;
    let actor = admin.actor();
    let status = body.status;
    let account = state
        .store
        .write(move |tx| {
            let patch = CredentialPatch { name: None, status };
            credentials::update(tx, channel_id, id, &patch)?;
            let account = codex_accounts::get(tx, channel_id, id)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "codex_account.update",
                    "codex_account",
                    id,
                    json!({ "channel_id": channel_id, "status": account.status }),
                ),
            )?;
            Ok(account)
        })
        .await
        .map_err(or_not_found("codex account"))?;
    catalog_changed(&state).await;
    Ok(Json(json!({ "account": account_json(&state, &account) })))
}

async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    IdPair(channel_id, id): IdPair,
) -> ApiResult<StatusCode> {
    let account = find(&state, channel_id, id).await?;
    let actor = admin.actor();
    state
        .store
        .write(move |tx| {
            // the account row goes with its credential (`ON DELETE CASCADE`)
            credentials::delete(tx, channel_id, id)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "codex_account.delete",
                    "codex_account",
                    id,
                    json!({ "channel_id": channel_id, "account_id": account.account_id }),
                ),
            )
        })
        .await
        .map_err(or_not_found("codex account"))?;
    catalog_changed(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn refresh(
    State(state): State<AppState>,
    admin: Admin,
    IdPair(channel_id, id): IdPair,
) -> ApiResult<Json<Value>> {
    find(&state, channel_id, id).await?;
    let actor = admin.actor();
    let refreshed = tokens::refresh_account(&state, id, Trigger::Forced).await;
    let detail = json!({ "channel_id": channel_id, "ok": refreshed.is_ok() });
    state
        .store
        .write(move |tx| {
            audit::insert(
                tx,
                &audit_event(actor, "codex_account.refresh", "codex_account", id, detail),
            )
        })
        .await?;
    refreshed?;
    let quota_error = upkeep::fetch_one(&state, id).await.err();
    let account = state
        .store
        .read(move |c| codex_accounts::get(c, channel_id, id))
        .await
        .map_err(or_not_found("codex account"))?;
    Ok(Json(json!({
        "account": account_json(&state, &account),
        "quota_error": quota_error,
    })))
}
