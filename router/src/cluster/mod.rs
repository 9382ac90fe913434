//! Cluster mode: several routers with the same `routes.toml` and one Redis serve as one router.
//!
//! What the instances share, and where it lives in Redis (every key starts with
//! `cluster.prefix`):
//!
//! - **Message records** (`rec:<channel>:<carrier id>`, kept for `store.retention`): a receipt
//!   arriving at any instance finds the message whichever instance accepted it. Each record is
//!   also in the instance's own store, which answers first.
//! - **Receipts on their way to a client** (a stream per account, `dlr:<account>`, read by the
//!   consumer group `out`): a receipt for an account with no receiving session on the instance
//!   that got it is added to the account's stream; every instance with a receiving session of
//!   the account reads the stream as a consumer of the group, delivers, and acknowledges the
//!   entry (`XACK`, then `XDEL`) only once the client answered its `deliver_sm`. See
//!   [`receiver`] for why a receipt survives the death of the instance that read it.
//! - **Instances** (`node:<id>`, a lease, and the hash `nodes`): one process per `node_id`,
//!   and what `GET /cluster` shows.
//!
//! The data path's other parts stay local: the instance's store keeps the records and receipts
//! it handles itself, so that a receipt for a client bound to the instance that got it never
//! waits on Redis. While Redis cannot be reached the router keeps routing: records wait in
//! memory to be published, and receipts for accounts bound elsewhere stay in the local store
//! and are handed over once Redis is back ([`delivery::spawn_hand_over`]).
//!
//! Durability: a receipt added to a stream is safe once Redis has written it to its
//! append-only file. With `appendonly yes` and `appendfsync always` (what the tests and the
//! example configuration use) that is before Redis answers, so the carrier's `deliver_sm` is
//! answered only after the receipt is on disk; with `appendfsync everysec` up to a second of
//! receipts can be lost when the Redis host (not the process) fails.

mod batch;
// Words used here: an instance *hands off* a receipt when it adds it to an account's stream
// (`Cluster::hand_off`); the outbox *hands over* what its local store kept for accounts bound
// elsewhere (`Outbox::hand_over`, which hands each batch off). A *place* is one of a carrier
// channel's `binds` in the whole cluster (`leases.rs`); a *lease* is a key that expires unless
// renewed (places, node ids, client binds). `config::router::Cluster` is the `[cluster]`
// section; `Cluster` here is the running link.

pub mod counters;
pub mod delivery;
pub mod groups;
pub mod leases;
pub mod limits;
pub mod node;
pub mod receiver;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use redis::aio::ConnectionManager;

use crate::config::router::Cluster as Settings;
use crate::metrics::Metrics;
use crate::store::MessageRecord;
use crate::store::codec::{decode_record, encode_record};

/// Records published while Redis could not take them, kept in memory to publish later; beyond
/// this many the oldest are dropped (counted), their receipts then found only on the instance
/// that accepted them.
const MAX_UNPUBLISHED: usize = 1_000_000;

/// How long after Redis came back a receipt whose message is not found is answered with a
/// temporary error (its carrier resends it) rather than dropped as unknown: the instance that
/// accepted the message may still be publishing the records it held meanwhile.
const RECOVERY_GRACE: Duration = Duration::from_secs(30);

/// The consumer group every instance reads the receipt streams in.
pub const GROUP: &str = "out";

/// One instance's link to the cluster's Redis.
pub struct Cluster {
    conn: ConnectionManager,
    client: redis::Client,
    settings: Settings,
    /// How long records are kept (`store.retention`), in seconds.
    retention: u64,
    /// Why Redis failed last, since when; `None` while it answers.
    fault: Mutex<Option<(String, Instant)>>,
    /// Whether `fault` is set: what the data path asks, without the lock.
    down: std::sync::atomic::AtomicBool,
    /// When Redis answered again after it had failed.
    recovered: Mutex<Option<Instant>>,
    /// Records waiting to be published (Redis could not be reached).
    unpublished: Mutex<VecDeque<MessageRecord>>,
    metrics: Arc<Metrics>,
    /// The lease that makes this process the only one with its `node_id`.
    token: String,
    /// The carrier bind places this instance holds.
    held: leases::Held,
    /// The client sessions bound here, whose binds it keeps leased.
    bound: limits::Bound,
    /// The instances alive at the last look (this one included).
    alive: std::sync::atomic::AtomicUsize,
    /// Records and receipts on their way to Redis, in pipelines.
    batcher: batch::Batcher,
    /// Whether the live instances served the same routes at the last look.
    routes_agree: std::sync::atomic::AtomicBool,
    /// Whether another instance held records it could not publish yet, at the last look.
    others_hold: std::sync::atomic::AtomicBool,
    /// Set when another process took this instance's `node_id` (see `node.rs`).
    node_lost: std::sync::atomic::AtomicBool,
}

impl Cluster {
    /// Connects to the cluster's Redis and takes this instance's `node_id` (refused while
    /// another process holds it). `data_dir` keeps the lease's token, so that a restart of the
    /// same instance takes its id back at once.
    pub async fn connect(
        settings: &Settings,
        data_dir: &std::path::Path,
        retention: Duration,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Arc<Self>> {
        let url = crate::config::resolve_secret(&settings.redis)
            .map_err(|e| anyhow::anyhow!("cluster.redis: {e}"))?;
        let client = redis::Client::open(url.trim())
            .map_err(|e| anyhow::anyhow!("cluster.redis: not a Redis address: {e}"))?;
        let shown = client.get_connection_info().addr().to_string();
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(settings.timeout))
            .set_connection_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .with_context(|| format!("cannot reach the cluster's Redis at {shown}"))?;
        let token = node::token(data_dir)?;
        let (batcher, batched) = batch::Batcher::new();
        let cluster = Arc::new(Self {
            conn,
            client,
            settings: settings.clone(),
            retention: retention.as_secs().max(1),
            fault: Mutex::new(None),
            down: std::sync::atomic::AtomicBool::new(false),
            recovered: Mutex::new(None),
            unpublished: Mutex::new(VecDeque::new()),
            metrics,
            token,
            held: leases::Held::default(),
            bound: limits::Bound::default(),
            alive: std::sync::atomic::AtomicUsize::new(1),
            batcher,
            routes_agree: std::sync::atomic::AtomicBool::new(true),
            others_hold: std::sync::atomic::AtomicBool::new(false),
            node_lost: std::sync::atomic::AtomicBool::new(false),
        });
        tokio::spawn(batch::run(Arc::downgrade(&cluster), batched));
        cluster.check_version().await?;
        cluster.check_durability().await;
        cluster.take_node_id().await?;
        cluster.count_alive().await;
        tracing::info!(node_id = settings.node_id, redis = %shown, "cluster: joined");
        Ok(cluster)
    }

    /// This instance's `node_id`.
    pub fn node_id(&self) -> u16 {
        self.settings.node_id
    }

    /// The settings it was started with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The instances alive at the last look, this one included.
    pub fn alive_nodes(&self) -> usize {
        self.alive.load(std::sync::atomic::Ordering::Relaxed).max(1)
    }

    /// Counts the instances alive now (the heartbeat does, every few seconds).
    async fn count_alive(&self) {
        if let Ok(nodes) = self.nodes().await {
            // This instance counts even before its first report.
            let me = serde_json::json!(self.node_id());
            let others = nodes
                .iter()
                .filter(|n| n["alive"] == serde_json::json!(true) && n["node_id"] != me)
                .count();
            let n = others + 1;
            let digests: std::collections::BTreeSet<&str> = nodes
                .iter()
                .filter(|n| n["alive"] == serde_json::json!(true))
                .filter_map(|n| n["routes"]["digest"].as_str())
                .collect();
            self.routes_agree
                .store(digests.len() <= 1, std::sync::atomic::Ordering::Relaxed);
            let hold = nodes
                .iter()
                .any(|n| n["node_id"] != me && n["held_records"].as_u64().unwrap_or(0) > 0);
            self.others_hold
                .store(hold, std::sync::atomic::Ordering::Relaxed);
            self.alive
                .store(n.max(1), std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A key under the cluster's prefix.
    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.settings.prefix.clone();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                k.push(':');
            }
            k.push_str(p);
        }
        k
    }

    /// The stream of receipts on their way to `account`'s sessions.
    pub fn stream_of(&self, account: &str) -> String {
        self.key(&["dlr", account])
    }

    /// The account a stream key belongs to.
    pub fn account_of<'k>(&self, stream: &'k str) -> Option<&'k str> {
        stream
            .strip_prefix(self.settings.prefix.as_str())?
            .strip_prefix("dlr:")
    }

    /// Runs `cmd`, noting whether Redis answered.
    async fn run<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, redis::RedisError> {
        let r = cmd.query_async(&mut self.conn.clone()).await;
        self.note(&r);
        r
    }

    /// Runs `pipe` (its commands in one round trip), noting whether Redis answered.
    async fn run_pipe<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, redis::RedisError> {
        let r = pipe.query_async(&mut self.conn.clone()).await;
        self.note(&r);
        r
    }

    /// Notes whether Redis answered (a command error such as `BUSYGROUP` is an answer).
    fn note<T>(&self, r: &Result<T, redis::RedisError>) {
        let failed = match r {
            Ok(_) => None,
            Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
                Some(e.to_string())
            }
            Err(e) if e.is_unrecoverable_error() => Some(e.to_string()),
            Err(_) => None,
        };
        if failed.is_none() && self.up() {
            return; // The common case: nothing changes.
        }
        let mut fault = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        self.down
            .store(failed.is_some(), std::sync::atomic::Ordering::Relaxed);
        match (failed, fault.is_some()) {
            (None, false) => {}
            (None, true) => {
                tracing::info!("cluster: Redis answers again");
                *fault = None;
                *self.recovered.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            }
            (Some(reason), false) => {
                tracing::error!(error = %reason, "cluster: Redis unavailable; receipts for sessions on other instances are kept here until it is back");
                self.metrics.add(&counters::REDIS_ERRORS, &[], 1);
                *fault = Some((reason, Instant::now()));
            }
            (Some(reason), true) => {
                self.metrics.add(&counters::REDIS_ERRORS, &[], 1);
                if let Some(f) = fault.as_mut() {
                    f.0 = reason;
                }
            }
        }
    }

    /// Why Redis is unavailable and for how long; `None` while it answers.
    pub fn fault(&self) -> Option<(String, Duration)> {
        let fault = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        fault
            .as_ref()
            .map(|(r, since)| (r.clone(), since.elapsed()))
    }

    /// Whether Redis answered the last command.
    pub fn up(&self) -> bool {
        !self.down.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a record missing from Redis may still be on its way there: Redis is away, or was
    /// a moment ago (records held by the instances meanwhile are being published), or this
    /// instance or another (as it reported at the last look) still holds some.
    pub fn unsure(&self) -> bool {
        let recent = self
            .recovered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < RECOVERY_GRACE);
        recent
            || !self.up()
            || self.held_records() > 0
            || self.others_hold.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records this instance holds until Redis takes them.
    pub(crate) fn held_records(&self) -> usize {
        self.unpublished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Whether another process took this instance's `node_id` (Redis was unreachable for longer
    /// than the lease): ids may repeat, so the instance says it is not ready.
    pub fn node_lost(&self) -> bool {
        self.node_lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether Redis answers a `PING` (noted like any command).
    pub async fn ping(&self) -> bool {
        self.run::<String>(&redis::cmd("PING")).await.is_ok()
    }

    /// Refuses a Redis older than 6.2 (`XAUTOCLAIM`, `SET … GET`).
    async fn check_version(&self) -> anyhow::Result<()> {
        let info: String = self
            .run(redis::cmd("INFO").arg("server"))
            .await
            .context("cluster: INFO server")?;
        let version = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("0")
            .trim()
            .to_string();
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) < (6, 2) {
            anyhow::bail!("cluster: Redis {version} is too old; 6.2 or later is needed");
        }
        Ok(())
    }

    /// Warns when Redis may lose what it acknowledged: an eviction policy other than
    /// `noeviction` (receipts and records evicted under memory pressure), or an append-only file
    /// not synced before each answer. Managed services that hide `CONFIG` are not checked.
    async fn check_durability(&self) {
        let mut get = redis::cmd("CONFIG");
        get.arg("GET").arg("*");
        let Ok(config) = self
            .run::<std::collections::HashMap<String, String>>(&get)
            .await
        else {
            return;
        };
        let value = |k: &str| config.get(k).map(String::as_str).unwrap_or("");
        if value("maxmemory-policy") != "noeviction" {
            tracing::warn!(
                policy = value("maxmemory-policy"),
                "cluster: Redis may evict keys under memory pressure (receipts, message records); set maxmemory-policy noeviction"
            );
        }
        if value("appendonly") != "yes" || value("appendfsync") != "always" {
            tracing::warn!(
                appendonly = value("appendonly"),
                appendfsync = value("appendfsync"),
                "cluster: Redis does not sync each write before it answers; receipts it acknowledged can be lost if its host fails (appendonly yes, appendfsync always)"
            );
        }
    }

    /// Publishes the record of an accepted message, so that a receipt arriving at any instance
    /// finds it. While Redis cannot take it, it waits in memory and is published later.
    pub async fn publish(&self, rec: &MessageRecord) {
        if !self.up() {
            self.hold(rec.clone());
            return;
        }
        if self.batcher.send(self.record_cmd(rec)).await.is_err() {
            self.hold(rec.clone());
        }
    }

    fn record_cmd(&self, rec: &MessageRecord) -> redis::Cmd {
        let mut value = Vec::with_capacity(rec.router_id.len() + 128);
        value.extend_from_slice(rec.router_id.as_bytes());
        value.push(0);
        value.extend_from_slice(&encode_record(rec));
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(&["rec", &rec.channel, &rec.channel_id]))
            .arg(value)
            .arg("EX")
            .arg(self.retention);
        cmd
    }

    fn hold(&self, rec: MessageRecord) {
        let mut q = self.unpublished.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= MAX_UNPUBLISHED {
            q.pop_front();
            self.metrics.add(&counters::RECORDS, &["dropped"], 1);
        }
        q.push_back(rec);
        self.metrics.add(&counters::RECORDS, &["held"], 1);
    }

    /// Publishes the records held while Redis was away, a thousand per round trip.
    pub async fn publish_held(&self) {
        loop {
            let batch: Vec<MessageRecord> = {
                let mut q = self.unpublished.lock().unwrap_or_else(|p| p.into_inner());
                let n = q.len().min(1000);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                return;
            }
            let mut pipe = redis::pipe();
            for rec in &batch {
                pipe.add_command(self.record_cmd(rec)).ignore();
            }
            if self.run_pipe::<()>(&pipe).await.is_err() {
                let mut q = self.unpublished.lock().unwrap_or_else(|p| p.into_inner());
                for rec in batch.into_iter().rev() {
                    q.push_front(rec);
                }
                return;
            }
            self.metrics
                .add(&counters::RECORDS, &["published_late"], batch.len() as u64);
        }
    }

    /// The record of a channel's message by the channel's id for it, as published by any
    /// instance.
    pub async fn find(
        &self,
        channel: &str,
        channel_id: &str,
    ) -> Result<Option<MessageRecord>, redis::RedisError> {
        let mut get = redis::cmd("GET");
        get.arg(self.key(&["rec", channel, channel_id]));
        let value: Option<Vec<u8>> = redis::from_redis_value(self.batcher.send(get).await?)
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))?;
        let Some(value) = value else {
            return Ok(None);
        };
        let Some(split) = value.iter().position(|&b| b == 0) else {
            return Ok(None);
        };
        let router_id = String::from_utf8_lossy(&value[..split]);
        match decode_record(&router_id, &value[split + 1..]) {
            Ok(rec) => Ok(Some(rec)),
            Err(e) => {
                tracing::error!(error = %e, "cluster: an unreadable message record in Redis is ignored");
                Ok(None)
            }
        }
    }

    /// Adds deliveries for `account` to its stream: `(pdu, expires, router id)` each. Resolves
    /// once Redis took them all (in one round trip).
    pub async fn hand_off(
        &self,
        account: &str,
        items: &[(Bytes, u64, Option<&str>)],
    ) -> Result<(), redis::RedisError> {
        let stream = self.stream_of(account);
        let adds = items.iter().map(|(pdu, expires, id)| {
            let mut cmd = redis::cmd("XADD");
            cmd.arg(&stream)
                .arg("*")
                .arg("pdu")
                .arg(pdu.as_ref())
                .arg("exp")
                .arg(*expires);
            if let Some(id) = id {
                cmd.arg("id").arg(*id);
            }
            self.batcher.send(cmd)
        });
        for added in futures_util::future::join_all(adds).await {
            added?;
        }
        self.metrics
            .add(&counters::RECEIPTS, &["handed_off"], items.len() as u64);
        Ok(())
    }

    /// A connection of its own for commands that block (`XREADGROUP … BLOCK`), which would hold
    /// up everything behind them on the shared one.
    async fn blocking_connection(
        &self,
        block: Duration,
    ) -> Result<redis::aio::MultiplexedConnection, redis::RedisError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.settings.timeout))
            .set_response_timeout(Some(block + self.settings.timeout));
        let r = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await;
        self.note(&r);
        r
    }
}
