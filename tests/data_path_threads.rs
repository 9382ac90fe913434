//! The router's data path on several threads (`limits.threads`): two accounts' sessions and the
//! carrier binds are dealt out over three threads, so most receipts come in on a thread where
//! the session that is to get them does not run, and some messages find no bind of their own
//! thread with room. Every message still gets exactly one receipt, on its own account's
//! sessions, with its router id. The router is the real binary; the clients are the load
//! generator's sessions, each writing a ledger of answers and receipts.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use smpp_router_e2e::{account, free_port, scratch_dir, wait_listening};
use smpp_router_tools::sim::carrier::{self, IdFormat, Knobs};

const BIN: &str = env!("CARGO_BIN_EXE_smpp-router-under-test");

/// The router's process, killed when dropped (also when the test fails part-way).
struct Router(Child);

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the load generator for `system_id` to the end and returns its ledger.
fn load(addr: &str, system_id: &str, sessions: &str, count: &str, ledger: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "load",
        "--addr",
        addr,
        "--system-id",
        system_id,
        "--password",
        "pw",
    ])
    .args(["--sessions", sessions, "--window", "40", "--count", count])
    .args([
        "--registered-delivery",
        "1",
        "--wait-receipts",
        "1s",
        "--ledger",
    ])
    .arg(ledger)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// The ids accepted (`S 00000000 ID`) and the receipts (`R ID STAT`) of a ledger.
fn read_ledger(path: &Path) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut accepted = Vec::new();
    let mut receipts = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["S", "00000000", id, ..] => accepted.push(id.to_string()),
            ["R", id, ..] => receipts.push(id.to_string()),
            _ => {}
        }
    }
    (accepted, receipts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_cross_threads_to_their_own_account() {
    let knobs = Knobs {
        id_format: IdFormat::Random,
        ..Knobs::default()
    };
    let stats = knobs.stats.clone();
    let (carrier, _task) = carrier::start(knobs).await.unwrap();
    let dir = scratch_dir("threads");
    let port = free_port();
    std::fs::write(
        dir.join("router.toml"),
        format!(
            "[listen]\nplain = \"127.0.0.1:{port}\"\ntls = \"off\"\n[log]\nlevel = \"warn\"\n\
             [limits]\nthreads = 3\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("routes.toml"),
        format!(
            "{}\n{}\n[[channel]]\nname = \"carrier\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\n\
             port = {}\nsystem_id = \"router\"\npassword = \"pw\"\nbinds = 4\nwindow = 8\n\n\
             [[route]]\nname = \"sms\"\nchannels = [\"carrier\"]\n",
            account("acme", "pw", "max_binds = 10\ntps = 100000"),
            account("beta", "pw", "max_binds = 10\ntps = 100000"),
            carrier.port()
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(dir.join("router.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut router = Router(child);
    wait_listening(&[port]).await;
    let t0 = std::time::Instant::now();
    while stats.binds() < 4 {
        assert!(
            t0.elapsed().as_secs() < 10,
            "the router binds to the carrier"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Five sessions of acme and two of beta, at once: over three threads.
    let addr = format!("127.0.0.1:{port}");
    let mut acme = load(&addr, "acme", "5", "3000", &dir.join("acme"))
        .spawn()
        .unwrap();
    let mut beta = load(&addr, "beta", "2", "1000", &dir.join("beta"))
        .spawn()
        .unwrap();
    let (acme_out, beta_out) = (acme.wait().unwrap(), beta.wait().unwrap());
    assert!(
        acme_out.success() && beta_out.success(),
        "the load runs end well"
    );

    let mut seen = HashSet::new();
    for (name, n) in [("acme", 3000), ("beta", 1000)] {
        let (accepted, receipts) = read_ledger(&dir.join(name));
        assert_eq!(accepted.len(), n, "{name}: every message accepted");
        let mut per_id: HashMap<&str, usize> = HashMap::new();
        for id in &receipts {
            *per_id.entry(id.as_str()).or_default() += 1;
        }
        for id in &accepted {
            assert_eq!(
                per_id.remove(id.as_str()),
                Some(1),
                "{name}: one receipt for {id}"
            );
            assert!(
                seen.insert(id.clone()),
                "router ids are unique across accounts"
            );
        }
        assert!(
            per_id.is_empty(),
            "{name} got receipts of messages it did not send: {per_id:?}"
        );
    }
    assert_eq!(stats.submits(), 4000, "the carrier got each message once");

    // A clean stop with the threads: the carrier binds unbind, and the process exits by itself.
    let pid = router.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = router.0.wait().unwrap();
    assert!(status.success(), "the router stops cleanly: {status:?}");
    assert_eq!(stats.unbinds(), 4, "every carrier bind unbound");
}
