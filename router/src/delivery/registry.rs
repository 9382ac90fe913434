//! Bound client sessions by account, and delivery of `deliver_sm` (receipts, MO) to them:
//! round-robin over the account's receiver and transceiver sessions, retried on another session
//! on timeout or error, with the `deliver_sm_resp` status reported back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::shards::Held;

use crate::smpp::CommandStatus;
use crate::smpp::pdu::Sm;
use crate::smpp::session::BindMode;

/// Sessions a delivery is offered to before it fails.
const ATTEMPTS: usize = 3;

/// A `deliver_sm` for one session, with where to report its outcome.
pub struct DeliverJob {
    /// The PDU body.
    pub sm: Sm,
    /// The `deliver_sm_resp` status, or why there was none.
    pub done: oneshot::Sender<Result<CommandStatus, DeliverError>>,
}

/// Why a delivery failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    /// The account has no receiver or transceiver session bound.
    #[error("no receiving session is bound")]
    NotBound,
    /// No `deliver_sm_resp` in time (the client may or may not have it).
    #[error("no deliver_sm_resp in time")]
    Timeout,
    /// The session closed before answering.
    #[error("the session closed")]
    Closed,
    /// Every attempt was answered with an error status.
    #[error("the client refused it with {0}")]
    Refused(CommandStatus),
}

impl DeliverError {
    /// Whether the client said it will never take this delivery: `ESME_RX_P_APPN` (stop
    /// retrying) or `ESME_RX_R_APPN` (it rejects the message). Offering it again is pointless.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Refused(CommandStatus::RX_P_APPN | CommandStatus::RX_R_APPN)
        )
    }
}

/// A bound session as the registry knows it.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// Server-wide session id.
    pub id: u64,
    /// The account.
    pub system_id: String,
    /// Bind mode.
    pub mode: BindMode,
    /// Peer address.
    pub peer: SocketAddr,
    /// The data-path thread serving it (`limits.threads`; none outside the router's threads).
    pub thread: Option<usize>,
}

struct Entry {
    info: SessionInfo,
    tx: mpsc::Sender<DeliverJob>,
    /// Deliveries handed to it and not yet answered.
    outstanding: Arc<AtomicUsize>,
}

/// A session on the caller's shard is preferred while fewer deliveries than this wait on it; a
/// client slow to answer then gets its share, not every receipt coming in on its thread.
const LOCAL_OUTSTANDING: usize = 64;

/// The session a delivery goes to.
struct Picked {
    id: u64,
    tx: mpsc::Sender<DeliverJob>,
    outstanding: Arc<AtomicUsize>,
}

/// The registry of bound sessions.
pub struct Registry {
    next_id: AtomicU64,
    rr: AtomicUsize,
    sessions: Mutex<HashMap<String, Vec<Entry>>>,
    response_timeout: Duration,
}

impl Registry {
    /// A registry whose deliveries wait `response_timeout` per attempt.
    pub fn new(response_timeout: Duration) -> Self {
        Self {
            next_id: AtomicU64::new(1),
            rr: AtomicUsize::new(0),
            sessions: Mutex::new(HashMap::new()),
            response_timeout,
        }
    }

    /// A new server-wide session id.
    pub fn next_session_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a bound session.
    pub fn register(&self, info: SessionInfo, tx: mpsc::Sender<DeliverJob>) {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(info.system_id.clone()).or_default().push(Entry {
            info,
            tx,
            outstanding: Arc::default(),
        });
    }

    /// Registers a session unless `system_id` has `max` or more already, in one step (two binds
    /// at once cannot both take the last place); whether it was registered.
    pub fn register_within(
        &self,
        info: SessionInfo,
        tx: mpsc::Sender<DeliverJob>,
        max: usize,
    ) -> bool {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let sessions = map.entry(info.system_id.clone()).or_default();
        if sessions.len() >= max {
            if sessions.is_empty() {
                map.remove(&info.system_id);
            }
            return false;
        }
        sessions.push(Entry {
            info,
            tx,
            outstanding: Arc::default(),
        });
        true
    }

    /// Removes a session.
    pub fn unregister(&self, system_id: &str, id: u64) {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = map.get_mut(system_id) {
            v.retain(|e| e.info.id != id);
            if v.is_empty() {
                map.remove(system_id);
            }
        }
    }

    /// Sessions bound for `system_id`.
    pub fn bound(&self, system_id: &str) -> usize {
        let map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.get(system_id).map_or(0, Vec::len)
    }

    /// Every bound session.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.values().flatten().map(|e| e.info.clone()).collect()
    }

    /// The accounts with a session that can receive.
    pub fn receiving_accounts(&self) -> Vec<String> {
        let map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter(|(_, v)| {
                v.iter()
                    .any(|e| e.info.mode.can_deliver() && !e.tx.is_closed())
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Whether `system_id` has a session that can receive.
    pub fn can_receive(&self, system_id: &str) -> bool {
        self.pick(system_id, &[]).is_some()
    }

    /// Round-robin over the receiving sessions, preferring those not in `tried`, and among
    /// those the ones on the caller's shard that keep up (the delivery's work stays on this
    /// core).
    fn pick(&self, system_id: &str, tried: &[u64]) -> Option<Picked> {
        let map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let entries = map.get(system_id)?;
        let here = crate::shards::current();
        let receives = |e: &&Entry| e.info.mode.can_deliver() && !e.tx.is_closed();
        let fresh = |e: &&Entry| receives(e) && !tried.contains(&e.info.id);
        let local = |e: &&Entry| {
            here.is_some()
                && e.info.thread == here
                && e.outstanding.load(Ordering::Relaxed) < LOCAL_OUTSTANDING
                && fresh(e)
        };
        // Counted, then taken by position: no list is built per delivery.
        let (pool, n): (&dyn Fn(&&Entry) -> bool, usize) =
            match entries.iter().filter(local).count() {
                0 => match entries.iter().filter(fresh).count() {
                    0 => (&receives, entries.iter().filter(receives).count()),
                    n => (&fresh, n),
                },
                n => (&local, n),
            };
        if n == 0 {
            return None;
        }
        let i = self.rr.fetch_add(1, Ordering::Relaxed) % n;
        // A session can close between the two passes: then take any that still receives.
        let e = entries
            .iter()
            .filter(pool)
            .nth(i)
            .or_else(|| entries.iter().find(receives))?;
        Some(Picked {
            id: e.info.id,
            tx: e.tx.clone(),
            outstanding: e.outstanding.clone(),
        })
    }

    /// Delivers `sm` to one of the account's receiving sessions, trying others on failure (a
    /// session that timed out or closed may be tried again; one that refused it is not). The
    /// session that acknowledged it.
    pub async fn deliver(&self, system_id: &str, sm: Sm) -> Result<u64, DeliverError> {
        let mut last = DeliverError::NotBound;
        let mut tried = [0; ATTEMPTS];
        for attempt in 0..ATTEMPTS {
            let Some(Picked {
                id,
                tx,
                outstanding,
            }) = self.pick(system_id, &tried[..attempt])
            else {
                return Err(last);
            };
            // A session that answered with an error status has answered: it is not asked again
            // (another session of the account may be).
            if matches!(last, DeliverError::Refused(_)) && tried[..attempt].contains(&id) {
                return Err(last);
            }
            tried[attempt] = id;
            let _outstanding = Held::new(outstanding);
            let (done, rx) = oneshot::channel();
            if tx
                .send(DeliverJob {
                    sm: sm.clone(),
                    done,
                })
                .await
                .is_err()
            {
                last = DeliverError::Closed;
                continue;
            }
            // The session enforces the response timeout; this bound only guards against a
            // session task that vanished without answering.
            let wait = self.response_timeout + Duration::from_secs(5);
            match tokio::time::timeout(wait, rx).await {
                Ok(Ok(Ok(status))) if status.is_ok() => return Ok(id),
                Ok(Ok(Ok(status))) => {
                    last = DeliverError::Refused(status);
                    if last.is_final() {
                        return Err(last);
                    }
                }
                Ok(Ok(Err(e))) => last = e,
                Ok(Err(_)) => last = DeliverError::Closed,
                Err(_) => last = DeliverError::Timeout,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shards::Shards;

    fn session(id: u64) -> SessionInfo {
        SessionInfo {
            id,
            system_id: "acme".into(),
            mode: BindMode::Transceiver,
            peer: "127.0.0.1:1".parse().expect("addr"),
            thread: crate::shards::current(),
        }
    }

    #[test]
    fn binds_beyond_the_limit_are_not_registered_even_at_once() {
        let registry = Arc::new(Registry::new(Duration::from_secs(5)));
        let taken: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (1..=8)
                .map(|id| {
                    let r = registry.clone();
                    s.spawn(move || r.register_within(session(id), mpsc::channel(1).0, 3))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert_eq!(taken.iter().filter(|t| **t).count(), 3);
        assert_eq!(registry.bound("acme"), 3);
        registry.unregister("acme", registry.sessions()[0].id);
        assert!(registry.register_within(session(9), mpsc::channel(1).0, 3));
    }

    /// Runs `f` on shard `i` and returns what it gave.
    fn on<T: Send + 'static>(
        shards: &Shards,
        i: usize,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        shards.spawn_on(i, async move {
            let _ = tx.send(f());
        });
        rx.recv().expect("ran")
    }

    /// A delivery from a shard goes to a session on that shard; when it cannot take it (tried
    /// already, or closed), to another; from elsewhere, in turn over all of them.
    #[test]
    fn deliveries_prefer_a_session_on_their_own_shard() {
        let (shards, threads) = Shards::start(2).expect("shards");
        let registry = Arc::new(Registry::new(Duration::from_secs(5)));
        let mut receivers = Vec::new();
        for shard in 0..2 {
            let (tx, rx) = mpsc::channel(16);
            let r = registry.clone();
            on(&shards, shard, move || {
                r.register(session(shard as u64 + 1), tx)
            });
            receivers.push(rx);
        }
        let pick = |shard, tried: Vec<u64>| {
            let r = registry.clone();
            on(&shards, shard, move || r.pick("acme", &tried).map(|p| p.id))
        };
        for _ in 0..4 {
            assert_eq!(pick(1, vec![]), Some(2));
            assert_eq!(pick(0, vec![]), Some(1));
        }
        assert_eq!(pick(1, vec![2]), Some(1), "tried there already");
        let mut elsewhere: Vec<_> = (0..4)
            .map(|_| registry.pick("acme", &[]).map(|p| p.id))
            .collect();
        elsewhere.sort();
        assert_eq!(elsewhere, [Some(1), Some(1), Some(2), Some(2)]);
        // A session there with many deliveries unanswered gets only its turn.
        let busy: Vec<_> = (0..LOCAL_OUTSTANDING)
            .map(|_| {
                let r = registry.clone();
                on(&shards, 1, move || {
                    Held::new(r.pick("acme", &[]).expect("a session").outstanding)
                })
            })
            .collect();
        let mut turns: Vec<_> = (0..4).map(|_| pick(1, vec![])).collect();
        turns.sort();
        assert_eq!(turns, [Some(1), Some(1), Some(2), Some(2)], "busy: in turn");
        drop(busy);
        assert_eq!(pick(1, vec![]), Some(2), "answered: back to its own");
        receivers.pop();
        assert_eq!(pick(1, vec![]), Some(1), "the session there closed");
        threads.stop();
    }
}
