//! `/api/admin/users`: create, list, edit, disable, reset password, delete; a user's tokens and
//! balance.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::password;
use crate::api::auth::{check_email, check_username};
use crate::api::extract::{Admin, ApiJson, ApiQuery, IdPath, Pagination};
use crate::api::me::user_json;
use crate::api::tokens::{CreateToken, create_for, token_json};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::audit::{self, Actor, AuditEvent};
use crate::store::users::{self, NewUser, Role, UserPatch, UserStatus};
use crate::store::{StoreError, sessions, tokens};

/// Largest single balance adjustment, in USD; a typo guard, not a business rule.
const MAX_BALANCE_ADJUSTMENT_USD: i64 = 1_000_000_000;

/// Marker of the refusal below, carried through the store error so the write rolls back.
const LAST_ROOT: &str = "last_active_root";

/// Refuses (rolling the write back) when no active root user would remain: the site could no
/// longer be administered from the console.
fn ensure_a_root_remains(tx: &crate::store::Conn) -> Result<(), StoreError> {
    if users::active_root_count(tx)? == 0 {
        return Err(StoreError::Conflict(LAST_ROOT.into()));
    }
    Ok(())
}

fn last_root_error() -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        "the last active root user cannot be demoted, disabled or deleted",
    )
}

/// The user admin routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/{id}", get(show).patch(update).delete(delete))
        .route("/users/{id}/password", post(reset_password))
        .route("/users/{id}/tokens", get(list_tokens).post(create_token))
        .route("/users/{id}/balance", post(adjust_balance))
}

fn not_found(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found("user"),
        other => other.into(),
    }
}

fn audit_event(actor: Actor, action: &'static str, id: i64, detail: Value) -> AuditEvent<'static> {
    AuditEvent {
        actor,
        action,
        target_kind: "user",
        target_id: Some(id),
        detail,
        ip: None,
    }
}

async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<Value>> {
    let (limit, cursor) = page.resolve()?;
    let page = state
        .store
        .read(move |c| users::list(c, cursor, limit))
        .await?;
    Ok(Json(json!({
        "items": page.items.iter().map(|u| user_json(u, &state)).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor.map(|c| c.to_string()),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    username: String,
    email: String,
    password: String,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    user_group_id: Option<i64>,
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let username = check_username(&body.username)?;
    let email = check_email(&body.email)?;
    password::check_strength(&body.password, &state.config.auth).map_err(ApiError::invalid)?;
    let hash = password::hash(&body.password, &state.config.auth).await?;
    let new = NewUser {
        username,
        email,
        password_hash: hash,
        role: body.role.unwrap_or(Role::User),
        user_group_id: body.user_group_id,
    };
    let actor = admin.actor();
    let user = state
        .store
        .write(move |tx| {
            let user = users::insert(tx, &new)?;
            audit::insert(
                tx,
                &audit_event(actor, "user.create", user.id, json!({ "role": user.role })),
            )?;
            Ok(user)
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(what) if what.contains("FOREIGN KEY") => {
                ApiError::new(ErrorCode::Unprocessable, "that user group does not exist")
            }
            other => other.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user": user_json(&user, &state) })),
    ))
}

async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let user = state
        .store
        .read(move |c| users::get(c, id))
        .await
        .map_err(not_found)?;
    Ok(Json(json!({ "user": user_json(&user, &state) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    status: Option<UserStatus>,
    #[serde(default)]
    user_group_id: Option<i64>,
}

async fn update(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<Value>> {
    let patch = UserPatch {
        username: body.username.as_deref().map(check_username).transpose()?,
        email: body.email.as_deref().map(check_email).transpose()?,
        role: body.role,
        status: body.status,
        user_group_id: body.user_group_id,
    };
    if let Admin::Root(me) = &admin
        && me.user.id == id
        && (patch.role == Some(Role::User) || patch.status == Some(UserStatus::Disabled))
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you cannot demote or disable yourself",
        ));
    }
    let actor = admin.actor();
    let user = state
        .store
        .write(move |tx| {
            let user = users::update(tx, id, &patch)?;
            ensure_a_root_remains(tx)?;
            if patch.status == Some(UserStatus::Disabled) {
                sessions::delete_for_user(tx, id, None)?;
            }
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "user.update",
                    id,
                    json!({ "status": user.status, "role": user.role }),
                ),
            )?;
            Ok(user)
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(what) if what.contains("FOREIGN KEY") => {
                ApiError::new(ErrorCode::Unprocessable, "that user group does not exist")
            }
            StoreError::Conflict(what) if what == LAST_ROOT => last_root_error(),
            other => not_found(other),
        })?;
    state.routing_changed().await;
    Ok(Json(json!({ "user": user_json(&user, &state) })))
}

async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    if let Admin::Root(me) = &admin
        && me.user.id == id
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you cannot delete yourself",
        ));
    }
    let actor = admin.actor();
    let balances = std::sync::Arc::clone(&state.relay.balances);
    state
        .store
        .write_then(
            move |tx| {
                users::delete(tx, id)?;
                ensure_a_root_remains(tx)?;
                audit::insert(tx, &audit_event(actor, "user.delete", id, json!({})))
            },
            // what the user's calls hold goes with them
            move |()| balances.forget(id),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(what) if what == LAST_ROOT => last_root_error(),
            other => not_found(other),
        })?;
    state.routing_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetPassword {
    password: String,
}

/// Sets a new password and ends all of the user's sessions.
async fn reset_password(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<ResetPassword>,
) -> ApiResult<StatusCode> {
    password::check_strength(&body.password, &state.config.auth).map_err(ApiError::invalid)?;
    let hash = password::hash(&body.password, &state.config.auth).await?;
    let actor = admin.actor();
    state
        .store
        .write(move |tx| {
            users::set_password_hash(tx, id, &hash)?;
            sessions::delete_for_user(tx, id, None)?;
            audit::insert(
                tx,
                &audit_event(actor, "user.reset_password", id, json!({})),
            )
        })
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_tokens(
    State(state): State<AppState>,
    _admin: Admin,
    IdPath(id): IdPath,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<Value>> {
    let (limit, cursor) = page.resolve()?;
    let page = state
        .store
        .read(move |c| {
            users::get(c, id)?;
            tokens::list_for_user(c, id, cursor, limit)
        })
        .await
        .map_err(not_found)?;
    Ok(Json(json!({
        "items": page.items.iter().map(token_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor.map(|c| c.to_string()),
    })))
}

async fn create_token(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state
        .store
        .read(move |c| users::get(c, id))
        .await
        .map_err(not_found)?;
    let (token, key) = create_for(&state, admin.actor(), id, body).await?;
    let mut out = token_json(&token);
    out["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustBalance {
    amount_usd: crate::api::money::Money,
    #[serde(default)]
    note: Option<String>,
}

async fn adjust_balance(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<AdjustBalance>,
) -> ApiResult<Json<Value>> {
    let amount: Decimal = body.amount_usd.0;
    if amount.abs() > Decimal::from(MAX_BALANCE_ADJUSTMENT_USD) {
        return Err(ApiError::invalid("`amount_usd` is too large"));
    }
    let note: String = body.note.unwrap_or_default().chars().take(500).collect();
    let actor = admin.actor();
    let balance = state
        .store
        .write(move |tx| {
            let balance = users::add_balance(tx, id, amount)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "user.adjust_balance",
                    id,
                    json!({ "amount_usd": amount.to_string(), "note": note }),
                ),
            )?;
            Ok(balance)
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::new(ErrorCode::Unprocessable, "the balance cannot go below zero")
            }
            other => not_found(other),
        })?;
    state.routing_changed().await;
    Ok(Json(json!({ "balance_usd": balance.to_string() })))
}
