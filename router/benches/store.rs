//! The durable store under load: 256 concurrent writers (as many sessions' windows would be)
//! each awaiting one durable `record` after another, on a 2-worker tokio runtime, against a redb
//! file in the temp dir. Reports records/s (criterion's throughput) and, at the end, the fsyncs
//! (commits) per second and records per commit that group commit achieved, plus the same for
//! enqueue + dequeue of receipts, and how long a reopen with the integrity check takes.
//!
//! Run: `cargo bench -p smpp-router --bench store`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use smpp_router::store::{MessageRecord, RedbStore, Store};

const WRITERS: u64 = 256;

#[derive(Default)]
struct Totals {
    ops: AtomicU64,
    commits: AtomicU64,
    nanos: AtomicU64,
}

impl Totals {
    fn add(&self, ops: u64, commits: u64, elapsed: Duration) {
        self.ops.fetch_add(ops, Ordering::Relaxed);
        self.commits.fetch_add(commits, Ordering::Relaxed);
        self.nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    fn report(&self, what: &str) {
        let ops = self.ops.load(Ordering::Relaxed) as f64;
        let commits = self.commits.load(Ordering::Relaxed) as f64;
        let secs = self.nanos.load(Ordering::Relaxed) as f64 / 1e9;
        println!(
            "{what}: {:.0} ops/s, {:.0} commits/s, {:.1} ops per commit ({ops:.0} ops in {secs:.1} s)",
            ops / secs,
            commits / secs,
            ops / commits.max(1.0),
        );
    }
}

fn record(n: u64) -> MessageRecord {
    MessageRecord {
        router_id: format!("{n:016x}"),
        account: "aggregator1".into(),
        channel: "tyntec".into(),
        channel_id: format!("0a1b2c3d{n:024x}"),
        created: 1_760_000_000 + n / 40_000,
    }
}

/// Runs `per_writer` operations on each of [`WRITERS`] tasks; returns the wall time.
fn run<F, Fut>(rt: &tokio::runtime::Runtime, per_writer: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let op = op.clone();
                tokio::spawn(async move {
                    for i in 0..per_writer {
                        op(w * per_writer + i).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        start.elapsed()
    })
}

fn main() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("smpp-router-store-bench-{}", std::process::id()));
    let path = dir.join("store.redb");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = RedbStore::open(&path).unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let records = Totals::default();
    let queue = Totals::default();

    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("store, 256 concurrent writers");
        g.throughput(Throughput::Elements(1));
        g.bench_function("record (durable)", |b| {
            b.iter_custom(|iters| {
                let per_writer = iters.div_ceil(WRITERS).max(1);
                let (s, next) = (store.clone(), next.clone());
                let base = next.fetch_add(per_writer * WRITERS, Ordering::Relaxed);
                let commits = store.stats().commits;
                let elapsed = run(&rt, per_writer, move |i| {
                    let s = s.clone();
                    async move { s.record(record(base + i)).await.unwrap() }
                });
                let done = per_writer * WRITERS;
                records.add(done, store.stats().commits - commits, elapsed);
                elapsed.mul_f64(iters as f64 / done as f64)
            })
        });
        g.bench_function("enqueue + dequeue (durable, 2 ops)", |b| {
            b.iter_custom(|iters| {
                let per_writer = iters.div_ceil(WRITERS).max(1);
                let s = store.clone();
                let pdu = Bytes::from(vec![0x42u8; 180]);
                let commits = store.stats().commits;
                let elapsed = run(&rt, per_writer, move |_| {
                    let (s, pdu) = (s.clone(), pdu.clone());
                    async move {
                        let key = s.enqueue("aggregator1", pdu, u64::MAX).await.unwrap();
                        s.dequeue(key).await.unwrap();
                    }
                });
                let done = per_writer * WRITERS;
                queue.add(2 * done, store.stats().commits - commits, elapsed);
                elapsed.mul_f64(iters as f64 / done as f64)
            })
        });
        g.finish();
    }
    c.final_summary();

    records.report("record");
    queue.report("enqueue+dequeue");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    drop(store);
    let start = Instant::now();
    let store = RedbStore::open(&path).unwrap();
    println!(
        "reopen with integrity check: {:.2} s for {} records ({:.0} MiB file)",
        start.elapsed().as_secs_f64(),
        next.load(Ordering::Relaxed),
        size as f64 / (1024.0 * 1024.0),
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
