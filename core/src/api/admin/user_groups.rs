//! `/api/admin/user-groups`: which channel groups the users of each group may use. The `default`
//! group (id 1) and groups that still have users cannot be deleted. Users join groups through
//! `/api/admin/users`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog_changed;
use super::input::{audit_event, check_description, or_not_found, page_json};
use crate::api::extract::{Admin, ApiJson, ApiQuery, IdPath, Pagination, check_name};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::user_groups::{self, DEFAULT_GROUP_ID, NewUserGroup, UserGroup, UserGroupPatch};
use crate::store::{Conn, StoreError, audit, channel_groups};

/// Most channel groups one user group may allow.
const MAX_CHANNEL_GROUPS: usize = 64;

/// The user group routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/user-groups", get(list).post(create))
        .route("/user-groups/{id}", get(show).patch(update).delete(delete))
}

fn group_json(group: &UserGroup) -> Value {
    json!(group)
}

/// Checks that every channel group exists; returns them in order without duplicates. Reads only.
fn check_channel_groups(c: &Conn, ids: &[i64]) -> Result<Result<Vec<i64>, ApiError>, StoreError> {
    if ids.len() > MAX_CHANNEL_GROUPS {
        return Ok(Err(ApiError::invalid(format!(
            "`channel_groups` may list at most {MAX_CHANNEL_GROUPS}"
        ))));
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if !channel_groups::exists(c, *id)? {
            return Ok(Err(ApiError::new(
                ErrorCode::Unprocessable,
                format!("channel group {id} does not exist"),
            )));
        }
        if !out.contains(id) {
            out.push(*id);
        }
    }
    Ok(Ok(out))
}

async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<Value>> {
    let (limit, cursor) = page.resolve()?;
    let page = state
        .store
        .read(move |c| user_groups::list(c, cursor, limit))
        .await?;
    Ok(Json(page_json(&page, group_json)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateGroup {
    name: String,
    #[serde(default)]
    description: Option<String>,
    channel_groups: Vec<i64>,
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateGroup>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = check_name("name", &body.name, state.config.limits.max_name_chars)?;
    let description = check_description(body.description.as_deref().unwrap_or_default())?;
    let actor = admin.actor();
    let group = state
        .store
        .write(move |tx| {
            let channel_groups = match check_channel_groups(tx, &body.channel_groups)? {
                Ok(ids) => ids,
                Err(err) => return Ok(Err(err)),
            };
            let group = user_groups::insert(
                tx,
                &NewUserGroup {
                    name,
                    description,
                    channel_groups,
                },
            )?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "user_group.create",
                    "user_group",
                    group.id,
                    json!({ "name": group.name, "channel_groups": group.channel_groups }),
                ),
            )?;
            Ok(Ok(group))
        })
        .await??;
    catalog_changed(&state).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user_group": group_json(&group) })),
    ))
}

async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let group = state
        .store
        .read(move |c| user_groups::get(c, id))
        .await
        .map_err(or_not_found("user group"))?;
    Ok(Json(json!({ "user_group": group_json(&group) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateGroup {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    channel_groups: Option<Vec<i64>>,
}

async fn update(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<UpdateGroup>,
) -> ApiResult<Json<Value>> {
    let max = state.config.limits.max_name_chars;
    let name = body.name.map(|n| check_name("name", &n, max)).transpose()?;
    let description = body
        .description
        .as_deref()
        .map(check_description)
        .transpose()?;
    let actor = admin.actor();
    let group = state
        .store
        .write(move |tx| {
            user_groups::get(tx, id)?;
            let channel_groups = match body.channel_groups.as_deref() {
                None => None,
                Some(ids) => match check_channel_groups(tx, ids)? {
                    Ok(ids) => Some(ids),
                    Err(err) => return Ok(Err(err)),
                },
            };
            let group = user_groups::update(
                tx,
                id,
                &UserGroupPatch {
                    name,
                    description,
                    channel_groups,
                },
            )?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "user_group.update",
                    "user_group",
                    id,
                    json!({ "channel_groups": group.channel_groups }),
                ),
            )?;
            Ok(Ok(group))
        })
        .await
        .map_err(or_not_found("user group"))??;
    catalog_changed(&state).await;
    Ok(Json(json!({ "user_group": group_json(&group) })))
}

async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    if id == DEFAULT_GROUP_ID {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "the `default` user group cannot be deleted",
        ));
    }
    let actor = admin.actor();
    state
        .store
        .write(move |tx| {
            let group = user_groups::get(tx, id)?;
            let users = user_groups::user_count(tx, id)?;
            if users > 0 {
                return Ok(Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("{users} users are still in this group; move them first"),
                )));
            }
            user_groups::delete(tx, id)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "user_group.delete",
                    "user_group",
                    id,
                    json!({ "name": group.name }),
                ),
            )?;
            Ok(Ok(()))
        })
        .await
        .map_err(or_not_found("user group"))??;
    catalog_changed(&state).await;
    Ok(StatusCode::NO_CONTENT)
}
