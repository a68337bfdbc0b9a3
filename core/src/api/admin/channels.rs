//! `/api/admin/channels`: list, create (with API keys and groups in one transaction), show, edit,
//! delete. Credentials and model bindings have their own files; this one shows them inside a
//! channel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::catalog_changed;
use super::input::{
    audit_event, check_api_key, check_base_url, check_settings, delete_catalog_object,
    or_not_found, page_json,
};
use crate::accounts::keys;
use crate::api::extract::{Admin, ApiJson, ApiQuery, IdPath, Pagination, check_name};
use crate::crypto::{CryptoError, Sealer};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::relay::shaping::secrets;
use crate::state::AppState;
use crate::store::channel_groups::{self, DEFAULT_GROUP_ID, GroupRef};
use crate::store::channels::{self, Channel, ChannelKind, ChannelPatch, NewChannel, Status};
use crate::store::credentials::{self, Credential, NewCredential};
use crate::store::{Conn, StoreError, audit, channel_models};

/// Most API keys one creation request may carry; enough to paste a pool, small enough to seal
/// in one request without noticeable delay.
const MAX_KEYS_PER_REQUEST: usize = 1000;
/// Most groups one channel may be listed in at once.
const MAX_GROUPS_PER_CHANNEL: usize = 64;

/// The channel routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/channels", get(list).post(create))
        .route("/channels/{id}", get(show).patch(update).delete(delete))
}

/// A credential as the API shows it: the hint, never the secret.
pub fn credential_json(credential: &Credential) -> Value {
    json!({
        "id": credential.id,
        "channel_id": credential.channel_id,
        "name": credential.name,
        "hint": credential.hint,
        "status": credential.status,
        "created_at": credential.created_at,
        "updated_at": credential.updated_at,
    })
}

/// A channel with everything hanging off it, read in one go.
struct ChannelView {
    channel: Channel,
    groups: Vec<GroupRef>,
    credentials: Vec<Credential>,
    bindings: Vec<channel_models::Binding>,
}

fn load_view(c: &Conn, channel: Channel) -> Result<ChannelView, StoreError> {
    Ok(ChannelView {
        groups: channel_groups::groups_of_channel(c, channel.id)?,
        credentials: credentials::list_for_channel(c, channel.id)?,
        bindings: channel_models::list_for_channel(c, channel.id)?,
        channel,
    })
}

fn channel_json(view: &ChannelView, sealer: &Sealer) -> Value {
    let ch = &view.channel;
    // secrets are write-only: shown masked, kept when the mask comes back (`update`); a
    // sealed one that does not open (never with the key the start checked) shows sealed
    let mut plain = ch.settings.clone();
    if secrets::open(&mut plain, sealer).is_err() {
        plain = ch.settings.clone();
    }
    let (settings, secret_paths) = secrets::masked(&plain);
    json!({
        "id": ch.id,
        "type": ch.kind,
        "name": ch.name,
        "base_url": ch.base_url,
        "status": ch.status,
        "priority": ch.priority,
        "weight": ch.weight,
        "promoted": ch.promoted,
        "settings": settings,
        "settings_secrets": secret_paths,
        "groups": view.groups,
        "credentials": view.credentials.iter().map(credential_json).collect::<Vec<_>>(),
        "models": view.bindings,
        "created_at": ch.created_at,
        "updated_at": ch.updated_at,
    })
}

/// A channel's stored secrets that do not open or seal: the store's own failure.
fn sealed_settings_error(err: CryptoError) -> StoreError {
    StoreError::Internal(format!("channel settings secrets: {err}"))
}

/// A channel group named in a request: by id (a number) or by name (a string).
#[derive(Debug, Clone)]
enum GroupName {
    Id(i64),
    Name(String),
}

impl<'de> Deserialize<'de> for GroupName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Number(n) => n
                .as_i64()
                .map(Self::Id)
                .ok_or_else(|| serde::de::Error::custom("a channel group id must be an integer")),
            Value::String(s) => Ok(Self::Name(s)),
            _ => Err(serde::de::Error::custom(
                "expected a channel group id (integer) or name (string)",
            )),
        }
    }
}

/// Resolves group names and ids to ids, in order, without duplicates. Reads only, so a refusal
/// here returns before the transaction has written anything.
fn resolve_groups(c: &Conn, names: &[GroupName]) -> Result<Result<Vec<i64>, ApiError>, StoreError> {
    if names.len() > MAX_GROUPS_PER_CHANNEL {
        return Ok(Err(ApiError::invalid(format!(
            "`groups` may list at most {MAX_GROUPS_PER_CHANNEL}"
        ))));
    }
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let id = match name {
            GroupName::Id(id) if channel_groups::exists(c, *id)? => *id,
            GroupName::Name(name) => match channel_groups::find_by_name(c, name)? {
                Some(group) => group.id,
                None => {
                    return Ok(Err(ApiError::new(
                        ErrorCode::Unprocessable,
                        "a channel group in `groups` does not exist",
                    )));
                }
            },
            GroupName::Id(id) => {
                return Ok(Err(ApiError::new(
                    ErrorCode::Unprocessable,
                    format!("channel group {id} does not exist"),
                )));
            }
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(Ok(ids))
}

async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<Value>> {
    let (limit, cursor) = page.resolve()?;
    let (views, next_cursor) = state
        .store
        .read(move |c| {
            let page = channels::list(c, cursor, limit)?;
            let views = page
                .items
                .into_iter()
                .map(|ch| load_view(c, ch))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((views, page.next_cursor))
        })
        .await?;
    Ok(Json(page_json(
        &crate::store::Page {
            items: views,
            next_cursor,
        },
        |view| channel_json(view, &state.sealer),
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateChannel {
    #[serde(rename = "type")]
    kind: ChannelKind,
    name: String,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    api_keys: Vec<String>,
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default)]
    weight: Option<u32>,
    #[serde(default)]
    promoted: Option<bool>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    groups: Option<Vec<GroupName>>,
    #[serde(default)]
    settings: Option<Value>,
}

/// Checks and seals every key before anything is written, so one bad key refuses the whole
/// request.
fn seal_keys(
    state: &AppState,
    kind: ChannelKind,
    keys_in: &[String],
) -> ApiResult<Vec<(Vec<u8>, String)>> {
    if kind == ChannelKind::CodexOauth && !keys_in.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Unprocessable,
            "`codex_oauth` channels use OAuth accounts, not `api_keys`",
        ));
    }
    if keys_in.len() > MAX_KEYS_PER_REQUEST {
        return Err(ApiError::invalid(format!(
            "`api_keys` may hold at most {MAX_KEYS_PER_REQUEST} keys"
        )));
    }
    keys_in
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let key = check_api_key(&format!("api_keys[{i}]"), key)?;
            let sealed = state.sealer.seal_str(&key).map_err(ApiError::internal)?;
            Ok((sealed, keys::hint(&key)))
        })
        .collect()
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateChannel>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = check_name("name", &body.name, state.config.limits.max_name_chars)?;
    let base_url = match &body.base_url {
        Some(url) => check_base_url(url)?,
        None => body.kind.default_base_url().to_owned(),
    };
    let mut settings = check_settings(body.settings.unwrap_or_else(|| json!({})))?;
    secrets::seal(&mut settings, &state.sealer).map_err(ApiError::internal)?;
    let sealed = seal_keys(&state, body.kind, &body.api_keys)?;
    let groups = body
        .groups
        .unwrap_or_else(|| vec![GroupName::Id(DEFAULT_GROUP_ID)]);
    let new = NewChannel {
        kind: body.kind,
        name,
        base_url,
        status: body.status.unwrap_or(Status::Enabled),
        priority: body.priority.map_or(0, i64::from),
        weight: body.weight.map_or(1, i64::from),
        promoted: body.promoted.unwrap_or(false),
        settings,
    };
    let actor = admin.actor();
    let view = state
        .store
        .write(move |tx| {
            let group_ids = match resolve_groups(tx, &groups)? {
                Ok(ids) => ids,
                Err(err) => return Ok(Err(err)),
            };
            // Every refusal above happened before the first write; from here on a failure is a
            // `StoreError`, which rolls the whole transaction back.
            let channel = channels::insert(tx, &new)?;
            channel_groups::set_channel_groups(tx, channel.id, &group_ids)?;
            for (secret_sealed, hint) in sealed {
                credentials::insert(
                    tx,
                    &NewCredential {
                        channel_id: channel.id,
                        name: String::new(),
                        secret_sealed,
                        hint,
                    },
                )?;
            }
            let view = load_view(tx, channel)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "channel.create",
                    "channel",
                    view.channel.id,
                    json!({
                        "name": view.channel.name,
                        "type": view.channel.kind,
                        "credentials": view.credentials.len(),
                    }),
                ),
            )?;
            Ok(Ok(view))
        })
        .await??;
    catalog_changed(&state).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "channel": channel_json(&view, &state.sealer) })),
    ))
}

async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let view = state
        .store
        .read(move |c| load_view(c, channels::get(c, id)?))
        .await
        .map_err(or_not_found("channel"))?;
    Ok(Json(
        json!({ "channel": channel_json(&view, &state.sealer) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateChannel {
    /// Accepted only when unchanged, so a console may send the whole object back.
    #[serde(default, rename = "type")]
    kind: Option<ChannelKind>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default)]
    weight: Option<u32>,
    #[serde(default)]
    promoted: Option<bool>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    groups: Option<Vec<GroupName>>,
    #[serde(default)]
    settings: Option<Value>,
}

async fn update(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<UpdateChannel>,
) -> ApiResult<Json<Value>> {
    let max = state.config.limits.max_name_chars;
    let patch = ChannelPatch {
        name: body.name.map(|n| check_name("name", &n, max)).transpose()?,
        base_url: body.base_url.as_deref().map(check_base_url).transpose()?,
        status: body.status,
        priority: body.priority.map(i64::from),
        weight: body.weight.map(i64::from),
        promoted: body.promoted,
        // checked once the stored secrets are back in place of their masks
        settings: None,
    };
    let settings = body.settings;
    let sealer = state.sealer.clone();
    let (kind, groups) = (body.kind, body.groups);
    let actor = admin.actor();
    let view = state
        .store
        .write(move |tx| {
            let current = channels::get(tx, id)?;
            if kind.is_some_and(|k| k != current.kind) {
                return Ok(Err(ApiError::new(
                    ErrorCode::Unprocessable,
                    "a channel's `type` cannot change; create a new channel instead",
                )));
            }
            let group_ids = match groups
                .as_deref()
                .map(|g| resolve_groups(tx, g))
                .transpose()?
            {
                Some(Err(err)) => return Ok(Err(err)),
                Some(Ok(ids)) => Some(ids),
                None => None,
            };
            let mut patch = patch;
            if let Some(mut settings) = settings {
                let mut stored = current.settings.clone();
                secrets::open(&mut stored, &sealer).map_err(sealed_settings_error)?;
                secrets::keep_masked(&mut settings, &stored);
                let mut settings = match check_settings(settings) {
                    Ok(settings) => settings,
                    Err(err) => return Ok(Err(err)),
                };
                secrets::seal(&mut settings, &sealer).map_err(sealed_settings_error)?;
                patch.settings = Some(settings);
            }
            let channel = channels::update(tx, id, &patch)?;
            if let Some(ids) = &group_ids {
                channel_groups::set_channel_groups(tx, id, ids)?;
            }
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "channel.update",
                    "channel",
                    id,
                    json!({ "status": channel.status, "groups": group_ids }),
                ),
            )?;
            Ok(Ok(load_view(tx, channel)?))
        })
        .await
        .map_err(or_not_found("channel"))??;
    catalog_changed(&state).await;
    Ok(Json(
        json!({ "channel": channel_json(&view, &state.sealer) }),
    ))
}

async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    delete_catalog_object(
        &state,
        admin.actor(),
        id,
        "channel",
        "channel.delete",
        |tx, id| {
            let channel = channels::get(tx, id)?;
            channels::delete(tx, id)?;
            Ok(json!({ "name": channel.name }))
        },
    )
    .await
}
