//! Cluster mode: router processes sharing one real Redis (started here, `appendfsync always`)
//! serve as one router. The stand-in carrier sends each receipt on any bind of the account, so
//! receipts arrive at every instance, whichever accepted the message; third-party clients
//! (smpplib) bind to one instance and must get every receipt, each with its router id.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smpp_router_e2e::{
    Redis, account, count, free_port, http, scratch_dir, smpplib, wait_listening,
};
use smpp_router_tools::sim::carrier::{self, Knobs, Stats};
use smpp_router_tools::sim::otpblue::Latency;

/// One router process, killed (SIGKILL) when dropped.
struct Instance {
    child: Child,
    addr: SocketAddr,
    admin: u16,
    config: PathBuf,
}

impl Instance {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same files and ports.
    async fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.config);
        wait_listening(&[self.addr.port(), self.admin]).await;
    }

    /// A GET on its admin interface: the body.
    async fn get(&self, path: &str) -> String {
        let admin = self.admin;
        let path = path.to_string();
        let answer = tokio::task::spawn_blocking(move || http(admin, "GET", &path, None));
        answer.await.unwrap().1
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_smpp-router-under-test"))
        .args(["run", "--config"])
        .arg(config)
        // TEST_ROUTER_LOG=1 shows the instances' logs.
        .stdout(match std::env::var_os("TEST_ROUTER_LOG") {
            Some(_) => Stdio::inherit(),
            None => Stdio::null(),
        })
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The files of instance `node_id` in a folder of its own: the same routes as every other
/// instance (one account, one carrier channel), its own data directory.
fn write_instance(redis: &str, node_id: u16, carrier_port: u16) -> (PathBuf, u16, u16) {
    write_instance_with(redis, node_id, &routes(carrier_port, 3), "")
}

/// The files of an instance with `routes` and `extra` in its `router.toml`.
fn write_instance_with(
    redis: &str,
    node_id: u16,
    routes: &str,
    extra: &str,
) -> (PathBuf, u16, u16) {
    let dir = scratch_dir(&format!("cluster-node{node_id}"));
    let (port, admin) = (free_port(), free_port());
    std::fs::write(
        dir.join("router.toml"),
        format!(
            "[listen]\nplain = \"127.0.0.1:{port}\"\ntls = \"off\"\n[log]\nlevel = \"warn\"\n\
             [admin]\nlisten = \"127.0.0.1:{admin}\"\n\
             [cluster]\nredis = \"{redis}\"\nnode_id = {node_id}\nclaim_after = \"4s\"\ntimeout = \"1s\"\n{extra}"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("routes.toml"), routes).unwrap();
    (dir.join("router.toml"), port, admin)
}

/// One account, one carrier channel with `binds` binds in the whole cluster.
fn routes(carrier_port: u16, binds: usize) -> String {
    format!(
        "{}\n[[channel]]\nname = \"carrier\"\nkind = \"smpp\"\nhost = \"127.0.0.1\"\nport = {carrier_port}\nbinds = {binds}\n\
         system_id = \"router\"\npassword = \"pw\"\nreconnect_min = \"50ms\"\n\n\
         [[route]]\nname = \"sms\"\nchannels = [\"carrier\"]\n",
        account("acme", "pw", "tps = 5000")
    )
}

async fn start_instance(redis: &str, node_id: u16, carrier_port: u16) -> Instance {
    start_with(write_instance(redis, node_id, carrier_port)).await
}

async fn start_with((config, port, admin): (PathBuf, u16, u16)) -> Instance {
    let child = spawn(&config);
    wait_listening(&[port, admin]).await;
    Instance {
        child,
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        admin,
        config,
    }
}

/// Whether the instance's carrier channel is up (holds a bind), by its `GET /routes`.
async fn carrier_up(instance: &Instance) -> bool {
    let routes: Value = serde_json::from_str(&instance.get("/routes").await).unwrap();
    routes["channels"][0]["up"] == true
}

/// Waits until every one of `instances` holds a carrier bind (the places spread: the first
/// instance up takes them all and gives back what is beyond its share once it sees the others).
async fn spread(instances: &[&Instance]) {
    let t0 = Instant::now();
    loop {
        let mut up = Vec::new();
        for i in instances {
            up.push(carrier_up(i).await);
        }
        if up.iter().all(|u| *u) {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "binds did not spread: {up:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `smpp_router_cluster_receipts_total{what="…"}` of an instance.
async fn metric(instance: &Instance, what: &str) -> u64 {
    let text = instance.get("/metrics").await;
    let series = format!("smpp_router_cluster_receipts_total{{what=\"{what}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map_or(0, |v| v.trim().parse().unwrap())
}

async fn wait(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(secs), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn carrier(
    receipt_delay: Duration,
) -> (u16, Arc<Stats>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let knobs = Knobs {
        receipt_delay: Latency::fixed(receipt_delay),
        ..Knobs::default()
    };
    let stats = knobs.stats.clone();
    let (carrier, task) = carrier::start(knobs).await.unwrap();
    (carrier.port(), stats, task)
}

fn submit(n: u32) -> Value {
    json!([
        {"op": "bind", "mode": "tx", "system_id": "acme", "password": "pw"},
        {"op": "submit", "count": n, "window": n.min(20), "registered_delivery": 1, "text": "hi", "vary_to": true, "all_ids": true},
        {"op": "unbind"},
    ])
}

fn receive(n: u32, timeout: u64) -> Value {
    json!([
        {"op": "bind", "mode": "rx", "system_id": "acme", "password": "pw"},
        {"op": "wait_receipts", "count": n, "show": n + 50, "timeout": timeout, "unique": true},
        {"op": "unbind"},
    ])
}

/// The router ids of the accepted messages, sorted.
fn ids(sent: &Value) -> Vec<String> {
    let mut v: Vec<String> = sent["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// The router ids of the receipts got, sorted (a duplicate shows twice).
fn receipt_ids(got: &Value) -> Vec<String> {
    let mut v: Vec<String> = got["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_reach_the_client_whichever_instance_it_is_bound_to() {
    const N: u32 = 300;
    let redis = Redis::start().await;
    let (carrier_port, stats, _carrier) = carrier(Duration::from_millis(300)).await;
    let a = start_instance(&redis.url(), 1, carrier_port).await;
    let b = start_instance(&redis.url(), 2, carrier_port).await;
    let c = start_instance(&redis.url(), 3, carrier_port).await;
    spread(&[&a, &b, &c]).await;

    // A transmitter on A; its receiver on C, bound before the messages go: the carrier sends
    // each receipt on any of the three instances' binds.
    let receiver = tokio::spawn(smpplib(c.addr, false, receive(N, 60)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = smpplib(a.addr, false, submit(N)).await;
    assert_eq!(count(&sent[1], 0), u64::from(N), "{sent:?}");
    let got = receiver.await.unwrap();
    assert_eq!(
        got[1]["receipts"], N,
        "every receipt reached C: {:?}",
        got[1]["receipts"]
    );
    assert_eq!(
        receipt_ids(&got[1]),
        ids(&sent[1]),
        "each once, with its router id"
    );
    // They came through the cluster: A and B handed theirs to C's stream.
    let handed = metric(&a, "handed_off").await + metric(&b, "handed_off").await;
    let delivered = metric(&c, "delivered").await;
    assert!(
        handed > 0 && delivered == handed,
        "handed off {handed}, delivered on C {delivered}"
    );

    // Nobody bound anywhere: the receipts wait in the cluster and go to the first receiver,
    // on B.
    let sent = smpplib(c.addr, false, submit(N)).await;
    assert_eq!(count(&sent[1], 0), u64::from(N), "{sent:?}");
    let acked = stats.receipts_acked();
    wait("the carrier's receipts are all answered", 60, || {
        stats.receipts_acked() >= acked + u64::from(N)
    })
    .await;
    let got = smpplib(b.addr, false, receive(N, 60)).await;
    assert_eq!(got[1]["receipts"], N, "{:?}", got[1]["receipts"]);
    assert_eq!(receipt_ids(&got[1]), ids(&sent[1]));

    // Every instance is listed, with the same routes.
    let cluster: Value = serde_json::from_str(&a.get("/cluster").await).unwrap();
    let nodes = cluster["nodes"].as_array().unwrap();
    let listed: Vec<u64> = nodes
        .iter()
        .map(|n| n["node_id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [1, 2, 3], "{cluster:#}");
    assert!(nodes.iter().all(|n| n["alive"] == true), "{cluster:#}");
    assert_eq!(cluster["routes_agree"], true, "{cluster:#}");
    // And in the metrics (counted at each instance's heartbeat).
    let t0 = Instant::now();
    loop {
        let text = a.get("/metrics").await;
        let has = |line: &str| text.lines().any(|l| l == line);
        if has("smpp_router_cluster_instances 3")
            && has("smpp_router_cluster_routes_agree 1")
            && has("smpp_router_cluster_redis_up 1")
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(12),
            "cluster gauges: {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop((b, c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_with_the_same_node_id_refuses_to_start() {
    let redis = Redis::start().await;
    let (carrier_port, _stats, _carrier) = carrier(Duration::from_millis(100)).await;
    let first = start_instance(&redis.url(), 7, carrier_port).await;
    let (config, _, _) = write_instance(&redis.url(), 7, carrier_port);
    let out = Command::new(env!("CARGO_BIN_EXE_smpp-router-under-test"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("node_id 7 is in use by another running router"),
        "{stderr}"
    );
    // The same instance restarted (same data directory) takes its id back at once.
    let mut first = first;
    first.restart().await;
    let ready = first.get("/readyz").await;
    assert!(ready.starts_with("ready"), "{ready}");
}

/// Asserts that every accepted id has a receipt in `got`; the number of duplicates.
fn none_missing(accepted: &[String], got: &[String]) -> usize {
    let unique: std::collections::BTreeSet<&String> = got.iter().collect();
    let missing: Vec<&String> = accepted.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} receipts missing: {missing:?}",
        missing.len()
    );
    got.len() - unique.len()
}

/// Sends `n` messages on `addr` in the background, a few at a time, and says which were
/// accepted.
fn submit_slowly(addr: SocketAddr, n: u32) -> tokio::task::JoinHandle<Vec<Value>> {
    tokio::spawn(smpplib(
        addr,
        false,
        json!([
            {"op": "bind", "mode": "tx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": n, "window": 1, "registered_delivery": 1, "text": "hi", "vary_to": true, "all_ids": true},
            {"op": "unbind"},
        ]),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_traffic_loses_no_receipt() {
    const N: u32 = 400;
    let redis = Redis::start().await;
    // Receipts come 2 s after their message: the kill below falls among them.
    let (carrier_port, stats, _carrier) = carrier(Duration::from_millis(2000)).await;
    let a = start_instance(&redis.url(), 1, carrier_port).await;
    let mut b = start_instance(&redis.url(), 2, carrier_port).await;
    let c = start_instance(&redis.url(), 3, carrier_port).await;
    spread(&[&a, &b, &c]).await;

    // The receiver is on B; messages go in on A. B is killed while receipts flow through it,
    // and its client binds again on C.
    let first = tokio::spawn(smpplib(b.addr, false, receive(N, 60))); // B dies meanwhile
    let sent = submit_slowly(a.addr, N);
    let acked = stats.receipts_acked();
    wait("the first receipts", 30, || stats.receipts_acked() > acked).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.kill();
    let first = first.await.unwrap();
    // The rest on C: at least what the first did not get (it returns once they are in;
    // generous for a loaded machine), then a few seconds for any still on their way (some the
    // first got come again: B died before it could acknowledge them).
    let had: std::collections::BTreeSet<String> = receipt_ids(&first[1]).into_iter().collect();
    assert!(
        had.len() < N as usize,
        "the kill came after every receipt: test nothing"
    );
    let rest = N - had.len() as u32;
    let second = smpplib(
        c.addr,
        false,
        json!([
            {"op": "bind", "mode": "rx", "system_id": "acme", "password": "pw"},
            {"op": "wait_receipts", "count": rest, "timeout": 90, "unique": true},
            {"op": "wait_receipts", "count": N, "show": N + 50, "timeout": 3, "unique": true},
            {"op": "unbind"},
        ]),
    );
    // B comes back meanwhile: what it held goes out too.
    b.restart().await;
    let second = second.await;
    let sent = sent.await.unwrap();
    let accepted = ids(&sent[1]);
    assert_eq!(accepted.len(), N as usize, "{:?}", sent[1]["statuses"]);
    let mut got: Vec<String> = receipt_ids(&first[1]);
    got.extend(receipt_ids(&second[2]));
    let duplicates = none_missing(&accepted, &got);
    eprintln!(
        "killed mid-traffic: {} receipts before the kill, {} after, {duplicates} duplicates",
        first[1]["receipts"], second[2]["receipts"],
    );
    drop((a, c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_traffic_loses_nothing() {
    const N: u32 = 300;
    let mut redis = Redis::start().await;
    // Receipts come 2 s after their message: Redis dies among them.
    let (carrier_port, stats, _carrier) = carrier(Duration::from_millis(2000)).await;
    let a = start_instance(&redis.url(), 1, carrier_port).await;
    let b = start_instance(&redis.url(), 2, carrier_port).await;
    spread(&[&a, &b]).await;

    // Generous: a loaded machine runs this slowly (it returns once all are in).
    let receiver = tokio::spawn(smpplib(b.addr, false, receive(N, 90)));
    let sent = submit_slowly(a.addr, N);
    let acked = stats.receipts_acked();
    wait("the first receipts", 30, || stats.receipts_acked() > acked).await;
    redis.kill();
    // Routing goes on, and says it is degraded.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ready = a.get("/readyz").await;
    assert!(ready.starts_with("ready, degraded"), "{ready}");
    let redis = Redis::start_in(redis.dir.clone(), redis.port).await;
    let sent = sent.await.unwrap();
    let got = receiver.await.unwrap();
    let accepted = ids(&sent[1]);
    assert_eq!(
        accepted.len(),
        N as usize,
        "routing went on: {:?}",
        sent[1]["statuses"]
    );
    let duplicates = none_missing(&accepted, &receipt_ids(&got[1]));
    eprintln!("Redis killed mid-traffic: {duplicates} duplicates");
    let ready = a.get("/readyz").await;
    assert_eq!(ready, "ready\n");
    drop(redis);
}

/// The instances whose carrier channel is up (holds a bind), by `GET /cluster`.
async fn with_binds(instance: &Instance) -> Vec<u64> {
    let cluster: Value = serde_json::from_str(&instance.get("/cluster").await).unwrap();
    cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| {
            n["alive"] == true && n["channels_up"].as_array().is_some_and(|c| !c.is_empty())
        })
        .map(|n| n["node_id"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carriers_binds_count_across_the_cluster() {
    let redis = Redis::start().await;
    let (carrier_port, stats, _carrier) = carrier(Duration::from_millis(100)).await;
    let routes = routes(carrier_port, 2);
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(start_with(write_instance_with(&redis.url(), id, &routes, "")).await);
    }
    // The two places spread over two instances (the first took both; it gives one back once
    // it sees the others).
    let t0 = Instant::now();
    let mut holders = Vec::new();
    while holders.len() != 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "binds did not spread: {holders:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        holders = with_binds(&nodes[0]).await;
    }
    assert!(
        stats.bound_most() <= 2,
        "{} binds at once",
        stats.bound_most()
    );
    // Both holders die: the third instance takes their places once the leases run out.
    for id in &holders {
        nodes[*id as usize - 1].kill();
    }
    let survivor = (1..=3u64).find(|id| !holders.contains(id)).unwrap();
    let survivor = &nodes[survivor as usize - 1];
    wait(
        "the survivor binds on the dead instances' places",
        40,
        || stats.bound_now() == 2,
    )
    .await;
    let sent = smpplib(survivor.addr, false, submit(20)).await;
    assert_eq!(count(&sent[1], 0), 20, "{sent:?}");
    assert!(
        stats.bound_most() <= 2,
        "{} binds at once",
        stats.bound_most()
    );
}

fn bind(mode: &str, password: &str, idle: u64) -> Value {
    json!([
        {"op": "bind", "mode": mode, "system_id": "acme", "password": password},
        {"op": "idle", "seconds": idle},
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_binds_and_the_lockout_hold_across_instances() {
    let redis = Redis::start().await;
    let (carrier_port, _stats, _carrier) = carrier(Duration::from_millis(100)).await;
    let routes = routes(carrier_port, 2).replace("tps = 5000", "tps = 5000\nmax_binds = 2");
    let security = "[security]\nmax_bind_failures = 3\n";
    let a = start_with(write_instance_with(&redis.url(), 1, &routes, security)).await;
    let b = start_with(write_instance_with(&redis.url(), 2, &routes, security)).await;

    // Two binds held, one on each instance: a third is refused on either.
    let first = tokio::spawn(smpplib(a.addr, false, bind("trx", "pw", 3)));
    let second = tokio::spawn(smpplib(b.addr, false, bind("rx", "pw", 3)));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let third = smpplib(a.addr, false, bind("tx", "pw", 0)).await;
    assert_eq!(third[0]["status"], 0x05, "ESME_RALYBND: {third:?}");
    for held in [first.await.unwrap(), second.await.unwrap()] {
        assert_eq!(held[0]["status"], 0, "{held:?}");
    }
    // They unbound: the places are free again.
    let again = smpplib(b.addr, false, bind("tx", "pw", 0)).await;
    assert_eq!(again[0]["status"], 0, "{again:?}");

    // Three wrong passwords on A block the address on B too.
    for _ in 0..3 {
        let wrong = smpplib(a.addr, false, bind("tx", "wrong", 0)).await;
        assert_eq!(wrong[0]["status"], 0x0E, "ESME_RINVPASWD: {wrong:?}");
    }
    let t0 = Instant::now();
    loop {
        let blocked = smpplib(b.addr, false, bind("tx", "pw", 0)).await;
        if blocked[0]["status"] == 0x0D {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "B does not see A's block: {blocked:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_tps_holds_across_instances() {
    const TPS: u64 = 200;
    let redis = Redis::start().await;
    let (carrier_port, _stats, _carrier) = carrier(Duration::from_millis(100)).await;
    let routes = routes(carrier_port, 2).replace("tps = 5000", &format!("tps = {TPS}"));
    let a = start_with(write_instance_with(&redis.url(), 1, &routes, "")).await;
    let b = start_with(write_instance_with(&redis.url(), 2, &routes, "")).await;
    spread(&[&a, &b]).await;
    // Two clients, one on each instance, each as fast as it can (one at a time).
    let flood = || {
        json!([
            {"op": "bind", "mode": "tx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 8000, "window": 1, "text": "hi", "vary_to": true},
            {"op": "unbind"},
        ])
    };
    let on_a = tokio::spawn(smpplib(a.addr, false, flood()));
    let on_b = smpplib(b.addr, false, flood()).await;
    let on_a = on_a.await.unwrap();
    let accepted = count(&on_a[1], 0) + count(&on_b[1], 0);
    let throttled = count(&on_a[1], 0x58) + count(&on_b[1], 0x58);
    let secs = on_a[1]["seconds"]
        .as_f64()
        .unwrap()
        .max(on_b[1]["seconds"].as_f64().unwrap());
    // The stated bound: tps × (1 + instances / 20) per second, over every second the run
    // touched (a partial one at each end).
    let bound = (TPS as f64 * (secs.ceil() + 1.0) * (1.0 + 2.0 / 20.0)) as u64;
    eprintln!(
        "shared tps {TPS}: {accepted} accepted, {throttled} throttled in {secs:.2} s ({:.0}/s; bound {bound})",
        accepted as f64 / secs
    );
    assert!(secs >= 2.0, "the run must span seconds to tell: {secs} s");
    assert!(
        accepted <= bound,
        "{accepted} accepted in {secs:.2} s; bound {bound}"
    );
    assert!(
        accepted as f64 >= TPS as f64 * (secs - 1.0) * 0.8,
        "the budget is used: {accepted}"
    );
}

/// The parts of one long message, sent on different instances, take the channel the first
/// part took — here not the route's first channel, which refused the first part on A (and
/// would take the second on B, where it accepts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parts_of_a_long_message_take_one_channel_across_instances() {
    use smpp_router::smpp::CommandStatus;
    use smpp_router::smpp::pdu::{Address, Bind, Command, Pdu, Sm};
    use smpp_router_e2e::Raw;

    let redis = Redis::start().await;
    let routes = |first: &str| {
        format!(
            "{}\n[[channel]]\nname = \"c1\"\nkind = \"test\"\noutcomes = [\"{first}\"]\n\n\
             [[channel]]\nname = \"c2\"\nkind = \"test\"\noutcomes = [\"ok\"]\n\n\
             [[route]]\nname = \"sms\"\nchannels = [\"c1\", \"c2\"]\n",
            account("acme", "pw", "tps = 5000")
        )
    };
    let a = start_with(write_instance_with(&redis.url(), 1, &routes("0x45"), "")).await;
    let b = start_with(write_instance_with(&redis.url(), 2, &routes("ok"), "")).await;
    let part = |seq: u8| Sm {
        source: Address::new(1, 1, "15550001111"),
        dest: Address::new(1, 1, "14155551234"),
        esm_class: smpp_router::smpp::values::EsmClass(0x40),
        short_message: [&[5, 0, 3, 42, 2, seq][..], b"part of a long message"]
            .concat()
            .into(),
        ..Sm::default()
    };
    let mut sessions = Vec::new();
    for (instance, seq) in [(&a, 1), (&b, 2)] {
        let mut raw = Raw::connect(instance.addr).await;
        let bind = Bind {
            system_id: "acme".into(),
            password: "pw".into(),
            interface_version: 0x34,
            ..Bind::default()
        };
        raw.send(&Command::new(1, Pdu::BindTransmitter(bind))).await;
        assert_eq!(raw.recv().await.unwrap().status, CommandStatus::ROK);
        raw.send(&Command::new(2, Pdu::SubmitSm(part(seq)))).await;
        assert_eq!(
            raw.recv().await.unwrap().status,
            CommandStatus::ROK,
            "part {seq}"
        );
        sessions.push(raw);
    }
    let attempts = |text: String, channel: &str| {
        let series = format!(
            "smpp_router_channel_attempts_total{{channel=\"{channel}\",outcome=\"accepted\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .map_or(0, |v| v.trim().parse::<u64>().unwrap())
    };
    let on_b = b.get("/metrics").await;
    assert_eq!(
        (attempts(on_b.clone(), "c1"), attempts(on_b, "c2")),
        (0, 1),
        "the second part, on B, went where the first went on A"
    );
}

/// A carrier channel's `tps` holds across instances: each paces its binds at its share (the
/// channel's `tps` times the places it holds over `binds`). Counted at the carrier: the most
/// messages it accepted within any one second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_channels_tps_holds_across_instances() {
    let redis = Redis::start().await;
    let knobs = Knobs {
        keep_messages: 1000,
        ..Knobs::default()
    };
    let stats = knobs.stats.clone();
    let (carrier_addr, _carrier) = carrier::start(knobs).await.unwrap();
    let routes = routes(carrier_addr.port(), 2).replace("binds = 2\n", "binds = 2\ntps = 20\n");
    let a = start_with(write_instance_with(&redis.url(), 1, &routes, "")).await;
    let b = start_with(write_instance_with(&redis.url(), 2, &routes, "")).await;
    spread(&[&a, &b]).await;
    let plan = || {
        json!([
            {"op": "bind", "mode": "tx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 60, "window": 10, "text": "hi", "vary_to": true},
            {"op": "unbind"},
        ])
    };
    let on_a = tokio::spawn(smpplib(a.addr, false, plan()));
    let on_b = smpplib(b.addr, false, plan()).await;
    let on_a = on_a.await.unwrap();
    assert_eq!(
        count(&on_a[1], 0) + count(&on_b[1], 0),
        120,
        "{on_a:?} {on_b:?}"
    );
    let mut at: Vec<Duration> = stats
        .messages()
        .iter()
        .map(|m| m.submitted.duration_since(std::time::UNIX_EPOCH).unwrap())
        .collect();
    at.sort();
    let busiest = (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| **t < at[i] + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    // 20 a second, plus each instance's burst of a tenth of a second of its share.
    assert!(
        busiest <= 24,
        "{busiest} messages within one second at the carrier"
    );
}

/// `rediss://`: the instances reach a Redis that takes only TLS, and receipts cross between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_reach_redis_over_tls() {
    const N: u32 = 50;
    let redis = Redis::start_tls().await;
    let (carrier_port, _stats, _carrier) = carrier(Duration::from_millis(100)).await;
    let a = start_instance(&redis.tls_url(), 1, carrier_port).await;
    let b = start_instance(&redis.tls_url(), 2, carrier_port).await;
    spread(&[&a, &b]).await;
    let receiver = tokio::spawn(smpplib(b.addr, false, receive(N, 60)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = smpplib(a.addr, false, submit(N)).await;
    let got = receiver.await.unwrap();
    assert_eq!(
        receipt_ids(&got[1]),
        ids(&sent[1]),
        "every receipt, each once"
    );
    let cluster: Value = serde_json::from_str(&a.get("/cluster").await).unwrap();
    assert_eq!(cluster["redis"]["up"], true, "{cluster:#}");
}
