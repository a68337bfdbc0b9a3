//! The usage recorder: the hot path hands each finished request's [`UsageEvent`] to a bounded
//! queue and never waits on the database; one task writes them in batched transactions (usage
//! rows, the tokens' last use, and the balance charge in full mode) and drains the queue on
//! shutdown. A full queue makes the sender wait on a tracked task, so no record is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::UsageConfig;
use crate::fast_hash::FastMap;
use crate::store::response_owners::{self, ResponseOwner};
use crate::store::usage::{self, UsageEvent};
use crate::store::{Store, StoreError, tokens, users};

/// Pause before retrying a batch the database refused.
const RETRY_DELAY: Duration = Duration::from_millis(500);
/// Attempts at one batch before it is logged as lost (the database is then unusable).
const MAX_WRITE_ATTEMPTS: u32 = 20;

/// One record to write.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The usage row.
    pub event: UsageEvent,
    /// Whether `cost_usd` is charged to the user's balance (full mode with billing on).
    pub charge: bool,
    /// A Responses object this request created, and where it lives.
    pub response_owner: Option<(String, ResponseOwner)>,
}

/// In-memory balances the hot path checks before a call; the recorder keeps them current.
#[derive(Debug, Default)]
pub struct Balances(Mutex<HashMap<i64, Decimal>>);

impl Balances {
    /// The user's balance as last known.
    pub fn get(&self, user_id: i64) -> Decimal {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(&user_id).copied())
            .unwrap_or_default()
    }

    /// Replaces every balance (after a rebuild from the database).
    pub fn replace(&self, all: HashMap<i64, Decimal>) {
        if let Ok(mut map) = self.0.lock() {
            *map = all;
        }
    }

    fn set(&self, user_id: i64, balance: Decimal) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(user_id, balance);
        }
    }
}

/// The sending side, held by the relay.
#[derive(Debug, Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<Recorded>,
    tasks: TaskTracker,
}

impl UsageSink {
    /// Queues a record without waiting; when the queue is full a tracked task waits instead.
    pub fn record(&self, record: Recorded) {
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(record)) => {
                let tx = self.tx.clone();
                self.tasks.spawn(async move {
                    if tx.send(record).await.is_err() {
                        tracing::error!("usage recorder stopped; a usage record was lost");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(record)) => {
                tracing::error!(request_id = %record.event.request_id, "usage recorder stopped; a usage record was lost");
            }
        }
    }
}

impl UsageSink {
    /// A sink whose records land in the returned receiver; for tests of what is recorded.
    #[cfg(any(test, feature = "test-support"))]
    pub fn for_tests() -> (Self, mpsc::Receiver<Recorded>) {
        let (tx, rx) = mpsc::channel(UsageConfig::default().queue_capacity);
        (
            Self {
                tx,
                tasks: TaskTracker::new(),
            },
            rx,
        )
    }
}

/// Starts the recorder on `tasks`; it stops after `shutdown` once the queue is empty.
pub fn start(
    store: Store,
    balances: Arc<Balances>,
    config: &UsageConfig,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> UsageSink {
    let (tx, rx) = mpsc::channel(config.queue_capacity);
    let batching = Batching {
        max: config.max_batch,
        // Waiting for more rows after the first turns many one-row transactions into a few large
        // ones under load (the per-transaction cost dominated the recorder's CPU in `bench/`).
        linger: std::time::Duration::from_millis(config.batch_linger_ms),
    };
    tasks.spawn(run(store, balances, rx, shutdown, batching));
    UsageSink {
        tx,
        tasks: tasks.clone(),
    }
}

/// Batch size and how long to wait for one to fill.
#[derive(Debug, Clone, Copy)]
struct Batching {
    max: usize,
    linger: std::time::Duration,
}

async fn run(
    store: Store,
    balances: Arc<Balances>,
    mut rx: mpsc::Receiver<Recorded>,
    shutdown: CancellationToken,
    batching: Batching,
) {
    let mut batch = Vec::with_capacity(batching.max);
    loop {
        let first = tokio::select! {
            record = rx.recv() => record,
            () = shutdown.cancelled() => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        take_queued(&mut rx, &mut batch, batching.max);
        if batch.len() < batching.max {
            // Let the batch fill by sleeping, not by waiting on the queue: a receiver waiting
            // on the queue is woken by every record, and each wake-up of this task from a
            // request's thread cost a futex call and a context switch per request in bench/.
            tokio::select! {
                () = tokio::time::sleep(batching.linger) => {}
                () = shutdown.cancelled() => {}
            }
            take_queued(&mut rx, &mut batch, batching.max);
        }
        write(&store, &balances, &mut batch).await;
    }
    // Shutdown: take what is queued, refuse more, write it all.
    rx.close();
    while let Some(record) = rx.recv().await {
        batch.push(record);
        if batch.len() >= batching.max {
            write(&store, &balances, &mut batch).await;
        }
    }
    write(&store, &balances, &mut batch).await;
}

/// Moves what is already queued into the batch, up to `max` records in all.
fn take_queued(rx: &mut mpsc::Receiver<Recorded>, batch: &mut Vec<Recorded>, max: usize) {
    while batch.len() < max {
        match rx.try_recv() {
            Ok(record) => batch.push(record),
            Err(_) => break,
        }
    }
}

/// Writes and empties the batch, retrying while the database refuses.
async fn write(store: &Store, balances: &Balances, batch: &mut Vec<Recorded>) {
    if batch.is_empty() {
        return;
    }
    // The next batch starts with room for a whole one: growing it record by record would
    // move every record several times.
    let capacity = batch.capacity();
    let records = Arc::new(std::mem::replace(batch, Vec::with_capacity(capacity)));
    for attempt in 1..=MAX_WRITE_ATTEMPTS {
        let shared = Arc::clone(&records);
        match store.write(move |tx| write_batch(tx, &shared)).await {
            Ok(charged) => {
                for (user, balance) in charged {
                    balances.set(user, balance);
                }
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, attempt, rows = records.len(), "writing usage failed; retrying");
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
    tracing::error!(
        rows = records.len(),
        "usage rows could not be written and are lost"
    );
}

/// One transaction: the rows, each token's last use, and each charged user's new balance
/// (charged down to zero, never below). Returns the balances it set.
fn write_batch(
    tx: &crate::store::Conn,
    records: &[Recorded],
) -> Result<Vec<(i64, Decimal)>, StoreError> {
    usage::insert_batch(tx, records.iter().map(|r| &r.event))?;
    let mut last_used: FastMap<i64, i64> = FastMap::default();
    let mut charges: FastMap<i64, Decimal> = FastMap::default();
    for record in records {
        let event = &record.event;
        if let Some(token) = event.token_id {
            let at = last_used.entry(token).or_insert(0);
            *at = (*at).max(event.time.timestamp_millis());
        }
        if record.charge
            && let Some(user) = event.user_id
            && event.cost_usd > Decimal::ZERO
        {
            *charges.entry(user).or_default() += event.cost_usd;
        }
    }
    for (id, owner) in records.iter().filter_map(|r| r.response_owner.as_ref()) {
        response_owners::insert(tx, id, owner)?;
    }
    for (token, at) in last_used {
        tokens::touch(tx, token, at)?;
    }
    let mut charged = Vec::with_capacity(charges.len());
    for (user, amount) in charges {
        match users::charge(tx, user, amount) {
            Ok(balance) => charged.push((user, balance)),
            Err(StoreError::NotFound) => {} // the user was deleted meanwhile; the row stays
            Err(err) => return Err(err),
        }
    }
    Ok(charged)
}
