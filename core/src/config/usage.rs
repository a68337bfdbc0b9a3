//! The usage recorder's queue and batching, and the hold put on a balance before a call.

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
    /// A batch this large is written at the recorder's next look at the queue; a smaller one
    /// waits for more records, up to `batch_max_delay_ms`. Each transaction has a fixed cost
    /// (the WAL frames of every page it touches), which at a few hundred requests a second was
    /// a third of the recorder's CPU with one transaction per look.
    pub batch_min_rows: usize,
    /// The longest a record waits in the queue before it is written, in ms.
    pub batch_max_delay_ms: u64,
    /// How long the recorder sleeps between looks at the queue, in ms (0 counts as 1: the
    /// recorder would otherwise spin). Sleeping rather than waiting on the queue spares the
    /// request threads a wake-up of the recorder per record.
    pub batch_linger_ms: u64,
    /// Most owners of just-created Responses objects kept in memory until the recorder writes
    /// their rows (see `usage::pending_owners`); past it, a new one is found once written.
    pub pending_owners_max: usize,
    /// Output tokens a charged request is assumed to produce when its cost is held against the
    /// balance before the call (with its body's bytes / 4 as prompt tokens, at the model's
    /// prices), unless it names its own output cap, which is used instead. The hold is what stops concurrent calls from spending a balance several times
    /// over; the exact cost is charged when the request is recorded, and the hold released.
    pub hold_output_tokens: u64,
    /// Seconds a `background` Responses object may stay unbilled (no fetch reported its usage
    /// or final status) before it is given up on: billed nothing, its creation's hold released.
    /// 0 keeps them for good. The default is OpenAI's retention of stored responses, 30 days.
    pub unbilled_keep_secs: u64,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            max_batch: 2_048,
            batch_min_rows: 256,
            batch_max_delay_ms: 100,
            batch_linger_ms: 5,
            pending_owners_max: 65_536,
            hold_output_tokens: 4_096,
            unbilled_keep_secs: 30 * 24 * 3600,
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
