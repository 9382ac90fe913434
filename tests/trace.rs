//! "Where did my OTP go": the router's trace (`GET /messages/…`, `smpp-router trace`), its
//! answers to `query_sm`, and its delivery records in a real PostgreSQL (Debian's, started here
//! by `initdb` + `pg_ctl` on loopback) and in the daily JSON-lines file. OTPs go through the
//! iMessage stand-in and, for numbers without iMessage, fail over to the stand-in carrier;
//! smpplib (at its defaults) is the client.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smpp_router_e2e::{
    LiveRouter, Postgres, account, count, free_port, http, scratch_dir, smpplib,
};
use smpp_router_tools::sim::carrier::{self, Knobs as CarrierKnobs};
use smpp_router_tools::sim::otpblue::{self, Knobs, Latency};

const RQUERYFAIL: u64 = 0x67;

struct Setup {
    live: LiveRouter,
    admin: u16,
    dir: std::path::PathBuf,
    knobs: Knobs,
    _tasks: [tokio::task::JoinHandle<anyhow::Result<()>>; 2],
}

/// The stand-ins and a router whose `otp` route tries iMessage, then the carrier (receipts
/// after `receipt_delay`); delivery records to the file and, with `pg`, to PostgreSQL.
async fn setup(pg: Option<&Postgres>, receipt_delay: Duration) -> Setup {
    let knobs = Knobs {
        no_imessage_share: 0.5,
        ..Knobs::default()
    };
    let (api, otp_task) = otpblue::start(knobs.clone()).await.unwrap();
    let carrier_knobs = CarrierKnobs {
        receipt_delay: Latency::fixed(receipt_delay),
        ..CarrierKnobs::default()
    };
    let (carrier, carrier_task) = carrier::start(carrier_knobs).await.unwrap();
    let routes = format!(
        "{acme}{rival}
[[channel]]
name = \"imessage\"
kind = \"imessage\"
base_url = \"http://{api}\"
api_key = \"{key}\"

[[channel]]
name = \"carrier\"
kind = \"smpp\"
host = \"127.0.0.1\"
port = {port}
system_id = \"router\"
password = \"pw\"

[[route]]
name = \"otp\"
channels = [\"imessage\", \"carrier\"]
",
        acme = account("acme", "pw", "tps = 5000\nwindow = 50"),
        rival = account("rival", "pw", ""),
        key = knobs.api_key,
        port = carrier.port(),
    );
    let dir = scratch_dir("trace");
    let path = dir.join("routes.toml");
    std::fs::write(&path, routes).unwrap();
    let admin = free_port();
    let mut router_toml = format!("[admin]\nlisten = \"127.0.0.1:{admin}\"\n");
    if let Some(pg) = pg {
        router_toml.push_str(&format!("[records]\npostgres = \"{}\"\n", pg.url()));
    }
    let live = LiveRouter::start_with(&path, &router_toml).await;
    // The carrier channel binds in the background: wait for it.
    let t0 = Instant::now();
    while !http(admin, "GET", "/routes", None)
        .1
        .contains("\"up\":true")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the carrier channel never came up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Setup {
        live,
        admin,
        dir,
        knobs,
        _tasks: [otp_task, carrier_task],
    }
}

/// A US number with iMessage at the stand-in, or without.
fn number(knobs: &Knobs, with: bool, skip: usize) -> String {
    (14155551200u64..)
        .map(|n| n.to_string())
        .filter(|n| otpblue::has_imessage(knobs, n) == with)
        .nth(skip)
        .unwrap()
}

async fn get(admin: u16, path: &str) -> (u16, Value) {
    let path = path.to_string();
    let (status, body) = tokio::task::spawn_blocking(move || http(admin, "GET", &path, None))
        .await
        .unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `query_sm` for `ids` as `system_id` (a transceiver bind): the answers.
async fn query(live: &LiveRouter, system_id: &str, ids: &[&str]) -> Vec<Value> {
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": system_id, "password": "pw"},
            {"op": "query", "ids": ids},
            {"op": "unbind"},
        ]),
    )
    .await;
    out[1]["answers"].as_array().unwrap().clone()
}

/// The records of the file sink, by router id.
fn file_records(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.join("records"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    out
}

/// The file sink's records once it has `n` (it writes on its own, beside PostgreSQL), or what
/// it has after 30 s.
async fn file_records_eventually(dir: &Path, n: usize) -> Vec<Value> {
    let t0 = Instant::now();
    loop {
        let records = file_records(dir);
        if records.len() >= n || t0.elapsed() > Duration::from_secs(30) {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (up to `secs`) until `table` has `n` rows; the router ids it has.
async fn rows(client: &tokio_postgres::Client, n: usize, secs: u64) -> Vec<tokio_postgres::Row> {
    let t0 = Instant::now();
    loop {
        let rows = client
            .query("SELECT * FROM delivery_records ORDER BY router_id", &[])
            .await
            .unwrap_or_default();
        if rows.len() >= n || t0.elapsed() > Duration::from_secs(secs) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otp_is_traced_queried_and_recorded_in_postgres() {
    let pg = Postgres::start().await;
    let s = setup(Some(&pg), Duration::from_secs(3)).await;
    let (with, without) = (number(&s.knobs, true, 0), number(&s.knobs, false, 0));
    // Sent with nobody bound to receive: the receipts wait in the store.
    let sent = smpplib(
        s.live.plain,
        false,
        json!([
            {"op": "bind", "mode": "tx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "to": with, "registered_delivery": 1, "text": "Your code is 482910"},
            {"op": "submit", "to": without, "registered_delivery": 1, "text": "Your code is 119024"},
            {"op": "unbind"},
        ]),
    )
    .await;
    assert_eq!((count(&sent[1], 0), count(&sent[2], 0)), (1, 1), "{sent:?}");
    let imessage_id = sent[1]["ids"][0].as_str().unwrap().to_string();
    let carrier_id = sent[2]["ids"][0].as_str().unwrap().to_string();

    // Another account's messages, and ids the router never gave, are refused.
    let refused = query(&s.live, "rival", &[&imessage_id, &carrier_id, "12345"]).await;
    assert!(
        refused.iter().all(|a| a["status"] == RQUERYFAIL),
        "{refused:?}"
    );
    // The client binds (a transceiver): the stored iMessage receipt comes; iMessage knew at
    // once, the carrier's receipt is on its way; then it comes, and the state is final.
    let out = smpplib(
        s.live.plain,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "query", "ids": [imessage_id, carrier_id]},
            {"op": "wait_receipts", "count": 2, "timeout": 15, "unique": true, "show": 2},
            {"op": "query", "ids": [carrier_id]},
            {"op": "unbind"},
        ]),
    )
    .await;
    let answers = &out[1]["answers"];
    assert_eq!(answers[0]["status"], 0, "{out:?}");
    assert_eq!(answers[0]["state"], 2, "DELIVERED: {out:?}");
    assert_eq!(answers[0]["final_date"].as_str().unwrap().len(), 16);
    assert_eq!(
        (&answers[1]["status"], &answers[1]["state"]),
        (&json!(0), &json!(1)),
        "ENROUTE: {out:?}"
    );
    assert_eq!(out[2]["receipts"], 2, "{out:?}");
    let after = &out[3]["answers"][0];
    assert_eq!(
        (&after["status"], &after["state"]),
        (&json!(0), &json!(2)),
        "{out:?}"
    );
    assert!(after["final_date"].as_str().unwrap().ends_with("000+"));
    // The iMessage receipt waited in the store, then went to the session that bound.
    let (_, imessage_trace) = get(s.admin, &format!("/messages/{imessage_id}")).await;
    let events = imessage_trace["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["what"] == "stored_for_client"),
        "{imessage_trace}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["what"] == "delivered_to_client" && e["how"] == "swept"),
        "{imessage_trace}"
    );

    // The trace: the attempts, the carrier's id, the receipt and how it reached the client.
    let (status, trace) = get(s.admin, &format!("/messages/{carrier_id}")).await;
    assert_eq!(status, 200, "{trace}");
    assert_eq!(trace["route"], "otp");
    assert_eq!(trace["account"], "acme");
    assert_eq!(trace["channel"], "carrier");
    assert_eq!(trace["state"], "DELIVERED");
    assert_eq!(trace["attempts"][0]["channel"], "imessage");
    assert_eq!(trace["attempts"][1]["outcome"], "accepted");
    let masked = trace["destination"].as_str().unwrap();
    assert!(
        masked.contains('*') && !masked.contains(&without[4..9]),
        "{masked}"
    );
    let events = trace["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["what"] == "receipt" && e["from"] == "carrier"),
        "{trace}"
    );
    // It came while the client was bound: straight to its session.
    assert!(
        events
            .iter()
            .any(|e| e["what"] == "delivered_to_client" && e["how"] == "direct"),
        "{trace}"
    );
    // By the carrier's id too; full numbers only with a token.
    let carrier_msg = trace["carrier_id"].as_str().unwrap().to_string();
    let (status, by_carrier) = get(
        s.admin,
        &format!("/messages?channel=carrier&carrier_id={carrier_msg}"),
    )
    .await;
    assert_eq!(
        (status, &by_carrier["router_id"]),
        (200, &json!(carrier_id))
    );
    let (status, _) = get(s.admin, &format!("/messages/{carrier_id}?numbers=full")).await;
    assert_eq!(status, 403);
    let (status, _) = get(s.admin, "/messages/386190000000000001").await;
    assert_eq!(status, 404);
    // `smpp-router trace` says the same for a person.
    let admin = format!("127.0.0.1:{}", s.admin);
    let out = Command::new(env!("CARGO_BIN_EXE_smpp-router-under-test"))
        .args(["trace", &imessage_id, "--admin", &admin])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("message {imessage_id}")), "{text}");
    assert!(
        text.contains("receipt DELIVERED err 000 from imessage"),
        "{text}"
    );
    assert!(!text.contains(&with[4..9]), "the number is masked: {text}");

    // One delivery record per message, in PostgreSQL and in the file, matching the ledger.
    let client = pg.client().await;
    let rows = rows(&client, 2, 30).await;
    let ids: BTreeSet<String> = rows
        .iter()
        .map(|r| r.get::<_, String>("router_id"))
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([imessage_id.clone(), carrier_id.clone()])
    );
    for row in &rows {
        let id: String = row.get("router_id");
        let (channel, failovers) = if id == carrier_id {
            ("carrier", 1)
        } else {
            ("imessage", 0)
        };
        assert_eq!(row.get::<_, String>("channel"), channel);
        assert_eq!(row.get::<_, i32>("failovers"), failovers);
        assert_eq!(row.get::<_, String>("state"), "DELIVERED");
        assert_eq!(row.get::<_, String>("route"), "otp");
        assert_eq!(row.get::<_, String>("country"), "US");
        assert!(row.get::<_, String>("destination").contains('*'));
        assert!(row.get::<_, Option<f64>>("receipt_seconds").is_some());
    }
    let file = file_records_eventually(&s.dir, 2).await;
    let file_ids: BTreeSet<String> = file
        .iter()
        .map(|r| r["router_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(file_ids, ids);
    assert_eq!(file.len(), 2);
    // Counted once the sink has marked them written (just after the rows are in).
    let t0 = Instant::now();
    let metrics = loop {
        let metrics = http(s.admin, "GET", "/metrics", None).1;
        let counted = metrics
            .lines()
            .any(|l| l == "smpp_router_records_written_total{sink=\"postgres\"} 2");
        if counted || t0.elapsed() > Duration::from_secs(10) {
            assert!(counted, "{metrics}");
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        metrics.contains("smpp_router_records_dropped_total 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_traffic_loses_and_repeats_no_record() {
    let pg = Postgres::start().await;
    let s = setup(Some(&pg), Duration::from_millis(500)).await;
    let without = number(&s.knobs, false, 3);
    let plan = json!([
        {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
        {"op": "submit", "count": 300, "window": 20, "to": without, "registered_delivery": 1,
         "all_ids": true, "text": "Your code is 551234"},
        {"op": "wait_receipts", "count": 300, "timeout": 60, "unique": true},
        {"op": "unbind"},
    ]);
    let addr = s.live.plain;
    let client_task = tokio::spawn(async move { smpplib(addr, false, plan).await });
    // PostgreSQL goes away while receipts come in and records are due, and comes back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg.stop();
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Meanwhile the file sink went on: it does not wait for PostgreSQL.
    let written = |sink: &str| {
        let metrics = http(s.admin, "GET", "/metrics", None).1;
        let prefix = format!("smpp_router_records_written_total{{sink=\"{sink}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str())?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(written("file") > 0, "the file sink wrote during the outage");
    let in_pg_before = written("postgres");
    pg.start_again().await;
    let out = client_task.await.unwrap();
    assert_eq!(count(&out[1], 0), 300, "{:?}", out[1]);
    assert!(
        out[2]["receipts"].as_u64().unwrap_or(0) >= 300,
        "{:?}",
        out[2]
    );
    let ledger: BTreeSet<String> = out[1]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ledger.len(), 300);
    let client = pg.client().await;
    let rows = rows(&client, 300, 60).await;
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.get::<_, String>("router_id"))
        .collect();
    // (`router_id` is the table's primary key: a batch written again adds nothing twice.)
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert!(
        in_pg_before < 300,
        "the outage held records back ({in_pg_before} written before)"
    );
    assert_eq!(
        unique,
        ledger,
        "one record per accepted message; {}",
        http(s.admin, "GET", "/metrics", None)
            .1
            .lines()
            .filter(|l| l.contains("records"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let metrics = http(s.admin, "GET", "/metrics", None).1;
    let failures = metrics
        .lines()
        .find(|l| l.starts_with("smpp_router_records_write_failures_total{sink=\"postgres\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(failures > 0, "the outage was met: {metrics}");
    assert!(
        metrics.contains("smpp_router_records_dropped_total 0"),
        "{metrics}"
    );
    // The file has each message once too.
    let file = file_records_eventually(&s.dir, 300).await;
    let file_ids: BTreeSet<String> = file
        .iter()
        .map(|r| r["router_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!((file.len(), &file_ids), (300, &ledger));
}
