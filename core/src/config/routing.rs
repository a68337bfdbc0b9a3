//! Routing and failover limits: attempts, total time, cooldowns, session stickiness, keepalives.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Largest value any cooldown setting takes: a year.
const MAX_COOLDOWN_SETTING_SECS: u64 = 365 * 24 * 60 * 60;

/// How the relay picks, retries and cools down upstreams.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Most upstream attempts for one request (the first try included).
    pub max_attempts: u32,
    /// Time since the request arrived past which no further attempt starts, in seconds; an
    /// attempt under way keeps its own timeouts (`limits.first_byte_timeout_secs`).
    pub max_failover_secs: u64,
    /// Cooldown of a channel after a server error or timeout, in seconds (doubles on repeats).
    pub channel_cooldown_secs: u64,
    /// Longest cooldown the doubling may reach, in seconds.
    pub max_cooldown_secs: u64,
    /// Longest cooldown an upstream's own word sets (`retry-after`, a Codex usage limit's reset),
    /// in seconds; a larger wait is cut to this.
    pub max_retry_after_secs: u64,
    /// Cooldown of a credential after 429 without a usable `retry-after`, in seconds.
    pub rate_limit_cooldown_secs: u64,
    /// Cooldown of a credential the upstream refused (401/403/402), in seconds.
    pub auth_failure_cooldown_secs: u64,
    /// How long a session stays bound to the channel and credential that served it, in seconds.
    pub sticky_ttl_secs: u64,
    /// Most session bindings kept in memory.
    pub sticky_max_entries: usize,
    /// Idle time in a stream after which a keepalive is sent to the client, in seconds.
    pub keepalive_secs: u64,
    /// Largest non-streamed upstream answer read into memory, in bytes.
    pub max_response_bytes: usize,
    /// How long a stream that has sent only its preamble (Responses' `response.created`,
    /// Anthropic's `message_start`) is held back before the relay commits to it anyway, in
    /// milliseconds: an error in that time (Anthropic's `overloaded_error` right after
    /// `message_start`) still fails over, at the cost of the client seeing the preamble that
    /// much later when the upstream pauses after it. 0 (the default) commits at the first event.
    pub preamble_hold_ms: u64,
    /// How often a routing table that failed to rebuild after a change (the database could not
    /// be read) is tried again, in milliseconds; until then the previous table stays in use.
    pub rebuild_retry_ms: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            max_failover_secs: 120,
            channel_cooldown_secs: 30,
            max_cooldown_secs: 30 * 60,
            // a Codex account's weekly usage window resets within 7 days
            max_retry_after_secs: 7 * 24 * 60 * 60,
            rate_limit_cooldown_secs: 60,
            auth_failure_cooldown_secs: 10 * 60,
            sticky_ttl_secs: 60 * 60,
            sticky_max_entries: 100_000,
            keepalive_secs: 15,
            max_response_bytes: 64 * 1024 * 1024,
            preamble_hold_ms: 0,
            rebuild_retry_ms: 1000,
        }
    }
}

impl RoutingConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("routing.max_attempts", u64::from(self.max_attempts)),
            ("routing.max_failover_secs", self.max_failover_secs),
            ("routing.keepalive_secs", self.keepalive_secs),
            ("routing.max_response_bytes", self.max_response_bytes as u64),
            ("routing.sticky_max_entries", self.sticky_max_entries as u64),
            ("routing.rebuild_retry_ms", self.rebuild_retry_ms),
        ];
        super::require_positive(&positive)?;
        let cooldowns = [
            ("routing.channel_cooldown_secs", self.channel_cooldown_secs),
            ("routing.max_cooldown_secs", self.max_cooldown_secs),
            (
                "routing.rate_limit_cooldown_secs",
                self.rate_limit_cooldown_secs,
            ),
            (
                "routing.auth_failure_cooldown_secs",
                self.auth_failure_cooldown_secs,
            ),
            ("routing.max_retry_after_secs", self.max_retry_after_secs),
        ];
        super::require_at_most(&cooldowns, MAX_COOLDOWN_SETTING_SECS, "a year")
    }
}
