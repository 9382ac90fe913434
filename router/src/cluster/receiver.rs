//! Reading the receipt streams: every instance reads the stream of each account that has a
//! receiving session on it, as consumer `node-<id>` of the group [`super::GROUP`], delivers
//! what it reads to a session here, and acknowledges an entry (`XACK`, then `XDEL`) only once
//! the client answered its `deliver_sm` (or refused it for good, or it expired).
//!
//! Why a receipt is not lost when an instance dies between reading an entry and acknowledging
//! it: reading with `XREADGROUP` puts the entry in the group's pending list under the reader's
//! name, where it stays until acknowledged — whatever happens to the reader. The same instance,
//! restarted, reads its own pending entries first (`XREADGROUP … 0`) and every
//! [`PENDING_EVERY`] after; any other instance with a session of the account takes over an
//! entry left unacknowledged for `cluster.claim_after` (`XAUTOCLAIM`). Either way the client
//! gets it at least once: an entry delivered but not yet acknowledged when the reader died is
//! delivered again (a duplicate, not a loss). An entry waits in its stream, unread, while no
//! instance has a session of the account, up to `store.receipt_ttl`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Value;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};

use super::{Cluster, GROUP, counters};
use crate::delivery::outbox::{Outbox, decode};
use crate::delivery::receipts::unix_now;
use crate::delivery::registry::Registry;
use crate::metrics::Metrics;

/// Entries read at once (all streams together).
const BATCH: usize = 256;
/// How long a read waits for new entries.
const BLOCK: Duration = Duration::from_millis(500);
/// How often an instance reads again the entries it read and has not acknowledged yet (the
/// client refused them for now, or its session closed).
const PENDING_EVERY: Duration = Duration::from_secs(2);
/// How often an instance with no receiving session looks again.
const IDLE: Duration = Duration::from_millis(200);

/// Starts reading the receipt streams of the accounts bound here, until the cluster link or
/// the outbox is dropped.
pub fn spawn_receiver(
    cluster: &Arc<Cluster>,
    registry: Arc<Registry>,
    outbox: &Arc<Outbox>,
    metrics: Arc<Metrics>,
) {
    let (cluster, outbox) = (Arc::downgrade(cluster), Arc::downgrade(outbox));
    tokio::spawn(async move {
        let mut reader = Reader {
            conn: None,
            groups: HashSet::new(),
            last_pending: None,
        };
        loop {
            let (Some(cluster), Some(outbox)) = (cluster.upgrade(), outbox.upgrade()) else {
                return;
            };
            let mut accounts = registry.receiving_accounts();
            if accounts.is_empty() {
                drop((cluster, outbox));
                tokio::time::sleep(IDLE).await;
                continue;
            }
            accounts.sort();
            match reader.read(&cluster, &accounts).await {
                Ok(entries) if entries.is_empty() => {}
                Ok(entries) => {
                    let patience = cluster.settings().claim_after / 3;
                    let done = deliver_all(&registry, &outbox, &metrics, entries, patience).await;
                    cluster.acknowledge(&done).await;
                }
                Err(_) => {
                    // The connection, or a group (Redis lost it): both made again.
                    reader.conn = None;
                    reader.groups.clear();
                    drop((cluster, outbox));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

/// One entry read from an account's stream.
struct Entry {
    account: String,
    stream: String,
    entry: StreamId,
}

/// The reading side's state.
struct Reader {
    /// The connection for blocking reads.
    conn: Option<redis::aio::MultiplexedConnection>,
    /// The streams whose group is known to exist.
    groups: HashSet<String>,
    /// When the own pending entries were read last.
    last_pending: Option<Instant>,
}

impl Reader {
    /// The next entries for `accounts`: the own pending ones and those taken over when due,
    /// else new ones (waiting up to [`BLOCK`] for some).
    async fn read(
        &mut self,
        cluster: &Cluster,
        accounts: &[String],
    ) -> Result<Vec<Entry>, redis::RedisError> {
        let streams: Vec<String> = accounts.iter().map(|a| cluster.stream_of(a)).collect();
        for s in &streams {
            if !self.groups.contains(s) {
                cluster.create_group(s).await?;
                self.groups.insert(s.clone());
            }
        }
        let consumer = format!("node-{}", cluster.node_id());
        if self
            .last_pending
            .is_none_or(|t| t.elapsed() >= PENDING_EVERY)
        {
            self.last_pending = Some(Instant::now());
            let mut entries = cluster.read_group(&consumer, &streams, "0").await?;
            for s in &streams {
                let claimed = cluster.claim_idle(&consumer, s).await?;
                if !claimed.is_empty() {
                    tracing::info!(stream = %s, entries = claimed.len(), "cluster: receipts left unacknowledged by another instance taken over");
                    cluster
                        .metrics
                        .add(&counters::RECEIPTS, &["claimed"], claimed.len() as u64);
                }
                entries.extend(claimed.into_iter().map(|entry| (s.clone(), entry)));
            }
            return Ok(with_accounts(cluster, entries));
        }
        if self.conn.is_none() {
            self.conn = Some(cluster.blocking_connection(BLOCK).await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(Vec::new());
        };
        let cmd = read_cmd(&consumer, &streams, ">", Some(BLOCK));
        let reply: Result<Option<StreamReadReply>, _> = cmd.query_async(conn).await;
        cluster.note(&reply);
        let entries = flatten(reply?);
        Ok(with_accounts(cluster, entries))
    }
}

/// The entries of a read, each with its stream.
fn flatten(reply: Option<StreamReadReply>) -> Vec<(String, StreamId)> {
    reply
        .map(|r| {
            r.keys
                .into_iter()
                .flat_map(|k| {
                    let key = k.key;
                    k.ids.into_iter().map(move |e| (key.clone(), e))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn with_accounts(cluster: &Cluster, entries: Vec<(String, StreamId)>) -> Vec<Entry> {
    entries
        .into_iter()
        .filter_map(|(stream, entry)| {
            let account = cluster.account_of(&stream)?.to_string();
            Some(Entry {
                account,
                stream,
                entry,
            })
        })
        .collect()
}

fn read_cmd(consumer: &str, streams: &[String], from: &str, block: Option<Duration>) -> redis::Cmd {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP").arg(GROUP).arg(consumer);
    cmd.arg("COUNT").arg(BATCH);
    if let Some(block) = block {
        cmd.arg("BLOCK").arg(block.as_millis() as u64);
    }
    cmd.arg("STREAMS").arg(streams);
    for _ in streams {
        cmd.arg(from);
    }
    cmd
}

impl Cluster {
    /// Makes the group of `stream` (and the stream) unless it exists; a new group reads the
    /// stream from its start, so receipts added before any instance read it are not skipped.
    async fn create_group(&self, stream: &str) -> Result<(), redis::RedisError> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM");
        match self.run::<()>(&cmd).await {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            r => r,
        }
    }

    /// Reads `streams` from `from` on the shared connection (without blocking).
    async fn read_group(
        &self,
        consumer: &str,
        streams: &[String],
        from: &str,
    ) -> Result<Vec<(String, StreamId)>, redis::RedisError> {
        let reply: Option<StreamReadReply> =
            self.run(&read_cmd(consumer, streams, from, None)).await?;
        Ok(flatten(reply))
    }

    /// Takes over the entries of `stream` nobody acknowledged for `cluster.claim_after`.
    async fn claim_idle(
        &self,
        consumer: &str,
        stream: &str,
    ) -> Result<Vec<StreamId>, redis::RedisError> {
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(stream)
            .arg(GROUP)
            .arg(consumer)
            .arg(self.settings.claim_after.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(BATCH);
        let reply: StreamAutoClaimReply = self.run(&cmd).await?;
        Ok(reply.claimed)
    }

    /// Acknowledges and deletes the entries done with, in one round trip. An entry whose
    /// acknowledgement fails is delivered again (at least once).
    async fn acknowledge(&self, done: &[(String, String)]) {
        if done.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for (stream, id) in done {
            pipe.cmd("XACK").arg(stream).arg(GROUP).arg(id).ignore();
            pipe.cmd("XDEL").arg(stream).arg(id).ignore();
        }
        let _ = self.run_pipe::<()>(&pipe).await;
    }
}

/// Delivers the entries, all at once; the (stream, id) of those done with. A delivery not
/// done within `patience` (a client slow to answer) stays pending and is tried again later, so
/// that one slow client does not hold up the receipts of every other account read here.
async fn deliver_all(
    registry: &Registry,
    outbox: &Outbox,
    metrics: &Metrics,
    entries: Vec<Entry>,
    patience: Duration,
) -> Vec<(String, String)> {
    let now = unix_now();
    let each = entries.into_iter().map(|e| async move {
        let delivered = deliver_one(registry, outbox, metrics, &e, now);
        let done = tokio::time::timeout(patience, delivered)
            .await
            .unwrap_or(false);
        done.then_some((e.stream, e.entry.id))
    });
    futures_util::future::join_all(each)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Delivers one entry; whether it is done with (delivered, refused for good, expired, or
/// unreadable).
async fn deliver_one(
    registry: &Registry,
    outbox: &Outbox,
    metrics: &Metrics,
    e: &Entry,
    now: u64,
) -> bool {
    let field = |name: &str| -> Option<Vec<u8>> {
        e.entry
            .map
            .get(name)
            .and_then(|v: &Value| redis::from_redis_value_ref(v).ok())
    };
    let expires = field("exp")
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    if expires <= now {
        metrics.add(&counters::RECEIPTS, &["expired"], 1);
        tracing::warn!(account = %e.account, "cluster: a receipt expired before a session of its account took it");
        return true;
    }
    let Some(sm) = field("pdu").and_then(|b| decode(&bytes::Bytes::from(b))) else {
        metrics.add(&counters::RECEIPTS, &["unreadable"], 1);
        tracing::error!(account = %e.account, "cluster: an unreadable receipt in Redis is dropped");
        return true;
    };
    if let Some(id) = field("id").and_then(|b| String::from_utf8(b).ok()) {
        // Its message's answer may still be on its way to a client here.
        outbox.answers().wait(&id).await;
    }
    match registry.deliver(&e.account, sm).await {
        Ok(_session) => {
            metrics.add(&counters::RECEIPTS, &["delivered"], 1);
            true
        }
        Err(err) if err.is_final() => {
            metrics.add(&counters::RECEIPTS, &["refused"], 1);
            tracing::warn!(account = %e.account, status = %err, "the client refused a receipt for good; it is not offered again");
            true
        }
        Err(err) => {
            tracing::debug!(account = %e.account, reason = %err, "cluster: receipt kept in its stream for a later attempt");
            false
        }
    }
}
