//! Named, configurable limits: body sizes, timeouts, sessions and login throttling.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Sizes and timeouts of the HTTP server and the relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body accepted on `/v1/*` and `/v1beta/*`, in bytes.
    pub max_body_bytes: usize,
    /// Largest request body accepted on `/api/*` (uploads excepted), in bytes.
    pub max_api_body_bytes: usize,
    /// Longest accepted name (users, tokens, channels, models, groups), in characters.
    pub max_name_chars: usize,
    /// Time allowed for a whole control-plane request, in seconds.
    pub api_timeout_secs: u64,
    /// How long a client connection may sit idle, in seconds: no request in flight and no new
    /// one started (a silent client, half a request head, a kept-alive HTTP/1.1 or an HTTP/2
    /// connection unused). It is closed after between this and a quarter more (what a slow or
    /// silent client would otherwise hold forever).
    pub client_header_timeout_secs: u64,
    /// How long a client may leave its answer unread, in seconds: a connection whose write has
    /// waited this long for room (the client stopped reading, its buffers full) is closed and
    /// its request recorded as ended by the client. Such a client would otherwise hold its
    /// upstream connection and its credential's place forever.
    pub client_write_timeout_secs: u64,
    /// Time a client has to send a relay request's whole body once its head arrived, in
    /// seconds; past it the request is refused with 408.
    pub client_body_timeout_secs: u64,
    /// Time allowed to open a connection to an upstream, in seconds.
    pub connect_timeout_secs: u64,
    /// Time allowed from sending a request upstream to its first byte, in seconds.
    pub first_byte_timeout_secs: u64,
    /// Longest silence allowed between two chunks of an upstream stream, in seconds.
    pub idle_timeout_secs: u64,
    /// Largest unfinished stream event (or JSON-array element) held back until it is whole, in
    /// bytes, so that a stream ended by a failure never leaves the client half an event; a
    /// larger one is forwarded as it arrives. 0 holds nothing back.
    pub max_held_event_bytes: usize,
    /// How long shutdown waits for requests and the usage flush, in seconds.
    pub shutdown_grace_secs: u64,
    /// Most idle connections kept open to one upstream host (scheme, host and port) by each
    /// serving thread; 0 opens a new connection for every request.
    pub upstream_pool_max_idle_per_host: usize,
    /// How long an idle upstream connection is kept for reuse, in seconds.
    pub upstream_pool_idle_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            max_api_body_bytes: 1024 * 1024,
            max_name_chars: 128,
            api_timeout_secs: 60,
            client_header_timeout_secs: 60,
            client_body_timeout_secs: 120,
            client_write_timeout_secs: 60,
            connect_timeout_secs: 10,
            first_byte_timeout_secs: 300,
            idle_timeout_secs: 300,
            max_held_event_bytes: 16 * 1024 * 1024,
            shutdown_grace_secs: 30,
            upstream_pool_max_idle_per_host: 256,
            upstream_pool_idle_timeout_secs: 90,
        }
    }
}

impl LimitsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("limits.max_body_bytes", self.max_body_bytes as u64),
            ("limits.max_api_body_bytes", self.max_api_body_bytes as u64),
            ("limits.max_name_chars", self.max_name_chars as u64),
            ("limits.api_timeout_secs", self.api_timeout_secs),
            (
                "limits.client_header_timeout_secs",
                self.client_header_timeout_secs,
            ),
            (
                "limits.client_body_timeout_secs",
                self.client_body_timeout_secs,
            ),
            (
                "limits.client_write_timeout_secs",
                self.client_write_timeout_secs,
            ),
            ("limits.connect_timeout_secs", self.connect_timeout_secs),
            (
                "limits.first_byte_timeout_secs",
                self.first_byte_timeout_secs,
            ),
            ("limits.idle_timeout_secs", self.idle_timeout_secs),
            (
                "limits.upstream_pool_idle_timeout_secs",
                self.upstream_pool_idle_timeout_secs,
            ),
        ];
        super::require_positive(&positive)
    }
}

/// Console sessions and login throttling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a console session lasts, in hours.
    pub session_ttl_hours: u64,
    /// Failed logins for one account or from one IP before further attempts get 429.
    pub login_max_failures: u32,
    /// The window those failures are counted in, in seconds.
    pub login_window_secs: u64,
    /// Shortest accepted password, in characters.
    pub min_password_chars: usize,
    /// Cheap argon2 parameters, for tests only; never set this in production.
    pub fast_password_hashing: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_hours: 24 * 7,
            login_max_failures: 10,
            login_window_secs: 15 * 60,
            min_password_chars: 8,
            fast_password_hashing: false,
        }
    }
}

impl AuthConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.session_ttl_hours == 0 {
            return Err(ConfigError::Invalid(
                "`auth.session_ttl_hours` must be greater than 0".into(),
            ));
        }
        if self.login_max_failures == 0 || self.login_window_secs == 0 {
            return Err(ConfigError::Invalid(
                "`auth.login_max_failures` and `auth.login_window_secs` must be greater than 0"
                    .into(),
            ));
        }
        if self.min_password_chars == 0 {
            return Err(ConfigError::Invalid(
                "`auth.min_password_chars` must be greater than 0".into(),
            ));
        }
        Ok(())
    }
}
