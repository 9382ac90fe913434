//! Third-party SMPP peers at their library defaults (Nagle's algorithm on), one message at a time
//! with receipts: a stall detector for delayed ACKs.
//!
//! A peer with Nagle on holds a small write until its previous one is acknowledged; when the
//! router read something that needs no immediate answer and let the kernel delay its ACK (~40 ms),
//! every message waited that long: 200 messages took 4–9 s. The router now acknowledges at once
//! what it read when it has nothing to write (`quick_ack`), so 200 messages take a fraction of a
//! second. The bound below (2 s) is 20× what they take and half of what the stall costs: it
//! catches the stall without timing the router.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smpp_router_e2e::{LiveRouter, account, count, node_smpp, scratch_dir, smpplib};

const N: u64 = 200;
const STALL: Duration = Duration::from_secs(2);

/// A router whose only channel accepts at once and sends a DELIVRD receipt at once.
async fn router() -> LiveRouter {
    let path = scratch_dir("default-sockets").join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "{}[[channel]]\nname = \"sink\"\nkind = \"test\"\noutcomes = [\"delivered\"]\n\n\
             [[route]]\nname = \"all\"\nchannels = [\"sink\"]\n",
            account("acme", "pw", "tps = 0\nwindow = 100")
        ),
    )
    .unwrap();
    LiveRouter::start_full(&path, "", true).await
}

fn plan(receipt_each: bool) -> Value {
    json!([
        {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
        {"op": "submit", "count": N, "window": 1, "to": "447911123456", "registered_delivery": 1,
         "text": "Your parcel arrives today", "receipt_each": receipt_each, "timeout": 30},
        {"op": "wait_receipts", "count": N, "timeout": 30},
        {"op": "unbind"},
    ])
}

/// Every message accepted, every receipt back, and the messages not held back by delayed ACKs.
fn check(what: &str, out: &[Value], took: Duration) {
    assert_eq!(out[0]["status"], 0, "{what}: bind {out:?}");
    assert_eq!(count(&out[1], 0), N, "{what}: {:?}", out[1]);
    assert_eq!(out[2]["receipts"], N, "{what}: receipts {:?}", out[2]);
    let seconds = out[1]["seconds"].as_f64().unwrap();
    println!("{what}: {N} messages at window 1 in {seconds:.3} s (with receipts {took:.2?})");
    assert!(
        seconds < STALL.as_secs_f64(),
        "{what}: {N} messages at window 1 took {seconds:.2} s: delayed ACKs are back"
    );
}

async fn timed<F: std::future::Future<Output = Vec<Value>>>(f: F) -> (Vec<Value>, Duration) {
    let t0 = Instant::now();
    let out = f.await;
    (out, t0.elapsed())
}

fn tls_addr(live: &LiveRouter) -> SocketAddr {
    live.tls.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpplib_at_its_defaults_is_not_stalled_plain_or_tls() {
    let live = router().await;
    for (what, addr, tls) in [
        ("smpplib plaintext", live.plain, false),
        ("smpplib TLS", tls_addr(&live), true),
    ] {
        for each in [false, true] {
            let (out, took) = timed(smpplib(addr, tls, plan(each))).await;
            check(&format!("{what} (receipt_each {each})"), &out, took);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_smpp_at_its_defaults_is_not_stalled_plain_or_tls() {
    let live = router().await;
    for (what, addr, tls) in [
        ("node smpp plaintext", live.plain, false),
        ("node smpp TLS", tls_addr(&live), true),
    ] {
        let (out, took) = timed(node_smpp(addr, tls, plan(false))).await;
        check(what, &out, took);
    }
}
