//! The durable store under load: 256 concurrent writers (as many sessions' windows would be)
//! each awaiting one durable `record` after another, on a 2-worker tokio runtime, against a redb
//! file in the temp dir. Reports records/s (criterion's throughput) and, at the end, the fsyncs
//! (commits) per second and records per commit that group commit achieved, plus the same for
//! enqueue + dequeue of receipts, the CPU time per operation (all threads: the writers' tasks
//! and the store's writer thread; steadier than the rate, which the disk's fsyncs bound), and
//! how long a reopen with the integrity check takes.
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

/// Concurrent writers; `STORE_BENCH_WRITERS` overrides the default of 256.
fn writers() -> u64 {
    std::env::var("STORE_BENCH_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(256)
}

/// CPU time of this process so far, all threads alive (Linux: `/proc/self/task/*/schedstat`);
/// 0 where that is not readable.
fn cpu_nanos() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

#[derive(Default)]
struct Totals {
    ops: AtomicU64,
    commits: AtomicU64,
    nanos: AtomicU64,
    cpu_nanos: AtomicU64,
}

impl Totals {
    fn add(&self, ops: u64, commits: u64, elapsed: Duration, cpu: u64) {
        self.ops.fetch_add(ops, Ordering::Relaxed);
        self.commits.fetch_add(commits, Ordering::Relaxed);
        self.nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        self.cpu_nanos.fetch_add(cpu, Ordering::Relaxed);
    }

    fn report(&self, what: &str) {
        let ops = self.ops.load(Ordering::Relaxed) as f64;
        let commits = self.commits.load(Ordering::Relaxed) as f64;
        let secs = self.nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let cpu = self.cpu_nanos.load(Ordering::Relaxed) as f64 / 1e3;
        println!(
            "{what}: {:.0} ops/s, {:.0} commits/s, {:.1} ops per commit, {:.2} µs CPU per op ({ops:.0} ops in {secs:.1} s)",
            ops / secs,
            commits / secs,
            ops / commits.max(1.0),
            cpu / ops.max(1.0),
        );
    }
}

/// A record as the router makes them: router ids are minted in time order (19 decimal digits,
/// see `ids`), carrier ids look random (hex), `created` advances with the load.
fn record(n: u64) -> MessageRecord {
    let mut h = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    MessageRecord {
        router_id: format!("{}", 7_000_000_000_000_000_000u64 + n),
        account: "aggregator1".into(),
        channel: "tyntec".into(),
        channel_id: format!("{h:016x}{:08x}", n as u32),
        created: 1_760_000_000 + n / 40_000,
        attempts: "imessage refused_0x45 250ms; tyntec accepted 12ms".into(),
        ..MessageRecord::default()
    }
}

/// Runs `per_writer` operations on each of [`writers()`] tasks; returns the wall time.
fn run<F, Fut>(rt: &tokio::runtime::Runtime, per_writer: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..writers())
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
                let per_writer = iters.div_ceil(writers()).max(1);
                let (s, next) = (store.clone(), next.clone());
                let commits = store.stats().commits;
                let cpu = cpu_nanos();
                let elapsed = run(&rt, per_writer, move |_| {
                    let s = s.clone();
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    async move { s.record(record(n)).await.unwrap() }
                });
                let done = per_writer * writers();
                let cpu = cpu_nanos().saturating_sub(cpu);
                records.add(done, store.stats().commits - commits, elapsed, cpu);
                elapsed.mul_f64(iters as f64 / done as f64)
            })
        });
        g.bench_function("enqueue + dequeue (durable, 2 ops)", |b| {
            b.iter_custom(|iters| {
                let per_writer = iters.div_ceil(writers()).max(1);
                let s = store.clone();
                let pdu = Bytes::from(vec![0x42u8; 180]);
                let commits = store.stats().commits;
                let cpu = cpu_nanos();
                let elapsed = run(&rt, per_writer, move |_| {
                    let (s, pdu) = (s.clone(), pdu.clone());
                    async move {
                        let key = s.enqueue("aggregator1", pdu, u64::MAX).await.unwrap();
                        s.dequeue(key).await.unwrap();
                    }
                });
                let done = per_writer * writers();
                let cpu = cpu_nanos().saturating_sub(cpu);
                queue.add(2 * done, store.stats().commits - commits, elapsed, cpu);
                elapsed.mul_f64(iters as f64 / done as f64)
            })
        });
        g.finish();
    }
    c.final_summary();

    records.report("record");
    queue.report("enqueue+dequeue");
    let stats = store.stats();
    println!(
        "mean write transaction (apply + commit): {:.2} ms over {} commits",
        stats.write_micros as f64 / 1000.0 / stats.commits.max(1) as f64,
        stats.commits,
    );
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
