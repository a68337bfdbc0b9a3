//! `/api/admin/models`: the model catalogue with prices (exact decimals in, decimal strings out)
//! and, per model, the channels bound to serve it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog_changed;
use super::input::{
    MAX_PUBLIC_ID_CHARS, audit_event, check_description, check_model_id, check_price,
    delete_catalog_object, or_not_found, page_json,
};
use crate::api::extract::{Admin, ApiJson, ApiQuery, IdPath, Pagination, check_name};
use crate::api::money::Money;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::channel_models::{self, Binding};
use crate::store::models::{self, Model, ModelPatch, NewModel, Prices};
use crate::store::{Conn, Page, StoreError, audit};

/// Who owns a model when the admin does not say.
const DEFAULT_OWNER: &str = "realms";

/// The model routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/models", get(list).post(create))
        .route("/models/{id}", get(show).patch(update).delete(delete))
}

fn model_json((model, bindings): &(Model, Vec<Binding>)) -> Value {
    let mut value = json!(model);
    value["bindings"] = bindings
        .iter()
        .map(|b| {
            json!({
                "id": b.id,
                "channel_id": b.channel_id,
                "channel_name": b.channel_name,
                "upstream_model": b.upstream_model,
                "enabled": b.enabled,
            })
        })
        .collect();
    value
}

fn with_bindings(c: &Conn, model: Model) -> Result<(Model, Vec<Binding>), StoreError> {
    let bindings = channel_models::list_for_model(c, model.id)?;
    Ok((model, bindings))
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
            let page = models::list(c, cursor, limit)?;
            Ok(Page {
                items: page
                    .items
                    .into_iter()
                    .map(|m| with_bindings(c, m))
                    .collect::<Result<Vec<_>, _>>()?,
                next_cursor: page.next_cursor,
            })
        })
        .await?;
    Ok(Json(page_json(&page, model_json)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateModel {
    public_id: String,
    #[serde(default)]
    owned_by: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_usd_per_1m: Option<Money>,
    #[serde(default)]
    output_usd_per_1m: Option<Money>,
    #[serde(default)]
    cached_input_usd_per_1m: Option<Money>,
    #[serde(default)]
    cache_write_usd_per_1m: Option<Money>,
    #[serde(default)]
    enabled: Option<bool>,
}

fn price(field: &str, value: Option<Money>) -> ApiResult<Option<rust_decimal::Decimal>> {
    value.map(|m| check_price(field, m)).transpose()
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateModel>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let max = state.config.limits.max_name_chars;
    let new = NewModel {
        public_id: check_model_id("public_id", &body.public_id, MAX_PUBLIC_ID_CHARS)?,
        owned_by: match &body.owned_by {
            Some(owner) => check_name("owned_by", owner, max)?,
            None => DEFAULT_OWNER.to_owned(),
        },
        description: check_description(body.description.as_deref().unwrap_or_default())?,
        prices: Prices {
            input_usd_per_1m: price("input_usd_per_1m", body.input_usd_per_1m)?.unwrap_or_default(),
            output_usd_per_1m: price("output_usd_per_1m", body.output_usd_per_1m)?
                .unwrap_or_default(),
            cached_input_usd_per_1m: price(
                "cached_input_usd_per_1m",
                body.cached_input_usd_per_1m,
            )?
            .unwrap_or_default(),
            cache_write_usd_per_1m: price("cache_write_usd_per_1m", body.cache_write_usd_per_1m)?
                .unwrap_or_default(),
        },
        enabled: body.enabled.unwrap_or(true),
    };
    let actor = admin.actor();
    let model = state
        .store
        .write(move |tx| {
            let model = models::insert(tx, &new)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "model.create",
                    "model",
                    model.id,
                    json!({ "public_id": model.public_id }),
                ),
            )?;
            Ok((model, Vec::new()))
        })
        .await?;
    catalog_changed(&state).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "model": model_json(&model) })),
    ))
}

async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let model = state
        .store
        .read(move |c| with_bindings(c, models::get(c, id)?))
        .await
        .map_err(or_not_found("model"))?;
    Ok(Json(json!({ "model": model_json(&model) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateModel {
    #[serde(default)]
    public_id: Option<String>,
    #[serde(default)]
    owned_by: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_usd_per_1m: Option<Money>,
    #[serde(default)]
    output_usd_per_1m: Option<Money>,
    #[serde(default)]
    cached_input_usd_per_1m: Option<Money>,
    #[serde(default)]
    cache_write_usd_per_1m: Option<Money>,
    #[serde(default)]
    enabled: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<UpdateModel>,
) -> ApiResult<Json<Value>> {
    let max = state.config.limits.max_name_chars;
    let patch = ModelPatch {
        public_id: body
            .public_id
            .map(|p| check_model_id("public_id", &p, MAX_PUBLIC_ID_CHARS))
            .transpose()?,
        owned_by: body
            .owned_by
            .map(|o| check_name("owned_by", &o, max))
            .transpose()?,
        description: body
            .description
            .as_deref()
            .map(check_description)
            .transpose()?,
        input_usd_per_1m: price("input_usd_per_1m", body.input_usd_per_1m)?,
        output_usd_per_1m: price("output_usd_per_1m", body.output_usd_per_1m)?,
        cached_input_usd_per_1m: price("cached_input_usd_per_1m", body.cached_input_usd_per_1m)?,
        cache_write_usd_per_1m: price("cache_write_usd_per_1m", body.cache_write_usd_per_1m)?,
        enabled: body.enabled,
    };
    let actor = admin.actor();
    let model = state
        .store
        .write(move |tx| {
            let model = models::update(tx, id, &patch)?;
            audit::insert(
                tx,
                &audit_event(
                    actor,
                    "model.update",
                    "model",
                    id,
                    json!({ "public_id": model.public_id, "prices": model.prices }),
                ),
            )?;
            with_bindings(tx, model)
        })
        .await
        .map_err(or_not_found("model"))?;
    catalog_changed(&state).await;
    Ok(Json(json!({ "model": model_json(&model) })))
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
        "model",
        "model.delete",
        |tx, id| {
            let model = models::get(tx, id)?;
            models::delete(tx, id)?;
            Ok(json!({ "public_id": model.public_id }))
        },
    )
    .await
}
