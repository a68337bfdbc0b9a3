//! `AppState`: everything a request handler or background task needs, behind one `Arc`.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::crypto::Sealer;
use crate::settings::Settings;
use crate::store::{Store, StoreError, settings as settings_table};

/// Shared application state. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The fields of [`AppState`].
pub struct Inner {
    /// The process configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// Seals and opens secrets at rest.
    pub sealer: Sealer,
    /// The effective runtime settings; swapped whole on every change.
    pub settings: ArcSwap<Settings>,
    /// Background tasks; shutdown waits for them.
    pub tasks: TaskTracker,
    /// Cancelled when the process shuts down.
    pub shutdown: CancellationToken,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state from an opened store and a sealer, loading the settings snapshot.
    pub async fn new(config: Config, store: Store, sealer: Sealer) -> Result<Self, StoreError> {
        let stored = store.read(settings_table::list).await?;
        let settings = Settings::resolve(&stored, &config);
        Ok(Self(Arc::new(Inner {
            config: Arc::new(config),
            store,
            sealer,
            settings: ArcSwap::from_pointee(settings),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        })))
    }

    /// The current settings snapshot.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Re-reads the settings from the database and swaps the snapshot.
    pub async fn reload_settings(&self) -> Result<Arc<Settings>, StoreError> {
        let stored = self.store.read(settings_table::list).await?;
        let next = Arc::new(Settings::resolve(&stored, &self.config));
        self.settings.store(Arc::clone(&next));
        Ok(next)
    }

    /// A state over a fresh in-memory database and a random key; for tests.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn for_tests(config: Config) -> Self {
        let store =
            Store::open_in_memory().unwrap_or_else(|e| unreachable!("in-memory store: {e}"));
        let sealer = Sealer::random().unwrap_or_else(|e| unreachable!("random key: {e}"));
        crate::accounts::bootstrap_root(&store, &config)
            .await
            .unwrap_or_else(|e| unreachable!("bootstrap: {e}"));
        Self::new(config, store, sealer)
            .await
            .unwrap_or_else(|e| unreachable!("state: {e}"))
    }
}
