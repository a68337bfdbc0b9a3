//! `AppState`: everything a request handler or background task needs, behind one `Arc`.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::codex::{CodexState, upkeep};
use crate::config::Config;
use crate::crypto::Sealer;
use crate::relay::routing::{build, table::RoutingTable};
use crate::relay::state::RelayState;
use crate::settings::Settings;
use crate::store::{
    Store, StoreError, response_owners, routing as routing_rows, settings as settings_table, users,
};
use crate::usage::recorder::{self, Balances};

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
    /// Cancelled when the process shuts down (after connections closed): the recorder drains.
    pub shutdown: CancellationToken,
    /// Cancelled when open streams must end (shutdown grace elapsed).
    pub streams_stop: CancellationToken,
    /// The data plane's state.
    pub relay: RelayState,
    /// Codex OAuth sign-ins, token refresh and quota.
    pub codex: CodexState,
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
        let tasks = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let balances = Arc::new(Balances::default());
        let sink = recorder::start(
            store.clone(),
            Arc::clone(&balances),
            &config.usage,
            &tasks,
            shutdown.clone(),
        );
        let relay = RelayState::new(&config, sink, balances);
        let codex = CodexState::new(store.clone(), &tasks, shutdown.clone());
        let state = Self(Arc::new(Inner {
            config: Arc::new(config),
            store,
            sealer,
            settings: ArcSwap::from_pointee(settings),
            tasks,
            shutdown,
            streams_stop: CancellationToken::new(),
            relay,
            codex,
        }));
        state.rebuild_routing().await?;
        state.restore_response_bindings().await?;
        state.hold_unbilled_again().await?;
        upkeep::start(&state);
        Ok(state)
    }

    /// Binds the Responses objects created within the sticky TTL (before a restart) to where
    /// they live again, so a `previous_response_id` that continues one goes to the channel and
    /// credential that hold it, as it did before the restart.
    async fn restore_response_bindings(&self) -> Result<(), StoreError> {
        let ttl = Duration::from_secs(self.config.routing.sticky_ttl_secs);
        let now = crate::store::now_ms();
        let since = now.saturating_sub(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let limit = self.config.routing.sticky_max_entries;
        let owners = self
            .store
            .read(move |c| response_owners::recent(c, since, limit))
            .await?;
        // oldest first, so the newest win if the table fills
        for (id, owner, created_at) in owners.iter().rev() {
            let age = Duration::from_millis(u64::try_from(now - created_at).unwrap_or(0));
            self.relay
                .sticky
                .restore(id, owner.channel_id, owner.credential_id, age);
        }
        if !owners.is_empty() {
            tracing::info!(
                responses = owners.len(),
                "restored the bindings of recent Responses objects"
            );
        }
        Ok(())
    }

    /// Holds again what the creating calls of responses still to be billed held before a
    /// restart: those holds live in memory, their amounts in `unbilled_responses`.
    async fn hold_unbilled_again(&self) -> Result<(), StoreError> {
        let holds = self
            .store
            .read(crate::store::unbilled_responses::holds)
            .await?;
        self.relay.balances.hold_again(&holds);
        if !holds.is_empty() {
            tracing::info!(
                responses = holds.len(),
                "held again what responses still to be billed hold"
            );
        }
        Ok(())
    }

    /// Rebuilds the routing table and balances from the database and swaps them in. Called after
    /// every write that changes tokens, users, channels, models or groups.
    pub async fn rebuild_routing(&self) -> Result<Arc<RoutingTable>, StoreError> {
        let _serial = self.relay.rebuild_lock.lock().await;
        // Balances first, so a new user's token never routes before the balance is known. They
        // are read and swapped in between two commits, in order with the usage batches' own
        // balance updates (see `Balances`).
        let memory = Arc::clone(&self.relay.balances);
        self.store
            .write_then(
                |tx| users::balances(tx),
                move |balances| memory.replace(balances.iter().copied().collect()),
            )
            .await?;
        let rows = self.store.read(routing_rows::load).await?;
        let table = Arc::new(build::build(rows, &self.sealer));
        self.relay.table.store(Arc::clone(&table));
        Ok(table)
    }

    /// [`Self::rebuild_routing`] for handlers: a failure is logged (the old table stays in use).
    pub async fn routing_changed(&self) {
        if let Err(err) = self.rebuild_routing().await {
            tracing::error!(error = %err, "rebuilding the routing table failed; the previous one stays in use");
        }
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
