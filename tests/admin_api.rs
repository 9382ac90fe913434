//! The operator's view of the real binary: the quick-start setup (stand-in OTP Blue API and
//! stand-in carrier in-process), a real client sending one OTP that goes over iMessage and one
//! that fails over to the carrier, both receipts back, and the admin interface — health,
//! readiness, metrics that moved, the routes, the sessions, a reload and its errors.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use smpp_router::smpp::pdu::{Bind, Command as SmppCommand, Pdu};
use smpp_router_e2e::{
    LiveRouter, Raw, account, count, free_port, http, scratch_dir, smpplib, wait_listening,
};
use smpp_router_tools::sim::otpblue::{self, Knobs};

/// One HTTP/1.1 request; returns the status code and the body.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_path_with_the_admin_interface() {
    let dir = scratch_dir("admin");
    let (smpp, admin, api, carrier) = (free_port(), free_port(), free_port(), free_port());
    const TOKEN: &str = "t0ken-for-tests";
    std::fs::write(
        dir.join("router.toml"),
        format!(
            "[listen]\nplain = \"127.0.0.1:{smpp}\"\ntls = \"off\"\n\
             [admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken = \"{TOKEN}\"\n\
             [sim]\notpblue = \"127.0.0.1:{api}\"\notpblue_latency = \"5ms\"\n\
             carrier = \"127.0.0.1:{carrier}\"\ncarrier_receipt_delay = \"100ms\"\n"
        ),
    )
    .unwrap();
    let routes = format!(
        "{}\n[[channel]]\nname = \"imessage\"\nkind = \"imessage\"\nbase_url = \"http://127.0.0.1:{api}\"\napi_key = \"test-key\"\n\n\
         [[channel]]\nname = \"carrier\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = {carrier}\nsystem_id = \"router\"\npassword = \"pw\"\nreconnect_min = \"50ms\"\n\n\
         [[route]]\nname = \"otp\"\nchannels = [\"imessage\", \"carrier\"]\n",
        account("demo", "demo", "tps = 1000")
    );
    std::fs::write(dir.join("routes.toml"), &routes).unwrap();
    let _router = Killed(
        Command::new(env!("CARGO_BIN_EXE_smpp-router-under-test"))
            .args(["run", "--config"])
            .arg(dir.join("router.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&[smpp, admin]).await;

    // Health and authorisation.
    assert_eq!(
        http(admin, "GET", "/healthz", None).0,
        401,
        "a token is configured"
    );
    assert_eq!(
        http(admin, "GET", "/healthz", Some(TOKEN)),
        (200, "ok\n".into())
    );
    assert_eq!(http(admin, "GET", "/readyz", Some(TOKEN)).0, 200);
    // The carrier channel binds in the background.
    let t0 = Instant::now();
    while !http(admin, "GET", "/metrics", Some(TOKEN))
        .1
        .contains("smpp_router_channel_up{channel=\"carrier\"} 1")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the carrier channel comes up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // One OTP to a number with iMessage, one to a number without.
    let knobs = Knobs::default();
    let find = |with: bool| {
        (14155551200u64..)
            .map(|n| n.to_string())
            .find(|n| otpblue::has_imessage(&knobs, n) == with)
            .unwrap()
    };
    let addr = format!("127.0.0.1:{smpp}").parse().unwrap();
    let out = smpplib(
        addr,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "demo", "password": "demo"},
            {"op": "submit", "to": find(true), "registered_delivery": 1, "text": "Your code is 482910"},
            {"op": "submit", "to": find(false), "registered_delivery": 1, "text": "Your code is 482910"},
            {"op": "wait_receipts", "count": 2, "show": 2},
            {"op": "submit", "to": "123", "text": "Your code is 482910"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0) + count(&out[2], 0), 2, "{out:?}");
    assert_eq!(out[3]["receipts"], 2, "{out:?}");
    assert_eq!(count(&out[4], 0x0B), 1, "{out:?}");

    // A session still bound: listed with its account, mode and the thread serving it.
    let mut raw = Raw::connect(addr).await;
    let bind = Bind {
        system_id: "demo".into(),
        password: "demo".into(),
        interface_version: 0x34,
        ..Bind::default()
    };
    raw.send(&SmppCommand::new(1, Pdu::BindTransceiver(bind)))
        .await;
    let resp = raw.recv().await.expect("bind_transceiver_resp");
    assert!(resp.status.is_ok(), "{resp:?}");
    // The plan's own session ends a moment after its client left: wait until only this one is
    // listed and counted.
    let t0 = Instant::now();
    let (listed, metrics) = loop {
        let (status, body) = http(admin, "GET", "/sessions", Some(TOKEN));
        assert_eq!(status, 200);
        let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
        let (_, metrics) = http(admin, "GET", "/metrics", Some(TOKEN));
        let open: u64 = per_thread(&metrics).iter().map(|p| p.1).sum();
        if listed["sessions"].as_array().map_or(0, Vec::len) == 1 && open == 1 {
            break (listed, metrics);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "only the bound session is left: {listed}\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let session = &listed["sessions"][0];
    assert_eq!(session["system_id"], "demo", "{listed}");
    assert_eq!(session["mode"], "trx", "{listed}");
    assert!(session["thread"].is_u64(), "{listed}");
    let thread = session["thread"].as_u64().unwrap();

    // Metrics moved.
    for needle in [
        "smpp_router_messages_total{account=\"demo\",route=\"otp\",channel=\"imessage\",status=\"0x00000000\"} 1",
        "smpp_router_messages_total{account=\"demo\",route=\"otp\",channel=\"carrier\",status=\"0x00000000\"} 1",
        "smpp_router_failovers_total{account=\"demo\",route=\"otp\"} 1",
        "smpp_router_channel_attempts_total{channel=\"imessage\",outcome=\"refused_0x45\"} 1",
        "smpp_router_channel_receipts_total{channel=\"carrier\"} 1",
        "smpp_router_message_seconds_count{route=\"otp\"} 2",
        "smpp_router_reloads_total{outcome=\"ok\"} 1",
        "smpp_router_binds_total{account=\"demo\",status=\"0x00000000\"} 2",
        // Refused before routing: a destination that is no number.
        "smpp_router_messages_total{account=\"demo\",route=\"-\",channel=\"-\",status=\"0x0000000B\"} 1",
        // The iMessage receipt (made by the router) and the carrier's, both taken at once.
        "smpp_router_deliveries_total{account=\"demo\",how=\"direct\"} 2",
    ] {
        assert!(metrics.contains(needle), "missing {needle}\n{metrics}");
    }
    assert!(!metrics.contains("482910"), "no OTP code in metrics");
    // The bound session's connection is counted on its thread.
    let per_thread = per_thread(&metrics);
    assert!(per_thread.contains(&(thread, 1)), "{per_thread:?}");
    drop(raw);
    // The two messages' records (the carrier's and the iMessage one, kept for the trace) wait
    // for the carrier-id index, or are in it already.
    let unindexed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("smpp_router_store_unindexed "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(matches!(unindexed, Some(0..=2)), "{metrics}");

    // Routes, a rejected reload with its line, then a good one.
    let (_, body) = http(admin, "GET", "/routes", Some(TOKEN));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["routes"][0]["name"], "otp");
    assert_eq!(v["routes"][0]["channels"], json!(["imessage", "carrier"]));
    std::fs::write(
        dir.join("routes.toml"),
        format!("{routes}\n[[route]]\nname = \"broken\"\nchannels = [\"ghost\"]\n"),
    )
    .unwrap();
    let (status, body) = http(admin, "POST", "/reload", Some(TOKEN));
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("routes.toml:") && body.contains("ghost"),
        "{body}"
    );
    let (_, body) = http(admin, "GET", "/routes", Some(TOKEN));
    assert!(
        body.contains("ghost"),
        "the last reload's errors are kept: {body}"
    );
    std::fs::write(dir.join("routes.toml"), &routes).unwrap();
    let (status, body) = http(admin, "POST", "/reload", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    // Nothing changed since the table in service: every channel kept, its connections too.
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["kept"], json!(["carrier", "imessage"]), "{body}");
    assert_eq!(
        (&v["added"], &v["rebuilt"], &v["removed"]),
        (&json!([]), &json!([]), &json!([])),
        "{body}"
    );
    let (_, body) = http(admin, "GET", "/routes", Some(TOKEN));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["last_reload"]["channels"]["kept"],
        json!(["carrier", "imessage"])
    );
    assert_eq!(v["last_reload"]["errors"], json!([]));
    assert_eq!(http(admin, "GET", "/nowhere", Some(TOKEN)).0, 404);
}

/// `smpp_router_thread_connections`: (thread, connections) for each data-path thread.
fn per_thread(metrics: &str) -> Vec<(u64, u64)> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("smpp_router_thread_connections{thread=\""))
        .map(|l| {
            let (t, n) = l.split_once("\"} ").unwrap();
            (t.parse().unwrap(), n.parse().unwrap())
        })
        .collect()
}

/// `smpp_router_message_seconds` is what the client waited: a throttled attempt's backoff
/// (100 ms by default) counts, not only the attempts' own few milliseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_seconds_include_the_waits_between_retries() {
    let dir = scratch_dir("latency");
    let path = dir.join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "{}[[channel]]\nname = \"busy\"\nkind = \"test\"\noutcomes = [\"0x58\", \"ok\"]\nlatency = \"2ms\"\n\n\
             [[route]]\nname = \"r\"\nchannels = [\"busy\"]\n",
            account("acme", "pw", "")
        ),
    )
    .unwrap();
    let admin = free_port();
    let live =
        LiveRouter::start_with(&path, &format!("[admin]\nlisten = \"127.0.0.1:{admin}\"\n")).await;
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "tx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 1},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0), 1, "{out:?}");
    let metrics = http(admin, "GET", "/metrics", None).1;
    let bucket = |le: &str| {
        let prefix = format!("smpp_router_message_seconds_bucket{{route=\"r\",le=\"{le}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str())?.parse::<u64>().ok())
    };
    assert_eq!(bucket("0.05"), Some(0), "the backoff counts: {metrics}");
    assert_eq!(bucket("+Inf"), Some(1), "{metrics}");
}
