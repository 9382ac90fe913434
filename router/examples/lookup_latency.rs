//! How long a trace lookup takes in a large store: fills a redb store with N message records as
//! the router makes them (router ids minted in time order, 400 messages a second; carrier ids in
//! no order), then looks up random ones by router id (`GET /messages/ID`, `query_sm`) and by
//! carrier id (`GET /messages?channel=…&carrier_id=…`), each with its history, and prints
//! p50 / p99 / max.
//!
//! Run: `cargo run --release -p smpp-router --example lookup_latency -- [RECORDS] [DIR]`
//! (default 10,000,000 records in a temp folder, removed at the end; filling it takes a few
//! minutes and ~4 GB of disk).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use smpp_router::ids::IdMinter;
use smpp_router::store::{MessageRecord, RedbOptions, RedbStore, Store, history};

fn carrier_id(n: u64) -> String {
    let mut h = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:016x}", h ^ (h >> 31))
}

fn percentiles(mut t: Vec<Duration>) -> String {
    t.sort();
    let at = |q: f64| t[((t.len() - 1) as f64 * q) as usize];
    format!(
        "p50 {:?}, p99 {:?}, max {:?} ({} lookups)",
        at(0.5),
        at(0.99),
        t[t.len() - 1],
        t.len()
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join(format!("lookup-latency-{}", std::process::id())),
        Into::into,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = RedbStore::open_with(&dir.join("store.redb"), &RedbOptions::default()).unwrap();
    // 400 messages a second from 2026-12-04 on: 10 million span ~7 hours of minted ids.
    let minter = IdMinter::new(1);
    let t0_ms = 1_796_342_400_000u64;
    let ids: Vec<u64> = (0..n)
        .map(|i| minter.next_at(t0_ms + i * 1000 / 400))
        .collect();
    let filled = Instant::now();
    let writers = 256u64;
    let ids = Arc::new(ids);
    rt.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let (store, ids) = (store.clone(), ids.clone());
                tokio::spawn(async move {
                    let mut i = w;
                    while i < n {
                        let id = ids[i as usize];
                        let rec = MessageRecord {
                            router_id: id.to_string(),
                            account: "aggregator1".into(),
                            channel: "tyntec".into(),
                            channel_id: carrier_id(i),
                            created: smpp_router::ids::unix_secs(id),
                            attempts: "imessage refused_0x45 250ms; tyntec accepted 12ms".into(),
                            route: "otp".into(),
                            to: "+447700900123".into(),
                            region: "GB".into(),
                            session: 7,
                            ..MessageRecord::default()
                        };
                        store.record(rec).await.unwrap();
                        let event = smpp_router::store::Event::receipt(2, "000", "tyntec");
                        store.note(id, event, None);
                        i += writers;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        store.flush().await.unwrap();
    });
    println!(
        "filled {n} records (+ one receipt each) in {:.0} s",
        filled.elapsed().as_secs_f64()
    );
    // Random picks, spread over the whole store (most are no longer in the in-memory window).
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut pick = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let (mut by_id, mut by_carrier) = (Vec::new(), Vec::new());
    for _ in 0..100_000 {
        let i = pick();
        let id = ids[i as usize].to_string();
        let t = Instant::now();
        let rec = store.by_router_id(&id).unwrap().unwrap();
        let events = store.history(history::key_of(&id).unwrap()).unwrap();
        by_id.push(t.elapsed());
        assert_eq!((rec.router_id.as_str(), events.len()), (id.as_str(), 1));
        let cid = carrier_id(i);
        let t = Instant::now();
        let rec = store.lookup("tyntec", &cid).unwrap().unwrap();
        let _ = store
            .history(history::key_of(&rec.router_id).unwrap())
            .unwrap();
        by_carrier.push(t.elapsed());
        assert_eq!(rec.channel_id, cid);
    }
    println!("by router id (record + history): {}", percentiles(by_id));
    println!(
        "by carrier id (record + history): {}",
        percentiles(by_carrier)
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
