//! `/api/me`: the signed-in user, changing one's password and email.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::check_email;
use super::extract::{ApiJson, SignedIn};
use crate::accounts::password;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::users::{self, User, UserPatch};
use crate::store::{audit, sessions};

/// The `/me` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/me", get(me).patch(update_me))
        .route("/me/password", post(change_password))
}

/// A user as the API shows it (never the password hash). `balance_usd` only when billing is on.
pub fn user_json(user: &User, state: &AppState) -> Value {
    let mut value = json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "role": user.role,
        "status": user.status,
        "user_group_id": user.user_group_id,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    });
    if !state.settings().feature_disable_billing {
        value["balance_usd"] = json!(user.balance_usd.normalize().to_string());
    }
    value
}

async fn me(State(state): State<AppState>, signed_in: SignedIn) -> Json<Value> {
    let mut body = user_json(&signed_in.user, &state);
    body["features"] = state.settings().features();
    Json(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMe {
    email: String,
    current_password: String,
}

async fn update_me(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ApiJson(body): ApiJson<UpdateMe>,
) -> ApiResult<Json<Value>> {
    let email = check_email(&body.email)?;
    if !password::verify(
        &body.current_password,
        Some(signed_in.user.password_hash.clone()),
    )
    .await
    {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "the current password is wrong",
        ));
    }
    let id = signed_in.user.id;
    let user = state
        .store
        .write(move |tx| {
            let user = users::update(
                tx,
                id,
                &UserPatch {
                    email: Some(email),
                    ..UserPatch::default()
                },
            )?;
            audit::insert(
                tx,
                &audit::AuditEvent {
                    actor: audit::Actor::User(id),
                    action: "user.change_email",
                    target_kind: "user",
                    target_id: Some(id),
                    detail: json!({}),
                    ip: None,
                },
            )?;
            Ok(user)
        })
        .await?;
    Ok(Json(json!({ "user": user_json(&user, &state) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Changes the password and ends every other session of the user.
async fn change_password(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ApiJson(body): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    password::check_strength(&body.new_password, &state.config.auth).map_err(ApiError::invalid)?;
    if !password::verify(
        &body.current_password,
        Some(signed_in.user.password_hash.clone()),
    )
    .await
    {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "the current password is wrong",
        ));
    }
    let hash = password::hash(&body.new_password, &state.config.auth).await?;
    let (id, keep) = (signed_in.user.id, signed_in.session_id);
    state
        .store
        .write(move |tx| {
            users::set_password_hash(tx, id, &hash)?;
            sessions::delete_for_user(tx, id, Some(keep))?;
            audit::insert(
                tx,
                &audit::AuditEvent {
                    actor: audit::Actor::User(id),
                    action: "user.change_password",
                    target_kind: "user",
                    target_id: Some(id),
                    detail: json!({}),
                    ip: None,
                },
            )
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
