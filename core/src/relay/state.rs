//! The relay's share of the application state: the routing table (swapped whole), health,
//! session bindings, upstream transports, the usage sink and the balances it keeps current.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::routing::health::Health;
use super::routing::sticky::Sticky;
use super::routing::table::RoutingTable;
use super::upstream::transport::Upstreams;
use crate::config::Config;
use crate::usage::recorder::{Balances, UsageSink};

/// What the data plane reads and updates.
pub struct RelayState {
    /// Tokens, models, channels and groups.
    pub table: ArcSwap<RoutingTable>,
    /// Cooldowns and in-flight counts.
    pub health: Health,
    /// Session bindings.
    pub sticky: Sticky,
    /// Upstream transports and their connection pools.
    pub upstreams: Upstreams,
    /// Where finished requests are recorded.
    pub usage: UsageSink,
    /// Users' balances for the pre-call check, and what in-flight calls hold of them.
    pub balances: Arc<Balances>,
    /// Output tokens a call's hold assumes (`usage.hold_output_tokens`).
    pub hold_output_tokens: u64,
    /// Serialises rebuilds so an older table never replaces a newer one.
    pub rebuild_lock: tokio::sync::Mutex<()>,
    /// Whether a change is waiting for a rebuild that failed to be tried again.
    pub rebuild_retry: std::sync::Mutex<RebuildRetry>,
    /// Set while the data plane is paused; see [`super::pause`].
    pub paused: AtomicBool,
}

/// The routing table's retries after a failed rebuild (see `AppState::routing_changed`).
#[derive(Debug, Default)]
pub struct RebuildRetry {
    /// A change is not in the table yet.
    pub pending: bool,
    /// A task is retrying; it ends once a rebuild started after the last failure succeeds.
    pub running: bool,
}

impl RelayState {
    /// An empty relay state; the table is filled by the first rebuild.
    pub fn new(config: &Config, usage: UsageSink, balances: Arc<Balances>) -> Self {
        Self {
            table: ArcSwap::from_pointee(RoutingTable::default()),
            health: Health::default(),
            sticky: Sticky::new(
                Duration::from_secs(config.routing.sticky_ttl_secs),
                config.routing.sticky_max_entries,
            ),
            upstreams: Upstreams::new(&config.limits),
            usage,
            balances,
            hold_output_tokens: config.usage.hold_output_tokens,
            rebuild_lock: tokio::sync::Mutex::new(()),
            rebuild_retry: std::sync::Mutex::default(),
            paused: AtomicBool::new(false),
        }
    }
}
