//! Realms core: everything both shells (the headless server and the desktop app) run. `app` builds
//! the router over a state; `start` opens the database and master key; `serve` runs until shutdown.

pub mod accounts;
pub mod api;
pub mod build_info;
pub mod codex;
pub mod config;
pub mod crypto;
pub mod desktop;
pub mod error;
pub mod health;
pub mod relay;
pub mod settings;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod usage;
pub mod web;

mod request_id;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use state::AppState;

use crate::crypto::{KeySource, Sealer};
use crate::store::{Store, settings as settings_table};

/// Why Realms could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    /// The master key is missing, malformed or not the one the stored secrets were sealed with.
    #[error("master key: {0}")]
    MasterKey(String),
    /// Serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the whole HTTP application over a state.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(
            relay::http::routes().layer(axum::middleware::from_fn_with_state(
                state.clone(),
                relay::pause::refuse_while_paused,
            )),
        )
        .nest("/api", api::routes(&state))
        .fallback(web::fallback)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::new(request_id::HEADER.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(
            request_id::HEADER.clone(),
            request_id::MakeId,
        ))
        .layer(axum::middleware::map_request(request_id::drop_insane))
        .with_state(state)
}

/// A handler panicked: the bug is logged, the caller gets the console API's JSON error (relay
/// clients also understand an OpenAI-shaped `error` object).
fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    tracing::error!("a request handler panicked");
    error::ApiError::new(error::ErrorCode::Internal, "internal error").into_response()
}

/// Opens the database (migrating, with a backup first), resolves the master key, creates the
/// bootstrap root if configured, and returns the ready state.
pub async fn start(config: Config) -> Result<AppState, StartError> {
    let data_dir = config.resolved_data_dir()?;
    crypto::ensure_private_dir(&data_dir)?;
    let db_path = config.resolved_sqlite_path()?;
    let (store, report) = Store::open(&db_path).await?;
    if let Some(backup) = &report.backup {
        tracing::info!(backup = %backup.display(), "backed up the database before migrating");
    }
    if !report.applied.is_empty() {
        tracing::info!(migrations = ?report.applied, "applied migrations");
    }
    let sealer = resolve_master_key(&config, &store, &data_dir).await?;
    if let Some(id) = accounts::bootstrap_root(&store, &config).await? {
        tracing::info!(user_id = id, username = %config.root_username, "created the root user");
    }
    Ok(AppState::new(config, store, sealer).await?)
}

/// The master key: configured, else the key file, else a new key file when the database holds
/// no sealed secrets yet. A key that does not open the database's canary stops the start.
async fn resolve_master_key(
    config: &Config,
    store: &Store,
    data_dir: &std::path::Path,
) -> Result<Sealer, StartError> {
    let canary = store
        .read(|c| settings_table::get_internal(c, settings_table::CRYPTO_CANARY_KEY))
        .await?;
    let (sealer, source) = match &config.master_key {
        Some(key) => (
            Sealer::from_encoded(key.expose()).map_err(|e| StartError::MasterKey(e.to_string()))?,
            KeySource::Configured,
        ),
        None => crypto::load_or_create_key_file(data_dir, canary.is_none())
            .map_err(|e| StartError::MasterKey(e.to_string()))?
            .ok_or_else(|| {
                StartError::MasterKey(format!(
                    "this database holds encrypted secrets but `{}` is missing from `{}`; restore \
                     that file or set `REALMS_MASTER_KEY` to the key it held",
                    crypto::MASTER_KEY_FILE,
                    data_dir.display()
                ))
            })?,
    };
    match canary {
        Some(sealed) => {
            sealer.open(&sealed).map_err(|_| {
                StartError::MasterKey(
                    "the master key does not match the one this database's secrets were sealed \
                     with; restore the original key (`master.key` or `REALMS_MASTER_KEY`)"
                        .into(),
                )
            })?;
        }
        None => {
            let sealed = sealer
                .seal(b"realms")
                .map_err(|e| StartError::MasterKey(e.to_string()))?;
            store
                .write(move |tx| {
                    settings_table::put_internal(tx, settings_table::CRYPTO_CANARY_KEY, &sealed)
                })
                .await?;
        }
    }
    tracing::info!(source = ?source, "master key ready");
    Ok(sealer)
}

/// Serves `state` on `listener` until `shutdown` completes, then stops background tasks and waits
/// for them (the usage flush) up to `limits.shutdown_grace_secs`.
pub async fn serve_state(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let grace = Duration::from_secs(state.config.limits.shutdown_grace_secs);
    let router = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let cancel = state.shutdown.clone();
    let draining = tokio_util::sync::CancellationToken::new();
    let draining_signal = draining.clone();
    // Without TCP_NODELAY the last small write of every answer (a stream's final chunk) waits for
    // the client's delayed ACK: ~40 ms added to each stream.
    let listener = listener.tap_io(|stream| {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY on a connection");
        }
    });
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::select! {
                () = shutdown => {}
                () = cancel.cancelled() => {}
            }
            draining_signal.cancel();
        })
        .into_future();
    tokio::pin!(server);
    // Graceful: no new connections, in-flight requests finish. Streams get `grace` to end on
    // their own; then they are ended (with an in-band error and a partial usage record).
    let result = tokio::select! {
        result = &mut server => result,
        () = async { draining.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("open streams did not end within the shutdown grace period; ending them");
            state.streams_stop.cancel();
            server.await
        }
    };
    // Only now, with every connection closed and every record handed over, the recorder drains.
    state.streams_stop.cancel();
    state.shutdown.cancel();
    state.tasks.close();
    if tokio::time::timeout(grace, state.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not finish within the shutdown grace period");
    }
    result.map_err(StartError::Io)
}

/// [`start`] then [`serve_state`]: what both shells call.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let state = start(config).await?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, version = build_info::VERSION, "realms is listening");
    }
    serve_state(state, listener, shutdown).await
}
