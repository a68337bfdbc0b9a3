//! `/api/admin/channel-groups`: named sets of channels with a price multiplier, nested through
//! `parent_id` (a loop is refused), and their memberships. The `default` group (id 1) stays.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog_changed;
use super::input::{
    IdPair, audit_event, check_description, double_option, or_not_found, page_json,
};
use crate::api::extract::{Admin, ApiJson, ApiQuery, IdPath, Pagination, check_name};
use crate::api::money::Money;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::channel_groups::{
    self, ChannelGroup, ChannelGroupPatch, DEFAULT_GROUP_ID, NewChannelGroup,
};
use crate::store::{Conn, Page, StoreError, audit, channels};

/// Highest price multiplier accepted; a guard against a misplaced decimal point.
const MAX_MULTIPLIER: i64 = 1000;

/// The channel group routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/channel-groups", get(list).post(create))
        .route(
            "/channel-groups/{id}",
            get(show).patch(update).delete(delete),
        )
        .route(
            "/channel-groups/{id}/channels/{channel_id}",
            post(add_member).delete(remove_member),
        )
}

fn group_json((group, channel_ids): &(ChannelGroup, Vec<i64>)) -> Value {
    let mut value = json!(group);
    value["channel_ids"] = json!(channel_ids);
    value
}

fn with_members(c: &Conn, group: ChannelGroup) -> Result<(ChannelGroup, Vec<i64>), StoreError> {
    let members = channel_groups::member_ids(c, group.id)?;
    Ok((group, members))
}

fn check_multiplier(value: Money) -> ApiResult<Decimal> {
    let multiplier = value.0;
    if multiplier <= Decimal::ZERO || multiplier > Decimal::from(MAX_MULTIPLIER) {
        return Err(ApiError::invalid(format!(
            "`price_multiplier` must be greater than 0 and at most {MAX_MULTIPLIER}"
        )));
    }
    Ok(multiplier.normalize())
}

/// Refuses a parent that does not exist or that would close a loop. Reads only.
fn check_parent(c: &Conn, id: Option<i64>, parent_id: i64) -> Result<Option<ApiError>, StoreError> {
    if !channel_groups::exists(c, parent_id)? {
        return Ok(Some(ApiError::new(
            ErrorCode::Unprocessable,
            format!("parent group {parent_id} does not exist"),
        )));
    }
    if let Some(id) = id
        && channel_groups::would_cycle(c, id, parent_id)?
    {
        return Ok(Some(ApiError::new(
            ErrorCode::Unprocessable,
            "that parent would make the groups nest in a loop",
        )));
    }
    Ok(None)
}

async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<Value>> {
    let (limit, cursor) = page.resolve()?;
    let page = state
        .store
        .read(move |c| {
            let page = channel_groups::list(c, cursor, limit)?;
            Ok(Page {
                items: page
                    .items
                    .into_iter()
                    .map(|g| with_members(c, g))
                    .collect::<Result<Vec<_>, _>>()?,
                next_cursor: page.next_cursor,
            })
        })
        .await?;
    Ok(Json(page_json(&page, group_json)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateGroup {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parent_id: Option<i64>,
    #[serde(default)]
    price_multiplier: Option<Money>,
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateGroup>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let new = NewChannelGroup {
        name: check_name("name", &body.name, state.config.limits.max_name_chars)?,
        description: check_description(body.description.as_deref().unwrap_or_default())?,
        parent_id: body.parent_id,
        price_multiplier: body
            .price_multiplier
            .map(check_multiplier)
            .transpose()?
            .unwrap_or(Decimal::ONE),
    };
    let actor = admin.actor();
    let group = state
        .store
        .write(move |tx| {
            if let Some(parent_id) = new.parent_id
                && let Some(err) = check_parent(tx, None, parent_id)?
            {
                return Ok(Err(err));
            }
            let group = channel_groups::insert(tx, &new)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "channel_group.create",
                    "channel_group",
                    group.id,
                    json!({ "name": group.name }),
                ),
            )?;
            Ok(Ok((group, Vec::new())))
        })
        .await??;
    catalog_changed(&state).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "channel_group": group_json(&group) })),
    ))
}

async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let group = state
        .store
        .read(move |c| with_members(c, channel_groups::get(c, id)?))
        .await
        .map_err(or_not_found("channel group"))?;
    Ok(Json(json!({ "channel_group": group_json(&group) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateGroup {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, with = "double_option")]
    parent_id: Option<Option<i64>>,
    #[serde(default)]
    price_multiplier: Option<Money>,
}

async fn update(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<UpdateGroup>,
) -> ApiResult<Json<Value>> {
    let max = state.config.limits.max_name_chars;
    let patch = ChannelGroupPatch {
        name: body.name.map(|n| check_name("name", &n, max)).transpose()?,
        description: body
            .description
            .as_deref()
            .map(check_description)
            .transpose()?,
        parent_id: body.parent_id,
        price_multiplier: body.price_multiplier.map(check_multiplier).transpose()?,
    };
    let actor = admin.actor();
    let group = state
        .store
        .write(move |tx| {
            channel_groups::get(tx, id)?;
            if let Some(Some(parent_id)) = patch.parent_id
                && let Some(err) = check_parent(tx, Some(id), parent_id)?
            {
                return Ok(Err(err));
            }
            let group = channel_groups::update(tx, id, &patch)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "channel_group.update",
                    "channel_group",
                    id,
                    json!({ "parent_id": group.parent_id, "price_multiplier": group.price_multiplier.to_string() }),
                ),
            )?;
            Ok(Ok(with_members(tx, group)?))
        })
        .await
        .map_err(or_not_found("channel group"))??;
    catalog_changed(&state).await;
    Ok(Json(json!({ "channel_group": group_json(&group) })))
}

async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    if id == DEFAULT_GROUP_ID {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "the `default` channel group cannot be deleted",
        ));
    }
    let actor = admin.actor();
    state
        .store
        .write(move |tx| {
            let group = channel_groups::get(tx, id)?;
            if channel_groups::has_children(tx, id)? {
                return Ok(Err(ApiError::new(
                    ErrorCode::Conflict,
                    "this group has nested groups; move or delete them first",
                )));
            }
            channel_groups::delete(tx, id)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "channel_group.delete",
                    "channel_group",
                    id,
                    json!({ "name": group.name }),
                ),
            )?;
            Ok(Ok(()))
        })
        .await
        .map_err(or_not_found("channel group"))??;
    catalog_changed(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Puts a channel in a group; adding a channel that is already a member changes nothing.
async fn add_member(
    State(state): State<AppState>,
    admin: Admin,
    IdPair(id, channel_id): IdPair,
) -> ApiResult<StatusCode> {
    let actor = admin.actor();
    state
        .store
        .write(move |tx| {
            channel_groups::get(tx, id)?;
            if !channels::exists(tx, channel_id)? {
                return Ok(Err(ApiError::not_found("channel")));
            }
            if channel_groups::add_member(tx, id, channel_id)? {
                audit::insert(
                    tx,
                    &audit_event(
                        actor,
                        "channel_group.add_channel",
                        "channel_group",
                        id,
                        json!({ "channel_id": channel_id }),
                    ),
                )?;
            }
            Ok(Ok(()))
        })
        .await
        .map_err(or_not_found("channel group"))??;
    catalog_changed(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a channel out of a group; 404 when it was not a member.
async fn remove_member(
    State(state): State<AppState>,
    admin: Admin,
    IdPair(id, channel_id): IdPair,
) -> ApiResult<StatusCode> {
    let actor = admin.actor();
    state
        .store
        .write(move |tx| {
            channel_groups::get(tx, id)?;
            match channel_groups::remove_member(tx, id, channel_id) {
                Err(StoreError::NotFound) => {
                    return Ok(Err(ApiError::not_found("channel in this group")));
                }
                other => other?,
            }
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "channel_group.remove_channel",
                    "channel_group",
                    id,
                    json!({ "channel_id": channel_id }),
                ),
            )?;
            Ok(Ok(()))
        })
        .await
        .map_err(or_not_found("channel group"))??;
    catalog_changed(&state).await;
    Ok(StatusCode::NO_CONTENT)
}
