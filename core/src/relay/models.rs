//! Model lists on the data plane: the models a token may call, each client family in its own
//! shape. OpenAI clients get `{object, data}`, Anthropic clients (they send `anthropic-version`)
//! get `{data, has_more, first_id, last_id}`, Gemini clients (`/v1beta`, `x-goog-api-key`,
//! `?key=`) get `{models}`. A list holds the models the caller's own protocols can reach (a
//! Claude model served only by an Anthropic channel is not in an OpenAI client's list: its
//! call would find no channel). With model passthrough on the lists answer 404.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use super::dialect::Dialect;
use super::error::RelayError;
use super::protocol::Protocol;
use super::routing::table::{ModelRoute, RoutingTable, TokenRoute};
use crate::state::AppState;

/// Which list shape the caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Shape {
    /// The protocols a client asking for this shape calls models with.
    fn protocols(self) -> &'static [Protocol] {
        match self {
            Self::OpenAi => &[Protocol::Responses, Protocol::Chat, Protocol::Embeddings],
            Self::Anthropic => &[Protocol::Messages],
            Self::Gemini => &[Protocol::Gemini],
        }
    }

    fn dialect(self) -> Dialect {
        match self {
            Self::OpenAi => Dialect::OpenAi,
            Self::Anthropic => Dialect::Anthropic,
            Self::Gemini => Dialect::Gemini,
        }
    }
}

/// The dialect a model-list caller speaks, from its headers and query (the path is shared).
pub(crate) fn list_dialect(headers: &HeaderMap, query: Option<&str>) -> Dialect {
    shape_of(headers, query).dialect()
}

fn shape_of(headers: &HeaderMap, query: Option<&str>) -> Shape {
    if headers.contains_key("anthropic-version") {
        Shape::Anthropic
    } else if headers.contains_key("x-goog-api-key")
        || query.is_some_and(|q| q.split('&').any(|p| p.starts_with("key=")))
    {
        Shape::Gemini
    } else {
        Shape::OpenAi
    }
}

/// The token and the models it may call in `shape`'s protocols, in public-id order.
fn visible(
    state: &AppState,
    shape: Shape,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(Arc<RoutingTable>, Vec<Arc<ModelRoute>>), RelayError> {
    if state.settings().feature_disable_models {
        return Err(RelayError::NotFound(
            "model listing is turned off on this server".into(),
        ));
    }
    let table = state.relay.table.load_full();
    let token = super::auth::authenticate(&table, headers, query)?;
    let models = reachable(&table, &token, shape.protocols());
    Ok((table, models))
}

/// Enabled models the token may use that are bound to a channel in one of its groups that
/// serves one of `protocols` and has a credential to call with (as routing requires).
fn reachable(
    table: &RoutingTable,
    token: &TokenRoute,
    protocols: &[Protocol],
) -> Vec<Arc<ModelRoute>> {
    let channels: HashSet<i64> = token
        .groups
        .iter()
        .filter_map(|g| table.groups.get(g))
        .flat_map(|g| g.channels.iter().copied())
        .filter(|c| {
            table.channels.get(c).is_some_and(|channel| {
                !channel.credentials.is_empty() && protocols.iter().any(|p| channel.serves(*p))
            })
        })
        .collect();
    let mut models: Vec<Arc<ModelRoute>> = table
        .models
        .values()
        .filter(|m| m.enabled && token.allows_model(&m.public_id))
        .filter(|m| m.bindings.keys().any(|c| channels.contains(c)))
        .cloned()
        .collect();
    models.sort_by(|a, b| a.public_id.cmp(&b.public_id));
    models
}

fn openai_entry(model: &ModelRoute) -> Value {
    json!({ "id": model.public_id, "object": "model", "created": model.created, "owned_by": model.owned_by })
}

fn anthropic_entry(model: &ModelRoute) -> Value {
    let created = Utc
        .timestamp_opt(model.created, 0)
        .single()
        .unwrap_or_default();
    json!({ "type": "model", "id": model.public_id, "display_name": model.public_id, "created_at": created })
}

fn gemini_entry(model: &ModelRoute) -> Value {
    json!({
        "name": format!("models/{}", model.public_id),
        "displayName": model.public_id,
        // every native action Realms relays
        "supportedGenerationMethods": [
            "generateContent", "streamGenerateContent", "countTokens", "embedContent",
            "batchEmbedContents",
        ],
    })
}

fn list_in(shape: Shape, models: &[Arc<ModelRoute>]) -> Value {
    match shape {
        Shape::OpenAi => {
            json!({ "object": "list", "data": models.iter().map(|m| openai_entry(m)).collect::<Vec<_>>() })
        }
        Shape::Anthropic => json!({
            "data": models.iter().map(|m| anthropic_entry(m)).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": models.first().map(|m| m.public_id.clone()),
            "last_id": models.last().map(|m| m.public_id.clone()),
        }),
        Shape::Gemini => {
            json!({ "models": models.iter().map(|m| gemini_entry(m)).collect::<Vec<_>>() })
        }
    }
}

fn answer(shape: Shape, result: Result<Value, RelayError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => error.into_response_for(shape.dialect()),
    }
}

/// `GET /v1/models`, in the caller's shape.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let shape = shape_of(&headers, query.as_deref());
    answer(
        shape,
        visible(&state, shape, &headers, query.as_deref())
            .map(|(_, models)| list_in(shape, &models)),
    )
}

/// `GET /v1beta/openai/models`: Gemini's OpenAI-compatible list: the Gemini channels' models,
/// OpenAI-shaped.
pub async fn list_openai(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer(
        Shape::OpenAi,
        visible(&state, Shape::Gemini, &headers, query.as_deref())
            .map(|(_, models)| list_in(Shape::OpenAi, &models)),
    )
}

/// `GET /v1beta/models`, Gemini-shaped.
pub async fn list_gemini(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer(
        Shape::Gemini,
        visible(&state, Shape::Gemini, &headers, query.as_deref())
            .map(|(_, models)| list_in(Shape::Gemini, &models)),
    )
}

fn find(models: &[Arc<ModelRoute>], id: &str) -> Result<Arc<ModelRoute>, RelayError> {
    let id = id.strip_prefix("models/").unwrap_or(id);
    models
        .iter()
        .find(|m| m.public_id == id)
        .cloned()
        .ok_or_else(|| RelayError::ModelNotFound(format!("the model `{id}` does not exist")))
}

/// `GET /v1/models/{model}`, in the caller's shape.
pub async fn show(
    State(state): State<AppState>,
    Path(model): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let shape = shape_of(&headers, query.as_deref());
    let found = visible(&state, shape, &headers, query.as_deref())
        .and_then(|(_, models)| find(&models, &model));
    answer(
        shape,
        found.map(|m| match shape {
            Shape::OpenAi => openai_entry(&m),
            Shape::Anthropic => anthropic_entry(&m),
            Shape::Gemini => gemini_entry(&m),
        }),
    )
}

/// `GET /v1beta/models/{model}`, Gemini-shaped.
pub async fn show_gemini(
    State(state): State<AppState>,
    Path(model): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let found = visible(&state, Shape::Gemini, &headers, query.as_deref())
        .and_then(|(_, models)| find(&models, &model));
    answer(Shape::Gemini, found.map(|m| gemini_entry(&m)))
}
