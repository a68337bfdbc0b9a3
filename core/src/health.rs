//! `GET /healthz`: version, build date and whether the database answers; never secrets.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::build_info;
use crate::state::AppState;

/// The health route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let db_ok = state.store.ping().await;
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ok": db_ok,
        "version": build_info::VERSION,
        "commit": build_info::GIT_COMMIT,
        "build_date": build_info::BUILD_DATE,
        "db_ok": db_ok,
    });
    (status, Json(body))
}
