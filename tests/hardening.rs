//! A hostile client against the real router: concurrent wrong binds from one address, an
//! address holding every connection slot without binding, secrets written with the wrong type
//! in the configuration, trace-level logs, and a flood of receipts for unknown messages.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command as Process;
use std::time::{Duration, Instant};

use serde_json::json;
use smpp_router::smpp::pdu::Bind;
use smpp_router::smpp::{Command, CommandStatus, Pdu};
use smpp_router_e2e::{
    LiveRouter, Raw, account, count, free_port, scratch_dir, smpplib, wait_listening,
};
use smpp_router_tools::sim::carrier::{self, Knobs};

fn creds(system_id: &str, password: &str) -> Bind {
    Bind {
        system_id: system_id.as_bytes().to_vec().into(),
        password: password.as_bytes().to_vec().into(),
        interface_version: 0x34,
        ..Bind::default()
    }
}

/// A connection to `addr` from the local address `from` (127.0.0.x: every loopback address is
/// this host's, so a second client address needs no setup).
async fn connect_from(from: &str, addr: SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

async fn bind_status(raw: &mut Raw, system_id: &str, password: &str) -> Option<CommandStatus> {
    raw.send(&Command::new(
        1,
        Pdu::BindTransceiver(creds(system_id, password)),
    ))
    .await;
    raw.recv().await.map(|c| c.status)
}

fn routes(dir: &Path, accounts: &str) -> std::path::PathBuf {
    let path = dir.join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "{accounts}\n[[channel]]\nname = \"sink\"\nkind = \"test\"\noutcomes = [\"delivered\"]\n\n\
             [[route]]\nname = \"all\"\nchannels = [\"sink\"]\n"
        ),
    )
    .unwrap();
    path
}

/// 900 wrong binds from one address at once: no more full password checks than
/// `max_bind_failures` (the block is looked at again before each check), and a first bind from
/// another address meanwhile is answered within a second (it waited 12.6 s behind that queue).
/// The account's hash has argon2's real cost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_binds_are_held_to_the_lockout_and_do_not_starve_others() {
    let dir = scratch_dir("hardening-lockout");
    let hash = smpp_router::server::auth::hash_password("right").unwrap();
    let path = routes(
        &dir,
        &format!(
            "[[account]]\nsystem_id = \"acme\"\npassword_hash = \"{hash}\"\nmax_binds = 10\n\n\
             [[account]]\nsystem_id = \"other\"\npassword_hash = \"{hash}\"\n"
        ),
    );
    // This test is about the lockout: one address may keep all its connections open here.
    let live = LiveRouter::start_with(
        &path,
        "[limits]\nmax_connections = 2000\nmax_unbound_per_address = 1000\n",
    )
    .await;
    let addr = live.plain;
    let mut attackers = Vec::new();
    for _ in 0..900 {
        attackers.push(tokio::spawn(async move {
            let mut raw = Raw::from_stream(connect_from("127.0.0.1", addr).await);
            bind_status(&mut raw, "acme", "wrong").await
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    let mut raw = Raw::from_stream(connect_from("127.0.0.2", addr).await);
    let good = bind_status(&mut raw, "other", "right").await;
    let waited = t0.elapsed();
    let mut statuses = std::collections::BTreeMap::new();
    for a in attackers {
        let s = a.await.unwrap().map_or(-1, |s| i64::from(s.0));
        *statuses.entry(s).or_insert(0) += 1;
    }
    println!(
        "900 wrong binds from one address: {statuses:?}; a good bind from another address answered in {waited:?}"
    );
    assert_eq!(good, Some(CommandStatus::ROK));
    let checked = statuses
        .get(&i64::from(CommandStatus::RINVPASWD.0))
        .copied()
        .unwrap_or(0);
    assert!(
        checked <= 10,
        "{checked} full password checks: {statuses:?}"
    );
    assert!(
        waited < Duration::from_secs(1),
        "a first bind from another address waited {waited:?}"
    );
}

/// 1,000 idle connections from one address (no bytes sent) do not stop another address from
/// binding: beyond `max_unbound_per_address` (16) that address's new connections are closed at
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection_slot_before_binding() {
    let dir = scratch_dir("hardening-slots");
    let path = routes(&dir, &account("acme", "pw", ""));
    let live = LiveRouter::start(&path).await;
    let addr = live.plain;
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(Raw::from_stream(connect_from("127.0.0.1", addr).await));
    }
    let mut raw = Raw::from_stream(connect_from("127.0.0.2", addr).await);
    assert_eq!(
        bind_status(&mut raw, "acme", "pw").await,
        Some(CommandStatus::ROK)
    );
    let mut closed = 0;
    for conn in &mut idle[16..] {
        if conn.closed_within(2).await {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 984,
        "the connections beyond the first 16 are closed at once"
    );
    assert!(
        !idle[0].closed_within(1).await,
        "the first 16 may still bind"
    );
}

/// A secret written with the wrong type (numeric passwords are common) is never repeated in an
/// error: not by `check`, not in what a reload reports (the log, `POST /reload`, `GET /routes`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_never_print_a_secret() {
    let dir = scratch_dir("hardening-secrets");
    let secrets = ["98765432", "55554444", "12345678", "31415926", "27182818"];
    let bad_routes = format!(
        "[[account]]\nsystem_id = \"acme\"\npassword_hash = {}\n\n\
         [[channel]]\nname = \"carrier\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = 2885\n\
         system_id = \"r\"\npassword = {}\n\n\
         [[channel]]\nname = \"im\"\nkind = \"imessage\"\napi_key = {}\n\n\
         [[route]]\nname = \"all\"\nchannels = [\"carrier\"]\n",
        secrets[2], secrets[0], secrets[1]
    );
    std::fs::write(dir.join("routes.toml"), &bad_routes).unwrap();
    std::fs::write(
        dir.join("router.toml"),
        format!("[admin]\ntoken = {}\n", secrets[3]),
    )
    .unwrap();
    let check = |config: &Path| {
        let out = Process::new(env!("CARGO_BIN_EXE_smpp-router-under-test"))
            .args(["check", "--config"])
            .arg(config)
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let mut outputs = vec![check(&dir.join("router.toml"))];
    assert!(outputs[0].contains("token"), "{}", outputs[0]);
    std::fs::write(dir.join("router.toml"), "").unwrap();
    outputs.push(check(&dir.join("router.toml")));
    for key in ["password_hash", "password", "api_key"] {
        assert!(outputs[1].contains(&format!("{key}: ")), "{}", outputs[1]);
    }
    // A reload of the same file in a running router: what the log, POST /reload and GET /routes
    // report.
    std::fs::write(dir.join("routes.toml"), routes_text_ok()).unwrap();
    let live = LiveRouter::start(&dir.join("routes.toml")).await;
    std::fs::write(dir.join("routes.toml"), &bad_routes).unwrap();
    let errors = live.router.reload().unwrap_err();
    outputs.push(format!("{errors:?}"));
    outputs.push(serde_json::to_string(&live.router.status()).unwrap());
    for out in &outputs {
        for secret in secrets {
            assert!(!out.contains(secret), "a secret in: {out}");
        }
    }
    println!("{}", outputs[1]);
}

fn routes_text_ok() -> String {
    format!(
        "{}\n[[channel]]\nname = \"sink\"\nkind = \"test\"\n\n[[route]]\nname = \"all\"\nchannels = [\"sink\"]\n",
        account("acme", "pw", "")
    )
}

/// At trace level the log carries no full number (the number library's own trace lines are
/// silenced), and a log file beside `routes.toml` does not feed the file watcher's log lines
/// back into itself (it grew to 1.5 GB in 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_carry_no_number_and_do_not_feed_back() {
    let dir = scratch_dir("hardening-trace");
    let port = free_port();
    routes(&dir, &account("acme", "pw", ""));
    std::fs::write(
        dir.join("router.toml"),
        format!(
            "[listen]\nplain = \"127.0.0.1:{port}\"\ntls = \"off\"\n[admin]\nlisten = \"off\"\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("router.log")).unwrap();
    let mut child = Process::new(env!("CARGO_BIN_EXE_smpp-router-under-test"))
        .args(["run", "--config"])
        .arg(dir.join("router.toml"))
        .env("RUST_LOG", "trace")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_listening(&[port]).await;
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let out = smpplib(
        addr,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 5, "to": "447911123456", "registered_delivery": 1},
            {"op": "wait_receipts", "count": 5},
            {"op": "unbind"},
        ]),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(count(&out[1], 0), 5, "{out:?}");
    let text = std::fs::read_to_string(dir.join("router.log")).unwrap();
    println!("trace log: {} bytes", text.len());
    assert!(
        text.len() < 5_000_000,
        "the log grew to {} bytes",
        text.len()
    );
    assert!(
        !text.contains("447911123456"),
        "a full number in the trace log"
    );
    assert!(
        !text.contains("7911123456"),
        "a national number in the trace log"
    );
}

/// 20,000 receipts for messages the router has no record of (a replaced store, records past
/// their retention) queued at the carrier: they are answered within milliseconds each instead of
/// after 1.3 s of waiting, so the receipts of new messages behind them are not held up (110 s
/// late in one run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_receipts_does_not_hold_up_new_ones() {
    let knobs = Knobs::default();
    let control = knobs.control.clone();
    let stats = knobs.stats.clone();
    let (smsc, _task) = carrier::start(knobs).await.unwrap();
    let dir = scratch_dir("hardening-unknown");
    let path = dir.join("routes.toml");
    std::fs::write(
        &path,
        format!(
            "{}\n[[channel]]\nname = \"carrier\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = {}\n\
             system_id = \"router\"\npassword = \"pw\"\nbinds = 2\nwindow = 100\nreconnect_min = \"50ms\"\n\n\
             [[route]]\nname = \"sms\"\nchannels = [\"carrier\"]\n",
            account("acme", "pw", "tps = 0"),
            smsc.port()
        ),
    )
    .unwrap();
    control.inject_unknown_receipts("router", 20_000);
    let live = LiveRouter::start(&path).await;
    let t0 = Instant::now();
    while !live.router.table().channels["carrier"].is_up() {
        assert!(t0.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = smpplib(
        live.plain,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 20, "window": 1, "registered_delivery": 1,
             "receipt_each": true, "timeout": 60},
            {"op": "wait_receipts", "count": 20, "timeout": 30},
            {"op": "unbind"},
        ]),
    )
    .await;
    let seconds = out[1]["seconds"].as_f64().unwrap_or(f64::MAX);
    println!(
        "20 messages, each after the last one's receipt, behind 20,000 unknown receipts: {seconds:.2} s; the carrier has {} receipts left to send",
        control.pending("router")
    );
    assert_eq!(count(&out[1], 0), 20, "{out:?}");
    assert_eq!(out[2]["receipts"], 20, "{out:?}");
    assert!(
        seconds < 20.0,
        "new receipts were held up behind the unknown ones: {seconds:.1} s for 20"
    );
    assert!(stats.receipts_acked() >= 20);
}
