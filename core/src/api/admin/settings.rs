//! `/api/admin/settings`: read and change runtime settings; unknown keys are refused whole.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::api::extract::{Admin, ApiJson};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::settings::{SettingsError, validate_patch};
use crate::state::AppState;
use crate::store::audit::{self, AuditEvent};
use crate::store::settings as table;

/// The settings routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/settings", get(show).patch(update))
}

fn body(state: &AppState) -> Value {
    let settings = state.settings();
    json!({ "settings": settings.to_json(), "overridden": settings.overridden })
}

async fn show(State(state): State<AppState>, _admin: Admin) -> Json<Value> {
    Json(body(&state))
}

async fn update(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(patch): ApiJson<serde_json::Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let values = validate_patch(&patch, &state.settings()).map_err(|err| match &err {
        SettingsError::Unknown(_) => ApiError::new(ErrorCode::UnknownSetting, err.to_string()),
        SettingsError::Invalid { .. } => ApiError::new(ErrorCode::InvalidSetting, err.to_string()),
        SettingsError::Overridden(_) => {
            ApiError::new(ErrorCode::SettingOverridden, err.to_string())
        }
    })?;
    let actor = admin.actor();
    state
        .store
        .write(move |tx| {
            let keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
            audit::insert(
                tx,
                &AuditEvent {
                    actor,
                    action: "settings.update",
                    target_kind: "settings",
                    target_id: None,
                    detail: json!({ "keys": keys }),
                    ip: None,
                },
            )?;
            for (key, value) in &values {
                table::put(tx, key, value)?;
            }
            Ok(())
        })
        .await?;
    state.reload_settings().await?;
    Ok(Json(body(&state)))
}
