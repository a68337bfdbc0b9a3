//! `/api/admin/channels/{id}/models`: which catalogue models a channel serves, optionally under
//! another upstream name. A model that is not in the catalogue is `model_not_found`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog_changed;
use super::input::{
    IdPair, MAX_PUBLIC_ID_CHARS, MAX_UPSTREAM_MODEL_CHARS, audit_event, check_model_id,
    delete_channel_child, double_option, or_not_found,
};
use crate::api::extract::{Admin, ApiJson, IdPath};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::channel_models::{self, BindingPatch};
use crate::store::{StoreError, audit, channels, models};

/// The binding routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/channels/{id}/models", get(list).post(create))
        .route(
            "/channels/{id}/models/{binding_id}",
            patch(update).delete(delete),
        )
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
            channel_models::list_for_channel(c, channel_id)
        })
        .await
        .map_err(or_not_found("channel"))?;
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBinding {
    public_id: String,
    #[serde(default)]
    upstream_model: Option<String>,
}

fn upstream(value: Option<&str>) -> ApiResult<Option<String>> {
    value
        .map(|m| check_model_id("upstream_model", m, MAX_UPSTREAM_MODEL_CHARS))
        .transpose()
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(channel_id): IdPath,
    ApiJson(body): ApiJson<CreateBinding>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let public_id = check_model_id("public_id", &body.public_id, MAX_PUBLIC_ID_CHARS)?;
    let upstream_model = upstream(body.upstream_model.as_deref())?;
    let actor = admin.actor();
    let binding = state
        .store
        .write(move |tx| {
            if !channels::exists(tx, channel_id)? {
                return Ok(Err(ApiError::not_found("channel")));
            }
            let Some(model) = models::find_by_public_id(tx, &public_id)? else {
                return Ok(Err(ApiError::new(
                    ErrorCode::ModelNotFound,
                    format!("model `{public_id}` is not in the catalogue; add it first"),
                )));
            };
            let binding =
                channel_models::insert(tx, channel_id, model.id, upstream_model.as_deref())?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "binding.create",
                    "binding",
                    binding.id,
                    json!({ "channel_id": channel_id, "public_id": binding.public_id }),
                ),
            )?;
            Ok(Ok(binding))
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::new(
                ErrorCode::AlreadyExists,
                "that model is already bound to this channel",
            ),
            other => other.into(),
        })??;
    catalog_changed(&state).await;
    Ok((StatusCode::CREATED, Json(json!({ "binding": binding }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBinding {
    #[serde(default, with = "double_option")]
    upstream_model: Option<Option<String>>,
    #[serde(default)]
    enabled: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    admin: Admin,
    IdPair(channel_id, id): IdPair,
    ApiJson(body): ApiJson<UpdateBinding>,
) -> ApiResult<Json<Value>> {
    let patch = BindingPatch {
        upstream_model: body
            .upstream_model
            .map(|m| upstream(m.as_deref()))
            .transpose()?,
        enabled: body.enabled,
    };
    let actor = admin.actor();
    let binding = state
        .store
        .write(move |tx| {
            if !channels::exists(tx, channel_id)? {
                return Ok(Err(ApiError::not_found("channel")));
            }
            let binding = channel_models::update(tx, channel_id, id, &patch)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "binding.update",
                    "binding",
                    id,
                    json!({
                        "channel_id": channel_id,
                        "upstream_model": binding.upstream_model,
                        "enabled": binding.enabled,
                    }),
                ),
            )?;
            Ok(Ok(binding))
        })
        .await
        .map_err(or_not_found("binding"))??;
    catalog_changed(&state).await;
    Ok(Json(json!({ "binding": binding })))
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
        "binding",
        "binding.delete",
        channel_models::delete,
    )
    .await
}
