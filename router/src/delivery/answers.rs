//! Receipts never overtake their `submit_sm_resp`.
//!
//! A carrier (or plugin) may report a message delivered within milliseconds, sometimes before
//! the router has written `submit_sm_resp` to the client: the receipt and the answer travel
//! different paths (the carrier's session and the store; the routing task and the client's
//! connection). A client that meets a receipt for an id it has not been given yet drops it
//! (Kannel: "got DLR but could not find message"). So every accepted message's id is *open*
//! from routing until the client's connection has written its answer to the socket (so that it
//! also goes first when the receipt takes a separate receiver bind), and a receipt for an open
//! id waits (at most [`MAX_WAIT`]) until it is closed.
//!
//! Ids are the router's decimal ids; the set is sharded by id so that the two mutex operations a
//! message costs do not contend.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The longest a receipt waits for its message's answer (a client that vanished never closes
/// its ids).
pub const MAX_WAIT: Duration = Duration::from_secs(2);
/// Open ids older than this count as closed, and are forgotten at the next pruning: a message
/// is answered within its route's deadline (seconds), and ids whose client went away are
/// closed by its connection — this only bounds what slips through.
const STALE: Duration = Duration::from_secs(60);
/// Inserts into a shard between two prunings of its stale ids.
const PRUNE_EVERY: u32 = 4096;
const SHARDS: usize = 16;

/// An open id: since when, and the receipts waiting for it (made on the first wait).
struct Open {
    since: Instant,
    closed: Option<Arc<Notify>>,
}

#[derive(Default)]
struct Shard {
    open: crate::fast_map::FastMap<u64, Open>,
    inserts: u32,
}

/// The ids whose answer is not written yet.
pub struct AnswerGate {
    shards: [Mutex<Shard>; SHARDS],
}

impl Default for AnswerGate {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
        }
    }
}

/// The numeric key of a router id; `None` for ids the router did not mint.
pub fn key(id: &str) -> Option<u64> {
    id.parse().ok()
}

impl AnswerGate {
    fn shard(&self, key: u64) -> &Mutex<Shard> {
        // Router ids end in a per-millisecond sequence that is mostly 0 at low rates: mix in
        // the millisecond so that ids spread over the shards at any rate.
        let mixed = key ^ (key >> 22);
        &self.shards[(mixed % SHARDS as u64) as usize]
    }

    /// Marks `id` as routed but not yet answered.
    pub fn open(&self, id: &str) {
        let Some(k) = key(id) else { return };
        if let Ok(mut s) = self.shard(k).lock() {
            let now = Instant::now();
            s.inserts = s.inserts.wrapping_add(1);
            if s.inserts % PRUNE_EVERY == 0 {
                s.open.retain(|_, o| {
                    let fresh = now.duration_since(o.since) < STALE;
                    if !fresh && let Some(n) = &o.closed {
                        n.notify_waiters();
                    }
                    fresh
                });
            }
            s.open.insert(
                k,
                Open {
                    since: now,
                    closed: None,
                },
            );
        }
    }

    /// Marks the message as answered (its `submit_sm_resp` is queued), or as never to be. Only
    /// the receipts waiting for this id wake.
    pub fn close(&self, key: Option<u64>) {
        let Some(k) = key else { return };
        let removed = self
            .shard(k)
            .lock()
            .ok()
            .and_then(|mut s| s.open.remove(&k));
        if let Some(Open {
            closed: Some(n), ..
        }) = removed
        {
            n.notify_waiters();
        }
    }

    /// What to wait on while `k` is open; `None` once it is closed (or stale).
    fn waiter(&self, k: u64) -> Option<Arc<Notify>> {
        let mut s = self.shard(k).lock().ok()?;
        let o = s.open.get_mut(&k)?;
        if o.since.elapsed() >= STALE {
            return None;
        }
        Some(
            o.closed
                .get_or_insert_with(|| Arc::new(Notify::new()))
                .clone(),
        )
    }

    /// Waits until `id` is answered, at most [`MAX_WAIT`].
    pub async fn wait(&self, id: &str) {
        let Some(k) = key(id) else { return };
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        loop {
            let Some(notify) = self.waiter(k) else { return };
            let closed = notify.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            // Closed between taking the waiter and enabling it: `close` removed the entry
            // first, so looking again tells.
            if self.waiter(k).is_none() {
                return;
            }
            if tokio::time::timeout_at(deadline, closed).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_ends_when_the_id_is_closed_and_unknown_ids_do_not_wait() {
        let g = Arc::new(AnswerGate::default());
        g.wait("not-a-router-id").await;
        g.wait("123456789").await;
        g.open("987654321");
        let waiting = g.clone();
        let waiter = tokio::spawn(async move { waiting.wait("987654321").await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiter.is_finished(), "open: the receipt waits");
        g.close(key("987654321"));
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_gives_up_after_the_maximum() {
        let gate = AnswerGate::default();
        gate.open("555000111");
        let t0 = tokio::time::Instant::now();
        gate.wait("555000111").await;
        assert!(t0.elapsed() >= MAX_WAIT);
        gate.close(key("555000111"));
    }
}
