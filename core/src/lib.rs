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

mod access_log;
mod fast_hash;
mod idle_watch;
mod panic_guard;
mod per_thread;
mod request_id;
mod serving;

pub use serving::listen;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

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

/// The whole HTTP application as one cloneable service.
pub type App = tower::util::BoxCloneSyncService<
    axum::extract::Request,
    axum::response::Response,
    std::convert::Infallible,
>;

/// Builds the whole HTTP application over a state: the routes, wrapped once in the layers every
/// request passes (request id, tracing, panic catching). The layers wrap the router as a whole
/// rather than through `Router::layer`, which would wrap each route on its own and clone a
/// boxed service per layer on every request.
pub fn app(state: AppState) -> App {
    let router = Router::new()
        .merge(health::routes())
        .merge(relay::http::routes())
        .nest("/api", api::routes(&state))
        .fallback(web::fallback)
        .with_state(state.clone());
    let router = relay::http::Dispatch::new(router, state.clone());
    let service = tower::ServiceBuilder::new()
        .map_response(axum::response::IntoResponse::into_response)
        .layer(request_id::RequestIdLayer)
        .layer(access_log::AccessLogLayer)
        .layer(panic_guard::PanicGuardLayer)
        .layer(relay::pause::PauseGateLayer::new(state))
        .service(router);
    App::new(service)
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
    seal_plain_channel_secrets(&store, &sealer).await?;
    if let Some(id) = accounts::bootstrap_root(&store, &config).await? {
        tracing::info!(user_id = id, username = %config.root_username, "created the root user");
    }
    Ok(AppState::new(config, store, sealer).await?)
}

/// Seals the channel settings secrets (proxy passwords, credential headers) that a version
/// before they were sealed stored in plain text.
async fn seal_plain_channel_secrets(
    store: &Store,
    sealer: &Sealer,
) -> Result<(), store::StoreError> {
    let sealer = sealer.clone();
    let sealed = store
        .write(move |tx| {
            store::channels::rewrite_settings(tx, |settings| {
                relay::shaping::secrets::seal_plain(settings, &sealer).unwrap_or(false)
            })
        })
        .await?;
    if sealed > 0 {
        tracing::info!(channels = sealed, "sealed the secrets in channel settings");
    }
    Ok(())
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
/// for them (the usage flush) up to `limits.shutdown_grace_secs`. This task accepts; the
/// connections are served on `serve_threads` threads of their own (see [`serving`]).
pub async fn serve_state(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let grace = Duration::from_secs(state.config.limits.shutdown_grace_secs);
    let draining = tokio_util::sync::CancellationToken::new();
    let mut workers = serving::Workers::start(
        state.config.serve_thread_count(),
        || app(state.for_another_thread()),
        idle_watch::ConnectionLimits {
            idle: Duration::from_secs(state.config.limits.client_header_timeout_secs),
            unread: Duration::from_secs(state.config.limits.client_write_timeout_secs),
        },
        &draining,
    )?;
    tokio::select! {
        () = workers.accept(listener, &draining) => {}
        () = shutdown => {}
        () = state.shutdown.cancelled() => {}
    }
    // Graceful: no new connections, in-flight requests finish. Streams get `grace` to end on
    // their own; then they are ended (with an in-band error and a partial usage record).
    draining.cancel();
    if tokio::time::timeout(grace, workers.drained())
        .await
        .is_err()
    {
        tracing::warn!("open streams did not end within the shutdown grace period; ending them");
        state.streams_stop.cancel();
        // A client that stopped reading holds its connection: its answer is never polled
        // again, so it cannot end itself. Those are dropped with the serving threads below.
        if tokio::time::timeout(grace, workers.drained())
            .await
            .is_err()
        {
            tracing::warn!("some clients stopped reading; closing their connections");
        }
    }
    state.streams_stop.cancel();
    // The serving threads end before the recorder drains: a connection still open is dropped
    // with them, and its record handed over.
    workers.finish().await;
    state.shutdown.cancel();
    state.tasks.close();
    if tokio::time::timeout(grace, state.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not finish within the shutdown grace period");
    }
    Ok(())
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
