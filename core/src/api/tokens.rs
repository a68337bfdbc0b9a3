//! `/api/tokens`: a user's own `sk_` tokens: list, create, reveal, rotate, revoke, edit, delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiJson, ApiQuery, IdPath, Pagination, SignedIn, check_name};
use crate::accounts::keys;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::audit::{self, Actor, AuditEvent};
use crate::store::tokens::{self, NewToken, Token, TokenStatus};
use crate::store::{Conn, StoreError, user_groups, users};

/// Most model names one token's allow-list may hold.
pub const MAX_TOKEN_MODELS: usize = 256;
/// Most channel groups one token may list.
pub const MAX_TOKEN_GROUPS: usize = 64;

/// The token routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tokens", get(list).post(create))
        .route("/tokens/{id}", get(show).patch(update).delete(delete))
        .route("/tokens/{id}/reveal", post(reveal))
        .route("/tokens/{id}/rotate", post(rotate))
        .route("/tokens/{id}/revoke", post(revoke))
}

/// A token as the API shows it (hint only).
pub fn token_json(token: &Token) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "hint": token.hint,
        "status": token.status,
        "models": token.models,
        "channel_groups": token.channel_groups,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
    })
}

/// The body of a token creation, shared with the admin route that creates a token for a user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    models: Option<Vec<String>>,
    #[serde(default)]
    channel_groups: Option<Vec<i64>>,
}

fn check_models(
    models: Option<Vec<String>>,
    max_chars: usize,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(models) = models else {
        return Ok(None);
    };
    if models.len() > MAX_TOKEN_MODELS {
        return Err(ApiError::invalid(format!(
            "`models` may list at most {MAX_TOKEN_MODELS} models"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(models.len());
    for model in models {
        let model = check_name("models[]", &model, max_chars)?;
        if !out.contains(&model) {
            out.push(model);
        }
    }
    Ok(Some(out))
}

fn check_expiry(expires_at: Option<DateTime<Utc>>) -> Result<Option<i64>, ApiError> {
    match expires_at {
        Some(t) if t <= Utc::now() => Err(ApiError::invalid("`expires_at` must be in the future")),
        other => Ok(other.map(|t| t.timestamp_millis())),
    }
}

/// Channel groups for a token: the requested ones (each must be allowed for the user's group),
/// or, when none are given, none of its own: the token follows its user group's groups, also
/// when the user moves to another user group or the group gains one.
fn resolve_groups(
    c: &Conn,
    user_id: i64,
    requested: Option<&[i64]>,
) -> Result<Result<Vec<i64>, ApiError>, StoreError> {
    let Some(requested) = requested else {
        return Ok(Ok(Vec::new()));
    };
    let user = users::get(c, user_id)?;
    let allowed = user_groups::allowed_channel_groups(c, user.user_group_id)?;
    if requested.len() > MAX_TOKEN_GROUPS {
        return Ok(Err(ApiError::invalid(format!(
            "`channel_groups` may list at most {MAX_TOKEN_GROUPS}"
        ))));
    }
    let mut out = Vec::with_capacity(requested.len());
    for id in requested {
        if !allowed.contains(id) {
            return Ok(Err(ApiError::new(
                ErrorCode::Unprocessable,
                format!("channel group {id} is not available to this user"),
            )));
        }
        if !out.contains(id) {
            out.push(*id);
        }
    }
    Ok(Ok(out))
}

/// Creates a token for `user_id`; returns the stored token and the key, shown only now.
pub async fn create_for(
    state: &AppState,
    actor: Actor,
    user_id: i64,
    body: CreateToken,
) -> ApiResult<(Token, String)> {
    let name = check_name("name", &body.name, state.config.limits.max_name_chars)?;
    let models = check_models(body.models, state.config.limits.max_name_chars)?;
    let expires_at = check_expiry(body.expires_at)?;
    let generated = keys::generate(&state.sealer).map_err(ApiError::internal)?;
    let key = generated.key.clone();
    let token = state
        .store
        .write(move |tx| {
            let groups = match resolve_groups(tx, user_id, body.channel_groups.as_deref())? {
                Ok(groups) => groups,
                Err(err) => return Ok(Err(err)),
            };
            let token = tokens::insert(
                tx,
                &NewToken {
                    user_id,
                    name,
                    key_hash: generated.hash,
                    key_sealed: generated.sealed,
                    hint: generated.hint,
                    models,
                    channel_groups: groups,
                    expires_at,
                },
            )?;
            audit::insert(
                tx,
                &AuditEvent {
                    actor,
                    action: "token.create",
                    target_kind: "token",
                    target_id: Some(token.id),
                    detail: json!({ "user_id": user_id }),
                    ip: None,
                },
            )?;
            Ok(Ok(token))
        })
        .await??;
    state.routing_changed().await;
    Ok((token, key))
}

async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<Value>> {
    let (limit, cursor) = page.resolve()?;
    let user_id = signed_in.user.id;
    let page = state
        .store
        .read(move |c| tokens::list_for_user(c, user_id, cursor, limit))
        .await?;
    Ok(Json(json!({
        "items": page.items.iter().map(token_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor.map(|c| c.to_string()),
    })))
}

async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (token, key) = create_for(&state, signed_in.actor(), signed_in.user.id, body).await?;
    let mut out = token_json(&token);
    out["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(out)))
}

async fn owned(state: &AppState, signed_in: &SignedIn, id: i64) -> ApiResult<Token> {
    let user_id = signed_in.user.id;
    state
        .store
        .read(move |c| tokens::get_owned(c, id, user_id))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("token"),
            other => other.into(),
        })
}

async fn show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    Ok(Json(token_json(&owned(&state, &signed_in, id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateToken {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, with = "double_option")]
    models: Option<Option<Vec<String>>>,
    #[serde(default, with = "double_option")]
    expires_at: Option<Option<DateTime<Utc>>>,
    #[serde(default)]
    channel_groups: Option<Vec<i64>>,
}

/// `null` and absent are different in a PATCH: absent keeps the value, `null` clears it.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

async fn update(
    State(state): State<AppState>,
    signed_in: SignedIn,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<UpdateToken>,
) -> ApiResult<Json<Value>> {
    owned(&state, &signed_in, id).await?;
    let max = state.config.limits.max_name_chars;
    let name = body.name.map(|n| check_name("name", &n, max)).transpose()?;
    let models = body.models.map(|m| check_models(m, max)).transpose()?;
    let expires_at = body.expires_at.map(check_expiry).transpose()?;
    let user_id = signed_in.user.id;
    let token = state
        .store
        .write(move |tx| {
            let groups = match body.channel_groups {
                Some(requested) => match resolve_groups(tx, user_id, Some(&requested))? {
                    Ok(groups) => Some(groups),
                    Err(err) => return Ok(Err(err)),
                },
                None => None,
            };
            Ok(Ok(tokens::update(
                tx,
                id,
                name.as_deref(),
                models,
                expires_at,
                groups.as_deref(),
            )?))
        })
        .await??;
    state.routing_changed().await;
    Ok(Json(token_json(&token)))
}

async fn reveal(
    State(state): State<AppState>,
    signed_in: SignedIn,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let token = owned(&state, &signed_in, id).await?;
    if token.status == TokenStatus::Revoked {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "a revoked token cannot be revealed",
        ));
    }
    let sealed = state.store.read(move |c| tokens::sealed_key(c, id)).await?;
    let key = state.sealer.open_str(&sealed).map_err(ApiError::internal)?;
    let actor = signed_in.actor();
    state
        .store
        .write(move |tx| {
            audit::insert(
                tx,
                &AuditEvent {
                    actor,
                    action: "token.reveal",
                    target_kind: "token",
                    target_id: Some(id),
                    detail: json!({}),
                    ip: None,
                },
            )
        })
        .await?;
    Ok(Json(json!({ "id": id, "key": key })))
}

async fn rotate(
    State(state): State<AppState>,
    signed_in: SignedIn,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let token = owned(&state, &signed_in, id).await?;
    if token.status == TokenStatus::Revoked {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "a revoked token cannot be rotated",
        ));
    }
    let generated = keys::generate(&state.sealer).map_err(ApiError::internal)?;
    let key = generated.key.clone();
    let actor = signed_in.actor();
    let token = state
        .store
        .write(move |tx| {
            tokens::replace_key(tx, id, &generated.hash, &generated.sealed, &generated.hint)?;
            audit::insert(
                tx,
                &AuditEvent {
                    actor,
                    action: "token.rotate",
                    target_kind: "token",
                    target_id: Some(id),
                    detail: json!({}),
                    ip: None,
                },
            )?;
            tokens::get(tx, id)
        })
        .await?;
    state.routing_changed().await;
    let mut out = token_json(&token);
    out["key"] = json!(key);
    Ok(Json(out))
}

async fn revoke(
    State(state): State<AppState>,
    signed_in: SignedIn,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    owned(&state, &signed_in, id).await?;
    let actor = signed_in.actor();
    let token = state
        .store
        .write(move |tx| {
            let token = tokens::revoke(tx, id)?;
            audit::insert(
                tx,
                &AuditEvent {
                    actor,
                    action: "token.revoke",
                    target_kind: "token",
                    target_id: Some(id),
                    detail: json!({}),
                    ip: None,
                },
            )?;
            Ok(token)
        })
        .await?;
    state.routing_changed().await;
    Ok(Json(json!({ "token": token_json(&token) })))
}

async fn delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    owned(&state, &signed_in, id).await?;
    let actor = signed_in.actor();
    state
        .store
        .write(move |tx| {
            tokens::delete(tx, id)?;
            audit::insert(
                tx,
                &AuditEvent {
                    actor,
                    action: "token.delete",
                    target_kind: "token",
                    target_id: Some(id),
                    detail: json!({}),
                    ip: None,
                },
            )
        })
        .await?;
    state.routing_changed().await;
    Ok(StatusCode::NO_CONTENT)
}
