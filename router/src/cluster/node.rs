//! The instances of a cluster: one process per `node_id` (a lease in Redis), and what each
//! tells the others every few seconds (`GET /cluster`).
//!
//! The lease `node:<id>` holds a token kept in the instance's data directory and expires
//! [`LEASE`] after the last renewal. An instance takes its id when the lease is free or already
//! holds its own token — a restart of the same instance (same data directory) goes on at once,
//! a second process with the same id and another data directory is refused.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Cluster;

/// How long a lease lasts without renewal: a dead instance's id is free after this.
pub const LEASE: Duration = Duration::from_secs(15);
/// How often an instance renews its lease and reports itself.
pub const BEAT: Duration = Duration::from_secs(5);

/// Takes lease KEYS[1] for token ARGV[1] for ARGV[2] ms when it is free or already that
/// token's (a renewal): 1; 0 when another token holds it. Node ids and bind places use it.
pub(super) const TAKE_OR_RENEW: &str = r"
local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0";

/// The lease token of the instance using `data_dir`, made at its first start.
pub fn token(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("cluster-node-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim();
        if !t.is_empty() {
            return Ok(t.to_string());
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let t = format!("{:032x}", rand::random::<u128>());
    std::fs::write(&path, &t)
        .map_err(|e| anyhow::anyhow!("cluster: cannot write {}: {e}", path.display()))?;
    Ok(t)
}

/// What an instance reports about itself.
pub struct Report {
    /// The address clients bind to.
    pub address: String,
    /// Bound client sessions.
    pub sessions: usize,
    /// The channels up (bound, circuit closed).
    pub channels_up: Vec<String>,
    /// The generation and digest of the routes in service.
    pub generation: u64,
    pub digest: String,
}

impl Cluster {
    fn node_key(&self, id: u16) -> String {
        self.key(&["node", &id.to_string()])
    }

    /// Takes this instance's `node_id`, or says who holds it.
    pub(super) async fn take_node_id(&self) -> anyhow::Result<()> {
        if self.renew().await? {
            return Ok(());
        }
        let id = self.node_id();
        let other = self.nodes().await.unwrap_or_default();
        let at = other
            .iter()
            .find(|n| n["node_id"] == json!(id))
            .and_then(|n| n["address"].as_str().map(str::to_string))
            .unwrap_or_else(|| "an address it has not reported yet".into());
        anyhow::bail!(
            "cluster.node_id {id} is in use by another running router ({at}); give every \
             instance its own node_id (a stopped instance's id is free {} s after it stopped)",
            LEASE.as_secs()
        )
    }

    /// Renews the lease; false when another process holds it.
    async fn renew(&self) -> anyhow::Result<bool> {
        let taken: i64 = redis::Script::new(TAKE_OR_RENEW)
            .key(self.node_key(self.node_id()))
            .arg(&self.token)
            .arg(LEASE.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| {
                self.note::<()>(&Err(e.clone()));
                anyhow::anyhow!("cluster: cannot take node_id {}: {e}", self.node_id())
            })?;
        Ok(taken == 1)
    }

    /// Every few seconds, until the cluster link is dropped: renews the lease and reports
    /// `report()`.
    pub fn spawn_heartbeat(self: &Arc<Self>, report: impl Fn() -> Report + Send + 'static) {
        let me = Arc::downgrade(self);
        let started = crate::delivery::receipts::unix_now();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(BEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(me) = me.upgrade() else { return };
                match me.renew().await {
                    Ok(true) => me
                        .node_lost
                        .store(false, std::sync::atomic::Ordering::Relaxed),
                    Ok(false) => {
                        me.node_lost
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                        tracing::error!(
                            node_id = me.node_id(),
                            "cluster: another process took this instance's node_id (was Redis unreachable for longer than the lease?); message ids may repeat until one of them stops; /readyz says not ready"
                        )
                    }
                    Err(_) => continue,
                }
                let r = report();
                let info = json!({
                    "node_id": me.node_id(),
                    "address": r.address,
                    "started": started,
                    "seen": crate::delivery::receipts::unix_now(),
                    "sessions": r.sessions,
                    "channels_up": r.channels_up,
                    "routes": { "generation": r.generation, "digest": r.digest },
                    "held_records": me.held_records(),
                    "version": env!("CARGO_PKG_VERSION"),
                });
                let mut cmd = redis::cmd("HSET");
                cmd.arg(me.key(&["nodes"]))
                    .arg(me.node_id())
                    .arg(info.to_string());
                let _ = me.run::<()>(&cmd).await;
                me.count_alive().await;
                me.renew_binds().await;
            }
        });
    }

    /// The instances that reported in the last [`LEASE`], oldest id first; each with `alive`.
    /// Instances silent for longer than a day are forgotten.
    pub async fn nodes(&self) -> Result<Vec<Value>, redis::RedisError> {
        let all: Vec<(String, String)> = self
            .run(redis::cmd("HGETALL").arg(self.key(&["nodes"])))
            .await?;
        let now = crate::delivery::receipts::unix_now();
        let mut out = Vec::new();
        for (id, text) in all {
            let Ok(mut v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let seen = v["seen"].as_u64().unwrap_or(0);
            if now.saturating_sub(seen) > 86_400 {
                let mut cmd = redis::cmd("HDEL");
                cmd.arg(self.key(&["nodes"])).arg(&id);
                let _ = self.run::<()>(&cmd).await;
                continue;
            }
            v["alive"] = json!(now.saturating_sub(seen) <= LEASE.as_secs());
            v["uptime_s"] = json!(seen.saturating_sub(v["started"].as_u64().unwrap_or(seen)));
            out.push(v);
        }
        out.sort_by_key(|v| v["node_id"].as_u64());
        Ok(out)
    }
}

/// What `GET /cluster` answers: the instances, and whether the live ones serve the same routes.
pub async fn overview(cluster: &Cluster) -> Value {
    let nodes = match cluster.nodes().await {
        Ok(n) => n,
        Err(e) => {
            return json!({
                "node_id": cluster.node_id(),
                "redis": { "up": false, "error": e.to_string() },
            });
        }
    };
    let digests: std::collections::BTreeSet<&str> = nodes
        .iter()
        .filter(|n| n["alive"] == json!(true))
        .filter_map(|n| n["routes"]["digest"].as_str())
        .collect();
    json!({
        "node_id": cluster.node_id(),
        "redis": { "up": cluster.up() },
        "routes_agree": digests.len() <= 1,
        "nodes": nodes,
    })
}
