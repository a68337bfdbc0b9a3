//! The usage recorder: the hot path hands each finished request's [`UsageEvent`] to a bounded
//! queue and never waits on the database; one task writes them in batched transactions (usage
//! rows, the tokens' last use, and the balance charge in full mode) and drains the queue on
//! shutdown. A full queue makes the sender wait on a tracked task, so no record is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::UsageConfig;
use crate::fast_hash::FastMap;
use crate::store::response_owners::{self, ResponseOwner};
use crate::store::unbilled_responses::{self, Hold, Unbilled};
use crate::store::usage::{self, UsageEvent};
use crate::store::{Store, StoreError, tokens, users};
pub use crate::usage::balances::Balances;
use crate::usage::pending_owners::{PendingOwners, PendingUnbilled};

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
    /// What the call held against the user's balance (see [`Balances::hold`]), released when
    /// the record is written (or given up on); a response billed later keeps it until the fetch
    /// that bills it is written.
    pub held: Decimal,
    /// A Responses object this request created, and where it lives.
    pub response_owner: Option<(String, ResponseOwner)>,
    /// Billing put off to a later fetch of a Responses object, or settled by this one.
    pub deferred: Option<Box<Deferred>>,
}

/// A Responses object billed when its usage is known rather than when it was created (a
/// `background` response answers `queued`, with no usage; a later fetch reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferred {
    /// This call created the response without usage: bill it at this when a fetch reports it.
    Defer {
        /// The response.
        response_id: String,
        /// The model and multiplier it is billed at.
        unbilled: Unbilled,
    },
    /// This call fetched a response still to be billed and reports its usage (or its final
    /// status): it pays if it is the first to, and costs nothing otherwise.
    Settle {
        /// The response.
        response_id: String,
    },
    /// The response is gone (deleted, or the upstream no longer knows it) before a fetch
    /// reported its usage: nothing can bill it now, and what its creation held is released.
    Drop {
        /// The response.
        response_id: String,
    },
}

/// The sending side, held by the relay. One reference count to clone: a request's record and
/// its streamed answer each hold one, and every count they change is memory the other serving
/// threads change too.
#[derive(Debug, Clone)]
pub struct UsageSink(Arc<Sink>);

/// What [`UsageSink`] shares.
#[derive(Debug)]
struct Sink {
    tx: mpsc::Sender<Recorded>,
    balances: Arc<Balances>,
    tasks: TaskTracker,
    owners: Arc<PendingOwners>,
    unbilled: Arc<PendingUnbilled>,
    overflow: Arc<Overflow>,
}

/// Records handed over while the queue was full, each waiting for room in a task of its own.
/// The recorder takes them all before it closes the queue at shutdown: closing it would fail
/// their sends, losing records of requests that had already ended.
#[derive(Debug, Default)]
struct Overflow {
    waiting: AtomicUsize,
    /// Signalled each time one of them is done waiting.
    settled: Notify,
}

impl UsageSink {
    /// Queues a record without waiting; when the queue is full a tracked task waits instead.
    /// The call's hold on the balance becomes its exact cost (nothing when it is not charged)
    /// until the record is written and the cost charged.
    pub fn record(&self, mut record: Recorded) {
        let cost = if record.charge {
            record.event.cost_usd.max(Decimal::ZERO)
        } else {
            Decimal::ZERO
        };
        // a response billed later keeps what its creating call held until a fetch bills it; a
        // fetch before its row is written finds what it is billed at here
        let keeps_hold = match record.deferred.as_deref() {
            Some(Deferred::Defer {
                response_id,
                unbilled,
            }) => {
                self.0.unbilled.note(response_id, unbilled.clone());
                true
            }
            _ => false,
        };
        if !keeps_hold && let Some(user_id) = record.event.user_id {
            self.0.balances.reprice(user_id, record.held, cost);
            record.held = cost;
        }
        match self.0.tx.try_send(record) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(record)) => {
                let tx = self.0.tx.clone();
                let overflow = Arc::clone(&self.0.overflow);
                overflow.waiting.fetch_add(1, Ordering::SeqCst);
                self.0.tasks.spawn(async move {
                    let sent = tx.send(record).await;
                    overflow.waiting.fetch_sub(1, Ordering::SeqCst);
                    overflow.settled.notify_one();
                    if sent.is_err() {
                        tracing::error!("usage recorder stopped; a usage record was lost");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(record)) => {
                tracing::error!(request_id = %record.event.request_id, "usage recorder stopped; a usage record was lost");
            }
        }
    }

    /// Notes the owner of a Responses object as soon as it is seen created; calls about it
    /// find it before its row is written with the creating request's record.
    pub fn note_owner(&self, response_id: &str, owner: ResponseOwner) {
        self.0.owners.note(response_id, owner);
    }

    /// The owner of `response_id` if its row is not written yet.
    pub fn pending_owner(&self, response_id: &str) -> Option<ResponseOwner> {
        self.0.owners.get(response_id)
    }

    /// What the `background` response `response_id` is to be billed at, if its creating call's
    /// record is queued but not written yet.
    pub fn pending_unbilled(&self, response_id: &str) -> Option<Unbilled> {
        self.0.unbilled.get(response_id)
    }
}

impl UsageSink {
    /// A sink whose records land in the returned receiver; for tests of what is recorded.
    #[cfg(any(test, feature = "test-support"))]
    pub fn for_tests() -> (Self, mpsc::Receiver<Recorded>) {
        let config = UsageConfig::default();
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        (
            Self(Arc::new(Sink {
                tx,
                balances: Arc::default(),
                tasks: TaskTracker::new(),
                owners: Arc::new(PendingOwners::new(config.pending_owners_max)),
                unbilled: Arc::new(PendingUnbilled::new(config.pending_owners_max)),
                overflow: Arc::default(),
            })),
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
        min: config.batch_min_rows.min(config.max_batch),
        max_delay: Duration::from_millis(config.batch_max_delay_ms),
        // At least a millisecond: a zero sleep would spin until the batch is due.
        linger: Duration::from_millis(config.batch_linger_ms.max(1)),
    };
    let owners = Arc::new(PendingOwners::new(config.pending_owners_max));
    let unbilled = Arc::new(PendingUnbilled::new(config.pending_owners_max));
    let written = Written {
        store,
        balances: Arc::clone(&balances),
        owners: Arc::clone(&owners),
        unbilled: Arc::clone(&unbilled),
        unbilled_keep: (config.unbilled_keep_secs > 0)
            .then(|| Duration::from_secs(config.unbilled_keep_secs)),
    };
    let overflow = Arc::new(Overflow::default());
    tasks.spawn(run(written, rx, shutdown, batching, Arc::clone(&overflow)));
    UsageSink(Arc::new(Sink {
        tx,
        balances,
        tasks: tasks.clone(),
        owners,
        unbilled,
        overflow,
    }))
}

/// Batch sizes and how long to wait for one to fill (see [`UsageConfig`]).
#[derive(Debug, Clone, Copy)]
struct Batching {
    /// Most records in one transaction.
    max: usize,
    /// Records that make a batch worth writing at once.
    min: usize,
    /// Longest wait for `min` after the batch's first record.
    max_delay: Duration,
    /// Sleep between looks at the queue.
    linger: Duration,
}

/// Where a batch goes and what learns of it: the database, the balances the hot path checks,
/// and the owners and background responses waiting for their rows.
struct Written {
    store: Store,
    balances: Arc<Balances>,
    owners: Arc<PendingOwners>,
    unbilled: Arc<PendingUnbilled>,
    /// How long a response may stay unbilled (`usage.unbilled_keep_secs`; `None`: for good).
    unbilled_keep: Option<Duration>,
}

async fn run(
    to: Written,
    mut rx: mpsc::Receiver<Recorded>,
    shutdown: CancellationToken,
    batching: Batching,
    overflow: Arc<Overflow>,
) {
    let mut batch = Vec::with_capacity(batching.max);
    // The first look one period after the start: the state holds the unbilled rows' holds
    // again after the recorder starts, and an expiry in between would leave them held.
    let keep = to.unbilled_keep;
    let scan = keep.map_or(Duration::from_secs(3600), expiry_scan);
    let mut expiry = tokio::time::interval_at(tokio::time::Instant::now() + scan, scan);
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let first = tokio::select! {
            record = rx.recv() => record,
            _ = expiry.tick(), if keep.is_some() => {
                if let Some(keep) = keep {
                    expire_unbilled(&to, keep).await;
                }
                continue;
            }
            () = shutdown.cancelled() => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        fill(&mut rx, &mut batch, batching, &shutdown).await;
        write(&to, &mut batch).await;
    }
    // Shutdown: take what is queued and what is still waiting for room, then refuse more and
    // write it all.
    loop {
        let settled = overflow.settled.notified();
        take_queued(&mut rx, &mut batch, batching.max);
        if batch.len() >= batching.max {
            write(&to, &mut batch).await;
            continue;
        }
        if overflow.waiting.load(Ordering::SeqCst) == 0 {
            break;
        }
        // one of them sends (the queue has room now) or gives up
        settled.await;
    }
    rx.close();
    while let Some(record) = rx.recv().await {
        batch.push(record);
        if batch.len() >= batching.max {
            write(&to, &mut batch).await;
        }
    }
    write(&to, &mut batch).await;
}

/// How often responses still to be billed are looked at for expiry: a quarter of how long they
/// are kept, between a second and an hour.
fn expiry_scan(keep: Duration) -> Duration {
    (keep / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Gives up on the responses no fetch billed within `keep` of their creation: they are billed
/// nothing, and what their creating calls held is released (after the commit, in order with the
/// batches, which are written by this same task).
async fn expire_unbilled(to: &Written, keep: Duration) {
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let before = crate::store::now_ms().saturating_sub(keep_ms);
    let balances = Arc::clone(&to.balances);
    let release = move |holds: &Vec<Hold>| {
        let released: Vec<(i64, Decimal)> = holds.iter().map(|h| (h.user_id, h.amount)).collect();
        balances.settle(&released, &[]);
    };
    match to
        .store
        .write_then(move |tx| unbilled_responses::expire(tx, before), release)
        .await
    {
        Ok(holds) if !holds.is_empty() => tracing::info!(
            holds = holds.len(),
            "released the holds of background responses no fetch billed in time"
        ),
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(error = %err, "expiring unbilled responses failed; retried later")
        }
    }
}

/// Lets the batch fill: looks at the queue every `linger` until the batch has `min` records or
/// its first record has waited `max_delay` (or shutdown begins). Under load the first look
/// fills it; at a few requests a second one transaction carries a tenth of a second's records.
/// The recorder sleeps between looks rather than waiting on the queue: a receiver waiting on
/// the queue is woken by every record, and each wake-up from a request's thread cost a futex
/// call and a context switch per request in `bench/`.
async fn fill(
    rx: &mut mpsc::Receiver<Recorded>,
    batch: &mut Vec<Recorded>,
    batching: Batching,
    shutdown: &CancellationToken,
) {
    let deadline = tokio::time::Instant::now() + batching.max_delay;
    loop {
        take_queued(rx, batch, batching.max);
        let now = tokio::time::Instant::now();
        if batch.len() >= batching.min || now >= deadline || shutdown.is_cancelled() {
            return;
        }
        let look = (now + batching.linger).min(deadline);
        tokio::select! {
            () = tokio::time::sleep_until(look) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

/// What putting off and settling the batch's deferred billing decided.
#[derive(Debug, Default)]
struct DeferredOutcome {
    /// Fetches that must not pay (their response was billed already), by index.
    unpaid: Vec<usize>,
    /// Creating calls whose hold stays until a fetch bills their response, by index.
    holding: Vec<usize>,
    /// Holds of responses billed now, kept since their creation.
    released: Vec<(i64, Decimal)>,
}

/// Notes the responses whose billing is put off, with their creating calls' holds, and takes
/// those a fetch now reports the usage of.
fn settle_deferred(
    tx: &crate::store::Conn,
    records: &[Recorded],
) -> Result<DeferredOutcome, StoreError> {
    let mut outcome = DeferredOutcome::default();
    for (i, record) in records.iter().enumerate() {
        match record.deferred.as_deref() {
            Some(Deferred::Defer {
                response_id,
                unbilled,
            }) => {
                let hold = record
                    .event
                    .user_id
                    .filter(|_| record.held > Decimal::ZERO)
                    .map(|user_id| Hold {
                        user_id,
                        amount: record.held,
                    });
                if unbilled_responses::insert(tx, response_id, unbilled, hold)? && hold.is_some() {
                    outcome.holding.push(i);
                }
            }
            Some(Deferred::Settle { response_id }) => {
                match unbilled_responses::take(tx, response_id)? {
                    None => outcome.unpaid.push(i),
                    Some(hold) => outcome.released.extend(hold.map(|h| (h.user_id, h.amount))),
                }
            }
            Some(Deferred::Drop { response_id }) => {
                if let Some(Some(hold)) = unbilled_responses::take(tx, response_id)? {
                    outcome.released.push((hold.user_id, hold.amount));
                }
            }
            None => {}
        }
    }
    Ok(outcome)
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

/// Writes and empties the batch, retrying while the database refuses. Its response owners and
/// background responses are forgotten from memory afterwards: written, or (the batch lost)
/// never to be.
async fn write(to: &Written, batch: &mut Vec<Recorded>) {
    if batch.is_empty() {
        return;
    }
    // The next batch starts with room for a whole one: growing it record by record would
    // move every record several times.
    let capacity = batch.capacity();
    let records = Arc::new(std::mem::replace(batch, Vec::with_capacity(capacity)));
    write_records(&to.store, &to.balances, &records).await;
    to.owners.forget(
        records
            .iter()
            .filter_map(|r| r.response_owner.as_ref().map(|(id, _)| id.as_str())),
    );
    to.unbilled
        .forget(records.iter().filter_map(|r| match r.deferred.as_deref() {
            Some(Deferred::Defer { response_id, .. }) => Some(response_id.as_str()),
            _ => None,
        }));
}

/// The holds of `records`' calls but those at the (sorted) indexes `skipping`.
fn holds_of(records: &[Recorded], skipping: &[usize]) -> Vec<(i64, Decimal)> {
    records
        .iter()
        .enumerate()
        .filter(|(i, r)| r.held > Decimal::ZERO && skipping.binary_search(i).is_err())
        .filter_map(|(_, r)| Some((r.event.user_id?, r.held)))
        .collect()
}

async fn write_records(store: &Store, balances: &Arc<Balances>, records: &Arc<Vec<Recorded>>) {
    for attempt in 1..=MAX_WRITE_ATTEMPTS {
        let shared = Arc::clone(records);
        let balances = Arc::clone(balances);
        // the new balances are set in commit order with a rebuild's (see `Balances`), and
        // the calls' holds released in the same step
        let settle =
            move |written: &BatchWritten| balances.settle(&written.released, &written.charged);
        match store
            .write_then(move |tx| write_batch(tx, &shared), settle)
            .await
        {
            Ok(_) => return,
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
    // their calls are over: what they held is free again (no response is noted to bill later)
    balances.settle(&holds_of(records, &[]), &[]);
}

/// What a written batch changes in the in-memory balances.
#[derive(Debug)]
struct BatchWritten {
    /// Each charged user's new balance.
    charged: Vec<(i64, Decimal)>,
    /// Holds to release: the batch's calls', but those of responses billed later, and those
    /// responses billed now kept since their creation.
    released: Vec<(i64, Decimal)>,
}

/// One transaction: the rows, each token's last use, and each charged user's new balance
/// (charged down to zero, never below).
fn write_batch(tx: &crate::store::Conn, records: &[Recorded]) -> Result<BatchWritten, StoreError> {
    let DeferredOutcome {
        unpaid,
        holding,
        released: billed_now,
    } = settle_deferred(tx, records)?;
    let mut released = holds_of(records, &holding);
    released.extend(billed_now);
    // a fetch that found its response already billed records no usage: the fetch that paid has it
    let free: Vec<(usize, UsageEvent)> = unpaid
        .iter()
        .map(|&i| {
            let event = UsageEvent {
                cost_usd: Decimal::ZERO,
                input_tokens: 0,
                cached_input_tokens: 0,
                cache_write_tokens: 0,
                output_tokens: 0,
                reasoning_tokens: 0,
                upstream_usage: None,
                ..records[i].event.clone()
            };
            (i, event)
        })
        .collect();
    usage::insert_batch(
        tx,
        records.iter().enumerate().map(|(i, r)| {
            free.iter()
                .find(|(at, _)| *at == i)
                .map_or(&r.event, |(_, event)| event)
        }),
    )?;
    let mut last_used: FastMap<i64, i64> = FastMap::default();
    let mut charges: FastMap<i64, Decimal> = FastMap::default();
    for (i, record) in records.iter().enumerate() {
        let event = &record.event;
        if let Some(token) = event.token_id {
            let at = last_used.entry(token).or_insert(0);
            *at = (*at).max(event.time.timestamp_millis());
        }
        if record.charge
            && !unpaid.contains(&i)
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
    Ok(BatchWritten { charged, released })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration whose recorder writes each record as soon as it sees it.
    fn writes_at_once() -> UsageConfig {
        UsageConfig {
            batch_max_delay_ms: 1,
            batch_linger_ms: 1,
            ..UsageConfig::default()
        }
    }

    /// A recorder started with `config` on an in-memory database, and how to stop it.
    fn started(config: UsageConfig) -> (Store, UsageSink, TaskTracker, CancellationToken) {
        let store = Store::open_in_memory().expect("store");
        let tasks = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let sink = start(
            store.clone(),
            Arc::new(Balances::default()),
            &config,
            &tasks,
            shutdown.clone(),
        );
        (store, sink, tasks, shutdown)
    }

    /// The queue is full (a slow database) when shutdown begins: the records waiting for room
    /// in their own tasks are written too.
    #[tokio::test]
    async fn records_waiting_for_room_in_a_full_queue_are_written_at_shutdown() {
        let (store, sink, tasks, shutdown) = started(UsageConfig {
            queue_capacity: 1,
            max_batch: 1,
            batch_min_rows: 1,
            batch_max_delay_ms: 1,
            batch_linger_ms: 1,
            ..UsageConfig::default()
        });
        for _ in 0..20 {
            sink.record(record());
        }
        // every request has handed its record over; shutdown goes as `serve` does it
        shutdown.cancel();
        tasks.close();
        tasks.wait().await;
        let written = store
            .read(|c| usage::count_since(c, 0))
            .await
            .expect("count");
        assert_eq!(written, 20);
    }

    const BATCHING: Batching = Batching {
        max: 8,
        min: 4,
        max_delay: Duration::from_millis(100),
        linger: Duration::from_millis(5),
    };

    fn record() -> Recorded {
        Recorded {
            event: UsageEvent::default(),
            charge: false,
            held: Decimal::ZERO,
            response_owner: None,
            deferred: None,
        }
    }

    /// Fills a batch that starts with one record while `meanwhile` runs; returns the batch and
    /// how long filling took.
    async fn fill_during(
        rx: &mut mpsc::Receiver<Recorded>,
        meanwhile: impl std::future::Future<Output = ()>,
        shutdown: &CancellationToken,
    ) -> (Vec<Recorded>, Duration) {
        let mut batch = vec![record()];
        let started = tokio::time::Instant::now();
        let filled = async {
            fill(rx, &mut batch, BATCHING, shutdown).await;
            started.elapsed()
        };
        let (waited, ()) = tokio::join!(filled, meanwhile);
        (batch, waited)
    }

    /// Queues `count` records, `pause` apart (the first after one pause).
    async fn send(tx: mpsc::Sender<Recorded>, count: usize, pause: Duration) {
        for _ in 0..count {
            tokio::time::sleep(pause).await;
            tx.send(record())
                .await
                .expect("the recorder's queue is open");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_batch_waits_for_more_records_up_to_the_longest_delay() {
        let (tx, mut rx) = mpsc::channel(16);
        let sender = send(tx, 2, Duration::from_millis(30));
        let (batch, waited) = fill_during(&mut rx, sender, &CancellationToken::new()).await;
        assert_eq!(waited, BATCHING.max_delay);
        assert_eq!(batch.len(), 3, "the records queued meanwhile joined it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_with_enough_records_is_written_at_the_next_look() {
        let (tx, mut rx) = mpsc::channel(16);
        let sender = async move {
            tokio::time::sleep(Duration::from_millis(12)).await;
            send(tx, 5, Duration::ZERO).await;
        };
        let (batch, waited) = fill_during(&mut rx, sender, &CancellationToken::new()).await;
        assert_eq!(
            waited,
            Duration::from_millis(15),
            "the first look after 12 ms"
        );
        assert_eq!(batch.len(), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_fills_the_batch_to_its_most_without_waiting() {
        let (tx, mut rx) = mpsc::channel(16);
        send(tx, 12, Duration::ZERO).await;
        let (batch, waited) = fill_during(&mut rx, async {}, &CancellationToken::new()).await;
        assert_eq!(waited, Duration::ZERO);
        assert_eq!(batch.len(), BATCHING.max);
        assert_eq!(rx.len(), 5, "the rest waits for the next batch");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_the_wait_at_once() {
        let (_tx, mut rx) = mpsc::channel::<Recorded>(16);
        let shutdown = CancellationToken::new();
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(7)).await;
            shutdown.cancel();
        };
        let (_, waited) = fill_during(&mut rx, cancel, &shutdown).await;
        assert_eq!(waited, Duration::from_millis(7));
    }

    /// A deferred response is paid by the first fetch that reports usage, not by one before
    /// it finished, nor by one after.
    #[tokio::test]
    async fn deferred_billing_is_settled_by_the_first_fetch_that_reports_usage() {
        let (store, sink, tasks, shutdown) = started(writes_at_once());
        let fetch = |request_id: &str, tokens: u64| {
            let mut record = record();
            record.event.request_id = request_id.to_owned();
            record.event.input_tokens = tokens;
            record.event.cost_usd = Decimal::new(tokens as i64, 3);
            // a fetch that reports no usage settles nothing (`Draft::deferred`)
            record.deferred = (tokens > 0).then(|| {
                Box::new(Deferred::Settle {
                    response_id: "resp_bg".into(),
                })
            });
            record
        };
        let mut create = record();
        create.deferred = Some(Box::new(Deferred::Defer {
            response_id: "resp_bg".into(),
            unbilled: Unbilled {
                model: "gpt".into(),
                multiplier: Decimal::ONE,
            },
        }));
        sink.record(create);
        for (id, tokens) in [("early", 0), ("first", 7), ("again", 7)] {
            sink.record(fetch(id, tokens));
        }
        shutdown.cancel();
        tasks.close();
        tasks.wait().await;
        let costs: Vec<(String, String)> = store
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT request_id, cost_usd FROM usage_events WHERE request_id != '' \
                     ORDER BY id",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .expect("rows");
        let costs: Vec<(&str, &str)> = costs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(costs, [("early", "0"), ("first", "0.007"), ("again", "0")]);
    }

    /// The record of user 1's charged call that created the background `response_id` (no
    /// usage yet), holding `estimate` of `balances`.
    fn background_create(balances: &Balances, response_id: &str, estimate: Decimal) -> Recorded {
        let mut create = record();
        create.event.user_id = Some(1);
        create.charge = true;
        create.held = balances.hold(1, estimate).expect("held");
        create.deferred = Some(Box::new(Deferred::Defer {
            response_id: response_id.into(),
            unbilled: Unbilled {
                model: "gpt".into(),
                multiplier: Decimal::ONE,
            },
        }));
        create
    }

    /// What `user` could still hold now (probed and undone).
    fn left(balances: &Balances, user: i64) -> Decimal {
        let held = balances.hold(user, Decimal::MAX).unwrap_or_default();
        balances.reprice(user, held, Decimal::ZERO);
        held
    }

    /// A response billed later keeps its creating call's hold after the call's record is
    /// written (a second note of it does not), until the fetch that bills it releases it.
    #[tokio::test]
    async fn a_deferred_response_holds_until_the_fetch_that_bills_it() {
        let (store, sink, tasks, shutdown) = started(writes_at_once());
        let balances = Arc::clone(&sink.0.balances);
        balances.replace(std::collections::HashMap::from([(1, Decimal::ONE)]));
        sink.record(background_create(&balances, "resp_bg", Decimal::new(3, 1)));
        sink.record(background_create(&balances, "resp_bg", Decimal::new(2, 1)));
        let mut noted = Vec::new();
        for _ in 0..200 {
            noted = store.read(unbilled_responses::holds).await.expect("read");
            if !noted.is_empty() && left(&balances, 1) == Decimal::new(7, 1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let hold = Hold {
            user_id: 1,
            amount: Decimal::new(3, 1),
        };
        assert_eq!(noted, [hold]);
        assert_eq!(
            left(&balances, 1),
            Decimal::new(7, 1),
            "the first creation still holds, the second note held nothing after its write"
        );

        let mut fetch = record();
        fetch.event.user_id = Some(1);
        fetch.charge = true;
        fetch.event.cost_usd = Decimal::new(5, 2);
        fetch.deferred = Some(Box::new(Deferred::Settle {
            response_id: "resp_bg".into(),
        }));
        sink.record(fetch);
        shutdown.cancel();
        tasks.close();
        tasks.wait().await;
        assert_eq!(left(&balances, 1), Decimal::ONE, "nothing is held any more");
        let noted = store.read(unbilled_responses::holds).await.expect("read");
        assert!(noted.is_empty());
    }

    /// A response no fetch bills within `unbilled_keep_secs` is given up on: its row goes and
    /// its creation's hold is released.
    #[tokio::test]
    async fn a_response_unbilled_for_too_long_releases_its_hold() {
        let (store, sink, tasks, shutdown) = started(UsageConfig {
            unbilled_keep_secs: 1,
            ..writes_at_once()
        });
        let balances = Arc::clone(&sink.0.balances);
        balances.replace(std::collections::HashMap::from([(1, Decimal::ONE)]));
        sink.record(background_create(&balances, "resp_old", Decimal::new(3, 1)));
        let mut seen_held = false;
        let mut released = false;
        for _ in 0..100 {
            match left(&balances, 1) {
                left if left == Decimal::new(7, 1) => seen_held = true,
                left if left == Decimal::ONE && seen_held => {
                    released = true;
                    break;
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(seen_held && released, "held, then released");
        let noted = store.read(unbilled_responses::holds).await.expect("read");
        assert!(noted.is_empty(), "{noted:?}");
        shutdown.cancel();
        tasks.close();
        tasks.wait().await;
    }

    #[tokio::test]
    async fn a_noted_owner_is_kept_until_its_row_is_written() {
        let (store, sink, tasks, shutdown) = started(writes_at_once());
        let owner = ResponseOwner {
            user_id: 1,
            channel_id: 2,
            credential_id: 3,
        };
        sink.note_owner("resp_1", owner);
        assert_eq!(sink.pending_owner("resp_1"), Some(owner));
        sink.record(Recorded {
            response_owner: Some(("resp_1".to_owned(), owner)),
            ..record()
        });
        let mut written = None;
        for _ in 0..200 {
            written = store
                .read(|c| response_owners::get(c, "resp_1"))
                .await
                .expect("read");
            if written.is_some() && sink.pending_owner("resp_1").is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(written, Some(owner), "the row is written");
        assert_eq!(sink.pending_owner("resp_1"), None, "and the memory freed");
        shutdown.cancel();
        tasks.close();
        tasks.wait().await;
    }
}
