//! A full disk under traffic, as an operator's bad day goes: the router's data directory is a
//! small tmpfs, a third-party client (npm `smpp`) sends with receipts through the stand-in
//! carrier, the disk fills up, then space is freed while traffic goes on. The router must answer
//! the submits it cannot record with a temporary status (`ESME_RMSGQFUL`), report the fault on
//! `/readyz`, recover by itself once space is back (no restart), and every submit answered
//! `ESME_ROK` must get its receipt: the client's ledger shows 0 missing.
//!
//! Mounting a tmpfs needs root, as CI has; elsewhere the test says it did not run (and fails
//! under `CI=true`). The same fault, injected part-way through a commit, is tested at the unit
//! level in `router/src/store/tests.rs` on any machine.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use smpp_router_e2e::{account, free_port, http, node_smpp, scratch_dir, wait_listening};
use smpp_router_tools::sim::carrier::{self, Knobs};
use smpp_router_tools::sim::otpblue::Latency;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The router's process, killed when dropped.
struct Router(Child);

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fills the file system of `dir` with a file until it is full.
fn fill(file: &Path) {
    let mut f = std::fs::File::create(file).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_messages_recovers_by_itself_and_loses_no_receipt() {
    let dir = scratch_dir("store-faults");
    let Some(tmpfs) = Tmpfs::mount(&dir.join("data"), "12m") else {
        assert!(
            std::env::var("CI").is_err(),
            "store_faults: cannot mount a tmpfs (needs root), and CI must run this test"
        );
        println!("store_faults: NOT RUN — mounting a tmpfs needs root (CI runs it as root)");
        return;
    };
    let (carrier, _task) = carrier::start(Knobs {
        receipt_delay: Latency::fixed(Duration::from_millis(20)),
        ..Knobs::default()
    })
    .await
    .unwrap();
    let (port, admin) = (free_port(), free_port());
    std::fs::write(
        dir.join("router.toml"),
        format!(
            "data_dir = \"data\"\n[listen]\nplain = \"127.0.0.1:{port}\"\ntls = \"off\"\n\
             [admin]\nlisten = \"127.0.0.1:{admin}\"\n[log]\nlevel = \"info\"\n\
             [store]\ncache_mb = 4\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("routes.toml"),
        format!(
            "{}\n[[channel]]\nname = \"carrier\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
             system_id = \"router\"\npassword = \"pw\"\nwindow = 50\nreconnect_min = \"50ms\"\n\n\
             [[route]]\nname = \"sms\"\nchannels = [\"carrier\"]\n",
            account("acme", "pw", "tps = 0\nwindow = 50"),
            carrier.port()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("router.log")).unwrap();
    // ROUTER_BIN=path runs another build (a before/after comparison; the figures print first).
    let bin = std::env::var("ROUTER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_smpp-router-under-test").to_string());
    let child = Command::new(bin)
        .args(["run", "--config"])
        .arg(dir.join("router.toml"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id();
    let _router = Router(child);
    wait_listening(&[port, admin]).await;
    let t0 = Instant::now();
    while http(admin, "GET", "/readyz", None).0 != 200 {
        assert!(t0.elapsed() < Duration::from_secs(10), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // the carrier bind

    // The client: bursts with pauses for ~15 s, then waits for a receipt for every ESME_ROK.
    let mut steps =
        vec![json!({"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"})];
    for _ in 0..60 {
        steps.push(
            json!({"op": "submit", "count": 300, "window": 20, "registered_delivery": 1,
                          "to": "447911123456", "text": "Your parcel arrives today"}),
        );
        steps.push(json!({"op": "idle", "seconds": 0.2}));
    }
    steps.push(json!({"op": "wait_receipts", "for_accepted": true, "timeout": 60, "show": 0}));
    steps.push(json!({"op": "unbind"}));
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let client = tokio::spawn(node_smpp(addr, false, json!(steps)));

    // The disk fills up a second in, and stays full for ~4 s.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let filler = tmpfs.0.join("filler");
    fill(&filler);
    let seen_503 = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let mut body_503 = String::new();
    while t0.elapsed() < Duration::from_secs(4) {
        let (status, body) = http(admin, "GET", "/readyz", None);
        if status == 503 && body.contains("store cannot write") {
            seen_503.store(true, Ordering::Relaxed);
            body_503 = body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::remove_file(&filler).unwrap();
    let t0 = Instant::now();
    while http(admin, "GET", "/readyz", None).0 != 200 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "not ready again after space was freed: {}",
            http(admin, "GET", "/readyz", None).1
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered_in = t0.elapsed();

    let out = client.await.unwrap();
    let ledger = &out[out.len() - 2];
    let (mut ok, mut queue_full, mut other) = (0u64, 0u64, 0u64);
    for step in out.iter().filter(|s| s.get("statuses").is_some()) {
        for (status, n) in step["statuses"].as_object().unwrap() {
            let n = n.as_u64().unwrap();
            match status.as_str() {
                "0" => ok += n,
                "20" => queue_full += n,
                _ => other += n,
            }
        }
    }
    let log = std::fs::read_to_string(dir.join("router.log")).unwrap();
    println!(
        "store_faults: ESME_ROK {ok}, ESME_RMSGQFUL {queue_full}, other {other}; receipts: {ledger}; ready again {recovered_in:?} after space was freed"
    );
    assert!(
        seen_503.load(Ordering::Relaxed),
        "/readyz never said the store cannot write"
    );
    println!(
        "/readyz during the fault: {}",
        body_503.lines().last().unwrap_or("")
    );
    assert!(queue_full > 0, "no submit was refused during the fault");
    assert_eq!(other, 0, "{out:?}");
    assert!(ok > 0);
    assert_eq!(ledger["accepted"], ok, "{ledger}");
    assert_eq!(
        ledger["missing"], 0,
        "an ESME_ROK without its receipt: {ledger}"
    );
    assert_eq!(ledger["unknown"], 0, "{ledger}");
    assert!(log.contains("operator alarm"), "no operator alarm logged");
    assert!(log.contains("writable again"), "no recovery logged");
    assert!(
        !log.contains("receipt will be lost")
            && !log.contains("unknown message was answered and dropped"),
        "a receipt was dropped:\n{}",
        log.lines()
            .filter(|l| l.contains("lost") || l.contains("dropped"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The same process served throughout.
    assert!(Path::new(&format!("/proc/{pid}")).exists());
}
