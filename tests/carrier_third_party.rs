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
                panic!("node_smsc.js printed no port (are the test peers installed? ./test.sh installs them and runs the tests): {line:?}")
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
    router_with(port, bind, "").await
}

/// The same with `extra` settings on the channel.
async fn router_with(port: u16, bind: &str, extra: &str) -> LiveRouter {
    let path = scratch_dir("carrier-third-party").join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "{}[[channel]]\nname = \"carrier\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             system_id = \"router\"\npassword = \"pw\"\nreconnect_min = \"50ms\"\nbind = \"{bind}\"\n{extra}\n\n\
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

/// The npm `smpp` SMSC leaves Nagle on, as carriers' stacks can: its receipt written right after
/// its `submit_sm_resp` waits until the router acknowledges that answer. The router's carrier
/// bind acknowledges at once what it read when it has nothing to send (`quick_ack`), so a client
/// that waits for each receipt before its next message is not held ~40 ms a message by delayed
/// ACKs (200 messages: at least 8 s, 17.5 s measured). The 7 s bound is a stall detector, not a
/// timing: they take 0.66 s (2.9 s on a machine busy with a build), over ten times less.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_with_nagle_on_is_not_stalled_by_delayed_acks() {
    const N: u64 = 200;
    let smsc = NodeSmsc::start(json!({"port": 0, "receipt_delay_ms": 0, "id_format": "hex"})).await;
    let live = router(smsc.port, "trx").await;
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": N, "window": 1, "to": "14155551234", "registered_delivery": 1,
             "text": "Your parcel arrives today", "receipt_each": true, "timeout": 30},
            {"op": "wait_receipts", "count": N, "timeout": 30},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0), N, "{out:?}");
    assert_eq!(out[2]["receipts"], N, "{:?}", out[2]);
    let seconds = out[1]["seconds"].as_f64().unwrap();
    println!(
        "smpplib -> router -> npm smpp SMSC: {N} messages, each after the last one's receipt, in {seconds:.3} s"
    );
    assert!(
        seconds < 7.0,
        "{N} messages through a Nagle carrier took {seconds:.2} s: delayed ACKs are back"
    );
    let counters = smsc.finish().await;
    assert_eq!(counters["receipts_acked"], N, "{counters:?}");
}

/// SMPP allows receipts only on receiver and transceiver binds, but some carriers send them on the
/// transmitter bind of a tx+rx pair, the one that took the message. By default the router answers
/// them `ESME_RINVBNDSTS`, counts them (`smpp_router_channel_requests_refused_total`) and logs a
/// line that names the setting; with `receipts_on_any_bind = true` it takes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_on_a_transmitter_bind_are_counted_or_taken_with_receipts_on_any_bind() {
    let steps = json!([
        {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
        {"op": "submit", "count": 5, "window": 5, "to": "14155551234", "registered_delivery": 1,
         "text": "Hello from the third-party test"},
        {"op": "wait_receipts", "count": 5, "timeout": 2},
        {"op": "unbind"},
    ]);
    let settings = json!({"port": 0, "receipt_delay_ms": 0, "receipts_on": "submitting"});
    let refused = |live: &LiveRouter| {
        let mut out = String::new();
        live.metrics.render(&mut out);
        out.lines()
            .find(|l| {
                l.starts_with("smpp_router_channel_requests_refused_total{channel=\"carrier\",command=\"deliver_sm\"}")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };

    // Refused: the receipts never reach the client, and the refusals are counted.
    let smsc = NodeSmsc::start(settings.clone()).await;
    let live = router(smsc.port, "tx+rx").await;
    let before = refused(&live);
    let out = smpplib(live.plain, false, steps.clone()).await;
    assert_eq!(count(&out[1], 0), 5, "{out:?}");
    assert_eq!(out[2]["receipts"], 0, "{out:?}");
    assert!(
        refused(&live) >= before + 5,
        "counted: {} -> {}",
        before,
        refused(&live)
    );
    let counters = smsc.finish().await;
    assert!(
        counters["receipts_nacked"].as_u64().unwrap() >= 5,
        "{counters:?}"
    );
    assert_eq!(counters["receipts_acked"], 0, "{counters:?}");
    drop(live);

    // Taken: every receipt reaches the client with the router's id.
    let smsc = NodeSmsc::start(settings).await;
    let live = router_with(smsc.port, "tx+rx", "receipts_on_any_bind = true").await;
    let out = smpplib(live.plain, false, steps).await;
    assert_eq!(count(&out[1], 0), 5, "{out:?}");
    assert_eq!(out[2]["receipts"], 5, "{out:?}");
    let counters = smsc.finish().await;
    assert_eq!(counters["receipts_acked"], 5, "{counters:?}");
    assert_eq!(counters["receipts_nacked"], 0, "{counters:?}");
}
