//! The outbox: receipts (and other `deliver_sm`) on their way to client accounts — from
//! carriers, and those the router makes itself when the session that sent the message cannot
//! take them — kept in the store until a client acknowledges them.
//!
//! [`Outbox::push`] first offers a delivery to the account's bound receiver/transceiver sessions:
//! when the client acknowledges it at once, it is safe without touching the disk. Otherwise it
//! is made durable in the store — either way the carrier's `deliver_sm` is answered only after
//! that — and delivered from there. What is not acknowledged stays in the store: a sweeper retries every account that can receive now
//! (so receipts reach a client at its next bind, also after a restart), oldest first, until the
//! delivery expires (default 72 h).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::delivery::answers::AnswerGate;
use crate::delivery::counters::DELIVERIES;
use crate::delivery::receipts::unix_now;
use crate::delivery::registry::{DeliverError, Registry};
use crate::delivery::resends::Resends;
use crate::smpp::pdu::{Command, Pdu, Sm};
use crate::store::{Event, EventKind, PendingDelivery, Store, StoreError, history};

/// How often accounts with undelivered items are retried.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long a delivery to a bound client may hold up the carrier's answer before it is stored
/// as well (the delivery under way is still awaited; see [`Outbox::push`]). Short: a carrier
/// resends what it has no answer for, typically after a second.
const DIRECT_WAIT: Duration = Duration::from_millis(250);
/// Deliveries still awaited after [`DIRECT_WAIT`], at most (all accounts): beyond this many a
/// slow client's stored copy is sent on its own, as if the first delivery had failed (it may
/// then get the receipt twice — at least once), so that memory stays bounded.
const MAX_LATE: usize = 4096;
/// Deliveries taken from the store per account per sweep.
const BATCH: usize = 256;
/// Deliveries refused for now ([`Sent::Refused`]) after which a drain stops until the next sweep.
const MAX_REFUSED: usize = 64;
/// How many of the newest stored deliveries [`Outbox::remember_stored`] reads at start: more than
/// carriers keep unanswered in flight (a window per bind).
const REMEMBER_AT_START: usize = 65_536;

/// How long a receipt that nobody would send again (one the router made itself, a plugin's)
/// waits for a store that cannot write, trying again every second, before it is given up.
const OWN_RECEIPT_PATIENCE: Duration = Duration::from_secs(15 * 60);

/// Durable delivery to client accounts.
pub struct Outbox {
    store: Arc<dyn Store>,
    ttl: Duration,
    /// The sessions that can receive.
    registry: Arc<Registry>,
    /// The router's counters.
    metrics: Arc<crate::metrics::Metrics>,
    /// Receipts wait for their message's answer here.
    answers: AnswerGate,
    /// The receipts handed on, so that a carrier's resend is not delivered twice.
    resends: Resends,
    /// Accounts that may have stored deliveries (all of them after a start).
    waiting: Mutex<HashSet<String>>,
    /// Accounts being drained now.
    draining: Mutex<HashSet<String>>,
    /// Stored deliveries being delivered now (by [`Outbox::push`] or a sweep): one task each.
    held: Mutex<HashSet<u64>>,
    /// Deliveries awaited after [`DIRECT_WAIT`] (at most [`MAX_LATE`]).
    late: AtomicUsize,
    /// Itself, for the tasks it starts (a late delivery's end, a sweep).
    me: Weak<Outbox>,
}

impl Outbox {
    /// An outbox over `store` delivering to `registry`'s sessions; deliveries expire after
    /// `ttl`. Every account in `accounts` is checked for deliveries left from an earlier run.
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        metrics: Arc<crate::metrics::Metrics>,
        ttl: Duration,
        accounts: impl IntoIterator<Item = String>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            store,
            ttl,
            registry,
            metrics,
            answers: AnswerGate::default(),
            resends: Resends::default(),
            waiting: Mutex::new(accounts.into_iter().collect()),
            draining: Mutex::new(HashSet::new()),
            held: Mutex::new(HashSet::new()),
            late: AtomicUsize::new(0),
        })
    }

    /// The store behind it.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The ids whose `submit_sm_resp` is not written yet: their receipts wait.
    pub fn answers(&self) -> &AnswerGate {
        &self.answers
    }

    /// The receipts already handed on.
    pub fn resends(&self) -> &Resends {
        &self.resends
    }

    /// Starts the sweeper: every second, stored deliveries go out to accounts that have a
    /// receiving session. It stops when the outbox is dropped.
    pub fn start_sweeper(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(me) = me.upgrade() else { return };
                me.sweep();
            }
        });
    }

    /// Hands `sm` to `account`. Resolves once it is safe: either a bound client acknowledged it
    /// at once (no store write needed — the client has it), or it is durable in the store, from
    /// where it is delivered later. Either way the caller may then acknowledge the carrier.
    ///
    /// A client slower than [`DIRECT_WAIT`] does not get the receipt twice: it is stored so
    /// that the carrier can be answered, but the delivery already on its way is still awaited,
    /// and when the client acknowledges it the stored copy is removed unsent. Only when that
    /// delivery fails is the stored copy sent.
    pub async fn push(&self, account: &str, sm: Sm) -> Result<(), StoreError> {
        let mut on_its_way = None;
        // The client refused it for now: the stored copy waits for the next sweep (a second)
        // instead of being offered again at once.
        let mut refused = false;
        if self.registry.can_receive(account) {
            let (to, copy) = (account.to_string(), sm.clone());
            let registry = self.registry.clone();
            let mut delivery = Box::pin(async move { registry.deliver(&to, copy).await });
            match tokio::time::timeout(DIRECT_WAIT, &mut delivery).await {
                Ok(Ok(session)) => {
                    self.metrics.add(&DELIVERIES, &[account, "direct"], 1);
                    self.note(history_key(&sm), EventKind::delivered("direct", session));
                    return Ok(());
                }
                Ok(r) if refused_for_good(&self.metrics, account, None, &r) => return Ok(()),
                Ok(r) => refused = matches!(r, Err(DeliverError::Refused(_))),
                Err(_) => {
                    let slot = Late::take(self);
                    if slot.0.is_some() {
                        on_its_way = Some((delivery, slot));
                    }
                }
            }
        }
        let Some(pdu) = encode(&sm) else {
            // Decoded from the wire and only its id rewritten, so this cannot happen; answering
            // the carrier anyway avoids an endless resend of something we could never store.
            tracing::error!(%account, "a deliver_sm that cannot be re-encoded was dropped");
            return Ok(());
        };
        let expires = unix_now() + self.ttl.as_secs();
        let key = match self.store.enqueue(account, pdu, expires).await {
            Ok(key) => key,
            Err(e) => {
                // The store cannot keep it. A delivery already on its way is awaited rather than
                // dropped: its `deliver_sm` is in the session's queue whatever happens here, so
                // giving up on it would only make the caller send the receipt again.
                if let Some((delivery, _slot)) = on_its_way
                    && let Ok(session) = delivery.await
                {
                    self.metrics.add(&DELIVERIES, &[account, "direct_late"], 1);
                    self.note(history_key(&sm), EventKind::delivered("late", session));
                    return Ok(());
                }
                return Err(e);
            }
        };
        self.metrics.add(&DELIVERIES, &[account, "stored"], 1);
        self.note(history_key(&sm), EventKind::Stored);
        let claimed = self.claim(key);
        let Some(me) = self.me.upgrade() else {
            // Only while the outbox itself is being dropped: the copy is stored, and the next
            // start sweeps it out.
            self.release(key);
            return Ok(());
        };
        tokio::spawn(me.after_stored(account.to_string(), key, sm, on_its_way, claimed, refused));
        Ok(())
    }

    /// After `push` stored a copy (`key`): waits for the delivery still on its way, if any; then
    /// removes the copy when that delivery was acknowledged, leaves it for the next sweep when
    /// the client refused it for now, or sends it. Only when `claimed` (else the sweeper took
    /// it between its commit and here, and delivers it).
    async fn after_stored<F>(
        self: Arc<Self>,
        account: String,
        key: u64,
        sm: Sm,
        on_its_way: Option<(F, Late)>,
        claimed: bool,
        mut refused: bool,
    ) where
        F: std::future::Future<Output = Result<u64, DeliverError>>,
    {
        let late = match on_its_way {
            Some((delivery, _slot)) => Some(delivery.await),
            None => None,
        };
        if !claimed {
            return;
        }
        let late = match late {
            Some(Ok(session)) => {
                self.metrics.add(&DELIVERIES, &[&account, "direct_late"], 1);
                self.note(history_key(&sm), EventKind::delivered("late", session));
                true
            }
            Some(r) => {
                refused |= matches!(r, Err(DeliverError::Refused(_)));
                refused_for_good(&self.metrics, &account, Some(key), &r)
            }
            None => false,
        };
        let delivered = if late {
            if let Err(e) = self.store.dequeue(key).await {
                tracing::error!(%account, error = %e, "store: cannot remove a delivered receipt; it may be sent again");
            }
            true
        } else if refused {
            false
        } else {
            self.deliver_one(&account, key, sm).await == Sent::Done
        };
        self.release(key);
        if !delivered {
            self.mark_waiting(&account);
        }
    }

    /// [`Outbox::push`] for a receipt nobody would send again if it failed (the router's own,
    /// a plugin's): while the store cannot write it tries again every second, for up to
    /// [`OWN_RECEIPT_PATIENCE`], instead of failing at once as a carrier's receipt does (the
    /// carrier resends those).
    pub async fn push_own(&self, account: &str, sm: Sm) -> Result<(), StoreError> {
        patiently(|| self.push(account, sm.clone())).await
    }

    /// [`Outbox::keep`], as patient as [`Outbox::push_own`].
    pub async fn keep_own(&self, account: &str, sm: Sm) -> Result<(), StoreError> {
        patiently(|| self.keep(account, sm.clone())).await
    }

    /// Keeps `sm` for `account` in the store without offering it now (the client refused it for
    /// now): the sweeper offers it again within a second.
    pub async fn keep(&self, account: &str, sm: Sm) -> Result<(), StoreError> {
        let Some(pdu) = encode(&sm) else {
            tracing::error!(%account, "a deliver_sm that cannot be re-encoded was dropped");
            return Ok(());
        };
        let expires = unix_now() + self.ttl.as_secs();
        self.store.enqueue(account, pdu, expires).await?;
        self.metrics.add(&DELIVERIES, &[account, "stored"], 1);
        self.mark_waiting(account);
        Ok(())
    }

    /// Remembers the receipts stored last (by this run or the one before) as handed on, so that
    /// a carrier that sends one again after a restart — the old process died before answering
    /// it — is answered without a second delivery (the stored copy is delivered). Call at start.
    pub fn remember_stored(&self) {
        match self.store.newest_pending(REMEMBER_AT_START) {
            Ok(items) => {
                let n = items
                    .iter()
                    .filter(|item| decode(&item.pdu).is_some_and(|sm| self.resends.stored(&sm)))
                    .count();
                if n > 0 {
                    tracing::info!(
                        receipts = n,
                        "stored receipts remembered: a carrier's resend of one is not delivered twice"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "store: cannot read the stored receipts; a carrier's resend of one may reach its client twice");
            }
        }
    }

    /// Claims the delivery of stored item `key`; false when another task has it.
    fn claim(&self, key: u64) -> bool {
        self.held.lock().is_ok_and(|mut h| h.insert(key))
    }

    fn release(&self, key: u64) {
        if let Ok(mut h) = self.held.lock() {
            h.remove(&key);
        }
    }

    /// Marks `accounts` as possibly having stored deliveries (after a start or a reload).
    pub fn recheck(&self, accounts: impl IntoIterator<Item = String>) {
        if let Ok(mut w) = self.waiting.lock() {
            w.extend(accounts);
        }
    }

    fn mark_waiting(&self, account: &str) {
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(account.to_string());
        }
    }

    /// Tries one delivery of stored item `key`; it leaves the store when the client acknowledged
    /// it, or refused it for good.
    async fn deliver_one(&self, account: &str, key: u64, sm: Sm) -> Sent {
        let traced = history_key(&sm);
        let r = self.registry.deliver(account, sm).await;
        if r.is_ok() || refused_for_good(&self.metrics, account, Some(key), &r) {
            if let Ok(session) = r {
                self.metrics.add(&DELIVERIES, &[account, "from_store"], 1);
                self.note(traced, EventKind::delivered("swept", session));
            }
            if let Err(e) = self.store.dequeue(key).await {
                tracing::error!(%account, error = %e, "store: cannot remove a delivered receipt; it may be sent again");
            }
            return Sent::Done;
        }
        match r {
            Err(DeliverError::Refused(status)) => {
                tracing::debug!(%account, key, %status, "the client refused a receipt for now; kept for a later attempt");
                Sent::Refused
            }
            Err(e) => {
                tracing::debug!(%account, reason = %e, "receipt kept for a later attempt");
                Sent::Failed
            }
            Ok(_) => Sent::Done,
        }
    }

    /// Keeps what became of a receipt in the history of message `key` (queued; nothing waits
    /// for it).
    fn note(&self, key: Option<u64>, kind: EventKind) {
        let Some(key) = key else {
            return;
        };
        let event = Event {
            at_ms: history::now_ms(),
            kind,
        };
        self.store.note(key, event, None);
    }

    /// The accounts that may have stored deliveries and no receiving session here: a cluster
    /// hands theirs to an instance that has one ([`Outbox::hand_over`]).
    pub fn waiting_elsewhere(&self) -> Vec<String> {
        match self.waiting.lock() {
            Ok(w) => w
                .iter()
                .filter(|a| !self.registry.can_receive(a))
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Moves `account`'s stored deliveries out of the store while it has no receiving session
    /// here: `send` takes a batch and resolves `true` once it is kept elsewhere (durably); the
    /// batch then leaves the store. True when none is left.
    pub async fn hand_over<F, Fut>(&self, account: &str, send: F) -> bool
    where
        F: Fn(Vec<PendingDelivery>) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        if self.registry.can_receive(account) {
            return false; // The sweeper delivers them here.
        }
        let fresh = self
            .draining
            .lock()
            .map(|mut d| d.insert(account.to_string()))
            .unwrap_or(false);
        if !fresh {
            return false;
        }
        // Out of the waiting set first (as a sweep does): a receipt stored meanwhile marks the
        // account again, and a hand-over that does not finish puts it back.
        if let Ok(mut w) = self.waiting.lock() {
            w.remove(account);
        }
        let done = loop {
            let batch = match self.store.pending(account, unix_now(), BATCH) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(%account, error = %e, "store: cannot read pending receipts");
                    break false;
                }
            };
            let full = batch.len() == BATCH;
            let read = batch.len();
            let mut batch: Vec<PendingDelivery> =
                batch.into_iter().filter(|i| self.claim(i.key)).collect();
            if batch.len() < read {
                // Some are being delivered here now: look again later.
                batch.iter().for_each(|i| self.release(i.key));
                break false;
            }
            // The batch was read a while ago: a delivery that finished meanwhile removed some.
            batch.retain(|i| {
                let pending = self.store.is_pending(i.key).unwrap_or(true);
                if !pending {
                    self.release(i.key);
                }
                pending
            });
            if batch.is_empty() {
                break !full;
            }
            let keys: Vec<u64> = batch.iter().map(|i| i.key).collect();
            let sent = send(batch).await;
            let mut removed = true;
            if sent {
                let removals: Vec<_> = keys.iter().map(|&k| self.store.dequeue(k)).collect();
                for (r, k) in futures_util::future::join_all(removals)
                    .await
                    .into_iter()
                    .zip(&keys)
                {
                    if let Err(e) = r {
                        removed = false;
                        tracing::error!(%account, key = k, error = %e, "store: cannot remove a receipt handed over; it may be sent twice");
                    }
                }
                self.metrics
                    .add(&DELIVERIES, &[account, "handed_over"], keys.len() as u64);
            }
            keys.iter().for_each(|&k| self.release(k));
            if !sent || !removed {
                break false;
            }
            if !full {
                break true;
            }
        };
        if let Ok(mut d) = self.draining.lock() {
            d.remove(account);
        }
        if !done {
            self.mark_waiting(account);
        }
        done
    }

    /// Starts a drain for every waiting account that has a receiving session now.
    fn sweep(self: &Arc<Self>) {
        let ready: Vec<String> = match self.waiting.lock() {
            Ok(w) => w
                .iter()
                .filter(|a| self.registry.can_receive(a))
                .cloned()
                .collect(),
            Err(_) => return,
        };
        for account in ready {
            let fresh = self
                .draining
                .lock()
                .map(|mut d| d.insert(account.clone()))
                .unwrap_or(false);
            if !fresh {
                continue;
            }
            if let Ok(mut w) = self.waiting.lock() {
                w.remove(&account);
            }
            let me = self.clone();
            tokio::spawn(async move {
                let complete = me.drain(&account).await;
                if let Ok(mut d) = me.draining.lock() {
                    d.remove(&account);
                }
                if !complete {
                    me.mark_waiting(&account);
                }
            });
        }
    }

    /// Delivers the account's stored items in order; true when none is left. An item the
    /// client refuses for now (`ESME_RX_T_APPN` and the like) stays for the next sweep without
    /// holding up the ones behind it; after [`MAX_REFUSED`] of them the drain stops until then.
    async fn drain(&self, account: &str) -> bool {
        let mut refused: HashSet<u64> = HashSet::new();
        loop {
            // The items refused in this drain are still at the head: read past them.
            let limit = BATCH + refused.len();
            let batch = match self.store.pending(account, unix_now(), limit) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(%account, error = %e, "store: cannot read pending receipts");
                    return false;
                }
            };
            let full = batch.len() == limit;
            let mut progress = false;
            for item in batch {
                if refused.contains(&item.key) {
                    continue;
                }
                if !self.claim(item.key) {
                    // Its own delivery is under way; it comes back here if that fails.
                    continue;
                }
                // The batch was read a while ago: a delivery that finished meanwhile removed it.
                if !self.store.is_pending(item.key).unwrap_or(true) {
                    self.release(item.key);
                    continue;
                }
                let Some(sm) = decode(&item.pdu) else {
                    tracing::error!(%account, key = item.key, "store: an unreadable receipt is dropped");
                    let _ = self.store.dequeue(item.key).await;
                    self.release(item.key);
                    progress = true;
                    continue;
                };
                let sent = self.deliver_one(account, item.key, sm).await;
                self.release(item.key);
                match sent {
                    Sent::Done => progress = true,
                    Sent::Refused => {
                        refused.insert(item.key);
                        if refused.len() >= MAX_REFUSED {
                            return false;
                        }
                    }
                    Sent::Failed => return false,
                }
            }
            if !full {
                return refused.is_empty();
            }
            if !progress {
                return false; // Nothing but held or refused items: look again at the next sweep.
            }
        }
    }
}

/// What became of one delivery from the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    /// Acknowledged, or refused for good: it left the store.
    Done,
    /// Refused for now: it stays, and the account's other items go on.
    Refused,
    /// No session took it (none bound, it closed, no answer): it stays, and so do the others.
    Failed,
}

/// Whether `r` is a refusal for good (see [`DeliverError::is_final`]); logs it, since the receipt
/// is then dropped: the client said it will never take it.
fn refused_for_good(
    metrics: &crate::metrics::Metrics,
    account: &str,
    key: Option<u64>,
    r: &Result<u64, DeliverError>,
) -> bool {
    match r {
        Err(e @ DeliverError::Refused(status)) if e.is_final() => {
            tracing::warn!(%account, ?key, %status, "the client refused a receipt for good; it is not offered again");
            metrics.add(&DELIVERIES, &[account, "refused"], 1);
            true
        }
        _ => false,
    }
}

/// One of the [`MAX_LATE`] slots for a delivery awaited after [`DIRECT_WAIT`]; `None` inside
/// when all are taken. Given back when dropped, whatever path the receipt took.
struct Late(Option<Arc<Outbox>>);

impl Late {
    fn take(outbox: &Outbox) -> Self {
        let Some(outbox) = outbox.me.upgrade() else {
            return Self(None);
        };
        if outbox.late.fetch_add(1, Ordering::Relaxed) < MAX_LATE {
            Self(Some(outbox))
        } else {
            outbox.late.fetch_sub(1, Ordering::Relaxed);
            Self(None)
        }
    }
}

impl Drop for Late {
    fn drop(&mut self) {
        if let Some(outbox) = &self.0 {
            outbox.late.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The history key of the message a receipt reports on (its id in `receipted_message_id`, or
/// only in the text); `None` for MO messages and ids the router did not mint.
pub(crate) fn history_key(sm: &Sm) -> Option<u64> {
    if !sm.esm_class.is_receipt() {
        return None;
    }
    match sm.tlvs.receipted_message_id() {
        Some(id) => std::str::from_utf8(id).ok().and_then(history::key_of),
        None => {
            let text = String::from_utf8_lossy(sm.payload());
            crate::smpp::receipt::parse(&text)
                .id
                .and_then(history::key_of)
        }
    }
}

/// A `deliver_sm` as the store keeps it (a whole PDU, sequence 0).
pub(crate) fn encode(sm: &Sm) -> Option<Bytes> {
    let mut out = BytesMut::new();
    Command::new(0, Pdu::DeliverSm(sm.clone()))
        .encode(&mut out)
        .ok()
        .map(|()| out.freeze())
}

/// The `deliver_sm` [`encode`] made.
pub(crate) fn decode(bytes: &Bytes) -> Option<Sm> {
    match Command::decode(bytes.clone()).ok()?.pdu {
        Pdu::DeliverSm(sm) => Some(sm),
        _ => None,
    }
}

/// Runs `attempt` until it does not fail with [`StoreError::Unavailable`], every second, for at
/// most [`OWN_RECEIPT_PATIENCE`].
pub(crate) async fn patiently<F, T>(mut attempt: impl FnMut() -> F) -> Result<T, StoreError>
where
    F: std::future::Future<Output = Result<T, StoreError>>,
{
    let deadline = tokio::time::Instant::now() + OWN_RECEIPT_PATIENCE;
    loop {
        match attempt().await {
            Err(StoreError::Unavailable(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            outcome => return outcome,
        }
    }
}
