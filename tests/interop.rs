//! Interoperability with third-party SMPP clients, installed by `.ci/install-peers` from the
//! package registries: Python `smpplib` (PyPI), node `smpp` (npm), Perl `Net::SMPP` (Debian
//! libnet-smpp-perl) and Kannel (Debian kannel: bearerbox binds to the router as its SMSC, fed
//! through smsbox's HTTP sendsms, receipts back through its DLR URL).
//!
//! Each client binds, submits OTP and non-OTP traffic at window 1 and window 20, receives every
//! receipt with the router's id, answers and sends enquire_link, and unbinds. The rates are
//! printed (`cargo test --test interop -- --nocapture`) to catch stalls by eye; nothing here
//! asserts timing.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smpp_router_e2e::{
    LiveRouter, account, count, free_port, http, net_smpp, node_smpp, scratch_dir, smpplib,
};
use smpp_router_tools::sim::{carrier, otpblue};

/// OTPs go to the iMessage channel (the stand-in API: half the numbers have no iMessage and
/// fail over to the carrier); other text goes to the stand-in carrier.
async fn router() -> LiveRouter {
    let (api, _) = otpblue::start(otpblue::Knobs::default()).await.unwrap();
    let (smsc, _) = carrier::start(carrier::Knobs {
        receipt_delay: Default::default(),
        ..carrier::Knobs::default()
    })
    .await
    .unwrap();
    let path = scratch_dir("interop").join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "{}[[channel]]\nname = \"imessage\"\nkind = \"imessage\"\nbase_url = \"http://{api}\"\napi_key = \"test-key\"\n\n\
             [[channel]]\nname = \"carrier\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\nsystem_id = \"router\"\npassword = \"pw\"\nwindow = 100\n\n\
             [[route]]\nname = \"otp\"\ncontent = \"(?i)code\"\nchannels = [\"imessage\", \"carrier\"]\n\n\
             [[route]]\nname = \"default\"\nchannels = [\"carrier\"]\n",
            account("acme", "pw", "tps = 100000\nwindow = 100"),
            smsc.port()
        ),
    )
    .unwrap();
    // The router pings a client idle for 1 s and drops one that does not answer within 2 s: a
    // client that stays bound through the plan's idle step answered the router's enquire_links.
    let live = LiveRouter::start_with(
        &path,
        "[limits]\nenquire_link_interval = \"1s\"\nresponse_timeout = \"2s\"\n",
    )
    .await;
    let t0 = Instant::now();
    while !live.router.table().channels["carrier"].is_up() {
        assert!(t0.elapsed() < Duration::from_secs(5), "carrier bind not up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    live
}

const N: usize = 20;

fn plan(window: usize) -> Value {
    json!([
        {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
        {"op": "submit", "count": N, "window": window, "to": "14155551234",
         "registered_delivery": 1, "text": "Your code is 482910", "all_ids": true},
        {"op": "submit", "count": N, "window": window, "to": "447911123456",
         "registered_delivery": 1, "text": "Your parcel arrives today", "all_ids": true},
        {"op": "wait_receipts", "count": 2 * N, "show": 2 * N, "timeout": 20},
        {"op": "idle", "seconds": 4},
        {"op": "enquire_link"},
        {"op": "unbind"},
    ])
}

/// Every submit accepted, every receipt back once, naming a router id in TLV and text.
fn check(client: &str, window: usize, out: &[Value]) {
    assert_eq!(out[0]["status"], 0, "{client}: bind {out:?}");
    let mut ids = Vec::new();
    for step in &out[1..=2] {
        assert_eq!(count(step, 0), N as u64, "{client}: {step:?}");
        ids.extend(
            step["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap().to_string()),
        );
    }
    assert_eq!(out[3]["receipts"], 2 * N, "{client}: receipts {:?}", out[3]);
    let mut seen = std::collections::HashSet::new();
    for r in out[3]["items"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap().trim_end_matches('\0').to_string();
        assert!(ids.contains(&id), "{client}: receipt for {id}");
        assert!(seen.insert(id.clone()), "{client}: {id} twice");
        let text = r["text"].as_str().unwrap();
        assert!(text.starts_with(&format!("id:{id} ")), "{client}: {text}");
    }
    assert_ne!(
        out[4]["closed"], true,
        "{client}: dropped while idle: {out:?}"
    );
    assert_eq!(out[5]["status"], 0, "{client}: enquire_link after idling");
    assert_eq!(out[6]["status"], 0, "{client}: unbind");
    println!(
        "interop {client} window {window}: OTP {:.0} msg/s, other {:.0} msg/s",
        out[1]["rate"].as_f64().unwrap_or(0.0),
        out[2]["rate"].as_f64().unwrap_or(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpplib_at_window_1_and_20() {
    let live = router().await;
    for window in [1, 20] {
        check(
            "smpplib",
            window,
            &smpplib(live.plain, false, plan(window)).await,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_smpp_at_window_1_and_20() {
    let live = router().await;
    for window in [1, 20] {
        check(
            "node smpp",
            window,
            &node_smpp(live.plain, false, plan(window)).await,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_smpp_at_window_1_and_20() {
    let live = router().await;
    for window in [1, 20] {
        check(
            "Net::SMPP",
            window,
            &net_smpp(live.plain, plan(window)).await,
        );
    }
}

/// A Kannel process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A DLR receiver: keeps the query string of every GET.
fn dlr_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_ok()
                && let Some(q) = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.split_once('?'))
            {
                kept.lock().unwrap().push(q.1.to_string());
            }
            let mut s = &stream;
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok");
        }
    });
    (port, seen)
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs Kannel against the router with `max-pending-submits = window`; returns the rate.
async fn kannel_run(router: SocketAddr, live: &LiveRouter, window: usize) -> f64 {
    let dir = scratch_dir("kannel");
    let (admin, smsbox, sendsms) = (free_port(), free_port(), free_port());
    let conf = dir.join("kannel.conf");
    std::fs::write(
        &conf,
        format!(
            "group = core\nadmin-port = {admin}\nadmin-password = secret\nsmsbox-port = {smsbox}\n\
             box-allow-ip = \"127.0.0.1\"\nlog-file = \"{d}/bearerbox.log\"\nlog-level = 0\ndlr-storage = internal\n\n\
             group = smsc\nsmsc = smpp\nsmsc-id = router\nhost = 127.0.0.1\nport = {rp}\ntransceiver-mode = true\n\
             smsc-username = \"acme\"\nsmsc-password = \"pw\"\nsystem-type = \"\"\nenquire-link-interval = 1\n\
             source-addr-ton = 5\nsource-addr-npi = 0\ndest-addr-ton = 1\ndest-addr-npi = 1\nmsg-id-type = 0x00\n\
             max-pending-submits = {window}\n\n\
             group = smsbox\nbearerbox-host = 127.0.0.1\nbearerbox-port = {smsbox}\nsendsms-port = {sendsms}\n\
             log-file = \"{d}/smsbox.log\"\nlog-level = 0\n\n\
             group = sendsms-user\nusername = tester\npassword = foobar\nmax-messages = 1\n",
            d = dir.display(),
            rp = router.port(),
        ),
    )
    .unwrap();
    let spawn = |bin: &str| {
        let path = ["/usr/sbin", "/usr/bin", "/usr/local/sbin"]
            .iter()
            .map(|d| Path::new(d).join(bin))
            .find(|p| p.exists())
            .unwrap_or_else(|| {
                panic!(
                    "{bin} not found: install Debian's kannel (./test.sh installs the test peers)"
                )
            });
        Proc(
            Command::new(path)
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let _bearerbox = spawn("bearerbox");
    // smsbox gives up at once when bearerbox is not listening yet.
    smpp_router_e2e::wait_listening(&[smsbox]).await;
    let _smsbox = spawn("smsbox");
    let t0 = Instant::now();
    while live.server.shared().registry.bound("acme") == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "Kannel did not bind"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    smpp_router_e2e::wait_listening(&[sendsms]).await;
    let (dlr_port, dlrs) = dlr_server();
    let started = Instant::now();
    let mut answers = Vec::new();
    for i in 0..2 * N {
        let (to, text) = if i % 2 == 0 {
            ("14155551234", "Your code is 482910")
        } else {
            ("447911123456", "Your parcel arrives today")
        };
        let dlr_url = format!("http://127.0.0.1:{dlr_port}/dlr?n={i}&type=%d&id=%F");
        let path = format!(
            "/cgi-bin/sendsms?username=tester&password=foobar&from=MyBank&to={to}&text={}&dlr-mask=3&dlr-url={}",
            encode(text),
            encode(&dlr_url)
        );
        answers.push(
            tokio::task::spawn_blocking(move || http(sendsms, "GET", &path, None).1)
                .await
                .unwrap(),
        );
    }
    for a in &answers {
        assert!(
            a.contains("Accepted") || a.contains("Queued"),
            "sendsms: {a}"
        );
    }
    let t0 = Instant::now();
    while dlrs.lock().unwrap().len() < 2 * N {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "DLRs: {:?}",
            dlrs.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rate = (2 * N) as f64 / started.elapsed().as_secs_f64();
    let got = dlrs.lock().unwrap().clone();
    let mut ns = std::collections::HashSet::new();
    for q in &got {
        assert!(q.contains("type=1"), "delivered: {q}");
        let id = q.split("id=").nth(1).unwrap_or_default();
        assert!(
            id.len() >= 10 && id.bytes().all(|b| b.is_ascii_digit()),
            "the DLR names the router's id: {q}"
        );
        ns.insert(q.split('&').next().unwrap().to_string());
    }
    assert_eq!(ns.len(), 2 * N, "one DLR per message: {got:?}");
    // Kannel's enquire_links (every second) were answered.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = std::fs::read_to_string(dir.join("bearerbox.log")).unwrap_or_default();
    assert!(
        log.contains("enquire_link_resp"),
        "no enquire_link_resp in Kannel's log"
    );
    // A graceful shutdown unbinds.
    let answer =
        tokio::task::spawn_blocking(move || http(admin, "GET", "/shutdown?password=secret", None))
            .await
            .unwrap();
    assert_eq!(answer.0, 200, "{answer:?}");
    let t0 = Instant::now();
    while live.server.shared().registry.bound("acme") > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "Kannel did not unbind"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(dir.join("bearerbox.log")).unwrap_or_default();
    assert!(log.contains("unbind_resp"), "Kannel got no unbind_resp");
    rate
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_at_window_1_and_20() {
    let live = router().await;
    for window in [1, 20] {
        let rate = kannel_run(live.plain, &live, window).await;
        println!("interop Kannel window {window}: {rate:.0} msg/s (HTTP sendsms to DLR callback)");
    }
}
