//! The usage recorder's queue and batching.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// How finished requests are queued and written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageConfig {
    /// Records queued before senders wait (on a tracked task; none is dropped).
    pub queue_capacity: usize,
    /// Most records written in one transaction.
    pub max_batch: usize,
    /// How long the recorder waits for more records after the first of a batch, in ms. Longer
    /// means fewer, larger transactions, but each batch is a burst of CPU that the requests on
    /// the same cores wait behind (in `bench/ab.sh`, p99 at c=1: 1.7 ms with 20 ms, 1.0 ms
    /// with 5 ms, at the same CPU per request).
    pub batch_linger_ms: u64,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            max_batch: 2_048,
            batch_linger_ms: 5,
        }
    }
}

impl UsageConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.queue_capacity == 0 || self.max_batch == 0 {
            return Err(ConfigError::Invalid(
                "`usage.queue_capacity` and `usage.max_batch` must be greater than 0".into(),
            ));
        }
        Ok(())
    }
}
