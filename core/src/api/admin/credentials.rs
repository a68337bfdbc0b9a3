//! `/api/admin/channels/{id}/credentials`: a channel's API keys. Keys go in sealed and come out
//! as a hint only; a credential of another channel is answered as missing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog_changed;
use super::channels::credential_json;
use super::input::{IdPair, audit_event, check_api_key, delete_channel_child, or_not_found};
use crate::accounts::keys;
use crate::api::extract::{Admin, ApiJson, IdPath, check_name};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::channels::{self, ChannelKind, Status};
use crate::store::credentials::{self, CredentialPatch, NewCredential};
use crate::store::{StoreError, audit};

/// The credential routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/channels/{id}/credentials", get(list).post(create))
        .route(
            "/channels/{id}/credentials/{cred_id}",
            patch(update).delete(delete),
        )
}

/// The channel must exist before its credentials are looked at, so the two 404s differ.
fn channel_missing(err: StoreError) -> ApiError {
    or_not_found("channel")(err)
}

async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    IdPath(channel_id): IdPath,
) -> ApiResult<Json<Value>> {
    let items = state
        .store
        .read(move |c| {
            channels::get(c, channel_id)?;
            credentials::list_for_channel(c, channel_id)
        })
        .await
        .map_err(channel_missing)?;
    Ok(Json(json!({
        "items": items.iter().map(credential_json).collect::<Vec<_>>(),
        "next_cursor": null,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateCredential {
    api_key: String,
    #[serde(default)]
    name: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(channel_id): IdPath,
    ApiJson(body): ApiJson<CreateCredential>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let key = check_api_key("api_key", &body.api_key)?;
    let max = state.config.limits.max_name_chars;
    let name = match body.name.as_deref().map(str::trim) {
        None | Some("") => String::new(),
        Some(name) => check_name("name", name, max)?,
    };
    let new = NewCredential {
        channel_id,
        name,
        secret_sealed: state.sealer.seal_str(&key).map_err(ApiError::internal)?,
        hint: keys::hint(&key),
    };
    let actor = admin.actor();
    let credential = state
        .store
        .write(move |tx| {
            let channel = channels::get(tx, channel_id)?;
            if channel.kind == ChannelKind::CodexOauth {
                return Ok(Err(ApiError::new(
                    ErrorCode::Unprocessable,
                    "`codex_oauth` channels use OAuth accounts, not API keys",
                )));
            }
            let credential = credentials::insert(tx, &new)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "credential.create",
                    "credential",
                    credential.id,
                    json!({ "channel_id": channel_id, "hint": credential.hint }),
                ),
            )?;
            Ok(Ok(credential))
        })
        .await
        .map_err(channel_missing)??;
    catalog_changed(&state).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "credential": credential_json(&credential) })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateCredential {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<Status>,
}

async fn update(
    State(state): State<AppState>,
    admin: Admin,
    IdPair(channel_id, id): IdPair,
    ApiJson(body): ApiJson<UpdateCredential>,
) -> ApiResult<Json<Value>> {
    let max = state.config.limits.max_name_chars;
    let name = match body.name.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(String::new()),
        Some(name) => Some(check_name("name", name, max)?),
    };
    let patch = CredentialPatch {
        name,
        status: body.status,
    };
    let actor = admin.actor();
    let credential = state
        .store
        .write(move |tx| {
            if !channels::exists(tx, channel_id)? {
                return Ok(Err(ApiError::not_found("channel")));
            }
            let credential = credentials::update(tx, channel_id, id, &patch)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "credential.update",
                    "credential",
                    id,
                    json!({ "channel_id": channel_id, "status": credential.status }),
                ),
            )?;
            Ok(Ok(credential))
        })
        .await
        .map_err(or_not_found("credential"))??;
    catalog_changed(&state).await;
    Ok(Json(json!({ "credential": credential_json(&credential) })))
}

async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    IdPair(channel_id, id): IdPair,
) -> ApiResult<StatusCode> {
    delete_channel_child(
        &state,
        admin.actor(),
        (channel_id, id),
        "credential",
        "credential.delete",
        credentials::delete,
    )
    .await
}
