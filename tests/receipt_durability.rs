//! Never losing a receipt: the router's own process is killed with SIGKILL while receipts are
//! waiting for a client and while messages are still waiting for their receipts; a new process
//! on the same data directory delivers all of them when the client binds. The carrier's ids are
//! in no order (as UUIDs), and the kill comes before the router has written them to its carrier-id
//! index (it does so in batches, or after a second of quiet): the new process finds them through
//! the store's log of records not yet indexed.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use smpp_router_e2e::{account, count, free_port, scratch_dir, smpplib, wait_listening};
use smpp_router_tools::sim::carrier::{self, IdFormat, Knobs};
use smpp_router_tools::sim::otpblue::Latency;

/// The router's process, killed (SIGKILL) when dropped, also when the test fails part-way.
struct Router(Child);

impl Router {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn spawn_router(config: &Path, port: u16) -> Router {
    let child = Command::new(env!("CARGO_BIN_EXE_smpp-router-under-test"))
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let router = Router(child);
    wait_listening(&[port]).await;
    router
}

async fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(10), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_survive_a_sigkill() {
    /// Messages accepted just before the kill.
    const B: u32 = 200;
    let knobs = Knobs {
        receipt_delay: Latency::fixed(Duration::from_millis(1500)),
        id_format: IdFormat::Random,
        ..Knobs::default()
    };
    let stats = knobs.stats.clone();
    let (carrier, _task) = carrier::start(knobs).await.unwrap();
    let dir = scratch_dir("durability");
    let port = free_port();
    std::fs::write(
        dir.join("router.toml"),
        format!("[listen]\nplain = \"127.0.0.1:{port}\"\ntls = \"off\"\n[log]\nlevel = \"warn\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("routes.toml"),
        format!(
            "{}\n[[channel]]\nname = \"carrier\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
             system_id = \"router\"\npassword = \"pw\"\nreconnect_min = \"50ms\"\n\n\
             [[route]]\nname = \"sms\"\nchannels = [\"carrier\"]\n",
            account("acme", "pw", "tps = 1000"),
            carrier.port()
        ),
    )
    .unwrap();
    let config = dir.join("router.toml");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let submit = |n: u32| {
        json!([
            {"op": "bind", "mode": "tx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": n, "window": n.min(50), "registered_delivery": 1, "text": "hi", "all_ids": true},
            {"op": "unbind"},
        ])
    };

    let mut first = spawn_router(&config, port).await;
    wait("the router binds to the carrier", || stats.binds() >= 1).await;
    // Batch A: its receipts reach the router and wait there for the client.
    let a = smpplib(addr, false, submit(2)).await;
    assert_eq!(count(&a[1], 0), 2, "{a:?}");
    wait("the router keeps batch A's receipts", || {
        stats.receipts_acked() >= 2
    })
    .await;
    // Batch B: accepted, then the router dies before the carrier sends the receipts.
    let b = smpplib(addr, false, submit(B)).await;
    assert_eq!(count(&b[1], 0), B as u64, "{b:?}");
    first.kill();

    let mut second = spawn_router(&config, port).await;
    let out = smpplib(
        addr,
        false,
        json!([
            {"op": "bind", "mode": "rx", "system_id": "acme", "password": "pw"},
            {"op": "wait_receipts", "count": 2 + B, "show": 2 + B, "timeout": 10},
            {"op": "unbind"},
        ]),
    )
    .await;
    second.kill();
    assert_eq!(out[1]["receipts"], 2 + B, "{out:?}");
    let mut sent: Vec<String> = a[1]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .chain(b[1]["ids"].as_array().unwrap())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut got: Vec<String> = out[1]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    sent.sort();
    got.sort();
    assert_eq!(got, sent, "every receipt, each once, with its router id");
}
