//! Throughput of usage recording on a real SQLite file (WAL, as in production), in rows per
//! second (`Throughput::Elements`).
//!
//! - `recorder/20000_records`: the whole recorder path. 20 000 records are handed to a fresh
//!   recorder task (`usage::recorder::start`) over an existing database, then shutdown is
//!   signalled and the drain awaited: queueing, batching (up to `usage.max_batch` rows a transaction),
//!   each token's last use and the commits. The time is from the first record to the last commit,
//!   so it is the sustained rate the recorder can absorb. The target is 20 000 rows/s.
//! - `insert_batch/2048_rows`: `store::usage::insert_batch` of one full batch inside one write
//!   transaction, the database part alone.
//!
//! The table keeps growing across iterations, as it does in production.
#![expect(
    clippy::expect_used,
    reason = "a benchmark harness: a failed set-up or write must stop it loudly"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use realms_core::store::Store;
use realms_core::store::usage::{UsageEvent, insert_batch};
use realms_core::usage::recorder::{self, Balances, Recorded};
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const RECORDS: usize = 20_000;
const BATCH: usize = 2_048;

/// A finished 20-event chat stream, as the relay records it.
fn event(n: usize) -> UsageEvent {
    UsageEvent {
        id: 0,
        time: Utc::now(),
        request_id: format!("req_{n:024x}"),
        user_id: Some(2),
        token_id: Some(1 + (n % 4) as i64),
        model: "bench-model".into(),
        forwarded_model: Some("bench-model".into()),
        upstream_model: Some("gpt-4o-mini-2024-07-18".into()),
        channel_id: Some(1),
        credential_id: Some(1),
        endpoint: "/v1/chat/completions".into(),
        is_stream: true,
        status_code: 200,
        error_class: None,
        latency_ms: 3,
        first_token_latency_ms: Some(1),
        request_bytes: 160,
        response_bytes: 4_096,
        input_tokens: 1_200,
        cached_input_tokens: 1_024,
        cache_write_tokens: 0,
        output_tokens: 321,
        reasoning_tokens: 0,
        cost_usd: Decimal::new(3_657_500, 9),
        upstream_usage: Some(realms_core::usage::RawUsage::from(&serde_json::json!({
            "prompt_tokens": 1200, "completion_tokens": 321, "total_tokens": 1521,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}
        }))),
        partial: false,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn open_store(rt: &tokio::runtime::Runtime, dir: &tempfile::TempDir) -> Store {
    rt.block_on(Store::open(&dir.path().join("bench.db")))
        .expect("opening the bench database")
        .0
}

fn bench_recorder(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open_store(&rt, &dir);
    let mut group = c.benchmark_group("recorder");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("20000_records", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let records: Vec<Recorded> = (0..RECORDS)
                    .map(|n| Recorded {
                        event: event(n),
                        charge: false,
                        held: rust_decimal::Decimal::ZERO,
                        response_owner: None,
                        deferred: None,
                    })
                    .collect();
                total += rt.block_on(async {
                    let tasks = TaskTracker::new();
                    let shutdown = CancellationToken::new();
                    let sink = recorder::start(
                        store.clone(),
                        Arc::new(Balances::default()),
                        &realms_core::config::UsageConfig::default(),
                        &tasks,
                        shutdown.clone(),
                    );
                    let start = Instant::now();
                    for record in records {
                        sink.record(record);
                    }
                    shutdown.cancel();
                    tasks.close();
                    tasks.wait().await;
                    start.elapsed()
                });
            }
            total
        });
    });
    group.finish();

    let mut group = c.benchmark_group("insert_batch");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("2048_rows", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let events: Vec<UsageEvent> = (0..BATCH).map(event).collect();
                let start = Instant::now();
                rt.block_on(store.write(move |tx| insert_batch(tx, &events)))
                    .expect("insert_batch");
                total += start.elapsed();
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, bench_recorder);
criterion_main!(benches);
