//! `AppState`: everything a request handler or background task needs, behind one `Arc`, reached
//! through a handle of its own per serving thread.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::codex::{CodexState, upkeep};
use crate::config::Config;
use crate::crypto::Sealer;
use crate::per_thread::PerThread;
use crate::relay::routing::{build, table::RoutingTable};
use crate::relay::state::RelayState;
use crate::settings::Settings;
use crate::store::{
    Store, StoreError, response_owners, routing as routing_rows, settings as settings_table, users,
};
use crate::usage::recorder::{self, Balances};

/// Shared application state. Cheap to clone.
///
/// A clone counts a reference in the handle, not in [`Inner`]: each serving thread gets a
/// handle of its own ([`AppState::for_another_thread`]), so the clones its requests make (the
/// service stack and the state are cloned for every request) change memory that only this
/// thread writes. With one count for all, every request moved that cache line between the
/// cores several times (`bench/README.md`).
#[derive(Clone)]
pub struct AppState(Arc<Handle>);

/// One handle on the state; see [`AppState`].
struct Handle {
    inner: Arc<Inner>,
}

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
    pub streams_stop: StreamsStop,
    /// The data plane's state.
    pub relay: RelayState,
    /// Codex OAuth sign-ins, token refresh and quota.
    pub codex: CodexState,
}

/// The signal that ends open streams and attempts still waiting, which every request watches.
/// Watching a cancellation token puts a waiter on its list and cloning one counts a handle, both
/// under the token's lock: each thread's requests watch a child token of their own instead, so
/// the serving threads do not pass one lock between them on every request.
pub struct StreamsStop {
    all: CancellationToken,
    threads: PerThread<CancellationToken>,
}

impl Default for StreamsStop {
    fn default() -> Self {
        let all = CancellationToken::new();
        let threads = PerThread::with(|| all.child_token());
        Self { all, threads }
    }
}

impl StreamsStop {
    /// Ends every open stream and waiting attempt.
    pub fn cancel(&self) {
        self.all.cancel();
    }

    /// The token the calling thread's requests watch; cancelled with the rest.
    pub fn local(&self) -> &CancellationToken {
        self.threads.local()
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0.inner
    }
}

impl AppState {
    fn over(inner: Arc<Inner>) -> Self {
        Self(Arc::new(Handle { inner }))
    }

    /// The same state through a handle of its own, for a serving thread: its clones count
    /// references there rather than in the handle every other thread clones.
    #[must_use]
    pub fn for_another_thread(&self) -> Self {
        Self::over(Arc::clone(&self.0.inner))
    }

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
        let state = Self::over(Arc::new(Inner {
            config: Arc::new(config),
            store,
            sealer,
            settings: ArcSwap::from_pointee(settings),
            tasks,
            shutdown,
            streams_stop: StreamsStop::default(),
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

    /// [`Self::rebuild_routing`] for handlers, after a change has committed: a failure is logged
    /// and the previous table stays in use until a retry, every `routing.rebuild_retry_ms`,
    /// succeeds. A key revoked meanwhile is refused as soon as the database can be read again,
    /// not only at the next change.
    pub async fn routing_changed(&self) {
        if let Err(err) = self.rebuild_routing().await {
            tracing::error!(error = %err, "rebuilding the routing table failed; the previous one stays in use until a retry succeeds");
            self.retry_rebuild();
        }
    }

    /// Notes a change the routing table lacks, and starts the task that retries unless it runs.
    fn retry_rebuild(&self) {
        let Ok(mut retry) = self.relay.rebuild_retry.lock() else {
            return;
        };
        retry.pending = true;
        if std::mem::replace(&mut retry.running, true) {
            return;
        }
        drop(retry);
        let state = self.clone();
        self.tasks.spawn(async move {
            let every = Duration::from_millis(state.config.routing.rebuild_retry_ms);
            loop {
                tokio::select! {
                    () = state.shutdown.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                // Decided under the lock that a failure takes to note itself: a failure after
                // this finds the task running and is retried by it, or finds it ended and
                // starts another.
                match state.relay.rebuild_retry.lock() {
                    Ok(mut retry) if retry.pending => retry.pending = false,
                    Ok(mut retry) => {
                        retry.running = false;
                        return;
                    }
                    Err(_) => return,
                }
                match state.rebuild_routing().await {
                    Ok(_) => tracing::info!("the routing table is rebuilt after a failure"),
                    Err(err) => {
                        tracing::warn!(error = %err, "rebuilding the routing table failed again");
                        if let Ok(mut retry) = state.relay.rebuild_retry.lock() {
                            retry.pending = true;
                        }
                    }
                }
            }
        });
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::{HeaderMap, HeaderValue, header};

    use super::AppState;
    use crate::config::Config;
    use crate::crypto::sha256;
    use crate::relay::auth::authenticate;
    use crate::store::tokens;

    fn admitted(state: &AppState, key: &str) -> bool {
        let mut headers = HeaderMap::new();
        let bearer = HeaderValue::from_str(&format!("Bearer {key}")).expect("header");
        headers.insert(header::AUTHORIZATION, bearer);
        authenticate(&state.relay.table.load(), &headers, None).is_ok()
    }

    /// A serving thread's handle reaches the same state, and its clones count references in
    /// that handle only: the handle every other thread clones is not written.
    #[tokio::test]
    async fn another_threads_handle_shares_the_state_and_counts_its_own_clones() {
        let state = AppState::for_tests(Config::test_default()).await;
        let before = std::sync::Arc::strong_count(&state.0);
        let thread = state.for_another_thread();
        let clones: Vec<AppState> = (0..5).map(|_| thread.clone()).collect();
        assert!(std::sync::Arc::ptr_eq(&state.0.inner, &thread.0.inner));
        assert_eq!(std::sync::Arc::strong_count(&thread.0), 6);
        assert_eq!(std::sync::Arc::strong_count(&state.0), before);
        // a change made through one handle is seen through the other
        crate::relay::pause::set_paused(&thread, true);
        assert!(crate::relay::pause::is_paused(&state));
        drop(clones);
    }

    /// A change whose rebuild failed (the database could not be read) reaches the routing table
    /// once a retry succeeds: a revoked key stops working without waiting for another change.
    #[tokio::test]
    async fn a_failed_rebuild_is_retried_until_the_change_is_in_the_table() {
        let mut config = Config::test_default();
        config.routing.rebuild_retry_ms = 20;
        let state = AppState::for_tests(config).await;
        let key = crate::desktop::token::ensure_desktop_token(&state)
            .await
            .expect("token");
        assert!(admitted(&state, &key));
        let hash = sha256(key.as_bytes());
        state
            .store
            .write(move |tx| {
                let token = tokens::find_by_hash(tx, &hash)?.expect("stored");
                tokens::revoke(tx, token.id)?;
                // the routing rows cannot be read while `channels` is away
                tx.execute_batch("ALTER TABLE channels RENAME TO channels_away")?;
                Ok(())
            })
            .await
            .expect("revoked");
        state.routing_changed().await;
        assert!(
            admitted(&state, &key),
            "the failed rebuild kept the old table"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            admitted(&state, &key),
            "retries fail while it cannot be read"
        );

        state
            .store
            .write(|tx| Ok(tx.execute_batch("ALTER TABLE channels_away RENAME TO channels")?))
            .await
            .expect("readable again");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while admitted(&state, &key) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the revoked key still works 5 s after the database could be read again"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let retry = state.relay.rebuild_retry.lock().expect("lock");
        assert!(!retry.pending, "nothing left to apply");
    }

    #[test]
    fn stopping_streams_cancels_the_token_every_thread_watches() {
        let stop = super::StreamsStop::default();
        let here = stop.local().clone();
        let there = crate::per_thread::on_the_next_slot(|| stop.local().clone());
        assert!(!here.is_cancelled() && !there.is_cancelled());
        stop.cancel();
        assert!(here.is_cancelled(), "this thread's token");
        assert!(there.is_cancelled(), "another thread's token");
    }
}
