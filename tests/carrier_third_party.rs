//! The SMPP carrier channel against a third-party SMSC: the router binds as a client to a small
//! SMSC built on the npm `smpp` server (`tests/clients/node_smsc.js`), a real client (`smpplib`)
//! submits through the router, and the SMSC's receipts come back to the client with the router's
//! message id.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smpp_router_e2e::{LiveRouter, account, count, scratch_dir, smpplib};

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The npm `smpp` SMSC, killed when dropped.
struct NodeSmsc {
    child: Child,
    stdout: Option<BufReader<ChildStdout>>,
    port: u16,
}

impl NodeSmsc {
    async fn start(settings: Value) -> Self {
        let mut child = Command::new("node")
            .arg(clients_dir().join("node_smsc.js"))
            .arg(settings.to_string())
            .env("NODE_PATH", clients_dir().join("node_modules"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node: {e}"));
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut smsc = Self {
            child,
            stdout: Some(stdout),
            port: 0,
        };
        let (line, stdout) = smsc.read_line().await;
        smsc.stdout = Some(stdout);
        let port = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["port"].as_u64())
            .unwrap_or_else(|| {
                panic!("node_smsc.js printed no port (are the test peers installed? run .ci/install-peers): {line:?}")
            });
        smsc.port = u16::try_from(port).unwrap();
        smsc
    }

    async fn read_line(&mut self) -> (String, BufReader<ChildStdout>) {
        let mut stdout = self.stdout.take().unwrap();
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            (line, stdout)
        })
        .await
        .unwrap()
    }

    /// Closes the SMSC's standard input; it waits for the receipts in flight to be answered,
    /// prints its counters and exits.
    async fn finish(mut self) -> Value {
        drop(self.child.stdin.take());
        let (line, stdout) = self.read_line().await;
        self.stdout = Some(stdout);
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("node_smsc.js counters {line:?}: {e}"))
    }
}

impl Drop for NodeSmsc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn router(port: u16, bind: &str) -> LiveRouter {
    let path = scratch_dir("carrier-third-party").join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "{}[[channel]]\nname = \"carrier\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             system_id = \"router\"\npassword = \"pw\"\nreconnect_min = \"50ms\"\nbind = \"{bind}\"\n\n\
             [[route]]\nname = \"sms\"\nchannels = [\"carrier\"]\n",
            account("acme", "pw", "tps = 100000\nwindow = 100")
        ),
    )
    .unwrap();
    let live = LiveRouter::start(&path).await;
    // The channel binds in the background; wait until it is up.
    let t0 = Instant::now();
    while !live.router.table().channels.values().all(|c| c.is_up()) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the binds to the node SMSC are not up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    live
}

async fn submits_and_relays_receipts(bind: &str) {
    let smsc =
        NodeSmsc::start(json!({"port": 0, "receipt_delay_ms": 50, "id_format": "hex"})).await;
    let live = router(smsc.port, bind).await;
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 5, "window": 5, "to": "14155551234", "registered_delivery": 1,
             "text": "Hello from the third-party test"},
            {"op": "wait_receipts", "count": 5, "show": 5},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(out[0]["status"], 0, "{out:?}");
    let (sent, receipts) = (&out[1], &out[2]);
    assert_eq!(count(sent, 0), 5, "{out:?}");
    assert_eq!(receipts["receipts"], 5, "{out:?}");
    let ids: Vec<&str> = sent["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5, "{sent:?}");
    let mut seen = Vec::new();
    for r in receipts["items"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        assert!(
            ids.contains(&id),
            "receipted_message_id {id} is a router id of {ids:?}"
        );
        let text = r["text"].as_str().unwrap();
        assert!(
            text.starts_with(&format!("id:{id} ")),
            "the text carries the router id: {text}"
        );
        assert!(text.contains("stat:DELIVRD"), "{text}");
        assert_eq!(r["esm_class"], 4, "{r:?}");
        assert_eq!(r["source"], "14155551234", "{r:?}");
        seen.push(id);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 5, "one receipt per message: {receipts:?}");
    // The SMSC's side: five submits, five receipts answered by the router, none left over.
    let counters = smsc.finish().await;
    assert_eq!(counters["submits"], 5, "{counters:?}");
    assert_eq!(counters["receipts_acked"], 5, "{counters:?}");
    assert_eq!(counters["receipts_nacked"], 0, "{counters:?}");
    assert_eq!(counters["receipts_held"], 0, "{counters:?}");
    assert_eq!(counters["rejected"], 0, "{counters:?}");
    drop(live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trx_bind_to_the_node_smsc_relays_receipts_with_the_router_id() {
    submits_and_relays_receipts("trx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_rx_binds_to_the_node_smsc_relay_receipts_with_the_router_id() {
    submits_and_relays_receipts("tx+rx").await;
}
